#include "common/mailstore/blob/memory_blob_store.h"

namespace postline::mailstore {

void MemoryBlobStore::put(std::string_view key, std::string_view bytes) {
  if (fail_puts) throw BlobUnavailable("memory blob store: put refused (test)");
  ++puts;
  std::lock_guard lock(mu_);
  blobs_.insert_or_assign(std::string(key), std::string(bytes));
}

std::optional<std::string> MemoryBlobStore::get(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = blobs_.find(key);
  if (it == blobs_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> MemoryBlobStore::get_range(std::string_view key, uint64_t offset, uint64_t length) {
  std::lock_guard lock(mu_);
  auto it = blobs_.find(key);
  if (it == blobs_.end()) return std::nullopt;
  if (offset >= it->second.size()) return std::string();
  return it->second.substr(offset, length);
}

void MemoryBlobStore::remove(std::string_view key) {
  ++removes;
  std::lock_guard lock(mu_);
  auto it = blobs_.find(key);
  if (it != blobs_.end()) blobs_.erase(it);
}

bool MemoryBlobStore::exists(std::string_view key) {
  std::lock_guard lock(mu_);
  return blobs_.find(key) != blobs_.end();
}

size_t MemoryBlobStore::size() const {
  std::lock_guard lock(mu_);
  return blobs_.size();
}

}  // namespace postline::mailstore
