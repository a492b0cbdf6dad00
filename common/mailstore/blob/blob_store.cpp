#include "common/mailstore/blob/blob_store.h"

namespace postline::mailstore {

std::vector<std::optional<std::string>> BlobStore::get_many(const std::vector<std::string>& keys) {
  std::vector<std::optional<std::string>> out;
  out.reserve(keys.size());
  for (const auto& k : keys) out.push_back(get(k));
  return out;
}

bool BlobStore::copy_from(BlobStore& source, std::string_view key) {
  auto bytes = source.get(key);
  if (!bytes) return false;
  put(key, *bytes);
  return true;
}

namespace {
// A namespace over a store whose keys are opaque: the key gets the namespace
// in front.
class PrefixedBlobStore final : public BlobStore {
 public:
  PrefixedBlobStore(std::shared_ptr<BlobStore> base, std::string ns) : base_(std::move(base)), ns_(std::move(ns)) {}
  std::string name() const override { return base_->name(); }
  void put(std::string_view key, std::string_view bytes) override { base_->put(k(key), bytes); }
  std::optional<std::string> get(std::string_view key) override { return base_->get(k(key)); }
  std::optional<std::string> get_range(std::string_view key, uint64_t offset, uint64_t length) override {
    return base_->get_range(k(key), offset, length);
  }
  void remove(std::string_view key) override { base_->remove(k(key)); }
  bool exists(std::string_view key) override { return base_->exists(k(key)); }
  std::shared_ptr<BlobStore> in_namespace(const std::string& ns) override {
    return ns.empty() ? base_ : base_->in_namespace(ns);
  }
  std::string space() const override { return ns_; }

 private:
  std::string k(std::string_view key) const { return ns_ + std::string(key); }
  std::shared_ptr<BlobStore> base_;
  std::string ns_;
};

// A store not held by a shared_ptr (a test's local): its owner outlives the view.
struct NoDelete {
  void operator()(BlobStore*) const {}
};
}  // namespace

std::shared_ptr<BlobStore> BlobStore::self_ptr() {
  std::shared_ptr<BlobStore> self = weak_from_this().lock();
  return self ? self : std::shared_ptr<BlobStore>(this, NoDelete{});
}

std::shared_ptr<BlobStore> BlobStore::in_namespace(const std::string& ns) {
  std::shared_ptr<BlobStore> self = self_ptr();
  if (ns.empty()) return self;
  return std::make_shared<PrefixedBlobStore>(std::move(self), ns);
}

std::string hex_of(std::string_view raw) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace postline::mailstore
