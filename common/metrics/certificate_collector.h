// postline_tls_certificate_not_after_timestamp_seconds{setting,file}: when each
// certificate a service loaded stops being valid (Unix seconds), read at each
// scrape, so a certificate reloaded on SIGHUP shows its new date at once.
// `setting` is the configuration key that names the file (tls.cert_file,
// grpc.tls_cert_file). The alerts PostlineCertificateExpiresSoon (14 days) and
// PostlineCertificateExpiresVerySoon (3 days) watch it.
#pragma once

#include <prometheus/collectable.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace postline::metrics {

class CertificateCollector : public prometheus::Collectable {
 public:
  // not_after: the loaded certificate's notAfter, nullopt when none is loaded
  // (then no sample is exported for it).
  void add(std::string setting, std::string file, std::function<std::optional<double>()> not_after);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Entry {
    std::string setting, file;
    std::function<std::optional<double>()> not_after;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace postline::metrics
