#include "services/delivery-queue/store/mta_sts_cache.h"

#include "common/log/printable.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace postline::queue {

std::optional<StsPolicyCache::Entry> PgStsCache::get(const std::string& domain) {
  try {
    return pool_.with([&](pqxx::connection& c) -> std::optional<Entry> {
      pqxx::nontransaction tx(c);
      auto rows = tx.exec_params(
          "SELECT policy_id, policy, max_age, expires_at > now() FROM queue_mta_sts_policies WHERE domain = $1",
          domain);
      if (rows.empty()) return std::nullopt;
      Entry e;
      e.id = rows[0][0].as<std::string>();
      e.text = rows[0][1].as<std::string>();
      e.max_age = rows[0][2].as<int64_t>();
      e.fresh = rows[0][3].as<bool>();
      return e;
    });
  } catch (const std::exception& e) {
    spdlog::warn("MTA-STS cache: reading the policy of {} failed: {}", domain, log::printable(e.what(), 512));
    return std::nullopt;
  }
}

void PgStsCache::put(const std::string& domain, const std::string& id, const std::string& text, int64_t max_age) {
  try {
    pool_.with([&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params(
          "INSERT INTO queue_mta_sts_policies (domain, policy_id, policy, max_age, fetched_at, expires_at)"
          " VALUES ($1, $2, $3, $4::bigint, now(), now() + make_interval(secs => $4::bigint))"
          " ON CONFLICT (domain) DO UPDATE SET policy_id = EXCLUDED.policy_id, policy = EXCLUDED.policy,"
          " max_age = EXCLUDED.max_age, fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at",
          domain, id, text, max_age);
      tx.commit();
    });
  } catch (const std::exception& e) {
    // The policy still applies to this session; the next one fetches again.
    spdlog::warn("MTA-STS cache: storing the policy of {} failed: {}", domain, log::printable(e.what(), 512));
  }
}

namespace {
int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

std::optional<StsPolicyCache::Entry> MemoryStsCache::get(const std::string& domain) {
  std::lock_guard lock(mutex_);
  auto it = rows_.find(domain);
  if (it == rows_.end()) return std::nullopt;
  Entry e = it->second.entry;
  e.fresh = now_unix() < it->second.expires_unix;
  return e;
}

void MemoryStsCache::put(const std::string& domain, const std::string& id, const std::string& text, int64_t max_age) {
  std::lock_guard lock(mutex_);
  rows_[domain] = Row{Entry{id, text, max_age, true}, now_unix() + max_age};
}

}  // namespace postline::queue
