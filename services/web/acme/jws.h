// JSON Web Signature for ACME (RFC 8555 6.2, RFC 7515, RFC 7518 3.4): ES256
// with the account's P-256 key, the signature as raw r||s (64 octets, not
// DER), the flattened JSON serialization, the key as a JWK (RFC 7517) and its
// thumbprint (RFC 7638). Sans-I/O: no files, no sockets.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace postline::web::acme {

// RFC 4648 5, without padding.
std::string base64url(std::string_view bytes);

class AccountKey {
 public:
  // A new P-256 key.
  static AccountKey generate();
  // A PEM private key; throws AcmeError unless it is an EC P-256 key.
  static AccountKey from_pem(const std::string& pem);
  std::string to_pem() const;
  // {"crv":"P-256","kty":"EC","x":...,"y":...}: members in lexicographic order,
  // no whitespace, so the same text is the thumbprint's input.
  std::string jwk() const;
  // base64url(SHA-256(jwk())) (RFC 7638).
  std::string thumbprint() const;
  // ES256 over `data`: 64 octets r||s, each left-padded to 32.
  std::string sign(std::string_view data) const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit AccountKey(EVP_PKEY* key) : key_(key, EVP_PKEY_free) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// A flattened JWS: {"protected":..,"payload":..,"signature":..}. The protected
// header holds alg ES256, `nonce`, `url`, and `kid` when given (an account
// URL), else the `jwk` (newAccount). `payload` "" is POST-as-GET (RFC 8555
// 6.3): the payload member is the empty string.
std::string sign_request(const AccountKey& key, const std::string& url, const std::string& nonce,
                         const std::string& payload, const std::string& kid);

}  // namespace postline::web::acme
