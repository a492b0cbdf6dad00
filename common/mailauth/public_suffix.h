// The Public Suffix List, for DMARC organisational domains (RFC 7489 3.2).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace postline::mailauth {

class PublicSuffixList {
 public:
  static constexpr const char* kDebianPath = "/usr/share/publicsuffix/public_suffix_list.dat";

  // Parses the list format (rules, "*." wildcards, "!" exceptions, comments). Both the
  // ICANN and the private sections are used, as DMARC verifiers commonly do.
  static PublicSuffixList parse(std::string_view text);
  static std::optional<PublicSuffixList> load(const std::string& path = kDebianPath);
  // A tiny built-in list (com, org, net, uk, co.uk, jp, *.ck, !www.ck, ...) so tests and a
  // machine without the package still work; loading the real list is preferred.
  static const PublicSuffixList& fallback();
  // The Debian list when readable, else the fallback; loaded once.
  static const PublicSuffixList& system();

  // The registrable domain ("example.co.uk" for "a.b.example.co.uk"); for a name that
  // is itself a public suffix, the name itself.
  std::string organizational_domain(std::string_view domain) const;
  size_t size() const { return rules_.size() + wildcards_.size() + exceptions_.size(); }

 private:
  std::unordered_set<std::string> rules_, wildcards_, exceptions_;
};

// UTF-8 name to A-labels (punycode per label, no IDNA mapping); "" when not UTF-8.
// Exposed for tests.
std::string idn_to_ascii_for_psl(std::string_view utf8_domain);

}  // namespace postline::mailauth
