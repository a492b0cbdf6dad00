// authd over gRPC for managesieved (proto/mail/v1/auth.proto): SaslStart /
// SaslStep for AUTHENTICATE and ListMechanisms for the SASL capability. The
// synchronous stub runs on a small pool of its own, so a slow authd never
// blocks the I/O thread or the database threads. Throttling of failed logins
// is authd's (the same counters as IMAP and SMTP).
#pragma once

#include "services/managesieve/protocol/session.h"

#include <boost/asio/awaitable.hpp>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace postline::managesieve {

namespace asio = boost::asio;

class GrpcAuthenticator {
 public:
  GrpcAuthenticator(const std::string& address, prometheus::Registry& registry);
  ~GrpcAuthenticator();
  // One SASL step with authd; failures to reach it come back as
  // kFailure/kUnavailable (NOT_FOUND and INVALID_ARGUMENT as kInvalid: an
  // expired conversation or a malformed exchange is a failed login).
  asio::awaitable<SaslReply> sasl(SaslRequest request, std::string remote_ip);
  // authd's mechanisms for a secure transport, asked at most once a minute
  // (the last answer meanwhile; empty until authd first answered, which the
  // session treats as PLAIN). Call from the I/O thread only.
  asio::awaitable<std::vector<std::string>> mechanisms();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postline::managesieve
