// The JSON record: which leading tags become fields, and that every value is
// escaped so one line stays one valid JSON object whatever a peer sent.
#include "common/log/log.h"
#include "common/log/record.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

using namespace postline::log;
using namespace std::string_literals;

TEST(LiftFields, LeadingTagsBecomeFields) {
  auto f = lift_fields("[s:7f3a9c01] [q:6751A2C03F9E2B] [c:192.0.2.1:51234] [u:alice@example.test] message queued");
  EXPECT_EQ(f.session, "7f3a9c01");
  EXPECT_EQ(f.queue_id, "6751A2C03F9E2B");
  EXPECT_EQ(f.client, "192.0.2.1:51234");
  EXPECT_EQ(f.user, "alice@example.test");
  EXPECT_EQ(f.trace_id, "");
  EXPECT_EQ(f.msg, "message queued");
}

TEST(LiftFields, BracketedIpv6ClientAndTagsInAnyOrder) {
  auto f = lift_fields("[t:ABC] [c:[2001:db8::1]:25] [s:01] x");
  EXPECT_EQ(f.trace_id, "ABC");
  EXPECT_EQ(f.client, "[2001:db8::1]:25");
  EXPECT_EQ(f.session, "01");
  EXPECT_EQ(f.msg, "x");
}

TEST(LiftFields, OnlyTagsAtTheFront) {
  auto f = lift_fields("[s:01] login failed for [q:forged] x");
  EXPECT_EQ(f.session, "01");
  EXPECT_EQ(f.queue_id, "");
  EXPECT_EQ(f.msg, "login failed for [q:forged] x");
  // No tag at all: the whole message.
  EXPECT_EQ(lift_fields("plain line").msg, "plain line");
  EXPECT_EQ(lift_fields("").msg, "");
  // A message that is nothing but tags.
  auto only = lift_fields("[s:01]");
  EXPECT_EQ(only.session, "01");
  EXPECT_EQ(only.msg, "");
}

TEST(LiftFields, StopsAtWhatIsNotATag) {
  EXPECT_EQ(lift_fields("[x:1] y").msg, "[x:1] y");            // unknown key
  EXPECT_EQ(lift_fields("[s:] y").msg, "[s:] y");              // empty value
  EXPECT_EQ(lift_fields("[s:a b] y").msg, "[s:a b] y");        // space inside
  EXPECT_EQ(lift_fields("[s:ab]y").msg, "[s:ab]y");            // no space after
  EXPECT_EQ(lift_fields("[s:a\r\nb] y").msg, "[s:a\r\nb] y");  // control characters
  auto twice = lift_fields("[s:01] [s:02] y");                 // a key given twice
  EXPECT_EQ(twice.session, "01");
  EXPECT_EQ(twice.msg, "[s:02] y");
}

TEST(TagValue, PeerStringsCannotCloseATagEarly) {
  const std::string forged = "mallory] [q:FORGED] x";
  const std::string line = "[s:01] [u:" + tag_value(forged) + "] login failed";
  auto f = lift_fields(line);
  EXPECT_EQ(f.session, "01");
  EXPECT_EQ(f.queue_id, "");
  EXPECT_EQ(f.user, "mallory\\x5d\\x20\\x5bq:FORGED\\x5d\\x20x");
  EXPECT_EQ(f.msg, "login failed");
  EXPECT_EQ(tag_value(""), "-");
  EXPECT_EQ(tag_value("a\r\n\"b"), "a\\x0d\\x0a\\x22b");
}

TEST(JsonFields, EscapesEveryField) {
  // Raw CR, LF, NUL, quotes and backslashes in the message and in every tag
  // value that can hold them (tags refuse control characters: those stay in msg).
  const std::string payload = "[s:a\"b] [q:q\\1] [t:t\"] [c:1.2.3.4:5\"] [u:u\"\\] m\r\nx\0y\"z\\"s;
  EXPECT_EQ(json_fields(payload),
            "\"msg\":\"m\\r\\nx\\u0000y\\\"z\\\\\",\"session\":\"a\\\"b\",\"queue_id\":\"q\\\\1\","
            "\"trace_id\":\"t\\\"\",\"client\":\"1.2.3.4:5\\\"\",\"user\":\"u\\\"\\\\\"");
}

TEST(JsonFields, ControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(json_fields("\x01\x1f\x7f\t"), "\"msg\":\"\\u0001\\u001f\\u007f\\t\"");
  // Valid UTF-8 passes; a stray byte, an overlong form and a surrogate do not.
  EXPECT_EQ(json_fields("caf\xc3\xa9 \xe2\x82\xac"), "\"msg\":\"caf\xc3\xa9 \xe2\x82\xac\"");
  EXPECT_EQ(json_fields("a\xff" "b"), "\"msg\":\"a\\\\xffb\"");
  EXPECT_EQ(json_fields("\xc0\xaf"), "\"msg\":\"\\\\xc0\\\\xaf\"");
  EXPECT_EQ(json_fields("\xed\xa0\x80"), "\"msg\":\"\\\\xed\\\\xa0\\\\x80\"");
  EXPECT_EQ(json_fields("\xe2\x82"), "\"msg\":\"\\\\xe2\\\\x82\"");  // cut short
}

TEST(JsonFields, TraceIdIsTheQueueIdUnlessGiven) {
  EXPECT_EQ(json_fields("[q:Q1] x"), "\"msg\":\"x\",\"queue_id\":\"Q1\",\"trace_id\":\"Q1\"");
  EXPECT_EQ(json_fields("[q:Q2] [t:Q1] x"), "\"msg\":\"x\",\"queue_id\":\"Q2\",\"trace_id\":\"Q1\"");
  EXPECT_EQ(json_fields("[t:Q1] x"), "\"msg\":\"x\",\"trace_id\":\"Q1\"");
}

namespace {
std::string one_line(const std::string& format, const std::string& message, spdlog::level::level_enum level) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("smtpd", sink);
  logger.set_formatter(make_formatter(format));
  logger.set_level(spdlog::level::trace);
  logger.log(level, message);
  return out.str();
}
}  // namespace

TEST(Formatter, JsonLineIsOneObject) {
  const std::string line = one_line("json", "[s:01] [c:192.0.2.1:4000] connect listener=mx\r\nfake", spdlog::level::info);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << line;
  EXPECT_NE(line.find(",\"level\":\"info\",\"service\":\"smtpd\",\"msg\":\"connect listener=mx\\r\\nfake\","
                      "\"session\":\"01\",\"client\":\"192.0.2.1:4000\"}\n"),
            std::string::npos)
      << line;
}

TEST(Formatter, TextKeepsTheTagsInTheLine) {
  const std::string line = one_line("text", "[s:01] [q:Q1] message queued", spdlog::level::warn);
  EXPECT_NE(line.find(" smtpd warning [s:01] [q:Q1] message queued\n"), std::string::npos) << line;
  EXPECT_THROW(make_formatter("xml"), std::invalid_argument);
}
