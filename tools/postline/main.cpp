// postline: the operator's CLI. Talks gRPC to authd (accounts) and queued
// (the queue); `postline migrate` talks to PostgreSQL directly.
//
//   postline [--auth-addr A] [--queue-addr Q] [--config FILE] [--json] COMMAND ...
//
// Exit codes: 0 success, 1 the operation failed (message on stderr naming what
// was wrong), 2 usage or configuration error.
#include <iostream>

#include "tools/postline/cli_context.h"

namespace postline::cli {
void register_dkim_commands(CLI::App& app, CliContext& ctx);  // cmd_dkim.cpp (issue 9)
}

int main(int argc, char** argv) {
  using namespace postline::cli;
  CLI::App app{"postline: manage a Postline mail platform"};
  app.name("postline");
  app.require_subcommand(1);
  // Global options (--json, --auth-addr ...) may also follow the subcommand;
  // subcommands created below inherit this.
  app.fallthrough();
  CliContext ctx;
  app.add_option("--auth-addr", ctx.auth_addr, "authd gRPC address (default 127.0.0.1:50051)")
      ->envname("POSTLINE_AUTH_ADDR");
  app.add_option("--queue-addr", ctx.queue_addr, "queued gRPC address (default 127.0.0.1:50052)")
      ->envname("POSTLINE_QUEUE_ADDR");
  app.add_option("--config", ctx.config_file, "Postline YAML config file (for addresses, db.url, admin token)");
  app.add_option("--admin-token-file", ctx.admin_token_file, "file with the AdminService bearer token")
      ->envname("POSTLINE_AUTH_ADMIN_TOKEN_FILE");
  app.add_flag("--json", ctx.json, "print listings as JSON");

  register_domain_commands(app, ctx);
  register_user_commands(app, ctx);
  register_alias_commands(app, ctx);
  register_quota_commands(app, ctx);
  register_app_password_commands(app, ctx);
  register_throttle_commands(app, ctx);
  register_migrate_commands(app, ctx);
  register_config_commands(app, ctx);
  register_queue_commands(app, ctx);
  register_dkim_commands(app, ctx);
  register_import_commands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const CliError& e) {
    std::cerr << "postline: " << e.what() << "\n";
    return e.code();
  } catch (const std::exception& e) {
    std::cerr << "postline: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
