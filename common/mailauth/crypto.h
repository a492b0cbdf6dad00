// Thin RAII wrappers over OpenSSL 3 EVP for the DKIM algorithms. Private key material
// stays inside EVP_PKEY objects; nothing here logs or copies it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace postline::mailauth {

enum class KeyType { kRsa, kEd25519 };
enum class HashAlg { kSha1, kSha256 };

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// A private signing key (RSA or Ed25519).
class PrivateKey {
 public:
  // PEM text: PKCS#8 ("BEGIN PRIVATE KEY") or traditional RSA ("BEGIN RSA PRIVATE KEY").
  static std::optional<PrivateKey> from_pem(std::string_view pem, std::string* error = nullptr);
  static std::optional<PrivateKey> from_pem_file(const std::string& path, std::string* error = nullptr);
  // A raw 32-byte Ed25519 seed (RFC 8032 secret key), as in RFC 8463 Appendix A.
  static std::optional<PrivateKey> from_ed25519_seed(std::string_view seed32);
  // A fresh key from OpenSSL's CSPRNG (rsa_bits ignored for Ed25519).
  static std::optional<PrivateKey> generate(KeyType type, int rsa_bits);
  KeyType type() const { return type_; }
  int bits() const;
  // The public half in DKIM p= form: SubjectPublicKeyInfo DER for RSA (RFC 6376 3.6.1),
  // the raw 32-byte key for Ed25519 (RFC 8463 section 4).
  std::string public_key_dkim() const;
  std::string to_pem() const;  // PKCS#8, for key generation
  EVP_PKEY* get() const { return key_.get(); }

 private:
  PkeyPtr key_;
  KeyType type_ = KeyType::kRsa;
};

// Public key from the decoded p= of a key record.
std::optional<PkeyPtr> public_key_from_dkim(KeyType type, std::string_view der_or_raw, std::string* error);
int public_key_bits(EVP_PKEY* key);

std::string digest(HashAlg alg, std::string_view data);

// DKIM signature over `data` (the canonicalised header hash input):
// rsa-*: RSASSA-PKCS1-v1_5 with the hash; ed25519-sha256: PureEdDSA over SHA-256(data).
std::optional<std::string> dkim_sign(const PrivateKey& key, HashAlg alg, std::string_view data);
bool dkim_verify(EVP_PKEY* key, KeyType type, HashAlg alg, std::string_view data, std::string_view signature);

// Constant-time comparison for digests.
bool equal_ct(std::string_view a, std::string_view b);

}  // namespace postline::mailauth
