#include "common/mailauth/dns_lookup.h"

#include <stdexcept>

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

const char* to_string(DnsStatus s) {
  switch (s) {
    case DnsStatus::kOk: return "ok";
    case DnsStatus::kNxDomain: return "nxdomain";
    case DnsStatus::kNoData: return "nodata";
    case DnsStatus::kTempFail: return "tempfail";
  }
  return "?";
}

static std::string key_of(std::string_view name) {
  std::string k = to_lower(name);
  if (!k.empty() && k.back() == '.') k.pop_back();
  return k;
}

template <typename Map, typename Fn>
static auto cached(Map& map, std::string key, Fn&& fn) {
  auto it = map.find(key);
  if (it != map.end()) return it->second;
  auto r = fn();
  // Temporary failures are not remembered: a retry within the message may succeed.
  if (r.status != DnsStatus::kTempFail) map.emplace(std::move(key), r);
  return r;
}

TxtResult CachingDnsLookup::txt(std::string_view name) {
  return cached(txt_, key_of(name), [&] { return inner_.txt(name); });
}
AddrResult CachingDnsLookup::a(std::string_view name) {
  return cached(a_, key_of(name), [&] { return inner_.a(name); });
}
AddrResult CachingDnsLookup::aaaa(std::string_view name) {
  return cached(aaaa_, key_of(name), [&] { return inner_.aaaa(name); });
}
MxResult CachingDnsLookup::mx(std::string_view name) {
  return cached(mx_, key_of(name), [&] { return inner_.mx(name); });
}
PtrResult CachingDnsLookup::ptr(const IpAddress& address) {
  return cached(ptr_, address.reverse_name(), [&] { return inner_.ptr(address); });
}

FakeDnsLookup::Node& FakeDnsLookup::node(std::string_view name) { return nodes_[key_of(name)]; }

const FakeDnsLookup::Node* FakeDnsLookup::find(std::string_view name) {
  ++queries_;
  auto it = nodes_.find(key_of(name));
  return it == nodes_.end() ? nullptr : &it->second;
}

FakeDnsLookup& FakeDnsLookup::add_txt(std::string_view name, std::string record) {
  node(name).txt.push_back(std::move(record));
  return *this;
}

FakeDnsLookup& FakeDnsLookup::add_a(std::string_view name, std::string_view ip) {
  auto parsed = IpAddress::parse(ip);
  if (!parsed) throw std::invalid_argument("FakeDnsLookup::add_a: bad address");
  node(name).addrs.push_back(*parsed);
  return *this;
}

FakeDnsLookup& FakeDnsLookup::add_mx(std::string_view name, uint16_t pref, std::string_view exchange) {
  node(name).mx.push_back({pref, key_of(exchange)});
  return *this;
}

FakeDnsLookup& FakeDnsLookup::add_ptr(const IpAddress& ip, std::string_view name) {
  node(ip.reverse_name()).ptr.push_back(key_of(name));
  return *this;
}

FakeDnsLookup& FakeDnsLookup::add_name(std::string_view name) {
  node(name);
  return *this;
}

FakeDnsLookup& FakeDnsLookup::fail(std::string_view name) {
  node(name).tempfail = true;
  return *this;
}

template <typename Result>
static bool preamble(const void* n, bool tempfail, Result& r) {
  if (!n) {
    r.status = DnsStatus::kNxDomain;
    return false;
  }
  if (tempfail) {
    r.status = DnsStatus::kTempFail;
    return false;
  }
  return true;
}

TxtResult FakeDnsLookup::txt(std::string_view name) {
  TxtResult r;
  const Node* n = find(name);
  if (!preamble(n, n && n->tempfail, r)) return r;
  r.records = n->txt;
  r.status = r.records.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return r;
}

AddrResult FakeDnsLookup::a(std::string_view name) {
  AddrResult r;
  const Node* n = find(name);
  if (!preamble(n, n && n->tempfail, r)) return r;
  for (const auto& ip : n->addrs)
    if (!ip.v6) r.addresses.push_back(ip);
  r.status = r.addresses.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return r;
}

AddrResult FakeDnsLookup::aaaa(std::string_view name) {
  AddrResult r;
  const Node* n = find(name);
  if (!preamble(n, n && n->tempfail, r)) return r;
  for (const auto& ip : n->addrs)
    if (ip.v6) r.addresses.push_back(ip);
  r.status = r.addresses.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return r;
}

MxResult FakeDnsLookup::mx(std::string_view name) {
  MxResult r;
  const Node* n = find(name);
  if (!preamble(n, n && n->tempfail, r)) return r;
  r.records = n->mx;
  r.status = r.records.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return r;
}

PtrResult FakeDnsLookup::ptr(const IpAddress& address) {
  PtrResult r;
  const Node* n = find(address.reverse_name());
  if (!preamble(n, n && n->tempfail, r)) return r;
  r.names = n->ptr;
  r.status = r.names.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return r;
}

}  // namespace postline::mailauth
