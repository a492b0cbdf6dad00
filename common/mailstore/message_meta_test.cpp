#include "common/mailstore/accounts.h"

#include "common/mailstore/message_meta.h"

#include <gtest/gtest.h>

using namespace postline::mailstore;

TEST(LineEndings, CanonicalIsUnchanged) {
  EXPECT_EQ(canonicalize_line_endings("a\r\nb\r\n"), "a\r\nb\r\n");
}

TEST(LineEndings, BareLfAndCrBecomeCrlf) {
  EXPECT_EQ(canonicalize_line_endings("a\nb\rc\r\nd"), "a\r\nb\r\nc\r\nd");
  EXPECT_EQ(canonicalize_line_endings("a\r\r\nb"), "a\r\n\r\nb");  // a CR before a CRLF
  EXPECT_EQ(canonicalize_line_endings("\n"), "\r\n");
  EXPECT_EQ(canonicalize_line_endings("x\r"), "x\r\n");
  EXPECT_EQ(canonicalize_line_endings("\r\n\r\n"), "\r\n\r\n");
  EXPECT_EQ(canonicalize_line_endings(""), "");
}

TEST(HeaderSize, FindsBlankLine) {
  EXPECT_EQ(header_size("Subject: x\r\n\r\nbody"), 14u);
  EXPECT_EQ(header_size("Subject: x\r\n"), 12u);  // header only
  EXPECT_EQ(header_size("\r\nbody"), 2u);         // empty header
}

TEST(Analyse, SearchTextIsFoldedAndBounded) {
  auto m = analyse("Subject: Hello\tWORLD\r\n\r\nBody\x01 \xC3\xA9");
  EXPECT_NE(m.search_text.find("hello world"), std::string::npos) << m.search_text;
  EXPECT_NE(m.search_text.find("body \xC3\xA9"), std::string::npos) << m.search_text;
  EXPECT_EQ(m.search_text.find('\x01'), std::string::npos);
  std::string big = "Subject: x\r\n\r\n" + std::string(kMaxSearchText * 2, 'A');
  EXPECT_LE(analyse(big).search_text.size(), kMaxSearchText);
  EXPECT_GT(analyse(big).search_text.size(), kMaxSearchText / 2);
}

TEST(SearchWords, DistinctTokensOnceInOrderBetweenSpaces) {
  EXPECT_EQ(search_words_of("b a b\nc\ta  a"), " b a c ");
  EXPECT_EQ(search_words_of(""), "");
  EXPECT_EQ(search_words_of(" \n "), "");
  EXPECT_EQ(search_words_of("one"), " one ");
  auto m = analyse("Subject: Hello hello\r\n\r\nhello world\r\n");
  EXPECT_EQ(m.search_words.find("hello", m.search_words.find("hello") + 1), std::string::npos) << m.search_words;
  EXPECT_NE(m.search_words.find(" world "), std::string::npos) << m.search_words;
}

TEST(Analyse, EightBitHeaderBecomesValidUtf8) {
  auto m = analyse("Subject: caf\xE9\r\n\r\n");
  EXPECT_NE(m.search_text.find("caf\xC3\xA9"), std::string::npos) << m.search_text;
  EXPECT_EQ(m.header_size, 17u);
  EXPECT_FALSE(m.structure.empty());
}

TEST(Rfc5322Day, ParsesCalendarDay) {
  EXPECT_EQ(rfc5322_day("Thu, 01 Jan 1970 23:59:59 -0800"), 0);
  EXPECT_EQ(rfc5322_day("2 Jan 1970 00:00 +0000"), 1);
  EXPECT_EQ(rfc5322_day("Fri, 2 Jan 70 00:00 +0000"), 1);
  EXPECT_EQ(rfc5322_day("garbage"), std::nullopt);
}

TEST(Analyse, PreviewFromFirstTextPart) {
  auto m = analyse(
      "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "Gr=C3=BC=C3=9Fe,\r\n\r\n  see you\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n");
  EXPECT_EQ(m.preview, "Gr\xC3\xBC\xC3\x9F" "e, see you");
  EXPECT_LE(analyse("Subject: x\r\n\r\n" + std::string(1000, 'a')).preview.size(), 200u);
}

TEST(Names, InboxIsCaseInsensitive) {
  EXPECT_EQ(normalize_mailbox_name("inbox"), "INBOX");
  EXPECT_EQ(normalize_mailbox_name("InBox/Lists"), "INBOX/Lists");
  EXPECT_EQ(normalize_mailbox_name("Inboxes"), "Inboxes");
  EXPECT_EQ(normalize_mailbox_name("Sent"), "Sent");
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
