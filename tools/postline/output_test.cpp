#include <gtest/gtest.h>

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

}  // namespace
}  // namespace postline::cli
