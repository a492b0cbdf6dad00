#include "services/web/acme/manager.h"

#include "common/log/printable.h"

#include "services/web/acme/certificate.h"
#include "services/web/acme/client.h"
#include "services/web/acme/errors.h"
#include "services/web/acme/files.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

namespace postline::web::acme {

namespace asio = boost::asio;

namespace {
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// All files staged before any is renamed, key first: a service that looks
// between two renames sees a new key with the old certificate, which does not
// load, and keeps what it has until the certificate follows
// (common/service/tls_reloader.h).
void install(const config::AcmeSettings& s, const std::string& cert_pem, const std::string& key_pem) {
  std::vector<FileContent> files = {{s.key_file, key_pem, 0600}, {s.cert_file, cert_pem, 0644}};
  if (!s.web_cert_file.empty() && s.web_cert_file != s.cert_file) {
    files.push_back({s.web_key_file, key_pem, 0600});
    files.push_back({s.web_cert_file, cert_pem, 0644});
  }
  write_all_atomically(files);
}
}  // namespace

bool ensure_placeholder(const config::AcmeSettings& s) {
  if (!s.enabled || read_whole_file(s.cert_file)) return false;
  const Placeholder p = make_placeholder(s.names);
  install(s, p.cert_pem, p.key_pem);
  return true;
}

struct AcmeManager::Impl : std::enable_shared_from_this<AcmeManager::Impl> {
  asio::io_context& io;
  config::AcmeSettings settings;
  std::function<void()> installed;
  HttpsClient https;
  AcmeClient client;
  asio::steady_timer timer;
  bool stopped = false;
  prometheus::Counter *issued, *failed, *bad_nonces;
  prometheus::Gauge *last_renewal, *renewal_due_at;

  Impl(asio::io_context& io_, config::AcmeSettings s, ChallengeStore& challenges, prometheus::Registry& registry,
       std::function<void()> installed_)
      : io(io_), settings(std::move(s)), installed(std::move(installed_)),
        https(settings.ca_file, settings.request_timeout),
        client(https, load_or_create_account_key(settings.account_key_file), settings.directory_url,
               settings.contact_email, challenges, [this] { bad_nonces->Increment(); }),
        timer(io_) {
    auto& orders = prometheus::BuildCounter()
                       .Name("postline_acme_orders_total")
                       .Help("ACME orders webd ran, by outcome (issued: certificate installed; failed: kept the old one)")
                       .Register(registry);
    issued = &orders.Add({{"outcome", "issued"}});
    failed = &orders.Add({{"outcome", "failed"}});
    bad_nonces = &prometheus::BuildCounter()
                      .Name("postline_acme_bad_nonce_retries_total")
                      .Help("requests the ACME server refused with badNonce and webd sent again")
                      .Register(registry)
                      .Add({});
    last_renewal = &prometheus::BuildGauge()
                        .Name("postline_acme_last_renewal_timestamp_seconds")
                        .Help("when webd last installed a certificate from ACME (Unix seconds; 0 = not since start)")
                        .Register(registry)
                        .Add({});
    renewal_due_at = &prometheus::BuildGauge()
                          .Name("postline_acme_renewal_due_timestamp_seconds")
                          .Help("when the installed certificate is due for renewal: notAfter - acme.renew_before (0 = due now)")
                          .Register(registry)
                          .Add({});
  }

  std::optional<CertificateInfo> current() {
    try {
      if (auto pem = read_whole_file(settings.cert_file)) return inspect_certificate(*pem);
    } catch (const std::exception& e) {
      spdlog::warn("acme: {}", log::printable(e.what(), 512));
    }
    return std::nullopt;
  }

  void show_due(const std::optional<CertificateInfo>& cert, bool due) {
    renewal_due_at->Set(due || !cert ? 0.0 : cert->not_after - static_cast<double>(settings.renew_before.count()));
  }

  asio::awaitable<void> check() {
    const auto cert = current();
    const RenewalDecision decision = renewal_due(cert, settings.names, settings.renew_before,
                                                 std::chrono::system_clock::now());
    show_due(cert, decision.renew);
    if (!decision.renew) {
      spdlog::debug("acme: {}: {}", settings.cert_file, decision.why);
      co_return;
    }
    spdlog::info("acme: ordering a certificate for {}: {}", joined(settings.names), decision.why);
    try {
      const auto deadline = std::chrono::steady_clock::now() + settings.order_timeout;
      const Issued got = co_await client.obtain(settings.names, deadline);
      install(settings, got.chain_pem, got.key_pem);
      issued->Increment();
      last_renewal->Set(static_cast<double>(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
      const auto fresh = inspect_certificate(got.chain_pem);
      show_due(fresh, false);
      spdlog::info("acme: installed a certificate for {} in {} (valid until {:.0f})", joined(settings.names),
                   settings.cert_file, fresh ? fresh->not_after : 0.0);
      if (installed) installed();
    } catch (const std::exception& e) {
      failed->Increment();
      spdlog::error("acme: order for {} failed, keeping the current certificate (next try in {}s): {}",
                    joined(settings.names), settings.check_interval.count(),
                    // The CA's problem documents end up in the text: peer bytes.
                    log::printable(e.what(), 512));
    }
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    while (!stopped) {
      co_await check();
      if (stopped) break;
      timer.expires_after(settings.check_interval);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
};

AcmeManager::AcmeManager(asio::io_context& io, config::AcmeSettings settings, ChallengeStore& challenges,
                         prometheus::Registry& registry, std::function<void()> installed)
    : impl_(std::make_shared<Impl>(io, std::move(settings), challenges, registry, std::move(installed))) {}

AcmeManager::~AcmeManager() {
  impl_->stopped = true;
  impl_->timer.cancel();
}

void AcmeManager::start() {
  asio::co_spawn(impl_->io, impl_->run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("acme: stopped: {}", log::printable(ex.what(), 512));
    }
  });
}

}  // namespace postline::web::acme
