// The URLAUTH helper (urlauth.h): URL parsing, the INTERNAL token, access
// identifiers, and fetch_authorized against the in-memory store.
#include "common/urlauth/urlauth.h"

#include "common/mailstore/memory/memory_mail_store.h"

#include <gtest/gtest.h>

namespace postline::urlauth {
namespace {

constexpr const char* kRump = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred";

TEST(UrlauthUrl, ParsesTheRfcExampleRump) {
  auto u = parse_urlauth_url(kRump);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->rump, kRump);
  EXPECT_EQ(u->owner, "joe");
  EXPECT_EQ(u->access, "submit+fred");
  EXPECT_EQ(u->mechanism, "");
  EXPECT_EQ(u->token, "");
  EXPECT_FALSE(u->expire.has_value());
  EXPECT_EQ(u->message.mailbox, "INBOX");
  EXPECT_EQ(u->message.uid, 20u);
  EXPECT_EQ(u->message.section, "1.2");
}

TEST(UrlauthUrl, ParsesAnAuthorizedUrlWithExpiry) {
  const std::string text =
      "imap://joe%40example.com@imap.example.com/Drafts;UIDVALIDITY=385759045/;UID=20;EXPIRE=2006-04-20T13:00:00Z"
      ";URLAUTH=anonymous:INTERNAL:91354a473744909de610943775f92038";
  auto u = parse_urlauth_url(text);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->owner, "joe@example.com");
  EXPECT_EQ(u->rump, text.substr(0, text.find(":INTERNAL")));
  EXPECT_EQ(u->mechanism, "internal");
  EXPECT_EQ(u->token, "91354a473744909de610943775f92038");
  EXPECT_EQ(u->expire, 1145538000);
  EXPECT_EQ(u->message.mailbox, "Drafts");
  EXPECT_EQ(u->message.uidvalidity, 385759045u);
  EXPECT_EQ(u->message.uid, 20u);
}

TEST(UrlauthUrl, RefusesWhatIsNotAUrlauthUrl) {
  for (const char* bad : {
           "imap://joe@example.com/INBOX/;uid=20",                                  // no URLAUTH
           "/INBOX/;uid=20;urlauth=anonymous",                                      // relative
           "imap://example.com/INBOX/;uid=20;urlauth=anonymous",                   // no user
           "imap://joe@example.com/INBOX;urlauth=anonymous",                       // no UID
           "imap://joe@example.com/INBOX/;uid=20;urlauth=everyone",                // unknown access
           "imap://joe@example.com/INBOX/;uid=20;urlauth=submit+",                 // no user in access
           "imap://joe@example.com/INBOX/;uid=20;urlauth=anonymous:internal",      // no token
           "imap://joe@example.com/INBOX/;uid=20;urlauth=anonymous:internal:xyz",  // short, not hex
           "imap://joe@example.com/INBOX/;uid=20;urlauth=anonymous:internal:91354a473744909de610943775f9203g",
           "imap://joe@example.com/INBOX/;uid=20;expire=yesterday;urlauth=anonymous",
           "http://joe@example.com/INBOX/;uid=20;urlauth=anonymous",
       })
    EXPECT_FALSE(parse_urlauth_url(bad).has_value()) << bad;
}

TEST(UrlauthUrl, DateTimes) {
  EXPECT_EQ(parse_date_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_date_time("2006-04-20T15:00:00.25+02:00"), 1145538000);
  EXPECT_EQ(parse_date_time("2006-04-20T08:00:00-05:00"), 1145538000);
  EXPECT_EQ(parse_date_time("2024-02-29T00:00:00Z"), 1709164800);
  for (const char* bad : {"2023-02-29T00:00:00Z", "2006-04-20 13:00:00Z", "2006-04-20T13:00:00", "2006-13-01T00:00:00Z",
                          "2006-04-20T24:00:00Z", "2006-04-20T13:00:00+0200", "2006-04-20T13:00:00Zjunk"})
    EXPECT_FALSE(parse_date_time(bad).has_value()) << bad;
}

TEST(InternalToken, IsHmacSha256OfTheRumpInHex) {
  // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
  EXPECT_EQ(internal_token("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const std::string key(32, 'k');
  const std::string token = internal_token(key, kRump);
  EXPECT_EQ(token.size(), 64u);
  EXPECT_TRUE(verify_internal_token(key, kRump, token));
  std::string upper = token;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(verify_internal_token(key, kRump, upper)) << "hex is case-insensitive";
  EXPECT_FALSE(verify_internal_token(std::string(32, 'x'), kRump, token)) << "another key";
  EXPECT_FALSE(verify_internal_token(key, std::string(kRump) + "x", token)) << "another URL";
  EXPECT_FALSE(verify_internal_token(key, kRump, token.substr(0, 62))) << "truncated";
  std::string flipped = token;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  EXPECT_FALSE(verify_internal_token(key, kRump, flipped));
}

TEST(AccessIdentifiers, WhoMayFetch) {
  using F = Fetcher;
  EXPECT_TRUE(access_permits("anonymous", F::kImapSession, ""));
  EXPECT_TRUE(access_permits("AuthUser", F::kImapSession, "fred"));
  EXPECT_FALSE(access_permits("authuser", F::kImapSession, ""));
  EXPECT_TRUE(access_permits("user+fred", F::kImapSession, "Fred"));
  EXPECT_FALSE(access_permits("user+fred", F::kImapSession, "joe"));
  EXPECT_FALSE(access_permits("user+fred", F::kSubmission, "fred")) << "user+ is for IMAP sessions";
  EXPECT_TRUE(access_permits("submit+fred%40example.com", F::kSubmission, "fred@example.com"));
  EXPECT_FALSE(access_permits("submit+fred", F::kImapSession, "fred")) << "an IMAP session is no submission server";
  EXPECT_FALSE(access_permits("submit+fred", F::kSubmission, "joe"));
}

class FetchAuthorized : public ::testing::Test {
 protected:
  static constexpr mailstore::UserId kJoe = 7;
  static constexpr const char* kMessage =
      "From: joe@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nSi vis pacem, para bellum.\r\n--b--\r\n";
  void SetUp() override {
    store.ensure_account(kJoe);
    auto r = store.append(kJoe, "INBOX", {mailstore::AppendItem{kMessage}});
    ASSERT_EQ(r.uids.size(), 1u);
    uid = r.uids[0];
    uidvalidity = r.uidvalidity;
  }
  // GENURLAUTH's work: the rump plus ":internal:" and the token.
  std::string authorize(const std::string& rump) {
    auto key = store.urlauth_key(kJoe, "INBOX", true);
    return rump + ":internal:" + internal_token(*key, rump);
  }
  Fetched fetch(const std::string& text, int64_t now = 1'000'000'000) {
    auto url = parse_urlauth_url(text);
    EXPECT_TRUE(url.has_value()) << text;
    if (!url) return {};
    return fetch_authorized(store, kJoe, *url, now);
  }
  mailstore::MemoryMailStore store;
  uint32_t uid = 0;
  int64_t uidvalidity = 0;
};

TEST_F(FetchAuthorized, ReadsTheMessageAPartAndAPartial) {
  const std::string base = "imap://joe@example.com/INBOX;UIDVALIDITY=" + std::to_string(uidvalidity) +
                           "/;UID=" + std::to_string(uid);
  Fetched whole = fetch(authorize(base + ";URLAUTH=anonymous"));
  EXPECT_EQ(whole.status, FetchStatus::kOk);
  EXPECT_EQ(whole.bytes, kMessage);
  Fetched part = fetch(authorize(base + "/;SECTION=2;URLAUTH=authuser"));
  EXPECT_EQ(part.status, FetchStatus::kOk);
  EXPECT_EQ(part.bytes, "Si vis pacem, para bellum.");
  Fetched partial = fetch(authorize(base + "/;SECTION=2/;PARTIAL=3.4;URLAUTH=authuser"));
  EXPECT_EQ(partial.bytes, "vis ");
  EXPECT_EQ(fetch(authorize(base + "/;SECTION=9;URLAUTH=authuser")).status, FetchStatus::kNotFound);
  EXPECT_EQ(fetch(authorize("imap://joe@example.com/INBOX/;UID=999;URLAUTH=authuser")).status, FetchStatus::kNotFound);
}

TEST_F(FetchAuthorized, RefusesForgedStaleExpiredAndResetUrls) {
  const std::string rump = "imap://joe@example.com/INBOX/;UID=" + std::to_string(uid) + ";URLAUTH=anonymous";
  const std::string good = authorize(rump);
  EXPECT_EQ(fetch(good).status, FetchStatus::kOk);
  // A token for another URL, a made-up one, another mechanism.
  const std::string other = authorize("imap://joe@example.com/INBOX/;UID=" + std::to_string(uid) + ";URLAUTH=authuser");
  EXPECT_EQ(fetch(rump + other.substr(other.find(":internal:"))).status, FetchStatus::kInvalid);
  EXPECT_EQ(fetch(rump + ":internal:" + std::string(64, 'a')).status, FetchStatus::kInvalid);
  EXPECT_EQ(fetch(rump + ":other:" + good.substr(good.rfind(':') + 1)).status, FetchStatus::kInvalid);
  // Expiry: before it works, after it does not.
  const std::string expiring = authorize("imap://joe@example.com/INBOX/;UID=" + std::to_string(uid) +
                                         ";EXPIRE=2001-09-09T01:46:40Z;URLAUTH=anonymous");
  EXPECT_EQ(fetch(expiring, 999'999'999).status, FetchStatus::kOk);
  EXPECT_EQ(fetch(expiring, 1'000'000'000).status, FetchStatus::kInvalid);
  // A stale UIDVALIDITY.
  EXPECT_EQ(fetch(authorize("imap://joe@example.com/INBOX;UIDVALIDITY=" + std::to_string(uidvalidity + 1) +
                            "/;UID=" + std::to_string(uid) + ";URLAUTH=anonymous"))
                .status,
            FetchStatus::kInvalid);
  // RESETKEY: the old URL stops working.
  store.reset_urlauth_keys(kJoe, "INBOX");
  EXPECT_EQ(fetch(good).status, FetchStatus::kInvalid);
  EXPECT_EQ(fetch(authorize(rump)).status, FetchStatus::kOk);
}

}  // namespace
}  // namespace postline::urlauth
