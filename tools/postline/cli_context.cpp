#include "tools/postline/cli_context.h"

#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/grpc/grpc.h"
#include "common/mailauth/public_suffix.h"

namespace postline::cli {

const config::Config& CliContext::config() {
  if (!config_) {
    try {
      config_ = config::Config::load(config_file, config::Config::process_environment());
    } catch (const config::ConfigError& e) {
      throw CliError(e.what(), 2);
    }
  }
  return *config_;
}

std::string CliContext::resolved_auth_addr() {
  return !auth_addr.empty() ? auth_addr : config().str("auth", "addr");
}

std::string CliContext::resolved_queue_addr() {
  return !queue_addr.empty() ? queue_addr : config().str("queue", "addr");
}

std::string CliContext::resolved_db_url() { return !db_url.empty() ? db_url : config().str("db", "url"); }

// grpc.tls_* is read from the configuration even when --auth-addr or
// POSTLINE_AUTH_ADDR names the server, and only by commands that talk gRPC
// (`migrate` must work before the certificates exist).
void CliContext::prepare_grpc() {
  if (grpc_prepared_) return;
  try {
    grpcutil::configure_tls(grpcutil::tls_files(config()));
  } catch (const CliError&) {
    throw;
  } catch (const std::exception& e) {  // grpc.tls_* files missing or incomplete
    throw CliError(e.what(), 2);
  }
  grpc_prepared_ = true;
}

std::shared_ptr<grpc::Channel> CliContext::auth_channel() {
  if (!auth_channel_) {
    prepare_grpc();
    auth_channel_ = grpcutil::make_channel(resolved_auth_addr());
  }
  return auth_channel_;
}

std::shared_ptr<grpc::Channel> CliContext::queue_channel() {
  if (!queue_channel_) {
    prepare_grpc();
    queue_channel_ = grpcutil::make_channel(resolved_queue_addr());
  }
  return queue_channel_;
}

void CliContext::prepare(grpc::ClientContext& ctx, std::chrono::seconds timeout) {
  grpcutil::set_deadline(ctx, timeout);
  if (!token_) {
    std::string path = !admin_token_file.empty() ? admin_token_file : config().str("auth", "admin_token_file");
    std::string token;
    if (!path.empty()) {
      std::ifstream in(path);
      if (!in) throw CliError("cannot read admin token file " + path);
      std::stringstream ss;
      ss << in.rdbuf();
      token = ss.str();
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    }
    token_ = token;
  }
  if (!token_->empty()) ctx.AddMetadata("authorization", "Bearer " + *token_);
}

void CliContext::rpc_failed(const std::string& what, const grpc::Status& status, const std::string& server) {
  switch (status.error_code()) {
    case grpc::UNAVAILABLE:
      throw CliError(what + ": cannot reach " + server + " (" + status.error_message() + ")", 1);
    case grpc::DEADLINE_EXCEEDED:
      throw CliError(what + ": " + server + " did not answer in time", 1);
    case grpc::UNAUTHENTICATED:
      throw CliError(what + ": " + status.error_message(), 1);
    default:
      throw CliError(what + ": " + status.error_message(), 1);
  }
}

std::string error_line(const std::string& message, int code, const JsonObject& details, bool json) {
  if (!json) return "postline: " + message;
  return JsonObject().add("error", message).add("exit_code", static_cast<int64_t>(code)).merge(details).str();
}

void print_outcome(const CliContext& ctx, const JsonObject& json, const std::string& text) {
  if (ctx.json) std::cout << json.str() << "\n";
  else std::cout << text;
}

bool RemovalPlan::removes_more() const {
  for (const auto& p : parts)
    if (!p.names.empty()) return true;
  return false;
}

std::string RemovalPlan::text() const {
  std::string out;
  for (const auto& p : parts) {
    if (p.names.empty()) continue;
    out += "  " + std::to_string(p.names.size()) + " " + (p.names.size() == 1 ? p.singular : p.plural) + ": ";
    for (size_t i = 0; i < p.names.size() && i < kListedNames; ++i) out += (i ? ", " : "") + p.names[i];
    if (p.names.size() > kListedNames) out += ", ... and " + std::to_string(p.names.size() - kListedNames) + " more";
    out += "\n";
  }
  for (const auto& s : stays) out += "  kept: " + s + "\n";
  return out;
}

JsonObject RemovalPlan::json() const {
  JsonObject o;
  for (const auto& p : parts) {
    o.add(p.json_key, p.names);
    std::string count_key = p.singular;
    for (auto& c : count_key)
      if (c == ' ' || c == '-') c = '_';
    o.add(count_key + "_count", static_cast<int64_t>(p.names.size()));
  }
  o.add("stays", stays);
  return o;
}

void require_force(const CliContext& ctx, const RemovalPlan& plan, bool force) {
  if (force) return;
  const std::string listing = "this removes " + plan.target() + (plan.removes_more() ? " and:\n" : "\n") + plan.text();
  // Ask only a person: a script or a pipe gets the refusal, never a hanging read.
  if (!ctx.json && isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
    std::cerr << plan.command << ": " << listing << "type yes to go ahead: " << std::flush;
    std::string answer;
    if (std::getline(std::cin, answer) && (answer == "yes" || answer == "y")) return;
    throw CliError(plan.command + ": not confirmed; nothing removed");
  }
  throw CliError(plan.command + ": refused without --force; " + listing + "nothing removed; run again with --force",
                 1,
                 JsonObject().add("refused", true).add("would_remove",
                                                       JsonObject().add("target", plan.target()).merge(plan.json())));
}

std::string read_password(bool from_stdin, const std::string& prompt, bool confirm) {
  std::string password;
  if (from_stdin) {
    if (!std::getline(std::cin, password) && password.empty())
      throw CliError("--password-stdin: no password on standard input");
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty()) throw CliError("--password-stdin: the password is empty");
    return password;
  }
  if (!isatty(STDIN_FILENO))
    throw CliError("no password given: pipe it with --password-stdin (passwords are never taken as arguments)");
  // Prompt with echo off; restore the terminal whatever happens.
  termios old{};
  tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::string again;
  std::cerr << prompt << ": " << std::flush;
  std::getline(std::cin, password);
  if (confirm) {
    std::cerr << "\nagain: " << std::flush;
    std::getline(std::cin, again);
  } else {
    again = password;
  }
  std::cerr << "\n";
  tcsetattr(STDIN_FILENO, TCSANOW, &old);
  if (password != again) throw CliError("the two passwords differ");
  if (password.empty()) throw CliError("the password is empty");
  return password;
}

std::string ascii_domain(const std::string& name) {
  std::string lower = name;
  while (!lower.empty() && lower.back() == '.') lower.pop_back();
  bool ascii = true;
  for (auto& c : lower) {
    if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
    else c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (ascii) return lower;
  std::string a = mailauth::idn_to_ascii_for_psl(lower);
  return a.empty() ? lower : a;
}

int64_t parse_quota(const std::string& text) {
  if (text == "unlimited" || text == "none") return 0;
  try {
    const uint64_t v = config::parse_size(text, "SIZE");
    if (v > static_cast<uint64_t>(INT64_MAX)) throw CliError("SIZE " + text + " is too large");
    return static_cast<int64_t>(v);
  } catch (const config::ConfigError& e) {
    throw CliError(std::string(e.what()) + " (examples: 500MiB, 2GiB, unlimited)", 2);
  }
}

std::string format_bytes(int64_t bytes) {
  if (bytes == 0) return "unlimited";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  int64_t v = bytes;
  while (u < 4 && v % 1024 == 0 && v >= 1024) {
    v /= 1024;
    ++u;
  }
  return std::to_string(v) + units[u];
}

}  // namespace postline::cli
