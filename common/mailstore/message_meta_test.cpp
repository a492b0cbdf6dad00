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
  auto m = search_index_of("Subject: Hello\tWORLD\r\n\r\nBody\x01 \xC3\xA9");
  EXPECT_NE(m.text.find("hello world"), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("body \xC3\xA9"), std::string::npos) << m.text;
  EXPECT_EQ(m.text.find('\x01'), std::string::npos);
  EXPECT_EQ(m.words, search_words_of(m.text));
  std::string big = "Subject: x\r\n\r\n" + std::string(kMaxSearchText * 2, 'A');
  EXPECT_LE(search_index_of(big).text.size(), kMaxSearchText);
  EXPECT_GT(search_index_of(big).text.size(), kMaxSearchText / 2);
}

TEST(PrepareMessage, BuildsTheSearchIndexOnlyWhenAsked) {
  const std::string raw = "Subject: Hello\r\n\r\nneedle\r\n";
  EXPECT_FALSE(prepare_message(raw).search.has_value());
  const PreparedMessage p = prepare_message(raw, false, true);
  ASSERT_TRUE(p.search.has_value());
  EXPECT_EQ(p.search->text, search_index_of(raw).text);
  EXPECT_NE(p.search->text.find("needle"), std::string::npos);
}

TEST(PrepareMessage, OwnedBytesGiveTheSameAsAView) {
  for (const std::string raw : {std::string("Subject: Hi\r\nFrom: <a@b.example>\r\n\r\nbody\r\n"),
                                std::string("Subject: Hi\nFrom: <a@b.example>\n\nbare\rLF\n"), std::string()}) {
    const PreparedMessage a = prepare_message(raw);
    const PreparedMessage b = prepare_owned_message(std::string(raw));
    EXPECT_EQ(a.body, b.body);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.email_id, b.email_id);
    EXPECT_EQ(a.header, b.header);
    EXPECT_EQ(a.meta.structure, b.meta.structure);
    EXPECT_EQ(a.meta.sort, b.meta.sort);
    EXPECT_EQ(a.meta.preview, b.meta.preview);
  }
  // Binary (literal8) bytes are kept as they are.
  EXPECT_EQ(prepare_owned_message(std::string("a\nb"), true).body, "a\nb");
}

TEST(SearchWords, DistinctTokensOnceInOrderBetweenSpaces) {
  EXPECT_EQ(search_words_of("b a b\nc\ta  a"), " b a c ");
  EXPECT_EQ(search_words_of(""), "");
  EXPECT_EQ(search_words_of(" \n "), "");
  EXPECT_EQ(search_words_of("one"), " one ");
  auto m = search_index_of("Subject: Hello hello\r\n\r\nhello world\r\n");
  EXPECT_EQ(m.words.find("hello", m.words.find("hello") + 1), std::string::npos) << m.words;
  EXPECT_NE(m.words.find(" world "), std::string::npos) << m.words;
}

TEST(Analyse, EightBitHeaderBecomesValidUtf8) {
  EXPECT_NE(search_index_of("Subject: caf\xE9\r\n\r\n").text.find("caf\xC3\xA9"), std::string::npos);
  auto m = analyse("Subject: caf\xE9\r\n\r\n");
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

// ---- SORT and THREAD keys (RFC 5256, RFC 5957) ----

TEST(BaseSubject, Rfc5256Rules) {
  bool reply = true;
  EXPECT_EQ(base_subject("hello", &reply), "hello");
  EXPECT_FALSE(reply);
  // Leaders (re, fw, fwd with optional blobs before the colon) and trailers.
  for (const char* s : {"re: hello", "re:hello", "fw: hello", "fwd: hello", "re[2]: hello", "re [2] : hello",
                        "[list] re: hello", "re: re: fwd: hello", "hello (fwd)", "hello (fwd) (fwd) ",
                        "[fwd: hello]", "re: [fwd: re: hello (fwd)]", "  re:   hello  "}) {
    EXPECT_EQ(base_subject(s, &reply), "hello") << s;
    EXPECT_TRUE(reply) << s;
  }
  // A blob alone is dropped when something is left, and is no reply marker.
  EXPECT_EQ(base_subject("[list] hello", &reply), "hello");
  EXPECT_FALSE(reply);
  EXPECT_EQ(base_subject("[list] [other] hello", &reply), "hello");
  EXPECT_EQ(base_subject("[list]"), "[list]");  // nothing would be left
  EXPECT_EQ(base_subject("[fwd: ]"), "");
  // Whitespace runs become one space; "re" inside a word is no leader.
  EXPECT_EQ(base_subject("a \t  b"), "a b");
  EXPECT_EQ(base_subject("reply: x"), "reply: x");
  EXPECT_EQ(base_subject("re"), "re");
  EXPECT_EQ(base_subject(""), "");
  EXPECT_EQ(base_subject("[unclosed re: x"), "[unclosed re: x");
}

TEST(SortKeys, FromTheHeader) {
  auto k = analyse("Subject: =?UTF-8?Q?R=C3=89?= =?UTF-8?Q?:_Caf=C3=A9?= (fwd)\r\n"
                   "From: \"Doe, Jane\" <Jane.Doe@Example.TEST>, bob@example.test\r\n"
                   "To: undisclosed:;, =?ISO-8859-1?Q?Andr=E9?= <andre@example.test>\r\n"
                   "Cc: <CC@example.test>\r\n"
                   "Date: Mon, 1 Jan 2024 01:00:00 +0200\r\n"
                   "Message-ID: <id1@example.test> (comment)\r\n"
                   "In-Reply-To: <p@x>\r\nReferences: <r1@x> (a <note>)\r\n <r2@x>\r\n\r\nbody\r\n")
               .sort;
  // RFC 2047 decoded, case-folded: "RÉ: Café (fwd)" -> "ré: café": é is no leader.
  EXPECT_EQ(k.subject, "r\xC3\xA9: caf\xC3\xA9");
  EXPECT_TRUE(k.reply_or_forward);  // the (fwd) trailer
  EXPECT_EQ(k.from, "jane.doe");
  EXPECT_EQ(k.display_from, "doe, jane");
  EXPECT_EQ(k.to, "andre");  // the group marker is skipped
  EXPECT_EQ(k.display_to, "andr\xC3\xA9");
  EXPECT_EQ(k.cc, "cc");
  EXPECT_EQ(k.sent, 1704063600);  // 2023-12-31 23:00:00 UTC
  EXPECT_EQ(k.message_id, "id1@example.test");
  EXPECT_EQ(k.references, (std::vector<std::string>{"r1@x", "r2@x"}));  // References wins over In-Reply-To
}

TEST(SortKeys, MissingFieldsAndInReplyTo) {
  auto k = analyse("In-Reply-To: Jane's message <p@x>\r\nDate: someday\r\n\r\nx\r\n").sort;
  EXPECT_EQ(k.subject, "");
  EXPECT_EQ(k.from, "");
  EXPECT_EQ(k.display_from, "");
  EXPECT_FALSE(k.sent.has_value());
  EXPECT_EQ(k.message_id, "");
  EXPECT_EQ(k.references, std::vector<std::string>{"p@x"});
  // The display name falls back to the address.
  EXPECT_EQ(analyse("From: Bob@Example.TEST\r\n\r\nx").sort.display_from, "bob@example.test");
  // Long References keep the first (the thread's root) and the last ones.
  std::string refs = "References:";
  for (int i = 0; i < 100; ++i) refs += " <r" + std::to_string(i) + "@x>";
  auto many = analyse(refs + "\r\n\r\nx").sort.references;
  ASSERT_EQ(many.size(), kMaxReferences);
  EXPECT_EQ(many.front(), "r0@x");
  EXPECT_EQ(many[1], "r37@x");
  EXPECT_EQ(many.back(), "r99@x");
  EXPECT_EQ(sort_keys_of("Subject: Re: x\r\n\r\n"), analyse("Subject: Re: x\r\n\r\n").sort);
}

TEST(SortKeys, Rfc5322Times) {
  EXPECT_EQ(rfc5322_time("Thu, 1 Jan 1970 00:00:00 +0000"), 0);
  EXPECT_EQ(rfc5322_time("1 Jan 1970 01:00 +0100"), 0);  // no weekday, no seconds
  EXPECT_EQ(rfc5322_time("Wed, 31 Dec 1969 19:00:00 EST"), 0);
  EXPECT_EQ(rfc5322_time("1 jan 70 00:00:00 GMT"), 0);  // two-digit year, zone name
  EXPECT_EQ(rfc5322_time("1 Jan 1970 00:00:00"), 0);    // no zone: UTC
  EXPECT_EQ(rfc5322_time("1 Jan 1970 00:00:00 -0130"), 5400);
  for (const char* bad : {"", "garbage", "1 Jan 1970", "32 Jan 2024 00:00", "1 Foo 2024 00:00", "1 Jan 2024 25:00",
                          "1 Jan 2024 10:61", "1 Jan 2024 10:00 +01"})
    EXPECT_FALSE(rfc5322_time(bad).has_value()) << bad;
}

TEST(SortKeys, MessageIds) {
  EXPECT_EQ(message_ids("<a@x> <b@x>\t<c@x>", 10), (std::vector<std::string>{"a@x", "b@x", "c@x"}));
  EXPECT_EQ(message_ids("<a@x> <b@x>", 1), std::vector<std::string>{"a@x"});
  EXPECT_EQ(message_ids("(not <this@x>) <a @x>", 10), std::vector<std::string>{"a@x"});
  EXPECT_TRUE(message_ids("<> <unclosed", 10).empty());
  EXPECT_TRUE(message_ids("<" + std::string(300, 'a') + ">", 10).empty());
}
