#include "services/delivery-queue/policy/mta_sts.h"

#include <gtest/gtest.h>

using namespace postline::queue::sts;

TEST(MtaStsTxt, ParsesVersionAndId) {
  std::string why;
  auto r = parse_txt("v=STSv1; id=20160831085700Z;", &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->id, "20160831085700Z");
  r = parse_txt("v=STSv1;id=abc", &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->id, "abc");
  // Extensions are allowed and ignored.
  r = parse_txt("v=STSv1; id=abc; ext_1=foo.bar", &why);
  ASSERT_TRUE(r) << why;
}

TEST(MtaStsTxt, RefusesMalformedRecords) {
  std::string why;
  EXPECT_FALSE(parse_txt("id=abc; v=STSv1", &why));  // v= must come first
  EXPECT_FALSE(parse_txt("v=STSv1", &why));           // no id
  EXPECT_FALSE(parse_txt("v=STSv1; id=", &why));
  EXPECT_FALSE(parse_txt("v=STSv1; id=has-dash", &why));
  EXPECT_FALSE(parse_txt("v=STSv1; id=" + std::string(33, 'a'), &why));
  EXPECT_FALSE(parse_txt("v=STSv1; id=a; id=b", &why));
  EXPECT_FALSE(parse_txt("v=STSv1;; id=a", &why));
  EXPECT_FALSE(parse_txt("v=STSv2; id=a", &why));
  EXPECT_FALSE(parse_txt("", &why));
}

TEST(MtaStsTxt, EvaluatesTheRecordSet) {
  EXPECT_EQ(evaluate_txt({}).status, TxtStatus::kAbsent);
  EXPECT_EQ(evaluate_txt({"v=spf1 -all"}).status, TxtStatus::kAbsent);
  auto a = evaluate_txt({"v=spf1 -all", "v=STSv1; id=x1"});
  EXPECT_EQ(a.status, TxtStatus::kFound);
  EXPECT_EQ(a.id, "x1");
  EXPECT_EQ(evaluate_txt({"v=STSv1; id=x1", "v=STSv1; id=x2"}).status, TxtStatus::kInvalid);
  EXPECT_EQ(evaluate_txt({"v=STSv1; id=x-1"}).status, TxtStatus::kInvalid);
}

TEST(MtaStsPolicy, ParsesTheRfcExample) {
  std::string why;
  auto p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
                        "mx: backupmx.example.com\r\nmax_age: 604800\r\n",
                        &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->mode, Mode::kEnforce);
  EXPECT_EQ(p->max_age, 604800);
  ASSERT_EQ(p->mx.size(), 3u);
  EXPECT_EQ(p->mx[1], "*.example.net");
  ASSERT_EQ(p->lines.size(), 6u);
  EXPECT_EQ(p->lines[0], "version: STSv1");
}

TEST(MtaStsPolicy, LenientWhereTheRfcIs) {
  std::string why;
  // LF only, trailing spaces, unknown keys, keys in any order, a final dot on mx.
  auto p = parse_policy("mode: testing  \nversion:STSv1\nfoo: bar\nmx: MX.Example.ORG.\nmax_age: 99999999999\n", &why);
  EXPECT_FALSE(p);  // 11 digits: too many
  p = parse_policy("mode: testing  \nversion:STSv1\nfoo: bar\nmx: MX.Example.ORG.\nmax_age: 9999999999\n", &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->mode, Mode::kTesting);
  EXPECT_EQ(p->mx[0], "mx.example.org");
  EXPECT_EQ(p->max_age, kMaxMaxAge);  // capped at a year
  // mode none needs no mx.
  p = parse_policy("version: STSv1\nmode: none\nmax_age: 0\n", &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->mode, Mode::kNone);
}

TEST(MtaStsPolicy, RefusesWhatIsNotAPolicy) {
  std::string why;
  EXPECT_FALSE(parse_policy("", &why));
  EXPECT_FALSE(parse_policy("<html>not found</html>", &why));
  EXPECT_FALSE(parse_policy("version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n", &why));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n", &why));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n", &why));  // no mx
  EXPECT_NE(why.find("mx"), std::string::npos);
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: a.b\n", &why));  // no max_age
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmode: testing\nmx: a.b\nmax_age: 1\n", &why));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: *.*.b\nmax_age: 1\n", &why));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: a*.b\nmax_age: 1\n", &why));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n", &why));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: a.b\x01\nmax_age: 1\n", &why));
  std::string many = "version: STSv1\nmode: enforce\nmax_age: 1\n";
  for (int i = 0; i < 257; ++i) many += "mx: m" + std::to_string(i) + ".example\n";
  EXPECT_FALSE(parse_policy(many, &why));
  EXPECT_FALSE(parse_policy(std::string(kMaxPolicyBytes + 1, 'a'), &why));
  EXPECT_FALSE(parse_policy("version: STSv1\nmx: " + std::string(2000, 'a') + "\n", &why));
}

TEST(MtaStsMatch, WildcardsMatchOneLabel) {
  EXPECT_TRUE(mx_matches("mail.example.com", "mail.example.com"));
  EXPECT_TRUE(mx_matches("mail.example.com", "MAIL.Example.com."));
  EXPECT_FALSE(mx_matches("mail.example.com", "mail2.example.com"));
  EXPECT_TRUE(mx_matches("*.example.net", "mx1.example.net"));
  EXPECT_TRUE(mx_matches("*.example.net", "MX1.EXAMPLE.NET."));
  EXPECT_FALSE(mx_matches("*.example.net", "example.net"));
  EXPECT_FALSE(mx_matches("*.example.net", "a.b.example.net"));
  EXPECT_FALSE(mx_matches("*.example.net", "xexample.net"));
  EXPECT_FALSE(mx_matches("*.example.net", ".example.net"));
  Policy p;
  p.mx = {"mail.example.com", "*.example.net"};
  EXPECT_TRUE(policy_allows(p, "mx9.example.net"));
  EXPECT_FALSE(policy_allows(p, "evil.example.org"));
}

TEST(MtaStsCache, WhenToFetchAndWhatApplies) {
  TxtAnswer found{TxtStatus::kFound, "id2", ""};
  TxtAnswer absent{TxtStatus::kAbsent, "", ""};
  TxtAnswer temporary{TxtStatus::kTemporary, "", "timeout"};
  const std::optional<Cached> none;
  const std::optional<Cached> same{Cached{"id2", "text", true}};
  const std::optional<Cached> old_id{Cached{"id1", "text", true}};
  const std::optional<Cached> expired{Cached{"id2", "text", false}};
  EXPECT_EQ(next_step(found, none), Step::kFetch);
  EXPECT_EQ(next_step(found, same), Step::kUseCached);
  EXPECT_EQ(next_step(found, old_id), Step::kFetch);  // the id changed: refresh
  EXPECT_EQ(next_step(found, expired), Step::kFetch);
  EXPECT_EQ(next_step(absent, same), Step::kUseCached);  // a removed TXT does not void a fresh policy
  EXPECT_EQ(next_step(absent, none), Step::kNoPolicy);
  EXPECT_EQ(next_step(absent, expired), Step::kNoPolicy);
  EXPECT_EQ(next_step(temporary, old_id), Step::kUseCached);
  EXPECT_TRUE(use_cached_after_fetch_failure(old_id));
  EXPECT_FALSE(use_cached_after_fetch_failure(expired));
  EXPECT_FALSE(use_cached_after_fetch_failure(none));
}
