#include "services/delivery-queue/delivery/remote_delivery.h"

namespace postline::queue {

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
  c.dns_servers = cfg.list("dns", "servers");
  return c;
}

SmtpRemoteDelivery::SmtpRemoteDelivery(RemoteConfig config) : config_(std::move(config)) {}

std::vector<RecipientResult> SmtpRemoteDelivery::deliver(const MessageData&,
                                                         const std::vector<const ClaimedRecipient*>& recipients) {
  return std::vector<RecipientResult>(
      recipients.size(), RecipientResult{Outcome::kTemporary, "451 4.3.2 remote delivery not implemented yet", "",
                                         false, false});
}

}  // namespace postline::queue
