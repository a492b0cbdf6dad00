// webd's listeners: HTTPS (HTTP/1.1 over TLS 1.2+, Boost.Beast) serving the
// Site, and optionally plain HTTP that answers every request with a redirect
// to HTTPS. Each request is read within web.max_header_size and
// web.max_body_size (431 / 413 otherwise) and web.request_timeout; a
// connection over web.max_connections(_per_ip) is closed at once.
#pragma once

#include "common/net/listener.h"
#include "common/net/tls.h"
#include "services/web/core/site.h"
#include "services/web/server/domain_directory.h"
#include "services/web/server/metrics.h"
#include "services/web/server/portal_metrics.h"

namespace postline::web::portal {
class Portal;
}

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

namespace postline::web {

struct ServerOptions {
  size_t max_header_size = 8 * 1024;
  size_t max_body_size = 64 * 1024;
  std::chrono::seconds request_timeout{30};
  net::ConnectionLimits limits;
  uint16_t public_https_port = 443;  // where redirects send clients
  // The plain-HTTP port's one exception to redirecting: for GET/HEAD of a
  // target this returns a value for (a pending ACME http-01 token,
  // services/web/acme/challenges.h), answer 200 with it. Unset: redirect all.
  std::function<std::optional<std::string>(std::string_view target)> acme_challenge;
};

class WebServer {
 public:
  WebServer(boost::asio::io_context& io, const Site& site, DomainDirectory& directory,
            std::shared_ptr<net::TlsContext> tls, WebMetrics& metrics, ServerOptions options);
  ~WebServer();
  // Binds HTTPS and, when redirect_port != 0, the redirect listener; returns
  // (name, bound port) pairs. Throws std::runtime_error naming the port.
  std::vector<std::pair<std::string, uint16_t>> start(const std::string& address, uint16_t https_port,
                                                      uint16_t redirect_port);
  // Stops accepting; calls `done` once open connections have ended or `grace` passed.
  void shutdown(std::chrono::seconds grace, std::function<void()> done);
  size_t active() const;
  // Serve the web portal's paths (portal::Portal::handles) on HTTPS too; its
  // blocking handler runs on a pool of `threads` worker threads. Call before
  // start(); both must outlive the server.
  void enable_portal(const portal::Portal& portal, PortalMetrics& metrics, size_t threads);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postline::web
