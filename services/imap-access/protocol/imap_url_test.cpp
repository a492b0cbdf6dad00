// IMAP URLs (RFC 5092) as CATENATE uses them (protocol/imap_url.h).
#include "services/imap-access/protocol/imap_url.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

TEST(ImapUrl, RelativeMessageUrlsOfRfc4469) {
  auto u = parse_imap_url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->mailbox, "Drafts");
  EXPECT_EQ(u->uidvalidity, 385759045u);
  EXPECT_EQ(u->uid, 20u);
  EXPECT_EQ(u->section, "HEADER");
  EXPECT_FALSE(u->partial_offset);
  u = parse_imap_url("/INBOX/;UID=7");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->mailbox, "INBOX");
  EXPECT_FALSE(u->uidvalidity);
  EXPECT_EQ(u->section, "");
  u = parse_imap_url("/Work/Projects%20%C3%A9t%C3%A9;UIDVALIDITY=1/;UID=4294967295/;SECTION=1.2.MIME/;PARTIAL=0.1024");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->mailbox, "Work/Projects \xC3\xA9t\xC3\xA9");
  EXPECT_EQ(u->uid, 4294967295u);
  EXPECT_EQ(u->section, "1.2.MIME");
  EXPECT_EQ(u->partial_offset, 0u);
  EXPECT_EQ(u->partial_length, 1024u);
  u = parse_imap_url("/INBOX/;UID=3/;SECTION=HEADER.FIELDS%20(FROM%20TO)/;PARTIAL=10");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->section, "HEADER.FIELDS (FROM TO)");
  EXPECT_EQ(u->partial_offset, 10u);
  EXPECT_FALSE(u->partial_length);
}

TEST(ImapUrl, AbsoluteUrlsOfTheSameUser) {
  auto u = parse_imap_url("imap://joe@example.com/INBOX;UIDVALIDITY=42/;UID=5", "joe");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->mailbox, "INBOX");
  EXPECT_TRUE(parse_imap_url("imap://Joe%40Example.test@mail.example.test:143/INBOX/;UID=1", "joe@example.test"));
  EXPECT_TRUE(parse_imap_url("IMAP://mail.example.test/INBOX/;UID=1", "joe"));  // no user: the session's
  EXPECT_FALSE(parse_imap_url("imap://ann@example.com/INBOX/;UID=5", "joe"));   // someone else's
}

TEST(ImapUrl, WhatIsNotAMessageUrlOfThisUser) {
  for (const char* bad : {"", "INBOX/;UID=1", "/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=4294967296", "/INBOX/;UID=x",
                          "/;UID=1", "/INBOX;UIDVALIDITY=0/;UID=1", "/INBOX;UIDVALIDITY=1;UID=1",
                          "/INBOX/;UID=1/;SECTION=", "/INBOX/;UID=1/;PARTIAL=1.0", "/INBOX/;UID=1/;PARTIAL=x",
                          "/INBOX/;UID=1/;URLAUTH=anonymous:internal:0123", "/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z",
                          "/IN%0ABOX/;UID=1", "/IN%00BOX/;UID=1", "/IN%GGBOX/;UID=1", "/IN%4", "/IN BOX/;UID=1",
                          "/INBOX?SUBJECT%20x", "imap:///INBOX/;UID=1", "imap://host", "http://host/INBOX/;UID=1"}) {
    EXPECT_FALSE(parse_imap_url(bad, "joe")) << bad;
  }
  EXPECT_FALSE(parse_imap_url("/" + std::string(kMaxImapUrlOctets, 'a') + "/;UID=1"));
}

}  // namespace
}  // namespace postline::imap
