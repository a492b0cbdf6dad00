// The answer cache: which TTL an answer may be kept for (RFC 1035, RFC 2308),
// the bounded store, and MailauthLookup asking the server once for a cached answer.
#include "common/dns/answer_cache.h"
#include "common/dns/mailauth_lookup.h"
#include "common/dns/testing/fake_dns_server.h"

#include <gtest/gtest.h>

using namespace postline::dns;
using namespace std::chrono_literals;
using postline::mailauth::DnsStatus;

namespace {

using Bytes = std::vector<unsigned char>;

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<unsigned char>(v >> 8));
  b.push_back(static_cast<unsigned char>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

// A message for "a.test": header, the question, then records given as (type, ttl, rdata).
struct Rr {
  uint16_t type;
  uint32_t ttl;
  Bytes rdata;
};
Bytes message(uint16_t flags, const std::vector<Rr>& answers, const std::vector<Rr>& authority = {}) {
  Bytes b;
  put16(b, 0x1234);
  put16(b, flags);
  put16(b, 1);
  put16(b, static_cast<uint16_t>(answers.size()));
  put16(b, static_cast<uint16_t>(authority.size()));
  put16(b, 0);
  for (unsigned char c : std::string("\1a\4test")) b.push_back(c);
  b.push_back(0);
  put16(b, 16);
  put16(b, 1);
  for (const auto* section : {&answers, &authority})
    for (const auto& rr : *section) {
      b.push_back(0xc0);  // a pointer to the question's name
      b.push_back(12);
      put16(b, rr.type);
      put16(b, 1);
      put32(b, rr.ttl);
      put16(b, static_cast<uint16_t>(rr.rdata.size()));
      b.insert(b.end(), rr.rdata.begin(), rr.rdata.end());
    }
  return b;
}
Bytes txt_rdata() { return {3, 'a', 'b', 'c'}; }
Bytes soa_rdata(uint32_t minimum) {
  Bytes r = {0xc0, 12, 0xc0, 12};
  for (uint32_t v : {1u, 3600u, 600u, 86400u, minimum}) put32(r, v);
  return r;
}

}  // namespace

TEST(AnswerTtl, PositiveAnswersLiveForTheirSmallestTtl) {
  EXPECT_EQ(cacheable_ttl(message(0x8180, {{16, 300, txt_rdata()}, {16, 60, txt_rdata()}}), true), 60s);
}

TEST(AnswerTtl, ZeroTtlTruncatedAndMalformedAreNotKept) {
  EXPECT_EQ(cacheable_ttl(message(0x8180, {{16, 0, txt_rdata()}}), true), std::nullopt);
  EXPECT_EQ(cacheable_ttl(message(0x8380, {{16, 300, txt_rdata()}}), true), std::nullopt);  // TC set
  Bytes cut = message(0x8180, {{16, 300, txt_rdata()}});
  cut.resize(cut.size() - 2);  // rdata shorter than its length says
  EXPECT_EQ(cacheable_ttl(cut, true), std::nullopt);
  EXPECT_EQ(cacheable_ttl(Bytes(5, 0), true), std::nullopt);
  EXPECT_EQ(cacheable_ttl(message(0x8180, {{16, 0x80000000u, txt_rdata()}}), true), std::nullopt);  // RFC 2181 8
}

TEST(AnswerTtl, NegativeAnswersLiveForTheSoaRuleAndNotWithoutAnSoa) {
  // RFC 2308 5: min(SOA TTL, SOA MINIMUM).
  EXPECT_EQ(cacheable_ttl(message(0x8183, {}, {{6, 3600, soa_rdata(900)}}), false), 900s);
  EXPECT_EQ(cacheable_ttl(message(0x8183, {}, {{6, 120, soa_rdata(900)}}), false), 120s);
  EXPECT_EQ(cacheable_ttl(message(0x8183, {}), false), std::nullopt);
  // Other authority records (NS) do not count.
  EXPECT_EQ(cacheable_ttl(message(0x8180, {}, {{2, 3600, {0xc0, 12}}}), false), std::nullopt);
}

TEST(AnswerCacheStore, HitsUntilExpiryCaseInsensitiveAndPerType) {
  int hits = 0, misses = 0;
  AnswerCache cache({}, [&](bool hit) { (hit ? hits : misses)++; });
  const auto t0 = AnswerCache::Clock::now();
  cache.put(16, "Example.TEST", {0, {1, 2, 3}}, 30s, t0);
  auto got = cache.get(16, "example.test", t0 + 29s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, (Bytes{1, 2, 3}));
  EXPECT_FALSE(cache.get(1, "example.test", t0 + 1s).has_value());  // another type
  EXPECT_FALSE(cache.get(16, "example.test", t0 + 30s).has_value());  // expired
  EXPECT_EQ(hits, 1);
  EXPECT_EQ(misses, 2);
  EXPECT_EQ(cache.size(), 0u);  // the expired entry went on the miss
}

TEST(AnswerCacheStore, StaysWithinItsBoundDroppingWhatExpiresFirst) {
  AnswerCache::Options o;
  o.max_entries = 10;
  AnswerCache cache(o);
  const auto t0 = AnswerCache::Clock::now();
  for (int i = 0; i < 10; ++i) cache.put(16, "n" + std::to_string(i) + ".test", {0, {}}, std::chrono::seconds(100 + i), t0);
  cache.put(16, "new.test", {0, {}}, 50s, t0);
  EXPECT_LE(cache.size(), 10u);
  EXPECT_FALSE(cache.get(16, "n0.test", t0).has_value());  // expired soonest of the full set
  EXPECT_TRUE(cache.get(16, "n9.test", t0).has_value());
  EXPECT_TRUE(cache.get(16, "new.test", t0).has_value());
  AnswerCache::Options off;
  off.max_entries = 0;
  AnswerCache none(off);
  none.put(16, "a.test", {0, {}}, 50s, t0);
  EXPECT_EQ(none.size(), 0u);
}

TEST(AnswerCacheLookup, MailauthLookupAsksOnceForACachedAnswerAndAlwaysForAFailure) {
  fake::FakeDns server;
  server.zones[{"spf.test", 16}] = fake::Zone{0, {{16, "\x0bv=spf1 -all"}}, 300, std::nullopt};
  server.zones[{"gone.test", 16}] = fake::Zone{3, {}, 300, 30};       // NXDOMAIN with an SOA
  server.zones[{"nosoa.test", 16}] = fake::Zone{3, {}, 300, std::nullopt};  // NXDOMAIN without
  server.zones[{"broken.test", 16}] = fake::Zone{2, {}, 300, std::nullopt};  // SERVFAIL
  auto cache = std::make_shared<AnswerCache>(AnswerCache::Options{});
  MailauthLookup dns({server.server()}, 3s, cache);

  for (int i = 0; i < 3; ++i) {
    auto r = dns.txt("SPF.test");
    ASSERT_EQ(r.status, DnsStatus::kOk);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0], "v=spf1 -all");
  }
  EXPECT_EQ(server.queries.load(), 1);

  EXPECT_EQ(dns.txt("gone.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(dns.txt("gone.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(server.queries.load(), 2);

  EXPECT_EQ(dns.txt("nosoa.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(dns.txt("nosoa.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(server.queries.load(), 4);

  EXPECT_EQ(dns.txt("broken.test").status, DnsStatus::kTempFail);
  const int before = server.queries.load();
  EXPECT_EQ(dns.txt("broken.test").status, DnsStatus::kTempFail);
  EXPECT_GT(server.queries.load(), before);
}

TEST(AnswerCacheLookup, CacheOnlyViewAnswersFromTheCacheAndThrowsForTheRestWithoutAsking) {
  fake::FakeDns server;
  server.zones[{"spf.test", 16}] = fake::Zone{0, {{16, "\x0bv=spf1 -all"}}, 300, std::nullopt};
  server.zones[{"other.test", 16}] = fake::Zone{0, {{16, "\x0bv=spf1 +all"}}, 300, std::nullopt};
  int hits = 0, misses = 0;
  auto cache = std::make_shared<AnswerCache>(AnswerCache::Options{}, [&](bool hit) { ++(hit ? hits : misses); });
  MailauthLookup dns({server.server()}, 3s, cache);
  auto cached = dns.cache_only();

  EXPECT_THROW(cached->txt("spf.test"), NotCached);
  EXPECT_THROW(cached->a("spf.test"), NotCached);
  EXPECT_EQ(server.queries.load(), 0) << "a cache-only view never asks the server";
  EXPECT_EQ(misses, 0) << "its misses are not counted: the real look-up that follows counts";

  ASSERT_EQ(dns.txt("spf.test").status, DnsStatus::kOk);  // now cached
  EXPECT_EQ(misses, 1);
  auto r = cached->txt("SPF.test.");
  ASSERT_EQ(r.status, DnsStatus::kOk);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0], "v=spf1 -all");
  EXPECT_EQ(hits, 1);
  EXPECT_THROW(cached->txt("other.test"), NotCached);
  EXPECT_EQ(server.queries.load(), 1);
  // Names that are never asked about answer the same way in both.
  EXPECT_EQ(cached->txt("bad name.test").status, DnsStatus::kNxDomain);
}
