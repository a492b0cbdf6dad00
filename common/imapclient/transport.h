// A small blocking TCP + TLS transport for IMAP clients (the `postline import`
// CLI): connect with a timeout, implicit TLS or STARTTLS through OpenSSL,
// every read and write with a timeout. TLS is at least 1.2; the server's
// certificate is verified against the system's trust store (or `ca_file`) and
// the host name unless `verify` is off.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postline::imapclient {

class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TlsOptions {
  bool verify = true;   // false: any certificate (--insecure)
  std::string ca_file;  // PEM bundle instead of the system's trust store
};

class Transport {
 public:
  // Throws TransportError naming the host and why (no such host, refused, timeout).
  Transport(const std::string& host, uint16_t port, std::chrono::milliseconds timeout);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // The TLS handshake on the open connection (implicit TLS right after
  // connecting, STARTTLS after the server's OK). Throws TransportError with
  // OpenSSL's reason (certificate verify failed, wrong host name, ...).
  void start_tls(const std::string& host, const TlsOptions& options);
  bool tls() const { return ssl_ != nullptr; }
  std::string tls_description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"

  void write(std::string_view bytes);
  // Up to `n` bytes; 0 when the server closed the connection.
  size_t read(char* buf, size_t n);

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string host_;
  std::chrono::milliseconds timeout_;
};

}  // namespace postline::imapclient
