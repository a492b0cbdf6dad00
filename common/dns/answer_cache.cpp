#include "common/dns/answer_cache.h"

#include <algorithm>

namespace postline::dns {
namespace {

constexpr uint16_t kTypeSoa = 6;

// A bounds-checked reader over one DNS message (RFC 1035 4.1).
class Reader {
 public:
  explicit Reader(const std::vector<unsigned char>& m) : m_(m) {}
  bool ok() const { return ok_; }
  uint16_t u16() {
    if (!need(2)) return 0;
    const uint16_t v = static_cast<uint16_t>(m_[pos_] << 8 | m_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  uint32_t u32() {
    const uint32_t hi = u16();
    return hi << 16 | u16();
  }
  void skip(size_t n) {
    if (need(n)) pos_ += n;
  }
  // A name: labels up to a zero octet, or up to a compression pointer (which
  // ends the name where it stands: what it points to is not read).
  void skip_name() {
    for (int labels = 0; ok_ && labels < 128; ++labels) {
      if (!need(1)) return;
      const unsigned char len = m_[pos_];
      if (len == 0) {
        ++pos_;
        return;
      }
      if ((len & 0xC0) == 0xC0) {
        skip(2);
        return;
      }
      if ((len & 0xC0) != 0) {  // 0x40/0x80: extended label types, not in use
        ok_ = false;
        return;
      }
      skip(1 + len);
    }
    ok_ = false;
  }
  size_t pos() const { return pos_; }

 private:
  bool need(size_t n) {
    if (!ok_ || m_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  const std::vector<unsigned char>& m_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

std::optional<std::chrono::seconds> cacheable_ttl(const std::vector<unsigned char>& message, bool positive) {
  if (message.size() < 12) return std::nullopt;
  Reader r(message);
  r.skip(2);
  const uint16_t flags = r.u16();
  if (flags & 0x0200) return std::nullopt;  // TC: a truncated answer is not the whole answer
  const uint16_t qd = r.u16(), an = r.u16(), ns = r.u16();
  r.skip(2);
  for (uint16_t i = 0; i < qd && r.ok(); ++i) {
    r.skip_name();
    r.skip(4);
  }
  std::optional<uint32_t> ttl;
  auto take = [&](uint32_t t) { ttl = ttl ? std::min(*ttl, t) : t; };
  for (uint16_t i = 0; i < an && r.ok(); ++i) {
    r.skip_name();
    r.skip(4);  // type, class
    const uint32_t t = r.u32();
    const uint16_t len = r.u16();
    r.skip(len);
    if (positive) take(t);
  }
  if (!positive) {
    for (uint16_t i = 0; i < ns && r.ok(); ++i) {
      r.skip_name();
      const uint16_t type = r.u16();
      r.skip(2);
      const uint32_t t = r.u32();
      const uint16_t len = r.u16();
      if (type != kTypeSoa || len < 20) {
        r.skip(len);
        continue;
      }
      // RDATA: MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM; MINIMUM
      // is its last four octets whatever the names' form.
      const size_t end = r.pos() + len;
      if (end > message.size()) return std::nullopt;
      const uint32_t minimum = static_cast<uint32_t>(message[end - 4]) << 24 | message[end - 3] << 16 |
                               message[end - 2] << 8 | message[end - 1];
      take(std::min(t, minimum));
      r.skip(len);
    }
  }
  if (!r.ok() || !ttl || *ttl == 0) return std::nullopt;
  // RFC 2181 8: a TTL with the top bit set is to be read as zero.
  if (*ttl > 0x7FFFFFFFu) return std::nullopt;
  return std::chrono::seconds(*ttl);
}

AnswerCache::AnswerCache(Options options, std::function<void(bool hit)> observer)
    : options_(options), observer_(std::move(observer)) {}

std::string AnswerCache::key(int type, const std::string& name) {
  std::string k = std::to_string(type);
  k += ' ';
  for (char c : name) k += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;  // DNS names: ASCII case-insensitive
  return k;
}

std::optional<AnswerCache::Entry> AnswerCache::get(int type, const std::string& name, Clock::time_point now,
                                                   bool count_miss) {
  std::optional<Entry> out;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key(type, name));
    if (it != entries_.end()) {
      if (it->second.expires > now)
        out = it->second.entry;
      else
        entries_.erase(it);
    }
  }
  if (observer_ && (out || count_miss)) observer_(out.has_value());
  return out;
}

void AnswerCache::put(int type, const std::string& name, Entry entry, std::chrono::seconds ttl,
                      Clock::time_point now) {
  if (options_.max_entries == 0 || ttl.count() <= 0) return;
  std::lock_guard lock(mutex_);
  auto k = key(type, name);
  if (!entries_.count(k) && entries_.size() >= options_.max_entries) make_room(now);
  entries_[std::move(k)] = Stored{std::move(entry), now + ttl};
}

void AnswerCache::make_room(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& e) { return e.second.expires <= now; });
  if (entries_.size() < options_.max_entries) return;
  // Still full of live answers: drop the tenth that expires soonest.
  std::vector<Clock::time_point> expiries;
  expiries.reserve(entries_.size());
  for (const auto& e : entries_) expiries.push_back(e.second.expires);
  const size_t drop = std::max<size_t>(1, entries_.size() / 10);
  std::nth_element(expiries.begin(), expiries.begin() + static_cast<std::ptrdiff_t>(drop - 1), expiries.end());
  const auto cutoff = expiries[drop - 1];
  size_t dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end() && dropped < drop;) {
    if (it->second.expires <= cutoff) {
      it = entries_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
}

size_t AnswerCache::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace postline::dns
