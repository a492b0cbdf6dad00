#include "services/web/acme/certificate.h"

#include "services/web/acme/errors.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>

namespace postline::web::acme {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

Key new_p256() {
  Key k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!k) throw AcmeError("certificate key: cannot generate a P-256 key");
  return k;
}

std::string key_to_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// subjectAltName=DNS:a,DNS:b as an extension stack.
STACK_OF(X509_EXTENSION) * san_extensions(const std::vector<std::string>& names) {
  std::string value;
  for (const auto& n : names) value += (value.empty() ? "DNS:" : ",DNS:") + n;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, value.c_str());
  if (!ext) throw AcmeError("certificate request: cannot encode the names as subjectAltName");
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(exts, ext);
  return exts;
}

std::vector<std::string> dns_names(X509* cert) {
  std::vector<std::string> out;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!sans) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = gn->d.dNSName;
    std::string name(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    out.push_back(std::move(name));
  }
  GENERAL_NAMES_free(sans);
  return out;
}

Cert first_certificate(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

KeyAndCsr make_key_and_csr(const std::vector<std::string>& names) {
  if (names.empty()) throw AcmeError("certificate request: no names");
  Key key = new_p256();
  Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(names[0].c_str()), -1,
                             -1, 0);
  STACK_OF(X509_EXTENSION)* exts = san_extensions(names);
  const int added = X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (added != 1 || X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    throw AcmeError("certificate request: cannot build or sign the CSR");
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) throw AcmeError("certificate request: cannot encode the CSR");
  KeyAndCsr out{key_to_pem(key.get()), std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len))};
  OPENSSL_free(der);
  return out;
}

std::optional<CertificateInfo> inspect_certificate(const std::string& pem) {
  Cert cert = first_certificate(pem);
  if (!cert) return std::nullopt;
  CertificateInfo info;
  info.names = dns_names(cert.get());
  std::tm tm{};
  const ASN1_TIME* t = X509_get0_notAfter(cert.get());
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  info.not_after = static_cast<double>(timegm(&tm));
  // Issued by itself: its issuer is its subject and its own key verifies it.
  if (X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0) {
    EVP_PKEY* pub = X509_get0_pubkey(cert.get());
    info.self_signed = pub && X509_verify(cert.get(), pub) == 1;
  }
  return info;
}

RenewalDecision renewal_due(const std::optional<CertificateInfo>& cert, const std::vector<std::string>& names,
                            std::chrono::seconds renew_before, std::chrono::system_clock::time_point now) {
  if (!cert) return {true, "no readable certificate"};
  if (cert->self_signed) return {true, "the certificate is self-signed (a placeholder)"};
  for (const auto& n : names)
    if (std::find(cert->names.begin(), cert->names.end(), n) == cert->names.end())
      return {true, "the certificate does not name " + n};
  const double left = cert->not_after - static_cast<double>(std::chrono::system_clock::to_time_t(now));
  if (left < static_cast<double>(renew_before.count())) {
    const long days = static_cast<long>(left / 86400);
    return {true, left <= 0 ? std::string("the certificate has expired")
                            : "the certificate expires in " + std::to_string(days) + " day(s), less than acme.renew_before"};
  }
  return {false, "valid for " + std::to_string(static_cast<long>(left / 86400)) + " more day(s)"};
}

void check_issued(const std::string& chain_pem, const std::string& key_pem, const std::vector<std::string>& names) {
  Cert cert = first_certificate(chain_pem);
  if (!cert) throw AcmeError("certificate: the server's answer holds no PEM certificate");
  Bio bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || X509_check_private_key(cert.get(), key.get()) != 1)
    throw AcmeError("certificate: the issued certificate is not for the key of our request");
  const auto have = dns_names(cert.get());
  for (const auto& n : names)
    if (std::find(have.begin(), have.end(), n) == have.end())
      throw AcmeError("certificate: the issued certificate does not name " + n);
}

Placeholder make_placeholder(const std::vector<std::string>& names) {
  if (names.empty()) throw AcmeError("placeholder: no names");
  Key key = new_p256();
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  STACK_OF(X509_EXTENSION)* exts = san_extensions(names);
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) X509_add_ext(cert.get(), sk_X509_EXTENSION_value(exts, i), -1);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) throw AcmeError("placeholder: cannot sign");
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return {std::string(data, static_cast<size_t>(n)), key_to_pem(key.get())};
}

}  // namespace postline::web::acme
