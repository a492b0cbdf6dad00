// AWS Signature Version 4 (the "Authorization: AWS4-HMAC-SHA256" header),
// written from the AWS specification ("Signature Version 4 signing process",
// and S3's "Authenticating requests: using the Authorization header"). Pure
// functions, no I/O: the canonical request, the string to sign, the signing
// key and the header. sigv4_test.cpp checks them against AWS's published
// examples. HMAC-SHA256 and SHA-256 come from OpenSSL.
//
// S3 conventions: the canonical URI is the path URI-encoded once (each
// segment; '/' kept), the payload hash is sent as x-amz-content-sha256 and
// signed.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postline::mailstore::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials (x-amz-security-token); may be empty
};

struct SignInput {
  std::string method;                                         // "GET"
  std::string canonical_uri;                                  // already encoded: "/bucket/a%24b"
  std::vector<std::pair<std::string, std::string>> query;     // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;   // every header to sign (host included)
  std::string payload_sha256;                                 // lower-case hex
  std::string amz_date;                                       // "20130524T000000Z"
  std::string region;                                         // "us-east-1"
  std::string service = "s3";
};

struct Signed {
  std::string canonical_request, string_to_sign, signed_headers, signature;
  std::string authorization;  // the Authorization header's value
};

// RFC 3986 unreserved characters stay, everything else is %XX (upper case);
// '/' stays unless `encode_slash`.
std::string uri_encode(std::string_view s, bool encode_slash);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string to_hex(std::string_view raw);
// "YYYYMMDDTHHMMSSZ" (UTC).
std::string amz_date(std::chrono::system_clock::time_point t);

// The canonical query string: names and values encoded, sorted by name then value.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);
Signed sign(const SignInput& in, const Credentials& credentials);

}  // namespace postline::mailstore::s3
