// One ManageSieve session (RFC 5804) as a state machine, sans-I/O: bytes in,
// response bytes and actions out. The connection (server/connection.h) owns
// the socket and does what next() asks:
//
//   session.start();                       // the greeting goes to output()
//   for (;;) switch (session.next()) {
//     case kRead:     write take_output(); read bytes; session.feed(bytes)
//     case kStore:    session.run_store(store) on a database thread
//     case kSasl:     reply = authd(session.sasl_request()); session.sasl_reply(reply)
//     case kStartTls: write take_output(); handshake; session.tls_started(ok)
//     case kPause:    write take_output(); wait session.pause()
//     case kClose:    write take_output(); close
//   }
//
// Script storage is the mailstore's `SieveScriptStore` (common/mailstore),
// called only from run_store(), so the connection decides where blocking
// calls run; authentication is relayed to authd (SaslStart/SaslStep) through
// the connection. Nothing here logs or counts by itself: the Observer hears
// about every peer-caused error, login and script (server/ turns that into
// log lines and metrics; tests record it).
//
// Command families, one file each: any_state.cpp (CAPABILITY, NOOP, LOGOUT),
// authenticate.cpp (AUTHENTICATE, UNAUTHENTICATE, STARTTLS), putscript.cpp
// (PUTSCRIPT, CHECKSCRIPT, HAVESPACE: what uploads and quotas), scripts.cpp
// (LISTSCRIPTS, GETSCRIPT, SETACTIVE, DELETESCRIPT, RENAMESCRIPT). The table
// of commands and the states they run in is in session.cpp.
#pragma once

#include "common/authclient/auth_types.h"
#include "common/sieve/sieve.h"
#include "services/managesieve/protocol/command_args.h"
#include "services/managesieve/protocol/parser.h"
#include "services/managesieve/protocol/response.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postline::mailstore {
class SieveScriptStore;
}

namespace postline::managesieve {

struct Quotas {
  std::uint64_t max_scripts = 0;       // scripts per user (0 = no limit): QUOTA/MAXSCRIPTS
  std::uint64_t max_script_size = 1u << 20;  // octets of one script (always set): QUOTA/MAXSIZE
  std::uint64_t max_total_size = 0;    // octets of all of a user's scripts (0 = no limit): QUOTA
};

struct Settings {
  std::string implementation = "Postline ManageSieve";
  bool tls_available = false;
  // Without TLS, AUTHENTICATE only from loopback (unless that is off too)
  // unless allow_plaintext_auth (imapd's rule, docs/managesieve.md).
  bool allow_plaintext_auth = false;
  bool allow_plaintext_auth_from_loopback = true;
  std::size_t max_line = 8192;
  std::uint64_t max_unauthenticated_command = 8192;
  int max_bad_commands = 20;  // syntax errors and unknown commands before BYE
  Quotas quotas;
  // What scripts may require (empty: everything common/sieve supports, which
  // the SIEVE capability then lists) and the interpreter's limits
  // (MAXREDIRECTS is limits.max_redirects; limits.max_script_size follows
  // quotas.max_script_size).
  sieve::CheckOptions sieve;
};

// A SASL exchange with authd, relayed by the connection (proto/mail/v1/auth.proto).
struct SaslRequest {
  bool start = true;                   // SaslStart, else SaslStep
  std::string mechanism;               // start
  std::optional<std::string> initial;  // start: decoded initial response
  std::string conversation_id;         // step
  std::string response;                // step: the client's decoded answer
};

// authd's answer to one step (common/authclient/auth_types.h, shared with
// imapd): kSuccess carries the account in `outcome` (user_id, email, shard;
// moving: TRYLATER), kFailure the reason in outcome.status.
using AuthStatus = authclient::AuthStatus;
using SaslReply = authclient::SaslReply;

// What the session tells the world. Log lines come with peer text already
// escaped (common/log/printable.h); the server adds the session's tags.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void info(const std::string& line) {}
  virtual void warn(const std::string& line) {}
  // A command answered: name (known names, else "unknown"), result ok|no|bye.
  virtual void command(const std::string& name, const std::string& result) {}
  // success|failure|throttled|disabled|unavailable|limit|cancelled
  virtual void login(const std::string& outcome) {}
  virtual void script_stored() {}
  // PUTSCRIPT refused: syntax|maxsize|maxscripts|quota
  virtual void script_refused(const std::string& reason) {}
  // syntax|unknown_command|line_too_long|literal_too_big|too_many_errors|auth_before_tls|
  // unsupported_mechanism|tls_handshake (the connection adds timeout)
  virtual void protocol_error(const std::string& kind) {}
  // managesieve.max_connections_per_user: may this account log in on one more connection?
  virtual bool admit_user(std::int64_t user_id) { return true; }
  // Sharding: the scripts of this account are on `shard` (authd's answer).
  // False: this server has no such shard.
  virtual bool place_user(std::int64_t user_id, const std::string& shard) { return true; }
  virtual void release_user(std::int64_t user_id) {}
};

class Session {
 public:
  enum class Action { kRead, kStore, kSasl, kStartTls, kPause, kClose };

  // `remote_ip` decides the loopback rule; `tls`: implicit TLS already up.
  Session(const Settings& settings, std::string remote_ip, bool tls, Observer* observer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // authd's ListMechanisms for a secure transport: what the SASL capability
  // offers (and AUTHENTICATE accepts) where may_authenticate() holds.
  void set_mechanisms(std::vector<std::string> mechanisms) { mechanisms_ = std::move(mechanisms); }
  // The greeting: the capabilities and OK.
  void start();
  void feed(std::string_view bytes) { parser_.feed(bytes); }
  Action next();

  std::string take_output() { return std::exchange(output_, std::string()); }
  const std::string& output() const { return output_; }

  // kStore: runs the pending command against the store (blocking; any thread,
  // never concurrently with another call on this session).
  void run_store(mailstore::SieveScriptStore& store);
  // kSasl
  const SaslRequest& sasl_request() const { return sasl_request_; }
  void sasl_reply(SaslReply reply);
  // kStartTls: the handshake's outcome. Success re-issues the capabilities
  // (RFC 5804 2.2); failure closes.
  void tls_started(bool ok);
  // kPause: how long (a failed login: 1 s per failure so far, at most 5 s).
  std::chrono::milliseconds pause() const { return pause_; }

  // Ends the session with BYE (server shutdown, idle timeout); next() is kClose.
  void bye(std::string_view text, std::string_view code = {});

  bool may_authenticate() const;
  bool authenticated() const { return user_id_ != 0; }
  std::int64_t user_id() const { return user_id_; }
  const std::string& user() const { return user_; }
  bool tls() const { return tls_; }
  bool closed() const { return closing_; }
  // Between commands with nothing of the next one read (a graceful shutdown may say BYE now).
  bool waiting_for_command() const { return !pending_ && !sasl_waiting_client_ && parser_.idle(); }
  // Why the session ended, for the disconnect line: logout|bye|tls_failed|errors|literal_too_big.
  const std::string& end_reason() const { return end_reason_; }
  // Gives back the account's login slot (the connection ended or UNAUTHENTICATE).
  void release_login();

 private:
  struct CommandSpec;
  using Handler = void (Session::*)(const Command&);
  using StoreHandler = void (Session::*)(const Command&, mailstore::SieveScriptStore&);

  static const CommandSpec* find(const std::string& name);
  void dispatch(Parser::Event ev);
  void dispatch_command(Command cmd);
  void sasl_answer(Parser::Event ev);
  // NO for a command the client got wrong (counted; BYE after max_bad_commands).
  void refuse_bad(const char* kind, std::string_view text);
  // Appends the tagged-style result line and tells the observer.
  void reply(Status status, std::string_view code, std::string_view text);
  void update_limits();
  std::string capabilities() const;
  std::string sasl_value() const;
  void end_sasl();
  void login_failed(const char* outcome);

  // any_state.cpp
  void cmd_capability(const Command& cmd);
  void cmd_noop(const Command& cmd);
  void cmd_logout(const Command& cmd);
  // authenticate.cpp
  void cmd_authenticate(const Command& cmd);
  void cmd_unauthenticate(const Command& cmd);
  void cmd_starttls(const Command& cmd);
  // putscript.cpp
  void cmd_putscript(const Command& cmd, mailstore::SieveScriptStore& store);
  void cmd_checkscript(const Command& cmd, mailstore::SieveScriptStore& store);
  void cmd_havespace(const Command& cmd, mailstore::SieveScriptStore& store);
  // scripts.cpp
  void cmd_listscripts(const Command& cmd, mailstore::SieveScriptStore& store);
  void cmd_getscript(const Command& cmd, mailstore::SieveScriptStore& store);
  void cmd_setactive(const Command& cmd, mailstore::SieveScriptStore& store);
  void cmd_deletescript(const Command& cmd, mailstore::SieveScriptStore& store);
  void cmd_renamescript(const Command& cmd, mailstore::SieveScriptStore& store);

  // Compiles with the administrator's extensions and limits; the NO text is
  // the error lines joined with CRLF (putscript.cpp).
  sieve::ParseResult compile(std::string_view script) const;
  // The errors as the NO text: one line each, joined with CRLF.
  static std::string error_lines(const std::vector<sieve::Error>& errors);
  std::string warnings(const sieve::Script& script, mailstore::SieveScriptStore& store) const;
  struct Refusal {
    const char* code;
    std::string text;
    const char* reason;  // for Observer::script_refused
  };
  // Whether a script of `size` octets named `name` fits the quotas (putscript.cpp).
  std::optional<Refusal> quota_refusal(mailstore::SieveScriptStore& store, const std::string& name,
                                       std::uint64_t size) const;

  const Settings& settings_;
  Observer* observer_;
  Observer null_observer_;
  Parser parser_;
  std::string output_;
  std::string remote_ip_;
  bool tls_ = false;
  bool closing_ = false;
  std::string end_reason_;
  std::vector<std::string> mechanisms_;
  std::int64_t user_id_ = 0;
  std::string user_;
  bool holds_login_ = false;
  bool unauthenticated_limits_ = true;
  int bad_commands_ = 0;
  int failed_logins_ = 0;
  std::chrono::milliseconds pause_{0};
  bool pause_due_ = false;
  bool starttls_due_ = false;
  // The command waiting for run_store.
  std::optional<Command> pending_;
  StoreHandler pending_handler_ = nullptr;
  std::string current_;  // name of the command being answered (metrics)
  // AUTHENTICATE in progress.
  bool sasl_active_ = false;
  bool sasl_due_ = false;             // next() returns kSasl
  bool sasl_waiting_client_ = false;  // a challenge is out, the client's answer is the next "command"
  std::string sasl_mechanism_;
  SaslRequest sasl_request_;
};

}  // namespace postline::managesieve
