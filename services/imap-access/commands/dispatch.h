// The command dispatcher without sockets: one complete command (as the
// Receiver returns it, literals inline) in, the session's responses out.
// It reads the tag and name, looks the command up in the table, checks the
// session state, runs the handler, turns exceptions into NO/BAD (the client
// gets a generic text, the log the detail), brings the selected mailbox up to
// date after the command and counts BAD answers. What is left to the caller
// is what needs the connection: the TLS handshake, the IDLE loop, closing,
// metrics, the delay after a failed login and the change notifier watches.
// server/connection.cpp runs it for every command; the unit tests
// (commands/testing/session_harness.h) run it against the in-memory store.
#pragma once

#include "services/imap-access/commands/registry.h"

#include <functional>
#include <optional>
#include <string>

namespace postline::imap {

// How a command talks to its client: the same three callbacks Context has.
struct SessionIo {
  // Queues untagged responses (complete lines, CRLF included).
  std::function<void(std::string)> send;
  // Writes what was queued so far.
  std::function<asio::awaitable<void>()> flush;
  // "+ prompt" and the client's next line (AUTHENTICATE); nullopt when it is gone.
  std::function<asio::awaitable<std::optional<std::string>>(const std::string&)> continuation;
  // Optional: responses with views into bodies (Context::send_output).
  std::function<void(Output)> send_output;
};

// What one command came to.
struct Dispatched {
  std::string tag;      // empty when the line had no valid tag
  std::string command;  // the table's name ("UID FETCH"), "unknown", or empty when the head did not parse
  Status status = Status::kBad;
  std::string code;  // the tagged response code, without brackets
  // The bytes that end the command and have not been sent yet: the tagged
  // line (an untagged BAD for a line without a tag), together with the BYE
  // when the session is over its allowance of BAD commands. Empty for kIdle:
  // the IDLE loop sends its own tagged line after DONE.
  std::string reply;
  Effect effect = Effect::kNone;
  bool syntax_error = false;  // the command or its arguments did not parse
  bool login_failed = false;  // AUTHENTICATIONFAILED: the connection slows down
  bool close = false;         // too many BAD commands: close after `reply`
};

class Dispatcher {
 public:
  Dispatcher(SessionState& session, Services& services, SessionIo io);

  asio::awaitable<Dispatched> dispatch(std::string text);

  // Counts one BAD answer outside a command (an over-long line, junk during
  // IDLE). Returns the BYE line to send when the session is now over
  // Settings::max_bad_commands (the caller closes), nullopt otherwise.
  std::optional<std::string> count_bad();

 private:
  // Finishes a BAD answer: counts it, and when over the allowance puts the
  // BYE into the reply (`bye_first`: before the tagged line) and closes.
  void refuse(Dispatched& d, bool bye_first);

  SessionState& session_;
  Services& services_;
  SessionIo io_;
};

}  // namespace postline::imap
