// One IMAP connection: reads bytes from a net::Stream, frames them with the
// sans-I/O Receiver, hands each command to the Dispatcher (commands/dispatch.h),
// writes responses, and handles the connection-level effects (STARTTLS, IDLE,
// close), metrics, the failed-login delay and the change notifier watches.
// All of a connection's state lives on the single I/O thread.
#pragma once

#include "common/net/stream.h"
#include "common/net/tls.h"
#include "services/imap-access/commands/dispatch.h"
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/protocol/deflate.h"
#include "services/imap-access/protocol/receiver.h"
#include "services/imap-access/server/metrics.h"
#include "services/imap-access/server/notifier.h"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace postline::imap {

struct ServerContext {
  Services services;
  ImapMetrics* metrics = nullptr;
  Notifier* notifier = nullptr;
  std::shared_ptr<net::TlsContext> tls;
  // Connections per client address that have not logged in
  // (imap.max_unauthenticated_per_ip); null = no limit.
  std::shared_ptr<net::ConnectionCounter> unauthenticated;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(net::tcp::socket socket, ServerContext& server, std::string listener, bool implicit_tls);
  ~Connection();
  asio::awaitable<void> run(bool over_limit);
  // Graceful shutdown: BYE now if waiting for a command, else after the current one.
  void stop();
  // Gives back the per-address and per-account slots this connection holds;
  // called by Server::serve when run() has ended (not from a destructor: at
  // process exit coroutine frames outlive the server context).
  void release_limits();

 private:
  asio::awaitable<void> handle(std::string text);
  asio::awaitable<void> flush();
  asio::awaitable<std::optional<std::string>> read_line();
  // Reads what arrived into the receiver; 0 when the stream ended.
  asio::awaitable<size_t> read_some();
  // COMPRESS=DEFLATE (RFC 4978): the deflate stage between the protocol and
  // the stream (TLS or TCP). read_some_inflated() reads through it,
  // write_deflated() writes one chunk through it and ends with a sync flush.
  asio::awaitable<size_t> read_some_inflated();
  asio::awaitable<bool> write_deflated(const Output& chunk);
  // Turns the stage on once the tagged OK is out; false if zlib cannot start.
  bool start_compress();
  void inflate_failed();
  asio::awaitable<void> idle(const std::string& tag);
  asio::awaitable<void> idle_watcher();
  void watch_selected();
  // Sharding: a logged-in session listens for its account moving to another
  // shard and then ends with BYE [UNAVAILABLE] (the client reconnects and
  // lands on the new shard).
  void watch_account();
  void on_moved(const mailstore::ChangeEvent& e);
  asio::awaitable<void> say_moved();
  // NOTIFY (RFC 5465): events of the whole account become pending responses
  // that notify_pump() sends while no command runs (waiting for one, or IDLE).
  void watch_notify();
  void on_notify_event(const mailstore::ChangeEvent& e);
  bool notify_work_pending() const;
  asio::awaitable<void> notify_pump();
  asio::awaitable<void> wait_for_pump();
  void wake_pump() { pump_wake_.cancel(); }
  // Queues bytes for flush(). A big FETCH chunk is moved in, not copied, when
  // nothing else is waiting.
  void send(std::string s) {
    if (out_.empty()) out_.text() = std::move(s);
    else out_.append(s);
  }
  bool too_many_bad();
  // Follows the session into and out of the not-authenticated state (login,
  // UNAUTHENTICATE): the receiver's limits and the per-address count of
  // unauthenticated connections. False: over that count, say BYE.
  bool sync_login_state();

  ServerContext& server_;
  asio::steady_timer wake_;  // cancelled to wake the IDLE watcher
  net::Stream stream_;
  Receiver receiver_;
  static constexpr size_t kBigReadBuffer = 64 * 1024;
  char small_buf_[2048];
  std::unique_ptr<char[]> big_buf_;
  std::unique_ptr<DeflateCodec> deflate_;  // set once COMPRESS DEFLATE is on
  SessionState session_;
  bool implicit_tls_;
  Dispatcher dispatcher_;  // after session_: it keeps a reference
  Output out_;
  bool writing_ = false;
  bool closing_ = false;
  bool broken_ = false;  // a write failed
  int failed_logins_ = 0;
  bool unauthenticated_limits_ = true;  // the receiver has the before-login limits
  bool counted_unauthenticated_ = false;
  bool admitted_ = true;  // within imap.max_unauthenticated_per_ip at connect
  bool waiting_for_command_ = false;
  bool stopping_ = false;
  const char* end_reason_ = "server_closed";  // for the disconnect line (logout and shutdown are seen there)
  uint64_t watch_id_ = 0;
  int64_t watched_mailbox_ = 0;
  uint64_t account_watch_id_ = 0;
  bool moved_ = false;
  // NOTIFY state owned by the connection (the spec lives in session_.notify).
  uint64_t user_watch_id_ = 0;
  uint64_t notify_generation_ = 0;
  asio::steady_timer pump_wake_;  // cancelled when there is something to send or a chance to send it
  asio::steady_timer pump_done_;  // cancelled when the pump leaves its busy section
  bool pump_running_ = false;
  bool pump_busy_ = false;        // reading the store / writing: no command may start
  std::set<int64_t> pending_status_;  // mailbox ids whose STATUS is due
  std::map<int64_t, std::chrono::steady_clock::time_point> last_status_;
  std::map<std::string, std::string> last_status_line_;  // mailbox name -> STATUS line sent last
  std::string pending_lines_;     // LIST responses (MailboxName, SubscriptionChange)
  bool reload_mailboxes_ = false; // an event for an unknown mailbox id: re-read the names
};

}  // namespace postline::imap
