#include "common/dnsrecords/check.h"

#include <algorithm>

#include "common/mailauth/dkim_keygen.h"
#include "common/mailauth/dkim_keys.h"

namespace postline::dnsrecords {
namespace {

using mailauth::DnsStatus;

std::vector<std::string> texts(const mailauth::AddrResult& r) {
  std::vector<std::string> out;
  for (const auto& ip : r.addresses) out.push_back(ip.to_string());
  return out;
}

}  // namespace

std::vector<DkimSelector> dkim_selectors(const std::vector<std::string>& dkim_key_entries, const std::string& domain) {
  std::vector<DkimSelector> out;
  for (const auto& k : mailauth::load_dkim_keys(dkim_key_entries))
    if (k.domain == domain) out.push_back({k.selector, mailauth::dkim_txt_record(*k.key)});
  return out;
}

Observed addresses_of(dns::MailauthLookup& dns, const std::string& host, bool v4, bool v6) {

  Observed o;
  o.status = DnsStatus::kNxDomain;
  bool temp = false, exists = false;
  for (bool six : {false, true}) {
    if ((six && !v6) || (!six && !v4)) continue;
    auto r = six ? dns.aaaa(host) : dns.a(host);
    if (r.status == DnsStatus::kTempFail) temp = true;
    if (r.status == DnsStatus::kNoData || r.status == DnsStatus::kOk) exists = true;
    for (auto& t : texts(r)) o.values.push_back(t);
  }
  if (!o.values.empty()) o.status = DnsStatus::kOk;
  else if (temp) o.status = DnsStatus::kTempFail;
  else if (exists) o.status = DnsStatus::kNoData;
  return o;
}

Observed observe(dns::MailauthLookup& dns, const Record& r) {
  Observed o;
  switch (r.type) {
    case Type::kMx: {
      auto m = dns.mx(r.name);
      o.status = m.status;
      for (const auto& x : m.records)
        o.values.push_back(std::to_string(x.preference) + " " + (x.exchange.empty() ? "." : x.exchange + "."));
      return o;
    }
    case Type::kA: return addresses_of(dns, r.name, true, r.value.empty());  // advice: either family
    case Type::kAaaa: return addresses_of(dns, r.name, false, true);
    case Type::kTxt: {
      if (r.value.empty()) return o;  // nothing configured to look for
      auto t = dns.txt(r.name);
      o.status = t.status;
      o.values = t.records;
      return o;
    }
    case Type::kSrv: {
      auto s = dns.srv(r.name);
      o.status = s.status;
      for (const auto& x : s.records)
        o.values.push_back(std::to_string(x.priority) + " " + std::to_string(x.weight) + " " + std::to_string(x.port) +
                           " " + (x.target.empty() ? "." : x.target + "."));
      return o;
    }
    case Type::kPtr: {
      auto ip = mailauth::IpAddress::parse(r.address);
      if (!ip) return o;
      auto p = dns.ptr(*ip);
      o.status = p.status;
      for (const auto& name : p.names) {
        // c-ares lists the answer's name again among its aliases: once each.
        if (std::find(o.values.begin(), o.values.end(), name) != o.values.end()) continue;
        o.values.push_back(name);
        // Forward confirmation: the name's addresses include this one.
        auto fwd = ip->v6 ? dns.aaaa(name) : dns.a(name);
        for (const auto& back : fwd.addresses)
          if (back == *ip) {
            o.confirmed.push_back(name);
            break;
          }
      }
      return o;
    }
    case Type::kCname: {
      auto c = dns.canonical(r.name);
      o.status = c.status;
      o.canonical = c.canonical_name;
      for (const auto& ip : c.addresses) o.values.push_back(ip.to_string());
      return o;
    }
  }
  return o;
}

DomainCheck check_domain(dns::MailauthLookup& dns, const DomainSetup& s) {
  DomainCheck out;
  auto records = records_for(s);
  out.server_addresses = addresses_of(dns, s.host, true, true).values;
  if (s.ipv4.empty() && s.ipv6.empty()) {
    auto ptrs = ptr_records(s, out.server_addresses);
    auto at = std::find_if(records.begin(), records.end(), [](const Record& r) { return r.purpose == "spf"; });
    records.insert(at, ptrs.begin(), ptrs.end());
  }
  for (auto& r : records) {
    Finding f = compare(r, observe(dns, r), out.server_addresses);
    const bool bad = fails(r, f);
    out.records.push_back({std::move(r), std::move(f), bad});
  }
  return out;
}

}  // namespace postline::dnsrecords
