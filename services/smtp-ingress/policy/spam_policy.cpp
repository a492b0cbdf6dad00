#include "services/smtp-ingress/policy/spam_policy.h"

#include <fmt/format.h>

#include <cctype>

namespace postline::smtp::policy {

using mailauth::AuthResult;
using mailauth::DmarcPolicy;
using mailauth::DmarcResult;
using mailauth::IpAddress;
using mailauth::SpfResult;

std::optional<DnsblZone> parse_dnsbl_zone(std::string_view spec, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<DnsblZone> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  DnsblZone z;
  std::string_view zone = spec, codes;
  if (auto eq = spec.find('='); eq != std::string_view::npos) {
    zone = spec.substr(0, eq);
    codes = spec.substr(eq + 1);
  }
  while (!zone.empty() && zone.back() == '.') zone.remove_suffix(1);
  if (zone.empty()) return fail(fmt::format("'{}': empty zone", spec));
  for (char c : zone)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'))
      return fail(fmt::format("'{}': not a DNS zone name", spec));
  z.zone = std::string(zone);
  while (!codes.empty()) {
    auto bar = codes.find('|');
    std::string_view code = codes.substr(0, bar);
    codes = bar == std::string_view::npos ? std::string_view{} : codes.substr(bar + 1);
    auto ip = IpAddress::parse(code);
    if (!ip || ip->v6) return fail(fmt::format("'{}': return code '{}' is not an IPv4 address", spec, code));
    z.codes.push_back(*ip);
  }
  return z;
}

std::string dnsbl_query_name(const IpAddress& client, std::string_view zone) {
  std::string rev = client.unmapped().reverse_name();  // "...in-addr.arpa" / "...ip6.arpa"
  auto cut = rev.rfind(client.unmapped().v6 ? ".ip6.arpa" : ".in-addr.arpa");
  return rev.substr(0, cut) + "." + std::string(zone);
}

bool dnsbl_listed(const DnsblZone& zone, const std::vector<IpAddress>& answers) {
  for (const auto& a : answers) {
    if (a.v6 || a.bytes[0] != 127) continue;
    if (zone.codes.empty()) return true;
    for (const auto& c : zone.codes)
      if (c == a) return true;
  }
  return false;
}

const char* to_string(Action a) {
  switch (a) {
    case Action::kAccept: return "accept";
    case Action::kJunk: return "junk";
    case Action::kReject: return "reject";
    case Action::kTempFail: return "tempfail";
  }
  return "?";
}

namespace {
bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

void add(Decision& d, const char* symbol, double weight) {
  d.score += weight;
  d.symbols.push_back(fmt::format("{}({:.1f})", symbol, weight));
}
}  // namespace

Decision decide(const Checks& c, const PolicyConfig& cfg) {
  Decision d;
  // Weights: an SPF fail is the sender domain saying "not from here" — strong
  // but not conclusive (forwarders break SPF); softfail is the domain's own
  // "probably not". DKIM fail alone is weak (mailing lists rewrite bodies).
  // A DMARC fail combines both and is what the domain owner asked us to act on.
  switch (c.spf) {
    case SpfResult::kFail: add(d, "SPF_FAIL", 3.5); break;
    case SpfResult::kSoftFail: add(d, "SPF_SOFTFAIL", 2.0); break;
    case SpfResult::kPermError: add(d, "SPF_PERMERROR", 1.0); break;
    case SpfResult::kPass: add(d, "SPF_PASS", -0.5); break;
    default: break;
  }
  switch (c.dkim) {
    case AuthResult::kFail: add(d, "DKIM_FAIL", 1.5); break;
    case AuthResult::kPermError: add(d, "DKIM_PERMERROR", 0.5); break;
    case AuthResult::kPass: add(d, "DKIM_PASS", -0.5); break;
    default: break;
  }
  if (c.dmarc == DmarcResult::kFail && !c.dmarc_overridden) add(d, "DMARC_FAIL", 2.0);
  if (c.dmarc_overridden) d.symbols.push_back("ARC_TRUSTED_OVERRIDE");
  if (c.rspamd.available) {
    d.score += c.rspamd.score;
    d.symbols.push_back(fmt::format("RSPAMD({:.1f})", c.rspamd.score));
  }

  // Order matters: an explicit refusal (DMARC reject, Rspamd) wins over a junk
  // placement; temporary answers come before acceptance so the sender retries.
  if (cfg.dmarc_enforce && c.dmarc == DmarcResult::kFail && c.dmarc_apply == DmarcPolicy::kReject) {
    d.action = Action::kReject;
    d.code = 550;
    d.enhanced = "5.7.1";
    d.text = fmt::format("Message rejected: DMARC policy of {} says reject", c.dmarc_domain);
    d.reason = "dmarc_reject";
    return d;
  }
  if (c.rspamd.available) {
    if (c.rspamd.action == "reject") {
      d.action = Action::kReject;
      d.code = 550;
      d.enhanced = "5.7.1";
      d.text = "Message rejected as spam";
      d.reason = "rspamd_reject";
      return d;
    }
    if (c.rspamd.action == "soft reject" || c.rspamd.action == "greylist") {
      d.action = Action::kTempFail;
      d.code = 451;
      d.enhanced = "4.7.1";
      d.text = "Message deferred, try again later";
      d.reason = c.rspamd.action == "greylist" ? "rspamd_greylist" : "rspamd_soft_reject";
      return d;
    }
  }
  if (d.score >= cfg.reject_score) {
    d.action = Action::kReject;
    d.code = 550;
    d.enhanced = "5.7.1";
    d.text = fmt::format("Message rejected as spam (score {:.1f})", d.score);
    d.reason = "score";
    return d;
  }
  if (cfg.dmarc_enforce && c.dmarc == DmarcResult::kFail && c.dmarc_apply == DmarcPolicy::kQuarantine) {
    d.action = Action::kJunk;
    d.reason = "dmarc_quarantine";
    return d;
  }
  if (c.rspamd.available && (c.rspamd.action == "add header" || c.rspamd.action == "rewrite subject")) {
    d.action = Action::kJunk;
    d.reason = "rspamd_add_header";
    return d;
  }
  if (d.score >= cfg.junk_score) {
    d.action = Action::kJunk;
    d.reason = "score";
    return d;
  }
  d.reason = "clean";
  return d;
}

size_t remove_header_fields(std::string& message, std::string_view name) {
  size_t removed = 0, pos = 0;
  while (pos < message.size()) {
    if (message.compare(pos, 2, "\r\n") == 0 || message[pos] == '\n') break;  // end of header section
    size_t end = pos;
    // A field runs to the next line that does not start with WSP (folding).
    do {
      size_t eol = message.find('\n', end);
      end = eol == std::string::npos ? message.size() : eol + 1;
    } while (end < message.size() && (message[end] == ' ' || message[end] == '\t'));
    const size_t colon = message.find(':', pos);
    if (colon != std::string::npos && colon < end && colon - pos == name.size() &&
        iequal(std::string_view(message).substr(pos, name.size()), name)) {
      message.erase(pos, end - pos);
      ++removed;
      continue;
    }
    pos = end;
  }
  return removed;
}

bool has_header_field(std::string_view message, std::string_view name) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return false;  // end of the header section
    if (line[0] != ' ' && line[0] != '\t') {
      if (size_t colon = line.find(':'); colon != std::string_view::npos) {
        std::string_view field = line.substr(0, colon);
        while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
        if (iequal(field, name)) return true;
      }
    }
    pos = eol + 1;
  }
  return false;
}

std::string greylist_network(const std::string& text) {
  auto ip = IpAddress::parse(text);
  if (!ip) return text;
  IpAddress u = ip->unmapped();
  if (!u.v6) return fmt::format("{}.{}.{}.0/24", u.bytes[0], u.bytes[1], u.bytes[2]);
  for (size_t i = 8; i < 16; ++i) u.bytes[i] = 0;
  return u.to_string() + "/64";
}

std::string spam_status_header(const Decision& d, const PolicyConfig& cfg) {
  std::string tests;
  for (const auto& s : d.symbols) tests += (tests.empty() ? "" : ",") + s;
  if (tests.empty()) tests = "none";
  // Folded at commas would be nicer; the list is short (at most a handful of
  // symbols), so one line stays well under 998 octets.
  return fmt::format("X-Spam-Status: {}, score={:.1f} required={:.1f} tests={}\r\n",
                     d.action == Action::kJunk || d.action == Action::kReject ? "Yes" : "No", d.score,
                     cfg.junk_score, tests);
}

}  // namespace postline::smtp::policy
