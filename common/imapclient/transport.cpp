#include "common/imapclient/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace postline::imapclient {

namespace {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

// Waits until `fd` is readable or writable; false on timeout.
bool wait_fd(int fd, bool for_write, std::chrono::milliseconds timeout) {
  pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  for (;;) {
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

}  // namespace

Transport::Transport(const std::string& host, uint16_t port, std::chrono::milliseconds timeout)
    : host_(host), timeout_(timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    throw TransportError("cannot resolve " + host + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      if (!wait_fd(fd, true, timeout)) {
        last_error = "timed out";
        ::close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc < 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) throw TransportError("cannot connect to " + host + ":" + service + ": " + last_error);
}

Transport::~Transport() {
  if (ssl_) {
    SSL_shutdown(ssl_);  // best effort close_notify; the socket is non-blocking
    SSL_free(ssl_);
  }
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

void Transport::start_tls(const std::string& host, const TlsOptions& options) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) throw TransportError("TLS: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  if (options.verify) {
    const bool loaded = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                                                : SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr) == 1;
    if (!loaded)
      throw TransportError("TLS: cannot load " + (options.ca_file.empty() ? std::string("the system's CA certificates")
                                                                           : "CA file " + options.ca_file) +
                           ": " + openssl_errors());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  }
  ssl_ = SSL_new(ctx_);
  if (!ssl_) throw TransportError("TLS: " + openssl_errors());
  SSL_set_fd(ssl_, fd_);
  in6_addr a6{};
  in_addr a4{};
  const bool is_ip = inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl_, host.c_str());  // SNI is for names only (RFC 6066 3)
  if (options.verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (ok != 1) throw TransportError("TLS: cannot check the certificate for " + host);
  }
  for (;;) {
    const int rc = SSL_connect(ssl_);
    if (rc == 1) break;
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!wait_fd(fd_, err == SSL_ERROR_WANT_WRITE, timeout_)) throw TransportError("TLS handshake with " + host + " timed out");
      continue;
    }
    std::string why;
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify) +
            " (use --ca-file for a private CA, or --insecure to skip the check)";
    } else {
      why = openssl_errors();
      if (why.empty()) why = "the connection was closed during the handshake";
    }
    throw TransportError("TLS handshake with " + host + " failed: " + why);
  }
}

std::string Transport::tls_description() const {
  if (!ssl_) return "";
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

void Transport::write(std::string_view bytes) {
  while (!bytes.empty()) {
    if (ssl_) {
      size_t written = 0;
      const int rc = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written);
      if (rc == 1) {
        bytes.remove_prefix(written);
        continue;
      }
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait_fd(fd_, err == SSL_ERROR_WANT_WRITE, timeout_)) throw TransportError("writing to " + host_ + " timed out");
        continue;
      }
      throw TransportError("writing to " + host_ + " failed: " + openssl_errors());
    }
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd_, true, timeout_)) throw TransportError("writing to " + host_ + " timed out");
      continue;
    }
    throw TransportError("writing to " + host_ + " failed: " + std::strerror(errno));
  }
}

size_t Transport::read(char* buf, size_t n) {
  for (;;) {
    if (ssl_) {
      size_t got = 0;
      const int rc = SSL_read_ex(ssl_, buf, n, &got);
      if (rc == 1) return got;
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_ZERO_RETURN) return 0;
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait_fd(fd_, err == SSL_ERROR_WANT_WRITE, timeout_))
          throw TransportError(host_ + " did not answer within " + std::to_string(timeout_.count() / 1000) + " s");
        continue;
      }
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;  // closed without close_notify
      throw TransportError("reading from " + host_ + " failed: " + openssl_errors());
    }
    const ssize_t got = ::recv(fd_, buf, n, 0);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd_, false, timeout_))
        throw TransportError(host_ + " did not answer within " + std::to_string(timeout_.count() / 1000) + " s");
      continue;
    }
    throw TransportError("reading from " + host_ + " failed: " + std::strerror(errno));
  }
}

}  // namespace postline::imapclient
