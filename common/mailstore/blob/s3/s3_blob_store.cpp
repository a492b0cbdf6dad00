#include "common/mailstore/blob/s3/s3_blob_store.h"

#include "common/log/printable.h"
#include "common/mailstore/blob/s3/s3_xml.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace postline::mailstore::s3 {

namespace http = boost::beast::http;

S3BlobStore::S3BlobStore(S3BlobOptions options, prometheus::Registry* registry)
    : options_(std::move(options)), client_(std::make_shared<S3Client>(options_.s3, registry)) {
  options_.part_size = std::max<uint64_t>(options_.part_size, 5 << 20);
  options_.multipart_threshold = std::max<uint64_t>(options_.multipart_threshold, 5 << 20);
}

S3BlobStore::S3BlobStore(S3BlobOptions options, std::shared_ptr<S3Client> client, std::string ns)
    : options_(std::move(options)), client_(std::move(client)), space_(std::move(ns)) {}

std::shared_ptr<BlobStore> S3BlobStore::in_namespace(const std::string& ns) {
  if (ns == space_) return self_ptr();
  // Views share the client (its connections and metrics); the namespace goes
  // after the configured prefix: <prefix><namespace><hex[0:2]>/<hex>.
  S3BlobOptions o = options_;
  o.prefix = o.prefix.substr(0, o.prefix.size() - space_.size()) + ns;
  return std::shared_ptr<S3BlobStore>(new S3BlobStore(std::move(o), client_, ns));
}

std::string S3BlobStore::object_key(std::string_view key) const {
  const std::string hex = hex_of(key);
  return options_.prefix + hex.substr(0, 2) + "/" + hex;
}

void S3BlobStore::fail(const char* op, const std::string& object, const S3Response& r) {
  // The code and status are the server's: escaped, and never the request's credentials.
  const std::string what = std::string("S3 ") + op + " of " + log::printable(object, 100) + " answered " +
                           std::to_string(r.status) + (r.error_code.empty() ? "" : " " + log::printable(r.error_code, 64));
  spdlog::error("{}", what);
  throw BlobUnavailable(what);
}

void S3BlobStore::put(std::string_view key, std::string_view bytes) {
  const std::string object = object_key(key);
  try {
    if (bytes.size() > options_.multipart_threshold) return put_multipart(object, bytes);
    auto r = client_->call("put", http::verb::put, object, {}, bytes);
    if (r.status != 200) fail("PUT", object, r);
  } catch (const S3Error& e) {
    throw BlobUnavailable(e.what());
  }
}

void S3BlobStore::put_multipart(const std::string& object, std::string_view bytes) {
  auto init = client_->call("initiate", http::verb::post, object, {{"uploads", ""}}, {});
  const auto upload_id = init.status == 200 ? xml_element_text(init.body, "UploadId", 1024) : std::nullopt;
  if (!upload_id || upload_id->empty()) fail("CreateMultipartUpload", object, init);
  try {
    std::string complete = "<CompleteMultipartUpload>";
    int part = 1;
    for (uint64_t off = 0; off < bytes.size(); off += options_.part_size, ++part) {
      const std::string_view chunk = bytes.substr(off, options_.part_size);
      auto r = client_->call("part", http::verb::put, object,
                            {{"partNumber", std::to_string(part)}, {"uploadId", *upload_id}}, chunk);
      if (r.status != 200 || r.etag.empty()) fail("UploadPart", object, r);
      // The ETag is quoted hex; it goes back as it came, XML-escaped.
      std::string etag;
      for (char c : r.etag) etag += c == '"' ? std::string("&quot;") : c == '&' ? std::string("&amp;") : c == '<' ? std::string("&lt;") : std::string(1, c);
      complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + etag + "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";
    auto done = client_->call("complete", http::verb::post, object, {{"uploadId", *upload_id}}, complete,
                             {{"content-type", "application/xml"}});
    // S3 may answer 200 and report the failure in the body.
    if (done.status != 200 || xml_error_code(done.body)) {
      if (done.error_code.empty()) done.error_code = xml_error_code(done.body).value_or("");
      fail("CompleteMultipartUpload", object, done);
    }
  } catch (...) {
    try {
      auto r = client_->call("abort", http::verb::delete_, object, {{"uploadId", *upload_id}}, {});
      if (r.status != 204 && r.status != 200 && r.status != 404)
        spdlog::warn("s3: aborting the multipart upload of {} answered {}", log::printable(object, 100), r.status);
    } catch (const std::exception& e) {
      spdlog::warn("s3: cannot abort the multipart upload of {}: {}", log::printable(object, 100), e.what());
    }
    throw;
  }
}

bool S3BlobStore::copy_from(BlobStore& source, std::string_view key) {
  auto* s3 = dynamic_cast<S3BlobStore*>(&source);
  if (!s3 || s3->client_ != client_) return BlobStore::copy_from(source, key);
  const std::string from = s3->object_key(key), object = object_key(key);
  if (from == object) return exists(key);  // the same view: S3 refuses a copy onto itself
  // A message body is far below CopyObject's 5 GB limit for a single copy.
  const std::string copy_source = "/" + uri_encode(options_.s3.bucket, true) + "/" + uri_encode(from, false);
  try {
    auto r = client_->call("copy", http::verb::put, object, {}, {}, {{"x-amz-copy-source", copy_source}});
    if (r.status == 404) return false;
    // Like CompleteMultipartUpload, a copy may answer 200 and report the
    // failure in the body.
    if (r.status != 200 || xml_error_code(r.body)) {
      if (r.error_code.empty()) r.error_code = xml_error_code(r.body).value_or("");
      if (r.error_code == "NoSuchKey") return false;
      fail("CopyObject", object, r);
    }
    return true;
  } catch (const S3Error& e) {
    throw BlobUnavailable(e.what());
  }
}

std::optional<std::string> S3BlobStore::get(std::string_view key) {
  const std::string object = object_key(key);
  try {
    auto r = client_->call("get", http::verb::get, object, {}, {});
    if (r.status == 404) return std::nullopt;
    if (r.status != 200) fail("GET", object, r);
    return std::move(r.body);
  } catch (const S3Error& e) {
    throw BlobUnavailable(e.what());
  }
}

std::vector<std::optional<std::string>> S3BlobStore::get_many(const std::vector<std::string>& keys) {
  std::vector<std::optional<std::string>> out(keys.size());
  const size_t workers = std::min(keys.size(), std::max<size_t>(1, options_.parallel_gets));
  if (workers <= 1) {
    for (size_t i = 0; i < keys.size(); ++i) out[i] = get(keys[i]);
    return out;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    for (size_t i; (i = next++) < keys.size();) {
      try {
        out[i] = get(keys[i]);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
        next = keys.size();
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::optional<std::string> S3BlobStore::get_range(std::string_view key, uint64_t offset, uint64_t length) {
  if (length == 0) return std::string();
  const std::string object = object_key(key);
  try {
    auto r = client_->call("get_range", http::verb::get, object, {},
                          {}, {{"range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}});
    if (r.status == 404) return std::nullopt;
    if (r.status == 416) return std::string();  // past the end
    if (r.status == 200) return r.body.size() > offset ? r.body.substr(offset, length) : std::string();
    if (r.status != 206) fail("GET (range)", object, r);
    return std::move(r.body);
  } catch (const S3Error& e) {
    throw BlobUnavailable(e.what());
  }
}

void S3BlobStore::remove(std::string_view key) {
  const std::string object = object_key(key);
  try {
    auto r = client_->call("delete", http::verb::delete_, object, {}, {});
    if (r.status != 204 && r.status != 200 && r.status != 404) fail("DELETE", object, r);
  } catch (const S3Error& e) {
    throw BlobUnavailable(e.what());
  }
}

bool S3BlobStore::exists(std::string_view key) {
  const std::string object = object_key(key);
  try {
    auto r = client_->call("head", http::verb::head, object, {}, {});
    if (r.status == 404) return false;
    if (r.status != 200) fail("HEAD", object, r);
    return true;
  } catch (const S3Error& e) {
    throw BlobUnavailable(e.what());
  }
}

}  // namespace postline::mailstore::s3
