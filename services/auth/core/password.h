// Password hashing with argon2id (libsodium crypto_pwhash_str). The parameters
// travel inside the hash string, so raising auth.hash_ops_limit/hash_mem_limit
// later only affects new hashes; needs_rehash() tells the login path to upgrade
// an old hash while it holds the plaintext.
//
// Every function here is slow on purpose and blocking: call it on the hash pool,
// never on a gRPC or I/O thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postline::auth {

struct HashParams {
  unsigned long long ops_limit = 2;
  size_t mem_limit = 64u << 20;
};

class PasswordHasher {
 public:
  // Throws std::invalid_argument if the parameters are below libsodium's minimum
  // (the config error names the keys), std::runtime_error if libsodium fails.
  explicit PasswordHasher(HashParams params);

  // Throws std::runtime_error when the hash cannot be computed (out of memory).
  std::string hash(std::string_view password) const;

  // True only for a well-formed hash matching `password`. Comparison inside
  // libsodium is constant-time.
  bool verify(std::string_view stored, std::string_view password) const;

  // Spends the same time as verify() against a real account's hash, for unknown
  // users, so an attacker cannot tell "no such user" from "wrong password" by time.
  void dummy_verify(std::string_view password) const;

  // True if `stored` was made with other parameters than the current ones.
  bool needs_rehash(std::string_view stored) const;

  const HashParams& params() const { return params_; }

 private:
  HashParams params_;
  std::string dummy_hash_;
};

// Constant-time equality for secrets of possibly different length (bearer tokens).
bool secret_equal(std::string_view a, std::string_view b);

// SHA-256 of `data`, raw 32 bytes.
std::string sha256(std::string_view data);

}  // namespace postline::auth
