// Sans-I/O pieces of the simple SASL mechanisms. SCRAM-SHA-256 is in scram.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postline::auth::sasl {

inline constexpr std::string_view kPlain = "PLAIN";
inline constexpr std::string_view kLogin = "LOGIN";
inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";

// Mechanism name upper-cased if we support it, empty otherwise.
std::string canonical_mechanism(std::string_view name);

// What authd advertises: SCRAM always; PLAIN and LOGIN send the password itself,
// so only over TLS unless the operator allows plaintext (auth.allow_plaintext_mechanisms).
std::vector<std::string> mechanisms(bool secure_transport, bool allow_plaintext);

struct PlainCredentials {
  std::string authzid;
  std::string authcid;
  std::string password;
  std::string error;  // non-empty: malformed
  bool ok() const { return error.empty(); }
};

// RFC 4616: [authzid] NUL authcid NUL passwd. We do not support acting as
// another user, so an authzid different from the authcid is an error.
PlainCredentials parse_plain(std::string_view message);

// The LOGIN mechanism's (draft-murchison-sasl-login) fixed challenges.
inline constexpr std::string_view kLoginUsernameChallenge = "Username:";
inline constexpr std::string_view kLoginPasswordChallenge = "Password:";

}  // namespace postline::auth::sasl
