#include "services/imap-access/server/connection.h"

#include "common/log/log.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace postline::imap {

namespace {
const char* status_label(Status s) { return s == Status::kOk ? "ok" : s == Status::kNo ? "no" : "bad"; }
}  // namespace

Connection::Connection(net::tcp::socket socket, ServerContext& server, std::string listener, bool implicit_tls)
    : server_(server),
      wake_(socket.get_executor()),
      stream_(std::move(socket)),
      receiver_(ReceiverLimits{server.services.settings.max_line, server.services.settings.max_literal}),
      implicit_tls_(implicit_tls) {
  session_.session_id = log::new_session_id();
  session_.remote_ip = stream_.remote_ip();
  session_.listener = std::move(listener);
}

// Deliberately touches nothing outside the connection: at process exit the
// io_context destroys suspended coroutine frames after the notifier and the
// server are gone. Normal ends unwatch in run().
Connection::~Connection() = default;

void Connection::stop() {
  stopping_ = true;
  if (waiting_for_command_ || session_.idling) {
    // Waiting for the client: say goodbye now. The pending read ends when the
    // stream closes.
    auto self = shared_from_this();
    asio::co_spawn(
        wake_.get_executor(),
        [self]() -> asio::awaitable<void> {
          self->send(untagged("BYE Server shutting down"));
          co_await self->flush();
          self->stream_.close();
        },
        asio::detached);
  }
}

asio::awaitable<void> Connection::flush() {
  // One writer at a time: a second caller's bytes are appended to out_ and
  // written by the writer already running, in order.
  if (writing_) co_return;
  writing_ = true;
  while (!out_.empty() && !broken_) {
    std::string chunk;
    chunk.swap(out_);
    if (!co_await stream_.write_all(chunk)) {
      broken_ = true;  // the peer is gone: stop reading too
      closing_ = true;
    }
  }
  out_.clear();
  writing_ = false;
}

bool Connection::too_many_bad() {
  if (++session_.bad_commands <= server_.services.settings.max_bad_commands) return false;
  send(untagged("BYE Too many invalid commands"));
  spdlog::info("[s:{}] too many invalid commands, closing", session_.session_id);
  closing_ = true;
  return true;
}

asio::awaitable<std::optional<std::string>> Connection::read_line() {
  char buf[16384];
  for (;;) {
    auto ev = receiver_.next();
    switch (ev.kind) {
      case Receiver::Kind::kCommand: co_return std::move(ev.text);
      case Receiver::Kind::kNeedMore: break;
      case Receiver::Kind::kContinue:
        send("+ Ready for literal data\r\n");
        co_await flush();
        continue;
      default: co_return std::nullopt;  // limits during AUTHENTICATE: give up
    }
    size_t n = co_await stream_.read_some(buf, sizeof buf);
    if (n == 0) co_return std::nullopt;
    receiver_.feed(std::string_view(buf, n));
  }
}

void Connection::watch_selected() {
  const int64_t want = session_.selected ? session_.selected->mailbox_id : 0;
  if (want == watched_mailbox_) return;
  if (watch_id_) server_.notifier->unwatch(watch_id_);
  watch_id_ = 0;
  watched_mailbox_ = want;
  if (!want) return;
  std::weak_ptr<Connection> weak = weak_from_this();
  watch_id_ = server_.notifier->watch(session_.user_id, want, [weak] {
    if (auto self = weak.lock()) {
      self->session_.mailbox_dirty = true;
      self->wake_.cancel();
    }
  });
}

asio::awaitable<void> Connection::run(bool over_limit) {
  auto* metrics = server_.metrics;
  metrics->session_started(session_.listener);
  struct Ended {
    ImapMetrics* m;
    ~Ended() { m->session_ended(); }
  } ended{metrics};

  if (implicit_tls_) {
    std::shared_ptr<asio::ssl::context> tls_ctx = server_.tls ? server_.tls->current() : nullptr;
    if (!tls_ctx || !co_await stream_.start_tls(*tls_ctx)) {
      spdlog::info("[s:{}] TLS handshake with {} failed", session_.session_id, session_.remote_ip);
      metrics->protocol_error("tls_handshake");
      co_return;
    }
    session_.tls = true;
  }
  if (over_limit) {
    send(untagged("BYE [UNAVAILABLE] Too many connections, try again later"));
    co_await flush();
    co_return;
  }
  spdlog::debug("[s:{}] connection from {} on {}", session_.session_id, session_.remote_ip, session_.listener);
  send(untagged("OK [CAPABILITY " + capabilities(session_, server_.services.settings) + "] Postline IMAP ready"));
  co_await flush();

  char buf[16384];
  while (!closing_ && session_.state != State::kLogout) {
    stream_.set_idle_timeout(session_.state == State::kNotAuthenticated ? server_.services.settings.login_timeout
                                                                        : server_.services.settings.idle_timeout);
    auto ev = receiver_.next();
    switch (ev.kind) {
      case Receiver::Kind::kNeedMore: {
        if (stopping_) {
          send(untagged("BYE Server shutting down"));
          closing_ = true;
          break;
        }
        waiting_for_command_ = receiver_.buffered() == 0;
        size_t n = co_await stream_.read_some(buf, sizeof buf);
        waiting_for_command_ = false;
        if (n == 0) {
          if (stream_.timed_out()) {
            metrics->protocol_error("timeout");
            send(untagged("BYE Idle timeout, closing connection"));
            co_await flush();
          }
          closing_ = true;
          break;
        }
        receiver_.feed(std::string_view(buf, n));
        break;
      }
      case Receiver::Kind::kContinue: send("+ Ready for literal data\r\n"); break;
      case Receiver::Kind::kLineTooLong:
        metrics->protocol_error("line_too_long");
        spdlog::info("[s:{}] command line over {} bytes refused", session_.session_id,
                     server_.services.settings.max_line);
        send(ev.text.empty() ? untagged("BAD Command line too long")
                             : tagged(ev.text, Status::kBad, "TOOBIG", "Command line too long"));
        too_many_bad();
        break;
      case Receiver::Kind::kLiteralTooBig:
        metrics->protocol_error("literal_too_big");
        spdlog::info("[s:{}] literal of {} bytes refused", session_.session_id, ev.literal_size);
        send(ev.text.empty() ? untagged("BAD Literal too large")
                             : tagged(ev.text, Status::kNo, "TOOBIG", "Literal too large"));
        break;
      case Receiver::Kind::kFatal:
        metrics->protocol_error("literal_too_big");
        spdlog::info("[s:{}] non-synchronising literal of {} bytes refused, closing", session_.session_id,
                     ev.literal_size);
        send(untagged("BYE [TOOBIG] Literal too large"));
        closing_ = true;
        break;
      case Receiver::Kind::kCommand: co_await handle(std::move(ev.text)); break;
    }
    co_await flush();
  }
  co_await flush();
  stream_.close();
  if (watch_id_) server_.notifier->unwatch(watch_id_);
  watch_id_ = 0;
  spdlog::debug("[s:{}] connection closed", session_.session_id);
}

asio::awaitable<void> Connection::handle(std::string text) {
  const auto started = std::chrono::steady_clock::now();
  Reader args(text);
  std::string tag, name;
  try {
    tag = args.tag();
    args.sp();
    name = to_upper(args.atom());
    if (name == "UID") {
      args.sp();
      name = "UID " + to_upper(args.atom());
    }
  } catch (const SyntaxError& e) {
    server_.metrics->protocol_error("syntax");
    if (tag.empty()) send(untagged(std::string("BAD ") + e.what()));
    else send(tagged(tag, Status::kBad, "", std::string("Invalid command: ") + e.what()));
    too_many_bad();
    co_return;
  }
  const CommandSpec* spec = find_command(name);
  if (!spec) {
    server_.metrics->command("unknown", "bad", std::chrono::steady_clock::now() - started);
    send(tagged(tag, Status::kBad, "", "Unknown command"));
    too_many_bad();
    co_return;
  }
  unsigned mask = session_.state == State::kNotAuthenticated ? kNotAuth
                  : session_.state == State::kAuthenticated  ? kAuth
                                                             : kSelectedState;
  if (!(spec->states & mask)) {
    const char* why = session_.state == State::kNotAuthenticated ? "Log in first"
                      : session_.state == State::kAuthenticated  ? "Select a mailbox first"
                                                                 : "Command not valid in this state";
    server_.metrics->command(spec->name, "bad", std::chrono::steady_clock::now() - started);
    send(tagged(tag, Status::kBad, "", why));
    too_many_bad();
    co_return;
  }

  Context ctx{session_, server_.services, tag, spec->name, name.rfind("UID ", 0) == 0, args,
              [this](std::string s) { send(std::move(s)); },
              [this]() -> asio::awaitable<void> { co_await flush(); },
              [this](const std::string& prompt) -> asio::awaitable<std::optional<std::string>> {
                send("+ " + prompt + "\r\n");
                co_await flush();
                co_return co_await read_line();
              }};
  Result result;
  std::string failure;
  bool unavailable = false;
  try {
    result = co_await spec->handler(ctx);
  } catch (const SyntaxError& e) {
    result = Result::bad(std::string("Invalid arguments: ") + e.what());
    server_.metrics->protocol_error("syntax");
  } catch (const Unavailable& e) {
    unavailable = true;
    failure = e.what();
  } catch (const pqxx::broken_connection& e) {
    unavailable = true;
    failure = e.what();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    // The client gets a generic text; the log gets the detail.
    spdlog::error("[s:{}] {} failed: {}", session_.session_id, spec->name, failure);
    result = unavailable ? Result::no("Server temporarily unavailable, try again later", "UNAVAILABLE")
                         : Result::no("Internal server error", "SERVERBUG");
  }
  if (result.code == "AUTHENTICATIONFAILED") {
    // Slow down password guessing on this connection (authd throttles across
    // connections): 1 s per failure so far, at most 5 s.
    failed_logins_ = std::min(failed_logins_ + 1, 5);
    asio::steady_timer delay(wake_.get_executor(), std::chrono::seconds(failed_logins_));
    boost::system::error_code ec;
    co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (result.status == Status::kBad && too_many_bad()) {
    send(tagged(tag, result.status, result.code, result.text));
    co_return;
  }
  // Changes other sessions (or instances) made reach this one after each
  // command; EXPUNGE only where sequence numbers cannot be confused.
  if (session_.state == State::kSelected && session_.mailbox_dirty && ctx.effect == Effect::kNone) {
    try {
      co_await sync_selected(ctx, !spec->uses_msn);
    } catch (const std::exception& e) {
      spdlog::warn("[s:{}] mailbox resync failed: {}", session_.session_id, e.what());
    }
  }
  watch_selected();
  if (ctx.effect == Effect::kIdle) {
    co_await idle(tag);
    server_.metrics->command(spec->name, "ok", std::chrono::steady_clock::now() - started);
    co_return;
  }
  send(tagged(tag, result.status, result.code, result.text));
  server_.metrics->command(spec->name, status_label(result.status), std::chrono::steady_clock::now() - started);
  if (ctx.effect == Effect::kStartTls) {
    co_await flush();
    // Anything the client pipelined after STARTTLS arrived in plaintext and
    // must not be executed after the handshake (CVE-2011-0411 class).
    receiver_.reset();
    std::shared_ptr<asio::ssl::context> tls_ctx = server_.tls->current();
    if (!co_await stream_.start_tls(*tls_ctx)) {
      spdlog::info("[s:{}] STARTTLS handshake failed", session_.session_id);
      server_.metrics->protocol_error("tls_handshake");
      closing_ = true;
      co_return;
    }
    session_.tls = true;
  } else if (ctx.effect == Effect::kClose) {
    closing_ = true;
  }
}

asio::awaitable<void> Connection::idle_watcher() {
  auto self = shared_from_this();
  while (session_.idling && !closing_) {
    if (session_.mailbox_dirty && session_.selected) {
      Reader none("");
      Context ctx{session_, server_.services, "", "IDLE", false, none,
                  [this](std::string s) { send(std::move(s)); },
                  [this]() -> asio::awaitable<void> { co_await flush(); }, nullptr};
      try {
        co_await sync_selected(ctx, true);
      } catch (const std::exception& e) {
        spdlog::warn("[s:{}] IDLE resync failed: {}", session_.session_id, e.what());
      }
      if (!session_.idling) co_return;  // DONE arrived meanwhile: the next command reports it
      co_await flush();
      if (ctx.effect == Effect::kClose) {
        closing_ = true;
        stream_.close();
        co_return;
      }
      continue;
    }
    wake_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Connection::idle(const std::string& tag) {
  send("+ idling\r\n");
  co_await flush();
  session_.idling = true;
  asio::co_spawn(wake_.get_executor(), idle_watcher(), asio::detached);
  std::optional<std::string> line;
  stream_.set_idle_timeout(server_.services.settings.idle_timeout);
  for (;;) {
    line = co_await read_line();
    if (!line || stopping_) break;
    if (iequals(*line, "DONE")) break;
    // Anything but DONE during IDLE is a protocol error (RFC 2177).
    send(untagged("BAD Expected DONE"));
    if (too_many_bad()) break;
    co_await flush();
  }
  session_.idling = false;
  wake_.cancel();
  if (!line) {
    closing_ = true;
    co_return;
  }
  send(tagged(tag, Status::kOk, "", "IDLE terminated"));
}

}  // namespace postline::imap
