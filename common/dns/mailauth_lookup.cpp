#include "common/dns/mailauth_lookup.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace postline::dns {
namespace {

using mailauth::DnsStatus;

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

struct Answer {
  bool done = false;
  int status = ARES_ETIMEOUT;
  std::vector<unsigned char> buf;
};

// One channel per query: no shared mutable state between worker threads, and
// a query's deadline is its own.
Answer ask(const std::vector<std::string>& servers, std::chrono::milliseconds timeout, const std::string& name,
           int type) {
  library_init();
  Answer ans;
  ares_channel ch;
  ares_options opts{};
  opts.timeout = static_cast<int>(std::max<int64_t>(300, timeout.count() / 3));
  opts.tries = 3;
  if (ares_init_options(&ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS) return ans;
  if (!servers.empty()) {
    std::string csv;
    for (const auto& s : servers) csv += (csv.empty() ? "" : ",") + s;
    if (ares_set_servers_ports_csv(ch, csv.c_str()) != ARES_SUCCESS) {
      ares_destroy(ch);
      return ans;
    }
  }
  ares_query(
      ch, name.c_str(), ns_c_in, type,
      [](void* arg, int status, int, unsigned char* abuf, int alen) {
        auto* a = static_cast<Answer*>(arg);
        a->done = true;
        a->status = status;
        if (abuf && alen > 0) a->buf.assign(abuf, abuf + alen);
      },
      &ans);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ans.done) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
      if (ev) fds.push_back({socks[i], ev, 0});
    }
    if (fds.empty()) break;
    timeval tv_max{}, tv{};
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count();
    tv_max.tv_sec = left / 1000000;
    tv_max.tv_usec = left % 1000000;
    timeval* t = ares_timeout(ch, &tv_max, &tv);
    int ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000);
    int n = poll(fds.data(), fds.size(), std::max(ms, 1));
    if (n < 0 && errno != EINTR) break;
    for (const auto& f : fds) {
      ares_socket_t r = (f.revents & (POLLIN | POLLERR | POLLHUP)) ? f.fd : ARES_SOCKET_BAD;
      ares_socket_t w = (f.revents & POLLOUT) ? f.fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(ch, r, w);
    }
    if (n == 0) ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts/retries
  }
  ares_destroy(ch);  // cancels an unfinished query (its callback runs with ARES_EDESTRUCTION)
  if (!ans.done || ans.status == ARES_EDESTRUCTION) {
    ans.done = false;
    ans.status = ARES_ETIMEOUT;
  }
  return ans;
}

// ask() through the cache: an answer it may keep (answer_cache.h) is kept.
Answer query(const std::vector<std::string>& servers, std::chrono::milliseconds timeout, const std::string& name,
             int type, AnswerCache* cache, bool cache_only = false) {
  if (cache) {
    // A cache-only look-up's miss is not counted: the caller asks again, for
    // real, and that one counts.
    if (auto hit = cache->get(type, name, AnswerCache::Clock::now(), /*count_miss=*/!cache_only)) {
      Answer a;
      a.done = true;
      a.status = hit->status;
      a.buf = std::move(hit->message);
      return a;
    }
  }
  if (cache_only) throw NotCached(name);
  Answer a = ask(servers, timeout, name, type);
  if (cache && a.done && (a.status == ARES_SUCCESS || a.status == ARES_ENOTFOUND || a.status == ARES_ENODATA)) {
    const bool positive = a.status == ARES_SUCCESS;
    if (auto ttl = cacheable_ttl(a.buf, positive)) {
      const auto cap = positive ? cache->options().max_ttl : cache->options().max_negative_ttl;
      cache->put(type, name, {a.status, a.buf}, std::min(*ttl, cap));
    }
  }
  return a;
}

DnsStatus classify(int status) {
  switch (status) {
    case ARES_SUCCESS: return DnsStatus::kOk;
    case ARES_ENOTFOUND: return DnsStatus::kNxDomain;
    case ARES_ENODATA: return DnsStatus::kNoData;
    default: return DnsStatus::kTempFail;  // SERVFAIL, REFUSED, timeout, bad answer
  }
}

std::string strip_dot(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// A parse error of an answer the server sent is treated as temporary: the
// record may be fine and our view of it broken, and temperror never rejects.
DnsStatus parse_status(int rc) { return rc == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail; }

// The A records of an answer, appended to `out`; `he`, when given, gets the
// hostent (c-ares follows the answer's CNAME records: its h_name is where they end).
int parse_a(const Answer& a, std::vector<mailauth::IpAddress>& out, hostent** he = nullptr) {
  ares_addrttl ttls[64];
  int n = 64;
  int rc = ares_parse_a_reply(a.buf.data(), static_cast<int>(a.buf.size()), he, ttls, &n);
  if (rc != ARES_SUCCESS) return rc;
  for (int i = 0; i < n; ++i) {
    mailauth::IpAddress ip;
    std::memcpy(ip.bytes.data(), &ttls[i].ipaddr, 4);
    out.push_back(ip);
  }
  return rc;
}

}  // namespace

bool plausible_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    // Printable ASCII except space: SPF macro output and underscore labels
    // (_dmarc, _domainkey) are legal in DNS even if not in host names.
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '\\') return false;
    if (++label > 63) return false;
  }
  return true;
}

namespace {
// What every lookup starts with: the name without its final dot (a name no DNS
// name can be is NXDOMAIN without asking), the query through the cache, and
// its status. True when the answer has records to parse.
bool start_lookup(const std::vector<std::string>& servers, std::chrono::milliseconds timeout, std::string_view name_in,
                  int type, AnswerCache* cache, bool cache_only, DnsStatus& status, Answer& answer,
                  std::string* name_out = nullptr) {
  std::string name = strip_dot(std::string(name_in));
  if (!plausible_dns_name(name)) {
    status = DnsStatus::kNxDomain;
    return false;
  }
  answer = query(servers, timeout, name, type, cache, cache_only);
  status = classify(answer.status);
  if (name_out) *name_out = std::move(name);
  return status == DnsStatus::kOk;
}
}  // namespace

MailauthLookup::MailauthLookup(std::vector<std::string> servers, std::chrono::milliseconds timeout,
                               std::shared_ptr<AnswerCache> cache)
    : servers_(std::move(servers)), timeout_(timeout), cache_(std::move(cache)) {}

std::unique_ptr<MailauthLookup> MailauthLookup::cache_only() const {
  auto view = std::make_unique<MailauthLookup>(servers_, timeout_, cache_);
  view->cache_only_ = true;
  return view;
}

mailauth::TxtResult MailauthLookup::txt(std::string_view name_in) {
  mailauth::TxtResult r;
  Answer a;
  if (!start_lookup(servers_, timeout_, name_in, ns_t_txt, cache_.get(), cache_only_, r.status, a)) return r;
  ares_txt_ext* head = nullptr;
  int rc = ares_parse_txt_reply_ext(a.buf.data(), static_cast<int>(a.buf.size()), &head);
  if (rc != ARES_SUCCESS) return r.status = parse_status(rc), r;
  // Character-strings of one RR are concatenated (RFC 7208 3.3, RFC 6376 3.6.2.2).
  for (ares_txt_ext* t = head; t; t = t->next) {
    if (t->record_start || r.records.empty()) r.records.emplace_back();
    r.records.back().append(reinterpret_cast<const char*>(t->txt), t->length);
  }
  ares_free_data(head);
  if (r.records.empty()) r.status = DnsStatus::kNoData;
  return r;
}

namespace {
mailauth::AddrResult addr_query(const std::vector<std::string>& servers, std::chrono::milliseconds timeout,
                                std::string_view name_in, bool v6, AnswerCache* cache, bool cache_only) {
  mailauth::AddrResult r;
  Answer a;
  if (!start_lookup(servers, timeout, name_in, v6 ? ns_t_aaaa : ns_t_a, cache, cache_only, r.status, a)) return r;
  if (v6) {
    ares_addr6ttl ttls[64];
    int n = 64;
    int rc = ares_parse_aaaa_reply(a.buf.data(), static_cast<int>(a.buf.size()), nullptr, ttls, &n);
    if (rc != ARES_SUCCESS) return r.status = parse_status(rc), r;
    for (int i = 0; i < n; ++i) {
      mailauth::IpAddress ip;
      ip.v6 = true;
      std::memcpy(ip.bytes.data(), &ttls[i].ip6addr, 16);
      r.addresses.push_back(ip);
    }
  } else {
    int rc = parse_a(a, r.addresses);
    if (rc != ARES_SUCCESS) return r.status = parse_status(rc), r;
  }
  if (r.addresses.empty()) r.status = DnsStatus::kNoData;
  return r;
}
}  // namespace

mailauth::AddrResult MailauthLookup::a(std::string_view name) { return addr_query(servers_, timeout_, name, false, cache_.get(), cache_only_); }
mailauth::AddrResult MailauthLookup::aaaa(std::string_view name) { return addr_query(servers_, timeout_, name, true, cache_.get(), cache_only_); }

mailauth::MxResult MailauthLookup::mx(std::string_view name_in) {
  mailauth::MxResult r;
  Answer a;
  if (!start_lookup(servers_, timeout_, name_in, ns_t_mx, cache_.get(), cache_only_, r.status, a)) return r;
  ares_mx_reply* head = nullptr;
  int rc = ares_parse_mx_reply(a.buf.data(), static_cast<int>(a.buf.size()), &head);
  if (rc != ARES_SUCCESS) return r.status = parse_status(rc), r;
  for (auto* m = head; m; m = m->next) r.records.push_back({m->priority, strip_dot(m->host ? m->host : "")});
  ares_free_data(head);
  if (r.records.empty()) r.status = DnsStatus::kNoData;
  return r;
}

mailauth::PtrResult MailauthLookup::ptr(const mailauth::IpAddress& address) {
  mailauth::PtrResult r;
  Answer a = query(servers_, timeout_, address.reverse_name(), ns_t_ptr, cache_.get(), cache_only_);
  r.status = classify(a.status);
  if (r.status != DnsStatus::kOk) return r;
  hostent* he = nullptr;
  int rc = ares_parse_ptr_reply(a.buf.data(), static_cast<int>(a.buf.size()), address.bytes.data(),
                                address.v6 ? 16 : 4, address.v6 ? AF_INET6 : AF_INET, &he);
  if (rc != ARES_SUCCESS) return r.status = parse_status(rc), r;
  if (he->h_name) r.names.push_back(strip_dot(he->h_name));
  for (char** al = he->h_aliases; al && *al; ++al) r.names.push_back(strip_dot(*al));
  ares_free_hostent(he);
  if (r.names.empty()) r.status = DnsStatus::kNoData;
  return r;
}

SrvResult MailauthLookup::srv(std::string_view name_in) {
  SrvResult r;
  Answer a;
  if (!start_lookup(servers_, timeout_, name_in, ns_t_srv, cache_.get(), cache_only_, r.status, a)) return r;
  ares_srv_reply* head = nullptr;
  int rc = ares_parse_srv_reply(a.buf.data(), static_cast<int>(a.buf.size()), &head);
  if (rc != ARES_SUCCESS) return r.status = parse_status(rc), r;
  for (auto* s = head; s; s = s->next)
    r.records.push_back({s->priority, s->weight, s->port, strip_dot(s->host ? s->host : "")});
  ares_free_data(head);
  if (r.records.empty()) r.status = DnsStatus::kNoData;
  return r;
}

CanonicalResult MailauthLookup::canonical(std::string_view name_in) {
  CanonicalResult r;
  Answer a;
  std::string name;
  if (!start_lookup(servers_, timeout_, name_in, ns_t_a, cache_.get(), cache_only_, r.status, a, &name)) return r;
  hostent* he = nullptr;
  int rc = parse_a(a, r.addresses, &he);
  if (rc != ARES_SUCCESS) return r.status = parse_status(rc), r;
  r.canonical_name = strip_dot(he && he->h_name ? he->h_name : name);
  if (he) ares_free_hostent(he);
  if (r.addresses.empty()) r.status = DnsStatus::kNoData;
  return r;
}

}  // namespace postline::dns
