#include "services/auth/core/password.h"

#include <sodium.h>

#include <stdexcept>

namespace postline::auth {
namespace {

void ensure_sodium() {
  // sodium_init is idempotent and thread-safe; < 0 means no usable RNG.
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

PasswordHasher::PasswordHasher(HashParams params) : params_(params) {
  ensure_sodium();
  if (params_.ops_limit < crypto_pwhash_argon2id_OPSLIMIT_MIN)
    throw std::invalid_argument("auth.hash_ops_limit must be at least " +
                                std::to_string(crypto_pwhash_argon2id_OPSLIMIT_MIN));
  if (params_.mem_limit < crypto_pwhash_argon2id_MEMLIMIT_MIN)
    throw std::invalid_argument("auth.hash_mem_limit must be at least " +
                                std::to_string(crypto_pwhash_argon2id_MEMLIMIT_MIN) + " bytes");
  // A hash of a random password with the live parameters: verifying against it
  // costs exactly what a real verification costs.
  char random[33];
  randombytes_buf(random, 32);
  random[32] = 0;
  dummy_hash_ = hash(std::string_view(random, 32));
}

std::string PasswordHasher::hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params_.ops_limit, params_.mem_limit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("argon2id hashing failed (out of memory?)");
  return std::string(out);
}

bool PasswordHasher::verify(std::string_view stored, std::string_view password) const {
  // libsodium wants a NUL-terminated string; copy into a bounded buffer.
  if (stored.empty() || stored.size() >= crypto_pwhash_STRBYTES) return false;
  std::string s(stored);
  return crypto_pwhash_str_verify(s.c_str(), password.data(), password.size()) == 0;
}

void PasswordHasher::dummy_verify(std::string_view password) const {
  // The result is meaningless; only the time spent matters.
  if (crypto_pwhash_str_verify(dummy_hash_.c_str(), password.data(), password.size()) == 0) return;
}

bool PasswordHasher::needs_rehash(std::string_view stored) const {
  std::string s(stored);
  return crypto_pwhash_str_needs_rehash(s.c_str(), params_.ops_limit, params_.mem_limit) != 0;
}

std::string sha256(std::string_view data) {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

bool secret_equal(std::string_view a, std::string_view b) {
  // Hash first so the comparison has a fixed length and leaks nothing about it.
  ensure_sodium();
  const std::string ha = sha256(a), hb = sha256(b);
  return sodium_memcmp(ha.data(), hb.data(), ha.size()) == 0;
}

}  // namespace postline::auth
