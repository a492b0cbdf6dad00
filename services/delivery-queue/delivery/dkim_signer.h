// DKIM signing (RFC 6376, via common/mailauth) of outgoing mail from our own
// domains: keys per domain from PEM files (rsa-sha256 or ed25519-sha256 by key
// type), relaxed/relaxed. The signing domain is the RFC 5322 From: domain so
// that DMARC aligns; mail whose From: domain has no key goes out unsigned.
//
// ARC (RFC 8617): mail that came in from outside (it carries our own
// Authentication-Results, which smtpd adds only on the MX listener) and goes
// out again to a remote address - an alias that forwards - is sealed with a
// new ARC set, with the key of ArcOptions::domain. The chain state (cv=) is
// the arc= smtpd recorded in that Authentication-Results at arrival.
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

  struct ArcOptions {
    bool enabled = false;
    std::string domain;       // "" = the first key's domain
    std::string authserv_id;  // ours (spam.authserv_id or smtp.hostname)
  };
  // Throws config::ConfigError when enabled and the domain has no key.
  void enable_arc(ArcOptions options);
  const std::string& arc_domain() const { return arc_.domain; }
  ~DkimSigner() override;
  bool empty() const { return keys_.empty(); }
  std::string sign(const MessageData& message) override;

  // The domain of the first From: header field ("" if none): exposed for tests.
  static std::string from_domain(std::string_view message);

 private:
  std::string arc_seal(const MessageData& message);
  struct Key {
    std::string selector;
    std::shared_ptr<mailauth::PrivateKey> key;
  };
  std::map<std::string, Key> keys_;  // lower-case domain → key
  std::string first_domain_;
  ArcOptions arc_;
};

}  // namespace postline::queue
