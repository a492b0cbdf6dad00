#include "services/web/acme/jws.h"

#include "services/web/acme/errors.h"

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

namespace postline::web::acme {

namespace {

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw AcmeError("account key: cannot read its public point");
  std::string out(32, '\0');
  const int n = BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_free(bn);
  if (n != 32) throw AcmeError("account key: public point does not fit P-256");
  return out;
}

void require_p256(EVP_PKEY* key) {
  char curve[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &len) != 1 ||
      std::string(curve) != "prime256v1")
    throw AcmeError("account key: must be an EC P-256 key (ES256)");
}

}  // namespace

std::string base64url(std::string_view bytes) {
  static const char* const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned v = at(i) << 16;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
  } else if (bytes.size() - i == 2) {
    const unsigned v = at(i) << 16 | at(i + 1) << 8;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
  }
  return out;
}

AccountKey AccountKey::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!key) throw AcmeError("account key: cannot generate a P-256 key");
  return AccountKey(key);
}

AccountKey AccountKey::from_pem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) throw AcmeError("account key: not a PEM private key");
  AccountKey out(key);
  require_p256(key);
  return out;
}

std::string AccountKey::to_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string AccountKey::jwk() const {
  // nlohmann's object is a std::map: members come out sorted, as RFC 7638 3.2 wants.
  nlohmann::json j = {{"crv", "P-256"},
                      {"kty", "EC"},
                      {"x", base64url(bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X))},
                      {"y", base64url(bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y))}};
  return j.dump();
}

std::string AccountKey::thumbprint() const {
  const std::string j = jwk();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(j.data()), j.size(), digest);
  return base64url(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string AccountKey::sign(std::string_view data) const {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  std::string der;
  bool ok = md && EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
            EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  if (ok) {
    der.resize(len);
    ok = EVP_DigestSign(md, reinterpret_cast<unsigned char*>(der.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    der.resize(len);
  }
  EVP_MD_CTX_free(md);
  if (!ok) throw AcmeError("account key: signing failed");
  // OpenSSL writes ECDSA-Sig-Value (DER); JWS wants r and s, 32 octets each (RFC 7518 3.4).
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) throw AcmeError("account key: unreadable signature");
  std::string raw(64, '\0');
  const bool fits = BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32) == 32 &&
                    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  if (!fits) throw AcmeError("account key: signature does not fit P-256");
  return raw;
}

std::string sign_request(const AccountKey& key, const std::string& url, const std::string& nonce,
                         const std::string& payload, const std::string& kid) {
  nlohmann::json header = {{"alg", "ES256"}, {"nonce", nonce}, {"url", url}};
  if (kid.empty())
    header["jwk"] = nlohmann::json::parse(key.jwk());
  else
    header["kid"] = kid;
  const std::string protected64 = base64url(header.dump());
  const std::string payload64 = payload.empty() ? std::string() : base64url(payload);
  const std::string signature = key.sign(protected64 + "." + payload64);
  nlohmann::json jws = {{"protected", protected64}, {"payload", payload64}, {"signature", base64url(signature)}};
  return jws.dump();
}

}  // namespace postline::web::acme
