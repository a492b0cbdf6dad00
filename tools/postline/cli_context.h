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

namespace postline::cli {

// A failure to report: main prints "postline: <message>" and exits with `code`.
class CliError : public std::runtime_error {
 public:
  explicit CliError(const std::string& message, int code = 1) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class CliContext {
 public:
  // Global options; empty means "from the environment / config file / default".
  std::string auth_addr;         // --auth-addr, POSTLINE_AUTH_ADDR, auth.addr
  std::string queue_addr;        // --queue-addr, POSTLINE_QUEUE_ADDR, queue.addr
  std::string config_file;       // --config
  std::string db_url;            // --db-url, POSTLINE_DB_URL, db.url
  std::string admin_token_file;  // --admin-token-file, POSTLINE_AUTH_ADMIN_TOKEN_FILE, auth.admin_token_file
  bool json = false;             // --json: listings as JSON

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

// Reads a password: one line from stdin with --password-stdin, otherwise a
// prompt without echo when stdin is a terminal (twice, to catch typos, unless
// `confirm` is false: a password that is checked at once, such as the source
// server's for `import imap`).
std::string read_password(bool from_stdin, const std::string& prompt, bool confirm = true);

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
void register_import_commands(CLI::App& app, CliContext& ctx);  // cmd_import.cpp
// cmd_queue.cpp (the delivery queue owner).
void register_queue_commands(CLI::App& app, CliContext& ctx);

}  // namespace postline::cli
