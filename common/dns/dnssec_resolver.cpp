#include "common/dns/dnssec_resolver.h"

#include <unbound.h>

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>

namespace postline::dns {
namespace {

constexpr int kTypeA = 1, kTypeMx = 15, kTypeAaaa = 28, kTypeTlsa = 52, kClassIn = 1;
constexpr int kRcodeServfail = 2;

std::string strip_dot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// "127.0.0.1:5354" / "[::1]:53" / "127.0.0.1" -> libunbound's "addr@port".
std::string forwarder(const std::string& server) {
  if (!server.empty() && server.front() == '[') {
    auto close = server.find(']');
    if (close == std::string::npos) throw std::runtime_error("bad server '" + server + "'");
    std::string addr = server.substr(1, close - 1);
    if (close + 1 < server.size()) {
      if (server[close + 1] != ':') throw std::runtime_error("bad server '" + server + "'");
      return addr + "@" + server.substr(close + 2);
    }
    return addr;
  }
  auto colon = server.find(':');
  if (colon != std::string::npos && server.find(':', colon + 1) == std::string::npos)
    return server.substr(0, colon) + "@" + server.substr(colon + 1);
  return server;  // bare IPv4 or IPv6
}

double rand01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

struct Answer {
  bool timed_out = false;
  int err = 0;  // libunbound error (ub_strerror)
  ub_result* result = nullptr;
  ~Answer() {
    if (result) ub_resolve_free(result);
  }
};

Security security_of(const ub_result* r) {
  if (r->secure) return Security::kSecure;
  if (r->bogus) return Security::kBogus;
  return Security::kInsecure;
}

}  // namespace

const char* security_name(Security s) {
  switch (s) {
    case Security::kSecure: return "secure";
    case Security::kInsecure: return "insecure";
    case Security::kBogus: break;
  }
  return "bogus";
}

std::string TlsaRecord::text() const {
  std::string out = std::to_string(usage) + " " + std::to_string(selector) + " " + std::to_string(mtype) + " ";
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : data) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> parse_wire_name(std::string_view rdata, size_t& pos) {
  std::string name;
  size_t total = 0;
  while (true) {
    if (pos >= rdata.size()) return std::nullopt;
    const auto len = static_cast<unsigned char>(rdata[pos++]);
    if (len == 0) break;
    if (len > 63 || pos + len > rdata.size()) return std::nullopt;  // compression pointers are not allowed here
    total += len + 1;
    if (total > 255) return std::nullopt;
    if (!name.empty()) name += '.';
    for (size_t i = 0; i < len; ++i) {
      const auto c = static_cast<unsigned char>(rdata[pos + i]);
      name += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    pos += len;
  }
  return name;
}

std::optional<MxHost> parse_mx_rdata(std::string_view rdata) {
  if (rdata.size() < 3) return std::nullopt;
  MxHost h;
  h.preference = static_cast<uint16_t>((static_cast<unsigned char>(rdata[0]) << 8) | static_cast<unsigned char>(rdata[1]));
  size_t pos = 2;
  auto name = parse_wire_name(rdata, pos);
  if (!name || pos != rdata.size()) return std::nullopt;
  h.host = std::move(*name);
  return h;
}

std::optional<TlsaRecord> parse_tlsa_rdata(std::string_view rdata) {
  if (rdata.size() < 4) return std::nullopt;  // usage, selector, matching type, at least one octet
  TlsaRecord t;
  t.usage = static_cast<uint8_t>(rdata[0]);
  t.selector = static_cast<uint8_t>(rdata[1]);
  t.mtype = static_cast<uint8_t>(rdata[2]);
  t.data = std::string(rdata.substr(3));
  return t;
}

struct DnssecResolver::Impl {
  ub_ctx* ctx = nullptr;
  std::chrono::milliseconds timeout;
  ~Impl() {
    if (ctx) ub_ctx_delete(ctx);
  }

  // One query with a deadline: libunbound resolves on its own thread and
  // signals completion through ub_fd().
  void resolve(const std::string& name, int type, Answer& out) {
    struct Pending {
      bool done = false;
      Answer* answer;
    } pending{false, &out};
    int id = 0;
    auto callback = [](void* data, int err, ub_result* result) {
      auto* p = static_cast<Pending*>(data);
      p->done = true;
      p->answer->err = err;
      p->answer->result = result;
    };
    if (int err = ub_resolve_async(ctx, name.c_str(), type, kClassIn, &pending, callback, &id); err != 0) {
      out.err = err;
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pending.done) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        ub_cancel(ctx, id);
        out.timed_out = true;
        return;
      }
      pollfd pfd{ub_fd(ctx), POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (ready > 0) ub_process(ctx);
    }
  }

  // An answer that could not be had, in words.
  static std::string failure(const Answer& a, const std::string& what) {
    if (a.timed_out) return what + " timed out";
    if (a.err) return what + " failed: " + ub_strerror(a.err);
    if (a.result && a.result->bogus)
      return what + ": DNSSEC validation failed (bogus): " + (a.result->why_bogus ? a.result->why_bogus : "no reason given");
    return what + " failed: server failure";
  }
  static bool answered(const Answer& a) {
    return !a.timed_out && a.err == 0 && a.result && (a.result->bogus || a.result->rcode != kRcodeServfail);
  }
};

DnssecResolver::DnssecResolver(std::vector<std::string> servers, std::string trust_anchor_file,
                               std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  impl_->ctx = ub_ctx_create();
  if (!impl_->ctx) throw std::runtime_error("libunbound: cannot create a context");
  if (int err = ub_ctx_async(impl_->ctx, 1); err != 0)
    throw std::runtime_error(std::string("libunbound: ") + ub_strerror(err));
  servers.erase(std::remove_if(servers.begin(), servers.end(), [](const std::string& s) { return s.empty(); }),
                servers.end());
  if (servers.empty()) {
    if (int err = ub_ctx_resolvconf(impl_->ctx, nullptr); err != 0)
      throw std::runtime_error(std::string("libunbound: /etc/resolv.conf: ") + ub_strerror(err));
  }
  for (const auto& s : servers)
    if (int err = ub_ctx_set_fwd(impl_->ctx, forwarder(s).c_str()); err != 0)
      throw std::runtime_error("libunbound: server '" + s + "': " + ub_strerror(err));
  if (trust_anchor_file.empty()) throw std::runtime_error("no DNSSEC trust anchor file");
  if (std::FILE* f = std::fopen(trust_anchor_file.c_str(), "r")) {
    std::fclose(f);
  } else {
    throw std::runtime_error("cannot read the trust anchor file " + trust_anchor_file);
  }
  if (int err = ub_ctx_add_ta_file(impl_->ctx, trust_anchor_file.c_str()); err != 0)
    throw std::runtime_error("libunbound: trust anchor " + trust_anchor_file + ": " + ub_strerror(err));
}

DnssecResolver::~DnssecResolver() = default;

SecureMxResult DnssecResolver::lookup_mx(const std::string& raw_domain) {
  SecureMxResult out;
  const std::string domain = strip_dot(raw_domain);
  if (domain.empty() || domain.size() > 253) {
    out.status = Status::kNoDomain;
    out.error = "invalid domain";
    return out;
  }
  Answer a;
  impl_->resolve(domain, kTypeMx, a);
  if (!Impl::answered(a)) {
    out.status = Status::kTemporary;
    out.error = Impl::failure(a, "MX lookup for " + domain);
    return out;
  }
  out.security = security_of(a.result);
  if (out.security == Security::kBogus) {
    out.status = Status::kTemporary;
    out.error = Impl::failure(a, "MX lookup for " + domain);
    return out;
  }
  if (a.result->nxdomain) {
    out.status = Status::kNoDomain;
    out.error = "domain " + domain + " does not exist";
    return out;
  }
  std::vector<MxHost> records;
  if (a.result->havedata)
    for (int i = 0; a.result->data[i]; ++i)
      if (auto mx = parse_mx_rdata(std::string_view(a.result->data[i], static_cast<size_t>(a.result->len[i]))))
        records.push_back(std::move(*mx));
  if (records.empty()) {
    // No MX: the domain itself, if it has an address (the caller looks it up).
    out.status = Status::kOk;
    out.implicit = true;
    out.hosts.push_back({0, domain});
    return out;
  }
  if (std::any_of(records.begin(), records.end(), [](const MxHost& h) { return h.host.empty(); })) {
    out.status = Status::kNullMx;
    out.error = "domain " + domain + " publishes a null MX (RFC 7505): it accepts no mail";
    return out;
  }
  out.status = Status::kOk;
  out.hosts = order_mx(std::move(records), rand01);
  return out;
}

SecureAddressResult DnssecResolver::lookup_addresses(const std::string& raw_host) {
  SecureAddressResult out;
  const std::string host = strip_dot(raw_host);
  std::vector<std::string> v4, v6;
  bool any_answer = false;
  Security weakest = Security::kSecure;
  std::string error;
  for (int type : {kTypeA, kTypeAaaa}) {
    Answer a;
    impl_->resolve(host, type, a);
    if (!Impl::answered(a)) {
      error = Impl::failure(a, "address lookup for " + host);
      continue;
    }
    any_answer = true;
    const Security s = security_of(a.result);
    if (s == Security::kBogus) {
      out.status = Status::kTemporary;
      out.security = Security::kBogus;
      out.error = Impl::failure(a, "address lookup for " + host);
      return out;
    }
    if (s == Security::kInsecure) weakest = Security::kInsecure;
    if (!a.result->havedata) continue;
    for (int i = 0; a.result->data[i]; ++i) {
      const size_t len = static_cast<size_t>(a.result->len[i]);
      const auto* p = reinterpret_cast<const unsigned char*>(a.result->data[i]);
      char buf[64];
      if (type == kTypeA && len == 4) {
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
        v4.emplace_back(buf);
      } else if (type == kTypeAaaa && len == 16) {
        std::string text;
        for (int g = 0; g < 8; ++g) {
          std::snprintf(buf, sizeof buf, "%s%x", g ? ":" : "", (p[2 * g] << 8) | p[2 * g + 1]);
          text += buf;
        }
        v6.push_back(text);
      }
    }
  }
  out.security = weakest;
  if (!v4.empty() || !v6.empty()) {
    out.status = Status::kOk;
    out.addresses = v4;
    out.addresses.insert(out.addresses.end(), v6.begin(), v6.end());
    return out;
  }
  out.status = any_answer ? Status::kNoDomain : Status::kTemporary;
  out.error = any_answer ? "host " + host + " has no address" : error;
  return out;
}

TlsaResult DnssecResolver::lookup_tlsa(const std::string& raw_host, uint16_t port) {
  TlsaResult out;
  const std::string name = "_" + std::to_string(port) + "._tcp." + strip_dot(raw_host);
  Answer a;
  impl_->resolve(name, kTypeTlsa, a);
  if (!Impl::answered(a)) {
    out.status = Status::kTemporary;
    out.error = Impl::failure(a, "TLSA lookup for " + name);
    return out;
  }
  out.security = security_of(a.result);
  if (out.security == Security::kBogus) {
    out.status = Status::kTemporary;
    out.error = Impl::failure(a, "TLSA lookup for " + name);
    return out;
  }
  if (a.result->havedata)
    for (int i = 0; a.result->data[i]; ++i) {
      if (auto t = parse_tlsa_rdata(std::string_view(a.result->data[i], static_cast<size_t>(a.result->len[i]))))
        out.records.push_back(std::move(*t));
      else
        ++out.malformed;
    }
  out.status = (out.records.empty() && out.malformed == 0) ? Status::kNoDomain : Status::kOk;
  if (out.status == Status::kNoDomain) out.error = "no TLSA records at " + name;
  return out;
}

}  // namespace postline::dns
