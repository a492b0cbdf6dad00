// Whether a domain is hosted here, asked of authd (AuthService.ResolveRecipient
// for postmaster@<domain>: REMOTE means not ours, LOCAL or UNKNOWN means ours)
// and remembered for web.domain_cache_ttl. Asking with postmaster@ rather than
// the client's address keeps webd from learning, or showing, whether a user
// exists: every address of a hosted domain gets the same settings.
#pragma once

#include "common/grpc/grpc.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace postline::web {

enum class Hosted { kYes, kNo, kUnavailable };

class DomainDirectory {
 public:
  DomainDirectory(const std::string& auth_addr, std::chrono::seconds cache_ttl, prometheus::Registry& registry);
  ~DomainDirectory();
  boost::asio::awaitable<Hosted> hosted(std::string domain);
  // authd's gRPC health (for /readyz; blocking, HTTP thread).
  bool ready();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postline::web
