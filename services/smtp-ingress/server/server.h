// The smtpd server: three listeners on one io_context, each connection a
// coroutine that moves bytes between a net::Stream and a protocol Session and
// answers the session's events through the Backend. Owns shutdown (stop
// accepting, close idle sessions, let transactions finish within a grace
// period) and TLS reload.
#pragma once

#include "common/net/listener.h"
#include "common/net/tls.h"
#include "services/smtp-ingress/protocol/session.h"
#include "services/smtp-ingress/server/antispam.h"
#include "services/smtp-ingress/server/backend.h"
#include "services/smtp-ingress/server/metrics.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace postline::smtp {

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t mx_port = 2525;
  uint16_t submission_port = 5587;
  uint16_t submissions_port = 4465;
  SessionConfig session;  // template: limits, hostname; per-connection fields filled in
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds data_timeout{600};
  net::ConnectionLimits connection_limits;
  // Authenticated sessions per account at once (smtp.max_sessions_per_user);
  // 0 = no limit. One stolen password cannot hold every slot.
  size_t max_sessions_per_user = 0;
};

class Server {
 public:
  // antispam may be null (no checks at all).
  Server(boost::asio::io_context& io, ServerOptions options, std::shared_ptr<net::TlsContext> tls, Backend& backend,
         SmtpMetrics& metrics, Antispam* antispam = nullptr);
  // Starts the listeners; returns (name, port) of each started one. Throws
  // std::runtime_error naming the listener when a port cannot be bound.
  std::vector<std::pair<std::string, uint16_t>> start();
  // Stop accepting, close idle sessions; `done` runs once every session has
  // ended or `grace` has passed.
  void shutdown(std::chrono::seconds grace, std::function<void()> done);
  size_t active() const { return connections_.size(); }

 private:
  struct Connection;
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, bool over_limit, ListenerKind kind);
  boost::asio::awaitable<void> handle_event(Connection& c, Event event);
  // Counts the connection for its account (smtp.max_sessions_per_user);
  // false when the account has its limit already.
  bool take_user_slot(Connection& c, int64_t user_id);
  void check_drained();

  boost::asio::io_context& io_;
  ServerOptions options_;
  std::shared_ptr<net::TlsContext> tls_;
  Backend& backend_;
  SmtpMetrics& metrics_;
  Antispam* antispam_;
  std::shared_ptr<net::ConnectionCounter> counter_;
  std::shared_ptr<net::ConnectionCounter> user_sessions_;  // keyed by user id; null = no limit
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::set<Connection*> connections_;
  bool stopping_ = false;
  std::function<void()> on_drained_;
  std::unique_ptr<boost::asio::steady_timer> grace_timer_;
};

std::string rfc5322_now();
std::string new_queue_id();

}  // namespace postline::smtp
