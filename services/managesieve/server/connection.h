// One ManageSieve connection: reads bytes from a net::Stream into the
// sans-I/O Session (protocol/session.h) and does what it asks: writes its
// output, runs store commands on the database threads, relays SASL to authd,
// performs STARTTLS, pauses after a failed login, closes. It is also the
// session's Observer: log lines (tagged like imapd's), metrics, and the
// per-account login limit. All of a connection's state lives on the I/O
// thread, except while run_store runs (the connection awaits it).
#pragma once

#include "common/mailstore/sieve_scripts.h"
#include "common/net/listener.h"
#include "common/net/stream.h"
#include "common/net/tls.h"
#include "services/managesieve/protocol/session.h"
#include "services/managesieve/server/auth_client.h"
#include "services/managesieve/server/metrics.h"

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace postline::managesieve {

struct ServerContext {
  Settings settings;
  std::chrono::seconds login_timeout{60};
  std::chrono::seconds idle_timeout{1800};
  mailstore::SieveScriptStore* store = nullptr;
  asio::thread_pool* db_threads = nullptr;  // where store calls (and script compiles) run
  GrpcAuthenticator* auth = nullptr;
  ManageSieveMetrics* metrics = nullptr;
  std::shared_ptr<net::TlsContext> tls;  // null: no STARTTLS
  // Connections per client address that have not logged in
  // (managesieve.max_unauthenticated_per_ip); null = no limit.
  std::shared_ptr<net::ConnectionCounter> unauthenticated;
  // Logged-in connections per account (managesieve.max_connections_per_user); null = no limit.
  std::shared_ptr<net::ConnectionCounter> user_slots;
  // Sharding: places the account on its shard (ShardedSieveScriptStore::assign;
  // throws for an unknown shard). Null: one store.
  std::function<void(std::int64_t, const std::string&)> place_user;
};

class Connection : public std::enable_shared_from_this<Connection>, private Observer {
 public:
  Connection(net::tcp::socket socket, ServerContext& server);
  ~Connection() override;
  asio::awaitable<void> run(bool over_limit);
  // Graceful shutdown: BYE now if waiting for a command, else after the current one.
  void stop();
  // Gives back the per-address and per-account slots; called by Server::serve
  // when run() has ended.
  void release_limits();

 private:
  asio::awaitable<bool> flush();
  // Follows the session into and out of the authenticated state: the
  // per-address count of connections that have not logged in. False: over it.
  bool sync_login_state();
  std::string tags() const;

  // Observer
  void info(const std::string& line) override;
  void warn(const std::string& line) override;
  void command(const std::string& name, const std::string& result) override;
  void login(const std::string& outcome) override;
  void script_stored() override;
  void script_refused(const std::string& reason) override;
  void protocol_error(const std::string& kind) override;
  bool admit_user(std::int64_t user_id) override;
  bool place_user(std::int64_t user_id, const std::string& shard) override;
  void release_user(std::int64_t user_id) override;

  ServerContext& server_;
  net::Stream stream_;
  std::string session_id_;
  std::string remote_address_;
  Session session_;
  char buf_[16384];
  bool waiting_ = false;   // in a read, between commands
  bool stopping_ = false;
  bool counted_unauthenticated_ = false;
  const char* end_reason_ = "client_closed";
};

}  // namespace postline::managesieve
