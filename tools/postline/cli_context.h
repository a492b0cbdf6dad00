// Shared state of one `postline` invocation, and the registration functions of
// every command family. Each family lives in its own cmd_<family>.cpp and adds
// its subcommands to the app; main.cpp only wires global options.
#pragma once

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/config/config.h"
#include "tools/postline/output.h"

namespace postline::cli {

// A failure to report: main prints "postline: <message>" and exits with `code`.
// With --json it prints {"error": message, "exit_code": code, ...details} on
// stderr instead, so scripts get the same facts in both modes.
class CliError : public std::runtime_error {
 public:
  explicit CliError(const std::string& message, int code = 1, JsonObject details = {})
      : std::runtime_error(message), code_(code), details_(std::move(details)) {}
  int code() const { return code_; }
  const JsonObject& details() const { return details_; }

 private:
  int code_;
  JsonObject details_;
};

// The one line main prints for a failure, in the output mode asked for.
std::string error_line(const std::string& message, int code, const JsonObject& details, bool json);

class CliContext {
 public:
  // Global options; empty means "from the environment / config file / default".
  std::string auth_addr;         // --auth-addr, POSTLINE_AUTH_ADDR, auth.addr
  std::string queue_addr;        // --queue-addr, POSTLINE_QUEUE_ADDR, queue.addr
  std::string config_file;       // --config
  std::string db_url;            // --db-url, POSTLINE_DB_URL, db.url
  std::string admin_token_file;  // --admin-token-file, POSTLINE_AUTH_ADMIN_TOKEN_FILE, auth.admin_token_file
  bool json = false;             // --json: listings, results and errors as JSON

  // The configuration (file if --config given, plus POSTLINE_* environment),
  // loaded on first use. Throws CliError naming the bad key.
  const config::Config& config();

  void prepare_grpc();  // grpc.tls_* before the first channel
  std::string resolved_auth_addr();
  std::string resolved_queue_addr();
  std::string resolved_db_url();

  std::shared_ptr<grpc::Channel> auth_channel();
  std::shared_ptr<grpc::Channel> queue_channel();

  // Sets a deadline and, when an admin token is configured, the bearer token.
  void prepare(grpc::ClientContext& ctx, std::chrono::seconds timeout = std::chrono::seconds(30));

  // Throws CliError "<what>: <why>" for a failed RPC, naming the server for
  // connection problems.
  [[noreturn]] void rpc_failed(const std::string& what, const grpc::Status& status, const std::string& server);

 private:
  std::optional<config::Config> config_;
  bool grpc_prepared_ = false;
  std::shared_ptr<grpc::Channel> auth_channel_, queue_channel_;
  std::optional<std::string> token_;
};

// What a command did: with --json one JSON object on stdout, else the text
// line(s) (text is printed as given; end it with "\n").
void print_outcome(const CliContext& ctx, const JsonObject& json, const std::string& text);

// What a destructive command would remove, listed before it goes ahead.
struct RemovalPlan {
  struct Part {
    std::string json_key;            // "users"
    std::string singular, plural;    // "user", "users"
    std::vector<std::string> names;  // every one (text shows the first kListedNames)
  };
  static constexpr size_t kListedNames = 10;
  std::string command;             // "domain remove example.org": prefixes the messages
  std::string kind, name;          // "domain", "example.org": the thing named, as the server stores it
  std::vector<Part> parts;         // what goes with it; empty parts are left out of the listing
  std::vector<std::string> stays;  // what is not removed, said so nobody assumes it is

  std::string target() const { return kind + " " + name; }
  bool removes_more() const;  // any non-empty part
  std::string text() const;   // "  2 users: a@x, b@x\n  ..." (indented lines)
  JsonObject json() const;    // {"users": [...], "user_count": 2, ..., "stays": [...]}
};

// The one gate of every destructive command (domain/user/alias remove, and
// queue deletes): returns when the removal may go ahead — `force` given, or an
// operator at a terminal typed "yes" to the listing. Otherwise throws CliError
// (exit 1) that lists what would be removed and asks for --force; with --json
// the listing is in the error object. Never reads stdin unless stdin and
// stderr are both terminals and --json is off.
void require_force(const CliContext& ctx, const RemovalPlan& plan, bool force);

// Reads a password: one line from stdin with --password-stdin, otherwise a
// prompt without echo when stdin is a terminal (twice, to catch typos, unless
// `confirm` is false: a password that is checked at once, such as the source
// server's for `import imap`).
std::string read_password(bool from_stdin, const std::string& prompt, bool confirm = true);

// A domain the way authd stores it and DNS wants it: lower case, internationalised
// labels as A-labels ("Bücher.Example" -> "xn--bcher-kva.example"), no final dot.
std::string ascii_domain(const std::string& name);

// Parses "1GiB", "500MiB", "0", "unlimited" into bytes (0 = unlimited).
int64_t parse_quota(const std::string& text);
std::string format_bytes(int64_t bytes);

void register_domain_commands(CLI::App& app, CliContext& ctx);
void register_user_commands(CLI::App& app, CliContext& ctx);
void register_alias_commands(CLI::App& app, CliContext& ctx);
void register_quota_commands(CLI::App& app, CliContext& ctx);
void register_app_password_commands(CLI::App& app, CliContext& ctx);
void register_throttle_commands(CLI::App& app, CliContext& ctx);
void register_migrate_commands(CLI::App& app, CliContext& ctx);
void register_config_commands(CLI::App& app, CliContext& ctx);
void register_dkim_commands(CLI::App& app, CliContext& ctx);
void register_dns_commands(CLI::App& app, CliContext& ctx);
void register_import_commands(CLI::App& app, CliContext& ctx);  // cmd_import.cpp
void register_account_commands(CLI::App& app, CliContext& ctx);  // cmd_account.cpp
void register_mailbox_commands(CLI::App& app, CliContext& ctx);  // cmd_mailbox.cpp
void register_sieve_commands(CLI::App& app, CliContext& ctx);    // cmd_sieve.cpp
// cmd_queue.cpp (the delivery queue owner).
void register_queue_commands(CLI::App& app, CliContext& ctx);
// cmd_reports.cpp: postline dmarc|tlsrpt reports, postline reports send (queued).
void register_report_commands(CLI::App& app, CliContext& ctx);

}  // namespace postline::cli
