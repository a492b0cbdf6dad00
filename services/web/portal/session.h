// Portal sessions as HMAC-signed tokens in a cookie (docs/web.md "Sessions").
// Stateless, so any webd replica that holds the same key (web.session_secret_file)
// accepts a session another replica issued. A token names the account, when
// it was issued (absolute expiry) and when it was last refreshed (idle
// expiry), and a random nonce that makes each sign-in's token, and the CSRF
// token derived from it, unique.
//
// Format (all ASCII, no characters a cookie value may not hold):
//   v1.<user id>.<hex(email)>.<admin 0|1>.<issued unix>.<seen unix>.<nonce hex>.<HMAC-SHA256 hex>
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace postline::web::portal {

inline constexpr std::string_view kSessionCookie = "__Host-postline-session";
inline constexpr size_t kMaxTokenSize = 1024;

struct Session {
  int64_t user_id = 0;
  std::string email;  // authd's canonical address
  bool admin = false;
  int64_t issued_unix = 0;
  int64_t seen_unix = 0;
  std::string nonce;  // hex
};

struct SessionTimes {
  std::chrono::seconds idle{30 * 60};
  std::chrono::seconds absolute{12 * 60 * 60};
  // A valid token older than this since its last refresh is re-issued, so the
  // idle clock restarts without a Set-Cookie on every request.
  std::chrono::seconds refresh{60};
};

class SessionCodec {
 public:
  // `key`: at least 32 octets (the secret file's content or random bytes).
  SessionCodec(std::string key, SessionTimes times);

  // A new session (fresh random nonce): issued = seen = now.
  Session start(int64_t user_id, std::string email, bool admin, int64_t now_unix) const;
  std::string encode(const Session& s) const;
  // The session in `token` when its MAC is right, it has not expired (idle or
  // absolute) and was not ended by logout on this process; else nullopt.
  std::optional<Session> decode(std::string_view token, int64_t now_unix) const;
  // True when `s` should be re-issued with seen = now.
  bool needs_refresh(const Session& s, int64_t now_unix) const;
  // The CSRF token of a session (HMAC of its nonce): put into every form,
  // compared in constant time on every POST.
  std::string csrf_token(const Session& s) const;
  bool csrf_ok(const Session& s, std::string_view given) const;
  // Logout: this process refuses the token's nonce until its absolute expiry.
  // Other replicas do not learn of it (docs/web.md says what that means).
  void revoke(const Session& s) const;

  // Set-Cookie values: the session, and the one that deletes it.
  std::string set_cookie(const Session& s) const;
  static std::string clear_cookie();

  const SessionTimes& times() const { return times_; }

 private:
  std::string mac(std::string_view data) const;
  std::string key_;
  SessionTimes times_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, int64_t> revoked_;  // nonce -> absolute expiry (unix)
};

// Random octets from OpenSSL's CSPRNG (throws std::runtime_error when it fails).
std::string random_bytes(size_t n);
std::string to_hex(std::string_view bytes);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace postline::web::portal
