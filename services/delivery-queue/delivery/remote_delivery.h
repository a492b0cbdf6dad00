// RemoteDelivery over SMTP: MX lookup (common/dns), then the sans-I/O client in
// protocol/ driven over Boost.Asio with timeouts, opportunistic STARTTLS.
#pragma once

#include "common/config/config.h"
#include "services/delivery-queue/delivery/interfaces.h"

#include <chrono>
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
  // Throws config::ConfigError naming the key.
  static RemoteConfig from(const config::Config& cfg);
};

class SmtpRemoteDelivery final : public RemoteDelivery {
 public:
  explicit SmtpRemoteDelivery(RemoteConfig config);
  std::vector<RecipientResult> deliver(const MessageData& message,
                                       const std::vector<const ClaimedRecipient*>& recipients) override;

 private:
  RemoteConfig config_;
};

}  // namespace postline::queue
