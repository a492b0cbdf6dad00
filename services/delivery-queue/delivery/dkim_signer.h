// DKIM signing (RFC 6376, via common/mailauth) of outgoing mail from our own
// domains: keys per domain from PEM files (rsa-sha256 or ed25519-sha256 by key
// type), relaxed/relaxed. The signing domain is the RFC 5322 From: domain so
// that DMARC aligns; mail whose From: domain has no key goes out unsigned.
#pragma once

#include "services/delivery-queue/delivery/remote_delivery.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace postline::mailauth {
class PrivateKey;
}

namespace postline::queue {

class DkimSigner final : public MessageSigner {
 public:
  // entries: "domain:selector:/path/to/key.pem" (queue.dkim_keys). Throws
  // config::ConfigError naming the key for a malformed entry or unreadable key.
  explicit DkimSigner(const std::vector<std::string>& entries);
  ~DkimSigner() override;
  bool empty() const { return keys_.empty(); }
  std::string sign(const MessageData& message) override;

  // The domain of the first From: header field ("" if none): exposed for tests.
  static std::string from_domain(std::string_view message);

 private:
  struct Key {
    std::string selector;
    std::shared_ptr<mailauth::PrivateKey> key;
  };
  std::map<std::string, Key> keys_;  // lower-case domain → key
};

}  // namespace postline::queue
