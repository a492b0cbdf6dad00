// DKIM signing and verification (RFC 6376, RFC 8301, RFC 8463).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mailauth/canonicalization.h"
#include "common/mailauth/crypto.h"
#include "common/mailauth/dns_lookup.h"
#include "common/mailauth/message.h"

namespace postline::mailauth {

// ---------------------------------------------------------------- key records

struct DkimKeyRecord {
  KeyType key_type = KeyType::kRsa;
  std::string public_key;             // decoded p=; empty means revoked
  std::vector<std::string> hashes;    // h=, lower-case; empty = any
  bool testing = false;               // t=y
  bool strict_identity = false;       // t=s: i= domain must equal d=
  bool revoked() const { return public_key.empty(); }
};

// Parses a DKIM key TXT record (RFC 6376 3.6.1). Unknown tags are ignored as the
// RFC requires; unknown k= or a service type list without "email"/"*" is an error.
std::optional<DkimKeyRecord> parse_dkim_key_record(std::string_view text, std::string* error);

// ---------------------------------------------------------------- signing

struct DkimSignOptions {
  std::string domain;    // d=
  std::string selector;  // s=
  std::string identity;  // i=, optional ("" = omitted)
  Canon header_canon = Canon::kRelaxed;
  Canon body_canon = Canon::kRelaxed;
  // Header fields to sign, when present (each instance present is signed).
  std::vector<std::string> headers = {"From", "Reply-To", "Subject", "Date", "To", "Cc",
                                      "In-Reply-To", "References", "Message-ID", "MIME-Version",
                                      "Content-Type", "Content-Transfer-Encoding", "List-Id",
                                      "List-Unsubscribe", "List-Unsubscribe-Post", "Sender"};
  // Listed once more than they occur, so that adding another instance later breaks the
  // signature (RFC 6376 8.15, "oversigning"). From is always oversigned.
  std::vector<std::string> oversign = {"From", "Subject", "Reply-To", "To", "Cc", "Date",
                                       "Sender", "List-Unsubscribe", "List-Unsubscribe-Post"};
  // Emit l= with the canonical body length. Only for interoperability tests: l= lets
  // anyone append content under our signature (RFC 6376 8.2), so never in production.
  bool body_length_tag = false;
  std::optional<uint64_t> timestamp;   // t=
  std::optional<uint64_t> expiration;  // x= (absolute)
};

struct DkimSignResult {
  bool ok = false;
  std::string error;
  std::string header;  // "DKIM-Signature: ...\r\n", ready to prepend
};

// Signs with rsa-sha256 or ed25519-sha256 depending on the key's type.
DkimSignResult dkim_sign(std::string_view message, const PrivateKey& key, const DkimSignOptions& options,
                         const MessageLimits& limits = {});

// ---------------------------------------------------------------- verification

enum class AuthResult { kNone, kPass, kFail, kPolicy, kNeutral, kTempError, kPermError };
const char* to_string(AuthResult r);

struct DkimVerifyOptions {
  uint64_t now = 0;              // unix time for t=/x= checks; 0 = skip the checks
  uint64_t clock_skew = 300;     // tolerated future t=
  size_t max_signatures = 8;     // more are reported as neutral without DNS queries
  int min_rsa_bits = 1024;       // RFC 8301: shorter keys are not acceptable
  bool allow_sha1 = true;        // rsa-sha1 verifies but is flagged weak (RFC 8301)
  // l= with content after the signed length: that content is not covered by the
  // signature. By default such a signature yields "policy" (never "pass"), so unsigned
  // appended text cannot ride on a valid signature. Set true to report "pass" anyway
  // (the result still carries body_length_partial).
  bool accept_partial_body = false;
  MessageLimits limits;
};

struct DkimSignatureResult {
  AuthResult result = AuthResult::kNone;
  std::string reason;  // human-readable, for Authentication-Results reason=
  std::string domain;  // d=
  std::string selector;
  std::string identity;   // i= (or "@d" when absent)
  std::string algorithm;  // a=
  std::string b_prefix;   // first 8+ chars of b=, for header.b (RFC 6008)
  bool weak = false;      // rsa-sha1 or RSA key < 2048 bits
  bool testing = false;   // key record t=y
  bool body_length_partial = false;  // l= shorter than the body
  uint64_t body_length = 0;          // l= value when present
  uint64_t unsigned_body_bytes = 0;  // canonical body bytes beyond l=
  int key_bits = 0;
};

struct DkimVerifyResult {
  std::vector<DkimSignatureResult> signatures;  // one per DKIM-Signature, top first
  // Aggregate: kNone when unsigned; otherwise pass if any passed, else the first.
  AuthResult overall() const;
};

DkimVerifyResult dkim_verify(std::string_view message, DnsLookup& dns, const DkimVerifyOptions& options = {});
DkimVerifyResult dkim_verify(const ParsedMessage& message, DnsLookup& dns, const DkimVerifyOptions& options = {});

// Building blocks shared with ARC (arc.h), which signs and verifies with the
// same canonicalisation, header selection and key records.
namespace detail {
// The raw field with the base64 of its b= tag removed (RFC 6376 3.7).
std::string remove_b_value(std::string_view raw);
// The canonical header fields named in h=, selected bottom-up (RFC 6376 5.4.2);
// `exclude` (the signature field itself) is never selected.
std::string hash_input_headers(const std::vector<HeaderField>& headers, const std::vector<std::string>& names,
                               Canon canon, const HeaderField* exclude);
// The signature field canonicalised, without its final CRLF.
std::string sig_header_input(std::string_view raw_without_b, Canon canon);
// "Name: t1; t2;\r\n\tb=" folded under 78 octets; the caller appends b's value.
std::string fold_signature_header(std::string_view field_name, const std::vector<std::string>& tags);
// base64 folded into lines of `width` (the first `first_room` wide).
std::string fold_value(std::string_view v, size_t first_room, size_t width);

// What DKIM signing and ARC sealing start from: the parsed message and the
// normalised d= and s=. nullopt with *error set ("bad <what> domain or
// selector" naming `what`: "signing", "sealing") when either fails.
struct SigningStart {
  ParsedMessage msg;
  std::string domain, selector;
};
std::optional<SigningStart> start_signing(std::string_view message, const std::string& domain,
                                          const std::string& selector, const MessageLimits& limits,
                                          std::string_view what, std::string* error);
// a= for the key: "ed25519-sha256" or "rsa-sha256".
const char* signing_algorithm(const PrivateKey& key);
// "h=name1:name2...".
std::string h_tag(const std::vector<std::string>& names);
// Signs `input` and appends the folded base64 of the signature and CRLF to
// `header` (the output of fold_signature_header); false when signing failed.
bool append_signature(std::string& header, const PrivateKey& key, HashAlg hash, std::string_view input);
// c= "header[/body]" (RFC 6376 3.5); false for anything but simple/relaxed.
bool parse_canonicalization(std::string_view c, Canon* header, Canon* body);
// The header hash input of a signature field (the fields named in h=, then
// the field itself without its b= value) checked against b=.
bool verify_field_signature(const std::vector<HeaderField>& headers, const std::vector<std::string>& names,
                            Canon canon, const HeaderField& field, EVP_PKEY* key, KeyType type, HashAlg hash,
                            std::string_view b);

struct KeyLookup {
  AuthResult result = AuthResult::kPermError;  // kPass: `key` is usable
  std::string reason;
  PkeyPtr key;
  int bits = 0;
  bool testing = false;
  bool strict_identity = false;
};
// <selector>._domainkey.<domain> TXT, parsed and checked against a= (type, hash, RSA size).
KeyLookup lookup_key(DnsLookup& dns, const std::string& selector, const std::string& domain, KeyType ktype,
                     HashAlg hash, int min_rsa_bits);
}  // namespace detail

}  // namespace postline::mailauth
