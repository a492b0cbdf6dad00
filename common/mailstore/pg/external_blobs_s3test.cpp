// The crash windows of bodies outside PostgreSQL (sql/016_external_blobs.sql,
// docs/DESIGN.md "Blob storage"): a writer killed with SIGKILL between its
// upload and its commit leaves an object that the sweeper deletes after the
// grace period and not before; a committed body is never deleted while a
// message refers to it; the last reference gone, the body goes a grace
// period later; a writer slower than the grace period fails instead of
// committing a reference to a deleted object; a sweeper that died between
// its two steps is finished by the next one. Most cases use MemoryBlobStore
// (it counts uploads); the SIGKILL case and one round trip use the S3 test server.
#include "common/db/migrations.h"
#include "common/mailstore/blob/memory_blob_store.h"
#include "common/mailstore/blob/s3/s3_blob_store.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/pg/account_move.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/sql/migrations.h"
#include "tests/support/pg_test_db.h"
#include "tests/support/s3_test_server.h"

#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

using namespace postline::mailstore;
using namespace std::chrono_literals;

namespace {

constexpr UserId kUser = 42, kOther = 43;

std::string message(int i) {
  return "From: a@example.test\r\nTo: b@example.test\r\nSubject: s3 " + std::to_string(i) + "\r\nMessage-ID: <s3-" +
         std::to_string(i) + "@example.test>\r\n\r\nBody " + std::to_string(i) + "\r\n";
}

struct HookCrash : std::runtime_error {
  HookCrash() : std::runtime_error("simulated crash") {}
};

class ExternalBlobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = postline::testing::create_test_database("mailstore_ext");
    pqxx::connection c(url_);
    postline::db::migrate(c, sql::migrations());
    blobs_ = std::make_shared<MemoryBlobStore>();
    store_ = make(blobs_);
  }
  std::unique_ptr<pg::PgMailStore> make(std::shared_ptr<BlobStore> blobs,
                                        std::function<void(std::string_view)> hook = {}) {
    pg::PgOptions o;
    o.url = url_;
    o.pool_size = 4;
    o.blobs = std::move(blobs);
    o.fault_hook = std::move(hook);
    return std::make_unique<pg::PgMailStore>(o);
  }
  // The store as this database sees it (its object namespace, sql/020).
  std::shared_ptr<BlobStore> space() { return store_->blob_store(); }
  int64_t count(const std::string& sql) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<int64_t>();
  }
  void exec(const std::string& sql) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  // Everything the sweeper compares with the clock is `by` older.
  void age(std::chrono::seconds by) {
    const std::string s = std::to_string(by.count());
    exec("UPDATE mailstore_blob_intents SET created_at = created_at - make_interval(secs => " + s + ")");
    exec("UPDATE mailstore_blobs SET gc_marked_at = gc_marked_at - make_interval(secs => " + s +
         ") WHERE gc_marked_at IS NOT NULL");
  }
  Uid append(MailStore& s, int i, const std::string& box = "INBOX") {
    const std::string m = message(i);
    s.ensure_account(kUser);
    auto r = s.append(kUser, box, {AppendItem{m, {}}});
    EXPECT_EQ(r.error, StoreError::kNone);
    return r.uids.empty() ? 0 : r.uids[0];
  }
  void expunge_all(MailStore& s, const std::string& box = "INBOX") {
    auto opened = s.open(kUser, box);
    ASSERT_TRUE(opened.index);
    std::vector<Uid> uids;
    for (const auto& e : opened.index->entries) uids.push_back(e.uid);
    s.store_flags(kUser, opened.index->info.mailbox_id, uids, FlagMode::kAdd, Flags{kDeleted, {}});
    s.expunge(kUser, opened.index->info.mailbox_id, std::nullopt);
  }
  static std::string key_of(int i) { return prepare_message(message(i)).key; }

  std::string url_;
  std::shared_ptr<MemoryBlobStore> blobs_;
  std::unique_ptr<pg::PgMailStore> store_;
};

}  // namespace

TEST_F(ExternalBlobsTest, BodiesGoToTheBlobStoreAndTheCatalogueKeepsNoBytes) {
  const Uid uid = append(*store_, 1);
  ASSERT_GT(uid, 0u);
  EXPECT_EQ(blobs_->size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blobs WHERE data IS NULL"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blob_intents"), 0);
  auto mb = store_->find_mailbox(kUser, "INBOX");
  auto recs = store_->read_messages(kUser, mb->mailbox_id, {uid}, kFieldBlob);
  ASSERT_EQ(recs.size(), 1u);
  auto bodies = store_->read_bodies(kUser, {recs[0].blob});
  ASSERT_TRUE(bodies[0]);
  EXPECT_EQ(std::string(*bodies[0]), prepare_message(message(1)).body);
  auto ranges = store_->read_ranges(kUser, {BodyRange{recs[0].blob, 6, 3}, BodyRange{recs[0].blob, 100000, 5}});
  EXPECT_EQ(std::string(*ranges[0]), prepare_message(message(1)).body.substr(6, 3));
  EXPECT_EQ(std::string(*ranges[1]), "");
}

TEST_F(ExternalBlobsTest, SameBodyIsUploadedOnce) {
  const std::string m = message(7);
  store_->deliver(kUser, "INBOX", {DeliveryItem{m, "k1"}});
  store_->deliver(kOther, "INBOX", {DeliveryItem{m, "k2"}});
  EXPECT_EQ(blobs_->puts.load(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 2);
}

TEST_F(ExternalBlobsTest, CrashBetweenUploadAndCommitIsSweptAfterTheGrace) {
  auto crashing = make(blobs_, [](std::string_view point) {
    if (point == "uploaded") throw HookCrash();
  });
  crashing->ensure_account(kUser);
  const std::string m = message(2);
  EXPECT_THROW(crashing->append(kUser, "INBOX", {AppendItem{m, {}}}), HookCrash);
  EXPECT_TRUE(space()->exists(key_of(2)));
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blob_intents"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blobs"), 0);
  // Young: a writer may still be on its way to the commit.
  auto sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.expired_intents, 0);
  EXPECT_TRUE(space()->exists(key_of(2)));
  age(2h);
  sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.expired_intents, 1);
  EXPECT_EQ(sweep.objects_deleted, 1);
  EXPECT_FALSE(space()->exists(key_of(2)));
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blob_intents"), 0);
}

TEST_F(ExternalBlobsTest, AnOrphanedIntentSparesABodyThatWasCommittedSinceByAnother) {
  auto crashing = make(blobs_, [](std::string_view point) {
    if (point == "uploaded") throw HookCrash();
  });
  crashing->ensure_account(kUser);
  const std::string m = message(3);
  EXPECT_THROW(crashing->append(kUser, "INBOX", {AppendItem{m, {}}}), HookCrash);
  append(*store_, 3, "Archive");  // the same body, committed
  age(2h);
  auto sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.expired_intents, 1);
  EXPECT_EQ(sweep.objects_deleted, 0);
  EXPECT_TRUE(space()->exists(key_of(3)));
}

TEST_F(ExternalBlobsTest, FailedUploadLeavesNoRowAndItsIntentGoesAtTheNextSweep) {
  blobs_->fail_puts = true;
  store_->ensure_account(kUser);
  const std::string m = message(4);
  EXPECT_THROW(store_->append(kUser, "INBOX", {AppendItem{m, {}}}), BlobUnavailable);
  blobs_->fail_puts = false;
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blobs"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 0);
  // Abandoned intents are expired at once (no grace to wait for).
  auto sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.expired_intents, 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blob_intents"), 0);
}

TEST_F(ExternalBlobsTest, CommittedBodiesSurviveEverySweep) {
  append(*store_, 5);
  for (int i = 0; i < 2; ++i) {
    age(48h);
    auto sweep = store_->sweep_blobs(0s);
    EXPECT_EQ(sweep.collected, 0);
    EXPECT_EQ(sweep.objects_deleted, 0);
  }
  EXPECT_TRUE(space()->exists(key_of(5)));
}

TEST_F(ExternalBlobsTest, LastReferenceGoneTheBodyGoesAGracePeriodLater) {
  append(*store_, 6);
  store_->copy(kUser, store_->find_mailbox(kUser, "INBOX")->mailbox_id, {1}, "Archive", false);
  expunge_all(*store_);
  auto sweep = store_->sweep_blobs(1h);  // still in Archive
  EXPECT_EQ(sweep.marked, 0);
  expunge_all(*store_, "Archive");
  sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.marked, 1);
  EXPECT_EQ(sweep.collected, 0);
  EXPECT_TRUE(space()->exists(key_of(6)));
  age(2h);
  sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.collected, 1);
  EXPECT_EQ(sweep.objects_deleted, 1);
  EXPECT_FALSE(space()->exists(key_of(6)));
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blobs"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blob_intents"), 0);
}

TEST_F(ExternalBlobsTest, ABodyReferencedAgainIsUnmarkedAndKept) {
  append(*store_, 8);
  expunge_all(*store_);
  EXPECT_EQ(store_->sweep_blobs(1h).marked, 1);
  // The same body arrives again before the sweep: not uploaded (the catalogue
  // has it), its mark cleared by the commit.
  append(*store_, 8);
  EXPECT_EQ(blobs_->puts.load(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blobs WHERE gc_marked_at IS NOT NULL"), 0);
  age(2h);
  auto sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.collected, 0);
  EXPECT_TRUE(space()->exists(key_of(8)));
  auto mb = store_->find_mailbox(kUser, "INBOX");
  auto recs = store_->read_messages(kUser, mb->mailbox_id, {2}, kFieldBlob);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(store_->read_bodies(kUser, {recs[0].blob})[0]);
}

TEST_F(ExternalBlobsTest, AWriterSlowerThanTheGraceFailsRatherThanReferADeletedObject) {
  pg::PgMailStore* sweeper = store_.get();
  auto once = std::make_shared<std::atomic<bool>>(true);
  auto slow = make(blobs_, [sweeper, once](std::string_view point) {
    // Between this writer's (first) upload and its commit, a sweep with no grace.
    if (point == "uploaded" && once->exchange(false)) EXPECT_EQ(sweeper->sweep_blobs(0s).objects_deleted, 1);
  });
  slow->ensure_account(kUser);
  const std::string m = message(9);
  EXPECT_THROW(slow->append(kUser, "INBOX", {AppendItem{m, {}}}), BlobUnavailable);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blobs"), 0);
  EXPECT_FALSE(space()->exists(key_of(9)));
  // Tried again, it goes through.
  EXPECT_GT(append(*slow, 9), 0u);
  EXPECT_TRUE(space()->exists(key_of(9)));
}

TEST_F(ExternalBlobsTest, ASweeperThatDiedBetweenItsStepsIsFinishedByTheNext) {
  // What a sweeper leaves when it dies after removing the catalogue row and
  // before deleting the object: the object and an expired intent.
  const std::string orphan = key_of(10);
  space()->put(orphan, "orphan bytes");
  pqxx::connection c(url_);
  pqxx::work tx(c);
  tx.exec_params("INSERT INTO mailstore_blob_intents (sha256, created_at) VALUES ($1, '-infinity')",
                 pqxx::binarystring(orphan));
  tx.commit();
  auto sweep = store_->sweep_blobs(1h);
  EXPECT_EQ(sweep.objects_deleted, 1);
  EXPECT_FALSE(space()->exists(orphan));
}

TEST_F(ExternalBlobsTest, SearchAndSortReadExternalBodies) {
  append(*store_, 11);
  auto mb = store_->find_mailbox(kUser, "INBOX");
  SearchCriterion body;
  body.kind = SearchCriterion::kBody;
  body.text = "body 11";
  EXPECT_EQ(store_->search(kUser, mb->mailbox_id, body).size(), 1u);
  exec("DELETE FROM mailstore_sort_keys");  // as if stored before migration 012
  SearchCriterion all;
  EXPECT_EQ(store_->sort(kUser, mb->mailbox_id, all, {SortCriterion{SortKey::kSubject, false}}).size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sort_keys"), 1);
}

// The real thing: S3, and a writer process killed with SIGKILL right after its
// upload, before its transaction.
TEST_F(ExternalBlobsTest, WriterKilledWithSigkillBetweenUploadAndCommitOnS3) {
  const auto server = postline::testing::s3_test_server();
  s3::S3BlobOptions b;
  b.s3.endpoint = server.endpoint;
  b.s3.bucket = server.bucket;
  b.s3.region = server.region;
  b.s3.credentials = {server.access_key_id, server.secret_access_key, ""};
  b.prefix = postline::testing::s3_test_prefix();
  const std::string m = message(12), key = key_of(12);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The writer, in a process of its own (nothing of the parent's connections).
    auto writer = make(std::make_shared<s3::S3BlobStore>(b), [](std::string_view point) {
      if (point == "uploaded") ::kill(::getpid(), SIGKILL);
    });
    writer->ensure_account(kUser);
    writer->append(kUser, "INBOX", {AppendItem{m, {}}});
    _exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer was not killed at its hook";
  auto s3 = std::make_shared<s3::S3BlobStore>(b);
  auto sweeper = make(s3);
  EXPECT_TRUE(sweeper->blob_store()->exists(key));
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_blob_intents"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 0);
  EXPECT_EQ(sweeper->sweep_blobs(1h).objects_deleted, 0);
  EXPECT_TRUE(sweeper->blob_store()->exists(key));
  age(2h);
  EXPECT_EQ(sweeper->sweep_blobs(1h).objects_deleted, 1);
  EXPECT_FALSE(sweeper->blob_store()->exists(key));
  // And a normal write on S3 reads back.
  append(*sweeper, 13);
  auto mb = sweeper->find_mailbox(kUser, "INBOX");
  auto recs = sweeper->read_messages(kUser, mb->mailbox_id, {1}, kFieldBlob);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(std::string(*sweeper->read_bodies(kUser, {recs[0].blob})[0]), prepare_message(message(13)).body);
}

// Sharding on S3 (sql/020, docs/DESIGN.md "Sharding"): an account moved
// between two shards (two databases) on the S3 test server, through an S3
// failure and a mover killed with SIGKILL after copying objects; every body
// reads back byte for byte on the target, the source's sweeper deletes only
// the source's copies, and nothing is left behind.
TEST(ExternalBlobsShardsTest, AnAccountMovesBetweenShardsOnS3ThroughFailuresAndAKill) {
  const auto server = postline::testing::s3_test_server();
  s3::S3BlobOptions b;
  b.s3.endpoint = server.endpoint;
  b.s3.bucket = server.bucket;
  b.s3.region = server.region;
  b.s3.credentials = {server.access_key_id, server.secret_access_key, ""};
  b.s3.max_retries = 1;
  b.prefix = postline::testing::s3_test_prefix();
  b.multipart_threshold = b.part_size = 5 << 20;  // the large body goes up in parts
  const std::string a_url = postline::testing::create_test_database("shard_s3_a"),
                    b_url = postline::testing::create_test_database("shard_s3_b");
  for (const auto& u : {a_url, b_url}) {
    pqxx::connection c(u);
    postline::db::migrate(c, sql::migrations());
  }
  auto s3 = std::make_shared<s3::S3BlobStore>(b);
  auto make = [&](const std::string& url) {
    pg::PgOptions o;
    o.url = url;
    o.pool_size = 2;
    o.blobs = s3;
    return std::make_unique<pg::PgMailStore>(o);
  };
  auto a = make(a_url), t = make(b_url);
  const std::string target_prefix = b.prefix + t->blob_store()->space();
  std::vector<std::string> messages;
  for (int i = 1; i <= 6; ++i) messages.push_back(message(i));
  messages.push_back(message(7) + std::string(6 << 20, 'x') + "\r\n");
  a->ensure_account(kUser);
  for (size_t i = 0; i < messages.size(); ++i)
    a->deliver(kUser, "INBOX", {DeliveryItem{messages[i], "q-" + std::to_string(i)}});
  std::vector<std::string> keys;
  for (const auto& m : messages) keys.push_back(prepare_message(m).key);
  auto query = [](const std::string& url, const std::string& sql) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<int64_t>();
  };
  auto sweep_fully = [&](pg::PgMailStore& s, const std::string& url) {
    int64_t deleted = 0;
    for (int round = 0; round < 2; ++round) {
      query(url, "WITH a AS (UPDATE mailstore_blob_intents SET created_at = created_at - interval '2 hours'), "
                 "b AS (UPDATE mailstore_blobs SET gc_marked_at = gc_marked_at - interval '2 hours' "
                 "WHERE gc_marked_at IS NOT NULL) SELECT 1");
      deleted += s.sweep_blobs(1h).objects_deleted;
    }
    return deleted;
  };
  auto nothing_on_target = [&](const std::string& when) {
    EXPECT_EQ(query(b_url, "SELECT count(*) FROM mailstore_messages"), 0) << when;
    for (const auto& k : keys) EXPECT_FALSE(t->blob_store()->exists(k)) << when << ": orphan " << hex_of(k);
    for (size_t i = 0; i < keys.size(); ++i)
      EXPECT_EQ(std::string(*a->read_bodies(kUser, {keys[i]})[0]), prepare_message(messages[i]).body) << when;
  };

  // 1. S3 refuses the target's uploads (this test's prefix only): the move fails, nothing changed.
  const long failed = postline::testing::s3_test_stat(server, "failed", target_prefix);  // counting starts
  postline::testing::s3_test_fail_next(server, 2, 503, 1, target_prefix);  // both attempts of the second copy
  {
    pg::AccountMover mover(a_url, b_url, s3);
    mover.message_batch = 3;
    EXPECT_THROW(mover.bulk_copy(kUser), std::exception);
  }
  EXPECT_EQ(postline::testing::s3_test_stat(server, "failed", target_prefix), failed + 2);
  sweep_fully(*t, b_url);
  nothing_on_target("after the failed uploads");

  // 2. The mover killed with SIGKILL after copying a page of objects.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pg::AccountMover mover(a_url, b_url, s3);
    mover.message_batch = 3;
    mover.fault_hook = [](const std::string& step) {
      if (step == "objects") ::kill(::getpid(), SIGKILL);
    };
    try {
      mover.bulk_copy(kUser);
    } catch (...) {
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the mover was not killed at its hook";
  EXPECT_GE(query(b_url, "SELECT count(*) FROM mailstore_blob_intents"), 1);
  int copied = 0;
  for (const auto& k : keys) copied += t->blob_store()->exists(k) ? 1 : 0;
  EXPECT_GE(copied, 1);                         // the killed mover's copies, held by its intents...
  EXPECT_EQ(sweep_fully(*t, b_url), copied);    // ...collected by the target's sweeper
  nothing_on_target("after the killed move");

  // 3. Run again: the account moves, every body reads back on the target.
  pg::AccountMover mover(a_url, b_url, s3);
  mover.message_batch = 3;
  auto bulk = mover.bulk_copy(kUser);
  EXPECT_EQ(bulk.stats.objects_copied, static_cast<int64_t>(keys.size()));
  mover.begin_switch(kUser, bulk.since)->finish(true, "s2");
  for (size_t i = 0; i < keys.size(); ++i) {
    auto body = t->read_bodies(kUser, {keys[i]});
    ASSERT_TRUE(body[0].has_value());
    EXPECT_EQ(std::string(*body[0]), prepare_message(messages[i]).body);
  }
  auto part = t->read_ranges(kUser, {BodyRange{keys.back(), 3 << 20, 10}});
  ASSERT_TRUE(part[0].has_value());
  EXPECT_EQ(std::string(*part[0]), prepare_message(messages.back()).body.substr(3 << 20, 10));
  // The source's sweeper deletes the source's objects, none of the target's.
  EXPECT_EQ(sweep_fully(*a, a_url), static_cast<int64_t>(keys.size()));
  EXPECT_EQ(sweep_fully(*t, b_url), 0);
  for (const auto& k : keys) {
    EXPECT_FALSE(a->blob_store()->exists(k));
    EXPECT_TRUE(t->blob_store()->exists(k));
  }
  EXPECT_EQ(t->usage(kUser).messages, static_cast<int64_t>(keys.size()));
  // Every object was copied inside the bucket (CopyObject): none went up
  // from the mover, whole or in parts.
  EXPECT_GE(postline::testing::s3_test_stat(server, "by_op.copy", target_prefix), static_cast<long>(keys.size()));
  EXPECT_EQ(postline::testing::s3_test_stat(server, "by_op.put", target_prefix), 0);
  EXPECT_EQ(postline::testing::s3_test_stat(server, "by_op.part", target_prefix), 0);
}
