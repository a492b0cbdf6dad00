// Server TLS contexts: TLS 1.2 minimum, server cipher preference, certificate
// and key from PEM files. reload() re-reads the files (called on SIGHUP and when
// the files change, common/service/tls_reloader.h) so a renewed certificate is
// used by new connections without a restart.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace postline::net {

class TlsContext {
 public:
  // Throws std::runtime_error naming the file on failure, and the keys that
  // name the files as `<key_section>.cert_file` / `.key_file` (webd has its own).
  TlsContext(std::string cert_file, std::string key_file, std::string key_section = "tls");
  void reload();
  // The context new connections should use.
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // notAfter of the certificate new connections get (Unix seconds), for
  // postline_tls_certificate_not_after_timestamp_seconds; follows reload().
  std::optional<double> not_after() const;
  const std::string& cert_file() const { return cert_file_; }
  // "tls" or "web": the config section whose cert_file/key_file this holds.
  const std::string& key_section() const { return key_section_; }

 private:
  std::shared_ptr<boost::asio::ssl::context> build() const;
  std::string cert_file_, key_file_, key_section_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

// notAfter (Unix seconds) of the first certificate in a PEM file, nullopt when
// the file holds none (the gRPC certificate, whose files grpc reads itself).
std::optional<double> certificate_file_not_after(const std::string& pem_file);

// A client context (verification off unless `verify`), TLS 1.2 minimum.
std::shared_ptr<boost::asio::ssl::context> make_client_context(bool verify);

}  // namespace postline::net
