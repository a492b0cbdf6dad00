// libFuzzer entry point for the readers of what an ACME server answers
// (protocol.h): the directory, orders, authorizations, problem documents and
// Retry-After, all text from a server webd only half trusts (a CA reached over
// the network; a misbehaving or compromised one must not crash webd).
// Invariants, not only "no crash":
//   - every reader returns or throws AcmeError, nothing else;
//   - an accepted directory has https/http URLs for all three endpoints;
//   - an accepted order has a known status and, when valid, a certificate URL;
//   - an http-01 challenge accepted in an authorization has a base64url token,
//     and key_authorization() accepts it;
//   - describe_failure() is printable and at most 503 octets;
//   - retry_after() stays within [1 s, cap].
#include "services/web/acme/errors.h"
#include "services/web/acme/protocol.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace postline::web::acme;

namespace {
template <typename F>
void reads(F&& f) {
  try {
    f();
  } catch (const AcmeError&) {
  }  // anything else propagates and libFuzzer reports it
}

bool url(const std::string& u) { return u.rfind("https://", 0) == 0 || u.rfind("http://", 0) == 0; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  reads([&] {
    const Directory d = parse_directory(body);
    if (!url(d.new_nonce) || !url(d.new_account) || !url(d.new_order)) std::abort();
  });
  reads([&] {
    const Order o = parse_order(body);
    if (o.status == "valid" && o.certificate.empty()) std::abort();
    if (o.status.empty()) std::abort();
  });
  reads([&] {
    const Authorization a = parse_authorization(body);
    if (const Challenge* c = a.http01()) {
      if (!is_token(c->token)) std::abort();
      if (key_authorization(c->token, "thumb") != c->token + ".thumb") std::abort();
    }
  });
  (void)parse_problem(body);
  (void)is_bad_nonce(400, body);
  const std::string line = describe_failure(400, body);
  if (line.size() > 503) std::abort();
  for (char c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
  const auto cap = std::chrono::seconds(30);
  const auto wait = retry_after(body.substr(0, 64), std::chrono::seconds(2), cap);
  if (wait < std::chrono::seconds(1) || wait > cap) std::abort();
  return 0;
}
