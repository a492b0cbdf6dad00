// Session core: input framing, dispatch, replies and the error budget. The
// commands themselves are in protocol/commands/.
#include "services/smtp-ingress/protocol/session.h"

#include "services/smtp-ingress/protocol/reply.h"
#include "common/log/printable.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace postline::smtp {

const char* listener_name(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::kMx: return "mx";
    case ListenerKind::kSubmission: return "submission";
    case ListenerKind::kSubmissions: return "submissions";
  }
  return "unknown";
}

Session::Session(SessionConfig config, SessionObserver* observer)
    : config_(std::move(config)), observer_(observer ? observer : &null_observer_) {
  tls_active_ = config_.tls_active;
  tls_version_ = config_.tls_version;
  tls_cipher_ = config_.tls_cipher;
}

void Session::start() {
  raw_reply(220, format_reply(220, "", config_.hostname + " ESMTP Postline"));
}

void Session::feed(std::string_view bytes) {
  if (closed_) return;
  // DATA content goes from the caller's buffer straight into the message,
  // not through in_ first; only what follows the end of data is kept.
  if (mode_ == Mode::kData && in_.empty() && !event_pending_ && !awaiting_tls_) {
    size_t used = 0;
    take_data(bytes, &used);
    bytes.remove_prefix(std::min(used, bytes.size()));
    if (bytes.empty() || closed_) return;
  }
  in_.append(bytes);
  process();
}

std::string Session::take_output() { return std::exchange(out_, std::string()); }

std::optional<Event> Session::take_event() { return std::exchange(event_, std::nullopt); }

void Session::emit(Event e) {
  event_ = std::move(e);
  event_pending_ = true;
}

// Every session log line is escaped here, once, whatever it quotes (a MAIL
// FROM address, an AUTH user name, a BURL URL): a peer's CR LF cannot start a
// forged line, and a 40 MB user name does not become a 40 MB line.
void Session::log(int level, std::string_view line) { observer_->on_log(level, log::printable(line, 1024)); }

void Session::raw_reply(int code, std::string text) {
  observer_->on_reply(code);
  out_ += text;
}

void Session::reply(int code, std::string_view enhanced, std::string_view text) {
  raw_reply(code, format_reply(code, enhanced, text));
}

// A reply the client earned by misbehaving: counts against the error budget
// (max_errors), after which the session ends with 421 4.7.0 (RFC 5321 §4.2.2
// lets the server close after 421). Slows down address harvesting and
// protocol fuzzing without punishing one typo.
void Session::error_reply(int code, std::string_view enhanced, std::string_view text) {
  reply(code, enhanced, text);
  if (++errors_ >= config_.max_errors && !closed_) {
    observer_->on_limit("errors");
    log(2, fmt::format("too many errors ({}), disconnecting", errors_));
    close_with(421, "4.7.0", config_.hostname + " Error: too many errors");
  }
}

void Session::close_with(int code, std::string_view enhanced, std::string_view text) {
  reply(code, enhanced, text);
  closed_ = true;
  in_.clear();
}

void Session::reset_transaction() {
  tx_ = Transaction{};
  data_lease_.reset();  // the message was handed over or dropped
  data_over_budget_ = false;
  mode_ = Mode::kCommand;
}

void Session::on_timeout() {
  if (closed_) return;
  observer_->on_limit(in_data() ? "data_timeout" : "command_timeout");
  log(1, in_data() ? "timeout while receiving data" : "timeout waiting for a command");
  close_with(421, "4.4.2", config_.hostname + " Error: timeout exceeded");
}

bool Session::shutdown_if_idle() {
  if (closed_ || event_pending_ || tx_.active || mode_ != Mode::kCommand) return false;
  close_with(421, "4.3.2", config_.hostname + " Service shutting down, try again later");
  return true;
}

void Session::process() {
  while (!closed_ && !event_pending_ && !awaiting_tls_ && !in_.empty()) {
    switch (mode_) {
      case Mode::kCommand:
      case Mode::kAuthResponse:
        if (!process_command_line()) return;
        break;
      case Mode::kData:
        if (!process_data()) return;
        break;
      case Mode::kBdat:
        if (!process_bdat()) return;
        break;
    }
  }
}

// Frames one command line. LF alone is accepted as a command terminator
// (clients in the wild send it; it is harmless outside DATA, where only CRLF
// counts). A line longer than the limit is refused once with 500 5.5.2 and
// its bytes are dropped up to the next LF, never buffered.
bool Session::process_command_line() {
  // AUTH continuation lines may be longer (RFC 4954 §4: 12288 octets).
  const size_t limit = mode_ == Mode::kAuthResponse ? std::max<size_t>(config_.max_line_length, 12288)
                                                      : config_.max_line_length;
  size_t lf = in_.find('\n');
  if (discarding_line_) {
    if (lf == std::string::npos) {
      in_.clear();
      return false;
    }
    in_.erase(0, lf + 1);
    discarding_line_ = false;
    return true;
  }
  if (lf == std::string::npos) {
    if (in_.size() >= limit) {
      in_.clear();
      discarding_line_ = true;
      observer_->on_limit("line_length");
      if (mode_ == Mode::kAuthResponse) mode_ = Mode::kCommand;
      error_reply(500, "5.5.2", "Line too long");
    }
    return false;
  }
  std::string line = in_.substr(0, lf);
  in_.erase(0, lf + 1);
  if (lf + 1 > limit) {  // octets including the line terminator
    observer_->on_limit("line_length");
    if (mode_ == Mode::kAuthResponse) mode_ = Mode::kCommand;
    error_reply(500, "5.5.2", "Line too long");
    return true;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (mode_ == Mode::kAuthResponse) {
    auth_response(line);
  } else {
    dispatch(line);
  }
  return true;
}

namespace {
std::string upper_ascii(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}
}  // namespace

void Session::dispatch(std::string_view line) {
  size_t sp = line.find(' ');
  std::string verb = upper_ascii(line.substr(0, sp));
  std::string_view args = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);

  using Handler = void (Session::*)(std::string_view);
  struct Entry {
    const char* verb;
    Handler handler;
  };
  static const Entry kCommands[] = {
      {"MAIL", &Session::cmd_mail},   {"RCPT", &Session::cmd_rcpt},   {"DATA", &Session::cmd_data},
      {"BDAT", &Session::cmd_bdat},   {"RSET", &Session::cmd_rset},   {"NOOP", &Session::cmd_noop},
      {"QUIT", &Session::cmd_quit},   {"AUTH", &Session::cmd_auth},   {"STARTTLS", &Session::cmd_starttls},
      {"HELP", &Session::cmd_help},   {"VRFY", &Session::cmd_vrfy},   {"EXPN", &Session::cmd_expn},
      {"BURL", &Session::cmd_burl},
  };
  if (verb == "EHLO" || verb == "HELO") {
    observer_->on_command(verb);
    cmd_ehlo(args, verb == "EHLO");
    return;
  }
  for (const auto& e : kCommands) {
    if (verb == e.verb) {
      observer_->on_command(verb);
      // RFC 3030 §2: once BDAT has started, only BDAT, RSET and QUIT make
      // sense; BURL mixes with BDAT chunks (RFC 4468 3.2).
      if (tx_.bdat_started && verb != "BDAT" && verb != "BURL" && verb != "RSET" && verb != "QUIT" &&
          verb != "NOOP") {
        error_reply(503, "5.5.1", "Bad sequence of commands: BDAT transfer in progress");
        return;
      }
      (this->*e.handler)(args);
      return;
    }
  }
  observer_->on_command("unknown");
  // Plain HTTP requests hitting an SMTP port are a classic cross-protocol
  // attack; give them nothing to work with.
  if (verb == "GET" || verb == "POST" || verb == "HEAD" || verb == "PUT" || verb == "CONNECT") {
    log(2, "HTTP request on the SMTP port, disconnecting");
    close_with(421, "4.7.0", config_.hostname + " Error: this is an SMTP server");
    return;
  }
  error_reply(500, "5.5.1", "Command unrecognized");
}

}  // namespace postline::smtp
