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
  std::vector<RecipientResult> deliver(const MessageData& message,
                                       const std::vector<const ClaimedRecipient*>& recipients) override;

 private:
  RemoteConfig config_;
  MessageSigner* signer_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
};

}  // namespace postline::queue
