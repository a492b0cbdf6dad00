// The ManageSieve parser (parser.h), the argument parsers (command_args.h),
// script names and the response encoder, without sockets.
#include "services/managesieve/protocol/command_args.h"
#include "services/managesieve/protocol/parser.h"
#include "services/managesieve/protocol/response.h"
#include "services/managesieve/protocol/script_name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postline::managesieve {
namespace {

using Kind = Parser::Kind;

std::vector<Parser::Event> all_events(Parser& p) {
  std::vector<Parser::Event> out;
  for (;;) {
    auto ev = p.next();
    if (ev.kind == Kind::kNeedMore) return out;
    const bool fatal = ev.kind == Kind::kFatal;
    out.push_back(std::move(ev));
    if (fatal) return out;
  }
}

std::vector<Parser::Event> parse(std::string_view input, ParserLimits limits = {}) {
  Parser p(limits);
  p.feed(input);
  return all_events(p);
}

// The same input fed one byte at a time.
std::vector<Parser::Event> parse_bytewise(std::string_view input, ParserLimits limits = {}) {
  Parser p(limits);
  std::vector<Parser::Event> out;
  for (char c : input) {
    p.feed(std::string_view(&c, 1));
    for (auto& ev : all_events(p)) out.push_back(std::move(ev));
  }
  return out;
}

std::string describe(const std::vector<Parser::Event>& events) {
  std::string out;
  for (const auto& ev : events) {
    out += "[" + std::to_string(static_cast<int>(ev.kind));
    for (const auto& t : ev.tokens) out += " " + std::to_string(static_cast<int>(t.kind)) + (t.literal ? "L" : "") + ":" + t.text;
    if (!ev.error.empty()) out += " !" + ev.error;
    if (ev.literal_size) out += " #" + std::to_string(ev.literal_size);
    out += "]";
  }
  return out;
}

TEST(Parser, AtomsStringsNumbers) {
  auto ev = parse("HAVESPACE \"my script\" 1024\r\n");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].kind, Kind::kCommand);
  ASSERT_EQ(ev[0].tokens.size(), 3u);
  EXPECT_EQ(ev[0].tokens[0].kind, Token::Kind::kAtom);
  EXPECT_EQ(ev[0].tokens[0].text, "HAVESPACE");
  EXPECT_EQ(ev[0].tokens[1].kind, Token::Kind::kString);
  EXPECT_EQ(ev[0].tokens[1].text, "my script");
  EXPECT_EQ(ev[0].tokens[2].kind, Token::Kind::kNumber);
  EXPECT_EQ(ev[0].tokens[2].text, "1024");
}

TEST(Parser, QuotedEscapes) {
  auto ev = parse("NOOP \"a \\\"b\\\" \\\\c\"\r\n");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].kind, Kind::kCommand);
  EXPECT_EQ(ev[0].tokens[1].text, "a \"b\" \\c");
}

TEST(Parser, LiteralsWithAndWithoutPlus) {
  for (const char* open : {"{5+}", "{5}"}) {
    auto ev = parse(std::string("PUTSCRIPT \"x\" ") + open + "\r\nkeep;\r\nLOGOUT\r\n");
    ASSERT_EQ(ev.size(), 2u) << open;
    ASSERT_EQ(ev[0].kind, Kind::kCommand);
    ASSERT_EQ(ev[0].tokens.size(), 3u);
    EXPECT_TRUE(ev[0].tokens[2].literal);
    EXPECT_EQ(ev[0].tokens[2].text, "keep;");
    EXPECT_EQ(ev[1].tokens[0].text, "LOGOUT");
  }
}

TEST(Parser, LiteralHoldsAnyOctets) {
  const std::string body("a\r\n\"{3+}\r\n\0\xff", 11);
  auto ev = parse("CHECKSCRIPT {11+}\r\n" + body + "\r\n");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].kind, Kind::kCommand);
  EXPECT_EQ(ev[0].tokens[1].text, body);
}

TEST(Parser, EmptyLiteralAndLiteralThenMoreArguments) {
  auto ev = parse("RENAMESCRIPT {0+}\r\n {3+}\r\nnew\r\n");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].kind, Kind::kCommand);
  ASSERT_EQ(ev[0].tokens.size(), 3u);
  EXPECT_EQ(ev[0].tokens[1].text, "");
  EXPECT_EQ(ev[0].tokens[2].text, "new");
}

TEST(Parser, EverySplitGivesTheSameEvents) {
  const std::string input =
      "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\nPUTSCRIPT \"a b\" {12+}\r\nrequire \"x\";\r\n"
      "NOOP \"bad\\q\"\r\n\r\nLISTSCRIPTS\nBOGUS {2+}\r\nxy extra\r\nLOGOUT\r\n";
  const std::string whole = describe(parse(input));
  EXPECT_EQ(describe(parse_bytewise(input)), whole);
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    Parser p;
    std::vector<Parser::Event> out;
    p.feed(input.substr(0, cut));
    for (auto& e : all_events(p)) out.push_back(std::move(e));
    p.feed(input.substr(cut));
    for (auto& e : all_events(p)) out.push_back(std::move(e));
    ASSERT_EQ(describe(out), whole) << "cut at " << cut;
  }
}

TEST(Parser, LfAloneEndsALineAndEmptyLinesAreIgnored) {
  auto ev = parse("\r\n\nNOOP\nCAPABILITY\r\n");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].tokens[0].text, "NOOP");
  EXPECT_EQ(ev[1].tokens[0].text, "CAPABILITY");
}

TEST(Parser, SyntaxErrorsConsumeTheCommandAndKeepItsName) {
  struct Case {
    std::string input;
    std::string error_part;
  } cases[] = {
      {"NOOP \"a\\x\"\r\n", "escape"},
      {"NOOP \"unterminated\r\n", "unterminated"},
      {"NOOP \"a\"\"b\"\r\n", "missing space"},
      {" NOOP\r\n", "space before"},
      {"NOOP \"a\rb\"\r\n", "unterminated"},
      {"NOOP a\rb\r\n", "CR without LF"},
      {"NOOP {3+} x\r\n", "must end its line"},
      {"NOOP {+}\r\n", "malformed literal"},
      {"NOOP {3++}\r\n", "malformed literal"},
      {"HAVESPACE \"a\" 4294967296\r\n", "number out of range"},
      {"NOOP \x01\r\n", "unexpected character"},
      {std::string("NOOP \"a\0b\"\r\n", 12), "NUL"},
      {"NOOP " + std::string(70, 'a') + "\r\n", "atom too long"},
      {"A 1 2 3 4 5 6 7 8 9\r\n", "too many arguments"},
      {"NOOP \"" + std::string(1025, 'q') + "\"\r\n", "1024"},
  };
  for (auto& c : cases) {
    const std::string& input = c.input;
    auto ev = parse(input + "LOGOUT\r\n");
    ASSERT_EQ(ev.size(), 2u) << describe(ev) << " for " << c.error_part;
    EXPECT_EQ(ev[0].kind, Kind::kSyntaxError) << describe(ev);
    EXPECT_NE(ev[0].error.find(c.error_part), std::string::npos) << ev[0].error;
    if (input[0] != ' ') {
      ASSERT_EQ(ev[0].tokens.size(), 1u) << describe(ev);
      EXPECT_TRUE(ev[0].tokens[0].text == "NOOP" || ev[0].tokens[0].text == "HAVESPACE" || ev[0].tokens[0].text == "A");
    }
    EXPECT_EQ(ev[1].kind, Kind::kCommand);
    EXPECT_EQ(ev[1].tokens[0].text, "LOGOUT");
  }
}

TEST(Parser, ExactlyTheQuotedLimitIsFine) {
  auto ev = parse("NOOP \"" + std::string(1024, 'q') + "\"\r\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kCommand);
  EXPECT_EQ(ev[0].tokens[1].text.size(), 1024u);
}

TEST(Parser, AfterASyntaxErrorALiteralIsStillSkipped) {
  // The error comes first; the literal's octets must not be read as commands.
  auto ev = parse("PUTSCRIPT \"a\\x\" {13+}\r\nDELETESCRIPT\r\nLOGOUT\r\n");
  ASSERT_EQ(ev.size(), 2u) << describe(ev);
  EXPECT_EQ(ev[0].kind, Kind::kSyntaxError);
  EXPECT_EQ(ev[1].tokens[0].text, "LOGOUT");
}

TEST(Parser, LineTooLongIsReadToItsEnd) {
  ParserLimits l;
  l.max_line = 32;
  auto ev = parse("NOOP \"" + std::string(100, 'x') + "\" {5+}\r\nhello\r\nNOOP\r\n", l);
  ASSERT_EQ(ev.size(), 2u) << describe(ev);
  EXPECT_EQ(ev[0].kind, Kind::kLineTooLong);
  ASSERT_EQ(ev[0].tokens.size(), 1u);
  EXPECT_EQ(ev[0].tokens[0].text, "NOOP");
  EXPECT_EQ(ev[1].kind, Kind::kCommand);
}

TEST(Parser, LiteralOverTheLimitIsSkippedAndReported) {
  ParserLimits l;
  l.max_literal = 10;
  l.max_discard = 100;
  auto ev = parse("PUTSCRIPT \"a\" {50+}\r\n" + std::string(50, 'z') + "\r\nLISTSCRIPTS\r\n", l);
  ASSERT_EQ(ev.size(), 2u) << describe(ev);
  EXPECT_EQ(ev[0].kind, Kind::kLiteralTooBig);
  EXPECT_EQ(ev[0].literal_size, 50u);
  EXPECT_EQ(ev[0].tokens.at(0).text, "PUTSCRIPT");
  EXPECT_EQ(ev[1].tokens[0].text, "LISTSCRIPTS");
}

TEST(Parser, LiteralOverTheDiscardLimitIsFatal) {
  ParserLimits l;
  l.max_literal = 10;
  l.max_discard = 100;
  auto ev = parse("PUTSCRIPT \"a\" {101+}\r\n", l);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::kFatal);
  EXPECT_EQ(ev[0].literal_size, 101u);
  auto huge = parse("PUTSCRIPT \"a\" {99999999999999999999999+}\r\n", l);
  ASSERT_EQ(huge.size(), 1u);
  EXPECT_EQ(huge[0].kind, Kind::kFatal);
}

TEST(Parser, CommandLimitCountsLiterals) {
  ParserLimits l;
  l.max_line = 100;
  l.max_literal = l.max_discard = l.max_command = 40;
  // 26 line octets + 30 literal octets > 40: read, dropped, reported.
  auto ev = parse("AUTHENTICATE \"PLAIN\" {30+}\r\n" + std::string(30, 'a') + "\r\n", l);
  ASSERT_EQ(ev.size(), 1u) << describe(ev);
  EXPECT_EQ(ev[0].kind, Kind::kLiteralTooBig);
  // A literal over max_discard itself is fatal.
  auto fatal = parse("AUTHENTICATE \"PLAIN\" {41+}\r\n", l);
  ASSERT_EQ(fatal.size(), 1u) << describe(fatal);
  EXPECT_EQ(fatal[0].kind, Kind::kFatal);
  auto ok = parse("AUTHENTICATE {5+}\r\nPLAIN\r\n", l);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].kind, Kind::kCommand);
}

TEST(Parser, ResetDropsBufferedBytes) {
  Parser p;
  p.feed("STARTTLS\r\nLISTSCRIPTS\r\n");
  auto ev = p.next();
  EXPECT_EQ(ev.tokens[0].text, "STARTTLS");
  p.reset();
  EXPECT_EQ(p.next().kind, Kind::kNeedMore);
  EXPECT_TRUE(p.idle());
}

TEST(Parser, IdleOnlyBetweenCommands) {
  Parser p;
  EXPECT_TRUE(p.idle());
  p.feed("NOO");
  EXPECT_EQ(p.next().kind, Kind::kNeedMore);
  EXPECT_FALSE(p.idle());
  p.feed("P\r\n");
  EXPECT_EQ(p.next().kind, Kind::kCommand);
  EXPECT_TRUE(p.idle());
}

Command cmd(std::string_view line) {
  Parser p;
  p.feed(line);
  auto ev = p.next();
  EXPECT_EQ(ev.kind, Kind::kCommand) << line;
  return split_command(std::move(ev.tokens));
}

TEST(CommandArgs, Shapes) {
  EXPECT_EQ(cmd("putscript \"a\" \"b\"\r\n").name, "PUTSCRIPT");
  auto put = parse_putscript(cmd("PUTSCRIPT \"a\" {4+}\r\nkeep\r\n"));
  EXPECT_EQ(put.name, "a");
  EXPECT_EQ(put.script, "keep");
  EXPECT_THROW(parse_putscript(cmd("PUTSCRIPT \"a\"\r\n")), SyntaxError);
  EXPECT_THROW(parse_putscript(cmd("PUTSCRIPT a \"b\"\r\n")), SyntaxError);
  EXPECT_THROW(parse_putscript(cmd("PUTSCRIPT \"a\" \"b\" \"c\"\r\n")), SyntaxError);
  auto hs = parse_havespace(cmd("HAVESPACE \"a\" 4294967295\r\n"));
  EXPECT_EQ(hs.size, 4294967295u);
  EXPECT_THROW(parse_havespace(cmd("HAVESPACE \"a\" \"10\"\r\n")), SyntaxError);
  auto auth = parse_authenticate(cmd("AUTHENTICATE \"plain\" \"AAAA\"\r\n"));
  EXPECT_EQ(auth.mechanism, "PLAIN");
  EXPECT_EQ(auth.initial_response, "AAAA");
  EXPECT_FALSE(parse_authenticate(cmd("AUTHENTICATE \"PLAIN\"\r\n")).initial_response);
  EXPECT_THROW(parse_authenticate(cmd("AUTHENTICATE PLAIN\r\n")), SyntaxError);
  EXPECT_THROW(parse_no_args(cmd("LOGOUT \"x\"\r\n")), SyntaxError);
  EXPECT_EQ(parse_noop(cmd("NOOP \"t\"\r\n")).tag, "t");
  EXPECT_FALSE(parse_noop(cmd("NOOP\r\n")).tag);
  auto ren = parse_renamescript(cmd("RENAMESCRIPT \"a\" \"b\"\r\n"));
  EXPECT_EQ(ren.from, "a");
  EXPECT_EQ(ren.to, "b");
  EXPECT_EQ(parse_script_name(cmd("SETACTIVE \"\"\r\n")), "");
  EXPECT_THROW(split_command({Token{Token::Kind::kString, "x", false}}), SyntaxError);
}

TEST(CommandArgs, SaslAnswer) {
  EXPECT_TRUE(parse_sasl_answer({Token{Token::Kind::kString, "*", false}}).cancel);
  EXPECT_EQ(parse_sasl_answer({Token{Token::Kind::kString, "AAAA", true}}).data, "AAAA");
  EXPECT_THROW(parse_sasl_answer({Token{Token::Kind::kAtom, "AAAA", false}}), SyntaxError);
  EXPECT_THROW(parse_sasl_answer({}), SyntaxError);
}

TEST(ScriptName, Rules) {
  EXPECT_FALSE(script_name_error("vacation"));
  EXPECT_FALSE(script_name_error("Ferien 2024 \xc3\xa9t\xc3\xa9"));
  EXPECT_FALSE(script_name_error(std::string(128, 'a')));
  EXPECT_TRUE(script_name_error(std::string(129, 'a')));
  // 128 characters of two octets each are fine.
  std::string wide;
  for (int i = 0; i < 128; ++i) wide += "\xc3\xa9";
  EXPECT_FALSE(script_name_error(wide));
  EXPECT_TRUE(script_name_error(""));
  EXPECT_TRUE(script_name_error("a\x01"));
  EXPECT_TRUE(script_name_error("a\x7f"));
  EXPECT_TRUE(script_name_error("a\xc2\x85"));       // U+0085
  EXPECT_TRUE(script_name_error("a\xe2\x80\xa8"));   // U+2028
  EXPECT_TRUE(script_name_error("a\xff"));           // not UTF-8
  EXPECT_TRUE(script_name_error("\xc0\xaf"));        // overlong
  EXPECT_FALSE(script_name_error("a\xc2\xa0"));      // U+00A0 is fine
}

TEST(Response, Strings) {
  EXPECT_EQ(string_arg("abc"), "\"abc\"");
  EXPECT_EQ(string_arg("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(string_arg("two\r\nlines"), "{10}\r\ntwo\r\nlines");
  EXPECT_EQ(string_arg(std::string(1025, 'x')), "{1025}\r\n" + std::string(1025, 'x'));
  EXPECT_EQ(string_arg("\xff"), "{1}\r\n\xff");
  EXPECT_EQ(ok("Done"), "OK \"Done\"\r\n");
  EXPECT_EQ(no("Too big", "QUOTA/MAXSIZE"), "NO (QUOTA/MAXSIZE) \"Too big\"\r\n");
  EXPECT_EQ(bye(""), "BYE\r\n");
  EXPECT_EQ(capability_line("STARTTLS"), "\"STARTTLS\"\r\n");
  EXPECT_EQ(capability_line("SASL", "", true), "\"SASL\" \"\"\r\n");
  EXPECT_EQ(capability_line("VERSION", "1.0"), "\"VERSION\" \"1.0\"\r\n");
}

}  // namespace
}  // namespace postline::managesieve
