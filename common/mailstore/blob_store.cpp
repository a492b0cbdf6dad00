#include "common/mailstore/blob_store.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace postline::mailstore {

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

void PgBlobStore::put(pqxx::transaction_base& tx, std::string_view key, std::string_view data) {
  // ON CONFLICT: the same body delivered twice (or concurrently) is stored once.
  tx.exec_params(
      "INSERT INTO mailstore_blobs (sha256, size, data) VALUES ($1, $2, $3) "
      "ON CONFLICT (sha256) DO NOTHING",
      pqxx::binarystring(key.data(), key.size()), static_cast<int64_t>(data.size()),
      pqxx::binarystring(data.data(), data.size()));
}

std::optional<std::string> PgBlobStore::get(pqxx::transaction_base& tx, std::string_view key) {
  auto r = tx.exec_params("SELECT data FROM mailstore_blobs WHERE sha256 = $1",
                          pqxx::binarystring(key.data(), key.size()));
  if (r.empty()) return std::nullopt;
  return pqxx::binarystring(r[0][0]).str();
}

std::optional<std::string> PgBlobStore::get_range(pqxx::transaction_base& tx, std::string_view key,
                                                  uint64_t offset, uint64_t length) {
  // substring() on bytea is 1-based; reading a part without the whole message
  // keeps attachment fetches cheap.
  auto r = tx.exec_params("SELECT substring(data FROM $2 FOR $3) FROM mailstore_blobs WHERE sha256 = $1",
                          pqxx::binarystring(key.data(), key.size()), static_cast<int64_t>(offset + 1),
                          static_cast<int64_t>(length));
  if (r.empty()) return std::nullopt;
  return pqxx::binarystring(r[0][0]).str();
}

BlobStore& default_blob_store() {
  static PgBlobStore store;
  return store;
}

}  // namespace postline::mailstore
