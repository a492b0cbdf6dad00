#include "common/mailauth/dkim_keys.h"

#include <cctype>
#include <stdexcept>

namespace postline::mailauth {

std::vector<DkimKey> load_dkim_keys(const std::vector<std::string>& entries) {
  std::vector<DkimKey> out;
  for (const auto& e : entries) {
    if (e.empty()) continue;
    const auto a = e.find(':');
    const auto b = a == std::string::npos ? a : e.find(':', a + 1);
    if (b == std::string::npos) throw std::runtime_error("expected domain:selector:keyfile, got '" + e + "'");
    DkimKey k;
    k.domain = e.substr(0, a);
    for (auto& c : k.domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    k.selector = e.substr(a + 1, b - a - 1);
    k.path = e.substr(b + 1);
    std::string error;
    auto key = PrivateKey::from_pem_file(k.path, &error);
    if (!key) throw std::runtime_error("cannot load the key for " + k.domain + " from " + k.path + ": " + error);
    k.key = std::make_shared<PrivateKey>(std::move(*key));
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace postline::mailauth
