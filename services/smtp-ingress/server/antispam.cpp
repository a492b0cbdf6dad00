#include "services/smtp-ingress/server/antispam.h"

#include "common/async/offload.h"
#include "common/dns/mailauth_lookup.h"
#include "common/log/printable.h"
#include "common/mailauth/inbound.h"
#include "services/smtp-ingress/policy/dmarc_report.h"
#include "services/smtp-ingress/server/dmarc_reports.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cctype>
#include <ctime>
#include <random>

namespace postline::smtp {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using mailauth::IpAddress;

struct Antispam::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : auth_results(prometheus::BuildCounter()
                         .Name("postline_smtpd_auth_results_total")
                         .Help("sender authentication results on the MX listener by method (spf, spf_helo, dkim, dmarc, arc)")
                         .Register(r)),
        verdicts(prometheus::BuildCounter()
                     .Name("postline_smtpd_spam_verdicts_total")
                     .Help("antispam verdicts at end of data by action (accept, junk, reject, tempfail)")
                     .Register(r)),
        dnsbl(prometheus::BuildCounter()
                  .Name("postline_smtpd_dnsbl_lookups_total")
                  .Help("DNSBL lookups by zone and outcome (listed, clean, error)")
                  .Register(r)),
        greylist(prometheus::BuildCounter()
                     .Name("postline_smtpd_greylist_total")
                     .Help("greylisting decisions by outcome (new, early, passed, error)")
                     .Register(r)),
        rspamd(prometheus::BuildCounter()
                   .Name("postline_smtpd_rspamd_checks_total")
                   .Help("Rspamd /checkv2 calls by action; action=error when Rspamd could not be asked")
                   .Register(r)),
        rspamd_errors(prometheus::BuildCounter()
                          .Name("postline_smtpd_rspamd_errors_total")
                          .Help("Rspamd calls that failed (down, timeout, bad answer)")
                          .Register(r)
                          .Add({})),
        rate_limited(prometheus::BuildCounter()
                         .Name("postline_smtpd_rate_limited_total")
                         .Help("messages/recipients deferred by rate limits, by key kind (ip, sender)")
                         .Register(r)),
        removed_headers(prometheus::BuildCounter()
                            .Name("postline_smtpd_forged_headers_removed_total")
                            .Help("Authentication-Results claiming our authserv-id removed from incoming mail")
                            .Register(r)
                            .Add({})) {}
  prometheus::Family<prometheus::Counter>& auth_results;
  prometheus::Family<prometheus::Counter>& verdicts;
  prometheus::Family<prometheus::Counter>& dnsbl;
  prometheus::Family<prometheus::Counter>& greylist;
  prometheus::Family<prometheus::Counter>& rspamd;
  prometheus::Counter& rspamd_errors;
  prometheus::Family<prometheus::Counter>& rate_limited;
  prometheus::Counter& removed_headers;
};

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

PolicyRefusal refusal(int code, const char* enhanced, std::string text, const char* reason) {
  return PolicyRefusal{code, enhanced, std::move(text), reason};
}

// Expired rows are removed now and then by whichever replica happens to roll
// the dice: no extra job to run, and at most ~1% of calls pay for it.
bool housekeeping_due() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_int_distribution<int>(0, 99)(rng) == 0;
}

// The two top-level fields of an Rspamd /checkv2 answer we need. A scanner
// rather than a JSON library (none in Debian's Boost 1.74); nested objects
// ("symbols" have their own "score") are skipped by depth.
bool parse_rspamd_reply(std::string_view j, double* score, std::string* action) {
  int depth = 0;
  bool have_score = false, have_action = false;
  std::string key;
  bool expect_value = false;
  for (size_t i = 0; i < j.size(); ++i) {
    char c = j[i];
    if (c == '"') {
      std::string s;
      for (++i; i < j.size() && j[i] != '"'; ++i) {
        if (j[i] == '\\' && i + 1 < j.size()) ++i;
        s += j[i];
      }
      if (depth == 1 && expect_value) {
        if (key == "action") *action = s, have_action = true;
        expect_value = false;
      } else if (depth == 1) {
        key = s;
      }
    } else if (c == ':' && depth == 1) {
      expect_value = true;
    } else if (c == '{' || c == '[') {
      ++depth;
      expect_value = false;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',') {
      expect_value = false;
    } else if (depth == 1 && expect_value && (std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      size_t end = i;
      while (end < j.size() && std::string_view("0123456789+-.eE").find(j[end]) != std::string_view::npos) ++end;
      if (key == "score") {
        try {
          *score = std::stod(std::string(j.substr(i, end - i)));
          have_score = true;
        } catch (...) {
          return false;
        }
      }
      i = end - 1;
      expect_value = false;
    }
  }
  return have_score && have_action;
}

// One message's DNS budget: an unresponsive resolver costs each query its full
// timeout, and SPF alone may ask 20+ questions; past the deadline every further
// question is a temporary failure at once (temperror, never a refusal).
class BudgetDnsLookup final : public mailauth::DnsLookup {
 public:
  BudgetDnsLookup(mailauth::DnsLookup& inner, std::chrono::steady_clock::duration budget)
      : inner_(inner), deadline_(std::chrono::steady_clock::now() + budget) {}
  mailauth::TxtResult txt(std::string_view n) override { return spent() ? temp<mailauth::TxtResult>() : inner_.txt(n); }
  mailauth::AddrResult a(std::string_view n) override { return spent() ? temp<mailauth::AddrResult>() : inner_.a(n); }
  mailauth::AddrResult aaaa(std::string_view n) override {
    return spent() ? temp<mailauth::AddrResult>() : inner_.aaaa(n);
  }
  mailauth::MxResult mx(std::string_view n) override { return spent() ? temp<mailauth::MxResult>() : inner_.mx(n); }
  mailauth::PtrResult ptr(const IpAddress& ip) override {
    return spent() ? temp<mailauth::PtrResult>() : inner_.ptr(ip);
  }

 private:
  bool spent() const { return std::chrono::steady_clock::now() >= deadline_; }
  template <typename R>
  static R temp() {
    R r;
    r.status = mailauth::DnsStatus::kTempFail;
    return r;
  }
  mailauth::DnsLookup& inner_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace

Antispam::Antispam(AntispamOptions options, std::unique_ptr<mailauth::DnsLookup> dns, std::shared_ptr<db::Pool> pool,
                   prometheus::Registry& registry, std::unique_ptr<mailauth::DnsLookup> cached_dns)
    : options_(std::move(options)),
      dns_(std::move(dns)),
      cached_dns_(std::move(cached_dns)),
      pool_(std::move(pool)),
      metrics_(std::make_unique<Metrics>(registry)),
      workers_(options_.threads) {
  // The series of what is configured exist at zero from the start (dashboards
  // and rate() see 0, not a gap until the first message).
  auto& m = *metrics_;
  if (options_.enabled) {
    for (auto r : {mailauth::SpfResult::kNone, mailauth::SpfResult::kNeutral, mailauth::SpfResult::kPass,
                   mailauth::SpfResult::kFail, mailauth::SpfResult::kSoftFail, mailauth::SpfResult::kTempError,
                   mailauth::SpfResult::kPermError})
      for (const char* method : {"spf", "spf_helo"}) m.auth_results.Add({{"method", method}, {"result", mailauth::to_string(r)}});
    for (auto r : {mailauth::AuthResult::kNone, mailauth::AuthResult::kPass, mailauth::AuthResult::kFail,
                   mailauth::AuthResult::kPolicy, mailauth::AuthResult::kNeutral, mailauth::AuthResult::kTempError,
                   mailauth::AuthResult::kPermError})
      m.auth_results.Add({{"method", "dkim"}, {"result", mailauth::to_string(r)}});
    for (auto r : {mailauth::DmarcResult::kNone, mailauth::DmarcResult::kPass, mailauth::DmarcResult::kFail,
                   mailauth::DmarcResult::kTempError, mailauth::DmarcResult::kPermError})
      m.auth_results.Add({{"method", "dmarc"}, {"result", mailauth::to_string(r)}});
    for (auto r : {mailauth::ArcResult::kNone, mailauth::ArcResult::kPass, mailauth::ArcResult::kFail})
      m.auth_results.Add({{"method", "arc"}, {"result", mailauth::to_string(r)}});
    for (auto a : {policy::Action::kAccept, policy::Action::kJunk, policy::Action::kReject, policy::Action::kTempFail})
      m.verdicts.Add({{"action", policy::to_string(a)}});
  }
  for (const auto& zone : options_.dnsbl)
    for (const char* outcome : {"listed", "clean", "error"}) m.dnsbl.Add({{"zone", zone.zone}, {"outcome", outcome}});
  if (options_.greylist)
    for (const char* outcome : {"new", "early", "passed", "error"}) m.greylist.Add({{"outcome", outcome}});
  if (options_.rate_ip_messages > 0 || options_.rate_ip_recipients > 0) m.rate_limited.Add({{"kind", "ip"}});
  if (options_.rate_sender_messages > 0 || options_.rate_sender_recipients > 0) m.rate_limited.Add({{"kind", "sender"}});
  if (!options_.rspamd_url.empty())  // Rspamd's actions (its metric "default")
    for (const char* action : {"no action", "greylist", "add header", "rewrite subject", "soft reject", "reject", "error"})
      m.rspamd.Add({{"action", action}});
}

Antispam::~Antispam() { workers_.join(); }

PolicyRefusal Antispam::dnsbl_check(const std::string& client_ip) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = dnsbl_cache_.find(client_ip); it != dnsbl_cache_.end() && it->second.first > now)
      return it->second.second;
    if (dnsbl_cache_.size() > 10000) dnsbl_cache_.clear();  // bounded; refilled on demand
  }
  PolicyRefusal result;
  auto ip = IpAddress::parse(client_ip);
  if (ip) {
    for (const auto& zone : options_.dnsbl) {
      auto a = dns_->a(policy::dnsbl_query_name(*ip, zone.zone));
      if (a.status == mailauth::DnsStatus::kTempFail) {
        // A list that does not answer is skipped, never a reason to refuse.
        metrics_->dnsbl.Add({{"zone", zone.zone}, {"outcome", "error"}}).Increment();
        spdlog::warn("DNSBL {}: lookup for {} failed temporarily", zone.zone, client_ip);
        continue;
      }
      if (a.status == mailauth::DnsStatus::kOk && policy::dnsbl_listed(zone, a.addresses)) {
        metrics_->dnsbl.Add({{"zone", zone.zone}, {"outcome", "listed"}}).Increment();
        std::string code = a.addresses.empty() ? "" : a.addresses.front().to_string();
        result = refusal(554, "5.7.1",
                         fmt::format("Service unavailable; client host [{}] blocked using {}", client_ip, zone.zone),
                         "dnsbl");
        spdlog::info("DNSBL {}: {} listed ({})", zone.zone, client_ip, code);
        break;
      }
      metrics_->dnsbl.Add({{"zone", zone.zone}, {"outcome", "clean"}}).Increment();
    }
  }
  std::lock_guard lock(cache_mutex_);
  dnsbl_cache_[client_ip] = {now + std::chrono::seconds(60), result};
  return result;
}

PolicyRefusal Antispam::greylist_check(const std::string& client_ip, const std::string& sender,
                                       const std::string& rcpt) {
  try {
    auto outcome = pool_->with([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      // One statement, so concurrent replicas agree: the first sight inserts;
      // later sights pass once the delay has elapsed (within the retry
      // window), and a whitelisted triplet stays passed until unused for the TTL.
      // SET expressions all see the old row (g.*).
      auto r = tx.exec_params(
          "INSERT INTO smtp_greylist AS g (client_net, sender, recipient) VALUES ($1, $2, $3) "
          "ON CONFLICT (client_net, sender, recipient) DO UPDATE SET "
          " first_seen = CASE WHEN (NOT g.passed AND now() - g.last_seen > make_interval(secs => $5)) "
          "                     OR (g.passed AND now() - g.last_seen > make_interval(secs => $6)) "
          "                   THEN now() ELSE g.first_seen END, "
          " passed = CASE WHEN (NOT g.passed AND now() - g.last_seen > make_interval(secs => $5)) "
          "                 OR (g.passed AND now() - g.last_seen > make_interval(secs => $6)) THEN false "
          "               ELSE g.passed OR now() - g.first_seen >= make_interval(secs => $4) END, "
          " last_seen = now() "
          "RETURNING passed, (xmax = 0) AS inserted",
          policy::greylist_network(client_ip), lower(sender), lower(rcpt), static_cast<double>(options_.greylist_delay.count()),
          static_cast<double>(options_.greylist_retry_window.count()),
          static_cast<double>(options_.greylist_whitelist_ttl.count()));
      if (housekeeping_due())
        tx.exec_params("DELETE FROM smtp_greylist WHERE last_seen < now() - make_interval(secs => $1)",
                       static_cast<double>(std::max(options_.greylist_whitelist_ttl, options_.greylist_retry_window).count()));
      tx.commit();
      if (r[0][0].as<bool>()) return std::string("passed");
      return std::string(r[0][1].as<bool>() ? "new" : "early");
    });
    metrics_->greylist.Add({{"outcome", outcome}}).Increment();
    if (outcome == "passed") return {};
    return refusal(451, "4.7.1", "Greylisted, please try again later", "greylisted");
  } catch (const std::exception& e) {
    // Fail open: greylisting is a delay tactic, and our database being down
    // must not delay everybody's mail.
    metrics_->greylist.Add({{"outcome", "error"}}).Increment();
    spdlog::warn("greylisting skipped, database error: {}", e.what());
    return {};
  }
}

PolicyRefusal Antispam::rate_check(const std::string& key, int64_t max_messages, int64_t max_recipients, int messages,
                                   int recipients) {
  try {
    auto counts = pool_->with([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      auto r = tx.exec_params(
          "INSERT INTO smtp_rate_counters AS c (key, window_start, messages, recipients) "
          "VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), $3, $4) "
          "ON CONFLICT (key, window_start) DO UPDATE SET messages = c.messages + $3, recipients = c.recipients + $4 "
          "RETURNING messages, recipients",
          key, static_cast<double>(options_.rate_window.count()), messages, recipients);
      if (housekeeping_due())
        tx.exec_params("DELETE FROM smtp_rate_counters WHERE window_start < now() - make_interval(secs => $1)",
                       static_cast<double>(2 * options_.rate_window.count()));
      tx.commit();
      return std::pair<int64_t, int64_t>(r[0][0].as<int64_t>(), r[0][1].as<int64_t>());
    });
    const bool over = (max_messages > 0 && counts.first > max_messages) ||
                      (max_recipients > 0 && counts.second > max_recipients);
    if (!over) return {};
    const std::string kind = key.substr(0, key.find(':'));
    metrics_->rate_limited.Add({{"kind", kind}}).Increment();
    spdlog::info("rate limit reached for {} ({} messages, {} recipients this window)", key, counts.first,
                 counts.second);
    return refusal(451, "4.7.1", "Rate limit exceeded, try again later", "rate_limit");
  } catch (const std::exception& e) {
    spdlog::warn("rate limit not checked, database error: {}", e.what());
    return {};
  }
}

asio::awaitable<PolicyRefusal> Antispam::check_recipient(ListenerKind listener, std::string client_ip,
                                                          ResolveRecipientEvent rcpt, std::string auth_user) {
  // Nothing to look up (no DNSBL for this client, no recipient rate limit):
  // answer here instead of handing an empty job to a worker thread and back
  // (two thread switches per RCPT).
  const bool dnsbl = listener == ListenerKind::kMx && auth_user.empty() && !options_.dnsbl.empty();
  const bool rated = pool_ && (auth_user.empty() ? options_.rate_ip_recipients : options_.rate_sender_recipients) > 0;
  if (!dnsbl && !rated) co_return PolicyRefusal{};
  auto work = [this, listener, ip = std::move(client_ip), rcpt = std::move(rcpt), user = std::move(auth_user)] {
    if (listener == ListenerKind::kMx && user.empty()) {
      if (!options_.dnsbl.empty())
        if (auto r = dnsbl_check(ip); r.code) return r;
    }
    if (pool_) {
      // Recipients count as they are accepted, so a spammer cannot queue
      // thousands of RCPTs before the message-level check.
      const bool by_sender = !user.empty();
      const int64_t max_rcpt = by_sender ? options_.rate_sender_recipients : options_.rate_ip_recipients;
      if (max_rcpt > 0)
        if (auto r = rate_check((by_sender ? "sender:" + lower(user) : "ip:" + ip), 0, max_rcpt, 0, 1); r.code)
          return r;
    }
    return PolicyRefusal{};
  };
  PolicyRefusal r = co_await async::offload(workers_, std::move(work));
  co_return r;
}

asio::awaitable<PolicyRefusal> Antispam::check_greylist(ListenerKind listener, std::string client_ip,
                                                         ResolveRecipientEvent rcpt, std::string auth_user) {
  if (listener != ListenerKind::kMx || !auth_user.empty() || !options_.greylist || !pool_) co_return PolicyRefusal{};
  auto work = [this, ip = std::move(client_ip), rcpt = std::move(rcpt)] {
    return greylist_check(ip, rcpt.mail_from, rcpt.address);
  };
  PolicyRefusal r = co_await async::offload(workers_, std::move(work));
  co_return r;
}

policy::RspamdResult Antispam::rspamd_check(const EnqueueEvent& m, const std::string& body) {
  policy::RspamdResult out;
  try {
    std::string_view url = options_.rspamd_url;
    if (url.rfind("http://", 0) != 0) throw std::runtime_error("spam.rspamd_url must start with http://");
    url.remove_prefix(7);
    if (auto slash = url.find('/'); slash != std::string_view::npos) url = url.substr(0, slash);
    std::string host(url), port = "11333";
    if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
      host = std::string(url.substr(0, colon));
      port = std::string(url.substr(colon + 1));
    }
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    asio::ip::tcp::socket sock(io);
    asio::connect(sock, resolver.resolve(host, port));
    // Blocking Beast on a worker thread; socket timeouts bound each read/write.
    timeval tv{};
    tv.tv_sec = options_.rspamd_timeout.count() / 1000;
    tv.tv_usec = (options_.rspamd_timeout.count() % 1000) * 1000;
    setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    http::request<http::string_body> req{http::verb::post, "/checkv2", 11};
    req.set(http::field::host, host);
    req.set("IP", m.envelope.client_ip);
    req.set("Helo", m.envelope.helo);
    req.set("From", m.envelope.mail_from);
    req.set("Queue-Id", m.queue_id);
    for (const auto& r : m.envelope.recipients) req.insert("Rcpt", r.address);
    if (!m.envelope.authenticated_user.empty()) req.set("User", m.envelope.authenticated_user);
    req.body() = body;
    req.prepare_payload();
    http::write(sock, req);
    boost::beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1024 * 1024);
    http::read(sock, buf, parser);
    auto& res = parser.get();
    if (res.result_int() != 200) throw std::runtime_error(fmt::format("HTTP {}", res.result_int()));
    if (!parse_rspamd_reply(res.body(), &out.score, &out.action)) throw std::runtime_error("unreadable answer");
    out.available = true;
    metrics_->rspamd.Add({{"action", out.action}}).Increment();
  } catch (const std::exception& e) {
    metrics_->rspamd_errors.Increment();
    metrics_->rspamd.Add({{"action", "error"}}).Increment();
    spdlog::warn("[q:{}] Rspamd check failed: {}", m.queue_id, e.what());
  }
  return out;
}

// SPF/DKIM/DMARC, Rspamd and the score for a judged message; its fields go
// into msg.data. msg is only changed once authenticate_inbound has returned:
// a cache-only `dns` that throws dns::NotCached leaves it as it was.
PolicyRefusal Antispam::judge(EnqueueEvent& msg, mailauth::DnsLookup& dns) {
  mailauth::InboundInput in;
  if (auto ip = IpAddress::parse(msg.envelope.client_ip)) in.client_ip = *ip;
  in.helo = msg.envelope.helo;
  in.mail_from = msg.envelope.mail_from;
  in.message.assign(std::string_view(msg.data).substr(msg.added_header_bytes));
  in.authserv_id = options_.authserv_id;
  in.now = static_cast<uint64_t>(std::time(nullptr));
  thread_local std::mt19937 rng{std::random_device{}()};
  in.pct_roll = std::uniform_int_distribution<int>(0, 99)(rng);
  mailauth::InboundOptions inbound_options;
  inbound_options.arc_trusted_sealers = options_.arc_trusted_sealers;
  const uint64_t now = in.now;
  auto v = mailauth::authenticate_inbound(dns, std::move(in), inbound_options);
  if (v.removed_forged_headers) {
    metrics_->removed_headers.Increment(static_cast<double>(v.removed_forged_headers));
    spdlog::info("[q:{}] removed {} forged Authentication-Results", msg.queue_id, v.removed_forged_headers);
  }
  metrics_->auth_results.Add({{"method", "spf"}, {"result", mailauth::to_string(v.spf.result)}}).Increment();
  metrics_->auth_results.Add({{"method", "spf_helo"}, {"result", mailauth::to_string(v.spf_helo.result)}})
      .Increment();
  metrics_->auth_results.Add({{"method", "dkim"}, {"result", mailauth::to_string(v.dkim.overall())}}).Increment();
  metrics_->auth_results.Add({{"method", "dmarc"}, {"result", mailauth::to_string(v.dmarc.result)}}).Increment();
  metrics_->auth_results.Add({{"method", "arc"}, {"result", mailauth::to_string(v.arc.result)}}).Increment();
  if (v.arc.result == mailauth::ArcResult::kFail)
    spdlog::info("[q:{}] ARC chain failed: {}", msg.queue_id, log::printable(v.arc.reason, 512));
  if (v.dmarc.arc_override)
    spdlog::info("[q:{}] DMARC failure of {} not enforced: ARC chain sealed by trusted {}", msg.queue_id,
                 log::printable(v.dmarc.from_domain, 256), log::printable(v.dmarc.arc_override_sealer, 256));

  policy::Checks checks;
  checks.spf = v.spf.result;
  checks.dkim = v.dkim.overall();
  checks.dmarc = v.dmarc.result;
  checks.dmarc_apply = v.dmarc.apply;
  checks.dmarc_domain = v.dmarc.policy_domain.empty() ? v.dmarc.from_domain : v.dmarc.policy_domain;
  checks.dmarc_overridden = v.dmarc.arc_override;
  if (!options_.rspamd_url.empty()) {
    checks.rspamd = rspamd_check(msg, v.message);
    if (!checks.rspamd.available && !options_.rspamd_fail_open) {
      metrics_->verdicts.Add({{"action", "tempfail"}}).Increment();
      return refusal(451, "4.7.1", "Content scanner unavailable, try again later", "rspamd_unavailable");
    }
  }
  auto d = policy::decide(checks, options_.policy);
  metrics_->verdicts.Add({{"action", policy::to_string(d.action)}}).Increment();
  if (dmarc_sink_) {
    policy::DmarcReportInput ri;
    ri.verdict = &v;
    ri.client_ip = msg.envelope.client_ip;
    ri.helo = msg.envelope.helo;
    ri.mail_from = msg.envelope.mail_from;
    if (!msg.envelope.recipients.empty()) ri.first_recipient = msg.envelope.recipients.front().address;
    ri.decision = &d;
    ri.dmarc_enforce = options_.policy.dmarc_enforce;
    ri.now = static_cast<int64_t>(now);
    if (auto entry = policy::dmarc_report_entry(ri)) dmarc_sink_->add(*entry);
  }
  spdlog::info("[q:{}] spf={} ({}) dkim={} dmarc={} ({}) score={:.1f} action={} reason={}", msg.queue_id,
               mailauth::to_string(v.spf.result), v.spf.domain, mailauth::to_string(v.dkim.overall()),
               mailauth::to_string(v.dmarc.result), v.dmarc.from_domain, d.score, policy::to_string(d.action),
               d.reason);
  if (d.action == policy::Action::kReject || d.action == policy::Action::kTempFail)
    return PolicyRefusal{d.code, d.enhanced, d.text, d.reason};

  // Directly below our own Received: (the Postfix/milter layout): above
  // every field that came from outside, so no forged copy can be read
  // first (RFC 8601 5), and our Received: stays the first trace field.
  // A sender's own "X-Spam-Status: No" must not sit under ours (after DKIM
  // verification, so a signature covering it has already been judged).
  const size_t spam_status = policy::remove_header_fields(v.message, "X-Spam-Status");
  const std::string headers = v.authentication_results + policy::spam_status_header(d, options_.policy);
  // The Junk wish travels in the envelope (queued stores it with the
  // message); nothing in the message itself says where it goes.
  if (d.action == policy::Action::kJunk) msg.envelope.target_mailbox = "Junk";
  if (!v.removed_forged_headers && !spam_status) {
    // Nothing was taken out: the message below our fields is what the client
    // sent, still in msg.data; ours go in between, in place (the DATA buffer
    // was sized with room for them) rather than into a new copy.
    msg.data.insert(msg.added_header_bytes, headers);
  } else {
    std::string data;
    data.reserve(msg.added_header_bytes + headers.size() + v.message.size());
    data.append(std::string_view(msg.data).substr(0, msg.added_header_bytes)).append(headers).append(v.message);
    msg.data = std::move(data);
  }
  msg.added_header_bytes += headers.size();
  return {};
}

asio::awaitable<PolicyRefusal> Antispam::check_message(ListenerKind listener, EnqueueEvent& message) {
  const bool judged = listener == ListenerKind::kMx && message.envelope.authenticated_user.empty();
  // Nobody outside may choose the mailbox: the header that once carried our
  // verdict to local delivery (queued still honours it on queue rows older
  // than its target_mailbox column) is removed from every message, on every
  // listener. An
  // Authentication-Results claiming our id is a forgery wherever it comes from
  // (a submission user could otherwise fake a verdict for local recipients);
  // on judged mail mailauth removes it before verifying. Most mail has
  // neither field: a look at the header section first, the copy only then.
  {
    const std::string_view sent = std::string_view(message.data).substr(message.added_header_bytes);
    const bool strip_ours = (!judged || !options_.enabled) && !options_.authserv_id.empty();
    if ((strip_ours && policy::has_header_field(sent, "Authentication-Results")) ||
        policy::has_header_field(sent, "X-Postline-Mailbox")) {
      std::string body(sent);
      size_t forged = 0;
      if (strip_ours) {
        body = mailauth::remove_own_authentication_results(body, options_.authserv_id, &forged);
        if (forged) metrics_->removed_headers.Increment(static_cast<double>(forged));
      }
      if (policy::remove_header_fields(body, "X-Postline-Mailbox") || forged)
        message.data = message.data.substr(0, message.added_header_bytes) + body;
    }
  }
  const bool rate_limited = pool_ && (message.envelope.authenticated_user.empty()
                                          ? options_.rate_ip_messages > 0
                                          : options_.rate_sender_messages > 0);
  if ((!judged || !options_.enabled) && !rate_limited) co_return PolicyRefusal{};

  // Nothing that can block (no rate-limit row, no Rspamd call) and every DNS
  // answer in the cache, as it is for all but a sender's first message per
  // TTL: judged here, on the I/O thread, instead of a hand-off to a worker
  // and back (two thread switches per message).
  if (!rate_limited && options_.rspamd_url.empty() && cached_dns_) {
    if (auto r = judge_inline(message)) co_return std::move(*r);
  }

  auto msg = std::make_shared<EnqueueEvent>(std::move(message));
  auto work = [this, msg, judged]() -> PolicyRefusal {
    if (pool_) {
      const bool by_sender = !msg->envelope.authenticated_user.empty();
      const int64_t max = by_sender ? options_.rate_sender_messages : options_.rate_ip_messages;
      if (max > 0) {
        const std::string key =
            by_sender ? "sender:" + lower(msg->envelope.authenticated_user) : "ip:" + msg->envelope.client_ip;
        if (auto r = rate_check(key, max, 0, 1, 0); r.code) return r;
      }
    }
    if (!judged || !options_.enabled) return {};
    BudgetDnsLookup dns(*dns_, 6 * options_.dns_timeout);
    return judge(*msg, dns);
  };
  PolicyRefusal r = co_await async::offload(workers_, std::move(work));
  message = std::move(*msg);
  co_return r;
}

std::optional<PolicyRefusal> Antispam::judge_inline(EnqueueEvent& message) {
  try {
    return judge(message, *cached_dns_);
  } catch (const dns::NotCached&) {
    return std::nullopt;  // a question has to go out: on a worker, from the start
  }
}

}  // namespace postline::smtp
