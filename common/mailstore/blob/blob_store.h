// The blob seam of the mailstore: message bodies by content hash (raw
// SHA-256, 32 bytes), put / get / get-range / delete, for stores that keep
// the bytes outside PostgreSQL. PgMailStore keeps its bodies in
// mailstore_blobs.data by default (written in the same pipeline as the
// message rows, no extra round trip); given a BlobStore (PgOptions::blobs,
// `mailstore.blob_backend: s3`) it writes the bytes there before the row that
// refers to them commits, and mailstore_blobs becomes the catalogue
// (data NULL). docs/DESIGN.md "Blob storage" has the crash-safety argument.
//
// Implementations: S3BlobStore (s3/s3_blob_store.h), MemoryBlobStore (tests).
// Calls are blocking and thread-safe. A store that cannot be reached throws
// BlobUnavailable (a db::Unavailable, so callers answer a temporary failure).
#pragma once

#include "common/db/unavailable.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::mailstore {

class BlobUnavailable : public db::Unavailable {
 public:
  using db::Unavailable::Unavailable;
};

class BlobStore : public std::enable_shared_from_this<BlobStore> {
 public:
  virtual ~BlobStore() = default;
  // "s3", "memory": for logs and metrics.
  virtual std::string name() const = 0;
  // Stores `bytes` under `key` (the SHA-256 of the bytes). Idempotent: the
  // same key always has the same bytes.
  virtual void put(std::string_view key, std::string_view bytes) = 0;
  // nullopt: no such blob.
  virtual std::optional<std::string> get(std::string_view key) = 0;
  // Several at once (an implementation may fetch them concurrently), positional.
  virtual std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys);
  // `length` bytes from `offset`; the caller clips to the blob's size (the
  // catalogue knows it) and never asks for an empty range.
  virtual std::optional<std::string> get_range(std::string_view key, uint64_t offset, uint64_t length) = 0;
  // Absent is fine.
  virtual void remove(std::string_view key) = 0;
  virtual bool exists(std::string_view key) = 0;
  // Copies the blob `key` of `source` (another store or another namespace's
  // view of this one) into this store; returns false, copying nothing, when
  // `source` has no such blob. The default reads it from `source` and puts it
  // here; S3BlobStore copies inside the bucket (CopyObject) when `source` is a
  // view of the same bucket, so the bytes never pass through this process.
  virtual bool copy_from(BlobStore& source, std::string_view key);

  // The same store seen under a namespace (a per-database object space,
  // sql/020_blob_namespaces.sql, docs/DESIGN.md "Sharding"): the blob of key K
  // is a different object from K outside it. "" is this store itself. The
  // default prefixes the key (stores whose keys are opaque strings);
  // S3BlobStore puts it into the object key's prefix.
  virtual std::shared_ptr<BlobStore> in_namespace(const std::string& ns);
  // The namespace this view is in ("" for a store built from configuration).
  virtual std::string space() const { return ""; }

 protected:
  // This store as a shared_ptr: its owner's, or (a store on the stack, in
  // tests) a non-owning one.
  std::shared_ptr<BlobStore> self_ptr();
};

// Lower-case hex of raw bytes (object keys are named by the hash's hex).
std::string hex_of(std::string_view raw);

}  // namespace postline::mailstore
