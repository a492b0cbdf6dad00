// postline domain add|list|remove|catch-all
#include <iostream>

#include "tools/postline/admin_rpc.h"
#include "tools/postline/output.h"

namespace postline::cli {

using mail::v1::AdminService;

namespace {

// What authd deletes with the domain (its foreign keys cascade): users with
// their app passwords, aliases, the catch-all. Mailbox contents are the
// mailstore's and stay (see user remove).
RemovalPlan domain_removal_plan(CliContext& ctx, const std::string& what, const std::string& name) {
  auto domains = admin_call<mail::v1::ListDomainsRequest, mail::v1::ListDomainsResponse>(
      ctx, what, &AdminService::Stub::ListDomains, mail::v1::ListDomainsRequest());
  const std::string wanted = ascii_domain(name);  // authd stores lower-case A-labels
  const mail::v1::Domain* found = nullptr;
  for (const auto& d : domains.domains())
    if (d.name() == wanted) found = &d;
  if (!found) throw CliError(what + ": no such domain " + name + " (see postline domain list)");
  mail::v1::ListUsersRequest ureq;
  ureq.set_domain(found->name());
  auto users = admin_call<mail::v1::ListUsersRequest, mail::v1::ListUsersResponse>(ctx, what,
                                                                                  &AdminService::Stub::ListUsers, ureq);
  mail::v1::ListAliasesRequest areq;
  areq.set_domain(found->name());
  auto aliases = admin_call<mail::v1::ListAliasesRequest, mail::v1::ListAliasesResponse>(
      ctx, what, &AdminService::Stub::ListAliases, areq);
  RemovalPlan plan;
  plan.command = what;
  plan.kind = "domain";
  plan.name = found->name();
  RemovalPlan::Part u{"users", "user", "users", {}}, a{"aliases", "alias", "aliases", {}},
      c{"catch_all", "catch-all", "catch-alls", {}};
  for (const auto& x : users.users()) u.names.push_back(x.email());
  for (const auto& x : aliases.aliases()) a.names.push_back(x.address());
  if (!found->catch_all().empty()) c.names.push_back("-> " + found->catch_all());
  plan.parts = {u, a, c};
  if (!u.names.empty())
    plan.stays.push_back("the users' mailboxes and messages (mailstore data, unreachable once the accounts are gone)");
  return plan;
}

}  // namespace

void register_domain_commands(CLI::App& app, CliContext& ctx) {
  auto* domain = app.add_subcommand("domain", "hosted domains");
  domain->require_subcommand(1);

  auto name = std::make_shared<std::string>();
  auto* add = domain->add_subcommand("add", "host a domain (internationalised names are stored as A-labels)");
  add->add_option("DOMAIN", *name, "domain name")->required();
  add->callback([&ctx, name] {
    mail::v1::AddDomainRequest req;
    req.set_name(*name);
    auto resp = admin_call<mail::v1::AddDomainRequest, mail::v1::AddDomainResponse>(ctx, "domain add " + *name,
                                                                                    &AdminService::Stub::AddDomain, req);
    print_outcome(ctx, JsonObject().add("domain", resp.domain().name()).add("added", true),
                  "added domain " + resp.domain().name() + "\n");
  });

  auto* list = domain->add_subcommand("list", "list hosted domains");
  list->callback([&ctx] {
    auto resp = admin_call<mail::v1::ListDomainsRequest, mail::v1::ListDomainsResponse>(
        ctx, "domain list", &AdminService::Stub::ListDomains, mail::v1::ListDomainsRequest());
    if (ctx.json) {
      std::vector<JsonObject> rows;
      for (const auto& d : resp.domains())
        rows.push_back(JsonObject()
                           .add("name", d.name())
                           .add("users", static_cast<int64_t>(d.user_count()))
                           .add("aliases", static_cast<int64_t>(d.alias_count()))
                           .add("catch_all", d.catch_all()));
      print_json_array(std::cout, rows);
      return;
    }
    Table t({"DOMAIN", "USERS", "ALIASES", "CATCH-ALL"});
    for (const auto& d : resp.domains())
      t.row({d.name(), std::to_string(d.user_count()), std::to_string(d.alias_count()),
             d.catch_all().empty() ? "-" : d.catch_all()});
    t.print(std::cout);
  });

  auto force = std::make_shared<bool>(false);
  auto rm_name = std::make_shared<std::string>();
  auto* remove = domain->add_subcommand(
      "remove", "stop hosting a domain; with users, aliases or a catch-all it lists them and needs --force");
  remove->add_option("DOMAIN", *rm_name, "domain name")->required();
  remove->add_flag("--force", *force, "also remove its users, their app passwords, its aliases and catch-all");
  remove->callback([&ctx, rm_name, force] {
    const std::string what = "domain remove " + *rm_name;
    const RemovalPlan plan = domain_removal_plan(ctx, what, *rm_name);
    // An empty domain is exactly what the command names; anything more must be confirmed.
    if (plan.removes_more()) require_force(ctx, plan, *force);
    mail::v1::RemoveDomainRequest req;
    req.set_name(plan.name);
    req.set_force(*force);
    admin_call<mail::v1::RemoveDomainRequest, mail::v1::RemoveDomainResponse>(ctx, what,
                                                                              &AdminService::Stub::RemoveDomain, req);
    print_outcome(ctx, JsonObject().add("domain", req.name()).add("removed", true).merge(plan.json()),
                  "removed " + plan.target() + (plan.removes_more() ? " and:\n" + plan.text() : "\n"));
  });

  auto ca_domain = std::make_shared<std::string>();
  auto ca_target = std::make_shared<std::string>();
  auto ca_clear = std::make_shared<bool>(false);
  auto* catch_all = domain->add_subcommand(
      "catch-all", "send mail for unknown addresses of DOMAIN to TARGET (or --clear to refuse it again)");
  catch_all->add_option("DOMAIN", *ca_domain, "domain name")->required();
  catch_all->add_option("TARGET", *ca_target, "address receiving the mail (local or remote)");
  catch_all->add_flag("--clear", *ca_clear, "remove the catch-all");
  catch_all->callback([&ctx, ca_domain, ca_target, ca_clear] {
    if (ca_target->empty() == !*ca_clear)
      throw CliError("domain catch-all: give either TARGET or --clear", 2);
    mail::v1::SetCatchAllRequest req;
    req.set_domain(*ca_domain);
    req.set_target(*ca_target);
    admin_call<mail::v1::SetCatchAllRequest, mail::v1::SetCatchAllResponse>(ctx, "domain catch-all " + *ca_domain,
                                                                            &AdminService::Stub::SetCatchAll, req);
    print_outcome(ctx, JsonObject().add("domain", *ca_domain).add("catch_all", *ca_target),
                  *ca_clear ? "cleared catch-all of " + *ca_domain + "\n"
                            : "catch-all of " + *ca_domain + " -> " + *ca_target + "\n");
  });
}

}  // namespace postline::cli
