// libFuzzer entry point for common/mailauth's parsers of what other people
// publish or send: DNS TXT records (DKIM keys, DMARC policies, SPF) and message
// headers (DKIM-Signature, Authentication-Results, From). DNS is FakeDnsLookup
// serving the fuzzed text, so nothing leaves the process. The first byte picks
// what runs (modulo 8):
//   0 TagList::parse           at most max_tags tags, names unique, within max_bytes
//   1 parse_dkim_key_record    nullopt exactly when *error is set
//   2 parse_dmarc_record       first tag v=DMARC1, pct within 0..100
//   3 spf_check_host           the text is example.com's SPF record, its later lines
//                              the records of a.example .. e.example: RFC 7208 4.6.4
//                              lookup limits hold (at most max_dns_mechanisms counted,
//                              a bounded number of DNS queries)
//   4 dkim_verify              the text is a message: no more key lookups than
//                              max_signatures, no pass without a key that verifies
//   5 remove_own_authentication_results  idempotent, never adds bytes, removes all of ours
//   6 from_header_domain / authserv_id_of  no crash, a domain has no '@' or space
//   7 arc_verify               the text is a message: never pass without keys that
//                              verify, at most 2 key look-ups per instance, at most
//                              50 instances; arc_result_in_auth_results on each line
// No exception may come out: these APIs report errors as values.
#include "common/mailauth/arc.h"
#include "common/mailauth/dkim.h"
#include "common/mailauth/dmarc.h"
#include "common/mailauth/auth_results.h"
#include "common/mailauth/spf.h"
#include "common/mailauth/tag_list.h"

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

namespace {

using namespace postline::mailauth;

void require(bool ok) {
  if (!ok) std::abort();
}

void tag_list(std::string_view text) {
  std::string error;
  TagListLimits limits;
  limits.max_tags = 16;
  limits.max_bytes = 2048;
  auto tags = TagList::parse(text, &error, limits);
  require(tags.has_value() == error.empty());
  if (!tags) return;
  require(text.size() <= limits.max_bytes && tags->tags().size() <= limits.max_tags);
  std::set<std::string> names;
  for (const auto& t : tags->tags()) {
    require(!t.name.empty() && names.insert(t.name).second);
    require(tags->get(t.name) && *tags->get(t.name) == t.value);
  }
}

void dkim_key(std::string_view text) {
  std::string error;
  auto key = parse_dkim_key_record(text, &error);
  require(key.has_value() == error.empty());
}

void dmarc(std::string_view text) {
  std::string error;
  auto rec = parse_dmarc_record(text, &error);
  if (!rec) return;
  require(rec->pct >= 0 && rec->pct <= 100);
  // RFC 7489 6.4: the first tag is v, its value DMARC1 (whitespace around "=" allowed).
  auto tags = TagList::parse(text);
  require(tags && !tags->tags().empty() && tags->tags()[0].name == "v" && tags->tags()[0].value == "DMARC1");
}

std::string_view next_line(std::string_view& text) {
  size_t nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  text = nl == text.npos ? std::string_view() : text.substr(nl + 1);
  return line;
}

void spf(std::string_view text) {
  FakeDnsLookup dns;
  dns.add_txt("example.com", std::string(next_line(text)));
  for (const char* name : {"a.example", "b.example", "c.example", "d.example", "e.example"}) {
    if (text.empty()) break;
    dns.add_txt(name, std::string(next_line(text)));
    dns.add_a(name, "192.0.2.7");
    dns.add_mx(name, 10, "mx.a.example");
  }
  dns.add_a("mx.a.example", "2001:db8::25");
  dns.fail("temp.example");
  auto ip = IpAddress::parse("192.0.2.1");
  require(ip.has_value());
  SpfOptions opt;
  opt.evaluate_ptr = true;
  SpfVerdict v = spf_check_host(dns, *ip, "example.com", "user@example.com", "helo.example", opt);
  require(v.dns_mechanisms <= opt.max_dns_mechanisms + 1);  // the one over the limit ends it
  require(v.void_lookups <= opt.max_void_lookups + 1);
  // Each counted mechanism may cost one TXT/A query plus up to max_mx_names (or
  // max_ptr_names) address queries; then the record itself and exp=.
  require(dns.queries() <= (opt.max_dns_mechanisms + 1) * (opt.max_mx_names + 2) + 4);
}

void dkim(std::string_view message) {
  FakeDnsLookup dns;
  // No private key exists for these (a truncated RSA key, random Ed25519 bytes):
  // nothing can verify against them.
  dns.add_txt("sel._domainkey.example.com", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC");
  dns.add_txt("ed._domainkey.example.com", "v=DKIM1; k=ed25519; p=4DyzjFt0AqBAmKZXpzWoxzX81rUub0/9SmNjBt7oKyQ=");
  dns.fail("temp._domainkey.example.com");
  DkimVerifyOptions opt;
  opt.now = 1700000000;
  opt.limits.max_message_bytes = 1 << 20;
  DkimVerifyResult r = dkim_verify(message, dns, opt);
  require(dns.queries() <= static_cast<int>(opt.max_signatures));
  for (const auto& s : r.signatures) require(s.result != AuthResult::kPass);
}

void authentication_results(std::string_view message) {
  size_t removed = 0;
  std::string once = remove_own_authentication_results(message, "mx.example", &removed);
  require(once.size() <= message.size());
  require(removed > 0 || once == message);
  size_t again_removed = 0;
  require(remove_own_authentication_results(once, "mx.example", &again_removed) == once && again_removed == 0);
}

void headers(std::string_view value) {
  if (auto d = from_header_domain(value)) require(d->find('@') == std::string::npos && d->find(' ') == std::string::npos);
  (void)authserv_id_of(value);
}

void arc(std::string_view message) {
  FakeDnsLookup dns;
  dns.add_txt("arc._domainkey.example.com", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC");
  dns.add_txt("ed._domainkey.example.com", "v=DKIM1; k=ed25519; p=4DyzjFt0AqBAmKZXpzWoxzX81rUub0/9SmNjBt7oKyQ=");
  ArcVerifyOptions opt;
  opt.now = 1700000000;
  opt.limits.max_message_bytes = 1 << 20;
  ArcVerdict v = arc_verify(message, dns, opt);
  require(v.result != ArcResult::kPass);
  require(v.instances >= 0 && v.instances <= 50);
  require(dns.queries() <= 2 * 50 + 2);
  std::string_view rest = message;
  while (!rest.empty()) {
    std::string r = arc_result_in_auth_results(next_line(rest));
    require(r.find(' ') == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0: tag_list(text); break;
    case 1: dkim_key(text); break;
    case 2: dmarc(text); break;
    case 3: spf(text); break;
    case 4: dkim(text); break;
    case 5: authentication_results(text); break;
    case 6: headers(text); break;
    case 7: arc(text); break;
  }
  return 0;
}
