#include "services/delivery-queue/delivery/remote_delivery.h"
#include "common/log/printable.h"

#include "common/dns/dnssec_resolver.h"
#include "common/dns/resolver.h"
#include "common/net/tls.h"
#include "services/delivery-queue/policy/tls_required.h"
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
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
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

// How one connection to one MX host must be secured (docs/queue.md
// "Transport security"): which policy authenticates it, and whether a failure
// stops delivery there.
struct Plan {
  enum class Auth { kNone, kSts, kDane } auth = Auth::kNone;
  // A failure (no STARTTLS, a certificate that does not authenticate) blocks
  // this host: MTA-STS enforce, DANE, REQUIRETLS. Otherwise it is recorded
  // (testing mode) and delivery goes on.
  bool enforce = false;
  bool requiretls = false;  // the message's: failures are 5.7.30, permanent
  bool would_enforce = false;  // enforce, but for the message's TLS-Required: No
  std::vector<dns::TlsaRecord> tlsa;  // usable records, for Auth::kDane
  TransportPolicyResult result;       // policy type, domain, strings
  // A failure was ignored because the message says TLS-Required: No: this
  // connection must not carry other mail.
  bool relaxed = false;
};

// The outcome of the certificate check after the handshake.
struct TlsCheck {
  bool checked = false;
  bool ok = false;
  PolicyResultType result = PolicyResultType::kSuccess;
  std::string error;
};

// Sets up the SSL object for the check the plan asks for (before the handshake).
void prepare_tls(SSL* ssl, const Plan& plan, const std::string& host) {
  if (plan.auth == Plan::Auth::kDane) {
    // RFC 7672 3: the TLSA base domain (the MX host) is the reference
    // identifier for DANE-TA(2); DANE-EE(3) ignores names and dates (3.1.1).
    if (SSL_dane_enable(ssl, host.c_str()) <= 0) return;
    SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    for (const auto& t : plan.tlsa)
      SSL_dane_tlsa_add(ssl, t.usage, t.selector, t.mtype, reinterpret_cast<const unsigned char*>(t.data.data()),
                        t.data.size());
  } else if (plan.auth == Plan::Auth::kSts) {
    // RFC 8461 4.2: valid for the MX host name (RFC 6125: a wildcard only as
    // the whole left-most label), chained to a trusted root.
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, host.c_str());
  }
}

// After the handshake (which never fails for the certificate's sake: the
// context verifies without aborting), what the plan's policy says of it.
TlsCheck check_tls(SSL* ssl, const Plan& plan) {
  TlsCheck c;
  if (plan.auth == Plan::Auth::kNone) return c;
  c.checked = true;
  const long verify = SSL_get_verify_result(ssl);
  if (plan.auth == Plan::Auth::kDane) {
    if (verify == X509_V_OK && SSL_get0_dane_authority(ssl, nullptr, nullptr) >= 0) {
      c.ok = true;
      return c;
    }
    c.result = PolicyResultType::kValidationFailure;
    c.error = std::string("the certificate matches none of its TLSA records (") +
              (verify == X509_V_OK ? "no match" : X509_verify_cert_error_string(verify)) + ")";
    return c;
  }
  if (verify == X509_V_OK && SSL_get0_peer_certificate(ssl)) {
    c.ok = true;
    return c;
  }
  switch (verify) {
    case X509_V_ERR_HOSTNAME_MISMATCH: c.result = PolicyResultType::kCertificateHostMismatch; break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: c.result = PolicyResultType::kCertificateExpired; break;
    default: c.result = PolicyResultType::kCertificateNotTrusted; break;
  }
  c.error = std::string("the certificate is not valid for the host: ") + X509_verify_cert_error_string(verify);
  return c;
}

// One SMTP connection to one address, driven by the sans-I/O client, kept
// open between transactions when the client leaves the session idle. Every
// wait has a deadline; a timeout closes the socket and becomes
// connection_lost(). Each call runs its own io_context until the transaction
// is over, so the worker thread stays synchronous.
class Connection {
 public:
  Connection(const RemoteConfig& cfg, std::shared_ptr<asio::ssl::context> tls_ctx, uint16_t port, std::string host,
             std::string address, Plan plan = {})
      : plan(std::move(plan)),
        cfg_(cfg),
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
  // How this connection was secured, and what the check after its handshake said.
  Plan plan;
  TlsCheck tls_check;
  // The connection may carry any message: its policy held (or was only
  // reported, in testing mode).
  bool policy_ok() const { return !plan.relaxed; }
  // It is authenticated (MTA-STS or DANE, or a verified relayhost): REQUIRETLS
  // mail may go over it.
  bool authenticated() const { return tls_check.checked && tls_check.ok && client_ && client_->tls_active(); }

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
        prepare_tls(tls_->native_handle(), plan, host_);
        arm(cfg_.command_timeout);
        co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        timer_.cancel();
        if (ec) {
          client.tls_failed(ec.message());
          tls_.reset();
          continue;
        }
        tls_check = check_tls(tls_->native_handle(), plan);
        if (tls_check.checked && !tls_check.ok && plan.enforce) {
          const std::string what = plan.auth == Plan::Auth::kDane ? "DANE" : "MTA-STS";
          client.tls_rejected(plan.requiretls
                                  ? "550 5.7.30 REQUIRETLS: " + host_ + ": " + tls_check.error
                                  : "454 4.7.5 " + what + ": " + host_ + ": " + tls_check.error);
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
  c.mta_sts = cfg.boolean("queue", "mta_sts");
  c.mta_sts_port = cfg.port("queue", "mta_sts_port");
  c.mta_sts_fetch_timeout = cfg.duration("queue", "mta_sts_fetch_timeout");
  if (c.mta_sts_fetch_timeout.count() <= 0) throw config::ConfigError("queue.mta_sts_fetch_timeout: must be positive");
  c.tls_ca_file = cfg.str("queue", "tls_ca_file");
  if (!c.tls_ca_file.empty() && !std::ifstream(c.tls_ca_file))
    throw config::ConfigError("queue.tls_ca_file: cannot read " + c.tls_ca_file);
  c.trust_anchor_file = cfg.str("dns", "trust_anchor_file");
  const auto dane = cfg.str("queue", "dane");
  if (dane == "auto") c.dane = !c.trust_anchor_file.empty();
  else if (dane == "on") c.dane = true;
  else if (dane == "off") c.dane = false;
  else throw config::ConfigError("queue.dane: expected auto, on or off, got '" + dane + "'");
  if (c.dane && c.trust_anchor_file.empty())
    throw config::ConfigError("queue.dane=on needs dns.trust_anchor_file (a DNSSEC trust anchor, e.g. /usr/share/dns/root.key)");
  if (c.dane && !std::ifstream(c.trust_anchor_file))
    throw config::ConfigError("dns.trust_anchor_file: cannot read " + c.trust_anchor_file);
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

SmtpRemoteDelivery::SmtpRemoteDelivery(RemoteConfig config, MessageSigner* signer, StsPolicyCache* sts_cache)
    : config_(std::move(config)),
      signer_(signer),
      // The handshake itself never verifies (RFC 7435: opportunistic TLS to
      // an MX whose certificate is rarely valid for its name beats
      // cleartext); where MTA-STS or DANE apply, the certificate is checked
      // after the handshake (check_tls), against the CA store loaded here or
      // the TLSA records.
      tls_ctx_(net::make_client_context(false)) {
  boost::system::error_code ec;
  if (config_.tls_ca_file.empty())
    tls_ctx_->set_default_verify_paths(ec);
  else
    tls_ctx_->load_verify_file(config_.tls_ca_file, ec);
  if (ec) throw std::runtime_error("queue.tls_ca_file: cannot load " + config_.tls_ca_file + ": " + ec.message());
  if (SSL_CTX_dane_enable(tls_ctx_->native_handle()) <= 0) throw std::runtime_error("OpenSSL: cannot enable DANE");
  if (!sts_cache) {
    own_cache_ = std::make_unique<MemoryStsCache>();
    sts_cache = own_cache_.get();
  }
  cache_ = sts_cache;
  if (config_.mta_sts) {
    fetcher_ = std::make_unique<HttpsPolicyFetcher>(config_.dns_servers, config_.tls_ca_file, config_.mta_sts_port,
                                                    config_.mta_sts_fetch_timeout);
    sts_ = std::make_unique<StsPolicySource>(make_txt_lookup(config_.dns_servers), *fetcher_, *cache_);
  }
}

SmtpRemoteDelivery::~SmtpRemoteDelivery() = default;

void SmtpRemoteDelivery::set_policy_fetcher(std::unique_ptr<PolicyFetcher> fetcher) {
  fetcher_ = std::move(fetcher);
  sts_ = std::make_unique<StsPolicySource>(make_txt_lookup(config_.dns_servers), *fetcher_, *cache_);
}

namespace {

// What DANE says of one MX host (RFC 7672 2.2): looked up once per session.
enum class Dane {
  kNotApplicable,  // DANE off, or the MX RRset, the addresses or the TLSA RRset insecure, or no TLSA
  kUsable,         // secure TLSA records, some usable: TLS required, authenticated by them
  kUnusable,       // secure TLSA records, none usable: TLS required, not authenticated (2.2)
  kBogus,          // DNSSEC validation failed: this host is not used
  kTemporary,      // the TLSA look-up failed: this host is not used now
};

struct Target {
  std::string host;
  bool looked_up = false;
  std::vector<std::string> addresses;
  std::string address_error;  // when none
  Dane dane = Dane::kNotApplicable;
  std::vector<dns::TlsaRecord> tlsa;  // every record, for the report
  std::vector<dns::TlsaRecord> usable;
  std::string dane_error;
};

bool usable_tlsa(const dns::TlsaRecord& t) {
  // RFC 7672 3.1: DANE-TA(2) and DANE-EE(3) only; selectors 0/1; matching 0/1/2.
  return (t.usage == 2 || t.usage == 3) && t.selector <= 1 && t.mtype <= 2 && !t.data.empty() &&
         (t.mtype != 1 || t.data.size() == 32) && (t.mtype != 2 || t.data.size() == 64);
}

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
  std::vector<TransportPolicyResult> take_policy_results() override { return std::exchange(results_, {}); }

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
  // Addresses (and, with DANE, TLSA records) of one target, once per session.
  void look_up(Target& t, dns::Resolver& resolver);
  // How to secure a connection to `t` for this message; a reply instead when
  // the host must not be used for it.
  Plan plan_for(const Target& t, const MessageData& message, bool relax, std::optional<RecipientResult>* skip);
  void record(TransportPolicyResult r) {
    // MTA-STS and DANE outcomes go to TLS reporting as they are (RFC 8460 4.4);
    // sessions without a policy are record_tls()'s.
    if (auto* recorder = owner_.tls_recorder(); recorder && r.policy_type != PolicyType::kNoPolicyFound)
      recorder->record(r.policy_domain.empty() ? domain_ : r.policy_domain,
                       r.policy_type == PolicyType::kSts ? reports::TlsPolicyType::kSts : reports::TlsPolicyType::kTlsa,
                       r.policy_strings, r.receiving_mx_hostname, r.receiving_ip,
                       r.result == PolicyResultType::kSuccess ? "" : result_type_name(r.result),
                       r.result == PolicyResultType::kSuccess);
    if (r.result != PolicyResultType::kSuccess)
      spdlog::info("transport policy {} for {}: {} at {} [{}]: {}{}", policy_type_name(r.policy_type), domain_,
                   result_type_name(r.result), r.receiving_mx_hostname, r.receiving_ip,
                   log::printable(r.failure_reason, 512), r.blocked ? " (not delivered there)" : " (delivery goes on)");
    results_.push_back(std::move(r));
  }
  bool policies_apply() const {
    return cfg().relayhost.empty() && cfg().tls != TlsPolicy::kOff && !(domain_.front() == '[' && domain_.back() == ']');
  }

  // Opportunistic STARTTLS as TLS reporting sees it: no policy, and a
  // session that got past EHLO either has TLS or says why not.
  void record_tls(const Connection& c) {
    auto* recorder = owner_.tls_recorder();
    if (!recorder || !cfg().relayhost.empty() || cfg().tls == TlsPolicy::kOff) return;
    // A connection under MTA-STS or DANE is reported by record() with its policy.
    if (c.plan.auth != Plan::Auth::kNone || c.plan.result.policy_type != PolicyType::kNoPolicyFound) return;
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
  std::vector<Target> targets_;
  bool mx_secure_ = false;  // the MX RRset validated (DANE applies to its hosts)
  std::optional<StsLookup> sts_;
  std::optional<dns::DnssecResolver> dnssec_;
  std::unique_ptr<Connection> conn_;
  Counts counts_;
  std::vector<TransportPolicyResult> results_;
};

std::optional<std::vector<RecipientResult>> SmtpSession::resolve(size_t n, dns::Resolver& resolver) {
  if (resolved_) return std::nullopt;
  targets_.clear();
  if (!cfg().relayhost.empty()) {
    boost::system::error_code ec;
    asio::ip::make_address(cfg().relayhost, ec);
    Target t;
    t.host = cfg().relayhost;
    if (!ec) {
      t.addresses = {cfg().relayhost};
      t.looked_up = true;
    }
    targets_.push_back(std::move(t));
  } else if (domain_.front() == '[' && domain_.back() == ']') {
    std::string literal = domain_.substr(1, domain_.size() - 2);
    if (literal.rfind("IPv6:", 0) == 0 || literal.rfind("ipv6:", 0) == 0) literal = literal.substr(5);
    boost::system::error_code ec;
    asio::ip::make_address(literal, ec);
    if (ec) return all(n, Outcome::kPermanent, "553 5.1.2 invalid address literal " + domain_);
    Target t;
    t.host = literal;
    t.addresses = {literal};
    t.looked_up = true;
    targets_.push_back(std::move(t));
  } else {
    std::vector<dns::MxHost> hosts;
    bool done = false;
    if (cfg().dane && policies_apply()) {
      // DNSSEC-validated MX (RFC 7672 2.2.1): secure -> DANE may apply to
      // its hosts; insecure -> not; bogus -> no delivery now.
      if (!dnssec_) dnssec_.emplace(cfg().dns_servers, cfg().trust_anchor_file,
                                    std::min<std::chrono::milliseconds>(cfg().connect_timeout, std::chrono::seconds(15)));
      auto mx = dnssec_->lookup_mx(domain_);
      if (mx.security == dns::Security::kBogus) {
        TransportPolicyResult r;
        r.policy_type = PolicyType::kTlsa;
        r.policy_domain = domain_;
        r.result = PolicyResultType::kDnssecInvalid;
        r.failure_reason = mx.error;
        r.blocked = true;
        record(std::move(r));
        return all(n, Outcome::kTemporary, "451 4.7.5 DANE: " + mx.error);
      }
      switch (mx.status) {
        case dns::Status::kNullMx: return all(n, Outcome::kPermanent, "556 5.1.10 " + mx.error);
        case dns::Status::kNoDomain: return all(n, Outcome::kPermanent, "550 5.1.2 " + mx.error);
        case dns::Status::kTemporary: return all(n, Outcome::kTemporary, "451 4.4.3 " + mx.error);
        case dns::Status::kOk: break;
      }
      mx_secure_ = mx.security == dns::Security::kSecure;
      if (mx.implicit) {
        // No MX: the domain itself, if it has an address (RFC 5321 5.1), as
        // the c-ares path decides it.
        auto a = dnssec_->lookup_addresses(domain_);
        if (a.status == dns::Status::kNoDomain)
          return all(n, Outcome::kPermanent, "550 5.1.2 domain " + domain_ + " has no MX and no address records");
      }
      hosts = std::move(mx.hosts);
      done = true;
    }
    if (!done) {
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
      hosts = std::move(mx.hosts);
    }
    for (const auto& h : hosts) {
      Target t;
      t.host = h.host;
      targets_.push_back(std::move(t));
    }
    // MTA-STS (RFC 8461 5): once per session, after the MX look-up.
    if (owner_.sts() && policies_apply()) {
      sts_ = owner_.sts()->lookup(domain_);
      if (sts_->failure) {
        TransportPolicyResult r;
        r.policy_type = PolicyType::kSts;
        r.policy_domain = domain_;
        r.result = *sts_->failure;
        r.failure_reason = sts_->error;
        if (sts_->policy) {
          r.policy_strings = sts_->policy->lines;
          r.mx_patterns = sts_->policy->mx;
        }
        record(std::move(r));
      }
    }
  }
  // Only a successful answer is kept for the session's later messages.
  resolved_ = true;
  return std::nullopt;
}

void SmtpSession::look_up(Target& t, dns::Resolver& resolver) {
  if (t.looked_up) return;
  t.looked_up = true;
  if (dnssec_ && mx_secure_) {
    auto a = dnssec_->lookup_addresses(t.host);
    if (a.security == dns::Security::kBogus) {
      t.dane = Dane::kBogus;
      t.dane_error = a.error;
      // Without DANE's promise the addresses are still worth having (for a
      // message that says TLS-Required: No).
    } else if (a.status == dns::Status::kOk) {
      t.addresses = a.addresses;
      if (a.security == dns::Security::kSecure) {
        // RFC 7672 2.2.2: TLSA only for hosts whose addresses are secure.
        auto tlsa = dnssec_->lookup_tlsa(t.host, cfg().port);
        if (tlsa.security == dns::Security::kBogus) {
          t.dane = Dane::kBogus;
          t.dane_error = tlsa.error;
        } else if (tlsa.status == dns::Status::kTemporary) {
          t.dane = Dane::kTemporary;
          t.dane_error = tlsa.error;
        } else if (tlsa.security == dns::Security::kSecure && tlsa.status == dns::Status::kOk) {
          t.tlsa = tlsa.records;
          for (const auto& r : tlsa.records)
            if (usable_tlsa(r)) t.usable.push_back(r);
          t.dane = t.usable.empty() ? Dane::kUnusable : Dane::kUsable;
          if (t.usable.empty())
            t.dane_error = "none of the " + std::to_string(tlsa.records.size() + tlsa.malformed) +
                           " TLSA records of " + t.host + " is usable (DANE-TA or DANE-EE, selector 0/1, matching 0/1/2)";
        }
      }
      return;
    } else {
      t.address_error = a.error;
      if (a.status != dns::Status::kTemporary) return;
    }
  }
  if (!t.addresses.empty()) return;
  auto a = resolver.lookup_addresses(t.host);
  if (a.status == dns::Status::kOk) t.addresses = a.addresses;
  else t.address_error = a.error;
}

Plan SmtpSession::plan_for(const Target& t, const MessageData& message, bool relax,
                           std::optional<RecipientResult>* skip) {
  Plan p;
  p.requiretls = message.requiretls;
  p.result.policy_domain = domain_;
  auto refuse = [&](Outcome outcome, std::string reply) { *skip = RecipientResult{outcome, std::move(reply), t.host, false, false}; };
  if (!cfg().relayhost.empty()) {
    // REQUIRETLS through a smarthost: its certificate must be valid for its
    // name (the CA store); otherwise the relayhost is trusted as configured.
    if (message.requiretls) {
      p.auth = Plan::Auth::kSts;
      p.enforce = true;
    }
    return p;
  }
  if (!policies_apply()) {
    if (message.requiretls)
      refuse(Outcome::kPermanent, cfg().tls == TlsPolicy::kOff
                                      ? "550 5.7.30 REQUIRETLS: outbound TLS is turned off (queue.tls=off)"
                                      : "550 5.7.30 REQUIRETLS: no MTA-STS policy or DANE record can authenticate " +
                                            domain_);
    return p;
  }
  // 1. DANE (RFC 7672): a host with secure TLSA records is authenticated by
  // them alone, MTA-STS ignored (RFC 8461 2).
  if (t.dane != Dane::kNotApplicable) {
    p.result.policy_type = PolicyType::kTlsa;
    for (const auto& r : t.tlsa) p.result.policy_strings.push_back(r.text());
    if (t.dane == Dane::kBogus || t.dane == Dane::kTemporary) {
      TransportPolicyResult r = p.result;
      r.result = t.dane == Dane::kBogus ? PolicyResultType::kDnssecInvalid : PolicyResultType::kValidationFailure;
      r.receiving_mx_hostname = t.host;
      r.failure_reason = t.dane_error;
      r.blocked = !relax;
      record(std::move(r));
      if (!relax) {
        refuse(Outcome::kTemporary, "451 4.7.5 DANE: " + t.dane_error);
        return p;
      }
      p.relaxed = true;
      p.result.policy_type = PolicyType::kNoPolicyFound;
      p.result.policy_strings.clear();
    } else {
      if (t.dane == Dane::kUsable) {
        p.auth = Plan::Auth::kDane;
        p.tlsa = t.usable;
      } else {
        // Records, none usable: TLS is still mandatory, unauthenticated.
        TransportPolicyResult r = p.result;
        r.result = PolicyResultType::kTlsaInvalid;
        r.receiving_mx_hostname = t.host;
        r.failure_reason = t.dane_error;
        record(std::move(r));
      }
      p.enforce = !relax || message.requiretls;
      p.would_enforce = true;
      if (message.requiretls && t.dane == Dane::kUnusable)
        refuse(Outcome::kPermanent, "550 5.7.30 REQUIRETLS: " + t.host + " has no usable TLSA record");
      return p;
    }
  }
  // 2. MTA-STS (RFC 8461 4, 5).
  if (sts_ && sts_->policy && sts_->policy->mode != sts::Mode::kNone) {
    const sts::Policy& policy = *sts_->policy;
    p.result.policy_type = PolicyType::kSts;
    p.result.policy_strings = policy.lines;
    p.result.mx_patterns = policy.mx;
    const bool enforce = policy.mode == sts::Mode::kEnforce;
    if (!sts::policy_allows(policy, t.host)) {
      TransportPolicyResult r = p.result;
      r.result = PolicyResultType::kValidationFailure;
      r.receiving_mx_hostname = t.host;
      r.failure_reason = "MX host " + t.host + " is not in the MTA-STS policy of " + domain_;
      r.blocked = (enforce && !relax) || message.requiretls;
      record(r);
      if (message.requiretls) {
        refuse(Outcome::kPermanent, "550 5.7.30 REQUIRETLS: " + r.failure_reason);
        return p;
      }
      if (enforce && !relax) {
        refuse(Outcome::kTemporary, "451 4.7.5 MTA-STS: " + r.failure_reason + " (mode enforce)");
        return p;
      }
      p.relaxed = enforce;
      p.result.policy_type = PolicyType::kNoPolicyFound;  // this host: no policy to check against
      p.result.policy_strings.clear();
      p.result.mx_patterns.clear();
    } else {
      p.auth = Plan::Auth::kSts;
      // testing: check and report, deliver anyway; REQUIRETLS needs the check to hold.
      p.enforce = (enforce && !relax) || message.requiretls;
      p.would_enforce = enforce;
      return p;
    }
  }
  // 3. Nothing authenticates this host: opportunistic TLS.
  if (message.requiretls)
    refuse(Outcome::kPermanent, "550 5.7.30 REQUIRETLS: " + t.host +
                                    " is authenticated by neither an MTA-STS policy nor DANE TLSA records");
  return p;
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
  env.requiretls = message.requiretls;
  // RFC 8689 5: "TLS-Required: No" asks that MTA-STS and DANE failures not
  // stop delivery; REQUIRETLS, when given, wins over it.
  const bool relax = !message.requiretls && tls_required_no(message.body);

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

  // 1. The connection that carried the last message, while it may carry more:
  // if it was secured as this message needs (REQUIRETLS mail only over an
  // authenticated one; a connection that ignored a policy failure for a
  // TLS-Required: No message carries no other mail).
  if (conn_ && !usable(*conn_)) conn_.reset();
  if (conn_ && ((message.requiretls && !conn_->authenticated()) || (!relax && !conn_->policy_ok()))) conn_.reset();
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

  smtp::Options base;
  base.ehlo_name = cfg().hostname;
  if (!cfg().relayhost.empty()) {
    base.auth_username = cfg().relay_username;
    base.auth_password = cfg().relay_password;
  }
  base.tls = cfg().tls == TlsPolicy::kRequired ? smtp::TlsPolicy::kRequired
             : cfg().tls == TlsPolicy::kOff    ? smtp::TlsPolicy::kOff
                                               : smtp::TlsPolicy::kOpportunistic;
  base.keep_open = cfg().max_messages_per_connection > 1;
  const uint16_t port = cfg().relayhost.empty() ? cfg().port : cfg().relayhost_port;

  std::vector<RecipientResult> last = all(n, Outcome::kTemporary, "451 4.4.1 no MX host could be reached");
  size_t tried = 0;
  for (auto& target : targets_) {
    if (tried >= kMaxHosts) break;
    look_up(target, resolver);
    std::optional<RecipientResult> skip;
    Plan plan = plan_for(target, message, relax, &skip);
    if (skip) {
      spdlog::info("[q:{}] {}: {} (trying the next host)", message.queue_id, target.host,
                   log::printable(skip->reply, 1024));
      last.assign(n, *skip);
      continue;
    }
    if (target.addresses.empty()) {
      last = all(n, Outcome::kTemporary, "451 4.4.3 " + target.address_error, target.host);
      continue;
    }
    smtp::Options opts = base;
    // A policy that authenticates this host needs TLS, whatever queue.tls says.
    if (plan.enforce || message.requiretls) opts.tls = smtp::TlsPolicy::kRequired;
    for (const auto& address : target.addresses) {
      if (tried++ >= kMaxHosts) break;
      auto c = std::make_unique<Connection>(cfg(), owner_.tls_context(), port, target.host, address, plan);
      c->start(std::make_unique<smtp::Client>(opts, env, body));
      if (c->connected()) ++counts_.opened;
      record_tls(*c);
      auto results = results_of(*c);
      // What the policy made of this connection (RFC 8460), once it got as
      // far as the TLS decision.
      if (cfg().relayhost.empty() && c->client().greeted() && cfg().tls != TlsPolicy::kOff) {
        TransportPolicyResult r = c->plan.result;
        r.receiving_mx_hostname = target.host;
        r.receiving_ip = address;
        bool failed = true;
        if (c->tls_check.checked && !c->tls_check.ok) {
          r.result = c->tls_check.result;
          r.failure_reason = c->tls_check.error;
        } else if (c->client().tls_active()) {
          r.result = PolicyResultType::kSuccess;
          failed = false;
        } else if (!c->client().offered_starttls()) {
          r.result = PolicyResultType::kStartTlsNotSupported;
          r.failure_reason = target.host + " does not offer STARTTLS";
        } else {
          r.result = PolicyResultType::kValidationFailure;
          r.failure_reason = "TLS handshake with " + target.host + " failed";
        }
        if (failed && !plan.enforce && plan.would_enforce) c->plan.relaxed = true;
        // Without a policy, a server without STARTTLS is no failure to report.
        if (failed && plan.result.policy_type == PolicyType::kNoPolicyFound && plan.auth == Plan::Auth::kNone &&
            r.result == PolicyResultType::kStartTlsNotSupported && !message.requiretls)
          r.result = PolicyResultType::kSuccess, r.failure_reason.clear(), failed = false;
        r.blocked = failed && (plan.enforce || message.requiretls);
        if (r.blocked && r.result == PolicyResultType::kStartTlsNotSupported) {
          // Say which policy wanted TLS, not only that the server lacks it.
          const std::string why = message.requiretls
                                      ? "550 5.7.30 REQUIRETLS: " + target.host + " does not offer STARTTLS"
                                      : "451 4.7.10 " +
                                            std::string(plan.auth == Plan::Auth::kDane ? "DANE (TLSA records)"
                                                                                       : "the MTA-STS policy of " + domain_) +
                                            " requires TLS, and " + target.host + " does not offer STARTTLS";
          for (auto& res : results) res.reply = why, res.outcome = message.requiretls ? Outcome::kPermanent : Outcome::kTemporary;
        }
        record(std::move(r));
      }
      if (!c->client().host_failure()) {
        spdlog::debug("[q:{}] {} [{}] tls={} policy={}", message.queue_id, target.host, address,
                      c->client().tls_active(), policy_type_name(c->plan.result.policy_type));
        conn_ = std::move(c);
        after_transaction();
        return results;
      }
      spdlog::info("[q:{}] {} [{}]: {} (trying the next host)", message.queue_id, target.host, address,
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
