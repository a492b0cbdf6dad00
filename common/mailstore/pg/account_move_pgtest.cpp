// Sharding (docs/DESIGN.md "Sharding"): the router and the online move of an
// account between two shards. Two databases of the test PostgreSQL are the
// two "clusters": to the code they are just two URLs.
#include "common/db/migrations.h"
#include "common/mailstore/blob/memory_blob_store.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/pg/account_move.h"
#include "common/mailstore/pg/pg_sieve_scripts.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "common/mailstore/sql/migrations.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <atomic>
#include <set>
#include <thread>

using namespace postline::mailstore;

namespace {

constexpr UserId kUser = 7, kOther = 8;

std::string message(int i) {
  return "From: a@example.test\r\nTo: b@example.test\r\nSubject: move " + std::to_string(i) +
         "\r\nMessage-ID: <mv" + std::to_string(i) + "@example.test>\r\n\r\nBody " + std::to_string(i) + "\r\n";
}

// What a client can see of an account: per mailbox its state and every
// message's UID, flags, MODSEQ and body.
struct Snapshot {
  std::vector<std::string> lines;
  bool operator==(const Snapshot&) const = default;
};
Snapshot snapshot(MailStore& s, UserId user) {
  Snapshot out;
  auto list = s.list(user);
  for (const auto& mb : list.mailboxes) {
    auto st = s.status(user, {mb.name});
    out.lines.push_back(mb.name + " uv=" + std::to_string(mb.uidvalidity) + " next=" + std::to_string(mb.uidnext) +
                        " hms=" + std::to_string(mb.highestmodseq) + " n=" + std::to_string(st[0].messages) +
                        " size=" + std::to_string(st[0].size));
    auto o = s.open(user, mb.name);
    std::vector<Uid> uids;
    for (const auto& e : o.index->entries) uids.push_back(e.uid);
    auto msgs = s.read_messages(user, mb.mailbox_id, uids, kFieldFlags);
    std::vector<std::string> blobs;
    for (const auto& e : o.index->entries) {
      auto f = o.index->flags_of(e);
      std::string kw;
      for (const auto& k : f.keywords) kw += k + ",";
      out.lines.push_back("  uid=" + std::to_string(e.uid) + " modseq=" + std::to_string(e.modseq) +
                          " sys=" + std::to_string(f.system) + " kw=" + kw);
    }
    for (const auto& m : msgs) blobs.push_back(m.blob);
    auto bodies = s.read_bodies(user, blobs);
    for (size_t i = 0; i < bodies.size(); ++i)
      out.lines.push_back("  body " + (bodies[i] ? std::string(*bodies[i]) : std::string("MISSING")));
  }
  for (const auto& sub : list.subscriptions) out.lines.push_back("sub " + sub);
  auto md = s.get_metadata(user, "", {"/private/comment"}, MetadataDepth::kZero);
  for (const auto& e : md.entries) out.lines.push_back("meta " + e.entry + "=" + e.value);
  auto u = s.usage(user);
  out.lines.push_back("usage " + std::to_string(u.bytes) + " " + std::to_string(u.messages));
  return out;
}

class AccountMoveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_url_ = postline::testing::create_test_database("shard_a");
    b_url_ = postline::testing::create_test_database("shard_b");
    for (const auto& u : {a_url_, b_url_}) {
      pqxx::connection c(u);
      postline::db::migrate(c, sql::migrations());
    }
    a_ = make(a_url_);
    b_ = make(b_url_);
  }
  static std::unique_ptr<pg::PgMailStore> make(const std::string& url) {
    pg::PgOptions o;
    o.url = url;
    o.pool_size = 4;
    o.index_cache_messages = 0;
    return std::make_unique<pg::PgMailStore>(o);
  }
  void deliver(MailStore& s, UserId user, int i) {
    const std::string m = message(i), key = "q" + std::to_string(user) + "-" + std::to_string(i);
    auto r = s.deliver(user, "INBOX", {DeliveryItem{m, key}});
    ASSERT_EQ(r.size(), 1u);
  }
  std::string a_url_, b_url_;
  std::unique_ptr<pg::PgMailStore> a_, b_;
};

TEST(ShardSpec, ParsesNamesAndUrls) {
  auto one = pg::parse_shards("", "postgresql://x/db");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].first, "main");
  EXPECT_EQ(one[0].second, "postgresql://x/db");
  auto two = pg::parse_shards(" main=postgresql://a/m , s2=postgresql://b/m?sslmode=require&x=1 ", "ignored");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].first, "s2");
  EXPECT_EQ(two[1].second, "postgresql://b/m?sslmode=require&x=1");
  EXPECT_THROW(pg::parse_shards("main", ""), std::invalid_argument);
  EXPECT_THROW(pg::parse_shards("Main=postgresql://a", ""), std::invalid_argument);
  EXPECT_THROW(pg::parse_shards("a=x,a=y", ""), std::invalid_argument);
  EXPECT_THROW(pg::parse_shards("a=", ""), std::invalid_argument);
}

TEST_F(AccountMoveTest, RouterSendsEachUserToItsShard) {
  pg::ShardedMailStore router({{"main", a_url_}, {"s2", b_url_}}, "main",
                              [](const std::string& url) { return make(url); });
  router.assign(kOther, "s2");
  router.ensure_account(kUser);
  router.ensure_account(kOther);
  deliver(router, kUser, 1);
  deliver(router, kOther, 2);
  EXPECT_EQ(a_->usage(kUser).messages, 1);
  EXPECT_EQ(a_->usage(kOther).messages, 0);
  EXPECT_EQ(b_->usage(kOther).messages, 1);
  EXPECT_EQ(router.shard_of(kOther), "s2");
  EXPECT_THROW(router.assign(kUser, "nowhere"), pg::UnknownShard);
  // A kMoved event from the shard a user is assigned to drops the assignment.
  std::atomic<int> moved{0};
  router.start_change_feed([&](const ChangeEvent& e) {
    if (e.kind == ChangeKind::kMoved && e.user_id == kOther) ++moved;
  });
  pg::AccountMover::announce_moved(b_url_, kOther);
  for (int i = 0; i < 500 && !moved; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(moved.load(), 1);
  // Until someone places the account again, nothing of it goes anywhere.
  EXPECT_EQ(router.shard_of(kOther), "main");
  EXPECT_THROW(router.usage(kOther), pg::AccountMoved);
  router.assign(kOther, "main");
  EXPECT_EQ(router.usage(kOther).messages, 0);
  // A kMoved from a shard the user is not on here changes nothing.
  pg::AccountMover::announce_moved(b_url_, kUser);
  router.assign(kOther, "s2");
  pg::AccountMover::announce_moved(a_url_, kOther);
  pg::AccountMover::announce_moved(b_url_, kOther);
  for (int i = 0; i < 500 && moved < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_THROW(router.usage(kOther), pg::AccountMoved);
  EXPECT_EQ(router.usage(kUser).messages, 1);
  router.stop_change_feed();
}

TEST_F(AccountMoveTest, MoveCopiesEverythingAndTheDeltaAndDeletesTheSource) {
  a_->ensure_account(kUser);
  a_->ensure_account(kOther);
  for (int i = 1; i <= 30; ++i) deliver(*a_, kUser, i);
  deliver(*a_, kOther, 100);
  ASSERT_EQ(a_->create_mailbox(kUser, "Work"), StoreError::kNone);
  ASSERT_EQ(a_->create_mailbox(kUser, "Old"), StoreError::kNone);
  ASSERT_EQ(a_->subscribe(kUser, "Work"), StoreError::kNone);
  auto inbox = a_->open(kUser, "INBOX").index->info;
  a_->copy(kUser, inbox.mailbox_id, {1, 2, 3}, "Work", false);
  a_->store_flags(kUser, inbox.mailbox_id, {4, 5}, FlagMode::kAdd, Flags{kSeen, {"$Label1"}});
  a_->store_flags(kUser, inbox.mailbox_id, {6}, FlagMode::kAdd, Flags{kDeleted, {}});
  ASSERT_EQ(a_->expunge(kUser, inbox.mailbox_id, std::vector<Uid>{6}).size(), 1u);
  a_->set_metadata(kUser, "", {{"/private/comment", "before the move"}});
  pg::PgSieveScriptStore sieve_a(a_url_, 2), sieve_b(b_url_, 2);
  sieve_a.put_script(kUser, "main", "keep;\r\n");
  sieve_a.set_active_script(kUser, "main");

  pg::AccountMover mover(a_url_, b_url_);
  mover.message_batch = 4;  // many keyset pages (and pages of bodies)
  auto bulk = mover.bulk_copy(kUser);
  EXPECT_EQ(bulk.stats.rows["mailstore_messages"], 29 + 3);
  // Run again (a move restarted after a crash): the same result.
  bulk = mover.bulk_copy(kUser);
  EXPECT_EQ(snapshot(*a_, kUser), snapshot(*b_, kUser));

  // The account stays live: deliveries, flags, an expunge, a MOVE, a rename
  // and a deleted mailbox after the bulk copy.
  for (int i = 31; i <= 35; ++i) deliver(*a_, kUser, i);
  a_->store_flags(kUser, inbox.mailbox_id, {7}, FlagMode::kAdd, Flags{kFlagged, {}});
  a_->store_flags(kUser, inbox.mailbox_id, {8, 9}, FlagMode::kAdd, Flags{kDeleted, {}});
  ASSERT_EQ(a_->expunge(kUser, inbox.mailbox_id, std::vector<Uid>{8, 9}).size(), 2u);
  a_->copy(kUser, inbox.mailbox_id, {10}, "Work", true);
  ASSERT_EQ(a_->rename_mailbox(kUser, "Work", "Projects"), StoreError::kNone);
  ASSERT_EQ(a_->delete_mailbox(kUser, "Old"), StoreError::kNone);
  ASSERT_EQ(a_->create_mailbox(kUser, "Fresh"), StoreError::kNone);
  a_->set_metadata(kUser, "", {{"/private/comment", "after the bulk copy"}});
  const Snapshot before = snapshot(*a_, kUser);

  auto sw = mover.begin_switch(kUser, bulk.since);
  // 5 new, 7 flagged, 8 and 9 flagged \Deleted (then expunged), 10 moved.
  EXPECT_EQ(sw->delta().rows.at("mailstore_messages"), 5 + 1 + 1);
  EXPECT_EQ(sw->delta().rows.at("mailstore_messages (expunged)"), 2 + 1);
  // A writer of this user on the source now waits for the switch.
  std::atomic<bool> write_done{false};
  std::thread late([&] {
    try {
      a_->store_flags(kUser, inbox.mailbox_id, {11}, FlagMode::kAdd, Flags{kSeen, {}});
    } catch (const std::exception&) {
    }
    write_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the writer is blocked, not merely slow
  EXPECT_FALSE(write_done.load());
  sw->finish(true, "s2");
  late.join();
  // The late writer's mailbox is gone; a delivery that resolved the account
  // before the move cannot recreate it on the old shard either.
  EXPECT_THROW(a_->deliver(kUser, "INBOX", {DeliveryItem{message(99), "q7-99"}}), std::exception);
  EXPECT_NE(a_->append(kUser, "INBOX", {AppendItem{message(98), {}}}).error, StoreError::kNone);
  EXPECT_THROW(a_->create_mailbox(kUser, "INBOX"), std::exception);

  EXPECT_EQ(snapshot(*b_, kUser), before);
  EXPECT_EQ(sieve_b.active_script(kUser)->first, "main");
  auto left = pg::AccountMover::count_rows(a_url_, kUser);
  for (const auto& [t, n] : left) EXPECT_EQ(n, 0) << t;
  EXPECT_EQ(a_->usage(kOther).messages, 1);  // nobody else moved

  // On the target the account goes on: same UIDs next, redelivery of a key
  // delivered on the source is a duplicate, a new mailbox gets a new id and
  // a UIDVALIDITY no copied mailbox has.
  auto next = b_->deliver(kUser, "INBOX", {DeliveryItem{message(31), "q7-31"}});
  EXPECT_TRUE(next[0].duplicate);
  deliver(*b_, kUser, 36);
  auto ib = b_->open(kUser, "INBOX").index;
  EXPECT_EQ(ib->entries.back().uid, 36u);
  ASSERT_EQ(b_->create_mailbox(kUser, "Newer"), StoreError::kNone);
  std::set<int64_t> ids, uvs;
  for (const auto& mb : b_->list(kUser).mailboxes) {
    EXPECT_TRUE(ids.insert(mb.mailbox_id).second);
    EXPECT_TRUE(uvs.insert(mb.uidvalidity).second);
  }
}

// Sieve's delivery state moves with the account (sql/018, sql/021): a run
// retried on the target finds its record and queues its outbox from there,
// and a sender who had a vacation reply does not get another.
TEST_F(AccountMoveTest, SieveDeliveryStateMovesWithTheAccount) {
  a_->ensure_account(kUser);
  deliver(*a_, kUser, 1);
  auto sql = [](const std::string& url, const std::string& q) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec(q);
  };
  auto add_run = [&](const std::string& key) {
    sql(a_url_, "INSERT INTO mailstore_sieve_runs (user_id, run_key, rejected, reply) VALUES (7, '" + key +
                    "', false, '')");
    sql(a_url_,
        "INSERT INTO mailstore_sieve_outbox (user_id, run_key, n, queue_id, mail_from, helo, client_ip, "
        "authenticated_user, dsn_ret, dsn_envid, smtputf8, body_type, is_dsn, target_mailbox, recipients, notify, "
        "orcpt, body) VALUES (7, '" + key + "', 0, 'Q" + key.substr(2) +
            "', '', 'mx.test', '', '', '', '', false, '7BIT', false, '', '{c@example.test}', '{\"\"}', '{\"\"}', "
            "'vacation reply'::bytea)");
  };
  add_run("s/A1/1");
  sql(a_url_, "INSERT INTO mailstore_sieve_vacation VALUES (7, sha256('v1'), now() - interval '1 day')");
  sql(a_url_, "INSERT INTO mailstore_sieve_duplicates VALUES (7, sha256('d1'), now() + interval '1 day')");
  sql(a_url_, "INSERT INTO mailstore_sieve_vacation VALUES (8, sha256('v1'), now())");  // somebody else's

  pg::AccountMover mover(a_url_, b_url_);
  auto bulk = mover.bulk_copy(kUser);
  // After the bulk copy: another run, a new reply to the same sender, a new sender.
  add_run("s/A2/1");
  sql(a_url_, "UPDATE mailstore_sieve_vacation SET replied_at = now() WHERE user_id = 7");
  sql(a_url_, "INSERT INTO mailstore_sieve_vacation VALUES (7, sha256('v2'), now())");
  auto sw = mover.begin_switch(kUser, bulk.since);
  sw->finish(true, "s2");

  EXPECT_EQ(sql(b_url_, "SELECT string_agg(run_key, ',' ORDER BY run_key) FROM mailstore_sieve_runs WHERE user_id = 7")[0][0]
                .as<std::string>(),
            "s/A1/1,s/A2/1");
  EXPECT_EQ(sql(b_url_, "SELECT string_agg(queue_id || ':' || convert_from(body, 'UTF8'), ',' ORDER BY queue_id) "
                        "FROM mailstore_sieve_outbox WHERE user_id = 7")[0][0]
                .as<std::string>(),
            "QA1/1:vacation reply,QA2/1:vacation reply");
  EXPECT_EQ(sql(b_url_, "SELECT count(*) FROM mailstore_sieve_vacation WHERE user_id = 7 AND "
                        "replied_at > now() - interval '1 hour'")[0][0]
                .as<int>(),
            2);  // v1 with the reply sent after the bulk copy, and v2
  EXPECT_EQ(sql(b_url_, "SELECT count(*) FROM mailstore_sieve_duplicates WHERE user_id = 7")[0][0].as<int>(), 1);
  EXPECT_EQ(sql(b_url_, "SELECT count(*) FROM mailstore_sieve_vacation WHERE user_id = 8")[0][0].as<int>(), 0);
  auto left = pg::AccountMover::count_rows(a_url_, kUser);
  EXPECT_EQ(left.at("mailstore_sieve_runs"), 0);
  EXPECT_EQ(left.at("mailstore_sieve_vacation"), 0);
  EXPECT_EQ(sql(a_url_, "SELECT count(*) FROM mailstore_sieve_vacation WHERE user_id = 8")[0][0].as<int>(), 1);
  // A run that resolved the account before the move cannot record itself on
  // the old shard (one that only discards inserts no message).
  try {
    add_run("s/A3/1");
    ADD_FAILURE() << "a run record of a moved account was written on the old shard";
  } catch (const pqxx::sql_error& e) {
    EXPECT_EQ(e.sqlstate(), "PL010");
  }
}

TEST_F(AccountMoveTest, AnAbandonedSwitchLeavesTheSourceAsItWas) {
  a_->ensure_account(kUser);
  for (int i = 1; i <= 3; ++i) deliver(*a_, kUser, i);
  pg::AccountMover mover(a_url_, b_url_);
  auto bulk = mover.bulk_copy(kUser);
  {
    auto sw = mover.begin_switch(kUser, bulk.since);
    sw->abandon();
  }
  deliver(*a_, kUser, 4);  // not blocked any more
  EXPECT_EQ(a_->usage(kUser).messages, 4);
  auto st = pg::AccountMover::cleanup(b_url_, kUser);
  EXPECT_EQ(st.rows["mailstore_messages"], 3);
  EXPECT_EQ(b_->usage(kUser).messages, 0);
  // A shard the account left refuses its writes; a move back lifts the mark.
  pg::AccountMover::cleanup(b_url_, kUser, "main");
  EXPECT_THROW(b_->deliver(kUser, "INBOX", {DeliveryItem{message(5), "q7-5"}}), std::exception);
  bulk = mover.bulk_copy(kUser);
  deliver(*b_, kUser, 5);
  EXPECT_EQ(b_->usage(kUser).messages, 5);
}

// Bodies in an external blob store (sql/016, sql/020): one store (a bucket)
// for both shards, each database in its own namespace of it.
class AccountMoveBlobsTest : public AccountMoveTest {
 protected:
  void SetUp() override {
    AccountMoveTest::SetUp();
    blobs_ = std::make_shared<MemoryBlobStore>();
    a_ = make_with_blobs(a_url_);
    b_ = make_with_blobs(b_url_);
  }
  std::unique_ptr<pg::PgMailStore> make_with_blobs(const std::string& url) {
    pg::PgOptions o;
    o.url = url;
    o.pool_size = 4;
    o.index_cache_messages = 0;
    o.blobs = blobs_;
    return std::make_unique<pg::PgMailStore>(o);
  }
  static void exec(const std::string& url, const std::string& sql) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  static int64_t count(const std::string& url, const std::string& sql) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<int64_t>();
  }
  // What the sweeper compares with the clock is two hours older.
  static void age(const std::string& url) {
    exec(url, "UPDATE mailstore_blob_intents SET created_at = created_at - interval '2 hours'");
    exec(url, "UPDATE mailstore_blobs SET gc_marked_at = gc_marked_at - interval '2 hours' WHERE gc_marked_at IS NOT NULL");
  }
  // Two sweeps with a grace of an hour, everything aged in between: what the
  // sweeper would do over a few hours.
  static pg::PgMailStore::BlobSweep sweep_fully(pg::PgMailStore& s, const std::string& url) {
    age(url);
    auto first = s.sweep_blobs(std::chrono::hours(1));
    age(url);
    auto second = s.sweep_blobs(std::chrono::hours(1));
    second.objects_deleted += first.objects_deleted;
    second.collected += first.collected;
    return second;
  }
  static std::vector<std::string> keys_of(MailStore& s, UserId user) {
    std::vector<std::string> out;
    for (const auto& mb : s.list(user).mailboxes) {
      auto o = s.open(user, mb.name);
      std::vector<Uid> uids;
      for (const auto& e : o.index->entries) uids.push_back(e.uid);
      for (const auto& m : s.read_messages(user, mb.mailbox_id, uids, kFieldBlob)) out.push_back(m.blob);
    }
    return out;
  }
  // Nothing lost, nothing left: in the database's namespace an object exists
  // exactly when the database's catalogue names it (or an intent still
  // protects it) - `keys` are every body the test made.
  static void expect_consistent(pg::PgMailStore& s, const std::string& url, const std::set<std::string>& keys,
                                const std::string& when) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    for (const auto& k : keys) {
      const pqxx::binarystring key(k);
      const bool named = tx.exec_params("SELECT EXISTS (SELECT 1 FROM mailstore_blobs WHERE sha256 = $1 AND data IS NULL) "
                                        "OR EXISTS (SELECT 1 FROM mailstore_blob_intents WHERE sha256 = $1)",
                                        key)[0][0]
                             .as<bool>();
      EXPECT_EQ(s.blob_store()->exists(k), named) << when << ": body " << hex_of(k) << (named ? " lost" : " orphaned");
    }
  }
  std::shared_ptr<MemoryBlobStore> blobs_;
};

TEST_F(AccountMoveBlobsTest, EachShardHasItsOwnNamespaceAndTheSecondShardsSweeperCollectsItsOrphans) {
  const std::string na = a_->blob_store()->space(), nb = b_->blob_store()->space();
  EXPECT_FALSE(na.empty());
  EXPECT_FALSE(nb.empty());
  EXPECT_NE(na, nb);
  // The same body delivered on both shards: two objects, one per namespace.
  a_->ensure_account(kUser);
  b_->ensure_account(kOther);
  deliver(*a_, kUser, 1);
  deliver(*b_, kOther, 1);
  const std::string key = keys_of(*b_, kOther).at(0);
  EXPECT_EQ(blobs_->size(), 2u);
  EXPECT_TRUE(a_->blob_store()->exists(key));
  EXPECT_TRUE(b_->blob_store()->exists(key));
  // Expunged on the second shard: its sweeper deletes its object, not the first shard's.
  auto inbox = b_->open(kOther, "INBOX").index->info;
  b_->store_flags(kOther, inbox.mailbox_id, {1}, FlagMode::kAdd, Flags{kDeleted, {}});
  ASSERT_EQ(b_->expunge(kOther, inbox.mailbox_id, std::vector<Uid>{1}).size(), 1u);
  EXPECT_EQ(sweep_fully(*b_, b_url_).objects_deleted, 1);
  EXPECT_FALSE(b_->blob_store()->exists(key));
  EXPECT_TRUE(a_->blob_store()->exists(key));
  EXPECT_EQ(sweep_fully(*a_, a_url_).objects_deleted, 0);
  EXPECT_EQ(std::string(*a_->read_bodies(kUser, {key})[0]), prepare_message(message(1)).body);
}

TEST_F(AccountMoveBlobsTest, BodiesMoveAndTheSourcesSweeperDeletesNothingTheTargetReferences) {
  a_->ensure_account(kUser);
  a_->ensure_account(kOther);
  b_->ensure_account(9);
  for (int i = 1; i <= 12; ++i) deliver(*a_, kUser, i);
  deliver(*a_, kOther, 1);  // a body another user of the source shares
  deliver(*b_, 9, 2);       // a body the target has already
  pg::AccountMover mover(a_url_, b_url_, blobs_);
  mover.message_batch = 5;
  auto bulk = mover.bulk_copy(kUser);
  EXPECT_EQ(bulk.stats.objects_copied, 11);  // not message 2's
  // Live after the bulk copy: new deliveries (new objects) and an expunge.
  for (int i = 13; i <= 15; ++i) deliver(*a_, kUser, i);
  auto inbox = a_->open(kUser, "INBOX").index->info;
  a_->store_flags(kUser, inbox.mailbox_id, {3}, FlagMode::kAdd, Flags{kDeleted, {}});
  ASSERT_EQ(a_->expunge(kUser, inbox.mailbox_id, std::vector<Uid>{3}).size(), 1u);
  const Snapshot before = snapshot(*a_, kUser);
  std::set<std::string> keys;
  for (int i = 1; i <= 15; ++i) keys.insert(prepare_message(message(i)).key);
  auto sw = mover.begin_switch(kUser, bulk.since);
  EXPECT_EQ(sw->delta().objects_copied, 3);
  sw->finish(true, "s2");
  // Every body is on the target, byte for byte, from the target's namespace.
  EXPECT_EQ(snapshot(*b_, kUser), before);
  const auto moved = keys_of(*b_, kUser);
  EXPECT_EQ(moved.size(), 14u);
  for (const auto& k : moved) EXPECT_TRUE(b_->blob_store()->exists(k));
  // The source's sweeper collects the source's copies (not kOther's body)...
  const auto swept_a = sweep_fully(*a_, a_url_);
  EXPECT_EQ(swept_a.objects_deleted, 14);  // 15 bodies, less message 1 (kOther's)
  EXPECT_TRUE(a_->blob_store()->exists(prepare_message(message(1)).key));
  EXPECT_EQ(a_->usage(kOther).messages, 1);
  // ...and the target's finds nothing of the moved account to delete: only
  // the body of the message expunged before the switch (copied in bulk).
  EXPECT_EQ(sweep_fully(*b_, b_url_).objects_deleted, 1);
  EXPECT_EQ(snapshot(*b_, kUser), before);
  expect_consistent(*a_, a_url_, keys, "source after the move");
  expect_consistent(*b_, b_url_, keys, "target after the move");
}

TEST_F(AccountMoveBlobsTest, ACrashAtAnyStepLosesNothingAndLeavesNoOrphan) {
  a_->ensure_account(kUser);
  for (int i = 1; i <= 8; ++i) deliver(*a_, kUser, i);
  std::set<std::string> keys;
  for (int i = 1; i <= 9; ++i) keys.insert(prepare_message(message(i)).key);
  struct Crash : std::runtime_error {
    Crash() : std::runtime_error("simulated crash") {}
  };
  // Bulk copy steps: the first crash of each kind, then a later one (pages).
  for (const std::string step : {"intents", "objects", "bulk"}) {
    for (int nth : {1, 2}) {
      if (step == "bulk" && nth == 2) continue;
      const Snapshot before = snapshot(*a_, kUser);
      pg::AccountMover mover(a_url_, b_url_, blobs_);
      mover.message_batch = 3;
      int seen = 0;
      mover.fault_hook = [&](const std::string& at) {
        if (at == step && ++seen == nth) throw Crash();
      };
      EXPECT_THROW(mover.bulk_copy(kUser), Crash) << step << " " << nth;
      const std::string when = "bulk crashed at " + step + " #" + std::to_string(nth);
      EXPECT_EQ(snapshot(*a_, kUser), before) << when;
      EXPECT_EQ(pg::AccountMover::count_rows(b_url_, kUser)["mailstore_messages"], 0) << when;
      sweep_fully(*a_, a_url_);
      sweep_fully(*b_, b_url_);
      EXPECT_EQ(snapshot(*a_, kUser), before) << when;
      expect_consistent(*a_, a_url_, keys, when + ", source");
      expect_consistent(*b_, b_url_, keys, when + ", target");
      for (const auto& k : keys) EXPECT_FALSE(b_->blob_store()->exists(k)) << when << ": orphan on the target";
    }
  }
  // The delta's steps: the bulk copy committed, a new delivery, the switch crashes.
  pg::AccountMover mover(a_url_, b_url_, blobs_);
  auto bulk = mover.bulk_copy(kUser);
  deliver(*a_, kUser, 9);
  for (const std::string step : {"intents", "objects", "delta"}) {
    const Snapshot before = snapshot(*a_, kUser);
    mover.fault_hook = [&](const std::string& at) {
      if (at == step) throw Crash();
    };
    EXPECT_THROW(mover.begin_switch(kUser, bulk.since), Crash) << step;
    const std::string when = "switch crashed at " + step;
    sweep_fully(*a_, a_url_);
    sweep_fully(*b_, b_url_);
    EXPECT_EQ(snapshot(*a_, kUser), before) << when;
    expect_consistent(*a_, a_url_, keys, when + ", source");
    expect_consistent(*b_, b_url_, keys, when + ", target");
    EXPECT_FALSE(b_->blob_store()->exists(prepare_message(message(9)).key)) << when;
  }
  // Run again: the move completes with every body.
  mover.fault_hook = nullptr;
  const Snapshot before = snapshot(*a_, kUser);
  auto sw = mover.begin_switch(kUser, bulk.since);
  sw->finish(true, "s2");
  EXPECT_EQ(snapshot(*b_, kUser), before);
  // A crash between the flip and the source's delete (--keep-source, then
  // cleanup): the source keeps its objects until its rows go.
  sweep_fully(*a_, a_url_);
  sweep_fully(*b_, b_url_);
  EXPECT_EQ(snapshot(*b_, kUser), before);
  expect_consistent(*a_, a_url_, keys, "after the move, source");
  expect_consistent(*b_, b_url_, keys, "after the move, target");
  for (const auto& k : keys) EXPECT_FALSE(a_->blob_store()->exists(k)) << "left on the source";
}

TEST_F(AccountMoveBlobsTest, KeptSourceRowsKeepTheirObjectsUntilCleanup) {
  a_->ensure_account(kUser);
  for (int i = 1; i <= 4; ++i) deliver(*a_, kUser, i);
  pg::AccountMover mover(a_url_, b_url_, blobs_);
  auto bulk = mover.bulk_copy(kUser);
  mover.begin_switch(kUser, bulk.since)->finish(false, "s2");  // --keep-source
  const auto keys = keys_of(*b_, kUser);
  EXPECT_EQ(sweep_fully(*a_, a_url_).objects_deleted, 0);
  for (const auto& k : keys) EXPECT_TRUE(a_->blob_store()->exists(k));
  pg::AccountMover::cleanup(a_url_, kUser, "s2");
  EXPECT_EQ(sweep_fully(*a_, a_url_).objects_deleted, 4);
  EXPECT_EQ(sweep_fully(*b_, b_url_).objects_deleted, 0);
  auto bodies = b_->read_bodies(kUser, keys);
  for (size_t i = 0; i < bodies.size(); ++i) EXPECT_TRUE(bodies[i].has_value());
}

TEST_F(AccountMoveBlobsTest, ShardsSharingANamespaceRefuseToMoveBodies) {
  a_->ensure_account(kUser);
  deliver(*a_, kUser, 1);
  exec(b_url_, "UPDATE mailstore_blob_namespace SET namespace = (SELECT '" + a_->blob_store()->space() + "')");
  pg::AccountMover mover(a_url_, b_url_, blobs_);
  EXPECT_THROW(mover.bulk_copy(kUser), pg::AccountMoveError);
  pg::AccountMover no_store(a_url_, b_url_);
  EXPECT_THROW(no_store.bulk_copy(kUser), pg::AccountMoveError);
}

TEST(BlobNamespaceMigration, ADatabaseWithS3BodiesBeforeItKeepsTheEmptyNamespace) {
  auto upto = [](int last) {
    auto all = sql::migrations();
    std::vector<postline::db::Migration> out;
    for (auto& m : all)
      if (m.version <= last) out.push_back(m);
    return out;
  };
  const std::string legacy = postline::testing::create_test_database("ns_legacy"),
                    fresh = postline::testing::create_test_database("ns_fresh");
  {
    pqxx::connection c(legacy);
    postline::db::migrate(c, upto(19));
    pqxx::work tx(c);
    tx.exec("INSERT INTO mailstore_blobs (sha256, size, data) VALUES (sha256('x'), 1, NULL)");
    tx.commit();
    postline::db::migrate(c, sql::migrations());
  }
  {
    pqxx::connection c(fresh);
    postline::db::migrate(c, upto(19));
    postline::db::migrate(c, sql::migrations());
  }
  auto space = [](const std::string& url) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT namespace FROM mailstore_blob_namespace")[0][0].as<std::string>();
  };
  EXPECT_EQ(space(legacy), "");  // its objects stay at <prefix><hex[0:2]>/<hex>
  EXPECT_TRUE(space(fresh).rfind("db-", 0) == 0) << space(fresh);
  EXPECT_EQ(space(fresh).size(), 20u);
}

}  // namespace
