// DKIM key generation for `postline dkim generate DOMAIN` (the CLI wires this in).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/mailauth/crypto.h"

namespace postline::mailauth {

struct DkimKeyMaterial {
  std::string private_key_pem;  // PKCS#8; write it with mode 0600
  std::string dns_name;         // "<selector>._domainkey.<domain>"
  std::string txt_record;       // "v=DKIM1; k=rsa; p=MIIB..." (one logical string)
  std::string zone_line;        // zone-file line with the record split into 255-octet strings
};

// rsa_bits is used for RSA only (>= 1024; 2048 recommended, RFC 8301).
std::optional<DkimKeyMaterial> generate_dkim_key(std::string_view domain, std::string_view selector,
                                                 KeyType type, int rsa_bits = 2048, std::string* error = nullptr);

// The TXT record text for an existing key.
std::string dkim_txt_record(const PrivateKey& key);
// dkim_txt_record split into quoted <=255-octet character-strings for a zone file.
std::string zone_quoted(std::string_view txt);

}  // namespace postline::mailauth
