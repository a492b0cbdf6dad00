#include <gtest/gtest.h>

#include <unistd.h>

#include <sstream>

#include "tools/postline/cli_context.h"
#include "tools/postline/output.h"

namespace postline::cli {
namespace {

TEST(Output, JsonEscapes) {
  EXPECT_EQ(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  EXPECT_EQ(json_string("J\xc3\xb6rg"), "\"J\xc3\xb6rg\"");
}

TEST(Output, JsonObjectAndArray) {
  std::ostringstream out;
  print_json_array(out, {JsonObject().add("name", "example.com").add("users", int64_t{2}).add("on", true).add(
                             "t", std::vector<std::string>{"a", "b"})});
  EXPECT_EQ(out.str(), "[\n  {\"name\": \"example.com\", \"users\": 2, \"on\": true, \"t\": [\"a\", \"b\"]}\n]\n");
  std::ostringstream empty;
  print_json_array(empty, {});
  EXPECT_EQ(empty.str(), "[]\n");
}

TEST(Output, TableAligns) {
  Table t({"A", "LONGER"});
  t.row({"xxxx", "y"});
  std::ostringstream out;
  t.print(out);
  EXPECT_EQ(out.str(), "A     LONGER\nxxxx  y\n");
}

TEST(Quota, ParsesSizes) {
  EXPECT_EQ(parse_quota("unlimited"), 0);
  EXPECT_EQ(parse_quota("0"), 0);
  EXPECT_EQ(parse_quota("2GiB"), int64_t{2} << 30);
  EXPECT_THROW(parse_quota("lots"), CliError);
  EXPECT_EQ(format_bytes(int64_t{2} << 30), "2GiB");
  EXPECT_EQ(format_bytes(0), "unlimited");
  EXPECT_EQ(format_bytes(1500), "1500B");
}

TEST(Output, NestedObjectsAndMerge) {
  JsonObject inner;
  inner.add("a", int64_t{1});
  EXPECT_EQ(JsonObject().add("o", inner).add("l", std::vector<JsonObject>{inner, inner}).merge(inner).str(),
            "{\"o\": {\"a\": 1}, \"l\": [{\"a\": 1}, {\"a\": 1}], \"a\": 1}");
  EXPECT_EQ(error_line("domain add x: exists", 1, JsonObject().add("refused", true), true),
            "{\"error\": \"domain add x: exists\", \"exit_code\": 1, \"refused\": true}");
  EXPECT_EQ(error_line("domain add x: exists", 1, {}, false), "postline: domain add x: exists");
}

RemovalPlan plan_with_users(size_t n) {
  RemovalPlan plan;
  plan.command = "domain remove x.example";
  plan.kind = "domain";
  plan.name = "x.example";
  RemovalPlan::Part users{"users", "user", "users", {}}, aliases{"aliases", "alias", "aliases", {}};
  for (size_t i = 0; i < n; ++i) users.names.push_back("u" + std::to_string(i) + "@x.example");
  plan.parts = {users, aliases};
  plan.stays = {"the mailboxes"};
  return plan;
}

TEST(RemovalPlan, ListsWhatGoesUpToALimit) {
  EXPECT_EQ(plan_with_users(2).text(), "  2 users: u0@x.example, u1@x.example\n  kept: the mailboxes\n");
  EXPECT_EQ(plan_with_users(1).text(), "  1 user: u0@x.example\n  kept: the mailboxes\n");
  const std::string many = plan_with_users(12).text();
  EXPECT_NE(many.find("12 users: u0@x.example"), std::string::npos);
  EXPECT_NE(many.find("u9@x.example, ... and 2 more\n"), std::string::npos) << many;
  EXPECT_EQ(many.find("u10@"), std::string::npos);
  EXPECT_TRUE(plan_with_users(1).removes_more());
  EXPECT_FALSE(plan_with_users(0).removes_more());
  EXPECT_EQ(plan_with_users(1).json().str(),
            "{\"users\": [\"u0@x.example\"], \"user_count\": 1, \"aliases\": [], \"alias_count\": 0, "
            "\"stays\": [\"the mailboxes\"]}");
}

TEST(RemovalPlan, RefusedWithoutForceWhenNobodyCanBeAsked) {
  CliContext ctx;  // tests run with stdin not a terminal (ctest, CI)
  if (isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) GTEST_SKIP() << "stdin is a terminal: the prompt would wait";
  EXPECT_NO_THROW(require_force(ctx, plan_with_users(3), true));
  try {
    require_force(ctx, plan_with_users(3), false);
    FAIL() << "no refusal";
  } catch (const CliError& e) {
    EXPECT_EQ(e.code(), 1);
    const std::string m = e.what();
    EXPECT_NE(m.find("domain remove x.example: refused without --force"), std::string::npos) << m;
    EXPECT_NE(m.find("3 users: u0@x.example"), std::string::npos) << m;
    EXPECT_NE(e.details().str().find("\"user_count\": 3"), std::string::npos);
  }
}

}  // namespace
}  // namespace postline::cli
