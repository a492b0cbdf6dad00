// postline alias add|list|remove
#include <cctype>
#include <iostream>

#include "tools/postline/admin_rpc.h"
#include "tools/postline/output.h"

namespace postline::cli {

using mail::v1::AdminService;

namespace {

RemovalPlan alias_removal_plan(CliContext& ctx, const std::string& what, const std::string& address) {
  const auto at = address.rfind('@');
  if (at == std::string::npos) throw CliError("ALIAS: expected an address, got '" + address + "'", 2);
  mail::v1::ListAliasesRequest req;
  req.set_domain(address.substr(at + 1));
  auto resp = admin_call<mail::v1::ListAliasesRequest, mail::v1::ListAliasesResponse>(
      ctx, what, &AdminService::Stub::ListAliases, req);
  std::string lower = address.substr(0, at);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string wanted = address.substr(0, at) + "@" + ascii_domain(address.substr(at + 1));
  const std::string wanted_lower = lower + "@" + ascii_domain(address.substr(at + 1));
  for (const auto& a : resp.aliases()) {
    if (a.address() != wanted && a.address() != wanted_lower) continue;
    RemovalPlan plan;
    plan.command = what;
    plan.kind = "alias";
    plan.name = a.address();
    plan.parts = {{"targets", "target", "targets", {a.targets().begin(), a.targets().end()}}};
    return plan;
  }
  throw CliError(what + ": no such alias " + address);
}

}  // namespace

void register_alias_commands(CLI::App& app, CliContext& ctx) {
  auto* alias = app.add_subcommand("alias", "addresses that forward to other addresses");
  alias->require_subcommand(1);

  auto address = std::make_shared<std::string>();
  auto targets = std::make_shared<std::vector<std::string>>();
  auto* add = alias->add_subcommand("add", "make ALIAS deliver to each TARGET (local or remote; adds to existing targets)");
  add->add_option("ALIAS", *address, "the alias address; its domain must be hosted")->required();
  add->add_option("TARGET", *targets, "one or more target addresses")->required();
  add->callback([&ctx, address, targets] {
    mail::v1::AddAliasRequest req;
    req.set_address(*address);
    for (const auto& t : *targets) req.add_targets(t);
    auto resp = admin_call<mail::v1::AddAliasRequest, mail::v1::AddAliasResponse>(ctx, "alias add " + *address,
                                                                                  &AdminService::Stub::AddAlias, req);
    const std::vector<std::string> all(resp.alias().targets().begin(), resp.alias().targets().end());
    std::string text = "alias " + resp.alias().address() + " ->";
    for (const auto& t : all) text += " " + t;
    print_outcome(ctx, JsonObject().add("alias", resp.alias().address()).add("targets", all), text + "\n");
  });

  auto domain = std::make_shared<std::string>();
  auto* list = alias->add_subcommand("list", "list aliases, optionally of one domain");
  list->add_option("DOMAIN", *domain, "only this domain");
  list->callback([&ctx, domain] {
    mail::v1::ListAliasesRequest req;
    req.set_domain(*domain);
    auto resp = admin_call<mail::v1::ListAliasesRequest, mail::v1::ListAliasesResponse>(
        ctx, "alias list", &AdminService::Stub::ListAliases, req);
    if (ctx.json) {
      std::vector<JsonObject> rows;
      for (const auto& a : resp.aliases())
        rows.push_back(JsonObject().add("address", a.address()).add(
            "targets", std::vector<std::string>(a.targets().begin(), a.targets().end())));
      print_json_array(std::cout, rows);
      return;
    }
    Table t({"ALIAS", "TARGETS"});
    for (const auto& a : resp.aliases()) {
      std::string joined;
      for (const auto& target : a.targets()) joined += (joined.empty() ? "" : ", ") + target;
      t.row({a.address(), joined});
    }
    t.print(std::cout);
  });

  auto rm_address = std::make_shared<std::string>();
  auto rm_target = std::make_shared<std::string>();
  auto rm_force = std::make_shared<bool>(false);
  auto* remove = alias->add_subcommand(
      "remove", "remove one target of an alias, or the whole alias (lists its targets; needs --force)");
  remove->add_option("ALIAS", *rm_address, "the alias")->required();
  remove->add_option("TARGET", *rm_target, "only this target");
  remove->add_flag("--force", *rm_force, "remove the whole alias with all its targets");
  remove->callback([&ctx, rm_address, rm_target, rm_force] {
    const std::string what = "alias remove " + *rm_address;
    mail::v1::RemoveAliasRequest req;
    req.set_address(*rm_address);
    req.set_target(*rm_target);
    if (!rm_target->empty()) {  // names exactly what goes
      admin_call<mail::v1::RemoveAliasRequest, mail::v1::RemoveAliasResponse>(ctx, what,
                                                                              &AdminService::Stub::RemoveAlias, req);
      print_outcome(ctx,
                    JsonObject().add("alias", *rm_address).add("removed_target", *rm_target),
                    "removed " + *rm_target + " from " + *rm_address + "\n");
      return;
    }
    const RemovalPlan plan = alias_removal_plan(ctx, what, *rm_address);
    require_force(ctx, plan, *rm_force);
    admin_call<mail::v1::RemoveAliasRequest, mail::v1::RemoveAliasResponse>(ctx, what,
                                                                            &AdminService::Stub::RemoveAlias, req);
    print_outcome(ctx, JsonObject().add("alias", *rm_address).add("removed", true).merge(plan.json()),
                  "removed " + plan.target() + " and:\n" + plan.text());
  });
}

}  // namespace postline::cli
