// PoolStats of both pools against a real PostgreSQL: what is open and lent out,
// and the waits and timeouts of a pool that runs full (postline_db_pool_*).
#include "common/db/pool.h"
#include "common/db/pq.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

namespace {

using namespace std::chrono_literals;

template <typename Pool>
void exercise(Pool& pool) {
  auto s = pool.stats();
  EXPECT_EQ(s.max, 2u);
  EXPECT_EQ(s.open, 0u);  // connections are opened on first use
  EXPECT_EQ(s.in_use, 0u);
  {
    auto a = pool.acquire();
    s = pool.stats();
    EXPECT_EQ(s.open, 1u);
    EXPECT_EQ(s.in_use, 1u);
    auto b = pool.acquire();
    s = pool.stats();
    EXPECT_EQ(s.open, 2u);
    EXPECT_EQ(s.in_use, 2u);
    EXPECT_EQ(s.waits, 0u);
    // Full: the third request waits its timeout and gives up.
    EXPECT_THROW(pool.acquire(60ms), postline::db::Unavailable);
    s = pool.stats();
    EXPECT_EQ(s.waits, 1u);
    EXPECT_EQ(s.timeouts, 1u);
    EXPECT_GE(s.wait_seconds, 0.05);
    // A request that waits until a lease comes back: a wait, no timeout.
    std::optional<typename Pool::Lease> released(std::move(a));
    std::thread giver([&] {
      // Give the connection back only once the request below waits for it.
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (pool.stats().waits < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      released.reset();
    });
    auto c = pool.acquire(10s);
    giver.join();
    s = pool.stats();
    EXPECT_EQ(s.waits, 2u);
    EXPECT_EQ(s.timeouts, 1u);
    EXPECT_EQ(s.in_use, 2u);
  }
  s = pool.stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.open, 2u);  // back in the pool, idle
}

TEST(PoolStats, PqxxPoolCountsConnectionsWaitsAndTimeouts) {
  postline::db::Pool pool(postline::testing::create_test_database("poolstats"), 2);
  exercise(pool);
}

TEST(PoolStats, LibpqPoolCountsConnectionsWaitsAndTimeouts) {
  postline::db::pq::Pool pool(postline::testing::create_test_database("poolstats"), 2);
  exercise(pool);
}

// bytea_ref sends the caller's bytes as they are (no copy): binary, with NUL
// and high octets, in a pipeline next to copied parameters, and empty.
TEST(Params, ByteaRefSendsTheCallersBytes) {
  postline::db::pq::Pool pool(postline::testing::create_test_database("bytearef"), 1);
  std::string big(300000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  const std::string empty;
  const postline::db::pq::Statement echo{"t_echo", "SELECT $1::bytea, $2::bytea, octet_length($1)"};
  pool.with([&](postline::db::pq::Connection& c) {
    postline::db::pq::Connection::Pipeline pipe(c);
    pipe.add(echo, postline::db::pq::Params().bytea_ref(big).bytea("copied"));
    pipe.add(echo, postline::db::pq::Params().bytea_ref(empty).bytea_ref(std::string_view("x\0y", 3)));
    auto r = pipe.run();
    EXPECT_EQ(r[0].bytes(0, 0), big);
    EXPECT_EQ(r[0].bytes(0, 1), "copied");
    EXPECT_EQ(r[0].i64(0, 2), 300000);
    EXPECT_FALSE(r[1].null(0, 0));
    EXPECT_EQ(r[1].bytes(0, 0), "");
    EXPECT_EQ(r[1].bytes(0, 1), std::string_view("x\0y", 3));
  });
}

}  // namespace
