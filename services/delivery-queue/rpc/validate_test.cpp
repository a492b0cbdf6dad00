#include "services/delivery-queue/rpc/queue_service.h"

#include <gtest/gtest.h>

using namespace postline::queue;
namespace v1 = postline::mail::v1;

namespace {
v1::Envelope good() {
  v1::Envelope e;
  e.set_mail_from("alice@example.org");
  auto* r = e.add_recipients();
  r->set_address("bob@example.org");
  r->set_local(true);
  r->set_user_id(7);
  auto* r2 = e.add_recipients();
  r2->set_address("carol@remote.test");
  return e;
}
}  // namespace

TEST(ValidateEnvelope, AcceptsAGoodEnvelopeAndNullSender) {
  auto e = good();
  EXPECT_EQ(validate_envelope(e, 10), "");
  e.set_mail_from("");
  EXPECT_EQ(validate_envelope(e, 10), "");
}

TEST(ValidateEnvelope, RejectsWhatWouldBreakDelivery) {
  auto e = good();
  e.clear_recipients();
  EXPECT_NE(validate_envelope(e, 10), "");
  e = good();
  EXPECT_NE(validate_envelope(e, 1), "");  // over the recipient limit
  e = good();
  e.mutable_recipients(0)->set_user_id(0);  // local without a mailbox
  EXPECT_NE(validate_envelope(e, 10), "");
  e = good();
  e.mutable_recipients(1)->set_address("nodomain");
  EXPECT_NE(validate_envelope(e, 10), "");
  e = good();
  e.set_mail_from("a@b\r\nRCPT TO:<x@y>");
  EXPECT_NE(validate_envelope(e, 10), "");
  e = good();
  e.mutable_recipients(1)->set_address("x\xff@remote.test");  // not UTF-8
  EXPECT_NE(validate_envelope(e, 10), "");
  e = good();
  e.mutable_recipients(1)->set_address("jörg@bücher.test");  // UTF-8 is fine
  EXPECT_EQ(validate_envelope(e, 10), "");
  e = good();
  e.mutable_recipients(1)->set_address(std::string(600, 'a') + "@x.test");
  EXPECT_NE(validate_envelope(e, 10), "");
}

TEST(QueueId, FormatAndValidation) {
  auto a = generate_queue_id();
  auto b = generate_queue_id();
  EXPECT_NE(a, b);
  EXPECT_TRUE(valid_queue_id(a));
  EXPECT_FALSE(valid_queue_id("a b"));
  EXPECT_FALSE(valid_queue_id("x"));
  EXPECT_FALSE(valid_queue_id(std::string(100, 'A')));
  EXPECT_EQ(address_domain("Bob@Example.ORG"), "example.org");
  EXPECT_EQ(address_domain("postmaster"), "");
}

TEST(ValidateEnvelope, TargetMailbox) {
  auto e = good();
  EXPECT_EQ(validate_envelope(e, 10), "");  // empty = INBOX
  e.set_target_mailbox("Junk");
  EXPECT_EQ(validate_envelope(e, 10), "");
  e.set_target_mailbox("Archiv/Übersicht");
  EXPECT_EQ(validate_envelope(e, 10), "");
  for (const std::string bad : {std::string("Junk\r\nX: y"), std::string("a\0b", 3), std::string("\xff\xfe"),
                                std::string(201, 'a'), std::string("*"), std::string("Junk%"), std::string("/Junk"),
                                std::string("Junk/")}) {
    e.set_target_mailbox(bad);
    EXPECT_EQ(validate_envelope(e, 10), "invalid target_mailbox") << bad;
  }
}
