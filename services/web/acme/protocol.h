// RFC 8555 messages, sans-I/O: the request payloads webd sends and readers for
// what the ACME server answers (directory, problem documents, orders,
// authorizations and their challenges), plus Retry-After. Readers take
// untrusted text: anything malformed is an AcmeError naming what was wrong,
// never a crash (fuzzed by web_acme_response_fuzz).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::web::acme {

struct Directory {
  std::string new_nonce, new_account, new_order;
};
Directory parse_directory(std::string_view body);

// An RFC 7807 problem document (type urn:ietf:params:acme:error:...).
struct Problem {
  std::string type, detail;
  std::vector<std::string> subproblems;  // "identifier: detail" of each
};
// nullopt when the body is not a problem document.
std::optional<Problem> parse_problem(std::string_view body);
// badNonce (RFC 8555 6.5): the request is retried with the fresh Replay-Nonce.
bool is_bad_nonce(unsigned status, std::string_view body);
// A one-line description of a failed answer for logs: "400 urn:...:rejectedIdentifier: detail".
std::string describe_failure(unsigned status, std::string_view body);

struct Challenge {
  std::string type, url, token, status;
  std::string error;  // the problem's detail, when the server gave one
};
struct Authorization {
  std::string identifier;  // the DNS name
  std::string status;      // pending, valid, invalid, deactivated, expired, revoked
  bool wildcard = false;
  std::vector<Challenge> challenges;
  const Challenge* http01() const;
};
Authorization parse_authorization(std::string_view body);

struct Order {
  std::string status;  // pending, ready, processing, valid, invalid
  std::vector<std::string> identifiers;
  std::vector<std::string> authorizations;
  std::string finalize, certificate;
  std::string error;  // the problem's detail, when the server gave one
};
Order parse_order(std::string_view body);

// Payloads (JSON text) of the requests.
std::string new_account_payload(const std::string& contact_email);
std::string new_order_payload(const std::vector<std::string>& names);
std::string finalize_payload(const std::string& csr_der);
// The empty object a client POSTs to a challenge to say "ready" (RFC 8555 7.5.1).
inline std::string challenge_ready_payload() { return "{}"; }

// token "." thumbprint (RFC 8555 8.1). Throws AcmeError for a token that is
// not base64url (8.3: it goes into a URL path we serve).
std::string key_authorization(const std::string& token, const std::string& thumbprint);
bool is_token(std::string_view token);

// How long to wait before polling again: Retry-After as delta-seconds or an
// HTTP-date (RFC 9110 10.2.3), else `fallback`; clamped to [1 s, `cap`].
std::chrono::seconds retry_after(std::string_view header, std::chrono::seconds fallback, std::chrono::seconds cap,
                                 std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace postline::web::acme
