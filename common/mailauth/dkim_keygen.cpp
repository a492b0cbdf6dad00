#include "common/mailauth/dkim_keygen.h"

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

std::string dkim_txt_record(const PrivateKey& key) {
  std::string k = key.type() == KeyType::kEd25519 ? "ed25519" : "rsa";
  return "v=DKIM1; k=" + k + "; p=" + base64_encode(key.public_key_dkim());
}

std::string zone_quoted(std::string_view txt) {
  std::string out;
  while (!txt.empty()) {
    auto chunk = txt.substr(0, 255);
    txt.remove_prefix(chunk.size());
    if (!out.empty()) out += " ";
    out += "\"" + std::string(chunk) + "\"";
  }
  return out;
}

std::optional<DkimKeyMaterial> generate_dkim_key(std::string_view domain, std::string_view selector, KeyType type,
                                                 int rsa_bits, std::string* error) {
  auto d = normalize_domain(domain);
  auto s = normalize_domain(selector);
  if (!d || !s) {
    if (error) *error = "bad domain or selector";
    return std::nullopt;
  }
  if (type == KeyType::kRsa && (rsa_bits < 1024 || rsa_bits > 8192)) {
    if (error) *error = "RSA key size must be 1024..8192 bits";
    return std::nullopt;
  }
  auto key = PrivateKey::generate(type, rsa_bits);
  if (!key) {
    if (error) *error = "key generation failed";
    return std::nullopt;
  }
  DkimKeyMaterial m;
  m.private_key_pem = key->to_pem();
  m.dns_name = *s + "._domainkey." + *d;
  m.txt_record = dkim_txt_record(*key);
  m.zone_line = m.dns_name + ". IN TXT ( " + zone_quoted(m.txt_record) + " )";
  return m;
}

}  // namespace postline::mailauth
