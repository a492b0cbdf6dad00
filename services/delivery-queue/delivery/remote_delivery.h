// RemoteDelivery over SMTP: MX lookup (common/dns), then the sans-I/O client in
// protocol/ driven over Boost.Asio with timeouts, opportunistic STARTTLS.
#pragma once

#include "common/config/config.h"
#include "services/delivery-queue/delivery/interfaces.h"

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
  // signer may be null.
  SmtpRemoteDelivery(RemoteConfig config, MessageSigner* signer);
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

 private:
  RemoteConfig config_;
  MessageSigner* signer_;
  reports::TlsOutcomeRecorder* tls_recorder_ = nullptr;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
};

}  // namespace postline::queue
