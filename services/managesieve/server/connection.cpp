#include "services/managesieve/server/connection.h"

#include "common/async/offload.h"
#include "common/log/log.h"
#include "common/log/printable.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace postline::managesieve {

Connection::Connection(net::tcp::socket socket, ServerContext& server)
    : server_(server),
      stream_(std::move(socket)),
      session_id_(log::new_session_id()),
      remote_address_(stream_.remote_address()),
      session_(server.settings, stream_.remote_ip(), false, this) {}

// Touches nothing outside the connection (at process exit coroutine frames
// may outlive the server); run() and release_limits() do the rest.
Connection::~Connection() = default;

std::string Connection::tags() const {
  std::string t = "[s:" + session_id_ + "] [c:" + remote_address_ + "]";
  if (session_.authenticated()) t += " [u:" + log::tag_value(session_.user()) + "]";
  return t;
}

void Connection::info(const std::string& line) { spdlog::info("{} {}", tags(), line); }
void Connection::warn(const std::string& line) { spdlog::warn("{} {}", tags(), line); }
void Connection::command(const std::string& name, const std::string& result) {
  server_.metrics->command(name, result);
}
void Connection::login(const std::string& outcome) { server_.metrics->login(outcome); }
void Connection::script_stored() { server_.metrics->script_stored(); }
void Connection::script_refused(const std::string& reason) { server_.metrics->script_refused(reason); }
void Connection::protocol_error(const std::string& kind) { server_.metrics->protocol_error(kind); }

bool Connection::admit_user(std::int64_t user_id) {
  return !server_.user_slots || server_.user_slots->try_add(std::to_string(user_id));
}

bool Connection::place_user(std::int64_t user_id, const std::string& shard) {
  if (!server_.place_user) return true;
  try {
    server_.place_user(user_id, shard);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void Connection::release_user(std::int64_t user_id) {
  if (server_.user_slots) server_.user_slots->remove(std::to_string(user_id));
}

bool Connection::sync_login_state() {
  auto* counter = server_.unauthenticated.get();
  if (!counter) return true;
  const bool before_login = !session_.authenticated();
  if (!before_login && counted_unauthenticated_) {
    counter->remove(stream_.remote_ip());
    counted_unauthenticated_ = false;
  } else if (before_login && !counted_unauthenticated_) {
    if (!counter->try_add(stream_.remote_ip())) {
      server_.metrics->connection_refused("per_ip");
      return false;
    }
    counted_unauthenticated_ = true;
  }
  return true;
}

void Connection::release_limits() {
  if (counted_unauthenticated_ && server_.unauthenticated) server_.unauthenticated->remove(stream_.remote_ip());
  counted_unauthenticated_ = false;
  session_.release_login();
}

void Connection::stop() {
  stopping_ = true;
  // Waiting for the client: end the read, and the loop says BYE.
  if (waiting_) stream_.interrupt();
}

asio::awaitable<bool> Connection::flush() {
  std::string out = session_.take_output();
  if (out.empty()) co_return true;
  co_return co_await stream_.write_all(out);
}

asio::awaitable<void> Connection::run(bool over_limit) {
  auto self = shared_from_this();
  auto* metrics = server_.metrics;
  metrics->session_started();
  struct Ended {
    ManageSieveMetrics* m;
    ~Ended() { m->session_ended(); }
  } ended{metrics};
  info("connect listener=managesieve tls=no");
  struct Disconnect {
    Connection* c;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    ~Disconnect() {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::string reason = c->end_reason_;
      if (!c->session_.end_reason().empty() && reason == "client_closed") reason = c->session_.end_reason();
      spdlog::info("{} disconnect after {:.3f}s reason={} bytes_in={} bytes_out={} tls={}", c->tags(), secs, reason,
                   c->stream_.bytes_read(), c->stream_.bytes_written(),
                   c->stream_.tls_version().empty() ? std::string("no") : c->stream_.tls_version());
    }
  } disconnect{this};

  const bool admitted = sync_login_state();
  if (over_limit || !admitted) {
    end_reason_ = "refused";
    if (over_limit) metrics->connection_refused("total");
    info(over_limit ? "connection refused: managesieve.max_connections reached"
                    : "connection refused: managesieve.max_unauthenticated_per_ip reached");
    session_.bye(over_limit ? "Too many connections, try again later"
                            : "Too many connections from your address, try again later",
                 "TRYLATER");
    co_await flush();
    stream_.close();
    co_return;
  }
  std::vector<std::string> mechanisms = co_await server_.auth->mechanisms();
  session_.set_mechanisms(std::move(mechanisms));
  session_.start();

  bool done = false;
  while (!done) {
    switch (session_.next()) {
      case Session::Action::kRead: {
        if (!co_await flush()) {
          done = true;
          break;
        }
        if (stopping_) {
          session_.bye("Server shutting down");
          end_reason_ = "shutdown";
          break;
        }
        stream_.set_idle_timeout(session_.authenticated() ? server_.idle_timeout : server_.login_timeout);
        waiting_ = session_.waiting_for_command();
        const size_t n = co_await stream_.read_some(buf_, sizeof buf_);
        waiting_ = false;
        if (n == 0) {
          if (stream_.timed_out()) {
            end_reason_ = "timeout";
            protocol_error("timeout");
            session_.bye("Disconnected for inactivity");
          } else if (stopping_ && stream_.interrupted()) {
            end_reason_ = "shutdown";
            session_.bye("Server shutting down");
          } else {
            done = true;  // the client is gone
          }
          break;
        }
        session_.feed(std::string_view(buf_, n));
        break;
      }
      case Session::Action::kStore: {
        // Blocking store calls (and the script's compile) off the I/O thread;
        // nothing touches the session until it is done.
        auto* store = server_.store;
        Session* session = &session_;
        auto work = [session, store]() { session->run_store(*store); };
        co_await async::offload(*server_.db_threads, std::move(work));
        break;
      }
      case Session::Action::kSasl: {
        SaslRequest request = session_.sasl_request();
        SaslReply reply = co_await server_.auth->sasl(std::move(request), stream_.remote_ip());
        session_.sasl_reply(std::move(reply));
        break;
      }
      case Session::Action::kStartTls: {
        if (!co_await flush()) {
          done = true;
          break;
        }
        std::shared_ptr<asio::ssl::context> ctx = server_.tls ? server_.tls->current() : nullptr;
        const bool ok = ctx && co_await stream_.start_tls(*ctx);
        if (!ok) info("STARTTLS handshake failed");
        else info("STARTTLS " + stream_.tls_version() + " " + stream_.tls_cipher());
        session_.tls_started(ok);
        break;
      }
      case Session::Action::kPause: {
        if (!co_await flush()) {
          done = true;
          break;
        }
        asio::steady_timer delay(co_await asio::this_coro::executor, session_.pause());
        boost::system::error_code ec;
        co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
      case Session::Action::kClose:
        co_await flush();
        done = true;
        break;
    }
    if (!done && !session_.closed() && !sync_login_state()) {
      // Back to not-authenticated (UNAUTHENTICATE) with this address at its limit.
      info("managesieve.max_unauthenticated_per_ip reached after UNAUTHENTICATE, closing");
      session_.bye("Too many connections from your address, try again later", "TRYLATER");
    }
  }
  stream_.close();
}

}  // namespace postline::managesieve
