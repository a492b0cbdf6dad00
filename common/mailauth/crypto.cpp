#include "common/mailauth/crypto.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <fstream>

namespace postline::mailauth {

void PkeyDeleter::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }

namespace {
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

const EVP_MD* md_of(HashAlg alg) { return alg == HashAlg::kSha1 ? EVP_sha1() : EVP_sha256(); }

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}
}  // namespace

std::optional<PrivateKey> PrivateKey::from_pem(std::string_view pem, std::string* error) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  if (!bio) return std::nullopt;
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!raw) {
    if (error) *error = "cannot read private key: " + openssl_error();
    return std::nullopt;
  }
  PrivateKey k;
  k.key_.reset(raw);
  int id = EVP_PKEY_get_base_id(raw);
  if (id == EVP_PKEY_RSA) {
    k.type_ = KeyType::kRsa;
  } else if (id == EVP_PKEY_ED25519) {
    k.type_ = KeyType::kEd25519;
  } else {
    if (error) *error = "unsupported key type (need RSA or Ed25519)";
    return std::nullopt;
  }
  return k;
}

std::optional<PrivateKey> PrivateKey::from_pem_file(const std::string& path, std::string* error) {
  // Read straight into one buffer (no stream copies of the key text left behind) and
  // wipe it once parsed. Key files are small; refuse anything that is not.
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    if (error) *error = "cannot open " + path;
    return std::nullopt;
  }
  std::streamoff size = in.tellg();
  if (size <= 0 || size > 64 * 1024) {
    if (error) *error = "key file " + path + " is empty or too large";
    return std::nullopt;
  }
  std::string pem(size_t(size), '\0');
  in.seekg(0);
  in.read(pem.data(), size);
  if (!in) {
    if (error) *error = "cannot read " + path;
    OPENSSL_cleanse(pem.data(), pem.size());
    return std::nullopt;
  }
  auto k = from_pem(pem, error);
  OPENSSL_cleanse(pem.data(), pem.size());
  return k;
}

std::optional<PrivateKey> PrivateKey::from_ed25519_seed(std::string_view seed32) {
  if (seed32.size() != 32) return std::nullopt;
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                               reinterpret_cast<const unsigned char*>(seed32.data()), 32);
  if (!raw) return std::nullopt;
  PrivateKey k;
  k.key_.reset(raw);
  k.type_ = KeyType::kEd25519;
  return k;
}

std::optional<PrivateKey> PrivateKey::generate(KeyType type, int rsa_bits) {
  EVP_PKEY* raw = type == KeyType::kRsa ? EVP_RSA_gen(unsigned(rsa_bits)) : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!raw) {
    ERR_clear_error();
    return std::nullopt;
  }
  PrivateKey k;
  k.key_.reset(raw);
  k.type_ = type;
  return k;
}

int PrivateKey::bits() const { return EVP_PKEY_get_bits(key_.get()); }

std::string PrivateKey::public_key_dkim() const {
  if (type_ == KeyType::kEd25519) {
    unsigned char buf[32];
    size_t len = sizeof buf;
    if (EVP_PKEY_get_raw_public_key(key_.get(), buf, &len) != 1) return {};
    return std::string(reinterpret_cast<char*>(buf), len);
  }
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key_.get(), &der);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), size_t(len));
  OPENSSL_free(der);
  return out;
}

std::string PrivateKey::to_pem() const {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr)) return {};
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, size_t(len));
  // The BIO's buffer held the key: wipe it before it is freed.
  OPENSSL_cleanse(data, size_t(len));
  return out;
}

std::optional<PkeyPtr> public_key_from_dkim(KeyType type, std::string_view bytes, std::string* error) {
  if (type == KeyType::kEd25519) {
    if (bytes.size() != 32) {
      if (error) *error = "ed25519 public key is not 32 bytes";
      return std::nullopt;
    }
    EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(bytes.data()), 32);
    if (!raw) {
      if (error) *error = "bad ed25519 public key";
      return std::nullopt;
    }
    return PkeyPtr(raw);
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  EVP_PKEY* raw = d2i_PUBKEY(nullptr, &p, long(bytes.size()));
  if (!raw || p != reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()) {
    EVP_PKEY_free(raw);
    ERR_clear_error();
    // Some publishers put a bare PKCS#1 RSAPublicKey in p=; accept it like dkimpy does.
    p = reinterpret_cast<const unsigned char*>(bytes.data());
    raw = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, long(bytes.size()));
    if (!raw) {
      ERR_clear_error();
      if (error) *error = "cannot parse RSA public key";
      return std::nullopt;
    }
  }
  if (EVP_PKEY_get_base_id(raw) != EVP_PKEY_RSA) {
    EVP_PKEY_free(raw);
    if (error) *error = "key record k=rsa but key is not RSA";
    return std::nullopt;
  }
  return PkeyPtr(raw);
}

int public_key_bits(EVP_PKEY* key) { return EVP_PKEY_get_bits(key); }

std::string digest(HashAlg alg, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md_of(alg), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::optional<std::string> dkim_sign(const PrivateKey& key, HashAlg alg, std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return std::nullopt;
  std::string input;
  const EVP_MD* md = nullptr;
  if (key.type() == KeyType::kEd25519) {
    input = digest(HashAlg::kSha256, data);  // RFC 8463: Ed25519 over the SHA-256 hash
  } else {
    input.assign(data);
    md = md_of(alg);
  }
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.get()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  size_t len = 0;
  auto in = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  sig.resize(len);
  return sig;
}

bool dkim_verify(EVP_PKEY* key, KeyType type, HashAlg alg, std::string_view data, std::string_view signature) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  std::string input;
  const EVP_MD* md = nullptr;
  if (type == KeyType::kEd25519) {
    input = digest(HashAlg::kSha256, data);
  } else {
    input.assign(data);
    md = md_of(alg);
  }
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    ERR_clear_error();
    return false;
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(input.data()), input.size());
  ERR_clear_error();
  return rc == 1;
}

bool equal_ct(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace postline::mailauth
