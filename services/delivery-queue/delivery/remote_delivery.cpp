#include "services/delivery-queue/delivery/remote_delivery.h"
#include "common/log/printable.h"

#include "common/dns/resolver.h"
#include "common/net/tls.h"
#include "services/delivery-queue/delivery/transport_encoding.h"
#include "services/delivery-queue/protocol/smtp_client.h"
#include "services/delivery-queue/reports/tls_outcomes.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <fstream>

namespace postline::queue {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxHosts = 10;  // MX hosts × addresses tried per attempt

struct SessionResult {
  std::vector<smtp::RecipientOutcome> outcomes;
  bool host_failure = true;
  bool tls = false;
};

bool eight_bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x80; });
}

// One SMTP connection to one address, driven by the sans-I/O client, kept
// open between transactions when the client leaves the session idle. Every
// wait has a deadline; a timeout closes the socket and becomes
// connection_lost(). Each call runs its own io_context until the transaction
// is over, so the worker thread stays synchronous.
class Connection {
 public:
  Connection(const RemoteConfig& cfg, std::shared_ptr<asio::ssl::context> tls_ctx, uint16_t port, std::string host,
             std::string address)
      : cfg_(cfg),
        tls_ctx_(std::move(tls_ctx)),
        port_(port),
        host_(std::move(host)),
        address_(std::move(address)),
        socket_(io_),
        timer_(io_) {}
  ~Connection() { close(); }

  // Connects and runs the client's first transaction.
  void start(std::unique_ptr<smtp::Client> client) {
    client_ = std::move(client);
    run(connect_and_drive());
  }
  // Runs the transaction the client was just given (next_transaction()).
  void drive() { run(drive_loop()); }
  // Polite end: QUIT on an idle session, then close.
  void close() {
    if (client_ && client_->idle()) {
      client_->quit();
      run(drive_loop());
    }
    boost::system::error_code ignored;
    if (socket_.is_open()) {
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
  }

  smtp::Client& client() { return *client_; }
  const smtp::Client& client() const { return *client_; }
  bool connected() const { return connected_; }
  const std::string& host() const { return host_; }
  const std::string& address() const { return address_; }
  int transactions = 0;
  std::chrono::steady_clock::time_point idle_since;

 private:
  void run(asio::awaitable<void> work) {
    io_.restart();
    asio::co_spawn(io_, std::move(work), asio::detached);
    io_.run();
    if (!client_->done()) client_->connection_lost("session ended unexpectedly");
  }

  asio::awaitable<void> connect_and_drive() {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address_, ec);
    if (ec) {
      client_->connection_lost("bad address " + address_);
      co_return;
    }
    arm(cfg_.connect_timeout);
    co_await socket_.async_connect(tcp::endpoint(ip, port_), asio::redirect_error(asio::use_awaitable, ec));
    timer_.cancel();
    if (ec) {
      client_->connection_lost(timed_out_ ? "connection to " + host_ + "[" + address_ + "] timed out"
                                          : "cannot connect to " + host_ + "[" + address_ + "]: " + ec.message());
      co_return;
    }
    connected_ = true;
    co_await drive_loop();
  }

  asio::awaitable<void> drive_loop() {
    boost::system::error_code ec;
    smtp::Client& client = *client_;
    char buf[16384];
    while (true) {
      std::string out = client.take_output();
      if (!out.empty() && socket_.is_open()) {
        arm(cfg_.command_timeout);
        if (tls_)
          co_await asio::async_write(*tls_, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
        else
          co_await asio::async_write(socket_, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
        timer_.cancel();
        if (ec) {
          client.connection_lost("write to " + host_ + " failed: " + ec.message());
          break;
        }
      }
      if (client.done()) break;
      if (client.wants_tls()) {
        tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls_ctx_);
        // SNI: some MX hosts pick their certificate by name.
        SSL_set_tlsext_host_name(tls_->native_handle(), host_.c_str());
        arm(cfg_.command_timeout);
        co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        timer_.cancel();
        if (ec) {
          client.tls_failed(ec.message());
          tls_.reset();
        } else {
          client.tls_established();
        }
        continue;
      }
      arm(cfg_.command_timeout);
      size_t n = 0;
      if (tls_)
        n = co_await tls_->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      else
        n = co_await socket_.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      timer_.cancel();
      if (ec) {
        client.connection_lost(timed_out_ ? "timeout waiting for " + host_
                                          : "connection to " + host_ + " lost: " + ec.message());
        continue;  // writes the nothing that is left, then leaves
      }
      client.feed(std::string_view(buf, n));
    }
    // Idle: the connection stays open for the next transaction.
    if (client.closed()) {
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }
  }

  void arm(std::chrono::seconds timeout) {
    timed_out_ = false;
    timer_.expires_after(timeout);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the operation finished in time
      timed_out_ = true;
      boost::system::error_code ignored;
      socket_.cancel(ignored);
    });
  }

  const RemoteConfig& cfg_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  uint16_t port_;
  std::string host_, address_;
  asio::io_context io_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
  std::unique_ptr<smtp::Client> client_;
  bool timed_out_ = false;
  bool connected_ = false;
};

RecipientResult to_result(const smtp::RecipientOutcome& o, const std::string& host) {
  RecipientResult r;
  r.outcome = o.cls == '2' ? Outcome::kDelivered : o.cls == '5' ? Outcome::kPermanent : Outcome::kTemporary;
  r.reply = o.reply;
  r.mx_host = host;
  r.remote_reply = o.remote_reply;
  r.remote_dsn = o.dsn_passed;
  return r;
}

std::vector<RecipientResult> all(size_t n, Outcome outcome, const std::string& reply, const std::string& host = "") {
  return std::vector<RecipientResult>(n, RecipientResult{outcome, reply, host, false, false});
}

}  // namespace

RemoteConfig RemoteConfig::from(const config::Config& cfg) {
  RemoteConfig c;
  c.hostname = cfg.str("queue", "hostname");
  c.port = cfg.port("queue", "remote_smtp_port");
  const auto tls = cfg.str("queue", "tls");
  if (tls == "opportunistic") c.tls = TlsPolicy::kOpportunistic;
  else if (tls == "required") c.tls = TlsPolicy::kRequired;
  else if (tls == "off") c.tls = TlsPolicy::kOff;
  else throw config::ConfigError("queue.tls: expected opportunistic, required or off, got '" + tls + "'");
  c.connect_timeout = cfg.duration("queue", "connect_timeout");
  c.command_timeout = cfg.duration("queue", "command_timeout");
  if (c.connect_timeout.count() <= 0) throw config::ConfigError("queue.connect_timeout: must be positive");
  if (c.command_timeout.count() <= 0) throw config::ConfigError("queue.command_timeout: must be positive");
  c.dns_servers = cfg.list("dns", "servers");
  const auto per_connection = cfg.integer("queue", "max_messages_per_connection");
  if (per_connection < 1 || per_connection > 100000)
    throw config::ConfigError("queue.max_messages_per_connection: must be 1-100000");
  c.max_messages_per_connection = static_cast<int>(per_connection);
  c.connection_idle_timeout = cfg.duration("queue", "connection_idle_timeout");
  if (auto relay = cfg.str("queue", "relayhost"); !relay.empty()) {
    // host, host:port, [v6] or [v6]:port
    auto colon = relay.rfind(':');
    std::string host = relay;
    if (colon != std::string::npos && (relay.front() != '[' || relay[colon - 1] == ']')) {
      host = relay.substr(0, colon);
      try {
        size_t used = 0;
        int port = std::stoi(relay.substr(colon + 1), &used);
        if (used != relay.size() - colon - 1 || port < 1 || port > 65535) throw std::invalid_argument(relay);
        c.relayhost_port = static_cast<uint16_t>(port);
      } catch (const std::exception&) {
        throw config::ConfigError("queue.relayhost: expected host or host:port, got '" + relay + "'");
      }
    } else {
      c.relayhost_port = 25;
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    c.relayhost = host;
    c.relay_username = cfg.str("queue", "relayhost_username");
    if (!c.relay_username.empty()) {
      // Needed with relayhost_username.
      c.relay_password = config::read_secret_file("queue.relayhost_password_file",
                                                  cfg.str("queue", "relayhost_password_file"));
    }
  }
  return c;
}

SmtpRemoteDelivery::SmtpRemoteDelivery(RemoteConfig config, MessageSigner* signer)
    : config_(std::move(config)),
      signer_(signer),
      // Opportunistic TLS cannot verify (RFC 7435): an MX certificate is
      // rarely valid for its name, and refusing it would only push the mail
      // to cleartext. Encryption against passive eavesdropping is the gain.
      tls_ctx_(net::make_client_context(false)) {}

namespace {

// A destination session: the MX hosts of one domain (or the relayhost), and
// the connection that carried the last message while it may carry the next.
class SmtpSession final : public RemoteSession {
 public:
  SmtpSession(SmtpRemoteDelivery& owner, std::string domain) : owner_(owner), domain_(std::move(domain)) {}
  ~SmtpSession() override { conn_.reset(); }

  std::vector<RecipientResult> deliver(const MessageData& message,
                                       const std::vector<const ClaimedRecipient*>& recipients) override;
  bool reusable() const override { return conn_ && usable(*conn_); }
  Counts take_counts() override { return std::exchange(counts_, Counts{}); }

 private:
  const RemoteConfig& cfg() const { return owner_.config(); }
  bool usable(const Connection& c) const {
    return c.client().idle() && c.transactions < cfg().max_messages_per_connection &&
           std::chrono::steady_clock::now() - c.idle_since < cfg().connection_idle_timeout;
  }
  // After a transaction on conn_: keep it only while it may carry another.
  void after_transaction() {
    ++conn_->transactions;
    conn_->idle_since = std::chrono::steady_clock::now();
    if (!conn_->client().idle() || conn_->transactions >= cfg().max_messages_per_connection) conn_.reset();
  }
  // MX hosts (or relayhost, or an address literal) in preference order; an
  // error result for every recipient when there is nowhere to go.
  std::optional<std::vector<RecipientResult>> resolve(size_t n, dns::Resolver& resolver);

  // Opportunistic STARTTLS as TLS reporting sees it: no policy, and a
  // session that got past EHLO either has TLS or says why not.
  void record_tls(const Connection& c) {
    auto* recorder = owner_.tls_recorder();
    if (!recorder || !cfg().relayhost.empty() || cfg().tls == TlsPolicy::kOff) return;
    using Stage = smtp::Client::TlsStage;
    const Stage stage = c.client().tls_stage();
    if (stage == Stage::kNotReached) return;
    const bool ok = stage == Stage::kEstablished;
    const char* result = stage == Stage::kHandshakeFailed ? "validation-failure"
                         : ok                             ? ""
                                                          : "starttls-not-supported";
    recorder->record(domain_, reports::TlsPolicyType::kNoPolicyFound, {}, c.host(), c.address(), result, ok);
  }

  SmtpRemoteDelivery& owner_;
  std::string domain_;
  bool resolved_ = false;
  std::vector<std::pair<std::string, std::vector<std::string>>> targets_;  // host, addresses (lazy)
  std::unique_ptr<Connection> conn_;
  Counts counts_;
};

std::optional<std::vector<RecipientResult>> SmtpSession::resolve(size_t n, dns::Resolver& resolver) {
  if (resolved_) return std::nullopt;
  targets_.clear();
  if (!cfg().relayhost.empty()) {
    boost::system::error_code ec;
    asio::ip::make_address(cfg().relayhost, ec);
    if (!ec) targets_.push_back({cfg().relayhost, {cfg().relayhost}});
    else targets_.push_back({cfg().relayhost, {}});
  } else if (domain_.front() == '[' && domain_.back() == ']') {
    std::string literal = domain_.substr(1, domain_.size() - 2);
    if (literal.rfind("IPv6:", 0) == 0 || literal.rfind("ipv6:", 0) == 0) literal = literal.substr(5);
    boost::system::error_code ec;
    asio::ip::make_address(literal, ec);
    if (ec) return all(n, Outcome::kPermanent, "553 5.1.2 invalid address literal " + domain_);
    targets_.push_back({literal, {literal}});
  } else {
    auto mx = resolver.lookup_mx(domain_);
    switch (mx.status) {
      case dns::Status::kNullMx:
        return all(n, Outcome::kPermanent, "556 5.1.10 " + mx.error);
      case dns::Status::kNoDomain:
        return all(n, Outcome::kPermanent, "550 5.1.2 " + mx.error);
      case dns::Status::kTemporary:
        return all(n, Outcome::kTemporary, "451 4.4.3 " + mx.error);
      case dns::Status::kOk:
        break;
    }
    for (const auto& h : mx.hosts) targets_.push_back({h.host, {}});
  }
  // Only a successful answer is kept for the session's later messages.
  resolved_ = true;
  return std::nullopt;
}

std::vector<RecipientResult> SmtpSession::deliver(const MessageData& message,
                                                  const std::vector<const ClaimedRecipient*>& recipients) {
  const size_t n = recipients.size();
  if (n == 0) return {};
  if (domain_.empty()) return all(n, Outcome::kPermanent, "553 5.1.3 recipient address has no domain");

  smtp::Envelope env;
  env.mail_from = message.mail_from;
  for (const auto* r : recipients) env.recipients.push_back({r->address, r->notify, r->orcpt});
  env.ret = message.dsn_ret;
  env.envid = message.dsn_envid;
  env.smtputf8 = message.smtputf8;

  // What goes on the wire stays within 998 octets a line (RFC 5321 4.5.3.1.6):
  // parts with longer lines (mail the MX accepted from others and we relay on)
  // are re-encoded before signing; if that is not possible, nobody gets it.
  std::optional<MessageData> wire;  // the re-encoded copy, only when something changed
  const MessageData* outgoing = &message;
  if (needs_transport_encoding(message.body, true)) {
    auto encoded = encode_for_transport(message.body, true);
    if (encoded.status == TransportEncoding::Status::kImpossible) {
      spdlog::info("[q:{}] lines over 998 octets that cannot be re-encoded: {}", message.queue_id, encoded.error);
      return all(n, Outcome::kPermanent,
                 "554 5.6.3 the message has lines longer than 998 octets that cannot be re-encoded: " + encoded.error);
    }
    wire.emplace(message);
    wire->body = std::move(encoded.message);
    outgoing = &*wire;
    spdlog::info("[q:{}] parts with lines over 998 octets re-encoded", message.queue_id);
  }
  env.eight_bit = message.body_type == "8BITMIME" || eight_bit(outgoing->body);

  // DKIM (or any other signing) happens once per message, before the first
  // host, over the bytes that are sent.
  std::string signed_body;
  std::string_view body = outgoing->body;
  if (owner_.signer()) {
    signed_body = owner_.signer()->sign(*outgoing);
    if (!signed_body.empty()) body = signed_body;
  }
  // A server without 8BITMIME gets the 7-bit form, converted (RFC 6152 3,
  // RFC 2045) and then signed: the signature covers what that server
  // receives. Made once per message, when the first such server asks.
  // (The callback refers to this call's locals: the client calls it only in
  // the transaction started below, before deliver() returns.)
  std::optional<smtp::Envelope::SevenBit> seven_bit;
  if (env.eight_bit) {
    env.seven_bit = [&, this]() {
      if (seven_bit) return *seven_bit;
      seven_bit.emplace();
      auto encoded = encode_for_transport(outgoing->body, false);
      if (encoded.status == TransportEncoding::Status::kImpossible) {
        seven_bit->error = encoded.error;
        return *seven_bit;
      }
      seven_bit->ok = true;
      if (encoded.status == TransportEncoding::Status::kUnchanged) {
        // BODY=8BITMIME, but every octet is 7-bit: the signed original fits.
        seven_bit->message = std::string(body);
        return *seven_bit;
      }
      MessageData converted = *outgoing;
      converted.body = std::move(encoded.message);
      seven_bit->message = converted.body;
      if (owner_.signer())
        if (auto s = owner_.signer()->sign(converted); !s.empty()) seven_bit->message = std::move(s);
      spdlog::info("[q:{}] converted to 7 bit for a server without 8BITMIME", message.queue_id);
      return *seven_bit;
    };
  }
  auto results_of = [&](Connection& c) {
    std::vector<RecipientResult> results;
    for (const auto& o : c.client().outcomes()) results.push_back(to_result(o, c.host()));
    return results;
  };

  // 1. The connection that carried the last message, while it may carry more.
  if (conn_ && !usable(*conn_)) conn_.reset();
  if (conn_) {
    ++counts_.reused;
    conn_->client().next_transaction(env, body);
    conn_->drive();
    if (!conn_->client().host_failure()) {
      auto results = results_of(*conn_);
      spdlog::debug("[q:{}] {} [{}] reused connection (message {} on it)", message.queue_id, conn_->host(),
                    conn_->address(), conn_->transactions + 1);
      after_transaction();
      return results;
    }
    // The server closed or refused the idle session before MAIL was
    // answered: nothing of this message was decided, so it is retried at
    // once on a new connection and this does not count as its attempt.
    spdlog::info("[q:{}] reused connection to {} [{}] failed ({}): reconnecting", message.queue_id, conn_->host(),
                 conn_->address(),
                 conn_->client().outcomes().empty() ? "" : conn_->client().outcomes()[0].reply);
    conn_.reset();
  }

  // 2. A new connection: hosts in preference order.
  dns::Resolver resolver(cfg().dns_servers,
                         std::min<std::chrono::milliseconds>(cfg().connect_timeout, std::chrono::seconds(15)));
  if (auto error = resolve(n, resolver)) return *error;

  smtp::Options opts;
  opts.ehlo_name = cfg().hostname;
  if (!cfg().relayhost.empty()) {
    opts.auth_username = cfg().relay_username;
    opts.auth_password = cfg().relay_password;
  }
  opts.tls = cfg().tls == TlsPolicy::kRequired ? smtp::TlsPolicy::kRequired
             : cfg().tls == TlsPolicy::kOff    ? smtp::TlsPolicy::kOff
                                               : smtp::TlsPolicy::kOpportunistic;
  opts.keep_open = cfg().max_messages_per_connection > 1;
  const uint16_t port = cfg().relayhost.empty() ? cfg().port : cfg().relayhost_port;

  std::vector<RecipientResult> last = all(n, Outcome::kTemporary, "451 4.4.1 no MX host could be reached");
  size_t tried = 0;
  for (auto& [host, addresses] : targets_) {
    if (tried >= kMaxHosts) break;
    if (addresses.empty()) {
      auto a = resolver.lookup_addresses(host);
      if (a.status != dns::Status::kOk) {
        last = all(n, Outcome::kTemporary, "451 4.4.3 " + a.error, host);
        continue;
      }
      addresses = a.addresses;
    }
    for (const auto& address : addresses) {
      if (tried++ >= kMaxHosts) break;
      auto c = std::make_unique<Connection>(cfg(), owner_.tls_context(), port, host, address);
      c->start(std::make_unique<smtp::Client>(opts, env, body));
      if (c->connected()) ++counts_.opened;
      record_tls(*c);
      auto results = results_of(*c);
      if (!c->client().host_failure()) {
        spdlog::debug("[q:{}] {} [{}] tls={}", message.queue_id, host, address, c->client().tls_active());
        conn_ = std::move(c);
        after_transaction();
        return results;
      }
      spdlog::info("[q:{}] {} [{}]: {} (trying the next host)", message.queue_id, host, address,
                   log::printable(results.empty() ? "" : results[0].reply, 1024));
      last = std::move(results);
    }
  }
  // Every host failed at the session level. A 5xx greeting/EHLO from the last
  // host stays permanent; anything else is worth another try later.
  return last;
}

}  // namespace

std::unique_ptr<RemoteSession> SmtpRemoteDelivery::open(const std::string& domain) {
  return std::make_unique<SmtpSession>(*this, domain);
}

std::vector<RecipientResult> SmtpRemoteDelivery::deliver(const MessageData& message,
                                                         const std::vector<const ClaimedRecipient*>& recipients) {
  if (recipients.empty()) return {};
  auto session = open(recipients[0]->domain);
  return session->deliver(message, recipients);
}

}  // namespace postline::queue
