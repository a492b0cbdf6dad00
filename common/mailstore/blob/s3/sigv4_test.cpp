// SigV4 against AWS's published examples: the four of the S3 developer
// guide ("Signature Calculations for the Authorization Header: Transferring
// Payload in a Single Chunk", examplebucket, 2013-05-24) and the general
// signature test suite's get-vanilla case.
#include "common/mailstore/blob/s3/sigv4.h"

#include <gtest/gtest.h>

using namespace postline::mailstore::s3;

namespace {

const Credentials kS3Guide{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const std::string kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

SignInput guide_request(std::string method, std::string uri) {
  SignInput in;
  in.method = std::move(method);
  in.canonical_uri = std::move(uri);
  in.amz_date = "20130524T000000Z";
  in.region = "us-east-1";
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"x-amz-date", "20130524T000000Z"}};
  in.payload_sha256 = kEmpty;
  in.headers.emplace_back("x-amz-content-sha256", kEmpty);
  return in;
}

}  // namespace

TEST(SigV4, GetObjectWithRange) {
  SignInput in = guide_request("GET", "/test.txt");
  in.headers.emplace_back("Range", "bytes=0-9");
  const Signed s = sign(in, kS3Guide);
  EXPECT_EQ(s.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, PutObject) {
  const std::string body = "Welcome to Amazon S3.";
  SignInput in;
  in.method = "PUT";
  in.canonical_uri = uri_encode("/test$file.text", false);
  EXPECT_EQ(in.canonical_uri, "/test%24file.text");
  in.amz_date = "20130524T000000Z";
  in.region = "us-east-1";
  in.payload_sha256 = sha256_hex(body);
  EXPECT_EQ(in.payload_sha256, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                {"x-amz-date", "20130524T000000Z"},
                {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                {"x-amz-content-sha256", in.payload_sha256}};
  const Signed s = sign(in, kS3Guide);
  EXPECT_EQ(s.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, GetBucketLifecycle) {
  SignInput in = guide_request("GET", "/");
  in.query = {{"lifecycle", ""}};
  const Signed s = sign(in, kS3Guide);
  EXPECT_NE(s.canonical_request.find("\n/\nlifecycle=\n"), std::string::npos) << s.canonical_request;
  EXPECT_EQ(s.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, ListObjects) {
  SignInput in = guide_request("GET", "/");
  in.query = {{"prefix", "J"}, {"max-keys", "2"}};  // sorted by the signer
  const Signed s = sign(in, kS3Guide);
  EXPECT_NE(s.canonical_request.find("\n/\nmax-keys=2&prefix=J\n"), std::string::npos) << s.canonical_request;
  EXPECT_EQ(s.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// The general test suite (aws-sig-v4-test-suite/get-vanilla): service
// "service", no payload header.
TEST(SigV4, TestSuiteGetVanilla) {
  SignInput in;
  in.method = "GET";
  in.canonical_uri = "/";
  in.amz_date = "20150830T123600Z";
  in.region = "us-east-1";
  in.service = "service";
  in.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  in.payload_sha256 = sha256_hex("");
  const Signed s = sign(in, Credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""});
  EXPECT_EQ(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, HeaderValuesTrimmedAndNamesLowered) {
  SignInput in = guide_request("GET", "/k");
  in.headers.emplace_back("X-Amz-Meta-A", "  two   spaces  ");
  const Signed s = sign(in, kS3Guide);
  EXPECT_NE(s.canonical_request.find("\nx-amz-meta-a:two spaces\n"), std::string::npos) << s.canonical_request;
}

TEST(SigV4, UriEncoding) {
  EXPECT_EQ(uri_encode("a b/c~d", false), "a%20b/c~d");
  EXPECT_EQ(uri_encode("a b/c", true), "a%20b%2Fc");
  EXPECT_EQ(uri_encode("\xc3\xa9", true), "%C3%A9");
  EXPECT_EQ(canonical_query({{"uploadId", "a/b+c"}, {"partNumber", "2"}}), "partNumber=2&uploadId=a%2Fb%2Bc");
}

TEST(SigV4, AmzDate) {
  EXPECT_EQ(amz_date(std::chrono::system_clock::from_time_t(1369353600)), "20130524T000000Z");
}
