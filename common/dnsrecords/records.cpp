#include "common/dnsrecords/records.h"

#include <algorithm>
#include <set>

#include "common/mailauth/crypto.h"
#include "common/mailauth/dkim_keygen.h"
#include "common/mailauth/tag_list.h"
#include "common/mailauth/text_util.h"

namespace postline::dnsrecords {
namespace {

using mailauth::DnsStatus;

std::string dot(const std::string& host) { return host + "."; }

std::string strip_dot(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// Whitespace runs as one space, lower case: how two SPF records are compared.
std::string normalise_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += mailauth::ascii_lower(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// "v=spf1 ..." style records: the version tag, case-insensitive, then a space or the end.
bool has_version(const std::string& txt, const std::string& version) {
  const std::string t(mailauth::trim_fws(txt));
  if (!mailauth::istarts_with(t, version)) return false;
  return t.size() == version.size() || t[version.size()] == ' ' || t[version.size()] == ';' ||
         t[version.size()] == '\t';
}

// Tag lists (DKIM, DMARC, MTA-STS, TLS-RPT): tolerant of a final ';' and spaces.
std::optional<mailauth::TagList> tags(const std::string& txt) { return mailauth::TagList::parse(txt); }

std::string tag(const mailauth::TagList& t, const std::string& name) {
  const std::string* v = t.get(name);
  return v ? *v : std::string();
}

// "mailto:a@x, mailto:b@y" contains mailto:<address>, addresses compared case-insensitively.
bool rua_contains(const std::string& rua, const std::string& address) {
  for (auto part : mailauth::split(rua, ',')) {
    std::string uri(mailauth::trim_fws(part));
    if (mailauth::iequals(uri, "mailto:" + address)) return true;
    // A size limit may follow: mailto:a@x!10m (RFC 7489 6.2).
    auto bang = uri.find('!');
    if (bang != std::string::npos && mailauth::iequals(uri.substr(0, bang), "mailto:" + address)) return true;
  }
  return false;
}

Record txt(std::string purpose, std::string name, std::string value, bool required, std::string note) {
  Record r;
  r.purpose = std::move(purpose);
  r.name = std::move(name);
  r.type = Type::kTxt;
  r.value = std::move(value);
  r.required = required;
  r.note = std::move(note);
  return r;
}

Record srv(const std::string& service, const std::string& domain, const std::string& host, uint16_t priority,
           uint16_t port, std::string note) {
  Record r;
  r.purpose = service;
  r.name = "_" + service + "._tcp." + domain;
  r.type = Type::kSrv;
  r.value = std::to_string(priority) + " 1 " + std::to_string(port) + " " + dot(host);
  r.target = host;
  r.port = port;
  r.note = std::move(note);
  return r;
}

Record cname(std::string purpose, std::string name, const std::string& host, std::string note) {
  Record r;
  r.purpose = std::move(purpose);
  r.name = std::move(name);
  r.type = Type::kCname;
  r.value = dot(host);
  r.target = host;
  r.note = std::move(note);
  return r;
}

std::string quoted_txt(const std::string& value) {
  std::string q = mailauth::zone_quoted(value);
  return value.size() > 255 ? "( " + q + " )" : q;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s += std::string(width - s.size(), ' ');
  return s + " ";
}

std::string zone_line(const Record& r) {
  const std::string value = r.type == Type::kTxt ? quoted_txt(r.value) : r.value;
  return pad(dot(r.name), 34) + "IN " + pad(type_name(r.type), 5) + value;
}

Finding make(Verdict v, std::vector<std::string> found, std::string detail) {
  return Finding{v, std::move(found), std::move(detail)};
}

}  // namespace

const char* type_name(Type t) {
  switch (t) {
    case Type::kMx: return "MX";
    case Type::kA: return "A";
    case Type::kAaaa: return "AAAA";
    case Type::kTxt: return "TXT";
    case Type::kSrv: return "SRV";
    case Type::kCname: return "CNAME";
    case Type::kPtr: return "PTR";
  }
  return "?";
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kOk: return "ok";
    case Verdict::kMissing: return "missing";
    case Verdict::kWrong: return "wrong";
    case Verdict::kUnchecked: return "unchecked";
  }
  return "?";
}

std::string report_address(const DomainSetup& s) {
  return s.report_address.empty() ? "postmaster@" + s.domain : s.report_address;
}

std::string mta_sts_policy(const DomainSetup& s) {
  return "version: STSv1\nmode: " + s.mta_sts_mode + "\nmx: " + s.host + "\nmax_age: " +
         std::to_string(s.mta_sts_max_age) + "\n";
}

std::string mta_sts_policy_url(const DomainSetup& s) {
  return "https://mta-sts." + s.domain + "/.well-known/mta-sts.txt";
}

std::string mta_sts_id(const std::string& policy) {
  std::string id;
  for (char c : mailauth::base64_encode(mailauth::digest(mailauth::HashAlg::kSha256, policy)))
    if (mailauth::is_alnum(c) && id.size() < 20) id += c;
  return id;
}

std::vector<Record> records_for(const DomainSetup& s) {
  std::vector<Record> out;
  const std::string& d = s.domain;

  Record mx;
  mx.purpose = "mx";
  mx.name = d;
  mx.type = Type::kMx;
  mx.value = "10 " + dot(s.host);
  mx.target = s.host;
  mx.required = true;
  mx.note = "where other servers deliver mail for " + d;
  out.push_back(mx);

  // The server's addresses: records when given, otherwise advice (the CLI
  // cannot know the public address in front of NAT or a load balancer).
  const std::string ptr_host = s.outbound_host.empty() ? s.host : s.outbound_host;
  const std::string ptr_note = "its reverse DNS (PTR, set by whoever owns the address) must name " + ptr_host +
                               " and resolve back to it";
  if (s.ipv4.empty() && s.ipv6.empty()) {
    Record a;
    a.purpose = "address";
    a.name = s.host;
    a.type = Type::kA;
    a.required = true;
    a.note = "the public IPv4 address of smtpd (and an AAAA record if it has IPv6; pass --ipv4/--ipv6 to print "
             "them); " + ptr_note;
    out.push_back(a);
  }
  for (const auto& ip : s.ipv4) {
    Record a;
    a.purpose = "address";
    a.name = s.host;
    a.type = Type::kA;
    a.value = ip;
    a.required = true;
    a.note = ptr_note;
    out.push_back(a);
  }
  for (const auto& ip : s.ipv6) {
    Record a;
    a.purpose = "address";
    a.name = s.host;
    a.type = Type::kAaaa;
    a.value = ip;
    a.required = true;
    a.note = ptr_note;
    out.push_back(a);
  }

  std::vector<std::string> addresses = s.ipv4;
  addresses.insert(addresses.end(), s.ipv6.begin(), s.ipv6.end());
  for (auto& r : ptr_records(s, addresses)) out.push_back(std::move(r));

  out.push_back(txt("spf", d, s.spf, true, "SPF: which hosts may send mail from " + d));
  if (s.dkim.empty()) {
    out.push_back(txt("dkim", "<selector>._domainkey." + d, "", true,
                      "no DKIM key for " + d + " in queue.dkim_keys: run `postline dkim generate " + d +
                          "` and configure the key it writes"));
  }
  for (const auto& k : s.dkim)
    out.push_back(txt("dkim", k.selector + "._domainkey." + d, k.txt, true,
                      "DKIM public key of selector " + k.selector + " (queue.dkim_keys)"));
  const std::string rua = report_address(s);
  out.push_back(txt("dmarc", "_dmarc." + d, "v=DMARC1; p=" + s.dmarc_policy + "; rua=mailto:" + rua, true,
                    "DMARC: what receivers do with mail failing SPF and DKIM; reports go to " + rua));

  const std::string policy = mta_sts_policy(s);
  out.push_back(txt("mta-sts", "_mta-sts." + d, "v=STSv1; id=" + mta_sts_id(policy), false,
                    "MTA-STS: senders must use TLS to " + s.host + " (policy at " + mta_sts_policy_url(s) +
                        "; the id changes with the policy)"));
  out.push_back(cname("mta-sts-host", "mta-sts." + d, s.host,
                      "the web server serving the MTA-STS policy over HTTPS (needs a certificate for mta-sts." + d +
                          ")"));
  out.push_back(txt("tls-rpt", "_smtp._tls." + d, "v=TLSRPTv1; rua=mailto:" + rua, false,
                    "TLS-RPT: where senders report TLS failures"));
  // RFC 8314 5.1: implicit TLS is preferred, so it gets the lower priority.
  out.push_back(srv("submissions", d, s.host, 0, s.submissions_port, "mail clients: submission with implicit TLS"));
  out.push_back(srv("submission", d, s.host, 10, s.submission_port, "mail clients: submission with STARTTLS"));
  out.push_back(srv("imaps", d, s.host, 0, s.imaps_port, "mail clients: IMAP with implicit TLS"));
  out.push_back(srv("imap", d, s.host, 10, s.imap_port, "mail clients: IMAP with STARTTLS"));
  out.push_back(cname("autoconfig", "autoconfig." + d, s.host,
                      "Thunderbird's autoconfig (or an A record with the server's address)"));
  out.push_back(cname("autodiscover", "autodiscover." + d, s.host,
                      "Outlook's autodiscover (or an A record with the server's address)"));
  return out;
}

std::vector<Record> ptr_records(const DomainSetup& s, const std::vector<std::string>& addresses) {
  const std::string host = s.outbound_host.empty() ? s.host : s.outbound_host;
  std::vector<Record> out;
  for (const auto& text : addresses) {
    auto ip = mailauth::IpAddress::parse(text);
    if (!ip) continue;  // --ipv4/--ipv6 values are checked where they are read
    Record r;
    r.purpose = "ptr";
    r.name = ip->reverse_name();
    r.type = Type::kPtr;
    r.value = dot(host);
    r.target = host;
    r.address = ip->to_string();
    r.required = true;
    r.note = "reverse DNS of " + r.address + ": set by whoever owns the address (the hosting provider), not in " +
             s.domain + "'s zone; it must name " + host + " (the name queued greets with), which must resolve back";
    out.push_back(std::move(r));
  }
  return out;
}

std::string zone_file(const DomainSetup& s, const std::vector<Record>& records) {
  std::string out = "; DNS records for " + s.domain + ", mail server " + s.host + " (postline dns records)\n";
  bool in_required = false, in_optional = false;
  for (const auto& r : records) {
    if (r.required && !in_required) {
      out += "; required\n";
      in_required = true;
    }
    if (!r.required && !in_optional) {
      out += ";\n; recommended (mail clients, TLS for incoming mail)\n";
      in_optional = true;
    }
    if (r.value.empty()) {
      out += "; " + pad(dot(r.name), 32) + "IN " + pad(type_name(r.type), 5) + "<" + r.note + ">\n";
      continue;
    }
    out += zone_line(r) + "\n";
  }
  out += ";\n; MTA-STS policy, served as " + mta_sts_policy_url(s) + ":\n";
  std::string policy = mta_sts_policy(s);
  for (auto line : mailauth::split(policy, '\n'))
    if (!line.empty()) out += ";   " + std::string(line) + "\n";
  return out;
}

Finding compare(const Record& r, const Observed& o, const std::vector<std::string>& server_addresses) {
  if (r.type == Type::kTxt && r.value.empty())
    return make(Verdict::kUnchecked, {}, r.note);
  if (o.status == DnsStatus::kTempFail)
    return make(Verdict::kUnchecked, {}, "DNS gave no answer (timeout or server failure); try again");
  const bool none = o.status != DnsStatus::kOk || o.values.empty();

  switch (r.type) {
    case Type::kMx: {
      if (none) return make(Verdict::kMissing, {}, "no MX record: mail goes to the domain's own address, if any");
      for (const auto& v : o.values) {
        auto sp = v.find(' ');
        const std::string host = mailauth::to_lower(strip_dot(sp == std::string::npos ? v : v.substr(sp + 1)));
        if (host == mailauth::to_lower(r.target)) return make(Verdict::kOk, o.values, "");
      }
      return make(Verdict::kWrong, o.values, "no MX record names " + r.target);
    }
    case Type::kA:
    case Type::kAaaa: {
      if (none) return make(Verdict::kMissing, {}, "the mail server's name has no address");
      if (r.value.empty() || std::find(o.values.begin(), o.values.end(), r.value) != o.values.end())
        return make(Verdict::kOk, o.values, "");
      return make(Verdict::kWrong, o.values, "expected the address " + r.value);
    }
    case Type::kSrv: {
      if (none) return make(Verdict::kMissing, {}, "");
      for (const auto& v : o.values) {
        // "priority weight port target."
        auto parts = mailauth::split(v, ' ');
        if (parts.size() != 4) continue;
        if (std::string(parts[2]) == std::to_string(r.port) &&
            mailauth::to_lower(strip_dot(std::string(parts[3]))) == mailauth::to_lower(r.target))
          return make(Verdict::kOk, o.values, "");
      }
      return make(Verdict::kWrong, o.values, "expected port " + std::to_string(r.port) + " on " + r.target);
    }
    case Type::kCname: {
      if (none) return make(Verdict::kMissing, {}, "");
      if (mailauth::to_lower(strip_dot(o.canonical)) == mailauth::to_lower(r.target))
        return make(Verdict::kOk, {"-> " + o.canonical}, "");
      const std::set<std::string> mine(server_addresses.begin(), server_addresses.end());
      const std::set<std::string> theirs(o.values.begin(), o.values.end());
      std::vector<std::string> found = o.values;
      if (mailauth::to_lower(strip_dot(o.canonical)) != mailauth::to_lower(r.name))
        found.insert(found.begin(), "-> " + o.canonical);
      if (!mine.empty() && mine == theirs) return make(Verdict::kOk, found, "an A record with the server's address");
      return make(Verdict::kWrong, found, "neither a CNAME to " + r.target + " nor the server's addresses");
    }
    case Type::kPtr: {
      if (none)
        return make(Verdict::kMissing, {},
                    "no reverse DNS for " + r.address + ": many receivers refuse or junk mail from it; ask the "
                    "address's owner to set a PTR to " + r.target);
      const std::string want = mailauth::to_lower(r.target);
      for (const auto& v : o.values) {
        if (mailauth::to_lower(strip_dot(v)) != want) continue;
        for (const auto& c : o.confirmed)
          if (mailauth::to_lower(strip_dot(c)) == want) return make(Verdict::kOk, o.values, "");
        return make(Verdict::kWrong, o.values,
                    r.target + " does not resolve back to " + r.address + " (receivers check forward-confirmed "
                    "reverse DNS)");
      }
      return make(Verdict::kWrong, o.values,
                  "the address's reverse DNS does not name " + r.target +
                      " (queue.hostname, the name queued greets with): receivers compare the two");
    }
    case Type::kTxt: break;
  }

  // TXT records: pick those of the kind, then compare what matters of them.
  std::vector<std::string> kind;
  auto keep = [&](auto pred) {
    for (const auto& v : o.values)
      if (pred(v)) kind.push_back(v);
  };
  if (r.purpose == "spf") {
    keep([](const std::string& v) { return has_version(v, "v=spf1"); });
    if (kind.empty()) return make(Verdict::kMissing, {}, "");
    if (kind.size() > 1) return make(Verdict::kWrong, kind, "more than one SPF record: receivers treat that as an error (RFC 7208 3.2)");
    if (normalise_text(kind[0]) == normalise_text(r.value)) return make(Verdict::kOk, kind, "");
    return make(Verdict::kWrong, kind, "differs from the expected policy (pass --spf if yours is intended)");
  }
  if (r.purpose == "dkim") {
    // Key records often omit v= (RFC 6376 3.6.1: it is optional): any record with p=.
    auto expected = tags(r.value);
    keep([](const std::string& v) {
      auto t = tags(v);
      return t && t->get("p");
    });
    if (kind.empty()) return make(Verdict::kMissing, {}, "");
    const std::string want_p = expected ? mailauth::strip_fws(tag(*expected, "p")) : "";
    const std::string want_k = expected ? tag(*expected, "k") : "rsa";
    for (const auto& v : kind) {
      auto t = tags(v);
      const std::string k = tag(*t, "k").empty() ? "rsa" : tag(*t, "k");
      if (mailauth::strip_fws(tag(*t, "p")) == want_p && mailauth::iequals(k, want_k))
        return make(Verdict::kOk, kind, "");
    }
    return make(Verdict::kWrong, kind, "the published key is not the public half of the configured private key");
  }
  if (r.purpose == "dmarc") {
    keep([](const std::string& v) { return has_version(v, "v=DMARC1"); });
    if (kind.empty()) return make(Verdict::kMissing, {}, "");
    if (kind.size() > 1) return make(Verdict::kWrong, kind, "more than one DMARC record: receivers ignore them all (RFC 7489 6.6.3)");
    auto expected = tags(r.value);
    auto found = tags(kind[0]);
    if (!found) return make(Verdict::kWrong, kind, "not a valid tag list");
    std::string why;
    if (!mailauth::iequals(tag(*found, "p"), tag(*expected, "p")))
      why = "p=" + tag(*found, "p") + " instead of p=" + tag(*expected, "p");
    const std::string rua = tag(*expected, "rua").substr(std::string("mailto:").size());
    if (!rua_contains(tag(*found, "rua"), rua))
      why += std::string(why.empty() ? "" : "; ") + "reports (rua) do not go to " + rua;
    if (why.empty()) return make(Verdict::kOk, kind, "");
    return make(Verdict::kWrong, kind, why + " (pass --dmarc-policy/--report-address if yours is intended)");
  }
  if (r.purpose == "mta-sts") {
    keep([](const std::string& v) { return has_version(v, "v=STSv1"); });
    if (kind.empty()) return make(Verdict::kMissing, {}, "");
    if (kind.size() > 1) return make(Verdict::kWrong, kind, "more than one MTA-STS record (RFC 8461 3.1)");
    auto found = tags(kind[0]);
    if (!found || tag(*found, "id").empty()) return make(Verdict::kWrong, kind, "no id=");
    auto expected = tags(r.value);
    if (tag(*found, "id") != tag(*expected, "id"))
      return make(Verdict::kOk, kind,
                  "id differs from the one for the policy `dns records` prints: fine if the policy served is yours");
    return make(Verdict::kOk, kind, "");
  }
  if (r.purpose == "tls-rpt") {
    keep([](const std::string& v) { return has_version(v, "v=TLSRPTv1"); });
    if (kind.empty()) return make(Verdict::kMissing, {}, "");
    if (kind.size() > 1) return make(Verdict::kWrong, kind, "more than one TLS-RPT record (RFC 8460 3)");
    auto found = tags(kind[0]);
    auto expected = tags(r.value);
    const std::string rua = tag(*expected, "rua").substr(std::string("mailto:").size());
    if (found && rua_contains(tag(*found, "rua"), rua)) return make(Verdict::kOk, kind, "");
    return make(Verdict::kWrong, kind, "reports (rua) do not go to " + rua);
  }
  return make(Verdict::kUnchecked, o.values, "no rule to compare this record");
}

bool fails(const Record& r, const Finding& f) {
  if (f.verdict == Verdict::kOk) return false;
  if (r.required) return true;
  return f.verdict != Verdict::kMissing;
}

}  // namespace postline::dnsrecords
