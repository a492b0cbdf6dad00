// Test support for tests that need the S3 test server (ctest fixture `s3`,
// scripts/s3): where it is and its credentials, read from the env file the
// fixture writes (POSTLINE_TEST_S3_ENV_FILE), and its unsigned test controls
// (tests/s3/s3_test_server.js: /__stats, /__fail).
#pragma once

#include <map>
#include <string>

namespace postline::testing {

struct S3TestServer {
  std::string endpoint, bucket, region, access_key_id, secret_access_key;
  // The POSTLINE_MAILSTORE_* variables that point a service at it.
  std::map<std::string, std::string> env;
};

// Throws std::runtime_error with a hint when the fixture is not running.
S3TestServer s3_test_server();
// GET /__stats: the JSON text ({"requests","rejected","aborts","failed","by_op"}). With a key
// prefix, only the requests for keys under it (counted from the first time it is asked for):
// test binaries share the server, so a test that compares counts passes its own prefix.
std::string s3_test_stats(const S3TestServer& s, const std::string& prefix = {});
// One number of the stats ("rejected", "aborts", ...; by_op entries as "by_op.part").
long s3_test_stat(const S3TestServer& s, const std::string& name, const std::string& prefix = {});
// After `after` more signed requests, the next `count` are answered `status` (503: SlowDown).
// With a prefix, only requests for keys under it count and fail.
void s3_test_fail_next(const S3TestServer& s, int count, int status = 503, int after = 0,
                       const std::string& prefix = {});
// A key prefix of its own for one test ("t-<random>/").
std::string s3_test_prefix();

}  // namespace postline::testing
