// GETQUOTAROOT, GETQUOTA, SETQUOTA (RFC 9208) with the limits in (fake) authd
// and the usage from the store (commands/quota.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

class Quota : public ::testing::Test {
 protected:
  SessionHarness h;
  std::string message = "Subject: q\r\n\r\n" + std::string(2000, 'q') + "\r\n";  // 2016 octets: 2 KiB
  void SetUp() override {
    h.login();
    h.auth().add("other@example.test", "pw");
    h.add_message(message);
  }
  void limit(int64_t bytes, int64_t messages) {
    auto& a = h.auth().account(SessionHarness::kUser);
    a.quota_bytes = bytes;
    a.quota_messages = messages;
  }
};

TEST_F(Quota, NoLimitsNoRoot) {
  EXPECT_EQ(h.run("a GETQUOTAROOT INBOX"), "* QUOTAROOT INBOX\r\na OK GETQUOTAROOT completed\r\n");
  EXPECT_EQ(h.run("b GETQUOTA \"\""), "b NO [NONEXISTENT] No such quota root\r\n");
}

TEST_F(Quota, GetquotarootReadsTheCurrentLimits) {
  limit(10 * 1024, 100);  // changed in authd after login: re-read
  EXPECT_EQ(h.run("a GETQUOTAROOT INBOX"),
            "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 2 10 MESSAGE 1 100)\r\na OK GETQUOTAROOT completed\r\n");
  EXPECT_EQ(h.session().quota_bytes, 10 * 1024);
  limit(0, 5);  // only the resources with a limit are listed
  EXPECT_EQ(h.run("b GETQUOTA \"\""), "* QUOTA \"\" (MESSAGE 1 5)\r\nb OK GETQUOTA completed\r\n");
  EXPECT_EQ(h.run("c GETQUOTAROOT Nowhere"), "c NO [NONEXISTENT] No such mailbox\r\n");
  EXPECT_EQ(h.run("d GETQUOTA other"), "d NO [NONEXISTENT] No such quota root\r\n");
}

TEST_F(Quota, OtherUsersRootsAreForAdmins) {
  EXPECT_EQ(h.run("a GETQUOTA user/other@example.test"), "a NO [NOPERM] Permission denied\r\n");
  EXPECT_EQ(h.run("b SETQUOTA user/other@example.test (STORAGE 512)"), "b NO [NOPERM] Permission denied\r\n");
  // The account's own root by name is readable.
  EXPECT_EQ(h.run("c GETQUOTA user/user@example.test"),
            "* QUOTA \"user/user@example.test\" ()\r\nc OK GETQUOTA completed\r\n");
}

TEST_F(Quota, AdminSetsAndReads) {
  h.auth().account(SessionHarness::kUser).admin = true;
  EXPECT_EQ(h.run("a SETQUOTA user/other@example.test (STORAGE 512 MESSAGE 10)"),
            "* QUOTA \"user/other@example.test\" (STORAGE 0 512 MESSAGE 0 10)\r\na OK SETQUOTA completed\r\n");
  EXPECT_EQ(h.auth().account("other@example.test").quota_bytes, 512 * 1024);
  EXPECT_EQ(h.run("b GETQUOTA user/other@example.test"),
            "* QUOTA \"user/other@example.test\" (STORAGE 0 512 MESSAGE 0 10)\r\nb OK GETQUOTA completed\r\n");
  // Resources not listed have no limit afterwards (RFC 9208 4.1.3).
  EXPECT_EQ(h.run("c SETQUOTA user/other@example.test ()"),
            "* QUOTA \"user/other@example.test\" ()\r\nc OK SETQUOTA completed\r\n");
  // Its own root: the session's limits follow.
  h.run("d SETQUOTA \"\" (MESSAGE 3)");
  EXPECT_EQ(h.session().quota_messages, 3);
  EXPECT_EQ(h.run("e SETQUOTA user/nobody@example.test (MESSAGE 1)"), "e NO [NONEXISTENT] No such quota root\r\n");
  EXPECT_EQ(h.run("f SETQUOTA Trash (MESSAGE 1)"), "f NO [NONEXISTENT] No such quota root\r\n");
  EXPECT_EQ(h.run("g SETQUOTA \"\" (MAILBOX 5 STORAGE 1)"), "g NO Unsupported quota resource MAILBOX\r\n");
  EXPECT_EQ(h.session().quota_messages, 3);
}

TEST_F(Quota, BadSetquotaChangesNothing) {
  h.auth().account(SessionHarness::kUser).admin = true;
  for (const char* bad : {"a SETQUOTA \"\" (MESSAGE)", "a SETQUOTA \"\" (MESSAGE 1 MESSAGE 2)",
                          "a SETQUOTA \"\" (STORAGE 1099511627777)", "a SETQUOTA \"\" (STORAGE 9223372036854775808)",
                          "a SETQUOTA \"\" STORAGE 1", "a SETQUOTA \"\" (STORAGE 1) x", "a SETQUOTA \"\"",
                          "a GETQUOTA", "a GETQUOTAROOT"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad;
  }
  EXPECT_EQ(h.auth().account(SessionHarness::kUser).quota_messages, 0);
}

TEST_F(Quota, AuthdUnreachable) {
  h.auth().unreachable = true;
  EXPECT_EQ(h.run("a GETQUOTA user/other@example.test"),
            "a NO [UNAVAILABLE] Quota service unavailable, try again later\r\n");
  // The limits read at login stay (none here).
  EXPECT_EQ(h.run("b GETQUOTAROOT INBOX"), "* QUOTAROOT INBOX\r\nb OK GETQUOTAROOT completed\r\n");
}

}  // namespace
}  // namespace postline::imap
