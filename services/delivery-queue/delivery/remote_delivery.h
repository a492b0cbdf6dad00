// RemoteDelivery over SMTP: MX lookup (common/dns), then the sans-I/O client in
// protocol/ driven over Boost.Asio with timeouts, opportunistic STARTTLS.
#pragma once

#include "common/config/config.h"
#include "services/delivery-queue/delivery/interfaces.h"
#include "services/delivery-queue/delivery/mta_sts_source.h"
#include "services/delivery-queue/store/mta_sts_cache.h"

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace postline::queue {

namespace reports {
class TlsOutcomeRecorder;
}

enum class TlsPolicy { kOpportunistic, kRequired, kOff };

struct RemoteConfig {
  std::string hostname = "localhost";  // EHLO name
  uint16_t port = 25;
  TlsPolicy tls = TlsPolicy::kOpportunistic;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};
  std::vector<std::string> dns_servers;  // host:port; empty = system resolver
  // Smarthost: every remote message goes to relayhost (A/AAAA, no MX lookup)
  // on relayhost_port, with AUTH PLAIN over TLS when a username is set.
  std::string relayhost;
  uint16_t relayhost_port = 25;
  std::string relay_username;
  std::string relay_password;  // from queue.relayhost_password_file; never logged
  // Connection reuse: messages one connection may carry (1 = one per
  // connection), and how long a connection may sit idle and still be reused.
  int max_messages_per_connection = 100;
  std::chrono::seconds connection_idle_timeout{5};
  // Transport security (docs/queue.md "Transport security"): MTA-STS (RFC 8461)
  // on unless queue.mta_sts=false; its policies fetched from port
  // mta_sts_port (443) within mta_sts_fetch_timeout; certificates (policy
  // hosts, MX hosts under MTA-STS, a relayhost for REQUIRETLS) verified
  // against tls_ca_file or the system store.
  bool mta_sts = true;
  uint16_t mta_sts_port = 443;
  std::chrono::seconds mta_sts_fetch_timeout{30};
  std::string tls_ca_file;
  // DANE (RFC 7672): queue.dane auto (on when dns.trust_anchor_file is set),
  // on (refuses to start without one) or off.
  bool dane = false;
  std::string trust_anchor_file;
  // Throws config::ConfigError naming the key.
  static RemoteConfig from(const config::Config& cfg);
};

// Signs outgoing mail (DKIM for our own domains); returns the message to send,
// or "" to send it unchanged (not our domain, no key).
class MessageSigner {
 public:
  virtual ~MessageSigner() = default;
  virtual std::string sign(const MessageData& message) = 0;
};

class SmtpRemoteDelivery final : public RemoteDelivery {
 public:
  // signer may be null. sts_cache: where MTA-STS policies are kept
  // (production: PgStsCache); null = in memory, for this process only.
  // Throws std::runtime_error when queue.tls_ca_file cannot be loaded.
  SmtpRemoteDelivery(RemoteConfig config, MessageSigner* signer, StsPolicyCache* sts_cache = nullptr);
  ~SmtpRemoteDelivery() override;
  // One message in a session of its own (connect, deliver, QUIT).
  std::vector<RecipientResult> deliver(const MessageData& message,
                                       const std::vector<const ClaimedRecipient*>& recipients) override;
  // A session that keeps its connection open between messages (see
  // RemoteConfig::max_messages_per_connection). MX lookup once per session.
  std::unique_ptr<RemoteSession> open(const std::string& domain) override;

  const RemoteConfig& config() const { return config_; }
  MessageSigner* signer() const { return signer_; }
  // TLS outcomes of MX connections go here (TLS reporting, RFC 8460); null = none.
  void set_tls_recorder(reports::TlsOutcomeRecorder* recorder) { tls_recorder_ = recorder; }
  reports::TlsOutcomeRecorder* tls_recorder() const { return tls_recorder_; }
  const std::shared_ptr<boost::asio::ssl::context>& tls_context() const { return tls_ctx_; }
  // MTA-STS policies (null when queue.mta_sts is off).
  StsPolicySource* sts() const { return sts_.get(); }
  // Tests: fetch policies through `fetcher` instead of HTTPS.
  void set_policy_fetcher(std::unique_ptr<PolicyFetcher> fetcher);

 private:
  RemoteConfig config_;
  MessageSigner* signer_;
  reports::TlsOutcomeRecorder* tls_recorder_ = nullptr;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  std::unique_ptr<MemoryStsCache> own_cache_;
  StsPolicyCache* cache_ = nullptr;
  std::unique_ptr<PolicyFetcher> fetcher_;
  std::unique_ptr<StsPolicySource> sts_;
};

}  // namespace postline::queue
