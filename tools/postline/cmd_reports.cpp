// postline dmarc reports | tlsrpt reports | reports send — the aggregate
// reports queued received for our domains (DMARC, RFC 7489; TLS-RPT, RFC
// 8460), and the report job on demand. QueueService on queued.
#include <ctime>
#include <iostream>

#include "mail/v1/queue.grpc.pb.h"
#include "tools/postline/cli_context.h"
#include "tools/postline/output.h"

namespace postline::cli {
namespace {

namespace v1 = mail::v1;

std::string utc_date(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

struct ListArgs {
  std::string domain;
  int limit = 100;
};

void list_reports(CliContext& ctx, const std::string& kind, const ListArgs& a) {
  auto stub = v1::QueueService::NewStub(ctx.queue_channel());
  grpc::ClientContext call;
  ctx.prepare(call);
  v1::ListReportsRequest req;
  req.set_kind(kind);
  req.set_domain(a.domain);
  req.set_limit(a.limit);
  v1::ListReportsResponse resp;
  grpc::Status status = stub->ListReports(&call, req, &resp);
  if (!status.ok()) ctx.rpc_failed(kind + " reports", status, "queued at " + ctx.resolved_queue_addr());
  if (ctx.json) {
    std::vector<JsonObject> rows;
    for (const auto& r : resp.reports())
      rows.push_back(JsonObject()
                         .add("id", r.id())
                         .add("kind", r.kind())
                         .add("domain", r.policy_domain())
                         .add("org_name", r.org_name())
                         .add("report_id", r.report_id())
                         .add("contact", r.contact())
                         .add("begin", r.begin_unix())
                         .add("end", r.end_unix())
                         .add("received", r.received_unix())
                         .add(kind == "dmarc" ? "messages" : "sessions", r.total())
                         .add("failed", r.failed())
                         .add_json("report", r.detail_json()));
    print_json_array(std::cout, rows);
    return;
  }
  if (resp.reports().empty()) {
    std::cout << "no " << (kind == "dmarc" ? "DMARC" : "TLS") << " reports"
              << (a.domain.empty() ? "" : " for " + a.domain) << "\n";
    return;
  }
  Table t({"DOMAIN", "FROM", "REPORT-ID", "BEGIN (UTC)", "END (UTC)", kind == "dmarc" ? "MESSAGES" : "SESSIONS",
           "FAILED"});
  for (const auto& r : resp.reports())
    t.row({r.policy_domain(), r.org_name(), r.report_id(), utc_date(r.begin_unix()), utc_date(r.end_unix()),
           std::to_string(r.total()), std::to_string(r.failed())});
  t.print(std::cout);
}

void add_list(CLI::App& parent, CliContext& ctx, const std::string& kind, const char* help) {
  auto* list = parent.add_subcommand("reports", help);
  auto args = std::make_shared<ListArgs>();
  list->add_option("--domain", args->domain, "only reports about this domain");
  list->add_option("--limit", args->limit, "at most this many (newest first; default 100)")->check(CLI::Range(1, 10000));
  list->callback([&ctx, kind, args] { list_reports(ctx, kind, *args); });
  parent.require_subcommand(1);
}

}  // namespace

void register_report_commands(CLI::App& app, CliContext& ctx) {
  auto* dmarc = app.add_subcommand("dmarc", "DMARC aggregate reports other organisations sent about our domains");
  add_list(*dmarc, ctx, "dmarc", "list received DMARC aggregate reports (RFC 7489)");
  auto* tlsrpt = app.add_subcommand("tlsrpt", "SMTP TLS reports other organisations sent about our domains");
  add_list(*tlsrpt, ctx, "tlsrpt", "list received TLS reports (RFC 8460)");

  auto* reports = app.add_subcommand("reports", "the DMARC and TLS reports Postline sends");
  auto* send = reports->add_subcommand("send", "send the reports of periods that have ended now (not at the next check)");
  send->callback([&ctx] {
    auto stub = v1::QueueService::NewStub(ctx.queue_channel());
    grpc::ClientContext call;
    ctx.prepare(call);
    v1::SendReportsResponse resp;
    grpc::Status status = stub->SendReports(&call, v1::SendReportsRequest(), &resp);
    if (!status.ok()) ctx.rpc_failed("reports send", status, "queued at " + ctx.resolved_queue_addr());
    if (ctx.json) {
      std::vector<std::string> lines(resp.outcomes().begin(), resp.outcomes().end());
      std::cout << JsonObject().add("skipped", resp.skipped()).add("outcomes", lines).str() << "\n";
      return;
    }
    if (resp.skipped()) {
      std::cout << "another queued instance is running the report job now\n";
      return;
    }
    if (resp.outcomes().empty()) std::cout << "no report periods have ended with data to report\n";
    for (const auto& line : resp.outcomes()) std::cout << line << "\n";
  });
  reports->require_subcommand(1);
}

}  // namespace postline::cli
