#include "services/delivery-queue/dsn/dsn.h"

#include <gtest/gtest.h>

using namespace postline::queue;

namespace {

DsnInput sample() {
  DsnInput in;
  in.reporting_mta = "mx.example.org";
  in.from = "MAILER-DAEMON@mx.example.org";
  in.to = "alice@example.org";
  in.queue_id = "Q1";
  in.arrival = Clock::from_time_t(1700000000);
  in.original = "Subject: hello\r\nFrom: alice@example.org\r\n\r\nbody line\r\n";
  DsnRecipient r;
  r.address = "bob@remote.test";
  r.action = DsnAction::kFailed;
  r.status = "5.1.1";
  r.remote_mta = "mx.remote.test";
  r.diagnostic = "550 5.1.1 no such user\r\nInjected: header";
  r.smtp_diagnostic = true;
  r.last_attempt = Clock::from_time_t(1700000100);
  in.recipients.push_back(r);
  return in;
}

}  // namespace

TEST(Dsn, IsAMultipartReportWithDeliveryStatus) {
  auto in = sample();
  auto m = build_dsn(in, Clock::from_time_t(1700000200), "BOUNDARY");
  EXPECT_NE(m.find("Content-Type: multipart/report; report-type=delivery-status;"), std::string::npos);
  EXPECT_NE(m.find("boundary=\"BOUNDARY\""), std::string::npos);
  EXPECT_NE(m.find("Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"),
            std::string::npos);
  EXPECT_NE(m.find("Final-Recipient: rfc822; bob@remote.test\r\n"), std::string::npos);
  EXPECT_NE(m.find("Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\n"), std::string::npos);
  EXPECT_NE(m.find("Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), std::string::npos);
  EXPECT_NE(m.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
  // A peer's multi-line reply cannot inject header lines.
  EXPECT_EQ(m.find("\r\nInjected: header"), std::string::npos);
  EXPECT_NE(m.find("Diagnostic-Code: smtp; 550 5.1.1 no such user Injected: header\r\n"), std::string::npos);
  // Small original without RET: returned whole.
  EXPECT_NE(m.find("Content-Type: message/rfc822\r\n"), std::string::npos);
  EXPECT_NE(m.find("body line"), std::string::npos);
  EXPECT_NE(m.find("\r\n--BOUNDARY--\r\n"), std::string::npos);
  EXPECT_NE(m.find("Subject: Undelivered Mail Returned to Sender\r\n"), std::string::npos);
}

// Issue 22: a failure we decided (here: SMTPUTF8 not offered, after EHLO
// to the MX) is not reported as the remote's reply.
TEST(Dsn, LocalDecisionIsNotReportedAsTheRemotesReply) {
  auto in = sample();
  in.recipients[0].status = "5.6.7";
  in.recipients[0].diagnostic = "553 5.6.7 the message needs SMTPUTF8 but the server does not support it";
  in.recipients[0].smtp_diagnostic = false;
  auto m = build_dsn(in, Clock::from_time_t(1700000200), "BOUNDARY");
  EXPECT_EQ(m.find("said:"), std::string::npos);
  EXPECT_NE(m.find("decided by Postline at " + in.reporting_mta +
                    ", while connected to host mx.remote.test (not that host's reply): 553 5.6.7"),
            std::string::npos) << m;
  EXPECT_EQ(m.find("Remote-MTA:"), std::string::npos);
  EXPECT_EQ(m.find("Diagnostic-Code: smtp;"), std::string::npos);
  EXPECT_NE(m.find("Diagnostic-Code: X-Postline; 553 5.6.7 the message needs SMTPUTF8"), std::string::npos);
}

// No host reached (DNS) or local delivery: still ours, and said so.
TEST(Dsn, LocalDecisionWithoutAHostNamesPostline) {
  auto in = sample();
  in.recipients[0].status = "5.1.2";
  in.recipients[0].remote_mta = "";
  in.recipients[0].diagnostic = "550 5.1.2 nowhere.test: no such domain";
  in.recipients[0].smtp_diagnostic = false;
  auto m = build_dsn(in, Clock::from_time_t(1700000200), "BOUNDARY");
  EXPECT_NE(m.find("decided by Postline at " + in.reporting_mta + " (not a remote server's reply): 550 5.1.2"),
            std::string::npos) << m;
  EXPECT_EQ(m.find("Remote-MTA:"), std::string::npos);
  EXPECT_NE(m.find("Diagnostic-Code: X-Postline; 550 5.1.2 nowhere.test"), std::string::npos);
}

TEST(Dsn, RetHdrsReturnsOnlyTheHeader) {
  auto in = sample();
  in.ret = "HDRS";
  auto m = build_dsn(in, Clock::now(), "B");
  EXPECT_NE(m.find("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n"), std::string::npos);
  EXPECT_EQ(m.find("body line"), std::string::npos);
}

TEST(Dsn, LargeOriginalWithoutRetReturnsHeaders) {
  auto in = sample();
  std::string big = "Subject: big\r\n\r\n" + std::string(kReturnFullLimit + 10, 'x');
  in.original = big;
  auto m = build_dsn(in, Clock::now(), "B");
  EXPECT_NE(m.find("text/rfc822-headers"), std::string::npos);
  EXPECT_LT(m.size(), 10000u);
}

TEST(Dsn, DelayedReportsWillRetryUntil) {
  auto in = sample();
  in.recipients[0].action = DsnAction::kDelayed;
  in.recipients[0].status = "4.4.1";
  in.recipients[0].will_retry_until = Clock::from_time_t(1700400000);
  auto m = build_dsn(in, Clock::now(), "B");
  EXPECT_NE(m.find("Action: delayed\r\n"), std::string::npos);
  EXPECT_NE(m.find("Will-Retry-Until: "), std::string::npos);
  EXPECT_NE(m.find("Subject: Delayed Mail"), std::string::npos);
}

TEST(Dsn, InternationalAddressesUseGlobalTypes) {
  auto in = sample();
  in.recipients[0].address = "jörg@bücher.test";
  auto m = build_dsn(in, Clock::now(), "B");
  EXPECT_NE(m.find("message/global-delivery-status"), std::string::npos);
  EXPECT_NE(m.find("Final-Recipient: utf-8; jörg@bücher.test"), std::string::npos);
}

TEST(Dsn, NotifySemantics) {
  EXPECT_TRUE(notify_wants("", DsnAction::kFailed));
  EXPECT_TRUE(notify_wants("", DsnAction::kDelayed));
  EXPECT_FALSE(notify_wants("", DsnAction::kDelivered));
  EXPECT_TRUE(notify_wants("SUCCESS,FAILURE", DsnAction::kDelivered));
  EXPECT_FALSE(notify_wants("SUCCESS", DsnAction::kFailed));
  EXPECT_FALSE(notify_wants("never", DsnAction::kFailed));
  EXPECT_TRUE(notify_wants("delay", DsnAction::kDelayed));
}

TEST(Dsn, EnhancedStatusFromReplies) {
  EXPECT_EQ(enhanced_status("550 5.1.1 no such user"), "5.1.1");
  EXPECT_EQ(enhanced_status("451-4.7.1 greylisted"), "4.7.1");
  EXPECT_EQ(enhanced_status("550 no such user"), "5.0.0");
  EXPECT_EQ(enhanced_status("421 4.4.2 closing"), "4.4.2");
  EXPECT_EQ(enhanced_status("550 4.1.1 class mismatch"), "5.0.0");
  EXPECT_EQ(enhanced_status(""), "5.0.0");
}

TEST(Dsn, MessageForTheSenderIsMarkedAndNullSender) {
  MessageData orig;
  orig.queue_id = "Q9";
  orig.mail_from = "alice@example.org";
  orig.body = "Subject: x\r\n\r\ny\r\n";
  DsnRecipient r;
  r.address = "bob@remote.test";
  r.status = "5.0.0";
  auto msg = make_dsn_message({"mx.example.org", "MAILER-DAEMON"}, orig, {r}, Clock::now());
  EXPECT_TRUE(msg.is_dsn);
  EXPECT_EQ(msg.mail_from, "");
  ASSERT_EQ(msg.recipients.size(), 1u);
  EXPECT_EQ(msg.recipients[0].address, "alice@example.org");
  EXPECT_TRUE(msg.recipients[0].needs_resolve);
  EXPECT_NE(msg.body.find("From: Mail Delivery System <MAILER-DAEMON@mx.example.org>"), std::string::npos);
}
