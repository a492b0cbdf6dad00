#include "services/web/core/profile_signer.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace postline::web {

namespace {

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

struct ProfileSigner::Keys {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509)* chain = nullptr;
  ~Keys() {
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
};

ProfileSigner::ProfileSigner(std::string cert_file, std::string key_file, std::string key_section)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), key_section_(std::move(key_section)),
      keys_(load()) {}

ProfileSigner::~ProfileSigner() = default;

std::shared_ptr<const ProfileSigner::Keys> ProfileSigner::load() const {
  auto keys = std::make_shared<Keys>();
  BIO* in = BIO_new_file(cert_file_.c_str(), "r");
  if (!in) throw std::runtime_error(key_section_ + ".cert_file: cannot read " + cert_file_);
  keys->cert = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  if (!keys->cert) {
    BIO_free(in);
    throw std::runtime_error(key_section_ + ".cert_file: no PEM certificate in " + cert_file_);
  }
  keys->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(in, nullptr, nullptr, nullptr)) sk_X509_push(keys->chain, extra);
  ERR_clear_error();  // the end of the file reads as an error
  BIO_free(in);
  in = BIO_new_file(key_file_.c_str(), "r");
  if (!in) throw std::runtime_error(key_section_ + ".key_file: cannot read " + key_file_);
  keys->key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (!keys->key) throw std::runtime_error(key_section_ + ".key_file: no PEM private key in " + key_file_);
  if (X509_check_private_key(keys->cert, keys->key) != 1) {
    ERR_clear_error();
    throw std::runtime_error(key_section_ + ".key_file: private key does not match " + key_section_ + ".cert_file");
  }
  return keys;
}

void ProfileSigner::reload() {
  auto fresh = load();
  std::lock_guard lock(mutex_);
  keys_ = std::move(fresh);
}

std::string ProfileSigner::sign(const std::string& content) const {
  std::shared_ptr<const Keys> keys;
  {
    std::lock_guard lock(mutex_);
    keys = keys_;
  }
  BIO* data = BIO_new_mem_buf(content.data(), static_cast<int>(content.size()));
  if (!data) throw std::runtime_error("profile signing: " + openssl_error());
  // CMS_BINARY: the plist goes in byte for byte (no MIME canonicalisation of
  // line ends); without CMS_DETACHED the content is embedded, as Apple wants.
  CMS_ContentInfo* cms = CMS_sign(keys->cert, keys->key, keys->chain, data, CMS_BINARY);
  BIO_free(data);
  if (!cms) throw std::runtime_error("profile signing: " + openssl_error());
  BIO* out = BIO_new(BIO_s_mem());
  const int ok = out ? i2d_CMS_bio(out, cms) : 0;
  CMS_ContentInfo_free(cms);
  if (ok != 1) {
    BIO_free(out);
    throw std::runtime_error("profile signing: " + openssl_error());
  }
  char* bytes = nullptr;
  const long n = BIO_get_mem_data(out, &bytes);
  std::string der(bytes, static_cast<size_t>(n));
  BIO_free(out);
  return der;
}

}  // namespace postline::web
