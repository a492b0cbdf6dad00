// Every ManageSieve command through the Session (session.h) against the
// in-memory script store and a scripted fake authd, without sockets.
#include "common/mailauth/text_util.h"
#include "common/mailstore/sieve_scripts.h"
#include "services/managesieve/protocol/session.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace postline::managesieve {
namespace {

using Action = Session::Action;

struct Recorder : Observer {
  std::vector<std::string> lines;
  std::map<std::string, int> commands, logins, refused, errors;
  int stored = 0;
  bool admit = true;
  std::set<std::int64_t> users;
  void info(const std::string& l) override { lines.push_back(l); }
  void warn(const std::string& l) override { lines.push_back("WARN " + l); }
  void command(const std::string& n, const std::string& r) override { ++commands[n + " " + r]; }
  void login(const std::string& o) override { ++logins[o]; }
  void script_stored() override { ++stored; }
  void script_refused(const std::string& r) override { ++refused[r]; }
  void protocol_error(const std::string& k) override { ++errors[k]; }
  bool admit_user(std::int64_t id) override {
    if (!admit) return false;
    users.insert(id);
    return true;
  }
  void release_user(std::int64_t id) override { users.erase(id); }
  std::string log() const {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

// authd as the session sees it: PLAIN with user "alice@example.org" / "secret".
SaslReply fake_authd(const SaslRequest& r) {
  SaslReply out;
  std::string message;
  if (r.start) {
    if (r.mechanism == "X-THROTTLED") {
      out.outcome.status = AuthStatus::kThrottled;
      return out;
    }
    if (r.mechanism == "X-DOWN") return out;  // kFailure, kUnavailable
    if (r.mechanism == "X-FINAL") {
      out.state = SaslReply::State::kSuccess;
      out.outcome.status = AuthStatus::kOk;
      out.outcome.user_id = 9;
      out.outcome.email = "final@example.org";
      out.challenge = "v=server-final";
      return out;
    }
    if (!r.initial) {
      out.state = SaslReply::State::kContinue;
      out.conversation_id = "conv-1";
      return out;
    }
    message = *r.initial;
  } else {
    EXPECT_EQ(r.conversation_id, "conv-1");
    message = r.response;
  }
  if (message == std::string("\0alice@example.org\0secret", 25)) {
    out.state = SaslReply::State::kSuccess;
    out.outcome.status = AuthStatus::kOk;
    out.outcome.user_id = 7;
    out.outcome.email = "alice@example.org";
  } else if (message == std::string("\0bob@example.org\0secret", 23)) {
    out.outcome.status = AuthStatus::kDisabled;
  } else {
    out.outcome.status = AuthStatus::kInvalid;
  }
  return out;
}

std::string plain_ir(const std::string& user = "alice@example.org", const std::string& pass = "secret") {
  return mailauth::base64_encode(std::string(1, '\0') + user + std::string(1, '\0') + pass);
}

class FailingStore : public mailstore::SieveScriptStore {
 public:
  std::vector<mailstore::SieveScriptInfo> list_scripts(mailstore::UserId) override { throw std::runtime_error("db down"); }
  std::optional<std::string> get_script(mailstore::UserId, const std::string&) override { throw std::runtime_error("x"); }
  void put_script(mailstore::UserId, const std::string&, const std::string&) override { throw std::runtime_error("x"); }
  bool delete_script(mailstore::UserId, const std::string&) override { throw std::runtime_error("x"); }
  bool rename_script(mailstore::UserId, const std::string&, const std::string&) override { throw std::runtime_error("x"); }
  bool set_active_script(mailstore::UserId, const std::string&) override { throw std::runtime_error("x"); }
  std::optional<std::pair<std::string, std::string>> active_script(mailstore::UserId) override {
    throw std::runtime_error("x");
  }
  std::int64_t scripts_total_size(mailstore::UserId) override { throw std::runtime_error("x"); }
};

class Harness {
 public:
  explicit Harness(bool tls = true, std::string ip = "192.0.2.10", bool tls_available = true) : ip_(std::move(ip)) {
    settings.tls_available = tls_available;
    settings.quotas.max_scripts = 3;
    settings.quotas.max_script_size = 1000;
    settings.quotas.max_total_size = 2000;
    settings.max_bad_commands = 5;
    tls_ = tls;
  }
  Settings settings;
  Recorder obs;
  std::unique_ptr<mailstore::SieveScriptStore> store = mailstore::make_memory_sieve_script_store();
  mailstore::SieveScriptStore* use_store = nullptr;  // instead of `store`
  std::unique_ptr<Session> s;
  Action last = Action::kRead;
  std::vector<SaslRequest> sasl_seen;
  std::vector<std::chrono::milliseconds> pauses;
  bool fail_tls = false;
  bool tls_done = false;

  std::string start() {
    s = std::make_unique<Session>(settings, ip_, tls_, &obs);
    s->set_mechanisms({"SCRAM-SHA-256", "PLAIN", "LOGIN", "X-THROTTLED", "X-DOWN", "X-FINAL"});
    s->start();
    return run();
  }
  // Runs actions until the session wants bytes (or closes); returns what it said.
  std::string run() {
    std::string out;
    for (;;) {
      last = s->next();
      out += s->take_output();
      switch (last) {
        case Action::kRead:
        case Action::kClose: return out;
        case Action::kStore: s->run_store(use_store ? *use_store : *store); break;
        case Action::kSasl:
          sasl_seen.push_back(s->sasl_request());
          s->sasl_reply(fake_authd(s->sasl_request()));
          break;
        case Action::kStartTls:
          tls_done = true;
          s->tls_started(!fail_tls);
          break;
        case Action::kPause: pauses.push_back(s->pause()); break;
      }
    }
  }
  std::string send(std::string_view bytes) {
    s->feed(bytes);
    return run();
  }
  std::string login() { return send("AUTHENTICATE \"PLAIN\" \"" + plain_ir() + "\"\r\n"); }
  std::string put(const std::string& name, const std::string& script) {
    return send("PUTSCRIPT \"" + name + "\" {" + std::to_string(script.size()) + "+}\r\n" + script + "\r\n");
  }

 private:
  std::string ip_;
  bool tls_ = true;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

TEST(Greeting, CapabilitiesOverTls) {
  Harness h;
  const std::string g = h.start();
  EXPECT_NE(g.find("\"IMPLEMENTATION\" \"Postline ManageSieve\"\r\n"), std::string::npos) << g;
  EXPECT_NE(g.find("\"SASL\" \"SCRAM-SHA-256 PLAIN LOGIN"), std::string::npos) << g;
  EXPECT_NE(g.find("\"SIEVE\" \"fileinto reject"), std::string::npos) << g;
  EXPECT_NE(g.find("vacation"), std::string::npos);
  EXPECT_EQ(g.find("\"STARTTLS\""), std::string::npos) << "TLS is already up";
  EXPECT_NE(g.find("\"MAXREDIRECTS\" \"4\"\r\n"), std::string::npos);
  EXPECT_NE(g.find("\"VERSION\" \"1.0\"\r\n"), std::string::npos);
  EXPECT_NE(g.find("\"UNAUTHENTICATE\"\r\n"), std::string::npos);
  EXPECT_EQ(g.find("OWNER"), std::string::npos);
  EXPECT_TRUE(ends_with(g, "OK \"Postline ManageSieve ready\"\r\n")) << g;
  EXPECT_EQ(h.last, Action::kRead);
}

TEST(Greeting, BeforeTlsNoMechanismsAndStartTls) {
  Harness h(false);
  const std::string g = h.start();
  EXPECT_NE(g.find("\"SASL\" \"\"\r\n"), std::string::npos) << g;
  EXPECT_NE(g.find("\"STARTTLS\"\r\n"), std::string::npos) << g;
  const std::string r = h.login();
  EXPECT_EQ(r, "NO (ENCRYPT-NEEDED) \"Authentication needs TLS: use STARTTLS first\"\r\n");
  EXPECT_TRUE(h.sasl_seen.empty()) << "nothing went to authd";
  EXPECT_FALSE(h.s->authenticated());
  EXPECT_EQ(h.obs.errors["auth_before_tls"], 1);
  EXPECT_NE(h.obs.log().find("AUTHENTICATE refused before TLS"), std::string::npos);
}

TEST(Greeting, LoopbackAndConfiguredPlaintext) {
  Harness loop(false, "127.0.0.1");
  EXPECT_NE(loop.start().find("\"SASL\" \"SCRAM-SHA-256"), std::string::npos);
  EXPECT_TRUE(ends_with(loop.login(), "OK \"Logged in\"\r\n"));

  Harness strict(false, "127.0.0.1");
  strict.settings.allow_plaintext_auth_from_loopback = false;
  EXPECT_NE(strict.start().find("\"SASL\" \"\"\r\n"), std::string::npos);

  Harness allowed(false, "198.51.100.7");
  allowed.settings.allow_plaintext_auth = true;
  allowed.start();
  EXPECT_TRUE(ends_with(allowed.login(), "OK \"Logged in\"\r\n"));
}

TEST(Greeting, NoStartTlsWithoutCertificate) {
  Harness h(false, "192.0.2.1", false);
  EXPECT_EQ(h.start().find("STARTTLS"), std::string::npos);
  EXPECT_EQ(h.send("STARTTLS\r\n"), "NO \"TLS is not available\"\r\n");
}

TEST(StartTls, ReissuesCapabilitiesAndDropsPipelinedPlaintext) {
  Harness h(false);
  h.start();
  const std::string r = h.send("STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"" + plain_ir() + "\"\r\n");
  EXPECT_TRUE(h.tls_done);
  EXPECT_EQ(r.rfind("OK \"Begin TLS negotiation now\"\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\"SASL\" \"SCRAM-SHA-256 PLAIN"), std::string::npos) << r;
  EXPECT_EQ(r.find("\"STARTTLS\""), std::string::npos) << r;
  EXPECT_TRUE(ends_with(r, "OK \"TLS negotiation successful\"\r\n")) << r;
  EXPECT_TRUE(h.sasl_seen.empty()) << "the pipelined AUTHENTICATE was plaintext";
  EXPECT_FALSE(h.s->authenticated());
  EXPECT_TRUE(h.s->tls());
  EXPECT_EQ(h.send("STARTTLS\r\n"), "NO \"TLS is already active\"\r\n");
  EXPECT_TRUE(ends_with(h.login(), "OK \"Logged in\"\r\n"));
}

TEST(StartTls, FailedHandshakeCloses) {
  Harness h(false);
  h.fail_tls = true;
  h.start();
  h.send("STARTTLS\r\n");
  EXPECT_EQ(h.last, Action::kClose);
  EXPECT_EQ(h.s->end_reason(), "tls_failed");
  EXPECT_EQ(h.obs.errors["tls_handshake"], 1);
}

TEST(Authenticate, PlainWithInitialResponse) {
  Harness h;
  h.start();
  EXPECT_EQ(h.login(), "OK \"Logged in\"\r\n");
  EXPECT_TRUE(h.s->authenticated());
  EXPECT_EQ(h.s->user_id(), 7);
  EXPECT_EQ(h.s->user(), "alice@example.org");
  ASSERT_EQ(h.sasl_seen.size(), 1u);
  EXPECT_EQ(h.sasl_seen[0].mechanism, "PLAIN");
  EXPECT_EQ(h.obs.logins["success"], 1);
  EXPECT_EQ(h.obs.users.count(7), 1u);
  EXPECT_NE(h.obs.log().find("logged in as alice@example.org (PLAIN)"), std::string::npos);
  EXPECT_EQ(h.obs.log().find("secret"), std::string::npos) << "credentials are never logged";
  const std::string caps = h.send("CAPABILITY\r\n");
  EXPECT_NE(caps.find("\"OWNER\" \"alice@example.org\"\r\n"), std::string::npos) << caps;
  EXPECT_EQ(h.send("AUTHENTICATE \"PLAIN\"\r\n"), "NO \"Already authenticated\"\r\n");
  EXPECT_EQ(h.send("STARTTLS\r\n"), "NO \"Not allowed after authentication\"\r\n");
}

TEST(Authenticate, ChallengeAnsweredWithQuotedStringOrLiteral) {
  for (bool literal : {false, true}) {
    Harness h;
    h.start();
    EXPECT_EQ(h.send("AUTHENTICATE \"plain\"\r\n"), "\"\"\r\n");  // the empty challenge
    EXPECT_EQ(h.last, Action::kRead);
    const std::string ir = plain_ir();
    const std::string answer =
        literal ? "{" + std::to_string(ir.size()) + "+}\r\n" + ir + "\r\n" : "\"" + ir + "\"\r\n";
    EXPECT_EQ(h.send(answer), "OK \"Logged in\"\r\n");
    ASSERT_EQ(h.sasl_seen.size(), 2u);
    EXPECT_FALSE(h.sasl_seen[1].start);
    EXPECT_EQ(h.sasl_seen[1].response, std::string("\0alice@example.org\0secret", 25));
  }
}

TEST(Authenticate, FailuresPauseAndSayWhy) {
  Harness h;
  h.start();
  EXPECT_EQ(h.send("AUTHENTICATE \"PLAIN\" \"" + plain_ir("alice@example.org", "wrong") + "\"\r\n"),
            "NO \"Authentication failed\"\r\n");
  EXPECT_EQ(h.send("AUTHENTICATE \"PLAIN\" \"" + plain_ir("alice@example.org", "wrong") + "\"\r\n"),
            "NO \"Authentication failed\"\r\n");
  ASSERT_EQ(h.pauses.size(), 2u);
  EXPECT_EQ(h.pauses[0], std::chrono::seconds(1));
  EXPECT_EQ(h.pauses[1], std::chrono::seconds(2));
  EXPECT_EQ(h.obs.logins["failure"], 2);
  EXPECT_EQ(h.send("AUTHENTICATE \"X-THROTTLED\"\r\n"), "NO (TRYLATER) \"Too many failed logins, try again later\"\r\n");
  EXPECT_EQ(h.obs.logins["throttled"], 1);
  EXPECT_EQ(h.send("AUTHENTICATE \"X-DOWN\"\r\n"),
            "NO (TRYLATER) \"Authentication service unavailable, try again later\"\r\n");
  EXPECT_EQ(h.obs.logins["unavailable"], 1);
  EXPECT_EQ(h.send("AUTHENTICATE \"PLAIN\" \"" + plain_ir("bob@example.org") + "\"\r\n"), "NO \"Account disabled\"\r\n");
  EXPECT_EQ(h.obs.logins["disabled"], 1);
  EXPECT_EQ(h.send("AUTHENTICATE \"GSSAPI\"\r\n"), "NO \"Unsupported SASL mechanism\"\r\n");
  EXPECT_EQ(h.obs.errors["unsupported_mechanism"], 1);
  EXPECT_EQ(h.send("AUTHENTICATE \"PLAIN\" \"not base64!\"\r\n"), "NO \"Invalid base64 in the initial response\"\r\n");
  EXPECT_FALSE(h.s->authenticated());
  EXPECT_EQ(h.login(), "OK \"Logged in\"\r\n");
}

TEST(Authenticate, CancelAndBadAnswers) {
  Harness h;
  h.start();
  h.send("AUTHENTICATE \"PLAIN\"\r\n");
  EXPECT_EQ(h.send("\"*\"\r\n"), "NO \"Authentication cancelled\"\r\n");
  EXPECT_EQ(h.obs.logins["cancelled"], 1);
  EXPECT_NE(h.obs.log().find("AUTHENTICATE PLAIN cancelled by the client"), std::string::npos);
  h.send("AUTHENTICATE \"PLAIN\"\r\n");
  EXPECT_EQ(h.send("\"%%%\"\r\n"), "NO \"Invalid base64 in the SASL response\"\r\n");
  h.send("AUTHENTICATE \"PLAIN\"\r\n");
  EXPECT_EQ(h.send("LOGOUT\r\n"), "NO \"Malformed SASL response\"\r\n");
  EXPECT_FALSE(h.s->authenticated());
  // The session goes on normally.
  EXPECT_EQ(h.send("NOOP\r\n"), "OK \"Done\"\r\n");
}

TEST(Authenticate, ServerFinalDataInOk) {
  Harness h;
  h.start();
  EXPECT_EQ(h.send("AUTHENTICATE \"X-FINAL\"\r\n"),
            "OK (SASL \"" + mailauth::base64_encode("v=server-final") + "\") \"Logged in\"\r\n");
  EXPECT_EQ(h.s->user(), "final@example.org");
}

TEST(Authenticate, PerAccountLimit) {
  Harness h;
  h.obs.admit = false;
  h.start();
  EXPECT_EQ(h.login(), "NO (TRYLATER) \"Too many connections for this account\"\r\n");
  EXPECT_FALSE(h.s->authenticated());
  EXPECT_EQ(h.obs.logins["limit"], 1);
}

TEST(Authenticate, UnauthenticateGivesBackTheSlot) {
  Harness h;
  h.start();
  h.login();
  EXPECT_EQ(h.send("UNAUTHENTICATE\r\n"), "OK \"Unauthenticate completed\"\r\n");
  EXPECT_FALSE(h.s->authenticated());
  EXPECT_TRUE(h.obs.users.empty());
  EXPECT_EQ(h.send("LISTSCRIPTS\r\n"), "NO \"Authenticate first\"\r\n");
  EXPECT_EQ(h.send("UNAUTHENTICATE\r\n"), "NO \"Authenticate first\"\r\n");
  EXPECT_EQ(h.login(), "OK \"Logged in\"\r\n");
}

TEST(Commands, BeforeLogin) {
  Harness h;
  h.start();
  for (const char* c : {"LISTSCRIPTS", "PUTSCRIPT \"a\" \"keep;\"", "GETSCRIPT \"a\"", "SETACTIVE \"a\"",
                        "DELETESCRIPT \"a\"", "RENAMESCRIPT \"a\" \"b\"", "CHECKSCRIPT \"keep;\"", "HAVESPACE \"a\" 1"})
    EXPECT_EQ(h.send(std::string(c) + "\r\n"), "NO \"Authenticate first\"\r\n") << c;
  EXPECT_NE(h.obs.log().find("LISTSCRIPTS refused: not authenticated"), std::string::npos);
  EXPECT_EQ(h.send("NOOP \"abc\"\r\n"), "OK (TAG \"abc\") \"Done\"\r\n");
  EXPECT_TRUE(ends_with(h.send("CAPABILITY\r\n"), "OK \"Capability completed\"\r\n"));
}

TEST(Scripts, PutListActivateGet) {
  Harness h;
  h.start();
  h.login();
  const std::string script = "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\r\n";
  EXPECT_EQ(h.put("filter", script), "OK \"Script stored\"\r\n");
  EXPECT_EQ(h.obs.stored, 1);
  EXPECT_EQ(h.send("LISTSCRIPTS\r\n"), "\"filter\"\r\nOK \"Listscripts completed\"\r\n");
  EXPECT_EQ(h.send("SETACTIVE \"filter\"\r\n"), "OK \"Script activated\"\r\n");
  EXPECT_EQ(h.send("LISTSCRIPTS\r\n"), "\"filter\" ACTIVE\r\nOK \"Listscripts completed\"\r\n");
  EXPECT_EQ(h.send("GETSCRIPT \"filter\"\r\n"),
            "{" + std::to_string(script.size()) + "}\r\n" + script + "\r\nOK \"Getscript completed\"\r\n");
  auto active = h.store->active_script(7);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->first, "filter");
  EXPECT_EQ(active->second, script);
  EXPECT_EQ(h.obs.commands["PUTSCRIPT ok"], 1);
  EXPECT_EQ(h.obs.commands["SETACTIVE ok"], 1);
  // Replacing keeps it active.
  EXPECT_EQ(h.put("filter", "keep;"), "OK \"Script stored\"\r\n");
  EXPECT_EQ(h.send("LISTSCRIPTS\r\n"), "\"filter\" ACTIVE\r\nOK \"Listscripts completed\"\r\n");
  // Another user sees nothing.
  EXPECT_TRUE(h.store->list_scripts(8).empty());
}

TEST(Scripts, SyntaxErrorsAreReportedLineByLine) {
  Harness h;
  h.start();
  h.login();
  const std::string one = h.put("bad", "keep;\nfoo;\n");
  EXPECT_EQ(one.rfind("NO \"line 2: ", 0), 0u) << one;
  const std::string many = h.put("bad", "require \"nope\";\nfoo;\nbar;\n");
  EXPECT_EQ(many.rfind("NO {", 0), 0u) << many;  // several lines: a literal
  EXPECT_NE(many.find("line 1: "), std::string::npos) << many;
  EXPECT_NE(many.find("\r\nline 2: "), std::string::npos) << many;
  EXPECT_EQ(h.obs.refused["syntax"], 2);
  EXPECT_TRUE(h.store->list_scripts(7).empty()) << "nothing stored";
  const std::string check = h.send("CHECKSCRIPT \"if true {\"\r\n");
  EXPECT_EQ(check.rfind("NO \"line 1: ", 0), 0u) << check;
  EXPECT_EQ(h.send("CHECKSCRIPT \"keep;\"\r\n"), "OK \"Script is valid\"\r\n");
  EXPECT_TRUE(h.store->list_scripts(7).empty()) << "CHECKSCRIPT stores nothing";
}

TEST(Scripts, MissingIncludeIsAWarning) {
  Harness h;
  h.start();
  h.login();
  const std::string r = h.put("main", "require \"include\";\ninclude \"lists\";\ninclude :optional \"maybe\";\n"
                                      "include :global \"admin\";\n");
  EXPECT_EQ(r, "OK (WARNINGS) \"line 2: included script \\\"lists\\\" does not exist\"\r\n");
  EXPECT_EQ(h.put("lists", "keep;"), "OK \"Script stored\"\r\n");
  EXPECT_EQ(h.send("CHECKSCRIPT \"require \\\"include\\\"; include \\\"lists\\\";\"\r\n"), "OK \"Script is valid\"\r\n");
}

TEST(Scripts, Quotas) {
  Harness h;  // 3 scripts, 1000 octets each, 2000 together
  h.start();
  h.login();
  const std::string big(1001, '#');
  EXPECT_EQ(h.put("big", big), "NO (QUOTA/MAXSIZE) \"Script larger than 1000 octets\"\r\n");
  EXPECT_EQ(h.send("HAVESPACE \"big\" 1001\r\n"), "NO (QUOTA/MAXSIZE) \"Script larger than 1000 octets\"\r\n");
  EXPECT_EQ(h.send("HAVESPACE \"a\" 1000\r\n"), "OK \"Putscript would succeed\"\r\n");
  const std::string s900 = "#" + std::string(898, 'x') + "\n";
  EXPECT_EQ(h.put("a", s900), "OK \"Script stored\"\r\n");
  EXPECT_EQ(h.put("b", s900), "OK \"Script stored\"\r\n");
  // 1800 + 300 > 2000
  EXPECT_EQ(h.put("c", "#" + std::string(298, 'x') + "\n"),
            "NO (QUOTA) \"Scripts would take more than 2000 octets together\"\r\n");
  EXPECT_EQ(h.send("HAVESPACE \"c\" 300\r\n"), "NO (QUOTA) \"Scripts would take more than 2000 octets together\"\r\n");
  // Replacing "b" does not count its old size.
  EXPECT_EQ(h.send("HAVESPACE \"b\" 1000\r\n"), "OK \"Putscript would succeed\"\r\n");
  EXPECT_EQ(h.put("c", "keep;"), "OK \"Script stored\"\r\n");
  EXPECT_EQ(h.put("d", "keep;"), "NO (QUOTA/MAXSCRIPTS) \"At most 3 scripts\"\r\n");
  EXPECT_EQ(h.send("HAVESPACE \"d\" 1\r\n"), "NO (QUOTA/MAXSCRIPTS) \"At most 3 scripts\"\r\n");
  EXPECT_EQ(h.put("c", "discard;"), "OK \"Script stored\"\r\n") << "replacing is not a new script";
  EXPECT_EQ(h.obs.refused["maxsize"], 1);
  EXPECT_EQ(h.obs.refused["quota"], 1);
  EXPECT_EQ(h.obs.refused["maxscripts"], 1);
  EXPECT_EQ(h.send("CHECKSCRIPT {1001+}\r\n" + big + "\r\n"),
            "NO (QUOTA/MAXSIZE) \"Script larger than 1000 octets\"\r\n");
}

TEST(Scripts, LiteralOverTheSizeLimitIsReadAndRefused) {
  Harness h;
  h.start();
  h.login();
  // The parser's literal limit is the script size: a 3000-octet literal is
  // read and dropped, and the next command works.
  EXPECT_EQ(h.send("PUTSCRIPT \"x\" {3000+}\r\n" + std::string(3000, 'k') + "\r\nNOOP\r\n"),
            "NO (QUOTA/MAXSIZE) \"Script larger than 1000 octets\"\r\nOK \"Done\"\r\n");
  EXPECT_EQ(h.obs.refused["maxsize"], 1);
  EXPECT_EQ(h.obs.errors["literal_too_big"], 1);
  // Far too big to read: BYE.
  const std::string r = h.send("PUTSCRIPT \"x\" {100000000+}\r\n");
  EXPECT_EQ(r, "BYE (QUOTA/MAXSIZE) \"Literal too large\"\r\n");
  EXPECT_EQ(h.last, Action::kClose);
}

TEST(Scripts, BeforeLoginLiteralsAreSmall) {
  Harness h;
  h.settings.max_unauthenticated_command = 1024;
  h.start();
  EXPECT_EQ(h.send("AUTHENTICATE \"PLAIN\" {5000+}\r\n"), "BYE \"Literal too large\"\r\n");
  EXPECT_EQ(h.last, Action::kClose);
}

TEST(Scripts, DeleteRenameAndTheActiveScript) {
  Harness h;
  h.start();
  h.login();
  h.put("a", "keep;");
  h.put("b", "discard;");
  h.send("SETACTIVE \"a\"\r\n");
  EXPECT_EQ(h.send("DELETESCRIPT \"a\"\r\n"), "NO (ACTIVE) \"The script is active: deactivate it first\"\r\n");
  EXPECT_EQ(h.send("DELETESCRIPT \"zzz\"\r\n"), "NO (NONEXISTENT) \"There is no script by that name\"\r\n");
  EXPECT_EQ(h.send("RENAMESCRIPT \"a\" \"b\"\r\n"), "NO (ALREADYEXISTS) \"A script by the new name exists\"\r\n");
  EXPECT_EQ(h.send("RENAMESCRIPT \"zzz\" \"c\"\r\n"), "NO (NONEXISTENT) \"There is no script by that name\"\r\n");
  EXPECT_EQ(h.send("RENAMESCRIPT \"a\" \"\"\r\n"), "NO \"Invalid script name: empty script name\"\r\n");
  EXPECT_EQ(h.send("RENAMESCRIPT \"a\" \"c\"\r\n"), "OK \"Script renamed\"\r\n");
  EXPECT_EQ(h.send("LISTSCRIPTS\r\n"), "\"b\"\r\n\"c\" ACTIVE\r\nOK \"Listscripts completed\"\r\n");
  EXPECT_EQ(h.send("SETACTIVE \"\"\r\n"), "OK \"No script is active now\"\r\n");
  EXPECT_FALSE(h.store->active_script(7));
  EXPECT_EQ(h.send("DELETESCRIPT \"c\"\r\n"), "OK \"Script deleted\"\r\n");
  EXPECT_EQ(h.send("GETSCRIPT \"c\"\r\n"), "NO (NONEXISTENT) \"There is no script by that name\"\r\n");
  EXPECT_EQ(h.send("SETACTIVE \"c\"\r\n"), "NO (NONEXISTENT) \"There is no script by that name\"\r\n");
}

TEST(Scripts, InvalidNames) {
  Harness h;
  h.start();
  h.login();
  EXPECT_EQ(h.put("", "keep;"), "NO \"Invalid script name: empty script name\"\r\n");
  EXPECT_EQ(h.send("PUTSCRIPT {3+}\r\na\x01z \"keep;\"\r\n"),
            "NO \"Invalid script name: control character in script name\"\r\n");
  EXPECT_EQ(h.obs.refused["name"], 2);
  EXPECT_NE(h.obs.log().find("a\\x01z"), std::string::npos) << "peer text escaped in the log:\n" << h.obs.log();
  EXPECT_EQ(h.send("GETSCRIPT {2+}\r\n\xff\xfe\r\n"), "NO (NONEXISTENT) \"There is no script by that name\"\r\n");
  EXPECT_EQ(h.send("HAVESPACE \"\" 10\r\n"), "NO \"Invalid script name: empty script name\"\r\n");
  // A UTF-8 name with spaces comes back quoted.
  h.put("two words \xc3\xa9", "keep;");
  EXPECT_EQ(h.send("LISTSCRIPTS\r\n"), "\"two words \xc3\xa9\"\r\nOK \"Listscripts completed\"\r\n");
}

TEST(Scripts, AdministratorsExtensions) {
  Harness h;
  h.settings.sieve.allowed_extensions = {"fileinto"};
  const std::string g = h.start();
  EXPECT_NE(g.find("\"SIEVE\" \"fileinto\"\r\n"), std::string::npos) << g;
  h.login();
  const std::string refused = h.put("v", "require \"vacation\";\nvacation \"away\";\n");
  EXPECT_EQ(refused.rfind("NO {", 0), 0u) << refused;
  EXPECT_NE(refused.find("line 1: unknown or disabled extension \"vacation\""), std::string::npos) << refused;
  // A script stored before the list was narrowed does not become active.
  h.settings.sieve.allowed_extensions.clear();
  EXPECT_EQ(h.put("v", "require \"vacation\";\nvacation \"away\";\n"), "OK \"Script stored\"\r\n");
  h.settings.sieve.allowed_extensions = {"fileinto"};
  const std::string setactive = h.send("SETACTIVE \"v\"\r\n");
  EXPECT_NE(setactive.find("line 1: unknown or disabled extension \"vacation\""), std::string::npos) << setactive;
  EXPECT_FALSE(h.store->active_script(7));
}

TEST(Scripts, StoreFailureIsTryLater) {
  Harness h;
  FailingStore failing;
  h.use_store = &failing;
  h.start();
  h.login();
  EXPECT_EQ(h.send("LISTSCRIPTS\r\n"), "NO (TRYLATER) \"Temporary failure, try again later\"\r\n");
  EXPECT_NE(h.obs.log().find("WARN LISTSCRIPTS failed: db down"), std::string::npos);
  EXPECT_EQ(h.send("NOOP\r\n"), "OK \"Done\"\r\n");
}

TEST(Session, UnknownCommandsAndSyntaxErrorsEndInBye) {
  Harness h;  // max_bad_commands = 5
  h.start();
  EXPECT_EQ(h.send("FROB\r\n"), "NO \"Unknown command\"\r\n");
  EXPECT_EQ(h.send("NOOP \"a\" \"b\"\r\n"), "NO \"Syntax error: too many arguments for NOOP\"\r\n");
  EXPECT_EQ(h.send("\"NOOP\"\r\n"), "NO \"Syntax error: expected a command name\"\r\n");
  EXPECT_EQ(h.send("NOOP \"a\\q\"\r\n"), "NO \"Syntax error: invalid escape in quoted string\"\r\n");
  EXPECT_EQ(h.obs.errors["unknown_command"], 1);
  EXPECT_EQ(h.obs.errors["syntax"], 3);
  EXPECT_EQ(h.obs.commands["unknown no"], 2);
  EXPECT_EQ(h.obs.commands["NOOP no"], 2);
  EXPECT_EQ(h.send("FROB\r\n"), "NO \"Unknown command\"\r\nBYE \"Too many errors\"\r\n");
  EXPECT_EQ(h.last, Action::kClose);
  EXPECT_EQ(h.s->end_reason(), "errors");
}

TEST(Session, LogoutAndPipelining) {
  Harness h;
  h.start();
  EXPECT_EQ(h.send("NOOP\r\nNOOP \"x\"\r\nLOGOUT\r\nNOOP\r\n"),
            "OK \"Done\"\r\nOK (TAG \"x\") \"Done\"\r\nOK \"Logout completed\"\r\n");
  EXPECT_EQ(h.last, Action::kClose);
  EXPECT_EQ(h.s->end_reason(), "logout");
}

TEST(Session, ByteByByteIsTheSameConversation) {
  const std::string input = "AUTHENTICATE \"PLAIN\" \"" + plain_ir() +
                            "\"\r\nPUTSCRIPT \"s\" {5+}\r\nkeep;\r\nSETACTIVE \"s\"\r\nLISTSCRIPTS\r\n"
                            "GETSCRIPT \"s\"\r\nCHECKSCRIPT \"foo;\"\r\nLOGOUT\r\n";
  Harness whole;
  std::string a = whole.start();
  a += whole.send(input);
  Harness bytes;
  std::string b = bytes.start();
  for (char c : input) b += bytes.send(std::string_view(&c, 1));
  EXPECT_EQ(a, b);
  EXPECT_TRUE(ends_with(a, "OK \"Logout completed\"\r\n")) << a;
}

TEST(Session, ByeOnShutdownOrTimeout) {
  Harness h;
  h.start();
  EXPECT_TRUE(h.s->waiting_for_command());
  h.s->bye("Server shutting down");
  EXPECT_EQ(h.run(), "BYE \"Server shutting down\"\r\n");
  EXPECT_EQ(h.last, Action::kClose);
}

}  // namespace
}  // namespace postline::managesieve
