#include "services/auth/core/sasl.h"

#include <algorithm>
#include <cctype>

namespace postline::auth::sasl {

std::string canonical_mechanism(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper == kPlain || upper == kLogin || upper == kScramSha256) return upper;
  return {};
}

std::vector<std::string> mechanisms(bool secure_transport, bool allow_plaintext) {
  std::vector<std::string> out{std::string(kScramSha256)};
  if (secure_transport || allow_plaintext) {
    out.emplace_back(kPlain);
    out.emplace_back(kLogin);
  }
  return out;
}

PlainCredentials parse_plain(std::string_view message) {
  PlainCredentials c;
  const size_t first = message.find('\0');
  if (first == std::string_view::npos) {
    c.error = "PLAIN message has no NUL separators";
    return c;
  }
  const size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) {
    c.error = "PLAIN message has one NUL separator, needs two";
    return c;
  }
  c.authzid = std::string(message.substr(0, first));
  c.authcid = std::string(message.substr(first + 1, second - first - 1));
  c.password = std::string(message.substr(second + 1));
  if (c.authcid.empty()) c.error = "PLAIN message has an empty authentication identity";
  else if (c.password.find('\0') != std::string::npos) c.error = "PLAIN password contains NUL";
  else if (!c.authzid.empty() && c.authzid != c.authcid) c.error = "acting as another user (authzid) is not supported";
  return c;
}

}  // namespace postline::auth::sasl
