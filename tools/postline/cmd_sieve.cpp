// postline sieve list|get|put|activate|deactivate|delete: a user's Sieve
// scripts (docs/sieve.md), what ManageSieve (RFC 5804) manages, from the
// shell: the account from authd, the scripts through the mailstore's
// SieveScriptStore opened directly (mailstore_access.h; no SQL here). `put`
// checks a script as PUTSCRIPT does (common/sieve's compile, the errors with
// their line numbers) before it stores it.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "common/sieve/sieve.h"
#include "tools/postline/mailstore_access.h"
#include "tools/postline/output.h"

namespace postline::cli {

namespace {

std::shared_ptr<std::string> positional(CLI::App* cmd, const char* name, const char* help) {
  auto v = std::make_shared<std::string>();
  cmd->add_option(name, *v, help)->required();
  return v;
}

// RFC 5804 1.6: a script name is UTF-8 without control characters (here also
// at most 255 octets, as ManageSieve's limit).
void check_name(const std::string& name) {
  if (name.empty() || name.size() > 255) throw CliError("NAME: a script name has 1 to 255 octets", 2);
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) throw CliError("NAME: control characters are not allowed in a script name", 2);
}

struct Target {
  mail::v1::User user;
  std::unique_ptr<mailstore::SieveScriptStore> scripts;
};

Target open_target(CliContext& ctx, const std::string& email, const std::string& what) {
  Target t;
  t.user = find_user(ctx, email, what);
  t.scripts = open_sieve_scripts(ctx, what, t.user.shard());
  return t;
}

std::string read_script(const std::string& file, const std::string& what) {
  if (file.empty() || file == "-")
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CliError(what + ": cannot read " + file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void register_sieve_commands(CLI::App& app, CliContext& ctx) {
  auto* sieve = app.add_subcommand("sieve", "a user's Sieve scripts: list, get, put, activate, deactivate, delete");
  sieve->require_subcommand(1);
  sieve->add_option("--db-url", ctx.db_url, "the mailstore's PostgreSQL URL (default: POSTLINE_DB_URL, then db.url)")
      ->envname("POSTLINE_DB_URL");

  auto* list = sieve->add_subcommand("list", "the user's scripts, which one is active, their sizes");
  auto list_email = positional(list, "EMAIL", "the account");
  list->callback([&ctx, list_email] {
    const std::string what = "sieve list " + *list_email;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *list_email, what);
      const auto scripts = t.scripts->list_scripts(t.user.id());
      if (ctx.json) {
        std::vector<JsonObject> rows;
        for (const auto& s : scripts)
          rows.push_back(JsonObject().add("name", s.name).add("active", s.active).add("size", s.size));
        print_json_array(std::cout, rows);
        return;
      }
      Table table({"SCRIPT", "ACTIVE", "SIZE"});
      for (const auto& s : scripts) table.row({s.name, s.active ? "yes" : "no", std::to_string(s.size)});
      table.print(std::cout);
      if (scripts.empty()) std::cout << "(no scripts)\n";
    });
  });

  auto* get = sieve->add_subcommand("get", "prints a script exactly as stored");
  auto get_email = positional(get, "EMAIL", "the account");
  auto get_name = positional(get, "NAME", "the script");
  get->callback([&ctx, get_email, get_name] {
    const std::string what = "sieve get " + *get_email + " " + *get_name;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *get_email, what);
      auto text = t.scripts->get_script(t.user.id(), *get_name);
      if (!text) throw CliError(what + ": " + t.user.email() + " has no script '" + *get_name + "'");
      if (ctx.json) {
        std::cout << JsonObject().add("name", *get_name).add("script", *text).str() << "\n";
        return;
      }
      std::cout << *text << std::flush;
    });
  });

  auto* put = sieve->add_subcommand("put", "stores a script (from FILE, or stdin) after checking it");
  auto put_email = positional(put, "EMAIL", "the account");
  auto put_name = positional(put, "NAME", "the script");
  auto put_file = std::make_shared<std::string>();
  put->add_option("FILE", *put_file, "the script file; - or none: stdin");
  auto put_activate = std::make_shared<bool>(false);
  put->add_flag("--activate", *put_activate, "make it the active script too");
  put->callback([&ctx, put_email, put_name, put_file, put_activate] {
    const std::string what = "sieve put " + *put_email + " " + *put_name;
    check_name(*put_name);
    const std::string text = read_script(*put_file, what);
    // What PUTSCRIPT refuses (RFC 5804 2.6), with every error and its line.
    const auto compiled = sieve::compile(text);
    if (!compiled.script) {
      std::string errors;
      std::vector<std::string> lines;
      for (const auto& e : compiled.errors) {
        errors += "\n  " + e.text();
        lines.push_back(e.text());
      }
      throw CliError(what + ": the script has errors, nothing stored:" + errors, 1,
                     JsonObject().add("errors", lines));
    }
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *put_email, what);
      t.scripts->put_script(t.user.id(), *put_name, text);
      if (*put_activate && !t.scripts->set_active_script(t.user.id(), *put_name))
        throw CliError(what + ": the script was deleted before it could be activated");
      print_outcome(ctx,
                    JsonObject().add("name", *put_name).add("size", static_cast<int64_t>(text.size()))
                        .add("active", *put_activate),
                    "stored script " + *put_name + " for " + t.user.email() + " (" + std::to_string(text.size()) +
                        " octets)" + (*put_activate ? ", active" : "") + "\n");
    });
  });

  auto* activate = sieve->add_subcommand("activate", "makes a script the active one (run at delivery)");
  auto act_email = positional(activate, "EMAIL", "the account");
  auto act_name = positional(activate, "NAME", "the script");
  activate->callback([&ctx, act_email, act_name] {
    const std::string what = "sieve activate " + *act_email + " " + *act_name;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *act_email, what);
      if (!t.scripts->set_active_script(t.user.id(), *act_name))
        throw CliError(what + ": " + t.user.email() + " has no script '" + *act_name + "'");
      print_outcome(ctx, JsonObject().add("active", *act_name),
                    "script " + *act_name + " is active for " + t.user.email() + "\n");
    });
  });

  auto* deactivate = sieve->add_subcommand("deactivate", "no script runs at delivery any more");
  auto deact_email = positional(deactivate, "EMAIL", "the account");
  deactivate->callback([&ctx, deact_email] {
    const std::string what = "sieve deactivate " + *deact_email;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *deact_email, what);
      t.scripts->set_active_script(t.user.id(), "");
      print_outcome(ctx, JsonObject().add("active", ""), "no script is active for " + t.user.email() + "\n");
    });
  });

  auto* del = sieve->add_subcommand("delete", "deletes a script (the active one only with --force)");
  auto del_email = positional(del, "EMAIL", "the account");
  auto del_name = positional(del, "NAME", "the script");
  auto del_force = std::make_shared<bool>(false);
  del->add_flag("--force", *del_force, "delete it even when it is the active script (no script runs then)");
  del->callback([&ctx, del_email, del_name, del_force] {
    const std::string what = "sieve delete " + *del_email + " " + *del_name;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *del_email, what);
      // RFC 5804 2.10: the active script is not deleted (DELETESCRIPT says NO (ACTIVE)).
      if (auto active = t.scripts->active_script(t.user.id()); active && active->first == *del_name && !*del_force)
        throw CliError(what + ": it is the active script (deactivate it first, or --force)");
      if (!t.scripts->delete_script(t.user.id(), *del_name))
        throw CliError(what + ": " + t.user.email() + " has no script '" + *del_name + "'");
      print_outcome(ctx, JsonObject().add("deleted", *del_name),
                    "deleted script " + *del_name + " of " + t.user.email() + "\n");
    });
  });
}

}  // namespace postline::cli
