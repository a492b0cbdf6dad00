// CAPABILITY, NOOP, LOGOUT, ID, ENABLE, CHECK (commands/any_state.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

TEST(Capability, BeforeAndAfterLogin) {
  Settings settings = SessionHarness::plaintext_settings();
  settings.max_literal = 1000;
  SessionHarness h(settings);
  EXPECT_EQ(h.run("a1 CAPABILITY"),
            "* CAPABILITY IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE AUTH=PLAIN AUTH=LOGIN "
            "AUTH=SCRAM-SHA-256\r\na1 OK CAPABILITY completed\r\n");
  h.login();
  const std::string r = h.run("a2 CAPABILITY");
  EXPECT_NE(r.find(" CONDSTORE QRESYNC "), std::string::npos) << r;
  EXPECT_NE(r.find(" NOTIFY METADATA METADATA-SERVER APPENDLIMIT=1000\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("AUTH="), std::string::npos) << r;
  EXPECT_EQ(h.run("a3 CAPABILITY IMAP4rev2"),
            "a3 BAD Invalid arguments: unexpected characters after the command\r\n");
}

TEST(Capability, StarttlsOfferedOnlyWithoutTls) {
  Settings settings = SessionHarness::plaintext_settings();
  settings.tls_available = true;
  settings.allow_plaintext_auth = false;
  SessionHarness h(settings);
  const std::string r = h.run("a1 CAPABILITY");
  EXPECT_NE(r.find(" STARTTLS LOGINDISABLED\r\n"), std::string::npos) << r;
  h.session().tls = true;
  EXPECT_EQ(h.run("a2 CAPABILITY").find("STARTTLS"), std::string::npos);
}

TEST(Noop, NotAuthenticatedAndSelected) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 NOOP"), "a1 OK NOOP completed\r\n");
  h.login();
  h.select();
  h.add_message("Subject: x\r\n\r\nx\r\n");
  h.mark_dirty();
  EXPECT_EQ(h.run("a2 NOOP"), "* 1 EXISTS\r\na2 OK NOOP completed\r\n");
  // NOOP itself reads the store: the client gets new mail even without a notification.
  h.add_message("Subject: y\r\n\r\ny\r\n");
  EXPECT_EQ(h.run("a3 NOOP"), "* 2 EXISTS\r\na3 OK NOOP completed\r\n");
  EXPECT_EQ(h.run("a4 NOOP x"), "a4 BAD Invalid arguments: unexpected characters after the command\r\n");
}

TEST(Check, LikeNoopInTheSelectedState) {
  SessionHarness h;
  h.login();
  EXPECT_EQ(h.run("a1 CHECK"), "a1 BAD Select a mailbox first\r\n");
  h.select();
  h.add_message("Subject: x\r\n\r\nx\r\n");
  EXPECT_EQ(h.run("a2 CHECK"), "* 1 EXISTS\r\na2 OK CHECK completed\r\n");
}

TEST(Logout, SaysByeAndCloses) {
  SessionHarness h;
  h.login();
  EXPECT_EQ(h.run("a1 LOGOUT x"), "a1 BAD Invalid arguments: unexpected characters after the command\r\n");
  EXPECT_EQ(h.session().state, State::kAuthenticated);
  EXPECT_EQ(h.run("a2 LOGOUT"), "* BYE Postline IMAP signing off\r\na2 OK LOGOUT completed\r\n");
  EXPECT_EQ(h.session().state, State::kLogout);
  EXPECT_EQ(h.last().effect, Effect::kClose);
}

TEST(Id, AnswersWithOurNameOnly) {
  // RFC 2971 3.1's example.
  SessionHarness h;
  EXPECT_EQ(h.run("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")"),
            "* ID (\"name\" \"Postline\")\r\na023 OK ID completed\r\n");
  EXPECT_EQ(h.run("a1 ID NIL"), "* ID (\"name\" \"Postline\")\r\na1 OK ID completed\r\n");
  EXPECT_EQ(h.run("a2 ID ()"), "* ID (\"name\" \"Postline\")\r\na2 OK ID completed\r\n");
  EXPECT_EQ(h.run("a3 ID (\"name\" NIL)"), "* ID (\"name\" \"Postline\")\r\na3 OK ID completed\r\n");
}

TEST(Id, BadParametersSendNothing) {
  SessionHarness h;
  for (const std::string& bad : std::vector<std::string>{"a ID", "a ID \"x\"", "a ID (\"name\")", "a ID (\"name\" \"x\"", "a ID (name x)",
                                "a ID (\"" + std::string(31, 'f') + "\" \"x\")",
                                "a ID (\"name\" \"" + std::string(1025, 'v') + "\")"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD Invalid arguments: ", 0), 0u) << bad << " -> " << r;
    EXPECT_EQ(r.find("* ID"), std::string::npos) << bad;
  }
  std::string many = "a ID (";
  for (int i = 0; i < 31; ++i) many += (i ? " \"f" : "\"f") + std::to_string(i) + "\" \"v\"";
  EXPECT_EQ(h.run(many + ")"), "a BAD Invalid arguments: more than 30 ID parameters\r\n");
}

TEST(Enable, TurnsOnWhatIsImplementedOnce) {
  SessionHarness h;
  h.login();
  // RFC 5161 4's example; X-GOOD-IDEA is unknown and ignored.
  EXPECT_EQ(h.run("t2 ENABLE CONDSTORE X-GOOD-IDEA"), "* ENABLED CONDSTORE\r\nt2 OK ENABLE completed\r\n");
  EXPECT_TRUE(h.session().condstore);
  EXPECT_EQ(h.run("t3 ENABLE CONDSTORE"), "* ENABLED\r\nt3 OK ENABLE completed\r\n");  // already on
  EXPECT_EQ(h.run("t4 enable utf8=accept"), "* ENABLED UTF8=ACCEPT\r\nt4 OK ENABLE completed\r\n");
  EXPECT_TRUE(h.session().utf8_accept);
  EXPECT_EQ(h.run("t5 ENABLE IMAP4rev2"), "* ENABLED IMAP4rev2\r\nt5 OK ENABLE completed\r\n");
  EXPECT_TRUE(h.session().rev2);
}

TEST(Enable, QresyncImpliesCondstore) {
  SessionHarness h;
  h.login();
  EXPECT_EQ(h.run("a1 ENABLE QRESYNC"), "* ENABLED CONDSTORE QRESYNC\r\na1 OK ENABLE completed\r\n");
  EXPECT_TRUE(h.session().condstore);
  EXPECT_TRUE(h.session().qresync);
}

TEST(Enable, Rev2EnablesUtf8Names) {
  SessionHarness h;
  h.login();
  h.run("a1 ENABLE IMAP4rev2");
  EXPECT_TRUE(h.session().utf8_accept);
  EXPECT_EQ(h.run("a2 ENABLE UTF8=ACCEPT"), "* ENABLED\r\na2 OK ENABLE completed\r\n");
}

TEST(Enable, BadCommandEnablesNothing) {
  SessionHarness h;
  h.login();
  for (const char* bad : {"a ENABLE", "a ENABLE ", "a ENABLE CONDSTORE QRESYNC (", "a ENABLE QRESYNC \"x\"",
                          "a ENABLE CONDSTORE  QRESYNC"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD ", 0), 0u) << bad;
    EXPECT_FALSE(h.session().condstore) << bad;
    EXPECT_FALSE(h.session().qresync) << bad;
  }
  EXPECT_EQ(h.run("a ENABLE CONDSTORE"), "* ENABLED CONDSTORE\r\na OK ENABLE completed\r\n");
}

TEST(Enable, NotBeforeLogin) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 ENABLE CONDSTORE"), "a1 BAD Log in first\r\n");
  EXPECT_FALSE(h.session().condstore);
}

}  // namespace
}  // namespace postline::imap
