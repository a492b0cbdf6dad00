// GENURLAUTH, RESETKEY and URLFETCH (RFC 4467) through the dispatcher against
// the in-memory store (commands/urlauth.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include "common/urlauth/urlauth.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

constexpr const char* kMessage =
    "From: user@example.test\r\nSubject: draft\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nSi vis pacem, para bellum.\r\n--b--\r\n";

class Urlauth : public ::testing::Test {
 protected:
  SessionHarness h;
  uint32_t uid = 0;
  void SetUp() override {
    h.login();
    auto r = h.store().append(h.user_id(), "INBOX", {mailstore::AppendItem{kMessage}});
    ASSERT_EQ(r.uids.size(), 1u);
    uid = r.uids[0];
  }
  std::string rump(const std::string& tail, const std::string& user = "user%40example.test") {
    return "imap://" + user + "@imap.example.test/INBOX/;UID=" + std::to_string(uid) + tail;
  }
  // GENURLAUTH of one URL: the authorized URL, or "" when it failed.
  std::string authorize(const std::string& url) {
    const std::string out = h.run("g GENURLAUTH \"" + url + "\" INTERNAL");
    const std::string head = "* GENURLAUTH \"";
    if (!out.starts_with(head)) return "";
    return out.substr(head.size(), out.find('"', head.size()) - head.size());
  }
};

TEST_F(Urlauth, IsAdvertisedAfterLogin) {
  EXPECT_NE(h.run("c CAPABILITY").find(" URLAUTH "), std::string::npos);
  SessionHarness fresh;
  EXPECT_EQ(fresh.run("c CAPABILITY").find("URLAUTH"), std::string::npos);
  EXPECT_TRUE(fresh.run("a URLFETCH \"x\"").starts_with("a BAD")) << "needs a login";
}

TEST_F(Urlauth, GenurlauthThenUrlfetchOfTheMessageAndOfAPart) {
  const std::string whole_rump = rump(";URLAUTH=user+user@example.test");
  const std::string whole = authorize(whole_rump);
  ASSERT_FALSE(whole.empty());
  // The RFC's form: the rump, ":internal:", the token (HMAC-SHA256 of the rump, hex).
  auto key = h.store().urlauth_key(h.user_id(), "INBOX", false);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(whole, whole_rump + ":internal:" + urlauth::internal_token(*key, whole_rump));
  EXPECT_EQ(h.run("f URLFETCH \"" + whole + "\""), "* URLFETCH \"" + whole + "\" {" +
                                                        std::to_string(std::string(kMessage).size()) + "}\r\n" +
                                                        kMessage + "\r\nf OK URLFETCH completed\r\n");
  const std::string part = authorize(rump("/;SECTION=2;URLAUTH=authuser"));
  ASSERT_FALSE(part.empty());
  EXPECT_EQ(h.run("f URLFETCH \"" + part + "\" \"" + whole + "x\""),
            "* URLFETCH \"" + part + "\" {26}\r\nSi vis pacem, para bellum. \"" + whole +
                "x\" NIL\r\nf OK URLFETCH completed\r\n");
  // Several URLs in one GENURLAUTH.
  EXPECT_TRUE(h.run("g GENURLAUTH \"" + whole_rump + "\" INTERNAL \"" + rump(";URLAUTH=anonymous") + "\" internal")
                  .starts_with("* GENURLAUTH \"" + whole + "\" \""));
  // Fetching does not set \Seen.
  EXPECT_TRUE(h.store().read_messages(h.user_id(), h.store().find_mailbox(h.user_id(), "INBOX")->mailbox_id, {uid},
                                      mailstore::kFieldFlags)[0]
                  .flags.system == 0);
}

TEST_F(Urlauth, UrlfetchAnswersNilForWhatDoesNotVerify) {
  const std::string expired = authorize(rump(";EXPIRE=2001-09-09T01:46:40Z;URLAUTH=anonymous"));
  ASSERT_FALSE(expired.empty());
  const std::string future = authorize(rump(";EXPIRE=2999-01-01T00:00:00Z;URLAUTH=anonymous"));
  ASSERT_FALSE(future.empty());
  const std::string submit = authorize(rump(";URLAUTH=submit+user%40example.test"));
  const std::string other_user = authorize(rump(";URLAUTH=user+other@example.test"));
  ASSERT_FALSE(submit.empty());
  ASSERT_FALSE(other_user.empty());
  const std::string forged = rump(";URLAUTH=anonymous") + ":internal:" + std::string(64, '0');
  std::string out = h.run("f URLFETCH \"" + expired + "\" \"" + submit + "\" \"" + other_user + "\" \"" + forged +
                          "\" \"not a url\"");
  EXPECT_EQ(out, "* URLFETCH \"" + expired + "\" NIL \"" + submit + "\" NIL \"" + other_user + "\" NIL \"" + forged +
                     "\" NIL \"not a url\" NIL\r\nf OK URLFETCH completed\r\n");
  EXPECT_TRUE(h.run("f URLFETCH \"" + future + "\"").find("NIL") == std::string::npos);
  // A message that is gone.
  const std::string gone = authorize("imap://user@example.test@imap.example.test/INBOX/;UID=999;URLAUTH=anonymous");
  ASSERT_FALSE(gone.empty()) << "the message is not checked at GENURLAUTH";
  EXPECT_EQ(h.run("f URLFETCH \"" + gone + "\""), "* URLFETCH \"" + gone + "\" NIL\r\nf OK URLFETCH completed\r\n");
}

TEST_F(Urlauth, AnotherUserCannotUseTheUrl) {
  const std::string url = authorize(rump(";URLAUTH=user+user@example.test"));
  ASSERT_FALSE(url.empty());
  h.auth().add("other@example.test", "pw");
  auto other = h.another_session();
  other->login("other@example.test", "pw");
  EXPECT_EQ(other->run("f URLFETCH \"" + url + "\""), "* URLFETCH \"" + url + "\" NIL\r\nf OK URLFETCH completed\r\n");
  // Nor authorize URLs of someone else's mailboxes.
  EXPECT_TRUE(other->run("g GENURLAUTH \"" + rump(";URLAUTH=anonymous") + "\" INTERNAL").starts_with("g NO "));
}

TEST_F(Urlauth, GenurlauthRefusals) {
  EXPECT_TRUE(h.run("g GENURLAUTH \"imap://user@example.test@h/INBOX/;UID=1\" INTERNAL").starts_with("g BAD"))
      << "no ;URLAUTH=";
  EXPECT_TRUE(h.run("g GENURLAUTH \"" + rump(";URLAUTH=anonymous:internal:" + std::string(64, '0')) + "\" INTERNAL")
                  .starts_with("g BAD"))
      << "already authorized";
  EXPECT_TRUE(h.run("g GENURLAUTH \"" + rump(";URLAUTH=anonymous") + "\" XOAUTH").starts_with("g NO "));
  EXPECT_TRUE(h.run("g GENURLAUTH \"" + rump(";URLAUTH=anonymous") + "\"").starts_with("g BAD")) << "no mechanism";
  EXPECT_EQ(h.run("g GENURLAUTH \"imap://user@example.test@h/Nope/;UID=1;URLAUTH=anonymous\" INTERNAL"),
            "g NO [NONEXISTENT] No such mailbox\r\n");
}

TEST_F(Urlauth, ResetkeyInvalidatesOldUrls) {
  const std::string url = authorize(rump(";URLAUTH=anonymous"));
  ASSERT_FALSE(url.empty());
  EXPECT_EQ(h.run("r RESETKEY INBOX INTERNAL"), "r OK [URLMECH INTERNAL] RESETKEY completed\r\n");
  EXPECT_EQ(h.run("f URLFETCH \"" + url + "\""), "* URLFETCH \"" + url + "\" NIL\r\nf OK URLFETCH completed\r\n");
  const std::string fresh = authorize(rump(";URLAUTH=anonymous"));
  EXPECT_NE(fresh, url);
  EXPECT_EQ(h.run("f URLFETCH \"" + fresh + "\"").find("NIL"), std::string::npos);
  EXPECT_EQ(h.run("r RESETKEY"), "r OK All keys removed\r\n");
  EXPECT_NE(h.run("f URLFETCH \"" + fresh + "\"").find("NIL"), std::string::npos);
  EXPECT_EQ(h.run("r RESETKEY Nope"), "r NO [NONEXISTENT] No such mailbox\r\n");
  EXPECT_TRUE(h.run("r RESETKEY INBOX XOAUTH").starts_with("r NO "));
}

}  // namespace
}  // namespace postline::imap
