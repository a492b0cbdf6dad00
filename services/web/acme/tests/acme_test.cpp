// GoogleTest of webd's ACME pieces without sockets: base64url, the JWS (its
// ES256 signature verified by OpenSSL from the raw r||s), the JWK thumbprint
// against a value computed independently (Python's cryptography), the message
// readers and payloads, Retry-After, CSRs, renewal decisions, the check of an
// issued chain, the challenge store, atomic file writes and the acme.* keys.
#include "common/config/acme_settings.h"
#include "services/web/acme/certificate.h"
#include "services/web/acme/challenges.h"
#include "services/web/acme/errors.h"
#include "services/web/acme/files.h"
#include "services/web/acme/https_client.h"
#include "services/web/acme/jws.h"
#include "services/web/acme/protocol.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace postline::web::acme;
using nlohmann::json;

namespace {

// A fixed P-256 key; its JWK and thumbprint were computed with Python's
// cryptography (x, y as 32-octet big-endian, base64url, RFC 7638 member order).
const char* kFixedKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpEwWEXl+CXZkysXs\n"
    "Aq6Gzu9YF5PYrVAjYToI4lDuc6ehRANCAAR+uSWc384tlNTnOYwV3CIYBhZ+6OgB\n"
    "tpdsBBzQxvaAJz7Rz+zuCMlZfxJf6gYoXtBk6h1K4bSpwMwr0rU2zcXE\n"
    "-----END PRIVATE KEY-----\n";
const char* kFixedJwk =
    R"({"crv":"P-256","kty":"EC","x":"frklnN_OLZTU5zmMFdwiGAYWfujoAbaXbAQc0Mb2gCc","y":"PtHP7O4IyVl_El_qBihe0GTqHUrhtKnAzCvStTbNxcQ"})";
const char* kFixedThumbprint = "iZIOiwy_YfWBZ5TyLz6Q228aL624j3ztudM72ScJN2s";

std::string unbase64url(const std::string& s) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned bits = 0, value = 0;
  for (char c : s) {
    const auto pos = alphabet.find(c);
    EXPECT_NE(pos, std::string::npos) << "not base64url: " << s;
    value = value << 6 | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(value >> bits & 0xff);
    }
  }
  return out;
}

// Verifies a JWS ES256 signature (raw r||s) the way a CA does.
bool verify_es256(EVP_PKEY* key, const std::string& signing_input, const std::string& raw) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(md, der, static_cast<size_t>(len),
                                   reinterpret_cast<const unsigned char*>(signing_input.data()),
                                   signing_input.size()) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  return ok;
}

std::string temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "acme-test-XXXXXX").string();
  return mkdtemp(templ.data());
}

}  // namespace

TEST(Base64Url, RfcVectorsWithoutPadding) {
  EXPECT_EQ(base64url(""), "");
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("fo"), "Zm8");
  EXPECT_EQ(base64url("foo"), "Zm9v");
  EXPECT_EQ(base64url("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url(std::string("\xfb\xff", 2)), "-_8");  // '+' and '/' become '-' and '_'
}

TEST(AccountKey, JwkAndThumbprintMatchAnIndependentComputation) {
  const AccountKey key = AccountKey::from_pem(kFixedKey);
  EXPECT_EQ(key.jwk(), kFixedJwk);
  EXPECT_EQ(key.thumbprint(), kFixedThumbprint);
  // PEM round trip keeps the key.
  EXPECT_EQ(AccountKey::from_pem(key.to_pem()).thumbprint(), kFixedThumbprint);
}

TEST(AccountKey, RefusesWhatIsNotP256) {
  EXPECT_THROW(AccountKey::from_pem("not a key"), AcmeError);
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, p384, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(p384);
  try {
    AccountKey::from_pem(pem);
    FAIL() << "P-384 accepted";
  } catch (const AcmeError& e) {
    EXPECT_NE(std::string(e.what()).find("P-256"), std::string::npos) << e.what();
  }
}

TEST(Jws, NewAccountRequestCarriesTheJwkAndVerifies) {
  const AccountKey key = AccountKey::generate();
  const std::string payload = new_account_payload("ops@example.org");
  const json jws = json::parse(sign_request(key, "https://ca.test/new-acct", "nonce-1", payload, ""));
  const json header = json::parse(unbase64url(jws["protected"].get<std::string>()));
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["nonce"], "nonce-1");
  EXPECT_EQ(header["url"], "https://ca.test/new-acct");
  EXPECT_EQ(header["jwk"].dump(), key.jwk());
  EXPECT_FALSE(header.contains("kid"));
  EXPECT_EQ(unbase64url(jws["payload"].get<std::string>()), payload);
  const std::string raw = unbase64url(jws["signature"].get<std::string>());
  EXPECT_EQ(raw.size(), 64u) << "ES256 is r||s, not DER";
  EXPECT_TRUE(verify_es256(key.get(), jws["protected"].get<std::string>() + "." + jws["payload"].get<std::string>(), raw));
  // A changed payload does not verify: the signature covers it.
  EXPECT_FALSE(verify_es256(key.get(), jws["protected"].get<std::string>() + ".e30", raw));
}

TEST(Jws, AccountRequestsUseKidAndPostAsGetHasAnEmptyPayload) {
  const AccountKey key = AccountKey::generate();
  const json jws = json::parse(sign_request(key, "https://ca.test/authz/1", "n2", "", "https://ca.test/acct/7"));
  const json header = json::parse(unbase64url(jws["protected"].get<std::string>()));
  EXPECT_EQ(header["kid"], "https://ca.test/acct/7");
  EXPECT_FALSE(header.contains("jwk"));
  EXPECT_EQ(jws["payload"], "");
  EXPECT_TRUE(verify_es256(key.get(), jws["protected"].get<std::string>() + ".",
                           unbase64url(jws["signature"].get<std::string>())));
}

TEST(Protocol, Directory) {
  const Directory d = parse_directory(
      R"({"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/acct","newOrder":"https://ca.test/order","meta":{}})");
  EXPECT_EQ(d.new_nonce, "https://ca.test/nonce");
  EXPECT_EQ(d.new_account, "https://ca.test/acct");
  EXPECT_EQ(d.new_order, "https://ca.test/order");
  auto refused = [](const std::string& body, const std::string& why) {
    try {
      parse_directory(body);
      ADD_FAILURE() << body;
    } catch (const AcmeError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused("<html>", "not JSON");
  refused("[]", "not a JSON object");
  refused(R"({"newNonce":"https://a","newAccount":"https://b"})", "\"newOrder\" is missing");
  refused(R"({"newNonce":5,"newAccount":"https://b","newOrder":"https://c"})", "\"newNonce\" is not a string");
  refused(R"({"newNonce":"ftp://a","newAccount":"https://b","newOrder":"https://c"})", "not an http(s) URL");
}

TEST(Protocol, DeepNestingWithinTheAnswerLimitIsRefusedNotACrash) {
  // 1 MiB is what the HTTPS client lets through: half a million levels of nesting.
  const std::string deep = std::string(500000, '[') + std::string(500000, ']');
  EXPECT_THROW(parse_order(deep), AcmeError);
  const std::string deep_object = "{\"status\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  EXPECT_THROW(parse_order(deep_object), AcmeError);
  EXPECT_FALSE(parse_problem(deep).has_value());
}

TEST(Protocol, OrderStates) {
  const Order o = parse_order(R"({"status":"pending","identifiers":[{"type":"dns","value":"a.test"}],
      "authorizations":["https://ca.test/authz/1","https://ca.test/authz/2"],"finalize":"https://ca.test/fin/1"})");
  EXPECT_EQ(o.status, "pending");
  EXPECT_EQ(o.identifiers, std::vector<std::string>{"a.test"});
  EXPECT_EQ(o.authorizations.size(), 2u);
  EXPECT_EQ(o.finalize, "https://ca.test/fin/1");
  EXPECT_TRUE(o.certificate.empty());
  const Order valid = parse_order(
      R"({"status":"valid","authorizations":[],"finalize":"https://f","certificate":"https://ca.test/cert/9"})");
  EXPECT_EQ(valid.certificate, "https://ca.test/cert/9");
  EXPECT_THROW(parse_order(R"({"status":"valid","authorizations":[],"finalize":"https://f"})"), AcmeError);
  EXPECT_THROW(parse_order(R"({"status":"bogus","authorizations":[],"finalize":"https://f"})"), AcmeError);
  EXPECT_THROW(parse_order(R"({"status":"pending","authorizations":[1],"finalize":"https://f"})"), AcmeError);
  const Order invalid = parse_order(R"({"status":"invalid","authorizations":[],"finalize":"https://f",
      "error":{"type":"urn:ietf:params:acme:error:connection","detail":"NXDOMAIN"}})");
  EXPECT_EQ(invalid.error, "urn:ietf:params:acme:error:connection: NXDOMAIN");
}

TEST(Protocol, AuthorizationFindsHttp01AndChecksItsToken) {
  const Authorization a = parse_authorization(R"({"status":"pending","identifier":{"type":"dns","value":"a.test"},
      "challenges":[{"type":"dns-01","url":"https://c/1","token":"t1","status":"pending"},
                    {"type":"http-01","url":"https://c/2","token":"Ysz2uQhM8c0wtH3Ts9YtVQ","status":"pending"}]})");
  EXPECT_EQ(a.identifier, "a.test");
  ASSERT_NE(a.http01(), nullptr);
  EXPECT_EQ(a.http01()->url, "https://c/2");
  EXPECT_EQ(a.http01()->token, "Ysz2uQhM8c0wtH3Ts9YtVQ");
  // A token that would leave the URL path we serve it under is refused.
  EXPECT_THROW(parse_authorization(R"({"status":"pending","identifier":{"type":"dns","value":"a.test"},
      "challenges":[{"type":"http-01","url":"https://c/2","token":"../../etc","status":"pending"}]})"),
               AcmeError);
  EXPECT_THROW(parse_authorization(R"({"status":"pending","identifier":{"type":"ip","value":"1.2.3.4"},"challenges":[]})"),
               AcmeError);
  const Authorization failed = parse_authorization(R"({"status":"invalid","identifier":{"type":"dns","value":"x.test"},
      "challenges":[{"type":"http-01","url":"https://c/2","token":"abc","status":"invalid",
                     "error":{"type":"urn:ietf:params:acme:error:dns","detail":"NXDOMAIN"}}]})");
  EXPECT_EQ(failed.http01()->error, "urn:ietf:params:acme:error:dns: NXDOMAIN");
}

TEST(Protocol, ProblemsAndBadNonce) {
  const std::string bad_nonce = R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"})";
  EXPECT_TRUE(is_bad_nonce(400, bad_nonce));
  EXPECT_FALSE(is_bad_nonce(403, bad_nonce));
  EXPECT_FALSE(is_bad_nonce(400, R"({"type":"urn:ietf:params:acme:error:malformed"})"));
  EXPECT_FALSE(is_bad_nonce(400, "not json"));
  EXPECT_FALSE(parse_problem("[]").has_value());
  const std::string line = describe_failure(
      403, R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no\nway",
              "subproblems":[{"identifier":{"type":"dns","value":"x.test"},"detail":"forbidden"}]})");
  EXPECT_EQ(line, "403 urn:ietf:params:acme:error:rejectedIdentifier: no way; x.test: forbidden");
  EXPECT_EQ(describe_failure(502, "<html>gateway</html>"), "502");
}

TEST(Protocol, Payloads) {
  const json account = json::parse(new_account_payload("ops@example.org"));
  EXPECT_EQ(account["termsOfServiceAgreed"], true);
  EXPECT_EQ(account["contact"], json::array({"mailto:ops@example.org"}));
  EXPECT_FALSE(json::parse(new_account_payload("")).contains("contact"));
  const json order = json::parse(new_order_payload({"a.test", "b.test"}));
  EXPECT_EQ(order["identifiers"][1]["type"], "dns");
  EXPECT_EQ(order["identifiers"][1]["value"], "b.test");
  EXPECT_EQ(json::parse(finalize_payload(std::string("\x30\x82\xff", 3)))["csr"], "MIL_");
  EXPECT_EQ(key_authorization("tok-1_A", "thumb"), "tok-1_A.thumb");
  EXPECT_THROW(key_authorization("a/b", "thumb"), AcmeError);
}

TEST(Protocol, RetryAfter) {
  using std::chrono::seconds;
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(retry_after("", seconds(2), seconds(30), now), seconds(2));
  EXPECT_EQ(retry_after("5", seconds(2), seconds(30), now), seconds(5));
  EXPECT_EQ(retry_after("0", seconds(2), seconds(30), now), seconds(1));  // never a busy loop
  EXPECT_EQ(retry_after("86400", seconds(2), seconds(30), now), seconds(30));
  EXPECT_EQ(retry_after("99999999999999999999", seconds(2), seconds(30), now), seconds(30));
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:47 GMT", seconds(2), seconds(30), now), seconds(10));
  EXPECT_EQ(retry_after("soon", seconds(2), seconds(30), now), seconds(2));
  // Dates far away (found by web_acme_response_fuzz: the clock's nanoseconds overflowed).
  EXPECT_EQ(retry_after("Sun, 06 Nov 1494 08:49:37 GMT", seconds(2), seconds(30), now), seconds(1));
  EXPECT_EQ(retry_after("Sun, 06 Nov 9994 08:49:37 GMT", seconds(2), seconds(30), now), seconds(30));
}

TEST(Certificate, CsrNamesEveryNameAndIsSigned) {
  const KeyAndCsr kc = make_key_and_csr({"mail.example.org", "imap.example.org"});
  const unsigned char* p = reinterpret_cast<const unsigned char*>(kc.csr_der.data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(kc.csr_der.size()));
  ASSERT_NE(req, nullptr);
  EVP_PKEY* pub = X509_REQ_get_pubkey(req);
  EXPECT_EQ(X509_REQ_verify(req, pub), 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  ASSERT_NE(exts, nullptr);
  auto* sans = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(sans, nullptr);
  std::vector<std::string> names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const ASN1_IA5STRING* s = sk_GENERAL_NAME_value(sans, i)->d.dNSName;
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"mail.example.org", "imap.example.org"}));
  GENERAL_NAMES_free(sans);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  // The key that goes with it is a fresh one (never the account key).
  BIO* bio = BIO_new_mem_buf(kc.key_pem.data(), static_cast<int>(kc.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_eq(key, pub), 1);
  EVP_PKEY_free(key);
  EVP_PKEY_free(pub);
  X509_REQ_free(req);
}

TEST(Certificate, PlaceholderIsSelfSignedForTheNamesAndAlwaysDue) {
  const Placeholder p = make_placeholder({"mail.example.org", "imap.example.org"});
  const auto info = inspect_certificate(p.cert_pem);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->self_signed);
  EXPECT_EQ(info->names, (std::vector<std::string>{"mail.example.org", "imap.example.org"}));
  const auto now = std::chrono::system_clock::now();
  EXPECT_NEAR(info->not_after, static_cast<double>(std::chrono::system_clock::to_time_t(now)) + 86400, 120);
  EXPECT_TRUE(renewal_due(info, {"mail.example.org"}, std::chrono::seconds(0), now).renew);
  EXPECT_NO_THROW(check_issued(p.cert_pem, p.key_pem, {"mail.example.org", "imap.example.org"}));
}

TEST(Certificate, RenewalDecision) {
  const auto now = std::chrono::system_clock::now();
  const double t = static_cast<double>(std::chrono::system_clock::to_time_t(now));
  const std::vector<std::string> names = {"a.test", "b.test"};
  const std::chrono::seconds thirty_days(30 * 86400);
  EXPECT_TRUE(renewal_due(std::nullopt, names, thirty_days, now).renew);
  CertificateInfo fine{{"a.test", "b.test"}, t + 60 * 86400, false};
  EXPECT_FALSE(renewal_due(fine, names, thirty_days, now).renew);
  CertificateInfo soon{{"a.test", "b.test"}, t + 10 * 86400, false};
  const auto d = renewal_due(soon, names, thirty_days, now);
  EXPECT_TRUE(d.renew);
  EXPECT_NE(d.why.find("expires in 10 day(s)"), std::string::npos) << d.why;
  CertificateInfo lacking{{"a.test"}, t + 60 * 86400, false};
  EXPECT_NE(renewal_due(lacking, names, thirty_days, now).why.find("does not name b.test"), std::string::npos);
  CertificateInfo expired{{"a.test", "b.test"}, t - 1, false};
  EXPECT_EQ(renewal_due(expired, names, thirty_days, now).why, "the certificate has expired");
}

TEST(Certificate, IssuedChainMustBeForOurKeyAndNames) {
  const Placeholder p = make_placeholder({"a.test"});
  const Placeholder other = make_placeholder({"a.test"});
  EXPECT_THROW(check_issued(p.cert_pem, other.key_pem, {"a.test"}), AcmeError);
  EXPECT_THROW(check_issued(p.cert_pem, p.key_pem, {"a.test", "b.test"}), AcmeError);
  EXPECT_THROW(check_issued("no certificate here", p.key_pem, {"a.test"}), AcmeError);
  EXPECT_FALSE(inspect_certificate("garbage").has_value());
}

TEST(HttpsUrl, HostPortAndTarget) {
  const Url u = parse_https_url("https://127.0.0.1:14000/dir");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "14000");
  EXPECT_EQ(u.target, "/dir");
  const Url d = parse_https_url("https://acme-v02.api.letsencrypt.org");
  EXPECT_EQ(d.port, "443");
  EXPECT_EQ(d.target, "/");
  EXPECT_THROW(parse_https_url("http://ca.test/dir"), AcmeError);  // never plaintext to the CA
  EXPECT_THROW(parse_https_url("https://ca.test:x/dir"), AcmeError);
  EXPECT_THROW(parse_https_url("https://user@ca.test/dir"), AcmeError);
  EXPECT_THROW(parse_https_url("https:///dir"), AcmeError);
}

TEST(Challenges, AnswersOnlyPendingTokensUnderTheWellKnownPath) {
  ChallengeStore store;
  store.add("tok", "tok.thumb");
  EXPECT_EQ(store.answer("/.well-known/acme-challenge/tok"), "tok.thumb");
  EXPECT_FALSE(store.answer("/.well-known/acme-challenge/other"));
  EXPECT_FALSE(store.answer("/.well-known/acme-challenge/tok?x=1"));
  EXPECT_FALSE(store.answer("/tok"));
  EXPECT_FALSE(store.answer("/.well-known/acme-challenge/"));
  store.remove("tok");
  EXPECT_FALSE(store.answer("/.well-known/acme-challenge/tok"));
}

TEST(Files, AtomicWriteSetsTheModeAndLeavesNoTemporaryFile) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/key.pem";
  const mode_t old = umask(0);  // the mode must not depend on the umask
  write_atomically(path, "first", 0600);
  umask(old);
  write_atomically(path, "second", 0600);
  EXPECT_EQ(read_whole_file(path), "second");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1u);
  EXPECT_FALSE(read_whole_file(dir + "/missing").has_value());
  EXPECT_THROW(write_atomically(dir + "/no/such/dir/file", "x", 0600), AcmeError);
  std::filesystem::remove_all(dir);
}

TEST(Files, AFileThatCannotBeWrittenReplacesNoneOfTheOthers) {
  const std::string dir = temp_dir();
  write_atomically(dir + "/key.pem", "old key", 0600);
  EXPECT_THROW(write_all_atomically({{dir + "/key.pem", "new key", 0600}, {dir + "/missing/cert.pem", "new", 0644}}),
               AcmeError);
  EXPECT_EQ(read_whole_file(dir + "/key.pem"), "old key");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1u) << "the staged temporary file is removed";
  write_all_atomically({{dir + "/key.pem", "new key", 0600}, {dir + "/cert.pem", "new cert", 0644}});
  EXPECT_EQ(read_whole_file(dir + "/key.pem"), "new key");
  EXPECT_EQ(read_whole_file(dir + "/cert.pem"), "new cert");
  std::filesystem::remove_all(dir);
}

TEST(Files, AccountKeyIsCreatedOnceWith0600) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/account.key";
  bool created = false;
  const AccountKey first = load_or_create_account_key(path, &created);
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const AccountKey again = load_or_create_account_key(path, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(again.thumbprint(), first.thumbprint());
  std::ofstream(path) << "garbage";
  try {
    load_or_create_account_key(path);
    FAIL() << "a garbage key was accepted";
  } catch (const AcmeError& e) {
    EXPECT_NE(std::string(e.what()).find("acme.account_key_file"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

namespace {
postline::config::Config acme_config(std::map<std::string, std::string> env) {
  env.emplace("POSTLINE_ACME_ENABLED", "true");
  env.emplace("POSTLINE_ACME_DIRECTORY_URL", "https://ca.test/dir");
  env.emplace("POSTLINE_ACME_ACCOUNT_KEY_FILE", "/var/lib/postline/acme.key");
  env.emplace("POSTLINE_TLS_CERT_FILE", "/etc/postline/cert.pem");
  env.emplace("POSTLINE_TLS_KEY_FILE", "/etc/postline/key.pem");
  env.emplace("POSTLINE_WEB_HTTP_REDIRECT_PORT", "8080");
  env.emplace("POSTLINE_SMTP_HOSTNAME", "Mail.Example.org");
  for (auto it = env.begin(); it != env.end();)
    it = it->second == "<unset>" ? env.erase(it) : std::next(it);
  return postline::config::Config::load_from_string("", env);
}

std::string settings_error(std::map<std::string, std::string> env) {
  try {
    postline::config::acme_settings(acme_config(std::move(env)));
  } catch (const postline::config::ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(AcmeSettings, DefaultNamesAreTheServerNamesDeduplicated) {
  const auto s = postline::config::acme_settings(
      acme_config({{"POSTLINE_WEB_IMAP_HOSTNAME", "imap.example.org"}, {"POSTLINE_WEB_SMTP_HOSTNAME", "mail.example.org"}}));
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.names, (std::vector<std::string>{"mail.example.org", "imap.example.org"}));
  EXPECT_EQ(s.renew_before, std::chrono::seconds(30 * 86400));
  EXPECT_EQ(s.challenge_port, 8080);
  EXPECT_FALSE(postline::config::acme_settings(postline::config::Config::load_from_string("", {})).enabled);
}

TEST(AcmeSettings, ErrorsNameTheKey) {
  EXPECT_NE(settings_error({{"POSTLINE_ACME_DIRECTORY_URL", "http://ca.test/dir"}}).find("acme.directory_url"),
            std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_ACME_NAMES", "*.example.org"}}).find("wildcard"), std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_ACME_NAMES", "a.test,bad_name.test"}}).find("acme.names"), std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_SMTP_HOSTNAME", "localhost"}}).find("smtp.hostname"), std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_ACME_ACCOUNT_KEY_FILE", ""}}).find("acme.account_key_file"), std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_WEB_HTTP_REDIRECT_PORT", "0"}}).find("web.http_redirect_port"),
            std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_TLS_CERT_FILE", ""}}).find("tls.cert_file"), std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_ACME_CA_FILE", "/nonexistent/ca.pem"}}).find("acme.ca_file"),
            std::string::npos);
  EXPECT_NE(settings_error({{"POSTLINE_ACME_CONTACT_EMAIL", "not-an-address"}}).find("acme.contact_email"),
            std::string::npos);
  EXPECT_EQ(settings_error({}), "");
}
