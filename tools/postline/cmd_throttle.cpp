// postline throttle list|unblock
#include <iostream>

#include "tools/postline/admin_rpc.h"
#include "tools/postline/output.h"

namespace postline::cli {

using mail::v1::AdminService;

void register_throttle_commands(CLI::App& app, CliContext& ctx) {
  auto* throttle = app.add_subcommand("throttle", "failed-login throttling (see docs/accounts.md)");
  throttle->require_subcommand(1);

  auto* list = throttle->add_subcommand("list", "IPs and accounts with recent failed logins, and blocked IPs");
  list->callback([&ctx] {
    auto resp = admin_call<mail::v1::ListThrottlesRequest, mail::v1::ListThrottlesResponse>(
        ctx, "throttle list", &AdminService::Stub::ListThrottles, mail::v1::ListThrottlesRequest());
    if (ctx.json) {
      std::vector<JsonObject> rows;
      for (const auto& e : resp.entries())
        rows.push_back(JsonObject()
                           .add("scope", e.scope())
                           .add("key", e.key())
                           .add("failures", static_cast<int64_t>(e.failures()))
                           .add("last_failure_at", e.last_failure_at())
                           .add("blocked_until", e.blocked_until()));
      print_json_array(std::cout, rows);
      return;
    }
    Table t({"SCOPE", "KEY", "FAILURES", "LAST FAILURE", "BLOCKED UNTIL"});
    for (const auto& e : resp.entries())
      t.row({e.scope(), e.key(), std::to_string(e.failures()), e.last_failure_at(),
             e.blocked_until().empty() ? "-" : e.blocked_until()});
    t.print(std::cout);
  });

  auto key = std::make_shared<std::string>();
  auto* unblock = throttle->add_subcommand("unblock", "forget the failures of an IP address or account (lifts a block)");
  unblock->add_option("KEY", *key, "IP address or login name")->required();
  unblock->callback([&ctx, key] {
    mail::v1::UnblockRequest req;
    req.set_key(*key);
    auto resp = admin_call<mail::v1::UnblockRequest, mail::v1::UnblockResponse>(ctx, "throttle unblock " + *key,
                                                                                &AdminService::Stub::Unblock, req);
    print_outcome(ctx, JsonObject().add("key", *key).add("records_removed", static_cast<int64_t>(resp.removed())),
                  "unblocked " + *key + " (" + std::to_string(resp.removed()) + " record(s) removed)\n");
  });
}

}  // namespace postline::cli
