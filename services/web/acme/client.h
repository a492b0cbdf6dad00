// One ACME account's conversation with the CA (RFC 8555 7): directory, nonces
// (a badNonce answer is retried with the fresh nonce, up to 10 times), the
// account (newAccount with termsOfServiceAgreed; an existing account for the
// key is found the same way), then per order: newOrder, each authorization's
// http-01 challenge (answered through the ChallengeStore), finalize with a CSR,
// polling with Retry-After within a deadline, and the PEM chain. The messages
// are built and read by protocol.h; this file only sequences them.
#pragma once

#include "services/web/acme/challenges.h"
#include "services/web/acme/https_client.h"
#include "services/web/acme/jws.h"
#include "services/web/acme/protocol.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace postline::web::acme {

struct Issued {
  std::string chain_pem;  // leaf first, as the CA sent it
  std::string key_pem;    // the certificate's new key
};

class AcmeClient {
 public:
  AcmeClient(HttpsClient& https, AccountKey key, std::string directory_url, std::string contact_email,
             ChallengeStore& challenges, std::function<void()> on_bad_nonce = {});
  // Throws AcmeError saying which step failed and what the CA said; the
  // challenges it added are removed again either way.
  boost::asio::awaitable<Issued> obtain(std::vector<std::string> names, std::chrono::steady_clock::time_point deadline);

 private:
  boost::asio::awaitable<void> ensure_directory();
  boost::asio::awaitable<void> ensure_account();
  boost::asio::awaitable<HttpsResponse> post(const std::string& url, const std::string& payload, bool with_jwk = false,
                                             const std::string& accept = {});
  boost::asio::awaitable<void> pause(std::chrono::seconds wait, std::chrono::steady_clock::time_point deadline,
                                     const std::string& waiting_for);
  boost::asio::awaitable<Order> poll_order(const std::string& url, std::chrono::steady_clock::time_point deadline,
                                           const std::vector<std::string>& until);

  HttpsClient& https_;
  AccountKey key_;
  std::string directory_url_, contact_email_;
  ChallengeStore& challenges_;
  std::function<void()> on_bad_nonce_;
  std::optional<Directory> directory_;
  std::string nonce_, account_url_;
};

}  // namespace postline::web::acme
