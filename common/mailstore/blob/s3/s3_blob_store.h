// BlobStore on S3 (s3_client.h). Content-addressed keys:
// <prefix><hex[0:2]>/<hex> of the SHA-256 (the two-character level spreads
// keys over S3's partitions and keeps listings small). Bodies larger than
// `multipart_threshold` go up as a multipart upload of `part_size` parts,
// aborted when any step fails (no half-upload is left billed). Reads of
// several bodies run concurrently (up to `parallel_gets`).
#pragma once

#include "common/mailstore/blob/blob_store.h"
#include "common/mailstore/blob/s3/s3_client.h"

#include <memory>

namespace postline::mailstore::s3 {

struct S3BlobOptions {
  S3Options s3;
  std::string prefix = "blobs/";
  uint64_t multipart_threshold = 8 << 20;
  uint64_t part_size = 8 << 20;  // S3's minimum is 5 MiB (except the last part)
  size_t parallel_gets = 8;
};

class S3BlobStore final : public BlobStore {
 public:
  explicit S3BlobStore(S3BlobOptions options, prometheus::Registry* registry = nullptr);
  std::string name() const override { return "s3"; }
  void put(std::string_view key, std::string_view bytes) override;
  std::optional<std::string> get(std::string_view key) override;
  std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys) override;
  std::optional<std::string> get_range(std::string_view key, uint64_t offset, uint64_t length) override;
  void remove(std::string_view key) override;
  bool exists(std::string_view key) override;
  // CopyObject when `source` is an S3BlobStore on the same client (a view of
  // the same bucket: another namespace), else the default GET and PUT.
  bool copy_from(BlobStore& source, std::string_view key) override;
  // Needs the store held by a shared_ptr (as blob_store_from_config makes it).
  std::shared_ptr<BlobStore> in_namespace(const std::string& ns) override;
  std::string space() const override { return space_; }

  // The object key of a blob key (raw SHA-256).
  std::string object_key(std::string_view key) const;
  S3Client& client() { return *client_; }

 private:
  S3BlobStore(S3BlobOptions options, std::shared_ptr<S3Client> client, std::string ns);
  void put_multipart(const std::string& object, std::string_view bytes);
  [[noreturn]] void fail(const char* op, const std::string& object, const S3Response& r);

  S3BlobOptions options_;
  std::shared_ptr<S3Client> client_;
  std::string space_;  // the namespace part of options_.prefix
};

}  // namespace postline::mailstore::s3
