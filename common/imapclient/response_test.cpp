#include "common/imapclient/response.h"

#include <gtest/gtest.h>

#include "common/imapclient/mutf7.h"

namespace postline::imapclient {
namespace {

std::vector<Response> parse_all(std::string_view bytes, size_t chunk = 0, Limits limits = {},
                                std::string* error = nullptr) {
  ResponseParser p(limits);
  std::vector<Response> out;
  if (chunk == 0) chunk = bytes.size() + 1;
  for (size_t pos = 0; pos < bytes.size(); pos += chunk) {
    p.feed(bytes.substr(pos, chunk));
    Response r;
    for (;;) {
      auto st = p.next(r);
      if (st == ResponseParser::Status::kNeedMore) break;
      if (st == ResponseParser::Status::kError) {
        if (error) *error = p.error();
        return out;
      }
      out.push_back(r);
    }
  }
  return out;
}

TEST(ResponseParser, GreetingWithCapabilityCode) {
  auto rs = parse_all("* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n");
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].type, Response::kUntagged);
  EXPECT_EQ(rs[0].keyword, "OK");
  EXPECT_EQ(rs[0].code_name(), "CAPABILITY");
  EXPECT_EQ(rs[0].text, "Dovecot ready.");
  EXPECT_EQ(parse_capabilities(rs[0]), (std::vector<std::string>{"IMAP4REV1", "LITERAL+", "AUTH=PLAIN"}));
}

TEST(ResponseParser, TaggedContinuationAndCodes) {
  auto rs = parse_all("+ go ahead\r\na1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
                      "* OK [UIDVALIDITY 3857529045] UIDs valid\r\na2 ok done\r\n");
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].type, Response::kContinuation);
  EXPECT_EQ(rs[0].text, "go ahead");
  EXPECT_EQ(rs[1].tag, "a1");
  EXPECT_EQ(rs[1].keyword, "NO");
  EXPECT_EQ(rs[1].code, "AUTHENTICATIONFAILED");
  EXPECT_EQ(rs[2].code_name(), "UIDVALIDITY");
  EXPECT_EQ(rs[2].code_argument(), "3857529045");
  EXPECT_EQ(rs[3].keyword, "OK");  // case-insensitive
}

TEST(ResponseParser, FetchWithLiteralInAnyChunking) {
  const std::string body = "Subject: hi\r\n\r\nline with ) and ( and {5}\r\n\x80\xff binary\r\n";
  const std::string wire = "* 12 FETCH (UID 345 FLAGS (\\Seen \\Answered $Forwarded) INTERNALDATE "
                           "\"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE " +
                           std::to_string(body.size()) + " BODY[] {" + std::to_string(body.size()) + "}\r\n" + body +
                           ")\r\np3 OK done\r\n";
  for (size_t chunk : {0, 1, 2, 7, 64}) {
    auto rs = parse_all(wire, chunk);
    ASSERT_EQ(rs.size(), 2u) << chunk;
    std::string err;
    auto f = parse_fetch(rs[0], err);
    ASSERT_TRUE(f) << err;
    EXPECT_EQ(f->seq, 12u);
    EXPECT_EQ(f->uid, 345u);
    EXPECT_EQ(*f->flags, (std::vector<std::string>{"\\Seen", "\\Answered", "$Forwarded"}));
    EXPECT_EQ(*f->internaldate, "17-Jul-1996 02:44:25 -0700");
    EXPECT_EQ(*f->size, body.size());
    EXPECT_EQ(*f->body, body);
    EXPECT_EQ(rs[1].tag, "p3");
  }
}

TEST(ResponseParser, FetchItemsWeDoNotReadAreSkipped) {
  auto rs = parse_all("* 3 FETCH (BODY[HEADER.FIELDS (FROM TO)] {4}\r\nab\r\n ENVELOPE (NIL \"s\" NIL) "
                      "MODSEQ (77) BINARY[] ~{3}\r\n" + std::string("\0\1\2", 3) + " UID 9)\r\n");
  ASSERT_EQ(rs.size(), 1u);
  std::string err;
  auto f = parse_fetch(rs[0], err);
  ASSERT_TRUE(f) << err;
  EXPECT_EQ(f->uid, 9u);
  EXPECT_EQ(f->modseq, 77u);
  EXPECT_EQ(*f->body, std::string("\x00\x01\x02", 3));
}

TEST(ResponseParser, MalformedFetchItemsAreErrors) {
  std::string err;
  auto rs = parse_all("* 1 FETCH (UID \"7\")\r\n* 1 FETCH (UID 7 FLAGS)\r\n* 1 FETCH (FLAGS \\Seen)\r\n");
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_FALSE(parse_fetch(rs[0], err));
  EXPECT_EQ(err, "FETCH: UID is not a number");
  EXPECT_FALSE(parse_fetch(rs[1], err));
  EXPECT_EQ(err, "FETCH: an item without its value");
  EXPECT_FALSE(parse_fetch(rs[2], err));
  EXPECT_EQ(err, "FETCH: FLAGS is not a list");
}

TEST(ResponseParser, ListEntries) {
  auto rs = parse_all("* LIST (\\HasNoChildren \\Sent) \".\" \"Sent Messages\"\r\n"
                      "* LIST (\\Noselect) NIL \"\"\r\n* LIST () \"\\\\\" {5}\r\na\"b c\r\n* LIST () \"/\" INBOX\r\n");
  ASSERT_EQ(rs.size(), 4u);
  std::string err;
  auto a = parse_list(rs[0], err);
  ASSERT_TRUE(a) << err;
  EXPECT_TRUE(a->has_attribute("\\sent"));
  EXPECT_EQ(a->delimiter, '.');
  EXPECT_EQ(a->name, "Sent Messages");
  auto b = parse_list(rs[1], err);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->delimiter);
  auto c = parse_list(rs[2], err);
  ASSERT_TRUE(c) << err;
  EXPECT_EQ(c->delimiter, '\\');
  EXPECT_EQ(c->name, "a\"b c");
  EXPECT_EQ(parse_list(rs[3], err)->name, "INBOX");
}

TEST(ResponseParser, StatusAndUnknownData) {
  auto rs = parse_all("* STATUS \"a b\" (MESSAGES 3 UIDNEXT 9)\r\n* XVENDOR \"unterminated\r\n* 4 EXISTS\r\n");
  ASSERT_EQ(rs.size(), 3u);
  std::string err;
  auto s = parse_status(rs[0], err);
  ASSERT_TRUE(s) << err;
  EXPECT_EQ(s->mailbox, "a b");
  EXPECT_EQ(s->get("uidnext"), 9u);
  // A response we never read is kept as text when its values do not parse.
  EXPECT_EQ(rs[1].keyword, "XVENDOR");
  EXPECT_EQ(rs[1].text, "\"unterminated");
  EXPECT_EQ(rs[2].number, 4u);
  EXPECT_EQ(rs[2].keyword, "EXISTS");
}

TEST(ResponseParser, Namespace) {
  auto rs = parse_all("* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))\r\n");
  ASSERT_EQ(rs.size(), 1u);
  ASSERT_EQ(rs[0].data.size(), 3u);
  EXPECT_EQ(rs[0].data[0].items[0].items[0].text, "INBOX.");
  EXPECT_EQ(rs[0].data[1].kind, Value::kNil);
  EXPECT_EQ(rs[0].data[2].items.size(), 2u);
}

TEST(ResponseParser, LimitsAreErrorsThatSayWhich) {
  Limits small;
  small.max_line = 64;
  small.max_literal = 100;
  small.max_depth = 3;
  std::string err;
  EXPECT_TRUE(parse_all("* 1 FETCH (BODY[] {101}\r\n", 0, small, &err).empty());
  EXPECT_EQ(err, "a literal of 101 bytes is over the limit of 100");
  EXPECT_TRUE(parse_all(std::string(65, 'x'), 0, small, &err).empty());
  EXPECT_EQ(err, "a response line longer than 64 bytes");
  EXPECT_TRUE(parse_all("* 1 FETCH ((((x))))\r\n", 0, small, &err).empty());
  EXPECT_EQ(err, "FETCH response: lists nested deeper than 3");
  EXPECT_TRUE(parse_all("a1 FETCH (UID 1)\r\n", 0, small, &err).empty());
  EXPECT_EQ(err, "a tagged response must be OK, NO or BAD, not FETCH");
  EXPECT_TRUE(parse_all("* 1 FETCH (FLAGS (\\Seen)\r\n", 0, {}, &err).empty());
  EXPECT_EQ(err, "FETCH response: a list is not closed");
}

TEST(ResponseParser, ErrorIsFinal) {
  ResponseParser p;
  p.feed("\r\n* OK fine\r\n");
  Response r;
  EXPECT_EQ(p.next(r), ResponseParser::Status::kError);
  EXPECT_EQ(p.next(r), ResponseParser::Status::kError);
}

TEST(InternalDate, ParsesZonesAndPaddedDays) {
  EXPECT_EQ(parse_internaldate("17-Jul-1996 02:44:25 -0700"), 837596665);
  EXPECT_EQ(parse_internaldate(" 7-Jul-1996 02:44:25 +0000"), 836707465);
  EXPECT_EQ(parse_internaldate("07-jul-1996 02:44:25 +0000"), 836707465);
  EXPECT_FALSE(parse_internaldate("31-Feb-1996 02:44:25 +0000"));
  EXPECT_FALSE(parse_internaldate("17-Jul-1996 02:44:25"));
  EXPECT_FALSE(parse_internaldate("17-Jux-1996 02:44:25 +0000"));
  EXPECT_EQ(format_internaldate(837596665), "17-Jul-1996 09:44:25 +0000");
  EXPECT_EQ(parse_internaldate(format_internaldate(-86401)), -86401);
}

TEST(Mutf7, DecodesAndRoundTrips) {
  EXPECT_EQ(decode_mutf7("Entw&APw-rfe"), "Entwürfe");
  EXPECT_EQ(decode_mutf7("Tom &- Jerry"), "Tom & Jerry");
  EXPECT_EQ(decode_mutf7("&ZeVnLIqe-"), "日本語");
  EXPECT_EQ(decode_mutf7("&2D3eAA-"), "\xf0\x9f\x98\x80");  // U+1F600, a surrogate pair
  EXPECT_FALSE(decode_mutf7("&AGE-"));                      // 'a' must not be encoded
  EXPECT_FALSE(decode_mutf7("&APw"));                       // not closed
  EXPECT_FALSE(decode_mutf7("caf\xc3\xa9"));                // 8-bit is not modified UTF-7
  for (std::string s : {"Entwürfe", "a&b", "日本語/x", "\xf0\x9f\x98\x80 ok"})
    EXPECT_EQ(decode_mutf7(encode_mutf7(s)), s) << s;
  EXPECT_EQ(encode_mutf7("Entwürfe"), "Entw&APw-rfe");
}

TEST(CommandStrings, QuoteOrLiteral) {
  EXPECT_EQ(quote_astring("a \"b\"\\"), "\"a \\\"b\\\"\\\\\"");
  EXPECT_EQ(quote_astring("pä"), "{3}\r\np\xc3\xa4");
  EXPECT_EQ(quote_astring("x\r\ny", true), "{4+}\r\nx\r\ny");
}

}  // namespace
}  // namespace postline::imapclient
