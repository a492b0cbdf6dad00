// Reloads a service's TLS certificate without a restart: on SIGHUP, and by
// itself when tls.cert_file / tls.key_file (webd: web.cert_file) change on disk
// (inode, mtime or size, looked at every tls.reload_check_interval), so an
// ACME renewal by webd, a cert-manager Secret update or a `cp` of new files is
// picked up by smtpd, imapd and webd alike. Open connections keep the TLS
// session they have (OpenSSL holds the old SSL_CTX by reference); new
// handshakes get the new certificate. A reload that fails keeps the old
// certificate, logs an error and counts postline_tls_reloads_total{outcome="error"}.
#pragma once

#include "common/net/tls.h"

#include <boost/asio/io_context.hpp>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace postline::service {

class TlsReloader {
 public:
  // `tls` may be null (no certificate configured): SIGHUP is then taken and ignored.
  // `also` runs after each successful reload (webd re-reads its profile signer
  // there); it may throw, which counts as a failed reload. `interval` 0: SIGHUP only.
  TlsReloader(boost::asio::io_context& io, std::shared_ptr<net::TlsContext> tls, std::string key_file,
              std::chrono::seconds interval, prometheus::Registry& registry, std::function<void()> also = {});
  ~TlsReloader();
  // Starts the SIGHUP handler and the file watch (call before /readyz can say
  // ready, so a SIGHUP sent once the service is up reloads instead of killing it).
  void start();
  // Looks at the files now (webd calls it right after writing a renewal).
  void check_now();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// What stat() says about a file, to notice a replaced or rewritten one.
struct FileStamp {
  bool exists = false;
  unsigned long long inode = 0, device = 0, size = 0;
  long long mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_of(const std::string& path);

}  // namespace postline::service
