// mailauth_tool: a small command-line front end to common/mailauth, used by the
// cross-check tests against independent implementations (dkimpy). Not installed.
//
//   mailauth_tool keygen  --domain D --selector S [--type rsa|ed25519] [--bits N] --key-out FILE
//                         prints the TXT record on stdout
//   mailauth_tool sign    --key FILE --domain D --selector S [--canon hdr/body] [--length]
//                         < message > signed message
//   mailauth_tool verify  [--dns FILE] [--now UNIX] < message
//                         FILE: lines "name<TAB>txt record"; prints one line per
//                         signature "<result> d=<d> s=<s> a=<a> <reason>"; exit 0 when
//                         the overall result is pass, 1 otherwise, 2 on usage errors.
//   mailauth_tool arc-seal --key FILE --domain D --selector S --authserv-id A [--dns FILE] [--cv none|pass|fail]
//                         < message > message with a new ARC set on top (the chain is
//                         verified with --dns unless --cv says what it is)
//   mailauth_tool arc-verify [--dns FILE] < message
//                         prints "<none|pass|fail> i=<N> <reason>"; exit 0 for pass
//   mailauth_tool spf     --zone FILE --ip IP --mail-from S --helo H [--ptr] [--receiver R]
//                         FILE: lines "name<TAB>TYPE<TAB>hex(data)" (the openspf test
//                         suite's zone data, see test_openspf_suite.py); prints the
//                         result on the first line and the explanation on the second.
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/mailauth/arc.h"
#include "common/mailauth/dkim.h"
#include "common/mailauth/dkim_keygen.h"
#include "common/mailauth/spf.h"
#include "common/mailauth/text_util.h"

using namespace postline::mailauth;

namespace {

int usage() {
  std::cerr << "usage: mailauth_tool keygen|sign|verify [options]\n";
  return 2;
}

std::map<std::string, std::string> options(int argc, char** argv) {
  std::map<std::string, std::string> o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    a = a.substr(2);
    if (a == "length" || a == "ptr") {
      o[a] = "1";
    } else if (i + 1 < argc) {
      o[a] = argv[++i];
    }
  }
  return o;
}

std::string read_all(std::istream& in) { return std::string(std::istreambuf_iterator<char>(in), {}); }

bool parse_canon(const std::string& s, Canon* h, Canon* b) {
  auto slash = s.find('/');
  auto one = [](const std::string& v, Canon* out) {
    if (v == "simple") *out = Canon::kSimple;
    else if (v == "relaxed") *out = Canon::kRelaxed;
    else return false;
    return true;
  };
  if (slash == std::string::npos) return one(s, h) && (*b = Canon::kSimple, true);
  return one(s.substr(0, slash), h) && one(s.substr(slash + 1), b);
}

int keygen(std::map<std::string, std::string>& o) {
  KeyType t = o["type"] == "ed25519" ? KeyType::kEd25519 : KeyType::kRsa;
  int bits = o.count("bits") ? std::stoi(o["bits"]) : 2048;
  std::string err;
  auto m = generate_dkim_key(o["domain"], o["selector"], t, bits, &err);
  if (!m) {
    std::cerr << err << "\n";
    return 1;
  }
  std::ofstream out(o["key-out"], std::ios::binary | std::ios::trunc);
  out << m->private_key_pem;
  if (!out) {
    std::cerr << "cannot write " << o["key-out"] << "\n";
    return 1;
  }
  std::cout << m->txt_record << "\n";
  return 0;
}

int sign(std::map<std::string, std::string>& o) {
  std::string err;
  auto key = PrivateKey::from_pem_file(o["key"], &err);
  if (!key) {
    std::cerr << err << "\n";
    return 1;
  }
  DkimSignOptions so;
  so.domain = o["domain"];
  so.selector = o["selector"];
  if (o.count("canon") && !parse_canon(o["canon"], &so.header_canon, &so.body_canon)) return usage();
  so.body_length_tag = o.count("length") > 0;
  if (o.count("identity")) so.identity = o["identity"];
  std::string msg = read_all(std::cin);
  auto r = dkim_sign(msg, *key, so);
  if (!r.ok) {
    std::cerr << r.error << "\n";
    return 1;
  }
  std::cout << r.header << msg;
  return 0;
}

void load_dns(std::map<std::string, std::string>& o, FakeDnsLookup& dns) {
  if (!o.count("dns")) return;
  std::ifstream in(o["dns"]);
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    dns.add_txt(line.substr(0, tab), line.substr(tab + 1));
  }
}

int arc_seal_cmd(std::map<std::string, std::string>& o) {
  std::string err;
  auto key = PrivateKey::from_pem_file(o["key"], &err);
  if (!key) {
    std::cerr << err << "\n";
    return 1;
  }
  FakeDnsLookup dns;
  load_dns(o, dns);
  ArcSealOptions so;
  so.domain = o["domain"];
  so.selector = o["selector"];
  so.authserv_id = o["authserv-id"];
  if (o.count("now")) so.timestamp = std::stoull(o["now"]);
  if (o.count("cv"))
    so.chain = o["cv"] == "pass" ? ArcResult::kPass : o["cv"] == "fail" ? ArcResult::kFail : ArcResult::kNone;
  std::string msg = read_all(std::cin);
  auto r = arc_seal(msg, *key, so, &dns);
  if (!r.ok) {
    std::cerr << r.error << "\n";
    return 1;
  }
  std::cout << r.headers << msg;
  return 0;
}

int arc_verify_cmd(std::map<std::string, std::string>& o) {
  FakeDnsLookup dns;
  load_dns(o, dns);
  std::string msg = read_all(std::cin);
  auto v = arc_verify(std::string_view(msg), dns);
  std::cout << to_string(v.result) << " i=" << v.instances << " " << v.reason << "\n";
  return v.result == ArcResult::kPass ? 0 : 1;
}

int verify(std::map<std::string, std::string>& o) {
  FakeDnsLookup dns;
  load_dns(o, dns);
  DkimVerifyOptions vo;
  if (o.count("now")) vo.now = std::stoull(o["now"]);
  std::string msg = read_all(std::cin);
  auto r = dkim_verify(std::string_view(msg), dns, vo);
  for (const auto& s : r.signatures)
    std::cout << to_string(s.result) << " d=" << s.domain << " s=" << s.selector << " a=" << s.algorithm << " "
              << s.reason << "\n";
  if (r.signatures.empty()) std::cout << "none\n";
  return r.overall() == AuthResult::kPass ? 0 : 1;
}

// DNS emulating the openspf suite driver (pyspf's testspf.py): a name's "TIMEOUT"
// entry turns queries without data into temporary failures, "TIMEOUT-<TYPE>" does so
// for one type, a CNAME is followed one level, names under "error." that are not in
// the zone fail temporarily, and labels over 63 octets fail temporarily.
class ZoneDns : public DnsLookup {
 public:
  explicit ZoneDns(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto t1 = line.find('\t');
      auto t2 = line.find('\t', t1 + 1);
      if (t1 == std::string::npos || t2 == std::string::npos) continue;
      std::string name = to_lower(line.substr(0, t1));
      std::string type = line.substr(t1 + 1, t2 - t1 - 1);
      std::string hex = line.substr(t2 + 1), data;
      for (size_t i = 0; i + 1 < hex.size(); i += 2) data.push_back(char(std::stoi(hex.substr(i, 2), nullptr, 16)));
      zone_[name].push_back({type, data});
    }
  }
  TxtResult txt(std::string_view name) override {
    TxtResult r;
    r.status = lookup(name, "TXT", &r.records);
    return r;
  }
  AddrResult a(std::string_view name) override { return addrs(name, "A"); }
  AddrResult aaaa(std::string_view name) override { return addrs(name, "AAAA"); }
  MxResult mx(std::string_view name) override {
    MxResult r;
    std::vector<std::string> raw;
    r.status = lookup(name, "MX", &raw);
    for (const auto& d : raw) {
      auto sp = d.find(' ');
      std::string host = d.substr(sp + 1);
      if (!host.empty() && host.back() == '.') host.pop_back();
      r.records.push_back({uint16_t(std::stoi(d.substr(0, sp))), host});
    }
    return r;
  }
  PtrResult ptr(const IpAddress& address) override {
    PtrResult r;
    r.status = lookup(address.reverse_name(), "PTR", &r.names);
    return r;
  }

 private:
  AddrResult addrs(std::string_view name, const char* type) {
    AddrResult r;
    std::vector<std::string> raw;
    r.status = lookup(name, type, &raw);
    for (const auto& d : raw)
      if (auto ip = IpAddress::parse(d)) r.addresses.push_back(*ip);
    if (r.status == DnsStatus::kOk && r.addresses.empty()) r.status = DnsStatus::kNoData;
    return r;
  }
  DnsStatus lookup(std::string_view qname, const std::string& type, std::vector<std::string>* out, int level = 0) {
    std::string name = to_lower(qname);
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (auto label : split(name, '.'))
      if (label.size() > 63) return DnsStatus::kTempFail;
    auto it = zone_.find(name);
    if (it == zone_.end()) return name.rfind("error.", 0) == 0 ? DnsStatus::kTempFail : DnsStatus::kNxDomain;
    bool timeout = false;
    std::string cname;
    for (const auto& [t, d] : it->second) {
      if (t == type) out->push_back(d);
      if (t == "TIMEOUT") timeout = true;
      if (t == "TIMEOUT-" + type) return DnsStatus::kTempFail;
      if (t == "CNAME") cname = d;
    }
    if (out->empty() && !cname.empty() && level == 0) return lookup(cname, type, out, 1);
    if (out->empty()) return timeout ? DnsStatus::kTempFail : DnsStatus::kNoData;
    return DnsStatus::kOk;
  }
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> zone_;
};

int spf(std::map<std::string, std::string>& o) {
  ZoneDns dns(o["zone"]);
  auto ip = IpAddress::parse(o["ip"]);
  if (!ip) return usage();
  SpfOptions so;
  so.evaluate_ptr = o.count("ptr") > 0;
  if (o.count("receiver")) so.receiving_host = o["receiver"];
  auto v = spf_check_mail_from(dns, *ip, o["mail-from"], o["helo"], so);
  std::cout << to_string(v.result) << "\n" << v.explanation << "\n" << v.reason << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  auto o = options(argc, argv);
  try {
    if (cmd == "keygen") return keygen(o);
    if (cmd == "sign") return sign(o);
    if (cmd == "verify") return verify(o);
    if (cmd == "arc-seal") return arc_seal_cmd(o);
    if (cmd == "arc-verify") return arc_verify_cmd(o);
    if (cmd == "spf") return spf(o);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return usage();
}
