// Certificates on the ACME side, sans-I/O: the key and CSR for an order
// (RFC 8555 7.4, PKCS#10 with the names as SANs), what an installed
// certificate says (names, notAfter, self-signed) and whether it is due for
// renewal, a check of an issued chain against our key and names before it is
// installed, and the self-signed placeholder webd starts with when there is no
// certificate yet.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace postline::web::acme {

struct KeyAndCsr {
  std::string key_pem;  // a new P-256 key for the certificate (not the account key)
  std::string csr_der;
};
KeyAndCsr make_key_and_csr(const std::vector<std::string>& names);

struct CertificateInfo {
  std::vector<std::string> names;  // DNS SANs, lower case
  double not_after = 0;            // Unix seconds
  bool self_signed = false;
};
// The first certificate of a PEM chain; nullopt when there is none.
std::optional<CertificateInfo> inspect_certificate(const std::string& pem);

struct RenewalDecision {
  bool renew = false;
  std::string why;  // for the log: "no certificate", "expires in 3 days", ...
};
// Renew when there is no readable certificate, it is self-signed (the
// placeholder, or one made by hand: with ACME on, ours replace it), it lacks
// one of `names`, or less than `renew_before` of its validity remains.
RenewalDecision renewal_due(const std::optional<CertificateInfo>& cert, const std::vector<std::string>& names,
                            std::chrono::seconds renew_before, std::chrono::system_clock::time_point now);

// Throws AcmeError unless `chain_pem` holds at least one certificate, the
// first one's public key is `key_pem`'s and it names every one of `names`.
void check_issued(const std::string& chain_pem, const std::string& key_pem, const std::vector<std::string>& names);

struct Placeholder {
  std::string cert_pem, key_pem;
};
// Self-signed for `names`, valid for one day: lets the services start before
// the first order has been issued.
Placeholder make_placeholder(const std::vector<std::string>& names);

}  // namespace postline::web::acme
