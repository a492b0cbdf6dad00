#include "services/imap-access/server/connection.h"

#include "common/log/log.h"
#include "common/log/printable.h"

#include <boost/asio/co_spawn.hpp>

#include <algorithm>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace postline::imap {

namespace {
const char* status_label(Status s) { return s == Status::kOk ? "ok" : s == Status::kNo ? "no" : "bad"; }
}  // namespace

Connection::Connection(net::tcp::socket socket, ServerContext& server, std::string listener, bool implicit_tls)
    : server_(server),
      wake_(socket.get_executor()),
      stream_(std::move(socket)),
      receiver_(ReceiverLimits{.max_line = server.services.settings.max_line,
                               .max_literal = std::min(server.services.settings.max_literal,
                                                       server.services.settings.max_unauthenticated_command),
                               .budget = server.services.settings.literal_budget.get(),
                               .max_command = server.services.settings.max_unauthenticated_command,
                               .cost_factor = server.services.settings.literal_cost_factor}),
      implicit_tls_(implicit_tls),
      dispatcher_(session_, server.services,
                  SessionIo{[this](std::string s) { send(std::move(s)); },
                            [this]() -> asio::awaitable<void> { co_await flush(); },
                            [this](const std::string& prompt) -> asio::awaitable<std::optional<std::string>> {
                              send("+ " + prompt + "\r\n");
                              co_await flush();
                              co_return co_await read_line();
                            },
                            [this](Output o) { out_.append(std::move(o)); }}),
      pump_wake_(wake_.get_executor()),
      pump_done_(wake_.get_executor()) {
  session_.session_id = log::new_session_id();
  session_.remote_ip = stream_.remote_ip();
  session_.remote_address = stream_.remote_address();
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
    Output chunk;
    std::swap(chunk, out_);
    // Text and body views in one gathering write: a body is copied once, by
    // the kernel (or into TLS records). Compressed, it is copied once into
    // the deflate output instead.
    bool written = false;
    if (deflate_) {
      written = co_await write_deflated(chunk);
    } else {
      written = co_await stream_.write_all(chunk.buffers());
    }
    if (!written) {
      broken_ = true;  // the peer is gone: stop reading too
      closing_ = true;
    }
  }
  out_ = Output();
  writing_ = false;
}

namespace {
// Plain bytes handed to zlib at a time, and the compressed bytes collected
// before they are written: a 4 MB FETCH chunk (or a streamed body's piece)
// never exists a second time in compressed form.
constexpr size_t kDeflateSlice = 64 * 1024;
constexpr size_t kDeflateWriteBytes = 64 * 1024;
}  // namespace

asio::awaitable<bool> Connection::write_deflated(const Output& chunk) {
  std::string z;
  const uint64_t plain_before = deflate_->plain_out(), z_before = deflate_->compressed_out();
  bool ok = true;
  for (const auto& b : chunk.buffers()) {
    std::string_view rest(static_cast<const char*>(b.data()), b.size());
    while (ok && !rest.empty()) {
      const std::string_view piece = rest.substr(0, kDeflateSlice);
      rest.remove_prefix(piece.size());
      deflate_->compress(piece, z);
      if (z.size() >= kDeflateWriteBytes) {
        const std::string_view bytes(z);
        ok = co_await stream_.write_all(bytes);
        z.clear();
      }
    }
    if (!ok) break;
  }
  if (ok) {
    // The end of a write burst: flush, so nothing the client waits for
    // stays inside zlib until the next response.
    deflate_->flush(z);
    const std::string_view bytes(z);
    ok = co_await stream_.write_all(bytes);
  }
  server_.metrics->compress_out(deflate_->plain_out() - plain_before, deflate_->compressed_out() - z_before);
  co_return ok;
}

bool Connection::start_compress() {
  auto codec = std::make_unique<DeflateCodec>();
  if (!codec->ok()) {
    spdlog::error("[s:{}] COMPRESS: {}", session_.session_id, codec->error());
    return false;
  }
  deflate_ = std::move(codec);
  // Whatever the client sent after the COMPRESS line is already compressed.
  const std::string rest = receiver_.take_buffered();
  if (!rest.empty()) {
    deflate_->feed(rest);
    server_.metrics->compress_in(rest.size(), 0);
  }
  server_.metrics->compress_started();
  spdlog::debug("[s:{}] COMPRESS DEFLATE on", session_.session_id);
  return true;
}

void Connection::inflate_failed() {
  // Peer bytes that are not DEFLATE: nothing after them can be framed, so
  // the session ends, with a BYE (our direction still works).
  server_.metrics->protocol_error("deflate");
  spdlog::info("[s:{}] COMPRESS: undecodable data from {} after {} compressed bytes: {}", session_.session_id,
               session_.remote_ip, deflate_->compressed_in(), log::printable(deflate_->error()));
  send(untagged("BYE Compressed data error"));
  closing_ = true;
}

bool Connection::too_many_bad() {
  auto bye = dispatcher_.count_bad();
  if (!bye) return false;
  send(std::move(*bye));
  closing_ = true;
  return true;
}

asio::awaitable<size_t> Connection::read_some() {
  if (deflate_) co_return co_await read_some_inflated();
  // A connection that waits (most of them, most of the time) holds only the
  // small buffer; one that streams a literal gets the big one while its reads
  // keep filling the small one, and gives it back when they stop.
  char* buf = big_buf_ ? big_buf_.get() : small_buf_;
  const size_t size = big_buf_ ? kBigReadBuffer : sizeof small_buf_;
  size_t n = co_await stream_.read_some(buf, size);
  if (n > 0) receiver_.feed(std::string_view(buf, n));
  if (!big_buf_ && n == size) big_buf_ = std::make_unique<char[]>(kBigReadBuffer);
  else if (big_buf_ && n < sizeof small_buf_) big_buf_.reset();
  co_return n;
}

asio::awaitable<size_t> Connection::read_some_inflated() {
  // Socket bytes go to the inflater, and at most one buffer of plain bytes
  // comes out per call, so a decompression bomb is never held whole: the
  // receiver takes each buffer and applies its line and literal limits.
  // The same buffers as without compression (the inflater keeps its own
  // copy of the compressed input).
  for (;;) {
    char* buf = big_buf_ ? big_buf_.get() : small_buf_;
    const size_t size = big_buf_ ? kBigReadBuffer : sizeof small_buf_;
    if (deflate_->input_pending()) {
      const DeflateCodec::Inflated r = deflate_->inflate(buf, size);
      if (r.error) {
        inflate_failed();
        co_return 0;
      }
      if (r.bytes == 0) continue;  // a flush marker alone: read more
      server_.metrics->compress_in(0, r.bytes);
      receiver_.feed(std::string_view(buf, r.bytes));
      if (!big_buf_ && r.bytes == size) big_buf_ = std::make_unique<char[]>(kBigReadBuffer);
      else if (big_buf_ && r.bytes < sizeof small_buf_ && !deflate_->input_pending()) big_buf_.reset();
      co_return r.bytes;
    }
    const size_t n = co_await stream_.read_some(buf, size);
    if (n == 0) co_return 0;
    server_.metrics->compress_in(n, 0);
    deflate_->feed(std::string_view(buf, n));
  }
}

asio::awaitable<std::optional<std::string>> Connection::read_line() {
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
    size_t n = co_await read_some();
    if (n == 0) co_return std::nullopt;
  }
}

void Connection::watch_account() {
  const bool logged_in = session_.state != State::kNotAuthenticated && session_.user_id != 0;
  if (logged_in && !account_watch_id_) {
    std::weak_ptr<Connection> weak = weak_from_this();
    account_watch_id_ = server_.notifier->watch_account(session_.user_id, [weak](const mailstore::ChangeEvent& e) {
      if (auto self = weak.lock()) self->on_moved(e);
    });
  } else if (!logged_in && account_watch_id_) {
    server_.notifier->unwatch_account(account_watch_id_);
    account_watch_id_ = 0;
  }
}

void Connection::on_moved(const mailstore::ChangeEvent& e) {
  if (moved_ || closing_) return;
  // Only the sessions on the shard the account left (a session that logged in
  // on the new shard meanwhile stays).
  if (!e.name.empty() && !session_.shard.empty() && e.name != session_.shard) return;
  moved_ = true;
  spdlog::info("[s:{}] the account moved to another shard: ending the session", session_.session_id);
  wake_.cancel();  // IDLE: the watcher says BYE
  // Waiting for a command: say it now. Inside a command: after it (run()).
  if (waiting_for_command_ && !session_.idling)
    asio::co_spawn(wake_.get_executor(), say_moved(), asio::detached);
}

asio::awaitable<void> Connection::say_moved() {
  auto self = shared_from_this();
  if (closing_) co_return;
  end_reason_ = "account_moved";
  closing_ = true;
  send(untagged("BYE [UNAVAILABLE] Account moved, reconnect"));
  co_await flush();
  stream_.close();
}

void Connection::watch_selected() {
  const int64_t want = session_.selected ? session_.selected->mailbox_id : 0;
  if (want == watched_mailbox_) return;
  if (watch_id_) server_.notifier->unwatch(watch_id_);
  watch_id_ = 0;
  watched_mailbox_ = want;
  if (!want) return;
  std::weak_ptr<Connection> weak = weak_from_this();
  watch_id_ = server_.notifier->watch(session_.user_id, want, session_.selected->highestmodseq, [weak] {
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
  // connect and disconnect at info, with the fields smtpd's lines have
  // (docs/operations.md, "Logs"); the disconnect line however run() ends.
  spdlog::info("[s:{}] [c:{}] connect listener={} tls={}", session_.session_id, session_.remote_address,
               session_.listener, implicit_tls_ ? "implicit" : "no");
  struct Disconnect {
    Connection* c;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    ~Disconnect() {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const auto& s = c->session_;
      const char* reason = c->end_reason_;
      if (s.state == State::kLogout) reason = "logout";
      else if (c->stopping_ && reason == std::string_view("server_closed")) reason = "shutdown";
      spdlog::info("[s:{}] [c:{}]{} disconnect after {:.3f}s reason={} bytes_in={} bytes_out={} tls={}", s.session_id,
                   s.remote_address, s.username.empty() ? "" : " [u:" + log::tag_value(s.username) + "]", secs,
                   reason, c->stream_.bytes_read(), c->stream_.bytes_written(),
                   c->stream_.tls_version().empty() ? std::string("no") : c->stream_.tls_version());
    }
  } disconnect{this};

  // Counted per address before anything else, the TLS handshake included: a
  // stranger stalling handshakes holds a slot of his own address only.
  // (Server::serve gives the slots back when run() ends, however it ends.)
  admitted_ = sync_login_state();
  if (!admitted_) {
    spdlog::info("[s:{}] [c:{}] connection refused: imap.max_unauthenticated_per_ip reached", session_.session_id,
                 session_.remote_address);
    end_reason_ = "refused";
    if (implicit_tls_) co_return;  // no TLS yet: nothing can be said
  }
  if (implicit_tls_) {
    std::shared_ptr<asio::ssl::context> tls_ctx = server_.tls ? server_.tls->current() : nullptr;
    if (!tls_ctx || !co_await stream_.start_tls(*tls_ctx)) {
      spdlog::info("[s:{}] [c:{}] TLS handshake failed", session_.session_id, session_.remote_address);
      end_reason_ = "tls_failed";
      metrics->protocol_error("tls_handshake");
      co_return;
    }
    session_.tls = true;
  }
  if (over_limit) {
    end_reason_ = "refused";
    metrics->connection_refused("total");
    send(untagged("BYE [UNAVAILABLE] Too many connections, try again later"));
    co_await flush();
    co_return;
  }
  if (!admitted_) {
    send(untagged("BYE [UNAVAILABLE] Too many connections from your address, try again later"));
    co_await flush();
    co_return;
  }
  send(untagged("OK [CAPABILITY " + capabilities(session_, server_.services.settings) + "] Postline IMAP ready"));
  co_await flush();

  while (!closing_ && session_.state != State::kLogout) {
    stream_.set_idle_timeout(session_.state == State::kNotAuthenticated ? server_.services.settings.login_timeout
                                                                        : server_.services.settings.idle_timeout);
    auto ev = receiver_.next();
    switch (ev.kind) {
      case Receiver::Kind::kNeedMore: {
        // What the receiver has charged for the bytes it took so far.
        if (auto* budget = server_.services.settings.literal_budget.get()) metrics->literal_bytes(budget->used());
        if (stopping_) {
          send(untagged("BYE Server shutting down"));
          closing_ = true;
          break;
        }
        waiting_for_command_ = receiver_.buffered() == 0;
        if (waiting_for_command_ && pump_running_) wake_pump();  // a chance to send NOTIFY responses
        size_t n = co_await read_some();
        waiting_for_command_ = false;
        if (n == 0) {
          end_reason_ = stream_.timed_out() ? "timeout" : stopping_ ? "shutdown" : "client_closed";
          if (stream_.timed_out()) {
            metrics->protocol_error("timeout");
            send(untagged("BYE Idle timeout, closing connection"));
            co_await flush();
          }
          closing_ = true;
          break;
        }
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
      case Receiver::Kind::kBusy:
        metrics->protocol_error("literal_budget");
        spdlog::warn("[s:{}] command with literals refused: imap.max_inflight_literals reached",
                     session_.session_id);
        send(ev.text.empty() ? untagged("BAD Server busy, try again later")
                             : tagged(ev.text, Status::kNo, "UNAVAILABLE", "Server busy, try again later"));
        break;
      case Receiver::Kind::kCommand:
        // NOTIFY responses being prepared go out first, never inside this command's.
        co_await wait_for_pump();
        co_await handle(std::move(ev.text));
        receiver_.command_done();  // its literals leave imap.max_inflight_literals
        watch_account();
        if (moved_ && !closing_) {
          end_reason_ = "account_moved";
          send(untagged("BYE [UNAVAILABLE] Account moved, reconnect"));
          closing_ = true;
        }
        if (!sync_login_state()) {  // back to not-authenticated (UNAUTHENTICATE) and over the count
          send(untagged("BYE [UNAVAILABLE] Too many connections from your address, try again later"));
          closing_ = true;
        }
        if (auto* budget = server_.services.settings.literal_budget.get()) metrics->literal_bytes(budget->used());
        break;
    }
    co_await flush();
  }
  co_await flush();
  stream_.close();
  if (watch_id_) server_.notifier->unwatch(watch_id_);
  watch_id_ = 0;
  if (user_watch_id_) server_.notifier->unwatch_user(user_watch_id_);
  user_watch_id_ = 0;
  if (account_watch_id_) server_.notifier->unwatch_account(account_watch_id_);
  account_watch_id_ = 0;
  closing_ = true;
  wake_pump();  // lets the pump coroutine end
}

bool Connection::sync_login_state() {
  const bool before_login = session_.state == State::kNotAuthenticated;
  if (before_login != unauthenticated_limits_) {
    const Settings& st = server_.services.settings;
    ReceiverLimits limits{.max_line = st.max_line, .max_literal = st.max_literal, .cost_factor = st.literal_cost_factor};
    if (before_login) {
      limits.max_literal = std::min(st.max_literal, st.max_unauthenticated_command);
      limits.max_command = st.max_unauthenticated_command;
    }
    receiver_.set_limits(limits);
    unauthenticated_limits_ = before_login;
  }
  auto* counter = server_.unauthenticated.get();
  if (!counter) return true;
  if (!before_login && counted_unauthenticated_) {
    counter->remove(session_.remote_ip);
    counted_unauthenticated_ = false;
  } else if (before_login && !counted_unauthenticated_) {
    if (!counter->try_add(session_.remote_ip)) {
      server_.metrics->connection_refused("per_ip");
      return false;
    }
    counted_unauthenticated_ = true;
  }
  return true;
}

void Connection::release_limits() {
  if (counted_unauthenticated_ && server_.unauthenticated) server_.unauthenticated->remove(session_.remote_ip);
  counted_unauthenticated_ = false;
  release_user_slot(session_, server_.services);
}

asio::awaitable<void> Connection::handle(std::string text) {
  const auto started = std::chrono::steady_clock::now();
  Dispatched d = co_await dispatcher_.dispatch(std::move(text));
  if (d.syntax_error) server_.metrics->protocol_error("syntax");
  if (d.login_failed) {
    // Slow down password guessing on this connection (authd throttles across
    // connections): 1 s per failure so far, at most 5 s.
    failed_logins_ = std::min(failed_logins_ + 1, 5);
    asio::steady_timer delay(wake_.get_executor(), std::chrono::seconds(failed_logins_));
    boost::system::error_code ec;
    co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  const auto record = [&](const char* status) {
    if (!d.command.empty()) server_.metrics->command(d.command, status, std::chrono::steady_clock::now() - started);
  };
  if (d.close) {
    send(std::move(d.reply));
    record(status_label(d.status));
    closing_ = true;
    co_return;
  }
  watch_selected();
  watch_notify();
  if (d.effect == Effect::kIdle) {
    co_await idle(d.tag);
    record("ok");
    co_return;
  }
  if (d.effect == Effect::kCompress && !deflate_ && !start_compress()) {
    // zlib could not start (memory): say so instead of OK; nothing changed.
    session_.compressed = false;
    d.status = Status::kNo;
    d.reply = tagged(d.tag, Status::kNo, "SERVERBUG", "Compression is not available now");
    d.effect = Effect::kNone;
  }
  if (d.effect == Effect::kCompress) {
    // The tagged OK is the last thing sent uncompressed (RFC 4978 3): the
    // codec is ready (start_compress above) but flush() only uses it once
    // the OK is on the wire.
    auto codec = std::move(deflate_);
    send(std::move(d.reply));
    record(status_label(d.status));
    co_await flush();
    deflate_ = std::move(codec);
    co_return;
  }
  send(std::move(d.reply));
  record(status_label(d.status));
  if (d.effect == Effect::kStartTls) {
    co_await flush();
    // Anything the client pipelined after STARTTLS arrived in plaintext and
    // must not be executed after the handshake (CVE-2011-0411 class).
    receiver_.reset();
    std::shared_ptr<asio::ssl::context> tls_ctx = server_.tls->current();
    if (!co_await stream_.start_tls(*tls_ctx)) {
      spdlog::info("[s:{}] STARTTLS handshake failed", session_.session_id);
      end_reason_ = "tls_failed";
      server_.metrics->protocol_error("tls_handshake");
      closing_ = true;
      co_return;
    }
    session_.tls = true;
  } else if (d.effect == Effect::kClose) {
    closing_ = true;
  }
}

asio::awaitable<void> Connection::idle_watcher() {
  auto self = shared_from_this();
  while (session_.idling && !closing_) {
    if (moved_) {
      co_await say_moved();
      co_return;
    }
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
  if (pump_running_) wake_pump();
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

// ---- NOTIFY (RFC 5465) ----------------------------------------------------
// Responses are prepared from change events on the I/O thread and written by
// one pump coroutine per session, only while the session waits for a command
// or IDLEs. While the pump reads the store and writes (pump_busy_), the loop
// holds back the next command, so a STATUS or LIST never lands inside another
// command's responses and the selected view is never changed under a command.

namespace {
constexpr size_t kMaxPendingNotifyBytes = 256 * 1024;
}

void Connection::watch_notify() {
  if (notify_generation_ == session_.notify_generation) return;
  notify_generation_ = session_.notify_generation;
  // A new NOTIFY replaces the old one entirely.
  pending_status_.clear();
  pending_lines_.clear();
  last_status_.clear();
  last_status_line_.clear();
  reload_mailboxes_ = false;
  if (!session_.notify) {
    if (user_watch_id_) server_.notifier->unwatch_user(user_watch_id_);
    user_watch_id_ = 0;
    wake_pump();
    return;
  }
  if (!user_watch_id_) {
    std::weak_ptr<Connection> weak = weak_from_this();
    user_watch_id_ = server_.notifier->watch_user(session_.user_id, [weak](const mailstore::ChangeEvent& e) {
      if (auto self = weak.lock()) self->on_notify_event(e);
    });
  }
  if (!pump_running_) {
    pump_running_ = true;
    asio::co_spawn(pump_wake_.get_executor(), notify_pump(), asio::detached);
  }
}

void Connection::on_notify_event(const mailstore::ChangeEvent& e) {
  if (!session_.notify) return;
  auto& n = *session_.notify;
  const int64_t selected_id = session_.selected ? session_.selected->mailbox_id : 0;
  using K = mailstore::ChangeKind;
  switch (e.kind) {
    case K::kMessages:
      if (e.mailbox_id == 0) {
        // The LISTEN connection came back: events may be lost, so every
        // watched mailbox gets a fresh STATUS and the names are re-read.
        for (const auto& [id, name] : n.mailboxes)
          if (id != selected_id && (n.events_for_name(name) & kEvMessageEvents)) pending_status_.insert(id);
        reload_mailboxes_ = true;
        if (session_.selected) session_.mailbox_dirty = true;
      } else if (e.mailbox_id == selected_id) {
        session_.mailbox_dirty = true;
      } else if (!n.mailboxes.count(e.mailbox_id)) {
        // Created by a writer that does not send names (older version): look it up.
        reload_mailboxes_ = true;
        pending_status_.insert(e.mailbox_id);
      } else if (n.events_for_id(e.mailbox_id) & kEvMessageEvents) {
        pending_status_.insert(e.mailbox_id);
      }
      break;
    case K::kCreated:
      n.mailboxes[e.mailbox_id] = e.name;
      if (n.events_for_name(e.name) & kEvMailboxName) pending_lines_ += notify_list_line(session_, "", e.name);
      break;
    case K::kDeleted: {
      const bool watched = n.events_for_name(e.name) & kEvMailboxName;
      n.mailboxes.erase(e.mailbox_id);
      pending_status_.erase(e.mailbox_id);
      if (watched) pending_lines_ += notify_list_line(session_, "\\NonExistent", e.name);
      break;
    }
    case K::kRenamed: {
      const bool watched = (n.events_for_name(e.old_name) | n.events_for_name(e.name)) & kEvMailboxName;
      // The store moved the subscription along with the name.
      if (n.subscriptions.erase(e.old_name)) n.subscriptions.insert(e.name);
      n.mailboxes[e.mailbox_id] = e.name;
      if (watched) pending_lines_ += notify_list_line(session_, "", e.name, e.old_name);
      break;
    }
    case K::kSubscribed:
    case K::kUnsubscribed: {
      const bool on = e.kind == K::kSubscribed;
      if (on) n.subscriptions.insert(e.name);
      else n.subscriptions.erase(e.name);
      // Matched as a subscribed mailbox, so that one leaving the `subscribed`
      // filter is still told it left.
      if (notify_events_for(n.spec, NotifyMailbox{e.name, true}) & kEvSubscriptionChange)
        pending_lines_ += notify_list_line(session_, on ? "\\Subscribed" : "", e.name);
      break;
    }
    case K::kMetadata:
      if (e.entries.empty()) break;
      if (e.mailbox_id == 0) {
        if (n.spec.server_metadata()) pending_lines_ += notify_metadata_line(session_, "", e.entries);
      } else if (n.events_for_name(e.name) & kEvMailboxMetadataChange) {
        // By the name the event carries: the mailbox may be new to this session.
        pending_lines_ += notify_metadata_line(session_, e.name, e.entries);
      }
      break;
  }
  if (pending_lines_.size() > kMaxPendingNotifyBytes) {
    // The client does not read fast enough (RFC 5465 5.8): stop notifying
    // and tell it, as if it had sent NOTIFY NONE.
    spdlog::info("[s:{}] NOTIFY overflow, notifications off", session_.session_id);
    pending_lines_ = untagged("OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY is off");
    pending_status_.clear();
    session_.notify.reset();
    server_.metrics->notification("overflow");
  }
  wake_pump();
}

bool Connection::notify_work_pending() const {
  if (!pending_lines_.empty() || !pending_status_.empty() || reload_mailboxes_) return true;
  const NotifyGroup* g = session_.notify ? session_.notify->spec.selected_group() : nullptr;
  return g && g->events && session_.selected && session_.mailbox_dirty && !session_.idling;
}

asio::awaitable<void> Connection::wait_for_pump() {
  while (pump_busy_) {
    pump_done_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await pump_done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Connection::notify_pump() {
  auto self = shared_from_this();
  using Clock = std::chrono::steady_clock;
  while (!closing_ && (session_.notify || !pending_lines_.empty())) {
    const bool can_send = waiting_for_command_ || session_.idling;
    const auto now = Clock::now();
    std::vector<int64_t> due;
    auto next_due = Clock::time_point::max();
    for (int64_t id : pending_status_) {
      auto it = last_status_.find(id);
      const auto ready = it == last_status_.end() ? now : it->second + kNotifyStatusInterval;
      if (ready <= now) due.push_back(id);
      else next_due = std::min(next_due, ready);
    }
    const NotifyGroup* sel_group = session_.notify ? session_.notify->spec.selected_group() : nullptr;
    const bool selected_push =
        sel_group && sel_group->events && session_.selected && session_.mailbox_dirty && !session_.idling;
    if (!can_send || (due.empty() && pending_lines_.empty() && !selected_push && !reload_mailboxes_)) {
      pump_wake_.expires_at(can_send ? next_due : Clock::time_point::max());
      boost::system::error_code ec;
      co_await pump_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    pump_busy_ = true;
    Reader none("");
    Context ctx{session_, server_.services, "", "NOTIFY", false, none,
                [this](std::string s) { send(std::move(s)); },
                [this]() -> asio::awaitable<void> { co_await flush(); }, nullptr};
    try {
      if (reload_mailboxes_ && session_.notify) {
        reload_mailboxes_ = false;
        const int64_t user_id = session_.user_id;
        auto load = [user_id](mailstore::MailStore& st) { return st.list(user_id); };
        mailstore::MailboxList names = co_await ctx.store(std::move(load));
        if (session_.notify) {
          session_.notify->mailboxes.clear();
          for (const auto& mb : names.mailboxes) session_.notify->mailboxes.emplace(mb.mailbox_id, mb.name);
          session_.notify->subscriptions = {names.subscriptions.begin(), names.subscriptions.end()};
        }
      }
      if (!pending_lines_.empty()) {
        const auto lines = std::count(pending_lines_.begin(), pending_lines_.end(), '\n');
        send(std::move(pending_lines_));
        pending_lines_.clear();
        for (long i = 0; i < lines; ++i) server_.metrics->notification("list");
      }
      if (selected_push && session_.selected && session_.mailbox_dirty && !session_.idling && session_.notify) {
        // `selected`: EXPUNGE may go out now (no command runs); `selected-delayed`
        // keeps them for a command that allows them, as without NOTIFY.
        co_await sync_selected(ctx, !session_.notify->spec.selected_delayed());
        server_.metrics->notification("selected");
      }
      std::vector<std::string> names;
      const int64_t selected_id = session_.selected ? session_.selected->mailbox_id : 0;
      for (int64_t id : due) {
        pending_status_.erase(id);
        if (!session_.notify || id == selected_id) continue;
        if (!(session_.notify->events_for_id(id) & kEvMessageEvents)) continue;
        names.push_back(session_.notify->mailboxes[id]);
        last_status_[id] = now;
      }
      co_await send_notify_status(ctx, std::move(names), &last_status_line_);
      co_await flush();
      if (ctx.effect == Effect::kClose) {
        closing_ = true;
        stream_.close();
      }
    } catch (const std::exception& e) {
      spdlog::warn("[s:{}] NOTIFY update failed: {}", session_.session_id, e.what());
    }
    pump_busy_ = false;
    pump_done_.cancel();
  }
  pump_running_ = false;
}

}  // namespace postline::imap
