#include "services/delivery-queue/delivery/remote_delivery.h"

#include "common/dns/resolver.h"
#include "common/net/tls.h"
#include "services/delivery-queue/protocol/smtp_client.h"

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

// One SMTP session on one address, driven by the sans-I/O client. Every wait
// has a deadline; a timeout closes the socket and becomes connection_lost().
class Session {
 public:
  Session(asio::io_context& io, const RemoteConfig& cfg, std::shared_ptr<asio::ssl::context> tls_ctx, uint16_t port)
      : io_(io), cfg_(cfg), tls_ctx_(std::move(tls_ctx)), port_(port), socket_(io), timer_(io) {}

  asio::awaitable<void> run(std::string host, std::string address, smtp::Client& client) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address, ec);
    if (ec) {
      client.connection_lost("bad address " + address);
      co_return;
    }
    arm(cfg_.connect_timeout);
    co_await socket_.async_connect(tcp::endpoint(ip, port_), asio::redirect_error(asio::use_awaitable, ec));
    timer_.cancel();
    if (ec) {
      client.connection_lost(timed_out_ ? "connection to " + host + "[" + address + "] timed out"
                                        : "cannot connect to " + host + "[" + address + "]: " + ec.message());
      co_return;
    }
    char buf[16384];
    while (true) {
      std::string out = client.take_output();
      if (!out.empty()) {
        arm(cfg_.command_timeout);
        if (tls_)
          co_await asio::async_write(*tls_, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
        else
          co_await asio::async_write(socket_, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
        timer_.cancel();
        if (ec) {
          client.connection_lost("write to " + host + " failed: " + ec.message());
          break;
        }
      }
      if (client.done()) break;
      if (client.wants_tls()) {
        tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls_ctx_);
        // SNI: some MX hosts pick their certificate by name.
        SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
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
        client.connection_lost(timed_out_ ? "timeout waiting for " + host
                                          : "connection to " + host + " lost: " + ec.message());
        continue;  // writes the nothing that is left, then leaves
      }
      client.feed(std::string_view(buf, n));
    }
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
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

  asio::io_context& io_;
  const RemoteConfig& cfg_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  uint16_t port_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
  bool timed_out_ = false;
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
      const auto path = cfg.str("queue", "relayhost_password_file");
      std::ifstream in(path);
      if (path.empty() || !in)
        throw config::ConfigError("queue.relayhost_password_file: cannot read '" + path + "' (needed with relayhost_username)");
      std::getline(in, c.relay_password);
      while (!c.relay_password.empty() && (c.relay_password.back() == '\r' || c.relay_password.back() == ' '))
        c.relay_password.pop_back();
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

std::vector<RecipientResult> SmtpRemoteDelivery::deliver(const MessageData& message,
                                                         const std::vector<const ClaimedRecipient*>& recipients) {
  const size_t n = recipients.size();
  if (n == 0) return {};
  const std::string domain = recipients[0]->domain;
  if (domain.empty()) return all(n, Outcome::kPermanent, "553 5.1.3 recipient address has no domain");

  // Where to go: an address literal, or the domain's MX hosts.
  std::vector<std::pair<std::string, std::vector<std::string>>> targets;  // host, addresses (lazy)
  dns::Resolver resolver(config_.dns_servers, std::min<std::chrono::milliseconds>(config_.connect_timeout, std::chrono::seconds(15)));
  if (!config_.relayhost.empty()) {
    boost::system::error_code ec;
    asio::ip::make_address(config_.relayhost, ec);
    if (!ec) targets.push_back({config_.relayhost, {config_.relayhost}});
    else targets.push_back({config_.relayhost, {}});
  } else if (domain.front() == '[' && domain.back() == ']') {
    std::string literal = domain.substr(1, domain.size() - 2);
    if (literal.rfind("IPv6:", 0) == 0 || literal.rfind("ipv6:", 0) == 0) literal = literal.substr(5);
    boost::system::error_code ec;
    asio::ip::make_address(literal, ec);
    if (ec) return all(n, Outcome::kPermanent, "553 5.1.2 invalid address literal " + domain);
    targets.push_back({literal, {literal}});
  } else {
    auto mx = resolver.lookup_mx(domain);
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
    for (const auto& h : mx.hosts) targets.push_back({h.host, {}});
  }

  smtp::Envelope env;
  env.mail_from = message.mail_from;
  for (const auto* r : recipients) env.recipients.push_back({r->address, r->notify, r->orcpt});
  env.ret = message.dsn_ret;
  env.envid = message.dsn_envid;
  env.smtputf8 = message.smtputf8;
  env.eight_bit = message.body_type == "8BITMIME" || eight_bit(message.body);
  smtp::Options opts;
  opts.ehlo_name = config_.hostname;
  if (!config_.relayhost.empty()) {
    opts.auth_username = config_.relay_username;
    opts.auth_password = config_.relay_password;
  }
  opts.tls = config_.tls == TlsPolicy::kRequired ? smtp::TlsPolicy::kRequired
             : config_.tls == TlsPolicy::kOff    ? smtp::TlsPolicy::kOff
                                                 : smtp::TlsPolicy::kOpportunistic;

  // DKIM (or any other signing) happens once per attempt, before the first host.
  std::string signed_body;
  std::string_view body = message.body;
  if (signer_) {
    signed_body = signer_->sign(message);
    if (!signed_body.empty()) body = signed_body;
  }

  std::vector<RecipientResult> last = all(n, Outcome::kTemporary, "451 4.4.1 no MX host could be reached");
  size_t tried = 0;
  for (auto& [host, addresses] : targets) {
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
      smtp::Client client(opts, env, body);
      asio::io_context io;
      Session session(io, config_, tls_ctx_, config_.relayhost.empty() ? config_.port : config_.relayhost_port);
      asio::co_spawn(io, session.run(host, address, client), asio::detached);
      io.run();
      if (!client.done()) client.connection_lost("session ended unexpectedly");
      std::vector<RecipientResult> results;
      for (const auto& o : client.outcomes()) results.push_back(to_result(o, host));
      if (!client.host_failure()) {
        spdlog::debug("[q:{}] {} [{}] tls={}", message.queue_id, host, address, client.tls_active());
        return results;
      }
      spdlog::info("[q:{}] {} [{}]: {} (trying the next host)", message.queue_id, host, address,
                   results.empty() ? "" : results[0].reply);
      last = std::move(results);
    }
  }
  // Every host failed at the session level. A 5xx greeting/EHLO from the last
  // host stays permanent; anything else is worth another try later.
  return last;
}

}  // namespace postline::queue
