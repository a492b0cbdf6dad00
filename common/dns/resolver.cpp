#include "common/dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>

namespace postline::dns {
namespace {

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

double default_rand01() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string strip_dot(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

Status classify(int status) {
  switch (status) {
    case ARES_SUCCESS: return Status::kOk;
    case ARES_ENOTFOUND: return Status::kNoDomain;
    default: return Status::kTemporary;
  }
}

// One c-ares channel for one lookup: cheap, and keeps the resolver free of
// shared mutable state across worker threads.
class Channel {
 public:
  Channel(const std::vector<std::string>& servers, std::chrono::milliseconds timeout) : deadline_(
      std::chrono::steady_clock::now() + timeout) {
    library_init();
    ares_options opts{};
    int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    opts.timeout = static_cast<int>(std::max<int64_t>(500, timeout.count() / 3));
    opts.tries = 3;
    if (ares_init_options(&channel_, &opts, mask) != ARES_SUCCESS)
      throw std::runtime_error("cannot initialise the DNS resolver");
    if (!servers.empty()) {
      std::string csv;
      for (const auto& s : servers) {
        if (!csv.empty()) csv += ",";
        csv += s;
      }
      if (ares_set_servers_ports_csv(channel_, csv.c_str()) != ARES_SUCCESS) {
        ares_destroy(channel_);
        throw std::runtime_error("cannot use '" + csv + "' (expected ip:port,...)");
      }
    }
  }
  ~Channel() { ares_destroy(channel_); }
  ares_channel get() { return channel_; }

  // Drives c-ares until every query finished or the deadline passed.
  void run() {
    while (true) {
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      int bits = ares_getsock(channel_, socks, ARES_GETSOCK_MAXNUM);
      std::vector<pollfd> fds;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short ev = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
        if (ev) fds.push_back({socks[i], ev, 0});
      }
      if (fds.empty()) return;  // nothing pending
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline_) {
        ares_cancel(channel_);  // callbacks run with ARES_ECANCELLED
        return;
      }
      timeval tv{}, max{};
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - now).count();
      max.tv_sec = left / 1000000;
      max.tv_usec = left % 1000000;
      timeval* t = ares_timeout(channel_, &max, &tv);
      int ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000) + 1;
      int n = ::poll(fds.data(), fds.size(), ms);
      if (n <= 0) {
        ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
        continue;
      }
      for (const auto& p : fds) {
        ares_socket_t r = (p.revents & (POLLIN | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD;
        ares_socket_t w = (p.revents & POLLOUT) ? p.fd : ARES_SOCKET_BAD;
        if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(channel_, r, w);
      }
    }
  }

 private:
  ares_channel channel_ = nullptr;
  std::chrono::steady_clock::time_point deadline_;
};

struct MxQuery {
  int status = ARES_ETIMEOUT;
  std::vector<MxHost> records;
  bool parse_error = false;
};

void on_mx(void* arg, int status, int, unsigned char* abuf, int alen) {
  auto* q = static_cast<MxQuery*>(arg);
  q->status = status;
  if (status != ARES_SUCCESS) return;
  ares_mx_reply* mx = nullptr;
  int rc = ares_parse_mx_reply(abuf, alen, &mx);
  if (rc == ARES_ENODATA) {
    q->status = ARES_ENODATA;
    return;
  }
  if (rc != ARES_SUCCESS) {
    q->parse_error = true;
    q->status = rc;
    return;
  }
  for (auto* p = mx; p; p = p->next) q->records.push_back({p->priority, strip_dot(p->host ? p->host : "")});
  ares_free_data(mx);
}

struct AddrQuery {
  int status = ARES_ETIMEOUT;
  std::vector<std::string> v4, v6;
};

void on_addr(void* arg, int status, int, ares_addrinfo* res) {
  auto* q = static_cast<AddrQuery*>(arg);
  q->status = status;
  if (status != ARES_SUCCESS || !res) {
    if (res) ares_freeaddrinfo(res);
    return;
  }
  for (auto* n = res->nodes; n; n = n->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (n->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr, buf, sizeof buf);
      if (std::find(q->v4.begin(), q->v4.end(), buf) == q->v4.end()) q->v4.push_back(buf);
    } else if (n->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr, buf, sizeof buf);
      if (std::find(q->v6.begin(), q->v6.end(), buf) == q->v6.end()) q->v6.push_back(buf);
    }
  }
  ares_freeaddrinfo(res);
}

std::string describe(int status) { return ares_strerror(status); }

}  // namespace

std::vector<MxHost> order_mx(std::vector<MxHost> records, double (*rand01)()) {
  std::vector<std::pair<double, MxHost>> keyed;
  for (auto& r : records) {
    bool dup = false;
    for (const auto& k : keyed) dup = dup || k.second.host == r.host;
    if (!dup) keyed.emplace_back(rand01(), std::move(r));
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    if (a.second.preference != b.second.preference) return a.second.preference < b.second.preference;
    return a.first < b.first;
  });
  std::vector<MxHost> out;
  for (auto& k : keyed) out.push_back(std::move(k.second));
  return out;
}

Resolver::Resolver(std::vector<std::string> servers, std::chrono::milliseconds timeout)
    : servers_(std::move(servers)), timeout_(timeout) {
  servers_.erase(std::remove_if(servers_.begin(), servers_.end(), [](const std::string& s) { return s.empty(); }),
                 servers_.end());
}

void Resolver::check() const { Channel ch(servers_, timeout_); }

MxResult Resolver::lookup_mx(const std::string& raw_domain) const {
  MxResult result;
  const std::string domain = strip_dot(raw_domain);
  if (domain.empty() || domain.size() > 253) {
    result.status = Status::kNoDomain;
    result.error = "invalid domain";
    return result;
  }
  MxQuery q;
  {
    Channel ch(servers_, timeout_);
    ares_query(ch.get(), domain.c_str(), 1 /* C_IN */, 15 /* T_MX */, on_mx, &q);
    ch.run();
  }
  if (q.status == ARES_SUCCESS && !q.records.empty()) {
    // RFC 7505: a single MX of "." means the domain receives no mail at all.
    bool null_mx = std::any_of(q.records.begin(), q.records.end(), [](const MxHost& h) { return h.host.empty(); });
    if (null_mx) {
      result.status = Status::kNullMx;
      result.error = "domain " + domain + " publishes a null MX (RFC 7505): it accepts no mail";
      return result;
    }
    result.status = Status::kOk;
    result.hosts = order_mx(std::move(q.records), default_rand01);
    return result;
  }
  if (q.status == ARES_ENODATA || (q.status == ARES_SUCCESS && q.records.empty())) {
    // RFC 5321 5.1: no MX records: the domain itself is the implicit MX, if it
    // has an address.
    auto addr = lookup_addresses(domain);
    if (addr.status == Status::kOk) {
      result.status = Status::kOk;
      result.implicit = true;
      result.hosts.push_back({0, domain});
      return result;
    }
    result.status = addr.status;
    result.error = addr.status == Status::kNoDomain ? "domain " + domain + " has no MX and no address records"
                                                    : addr.error;
    return result;
  }
  result.status = classify(q.status);
  result.error = (result.status == Status::kNoDomain ? "domain " + domain + " does not exist: "
                                                     : "MX lookup for " + domain + " failed: ") +
                 describe(q.status);
  return result;
}

AddressResult Resolver::lookup_addresses(const std::string& raw_host) const {
  AddressResult result;
  const std::string host = strip_dot(raw_host);
  AddrQuery q;
  {
    Channel ch(servers_, timeout_);
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo(ch.get(), host.c_str(), nullptr, &hints, on_addr, &q);
    ch.run();
  }
  if (q.status == ARES_SUCCESS && !(q.v4.empty() && q.v6.empty())) {
    result.status = Status::kOk;
    result.addresses = q.v4;
    result.addresses.insert(result.addresses.end(), q.v6.begin(), q.v6.end());
    return result;
  }
  result.status = (q.status == ARES_ENOTFOUND || q.status == ARES_ENODATA || q.status == ARES_SUCCESS)
                      ? Status::kNoDomain
                      : Status::kTemporary;
  result.error = "address lookup for " + host + " failed: " + describe(q.status);
  return result;
}

}  // namespace postline::dns
