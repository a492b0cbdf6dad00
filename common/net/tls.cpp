#include "common/net/tls.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace postline::net {

namespace ssl = boost::asio::ssl;

namespace {
std::optional<double> not_after_of(const X509* cert) {
  if (!cert) return std::nullopt;
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return static_cast<double>(timegm(&tm));
}
}  // namespace

std::optional<double> certificate_file_not_after(const std::string& pem_file) {
  std::FILE* f = std::fopen(pem_file.c_str(), "r");
  if (!f) return std::nullopt;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  auto out = not_after_of(cert);
  X509_free(cert);
  return out;
}

std::optional<double> TlsContext::not_after() const {
  const auto ctx = current();
  return not_after_of(SSL_CTX_get0_certificate(ctx->native_handle()));
}

TlsContext::TlsContext(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), ctx_(build()) {}

std::shared_ptr<ssl::context> TlsContext::build() const {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file_, ec);
  if (ec) throw std::runtime_error("tls.cert_file: cannot load certificate chain " + cert_file_ + ": " + ec.message());
  ctx->use_private_key_file(key_file_, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("tls.key_file: cannot load private key " + key_file_ + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    throw std::runtime_error("tls.key_file: private key does not match tls.cert_file");
  return ctx;
}

void TlsContext::reload() {
  auto fresh = build();
  std::lock_guard lock(mutex_);
  ctx_ = std::move(fresh);
}

std::shared_ptr<ssl::context> TlsContext::current() const {
  std::lock_guard lock(mutex_);
  return ctx_;
}

std::shared_ptr<ssl::context> make_client_context(bool verify) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (verify) {
    ctx->set_default_verify_paths();
    ctx->set_verify_mode(ssl::verify_peer);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

}  // namespace postline::net
