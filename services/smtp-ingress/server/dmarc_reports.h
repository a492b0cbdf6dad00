// DMARC evaluations of the MX listener on their way to queued's aggregate
// reports (RecordDmarc): collected in memory, identical ones counted
// together, sent every reports.flush_interval (or at 1000 distinct entries)
// by a thread of their own, so a message costs a map insert and no RPC.
// Bounded: past max_pending distinct entries new ones are dropped (counted).
// A failed send keeps the batch for the next flush; a crash loses at most
// one flush interval of counts, which aggregate statistics can afford.
#pragma once

#include "services/smtp-ingress/policy/dmarc_report.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace postline::mail::v1 {
class RecordDmarcRequest;
}

namespace postline::smtp {

class DmarcReportSink {
 public:
  // send: one RecordDmarc call; false when it failed.
  using Send = std::function<bool(const mail::v1::RecordDmarcRequest&)>;
  DmarcReportSink(Send send, std::chrono::seconds flush_interval, prometheus::Registry& registry,
                  size_t max_pending = 20000);
  ~DmarcReportSink();  // flushes once more

  void add(const policy::DmarcReportEntry& entry);
  // Sends what is pending now (tests; shutdown).
  void flush();

 private:
  void loop();
  Send send_;
  std::chrono::seconds interval_;
  size_t max_pending_;
  prometheus::Family<prometheus::Counter>& counter_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, std::pair<policy::DmarcReportEntry, int64_t>> pending_;  // key -> entry, count
  std::thread thread_;
};

}  // namespace postline::smtp
