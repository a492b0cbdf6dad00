// The MTA-STS policy cache (RFC 8461 5.1): one row per policy domain in
// queue_mta_sts_policies (sql/006_transport_security.sql), shared by every
// queued instance on the database, so a restart or another instance does not
// fetch again and a policy outlives a TXT record that disappears (the
// downgrade protection MTA-STS is about).
#pragma once

#include "common/db/pool.h"

#include <cstdint>
#include <mutex>
#include <map>
#include <optional>
#include <string>

namespace postline::queue {

class StsPolicyCache {
 public:
  struct Entry {
    std::string id;    // the TXT id the policy was fetched under
    std::string text;  // the policy file as fetched
    int64_t max_age = 0;
    bool fresh = false;  // fetched less than max_age ago
  };
  virtual ~StsPolicyCache() = default;
  // nullopt when nothing is cached (or the cache cannot be read: then the
  // policy is fetched again, which is safe). Never throws.
  virtual std::optional<Entry> get(const std::string& domain) = 0;
  // Stores a policy just fetched and parsed; valid for max_age seconds from now.
  virtual void put(const std::string& domain, const std::string& id, const std::string& text, int64_t max_age) = 0;
};

// PostgreSQL (production): its own small pool, never the worker's claim transaction.
class PgStsCache final : public StsPolicyCache {
 public:
  explicit PgStsCache(db::Pool& pool) : pool_(pool) {}
  std::optional<Entry> get(const std::string& domain) override;
  void put(const std::string& domain, const std::string& id, const std::string& text, int64_t max_age) override;

 private:
  db::Pool& pool_;
};

// In memory, for tests and for a queued without a database seam.
class MemoryStsCache final : public StsPolicyCache {
 public:
  std::optional<Entry> get(const std::string& domain) override;
  void put(const std::string& domain, const std::string& id, const std::string& text, int64_t max_age) override;

 private:
  struct Row {
    Entry entry;
    int64_t expires_unix = 0;
  };
  std::mutex mutex_;
  std::map<std::string, Row> rows_;
};

}  // namespace postline::queue
