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
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/mailauth/dkim.h"
#include "common/mailauth/dkim_keygen.h"

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
    if (a == "length") {
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

int verify(std::map<std::string, std::string>& o) {
  FakeDnsLookup dns;
  if (o.count("dns")) {
    std::ifstream in(o["dns"]);
    std::string line;
    while (std::getline(in, line)) {
      auto tab = line.find('\t');
      if (tab == std::string::npos) continue;
      dns.add_txt(line.substr(0, tab), line.substr(tab + 1));
    }
  }
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  auto o = options(argc, argv);
  try {
    if (cmd == "keygen") return keygen(o);
    if (cmd == "sign") return sign(o);
    if (cmd == "verify") return verify(o);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return usage();
}
