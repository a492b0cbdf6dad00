// postline alias add|list|remove
#include <iostream>

#include "tools/postline/admin_rpc.h"
#include "tools/postline/output.h"

namespace postline::cli {

using mail::v1::AdminService;

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
    std::cout << "alias " << resp.alias().address() << " ->";
    for (const auto& t : resp.alias().targets()) std::cout << " " << t;
    std::cout << "\n";
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
  auto* remove = alias->add_subcommand("remove", "remove an alias, or only one of its targets");
  remove->add_option("ALIAS", *rm_address, "the alias")->required();
  remove->add_option("TARGET", *rm_target, "only this target");
  remove->callback([&ctx, rm_address, rm_target] {
    mail::v1::RemoveAliasRequest req;
    req.set_address(*rm_address);
    req.set_target(*rm_target);
    admin_call<mail::v1::RemoveAliasRequest, mail::v1::RemoveAliasResponse>(ctx, "alias remove " + *rm_address,
                                                                            &AdminService::Stub::RemoveAlias, req);
    std::cout << "removed " << (rm_target->empty() ? "alias " + *rm_address : *rm_target + " from " + *rm_address)
              << "\n";
  });
}

}  // namespace postline::cli
