// Output: text and body views in order, small views copied, owners kept.
#include "services/imap-access/commands/output.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

std::string gathered(const Output& o) {
  std::string s;
  for (const auto& b : o.buffers()) s.append(static_cast<const char*>(b.data()), b.size());
  return s;
}

TEST(Output, ViewsAreWrittenInPlaceAndInOrder) {
  auto big = std::make_shared<std::string>(Output::kMinView + 5, 'x');
  std::weak_ptr<std::string> alive = big;
  Output o;
  o.append("* 1 FETCH (BODY[] ");
  append_literal(o, *big, big);
  o.append(")\r\n");
  std::shared_ptr<const void> owner = big;
  big.reset();
  owner.reset();
  EXPECT_FALSE(alive.expired());  // the output keeps the body alive
  const std::string want = "* 1 FETCH (BODY[] {" + std::to_string(Output::kMinView + 5) + "}\r\n" +
                           std::string(Output::kMinView + 5, 'x') + ")\r\n";
  EXPECT_EQ(o.flatten(), want);
  EXPECT_EQ(gathered(o), want);
  EXPECT_EQ(o.buffers().size(), 3u);  // text, the body itself, text
  EXPECT_EQ(o.size(), want.size());
}

TEST(Output, SmallViewsAreCopiedAndOutputsConcatenate) {
  auto small = std::make_shared<std::string>("tiny body");
  Output a;
  append_literal(a, *small, small);
  EXPECT_EQ(a.buffers().size(), 1u);  // copied into the text
  auto big = std::make_shared<std::string>(Output::kMinView, 'y');
  Output b;
  b.append("<");
  b.append_view(*big, big);
  b.append(">");
  Output all;
  all.append("start ");
  all.append(std::move(a));
  all.append(std::move(b));
  all.append(" end");
  EXPECT_EQ(gathered(all), "start {9}\r\ntiny body<" + std::string(Output::kMinView, 'y') + "> end");
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace postline::imap
