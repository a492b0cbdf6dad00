// postline app-password add|list|remove
#include <iostream>

#include "tools/postline/admin_rpc.h"
#include "tools/postline/output.h"

namespace postline::cli {

using mail::v1::AdminService;

void register_app_password_commands(CLI::App& app, CliContext& ctx) {
  auto* ap = app.add_subcommand("app-password", "per-device passwords, so a phone never holds the main password");
  ap->require_subcommand(1);

  auto email = std::make_shared<std::string>();
  auto label = std::make_shared<std::string>();
  auto* add = ap->add_subcommand("add", "generate an app password; it is printed once and cannot be shown again");
  add->add_option("EMAIL", *email, "the account")->required();
  add->add_option("LABEL", *label, "what it is for, e.g. phone")->required();
  add->callback([&ctx, email, label] {
    mail::v1::AddAppPasswordRequest req;
    req.set_email(*email);
    req.set_label(*label);
    auto resp = admin_call<mail::v1::AddAppPasswordRequest, mail::v1::AddAppPasswordResponse>(
        ctx, "app-password add " + *email, &AdminService::Stub::AddAppPassword, req);
    if (ctx.json) {
      std::cout << JsonObject().add("email", *email).add("label", *label).add("password", resp.password()).str()
                << "\n";
      return;
    }
    // The password alone on stdout, so scripts can capture it; the note on stderr.
    std::cerr << "app password '" << *label << "' for " << *email << " (shown once):\n";
    std::cout << resp.password() << "\n";
  });

  auto list_email = std::make_shared<std::string>();
  auto* list = ap->add_subcommand("list", "list an account's app passwords (labels and use, never the secrets)");
  list->add_option("EMAIL", *list_email, "the account")->required();
  list->callback([&ctx, list_email] {
    mail::v1::ListAppPasswordsRequest req;
    req.set_email(*list_email);
    auto resp = admin_call<mail::v1::ListAppPasswordsRequest, mail::v1::ListAppPasswordsResponse>(
        ctx, "app-password list " + *list_email, &AdminService::Stub::ListAppPasswords, req);
    if (ctx.json) {
      std::vector<JsonObject> rows;
      for (const auto& a : resp.app_passwords())
        rows.push_back(
            JsonObject().add("label", a.label()).add("created_at", a.created_at()).add("last_used_at", a.last_used_at()));
      print_json_array(std::cout, rows);
      return;
    }
    Table t({"LABEL", "CREATED", "LAST USED"});
    for (const auto& a : resp.app_passwords())
      t.row({a.label(), a.created_at(), a.last_used_at().empty() ? "never" : a.last_used_at()});
    t.print(std::cout);
  });

  auto rm_email = std::make_shared<std::string>();
  auto rm_label = std::make_shared<std::string>();
  auto* remove = ap->add_subcommand("remove", "revoke an app password");
  remove->add_option("EMAIL", *rm_email, "the account")->required();
  remove->add_option("LABEL", *rm_label, "its label")->required();
  remove->callback([&ctx, rm_email, rm_label] {
    mail::v1::RemoveAppPasswordRequest req;
    req.set_email(*rm_email);
    req.set_label(*rm_label);
    admin_call<mail::v1::RemoveAppPasswordRequest, mail::v1::RemoveAppPasswordResponse>(
        ctx, "app-password remove " + *rm_email, &AdminService::Stub::RemoveAppPassword, req);
    print_outcome(ctx, JsonObject().add("email", *rm_email).add("label", *rm_label).add("revoked", true),
                  "revoked app password '" + *rm_label + "' of " + *rm_email + "\n");
  });
}

}  // namespace postline::cli
