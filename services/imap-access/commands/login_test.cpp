// LOGIN, AUTHENTICATE PLAIN/LOGIN through to a logged-in session, STARTTLS
// (commands/login.cpp). SCRAM's relaying to authd is in authenticate_test.cpp.
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

std::string literal(const std::string& s) { return "{" + std::to_string(s.size()) + "+}\r\n" + s; }

TEST(Login, SucceedsWithCapabilitiesAndCreatesTheDefaultMailboxes) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  const std::string r = h.run("a001 LOGIN user@example.test secret");
  EXPECT_EQ(r.rfind("a001 OK [CAPABILITY IMAP4rev1 IMAP4rev2 ", 0), 0u) << r;
  EXPECT_NE(r.find(" CONDSTORE "), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 13), "] Logged in\r\n");
  EXPECT_EQ(h.session().state, State::kAuthenticated);
  EXPECT_EQ(h.session().username, "user@example.test");
  EXPECT_EQ(h.auth().attempts, std::vector<std::string>{"user@example.test:secret:LOGIN"});
  auto list = h.store().list(h.user_id());
  std::vector<std::string> names;
  for (const auto& mb : list.mailboxes) names.push_back(mb.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}));
}

// UNAUTHENTICATE (RFC 8437): the login and everything it set up are gone, the
// connection can log in as another user.
TEST(Login, UnauthenticateReturnsToNotAuthenticated) {
  SessionHarness h;
  h.auth().add("other@example.test", "other secret");
  h.login();
  EXPECT_NE(h.run("c CAPABILITY").find(" UNAUTHENTICATE"), std::string::npos);
  h.run("e ENABLE CONDSTORE UTF8=ACCEPT");
  h.select();
  EXPECT_EQ(h.run("u UNAUTHENTICATE"), "u OK UNAUTHENTICATE completed\r\n");
  EXPECT_EQ(h.session().state, State::kNotAuthenticated);
  EXPECT_FALSE(h.session().selected);
  EXPECT_FALSE(h.session().condstore || h.session().utf8_accept);
  EXPECT_EQ(h.session().user_id, 0);
  EXPECT_EQ(h.run("s SELECT INBOX"), "s BAD Log in first\r\n");
  EXPECT_EQ(h.run("u UNAUTHENTICATE"), "u BAD Log in first\r\n");
  EXPECT_EQ(h.run("a LOGIN other@example.test \"other secret\"").rfind("a OK ", 0), 0u);
  EXPECT_EQ(h.session().username, "other@example.test");
  EXPECT_EQ(h.run("x UNAUTHENTICATE now").rfind("x BAD Invalid arguments: ", 0), 0u);
}

TEST(Login, QuotedAndLiteralCredentials) {
  SessionHarness h;
  h.auth().add("user@example.test", "pass word \"quoted\"");
  h.run("a1 LOGIN \"user@example.test\" " + literal("pass word \"quoted\""));
  EXPECT_EQ(h.last().status, Status::kOk);
}

TEST(Login, WrongPasswordIsAuthenticationFailed) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  EXPECT_EQ(h.run("a1 LOGIN user@example.test nope"), "a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
  EXPECT_EQ(h.session().state, State::kNotAuthenticated);
  h.auth().account("user@example.test").disabled = true;
  EXPECT_EQ(h.run("a2 LOGIN user@example.test secret"), "a2 NO [AUTHORIZATIONFAILED] Account disabled\r\n");
  h.auth().unreachable = true;
  EXPECT_EQ(h.run("a3 LOGIN user@example.test secret"),
            "a3 NO [UNAVAILABLE] Authentication service unavailable, try again later\r\n");
  EXPECT_EQ(h.session().state, State::kNotAuthenticated);
}

TEST(Login, NulInCredentialsIsBadAndNeverReachesAuthd) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  const std::string nul_user = std::string("user@example.test\0admin", 23);
  const std::string nul_password = std::string("secret\0x", 8);
  EXPECT_EQ(h.run("a1 LOGIN " + literal(nul_user) + " secret"),
            "a1 BAD Invalid arguments: NUL in user name\r\n");
  EXPECT_EQ(h.run("a2 LOGIN user@example.test " + literal(nul_password)),
            "a2 BAD Invalid arguments: NUL in password\r\n");
  EXPECT_EQ(h.run("a3 LOGIN user@example.test " + literal(std::string(1025, 'p'))),
            "a3 BAD Invalid arguments: password longer than 1024 octets\r\n");
  EXPECT_TRUE(h.auth().attempts.empty());
}

TEST(Login, RefusedBeforeTlsWhenPlaintextIsOff) {
  Settings settings = SessionHarness::plaintext_settings();
  settings.allow_plaintext_auth = false;
  SessionHarness h(settings);
  h.auth().add("user@example.test", "secret");
  EXPECT_EQ(h.run("a1 LOGIN user@example.test secret"),
            "a1 NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS\r\n");
  EXPECT_EQ(h.run("a2 AUTHENTICATE PLAIN AHVzZXJAZXhhbXBsZS50ZXN0AHNlY3JldA=="),
            "a2 NO [PRIVACYREQUIRED] PLAIN is disabled before STARTTLS\r\n");
  EXPECT_TRUE(h.auth().attempts.empty());
  h.session().tls = true;
  h.run("a3 LOGIN user@example.test secret");
  EXPECT_EQ(h.last().status, Status::kOk);
}

// The default (imap.allow_plaintext_auth false): a remote client without TLS
// may not send a password, one on this host may (Dovecot's rule too).
TEST(Login, PlaintextOffByDefaultExceptFromLoopback) {
  SessionHarness h{Settings{}};
  h.auth().add("user@example.test", "secret");
  EXPECT_NE(h.run("a0 CAPABILITY").find("LOGINDISABLED"), std::string::npos);
  EXPECT_EQ(h.run("a1 LOGIN user@example.test secret"),
            "a1 NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS\r\n");
  for (const char* local : {"127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"}) {
    SessionHarness l{Settings{}};
    l.auth().add("user@example.test", "secret");
    l.session().remote_ip = local;
    EXPECT_NE(l.run("b0 CAPABILITY").find("AUTH=PLAIN"), std::string::npos) << local;
    l.run("b1 LOGIN user@example.test secret");
    EXPECT_EQ(l.last().status, Status::kOk) << local;
  }
  SessionHarness near{Settings{}};
  near.session().remote_ip = "128.0.0.1";
  EXPECT_NE(near.run("c0 CAPABILITY").find("LOGINDISABLED"), std::string::npos);
  // A TCP proxy on this host forwarding outside connections: loopback is not local then.
  Settings proxied;
  proxied.allow_plaintext_auth_from_loopback = false;
  SessionHarness p{proxied};
  p.session().remote_ip = "127.0.0.1";
  EXPECT_NE(p.run("d0 CAPABILITY").find("LOGINDISABLED"), std::string::npos);
}

// imap.max_connections_per_user: the slot is taken at login and given back
// by UNAUTHENTICATE (and by the end of the connection, server/connection.cpp).
TEST(Login, AnAccountOverItsConnectionLimitGetsNoLimit) {
  SessionHarness a;
  a.auth().add("user@example.test", "secret");
  auto slots = std::make_shared<net::ConnectionCounter>(net::ConnectionLimits{100, 1});
  a.services().user_slots = slots;
  a.run("a1 LOGIN user@example.test secret");
  EXPECT_EQ(a.last().status, Status::kOk);
  auto b = a.another_session();
  b->services().user_slots = slots;
  EXPECT_EQ(b->run("b1 LOGIN user@example.test secret"), "b1 NO [LIMIT] Too many connections for this account\r\n");
  EXPECT_EQ(b->session().state, State::kNotAuthenticated);
  a.run("a2 UNAUTHENTICATE");
  b->run("b2 LOGIN user@example.test secret");
  EXPECT_EQ(b->last().status, Status::kOk);
}

// "\0user@example.test\0secret" in base64.
constexpr const char* kPlain = "AHVzZXJAZXhhbXBsZS50ZXN0AHNlY3JldA==";

TEST(AuthenticatePlain, InitialResponse) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  const std::string r = h.run(std::string("a1 AUTHENTICATE PLAIN ") + kPlain);
  EXPECT_EQ(r.rfind("a1 OK [CAPABILITY ", 0), 0u) << r;
  EXPECT_EQ(h.session().state, State::kAuthenticated);
  EXPECT_EQ(h.auth().attempts, std::vector<std::string>{"user@example.test:secret:PLAIN"});
}

TEST(AuthenticatePlain, AfterAnEmptyContinuation) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  h.client_lines = {kPlain};
  const std::string r = h.run("a1 AUTHENTICATE PLAIN");
  EXPECT_EQ(r.rfind("+ \r\na1 OK [CAPABILITY ", 0), 0u) << r;
}

TEST(AuthenticatePlain, CancelBadBase64AndMalformedData) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  h.client_lines = {"*"};
  EXPECT_EQ(h.run("a1 AUTHENTICATE PLAIN"), "+ \r\na1 BAD Authentication cancelled\r\n");
  h.client_lines = {"not base64"};
  EXPECT_EQ(h.run("a2 AUTHENTICATE PLAIN"), "+ \r\na2 BAD Invalid base64 in authentication data\r\n");
  EXPECT_EQ(h.run("a3 AUTHENTICATE PLAIN"), "+ \r\na3 BAD Connection lost during authentication\r\n");
  // Invalid base64 as the initial response is a syntax error.
  EXPECT_EQ(h.run("a4 AUTHENTICATE PLAIN abc"),
            "a4 BAD Invalid arguments: invalid base64 in the initial response\r\n");
  // "user" alone (no NULs), and a third NUL inside the password.
  EXPECT_EQ(h.run("a5 AUTHENTICATE PLAIN dXNlcg=="), "a5 BAD Malformed PLAIN authentication data\r\n");
  // "\0user@example.test\0sec\0ret"
  EXPECT_EQ(h.run("a6 AUTHENTICATE PLAIN AHVzZXJAZXhhbXBsZS50ZXN0AHNlYwByZXQ="),
            "a6 BAD Malformed PLAIN authentication data\r\n");
  EXPECT_TRUE(h.auth().attempts.empty());
  EXPECT_EQ(h.session().state, State::kNotAuthenticated);
}

TEST(AuthenticatePlain, ActingAsAnotherUserIsRefused) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  // "admin@example.test\0user@example.test\0secret"
  EXPECT_EQ(h.run("a1 AUTHENTICATE PLAIN YWRtaW5AZXhhbXBsZS50ZXN0AHVzZXJAZXhhbXBsZS50ZXN0AHNlY3JldA=="),
            "a1 NO [AUTHORIZATIONFAILED] Authorization identity must match\r\n");
  // The same identity twice is fine: "user@example.test\0user@example.test\0secret"
  h.run("a2 AUTHENTICATE PLAIN dXNlckBleGFtcGxlLnRlc3QAdXNlckBleGFtcGxlLnRlc3QAc2VjcmV0");
  EXPECT_EQ(h.last().status, Status::kOk);
}

TEST(AuthenticateLogin, UsernameThenPassword) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  h.client_lines = {"dXNlckBleGFtcGxlLnRlc3Q=", "c2VjcmV0"};
  const std::string r = h.run("a1 AUTHENTICATE LOGIN");
  EXPECT_EQ(r.rfind("+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\na1 OK [CAPABILITY ", 0), 0u) << r;
  EXPECT_EQ(h.auth().attempts, std::vector<std::string>{"user@example.test:secret:LOGIN"});
}

TEST(AuthenticateLogin, NulInThePasswordIsBad) {
  SessionHarness h;
  h.auth().add("user@example.test", "secret");
  h.client_lines = {"c2VjAHJldA=="};  // "sec\0ret"
  EXPECT_EQ(h.run("a1 AUTHENTICATE LOGIN dXNlckBleGFtcGxlLnRlc3Q="), "+ UGFzc3dvcmQ6\r\na1 BAD Invalid password\r\n");
  EXPECT_TRUE(h.auth().attempts.empty());
}

TEST(Authenticate, UnknownMechanism) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 AUTHENTICATE GSSAPI"), "a1 NO [CANNOT] Unsupported authentication mechanism\r\n");
  EXPECT_EQ(h.run("a2 AUTHENTICATE"), "a2 BAD Invalid arguments: missing argument\r\n");
}

TEST(Starttls, NeedsATlsContextAndPlaintext) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 STARTTLS"), "a1 NO TLS is not configured\r\n");
  h.services().tls_context = [] { return std::shared_ptr<asio::ssl::context>(); };
  EXPECT_EQ(h.run("a2 STARTTLS x"), "a2 BAD Invalid arguments: unexpected characters after the command\r\n");
  EXPECT_EQ(h.last().effect, Effect::kNone);
  EXPECT_EQ(h.run("a3 STARTTLS"), "a3 OK Begin TLS negotiation now\r\n");
  EXPECT_EQ(h.last().effect, Effect::kStartTls);
  h.session().tls = true;
  EXPECT_EQ(h.run("a4 STARTTLS"), "a4 BAD TLS is already active\r\n");
  h.login();
  EXPECT_EQ(h.run("a5 STARTTLS"), "a5 BAD Select a mailbox first\r\n");  // not after login
}

}  // namespace
}  // namespace postline::imap
