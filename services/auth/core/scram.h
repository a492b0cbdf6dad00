// SCRAM-SHA-256 (RFC 5802 with SHA-256 per RFC 7677), server side, sans-I/O.
//
// Credentials are derived once, when a password is set, and only StoredKey and
// ServerKey are kept: the database never holds anything that lets an attacker
// log in with PLAIN (argon2id covers that) nor replay SCRAM without cracking.
// Passwords are used as given (UTF-8) rather than SASLprep'd: every ASCII
// password is unaffected, and clients that normalise non-ASCII passwords
// differently fail closed rather than open.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::auth::scram {

struct Credentials {
  std::string salt;        // raw bytes
  int iterations = 4096;   // RFC 7677 minimum
  std::string stored_key;  // raw 32 bytes: H(ClientKey)
  std::string server_key;  // raw 32 bytes: HMAC(SaltedPassword, "Server Key")
};

// Derives StoredKey/ServerKey for `password` under `salt` (random 16 bytes when empty).
Credentials derive(std::string_view password, std::string salt, int iterations);

std::string base64_encode(std::string_view raw);
std::optional<std::string> base64_decode(std::string_view text);

// One SCRAM exchange on the server. Feed client messages in order; each step
// returns the server's next message or an error. Credentials are looked up by
// the caller between client-first and server-first (lookup callback).
class ServerConversation {
 public:
  struct Step {
    bool ok = false;          // false: authentication failed or malformed input
    std::string message;      // server message to send (server-first, server-final)
    std::string error;        // why it failed (for logs; the client sees a generic failure)
  };

  // Parses client-first-message; returns the authentication identity (username,
  // '=2C'/'=3D' decoded) or an error. `nonce` is the server nonce part (random
  // when empty; tests pass RFC vectors).
  Step client_first(std::string_view message);
  const std::string& username() const { return username_; }
  const std::string& authzid() const { return authzid_; }

  // After client_first: the credential candidates for this user, all sharing one
  // salt and iteration count (the main password and the app passwords). For an
  // unknown user pass fake credentials (deterministic from the name) so the
  // exchange looks the same and fails at the end.
  Step server_first(const std::string& salt, int iterations, std::vector<Credentials> candidates,
                    std::string server_nonce = {});

  // Verifies the proof against each candidate in turn; on success `matched()`
  // says which (0 = first candidate) and the message is server-final "v=...".
  Step client_final(std::string_view message);
  int matched() const { return matched_; }

 private:
  enum class State { kStart, kGotClientFirst, kSentServerFirst, kDone } state_ = State::kStart;
  std::string username_, authzid_, gs2_header_, client_first_bare_, client_nonce_;
  std::string server_first_, nonce_;
  std::vector<Credentials> candidates_;
  int matched_ = -1;
};

}  // namespace postline::auth::scram
