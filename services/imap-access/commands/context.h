// What a command handler gets: the parsed command, the session state, a way to
// send untagged responses, and the services behind the session (the mailstore,
// authentication, metrics). Handlers return the tagged result; only the
// dispatcher turns errors into NO/BAD (Dovecot's rule: clients get a generic
// text, the log gets the detail).
#pragma once

#include "common/authclient/auth_types.h"
#include "common/async/offload.h"
#include "common/db/unavailable.h"
#include "common/mailstore/mail_store.h"
#include "common/net/byte_budget.h"
#include "common/net/listener.h"
#include "services/imap-access/commands/output.h"
#include "services/imap-access/protocol/encoder.h"
#include "services/imap-access/protocol/reader.h"
#include "services/imap-access/protocol/session_state.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace postline::imap {

namespace asio = boost::asio;

struct Settings {
  size_t max_line = 65536;
  uint64_t max_literal = 50u << 20;
  // imap.max_inflight_literals, shared by every connection; null = no ceiling.
  std::shared_ptr<net::ByteBudget> literal_budget;
  // Budget bytes per literal byte (ReceiverLimits::cost_factor): an APPEND
  // holds its message about this many times over while it runs (command
  // text, the stored form, the PostgreSQL parameter and libpq's buffer),
  // measured with tests/e2e/test_memory_under_attack.py.
  uint64_t literal_cost_factor = 5;
  uint64_t max_unauthenticated_command = 8192;  // imap.max_unauthenticated_command
  int max_bad_commands = 20;
  // Without TLS, LOGIN/AUTHENTICATE only from loopback (unless that is off
  // too) unless allow_plaintext_auth is set.
  bool allow_plaintext_auth = false;
  bool allow_plaintext_auth_from_loopback = true;
  std::chrono::seconds idle_timeout{1800};
  std::chrono::seconds login_timeout{30};
  bool tls_available = false;
};

// authd's answers (common/authclient/auth_types.h, shared with managesieved).
using AuthStatus = authclient::AuthStatus;
using AuthOutcome = authclient::AuthOutcome;  // moving: the login waits (NO [UNAVAILABLE])
using QuotaReply = authclient::QuotaReply;

// Implemented in server/ over gRPC; a fake in tests.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual asio::awaitable<AuthOutcome> authenticate(const std::string& user, const std::string& password,
                                                    const std::string& mechanism, const std::string& remote_ip) = 0;
  // SASL relayed to authd (SaslStart/SaslStep). Payloads are raw (decoded) bytes.
  using SaslReply = authclient::SaslReply;
  virtual asio::awaitable<SaslReply> sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                                const std::string& remote_ip) = 0;
  virtual asio::awaitable<SaslReply> sasl_step(const std::string& conversation_id, const std::string& response) = 0;
  // Quota roots: `address` empty means the acting user's own. authd checks
  // that the acting user may do it (own root: read; admins: everything).
  virtual asio::awaitable<QuotaReply> get_quota(int64_t acting_user_id, const std::string& address) {
    co_return QuotaReply{};
  }
  virtual asio::awaitable<QuotaReply> set_quota(int64_t acting_user_id, const std::string& address,
                                                int64_t quota_bytes, int64_t quota_messages) {
    co_return QuotaReply{};
  }
};

// Observability hooks (implemented with prometheus-cpp in server/).
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void login(const std::string& outcome) = 0;
  // A NOTIFY (RFC 5465) response sent: kind status|list|selected|overflow.
  virtual void notification(const std::string& kind) {}
  // A FETCH body large enough to be sent in pieces instead of held whole.
  virtual void body_streamed(uint64_t bytes) {}
};

// Whether this session may send a password: over TLS, from a loopback
// address (the same host: nothing crosses a network), or when the operator
// allows plaintext (imap.allow_plaintext_auth).
bool may_authenticate(const SessionState& session, const Settings& settings);

struct Services {
  Settings settings;
  mailstore::MailStore* store = nullptr;
  asio::thread_pool* db_threads = nullptr;  // where blocking store calls run
  Authenticator* auth = nullptr;
  Observer* observer = nullptr;
  std::function<std::shared_ptr<asio::ssl::context>()> tls_context;  // null when TLS is not configured
  // Logged-in connections per account (imap.max_connections_per_user), keyed
  // by user id; null = no limit. Shared by every connection of this imapd.
  std::shared_ptr<net::ConnectionCounter> user_slots;
  // Sharding: tells the store which shard a user who just logged in is on
  // (ShardedMailStore::assign); throws when this imapd has no such shard.
  // Null: one store, no routing (unit tests).
  std::function<void(int64_t user_id, const std::string& shard)> assign_shard;
};

// Gives back the session's slot in Services::user_slots, if it holds one
// (UNAUTHENTICATE, the end of the connection).
void release_user_slot(SessionState& session, Services& services);

// The tagged result of a command.
struct Result {
  Status status = Status::kOk;
  std::string code;  // response code without brackets, may be empty
  std::string text;
  static Result ok(std::string text, std::string code = "") { return {Status::kOk, std::move(code), std::move(text)}; }
  static Result no(std::string text, std::string code = "") { return {Status::kNo, std::move(code), std::move(text)}; }
  static Result bad(std::string text, std::string code = "") { return {Status::kBad, std::move(code), std::move(text)}; }
};

// Connection-level effects a handler asks for (performed by the server loop).
// kCompress: after the tagged OK (sent uncompressed) both directions are
// DEFLATE (RFC 4978).
enum class Effect { kNone, kStartTls, kIdle, kClose, kCompress };

// A failure the client did not cause and can retry (database down): NO [UNAVAILABLE].
class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A well-formed argument the server refuses before anything runs (a mailbox
// name that is not valid modified UTF-7): tagged NO [code] what().
class Refused : public std::runtime_error {
 public:
  Refused(const std::string& text, std::string code) : std::runtime_error(text), code(std::move(code)) {}
  std::string code;
};

struct Context {
  SessionState& session;
  Services& services;
  std::string tag;
  std::string command;  // upper-case name, "UID FETCH" for UID forms
  bool uid = false;     // the UID form
  // Positioned after the command name. A handler reads it once, through its
  // parser in protocol/command_args.h, before it changes anything.
  Reader& args;
  // Queues an untagged response (complete line(s), CRLF included).
  std::function<void(std::string)> send;
  // Writes what was queued so far (large FETCH responses stream out).
  std::function<asio::awaitable<void>()> flush;
  // Sends a continuation request ("+ text") and reads the client's next line
  // (AUTHENTICATE); nullopt when the connection ended.
  std::function<asio::awaitable<std::optional<std::string>>(const std::string&)> continuation;
  // Queues a response that refers to bytes it does not own (FETCH bodies), for
  // a gathering write; without it, emit() flattens into send().
  std::function<void(Output)> send_output;
  Effect effect = Effect::kNone;

  void emit(Output out) {
    if (send_output) send_output(std::move(out));
    else send(out.flatten());
  }

  // Runs fn(mailstore::MailStore&) on the database threads without blocking I/O.
  template <typename Fn>
  auto store(Fn fn) -> asio::awaitable<std::invoke_result_t<Fn&, mailstore::MailStore&>> {
    auto* store = services.store;
    // Named, not a temporary inside co_await: GCC 12 destroys such temporaries
    // twice across a suspension. Callers pass named lambdas for the same reason.
    auto call = [store, fn = std::move(fn)]() mutable {
      try {
        return fn(*store);
      } catch (const db::Unavailable& e) {
        throw Unavailable(e.what());
      }
    };
    auto result = co_await async::offload(*services.db_threads, std::move(call));
    co_return result;
  }
};

}  // namespace postline::imap
