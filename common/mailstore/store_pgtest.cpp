#include "common/mailstore/accounts.h"
#include "common/mailstore/blob_store.h"
#include "common/mailstore/delivery.h"
#include "common/mailstore/sql/migrations.h"
#include "common/mailstore/store.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace postline::mailstore;

namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = postline::testing::create_test_database("mailstore_store");
    conn_ = std::make_unique<pqxx::connection>(url_);
    postline::db::migrate(*conn_, sql::migrations());
    pqxx::work tx(*conn_);
    ensure_account(tx, kUser);
    tx.commit();
  }
  MailboxInfo box(const std::string& name) {
    pqxx::read_transaction tx(*conn_);
    return find_mailbox(tx, kUser, name).value();
  }
  std::vector<MessageState> states(const std::string& name, int64_t since = 0) {
    const int64_t id = box(name).mailbox_id;
    pqxx::read_transaction tx(*conn_);
    return message_states(tx, kUser, id, since);
  }
  static constexpr int64_t kUser = 42;
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

const std::string kMsg = "Subject: s\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n\r\nbody\r\n";

TEST_F(StoreTest, AppendAssignsUidsAndKeepsFlags) {
  auto a = append(*conn_, kUser, "INBOX", kMsg, {"\\seen", "$Label1"}, 86400);
  auto b = append(*conn_, kUser, "inbox", kMsg, {}, std::nullopt);
  EXPECT_EQ(a.error, StoreError::kNone);
  EXPECT_EQ(b.uid, a.uid + 1);
  EXPECT_EQ(a.uidvalidity, box("INBOX").uidvalidity);
  auto s = states("INBOX");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].flags, (std::vector<std::string>{"$Label1", "\\Seen"}));
  EXPECT_EQ(append(*conn_, kUser, "Nope", kMsg, {}, std::nullopt).error, StoreError::kNoSuchMailbox);
  pqxx::read_transaction tx(*conn_);
  auto recs = fetch_records(tx, kUser, a.mailbox_id, {a.uid});
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].internaldate, 86400);
  EXPECT_TRUE(recs[0].structure.has_value());
  EXPECT_EQ(tx.exec("SELECT sent_date::text FROM mailstore_messages LIMIT 1")[0][0].as<std::string>(), "2026-11-24");
}

TEST_F(StoreTest, FlagsBumpModseqOnlyWhenChanged) {
  auto a = append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt);
  const int64_t before = box("INBOX").highestmodseq;
  auto u = store_flags(*conn_, kUser, a.mailbox_id, {a.uid}, FlagMode::kAdd, {"\\Flagged"});
  ASSERT_EQ(u.changed.size(), 1u);
  EXPECT_EQ(u.changed[0].modseq, before + 1);
  EXPECT_EQ(box("INBOX").highestmodseq, before + 1);
  auto again = store_flags(*conn_, kUser, a.mailbox_id, {a.uid}, FlagMode::kAdd, {"\\Flagged"});
  EXPECT_TRUE(again.changed.empty());
  EXPECT_EQ(box("INBOX").highestmodseq, before + 1);
  auto removed = store_flags(*conn_, kUser, a.mailbox_id, {a.uid}, FlagMode::kRemove, {"\\flagged"});
  ASSERT_EQ(removed.changed.size(), 1u);
  EXPECT_TRUE(removed.changed[0].flags.empty());
  // UNCHANGEDSINCE older than the message's MODSEQ: refused and reported.
  auto cond = store_flags(*conn_, kUser, a.mailbox_id, {a.uid}, FlagMode::kReplace, {"x"}, before);
  EXPECT_TRUE(cond.changed.empty());
  EXPECT_EQ(cond.modified, std::vector<int64_t>{a.uid});
}

TEST_F(StoreTest, ExpungeRecordsVanishedUids) {
  auto a = append(*conn_, kUser, "INBOX", kMsg, {"\\Deleted"}, std::nullopt);
  auto b = append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt);
  const int64_t before = box("INBOX").highestmodseq;
  auto gone = expunge(*conn_, kUser, a.mailbox_id, std::nullopt);
  EXPECT_EQ(gone, std::vector<int64_t>{a.uid});
  pqxx::read_transaction tx(*conn_);
  EXPECT_EQ(expunged_since(tx, kUser, a.mailbox_id, before), std::vector<int64_t>{a.uid});
  EXPECT_TRUE(expunged_since(tx, kUser, a.mailbox_id, before + 1).empty());
  EXPECT_EQ(message_states(tx, kUser, a.mailbox_id).size(), 1u);
  (void)b;
}

TEST_F(StoreTest, CopyAndMoveShareTheBody) {
  auto a = append(*conn_, kUser, "INBOX", kMsg, {"\\Seen"}, std::nullopt);
  auto c = copy_messages(*conn_, kUser, a.mailbox_id, {a.uid}, "Archive", false);
  EXPECT_EQ(c.error, StoreError::kNone);
  EXPECT_EQ(c.source_uids, std::vector<int64_t>{a.uid});
  EXPECT_EQ(c.dest_uids, std::vector<int64_t>{1});
  auto m = copy_messages(*conn_, kUser, a.mailbox_id, {a.uid}, "Trash", true);
  EXPECT_EQ(m.dest_uids, std::vector<int64_t>{1});
  EXPECT_TRUE(states("INBOX").empty());
  EXPECT_EQ(states("Trash")[0].flags, std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(copy_messages(*conn_, kUser, a.mailbox_id, {a.uid}, "Nope", false).error, StoreError::kNoSuchMailbox);
  pqxx::read_transaction tx(*conn_);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM mailstore_blobs")[0][0].as<int>(), 1);
}

TEST_F(StoreTest, CreateDeleteRename) {
  EXPECT_EQ(create_mailbox(*conn_, kUser, "A/B/C"), StoreError::kNone);
  EXPECT_EQ(create_mailbox(*conn_, kUser, "A"), StoreError::kAlreadyExists);
  EXPECT_EQ(create_mailbox(*conn_, kUser, "bad//name"), StoreError::kInvalidName);
  EXPECT_EQ(delete_mailbox(*conn_, kUser, "A"), StoreError::kHasChildren);
  EXPECT_EQ(delete_mailbox(*conn_, kUser, "inbox"), StoreError::kInboxProtected);
  const int64_t validity = box("A/B").uidvalidity;
  EXPECT_EQ(rename_mailbox(*conn_, kUser, "A", "Z"), StoreError::kNone);
  EXPECT_EQ(box("Z/B").uidvalidity, validity);
  EXPECT_TRUE(box("Z/B/C").mailbox_id);
  EXPECT_EQ(rename_mailbox(*conn_, kUser, "Z", "Z/B/D"), StoreError::kInvalidName);
  EXPECT_EQ(delete_mailbox(*conn_, kUser, "Z/B/C"), StoreError::kNone);
  // Recreating a deleted name gets a new UIDVALIDITY.
  const int64_t old_validity = box("Z/B").uidvalidity;
  EXPECT_EQ(delete_mailbox(*conn_, kUser, "Z/B"), StoreError::kNone);
  EXPECT_EQ(create_mailbox(*conn_, kUser, "Z/B"), StoreError::kNone);
  EXPECT_NE(box("Z/B").uidvalidity, old_validity);
}

// IMAP NOTIFY needs names with mailbox events: a deleted mailbox's name is
// gone from the store by the time a listener hears of it.
TEST_F(StoreTest, ChangeNotificationsCarryMailboxEvents) {
  pqxx::connection listen_conn(url_);
  struct Collect : pqxx::notification_receiver {
    std::vector<ChangeEvent> events;
    explicit Collect(pqxx::connection_base& c) : pqxx::notification_receiver(c, kChangeChannel) {}
    void operator()(const std::string& payload, int) override { events.push_back(parse_change(payload).value()); }
  } collect(listen_conn);
  ASSERT_EQ(create_mailbox(*conn_, kUser, "P/q"), StoreError::kNone);
  set_subscribed(*conn_, kUser, "P/q", true);
  ASSERT_EQ(rename_mailbox(*conn_, kUser, "P", "R"), StoreError::kNone);
  set_subscribed(*conn_, kUser, "R/q", false);
  ASSERT_EQ(delete_mailbox(*conn_, kUser, "R/q"), StoreError::kNone);
  append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt);
  while (collect.events.size() < 7 && listen_conn.await_notification(5, 0) > 0) {
  }
  std::vector<std::string> seen;
  for (const auto& e : collect.events)
    seen.push_back(std::string(1, static_cast<char>(e.kind)) + " " + e.name + (e.old_name.empty() ? "" : " <- " + e.old_name));
  ASSERT_EQ(seen.size(), 7u);
  std::sort(seen.begin() + 2, seen.begin() + 4);  // one UPDATE renames both, in no set order
  EXPECT_EQ(seen, (std::vector<std::string>{"c P/q", "s P/q", "r R <- P", "r R/q <- P/q", "u R/q", "d R/q", "m "}));
  for (const auto& e : collect.events)
    if (e.kind == ChangeKind::kRenamed && e.name == "R") EXPECT_EQ(e.mailbox_id, box("R").mailbox_id);
  EXPECT_EQ(collect.events[6].mailbox_id, box("INBOX").mailbox_id);
}

TEST_F(StoreTest, RenameInboxMovesMessagesAndKeepsInbox) {
  append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt);
  EXPECT_EQ(rename_mailbox(*conn_, kUser, "INBOX", "Old"), StoreError::kNone);
  EXPECT_TRUE(states("INBOX").empty());
  EXPECT_EQ(states("Old").size(), 1u);
}

TEST_F(StoreTest, StatusCounts) {
  append(*conn_, kUser, "INBOX", kMsg, {"\\Seen"}, std::nullopt);
  append(*conn_, kUser, "INBOX", kMsg, {"\\Deleted"}, std::nullopt);
  pqxx::read_transaction tx(*conn_);
  auto st = mailbox_status(tx, kUser, "INBOX").value();
  EXPECT_EQ(st.messages, 2);
  EXPECT_EQ(st.unseen, 1);
  EXPECT_EQ(st.deleted, 1);
  EXPECT_EQ(st.size, static_cast<int64_t>(2 * kMsg.size()));
}

}  // namespace

namespace {

TEST_F(StoreTest, MessageQuotaRefusesAppendAndCopyButNotMove) {
  const Quota quota{0, 3};
  ASSERT_EQ(append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt, quota).error, StoreError::kNone);
  auto b = append(*conn_, kUser, "Archive", kMsg, {}, std::nullopt, quota);
  ASSERT_EQ(b.error, StoreError::kNone);
  auto c = append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt, quota);
  ASSERT_EQ(c.error, StoreError::kNone);
  EXPECT_EQ(append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt, quota).error, StoreError::kOverQuota);
  EXPECT_EQ(copy_messages(*conn_, kUser, c.mailbox_id, {c.uid}, "Trash", false, quota).error,
            StoreError::kOverQuota);
  // MOVE within the account changes no total.
  auto moved = copy_messages(*conn_, kUser, c.mailbox_id, {c.uid}, "Trash", true, quota);
  EXPECT_EQ(moved.error, StoreError::kNone);
  EXPECT_EQ(moved.dest_uids.size(), 1u);
  // Byte and message limits together: whichever is hit refuses.
  const Quota roomy{1 << 20, 10};
  EXPECT_EQ(copy_messages(*conn_, kUser, b.mailbox_id, {b.uid}, "INBOX", false, roomy).error, StoreError::kNone);
  EXPECT_EQ(append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt, Quota{10, 0}).error, StoreError::kOverQuota);
  pqxx::read_transaction tx(*conn_);
  EXPECT_EQ(usage(tx, kUser).messages, 4);
}

// Ages every expunged row of the user by `days`.
void age_expunged(pqxx::connection& conn, int64_t user, int days) {
  pqxx::work tx(conn);
  tx.exec_params("UPDATE mailstore_expunged SET expunged_at = now() - $2::interval WHERE user_id = $1", user,
                 std::to_string(days) + " days");
  tx.commit();
}

TEST_F(StoreTest, PruningOldExpungeHistoryKeepsResyncCorrect) {
  std::vector<int64_t> uids;
  int64_t mailbox = 0;
  for (int i = 0; i < 8; ++i) {
    auto a = append(*conn_, kUser, "INBOX", kMsg, {"\\Deleted"}, std::nullopt);
    uids.push_back(a.uid);
    mailbox = a.mailbox_id;
  }
  const int64_t client_modseq = box("INBOX").highestmodseq;  // a client that saw all 8
  // Old expunges: UIDs 1 and 2. Recent ones: 3 (after the old ones were aged).
  expunge(*conn_, kUser, mailbox, std::vector<int64_t>{uids[0], uids[1]});
  const int64_t after_old = box("INBOX").highestmodseq;
  age_expunged(*conn_, kUser, 40);
  expunge(*conn_, kUser, mailbox, std::vector<int64_t>{uids[2]});
  const int64_t after_recent = box("INBOX").highestmodseq;
  {
    pqxx::read_transaction tx(*conn_);
    EXPECT_EQ(expunged_since(tx, kUser, mailbox, client_modseq), (std::vector<int64_t>{uids[0], uids[1], uids[2]}));
  }

  // Young history is kept; a second pass with nothing old enough finds nothing.
  auto none = prune_expunged(*conn_, std::chrono::hours(24 * 60), 100);
  EXPECT_TRUE(none.locked);
  EXPECT_EQ(none.deleted, 0);
  EXPECT_FALSE(none.more);

  // Batches of one: two calls prune the two old rows, the third finds nothing.
  int64_t deleted = 0;
  for (int i = 0; i < 5; ++i) {
    auto r = prune_expunged(*conn_, std::chrono::hours(24 * 30), 1);
    deleted += r.deleted;
    if (!r.more) break;
    EXPECT_LE(r.deleted, 1);
  }
  EXPECT_EQ(deleted, 2);
  pqxx::read_transaction tx(*conn_);
  EXPECT_EQ(pruned_horizon(tx, kUser, mailbox), after_old);
  EXPECT_EQ(tx.exec_params("SELECT count(*) FROM mailstore_expunged WHERE user_id = $1", kUser)[0][0].as<int64_t>(), 1);
  // At or above the horizon the history is exact.
  EXPECT_EQ(expunged_since(tx, kUser, mailbox, after_old), (std::vector<int64_t>{uids[2]}));
  EXPECT_TRUE(expunged_since(tx, kUser, mailbox, after_recent).empty());
  // Below it: every UID below UIDNEXT that is gone — the old ones included, never a present one.
  EXPECT_EQ(expunged_since(tx, kUser, mailbox, client_modseq), (std::vector<int64_t>{uids[0], uids[1], uids[2]}));
  EXPECT_EQ(expunged_since(tx, kUser, mailbox, 0), (std::vector<int64_t>{uids[0], uids[1], uids[2]}));
}

TEST_F(StoreTest, OnlyOnePrunerAtATime) {
  auto a = append(*conn_, kUser, "INBOX", kMsg, {"\\Deleted"}, std::nullopt);
  expunge(*conn_, kUser, a.mailbox_id, std::nullopt);
  age_expunged(*conn_, kUser, 40);
  // Another process holds the pruning lock: this one does nothing.
  pqxx::connection other(url_);
  pqxx::work holder(other);
  holder.exec("SELECT pg_advisory_xact_lock(" + std::to_string(0x7073746c0001LL) + ")");
  auto r = prune_expunged(*conn_, std::chrono::hours(24), 100);
  EXPECT_FALSE(r.locked);
  EXPECT_EQ(r.deleted, 0);
  holder.abort();
  r = prune_expunged(*conn_, std::chrono::hours(24), 100);
  EXPECT_TRUE(r.locked);
  EXPECT_EQ(r.deleted, 1);
}

}  // namespace

// FETCH reads bodies and parts in bulk: positional answers, missing keys as
// nullopt, duplicates answered twice, ranges clipped like get_range().
TEST_F(StoreTest, BlobStoreBulkReads) {
  const std::string other = "Subject: t\r\n\r\nanother body\r\n";
  append(*conn_, kUser, "INBOX", kMsg, {}, std::nullopt);
  append(*conn_, kUser, "INBOX", other, {}, std::nullopt);
  auto& blobs = default_blob_store();
  pqxx::read_transaction tx(*conn_);
  const std::string missing(32, '\x01');
  auto many = blobs.get_many(tx, {sha256(other), missing, sha256(kMsg), sha256(other)});
  ASSERT_EQ(many.size(), 4u);
  EXPECT_EQ(many[0].value(), other);
  EXPECT_FALSE(many[1].has_value());
  EXPECT_EQ(many[2].value(), kMsg);
  EXPECT_EQ(many[3].value(), other);
  EXPECT_TRUE(blobs.get_many(tx, {}).empty());

  auto ranges = blobs.get_ranges(tx, {{sha256(kMsg), 0, 10},
                                      {missing, 0, 5},
                                      {sha256(other), 14, 7},
                                      {sha256(other), 20, 1000},
                                      {sha256(kMsg), 5000, 3},
                                      {sha256(kMsg), 1, UINT64_MAX}});
  ASSERT_EQ(ranges.size(), 6u);
  EXPECT_EQ(ranges[0].value(), kMsg.substr(0, 10));
  EXPECT_FALSE(ranges[1].has_value());
  EXPECT_EQ(ranges[2].value(), "another");
  EXPECT_EQ(ranges[3].value(), other.substr(20));
  EXPECT_EQ(ranges[4].value(), "");
  EXPECT_EQ(ranges[5].value(), kMsg.substr(1));
  {
    // Every byte value survives the transfer encoding (NUL, backslash, 8-bit).
    std::string all;
    for (int rep = 0; rep < 3; ++rep)
      for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    all += "\\\\000\\x41";
    pqxx::connection c2(url_);  // conn_ holds the read transaction above
    pqxx::work w(c2);
    blobs.put(w, sha256(all), all);
    EXPECT_EQ(blobs.get_many(w, {sha256(all)})[0].value(), all);
    EXPECT_EQ(blobs.get_ranges(w, {{sha256(all), 90, 300}})[0].value(), all.substr(90, 300));
  }
  for (size_t i = 0; i < 6; ++i) {
    const std::vector<std::pair<uint64_t, uint64_t>> spans = {{0, 10}, {0, 5}, {14, 7}, {20, 1000}, {5000, 3}, {1, 1u << 30}};
    const std::string key = i == 1 ? missing : i == 2 || i == 3 ? sha256(other) : sha256(kMsg);
    EXPECT_EQ(ranges[i], blobs.get_range(tx, key, spans[i].first, spans[i].second)) << i;
  }
}
