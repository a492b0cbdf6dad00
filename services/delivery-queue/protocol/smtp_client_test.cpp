// The SMTP client core on byte strings: what it sends for what it hears.
#include "services/delivery-queue/protocol/smtp_client.h"

#include <gtest/gtest.h>

using namespace postline::queue::smtp;

namespace {

Envelope envelope(std::vector<std::string> rcpts) {
  Envelope e;
  e.mail_from = "alice@example.org";
  for (auto& r : rcpts) e.recipients.push_back({r, "", ""});
  return e;
}

Options opts(TlsPolicy tls = TlsPolicy::kOpportunistic) {
  Options o;
  o.ehlo_name = "mx.example.org";
  o.tls = tls;
  return o;
}

const std::string kMessage = "Subject: hi\r\n\r\n.leading dot\r\nbody\r\n";

}  // namespace

TEST(SmtpClient, PipelinedDeliveryWithOneRecipientRefused) {
  Client c(opts(), envelope({"a@remote.test", "b@remote.test"}), kMessage);
  EXPECT_EQ(c.take_output(), "");
  c.feed("220 mx.remote.test ESMTP\r\n");
  EXPECT_EQ(c.take_output(), "EHLO mx.example.org\r\n");
  c.feed("250-mx.remote.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n");
  EXPECT_EQ(c.take_output(),
            "MAIL FROM:<alice@example.org> SIZE=" + std::to_string(kMessage.size()) +
                "\r\nRCPT TO:<a@remote.test>\r\nRCPT TO:<b@remote.test>\r\nDATA\r\n");
  c.feed("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n");
  EXPECT_EQ(c.take_output(), "Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\n");
  EXPECT_FALSE(c.done());
  c.feed("250 2.0.0 queued as X\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.take_output(), "QUIT\r\n");
  ASSERT_EQ(c.outcomes().size(), 2u);
  EXPECT_EQ(c.outcomes()[0].cls, '2');
  EXPECT_EQ(c.outcomes()[0].reply, "250 2.0.0 queued as X");
  EXPECT_EQ(c.outcomes()[1].cls, '5');
  EXPECT_EQ(c.outcomes()[1].reply, "550 5.1.1 no such user");
  EXPECT_TRUE(c.outcomes()[1].remote_reply);
  EXPECT_FALSE(c.host_failure());
}

TEST(SmtpClient, RepliesMaySplitAnywhere) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  std::string server = "220 hi\r\n";
  for (char ch : server) c.feed(std::string(1, ch));
  EXPECT_EQ(c.take_output(), "EHLO mx.example.org\r\n");
}

TEST(SmtpClient, OpportunisticStartTlsThenEhloAgain) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
  EXPECT_EQ(c.take_output(), "STARTTLS\r\n");
  c.feed("220 2.0.0 ready\r\n");
  EXPECT_TRUE(c.wants_tls());
  // Bytes injected before the handshake are ignored (STARTTLS injection).
  c.feed("250 injected\r\n");
  c.tls_established();
  EXPECT_TRUE(c.tls_active());
  EXPECT_EQ(c.take_output(), "EHLO mx.example.org\r\n");
  EXPECT_FALSE(c.has_extension("PIPELINING"));  // forgotten until the new EHLO
  c.feed("250-hi\r\n250 PIPELINING\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@remote.test>\r\nDATA\r\n");
}

TEST(SmtpClient, RequiredTlsWithoutStartTlsIsAHostFailure) {
  Client c(opts(TlsPolicy::kRequired), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250 hi\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_TRUE(c.host_failure());
  EXPECT_EQ(c.outcomes()[0].cls, '4');
  EXPECT_NE(c.outcomes()[0].reply.find("4.7.10"), std::string::npos);
}

TEST(SmtpClient, TlsOffNeverStartsTls) {
  Client c(opts(TlsPolicy::kOff), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 STARTTLS\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org>\r\n");
}

TEST(SmtpClient, SmtpUtf8NeededButNotOfferedBouncesWith567) {
  auto e = envelope({"jörg@remote.test"});
  Client c(opts(), e, kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 8BITMIME\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.outcomes()[0].cls, '5');
  EXPECT_NE(c.outcomes()[0].reply.find("5.6.7"), std::string::npos);
  EXPECT_FALSE(c.host_failure());
}

TEST(SmtpClient, SmtpUtf8OfferedIsDeclared) {
  auto e = envelope({"jörg@remote.test"});
  Client c(opts(), e, kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 SMTPUTF8\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org> SMTPUTF8\r\n");
}

TEST(SmtpClient, MessageOverTheServersSizeBounces) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 SIZE 10\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.outcomes()[0].cls, '5');
  EXPECT_NE(c.outcomes()[0].reply.find("5.3.4"), std::string::npos);
}

TEST(SmtpClient, WithoutPipeliningOneCommandAtATime) {
  auto e = envelope({"a@remote.test", "b@remote.test"});
  e.eight_bit = true;
  Client c(opts(), e, kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 8BITMIME\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org> BODY=8BITMIME\r\n");
  c.feed("250 ok\r\n");
  EXPECT_EQ(c.take_output(), "RCPT TO:<a@remote.test>\r\n");
  c.feed("451 4.7.1 greylisted\r\n");
  EXPECT_EQ(c.take_output(), "RCPT TO:<b@remote.test>\r\n");
  c.feed("250 ok\r\n");
  EXPECT_EQ(c.take_output(), "DATA\r\n");
  c.feed("354 go\r\n");
  c.take_output();
  c.feed("250 ok\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.outcomes()[0].cls, '4');
  EXPECT_EQ(c.outcomes()[1].cls, '2');
}

TEST(SmtpClient, AllRecipientsRefusedSkipsData) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n250 hi\r\n");
  c.take_output();
  c.feed("250 ok\r\n");
  c.take_output();
  c.feed("550 5.1.1 unknown\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.take_output(), "QUIT\r\n");
  EXPECT_EQ(c.outcomes()[0].cls, '5');
}

TEST(SmtpClient, EhloRefusedFallsBackToHelo) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("502 5.5.2 what\r\n");
  EXPECT_EQ(c.take_output(), "HELO mx.example.org\r\n");
  c.feed("250 hello\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org>\r\n");
}

TEST(SmtpClient, GreetingRefusalIsAHostFailure) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("421 4.3.2 busy\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_TRUE(c.host_failure());
  EXPECT_EQ(c.outcomes()[0].cls, '4');
  EXPECT_EQ(c.outcomes()[0].reply, "421 4.3.2 busy");
}

TEST(SmtpClient, SenderRefusedFailsEveryRecipient) {
  Client c(opts(), envelope({"a@remote.test", "b@remote.test"}), kMessage);
  c.feed("220 hi\r\n250-hi\r\n250 PIPELINING\r\n");
  c.take_output();
  c.feed("550 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 no\r\n");
  ASSERT_TRUE(c.done());
  for (const auto& o : c.outcomes()) {
    EXPECT_EQ(o.cls, '5');
    EXPECT_EQ(o.reply, "550 5.7.1 sender rejected");
  }
  EXPECT_FALSE(c.host_failure());
}

TEST(SmtpClient, ConnectionLostAfterDataIsTemporary) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n250-hi\r\n250 PIPELINING\r\n");
  c.take_output();
  c.feed("250 ok\r\n250 ok\r\n354 go\r\n");
  c.take_output();
  c.connection_lost("connection closed by the server");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.outcomes()[0].cls, '4');
  EXPECT_FALSE(c.host_failure());
}

TEST(SmtpClient, DsnParametersPassedWhenOffered) {
  auto e = envelope({"a@remote.test"});
  e.recipients[0].notify = "SUCCESS,FAILURE";
  e.recipients[0].orcpt = "rfc822;a@remote.test";
  e.ret = "HDRS";
  e.envid = "ID1";
  Client c(opts(), e, kMessage);
  c.feed("220 hi\r\n250-hi\r\n250-DSN\r\n250 PIPELINING\r\n");
  EXPECT_EQ(c.take_output(),
            "EHLO mx.example.org\r\nMAIL FROM:<alice@example.org> RET=HDRS ENVID=ID1\r\n"
            "RCPT TO:<a@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@remote.test\r\nDATA\r\n");
  c.feed("250 ok\r\n250 ok\r\n354 go\r\n");
  c.take_output();
  c.feed("250 ok\r\n");
  EXPECT_TRUE(c.outcomes()[0].dsn_passed);
}

TEST(SmtpClient, GarbageFromTheServerIsATemporaryFailure) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("HTTP/1.1 400 Bad Request\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.outcomes()[0].cls, '4');
  EXPECT_TRUE(c.host_failure());
}

TEST(ReplyParser, MultiLineAndLimits) {
  ReplyParser p;
  p.feed("250-first\r\n250-second\r\n250 last\r\n");
  auto r = p.next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(r->lines.size(), 3u);
  EXPECT_EQ(r->text(), "250 first second last");

  ReplyParser mixed;
  mixed.feed("250-a\r\n251 b\r\n");
  EXPECT_FALSE(mixed.next());
  EXPECT_TRUE(mixed.failed());

  ReplyParser longline;
  longline.feed(std::string(kMaxReplyLine + 10, '2'));
  EXPECT_FALSE(longline.next());
  EXPECT_TRUE(longline.failed());

  ReplyParser many;
  std::string s;
  for (size_t i = 0; i < kMaxReplyLines + 1; ++i) s += "250-x\r\n";
  many.feed(s);
  EXPECT_FALSE(many.next());
  EXPECT_TRUE(many.failed());

  ReplyParser bare;
  bare.feed("354\r\n");
  auto b = bare.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->code, 354);
}

TEST(EncodeData, DotStuffingAndLineEndings) {
  EXPECT_EQ(Client::encode_data(".\r\n"), "..\r\n.\r\n");
  EXPECT_EQ(Client::encode_data("a\nb"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(Client::encode_data("a\r\n.b\r\n"), "a\r\n..b\r\n.\r\n");
  EXPECT_EQ(Client::encode_data(""), ".\r\n");
}

TEST(SmtpClient, RelayhostAuthPlainOnlyOverTls) {
  auto o = opts();
  o.auth_username = "relayuser";
  o.auth_password = "s3cret";
  Client c(o, envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n");
  EXPECT_EQ(c.take_output(), "STARTTLS\r\n");
  c.feed("220 go\r\n");
  c.tls_established();
  c.take_output();
  c.feed("250-hi\r\n250 AUTH PLAIN\r\n");
  EXPECT_EQ(c.take_output(), "AUTH PLAIN " + Client::base64(std::string("\0relayuser\0s3cret", 17)) + "\r\n");
  c.feed("235 2.7.0 ok\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org>\r\n");
}

TEST(SmtpClient, RelayhostCredentialsNeverInCleartext) {
  auto o = opts();
  o.auth_username = "relayuser";
  o.auth_password = "s3cret";
  Client c(o, envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n250-hi\r\n250 AUTH PLAIN\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_TRUE(c.host_failure());
  EXPECT_EQ(c.outcomes()[0].cls, '4');
  EXPECT_EQ(c.take_output().find("AUTH"), std::string::npos);
}

TEST(SmtpClient, Base64) {
  EXPECT_EQ(Client::base64(""), "");
  EXPECT_EQ(Client::base64("f"), "Zg==");
  EXPECT_EQ(Client::base64("fo"), "Zm8=");
  EXPECT_EQ(Client::base64("foo"), "Zm9v");
  EXPECT_EQ(Client::base64("foobar"), "Zm9vYmFy");
}

// --- several transactions per session (RFC 5321 3.3) --------------------------

namespace {
Options reuse_opts() {
  Options o = opts();
  o.keep_open = true;
  return o;
}
}  // namespace

TEST(SmtpClientReuse, IdleAfterACleanTransactionThenRsetAndTheNextMessage) {
  Client c(reuse_opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 PIPELINING\r\n");
  c.take_output();
  c.feed("250 ok\r\n250 ok\r\n354 go\r\n");
  c.take_output();
  c.feed("250 2.0.0 first\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_TRUE(c.idle());
  EXPECT_FALSE(c.closed());
  EXPECT_EQ(c.take_output(), "");  // no QUIT: the session stays open
  EXPECT_EQ(c.outcomes()[0].reply, "250 2.0.0 first");
  EXPECT_FALSE(c.reused());

  const std::string second = "Subject: two\r\n\r\nx\r\n";
  c.next_transaction(envelope({"b@remote.test", "c@remote.test"}), second);
  EXPECT_FALSE(c.done());
  EXPECT_TRUE(c.reused());
  EXPECT_EQ(c.take_output(), "RSET\r\n");
  c.feed("250 2.0.0 reset\r\n");
  // The extensions of the session still hold: pipelined again.
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@remote.test>\r\nRCPT TO:<c@remote.test>\r\nDATA\r\n");
  c.feed("250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(c.take_output(), "Subject: two\r\n\r\nx\r\n.\r\n");
  c.feed("250 2.0.0 second\r\n");
  ASSERT_TRUE(c.idle());
  ASSERT_EQ(c.outcomes().size(), 2u);
  EXPECT_EQ(c.outcomes()[0].cls, '5');
  EXPECT_EQ(c.outcomes()[1].reply, "250 2.0.0 second");
  EXPECT_FALSE(c.host_failure());
  c.quit();
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.take_output(), "QUIT\r\n");
}

TEST(SmtpClientReuse, WithoutKeepOpenTheSessionEndsWithQuit) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n250 hi\r\n");
  c.take_output();
  c.feed("250 ok\r\n");
  c.take_output();
  c.feed("250 ok\r\n");
  c.take_output();
  c.feed("354 go\r\n");
  c.take_output();
  c.feed("250 ok\r\n");
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.take_output(), "QUIT\r\n");
}

namespace {
// A session that delivered one message and now sits idle.
Client idle_session() {
  Client c(reuse_opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.feed("250-hi\r\n250 PIPELINING\r\n");
  c.feed("250 ok\r\n250 ok\r\n354 go\r\n");
  c.feed("250 ok\r\n");
  c.take_output();
  return c;
}
}  // namespace

TEST(SmtpClientReuse, AServerThatHungUpWhileIdleIsAHostFailureNotTheMessages) {
  auto c = idle_session();
  ASSERT_TRUE(c.idle());
  c.next_transaction(envelope({"b@remote.test"}), kMessage);
  c.take_output();
  c.connection_lost("connection to mx lost: end of file");
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(c.host_failure());  // the driver reconnects and retries
  ASSERT_EQ(c.outcomes().size(), 1u);
  EXPECT_EQ(c.outcomes()[0].cls, '4');
}

TEST(SmtpClientReuse, A421WhileIdleOrToMailEndsTheSessionAsAHostFailure) {
  auto c = idle_session();
  c.feed("421 4.4.2 idle timeout\r\n");  // arrives while idle: read after RSET
  c.next_transaction(envelope({"b@remote.test"}), kMessage);
  EXPECT_EQ(c.take_output(), "QUIT\r\n");  // stale: no RSET into it
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(c.host_failure());
  EXPECT_EQ(c.outcomes()[0].reply, "421 4.4.2 idle timeout");

  auto d = idle_session();
  d.next_transaction(envelope({"b@remote.test"}), kMessage);
  d.take_output();
  d.feed("250 ok\r\n");
  d.take_output();
  d.feed("421 4.7.0 too many messages in this connection\r\n");
  EXPECT_TRUE(d.closed());
  EXPECT_TRUE(d.host_failure());
}

TEST(SmtpClientReuse, RefusalsLeaveTheSessionUsableButA421OrAPipelinedMailRefusalDoNot) {
  // Every RCPT refused, not pipelined: nothing owed, idle.
  Client c(reuse_opts(), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n250 hi\r\n");
  c.take_output();
  c.feed("250 ok\r\n");
  c.take_output();
  c.feed("550 5.1.1 no\r\n");
  EXPECT_TRUE(c.idle());
  EXPECT_EQ(c.outcomes()[0].cls, '5');
  EXPECT_FALSE(c.host_failure());

  // MAIL refused in a pipelined group: RCPT/DATA replies are still owed.
  auto d = idle_session();
  d.next_transaction(envelope({"b@remote.test"}), kMessage);
  d.take_output();
  d.feed("250 ok\r\n");
  d.take_output();
  d.feed("550 5.7.1 sender refused\r\n");
  EXPECT_TRUE(d.closed());
  EXPECT_FALSE(d.host_failure());  // a real answer about this message
  EXPECT_EQ(d.outcomes()[0].cls, '5');

  // A 421 after the data: the message's outcome stands, the session ends.
  auto e = idle_session();
  e.next_transaction(envelope({"b@remote.test"}), kMessage);
  e.take_output();
  e.feed("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  e.take_output();
  e.feed("421 4.3.0 shutting down\r\n");
  EXPECT_TRUE(e.closed());
  EXPECT_FALSE(e.host_failure());
  EXPECT_EQ(e.outcomes()[0].cls, '4');
}

TEST(SmtpClientReuse, NextTransactionOnlyFromIdle) {
  Client c(reuse_opts(), envelope({"a@remote.test"}), kMessage);
  c.next_transaction(envelope({"b@remote.test"}), kMessage);  // still at the greeting: ignored
  EXPECT_EQ(c.take_output(), "");
  c.quit();
  EXPECT_FALSE(c.done());
}

// Issue 22 item 1 (RFC 6152 3): never 8-bit octets to a server without 8BITMIME.
TEST(SmtpClientEightBit, WithoutEightBitMimeTheSevenBitFormIsSentWithoutBody) {
  const std::string eight = "Subject: x\r\n\r\ncaf\xc3\xa9\r\n";
  auto env = envelope({"a@remote.test"});
  env.eight_bit = true;
  int asked = 0;
  env.seven_bit = [&] {
    ++asked;
    return Envelope::SevenBit{true, "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n", ""};
  };
  Client c(opts(), env, eight);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 PIPELINING\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@remote.test>\r\nDATA\r\n");
  c.feed("250 ok\r\n250 ok\r\n354 go\r\n");
  const auto sent = c.take_output();
  EXPECT_EQ(sent, "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n.\r\n");
  EXPECT_EQ(asked, 1);
}

TEST(SmtpClientEightBit, WithEightBitMimeTheMessageGoesAsItIs) {
  const std::string eight = "Subject: x\r\n\r\ncaf\xc3\xa9\r\n";
  auto env = envelope({"a@remote.test"});
  env.eight_bit = true;
  bool asked = false;
  env.seven_bit = [&] {
    asked = true;
    return Envelope::SevenBit{};
  };
  Client c(opts(), env, eight);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250-8BITMIME\r\n250 PIPELINING\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org> BODY=8BITMIME\r\nRCPT TO:<a@remote.test>\r\nDATA\r\n");
  EXPECT_FALSE(asked);
}

TEST(SmtpClientEightBit, NotConvertibleFailsWith563AsOurDecisionBeforeMail) {
  auto env = envelope({"a@remote.test", "b@remote.test"});
  env.eight_bit = true;
  env.seven_bit = [] { return Envelope::SevenBit{false, "", "8-bit octets in a header need SMTPUTF8"}; };
  Client c(opts(), env, "Subject: caf\xc3\xa9\r\n\r\nx\r\n");
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 PIPELINING\r\n");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.take_output().find("MAIL"), std::string::npos);
  ASSERT_EQ(c.outcomes().size(), 2u);
  for (const auto& o : c.outcomes()) {
    EXPECT_EQ(o.cls, '5');
    EXPECT_EQ(o.reply.rfind("554 5.6.3 ", 0), 0u) << o.reply;
    EXPECT_NE(o.reply.find("8-bit octets in a header need SMTPUTF8"), std::string::npos);
    EXPECT_FALSE(o.remote_reply);
  }
  EXPECT_FALSE(c.host_failure());
}

// RFC 8689: REQUIRETLS goes on MAIL FROM only over TLS to a server offering it.
TEST(SmtpClient, RequireTlsSentToAServerThatOffersItAfterStartTls) {
  Envelope e = envelope({"a@remote.test"});
  e.requiretls = true;
  Client c(opts(TlsPolicy::kRequired), e, kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 STARTTLS\r\n");
  EXPECT_TRUE(c.greeted());
  EXPECT_TRUE(c.offered_starttls());
  EXPECT_EQ(c.take_output(), "STARTTLS\r\n");
  c.feed("220 go\r\n");
  c.tls_established();
  EXPECT_EQ(c.take_output(), "EHLO mx.example.org\r\n");
  c.feed("250-hi\r\n250-REQUIRETLS\r\n250 PIPELINING\r\n");
  EXPECT_EQ(c.take_output(), "MAIL FROM:<alice@example.org> REQUIRETLS\r\nRCPT TO:<a@remote.test>\r\nDATA\r\n");
}

TEST(SmtpClient, RequireTlsToAServerWithoutItFailsPermanentlyAtTheHostLevel) {
  Envelope e = envelope({"a@remote.test"});
  e.requiretls = true;
  Client c(opts(TlsPolicy::kRequired), e, kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 STARTTLS\r\n");
  c.take_output();
  c.feed("220 go\r\n");
  c.tls_established();
  c.take_output();
  c.feed("250-hi\r\n250 PIPELINING\r\n");  // no REQUIRETLS after TLS
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.take_output(), "QUIT\r\n");
  EXPECT_TRUE(c.host_failure());  // another MX may offer it
  ASSERT_EQ(c.outcomes().size(), 1u);
  EXPECT_EQ(c.outcomes()[0].cls, '5');
  EXPECT_NE(c.outcomes()[0].reply.find("5.7.30"), std::string::npos);
  EXPECT_FALSE(c.outcomes()[0].remote_reply);
}

TEST(SmtpClient, ARejectedCertificateEndsTheSessionAsAHostFailure) {
  Client c(opts(TlsPolicy::kRequired), envelope({"a@remote.test"}), kMessage);
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 STARTTLS\r\n");
  c.take_output();
  c.feed("220 go\r\n");
  ASSERT_TRUE(c.wants_tls());
  c.tls_rejected("454 4.7.5 MTA-STS: mx.remote.test: the certificate is not valid for the host");
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.take_output(), "QUIT\r\n");
  EXPECT_TRUE(c.host_failure());
  EXPECT_EQ(c.outcomes()[0].cls, '4');
  EXPECT_NE(c.outcomes()[0].reply.find("MTA-STS"), std::string::npos);
}

TEST(SmtpClient, NoStartTlsIsVisibleToTheDriver) {
  Client c(opts(), envelope({"a@remote.test"}), kMessage);
  EXPECT_FALSE(c.greeted());
  c.feed("220 hi\r\n");
  c.take_output();
  c.feed("250-hi\r\n250 PIPELINING\r\n");
  EXPECT_TRUE(c.greeted());
  EXPECT_FALSE(c.offered_starttls());
}
