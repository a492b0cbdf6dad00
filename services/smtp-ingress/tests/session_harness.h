// Drives a Session the way the server does, with scripted answers for the
// events, so tests are byte transcripts: input in, replies out.
#pragma once

#include "services/smtp-ingress/protocol/session.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace postline::smtp::testing {

struct Harness : SessionObserver {
  SessionConfig config;
  std::unique_ptr<Session> session;
  std::vector<EnqueueEvent> enqueued;
  std::vector<std::string> resolved;      // addresses asked of "authd"
  std::vector<std::string> resolve_traces;  // the trace id sent with each of them
  std::vector<std::string> auth_users;    // usernames tried
  std::vector<std::string> sasl_steps;    // relayed SASL messages
  std::map<std::string, int> replies;     // code -> count
  std::map<std::string, int> limits;
  std::map<std::string, int> rejected;
  std::map<std::string, int> auth_outcomes;  // "MECH/outcome"
  std::vector<FetchUrlEvent> fetched;         // BURL requests
  std::map<std::string, UrlFetched> urls;     // "queued"'s answers by URL (else not authorized)
  std::map<std::string, int> burl;            // on_burl results
  std::vector<std::string> logged;            // on_log lines, as the log gets them
  bool authd_down = false;
  bool queue_down = false;
  int tls_starts = 0;
  int queue_counter = 0;

  void on_log(int, std::string_view line) override { logged.emplace_back(line); }

  Harness() {
    config.hostname = "mx.test";
    config.remote_ip = "192.0.2.1";
    config.now_rfc5322 = [] { return std::string("Wed, 25 Nov 2026 20:00:00 +0000"); };
    config.new_queue_id = [this] { return "Q" + std::to_string(++queue_counter); };
    config.random_token = [] { return std::string("r4nd"); };
  }

  void begin() {
    session = std::make_unique<Session>(config, this);
    session->start();
  }

  // Feeds bytes and answers events until the session waits for input.
  void feed(std::string_view bytes) {
    session->feed(bytes);
    pump();
  }

  std::string take() { return session->take_output(); }

  // Whole transcript in one go; returns all replies including the greeting.
  std::string run(std::string_view bytes) {
    begin();
    feed(bytes);
    return take();
  }

  // The same, with the input cut in two at `cut`.
  std::string run_split(std::string_view bytes, size_t cut) {
    begin();
    feed(bytes.substr(0, cut));
    feed(bytes.substr(cut));
    return take();
  }

  std::string run_bytewise(std::string_view bytes) {
    begin();
    for (char c : bytes) feed(std::string_view(&c, 1));
    return take();
  }

  Resolution resolve(const std::string& address) {
    Resolution r;
    if (authd_down) {
      r.available = false;
      return r;
    }
    auto at = address.rfind('@');
    std::string local = address.substr(0, at), domain = address.substr(at + 1);
    if (domain == "example.com") {
      if (local == "alice" || local == "bob" || local == "postmaster") {
        r.kind = RecipientKind::kLocal;
        r.targets.push_back({RecipientKind::kLocal, local == "alice" ? 1 : 2, address});
      } else if (local == "team") {  // an alias with a local and a remote target
        r.kind = RecipientKind::kLocal;
        r.targets.push_back({RecipientKind::kLocal, 1, "alice@example.com"});
        r.targets.push_back({RecipientKind::kRemote, 0, "carol@elsewhere.net"});
      } else {
        r.kind = RecipientKind::kUnknown;
      }
    } else {
      r.kind = RecipientKind::kRemote;
      r.targets.push_back({RecipientKind::kRemote, 0, address});
    }
    return r;
  }

  void pump() {
    while (auto ev = session->take_event()) {
      if (auto* rr = std::get_if<ResolveRecipientEvent>(&*ev)) {
        resolved.push_back(rr->address);
        resolve_traces.push_back(rr->trace_id);
        session->on_resolved(resolve(rr->address));
      } else if (auto* en = std::get_if<EnqueueEvent>(&*ev)) {
        if (queue_down) {
          session->on_enqueued({false, ""});
        } else {
          enqueued.push_back(*en);
          session->on_enqueued({true, en->queue_id});
        }
      } else if (auto* au = std::get_if<AuthenticateEvent>(&*ev)) {
        auth_users.push_back(au->username);
        AuthOutcome o;
        if (authd_down) o.result = AuthResult::kTemporaryFailure;
        else if (au->username == "alice@example.com" && au->password == "secret") o = {AuthResult::kOk, "alice@example.com", 1};
        else o.result = AuthResult::kInvalid;
        session->on_authenticated(o);
      } else if (auto* sa = std::get_if<SaslEvent>(&*ev)) {
        sasl_steps.push_back(sa->start ? "start:" + sa->data : sa->conversation_id + ":" + sa->data);
        // A scripted stand-in for authd's SCRAM: one challenge, then success
        // with server-final data when the client proves "proof", else failure.
        SaslAnswer a;
        if (authd_down) {
          a.state = SaslAnswer::State::kUnavailable;
        } else if (sa->start) {
          a.state = SaslAnswer::State::kContinue;
          a.conversation_id = "c1";
          a.challenge = sa->has_data ? "server-first" : "";
        } else if (sa->data == "client-first") {
          a.state = SaslAnswer::State::kContinue;
          a.conversation_id = "c1";
          a.challenge = "server-first";
        } else if (sa->data == "proof") {
          a.state = SaslAnswer::State::kSuccess;
          a.challenge = "v=final";
          a.email = "alice@example.com";
          a.user_id = 1;
        } else {
          a.state = SaslAnswer::State::kFailure;
          a.result = AuthResult::kInvalid;
        }
        session->on_sasl(a);
      } else if (auto* fu = std::get_if<FetchUrlEvent>(&*ev)) {
        fetched.push_back(*fu);
        UrlFetched f;
        if (queue_down) f.status = UrlFetched::Status::kUnavailable;
        else if (auto it = urls.find(fu->url); it != urls.end()) f = it->second;
        else f.status = UrlFetched::Status::kNotAuthorized;
        if (f.status == UrlFetched::Status::kOk && f.data.size() > fu->max_size) f = {UrlFetched::Status::kTooBig, "", ""};
        session->on_url_fetched(f);
      } else if (std::get_if<StartTlsEvent>(&*ev)) {
        ++tls_starts;
        session->on_tls_started("TLSv1.3", "TLS_AES_256_GCM_SHA384");
      }
    }
  }

  void on_reply(int code) override { ++replies[std::to_string(code)]; }
  void on_limit(std::string_view l) override { ++limits[std::string(l)]; }
  void on_burl(std::string_view r) override { ++burl[std::string(r)]; }
  void on_message_rejected(std::string_view r) override { ++rejected[std::string(r)]; }
  void on_auth(std::string_view m, std::string_view o) override { ++auth_outcomes[std::string(m) + "/" + std::string(o)]; }
};

}  // namespace postline::smtp::testing
