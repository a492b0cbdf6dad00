// BlobStore in memory, for tests: counts its operations and can be told to
// fail, so pg tests can inject faults between an upload and its commit.
#pragma once

#include "common/mailstore/blob/blob_store.h"

#include <atomic>
#include <map>
#include <mutex>

namespace postline::mailstore {

class MemoryBlobStore final : public BlobStore {
 public:
  std::string name() const override { return "memory"; }
  void put(std::string_view key, std::string_view bytes) override;
  std::optional<std::string> get(std::string_view key) override;
  std::optional<std::string> get_range(std::string_view key, uint64_t offset, uint64_t length) override;
  void remove(std::string_view key) override;
  bool exists(std::string_view key) override;

  size_t size() const;
  std::atomic<int> puts{0}, removes{0};
  // While set, put() throws BlobUnavailable.
  std::atomic<bool> fail_puts{false};

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> blobs_;
};

}  // namespace postline::mailstore
