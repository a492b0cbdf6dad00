// Message bodies are content-addressed by SHA-256 and stored once however many
// messages (recipients, COPY) refer to them. BlobStore hides where they live:
// PostgreSQL bytea by default; an object store (S3-compatible) can implement
// the same interface when bodies outgrow the database.
//
// The calls take the caller's transaction so that, with the PostgreSQL backend,
// a body and the message row referring to it commit or roll back together.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::mailstore {

// 32 raw bytes of SHA-256(data).
std::string sha256(std::string_view data);
std::string to_hex(std::string_view bytes);

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Stores `data` under `key` (its SHA-256) unless it is already there.
  virtual void put(pqxx::transaction_base& tx, std::string_view key, std::string_view data) = 0;
  // The whole body, or nullopt if no blob has that key.
  virtual std::optional<std::string> get(pqxx::transaction_base& tx, std::string_view key) = 0;
  // Bytes [offset, offset+length) clipped to the blob; nullopt if missing.
  virtual std::optional<std::string> get_range(pqxx::transaction_base& tx, std::string_view key,
                                               uint64_t offset, uint64_t length) = 0;

  // Bulk reads for FETCH over many messages: one round trip instead of one per
  // message. Results are positional (out[i] answers keys[i] / ranges[i]);
  // nullopt where the blob is missing. Callers bound the total size. The
  // defaults loop over get()/get_range(), so a backend without a bulk call
  // stays correct.
  struct Range {
    std::string key;
    uint64_t offset = 0, length = 0;
  };
  virtual std::vector<std::optional<std::string>> get_many(pqxx::transaction_base& tx,
                                                           const std::vector<std::string>& keys);
  virtual std::vector<std::optional<std::string>> get_ranges(pqxx::transaction_base& tx,
                                                             const std::vector<Range>& ranges);
};

// Table mailstore_blobs.
class PgBlobStore final : public BlobStore {
 public:
  void put(pqxx::transaction_base& tx, std::string_view key, std::string_view data) override;
  std::optional<std::string> get(pqxx::transaction_base& tx, std::string_view key) override;
  std::optional<std::string> get_range(pqxx::transaction_base& tx, std::string_view key,
                                       uint64_t offset, uint64_t length) override;
  std::vector<std::optional<std::string>> get_many(pqxx::transaction_base& tx,
                                                   const std::vector<std::string>& keys) override;
  std::vector<std::optional<std::string>> get_ranges(pqxx::transaction_base& tx,
                                                     const std::vector<Range>& ranges) override;
};

// The store used by deliver() and the IMAP store unless configured otherwise.
BlobStore& default_blob_store();

}  // namespace postline::mailstore
