// Signs a configuration profile as CMS SignedData (PKCS#7, DER, the profile
// embedded) with the HTTPS certificate and key, the chain's other
// certificates included, which is what Apple devices verify to show a
// profile as "Verified". OpenSSL 3 (CMS_sign).
#pragma once

#include <memory>
#include <mutex>
#include <string>

namespace postline::web {

class ProfileSigner {
 public:
  // Loads the PEM files now; throws std::runtime_error naming `key_section`.cert_file
  // or .key_file when one cannot be read or they do not match.
  ProfileSigner(std::string cert_file, std::string key_file, std::string key_section);
  ~ProfileSigner();
  // Re-reads the files (SIGHUP, with the TLS certificate); keeps the old pair on failure (throws).
  void reload();
  // DER-encoded CMS SignedData holding `content`; throws std::runtime_error if OpenSSL fails.
  std::string sign(const std::string& content) const;

 private:
  struct Keys;
  std::shared_ptr<const Keys> load() const;
  std::string cert_file_, key_file_, key_section_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Keys> keys_;
};

}  // namespace postline::web
