#include "services/delivery-queue/reports/tls_outcomes.h"

#include <ctime>

namespace postline::queue::reports {

const char* to_string(TlsPolicyType t) {
  switch (t) {
    case TlsPolicyType::kSts: return "sts";
    case TlsPolicyType::kTlsa: return "tlsa";
    case TlsPolicyType::kNoPolicyFound: return "no-policy-found";
  }
  return "no-policy-found";
}

void TlsOutcomeBuffer::record(const TlsOutcome& o) {
  const int64_t now = now_ ? now_() : static_cast<int64_t>(std::time(nullptr));
  std::string strings;
  for (const auto& s : o.policy_strings) strings += (strings.empty() ? "" : "\n") + s;
  Key key{now - now % period_, o.policy_domain, to_string(o.policy_type), std::move(strings), o.mx_host,
          o.success ? std::string() : o.receiving_ip, o.success ? std::string() : o.result_type};
  std::lock_guard lock(mutex_);
  auto it = counts_.find(key);
  if (it != counts_.end()) {
    ++it->second;
  } else if (counts_.size() >= max_rows_) {
    ++dropped_;
  } else {
    counts_.emplace(std::move(key), 1);
  }
}

std::vector<TlsOutcomeBuffer::Row> TlsOutcomeBuffer::take() {
  std::map<Key, int64_t> counts;
  {
    std::lock_guard lock(mutex_);
    counts.swap(counts_);
  }
  std::vector<Row> out;
  out.reserve(counts.size());
  for (auto& [k, n] : counts)
    out.push_back(Row{std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), std::get<4>(k), std::get<5>(k),
                      std::get<6>(k), n});
  return out;
}

int64_t TlsOutcomeBuffer::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

}  // namespace postline::queue::reports
