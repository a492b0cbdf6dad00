// authd over gRPC for managesieved: common/authclient's AuthdClient (protocol
// MANAGESIEVE) for SaslStart / SaslStep (AUTHENTICATE) and ListMechanisms (the
// SASL capability). Its stub runs on a small pool of its own, so a slow authd
// never blocks the I/O thread or the database threads. Throttling of failed
// logins is authd's (the same counters as IMAP and SMTP).
#pragma once

#include "common/authclient/authd_client.h"
#include "services/managesieve/protocol/session.h"

#include <boost/asio/awaitable.hpp>
#include <prometheus/registry.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace postline::managesieve {

namespace asio = boost::asio;

class GrpcAuthenticator {
 public:
  GrpcAuthenticator(const std::string& address, prometheus::Registry& registry);
  // One SASL step with authd; failures to reach it come back as
  // kFailure/kUnavailable (NOT_FOUND and INVALID_ARGUMENT as kInvalid: an
  // expired conversation or a malformed exchange is a failed login).
  asio::awaitable<SaslReply> sasl(SaslRequest request, std::string remote_ip);
  // authd's mechanisms for a secure transport, asked at most once a minute
  // (the last answer meanwhile; empty until authd first answered, which the
  // session treats as PLAIN). Call from the I/O thread only.
  asio::awaitable<std::vector<std::string>> mechanisms();

 private:
  authclient::AuthdClient client_;
  std::vector<std::string> mechanisms_;
  std::optional<std::chrono::steady_clock::time_point> mechanisms_at_;
};

}  // namespace postline::managesieve
