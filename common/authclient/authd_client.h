// The protocol services' client of authd (proto/mail/v1/auth.proto):
// Authenticate, SaslStart/SaslStep, ListMechanisms, GetQuota/SetQuota. The
// synchronous stub runs on a small pool of its own, so a slow authd never
// blocks I/O threads or starves database work. Failures to reach authd come
// back as kUnavailable (logged), never as exceptions; a SASL NOT_FOUND or
// INVALID_ARGUMENT (an expired conversation, a malformed exchange) is a
// failed login (kInvalid), not an outage. Throttling is authd's.
#pragma once

#include "common/authclient/auth_types.h"

#include <boost/asio/awaitable.hpp>
#include <prometheus/registry.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace postline::authclient {

namespace asio = boost::asio;

class AuthdClient {
 public:
  enum class Protocol { kImap, kManageSieve };
  // `metrics_prefix`: the service's (postline_imapd) for its RPC client metrics.
  AuthdClient(const std::string& address, prometheus::Registry& registry, const std::string& metrics_prefix,
              Protocol protocol);
  ~AuthdClient();
  AuthdClient(const AuthdClient&) = delete;
  AuthdClient& operator=(const AuthdClient&) = delete;

  asio::awaitable<AuthOutcome> authenticate(const std::string& user, const std::string& password,
                                            const std::string& mechanism, const std::string& remote_ip);
  asio::awaitable<SaslReply> sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                        const std::string& remote_ip);
  asio::awaitable<SaslReply> sasl_step(const std::string& conversation_id, const std::string& response);
  // authd's mechanisms for this protocol; nullopt when authd did not answer.
  asio::awaitable<std::optional<std::vector<std::string>>> list_mechanisms(bool secure_transport);
  // Quota roots: `address` empty means the acting user's own; authd checks
  // that the acting user may do it.
  asio::awaitable<QuotaReply> get_quota(int64_t acting_user_id, const std::string& address);
  asio::awaitable<QuotaReply> set_quota(int64_t acting_user_id, const std::string& address, int64_t quota_bytes,
                                        int64_t quota_messages);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postline::authclient
