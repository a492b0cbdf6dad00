// What the sans-I/O session asks of the server, and what the server answers.
// The session never talks to authd or queued itself: it emits one of these
// events, stops consuming input, and resumes when the server calls the
// matching Session::on_… method. Plain structs, no protobuf, so the protocol
// layer stays independent of the RPC layer.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace postline::smtp {

enum class RecipientKind { kLocal, kRemote, kUnknown };

struct EnvelopeRecipient {
  std::string address;
  bool local = false;
  int64_t user_id = 0;
  std::string notify;  // DSN NOTIFY, upper-cased, "" when not given
  std::string orcpt;   // DSN ORCPT, as given
  // Local: the user's limits from authd at RCPT (0 = unlimited); queued
  // delivers during Enqueue under them (EnvelopeRecipient.quota_known).
  bool quota_known = false;
  int64_t quota_bytes = 0;
  int64_t quota_messages = 0;
  std::string shard;    // local: the mailstore shard (docs/DESIGN.md "Sharding")
  bool moving = false;  // local: being moved between shards at RCPT
};

struct Envelope {
  std::string mail_from;  // "" = null reverse-path
  std::vector<EnvelopeRecipient> recipients;
  std::string helo;
  std::string client_ip;
  std::string authenticated_user;
  std::string dsn_ret;    // FULL | HDRS | ""
  std::string dsn_envid;  // xtext as given
  bool smtputf8 = false;
  bool requiretls = false;  // RFC 8689 MAIL FROM ... REQUIRETLS (only over TLS)
  std::string body_type;  // 7BIT | 8BITMIME | ""
  // Set by the server's antispam verdict ("Junk"); "" = INBOX.
  std::string target_mailbox;
};

// RCPT: "who is this?" → Session::on_resolved.
struct ResolveRecipientEvent {
  std::string address;
  // RCPT only (not the submission sender check): the rest of the triplet the
  // MX antispam checks (greylisting, DNSBL, rate limits) need.
  bool is_recipient = false;
  std::string mail_from;
  std::string helo;
  std::string trace_id;  // the transaction's queue id, sent to authd as x-postline-trace
};

// A refusal decided outside the protocol layer (antispam policy): the session
// sends exactly this reply. code 0 = no refusal.
struct PolicyRefusal {
  int code = 0;
  std::string enhanced;
  std::string text;
  std::string reason;  // metric label for messages_rejected_total
};

// AUTH: check these credentials → Session::on_authenticated. The password is
// a secret: never log this struct.
struct AuthenticateEvent {
  std::string mechanism;
  std::string username;
  std::string password;
};

// AUTH SCRAM-SHA-256: one step of a SASL exchange relayed to authd
// (SaslStart when `start`, else SaslStep) → Session::on_sasl. `data` is the
// client's decoded message: a secret-bearing proof, never logged.
struct SaslEvent {
  bool start = false;
  std::string mechanism;
  std::string conversation_id;  // steps after the first
  bool has_data = false;        // start: the client sent an initial response
  std::string data;
};

// End of DATA/BDAT LAST: commit this message → Session::on_enqueued.
// `data` already carries our Received: header (and Message-ID/Date on submission).
struct EnqueueEvent {
  std::string queue_id;
  Envelope envelope;
  std::string data;
  // How many leading bytes of `data` are headers smtpd added (Received: ...):
  // sender authentication must judge the message as the client sent it.
  size_t added_header_bytes = 0;
};

// BURL (RFC 4468): fetch the bytes of this URLAUTH URL (RFC 4467) as the
// submission server acting for the authenticated user → Session::on_url_fetched.
// The URL carries its authorization token: log it only through redact_url().
struct FetchUrlEvent {
  std::string url;
  std::string submit_user;  // canonical address (the access identifier's submit+<user>)
  int64_t submit_user_id = 0;
  uint64_t max_size = 0;    // what is left of smtp.max_message_size
};

// STARTTLS accepted: run the server-side handshake → Session::on_tls_started
// (or close the connection if it fails).
struct StartTlsEvent {};

using Event = std::variant<ResolveRecipientEvent, AuthenticateEvent, EnqueueEvent, StartTlsEvent, SaslEvent,
                           FetchUrlEvent>;

struct ResolvedTarget {
  RecipientKind kind = RecipientKind::kUnknown;
  int64_t user_id = 0;
  std::string address;
  bool quota_known = false;  // local: authd sent the user's limits
  int64_t quota_bytes = 0;
  int64_t quota_messages = 0;
  std::string shard;    // local: the mailstore shard
  bool moving = false;  // local: being moved between shards
};

struct Resolution {
  bool available = true;  // false: authd unreachable / failed → 451 4.4.3
  RecipientKind kind = RecipientKind::kUnknown;
  std::vector<ResolvedTarget> targets;
  PolicyRefusal refusal;  // antispam said no (checked before authd is asked); last: aggregates stay valid
};

// kTooManySessions: the credentials were right, but the account has
// smtp.max_sessions_per_user authenticated sessions already (set by the server).
enum class AuthResult { kOk, kInvalid, kThrottled, kDisabled, kTemporaryFailure, kTooManySessions };

struct AuthOutcome {
  AuthResult result = AuthResult::kTemporaryFailure;
  std::string email;  // canonical account address when kOk
  int64_t user_id = 0;
};

struct SaslAnswer {
  enum class State { kContinue, kSuccess, kFailure, kUnavailable } state = State::kUnavailable;
  std::string challenge;        // raw bytes: next challenge, or SCRAM's server-final on success
  std::string conversation_id;  // kContinue
  AuthResult result = AuthResult::kTemporaryFailure;  // kFailure: why
  std::string email;            // kSuccess
  int64_t user_id = 0;          // kSuccess
};

struct UrlFetched {
  enum class Status {
    kOk,
    kNotAuthorized,  // not a URLAUTH URL, wrong token/access/user, expired: 554 5.7.0
    kNotFound,       // authorized, but the message or part is gone: 554 5.6.6
    kTooBig,         // over what is left of the size limit: 552 5.3.4
    kUnavailable,    // queued (or its database, or authd) did not answer: 451 4.4.1
  } status = Status::kUnavailable;
  std::string data;
  std::string reason;  // for the log
};

// The URL without its token (everything after the last ':' of ";URLAUTH=..."),
// for log lines: the token is a bearer credential.
std::string redact_url(std::string_view url);

struct EnqueueOutcome {
  bool committed = false;
  std::string queue_id;  // as reported by queued
  PolicyRefusal refusal;  // antispam refused the message at end of data (nothing queued)
};

}  // namespace postline::smtp
