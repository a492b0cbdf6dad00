// The ESMTP server session as a sans-I/O state machine (RFC 5321 and the
// extensions in docs/smtp.md). Bytes go in with feed(); reply bytes come out
// of take_output(); anything that needs the outside world (recipient lookup,
// authentication, enqueueing, the TLS handshake) comes out of take_event() and
// is answered with the matching on_…() call. While an event is outstanding the
// session consumes no input, which is what keeps pipelined commands in order
// (RFC 2920) and bounds the buffer: wants_input() tells the server when to read.
//
// Commands live in protocol/commands/ (one family per file); this class holds
// the state they share. No sockets, no clocks, no randomness: the queue id and
// the date come from SessionConfig callbacks so transcripts are reproducible.
#pragma once

#include "common/net/byte_budget.h"
#include "services/smtp-ingress/protocol/data_reader.h"
#include "services/smtp-ingress/protocol/events.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::smtp {

enum class ListenerKind { kMx, kSubmission, kSubmissions };
const char* listener_name(ListenerKind kind);

struct SessionConfig {
  ListenerKind listener = ListenerKind::kMx;
  std::string hostname = "localhost";
  std::string remote_ip;
  std::string remote_address;  // "ip:port", for log lines
  uint64_t max_message_size = 50ull * 1024 * 1024;
  size_t max_recipients = 100;
  size_t max_line_length = 1000;  // including CRLF
  size_t max_header_size = 256 * 1024;
  int max_errors = 10;
  int max_auth_failures = 3;
  int max_messages = 100;
  bool tls_available = false;       // a certificate is configured: STARTTLS possible
  bool tls_active = false;          // implicit TLS (465): already encrypted
  std::string tls_version;          // when tls_active: for the Received: header
  std::string tls_cipher;
  bool allow_plaintext_auth = false;
  std::function<std::string()> new_queue_id = [] { return std::string("0"); };
  std::function<std::string()> now_rfc5322 = [] { return std::string("Thu, 1 Jan 1970 00:00:00 +0000"); };
  std::function<std::string()> random_token = [] { return std::string("0"); };
  // Shared by every session of the server (smtp.max_inflight_data); null = no ceiling.
  std::shared_ptr<net::ByteBudget> data_budget;
  // Budget bytes charged per message byte: until queued has the message,
  // smtpd holds it several times over (the received data, the copy with the
  // trace headers, the antispam checks' canonical forms, the gRPC request and
  // its serialised form), so the budget bounds the memory, not one copy.
  // smtpd sets it from tests/e2e/test_memory_under_attack.py's measurement.
  uint64_t data_cost_factor = 1;
};

// Hooks for metrics and logs. Defaults do nothing, so tests can observe only
// what they assert. Never receives secrets.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void on_command(std::string_view verb) {}
  virtual void on_reply(int code) {}
  virtual void on_message_accepted(std::string_view queue_id, uint64_t size) {}
  virtual void on_message_rejected(std::string_view reason) {}
  virtual void on_limit(std::string_view limit) {}
  virtual void on_auth(std::string_view mechanism, std::string_view outcome) {}
  virtual void on_burl(std::string_view result) {}  // ok, not_authorized, not_found, too_big, unavailable, refused
  virtual void on_log(int level, std::string_view line) {}  // 0 debug, 1 info, 2 warn
};

class Session {
 public:
  explicit Session(SessionConfig config, SessionObserver* observer = nullptr);

  // The 220 greeting; call once before feeding.
  void start();
  void feed(std::string_view bytes);
  std::string take_output();
  std::optional<Event> take_event();

  void on_resolved(const Resolution& r);
  void on_authenticated(const AuthOutcome& o);
  void on_sasl(const SaslAnswer& a);
  void on_enqueued(const EnqueueOutcome& o);
  void on_tls_started(std::string version, std::string cipher);
  void on_url_fetched(const UrlFetched& f);

  // The connection idled out: emit 421 and close.
  void on_timeout();
  // The server is stopping: if between transactions, say 421 and close.
  bool shutdown_if_idle();

  bool closed() const { return closed_; }
  bool wants_input() const { return !closed_ && !event_pending_ && !awaiting_tls_; }
  bool in_data() const { return mode_ == Mode::kData || mode_ == Mode::kBdat; }
  bool in_transaction() const { return tx_.active; }
  bool authenticated() const { return !auth_user_.empty(); }
  const std::string& authenticated_user() const { return auth_user_; }
  bool tls_active() const { return tls_active_; }
  size_t buffered() const { return in_.size(); }

 private:
  enum class Mode { kCommand, kAuthResponse, kData, kBdat };
  enum class Pending { kNone, kRcpt, kSender, kAuth, kSasl, kEnqueue, kBurl };

  struct RcptRequest {
    std::string address;
    std::string notify;
    std::string orcpt;
  };
  struct Transaction {
    bool active = false;
    // Allocated at MAIL FROM, so the RCPT look-ups already carry it as the
    // message's trace id (authd logs it); queued keeps it as the queue id.
    std::string queue_id;
    uint64_t size = 0;  // of the message as enqueued, for the log line at 250
    uint64_t declared_size = 0;  // MAIL FROM SIZE= (RFC 1870), 0 = not given; a hint only
    std::string mail_from;
    bool smtputf8 = false;
    bool requiretls = false;  // MAIL FROM ... REQUIRETLS (RFC 8689)
    std::string body_type;
    std::string dsn_ret;
    std::string dsn_envid;
    size_t rcpt_accepted = 0;  // RCPT commands answered 250
    std::vector<EnvelopeRecipient> recipients;
    // BDAT state (RFC 3030).
    bool bdat_started = false;
    bool bdat_failed = false;  // an earlier chunk was refused: discard the rest
    bool bdat_no_storage = false;  // ... because smtp.max_inflight_data was reached (452, not 552)
    std::string data;
  };

  // core (session.cpp)
  void process();
  bool process_command_line();
  void dispatch(std::string_view line);
  void reply(int code, std::string_view enhanced, std::string_view text);
  void raw_reply(int code, std::string text);  // pre-formatted (EHLO, greeting)
  void error_reply(int code, std::string_view enhanced, std::string_view text);
  void close_with(int code, std::string_view enhanced, std::string_view text);
  void emit(Event e);
  void reset_transaction();
  void log(int level, std::string_view line);
  // The client for log tags: "ip:port" from the server, the bare IP otherwise (tests).
  const std::string& client_address() const {
    return config_.remote_address.empty() ? config_.remote_ip : config_.remote_address;
  }

  // commands/hello.cpp
  void cmd_ehlo(std::string_view args, bool extended);
  // commands/mail.cpp
  void cmd_mail(std::string_view args);
  bool sender_allowed(std::string_view sender) const;
  // commands/rcpt.cpp
  void cmd_rcpt(std::string_view args);
  // commands/data.cpp
  void cmd_data(std::string_view args);
  bool process_data();
  // DATA content from `input` (in_, or straight from the caller's read
  // buffer); *used = octets consumed; true when the message ended.
  bool take_data(std::string_view input, size_t* used);
  void finish_message(std::string message, bool bare_newline, bool too_big);
  // commands/bdat.cpp
  void cmd_bdat(std::string_view args);
  bool process_bdat();
  // commands/burl.cpp
  void cmd_burl(std::string_view args);
  bool burl_offered() const { return submission() && authenticated(); }
  bool burl_last_ = false;
  std::string burl_url_;  // the URL being fetched (for the log, redacted)
  // commands/auth.cpp
  void cmd_auth(std::string_view args);
  void auth_response(std::string_view line);
  void auth_decoded(std::string_view mechanism, std::string_view authzid, std::string_view user,
                    std::string_view pass);
  void auth_fail_count();
  void auth_result(AuthResult result, const std::string& email, int64_t user_id);
  void sender_resolved(const Resolution& r);
  int64_t auth_user_id_ = 0;
  int64_t sasl_user_id_ = 0;
  std::string sasl_conversation_;
  bool sasl_final_sent_ = false;  // SCRAM server-final sent; waiting for the empty answer
  std::string sasl_email_;
  // commands/starttls.cpp
  void cmd_starttls(std::string_view args);
  // commands/misc.cpp
  void cmd_rset(std::string_view args);
  void cmd_noop(std::string_view args);
  void cmd_quit(std::string_view args);
  void cmd_help(std::string_view args);
  void cmd_vrfy(std::string_view args);
  void cmd_expn(std::string_view args);
  // commands/message.cpp
  std::string build_headers(const std::string& queue_id, const std::string& message) const;
  std::string protocol_name() const;

  bool submission() const { return config_.listener != ListenerKind::kMx; }
  bool auth_offered() const { return submission() && (tls_active_ || config_.allow_plaintext_auth); }
  bool starttls_offered() const { return config_.tls_available && !tls_active_; }

  SessionConfig config_;
  SessionObserver* observer_;
  SessionObserver null_observer_;

  std::string in_;
  std::string out_;
  Mode mode_ = Mode::kCommand;
  bool discarding_line_ = false;  // an over-long line: drop bytes up to its LF
  bool closed_ = false;
  bool event_pending_ = false;
  bool awaiting_tls_ = false;
  std::optional<Event> event_;
  Pending pending_ = Pending::kNone;

  std::string helo_;
  bool esmtp_ = false;
  bool tls_active_ = false;
  std::string tls_version_, tls_cipher_;
  std::string auth_user_;
  std::string auth_mechanism_;  // during a multi-step AUTH
  std::string auth_username_;   // LOGIN: the username step's answer
  int auth_step_ = 0;
  int errors_ = 0;
  int auth_failures_ = 0;
  int messages_ = 0;

  Transaction tx_;
  Transaction pending_tx_;  // MAIL waiting for the sender ownership lookup
  RcptRequest rcpt_;
  DataReader data_reader_;
  net::ByteLease data_lease_{config_.data_budget.get()};  // the message bytes this session holds
  bool data_over_budget_ = false;                    // DATA: stopped storing, answer 452 4.3.1
  uint64_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  enum class BdatError { kNone, kNoMail, kNoRecipients, kTooBig, kNoStorage };
  BdatError bdat_error_ = BdatError::kNone;  // consume this chunk, then refuse it
  uint64_t bdat_chunk_size_ = 0;
  void bdat_chunk_done();
};

}  // namespace postline::smtp
