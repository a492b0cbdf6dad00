// The SieveScriptStore conformance suite: the behaviour sieve_scripts.h
// specifies, asserted against every implementation. Built twice:
//   POSTLINE_CONFORMANCE_MEMORY  make_memory_sieve_script_store() (sieve_scripts_conformance_test, unit)
//   POSTLINE_CONFORMANCE_PG      PgSieveScriptStore on a fresh migrated database per test
//                                (sieve_scripts_conformance_pgtest, label pg)
#include "common/mailstore/sieve_scripts.h"

#if defined(POSTLINE_CONFORMANCE_MEMORY)
#elif defined(POSTLINE_CONFORMANCE_PG)
#include "common/db/migrations.h"
#include "common/mailstore/pg/pg_sieve_scripts.h"
#include "common/mailstore/sql/migrations.h"
#include "tests/support/pg_test_db.h"

#include <pqxx/pqxx>
#else
#error "define POSTLINE_CONFORMANCE_MEMORY or POSTLINE_CONFORMANCE_PG"
#endif

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace postline::mailstore;

namespace {

#if defined(POSTLINE_CONFORMANCE_MEMORY)
std::unique_ptr<SieveScriptStore> fresh_store() { return make_memory_sieve_script_store(); }
#else
std::string last_url;  // the database of the test running now (the pg-only tests below)
std::unique_ptr<SieveScriptStore> fresh_store() {
  last_url = postline::testing::create_test_database("sieve_scripts");
  pqxx::connection c(last_url);
  postline::db::migrate(c, sql::migrations());
  postline::db::check_schema(c, sql::migrations());
  return std::make_unique<pg::PgSieveScriptStore>(last_url, 4);
}
#endif

constexpr UserId kUser = 42;
constexpr UserId kOther = 43;

class SieveScriptsConformance : public ::testing::Test {
 protected:
  void SetUp() override { store_ = fresh_store(); }
  SieveScriptStore& s() { return *store_; }
  std::vector<std::string> names(UserId user) {
    std::vector<std::string> out;
    for (const auto& i : s().list_scripts(user)) out.push_back(i.name + (i.active ? "*" : ""));
    return out;
  }
  std::unique_ptr<SieveScriptStore> store_;
};

TEST_F(SieveScriptsConformance, AnUnknownUserHasNothing) {
  EXPECT_TRUE(s().list_scripts(kUser).empty());
  EXPECT_FALSE(s().get_script(kUser, "a"));
  EXPECT_FALSE(s().active_script(kUser));
  EXPECT_EQ(s().scripts_total_size(kUser), 0);
  EXPECT_FALSE(s().delete_script(kUser, "a"));
  EXPECT_FALSE(s().rename_script(kUser, "a", "b"));
  EXPECT_FALSE(s().set_active_script(kUser, "a"));
  EXPECT_TRUE(s().set_active_script(kUser, ""));  // nothing to deactivate is still success
}

TEST_F(SieveScriptsConformance, PutStoresBytesExactlyAndListsInOctetOrder) {
  const std::string crlf = "require \"fileinto\";\r\nfileinto \"Lists\";\r\n";
  const std::string odd("keep;\n\0\xff\xfe", 10);  // a NUL and non-UTF-8 octets come back as they went in
  s().put_script(kUser, "b", crlf);
  s().put_script(kUser, "a", odd);
  s().put_script(kUser, "B", "discard;");
  s().put_script(kUser, "\xc3\xa9t\xc3\xa9", "keep;");  // "été"
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"B", "a", "b", "\xc3\xa9t\xc3\xa9"}));
  EXPECT_EQ(s().get_script(kUser, "b"), crlf);
  EXPECT_EQ(s().get_script(kUser, "a"), odd);
  EXPECT_FALSE(s().get_script(kUser, "A"));  // names are octets, not case-folded
  const auto list = s().list_scripts(kUser);
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[1].size, 10);
  EXPECT_EQ(list[2].size, static_cast<std::int64_t>(crlf.size()));
  EXPECT_FALSE(list[0].active || list[1].active || list[2].active || list[3].active);
  EXPECT_EQ(s().scripts_total_size(kUser), static_cast<std::int64_t>(crlf.size() + 10 + 8 + 5));
}

TEST_F(SieveScriptsConformance, UsersAreSeparate) {
  s().put_script(kUser, "s", "keep;");
  ASSERT_TRUE(s().set_active_script(kUser, "s"));
  EXPECT_TRUE(s().list_scripts(kOther).empty());
  EXPECT_FALSE(s().get_script(kOther, "s"));
  EXPECT_FALSE(s().active_script(kOther));
  EXPECT_FALSE(s().set_active_script(kOther, "s"));
  EXPECT_FALSE(s().delete_script(kOther, "s"));
  EXPECT_EQ(s().scripts_total_size(kOther), 0);
  s().put_script(kOther, "s", "discard;");
  EXPECT_EQ(s().get_script(kUser, "s"), "keep;");
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"s*"}));
  EXPECT_EQ(names(kOther), (std::vector<std::string>{"s"}));
}

TEST_F(SieveScriptsConformance, ReplacingAScriptKeepsItsActiveFlag) {
  s().put_script(kUser, "vacation", "keep;");
  ASSERT_TRUE(s().set_active_script(kUser, "vacation"));
  s().put_script(kUser, "vacation", "discard;");
  EXPECT_EQ(s().active_script(kUser), std::make_pair(std::string("vacation"), std::string("discard;")));
  s().put_script(kUser, "other", "keep;");
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"other", "vacation*"}));
  EXPECT_EQ(s().scripts_total_size(kUser), 8 + 5);
}

TEST_F(SieveScriptsConformance, AtMostOneScriptIsActive) {
  s().put_script(kUser, "a", "keep;");
  s().put_script(kUser, "b", "discard;");
  EXPECT_FALSE(s().active_script(kUser));
  ASSERT_TRUE(s().set_active_script(kUser, "a"));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a*", "b"}));
  ASSERT_TRUE(s().set_active_script(kUser, "b"));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a", "b*"}));
  EXPECT_EQ(s().active_script(kUser), std::make_pair(std::string("b"), std::string("discard;")));
  ASSERT_TRUE(s().set_active_script(kUser, "b"));  // again: no change
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a", "b*"}));
  // An unknown name changes nothing.
  EXPECT_FALSE(s().set_active_script(kUser, "c"));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a", "b*"}));
  ASSERT_TRUE(s().set_active_script(kUser, ""));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(s().active_script(kUser));
}

TEST_F(SieveScriptsConformance, RenameKeepsTextAndActiveFlag) {
  s().put_script(kUser, "a", "keep;");
  s().put_script(kUser, "b", "discard;");
  ASSERT_TRUE(s().set_active_script(kUser, "a"));
  ASSERT_TRUE(s().rename_script(kUser, "a", "c"));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"b", "c*"}));
  EXPECT_EQ(s().active_script(kUser), std::make_pair(std::string("c"), std::string("keep;")));
  EXPECT_FALSE(s().get_script(kUser, "a"));
  // Refused: the source is missing, the target exists, the same name.
  EXPECT_FALSE(s().rename_script(kUser, "a", "d"));
  EXPECT_FALSE(s().rename_script(kUser, "c", "b"));
  EXPECT_FALSE(s().rename_script(kUser, "c", "c"));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"b", "c*"}));
  EXPECT_EQ(s().get_script(kUser, "b"), "discard;");
  // An inactive one.
  ASSERT_TRUE(s().rename_script(kUser, "b", "a"));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a", "c*"}));
}

TEST_F(SieveScriptsConformance, DeletingTheActiveScriptLeavesNoneActive) {
  s().put_script(kUser, "a", "keep;");
  s().put_script(kUser, "b", "discard;");
  ASSERT_TRUE(s().set_active_script(kUser, "a"));
  EXPECT_TRUE(s().delete_script(kUser, "b"));
  EXPECT_FALSE(s().delete_script(kUser, "b"));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a*"}));
  EXPECT_TRUE(s().delete_script(kUser, "a"));
  EXPECT_FALSE(s().active_script(kUser));
  EXPECT_TRUE(s().list_scripts(kUser).empty());
  EXPECT_EQ(s().scripts_total_size(kUser), 0);
  // A script made again under that name starts inactive.
  s().put_script(kUser, "a", "keep;");
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a"}));
}

TEST_F(SieveScriptsConformance, AnEmptyNameIsRefused) {
  EXPECT_THROW(s().put_script(kUser, "", "keep;"), std::invalid_argument);
  s().put_script(kUser, "a", "keep;");
  EXPECT_THROW(s().rename_script(kUser, "a", ""), std::invalid_argument);
  EXPECT_FALSE(s().get_script(kUser, ""));
  EXPECT_FALSE(s().delete_script(kUser, ""));
  EXPECT_EQ(names(kUser), (std::vector<std::string>{"a"}));
}

TEST_F(SieveScriptsConformance, ALargeScript) {
  const std::string big(1024 * 1024, 'x');
  s().put_script(kUser, "big", big);
  EXPECT_EQ(s().get_script(kUser, "big"), big);
  EXPECT_EQ(s().scripts_total_size(kUser), 1024 * 1024);
}

// Concurrent SETACTIVEs, renames and replacements never leave two scripts
// active, nor an active flag on a script that is gone.
TEST_F(SieveScriptsConformance, ConcurrentChangesKeepOneActiveScript) {
  for (const char* n : {"a", "b", "c"}) s().put_script(kUser, n, std::string("# ") + n + "\r\nkeep;");
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      try {
        const char* mine[] = {"a", "b", "c"};
        for (int i = 0; i < 25; ++i) {
          if (!s().set_active_script(kUser, mine[(t + i) % 3])) failed = true;
          if (t == 3 && i % 5 == 0) s().put_script(kUser, "c", "# c again\r\nkeep;");
          if (s().list_scripts(kUser).size() != 3) failed = true;
        }
      } catch (const std::exception&) {
        failed = true;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(failed);
  int active = 0;
  for (const auto& i : s().list_scripts(kUser)) active += i.active;
  EXPECT_EQ(active, 1);
  ASSERT_TRUE(s().active_script(kUser));
}

#if defined(POSTLINE_CONFORMANCE_PG)
// ---- what only PostgreSQL has ----------------------------------------------------

// Two processes (two stores, two pools) share one state: what ManageSieve
// writes, queued reads.
TEST_F(SieveScriptsConformance, PgTwoInstancesShareTheState) {
  pg::PgSieveScriptStore other(last_url, 2);
  s().put_script(kUser, "a", "keep;");
  ASSERT_TRUE(other.set_active_script(kUser, "a"));
  EXPECT_EQ(s().active_script(kUser), std::make_pair(std::string("a"), std::string("keep;")));
  ASSERT_TRUE(s().rename_script(kUser, "a", "b"));
  EXPECT_EQ(other.active_script(kUser), std::make_pair(std::string("b"), std::string("keep;")));
}

// The digest queued's compiled-script cache is keyed by is the SHA-256 of the
// stored octets, kept current by the database on every replacement.
TEST_F(SieveScriptsConformance, PgTheStoredDigestFollowsTheText) {
  s().put_script(kUser, "a", "keep;");
  s().put_script(kUser, "a", "discard;");
  pqxx::connection c(last_url);
  pqxx::read_transaction tx(c);
  const auto r = tx.exec("SELECT encode(sha256, 'hex'), size FROM mailstore_sieve_scripts WHERE user_id = 42");
  ASSERT_EQ(r.size(), 1u);
  // sha256("discard;")
  EXPECT_EQ(r[0][0].as<std::string>(), "a0274a26695e601fcfaf13bacf98f05b998b217411cd2f2e39cf08b94f9f6f71");
  EXPECT_EQ(r[0][1].as<int64_t>(), 8);
}
#endif

}  // namespace
