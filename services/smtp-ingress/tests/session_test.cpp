// Byte transcripts through the sans-I/O session: every command, extension and
// limit, and the pipelined ones cut at every byte boundary.
#include "services/smtp-ingress/protocol/session.h"
#include "services/smtp-ingress/tests/session_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
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
  EXPECT_NE(out.substr(tls).find("250-AUTH SCRAM-SHA-256 PLAIN LOGIN\r\n"), std::string::npos);
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

// ---- SMTP smuggling --------------------------------------------------------

namespace {
std::string smuggle(const std::string& separator) {
  return "EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n"
         "Subject: one\r\n\r\nfirst" +
         separator +
         "MAIL FROM:<evil@r.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n"
         ".\r\nNOOP\r\n";
}
}  // namespace

TEST(Session, SmugglingSeparatorsNeverEndOrSplitAMessage) {
  for (const std::string sep : {"\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r.\r", "\n.\r\n"}) {
    Harness h;
    std::string out = h.run(smuggle(sep));
    // One DATA, one refusal after the real end, then the NOOP: no second transaction.
    EXPECT_EQ(codes(out), (V{"220", "250", "250 2.1.0", "250 2.1.5", "354", "550 5.6.11", "250 2.0.0"}))
        << "separator " << ::testing::PrintToString(sep);
    EXPECT_TRUE(h.enqueued.empty());
    EXPECT_EQ(h.resolved.size(), 1u);  // bob was never looked up
    EXPECT_EQ(h.rejected["bare_newline"], 1);
  }
}

TEST(Session, SmugglingRefusalIsTheSameAtEveryByteBoundary) {
  const std::string input = smuggle("\n.\n");
  Harness whole;
  const std::string expected = whole.run(input);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    Harness h;
    ASSERT_EQ(h.run_split(input, cut), expected) << "cut at " << cut;
    ASSERT_TRUE(h.enqueued.empty());
  }
}

TEST(Session, DotStuffingAndEmptyMessage) {
  Harness h;
  h.run("EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n.\r\n"
        "MAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n...\r\n.x\r\n..\r\n.\r\n");
  ASSERT_EQ(h.enqueued.size(), 2u);
  EXPECT_EQ(h.enqueued[0].envelope.mail_from, "");
  const std::string& d0 = h.enqueued[0].data;
  EXPECT_EQ(d0.substr(d0.size() - 8), " +0000\r\n");  // only our Received: header
  const std::string& d = h.enqueued[1].data;
  EXPECT_EQ(d.substr(d.size() - 10), "..\r\nx\r\n.\r\n");
}

// ---- STARTTLS ----------------------------------------------------------------

TEST(Session, StarttlsDiscardsPipelinedCommands) {
  Harness h;
  h.config.tls_available = true;
  h.begin();
  h.feed("EHLO a\r\nSTARTTLS\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\n");
  EXPECT_EQ(codes(h.take()), (V{"220", "250", "220 2.0.0"}));
  EXPECT_EQ(h.tls_starts, 1);
  EXPECT_EQ(h.limits["starttls_injection"], 1);
  // After the handshake the client starts over; the injected MAIL never ran.
  h.feed("MAIL FROM:<s@r.example>\r\n");
  EXPECT_EQ(codes(h.take()), (V{"503 5.5.1"}));
  h.feed("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nx\r\n.\r\n");
  EXPECT_EQ(codes(h.take()), (V{"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}));
  ASSERT_EQ(h.enqueued.size(), 1u);
  EXPECT_NE(h.enqueued[0].data.find("with ESMTPS id Q1\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)"),
            std::string::npos);
}

TEST(Session, StarttlsRefusedWithoutCertificateOrTwice) {
  Harness h;
  EXPECT_EQ(codes(h.run("EHLO a\r\nSTARTTLS\r\n")), (V{"220", "250", "502 5.5.1"}));
  Harness t;
  t.config.tls_available = true;
  t.config.tls_active = true;
  EXPECT_EQ(codes(t.run("EHLO a\r\nSTARTTLS\r\n")), (V{"220", "250", "503 5.5.1"}));
}

// ---- Submission and AUTH -----------------------------------------------------

namespace {
Harness submission_harness(bool tls = true) {
  Harness h;
  h.config.listener = ListenerKind::kSubmission;
  h.config.tls_available = true;
  h.config.tls_active = tls;
  h.config.tls_version = "TLSv1.3";
  h.config.tls_cipher = "TLS_AES_128_GCM_SHA256";
  return h;
}
// base64("\0alice@example.com\0secret")
const std::string kPlainOk = "AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==";
}  // namespace

// Issue 22 item 2: submission refuses lines over 998 octets, naming the line;
// the MX still accepts them.
TEST(Session, SubmissionRefusesLinesOver998OctetsAndNamesTheLine) {
  const std::string ok_line(998, 'a'), long_line(999, 'b');
  auto transcript = [](const std::string& body) {
    return "EHLO a\r\nAUTH PLAIN " + kPlainOk +
           "\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
           "Subject: long\r\n\r\nfirst\r\n" + body + "\r\n.\r\nQUIT\r\n";
  };
  Harness h = submission_harness();
  std::string out = h.run(transcript(ok_line + "\r\n" + long_line));
  EXPECT_NE(out.find("550 5.6.0 Line 5 of the message is longer than 998 octets"), std::string::npos) << out;
  EXPECT_TRUE(h.enqueued.empty());
  EXPECT_EQ(h.rejected["line_length"], 1);

  Harness fits = submission_harness();
  out = fits.run(transcript(ok_line));
  EXPECT_NE(out.find("250 2.0.0 Ok: queued"), std::string::npos) << out;
  ASSERT_EQ(fits.enqueued.size(), 1u);

  Harness mx;  // what other MTAs send is accepted as it is
  out = mx.run("EHLO a\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n"
               "Subject: long\r\n\r\n" + std::string(1500, 'c') + "\r\n.\r\n");
  EXPECT_NE(out.find("250 2.0.0 Ok: queued"), std::string::npos) << out;
  ASSERT_EQ(mx.enqueued.size(), 1u);
  EXPECT_NE(mx.enqueued[0].data.find(std::string(1500, 'c')), std::string::npos);
}

// ---- BURL (RFC 4468) -----------------------------------------------------------

namespace {
const std::string kUrl = "imap://alice%40example.com@imap.example.com/Drafts/;UID=1;URLAUTH=submit+alice%40example.com"
                         ":internal:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kDraft = "Subject: draft\r\nDate: Wed, 25 Nov 2026 19:00:00 +0000\r\nMessage-ID: <d@x>\r\n\r\nBody\r\n";
const std::string kMail = "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n";
}  // namespace

TEST(Session, BurlIsOfferedOnSubmissionAfterAuthOnly) {
  Harness h = submission_harness();
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\nEHLO a\r\n");
  EXPECT_NE(out.find("250-BURL imap\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("BURL"), out.rfind("BURL")) << "once";
  EXPECT_LT(out.find("235 2.7.0"), out.find("BURL imap")) << "only in the EHLO after AUTH";
  Harness before = submission_harness();
  out = before.run("EHLO a\r\nBURL " + kUrl + " LAST\r\n");
  EXPECT_EQ(out.find("BURL imap"), std::string::npos);
  EXPECT_EQ(codes(out), (V{"220", "250", "530 5.7.0"}));
  Harness mx;
  out = mx.run("EHLO a\r\n" + kMail + "BURL " + kUrl + " LAST\r\n");
  EXPECT_EQ(out.find("BURL imap"), std::string::npos);
  EXPECT_EQ(codes(out).back(), "502 5.5.1");
  EXPECT_TRUE(mx.fetched.empty());
}

TEST(Session, BurlLastSubmitsTheFetchedBytes) {
  Harness h = submission_harness();
  h.urls[kUrl] = {UrlFetched::Status::kOk, kDraft, ""};
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n" + kMail + "BURL " + kUrl + " LAST\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "235 2.7.0", "250 2.1.0", "250 2.1.5", "250 2.0.0"}));
  ASSERT_EQ(h.fetched.size(), 1u);
  EXPECT_EQ(h.fetched[0].submit_user, "alice@example.com");
  EXPECT_EQ(h.fetched[0].submit_user_id, 1);
  EXPECT_EQ(h.fetched[0].max_size, h.config.max_message_size);
  ASSERT_EQ(h.enqueued.size(), 1u);
  const std::string& data = h.enqueued[0].data;
  EXPECT_EQ(data.substr(h.enqueued[0].added_header_bytes), kDraft) << "exactly the draft below our Received:";
  EXPECT_TRUE(data.starts_with("Received: "));
  EXPECT_EQ(h.burl["ok"], 1);
}

TEST(Session, BurlMixesWithBdatInOrder) {
  Harness h = submission_harness();
  h.urls[kUrl] = {UrlFetched::Status::kOk, "Subject: part\r\n\r\n", ""};
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n" + kMail + "BDAT 10\r\nX-First: 1BURL " + kUrl +
                          "\r\nBDAT 6 LAST\r\nbody\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "235 2.7.0", "250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.5.0", "250 2.0.0"}));
  ASSERT_EQ(h.enqueued.size(), 1u);
  EXPECT_EQ(h.enqueued[0].data.substr(h.enqueued[0].added_header_bytes), "X-First: 1Subject: part\r\n\r\nbody\r\n");
  // DATA does not fit once BURL started.
  Harness d = submission_harness();
  d.urls[kUrl] = {UrlFetched::Status::kOk, "x", ""};
  out = d.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n" + kMail + "BURL " + kUrl + "\r\nDATA\r\n");
  EXPECT_EQ(codes(out).back(), "503 5.5.1");
}

TEST(Session, BurlErrorsMapToTheRfcReplies) {
  struct Case {
    UrlFetched answer;
    std::string reply, result;
  };
  for (const Case& c : std::vector<Case>{
           {{UrlFetched::Status::kNotAuthorized, "", "bad token"}, "554 5.7.0", "not_authorized"},
           {{UrlFetched::Status::kNotFound, "", "gone"}, "554 5.6.6", "not_found"},
           {{UrlFetched::Status::kTooBig, "", ""}, "552 5.3.4", "too_big"},
           {{UrlFetched::Status::kUnavailable, "", ""}, "451 4.4.1", "unavailable"},
       }) {
    Harness h = submission_harness();
    h.urls[kUrl] = c.answer;
    // The transaction is gone after a failed BURL: the next BDAT is 503.
    std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n" + kMail + "BURL " + kUrl +
                            "\r\nBDAT 2 LAST\r\nxx");
    const V got = codes(out);
    ASSERT_GE(got.size(), 2u);
    EXPECT_EQ(got[got.size() - 2], c.reply) << c.result;
    EXPECT_EQ(got.back(), "503 5.5.1") << c.result;
    EXPECT_TRUE(h.enqueued.empty());
    EXPECT_EQ(h.burl[c.result], 1);
  }
  // Not an IMAP URL, a bad argument, no MAIL, no recipients.
  Harness h = submission_harness();
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\nBURL " + kUrl + "\r\n" + kMail +
                          "BURL " + kUrl + " NOW\r\nBURL https://example.com/x LAST\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "235 2.7.0", "503 5.5.1", "250 2.1.0", "250 2.1.5", "501 5.5.4", "554 5.7.0"}));
  EXPECT_TRUE(h.fetched.empty());
  // Size: the fetched bytes count against smtp.max_message_size.
  Harness s = submission_harness();
  s.config.max_message_size = 10;
  s.urls[kUrl] = {UrlFetched::Status::kOk, "0123456", ""};
  out = s.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n" + kMail + "BDAT 5\r\n01234BURL " + kUrl + " LAST\r\n");
  EXPECT_EQ(codes(out).back(), "552 5.3.4");
  ASSERT_EQ(s.fetched.size(), 1u);
  EXPECT_EQ(s.fetched[0].max_size, 5u);
}

TEST(Session, BurlLogsTheUrlWithoutItsToken) {
  EXPECT_EQ(redact_url(kUrl), kUrl.substr(0, kUrl.rfind(':')) + ":<token>");
  EXPECT_EQ(redact_url("imap://a@h/INBOX/;UID=1;URLAUTH=anonymous"), "imap://a@h/INBOX/;UID=1;URLAUTH=anonymous");
}

// Issue 16: a peer's CR LF (or NUL) in anything a log line quotes cannot
// start a forged line; a huge value does not become a huge line.
TEST(Session, TheQueueIdIsChosenAtMailFromAndTracesTheLookupsAndThe250) {
  Harness h;
  h.config.remote_address = "192.0.2.1:40000";
  h.run("EHLO a\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.com>\r\nRSET\r\n"
        "MAIL FROM:<sender@remote.example>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
        "DATA\r\nSubject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n");
  // Each transaction its id, from MAIL FROM on: the RCPT look-ups carry it to authd.
  EXPECT_EQ(h.resolve_traces, (std::vector<std::string>{"Q1", "Q2", "Q2"}));
  ASSERT_EQ(h.enqueued.size(), 1u);
  EXPECT_EQ(h.enqueued[0].queue_id, "Q2");
  const auto line = std::find_if(h.logged.begin(), h.logged.end(),
                                 [](const std::string& l) { return l.find("message queued") != std::string::npos; });
  ASSERT_NE(line, h.logged.end());
  EXPECT_EQ(line->rfind("[q:Q2] [c:192.0.2.1:40000] message queued as Q2 from=<sender@remote.example> size=", 0), 0u)
      << *line;
  EXPECT_NE(line->find(" nrcpt=2"), std::string::npos) << *line;
}

TEST(Session, LogLinesEscapePeerBytesAndAreBounded) {
  Harness h = submission_harness();
  // base64("\0mallory\r\n2026-12-03 smtpd info authenticated as alice\0x"): a
  // user name with CR LF and a forged line after it, and a wrong password.
  const std::string forged = "AG1hbGxvcnkNCjIwMjYtMTItMDMgc210cGQgaW5mbyBhdXRoZW50aWNhdGVkIGFzIGFsaWNlAHg=";
  h.run("EHLO a\r\nAUTH PLAIN " + forged + "\r\nAUTH PLAIN " + kPlainOk + "\r\n" + "MAIL FROM:<" +
        std::string(5000, 'a') + "@example.com>\r\n");
  ASSERT_FALSE(h.logged.empty());
  bool saw_user = false;
  for (const auto& line : h.logged) {
    EXPECT_EQ(line.find_first_of(std::string("\r\n\0", 3)), std::string::npos) << line;
    EXPECT_LE(line.size(), 1024u + 3) << line.substr(0, 80);
    if (line.find("mallory\\x0d\\x0a2026-12-03") != std::string::npos) saw_user = true;
  }
  EXPECT_TRUE(saw_user) << "the failed AUTH is logged with the escaped user name";
  EXPECT_EQ(redact_url("imap://a@h/\r\nX"), "imap://a@h/\r\nX");  // escaped by the log, not here
}

TEST(Session, SubmissionRequiresTlsThenAuthBeforeMail) {
  Harness h = submission_harness(/*tls=*/false);
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\nMAIL FROM:<alice@example.com>\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "530 5.7.0", "530 5.7.0"}));
  EXPECT_TRUE(h.auth_users.empty());  // credentials in clear text never reach authd

  Harness t = submission_harness();
  out = t.run("EHLO a\r\nMAIL FROM:<alice@example.com>\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "530 5.7.0"}));
}

TEST(Session, AuthPlainInitialResponseAndSending) {
  Harness h = submission_harness();
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk +
                          "\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<dave@remote.example>\r\n"
                          "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "235 2.7.0", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}));
  EXPECT_EQ(h.auth_outcomes["PLAIN/ok"], 1);
  ASSERT_EQ(h.enqueued.size(), 1u);
  const auto& m = h.enqueued[0];
  EXPECT_EQ(m.envelope.authenticated_user, "alice@example.com");
  ASSERT_EQ(m.envelope.recipients.size(), 1u);
  EXPECT_FALSE(m.envelope.recipients[0].local);  // relayed for an authenticated user
  EXPECT_EQ(m.data,
            "Received: from a ([192.0.2.1])\r\n\tby mx.test (Postline) with ESMTPSA id Q1\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)\r\n\t(authenticated user alice@example.com)\r\n"
            "\tfor <dave@remote.example>;\r\n\tWed, 25 Nov 2026 20:00:00 +0000\r\n"
            "Date: Wed, 25 Nov 2026 20:00:00 +0000\r\nMessage-ID: <Q1.r4nd@mx.test>\r\n"
            "Subject: x\r\n\r\nbody\r\n");
}

TEST(Session, SubmissionKeepsExistingDateAndMessageId) {
  Harness h = submission_harness();
  h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk +
        "\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
        "DATA\r\nmessage-id: <x@y>\r\nDATE: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nDate: in body\r\n.\r\n");
  ASSERT_EQ(h.enqueued.size(), 1u);
  EXPECT_EQ(h.enqueued[0].data.find("Message-ID: <Q1"), std::string::npos);
  EXPECT_EQ(h.enqueued[0].data.find("\r\nDate: Wed"), std::string::npos);
}

TEST(Session, AuthPlainWithChallengeAndLogin) {
  Harness h = submission_harness();
  std::string out = h.run("EHLO a\r\nAUTH PLAIN\r\n" + kPlainOk + "\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "334", "235 2.7.0"}));
  EXPECT_NE(out.find("\r\n334 \r\n"), std::string::npos);

  Harness l = submission_harness();
  // "alice@example.com", "secret"
  out = l.run("EHLO a\r\nAUTH LOGIN\r\nYWxpY2VAZXhhbXBsZS5jb20=\r\nc2VjcmV0\r\n");
  EXPECT_NE(out.find("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0"), std::string::npos) << out;
  EXPECT_EQ(l.auth_outcomes["LOGIN/ok"], 1);

  Harness li = submission_harness();  // LOGIN with the username as initial response
  out = li.run("EHLO a\r\nAUTH LOGIN YWxpY2VAZXhhbXBsZS5jb20=\r\nc2VjcmV0\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "334", "235 2.7.0"}));
  EXPECT_EQ(li.auth_users, (V{"alice@example.com"}));
}

TEST(Session, ScramIsRelayedToAuthdAndTheServerFinalGoesInA334) {
  // base64: "client-first" = Y2xpZW50LWZpcnN0, "proof" = cHJvb2Y=, "v=final" = dj1maW5hbA==,
  // "server-first" = c2VydmVyLWZpcnN0
  Harness h = submission_harness();
  std::string out = h.run("EHLO a\r\nAUTH SCRAM-SHA-256\r\nY2xpZW50LWZpcnN0\r\ncHJvb2Y=\r\n\r\n"
                          "MAIL FROM:<alice@example.com>\r\n");
  EXPECT_NE(out.find("334 \r\n334 c2VydmVyLWZpcnN0\r\n334 dj1maW5hbA==\r\n235 2.7.0"), std::string::npos) << out;
  EXPECT_EQ(codes(out).back(), "250 2.1.0");
  EXPECT_EQ(h.sasl_steps, (V{"start:", "c1:client-first", "c1:proof"}));
  EXPECT_EQ(h.auth_outcomes["SCRAM-SHA-256/ok"], 1);

  Harness bad = submission_harness();
  out = bad.run("EHLO a\r\nAUTH SCRAM-SHA-256 Y2xpZW50LWZpcnN0\r\nd3Jvbmc=\r\n");  // "wrong"
  EXPECT_EQ(codes(out), (V{"220", "250", "334", "535 5.7.8"}));
  EXPECT_EQ(bad.auth_outcomes["SCRAM-SHA-256/failed"], 1);

  Harness down = submission_harness();
  down.authd_down = true;
  EXPECT_EQ(codes(down.run("EHLO a\r\nAUTH SCRAM-SHA-256\r\n")), (V{"220", "250", "454 4.7.0"}));
}

TEST(Session, ScramExchangeIsTheSameAtEveryByteBoundary) {
  const std::string input = "EHLO a\r\nAUTH SCRAM-SHA-256\r\nY2xpZW50LWZpcnN0\r\ncHJvb2Y=\r\n\r\nNOOP\r\n";
  Harness whole = submission_harness();
  const std::string expected = whole.run(input);
  EXPECT_EQ(codes(expected).back(), "250 2.0.0");
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    Harness h = submission_harness();
    ASSERT_EQ(h.run_split(input, cut), expected) << "cut at " << cut;
  }
}

TEST(Session, AuthFailuresCancelAndLimit) {
  Harness h = submission_harness();
  // base64("\0alice@example.com\0wrong")
  const std::string bad = "AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n";
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + bad + "\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN !!!!\r\nAUTH CRAM-MD5\r\n"
                          "AUTH PLAIN " + bad + "\r\nAUTH PLAIN " + bad + "\r\nNOOP\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "535 5.7.8", "334", "501 5.7.0", "501 5.5.2", "504 5.5.4", "535 5.7.8",
                           "535 5.7.8", "421 4.7.0"}));
  EXPECT_EQ(h.auth_outcomes["PLAIN/failed"], 3);
  EXPECT_EQ(h.limits["auth_failures"], 1);
  EXPECT_TRUE(h.session->closed());
}

TEST(Session, AuthdDownDuringAuthIsTemporary) {
  Harness h = submission_harness();
  h.authd_down = true;
  EXPECT_EQ(codes(h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n")), (V{"220", "250", "454 4.7.0"}));
}

TEST(Session, AuthNotOnMxAndNotTwice) {
  Harness mx;
  EXPECT_EQ(codes(mx.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n")), (V{"220", "250", "503 5.5.1"}));
  Harness h = submission_harness();
  EXPECT_EQ(codes(h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\nAUTH PLAIN " + kPlainOk + "\r\n")),
            (V{"220", "250", "235 2.7.0", "503 5.5.1"}));
}

TEST(Session, SubmissionSenderMustBeOwned) {
  Harness h = submission_harness();
  std::string out = h.run("EHLO a\r\nAUTH PLAIN " + kPlainOk +
                          "\r\nMAIL FROM:<bob@example.com>\r\n"          // another user: 553
                          "MAIL FROM:<Alice+lists@Example.com>\r\nRSET\r\n"  // plus-address: no lookup
                          "MAIL FROM:<team@example.com>\r\nRSET\r\n"     // an alias alice belongs to
                          "MAIL FROM:<nobody@example.com>\r\n"             // unknown: 553
                          "MAIL FROM:<x@remote.example>\r\n"               // not ours: 553
                          "MAIL FROM:<>\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "235 2.7.0", "553 5.7.1", "250 2.1.0", "250 2.0.0", "250 2.1.0",
                           "250 2.0.0", "553 5.7.1", "553 5.7.1", "250 2.1.0"}));
  EXPECT_EQ(h.resolved, (V{"bob@example.com", "team@example.com", "nobody@example.com", "x@remote.example"}));
  EXPECT_EQ(h.rejected["sender_mismatch"], 3);

  Harness down = submission_harness();
  down.begin();
  down.feed("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\n");
  down.take();
  down.authd_down = true;
  down.feed("MAIL FROM:<team@example.com>\r\n");
  EXPECT_EQ(codes(down.take()), (V{"451 4.4.3"}));
}

TEST(Session, SenderLookupKeepsPipelinedOrder) {
  const std::string input = "EHLO a\r\nAUTH PLAIN " + kPlainOk +
                            "\r\nMAIL FROM:<team@example.com> RET=HDRS\r\nRCPT TO:<bob@example.com>\r\n"
                            "DATA\r\nx\r\n.\r\n";
  Harness whole = submission_harness();
  const std::string expected = whole.run(input);
  EXPECT_EQ(codes(expected), (V{"220", "250", "235 2.7.0", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}));
  ASSERT_EQ(whole.enqueued.size(), 1u);
  EXPECT_EQ(whole.enqueued[0].envelope.mail_from, "team@example.com");
  EXPECT_EQ(whole.enqueued[0].envelope.dsn_ret, "HDRS");
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    Harness h = submission_harness();
    ASSERT_EQ(h.run_split(input, cut), expected) << "cut at " << cut;
  }
}

// ---- Relay policy -------------------------------------------------------------

TEST(Session, ClassicRelayTricksAreRefusedOnMx) {
  const std::vector<std::string> tricks = {
      "<victim@remote.example>",                 // plain relay
      "<victim%remote.example@example.com>",     // percent hack
      "<remote.example!victim@example.com>",     // bang path
      "<\"victim@remote.example\"@example.com>", // quoted local part with @
      "<\"victim%remote.example\"@example.com>", // quoted percent hack
      "<@example.com:victim@remote.example>",    // source route
      "<@example.com,@relay.example:victim@remote.example>",
      "<victim@remote.example@example.com>",     // double @
      "<victim>",                                // unqualified
      "<victim@[192.0.2.7]>",                    // address literal
      "<victim@remote.example.>",                // trailing dot
      "<victim@example.com@remote.example>",
      "<alice@example.com> <victim@remote.example>",
  };
  for (const auto& t : tricks) {
    Harness h;
    h.config.max_errors = 100;
    std::string out = h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:" + t + "\r\nDATA\r\n");
    auto c = codes(out);
    ASSERT_EQ(c.size(), 5u) << t;
    EXPECT_EQ(c[3][0], '5') << t << " got " << c[3];
    EXPECT_EQ(c[4], "554 5.5.1") << t;
    EXPECT_TRUE(h.enqueued.empty()) << t;
    for (const auto& asked : h.resolved) EXPECT_EQ(asked.find_first_of("%!\""), std::string::npos) << t;
  }
}

TEST(Session, AddressLiteralsAreNeverLocal) {
  Harness h;
  EXPECT_EQ(codes(h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<x@[192.0.2.9]>\r\n")),
            (V{"220", "250", "250 2.1.0", "554 5.7.1"}));
  EXPECT_TRUE(h.resolved.empty());
  Harness s = submission_harness();
  s.run("EHLO a\r\nAUTH PLAIN " + kPlainOk + "\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<x@[192.0.2.9]>\r\n"
        "DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(s.enqueued.size(), 1u);
  EXPECT_EQ(s.enqueued[0].envelope.recipients[0].address, "x@[192.0.2.9]");
  EXPECT_FALSE(s.enqueued[0].envelope.recipients[0].local);
}

TEST(Session, PostmasterWithoutDomainIsAccepted) {
  Harness h;
  h.config.hostname = "example.com";
  EXPECT_EQ(codes(h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<Postmaster>\r\n")),
            (V{"220", "250", "250 2.1.0", "250 2.1.5"}));
  EXPECT_EQ(h.resolved, (V{"postmaster@example.com"}));
}

TEST(Session, AliasExpansionAndDeduplication) {
  Harness h;
  h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<team@example.com>\r\nRCPT TO:<alice@example.com>\r\n"
        "DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.enqueued.size(), 1u);
  const auto& r = h.enqueued[0].envelope.recipients;
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].address, "alice@example.com");
  EXPECT_TRUE(r[0].local);
  EXPECT_EQ(r[1].address, "carol@elsewhere.net");
  EXPECT_FALSE(r[1].local);
  EXPECT_EQ(h.enqueued[0].data.find("\tfor <"), std::string::npos);  // several recipients: no "for"
}

// ---- Extensions -------------------------------------------------------------

TEST(Session, DsnParametersAreValidatedAndStored) {
  Harness h;
  h.config.max_errors = 100;
  std::string out = h.run(
      "EHLO a\r\n"
      "MAIL FROM:<s@r.example> RET=HDRS ENVID=QQ+2B1 BODY=8BITMIME SIZE=100\r\n"
      "RCPT TO:<alice@example.com> NOTIFY=success,delay ORCPT=rfc822;alice+2Bx@example.com\r\n"
      "RCPT TO:<bob@example.com> NOTIFY=NEVER,SUCCESS\r\n"        // 501: NEVER alone
      "RCPT TO:<bob@example.com> ORCPT=rfc822\r\n"                // 501: no ;
      "RCPT TO:<bob@example.com> NOTIFY=NEVER\r\n"
      "DATA\r\nx\r\n.\r\n"
      "MAIL FROM:<s@r.example> RET=ALL\r\n"                       // 501
      "MAIL FROM:<s@r.example> ENVID=a=b\r\n"                     // 501: not xtext
      "MAIL FROM:<s@r.example> BODY=BINARYMIME\r\n"               // 555: not offered
      "MAIL FROM:<s@r.example> RET=FULL RET=HDRS\r\n");           // 501: duplicate
  EXPECT_EQ(codes(out), (V{"220", "250", "250 2.1.0", "250 2.1.5", "501 5.5.4", "501 5.5.4", "250 2.1.5", "354",
                           "250 2.0.0", "501 5.5.4", "501 5.5.4", "555 5.5.4", "501 5.5.4"}));
  ASSERT_EQ(h.enqueued.size(), 1u);
  const auto& e = h.enqueued[0].envelope;
  EXPECT_EQ(e.dsn_ret, "HDRS");
  EXPECT_EQ(e.dsn_envid, "QQ+2B1");
  EXPECT_EQ(e.body_type, "8BITMIME");
  ASSERT_EQ(e.recipients.size(), 2u);
  EXPECT_EQ(e.recipients[0].notify, "SUCCESS,DELAY");
  EXPECT_EQ(e.recipients[0].orcpt, "rfc822;alice+2Bx@example.com");
  EXPECT_EQ(e.recipients[1].notify, "NEVER");
}

TEST(Session, SmtpUtf8) {
  Harness h;
  h.config.max_errors = 100;
  std::string out = h.run("EHLO a\r\nMAIL FROM:<jöran@r.example>\r\nMAIL FROM:<jöran@r.example> SMTPUTF8\r\n"
                          "RCPT TO:<alice@example.com>\r\nDATA\r\nSubject: ü\r\n\r\n\xc3\xa9\r\n.\r\n"
                          "MAIL FROM:<bad\xff@r.example> SMTPUTF8\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "553 5.6.7", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "501 5.6.7"}));
  ASSERT_EQ(h.enqueued.size(), 1u);
  EXPECT_TRUE(h.enqueued[0].envelope.smtputf8);
  EXPECT_NE(h.enqueued[0].data.find("with UTF8SMTP id"), std::string::npos);
}

TEST(Session, BdatChunksAtEveryByteBoundary) {
  const std::string input =
      "EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\n"
      "BDAT 12\r\nSubject: x\r\n"
      "BDAT 9 LAST\r\n\r\n.\nbody\n"
      "NOOP\r\n";
  Harness whole;
  const std::string expected = whole.run(input);
  EXPECT_EQ(codes(expected), (V{"220", "250", "250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0", "250 2.0.0"}));
  ASSERT_EQ(whole.enqueued.size(), 1u);
  const std::string& d = whole.enqueued[0].data;
  EXPECT_EQ(d.substr(d.size() - 21), "Subject: x\r\n\r\n.\nbody\n");  // octets as sent, nothing unstuffed
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    Harness h;
    ASSERT_EQ(h.run_split(input, cut), expected) << "cut at " << cut;
    ASSERT_EQ(h.enqueued.size(), 1u);
    ASSERT_EQ(h.enqueued[0].data, d);
  }
}

TEST(Session, BdatErrorsStillConsumeTheChunk) {
  Harness h;
  h.config.max_errors = 100;
  h.config.max_message_size = 10;
  std::string out = h.run(
      "EHLO a\r\nBDAT 6\r\nNOOP\r\n"                       // no MAIL: 6 octets eaten, then 503
      "MAIL FROM:<s@r.example>\r\nBDAT 4 LAST\r\nRSET"     // no recipients: 554
      "MAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\n"
      "BDAT 8\r\n12345678BDAT 8 LAST\r\n12345678"          // 16 > 10: 552 once the size is exceeded
      "DATA\r\n"                                           // transaction gone: 503
      "BDAT x\r\n");                                       // 501
  EXPECT_EQ(codes(out), (V{"220", "250", "503 5.5.1", "250 2.1.0", "554 5.5.1", "250 2.1.0", "250 2.1.5",
                           "250 2.0.0", "552 5.3.4", "503 5.5.1", "501 5.5.4"}));
  EXPECT_TRUE(h.enqueued.empty());
}

TEST(Session, DataAfterBdatIsRefused) {
  Harness h;
  EXPECT_EQ(codes(h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nBDAT 1\r\nxDATA\r\n")),
            (V{"220", "250", "250 2.1.0", "250 2.1.5", "250 2.0.0", "503 5.5.1"}));
}

// ---- Limits -------------------------------------------------------------------

TEST(Session, MessageSizeLimitBySizeParameterAndByData) {
  Harness h;
  h.config.max_message_size = 100;
  std::string body(200, 'x');
  std::string out = h.run("EHLO a\r\nMAIL FROM:<s@r.example> SIZE=101\r\nMAIL FROM:<s@r.example> SIZE=99\r\n"
                          "RCPT TO:<alice@example.com>\r\nDATA\r\n" + body + "\r\n.\r\nNOOP\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "552 5.3.4", "250 2.1.0", "250 2.1.5", "354", "552 5.3.4", "250 2.0.0"}));
  EXPECT_NE(out.find("250-SIZE 100\r\n"), std::string::npos);
  EXPECT_TRUE(h.enqueued.empty());
  EXPECT_EQ(h.rejected["size"], 2);
}

TEST(Session, HeaderSizeLimit) {
  Harness h;
  h.config.max_header_size = 64;
  std::string out = h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n"
                          "X-Long: " + std::string(80, 'h') + "\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(codes(out).back(), "552 5.3.4");
  EXPECT_EQ(h.limits["header_size"], 1);
}

TEST(Session, RecipientLimit) {
  Harness h;
  h.config.max_recipients = 2;
  std::string out = h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\n"
                          "RCPT TO:<bob@example.com>\r\nRCPT TO:<postmaster@example.com>\r\n");
  EXPECT_EQ(codes(out), (V{"220", "250", "250 2.1.0", "250 2.1.5", "250 2.1.5", "452 4.5.3"}));
  EXPECT_EQ(h.limits["recipients"], 1);
}

TEST(Session, MessagesPerSessionLimit) {
  Harness h;
  h.config.max_messages = 1;
  const std::string one = "MAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nx\r\n.\r\n";
  std::string out = h.run("EHLO a\r\n" + one + one);
  EXPECT_EQ(codes(out), (V{"220", "250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "421 4.7.0"}));
  EXPECT_EQ(h.enqueued.size(), 1u);
}

TEST(Session, TimeoutSays421) {
  Harness h;
  h.begin();
  h.feed("EHLO a\r\n");
  h.take();
  h.session->on_timeout();
  EXPECT_EQ(codes(h.take()), (V{"421 4.4.2"}));
  EXPECT_TRUE(h.session->closed());
  EXPECT_EQ(h.limits["command_timeout"], 1);
}

TEST(Session, ShutdownOnlyBetweenTransactions) {
  Harness h;
  h.begin();
  h.feed("EHLO a\r\nMAIL FROM:<s@r.example>\r\n");
  h.take();
  EXPECT_FALSE(h.session->shutdown_if_idle());
  h.feed("RSET\r\n");
  h.take();
  EXPECT_TRUE(h.session->shutdown_if_idle());
  EXPECT_EQ(codes(h.take()), (V{"421 4.3.2"}));
}

TEST(Session, RepliesAreCountedByCode) {
  Harness h;
  h.run(kSimple);
  EXPECT_EQ(h.replies["250"], 4);
  EXPECT_EQ(h.replies["354"], 1);
  EXPECT_EQ(h.replies["221"], 1);
  EXPECT_EQ(h.replies["220"], 1);
}

// ---- Hostile input ------------------------------------------------------------

TEST(Session, RandomInputNeverCrashesAndStaysBounded) {
  // Fragments of real commands mixed with noise, in random pieces, on every
  // listener: the session must answer or close, never throw, never hoard input.
  const std::vector<std::string> pieces = {
      "EHLO x\r\n", "HELO y\r\n", "MAIL FROM:<a@b.example>\r\n", "MAIL FROM:<> SIZE=99999999999999999999\r\n",
      "RCPT TO:<alice@example.com>\r\n", "RCPT TO:<x%y@example.com> NOTIFY=NEVER\r\n", "DATA\r\n", "BDAT 5\r\n",
      "BDAT 0 LAST\r\n", "BDAT 99999999999999999999\r\n", ".\r\n", "\r\n.\r\n", "\n.\n", "RSET\r\n", "STARTTLS\r\n",
      "AUTH PLAIN\r\n", "AUTH LOGIN\r\n", "AUTH SCRAM-SHA-256 =\r\n", "*\r\n", "=\r\n", "NOOP\r\n", "VRFY x\r\n",
      std::string(1500, 'A'), std::string("\0\xff\x80", 3), "\r", "\n", "QUIT\r\n"};
  std::mt19937 rng(20261125);
  for (int round = 0; round < 300; ++round) {
    Harness h;
    h.config.listener = static_cast<ListenerKind>(round % 3);
    h.config.tls_available = round % 2 == 0;
    h.config.tls_active = h.config.listener == ListenerKind::kSubmissions;
    h.config.max_errors = 1000;
    h.begin();
    for (int i = 0; i < 60 && !h.session->closed(); ++i) {
      std::string chunk = pieces[rng() % pieces.size()];
      if (rng() % 4 == 0) chunk = chunk.substr(0, rng() % (chunk.size() + 1));
      ASSERT_NO_THROW(h.feed(chunk));
      ASSERT_LE(h.session->buffered(), 4096u);
    }
    h.take();
  }
}

TEST(Session, LocalWithoutUserIdFromAuthdIsATemporaryFailure) {
  Harness g;
  g.begin();
  g.session->feed("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\n");
  auto ev = g.session->take_event();
  ASSERT_TRUE(ev && std::holds_alternative<ResolveRecipientEvent>(*ev));
  Resolution odd;
  odd.kind = RecipientKind::kLocal;  // but no target carrying a user id
  g.session->on_resolved(odd);
  EXPECT_EQ(codes(g.take()), (V{"220", "250", "250 2.1.0", "451 4.4.3"}));
}

// smtp.max_inflight_data: the message bytes all sessions hold at once. A
// message that does not fit is answered 452 4.3.1 (try later), never half
// stored, and its share is returned for the next one.
TEST(Session, MessagesBeyondTheSharedDataBudgetAre452AndTheBudgetIsReturned) {
  auto budget = std::make_shared<postline::net::ByteBudget>(300);
  Harness holder;  // holds 200 bytes of an unfinished message
  holder.config.data_budget = budget;
  holder.begin();
  holder.feed("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n" + std::string(198, 'x') +
              "\r\n");
  EXPECT_EQ(budget->used(), 200u);

  Harness h;
  h.config.data_budget = budget;
  const std::string big = std::string(150, 'y') + "\r\n";
  std::string out = h.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n" + big +
                          ".\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nsmall\r\n.\r\n");
  EXPECT_NE(out.find("452 4.3.1 "), std::string::npos) << out;
  EXPECT_EQ(h.limits["inflight_data"], 1);
  ASSERT_EQ(h.enqueued.size(), 1u);  // the small one fitted
  EXPECT_NE(h.enqueued[0].data.find("small"), std::string::npos);

  // BDAT: the chunk that does not fit is read and refused with 452, also the rest.
  Harness b;
  b.config.data_budget = budget;
  out = b.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nBDAT 150\r\n" +
              std::string(150, 'z') + "BDAT 3 LAST\r\nabc");
  EXPECT_EQ(b.enqueued.size(), 0u);
  size_t first = out.find("452 4.3.1 ");
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_NE(out.find("452 4.3.1 ", first + 1), std::string::npos) << out;

  holder.feed(".\r\n");  // the holder finishes: everything is returned
  EXPECT_EQ(holder.enqueued.size(), 1u);
  EXPECT_EQ(budget->used(), 0u);
}

// RFC 8689: REQUIRETLS is offered, and accepted, over TLS only; it travels to the queue.
TEST(Session, RequireTlsOnlyOverTls) {
  Harness plain;
  plain.config.max_errors = 100;
  std::string out = plain.run("EHLO a\r\nMAIL FROM:<s@r.example> REQUIRETLS\r\n");
  EXPECT_EQ(out.find("REQUIRETLS\r\n"), std::string::npos);
  EXPECT_EQ(codes(out), (V{"220", "250", "530 5.7.10"}));

  Harness tls;
  tls.config.tls_available = true;
  tls.config.tls_active = true;
  tls.config.max_errors = 100;
  out = tls.run("EHLO a\r\nMAIL FROM:<s@r.example> REQUIRETLS=yes\r\nMAIL FROM:<s@r.example> REQUIRETLS\r\n"
                "RCPT TO:<alice@example.com>\r\nDATA\r\nSubject: x\r\n\r\nsecret\r\n.\r\n");
  EXPECT_NE(out.find("250 REQUIRETLS\r\n"), std::string::npos);
  EXPECT_EQ(codes(out), (V{"220", "250", "501 5.5.4", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"}));
  ASSERT_EQ(tls.enqueued.size(), 1u);
  EXPECT_TRUE(tls.enqueued[0].envelope.requiretls);

  Harness without;
  without.config.tls_active = true;
  without.run("EHLO a\r\nMAIL FROM:<s@r.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nx\r\n.\r\n");
  ASSERT_EQ(without.enqueued.size(), 1u);
  EXPECT_FALSE(without.enqueued[0].envelope.requiretls);
}
