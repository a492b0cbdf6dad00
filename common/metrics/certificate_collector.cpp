#include "common/metrics/certificate_collector.h"

#include "common/metrics/families.h"

namespace postline::metrics {

void CertificateCollector::add(std::string setting, std::string file,
                               std::function<std::optional<double>()> not_after) {
  std::lock_guard lock(mutex_);
  entries_.push_back({std::move(setting), std::move(file), std::move(not_after)});
}

std::vector<prometheus::MetricFamily> CertificateCollector::Collect() const {
  auto f = family("postline_tls_certificate_not_after_timestamp_seconds",
                  "When the loaded certificate expires (its notAfter, Unix seconds), by the setting naming its file",
                  prometheus::MetricType::Gauge);
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_)
    if (auto t = e.not_after()) add_sample(f, *t, {{"setting", e.setting}, {"file", e.file}});
  std::vector<prometheus::MetricFamily> out;
  if (!f.metric.empty()) out.push_back(std::move(f));
  return out;
}

}  // namespace postline::metrics
