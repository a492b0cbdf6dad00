// Which mailbox local delivery uses: the stored target, or for rows older than
// the column, smtpd's old header.
#include "services/delivery-queue/delivery/local_mailbox.h"

#include <gtest/gtest.h>

using namespace postline::queue;

TEST(LocalMailbox, StoredTargetWinsAndEmptyIsInbox) {
  MessageData m;
  m.body = "X-Postline-Mailbox: Junk\r\nSubject: s\r\n\r\nx\r\n";
  m.target_mailbox = "";
  EXPECT_EQ(local_mailbox(m), "INBOX");  // a new row: the header (a forgery) is ignored
  m.target_mailbox = "Junk";
  EXPECT_EQ(local_mailbox(m), "Junk");
}

TEST(LocalMailbox, RowsFromBeforeTheColumnReadTheHeader) {
  MessageData m;
  m.body = "Received: x\r\nX-Postline-Mailbox: Junk\r\nSubject: s\r\n\r\nx\r\n";
  EXPECT_EQ(local_mailbox(m), "Junk");
  m.body = "Subject: s\r\n\r\nX-Postline-Mailbox: Junk\r\n";  // in the body: not a header
  EXPECT_EQ(local_mailbox(m), "INBOX");
  m.body = "X-Postline-Mailbox: Other\r\n\r\n";
  EXPECT_EQ(local_mailbox(m), "INBOX");
}
