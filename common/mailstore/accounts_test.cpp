// The change notification payload (accounts.h): both forms, names with ':'.
#include "common/mailstore/accounts.h"

#include <gtest/gtest.h>

using namespace postline::mailstore;

TEST(ChangePayload, MessageChangesKeepTheOriginalThreeFields) {
  EXPECT_EQ(encode_change(ChangeEvent{7, 12, 99}), "7:12:99");
  auto e = parse_change("7:12:99");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->user_id, 7);
  EXPECT_EQ(e->mailbox_id, 12);
  EXPECT_EQ(e->modseq, 99);
  EXPECT_EQ(e->kind, ChangeKind::kMessages);
  EXPECT_TRUE(parse_change("7:12"));  // older still: ids only
}

TEST(ChangePayload, NamedEventsRoundTrip) {
  for (const ChangeEvent& in : {ChangeEvent{1, 2, 3, ChangeKind::kCreated, "a:b/c"},
                                ChangeEvent{1, 2, 3, ChangeKind::kDeleted, "Trash"},
                                ChangeEvent{1, 0, 0, ChangeKind::kSubscribed, "x"},
                                ChangeEvent{1, 0, 0, ChangeKind::kUnsubscribed, "\xc3\xa9t\xc3\xa9"},
                                ChangeEvent{1, 5, 8, ChangeKind::kRenamed, "new:1", "old:2:3"},
                                ChangeEvent{1, 5, 8, ChangeKind::kRenamed, "n", ""},
                                ChangeEvent{7, 0, 0, ChangeKind::kMoved, "main"}}) {
    const std::string wire = encode_change(in);
    auto out = parse_change(wire);
    ASSERT_TRUE(out) << wire;
    EXPECT_EQ(out->kind, in.kind) << wire;
    EXPECT_EQ(out->name, in.name) << wire;
    EXPECT_EQ(out->old_name, in.old_name) << wire;
    EXPECT_EQ(out->mailbox_id, in.mailbox_id) << wire;
  }
  EXPECT_EQ(encode_change(ChangeEvent{1, 5, 8, ChangeKind::kRenamed, "new", "old"}), "1:5:8:r:3:new:old");
}

TEST(ChangePayload, MetadataEventsCarryTheEntries) {
  ChangeEvent in{1, 5, 0, ChangeKind::kMetadata, "a:b"};
  in.entries = {"/private/comment", "/shared/with space:colon"};
  EXPECT_EQ(encode_change(in), "1:5:0:a:3:a:b:/private/comment\n/shared/with space:colon");
  auto out = parse_change(encode_change(in));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, ChangeKind::kMetadata);
  EXPECT_EQ(out->name, "a:b");
  EXPECT_EQ(out->entries, in.entries);
  // Server annotations: mailbox 0, no name.
  out = parse_change("7:0:0:a:0::/private/x");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->mailbox_id, 0);
  EXPECT_EQ(out->user_id, 7);
  EXPECT_EQ(out->entries, (std::vector<std::string>{"/private/x"}));
  EXPECT_FALSE(parse_change("1:5:0:a:1:x"));
  // Many long entries are split so that every payload stays far below 8000 bytes.
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back("/private/" + std::string(240, 'a' + i % 26) + std::to_string(i));
  const auto events = metadata_change_events(1, 5, std::string(1000, 'm'), many);
  ASSERT_GT(events.size(), 1u);
  std::vector<std::string> all;
  for (const auto& e : events) {
    EXPECT_LT(encode_change(e).size(), 8000u);
    EXPECT_EQ(parse_change(encode_change(e))->entries, e.entries);
    all.insert(all.end(), e.entries.begin(), e.entries.end());
  }
  EXPECT_EQ(all, many);
  EXPECT_TRUE(metadata_change_events(1, 5, "x", {}).empty());
}

TEST(ChangePayload, GarbageIsRejectedAndUnknownKindsKeepTheIds) {
  for (const char* bad : {"", "x", "1", "1:", "1:x", "1:2:3:", "1:2:3:c", "1:2:3:c:9:ab", "1:2:3:c:-1:",
                          "1:2:3:c:2:abc", "1:2:3:r:1:a", "99999999999999999999:1:1"})
    EXPECT_FALSE(parse_change(bad)) << bad;
  auto e = parse_change("1:2:3:z:whatever");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->mailbox_id, 2);
  EXPECT_EQ(e->kind, ChangeKind::kMessages);
}
