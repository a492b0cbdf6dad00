// The signing keys of queue.dkim_keys ("domain:selector:/path/key.pem", RSA or
// Ed25519 PEM), parsed and loaded the one way queued does at start and
// `postline config check` does before it (so the check cannot say "ok" for a
// key the service then refuses).
#pragma once

#include "common/mailauth/crypto.h"

#include <memory>
#include <string>
#include <vector>

namespace postline::mailauth {

struct DkimKey {
  std::string domain;  // lower case
  std::string selector;
  std::string path;
  std::shared_ptr<PrivateKey> key;
};

// Throws std::runtime_error saying which entry is malformed or which file
// cannot be loaded, and why; empty entries are skipped.
std::vector<DkimKey> load_dkim_keys(const std::vector<std::string>& entries);

}  // namespace postline::mailauth
