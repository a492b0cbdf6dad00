// The session's state machine, the command table and what every command
// shares; the commands themselves are in their family's file (session.h).
#include "services/managesieve/protocol/session.h"

#include "common/log/printable.h"

#include <algorithm>

namespace postline::managesieve {

struct Session::CommandSpec {
  const char* name;
  bool before_login;          // allowed in the non-authenticated state
  bool after_login;           // allowed once authenticated
  Handler handler;            // answered at once, or
  StoreHandler store_handler; // run by run_store()
};

const Session::CommandSpec* Session::find(const std::string& name) {
  static const CommandSpec kCommands[] = {
      {"CAPABILITY", true, true, &Session::cmd_capability, nullptr},
      {"NOOP", true, true, &Session::cmd_noop, nullptr},
      {"LOGOUT", true, true, &Session::cmd_logout, nullptr},
      {"AUTHENTICATE", true, false, &Session::cmd_authenticate, nullptr},
      {"STARTTLS", true, false, &Session::cmd_starttls, nullptr},
      {"UNAUTHENTICATE", false, true, &Session::cmd_unauthenticate, nullptr},
      {"HAVESPACE", false, true, nullptr, &Session::cmd_havespace},
      {"PUTSCRIPT", false, true, nullptr, &Session::cmd_putscript},
      {"CHECKSCRIPT", false, true, nullptr, &Session::cmd_checkscript},
      {"LISTSCRIPTS", false, true, nullptr, &Session::cmd_listscripts},
      {"GETSCRIPT", false, true, nullptr, &Session::cmd_getscript},
      {"SETACTIVE", false, true, nullptr, &Session::cmd_setactive},
      {"DELETESCRIPT", false, true, nullptr, &Session::cmd_deletescript},
      {"RENAMESCRIPT", false, true, nullptr, &Session::cmd_renamescript},
  };
  for (const auto& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

Session::Session(const Settings& settings, std::string remote_ip, bool tls, Observer* observer)
    : settings_(settings),
      observer_(observer ? observer : &null_observer_),
      remote_ip_(std::move(remote_ip)),
      tls_(tls) {
  update_limits();
}

Session::~Session() = default;

void Session::start() { output_ += capabilities() + ok("Postline ManageSieve ready"); }

bool Session::may_authenticate() const {
  if (tls_ || settings_.allow_plaintext_auth) return true;
  if (!settings_.allow_plaintext_auth_from_loopback) return false;
  const std::string& ip = remote_ip_;
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

void Session::update_limits() {
  ParserLimits l;
  if (!authenticated()) {
    // Before login a command is small (AUTHENTICATE), and a literal over it is
    // not even read: BYE.
    const uint64_t cap = settings_.max_unauthenticated_command;
    l.max_line = static_cast<size_t>(std::min<uint64_t>(settings_.max_line, cap));
    l.max_literal = l.max_discard = l.max_command = cap;
  } else {
    const uint64_t script = settings_.quotas.max_script_size;
    l.max_line = settings_.max_line;
    l.max_literal = script;
    // A script a few times too big is read and refused with QUOTA/MAXSIZE,
    // which a client can show; a larger one ends the session.
    l.max_discard = std::max<uint64_t>(4 * script, 1u << 20);
    l.max_command = settings_.max_line + script;
  }
  parser_.set_limits(l);
}

std::string Session::sasl_value() const {
  if (!may_authenticate()) return "";
  if (mechanisms_.empty()) return "PLAIN";
  std::string out;
  for (const auto& m : mechanisms_) {
    if (!out.empty()) out += ' ';
    out += m;
  }
  return out;
}

std::string Session::capabilities() const {
  std::string out = capability_line("IMPLEMENTATION", settings_.implementation);
  // RFC 5804 1.7: the list may be empty only when STARTTLS is offered; before
  // TLS (where plaintext is not allowed) that is exactly the case.
  out += capability_line("SASL", sasl_value(), true);
  std::string sieve;
  for (const auto& ext : sieve::supported_extensions()) {
    if (!settings_.sieve.allowed_extensions.empty() && !settings_.sieve.allowed_extensions.count(ext)) continue;
    if (!sieve.empty()) sieve += ' ';
    sieve += ext;
  }
  out += capability_line("SIEVE", sieve, true);
  if (settings_.tls_available && !tls_ && !authenticated()) out += capability_line("STARTTLS");
  out += capability_line("MAXREDIRECTS", std::to_string(settings_.sieve.limits.max_redirects));
  if (authenticated()) out += capability_line("OWNER", user_);
  out += capability_line("UNAUTHENTICATE");
  out += capability_line("VERSION", "1.0");
  return out;
}

void Session::reply(Status status, std::string_view code, std::string_view text) {
  output_ += response(status, code, text);
  observer_->command(current_.empty() ? "unknown" : current_,
                     status == Status::kOk ? "ok" : status == Status::kNo ? "no" : "bye");
}

void Session::bye(std::string_view text, std::string_view code) {
  if (closing_) return;
  output_ += response(Status::kBye, code, text);
  closing_ = true;
  if (end_reason_.empty()) end_reason_ = "bye";
}

void Session::refuse_bad(const char* kind, std::string_view text) {
  observer_->protocol_error(kind);
  reply(Status::kNo, "", text);
  if (++bad_commands_ >= settings_.max_bad_commands) {
    observer_->protocol_error("too_many_errors");
    observer_->info("too many errors, closing");
    end_reason_ = "errors";
    bye("Too many errors");
  }
}

void Session::release_login() {
  if (!holds_login_) return;
  holds_login_ = false;
  observer_->release_user(user_id_);
}

Session::Action Session::next() {
  for (;;) {
    if (closing_) return Action::kClose;
    if (pause_due_) {
      pause_due_ = false;
      return Action::kPause;
    }
    if (starttls_due_) {
      starttls_due_ = false;
      return Action::kStartTls;
    }
    if (sasl_due_) {
      sasl_due_ = false;
      return Action::kSasl;
    }
    if (pending_) return Action::kStore;
    Parser::Event ev = parser_.next();
    if (ev.kind == Parser::Kind::kNeedMore) return Action::kRead;
    if (sasl_waiting_client_ && ev.kind != Parser::Kind::kFatal) sasl_answer(std::move(ev));
    else dispatch(std::move(ev));
  }
}

void Session::dispatch(Parser::Event ev) {
  if (ev.kind == Parser::Kind::kCommand) {
    Command cmd;
    try {
      cmd = split_command(std::move(ev.tokens));
    } catch (const SyntaxError& e) {
      current_ = "unknown";
      observer_->info(std::string("syntax error: ") + e.what());
      refuse_bad("syntax", std::string("Syntax error: ") + e.what());
      return;
    }
    dispatch_command(std::move(cmd));
    return;
  }
  // An error event carries the command's name when it was read whole.
  std::string name;
  if (!ev.tokens.empty()) name = split_command(std::move(ev.tokens)).name;
  const CommandSpec* spec = name.empty() ? nullptr : find(name);
  current_ = spec ? spec->name : "unknown";
  switch (ev.kind) {
    case Parser::Kind::kNeedMore:
    case Parser::Kind::kCommand: return;
    case Parser::Kind::kSyntaxError:
      observer_->info("syntax error in " + (name.empty() ? std::string("a command") : log::printable(name, 64)) +
                      ": " + ev.error);
      refuse_bad("syntax", "Syntax error: " + ev.error);
      return;
    case Parser::Kind::kLineTooLong:
      observer_->info("command line over " + std::to_string(parser_.limits().max_line) + " octets refused");
      refuse_bad("line_too_long", "Command line too long");
      return;
    case Parser::Kind::kLiteralTooBig:
      observer_->protocol_error("literal_too_big");
      observer_->info("literal of " + std::to_string(ev.literal_size) + " octets refused in " + current_);
      if (name == "PUTSCRIPT" || name == "CHECKSCRIPT") {
        if (name == "PUTSCRIPT") observer_->script_refused("maxsize");
        reply(Status::kNo, "QUOTA/MAXSIZE",
              "Script larger than " + std::to_string(settings_.quotas.max_script_size) + " octets");
      } else {
        reply(Status::kNo, "", "Argument too large");
      }
      return;
    case Parser::Kind::kFatal:
      observer_->protocol_error("literal_too_big");
      observer_->info(ev.literal_size == UINT64_MAX
                          ? std::string("literal length out of range, closing")
                          : "literal of " + std::to_string(ev.literal_size) + " octets announced, closing");
      end_reason_ = "literal_too_big";
      bye("Literal too large", authenticated() ? "QUOTA/MAXSIZE" : "");
      return;
  }
}

void Session::dispatch_command(Command cmd) {
  const CommandSpec* spec = find(cmd.name);
  if (!spec) {
    current_ = "unknown";
    observer_->info("unknown command " + log::printable(cmd.name, 64));
    refuse_bad("unknown_command", "Unknown command");
    return;
  }
  current_ = spec->name;
  if (authenticated() && !spec->after_login) {
    observer_->info(current_ + " refused: already authenticated");
    reply(Status::kNo, "", cmd.name == "AUTHENTICATE" ? "Already authenticated" : "Not allowed after authentication");
    return;
  }
  if (!authenticated() && !spec->before_login) {
    observer_->info(current_ + " refused: not authenticated");
    reply(Status::kNo, "", "Authenticate first");
    return;
  }
  if (spec->handler) {
    try {
      (this->*spec->handler)(cmd);
    } catch (const SyntaxError& e) {
      observer_->info(current_ + ": " + e.what());
      refuse_bad("syntax", std::string("Syntax error: ") + e.what());
    }
    return;
  }
  pending_ = std::move(cmd);
  pending_handler_ = spec->store_handler;
}

void Session::run_store(mailstore::SieveScriptStore& store) {
  if (!pending_) return;
  Command cmd = std::move(*pending_);
  pending_.reset();
  const StoreHandler handler = pending_handler_;
  pending_handler_ = nullptr;
  try {
    (this->*handler)(cmd, store);
  } catch (const SyntaxError& e) {
    observer_->info(current_ + ": " + e.what());
    refuse_bad("syntax", std::string("Syntax error: ") + e.what());
  } catch (const std::exception& e) {
    // The store failed (database down, a timeout): our fault, the client may retry.
    observer_->warn(current_ + " failed: " + log::printable(e.what(), 200));
    reply(Status::kNo, "TRYLATER", "Temporary failure, try again later");
  }
}

}  // namespace postline::managesieve
