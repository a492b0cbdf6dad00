// postline user add|list|remove|passwd|disable|enable|set-name|set, postline quota set|show
#include <iostream>

#include "tools/postline/admin_rpc.h"
#include "tools/postline/mailstore_access.h"
#include "tools/postline/output.h"

namespace postline::cli {

using mail::v1::AdminService;

namespace {

JsonObject user_json(const mail::v1::User& u) {
  return JsonObject()
      .add("id", static_cast<int64_t>(u.id()))
      .add("email", u.email())
      .add("display_name", u.display_name())
      .add("disabled", u.disabled())
      .add("quota_bytes", static_cast<int64_t>(u.quota_bytes()))
      .add("quota_messages", static_cast<int64_t>(u.quota_messages()))
      .add("admin", u.admin())
      .add("shard", u.shard())
      .add("moving", u.moving())
      .add("last_login_at", u.last_login_at());
}

std::string format_messages(int64_t n) { return n == 0 ? "unlimited" : std::to_string(n); }

// A message count limit: a plain number, or unlimited/none/0.
int64_t parse_message_limit(const std::string& text) {
  if (text == "unlimited" || text == "none") return 0;
  if (text.empty() || text.size() > 15 || text.find_first_not_of("0123456789") != std::string::npos)
    throw CliError("MESSAGES: expected a number of messages or unlimited, got '" + text + "'", 2);
  return std::stoll(text);
}

bool parse_on_off(const std::string& text, const std::string& what) {
  if (text == "on" || text == "yes" || text == "true") return true;
  if (text == "off" || text == "no" || text == "false") return false;
  throw CliError(what + ": expected on or off, got '" + text + "'", 2);
}

void print_users(CliContext& ctx, const google::protobuf::RepeatedPtrField<mail::v1::User>& users) {
  if (ctx.json) {
    std::vector<JsonObject> rows;
    for (const auto& u : users) rows.push_back(user_json(u));
    print_json_array(std::cout, rows);
    return;
  }
  Table t({"EMAIL", "NAME", "STATUS", "QUOTA", "MESSAGES", "LAST LOGIN"});
  for (const auto& u : users)
    t.row({u.email(), u.display_name().empty() ? "-" : u.display_name(),
           std::string(u.disabled() ? "disabled" : "active") + (u.admin() ? ",admin" : ""),
           format_bytes(u.quota_bytes()), format_messages(u.quota_messages()),
           u.last_login_at().empty() ? "never" : u.last_login_at()});
  t.print(std::cout);
}

// authd deletes the account row; its app passwords go with it (foreign key).
// The mailstore has no foreign key to accounts (services own their tables), so
// the mailboxes and messages stay in the database, unreachable: user ids are
// never reused. Aliases are addresses, so aliases naming it stay and bounce.
RemovalPlan user_removal_plan(CliContext& ctx, const std::string& what, const std::string& email) {
  const auto at = email.rfind('@');
  if (at == std::string::npos) throw CliError("EMAIL: expected an address, got '" + email + "'", 2);
  mail::v1::ListUsersRequest ureq;
  ureq.set_domain(email.substr(at + 1));
  auto users = admin_call<mail::v1::ListUsersRequest, mail::v1::ListUsersResponse>(ctx, what,
                                                                                  &AdminService::Stub::ListUsers, ureq);
  const std::string domain = ascii_domain(email.substr(at + 1));
  std::string local = email.substr(0, at);
  const mail::v1::User* found = nullptr;
  for (const auto& u : users.users()) {
    std::string lower = local;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (u.email() == local + "@" + domain || u.email() == lower + "@" + domain) found = &u;
  }
  if (!found) throw CliError(what + ": no such user " + email);
  mail::v1::ListAppPasswordsRequest preq;
  preq.set_email(found->email());
  auto passwords = admin_call<mail::v1::ListAppPasswordsRequest, mail::v1::ListAppPasswordsResponse>(
      ctx, what, &AdminService::Stub::ListAppPasswords, preq);
  auto aliases = admin_call<mail::v1::ListAliasesRequest, mail::v1::ListAliasesResponse>(
      ctx, what, &AdminService::Stub::ListAliases, mail::v1::ListAliasesRequest());
  RemovalPlan plan;
  plan.command = what;
  plan.kind = "user";
  plan.name = found->email();
  RemovalPlan::Part p{"app_passwords", "app password", "app passwords", {}};
  for (const auto& a : passwords.app_passwords()) p.names.push_back(a.label());
  plan.parts = {p};
  plan.stays.push_back("its mailboxes and messages stay in the database but can no longer be read (no account)");
  std::vector<std::string> pointing;
  for (const auto& a : aliases.aliases())
    for (const auto& t : a.targets())
      if (t == found->email()) pointing.push_back(a.address());
  if (!pointing.empty()) {
    std::string names;
    for (const auto& n : pointing) names += (names.empty() ? "" : ", ") + n;
    plan.stays.push_back("aliases delivering to it (mail to them will bounce for this target): " + names);
  }
  return plan;
}

void update(CliContext& ctx, const std::string& what, mail::v1::UpdateUserRequest req) {
  admin_call<mail::v1::UpdateUserRequest, mail::v1::UpdateUserResponse>(ctx, what, &AdminService::Stub::UpdateUser, req);
}

}  // namespace

void register_user_commands(CLI::App& app, CliContext& ctx) {
  auto* user = app.add_subcommand("user", "mail accounts");
  user->require_subcommand(1);

  struct AddArgs {
    std::string email, quota, messages, name, shard;
    bool password_stdin = false;
  };
  auto a = std::make_shared<AddArgs>();
  auto* add = user->add_subcommand("add", "create an account (password from stdin or a prompt)");
  add->add_option("EMAIL", a->email, "the account's address; its domain must be hosted")->required();
  add->add_flag("--password-stdin", a->password_stdin, "read the password from the first line of stdin");
  add->add_option("--quota", a->quota, "mailbox quota, e.g. 2GiB (default unlimited)");
  add->add_option("--messages", a->messages, "message limit, e.g. 10000 (default unlimited)");
  add->add_option("--name", a->name, "display name");
  add->add_option("--shard", a->shard, "the mailstore shard for its mail (default auth.default_shard)");
  add->callback([&ctx, a] {
    mail::v1::AddUserRequest req;
    req.set_email(a->email);
    if (!a->quota.empty()) req.set_quota_bytes(parse_quota(a->quota));
    if (!a->messages.empty()) req.set_quota_messages(parse_message_limit(a->messages));
    req.set_display_name(a->name);
    req.set_shard(a->shard);
    req.set_password(read_password(a->password_stdin, "password for " + a->email));
    auto resp = admin_call<mail::v1::AddUserRequest, mail::v1::AddUserResponse>(ctx, "user add " + a->email,
                                                                                &AdminService::Stub::AddUser, req);
    print_outcome(ctx, JsonObject().add("added", true).merge(user_json(resp.user())),
                  "added user " + resp.user().email() + " (id " + std::to_string(resp.user().id()) + ")\n");
  });

  auto list_domain = std::make_shared<std::string>();
  auto* list = user->add_subcommand("list", "list accounts, optionally of one domain");
  list->add_option("DOMAIN", *list_domain, "only this domain");
  list->callback([&ctx, list_domain] {
    mail::v1::ListUsersRequest req;
    req.set_domain(*list_domain);
    auto resp = admin_call<mail::v1::ListUsersRequest, mail::v1::ListUsersResponse>(ctx, "user list",
                                                                                    &AdminService::Stub::ListUsers, req);
    print_users(ctx, resp.users());
  });

  auto show_user_email = std::make_shared<std::string>();
  auto* show_user = user->add_subcommand("show", "one account: limits, status and the mailstore shard its mail is on");
  show_user->add_option("EMAIL", *show_user_email, "the account")->required();
  show_user->callback([&ctx, show_user_email] {
    const mail::v1::User u = find_user(ctx, *show_user_email, "user show " + *show_user_email);
    if (ctx.json) {
      std::cout << user_json(u).str() << "\n";
      return;
    }
    std::cout << "email:      " << u.email() << "\n"
              << "id:         " << u.id() << "\n"
              << "name:       " << (u.display_name().empty() ? "-" : u.display_name()) << "\n"
              << "status:     " << (u.disabled() ? "disabled" : "active") << (u.admin() ? ",admin" : "") << "\n"
              << "quota:      " << format_bytes(u.quota_bytes()) << ", " << format_messages(u.quota_messages())
              << " messages\n"
              << "shard:      " << (u.shard().empty() ? "main" : u.shard()) << (u.moving() ? " (moving)" : "") << "\n"
              << "last login: " << (u.last_login_at().empty() ? "never" : u.last_login_at()) << "\n";
  });

  auto rm_email = std::make_shared<std::string>();
  auto rm_force = std::make_shared<bool>(false);
  auto* remove = user->add_subcommand(
      "remove", "delete an account and its app passwords (lists what goes; needs --force); its mail can no longer be read");
  remove->add_option("EMAIL", *rm_email, "the account")->required();
  remove->add_flag("--force", *rm_force, "really delete it");
  remove->callback([&ctx, rm_email, rm_force] {
    const std::string what = "user remove " + *rm_email;
    const RemovalPlan plan = user_removal_plan(ctx, what, *rm_email);
    require_force(ctx, plan, *rm_force);
    mail::v1::RemoveUserRequest req;
    req.set_email(*rm_email);
    admin_call<mail::v1::RemoveUserRequest, mail::v1::RemoveUserResponse>(ctx, what, &AdminService::Stub::RemoveUser,
                                                                          req);
    print_outcome(ctx, JsonObject().add("email", plan.name).add("removed", true).merge(plan.json()),
                  "removed " + plan.target() + (plan.removes_more() ? " and:\n" : "\n") + plan.text());
  });

  auto pw_email = std::make_shared<std::string>();
  auto pw_stdin = std::make_shared<bool>(false);
  auto* passwd = user->add_subcommand("passwd", "set a new password (revokes the account's app passwords)");
  passwd->add_option("EMAIL", *pw_email, "the account")->required();
  passwd->add_flag("--password-stdin", *pw_stdin, "read the password from the first line of stdin");
  passwd->callback([&ctx, pw_email, pw_stdin] {
    mail::v1::SetPasswordRequest req;
    req.set_email(*pw_email);
    req.set_password(read_password(*pw_stdin, "new password for " + *pw_email));
    admin_call<mail::v1::SetPasswordRequest, mail::v1::SetPasswordResponse>(ctx, "user passwd " + *pw_email,
                                                                            &AdminService::Stub::SetPassword, req);
    print_outcome(ctx, JsonObject().add("email", *pw_email).add("password_changed", true).add("app_passwords_revoked", true),
                  "password changed for " + *pw_email + " (its app passwords are revoked)\n");
  });

  for (bool disable : {true, false}) {
    auto email = std::make_shared<std::string>();
    auto* cmd = user->add_subcommand(disable ? "disable" : "enable",
                                     disable ? "stop an account logging in and receiving mail (kept, not deleted)"
                                             : "let a disabled account log in and receive again");
    cmd->add_option("EMAIL", *email, "the account")->required();
    cmd->callback([&ctx, email, disable] {
      mail::v1::UpdateUserRequest req;
      req.set_email(*email);
      req.set_disabled(disable);
      update(ctx, std::string("user ") + (disable ? "disable " : "enable ") + *email, req);
      print_outcome(ctx, JsonObject().add("email", *email).add("disabled", disable),
                    std::string(disable ? "disabled " : "enabled ") + *email + "\n");
    });
  }

  auto rn_email = std::make_shared<std::string>();
  auto rn_name = std::make_shared<std::string>();
  auto* rename = user->add_subcommand("set-name", "set the display name");
  rename->add_option("EMAIL", *rn_email, "the account")->required();
  rename->add_option("NAME", *rn_name, "display name (\"\" clears it)")->required();
  rename->callback([&ctx, rn_email, rn_name] {
    mail::v1::UpdateUserRequest req;
    req.set_email(*rn_email);
    req.set_display_name(*rn_name);
    update(ctx, "user set-name " + *rn_email, req);
    print_outcome(ctx, JsonObject().add("email", *rn_email).add("display_name", *rn_name),
                  "display name of " + *rn_email + " set\n");
  });

  auto set_email = std::make_shared<std::string>();
  auto set_admin = std::make_shared<std::string>();
  auto* set = user->add_subcommand("set", "change account settings");
  set->add_option("EMAIL", *set_email, "the account")->required();
  set->add_option("--admin", *set_admin,
                  "on|off: an admin may read and set every account's quota over IMAP (GETQUOTA/SETQUOTA "
                  "\"user/<address>\")")
      ->required();
  set->callback([&ctx, set_email, set_admin] {
    mail::v1::UpdateUserRequest req;
    req.set_email(*set_email);
    req.set_admin(parse_on_off(*set_admin, "--admin"));
    update(ctx, "user set " + *set_email, req);
    print_outcome(ctx, JsonObject().add("email", *set_email).add("admin", req.admin()),
                  *set_email + (req.admin() ? " is now an admin\n" : " is no longer an admin\n"));
  });
}

void register_quota_commands(CLI::App& app, CliContext& ctx) {
  auto* quota = app.add_subcommand("quota", "mailbox quotas (RFC 9208 STORAGE and MESSAGE)");
  quota->require_subcommand(1);
  struct SetArgs {
    std::string email, size, storage, messages;
  };
  auto a = std::make_shared<SetArgs>();
  auto* set = quota->add_subcommand(
      "set", "set an account's limits: SIZE or --storage (500MiB, 2G, unlimited), --messages (10000, unlimited); "
             "what is not given stays as it is");
  set->add_option("EMAIL", a->email, "the account")->required();
  set->add_option("SIZE", a->size, "storage limit (same as --storage)");
  set->add_option("--storage", a->storage, "storage limit, e.g. 2G, 500MiB or unlimited");
  set->add_option("--messages", a->messages, "message limit, e.g. 10000 or unlimited");
  set->callback([&ctx, a] {
    if (!a->size.empty() && !a->storage.empty()) throw CliError("give the storage limit once: SIZE or --storage", 2);
    const std::string storage = a->size.empty() ? a->storage : a->size;
    if (storage.empty() && a->messages.empty()) throw CliError("nothing to set: give SIZE, --storage or --messages", 2);
    mail::v1::UpdateUserRequest req;
    req.set_email(a->email);
    if (!storage.empty()) req.set_quota_bytes(parse_quota(storage));
    if (!a->messages.empty()) req.set_quota_messages(parse_message_limit(a->messages));
    auto resp = admin_call<mail::v1::UpdateUserRequest, mail::v1::UpdateUserResponse>(
        ctx, "quota set " + a->email, &AdminService::Stub::UpdateUser, req);
    print_outcome(ctx,
                  JsonObject()
                      .add("email", resp.user().email())
                      .add("quota_bytes", static_cast<int64_t>(resp.user().quota_bytes()))
                      .add("quota_messages", static_cast<int64_t>(resp.user().quota_messages())),
                  "quota of " + a->email + " set to " + format_bytes(resp.user().quota_bytes()) + ", " +
                      format_messages(resp.user().quota_messages()) + " messages\n");
  });

  auto show_email = std::make_shared<std::string>();
  auto* show = quota->add_subcommand("show", "show an account's usage next to its limits");
  show->add_option("EMAIL", *show_email, "the account")->required();
  show->add_option("--db-url", ctx.db_url, "the mailstore's PostgreSQL URL, for the usage (default: POSTLINE_DB_URL, "
                                           "then db.url)")
      ->envname("POSTLINE_DB_URL");
  show->callback([&ctx, show_email] {
    const std::string what = "quota show " + *show_email;
    // Limits from authd, usage from the mailstore (what the quota checks read).
    const mail::v1::User u = find_user(ctx, *show_email, what);
    const mailstore::Usage used = with_mailstore_errors(what, [&] { return open_mailstore(ctx, what, u.shard())->usage(u.id()); });
    const int64_t bytes_pct = percent_of(used.bytes, u.quota_bytes());
    const int64_t messages_pct = percent_of(used.messages, u.quota_messages());
    if (ctx.json) {
      JsonObject o;
      o.add("email", u.email())
          .add("quota_bytes", static_cast<int64_t>(u.quota_bytes()))
          .add("quota_messages", static_cast<int64_t>(u.quota_messages()))
          .add("used_bytes", used.bytes)
          .add("used_messages", used.messages);
      // Percentages only where there is a limit to be a percentage of.
      if (bytes_pct >= 0) o.add("used_bytes_percent", bytes_pct);
      if (messages_pct >= 0) o.add("used_messages_percent", messages_pct);
      std::cout << o.str() << "\n";
      return;
    }
    auto cell = [](const std::string& used_text, const std::string& limit, int64_t pct) {
      return used_text + " / " + limit + (pct >= 0 ? " (" + std::to_string(pct) + "%)" : "");
    };
    Table t({"EMAIL", "STORAGE", "MESSAGES"});
    t.row({u.email(), cell(format_used_bytes(used.bytes), format_bytes(u.quota_bytes()), bytes_pct),
           cell(std::to_string(used.messages), format_messages(u.quota_messages()), messages_pct)});
    t.print(std::cout);
  });
}

}  // namespace postline::cli
