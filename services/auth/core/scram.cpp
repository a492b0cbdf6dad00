#include "services/auth/core/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <stdexcept>

namespace postline::auth::scram {
namespace {

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
    throw std::runtime_error("HMAC-SHA-256 failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string h(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a.size(), '\0');
  for (size_t i = 0; i < a.size(); ++i) out[i] = static_cast<char>(a[i] ^ b[i]);
  return out;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("no randomness available");
  return out;
}

// Splits "a=..,b=..,..." into attributes; values may contain '=' but not ','.
std::vector<std::pair<char, std::string>> attributes(std::string_view s) {
  std::vector<std::pair<char, std::string>> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    if (part.size() < 2 || part[1] != '=') return {};
    out.emplace_back(part[0], std::string(part.substr(2)));
    start = end + 1;
  }
  return out;
}

// RFC 5802 saslname: '=2C' is ',', '=3D' is '='; any other '=' is malformed.
std::optional<std::string> decode_saslname(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',') return std::nullopt;
    if (s[i] != '=') {
      out += s[i];
      continue;
    }
    if (s.substr(i, 3) == "=2C") out += ',';
    else if (s.substr(i, 3) == "=3D") out += '=';
    else return std::nullopt;
    i += 2;
  }
  return out;
}

bool printable_nonce(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  return true;
}

}  // namespace

std::string base64_encode(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return std::nullopt;
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  size_t pad = 0;
  if (text.size() >= 1 && text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Credentials derive(std::string_view password, std::string salt, int iterations) {
  if (salt.empty()) salt = random_bytes(16);
  if (iterations < 1) throw std::invalid_argument("SCRAM iteration count must be positive");
  unsigned char salted[32];
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                        iterations, EVP_sha256(), sizeof salted, salted) != 1)
    throw std::runtime_error("PBKDF2 failed");
  const std::string salted_password(reinterpret_cast<const char*>(salted), sizeof salted);
  OPENSSL_cleanse(salted, sizeof salted);
  Credentials c;
  c.salt = std::move(salt);
  c.iterations = iterations;
  c.stored_key = h(hmac(salted_password, "Client Key"));
  c.server_key = hmac(salted_password, "Server Key");
  return c;
}

ServerConversation::Step ServerConversation::client_first(std::string_view msg) {
  Step step;
  if (state_ != State::kStart) {
    step.error = "client-first-message out of order";
    return step;
  }
  // gs2-header: gs2-cbind-flag "," [authzid] ","
  if (msg.size() < 3) {
    step.error = "client-first-message too short";
    return step;
  }
  if (msg[0] == 'p') {
    // We offer no -PLUS variant, so a client asking for channel binding is confused or downgraded.
    step.error = "channel binding requested but not offered";
    return step;
  }
  if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
    step.error = "malformed gs2-header";
    return step;
  }
  size_t comma = msg.find(',', 2);
  if (comma == std::string_view::npos) {
    step.error = "malformed gs2-header";
    return step;
  }
  std::string_view authz = msg.substr(2, comma - 2);
  if (!authz.empty()) {
    if (authz.substr(0, 2) != "a=") {
      step.error = "malformed authzid";
      return step;
    }
    auto decoded = decode_saslname(authz.substr(2));
    if (!decoded) {
      step.error = "malformed authzid";
      return step;
    }
    authzid_ = *decoded;
  }
  gs2_header_ = std::string(msg.substr(0, comma + 1));
  client_first_bare_ = std::string(msg.substr(comma + 1));
  auto attrs = attributes(client_first_bare_);
  if (attrs.size() < 2 || attrs[0].first != 'n' || attrs[1].first != 'r') {
    // 'm' (mandatory extensions) would come first; we support none, so it fails here too.
    step.error = "client-first-message-bare must start with n=,r=";
    return step;
  }
  auto user = decode_saslname(attrs[0].second);
  if (!user || user->empty()) {
    step.error = "malformed username";
    return step;
  }
  if (!printable_nonce(attrs[1].second)) {
    step.error = "malformed client nonce";
    return step;
  }
  username_ = *user;
  client_nonce_ = attrs[1].second;
  state_ = State::kGotClientFirst;
  step.ok = true;
  return step;
}

ServerConversation::Step ServerConversation::server_first(const std::string& salt, int iterations,
                                                           std::vector<Credentials> candidates,
                                                           std::string server_nonce) {
  Step step;
  if (state_ != State::kGotClientFirst) {
    step.error = "server-first-message out of order";
    return step;
  }
  if (server_nonce.empty()) server_nonce = base64_encode(random_bytes(18));
  nonce_ = client_nonce_ + server_nonce;
  candidates_ = std::move(candidates);
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(salt) + ",i=" + std::to_string(iterations);
  state_ = State::kSentServerFirst;
  step.ok = true;
  step.message = server_first_;
  return step;
}

ServerConversation::Step ServerConversation::client_final(std::string_view msg) {
  Step step;
  if (state_ != State::kSentServerFirst) {
    step.error = "client-final-message out of order";
    return step;
  }
  state_ = State::kDone;  // one attempt per conversation, whatever happens
  const size_t proof_pos = msg.rfind(",p=");
  if (proof_pos == std::string_view::npos) {
    step.error = "client-final-message has no proof";
    return step;
  }
  const std::string without_proof(msg.substr(0, proof_pos));
  auto attrs = attributes(without_proof);
  if (attrs.size() < 2 || attrs[0].first != 'c' || attrs[1].first != 'r') {
    step.error = "client-final-message must start with c=,r=";
    return step;
  }
  auto cbind = base64_decode(attrs[0].second);
  if (!cbind || *cbind != gs2_header_) {
    step.error = "channel binding data does not match the gs2-header";
    return step;
  }
  if (attrs[1].second != nonce_) {
    step.error = "nonce mismatch";
    return step;
  }
  auto proof = base64_decode(msg.substr(proof_pos + 3));
  if (!proof || proof->size() != 32) {
    step.error = "malformed proof";
    return step;
  }
  const std::string auth_message = client_first_bare_ + "," + server_first_ + "," + without_proof;
  // Try every candidate without stopping early, so the time does not say which matched.
  int matched = -1;
  std::string server_signature;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    const auto& c = candidates_[i];
    if (c.stored_key.size() != 32 || c.server_key.size() != 32) continue;
    const std::string client_signature = hmac(c.stored_key, auth_message);
    const std::string client_key = xor_bytes(*proof, client_signature);
    const std::string check = h(client_key);
    if (CRYPTO_memcmp(check.data(), c.stored_key.data(), 32) == 0 && matched < 0) {
      matched = static_cast<int>(i);
      server_signature = hmac(c.server_key, auth_message);
    }
  }
  if (matched < 0) {
    step.error = "invalid proof";
    return step;
  }
  matched_ = matched;
  step.ok = true;
  step.message = "v=" + base64_encode(server_signature);
  return step;
}

}  // namespace postline::auth::scram
