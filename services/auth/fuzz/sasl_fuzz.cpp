// libFuzzer entry point for authd's SASL parsers (core/sasl.h, core/scram.h): the
// bytes smtpd and imapd relay from a client after base64-decoding them. The first
// byte picks what runs (modulo 5):
//   0 parse_plain: ok exactly when RFC 4616 and the header say so, and the fields
//     put back together are the message;
//   1 canonical_mechanism: empty or one of the three names;
//   2 SCRAM base64: what decodes re-encodes to as many characters, and any bytes
//     encode and decode back unchanged;
//   3 SCRAM-SHA-256 raw: "client-first NUL client-final" against a known account;
//     success only with the proof a client knowing the password computes
//     (computed here independently with OpenSSL);
//   4 SCRAM-SHA-256 honest client: a well-formed exchange for a fuzzed user name
//     and nonce succeeds with the right password and fails with a wrong one.
// No exception may come out (the API reports errors in Step::error).
#include "services/auth/core/sasl.h"
#include "services/auth/core/scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace sasl = postline::auth::sasl;
namespace scram = postline::auth::scram;

void require(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kSalt = "postline-fuzz-salt";
constexpr int kIterations = 4096;
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

// Derived once: PBKDF2 with 4096 rounds per input would make the fuzzer crawl.
const scram::Credentials& credentials() {
  static const scram::Credentials c = scram::derive(kPassword, std::string(kSalt), kIterations);
  return c;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string sha256(std::string_view data) {
  unsigned char out[32];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::string salted_password(std::string_view password) {
  unsigned char out[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(kSalt.data()), static_cast<int>(kSalt.size()), kIterations,
                    EVP_sha256(), 32, out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

// RFC 5802 3: ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage).
std::string client_proof(const std::string& salted, std::string_view auth_message) {
  std::string client_key = hmac(salted, "Client Key");
  std::string signature = hmac(sha256(client_key), auth_message);
  for (size_t i = 0; i < 32; ++i) client_key[i] ^= signature[i];
  return client_key;
}

const std::string& right_salted() {
  static const std::string s = salted_password(kPassword);
  return s;
}

void plain(std::string_view m) {
  sasl::PlainCredentials c = sasl::parse_plain(m);
  size_t a = m.find('\0');
  size_t b = a == m.npos ? m.npos : m.find('\0', a + 1);
  bool expect = b != m.npos && b > a + 1 && m.find('\0', b + 1) == m.npos &&
                (a == 0 || m.substr(0, a) == m.substr(a + 1, b - a - 1));
  require(c.ok() == expect);
  if (c.ok()) require(c.authzid + '\0' + c.authcid + '\0' + c.password == m);
}

void mechanism(std::string_view m) {
  std::string c = sasl::canonical_mechanism(m);
  require(c.empty() || c == sasl::kPlain || c == sasl::kLogin || c == sasl::kScramSha256);
}

void base64(std::string_view text) {
  if (auto raw = scram::base64_decode(text)) {
    require(scram::base64_encode(*raw).size() == text.size());
    require(raw->size() <= text.size() / 4 * 3);
  }
  auto back = scram::base64_decode(scram::base64_encode(text));
  require(back && *back == text);
}

void raw_exchange(std::string_view text) {
  size_t nul = text.find('\0');
  std::string_view first = text.substr(0, nul);
  std::string_view final_msg = nul == text.npos ? std::string_view() : text.substr(nul + 1);
  scram::ServerConversation conv;
  auto f = conv.client_first(first);
  if (!f.ok) return;
  require(!conv.username().empty());
  auto s = conv.server_first(std::string(kSalt), kIterations, {credentials()}, std::string(kServerNonce));
  require(s.ok);
  auto fin = conv.client_final(final_msg);
  // One attempt per conversation.
  require(!conv.client_final(final_msg).ok);
  if (!fin.ok) return;
  // It verified: the proof must be the one the password gives.
  size_t p = final_msg.rfind(",p=");
  require(p != final_msg.npos);
  std::string_view bare = first.substr(first.find(',', 2) + 1);
  std::string auth_message = std::string(bare) + "," + s.message + "," + std::string(final_msg.substr(0, p));
  auto proof = scram::base64_decode(final_msg.substr(p + 3));
  require(proof && *proof == client_proof(right_salted(), auth_message));
  require(conv.matched() == 0);
}

std::string saslname(std::string_view s) {
  std::string out;
  for (char c : s) out += c == ',' ? std::string("=2C") : c == '=' ? std::string("=3D") : std::string(1, c);
  return out;
}

void honest_client(std::string_view text) {
  if (text.empty()) return;
  const bool right = text[0] & 1;
  text.remove_prefix(1);
  size_t nul = text.find('\0');
  std::string user(text.substr(0, nul));
  std::string nonce = nul == text.npos ? "n0nce" : std::string(text.substr(nul + 1));
  for (char& c : nonce)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e || c == ',') c = 'x';
  if (user.empty() || nonce.empty()) return;
  scram::ServerConversation conv;
  const std::string bare = "n=" + saslname(user) + ",r=" + nonce;
  auto f = conv.client_first("n,," + bare);
  require(f.ok && conv.username() == user);
  auto s = conv.server_first(std::string(kSalt), kIterations, {credentials()}, std::string(kServerNonce));
  require(s.ok && s.message == "r=" + nonce + std::string(kServerNonce) + ",s=" +
                                   scram::base64_encode(kSalt) + ",i=4096");
  const std::string without_proof = "c=biws,r=" + nonce + std::string(kServerNonce);
  static const std::string wrong_salted = salted_password("pencil2");
  std::string proof = client_proof(right ? right_salted() : wrong_salted, bare + "," + s.message + "," + without_proof);
  auto fin = conv.client_final(without_proof + ",p=" + scram::base64_encode(proof));
  require(fin.ok == right);
  if (right) {
    std::string server_key = hmac(right_salted(), "Server Key");
    require(fin.message == "v=" + scram::base64_encode(hmac(server_key, bare + "," + s.message + "," + without_proof)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 16384) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: plain(text); break;
    case 1: mechanism(text); break;
    case 2: base64(text); break;
    case 3: raw_exchange(text); break;
    case 4: honest_client(text); break;
  }
  return 0;
}
