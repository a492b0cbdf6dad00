#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using postline::db::Migration;

namespace {

std::vector<Migration> v1() {
  return {{"demo", 1, "001_init", "CREATE TABLE demo_items (id bigint PRIMARY KEY, name text NOT NULL)"}};
}
std::vector<Migration> v2() {
  auto m = v1();
  m.push_back({"demo", 2, "002_more", "ALTER TABLE demo_items ADD COLUMN note text"});
  return m;
}

int count_applied(pqxx::connection& c) {
  pqxx::read_transaction tx(c);
  return tx.exec("SELECT count(*) FROM schema_migrations WHERE component = 'demo'")[0][0].as<int>();
}

}  // namespace

TEST(Migrations, AppliesOnceAndRecords) {
  pqxx::connection c(postline::testing::create_test_database("mig"));
  EXPECT_EQ(postline::db::migrate(c, v1()), 1);
  EXPECT_EQ(postline::db::migrate(c, v1()), 0);
  EXPECT_EQ(postline::db::migrate(c, v2()), 1);
  EXPECT_EQ(count_applied(c), 2);
  EXPECT_NO_THROW(postline::db::check_schema(c, v2()));
}

TEST(Migrations, CheckSchemaRefusesBehindAndAhead) {
  pqxx::connection c(postline::testing::create_test_database("mig"));
  EXPECT_THROW(postline::db::check_schema(c, v1()), postline::db::SchemaError);  // nothing applied
  postline::db::migrate(c, v1());
  EXPECT_THROW(postline::db::check_schema(c, v2()), postline::db::SchemaError);  // behind
  postline::db::migrate(c, v2());
  EXPECT_THROW(postline::db::check_schema(c, v1()), postline::db::SchemaError);  // ahead of binary
}

TEST(Migrations, FailedMigrationRollsBackAndReleasesLock) {
  const std::string url = postline::testing::create_test_database("mig");
  pqxx::connection c(url);
  std::vector<Migration> bad = v1();
  bad.push_back({"demo", 2, "002_bad", "ALTER TABLE no_such_table ADD COLUMN x int"});
  EXPECT_ANY_THROW(postline::db::migrate(c, bad));
  EXPECT_EQ(count_applied(c), 1);
  // The advisory lock was released: another connection can migrate at once.
  pqxx::connection other(url);
  EXPECT_EQ(postline::db::migrate(other, v2()), 1);
}

TEST(Migrations, ConcurrentRunnersApplyEachMigrationOnce) {
  const std::string url = postline::testing::create_test_database("mig");
  std::vector<std::thread> runners;
  std::atomic<int> applied{0};
  for (int i = 0; i < 4; ++i)
    runners.emplace_back([&] {
      pqxx::connection c(url);
      applied += postline::db::migrate(c, v2());
    });
  for (auto& t : runners) t.join();
  EXPECT_EQ(applied.load(), 2);
}

TEST(Pool, BoundsConnectionsAndTimesOut) {
  postline::db::Pool pool(postline::testing::create_test_database("pool"), 2);
  auto a = pool.acquire();
  auto b = pool.acquire();
  EXPECT_THROW(pool.acquire(std::chrono::milliseconds(50)), postline::db::Unavailable);
  { auto moved = std::move(a); }  // returned to the pool by the moved-to lease only
  auto c = pool.acquire(std::chrono::milliseconds(50));
  EXPECT_TRUE(pool.ping() == false);  // pool is exhausted again: ping cannot get a connection
}

TEST(Pool, UnreachableDatabaseIsUnavailable) {
  postline::db::Pool pool("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", 1);
  EXPECT_THROW(pool.acquire(), postline::db::Unavailable);
  EXPECT_FALSE(pool.ping());
}

// A PostgreSQL restart closes every pooled connection; the pool notices at
// acquire (without blocking) and hands out a fresh one, so the first statement
// after the restart does not fail.
TEST(PoolPg, AConnectionTheServerClosedIsReplacedAtAcquire) {
  const std::string url = postline::testing::create_test_database("pool");
  postline::db::Pool pool(url, 1);
  const int first = pool.with([](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
  });
  {
    pqxx::connection admin(url);
    pqxx::nontransaction tx(admin);
    EXPECT_TRUE(tx.exec_params("SELECT pg_terminate_backend($1)", first)[0][0].as<bool>());
    // Wait (bounded) until the backend is gone, so its socket is closed.
    for (int i = 0; i < 200; ++i) {
      if (tx.exec_params("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first)[0][0].as<int>() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll with a deadline
    }
  }
  const int second = pool.with([](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
  });
  EXPECT_NE(first, second);
}
