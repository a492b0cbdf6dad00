#include "services/delivery-queue/reports/reporter.h"

#include "common/config/config.h"
#include "common/log/printable.h"
#include "common/mailauth/public_suffix.h"
#include "common/mailauth/text_util.h"
#include "services/delivery-queue/reports/compression.h"
#include "services/delivery-queue/dsn/dsn.h"
#include "services/delivery-queue/store/queue_store.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <ctime>

namespace postline::queue::reports {

using nlohmann::json;

namespace {

constexpr int64_t kLockKey = 0x706c7270;  // "plrp": the report job, one replica at a time
constexpr size_t kMaxInboxBytes = 64 * 1024 * 1024;
constexpr size_t kMaxDestinations = 2;    // RFC 7489 6.2: receivers need not send to more than two

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  std::string out;
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? "" : mailauth::to_lower(address.substr(at + 1));
}

json dmarc_detail(const DmarcAggregate& r) {
  json records = json::array();
  for (const auto& row : r.rows) {
    json dkim = json::array();
    for (const auto& d : row.dkim_auth) dkim.push_back({{"domain", d.domain}, {"selector", d.selector}, {"result", d.result}});
    records.push_back({{"source_ip", row.source_ip},
                       {"count", row.count},
                       {"disposition", row.disposition},
                       {"dkim", row.dkim},
                       {"spf", row.spf},
                       {"reason", row.reason},
                       {"header_from", row.header_from},
                       {"envelope_from", row.envelope_from},
                       {"envelope_to", row.envelope_to},
                       {"auth_dkim", dkim},
                       {"auth_spf", {{"domain", row.spf_domain}, {"scope", row.spf_scope}, {"result", row.spf_result}}}});
  }
  return {{"org_name", r.org_name},
          {"email", r.email},
          {"report_id", r.report_id},
          {"begin", r.begin},
          {"end", r.end},
          {"policy",
           {{"domain", r.policy.domain},
            {"p", r.policy.p},
            {"sp", r.policy.sp},
            {"pct", r.policy.pct},
            {"adkim", r.policy.adkim},
            {"aspf", r.policy.aspf}}},
          {"records", records}};
}

}  // namespace

struct Reporter::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : sent(prometheus::BuildCounter()
                 .Name("postline_queued_reports_sent_total")
                 .Help("outgoing aggregate reports by kind (dmarc, tlsrpt) and outcome (sent, no_rua, too_large, "
                       "unverified, dns_error, error)")
                 .Register(r)),
        received(prometheus::BuildCounter()
                     .Name("postline_queued_reports_received_total")
                     .Help("incoming aggregate reports by kind and outcome (stored, duplicate, not_ours, invalid, "
                           "dropped, error)")
                     .Register(r)),
        dmarc(prometheus::BuildCounter()
                  .Name("postline_queued_dmarc_evaluations_total")
                  .Help("DMARC evaluations recorded for aggregate reports (from smtpd), by disposition")
                  .Register(r)),
        tls(prometheus::BuildCounter()
                .Name("postline_queued_tls_sessions_total")
                .Help("TLS outcomes of remote delivery for TLS-RPT by policy_type and result (success or an "
                      "RFC 8460 result type)")
                .Register(r)) {}
  prometheus::Family<prometheus::Counter>& sent;
  prometheus::Family<prometheus::Counter>& received;
  prometheus::Family<prometheus::Counter>& dmarc;
  prometheus::Family<prometheus::Counter>& tls;
};

ReporterConfig ReporterConfig::from(const config::Config& cfg) {
  ReporterConfig c;
  c.send = cfg.boolean("reports", "send");
  c.receive = cfg.boolean("reports", "receive");
  c.hostname = cfg.str("queue", "hostname");
  c.org_name = cfg.str("reports", "org_name");
  if (c.org_name.empty()) c.org_name = c.hostname;
  c.email = cfg.str("reports", "email");
  if (c.email.empty()) c.email = "postmaster@" + c.hostname;
  if (c.email.find('@') == std::string::npos || c.email.find_first_of(" <>\r\n\"") != std::string::npos)
    throw config::ConfigError("reports.email: expected a plain address like dmarc-reports@example.org");
  c.extra_contact_info = cfg.str("reports", "extra_contact_info");
  auto period = cfg.duration("reports", "period");
  if (period.count() < 1 || period.count() > 7 * 86400)
    throw config::ConfigError("reports.period: must be between 1s and 7d");
  if (86400 % period.count() != 0 && period.count() % 86400 != 0)
    throw config::ConfigError("reports.period: must divide a day (or be whole days), so periods align with UTC days");
  c.period = period.count();
  c.check_interval = cfg.duration("reports", "check_interval");
  c.flush_interval = cfg.duration("reports", "flush_interval");
  if (c.check_interval.count() < 1) throw config::ConfigError("reports.check_interval: must be positive");
  if (c.flush_interval.count() < 1) throw config::ConfigError("reports.flush_interval: must be positive");
  c.max_decompressed = cfg.size("reports", "max_decompressed_size");
  c.keep_received = cfg.duration("reports", "keep_received").count();
  return c;
}

std::string ReporterConfig::submitter() const { return domain_of(email); }

namespace {

class CountingRecorder final : public TlsOutcomeRecorder {
 public:
  using TlsOutcomeRecorder::record;
  CountingRecorder(TlsOutcomeRecorder& inner, prometheus::Family<prometheus::Counter>& family)
      : inner_(inner), family_(family) {}
  void record(const TlsOutcome& o) override {
    family_.Add({{"policy_type", to_string(o.policy_type)}, {"result", o.success ? "success" : o.result_type}})
        .Increment();
    inner_.record(o);
  }

 private:
  TlsOutcomeRecorder& inner_;
  prometheus::Family<prometheus::Counter>& family_;
};

}  // namespace

Reporter::Reporter(ReporterConfig config, db::Pool& pool, std::unique_ptr<mailauth::DnsLookup> dns,
                   RecipientResolver* resolver, prometheus::Registry& registry, std::function<void()> wake)
    : config_(std::move(config)),
      pool_(pool),
      dns_(std::move(dns)),
      resolver_(resolver),
      metrics_(std::make_unique<Metrics>(registry)),
      wake_(std::move(wake)),
      tls_(config_.period),
      counting_(std::make_unique<CountingRecorder>(tls_, metrics_->tls)) {
  // The series exist at zero from the start.
  for (const char* kind : {"dmarc", "tlsrpt"}) {
    if (config_.send)
      for (const char* o : {"sent", "no_rua", "too_large", "unverified", "dns_error", "error"})
        metrics_->sent.Add({{"kind", kind}, {"outcome", o}});
    if (config_.receive)
      for (const char* o : {"stored", "duplicate", "not_ours", "invalid", "dropped", "error"})
        metrics_->received.Add({{"kind", kind}, {"outcome", o}});
  }
  if (config_.send) {
    for (const char* d : {"none", "quarantine", "reject"}) metrics_->dmarc.Add({{"disposition", d}});
    metrics_->tls.Add({{"policy_type", "no-policy-found"}, {"result", "success"}});
    metrics_->tls.Add({{"policy_type", "no-policy-found"}, {"result", "starttls-not-supported"}});
    metrics_->tls.Add({{"policy_type", "no-policy-found"}, {"result", "validation-failure"}});
  }
}

Reporter::~Reporter() { stop(); }

void Reporter::start() {
  if (config_.send) job_ = std::thread([this] { loop(); });
  if (config_.receive) intake_ = std::thread([this] { intake_loop(); });
}

void Reporter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (job_.joinable()) job_.join();
  if (intake_.joinable()) intake_.join();
  // Counts not yet written would be lost: one last flush.
  if (config_.send) {
    try {
      flush_tls();
    } catch (const std::exception& e) {
      spdlog::warn("TLS report counts not saved at shutdown: {}", log::printable(e.what()));
    }
  }
}

void Reporter::loop() {
  auto next_run = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, config_.flush_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    try {
      if (std::chrono::steady_clock::now() >= next_run) {
        next_run = std::chrono::steady_clock::now() + config_.check_interval;  // a failed run waits its turn too
        run_once();
      } else {
        flush_tls();
      }
    } catch (const std::exception& e) {
      spdlog::warn("report job: {} (tried again later)", log::printable(e.what()));
    }
    lock.lock();
  }
}

void Reporter::flush_tls() {
  auto rows = tls_.take();
  if (rows.empty()) return;
  try {
    pool_.with([&](pqxx::connection& c) {
      pqxx::work tx(c);
      add_tls_rows(tx, rows);
      tx.commit();
    });
  } catch (...) {
    // Back into the buffer for the next flush (counts merge again).
    for (const auto& r : rows) {
      TlsOutcome o;
      o.policy_domain = r.policy_domain;
      o.policy_type = r.policy_type == "sts"    ? TlsPolicyType::kSts
                      : r.policy_type == "tlsa" ? TlsPolicyType::kTlsa
                                                : TlsPolicyType::kNoPolicyFound;
      for (auto s : mailauth::split(r.policy_strings, '\n'))
        if (!s.empty()) o.policy_strings.emplace_back(s);
      o.mx_host = r.mx_host;
      o.receiving_ip = r.receiving_ip;
      o.result_type = r.result_type;
      o.success = r.result_type.empty();
      for (int64_t i = 0; i < r.sessions && i < 100000; ++i) tls_.record(o);
    }
    throw;
  }
}

size_t Reporter::record_dmarc(const std::vector<DmarcEvaluationRow>& in) {
  if (!config_.send || in.empty()) return 0;
  std::vector<DmarcEvaluationRow> rows = in;
  for (auto& r : rows) {
    r.period_start -= r.period_start % config_.period;
    if (r.row.count <= 0) r.row.count = 1;
  }
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    add_dmarc_rows(tx, rows);
    tx.commit();
  });
  for (const auto& r : rows)
    metrics_->dmarc.Add({{"disposition", r.row.disposition}}).Increment(static_cast<double>(r.row.count));
  return rows.size();
}

std::vector<std::string> Reporter::run_once(bool* skipped) {
  std::lock_guard run(run_mutex_);
  if (skipped) *skipped = false;
  std::vector<std::string> lines;
  if (!config_.send) return lines;
  flush_tls();
  auto lease = pool_.acquire();
  pqxx::connection& c = *lease;
  {
    pqxx::nontransaction n(c);
    if (!n.exec_params("SELECT pg_try_advisory_lock($1::bigint)", kLockKey)[0][0].as<bool>()) {
      if (skipped) *skipped = true;
      spdlog::debug("report job: another instance is running it");
      return lines;
    }
  }
  bool enqueued_any = false;
  auto unlock = [&] {
    try {
      pqxx::nontransaction n(c);
      n.exec_params("SELECT pg_advisory_unlock($1::bigint)", kLockKey);
    } catch (...) {
      lease.discard();  // the lock goes with the connection
    }
  };
  try {
    const int64_t now = unix_now();
    std::vector<PendingReport> dmarc, tls;
    {
      pqxx::work tx(c);
      dmarc = pending_dmarc_reports(tx, now, config_.period);
      tls = pending_tls_reports(tx, now, config_.period);
      tx.commit();
    }
    auto one = [&](const char* kind, const PendingReport& p, auto send) {
      std::string outcome;
      try {
        pqxx::work tx(c);
        bool enqueued = false;
        outcome = send(tx, p, now, &enqueued);
        tx.commit();
        enqueued_any = enqueued_any || enqueued;
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const std::exception& e) {
        outcome = "error";
        spdlog::warn("{} report for {}: {}", kind, log::printable(p.policy_domain, 256), log::printable(e.what()));
      }
      if (outcome == "already") return;
      metrics_->sent.Add({{"kind", kind}, {"outcome", outcome}}).Increment();
      lines.push_back(fmt::format("{} {} {} {}", kind, p.policy_domain, p.period_start, outcome));
      spdlog::info("{} report for {} (period from {}): {}", kind, log::printable(p.policy_domain, 256),
                   p.period_start, outcome);
    };
    for (const auto& p : dmarc)
      one("dmarc", p, [this](pqxx::work& tx, const PendingReport& pr, int64_t t, bool* e) {
        return send_dmarc(tx, pr, t, e);
      });
    for (const auto& p : tls)
      one("tlsrpt", p, [this](pqxx::work& tx, const PendingReport& pr, int64_t t, bool* e) {
        return send_tls(tx, pr, t, e);
      });
    pqxx::work tx(c);
    if (int64_t n = housekeeping(tx, config_.keep_received)) spdlog::info("report housekeeping: {} rows removed", n);
    tx.commit();
  } catch (...) {
    unlock();
    throw;
  }
  unlock();
  if (enqueued_any && wake_) wake_();
  return lines;
}

namespace {

NewMessage report_message(const ReporterConfig& cfg, const std::string& to, std::string body) {
  NewMessage m;
  m.mail_from = cfg.email;
  m.helo = cfg.hostname;
  m.body = std::move(body);
  NewRecipient r;
  r.address = to;
  r.needs_resolve = true;  // local or remote: authd decides at delivery
  m.recipients.push_back(std::move(r));
  return m;
}

}  // namespace

std::string Reporter::send_dmarc(pqxx::work& tx, const PendingReport& p, int64_t, bool* enqueued) {
  const std::string report_id = fmt::format("{}.{}", p.period_start, random_hex(6));
  DmarcPeriod data = load_dmarc_period(tx, p.policy_domain, p.period_start);
  std::vector<ReportUri> uris;
  for (auto& u : parse_report_uris(data.rua))
    if (u.scheme == "mailto") uris.push_back(std::move(u));
  if (uris.empty()) {
    claim_report(tx, "dmarc", p.policy_domain, p.period_start, report_id, "no_rua", data.rua);
    return "no_rua";
  }
  DmarcAggregate r;
  r.org_name = config_.org_name;
  r.email = config_.email;
  r.extra_contact_info = config_.extra_contact_info;
  r.report_id = report_id;
  r.begin = p.period_start;
  r.end = p.period_start + config_.period - 1;
  r.policy = data.policy;
  r.policy.domain = p.policy_domain;
  r.rows = std::move(data.rows);
  const std::string gz = gzip_compress(build_dmarc_xml(r));
  const auto& psl = mailauth::PublicSuffixList::system();
  const std::string policy_org = psl.organizational_domain(p.policy_domain);
  std::vector<std::string> messages_to;
  std::string outcome = "sent", detail;
  for (const auto& u : uris) {
    if (messages_to.size() >= kMaxDestinations) break;
    const std::string dest = domain_of(u.address);
    if (psl.organizational_domain(dest) != policy_org) {
      // RFC 7489 7.1: the destination must agree to receive the reports.
      auto txt = dns_->txt(external_verification_name(p.policy_domain, dest));
      if (txt.status == mailauth::DnsStatus::kTempFail) return "dns_error";  // no claim: tried again next run
      if (txt.status != mailauth::DnsStatus::kOk || !external_verification_ok(txt.records)) {
        outcome = "unverified";
        detail += u.address + " not verified; ";
        continue;
      }
    }
    messages_to.push_back(u.address);
  }
  std::vector<std::pair<std::string, std::string>> bodies;
  for (const auto& to : messages_to) {
    ReportEnvelope e;
    e.from = config_.email;
    e.to = to;
    e.submitter = config_.submitter();
    e.policy_domain = p.policy_domain;
    e.report_id = report_id;
    e.filename = dmarc_report_filename(config_.submitter(), p.policy_domain, r.begin, r.end);
    e.date = rfc5322_date(std::chrono::system_clock::now());
    std::string body = dmarc_report_message(e, gz);
    for (const auto& u : uris)
      if (u.address == to && u.max_bytes && body.size() > u.max_bytes) {
        outcome = "too_large";
        detail += to + " limit " + std::to_string(u.max_bytes) + "; ";
        body.clear();
      }
    if (!body.empty()) bodies.emplace_back(to, std::move(body));
  }
  if (!bodies.empty()) outcome = "sent";
  for (const auto& b : bodies) detail += "to " + b.first + "; ";
  if (!claim_report(tx, "dmarc", p.policy_domain, p.period_start, report_id, outcome, detail)) return "already";
  for (auto& [to, body] : bodies) {
    auto q = enqueue(tx, report_message(config_, to, std::move(body)));
    spdlog::info("DMARC report {} for {} to {} queued as {}", report_id, log::printable(p.policy_domain, 256),
                 log::printable(to, 512), q.queue_id);
    *enqueued = true;
  }
  return outcome;
}

std::string Reporter::send_tls(pqxx::work& tx, const PendingReport& p, int64_t, bool* enqueued) {
  const std::string report_id = fmt::format("{}.{}", p.period_start, random_hex(6));
  auto txt = dns_->txt("_smtp._tls." + p.policy_domain);
  if (txt.status == mailauth::DnsStatus::kTempFail) return "dns_error";
  // RFC 8460 3: exactly one record starting with v=TLSRPTv1.
  std::optional<std::vector<ReportUri>> uris;
  int versions = 0;
  for (const auto& t : txt.records)
    if (t.rfind("v=TLSRPTv1", 0) == 0) {
      ++versions;
      uris = parse_tlsrpt_record(t);
    }
  if (versions != 1 || !uris) {
    claim_report(tx, "tlsrpt", p.policy_domain, p.period_start, report_id, "no_rua", "");
    return "no_rua";
  }
  TlsReport r;
  r.organization_name = config_.org_name;
  r.contact_info = config_.email;
  r.report_id = report_id;
  r.start = p.period_start;
  r.end = p.period_start + config_.period;
  r.policies = load_tls_period(tx, p.policy_domain, p.period_start);
  const std::string gz = gzip_compress(build_tlsrpt_json(r));
  std::vector<std::pair<std::string, std::string>> bodies;
  std::string detail;
  for (const auto& u : *uris) {
    if (u.scheme != "mailto") {
      // https: POST (RFC 8460 5.2) is not implemented; mailto: is enough for
      // every large receiver today.
      detail += u.uri + " skipped (https); ";
      continue;
    }
    if (bodies.size() >= kMaxDestinations) break;
    ReportEnvelope e;
    e.from = config_.email;
    e.to = u.address;
    e.submitter = config_.submitter();
    e.policy_domain = p.policy_domain;
    e.report_id = report_id;
    e.filename = tlsrpt_filename(config_.submitter(), p.policy_domain, r.start, r.end, random_hex(4));
    e.date = rfc5322_date(std::chrono::system_clock::now());
    bodies.emplace_back(u.address, tlsrpt_report_message(e, gz));
  }
  const std::string outcome = bodies.empty() ? "no_rua" : "sent";
  for (const auto& b : bodies) detail += "to " + b.first + "; ";
  if (!claim_report(tx, "tlsrpt", p.policy_domain, p.period_start, report_id, outcome, detail)) return "already";
  for (auto& [to, body] : bodies) {
    auto q = enqueue(tx, report_message(config_, to, std::move(body)));
    spdlog::info("TLS report {} for {} to {} queued as {}", report_id, log::printable(p.policy_domain, 256),
                 log::printable(to, 512), q.queue_id);
    *enqueued = true;
  }
  return outcome;
}

void Reporter::offer(const std::string& message) {
  if (!config_.receive || !looks_like_report(message)) return;
  {
    std::lock_guard lock(mutex_);
    if (inbox_bytes_ + message.size() > kMaxInboxBytes) {
      metrics_->received.Add({{"kind", "dmarc"}, {"outcome", "dropped"}}).Increment();
      spdlog::warn("report intake full: a report message of {} bytes was not parsed", message.size());
      return;
    }
    inbox_bytes_ += message.size();
    inbox_.push_back(message);
  }
  cv_.notify_all();
}

void Reporter::intake_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !inbox_.empty(); });
    if (inbox_.empty() && stopping_) return;
    std::string msg = std::move(inbox_.front());
    inbox_.pop_front();
    inbox_bytes_ -= msg.size();
    lock.unlock();
    try {
      ingest(msg);
    } catch (const std::exception& e) {
      metrics_->received.Add({{"kind", "dmarc"}, {"outcome", "error"}}).Increment();
      spdlog::warn("received report not stored: {}", log::printable(e.what()));
    }
    lock.lock();
  }
}

bool Reporter::our_domain(const std::string& domain) {
  if (!resolver_) return true;
  auto r = resolver_->resolve("postmaster@" + domain);
  if (r.kind == Resolution::kTemporaryFailure) throw std::runtime_error("authd unavailable to check " + domain);
  return r.kind != Resolution::kRemote;
}

std::vector<std::string> Reporter::ingest(const std::string& message) {
  std::vector<std::string> lines;
  std::vector<std::string> errors;
  ExtractLimits limits;
  limits.max_decompressed = config_.max_decompressed;
  auto found = extract_reports(message, limits, &errors);
  for (const auto& e : errors) {
    spdlog::info("received report: {}", log::printable(e, 512));
    metrics_->received.Add({{"kind", "dmarc"}, {"outcome", "invalid"}}).Increment();
    lines.push_back("? ? invalid");
  }
  for (const auto& f : found) {
    const char* kind = f.kind == FoundReport::Kind::kDmarc ? "dmarc" : "tlsrpt";
    ReceivedReport rr;
    rr.kind = kind;
    std::string err;
    if (f.kind == FoundReport::Kind::kDmarc) {
      XmlLimits xl;
      xl.max_bytes = config_.max_decompressed;
      auto r = parse_dmarc_xml(f.document, &err, xl);
      if (r) {
        rr.policy_domain = r->policy.domain;
        rr.org_name = r->org_name;
        rr.report_id = r->report_id;
        rr.contact = r->email;
        rr.begin = r->begin;
        rr.end = r->end;
        rr.total = r->total_messages();
        rr.failed = r->failed_messages();
        rr.detail_json = dmarc_detail(*r).dump(-1, ' ', false, json::error_handler_t::replace);
      }
    } else {
      auto r = parse_tlsrpt_json(f.document, &err, config_.max_decompressed);
      if (r && r->policies.empty()) err = "no policies";
      if (r && err.empty()) {
        rr.policy_domain = r->policies.front().policy_domain;
        rr.org_name = r->organization_name;
        rr.report_id = r->report_id;
        rr.contact = r->contact_info;
        rr.begin = r->start;
        rr.end = r->end;
        rr.total = r->total_successful() + r->total_failed();
        rr.failed = r->total_failed();
        rr.detail_json = build_tlsrpt_json(*r);
      }
    }
    if (rr.policy_domain.empty()) {
      metrics_->received.Add({{"kind", kind}, {"outcome", "invalid"}}).Increment();
      spdlog::info("received {} report not readable: {}", kind, log::printable(err, 512));
      lines.push_back(std::string(kind) + " ? invalid");
      continue;
    }
    auto normalized = mailauth::normalize_domain(rr.policy_domain);
    if (!normalized || !our_domain(*normalized)) {
      metrics_->received.Add({{"kind", kind}, {"outcome", "not_ours"}}).Increment();
      spdlog::info("received {} report {} from {} is about {}, not one of our domains", kind,
                   log::printable(rr.report_id, 256), log::printable(rr.org_name, 256),
                   log::printable(rr.policy_domain, 256));
      lines.push_back(std::string(kind) + " " + rr.policy_domain + " not_ours");
      continue;
    }
    rr.policy_domain = *normalized;
    bool stored = pool_.with([&](pqxx::connection& c) {
      pqxx::work tx(c);
      bool s = store_received(tx, rr);
      tx.commit();
      return s;
    });
    const char* outcome = stored ? "stored" : "duplicate";
    metrics_->received.Add({{"kind", kind}, {"outcome", outcome}}).Increment();
    spdlog::info("received {} report {} from {} for {}: {}", kind, log::printable(rr.report_id, 256),
                 log::printable(rr.org_name, 256), rr.policy_domain, outcome);
    lines.push_back(std::string(kind) + " " + rr.policy_domain + " " + outcome);
  }
  return lines;
}

std::vector<ReceivedReport> Reporter::list(const std::string& kind, const std::string& domain, int limit) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    return list_received(tx, kind, domain, limit);
  });
}

}  // namespace postline::queue::reports
