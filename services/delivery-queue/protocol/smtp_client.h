// The SMTP client protocol core, sans-I/O: server bytes in, client bytes and
// events out. No sockets, no DNS, no clock; the driver (delivery/remote_delivery)
// does the I/O, timeouts and TLS, and asks this core what to send next.
//
// One session delivers one message to the recipients of one destination:
//   greeting → EHLO (HELO fallback) → STARTTLS when offered (RFC 3207) → EHLO
//   → MAIL/RCPT.../DATA, pipelined when PIPELINING is offered (RFC 2920)
//   → message, dot-stuffed → QUIT.
// With Options::keep_open, a transaction that ends cleanly leaves the session
// idle instead of sending QUIT, and next_transaction() starts another one on
// the same connection (RFC 5321 3.3: several transactions per session):
//   RSET → MAIL/RCPT.../DATA → ... → quit().
// RSET first, and its reply awaited, because an idle connection may have been
// closed by the server meanwhile (a 421 or EOF): that shows up before MAIL is
// sent, as a host_failure(), so the driver reconnects and retries the message
// instead of counting a failed attempt.
// SIZE (RFC 1870) is checked before sending; a message needing SMTPUTF8
// (RFC 6531) to a server without it fails with 5.6.7; BODY=8BITMIME is
// declared when offered (RFC 6152); NOTIFY/ORCPT/RET/ENVID are passed on when
// the server offers DSN (RFC 3461).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace postline::queue::smtp {

// Limits on what a server may send us: a hostile or broken server must not
// make us buffer without bound.
inline constexpr size_t kMaxReplyLine = 4096;  // RFC 5321 says 512; be lenient
inline constexpr size_t kMaxReplyLines = 200;

struct Reply {
  int code = 0;
  std::vector<std::string> lines;  // text after "ddd-" / "ddd "
  // "550 5.1.1 no such user" (multi-line replies joined with spaces)
  std::string text() const;
};

// Incremental reply reader.
class ReplyParser {
 public:
  void feed(std::string_view bytes);
  // The next complete reply, if any. After an error, always nullopt.
  std::optional<Reply> next();
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  std::string buffer_;
  Reply partial_;
  std::string error_;
};

struct Recipient {
  std::string address;
  std::string notify;  // RFC 3461, as received ("" = not given)
  std::string orcpt;
};

struct Envelope {
  std::string mail_from;  // "" = null reverse-path
  std::vector<Recipient> recipients;
  std::string ret, envid;
  bool smtputf8 = false;   // the sender used SMTPUTF8, or addresses are non-ASCII
  // RFC 8689: MAIL FROM ... REQUIRETLS. Sent only over TLS to a server that
  // offers REQUIRETLS after STARTTLS; any other server fails the recipients
  // with 550 5.7.30 at the host level (the driver tries the next MX). Whether
  // the TLS is authenticated (MTA-STS or DANE) is the driver's part.
  bool requiretls = false;
  bool eight_bit = false;  // 8BITMIME body
  // For a server without 8BITMIME (RFC 6152 3): the 7-bit form of the message
  // (converted, and signed again), asked for only then, after EHLO. Without it,
  // or when it reports failure, the recipients fail with 554 5.6.3 - our
  // decision, the message is never sent 8-bit to a 7-bit server.
  struct SevenBit {
    bool ok = false;
    std::string message;  // when ok
    std::string error;    // when not: why the conversion is not possible
  };
  std::function<SevenBit()> seven_bit;
};

enum class TlsPolicy { kOpportunistic, kRequired, kOff };

struct Options {
  std::string ehlo_name = "localhost";
  TlsPolicy tls = TlsPolicy::kOpportunistic;
  bool tls_already = false;  // implicit TLS (not used for MX delivery)
  // AUTH PLAIN (RFC 4954) to a relayhost; sent only over TLS.
  std::string auth_username;
  std::string auth_password;  // never logged, never in a reply text
  // Leave a cleanly finished transaction idle (no QUIT) for next_transaction().
  bool keep_open = false;
};

// A recipient's outcome: the reply that decided it.
struct RecipientOutcome {
  char cls = '4';  // '2' delivered, '4' temporary, '5' permanent
  std::string reply;
  bool remote_reply = false;  // from the server (vs. our own diagnosis)
  bool dsn_passed = false;    // NOTIFY was handed on: the server reports success itself
};

class Client {
 public:
  Client(Options options, Envelope envelope, std::string_view message);

  // Bytes the driver must write now (may be empty).
  std::string take_output();
  // Server bytes as they arrive.
  void feed(std::string_view bytes);
  // The driver must run a TLS handshake now, then call tls_established() or
  // tls_failed(); bytes read before the handshake must be discarded.
  bool wants_tls() const { return state_ == State::kTlsHandshake; }
  void tls_established();
  void tls_failed(const std::string& why);
  // The handshake succeeded but the driver refuses the peer (its certificate
  // fails the MTA-STS or DANE check): the session ends with `reply` for every
  // recipient, as a host failure (the next MX may do).
  void tls_rejected(const std::string& reply);
  // EOF, reset or timeout from the driver.
  void connection_lost(const std::string& why);

  // The transaction is over (outcomes() valid). Either the session is over
  // too (closed(): write take_output(), i.e. QUIT, and close), or it is
  // idle() and may carry another transaction.
  bool done() const { return state_ == State::kDone || state_ == State::kIdle; }
  bool closed() const { return state_ == State::kDone; }
  bool idle() const { return state_ == State::kIdle; }
  // Starts another transaction on an idle session: RSET, then as for the
  // first. `message` must stay alive until done().
  void next_transaction(Envelope envelope, std::string_view message);
  // Ends an idle session: QUIT is in take_output(), then closed().
  void quit();
  // True when the current transaction runs on a session that carried one before.
  bool reused() const { return reused_; }
  // The session failed before any recipient got a definitive answer from this
  // host (greeting, EHLO, TLS, connection; on a reused session also a failed
  // RSET or a 421 to MAIL): the driver may try the next host, or reconnect.
  bool host_failure() const { return host_failure_; }
  // One outcome per recipient, in order (valid when done()).
  const std::vector<RecipientOutcome>& outcomes() const { return outcomes_; }

  bool tls_active() const { return tls_; }
  // The server answered EHLO (or HELO) before any TLS, and whether that
  // answer offered STARTTLS: tells "no STARTTLS" from a connection that never
  // got that far (RFC 8460 starttls-not-supported).
  bool greeted() const { return greeted_; }
  bool offered_starttls() const { return offered_starttls_; }
  // How far TLS got on this connection (TLS reporting, RFC 8460): EHLO not
  // reached; STARTTLS not offered; offered but refused; handshake failed;
  // established.
  enum class TlsStage { kNotReached, kNotOffered, kRefused, kHandshakeFailed, kEstablished };
  TlsStage tls_stage() const { return tls_stage_; }
  bool has_extension(const std::string& keyword) const { return extensions_.count(keyword) > 0; }
  // Message bytes as sent after DATA (dot-stuffed, CRLF, terminated): exposed for tests.
  static std::string encode_data(std::string_view message);
  static std::string base64(std::string_view bytes);

 private:
  enum class State { kGreeting, kEhlo, kHelo, kStartTls, kTlsHandshake, kAuth, kRset, kTransaction, kDataBody,
                     kIdle, kDone };
  enum class Cmd { kMail, kRcpt, kData, kDataEnd };

  void on_reply(const Reply& r);
  void send_ehlo();
  void after_ehlo();
  void begin_transaction();
  void maybe_auth();
  void send_rcpt(size_t i);
  void fail_all(char cls, const std::string& reply, bool remote, bool host_level);
  void finish();
  void set_envelope(Envelope envelope);
  std::string mail_command() const;
  std::string rcpt_command(const Recipient& r) const;

  Options options_;
  Envelope envelope_;
  std::string_view message_;
  std::string converted_;  // the 7-bit form, when message_ points at it
  ReplyParser parser_;
  State state_ = State::kGreeting;
  std::string output_;
  std::set<std::string> extensions_;
  std::set<std::string> auth_mechanisms_;
  uint64_t size_limit_ = 0;
  bool tls_ = false;
  TlsStage tls_stage_ = TlsStage::kNotReached;
  bool pipelining_ = false;
  bool dsn_ = false;
  std::deque<std::pair<Cmd, size_t>> pending_;
  bool mail_ok_ = false;
  size_t accepted_ = 0;
  size_t next_rcpt_ = 0;
  std::vector<std::optional<RecipientOutcome>> rcpt_;
  std::vector<RecipientOutcome> outcomes_;
  bool host_failure_ = false;
  bool reused_ = false;
  bool greeted_ = false;
  bool offered_starttls_ = false;
  // The connection cannot carry another transaction (lost, protocol error,
  // a 421 from the server).
  bool broken_ = false;
};

}  // namespace postline::queue::smtp
