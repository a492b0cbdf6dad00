#include "services/web/portal/session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace postline::web::portal {

namespace {

constexpr size_t kMaxRevoked = 100000;

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // lower-case only: one spelling per token
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = val(hex[i]), lo = val(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::optional<int64_t> to_int(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("the random number generator failed");
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SessionCodec::SessionCodec(std::string key, SessionTimes times) : key_(std::move(key)), times_(times) {
  if (key_.size() < 32) throw std::invalid_argument("the session key must be at least 32 octets");
}

std::string SessionCodec::mac(std::string_view data) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
}

Session SessionCodec::start(int64_t user_id, std::string email, bool admin, int64_t now_unix) const {
  Session s;
  s.user_id = user_id;
  s.email = std::move(email);
  s.admin = admin;
  s.issued_unix = s.seen_unix = now_unix;
  s.nonce = to_hex(random_bytes(16));
  return s;
}

std::string SessionCodec::encode(const Session& s) const {
  const std::string body = "v1." + std::to_string(s.user_id) + "." + to_hex(s.email) + "." + (s.admin ? "1" : "0") +
                           "." + std::to_string(s.issued_unix) + "." + std::to_string(s.seen_unix) + "." + s.nonce;
  return body + "." + mac(body);
}

std::optional<Session> SessionCodec::decode(std::string_view token, int64_t now) const {
  if (token.empty() || token.size() > kMaxTokenSize) return std::nullopt;
  const auto last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos) return std::nullopt;
  const std::string_view body = token.substr(0, last_dot);
  if (!constant_time_equal(mac(body), token.substr(last_dot + 1))) return std::nullopt;
  std::vector<std::string_view> parts;
  for (std::string_view rest = body;;) {
    const auto dot = rest.find('.');
    parts.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (parts.size() != 7 || parts[0] != "v1") return std::nullopt;
  Session s;
  auto uid = to_int(parts[1]);
  auto email = from_hex(parts[2]);
  auto issued = to_int(parts[4]);
  auto seen = to_int(parts[5]);
  if (!uid || !email || email->empty() || (parts[3] != "0" && parts[3] != "1") || !issued || !seen ||
      parts[6].size() != 32 || !from_hex(parts[6]))
    return std::nullopt;
  s.user_id = *uid;
  s.email = std::move(*email);
  s.admin = parts[3] == "1";
  s.issued_unix = *issued;
  s.seen_unix = *seen;
  s.nonce = std::string(parts[6]);
  // Expired (idle or absolute), or from the future (a clock step): refused.
  if (s.seen_unix < s.issued_unix || s.issued_unix > now + 60 || s.seen_unix > now + 60) return std::nullopt;
  if (now - s.issued_unix >= times_.absolute.count() || now - s.seen_unix >= times_.idle.count()) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (revoked_.count(s.nonce)) return std::nullopt;
  return s;
}

bool SessionCodec::needs_refresh(const Session& s, int64_t now) const {
  return now - s.seen_unix >= times_.refresh.count();
}

std::string SessionCodec::csrf_token(const Session& s) const { return mac("csrf." + s.nonce); }

bool SessionCodec::csrf_ok(const Session& s, std::string_view given) const {
  return constant_time_equal(csrf_token(s), given);
}

void SessionCodec::revoke(const Session& s) const {
  std::lock_guard lock(mutex_);
  if (revoked_.size() >= kMaxRevoked) {
    // Bounded: drop the entries whose tokens have expired anyway; then the oldest.
    const int64_t now = s.seen_unix;
    std::erase_if(revoked_, [now](const auto& kv) { return kv.second <= now; });
    if (revoked_.size() >= kMaxRevoked) revoked_.erase(revoked_.begin());
  }
  revoked_[s.nonce] = s.issued_unix + times_.absolute.count();
}

std::string SessionCodec::set_cookie(const Session& s) const {
  // __Host-: Secure, Path=/, no Domain, so no sibling host can set or read it.
  // No Max-Age: a browser session cookie; the token carries its own expiry.
  return std::string(kSessionCookie) + "=" + encode(s) + "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

std::string SessionCodec::clear_cookie() {
  return std::string(kSessionCookie) + "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0";
}

}  // namespace postline::web::portal
