// webd's certificate upkeep: every acme.check_interval, look at tls.cert_file
// and, when it is due (certificate.h renewal_due), run an order; the issued key
// and chain are written atomically to tls.key_file/cert_file (and web.* when
// set), then `installed` runs (webd reloads at once; smtpd and imapd notice the
// changed files themselves). A failed order keeps the old files, logs an error,
// counts postline_acme_orders_total{outcome="failed"} and is retried at the
// next check.
#pragma once

#include "common/config/acme_settings.h"
#include "services/web/acme/challenges.h"

#include <boost/asio/io_context.hpp>
#include <prometheus/registry.h>

#include <functional>
#include <memory>

namespace postline::web::acme {

// With ACME on and no certificate at tls.cert_file yet: writes a self-signed
// placeholder for the names there (and to web.* when set), so every service
// can start; the first check replaces it. Returns true when it wrote one.
bool ensure_placeholder(const config::AcmeSettings& settings);

class AcmeManager {
 public:
  // Loads (or creates, 0600) the account key and the CA bundle: throws on a
  // bad file so webd can refuse to start (exit 2).
  AcmeManager(boost::asio::io_context& io, config::AcmeSettings settings, ChallengeStore& challenges,
              prometheus::Registry& registry, std::function<void()> installed);
  ~AcmeManager();
  // The first check runs at once, then every acme.check_interval.
  void start();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace postline::web::acme
