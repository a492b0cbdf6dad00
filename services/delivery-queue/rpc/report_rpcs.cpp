// QueueService's reporting RPCs (issue 20): smtpd's DMARC evaluations in,
// received reports out (`postline dmarc|tlsrpt reports`), the report job on
// demand (`postline reports send`). The work is in reports/.
#include "common/log/printable.h"
#include "services/delivery-queue/reports/reporter.h"
#include "services/delivery-queue/rpc/queue_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace postline::queue {
namespace v1 = postline::mail::v1;

namespace {
const grpc::Status kNoReporter(grpc::StatusCode::UNIMPLEMENTED, "reporting is not set up in this queued");
const grpc::Status kUnauthenticated(grpc::StatusCode::UNAUTHENTICATED, "queue administration needs the admin token");
constexpr int kMaxEvaluations = 10000;

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}

// smtpd is trusted, but what it relays came from the Internet: bound the
// sizes and the vocabularies before anything reaches the table.
std::string bounded(const std::string& s, size_t max = 255) { return s.size() > max ? s.substr(0, max) : s; }

}  // namespace

grpc::Status QueueServiceImpl::RecordDmarc(grpc::ServerContext*, const v1::RecordDmarcRequest* request,
                                           v1::RecordDmarcResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "RecordDmarc");
  grpc::Status status;
  if (!reporter_) {
    status = kNoReporter;
  } else if (request->evaluations_size() > kMaxEvaluations) {
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "too many evaluations in one call");
  } else {
    std::vector<reports::DmarcEvaluationRow> rows;
    for (const auto& e : request->evaluations()) {
      if (e.policy_domain().empty() || e.policy_domain().size() > 253) continue;
      reports::DmarcEvaluationRow r;
      r.period_start = e.time_unix();
      r.policy_domain = bounded(e.policy_domain());
      r.row.source_ip = bounded(e.source_ip(), 64);
      r.row.count = std::max<int64_t>(1, e.count());
      r.row.header_from = bounded(e.header_from());
      r.row.envelope_from = bounded(e.envelope_from());
      r.row.envelope_to = bounded(e.envelope_to());
      r.row.disposition = one_of(e.disposition(), {"none", "quarantine", "reject"}) ? e.disposition() : "none";
      r.row.dkim = e.dkim_aligned() == "pass" ? "pass" : "fail";
      r.row.spf = e.spf_aligned() == "pass" ? "pass" : "fail";
      r.row.reason = one_of(e.reason(), {"", "forwarded", "sampled_out", "trusted_forwarder", "mailing_list",
                                         "local_policy", "other"})
                         ? e.reason()
                         : "other";
      for (const auto& d : e.dkim()) {
        if (r.row.dkim_auth.size() >= 8) break;
        // Spaces separate the stored fields: a name with one is not a name.
        if (d.domain().find_first_of(" \n") != std::string::npos ||
            d.selector().find_first_of(" \n") != std::string::npos)
          continue;
        r.row.dkim_auth.push_back({bounded(d.domain()), bounded(d.selector()), bounded(d.result(), 16)});
      }
      r.row.spf_domain = e.spf_domain().find_first_of(" \n") == std::string::npos ? bounded(e.spf_domain()) : "";
      r.row.spf_scope = e.spf_scope() == "helo" ? "helo" : "mfrom";
      r.row.spf_result = bounded(e.spf_result(), 16);
      r.rua = bounded(e.rua(), 2048);
      r.policy.adkim = e.adkim() == "s" ? "s" : "r";
      r.policy.aspf = e.aspf() == "s" ? "s" : "r";
      r.policy.p = one_of(e.p(), {"none", "quarantine", "reject"}) ? e.p() : "none";
      r.policy.sp = one_of(e.sp(), {"none", "quarantine", "reject"}) ? e.sp() : r.policy.p;
      r.policy.pct = std::clamp(e.pct(), 0, 100);
      r.policy.fo = bounded(e.fo(), 16);
      rows.push_back(std::move(r));
    }
    try {
      response->set_recorded(static_cast<int64_t>(reporter_->record_dmarc(rows)));
    } catch (const std::exception& e) {
      status = unavailable("RecordDmarc", e);
    }
  }
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::ListReports(grpc::ServerContext* ctx, const v1::ListReportsRequest* request,
                                           v1::ListReportsResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "ListReports");
  grpc::Status status;
  if (!authorized(ctx)) {
    status = kUnauthenticated;
  } else if (!reporter_) {
    status = kNoReporter;
  } else if (!one_of(request->kind(), {"", "dmarc", "tlsrpt"})) {
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "kind must be dmarc or tlsrpt");
  } else {
    const int limit = request->limit() > 0 ? std::min(request->limit(), 10000) : 100;
    try {
      for (const auto& r : reporter_->list(request->kind(), request->domain(), limit)) {
        auto* out = response->add_reports();
        out->set_id(r.id);
        out->set_kind(r.kind);
        out->set_received_unix(r.received_at);
        out->set_policy_domain(r.policy_domain);
        out->set_org_name(r.org_name);
        out->set_report_id(r.report_id);
        out->set_contact(r.contact);
        out->set_begin_unix(r.begin);
        out->set_end_unix(r.end);
        out->set_total(r.total);
        out->set_failed(r.failed);
        out->set_detail_json(r.detail_json);
      }
    } catch (const std::exception& e) {
      status = unavailable("ListReports", e);
    }
  }
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::SendReports(grpc::ServerContext* ctx, const v1::SendReportsRequest*,
                                           v1::SendReportsResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "SendReports");
  grpc::Status status;
  if (!authorized(ctx)) {
    status = kUnauthenticated;
  } else if (!reporter_) {
    status = kNoReporter;
  } else if (!reporter_->config().send) {
    status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "reports.send is off");
  } else {
    try {
      bool skipped = false;
      for (auto& line : reporter_->run_once(&skipped)) response->add_outcomes(std::move(line));
      response->set_skipped(skipped);
    } catch (const std::exception& e) {
      status = unavailable("SendReports", e);
    }
  }
  if (timer) timer->done(status);
  return status;
}

}  // namespace postline::queue
