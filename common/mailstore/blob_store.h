// Message bodies are content-addressed by SHA-256 and stored once however many
// messages (recipients, COPY) refer to them. BlobStore hides where they live:
// PostgreSQL bytea by default; an object store (S3-compatible) can implement
// the same interface when bodies outgrow the database.
//
// The calls take the caller's transaction so that, with the PostgreSQL backend,
// a body and the message row referring to it commit or roll back together.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <string_view>

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
};

// Table mailstore_blobs.
class PgBlobStore final : public BlobStore {
 public:
  void put(pqxx::transaction_base& tx, std::string_view key, std::string_view data) override;
  std::optional<std::string> get(pqxx::transaction_base& tx, std::string_view key) override;
  std::optional<std::string> get_range(pqxx::transaction_base& tx, std::string_view key,
                                       uint64_t offset, uint64_t length) override;
};

// The store used by deliver() and the IMAP store unless configured otherwise.
BlobStore& default_blob_store();

}  // namespace postline::mailstore
