// One IMAP session without sockets or a database, for the command unit tests:
// an io_context, the database thread pool, a MemoryMailStore, a fake authd and
// a SessionState, with commands run through the Dispatcher exactly as
// server/connection.cpp runs them. What a command sends is collected byte for
// byte, the tagged line included.
//
// Commands are given as the Receiver hands them to the connection: one
// complete command, literals inline and without the final CRLF
// ("a APPEND INBOX {5}\r\nhello"). client() instead feeds raw client bytes
// through a Receiver, continuation requests included.
//
// Several harnesses can share one store and authd (another_session()): a
// second client of the same account. A change made through the store does
// not reach a session by itself; mark_dirty() does what the change notifier
// does (server/notifier.cpp), and the next command brings the view up to date.
#pragma once

#include "common/mailstore/memory/memory_mail_store.h"
#include "services/imap-access/commands/dispatch.h"
#include "services/imap-access/protocol/receiver.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::imap::testing {

// authd in memory: accounts by address, their limits and admin flag; SASL
// (SCRAM) conversations are scripted.
class FakeAuthenticator final : public Authenticator {
 public:
  struct Account {
    std::string password;
    int64_t user_id = 0;
    int64_t quota_bytes = 0, quota_messages = 0;  // 0 = unlimited
    bool admin = false;
    bool disabled = false;
  };
  // Adds (or replaces) an account; returns its user id.
  int64_t add(const std::string& address, const std::string& password, bool admin = false);
  Account& account(const std::string& address) { return accounts_.at(address); }

  bool unreachable = false;                // every call answers kUnavailable
  std::deque<SaslReply> sasl_replies;      // answers to sasl_start, then to each sasl_step
  std::vector<std::string> sasl_steps;     // responses passed to sasl_step
  std::optional<std::string> sasl_initial; // the initial response sasl_start got
  std::vector<std::string> attempts;       // "user:password:mechanism" of every authenticate()

  asio::awaitable<AuthOutcome> authenticate(const std::string& user, const std::string& password,
                                            const std::string& mechanism, const std::string& remote_ip) override;
  asio::awaitable<SaslReply> sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                        const std::string& remote_ip) override;
  asio::awaitable<SaslReply> sasl_step(const std::string& conversation_id, const std::string& response) override;
  asio::awaitable<QuotaReply> get_quota(int64_t acting_user_id, const std::string& address) override;
  asio::awaitable<QuotaReply> set_quota(int64_t acting_user_id, const std::string& address, int64_t quota_bytes,
                                        int64_t quota_messages) override;

 private:
  SaslReply next_sasl();
  const std::pair<const std::string, Account>* by_id(int64_t user_id) const;
  std::map<std::string, Account> accounts_;
  int64_t next_id_ = 1;
};

class SessionHarness {
 public:
  static constexpr const char* kUser = "user@example.test";
  static constexpr const char* kPassword = "secret";

  // The harness's client is a remote host (192.0.2.1) without TLS, and the
  // server allows plaintext LOGIN unless a test says otherwise: most tests are
  // about what happens after login.
  static Settings plaintext_settings() {
    Settings s;
    s.allow_plaintext_auth = true;
    return s;
  }
  explicit SessionHarness(Settings settings = plaintext_settings());
  ~SessionHarness();
  SessionHarness(const SessionHarness&) = delete;
  SessionHarness& operator=(const SessionHarness&) = delete;

  // A second session on the same store and authd (its own view and state).
  std::unique_ptr<SessionHarness> another_session();

  // Runs one complete command; returns every byte the session sent for it.
  std::string run(std::string_view command);
  // Feeds client bytes through a Receiver as the connection does (limits from
  // the settings) and runs every complete command; returns what was sent,
  // "+ Ready for literal data" continuations included.
  std::string client(std::string_view bytes);
  // What the last command came to (effect, status, close...).
  const Dispatched& last() const { return last_; }
  // Lines the client answers continuation requests with (AUTHENTICATE); when
  // none is left the connection counts as gone.
  std::deque<std::string> client_lines;
  int flushes() const { return flushes_; }

  // Set-up shortcuts. They throw std::runtime_error with the response when
  // the command does not end in OK.
  void login(const std::string& user = kUser, const std::string& password = kPassword);
  std::string select(const std::string& mailbox = "INBOX");  // the SELECT's response
  // Appends through the store, as another session or a delivery would (the
  // session does not see it before mark_dirty() and a command). Returns the UID.
  // `binary`: stored exactly as given (as APPEND with literal8), e.g. to keep
  // a corpus message's bare LFs. Unless `recent`, the message counts as seen
  // by some earlier session already (its \Recent claimed): tests that are not
  // about \Recent see the IMAP4rev1 answers without it.
  uint32_t add_message(std::string_view message, const std::string& mailbox = "INBOX",
                       std::vector<std::string> flags = {}, std::optional<int64_t> internal_date = {},
                       bool binary = false, bool recent = false);
  // What the change notifier does when the selected mailbox changed.
  void mark_dirty() { session_.mailbox_dirty = true; }

  mailstore::MemoryMailStore& store();
  FakeAuthenticator& auth();
  SessionState& session() { return session_; }
  Services& services() { return services_; }
  int64_t user_id() const { return session_.user_id; }
  // The store's clock (internal dates, OLDER/YOUNGER, age of expunge history).
  std::chrono::system_clock::time_point now() const;
  void advance(std::chrono::seconds by);

 private:
  struct Shared;
  SessionHarness(std::shared_ptr<Shared> shared, Settings settings);

  std::shared_ptr<Shared> shared_;
  asio::io_context io_;
  Services services_;
  SessionState session_;
  Dispatcher dispatcher_;
  Receiver receiver_;
  std::string out_;
  Dispatched last_;
  int flushes_ = 0;
};

// The response split into lines (CRLF removed; a literal's bytes stay in
// the line that announced it).
std::vector<std::string> response_lines(std::string_view response);
// The last line of a response (the tagged one), CRLF excluded.
std::string last_line(std::string_view response);
// A message of tests/corpus/mime ("02-multipart-alternative.eml").
std::string corpus_message(const std::string& name);

}  // namespace postline::imap::testing
