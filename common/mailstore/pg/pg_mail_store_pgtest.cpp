// PgMailStore against a real PostgreSQL: what only the PostgreSQL
// implementation has (the index cache across instances, change notifications
// between processes, concurrency, the pruning lock). The behaviour both
// implementations share is in mail_store_conformance_test.cpp.
#include "common/mailstore/accounts.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/sql/migrations.h"
#include "common/db/migrations.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace postline::mailstore;

namespace {

constexpr UserId kUser = 42;

std::string message(int i, const std::string& subject = "hello") {
  return "From: a@example.test\r\nTo: b@example.test\r\nSubject: " + subject + " " + std::to_string(i) +
         "\r\nMessage-ID: <m" + std::to_string(i) + "@example.test>\r\n\r\nBody " + std::to_string(i) + "\r\n";
}

class PgMailStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = postline::testing::create_test_database("mailstore_pg");
    pqxx::connection c(url_);
    postline::db::migrate(c, sql::migrations());
    store_ = make();
    store_->ensure_account(kUser);
  }
  std::unique_ptr<pg::PgMailStore> make(size_t cache = 100000) {
    pg::PgOptions o;
    o.url = url_;
    o.pool_size = 4;
    o.index_cache_messages = cache;
    return std::make_unique<pg::PgMailStore>(o);
  }
  Uid append(MailStore& s, int i, const std::string& box = "INBOX", Flags flags = {}) {
    const std::string m = message(i);
    auto r = s.append(kUser, box, {AppendItem{m, flags}});
    EXPECT_EQ(r.error, StoreError::kNone);
    return r.uids.empty() ? 0 : r.uids[0];
  }
  std::string url_;
  std::unique_ptr<pg::PgMailStore> store_;
};

TEST_F(PgMailStoreTest, OpenReadsTheIndexAndTheCacheFollowsChangesOfAnotherInstance) {
  for (int i = 1; i <= 5; ++i) append(*store_, i);
  auto first = store_->open(kUser, "INBOX");
  ASSERT_TRUE(first.index);
  ASSERT_EQ(first.index->entries.size(), 5u);
  EXPECT_EQ(store_->cached_messages(), 5u);

  // Nothing changed: the very same snapshot comes back.
  auto again = store_->open(kUser, "INBOX");
  EXPECT_EQ(again.index.get(), first.index.get());

  // Another instance (its own cache) flags, expunges and appends.
  auto other = make();
  const MailboxId id = first.index->info.mailbox_id;
  other->store_flags(kUser, id, {2, 3}, FlagMode::kAdd, Flags{kDeleted | kSeen, {"$Work"}});
  EXPECT_EQ(other->expunge(kUser, id, std::vector<Uid>{3}), std::vector<Uid>{3});
  append(*other, 6);

  auto fresh = store_->open(kUser, "INBOX");
  ASSERT_TRUE(fresh.index);
  std::vector<Uid> uids;
  for (const auto& e : fresh.index->entries) uids.push_back(e.uid);
  EXPECT_EQ(uids, (std::vector<Uid>{1, 2, 4, 5, 6}));
  const auto& two = fresh.index->entries[1];
  EXPECT_EQ(two.system, kDeleted | kSeen);
  EXPECT_EQ(fresh.index->keywords.get(two.keywords), std::vector<std::string>{"$Work"});
  EXPECT_EQ(fresh.index->info.uidnext, 7);
  // The refreshed snapshot equals what a cold open reads.
  auto cold = make()->open(kUser, "INBOX");
  ASSERT_EQ(cold.index->entries.size(), fresh.index->entries.size());
  for (size_t i = 0; i < cold.index->entries.size(); ++i) {
    EXPECT_EQ(cold.index->entries[i].uid, fresh.index->entries[i].uid);
    EXPECT_EQ(cold.index->entries[i].modseq, fresh.index->entries[i].modseq);
    EXPECT_EQ(cold.index->flags_of(cold.index->entries[i]), fresh.index->flags_of(fresh.index->entries[i]));
  }
  EXPECT_EQ(cold.index->info.highestmodseq, fresh.index->info.highestmodseq);
}

TEST_F(PgMailStoreTest, ACachedNameThatNowNamesAnotherMailboxIsReadAfresh) {
  ASSERT_EQ(store_->create_mailbox(kUser, "Box"), StoreError::kNone);
  append(*store_, 1, "Box");
  ASSERT_EQ(store_->open(kUser, "Box").index->entries.size(), 1u);
  auto other = make();
  ASSERT_EQ(other->delete_mailbox(kUser, "Box"), StoreError::kNone);
  ASSERT_EQ(other->create_mailbox(kUser, "Box"), StoreError::kNone);
  auto reopened = store_->open(kUser, "Box");
  ASSERT_TRUE(reopened.index);
  EXPECT_TRUE(reopened.index->entries.empty());
  ASSERT_EQ(other->delete_mailbox(kUser, "Box"), StoreError::kNone);
  EXPECT_FALSE(store_->open(kUser, "Box").index);
}

TEST_F(PgMailStoreTest, ChangeNotificationsReachAnotherInstanceAfterTheCommit) {
  auto listener = make();
  std::mutex m;
  std::condition_variable cv;
  std::vector<ChangeEvent> seen;
  listener->start_change_feed([&](const ChangeEvent& e) {
    std::lock_guard lock(m);
    seen.push_back(e);
    cv.notify_all();
  });
  const Uid uid = append(*store_, 1);
  auto info = store_->find_mailbox(kUser, "INBOX").value();
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] {
    for (const auto& e : seen)
      if (e.mailbox_id == info.mailbox_id && e.modseq == info.highestmodseq) return true;
    return false;
  })) << "no notification for the APPEND of UID " << uid;
  // The data is visible by the time the notification is.
  auto ch = listener->changes_since(kUser, info.mailbox_id, 0);
  ASSERT_EQ(ch.changed.size(), 1u);
  EXPECT_EQ(ch.changed[0].uid, uid);
}

}  // namespace

namespace {
int64_t count(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::read_transaction tx(c);
  return tx.exec(sql)[0][0].as<int64_t>();
}
}  // namespace

// Sort keys live once per distinct body, written with it (APPEND, delivery,
// the staged delivery queued uses); bodies stored before migration 012 get
// theirs written by the first SORT or THREAD that meets them, and COPY reuses them.
TEST_F(PgMailStoreTest, SortKeysAreStoredOncePerBodyAndBackfilledForOldBodies) {
  for (int i = 1; i <= 3; ++i) append(*store_, i);
  const std::string again = message(1);
  store_->deliver(kUser, "INBOX", {DeliveryItem{again, "k1"}, DeliveryItem{message(4), "k2"}});
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_sort_keys"), 4);
  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec("DELETE FROM mailstore_sort_keys WHERE base_subject <> 'hello 4'");
    tx.commit();
  }
  const MailboxId inbox = store_->find_mailbox(kUser, "INBOX")->mailbox_id;
  SearchCriterion all;
  auto uids = store_->sort(kUser, inbox, all, {SortCriterion{SortKey::kSubject, true}});
  EXPECT_EQ(uids, (std::vector<Uid>{5, 3, 2, 1, 4}));  // hello 4, 3, 2, 1 (twice: UIDs 1 and 4)
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_sort_keys"), 4);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_sort_keys WHERE message_id = 'm2@example.test' "
                        "AND from_mailbox = 'a' AND display_to = 'b@example.test' AND sent_at IS NULL"),
            1);
  ASSERT_EQ(store_->copy(kUser, inbox, {1, 2}, "Archive", false).error, StoreError::kNone);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_sort_keys"), 4);
  const MailboxId archive = store_->find_mailbox(kUser, "Archive")->mailbox_id;
  EXPECT_EQ(store_->sort(kUser, archive, all, {SortCriterion{SortKey::kSubject}}), (std::vector<Uid>{1, 2}));
}

// The search index is built after the delivery (sql/014_search_backlog.sql):
// a delivery lists its new bodies on the backlog and writes no search row;
// a text SEARCH indexes its mailbox's part first, so it finds the message
// anyway; index_search_backlog() (queued's indexer) takes the rest in batches.
namespace {
SearchCriterion text_search(std::string text) {
  SearchCriterion c;
  c.kind = SearchCriterion::kText;
  c.text = std::move(text);
  return c;
}
}  // namespace

TEST_F(PgMailStoreTest, SearchIndexIsBuiltAfterDeliveryAndBeforeATextSearch) {
  store_->deliver(kUser, "INBOX",
                  {DeliveryItem{message(1), "k1"}, DeliveryItem{message(2, "needle"), "k2"}, DeliveryItem{message(3), "k3"}});
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search_backlog"), 3);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search"), 0);
  // A body stored in another user's mailbox is on the backlog too, and stays
  // there when user 42 searches: only the searched mailbox is indexed.
  store_->ensure_account(kUser + 1);
  store_->deliver(kUser + 1, "INBOX", {DeliveryItem{message(9), "other"}});
  const MailboxId inbox = store_->find_mailbox(kUser, "INBOX")->mailbox_id;

  const auto hits = store_->search(kUser, inbox, text_search("NEEDLE"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].uid, 2u);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search"), 3);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search_backlog"), 1);
  EXPECT_EQ(store_->search_backlog(), 1);

  // The same body again: stored once, indexed once, not listed again.
  store_->deliver(kUser, "INBOX", {DeliveryItem{message(2, "needle"), "k4"}});
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search_backlog"), 1);
  EXPECT_EQ(store_->search(kUser, inbox, text_search("needle")).size(), 2u);

  // The background path, in batches, oldest first.
  store_->deliver(kUser, "INBOX", {DeliveryItem{message(5), "k5"}, DeliveryItem{message(6), "k6"}});
  EXPECT_EQ(store_->index_search_backlog(2), 2u);
  EXPECT_EQ(store_->index_search_backlog(2), 1u);
  EXPECT_EQ(store_->index_search_backlog(2), 0u);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search_backlog"), 0);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search"), 6);
  EXPECT_EQ(count(url_, "SELECT count(*) FROM mailstore_search WHERE search_text LIKE '%hello 6%' "
                        "AND search_words LIKE '% body %'"),
            1);
  // SORT and THREAD with a text key see new mail too.
  store_->deliver(kUser, "INBOX", {DeliveryItem{message(7, "needle"), "k7"}});
  EXPECT_EQ(store_->sort(kUser, inbox, text_search("needle"), {SortCriterion{SortKey::kArrival}}),
            (std::vector<Uid>{2, 4, 7}));
}

// An indexer in the middle of a batch holds its backlog rows; a SEARCH over
// one of those bodies waits for it instead of skipping the body, and finds it.
TEST_F(PgMailStoreTest, ATextSearchWaitsForTheIndexerHoldingItsBodies) {
  store_->deliver(kUser, "INBOX", {DeliveryItem{message(1, "needle"), "k1"}});
  const MailboxId inbox = store_->find_mailbox(kUser, "INBOX")->mailbox_id;
  pqxx::connection indexer(url_);
  pqxx::work tx(indexer);
  ASSERT_EQ(tx.exec("SELECT sha256 FROM mailstore_search_backlog FOR UPDATE").size(), 1u);

  std::vector<SearchHit> hits;
  std::thread searcher([&] { hits = store_->search(kUser, inbox, text_search("needle")); });
  // Poll until the search is waiting on the row lock (with a deadline).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool waiting = false;
  while (!waiting && std::chrono::steady_clock::now() < until)
    waiting = count(url_, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND query LIKE '%mailstore_search_backlog%'") > 0;
  EXPECT_TRUE(waiting) << "the search did not wait for the indexer's rows";
  // The indexer finishes its batch the way index_search_backlog does.
  tx.exec("INSERT INTO mailstore_search (sha256, search_text, search_words) "
          "SELECT sha256, 'subject: needle', ' subject: needle ' FROM mailstore_search_backlog");
  tx.exec("DELETE FROM mailstore_search_backlog");
  tx.commit();
  searcher.join();
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].uid, 1u);
}

// sql/025: the writers add the totals of new messages themselves (no INSERT
// trigger any more). After every kind of write - delivery (with a duplicate
// and an over-quota item that insert nothing), APPEND of several, COPY, MOVE,
// EXPUNGE - the totals are what the messages add up to: a recount finds
// nothing to fix.
TEST_F(PgMailStoreTest, EveryWriterKeepsTheMailboxTotalsEqualToItsMessages) {
  auto recount_fixes = [&] { return store_->recalculate_usage(kUser).mailboxes_fixed; };
  const std::string a = message(1), b = message(2), big = message(3) + std::string(20000, 'x') + "\r\n";
  auto delivered = store_->deliver(kUser, "INBOX", {DeliveryItem{a, "key-1"}, DeliveryItem{b, "key-2"}});
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_EQ(recount_fixes(), 0);
  const Usage after_two = store_->usage(kUser);
  EXPECT_EQ(after_two.messages, 2);
  EXPECT_EQ(after_two.bytes, static_cast<int64_t>(a.size() + b.size()));

  // key-1 again: a duplicate; the big one over a byte quota: refused.
  Quota quota;
  quota.bytes = after_two.bytes + 1000;
  auto again = store_->deliver(kUser, "INBOX", {DeliveryItem{a, "key-1"}, DeliveryItem{big, "key-3"}}, quota);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_TRUE(again[0].duplicate);
  EXPECT_TRUE(again[1].over_quota);
  EXPECT_EQ(store_->usage(kUser).messages, 2);
  EXPECT_EQ(recount_fixes(), 0);

  // A delivery into a mailbox that does not exist yet creates it and counts there.
  ASSERT_EQ(store_->deliver(kUser, "Lists/new", {DeliveryItem{big, "key-4"}}).size(), 1u);
  EXPECT_EQ(recount_fixes(), 0);

  const std::string c = message(5), d = message(6);
  ASSERT_EQ(store_->append(kUser, "Archive", {AppendItem{c, {}}, AppendItem{d, {}}}).error, StoreError::kNone);
  EXPECT_EQ(recount_fixes(), 0);

  const MailboxId inbox = store_->find_mailbox(kUser, "INBOX")->mailbox_id;
  const MailboxId archive = store_->find_mailbox(kUser, "Archive")->mailbox_id;
  ASSERT_EQ(store_->copy(kUser, inbox, {1, 2}, "Archive", false).error, StoreError::kNone);
  EXPECT_EQ(recount_fixes(), 0);
  ASSERT_EQ(store_->copy(kUser, archive, {1}, "INBOX", true).error, StoreError::kNone);
  EXPECT_EQ(recount_fixes(), 0);
  store_->store_flags(kUser, inbox, {2}, FlagMode::kAdd, Flags{kDeleted, {}});
  ASSERT_EQ(store_->expunge(kUser, inbox, std::nullopt), std::vector<Uid>{2});
  EXPECT_EQ(recount_fixes(), 0);

  // 2 delivered + 1 in Lists/new + 2 appended + 2 copied - 1 expunged (MOVE
  // only changed where one of them is).
  EXPECT_EQ(store_->usage(kUser).messages, 6);
}

// recalculate_usage (`postline mailbox recalc`): totals that drifted from the
// messages (a bug, a restore, a hand edit) are set back to what the messages
// add up to, for every mailbox of the user and no other user's.
TEST_F(PgMailStoreTest, RecalculateUsageRestoresTotalsThatDriftedFromTheMessages) {
  for (int i = 1; i <= 3; ++i) append(*store_, i);
  append(*store_, 4, "Archive");
  constexpr UserId kOther = 43;
  store_->ensure_account(kOther);
  const std::string theirs = message(9);
  AppendItem item;
  item.message = theirs;
  ASSERT_EQ(store_->append(kOther, "INBOX", {item}).error, StoreError::kNone);
  const Usage right = store_->usage(kUser);
  const Usage other = store_->usage(kOther);
  EXPECT_EQ(right.messages, 4);

  auto clean = store_->recalculate_usage(kUser);
  EXPECT_EQ(clean.mailboxes_fixed, 0);
  EXPECT_EQ(clean.before.bytes, right.bytes);
  EXPECT_EQ(clean.after.messages, right.messages);

  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec("UPDATE mailstore_mailboxes SET total_bytes = total_bytes + 1000, total_messages = 17 "
            "WHERE name IN ('INBOX', 'Trash')");
    tx.commit();
  }
  EXPECT_EQ(store_->usage(kUser).messages, 17 + 17 + 1);
  auto fixed = store_->recalculate_usage(kUser);
  EXPECT_EQ(fixed.mailboxes_fixed, 2);  // INBOX and Trash; Archive was right
  EXPECT_EQ(fixed.before.messages, 35);
  EXPECT_EQ(fixed.before.bytes, right.bytes + 2000);
  EXPECT_EQ(fixed.after.bytes, right.bytes);
  EXPECT_EQ(fixed.after.messages, right.messages);
  EXPECT_EQ(store_->usage(kUser).bytes, right.bytes);
  // The other user's drifted INBOX and Trash are theirs to recount.
  EXPECT_EQ(store_->usage(kOther).messages, 17 + 17);
  EXPECT_EQ(store_->recalculate_usage(kOther).after.messages, other.messages);
}
