// queued's reporting service (issue 20): the periodic job that sends DMARC
// aggregate reports (RFC 7489 7.2) and SMTP TLS reports (RFC 8460) through
// the queue, the store of smtpd's DMARC evaluations and of remote delivery's
// TLS outcomes, and the intake of reports other organisations send us.
//
// One replica at a time runs the job: it holds a PostgreSQL session advisory
// lock for the run, and each (kind, domain, period) is claimed in
// report_runs in the same transaction that enqueues its message, so a report
// goes out once even when runs overlap or a replica dies mid-run.
#pragma once

#include "common/db/pool.h"
#include "common/mailauth/dns_lookup.h"
#include "services/delivery-queue/delivery/interfaces.h"
#include "services/delivery-queue/reports/report_mail.h"
#include "services/delivery-queue/reports/report_store.h"
#include "services/delivery-queue/reports/tls_outcomes.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace postline::config {
class Config;
}

namespace postline::queue::reports {

struct ReporterConfig {
  bool send = false;            // reports.send: record and send DMARC and TLS reports
  bool receive = true;          // reports.receive: parse reports delivered to local users
  std::string org_name;         // reports.org_name (default queue.hostname)
  std::string email;            // reports.email: From: and contact (default postmaster@queue.hostname)
  std::string extra_contact_info;
  int64_t period = 86400;       // reports.period, seconds (a UTC day)
  std::chrono::seconds check_interval{300};
  std::chrono::seconds flush_interval{10};
  size_t max_decompressed = 16 * 1024 * 1024;
  int64_t keep_received = 365 * 86400;  // reports.keep_received, seconds (0 = for ever)
  std::string hostname;         // queue.hostname
  // Throws config::ConfigError naming the key.
  static ReporterConfig from(const config::Config& cfg);
  std::string submitter() const;  // the domain of email
};

class Reporter {
 public:
  // dns: TXT look-ups (_smtp._tls, RFC 7489 7.1 verification); resolver:
  // whether a report's domain is ours; wake: new mail was enqueued.
  Reporter(ReporterConfig config, db::Pool& pool, std::unique_ptr<mailauth::DnsLookup> dns,
           RecipientResolver* resolver, prometheus::Registry& registry, std::function<void()> wake);
  ~Reporter();

  void start();
  void stop();

  const ReporterConfig& config() const { return config_; }
  // Where remote delivery reports TLS outcomes (null when reports.send is off).
  TlsOutcomeRecorder* tls_recorder() { return config_.send ? counting_.get() : nullptr; }

  // smtpd's evaluations (RecordDmarc); throws on database errors.
  size_t record_dmarc(const std::vector<DmarcEvaluationRow>& rows);
  // One run of the job now; "kind domain period outcome" lines. skipped:
  // another replica holds the lock.
  std::vector<std::string> run_once(bool* skipped = nullptr);
  // A message that was just committed for local delivery (Enqueue): when it
  // looks like a report, a copy is parsed on the intake thread.
  void offer(const std::string& message);
  // The intake's work, synchronous (tests): parse, check the domain, store.
  // Returns one "kind domain outcome" line per report found.
  std::vector<std::string> ingest(const std::string& message);

  std::vector<ReceivedReport> list(const std::string& kind, const std::string& domain, int limit);

 private:
  struct Metrics;
  void loop();
  void intake_loop();
  void flush_tls();
  std::string send_dmarc(pqxx::work& tx, const PendingReport& p, int64_t now, bool* enqueued);
  std::string send_tls(pqxx::work& tx, const PendingReport& p, int64_t now, bool* enqueued);
  bool our_domain(const std::string& domain);

  ReporterConfig config_;
  db::Pool& pool_;
  std::unique_ptr<mailauth::DnsLookup> dns_;
  RecipientResolver* resolver_;
  std::unique_ptr<Metrics> metrics_;
  std::function<void()> wake_;
  TlsOutcomeBuffer tls_;
  std::unique_ptr<TlsOutcomeRecorder> counting_;  // metrics, then tls_
  std::mutex run_mutex_;  // one run per process at a time

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<std::string> inbox_;
  size_t inbox_bytes_ = 0;
  std::thread job_, intake_;
};

}  // namespace postline::queue::reports
