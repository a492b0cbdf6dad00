// Byte transcripts through the sans-I/O session: every command, extension and
// limit, and the pipelined ones cut at every byte boundary.
#include "services/smtp-ingress/protocol/session.h"
#include "services/smtp-ingress/tests/session_harness.h"

#include <gtest/gtest.h>

#include <sstream>

using namespace postline::smtp;
using postline::smtp::testing::Harness;

namespace {

// The last line of every reply, shortened to "CODE ENH" (or "CODE" when the
// reply has no enhanced code), in order.
std::vector<std::string> codes(const std::string& out) {
  std::vector<std::string> result;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() < 4 || line[3] != ' ') continue;
    std::string code = line.substr(0, 3);
    size_t sp = line.find(' ', 4);
    std::string second = line.substr(4, sp == std::string::npos ? std::string::npos : sp - 4);
    if (second.size() >= 5 && std::isdigit(static_cast<unsigned char>(second[0])) && second[1] == '.')
      code += " " + second;
    result.push_back(code);
  }
  return result;
}

using V = std::vector<std::string>;

const std::string kGreeting = "220 mx.test ESMTP Postline\r\n";

const std::string kSimple =
    "EHLO client.example\r\n"
    "MAIL FROM:<sender@remote.example>\r\n"
    "RCPT TO:<alice@example.com>\r\n"
    "DATA\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "..leading dot\r\n"
    ".\r\n"
    "QUIT\r\n";

}  // namespace

TEST(Session, Greeting) {
  Harness h;
  EXPECT_EQ(h.run(""), kGreeting);
}

TEST(Session, EhloOnMxWithoutTls) {
  Harness h;
  EXPECT_EQ(h.run("EHLO client.example\r\n"),
            kGreeting +
                "250-mx.test greets client.example\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
                "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250 DSN\r\n");
}

TEST(Session, EhloAdvertisesStarttlsOnlyWithCertificateAndAuthOnlyAfterTlsOnSubmission) {
  Harness h;
  h.config.tls_available = true;
  std::string out = h.run("EHLO a\r\n");
  EXPECT_NE(out.find("250-STARTTLS\r\n"), std::string::npos);
  EXPECT_EQ(out.find("AUTH"), std::string::npos);  // MX never offers AUTH

  Harness s;
  s.config.listener = ListenerKind::kSubmission;
  s.config.tls_available = true;
  s.begin();
  s.feed("EHLO a\r\nSTARTTLS\r\n");
  s.feed("EHLO a\r\n");
  out = s.take();
  size_t tls = out.find("220 2.0.0");
  ASSERT_NE(tls, std::string::npos);
  EXPECT_EQ(out.substr(0, tls).find("AUTH"), std::string::npos);
  EXPECT_NE(out.substr(tls).find("250-AUTH PLAIN LOGIN\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(tls).find("STARTTLS"), std::string::npos);
}

TEST(Session, HeloHasNoExtensions) {
  Harness h;
  EXPECT_EQ(h.run("HELO client.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\n"),
            kGreeting + "250 mx.test\r\n555 5.5.4 Parameters need EHLO\r\n");
}

TEST(Session, SimpleMessageIsQueuedAfterCommit) {
  Harness h;
  std::string out = h.run(kSimple);
  EXPECT_EQ(codes(out), (V{"220", "250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"}));
  EXPECT_NE(out.find("250 2.0.0 Ok: queued as Q1\r\n"), std::string::npos);
  ASSERT_EQ(h.enqueued.size(), 1u);
  const auto& m = h.enqueued[0];
  EXPECT_EQ(m.queue_id, "Q1");
  EXPECT_EQ(m.envelope.mail_from, "sender@remote.example");
  ASSERT_EQ(m.envelope.recipients.size(), 1u);
  EXPECT_EQ(m.envelope.recipients[0].address, "alice@example.com");
  EXPECT_TRUE(m.envelope.recipients[0].local);
  EXPECT_EQ(m.envelope.recipients[0].user_id, 1);
  EXPECT_EQ(m.envelope.helo, "client.example");
  EXPECT_EQ(m.envelope.client_ip, "192.0.2.1");
  EXPECT_EQ(m.data,
            "Received: from client.example ([192.0.2.1])\r\n\tby mx.test (Postline) with ESMTP id Q1\r\n"
            "\tfor <alice@example.com>;\r\n\tWed, 25 Nov 2026 20:00:00 +0000\r\n"
            "Subject: hi\r\n\r\n.leading dot\r\n");
  EXPECT_TRUE(h.session->closed());
}

TEST(Session, PipelinedTranscriptIsTheSameAtEveryByteBoundary) {
  Harness whole;
  const std::string expected = whole.run(kSimple);
  for (size_t cut = 0; cut <= kSimple.size(); ++cut) {
    Harness h;
    ASSERT_EQ(h.run_split(kSimple, cut), expected) << "cut at " << cut;
    ASSERT_EQ(h.enqueued.size(), 1u);
    ASSERT_EQ(h.enqueued[0].data, whole.enqueued[0].data) << "cut at " << cut;
  }
  Harness bytewise;
  EXPECT_EQ(bytewise.run_bytewise(kSimple), expected);
}

TEST(Session, UnknownRecipientIsRefusedAtRcpt) {
  Harness h;
  std::string out = h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "250 2.1.0", "550 5.1.1", "554 5.5.1"}));
  EXPECT_EQ(h.rejected["unknown_recipient"], 1);
  EXPECT_TRUE(h.enqueued.empty());
}

TEST(Session, AuthdUnreachableIs451) {
  Harness h;
  h.authd_down = true;
  std::string out = h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "250 2.1.0", "451 4.4.3"}));
}

TEST(Session, QueueFailureIs451AndTheClientMayRetry) {
  Harness h;
  h.queue_down = true;
  h.begin();
  h.feed("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nhi\r\n.\r\n");
  EXPECT_EQ(codes(h.take()), (V{"220", "250", "250 2.1.0", "250 2.1.5", "354", "451 4.3.0"}));
  h.queue_down = false;
  h.feed("MAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nhi\r\n.\r\n");
  EXPECT_EQ(codes(h.take()), (V{"250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}));
  EXPECT_EQ(h.enqueued.size(), 1u);
}

TEST(Session, SyntaxAndSequenceErrors) {
  Harness h;
  h.config.max_errors = 100;
  std::string out = h.run(
      "FOO\r\n"                           // 500 unknown
      "MAIL FROM:<a@b.example>\r\n"       // 503 no EHLO
      "EHLO\r\n"                          // 501 missing argument
      "EHLO a\r\n"
      "RCPT TO:<alice@example.com>\r\n"   // 503 no MAIL
      "MAIL FROM:a@b.example\r\n"         // 501 no brackets
      "MAIL TO:<a@b.example>\r\n"         // 501
      "MAIL FROM:<a@b.example> FOO=1\r\n" // 555 unknown parameter
      "MAIL FROM:<a@b.example>\r\n"
      "MAIL FROM:<a@b.example>\r\n"       // 503 nested
      "RCPT TO:<alice>\r\n"               // 501 unqualified
      "DATA\r\n"                          // 554 no valid recipients
      "RSET x\r\n"                        // 501
      "NOOP anything\r\n"
      "RSET\r\n");
  EXPECT_EQ(codes(out), (V{"220", "500 5.5.1", "503 5.5.1", "501 5.5.4", "250", "503 5.5.1", "501 5.1.7",
                           "501 5.5.4", "555 5.5.4", "250 2.1.0", "503 5.5.1", "501 5.1.3", "554 5.5.1",
                           "501 5.5.4", "250 2.0.0", "250 2.0.0"}));
}

TEST(Session, TooManyErrorsDisconnectWith421) {
  Harness h;
  h.config.max_errors = 3;
  std::string out = h.run("X\r\nY\r\nZ\r\nNOOP\r\n");
  EXPECT_EQ(codes(out), (V{"220", "500 5.5.1", "500 5.5.1", "500 5.5.1", "421 4.7.0"}));
  EXPECT_TRUE(h.session->closed());
  EXPECT_EQ(h.limits["errors"], 1);
}

TEST(Session, OverlongCommandLineIsRefusedAtEveryBoundary) {
  const std::string input = "EHLO a\r\nNOOP " + std::string(2000, 'x') + "\r\nNOOP\r\n";
  Harness whole;
  const std::string expected = whole.run(input);
  EXPECT_EQ(codes(expected), (V{"220", "250", "500 5.5.2", "250 2.0.0"}));
  for (size_t cut = 0; cut <= input.size(); cut += 7) {
    Harness h;
    ASSERT_EQ(h.run_split(input, cut), expected) << "cut at " << cut;
  }
  Harness bytewise;
  EXPECT_EQ(bytewise.run_bytewise(input), expected);
  // Never buffered without bound.
  Harness h;
  h.begin();
  h.feed(std::string(100000, 'y'));
  EXPECT_LT(h.session->buffered(), 1000u);
}

TEST(Session, LineOfExactlyTheLimitIsAccepted) {
  Harness h;
  // 1000 octets including CRLF (RFC 5321 §4.5.3.1.4).
  std::string line = "NOOP " + std::string(1000 - 5 - 2, 'x') + "\r\n";
  ASSERT_EQ(line.size(), 1000u);
  EXPECT_EQ(codes(h.run(line)), (V{"220", "250 2.0.0"}));
  Harness over;
  std::string longer = "NOOP " + std::string(1000 - 5 - 1, 'x') + "\r\n";
  EXPECT_EQ(codes(over.run(longer)), (V{"220", "500 5.5.2"}));
}

TEST(Session, QuitEndsAndIgnoresWhatFollows) {
  Harness h;
  EXPECT_EQ(codes(h.run("QUIT\r\nNOOP\r\n")), (V{"220", "221 2.0.0"}));
  EXPECT_TRUE(h.session->closed());
}

TEST(Session, VrfyExpnHelp) {
  Harness h;
  std::string out = h.run("VRFY alice\r\nEXPN staff\r\nHELP\r\n");
  EXPECT_EQ(codes(out), (V{"220", "252 2.5.0", "502 5.5.1", "214 2.0.0"}));
  EXPECT_TRUE(h.resolved.empty());  // VRFY never asks authd: no user enumeration
}

TEST(Session, HttpRequestOnSmtpPortIsCutShort) {
  Harness h;
  EXPECT_EQ(codes(h.run("GET / HTTP/1.1\r\nHost: x\r\n")), (V{"220", "421 4.7.0"}));
}
