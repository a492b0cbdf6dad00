// postline: the operator's CLI. Talks gRPC to authd (accounts) and queued
// (the queue); `postline migrate` talks to PostgreSQL directly.
//
//   postline [--auth-addr A] [--queue-addr Q] [--config FILE] [--json] COMMAND ...
//
// Exit codes: 0 success, 1 the operation failed (message on stderr naming what
// was wrong), 2 usage or configuration error. With --json the message is a
// JSON object on stderr (README.md).
#include <cstring>
#include <iostream>

#include "tools/postline/cli_context.h"
#include "tools/postline/parse_errors.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  using namespace postline::cli;
  // Log lines of the libraries (the S3 store's "bodies in S3 bucket ...") go
  // to stderr: stdout is the command's output (--json is parsed from it).
  spdlog::set_default_logger(spdlog::stderr_color_mt("postline"));
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
  app.add_flag("--json", ctx.json, "print listings, results and errors as JSON");

  register_domain_commands(app, ctx);
  register_user_commands(app, ctx);
  register_alias_commands(app, ctx);
  register_quota_commands(app, ctx);
  register_app_password_commands(app, ctx);
  register_throttle_commands(app, ctx);
  register_migrate_commands(app, ctx);
  register_config_commands(app, ctx);
  register_mailbox_commands(app, ctx);
  register_sieve_commands(app, ctx);
  register_queue_commands(app, ctx);
  register_report_commands(app, ctx);
  register_dkim_commands(app, ctx);
  register_dns_commands(app, ctx);
  register_import_commands(app, ctx);
  register_account_commands(app, ctx);

  // A parse that fails may stop before --json is stored; the word decides.
  bool json = false;
  for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i) json = json || std::strcmp(argv[i], "--json") == 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << error_line(describe_parse_error(app, e), 2, {}, json) << "\n";
    return 2;
  } catch (const CliError& e) {
    std::cerr << error_line(e.what(), e.code(), e.details(), json || ctx.json) << "\n";
    return e.code();
  } catch (const std::exception& e) {
    std::cerr << error_line(e.what(), 1, {}, json || ctx.json) << "\n";
    return 1;
  }
  return 0;
}
