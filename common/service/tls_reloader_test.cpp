// TlsReloader against real files and a real TlsContext: a changed pair is
// loaded, a pair that does not match is reported only when it stays so (the
// window between the two renames of a renewal is not an error), the old
// certificate stays in use after a failure, and SIGHUP reloads too.
#include "common/service/tls_reloader.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace postline;

namespace {

struct Pair {
  std::string cert, key;
};

// A self-signed certificate valid for `days`, and its key, as PEM.
Pair make_pair(long days) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), days);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  };
  Pair p{pem([&](BIO* b) { PEM_write_bio_X509(b, cert); }),
         pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); })};
  X509_free(cert);
  EVP_PKEY_free(key);
  return p;
}

// Replaced as a renewal does: a new file renamed over the old one.
void replace(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << content;
  std::filesystem::rename(tmp, path);
}

double counter(prometheus::Registry& registry, const std::string& trigger, const std::string& outcome) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "postline_tls_reloads_total") continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["trigger"] == trigger && labels["outcome"] == outcome) return m.counter.value;
    }
  }
  return -1;
}

class TlsReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("tls-reloader-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    const Pair p = make_pair(10);
    replace(cert, p.cert);
    replace(key, p.key);
    tls = std::make_shared<net::TlsContext>(cert, key);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  // Runs the io_context until `done` or 5 s have passed (no fixed sleep).
  template <typename F>
  void run_until(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(std::chrono::milliseconds(10));
    }
  }
  double days_left() const { return (*tls->not_after() - static_cast<double>(std::time(nullptr))) / 86400; }

  std::filesystem::path dir;
  std::string cert, key;
  std::shared_ptr<net::TlsContext> tls;
  boost::asio::io_context io;
  prometheus::Registry registry;
};

}  // namespace

TEST_F(TlsReloaderTest, ChangedFilesAreLoadedAndCountedFromZero) {
  service::TlsReloader reloader(io, tls, key, std::chrono::seconds(60), registry);
  EXPECT_EQ(counter(registry, "file", "ok"), 0);
  EXPECT_EQ(counter(registry, "file", "error"), 0);
  EXPECT_EQ(counter(registry, "signal", "ok"), 0);
  reloader.check_now();  // nothing changed: nothing reloaded
  EXPECT_EQ(counter(registry, "file", "ok"), 0);
  const Pair renewed = make_pair(90);
  replace(key, renewed.key);
  replace(cert, renewed.cert);
  reloader.check_now();
  EXPECT_EQ(counter(registry, "file", "ok"), 1);
  EXPECT_NEAR(days_left(), 90, 0.1);
}

TEST_F(TlsReloaderTest, AMismatchedPairKeepsTheOldCertificateAndIsReportedOnce) {
  service::TlsReloader reloader(io, tls, key, std::chrono::seconds(60), registry);
  const Pair renewed = make_pair(90);
  replace(key, renewed.key);  // the key renamed first, the certificate not yet
  reloader.check_now();
  EXPECT_EQ(counter(registry, "file", "error"), 0) << "the window between two renames is not an error";
  EXPECT_NEAR(days_left(), 10, 0.1);
  reloader.check_now();  // still the same mismatched files: now it is one
  EXPECT_EQ(counter(registry, "file", "error"), 1);
  reloader.check_now();
  EXPECT_EQ(counter(registry, "file", "error"), 1) << "reported once, not at every check";
  EXPECT_NEAR(days_left(), 10, 0.1) << "the old certificate stays in use";
  replace(cert, renewed.cert);
  reloader.check_now();
  EXPECT_EQ(counter(registry, "file", "ok"), 1);
  EXPECT_NEAR(days_left(), 90, 0.1);
}

TEST_F(TlsReloaderTest, SighupReloadsAndAFailingHookCountsAsAnError) {
  bool fail_hook = false;
  service::TlsReloader reloader(io, tls, key, std::chrono::seconds(0), registry, [&] {
    if (fail_hook) throw std::runtime_error("signer");
  });
  reloader.start();
  const Pair renewed = make_pair(45);
  replace(key, renewed.key);
  replace(cert, renewed.cert);
  std::raise(SIGHUP);
  run_until([&] { return counter(registry, "signal", "ok") == 1; });
  EXPECT_EQ(counter(registry, "signal", "ok"), 1);
  EXPECT_NEAR(days_left(), 45, 0.1);
  fail_hook = true;
  std::raise(SIGHUP);
  run_until([&] { return counter(registry, "signal", "error") == 1; });
  EXPECT_EQ(counter(registry, "signal", "error"), 1);
}
