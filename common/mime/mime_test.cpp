// Unit tests for postline_mime. Expected values are worked out from the RFCs, not recorded
// from the implementation; the RFC section is named where it decides the answer. The IMAP
// text of these trees (ENVELOPE, BODYSTRUCTURE) is tested where it is rendered:
// services/imap-access/protocol/structure_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "common/mime/mime.h"

namespace mime = postline::mime;

namespace {

std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string fetch(const mime::ParsedMessage& m, std::string_view raw, std::string_view spec) {
  auto s = mime::parse_section(spec);
  EXPECT_TRUE(s.has_value()) << spec;
  if (!s) return "<bad>";
  return mime::fetch_section(m, raw, *s);
}

const std::string kNested = crlf(
    "From: a@example.com\n"
    "Subject: nested\n"
    "Content-Type: multipart/mixed; boundary=\"o\"\n"
    "\n"
    "preamble\n"
    "--o\n"
    "Content-Type: text/plain\n"
    "\n"
    "part one\n"
    "--o\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: b@example.com\n"
    "Subject: inner\n"
    "Content-Type: multipart/alternative; boundary=i\n"
    "\n"
    "--i\n"
    "\n"
    "inner plain\n"
    "--i\n"
    "Content-Type: text/html\n"
    "\n"
    "<b>inner</b>\n"
    "--i--\n"
    "--o\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: simple inner\n"
    "\n"
    "simple body\n"
    "--o--\n"
    "epilogue\n");

}  // namespace

// ---------------------------------------------------------------- header fields

TEST(MimeHeader, FieldsKeepRawValuesAndOffsets) {
  std::string raw = crlf("Subject: a\n folded\nX-Empty:\nTo : b@c\n\nbody");
  auto m = mime::parse(raw);
  ASSERT_EQ(m.root.fields.size(), 3u);
  const auto& f = m.root.fields[0];
  EXPECT_EQ(f.name, "Subject");
  EXPECT_EQ(f.value, " a\r\n folded");
  EXPECT_EQ(f.start, 0u);
  EXPECT_EQ(raw.substr(f.start, f.end - f.start), "Subject: a\r\n folded\r\n");
  EXPECT_EQ(m.root.fields[1].value, "");
  EXPECT_EQ(m.root.fields[2].name, "To");  // RFC 5322 §4.5 obsolete WSP before the colon
  EXPECT_EQ(m.root.body_start, raw.size() - 4);
  EXPECT_EQ(mime::unfold(f.value), "a folded");
}

TEST(MimeHeader, BareLfAndNoBlankLine) {
  auto m = mime::parse("Subject: x\nFrom: y@z\n\nbody\n");
  EXPECT_EQ(m.root.body_start, 22u);
  EXPECT_EQ(m.root.lines, 1u);
  auto h = mime::parse("Subject: only a header");
  EXPECT_EQ(h.root.body_start, h.size);
  EXPECT_EQ(h.root.size(), 0u);
  ASSERT_EQ(h.root.fields.size(), 1u);
  EXPECT_EQ(h.root.fields[0].value, " only a header");
}

TEST(MimeHeader, GarbageLinesAreSkippedButStayInTheHeader) {
  std::string raw = crlf("From me Mon Jul 7\nnot a field\nSubject: s\n\nb");
  auto m = mime::parse(raw);
  ASSERT_EQ(m.root.fields.size(), 1u);
  EXPECT_EQ(m.root.fields[0].name, "Subject");
  EXPECT_EQ(m.root.body_start, raw.size() - 1);
}

TEST(MimeHeader, LimitsDropOrdinaryFieldsFirst) {
  std::string raw;
  for (int i = 0; i < 50; ++i) raw += "X-Junk: " + std::to_string(i) + "\r\n";
  raw += "Subject: kept\r\n\r\nbody";
  mime::Limits lim;
  lim.max_header_fields = 10;
  auto m = mime::parse(raw, lim);
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.root.envelope->subject, "kept");
  EXPECT_LE(m.root.fields.size(), 20u);
  EXPECT_EQ(m.root.body_start, raw.size() - 4);  // the header range stays exact
}

// ---------------------------------------------------------------- content fields

// RFC 2046 5.1.1, note to implementors: a line that starts with the boundary is a
// delimiter even with junk after it - unless an inner multipart declares a boundary
// that extends this one, whose delimiter lines would look the same.
TEST(MimeMultipart, ABoundaryFollowedByJunkIsStillADelimiter) {
  auto m = mime::parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                       "--b\r\n\r\none\r\n--bJUNK after the boundary\r\n\r\ntwo\r\n--b--\r\n");
  ASSERT_EQ(m.root.children.size(), 2u);
  auto two = m.root.children[1];
  EXPECT_EQ(two.body_end - two.body_start, 3u);  // "two"
  // Here "--bc" is the inner multipart's: the outer one only takes exact lines.
  auto n = mime::parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                       "--b\r\nContent-Type: multipart/alternative; boundary=bc\r\n\r\n"
                       "--bc\r\n\r\ninner one\r\n--bc\r\n\r\ninner two\r\n--bc--\r\n"
                       "--b\r\n\r\nouter two\r\n--b--\r\n");
  ASSERT_EQ(n.root.children.size(), 2u);
  EXPECT_EQ(n.root.children[0].children.size(), 2u);
}

TEST(MimeContent, DefaultsPerRfc2045) {
  auto m = mime::parse("Subject: x\r\n\r\nhi");
  EXPECT_EQ(m.root.type, "text");
  EXPECT_EQ(m.root.subtype, "plain");
  EXPECT_FALSE(m.root.has_content_type);
  // Invalid Content-Type: RFC 2045 §5.2 says text/plain; charset=us-ascii.
  auto bad = mime::parse("Content-Type: nonsense\r\n\r\nhi");
  EXPECT_EQ(bad.root.type, "text");
  EXPECT_EQ(bad.root.subtype, "plain");
  EXPECT_FALSE(bad.root.has_content_type);
  EXPECT_TRUE(bad.root.params.empty());  // the us-ascii default is the renderer's to add
  EXPECT_EQ(bad.root.lines, 1u);
}

TEST(MimeContent, ParamsCommentsQuotesAndCase) {
  auto m = mime::parse(
      "Content-Type: Text/HTML (a comment) ; Charset = \"UTF-8\" ; format=flowed (c);\r\n"
      " name=My File.txt\r\n\r\n");
  EXPECT_EQ(m.root.type, "text");
  EXPECT_EQ(m.root.subtype, "html");
  ASSERT_EQ(m.root.params.size(), 3u);
  EXPECT_EQ(m.root.params[0].name, "charset");
  EXPECT_EQ(m.root.params[0].value, "UTF-8");
  EXPECT_EQ(m.root.params[1].value, "flowed");
  EXPECT_EQ(m.root.params[2].value, "My File.txt");  // unquoted with a space: tolerated
}

TEST(MimeContent, Rfc2231ContinuationsAndCharsets) {
  // RFC 2231 §3 and §4 examples.
  auto m = mime::parse(
      "Content-Type: message/external-body; access-type=URL;\r\n"
      " URL*0=\"ftp://\";\r\n"
      " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"\r\n"
      "Content-Disposition: attachment;\r\n"
      " filename*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
      " filename*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
      " filename*2=\"isn't it!\"\r\n"
      "\r\n");
  ASSERT_NE(m.root.param("url"), nullptr);
  EXPECT_EQ(*m.root.param("url"), "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
  ASSERT_EQ(m.root.disposition_params.size(), 1u);
  EXPECT_EQ(m.root.disposition_params[0].name, "filename");
  EXPECT_EQ(m.root.disposition_params[0].value, "This is even more ***fun*** isn't it!");

  auto l = mime::parse("Content-Type: text/plain; name*=iso-8859-1''Gr%FC%DFe.txt\r\n\r\n");
  ASSERT_NE(l.root.param("name"), nullptr);
  EXPECT_EQ(*l.root.param("name"), "Gr\xC3\xBC\xC3\x9F" "e.txt");
  // A gap in the sections ends the value (RFC 2231 §3: sections must be in order from 0).
  auto gap = mime::parse("Content-Type: text/plain; n*0=a; n*2=c\r\n\r\n");
  ASSERT_NE(gap.root.param("n"), nullptr);
  EXPECT_EQ(*gap.root.param("n"), "a");
}

TEST(MimeContent, LanguageLocationDisposition) {
  auto m = mime::parse(
      "Content-Type: text/plain\r\n"
      "Content-Language: en-GB (British), fr\r\n"
      "Content-Location: http://example.com/\r\n a/b\r\n"
      "Content-Disposition: INLINE; filename=a.txt\r\n"
      "Content-MD5: abc=\r\n"
      "\r\nx");
  EXPECT_EQ(m.root.languages, (std::vector<std::string>{"en-GB", "fr"}));
  EXPECT_EQ(m.root.location, "http://example.com/a/b");
  EXPECT_EQ(m.root.disposition, "inline");
  ASSERT_EQ(m.root.disposition_params.size(), 1u);
  EXPECT_EQ(m.root.disposition_params[0].name, "filename");
  EXPECT_EQ(m.root.disposition_params[0].value, "a.txt");
  EXPECT_EQ(m.root.md5, "abc=");
  EXPECT_EQ(m.root.size(), 1u);
  EXPECT_EQ(m.root.lines, 1u);
}

// ---------------------------------------------------------------- tree and offsets

TEST(MimeTree, NestedOffsetsAreExact) {
  auto m = mime::parse(kNested);
  ASSERT_EQ(m.root.children.size(), 3u);
  const auto& p1 = m.root.children[0];
  EXPECT_EQ(kNested.substr(p1.body_start, p1.size()), "part one");
  EXPECT_EQ(kNested.substr(p1.header_start, p1.body_start - p1.header_start),
            "Content-Type: text/plain\r\n\r\n");
  const auto& p2 = m.root.children[1];
  ASSERT_TRUE(p2.is_message_rfc822());
  ASSERT_EQ(p2.children.size(), 1u);
  const auto& inner = p2.children[0];
  EXPECT_EQ(inner.header_start, p2.body_start);
  EXPECT_EQ(inner.envelope->subject, "inner");
  ASSERT_EQ(inner.children.size(), 2u);
  EXPECT_EQ(kNested.substr(inner.children[0].body_start, inner.children[0].size()),
            "inner plain");
  EXPECT_EQ(inner.children[0].type, "text");  // no header at all: defaults
}

TEST(MimeTree, SectionsPerRfc3501) {
  const std::string& r = kNested;
  auto m = mime::parse(r);
  EXPECT_EQ(fetch(m, r, ""), r);
  EXPECT_EQ(fetch(m, r, "HEADER"),
            crlf("From: a@example.com\nSubject: nested\n"
                 "Content-Type: multipart/mixed; boundary=\"o\"\n\n"));
  EXPECT_EQ(fetch(m, r, "TEXT").substr(0, 13), crlf("preamble\n--o"));
  EXPECT_EQ(fetch(m, r, "1"), "part one");
  EXPECT_EQ(fetch(m, r, "1.MIME"), crlf("Content-Type: text/plain\n\n"));
  EXPECT_EQ(fetch(m, r, "2.HEADER"),
            crlf("From: b@example.com\nSubject: inner\n"
                 "Content-Type: multipart/alternative; boundary=i\n\n"));
  EXPECT_EQ(fetch(m, r, "2.1"), "inner plain");
  EXPECT_EQ(fetch(m, r, "2.2"), "<b>inner</b>");
  EXPECT_EQ(fetch(m, r, "2.2.MIME"), crlf("Content-Type: text/html\n\n"));
  EXPECT_EQ(fetch(m, r, "2.1.MIME"), crlf("\n"));
  EXPECT_EQ(fetch(m, r, "2.TEXT"),
            crlf("--i\n\ninner plain\n--i\nContent-Type: text/html\n\n<b>inner</b>\n--i--"));
  // Part 3 is a message whose body is not multipart: 3.1 is that body.
  EXPECT_EQ(fetch(m, r, "3.1"), "simple body");
  EXPECT_EQ(fetch(m, r, "3.TEXT"), "simple body");
  EXPECT_EQ(fetch(m, r, "3"), crlf("Subject: simple inner\n\nsimple body"));
  EXPECT_EQ(fetch(m, r, "2.HEADER.FIELDS (SUBJECT x-none)"), crlf("Subject: inner\n\n"));
  EXPECT_EQ(fetch(m, r, "HEADER.FIELDS.NOT (From Content-Type)"),
            crlf("Subject: nested\n\n"));
  EXPECT_EQ(fetch(m, r, "HEADER.FIELDS (X-Nothing)"), "\r\n");
  // Sections that do not exist.
  EXPECT_FALSE(mime::locate(m, "4").has_value());
  EXPECT_FALSE(mime::locate(m, "1.1").has_value());
  EXPECT_FALSE(mime::locate(m, "1.HEADER").has_value());  // 1 is not a message/rfc822
  EXPECT_FALSE(mime::locate(m, "2.3").has_value());
  EXPECT_FALSE(mime::locate(m, "3.2").has_value());
}

TEST(MimeTree, NonMultipartMessageBodyIsPartOne) {
  std::string r = crlf("Subject: s\nContent-Type: text/plain\n\nthe body\n");
  auto m = mime::parse(r);
  EXPECT_EQ(fetch(m, r, "1"), crlf("the body\n"));
  EXPECT_EQ(fetch(m, r, "TEXT"), crlf("the body\n"));
  EXPECT_EQ(fetch(m, r, "1.MIME"), crlf("Subject: s\nContent-Type: text/plain\n\n"));
  EXPECT_FALSE(mime::locate(m, "2").has_value());
  EXPECT_FALSE(mime::locate(m, "1.1").has_value());
}

TEST(MimeTree, TopLevelMessageRfc822) {
  std::string r = crlf("Content-Type: message/rfc822\n\nSubject: in\n\nbody");
  auto m = mime::parse(r);
  EXPECT_EQ(fetch(m, r, "1"), crlf("Subject: in\n\nbody"));
  EXPECT_EQ(fetch(m, r, "1.HEADER"), crlf("Subject: in\n\n"));
  EXPECT_EQ(fetch(m, r, "1.1"), "body");
}

TEST(MimeTree, ParseSectionSyntax) {
  EXPECT_FALSE(mime::parse_section("0").has_value());
  EXPECT_FALSE(mime::parse_section("1.").has_value());
  EXPECT_FALSE(mime::parse_section("MIME").has_value());  // MIME needs a part
  EXPECT_FALSE(mime::parse_section("HEADER.FIELDS").has_value());
  EXPECT_FALSE(mime::parse_section("HEADER.FIELDS ()").has_value());
  EXPECT_FALSE(mime::parse_section("BOGUS").has_value());
  EXPECT_FALSE(mime::parse_section("99999999999").has_value());
  auto s = mime::parse_section("1.2.header.fields.not (\"A B\" C)");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->path, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(s->text, mime::SectionText::kHeaderFieldsNot);
  EXPECT_EQ(s->fields, (std::vector<std::string>{"A B", "C"}));
}

TEST(MimeTree, HeaderFieldsKeepFoldingAndOrder) {
  std::string h = crlf("B: 1\nA: 2\n  cont\nb: 3\n\n");
  EXPECT_EQ(mime::filter_header_fields(h, {"b", "a"}, false), crlf("B: 1\nA: 2\n  cont\nb: 3\n\n"));
  EXPECT_EQ(mime::filter_header_fields(h, {"B"}, true), crlf("A: 2\n  cont\n\n"));
  // A header that ends without a blank line (a message with no body), last field
  // without CRLF: no blank line is made up (RFC 3501 6.4.5).
  EXPECT_EQ(mime::filter_header_fields("A: x", {"A"}, false), "A: x\r\n");
  EXPECT_EQ(mime::filter_header_fields(crlf("A: x\nB: y\n"), {"A"}, true), crlf("B: y\n"));
}

TEST(MimeTree, HeaderWithBinaryEncodingReplacesTheFieldInPlace) {
  EXPECT_EQ(mime::header_with_binary_encoding(crlf("A: 1\nContent-Transfer-Encoding:\n  base64\nB: 2\n\n")),
            crlf("A: 1\nContent-Transfer-Encoding: binary\nB: 2\n\n"));
  EXPECT_EQ(mime::header_with_binary_encoding(crlf("content-transfer-encoding : quoted-printable\n\nX: body\n")),
            crlf("Content-Transfer-Encoding: binary\n\nX: body\n"));
  EXPECT_EQ(mime::header_with_binary_encoding(crlf("A: 1\n\n")), crlf("A: 1\n\n"));
}

TEST(MimeTree, UnterminatedInnerMultipartStopsAtOuterBoundary) {
  std::string r = crlf(
      "Content-Type: multipart/mixed; boundary=out\n\n"
      "--out\nContent-Type: multipart/mixed; boundary=in\n\n--in\n\ninner never closed\n"
      "--out\n\nsecond\n--out--\n");
  auto m = mime::parse(r);
  ASSERT_EQ(m.root.children.size(), 2u);
  ASSERT_EQ(m.root.children[0].children.size(), 1u);
  EXPECT_EQ(fetch(m, r, "1.1"), "inner never closed");
  EXPECT_EQ(fetch(m, r, "2"), "second");
}

TEST(MimeTree, InnerMultipartReusingTheBoundary) {
  std::string r = crlf(
      "Content-Type: multipart/mixed; boundary=s\n\n"
      "--s\nContent-Type: multipart/alternative; boundary=s\n\n--s\n\ninner\n--s--\n"
      "--s\n\nouter\n--s--\n");
  auto m = mime::parse(r);
  ASSERT_EQ(m.root.children.size(), 2u);
  EXPECT_EQ(fetch(m, r, "1.1"), "inner");
  EXPECT_EQ(fetch(m, r, "2"), "outer");
}

TEST(MimeTree, ReusedBoundaryCannotMakeParsingQuadratic) {
  std::string r = "Content-Type: multipart/mixed; boundary=s\r\n\r\n"
                  "--s\r\nContent-Type: multipart/mixed; boundary=s\r\n";
  for (int i = 0; i < 200000; ++i) r += "--s\r\nContent-Type: multipart/mixed; boundary=s\r\n";
  auto t0 = std::chrono::steady_clock::now();
  auto m = mime::parse(r);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 5000);
}

TEST(MimeRobustness, CraftedInputStaysLinear) {
  std::string words;
  for (int i = 0; i < 40000; ++i) words += "=?a?q?xxxxxx ";  // never closed
  std::string amps(2'000'000, '&');
  std::string r = "Subject: " + words + "\r\nContent-Type: text/html\r\n\r\n" + amps;
  mime::Limits lim;
  lim.max_header_bytes = 1 << 20;
  auto t0 = std::chrono::steady_clock::now();
  auto m = mime::parse(r, lim);
  std::string t = mime::search_text(m, r, lim);
  (void)mime::preview_text(m, r);
  (void)mime::decode_header_value(words);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 5000);
  EXPECT_NE(t.find("=?a?q?xxxxxx"), std::string::npos);
}

TEST(MimeTree, PartAndDepthLimits) {
  std::string r = "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
  for (int i = 0; i < 100; ++i) r += "--b\r\n\r\nx\r\n";
  mime::Limits lim;
  lim.max_parts = 10;
  auto m = mime::parse(r, lim);
  EXPECT_TRUE(m.truncated);
  EXPECT_LE(m.root.children.size(), 10u);

  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "Content-Type: message/rfc822\r\n\r\n";
  auto d = mime::parse(deep);  // must not exhaust the stack
  EXPECT_TRUE(d.truncated);
  // Every node counts (a message/rfc822 part and the message in it are two); a node at
  // max_depth is a leaf, so whoever walks the tree recurses at most that deep.
  std::size_t depth = 0;
  for (const mime::Part* p = &d.root; !p->children.empty(); p = &p->children[0]) ++depth;
  EXPECT_EQ(depth, mime::Limits{}.max_depth);
}

// ---------------------------------------------------------------- ENVELOPE

TEST(MimeEnvelope, Rfc3501ExampleFields) {
  auto m = mime::parse(crlf(
      "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
      "From: Terry Gray <gray@cac.washington.edu>\n"
      "Subject: IMAP4rev1 WG mtg summary and minutes\n"
      "To: imap@cac.washington.edu\n"
      "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
      "Message-Id: <B27397-0100000@cac.washington.edu>\n\nx"));
  // The fields of the RFC 3501 §7.4.2 FETCH response example.
  ASSERT_TRUE(m.root.envelope.has_value());
  const auto& e = *m.root.envelope;
  EXPECT_EQ(e.date, "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)");
  EXPECT_EQ(e.subject, "IMAP4rev1 WG mtg summary and minutes");
  ASSERT_EQ(e.from.size(), 1u);
  EXPECT_EQ(e.from[0].name, "Terry Gray");
  EXPECT_FALSE(e.from[0].adl.has_value());
  EXPECT_EQ(e.from[0].mailbox, "gray");
  EXPECT_EQ(e.from[0].host, "cac.washington.edu");
  // sender and reply-to default to from (RFC 3501 §7.4.2).
  ASSERT_EQ(e.sender.size(), 1u);
  EXPECT_EQ(e.sender[0].mailbox, "gray");
  ASSERT_EQ(e.reply_to.size(), 1u);
  EXPECT_EQ(e.reply_to[0].host, "cac.washington.edu");
  ASSERT_EQ(e.to.size(), 1u);
  EXPECT_FALSE(e.to[0].name.has_value());
  EXPECT_EQ(e.to[0].mailbox, "imap");
  ASSERT_EQ(e.cc.size(), 2u);
  EXPECT_EQ(e.cc[0].host, "CNRI.Reston.VA.US");  // case kept
  EXPECT_EQ(e.cc[1].name, "John Klensin");
  EXPECT_EQ(e.cc[1].mailbox, "KLENSIN");
  EXPECT_TRUE(e.bcc.empty());
  EXPECT_FALSE(e.in_reply_to.has_value());
  EXPECT_EQ(e.message_id, "<B27397-0100000@cac.washington.edu>");
}

TEST(MimeEnvelope, NoHeaderAtAll) {
  auto m = mime::parse("\r\nbody");
  ASSERT_TRUE(m.root.envelope.has_value());
  const auto& e = *m.root.envelope;
  EXPECT_FALSE(e.date || e.subject || e.in_reply_to || e.message_id);
  EXPECT_TRUE(e.from.empty() && e.sender.empty() && e.reply_to.empty() && e.to.empty() &&
              e.cc.empty() && e.bcc.empty());
}

TEST(MimeEnvelope, GroupsAndOddAddresses) {
  auto m = mime::parse(crlf(
      "From: \"Joe Q. Public\" <john.q.public@example.com>\n"
      "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\n"
      "Cc: Undisclosed recipients:;\n"
      "Bcc: <@r1,@r2:x@y.test>, broken, <>\n\n"));
  const auto& e = *m.root.envelope;
  ASSERT_EQ(e.to.size(), 5u);
  EXPECT_EQ(e.to[0].mailbox, "A Group");
  EXPECT_FALSE(e.to[0].host.has_value());  // group start: (NIL NIL "A Group" NIL)
  EXPECT_FALSE(e.to[4].mailbox.has_value());  // group end: (NIL NIL NIL NIL)
  ASSERT_EQ(e.cc.size(), 2u);  // an empty group is its start and its end
  EXPECT_EQ(e.cc[0].mailbox, "Undisclosed recipients");
  EXPECT_FALSE(e.cc[0].host.has_value());
  EXPECT_FALSE(e.cc[1].name || e.cc[1].adl || e.cc[1].mailbox || e.cc[1].host);
  ASSERT_EQ(e.bcc.size(), 3u);
  EXPECT_EQ(e.bcc[0].adl, "@r1,@r2");
  EXPECT_EQ(e.bcc[1].host, "MISSING_DOMAIN");
  EXPECT_EQ(e.bcc[2].mailbox, "MISSING_MAILBOX");
  EXPECT_EQ(e.from[0].name, "Joe Q. Public");
}

TEST(MimeEnvelope, CommentsInsideAnAddrSpecAreNoName) {
  auto m = mime::parse(crlf(
      "From: <user (comment)@ (comment) example.test>\n"
      "To: a(inside)@b.test, c@d.test (After), (Before) e@f.test\n\n"));
  const auto& e = *m.root.envelope;
  ASSERT_EQ(e.from.size(), 1u);
  EXPECT_FALSE(e.from[0].name.has_value());
  EXPECT_EQ(e.from[0].mailbox, "user");
  EXPECT_EQ(e.from[0].host, "example.test");
  ASSERT_EQ(e.to.size(), 3u);
  EXPECT_FALSE(e.to[0].name.has_value());
  EXPECT_EQ(e.to[1].name, "After");
  EXPECT_FALSE(e.to[2].name.has_value());
  // The search text has the address fields once more as plain addresses.
  std::string raw = crlf("From: <user (comment)@ (comment) example.test>\n\nx\n");
  EXPECT_NE(mime::search_text(mime::parse(raw), raw).find("from: <user@example.test>"), std::string::npos);
}

TEST(MimeEnvelope, QuotedLocalPartsLoseTheirQuoting) {
  // RFC 3501/9051 addr-mailbox: "holds [RFC-2822] local-part after removing [RFC-2822]
  // quoting" (found by tests/differential against Dovecot, which answers the same).
  auto m = mime::parse(crlf(
      "From: \"john doe\"@example.com\n"
      "To: \"a\\\"b\".c@example.com, <\"x@y\"@example.com>\n\n"));
  const auto& e = *m.root.envelope;
  ASSERT_EQ(e.from.size(), 1u);
  EXPECT_EQ(e.from[0].mailbox, "john doe");
  EXPECT_EQ(e.from[0].host, "example.com");
  ASSERT_EQ(e.to.size(), 2u);
  EXPECT_EQ(e.to[0].mailbox, "a\"b.c");
  EXPECT_EQ(e.to[1].mailbox, "x@y");  // the '@' inside the quotes is not the separator
  EXPECT_EQ(e.to[1].host, "example.com");
}

// ---------------------------------------------------------------- decoding

TEST(MimeDecode, Rfc2047Examples) {
  // RFC 2047 §8.
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?a?="), "a");
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?a?= b"), "a b");
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?a?=\r\n   =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?a_b?="), "a b");
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a b");
  EXPECT_EQ(mime::decode_header_value("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?="),
            "Keld J\xC3\xB8rn Simonsen");
  EXPECT_EQ(mime::decode_header_value("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
  EXPECT_EQ(mime::decode_header_value("=?utf-8?B?5byg5Lyf?="), "\xE5\xBC\xA0\xE4\xBC\x9F");
}

TEST(MimeDecode, Rfc2047EdgeCases) {
  // A UTF-8 sequence split across two adjacent words is joined before conversion.
  EXPECT_EQ(mime::decode_header_value("=?utf-8?q?split_=E2=82?= =?utf-8?q?=AC_euro?="),
            "split \xE2\x82\xAC euro");
  // Not encoded words: kept as written.
  EXPECT_EQ(mime::decode_header_value("=?bogus?x?not-a-word?="), "=?bogus?x?not-a-word?=");
  EXPECT_EQ(mime::decode_header_value("=?utf-8?q?has space?="), "=?utf-8?q?has space?=");
  EXPECT_EQ(mime::decode_header_value("a =?utf-8?q?unterminated"), "a =?utf-8?q?unterminated");
  // Text between words that is not only whitespace is kept.
  EXPECT_EQ(mime::decode_header_value("=?utf-8?q?a?= - =?utf-8?q?b?="), "a - b");
  // Raw 8-bit header text: UTF-8 kept, anything else read as Windows-1252.
  EXPECT_EQ(mime::decode_header_value("Gr\xC3\xBC\xC3\x9F" "e"), "Gr\xC3\xBC\xC3\x9F" "e");
  EXPECT_EQ(mime::decode_header_value("caf\xE9"), "caf\xC3\xA9");
  // Unknown charset: bytes are still shown.
  EXPECT_EQ(mime::decode_header_value("=?x-unknown?q?abc?="), "abc");
}

TEST(MimeDecode, Base64) {
  EXPECT_EQ(mime::decode_base64("SGVsbG8sIHdvcmxkIQ=="), "Hello, world!");
  EXPECT_EQ(mime::decode_base64("SGVs\r\nbG8s!!IHdv\r\ncmxk*IQ==\r\n~~"), "Hello, world!");
  EXPECT_EQ(mime::decode_base64(""), "");
  EXPECT_EQ(mime::decode_base64("Zg==Zm8="), "ffo");  // two padded runs back to back
  EXPECT_EQ(mime::decode_base64("Z"), "");            // a lone sextet is no byte
}

TEST(MimeDecode, QuotedPrintable) {
  EXPECT_EQ(mime::decode_quoted_printable("soft=\r\nbreak"), "softbreak");
  EXPECT_EQ(mime::decode_quoted_printable("soft=  \r\nbreak"), "softbreak");
  EXPECT_EQ(mime::decode_quoted_printable("bare=\nlf"), "barelf");
  EXPECT_EQ(mime::decode_quoted_printable("=E2=82=ac=3D"), "\xE2\x82\xAC=");
  EXPECT_EQ(mime::decode_quoted_printable("trailing   \r\nnext"), "trailing\r\nnext");
  EXPECT_EQ(mime::decode_quoted_printable("bad =ZZ and =4"), "bad =ZZ and =4");
  EXPECT_EQ(mime::decode_quoted_printable("end="), "end");
  EXPECT_EQ(mime::decode_transfer("=41", "Quoted-Printable"), "A");
  EXPECT_EQ(mime::decode_transfer("=41", "7bit"), "=41");
  EXPECT_TRUE(mime::is_known_transfer_encoding("BASE64"));
  EXPECT_FALSE(mime::is_known_transfer_encoding("x-uuencode"));
}

TEST(MimeDecode, Charsets) {
  EXPECT_EQ(mime::to_utf8("caf\xE9", "ISO-8859-1"), "caf\xC3\xA9");
  EXPECT_EQ(mime::to_utf8("\x80", "windows-1252"), "\xE2\x82\xAC");
  EXPECT_EQ(mime::to_utf8("\xA4", "iso-8859-15"), "\xE2\x82\xAC");
  // Found by mime_header_fuzz: iconv wrote UCS-4 0x7FFFFFFF as a 6-byte "UTF-8" sequence.
  EXPECT_EQ(mime::to_utf8(std::string("\x7F\xFF\xFF\xFF\x00\x00\x00\x41", 8), "UCS-4"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A");
  EXPECT_EQ(mime::decode_header_value("=?ucs-4?B?f////wAAAEE=?="),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "A");
  EXPECT_EQ(mime::to_utf8("\x1B$B$3$s$K$A$O\x1B(B", "ISO-2022-JP"),
            "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF");
  EXPECT_EQ(mime::to_utf8("\x82\xA0", "Shift_JIS"), "\xE3\x81\x82");
  EXPECT_EQ(mime::to_utf8("+AKM-1", "utf-7"), "\xC2\xA3" "1");
  // Invalid bytes in the declared charset become U+FFFD, the rest survives.
  EXPECT_EQ(mime::to_utf8("a\xFF" "b", "utf-8"), "a\xC3\xBF" "b");  // stray byte: cp1252
  EXPECT_EQ(mime::to_utf8("a\x81", "shift_jis"), "a\xEF\xBF\xBD");  // truncated
  // Unknown or hostile charset names fall back to UTF-8 / Windows-1252.
  EXPECT_EQ(mime::to_utf8("caf\xE9", "x-no-such-charset"), "caf\xC3\xA9");
  EXPECT_EQ(mime::to_utf8("caf\xE9", "../../etc/passwd"), "caf\xC3\xA9");
  EXPECT_EQ(mime::to_utf8("ok", ""), "ok");
}

// ---------------------------------------------------------------- SEARCH text

TEST(MimeSearch, DecodedFoldedText) {
  std::string r = crlf(
      "Subject: =?utf-8?q?=C3=84rger_im_B=C3=BCro?=\n"
      "Content-Type: multipart/mixed; boundary=s\n\n"
      "--s\nContent-Type: text/plain; charset=iso-8859-1\n"
      "Content-Transfer-Encoding: quoted-printable\n\n"
      "Gr=FC=DFe aus K=D6LN, soft=\nbreak\n"
      "--s\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
      "PHA+SGVsbG8gPGI+V09STEQ8L2I+ICZhbXA7IGZyaWVuZHM8L3A+\n"
      "--s\nContent-Type: application/octet-stream; name=\"Report.PDF\"\n"
      "Content-Transfer-Encoding: base64\n\nSEVMTE8gSElEREVO\n"
      "--s--\n");
  auto m = mime::parse(r);
  std::string t = mime::search_text(m, r);
  EXPECT_NE(t.find("subject: \xC3\xA4rger im b\xC3\xBCro"), std::string::npos) << t;
  EXPECT_NE(t.find("gr\xC3\xBC\xC3\x9F" "e aus k\xC3\xB6ln, softbreak"), std::string::npos) << t;
  EXPECT_NE(t.find("hello  world  & friends"), std::string::npos) << t;
  EXPECT_EQ(t.find("<b>"), std::string::npos);
  EXPECT_NE(t.find("report.pdf"), std::string::npos);       // attachment name is searchable
  EXPECT_EQ(t.find("hello hidden"), std::string::npos);     // attachment content is not
  EXPECT_EQ(mime::fold_case("\xC3\x84RGER \xCE\xA3"), "\xC3\xA4rger \xCF\x83");
}

TEST(MimeSearch, EncodedAttachmentNamesAreDecoded) {
  std::string r = crlf(
      "Content-Type: multipart/mixed; boundary=s\n\n"
      "--s\nContent-Type: application/pdf; name=\"=?UTF-8?B?w6lsw6h2ZS5wZGY=?=\"\n"
      "Content-Disposition: attachment; filename*=iso-8859-1''Gr%FC%DFe.txt\n\nx\n--s--\n");
  std::string t = mime::search_text(mime::parse(r), r);
  EXPECT_NE(t.find("filename: \xC3\xA9l\xC3\xA8ve.pdf"), std::string::npos) << t;
  EXPECT_NE(t.find("filename: gr\xC3\xBC\xC3\x9F" "e.txt"), std::string::npos) << t;
}

TEST(MimePreview, FirstReadableTextCollapsed) {
  std::string r = crlf(
      "Content-Type: multipart/mixed; boundary=s\n\n"
      "--s\nContent-Type: multipart/alternative; boundary=a\n\n"
      "--a\nContent-Type: text/html\n\n<p>html   version</p>\n"
      "--a\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
      "On Monday you wrote:\n> quoted\n>> more\n  Caf=E9   au\tlait.\n\nBye\n--a--\n"
      "--s\nContent-Type: text/plain\nContent-Disposition: attachment\n\nnot this\n--s--\n");
  auto m = mime::parse(r);
  EXPECT_EQ(mime::preview_text(m, r), "On Monday you wrote: Caf\xC3\xA9 au lait. Bye");
  EXPECT_EQ(mime::preview_text(m, r, 10), "On Monday");
  std::string html = "Content-Type: text/html\r\n\r\n<style>p{}</style><p>Hi&nbsp;there</p>";
  EXPECT_EQ(mime::preview_text(mime::parse(html), html), "Hi there");
  std::string att = "Content-Type: image/png\r\n\r\nxx";
  EXPECT_EQ(mime::preview_text(mime::parse(att), att), "");
  std::string u = "Content-Type: text/plain; charset=utf-8\r\n\r\n\xC3\xA9\xC3\xA9\xC3\xA9";
  EXPECT_EQ(mime::preview_text(mime::parse(u), u, 2), "\xC3\xA9\xC3\xA9");
}

TEST(MimeSearch, Utf16Base64Body) {
  std::string r = "Content-Type: text/plain; charset=UTF-16\r\n"
                  "Content-Transfer-Encoding: base64\r\n\r\n//5LAPYAbABuACAAAyY=\r\n";
  std::string t = mime::search_text(mime::parse(r), r);
  EXPECT_NE(t.find("k\xC3\xB6ln \xE2\x98\x83"), std::string::npos) << t;
}

TEST(MimeSearch, CappedOnCodePointBoundary) {
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "\xC3\xA9";
  std::string r = "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body;
  mime::Limits lim;
  lim.max_search_text = 101;
  std::string t = mime::search_text(mime::parse(r, lim), r, lim);
  EXPECT_LE(t.size(), 101u);
  EXPECT_GE(t.size(), 99u);
  EXPECT_EQ(mime::fold_case(t), t);  // still valid UTF-8, nothing cut mid-sequence
  EXPECT_NE(static_cast<unsigned char>(t.back()), 0xC3);
}

// ---------------------------------------------------------------- storage

TEST(MimeStorage, RoundTrip) {
  auto m = mime::parse(kNested);
  std::string blob = mime::serialize_structure(m);
  auto back = mime::deserialize_structure(blob);
  ASSERT_TRUE(back.has_value());
  // Everything stored came back: the tree serialises to the same bytes again.
  EXPECT_EQ(mime::serialize_structure(*back), blob);
  ASSERT_EQ(back->root.children.size(), 3u);
  ASSERT_EQ(back->root.children[1].children.size(), 1u);
  EXPECT_EQ(back->root.children[1].children[0].envelope->subject, "inner");
  for (std::string_view spec : {"", "HEADER", "TEXT", "1", "1.MIME", "2.HEADER", "2.2", "3.1",
                                "2.HEADER.FIELDS (Subject)"})
    EXPECT_EQ(fetch(*back, kNested, spec), fetch(m, kNested, spec)) << spec;
  EXPECT_EQ(mime::search_text(*back, kNested), mime::search_text(m, kNested));
  EXPECT_LT(blob.size(), kNested.size());  // compact: smaller than this small message
}

// Stored blobs outlive the code that wrote them. If this fails, the encoding changed: bump
// kVersion in serialize.cpp (and keep reading the old version) instead of editing this hex.
TEST(MimeStorage, Version1EncodingIsStable) {
  std::string r =
      "From: A <a@b.c>\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
      "--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Language: en\r\n\r\nhi\r\n"
      "--x--\r\n";
  std::string blob = mime::serialize_structure(mime::parse(r));
  static const char* hex = "0123456789abcdef";
  std::string h;
  for (unsigned char c : blob) {
    h += hex[c >> 4];
    h += hex[c & 15];
  }
  EXPECT_EQ(h,
            "504c4d01"                                  // "PLM" v1
            "9b0100"                                    // size 155, flags
            "004a510603"                                // root offsets, lines 6, flags
            "096d756c746970617274056d69786564"          // "multipart" "mixed"
            "000108626f756e646172790178"                // encoding "", boundary=x
            "0000000000" "00" "00"                      // id..disposition, dsp params, langs
            "00" "0273"                                 // envelope: date NIL, subject "s"
            "01024100026104622e63" "01024100026104622e63" "01024100026104622e63"
            "000000" "0000"                             // to cc bcc, in-reply-to, message-id
            "01"                                        // one child
            "4f41020101047465787405706c61696e00"        // text/plain at 79
            "010763686172736574057574662d38"            // charset=utf-8
            "0000000000" "00" "0102656e" "00");         // language "en", no children
}

TEST(MimeStorage, RejectsCorruptBlobs) {
  auto m = mime::parse(kNested);
  std::string blob = mime::serialize_structure(m);
  EXPECT_FALSE(mime::deserialize_structure("").has_value());
  EXPECT_FALSE(mime::deserialize_structure("PLM\x02").has_value());  // unknown version
  for (std::size_t n = 0; n < blob.size(); ++n)
    EXPECT_FALSE(mime::deserialize_structure(blob.substr(0, n)).has_value()) << n;
  EXPECT_FALSE(mime::deserialize_structure(blob + "x").has_value());
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string b = blob;
    b[4 + rng() % (b.size() - 4)] = char(rng());
    auto r = mime::deserialize_structure(b);
    if (!r) continue;
    // Whatever decodes must still have offsets inside the message.
    std::vector<const mime::Part*> st{&r->root};
    while (!st.empty()) {
      const mime::Part* p = st.back();
      st.pop_back();
      ASSERT_LE(p->body_end, r->size);
      ASSERT_LE(p->header_start, p->body_start);
      ASSERT_LE(p->body_start, p->body_end);
      for (const auto& c : p->children) st.push_back(&c);
    }
  }
}

// ---------------------------------------------------------------- robustness

TEST(MimeRobustness, MutatedMessagesNeverCrash) {
  std::mt19937 rng(7);
  const std::string alphabet = "-\r\n:;=\"()<>@,.?_ aZ\t\\\x80\xff\x00";
  for (int i = 0; i < 3000; ++i) {
    std::string r = kNested;
    int edits = 1 + int(rng() % 8);
    for (int k = 0; k < edits; ++k) {
      std::size_t pos = rng() % (r.size() + 1);
      switch (rng() % 3) {
        case 0: r.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        case 1: if (pos < r.size()) r.erase(pos, 1 + rng() % 5); break;
        default: r = r.substr(0, pos); break;
      }
    }
    auto m = mime::parse(r);
    std::string blob = mime::serialize_structure(m);
    auto back = mime::deserialize_structure(blob);
    ASSERT_TRUE(back.has_value());
    ASSERT_EQ(mime::serialize_structure(*back), blob);
    for (std::string_view spec : {"1", "2.1", "2.HEADER", "3.TEXT", "1.MIME"}) {
      auto range = mime::locate(m, spec);
      if (range) {
        ASSERT_LE(range->end, r.size());
      }
    }
    (void)mime::search_text(m, r);
  }
}
