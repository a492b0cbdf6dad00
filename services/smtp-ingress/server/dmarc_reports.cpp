#include "services/smtp-ingress/server/dmarc_reports.h"

#include "mail/v1/queue.pb.h"

#include <spdlog/spdlog.h>

namespace postline::smtp {
namespace pb = postline::mail::v1;

namespace {

constexpr size_t kFlushAt = 1000;

std::string key_of(const policy::DmarcReportEntry& e, int64_t period_hint) {
  std::string k = std::to_string(period_hint);
  for (const std::string* s : {&e.policy_domain, &e.header_from, &e.envelope_from, &e.envelope_to, &e.source_ip,
                               &e.disposition, &e.dkim_aligned, &e.spf_aligned, &e.reason, &e.spf_domain,
                               &e.spf_scope, &e.spf_result})
    k += '\x1f' + *s;
  for (const auto& d : e.dkim) k += '\x1e' + d.domain + '\x1f' + d.selector + '\x1f' + d.result;
  return k;
}

}  // namespace

DmarcReportSink::DmarcReportSink(Send send, std::chrono::seconds flush_interval, prometheus::Registry& registry,
                                 size_t max_pending)
    : send_(std::move(send)),
      interval_(flush_interval),
      max_pending_(max_pending),
      counter_(prometheus::BuildCounter()
                   .Name("postline_smtpd_dmarc_report_evaluations_total")
                   .Help("DMARC evaluations for aggregate reports by outcome: sent (to queued), dropped (buffer "
                         "full), retried (a failed RecordDmarc, kept for the next flush)")
                   .Register(registry)) {
  for (const char* o : {"sent", "dropped", "retried"}) counter_.Add({{"outcome", o}});
  thread_ = std::thread([this] { loop(); });
}

DmarcReportSink::~DmarcReportSink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  flush();
}

void DmarcReportSink::add(const policy::DmarcReportEntry& e) {
  bool full_batch = false;
  {
    std::lock_guard lock(mutex_);
    // Same minute, same everything: one entry with a count (queued puts
    // the time into its period anyway).
    auto key = key_of(e, e.time_unix / 60);
    auto it = pending_.find(key);
    if (it != pending_.end()) {
      ++it->second.second;
    } else if (pending_.size() >= max_pending_) {
      counter_.Add({{"outcome", "dropped"}}).Increment();
      return;
    } else {
      pending_.emplace(std::move(key), std::make_pair(e, int64_t{1}));
    }
    full_batch = pending_.size() >= kFlushAt;
  }
  if (full_batch) cv_.notify_all();
}

void DmarcReportSink::flush() {
  std::map<std::string, std::pair<policy::DmarcReportEntry, int64_t>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(pending_);
  }
  if (batch.empty()) return;
  pb::RecordDmarcRequest req;
  int64_t messages = 0;
  for (const auto& [key, entry] : batch) {
    const auto& e = entry.first;
    auto* out = req.add_evaluations();
    out->set_time_unix(e.time_unix);
    out->set_policy_domain(e.policy_domain);
    out->set_header_from(e.header_from);
    out->set_envelope_from(e.envelope_from);
    out->set_envelope_to(e.envelope_to);
    out->set_source_ip(e.source_ip);
    out->set_disposition(e.disposition);
    out->set_dkim_aligned(e.dkim_aligned);
    out->set_spf_aligned(e.spf_aligned);
    out->set_reason(e.reason);
    for (const auto& d : e.dkim) {
      auto* r = out->add_dkim();
      r->set_domain(d.domain);
      r->set_selector(d.selector);
      r->set_result(d.result);
    }
    out->set_spf_domain(e.spf_domain);
    out->set_spf_scope(e.spf_scope);
    out->set_spf_result(e.spf_result);
    out->set_rua(e.rua);
    out->set_adkim(e.adkim);
    out->set_aspf(e.aspf);
    out->set_p(e.p);
    out->set_sp(e.sp);
    out->set_pct(e.pct);
    out->set_fo(e.fo);
    out->set_count(entry.second);
    messages += entry.second;
  }
  if (send_(req)) {
    counter_.Add({{"outcome", "sent"}}).Increment(static_cast<double>(messages));
    return;
  }
  counter_.Add({{"outcome", "retried"}}).Increment(static_cast<double>(messages));
  // Back in, merged with what came meanwhile, within the bound.
  std::lock_guard lock(mutex_);
  for (auto& [key, entry] : batch) {
    auto it = pending_.find(key);
    if (it != pending_.end()) it->second.second += entry.second;
    else if (pending_.size() < max_pending_) pending_.emplace(key, std::move(entry));
    else counter_.Add({{"outcome", "dropped"}}).Increment(static_cast<double>(entry.second));
  }
}

void DmarcReportSink::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, interval_, [this] { return stopping_ || pending_.size() >= kFlushAt; });
    if (stopping_) break;
    lock.unlock();
    flush();
    lock.lock();
  }
}

}  // namespace postline::smtp
