// What goes wrong talking ACME: a message that names the step and what the
// server said, never a secret (no key material, no JWS).
#pragma once

#include <stdexcept>
#include <string>

namespace postline::web::acme {

class AcmeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace postline::web::acme
