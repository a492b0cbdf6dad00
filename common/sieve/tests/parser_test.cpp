// The lexer, parser and checker: RFC 5228 section 8's grammar and the checker's errors
// (what ManageSieve PUTSCRIPT/CHECKSCRIPT report, with line numbers).
#include "common/sieve/tests/helpers.h"

namespace postline::sieve {
namespace {

using testing::compile_error;
using testing::compile_ok;

TEST(SieveParser, TokensAndStructure) {
  ParseResult r = parse(
      "# a hash comment\r\n"
      "require [\"fileinto\", \"copy\"]; /* bracket\n comment */\n"
      "if header :CONTAINS \"Subject\" \"a\\\"b\\\\c\\d\" { fileinto :copy \"X\"; }\n"
      "elsif size :over 10K { stop; } else { keep; }\n");
  ASSERT_TRUE(r.script) << r.errors[0].text();
  const auto& cmds = r.script->commands;
  ASSERT_EQ(cmds.size(), 4u);
  EXPECT_EQ(cmds[0].name, "require");
  EXPECT_EQ(cmds[0].pos.line, 2);
  EXPECT_EQ(cmds[0].args[0].strings, (std::vector<std::string>{"fileinto", "copy"}));
  const Command& iff = cmds[1];
  EXPECT_EQ(iff.pos.line, 4);  // the bracket comment spans a line end
  ASSERT_TRUE(iff.test);
  EXPECT_EQ(iff.test->name, "header");
  EXPECT_EQ(iff.test->args[0].tag, "contains");  // tags are case-insensitive
  EXPECT_EQ(iff.test->args[2].strings[0], "a\"b\\cd");  // \d is "d" (RFC 5228 2.4.2)
  ASSERT_EQ(iff.block.size(), 1u);
  EXPECT_EQ(cmds[2].test->args[1].number, 10u * 1024);
}

TEST(SieveParser, NumbersWithQuantifiers) {
  ParseResult r = parse("if size :over 1M { } if size :over 2g { } if size :under 7 { }");
  ASSERT_TRUE(r.script);
  EXPECT_EQ(r.script->commands[0].test->args[1].number, 1024u * 1024);
  EXPECT_EQ(r.script->commands[1].test->args[1].number, 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(r.script->commands[2].test->args[1].number, 7u);
  EXPECT_FALSE(parse("if size :over 99999999999999999999 {}").script);
  EXPECT_FALSE(parse("if size :over 99999999999G {}").script);
  EXPECT_FALSE(parse("if size :over 10KB {}").script);
}

TEST(SieveParser, MultiLineText) {
  ParseResult r = parse("require \"reject\";\nreject text: # comment\nline one\n..dotted\n.\n;\nkeep;");
  ASSERT_TRUE(r.script) << r.errors[0].text();
  EXPECT_EQ(r.script->commands[1].args[0].strings[0], "line one\r\n.dotted\r\n");
  EXPECT_EQ(r.script->commands[2].pos.line, 7);
}

TEST(SieveParser, SyntaxErrorsHaveLines) {
  EXPECT_EQ(compile_error("keep;\nif true {\n  keep\n}\n"), "line 4: expected ';' or '{' after 'keep', found '}'");
  EXPECT_EQ(compile_error("keep;\n\"x\";"), "line 2: expected a command name, found a string");
  EXPECT_EQ(compile_error("if true {\nkeep;\n"), "line 3: missing '}' for the block of 'if' at line 1");
  EXPECT_EQ(compile_error("fileinto \"x"), "line 1: unterminated quoted string");
  EXPECT_EQ(compile_error("keep;\n/* open"), "line 2: unterminated /* comment */");
  EXPECT_EQ(compile_error("reject text:\nno end\n"), "line 1: unterminated text: (a line with a single '.' ends it)");
  EXPECT_EQ(compile_error("if header :is [\"a\" \"b\"] \"c\" {}"),
            "line 1: expected ',' or ']' in a string list, found a string");
  // "true false" is grammatical (a test's arguments may end in a test); the checker refuses it.
  EXPECT_EQ(compile_error("if allof (true false) {}"), "line 1: 'true' takes no test");
  EXPECT_EQ(compile_error("if allof (true, ) {}"), "line 1: expected a test, found ')'");
  EXPECT_EQ(compile_error("keep; \x01"), "line 1: unexpected character '\\x01'");
  EXPECT_EQ(compile_error("if header : \"a\" \"b\" {}"), "line 1: ':' must be followed by a tag name");
}

TEST(SieveParser, NestingIsBounded) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "if true {";
  deep += std::string(100, '}');
  EXPECT_EQ(compile_error(deep), "line 1: blocks and tests nested deeper than 32 levels");
  std::string tests = "if ";
  for (int i = 0; i < 100; ++i) tests += "not ";
  tests += "true {}";
  EXPECT_EQ(compile_error(tests), "line 1: blocks and tests nested deeper than 32 levels");
  std::string ok = "if ";
  for (int i = 0; i < 20; ++i) ok += "not ";
  ok += "false { keep; }";
  EXPECT_TRUE(compile_ok(ok));
}

TEST(SieveParser, ScriptSizeLimit) {
  CheckOptions o;
  o.limits.max_script_size = 10;
  EXPECT_EQ(compile_error("keep; keep; keep;", o), "line 1: script is 17 bytes, more than the limit of 10");
}

TEST(SieveChecker, RequireAndNames) {
  EXPECT_EQ(compile_error("fileinto \"x\";"), "line 1: command 'fileinto' needs require \"fileinto\"");
  EXPECT_EQ(compile_error("require \"nosuch\";"), "line 1: unknown or disabled extension \"nosuch\" in require");
  EXPECT_EQ(compile_error("keep;\nrequire \"fileinto\";"), "line 2: require must come before any other command");
  EXPECT_EQ(compile_error("frobnicate;"), "line 1: unknown command 'frobnicate'");
  EXPECT_EQ(compile_error("if frob {}"), "line 1: unknown test 'frob'");
  EXPECT_EQ(compile_error("else { keep; }"), "line 1: 'else' must follow 'if' or 'elsif'");
  EXPECT_EQ(compile_error("if true keep;"), "line 1: 'true' takes no test");
  EXPECT_EQ(compile_error("if true { keep; } keep"), "line 1: expected ';' or '{' after 'keep', found end of script");
  EXPECT_EQ(compile_error("if true;"), "line 1: 'if' needs a block");
  EXPECT_EQ(compile_error("keep { }"), "line 1: 'keep' takes no block");
  CheckOptions only;
  only.allowed_extensions = {"fileinto"};
  EXPECT_EQ(compile_error("require \"vacation\";", only), "line 1: unknown or disabled extension \"vacation\" in require");
  EXPECT_TRUE(compile_ok("require \"fileinto\"; fileinto \"a\";", only));
}

TEST(SieveChecker, ArgumentsAndTags) {
  EXPECT_EQ(compile_error("require \"fileinto\";\nfileinto;"), "line 2: fileinto takes 1 positional argument(s), found 0");
  EXPECT_EQ(compile_error("redirect 5;"), "line 1: argument 1 of redirect must be a string");
  EXPECT_EQ(compile_error("redirect [\"a@b.c\"];"), "line 1: argument 1 of redirect must be a string");
  EXPECT_EQ(compile_error("redirect \"not an address\";"), "line 1: redirect: \"not an address\" is not an address");
  EXPECT_EQ(compile_error("if header :bogus \"a\" \"b\" {}"), "line 1: unknown tag ':bogus' for the header test");
  EXPECT_EQ(compile_error("if header :is :contains \"a\" \"b\" {}"), "line 1: ':contains' conflicts with ':is' in header");
  EXPECT_EQ(compile_error("if header :comparator \"i;frob\" \"a\" \"b\" {}"), "line 1: unknown comparator \"i;frob\"");
  EXPECT_EQ(compile_error("if header :comparator \"i;ascii-numeric\" \"a\" \"b\" {}"),
            "line 1: comparator \"i;ascii-numeric\" needs require \"comparator-i;ascii-numeric\"");
  EXPECT_EQ(compile_error("if header :comparator \"a\" \"b\" {}"), "line 1: header takes 2 positional argument(s), found 1");
  EXPECT_EQ(compile_error("require \"comparator-i;ascii-numeric\";\nif header :matches :comparator \"i;ascii-numeric\" \"a\" \"1*\" {}"),
            "line 2: comparator \"i;ascii-numeric\" cannot do :matches");
  EXPECT_EQ(compile_error("if header \"a\" :is \"b\" {}"), "line 1: tag ':is' must come before the other arguments of header");
  EXPECT_EQ(compile_error("if size 10 {}"), "line 1: size needs :over or :under");
  EXPECT_EQ(compile_error("if address :is \"subject\" \"x\" {}"),
            "line 1: header \"subject\" does not hold addresses (the address test allows From, To, Cc, Bcc, "
            "Sender, Reply-To, Resent-*, Delivered-To and the like)");
  EXPECT_TRUE(compile_ok("if address :is [\"From\", \"resent-to\", \"X-Original-To\"] \"x\" {}"));
  EXPECT_EQ(compile_error("if header :count \"gt\" \"a\" \"b\" {}"),
            "line 1: unknown tag ':count' for the header test (needs require \"relational\")");
  EXPECT_EQ(compile_error("require \"relational\"; if header :value \"gg\" \"a\" \"b\" {}"),
            "line 1: relational operator \"gg\" is not one of gt ge lt le eq ne");
  EXPECT_EQ(compile_error("if not (true, false) {}"), "line 1: 'not' needs exactly one test");
  EXPECT_EQ(compile_error("if true false {}"), "line 1: 'true' takes no test");
}

TEST(SieveChecker, NamesOfVariablesScriptsAndAddresses) {
  EXPECT_EQ(compile_error("require \"variables\"; set \"a.b\" \"x\";"), "line 1: set: unknown variable namespace \"a\"");
  EXPECT_EQ(compile_error("require \"variables\"; set \"global.b\" \"x\";"), "line 1: set: unknown variable namespace \"global\"");
  EXPECT_TRUE(compile_ok("require [\"variables\", \"include\"]; set \"global.b\" \"x\";"));
  EXPECT_EQ(compile_error("require \"include\"; include \"../x\";"), "line 1: include: \"../x\" is not a script name");
  EXPECT_EQ(compile_error("require \"vacation\"; vacation :from \"not an address\" \"x\";"),
            "line 1: vacation: :from \"not an address\" is not an address");
  EXPECT_TRUE(compile_ok("require [\"vacation\", \"variables\"]; vacation :from \"${me}\" \"x\";"));
}

TEST(SieveChecker, LastAndGlobal) {
  EXPECT_TRUE(compile_ok("require \"duplicate\"; if duplicate :seconds 10 :last { keep; }"));
  EXPECT_TRUE(compile_ok("require \"editheader\"; deleteheader :last \"x\";"));
  EXPECT_EQ(compile_error("require [\"editheader\", \"relational\"]; deleteheader :count \"ge\" \"x\" \"1\";"),
            "line 1: deleteheader cannot use :count (it matches one field at a time)");
  EXPECT_EQ(compile_error("require \"include\"; global \"1a\";"), "line 1: global: \"1a\" is not a variable name");
}

TEST(SieveChecker, FlagVariablesNeedVariables) {
  EXPECT_EQ(compile_error("require \"imap4flags\"; addflag \"v\" \"\\\\Seen\";"),
            "line 1: addflag names a variable only with require \"variables\" (RFC 5232)");
  EXPECT_EQ(compile_error("require \"imap4flags\"; if hasflag \"v\" \"\\\\Seen\" {}"),
            "line 1: hasflag names a variable only with require \"variables\" (RFC 5232)");
  EXPECT_TRUE(compile_ok("require [\"imap4flags\", \"variables\"]; addflag \"v\" \"x\"; if hasflag \"v\" \"x\" {}"));
}

TEST(SieveChecker, SeveralErrorsAreAllReported) {
  ParseResult r = compile("frob;\nif header :bogus \"a\" \"b\" {}\nfileinto \"x\";\n");
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].pos.line, 1);
  EXPECT_EQ(r.errors[1].pos.line, 2);
  EXPECT_EQ(r.errors[2].pos.line, 3);
}

TEST(SieveChecker, SupportedExtensionsAllCompile) {
  for (const auto& ext : supported_extensions()) {
    EXPECT_TRUE(compile_ok("require \"" + ext + "\";")) << ext;
  }
}

TEST(SieveChecker, UncheckedScriptDoesNotRun) {
  ParseResult r = parse("discard;");
  ASSERT_TRUE(r.script);
  MemoryMessage m(testing::kPlain);
  RunResult res = run(*r.script, m, testing::default_context());
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(describe(res), "error line 1: script was not checked (call check() or compile() first)\nstore INBOX\n");
}

}  // namespace
}  // namespace postline::sieve
