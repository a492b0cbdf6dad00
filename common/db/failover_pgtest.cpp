// What both pools do across a failover, against a real PostgreSQL: a
// multi-host URL whose first member is down (libpq tries the next one; nothing
// of ours parses the URL), and a connection whose server turned read-only
// (SQLSTATE 25006, what a demoted primary answers) is dropped instead of being
// lent out again. The whole failover, with Patroni, is tests/e2e/test_ha_failover.py.
#include "common/db/pool.h"
#include "common/db/pq.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <string>

namespace {

using postline::db::Unavailable;
namespace pq = postline::db::pq;

// A loopback port nothing listens on (bound, then closed: connecting is refused).
int refused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// postgresql://user@host:port/db -> postgresql://user@127.0.0.1:DEAD,host:port/db?target_session_attrs=read-write
std::string with_dead_first_member(const std::string& url) {
  const std::regex re(R"(^(postgresql://[^@/]*@)([^/]+)(/[^?]*)(\?.*)?$)");
  std::smatch m;
  EXPECT_TRUE(std::regex_match(url, m, re)) << url;
  const std::string query = m[4].matched ? m[4].str() + "&" : "?";
  return m[1].str() + "127.0.0.1:" + std::to_string(refused_port()) + "," + m[2].str() + m[3].str() + query +
         "target_session_attrs=read-write&connect_timeout=2";
}

TEST(Failover, BothPoolsAcceptMultiHostUrlsAndSkipAMemberThatIsDown) {
  const std::string url = with_dead_first_member(postline::testing::create_test_database("failover"));
  postline::db::Pool pqxx_pool(url, 2);
  pqxx_pool.with([](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("CREATE TABLE t (id int PRIMARY KEY)");
    tx.exec("INSERT INTO t VALUES (1)");
    tx.commit();
  });
  pq::Pool pq_pool(url, 2);
  static const pq::Statement kInsert{"failover_insert", "INSERT INTO t VALUES ($1)"};
  pq_pool.with([](pq::Connection& c) { c.exec(kInsert, pq::Params().i32(2)); });
  static const pq::Statement kCount{"failover_count", "SELECT count(*) FROM t"};
  EXPECT_EQ(pq_pool.with([](pq::Connection& c) { return c.exec(kCount).i64(0, 0); }), 2);
  EXPECT_TRUE(pqxx_pool.ping());
}

TEST(Failover, LibpqPoolDropsAReadOnlyConnectionAndRunsTheWriteOnAFreshOne) {
  pq::Pool pool(postline::testing::create_test_database("failover"), 2);
  pool.with([](pq::Connection& c) { c.run("CREATE TABLE t (id int PRIMARY KEY)"); });
  // The pooled connection now behaves like one to a demoted primary: every
  // write is refused with 25006 (read_only_sql_transaction).
  {
    auto lease = pool.acquire();
    lease->run("SET default_transaction_read_only = on");
  }
  ASSERT_EQ(pool.stats().open, 1u);
  static const pq::Statement kInsert{"failover_ro_insert", "INSERT INTO t VALUES ($1)"};
  pool.with([](pq::Connection& c) { c.exec(kInsert, pq::Params().i32(1)); });
  static const pq::Statement kCount{"failover_ro_count", "SELECT count(*) FROM t"};
  EXPECT_EQ(pool.with([](pq::Connection& c) { return c.exec(kCount).i64(0, 0); }), 1);
  // The read-only connection was closed, not kept: one connection, the fresh one.
  EXPECT_EQ(pool.stats().open, 1u);
  EXPECT_EQ(pool.stats().dropped, 1u);

  // A connection that met 25006 outside with() is not taken back either.
  {
    auto lease = pool.acquire();
    lease->run("SET default_transaction_read_only = on");
    try {
      lease->exec(kInsert, pq::Params().i32(2));
      ADD_FAILURE() << "the write should have been refused";
    } catch (const pq::Error& e) {
      EXPECT_TRUE(e.read_only()) << e.sqlstate();
    }
    EXPECT_TRUE(lease->on_standby());
    EXPECT_FALSE(lease->healthy());
  }
  EXPECT_EQ(pool.stats().open, 0u);
  EXPECT_EQ(pool.stats().dropped, 2u);
}

TEST(Failover, PqxxPoolDropsAReadOnlyConnectionAndReportsUnavailable) {
  postline::db::Pool pool(postline::testing::create_test_database("failover"), 2);
  pool.with([](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec("CREATE TABLE t (id int PRIMARY KEY)");
    tx.exec("SET default_transaction_read_only = on");
  });
  ASSERT_EQ(pool.stats().open, 1u);
  // A temporary failure (SMTP 451, IMAP NO [UNAVAILABLE]), not a SQL error.
  EXPECT_THROW(pool.with([](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("INSERT INTO t VALUES (1)");
    tx.commit();
  }),
               Unavailable);
  EXPECT_EQ(pool.stats().open, 0u);
  EXPECT_EQ(pool.stats().dropped, 1u);
  // The next request gets a fresh connection, which can write.
  pool.with([](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec("INSERT INTO t VALUES (1)");
    tx.commit();
  });
}

TEST(Failover, BothPoolsCountConnectionsThatCouldNotBeMade) {
  // No member reachable: what a service sees between a primary's death and
  // the promotion of its standby.
  const std::string url = "postgresql://postgres@127.0.0.1:" + std::to_string(refused_port()) +
                          ",127.0.0.1:" + std::to_string(refused_port()) +
                          "/postline?target_session_attrs=read-write&connect_timeout=2";
  postline::db::Pool pqxx_pool(url, 2);
  EXPECT_THROW(pqxx_pool.acquire(), Unavailable);
  EXPECT_EQ(pqxx_pool.stats().connect_failures, 1u);
  EXPECT_EQ(pqxx_pool.stats().open, 0u);
  pq::Pool pq_pool(url, 2);
  EXPECT_THROW(pq_pool.acquire(), Unavailable);
  EXPECT_THROW(pq_pool.acquire(), Unavailable);
  EXPECT_EQ(pq_pool.stats().connect_failures, 2u);
  EXPECT_EQ(pq_pool.stats().open, 0u);
}

}  // namespace
