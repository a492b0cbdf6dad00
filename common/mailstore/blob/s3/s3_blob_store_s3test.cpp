// S3BlobStore and S3Client against the S3 test server (ctest fixture s3,
// tests/s3): round trips, that the server really checks the signature (a
// wrong secret or key is refused), multipart uploads and their abort,
// retries after 5xx, the metrics.
#include "common/mailstore/blob/memory_blob_store.h"
#include "common/mailstore/blob/s3/s3_blob_store.h"

#include "common/mailstore/blob/s3/sigv4.h"
#include "tests/support/s3_test_server.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <prometheus/registry.h>

#include <random>

using namespace postline::mailstore;
using namespace postline::mailstore::s3;
namespace t = postline::testing;

namespace {

std::string sha(std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return std::string(reinterpret_cast<const char*>(d), sizeof d);
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class S3BlobStoreTest : public ::testing::Test {
 protected:
  S3BlobOptions options(std::string secret = {}) {
    S3BlobOptions o;
    o.s3.endpoint = server.endpoint;
    o.s3.bucket = server.bucket;
    o.s3.region = server.region;
    o.s3.credentials = {server.access_key_id, secret.empty() ? server.secret_access_key : secret, ""};
    o.s3.retry_base = std::chrono::milliseconds(10);
    o.prefix = t::s3_test_prefix();
    return o;
  }
  t::S3TestServer server = t::s3_test_server();
};

}  // namespace

TEST_F(S3BlobStoreTest, PutGetRangeHeadDelete) {
  S3BlobStore store(options());
  const std::string body = "From: a@example.test\r\n\r\nhello s3\r\n", key = sha(body);
  EXPECT_FALSE(store.exists(key));
  EXPECT_EQ(store.get(key), std::nullopt);
  store.put(key, body);
  EXPECT_TRUE(store.exists(key));
  EXPECT_EQ(store.get(key), body);
  EXPECT_EQ(store.get_range(key, 6, 14), body.substr(6, 14));
  EXPECT_EQ(store.get_range(key, body.size() - 3, 3), body.substr(body.size() - 3));
  store.put(key, body);  // idempotent
  store.remove(key);
  EXPECT_FALSE(store.exists(key));
  store.remove(key);  // absent is fine
  const std::string hex = hex_of(key);
  EXPECT_EQ(store.object_key(key).substr(store.object_key(key).size() - 67), hex.substr(0, 2) + "/" + hex);
}

// A namespace (sql/020: one per shard's database) is a separate object space
// of the same bucket and prefix; views share the client.
TEST_F(S3BlobStoreTest, NamespacesAreSeparateObjectSpaces) {
  auto base = std::make_shared<S3BlobStore>(options());
  auto one = base->in_namespace("db-one/"), two = base->in_namespace("db-two/");
  EXPECT_EQ(one->space(), "db-one/");
  EXPECT_EQ(base->in_namespace("").get(), base.get());
  EXPECT_EQ(one->in_namespace("db-one/").get(), one.get());
  const std::string body = "namespaced body\r\n", key = sha(body), hex = hex_of(key);
  one->put(key, body);
  EXPECT_TRUE(one->exists(key));
  EXPECT_FALSE(two->exists(key));
  EXPECT_FALSE(base->exists(key));
  EXPECT_TRUE(one->in_namespace("db-two/")->in_namespace("db-one/")->exists(key));
  const auto& s3one = dynamic_cast<const S3BlobStore&>(*one);
  EXPECT_EQ(s3one.object_key(key), base->object_key(key).substr(0, base->object_key(key).size() - 67) +
                                       "db-one/" + hex.substr(0, 2) + "/" + hex);
  two->remove(key);  // another namespace's delete leaves it
  EXPECT_EQ(one->get(key), body);
  one->remove(key);
  EXPECT_FALSE(one->exists(key));
}

// A copy between two namespaces of one bucket stays inside the bucket
// (CopyObject, signed like every request); from another store it reads and
// puts; a missing source copies nothing.
TEST_F(S3BlobStoreTest, CopyBetweenNamespacesIsServerSide) {
  const S3BlobOptions o = options();
  auto base = std::make_shared<S3BlobStore>(o);
  auto from = base->in_namespace("src/"), to = base->in_namespace("dst/");
  const std::string body = random_bytes(300000, 7), key = sha(body);
  from->put(key, body);
  const long gets = t::s3_test_stat(server, "by_op.get", o.prefix);
  EXPECT_TRUE(to->copy_from(*from, key));
  EXPECT_EQ(to->get(key), body);
  EXPECT_EQ(t::s3_test_stat(server, "by_op.copy", o.prefix), 1);
  EXPECT_EQ(t::s3_test_stat(server, "by_op.get", o.prefix), gets + 1);  // only the check above
  EXPECT_EQ(t::s3_test_stat(server, "rejected", o.prefix), 0);
  EXPECT_FALSE(to->copy_from(*from, sha("never stored")));
  EXPECT_FALSE(to->exists(sha("never stored")));
  // From a store that is not a view of this bucket: GET there, PUT here.
  MemoryBlobStore memory;
  const std::string other = "from memory\r\n";
  memory.put(sha(other), other);
  EXPECT_TRUE(to->copy_from(memory, sha(other)));
  EXPECT_EQ(to->get(sha(other)), other);
  EXPECT_EQ(t::s3_test_stat(server, "by_op.copy", o.prefix), 2);  // the missing source's attempt too
}

// The same for a store with opaque keys (MemoryBlobStore: the key is prefixed).
TEST(BlobNamespaces, MemoryStoreViewsAreSeparate) {
  auto base = std::make_shared<MemoryBlobStore>();
  auto one = base->in_namespace("db-one/"), two = base->in_namespace("db-two/");
  one->put("k", "bytes");
  EXPECT_TRUE(one->exists("k"));
  EXPECT_FALSE(two->exists("k"));
  EXPECT_FALSE(base->exists("k"));
  EXPECT_EQ(base->size(), 1u);
  EXPECT_EQ(two->in_namespace("db-one/")->get("k"), "bytes");
  EXPECT_EQ(base->in_namespace("").get(), base.get());
}

TEST_F(S3BlobStoreTest, ServerRefusesABadSignature) {
  auto o = options("not-the-secret");
  const std::string prefix = o.prefix;  // counts only this test's requests
  const long rejected = t::s3_test_stat(server, "rejected", prefix);
  o.s3.max_retries = 0;
  S3BlobStore wrong(o);
  const std::string body = "x", key = sha(body);
  EXPECT_THROW(wrong.put(key, body), BlobUnavailable);
  EXPECT_EQ(t::s3_test_stat(server, "rejected", prefix), rejected + 1);
  // And the request signed right goes through (the check is not a blanket refusal).
  auto r = options();
  r.prefix = prefix;
  S3BlobStore right(r);
  right.put(key, body);
  EXPECT_EQ(right.get(key), body);
  EXPECT_EQ(t::s3_test_stat(server, "rejected", prefix), rejected + 1);
  // A wrong access key is refused too.
  auto k = options();
  k.s3.credentials.access_key_id = "AKIDNOTKNOWN";
  EXPECT_THROW(S3BlobStore(k).get(key), BlobUnavailable);
}

TEST_F(S3BlobStoreTest, MultipartAboveTheThreshold) {
  auto o = options();
  o.multipart_threshold = 5 << 20;
  o.part_size = 5 << 20;
  S3BlobStore store(o);
  const std::string body = random_bytes((12 << 20) + 123, 7), key = sha(body);
  const long parts = t::s3_test_stat(server, "by_op.part", o.prefix),
             completes = t::s3_test_stat(server, "by_op.complete", o.prefix);
  store.put(key, body);
  EXPECT_EQ(t::s3_test_stat(server, "by_op.part", o.prefix), parts + 3);
  EXPECT_EQ(t::s3_test_stat(server, "by_op.complete", o.prefix), completes + 1);
  EXPECT_EQ(store.get(key), body);
  // A range across the first part boundary.
  EXPECT_EQ(store.get_range(key, (5 << 20) - 10, 20), body.substr((5 << 20) - 10, 20));
  // Small bodies stay single PUTs.
  const std::string small = "small", small_key = sha(small);
  store.put(small_key, small);
  EXPECT_EQ(t::s3_test_stat(server, "by_op.part", o.prefix), parts + 3);
}

TEST_F(S3BlobStoreTest, FailedMultipartIsAborted) {
  auto o = options();
  o.multipart_threshold = 5 << 20;
  o.part_size = 5 << 20;
  o.s3.max_retries = 0;
  S3BlobStore store(o);
  const std::string body = random_bytes((6 << 20), 8), key = sha(body);
  const long aborts = t::s3_test_stat(server, "aborts", o.prefix);
  t::s3_test_fail_next(server, 1, 400, 1, o.prefix);  // the initiate passes, the first part is refused
  EXPECT_THROW(store.put(key, body), BlobUnavailable);
  EXPECT_EQ(t::s3_test_stat(server, "aborts", o.prefix), aborts + 1);
  EXPECT_FALSE(store.exists(key));
}

TEST_F(S3BlobStoreTest, RetriesServerErrorsWithMetrics) {
  prometheus::Registry registry;
  const auto first = options();
  S3BlobStore store(first, &registry);
  const std::string body = "retry me", key = sha(body);
  const uint64_t before = store.client().attempts();
  t::s3_test_fail_next(server, 2, 503, 0, first.prefix);
  store.put(key, body);
  EXPECT_EQ(store.client().attempts() - before, 3u);
  EXPECT_EQ(store.get(key), body);
  double requests_503 = 0, requests_200 = 0, retries = 0, latency_samples = 0;
  for (const auto& family : registry.Collect()) {
    for (const auto& m : family.metric) {
      auto label = [&](const char* name) {
        for (const auto& l : m.label)
          if (l.name == name) return l.value;
        return std::string();
      };
      if (family.name == "postline_s3_requests_total" && label("op") == "put")
        (label("status") == "503" ? requests_503 : requests_200) += m.counter.value;
      if (family.name == "postline_s3_retries_total") retries += m.counter.value;
      if (family.name == "postline_s3_request_duration_seconds") latency_samples += m.histogram.sample_count;
    }
  }
  EXPECT_EQ(requests_503, 2);
  EXPECT_EQ(requests_200, 1);
  EXPECT_EQ(retries, 2);
  EXPECT_EQ(latency_samples, 4);  // three PUT attempts and the GET
  // Past the retries: an error, not a hang.
  auto o = options();
  o.s3.max_retries = 1;
  S3BlobStore impatient(o);
  t::s3_test_fail_next(server, 2, 503, 0, o.prefix);
  EXPECT_THROW(impatient.put(key, body), BlobUnavailable);
}

TEST_F(S3BlobStoreTest, UnreachableEndpointIsUnavailable) {
  auto o = options();
  o.s3.endpoint = "http://127.0.0.1:1";
  o.s3.max_retries = 1;
  S3BlobStore store(o);
  EXPECT_THROW(store.get(sha("x")), BlobUnavailable);
}

TEST_F(S3BlobStoreTest, ParallelGets) {
  auto o = options();
  o.parallel_gets = 4;
  S3BlobStore store(o);
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) {
    const std::string body = "body " + std::to_string(i);
    keys.push_back(sha(body));
    if (i != 3) store.put(keys.back(), body);
  }
  const auto got = store.get_many(keys);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    if (i == 3) EXPECT_EQ(got[i], std::nullopt);
    else EXPECT_EQ(got[i], "body " + std::to_string(i));
  }
}

TEST(S3Endpoint, Parse) {
  auto e = parse_endpoint("https://s3.eu-west-1.amazonaws.com");
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.host, "s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(e.port, "443");
  e = parse_endpoint("http://127.0.0.1:9000/");
  EXPECT_FALSE(e.tls);
  EXPECT_EQ(e.port, "9000");
  EXPECT_THROW(parse_endpoint("ftp://x"), S3Error);
  EXPECT_THROW(parse_endpoint("http://user@host"), S3Error);
  EXPECT_THROW(parse_endpoint("http://host/path"), S3Error);
}
