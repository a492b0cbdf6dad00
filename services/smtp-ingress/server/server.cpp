#include "services/smtp-ingress/server/server.h"

#include "common/log/log.h"
#include "common/net/stream.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <random>
#include <vector>

namespace postline::smtp {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string rfc5322_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

namespace {
std::string random_hex(size_t bytes) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  for (size_t i = 0; i < bytes; ++i) out += fmt::format("{:02X}", static_cast<unsigned>(rng() & 0xFF));
  return out;
}
}  // namespace

// Time-ordered and unique enough across instances: seconds since the epoch,
// then 48 random bits. Upper-case hex so it reads like other MTAs' ids.
std::string new_queue_id() { return fmt::format("{:X}{}", static_cast<uint64_t>(std::time(nullptr)), random_hex(6)); }

struct Server::Connection {
  net::Stream* stream = nullptr;
  Session* session = nullptr;
  ConnectionObserver* observer = nullptr;
  ListenerKind kind = ListenerKind::kMx;
  bool reading = false;  // suspended waiting for client bytes
  int64_t user_slot = 0;  // the account counted in user_sessions_, 0 = none
};

Server::Server(asio::io_context& io, ServerOptions options, std::shared_ptr<net::TlsContext> tls, Backend& backend,
               SmtpMetrics& metrics, Antispam* antispam)
    : io_(io),
      options_(std::move(options)),
      tls_(std::move(tls)),
      backend_(backend),
      metrics_(metrics),
      antispam_(antispam),
      counter_(std::make_shared<net::ConnectionCounter>(options_.connection_limits)),
      user_sessions_(options_.max_sessions_per_user == 0
                         ? nullptr
                         : std::make_shared<net::ConnectionCounter>(
                               net::ConnectionLimits{SIZE_MAX, options_.max_sessions_per_user})) {}

std::vector<std::pair<std::string, uint16_t>> Server::start() {
  std::vector<std::pair<std::string, uint16_t>> started;
  auto add = [&](ListenerKind kind, uint16_t port) {
    auto listener = std::make_unique<net::Listener>(
        io_, listener_name(kind),
        [this, kind](tcp::socket s, bool over_limit) { return serve(std::move(s), over_limit, kind); }, counter_);
    listener->start(options_.listen_address, port);
    started.emplace_back(listener->name(), listener->port());
    listeners_.push_back(std::move(listener));
  };
  add(ListenerKind::kMx, options_.mx_port);
  add(ListenerKind::kSubmission, options_.submission_port);
  if (tls_) {
    add(ListenerKind::kSubmissions, options_.submissions_port);
  } else {
    spdlog::warn("no TLS certificate (tls.cert_file): STARTTLS is not offered, AUTH is unavailable on submission "
                 "and the submissions (465) listener is not started");
  }
  return started;
}

void Server::shutdown(std::chrono::seconds grace, std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  on_drained_ = std::move(done);
  for (auto& l : listeners_) l->stop();
  // Sessions waiting for a command between transactions have their read
  // interrupted: the connection loop answers 421 4.3.2 and closes (RFC 5321
  // 3.8), so the client knows to come back rather than seeing a dropped
  // connection. Those in a transaction get the grace period to finish it and
  // then the same 421. Writing the 421 from here would race the pending read.
  for (auto* c : connections_) {
    if (c->reading && !c->session->in_data() && !c->session->in_transaction()) c->stream->interrupt();
  }
  grace_timer_ = std::make_unique<asio::steady_timer>(io_, grace);
  grace_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (!connections_.empty()) spdlog::warn("shutdown: closing {} session(s) after the grace period", connections_.size());
    for (auto* c : connections_) c->stream->close();
    if (on_drained_) std::exchange(on_drained_, nullptr)();
  });
  check_drained();
}

void Server::check_drained() {
  if (stopping_ && connections_.empty() && on_drained_) {
    if (grace_timer_) grace_timer_->cancel();
    std::exchange(on_drained_, nullptr)();
  }
}

asio::awaitable<void> Server::serve(tcp::socket socket, bool over_limit, ListenerKind kind) {
  const auto started = std::chrono::steady_clock::now();
  net::Stream stream(std::move(socket));
  ConnectionObserver observer(metrics_, log::new_session_id());
  metrics_.sessions.Add({{"listener", listener_name(kind)}}).Increment();
  const std::string& host = options_.session.hostname;

  if (over_limit || stopping_) {
    observer.on_limit(stopping_ ? "shutdown" : "connections");
    observer.on_log(1, fmt::format("[c:{}] connection refused: {}", stream.remote_address(),
                                   stopping_ ? "shutting down" : "connection limit reached"));
    observer.on_reply(421);
    const std::string refusal = fmt::format("421 4.7.0 {} Too many connections, try again later\r\n", host);
    co_await stream.write_all(refusal);  // named: no temporaries across co_await (GCC 12)
    co_return;
  }

  metrics_.sessions_active.Increment();
  SessionConfig cfg = options_.session;
  cfg.listener = kind;
  cfg.remote_ip = stream.remote_ip();
  cfg.remote_address = stream.remote_address();
  cfg.tls_available = tls_ != nullptr;
  std::shared_ptr<asio::ssl::context> ssl_ctx = tls_ ? tls_->current() : nullptr;
  // The same fields as imapd's connect and disconnect lines (docs/operations.md, "Logs").
  observer.on_log(1, fmt::format("[c:{}] connect listener={} tls={}", cfg.remote_address, listener_name(kind),
                                 kind == ListenerKind::kSubmissions ? "implicit" : "no"));
  const char* reason = "server_closed";  // why the session ended, for the disconnect line

  bool ok = true;
  if (kind == ListenerKind::kSubmissions) {
    stream.set_idle_timeout(std::chrono::seconds(30));
    ok = co_await stream.start_tls(*ssl_ctx);
    metrics_.tls_handshakes.Add({{"outcome", ok ? "success" : "failure"}}).Increment();
    if (!ok) {
      observer.on_log(1, "implicit TLS handshake failed");
      reason = "tls_failed";
    }
    cfg.tls_active = true;
    cfg.tls_version = stream.tls_version();
    cfg.tls_cipher = stream.tls_cipher();
  }

  Session session(cfg, &observer);
  Connection conn{&stream, &session, &observer, kind};
  connections_.insert(&conn);
  if (ok) {
    session.start();
    std::vector<char> buf(64 * 1024);
    for (;;) {
      std::string out = session.take_output();
      if (!out.empty() && !co_await stream.write_all(out)) {
        reason = "write_failed";
        break;
      }
      if (session.closed()) {
        reason = observer.quit_seen() ? "quit" : "server_closed";
        break;
      }
      if (auto event = session.take_event()) {
        if (std::holds_alternative<StartTlsEvent>(*event)) {
          bool tls_ok = co_await stream.start_tls(*ssl_ctx);
          metrics_.tls_handshakes.Add({{"outcome", tls_ok ? "success" : "failure"}}).Increment();
          if (!tls_ok) {
            observer.on_log(1, "STARTTLS handshake failed");
            reason = "tls_failed";
            break;
          }
          observer.on_log(0, fmt::format("TLS established: {} {}", stream.tls_version(), stream.tls_cipher()));
          session.on_tls_started(stream.tls_version(), stream.tls_cipher());
        } else {
          co_await handle_event(conn, std::move(*event));
        }
        continue;
      }
      if (stopping_ && session.shutdown_if_idle()) continue;
      stream.set_idle_timeout(session.in_data() ? options_.data_timeout : options_.command_timeout);
      conn.reading = true;
      size_t n = co_await stream.read_some(buf.data(), buf.size());
      conn.reading = false;
      if (n == 0) {
        if (stream.timed_out()) {
          reason = "timeout";
          session.on_timeout();
          out = session.take_output();
          // The socket was cancelled, not closed: a last write may still work.
          co_await stream.write_all(out);
        } else if (stopping_ && stream.interrupted()) {
          reason = "shutdown";
          if (session.shutdown_if_idle()) co_await stream.write_all(session.take_output());
        } else {
          reason = "client_closed";
        }
        break;
      }
      session.feed(std::string_view(buf.data(), n));
    }
  }
  connections_.erase(&conn);
  if (conn.user_slot && user_sessions_) user_sessions_->remove(std::to_string(conn.user_slot));
  stream.close();
  metrics_.sessions_active.Decrement();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.session_duration.Observe(secs);
  observer.on_log(1, fmt::format("[c:{}]{} disconnect after {:.3f}s reason={} bytes_in={} bytes_out={} tls={}",
                                 cfg.remote_address,
                                 session.authenticated_user().empty()
                                     ? ""
                                     : " [u:" + log::tag_value(session.authenticated_user()) + "]",
                                 secs, reason, stream.bytes_read(), stream.bytes_written(),
                                 stream.tls_version().empty() ? std::string("no") : stream.tls_version()));
  check_drained();
}

bool Server::take_user_slot(Connection& c, int64_t user_id) {
  if (!user_sessions_ || user_id <= 0 || c.user_slot == user_id) return true;
  if (!user_sessions_->try_add(std::to_string(user_id))) return false;
  if (c.user_slot) user_sessions_->remove(std::to_string(c.user_slot));  // a second AUTH after STARTTLS
  c.user_slot = user_id;
  return true;
}

asio::awaitable<void> Server::handle_event(Connection& c, Event event) {
  if (auto* r = std::get_if<ResolveRecipientEvent>(&event)) {
    if (antispam_ && r->is_recipient) {
      // Policy first: a listed or rate-limited client costs no authd call.
      std::string ip = c.stream->remote_ip();
      std::string user = c.session->authenticated_user();
      PolicyRefusal refused = co_await antispam_->check_recipient(c.kind, std::move(ip), *r, std::move(user));
      if (refused.code) {
        Resolution res;
        res.refusal = std::move(refused);
        c.session->on_resolved(res);
        co_return;
      }
    }
    Resolution res = co_await backend_.resolve(r->address, r->trace_id);
    if (antispam_ && r->is_recipient && res.available && res.kind == RecipientKind::kLocal) {
      std::string ip = c.stream->remote_ip();
      std::string user = c.session->authenticated_user();
      res.refusal = co_await antispam_->check_greylist(c.kind, std::move(ip), *r, std::move(user));
    }
    c.session->on_resolved(res);
  } else if (auto* a = std::get_if<AuthenticateEvent>(&event)) {
    AuthOutcome o = co_await backend_.authenticate(std::move(*a), c.stream->remote_ip());
    if (o.result == AuthResult::kOk && !take_user_slot(c, o.user_id)) o.result = AuthResult::kTooManySessions;
    c.session->on_authenticated(o);
  } else if (auto* s = std::get_if<SaslEvent>(&event)) {
    SaslAnswer a = co_await backend_.sasl(std::move(*s), c.stream->remote_ip());
    if (a.state == SaslAnswer::State::kSuccess && !take_user_slot(c, a.user_id)) {
      a.state = SaslAnswer::State::kFailure;
      a.result = AuthResult::kTooManySessions;
    }
    c.session->on_sasl(a);
  } else if (auto* e = std::get_if<EnqueueEvent>(&event)) {
    if (antispam_) {
      PolicyRefusal refused = co_await antispam_->check_message(c.kind, *e);
      if (refused.code) {
        EnqueueOutcome o;
        o.refusal = std::move(refused);
        c.session->on_enqueued(o);
        co_return;
      }
    }
    EnqueueOutcome o = co_await backend_.enqueue(std::move(*e));
    c.session->on_enqueued(o);
  } else if (auto* f = std::get_if<FetchUrlEvent>(&event)) {
    UrlFetched fetched = co_await backend_.fetch_url(std::move(*f));
    c.session->on_url_fetched(fetched);
  }
}

}  // namespace postline::smtp
