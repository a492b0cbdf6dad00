// AccountStore against a real PostgreSQL: domains, users, aliases and the
// recipient resolution rules.
#include <gtest/gtest.h>

#include "common/db/migrations.h"
#include "services/auth/sql/migrations.h"
#include "services/auth/store/account_store.h"
#include "tests/support/pg_test_db.h"

namespace postline::auth {
namespace {

class AccountStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = postline::testing::create_test_database("auth_store");
    pqxx::connection c(url_);
    db::migrate(c, sql::migrations());
    pool_ = std::make_unique<db::Pool>(url_, 2);
    store_ = std::make_unique<AccountStore>(*pool_, AddressPolicy{});
  }

  int64_t add_user(const std::string& email) {
    NewUser u;
    u.email = email;
    u.password_hash = "$argon2id$fake";
    u.scram = scram::derive("pw", "", 4096);
    return store_->add_user(u).id;
  }

  Resolution resolve(const std::string& address) {
    auto a = normalise_address(address, {});
    EXPECT_TRUE(a.ok()) << a.error;
    return store_->resolve(a.value);
  }

  std::string url_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<AccountStore> store_;
};

TEST_F(AccountStoreTest, DomainsAddListRemove) {
  store_->add_domain("example.com");
  EXPECT_THROW(store_->add_domain("example.com"), StoreError);
  add_user("anna@example.com");
  auto domains = store_->list_domains();
  ASSERT_EQ(domains.size(), 1u);
  EXPECT_EQ(domains[0].user_count, 1);
  try {
    store_->remove_domain("example.com", false);
    FAIL() << "removing a domain with users must be refused";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos);
  }
  store_->remove_domain("example.com", true);
  EXPECT_TRUE(store_->list_domains().empty());
  EXPECT_TRUE(store_->list_users("").empty());  // cascaded
  EXPECT_THROW(store_->remove_domain("example.com", true), StoreError);
}

TEST_F(AccountStoreTest, UsersNeedAHostedDomainAndAreUnique) {
  EXPECT_THROW(add_user("anna@example.com"), StoreError);
  store_->add_domain("example.com");
  add_user("anna@example.com");
  try {
    add_user("anna@example.com");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::kAlreadyExists);
  }
  store_->set_quota("anna@example.com", 1 << 20);
  store_->set_display_name("anna@example.com", "Anna");
  store_->set_disabled("anna@example.com", true);
  auto u = store_->get_user("anna@example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->quota_bytes, 1 << 20);
  EXPECT_EQ(u->display_name, "Anna");
  EXPECT_TRUE(u->disabled);
  EXPECT_THROW(store_->set_quota("nobody@example.com", 1), StoreError);
  store_->remove_user("anna@example.com");
  EXPECT_FALSE(store_->get_user("anna@example.com"));
}

TEST_F(AccountStoreTest, ResolveLocalUnknownRemote) {
  store_->add_domain("example.com");
  const int64_t anna = add_user("anna@example.com");
  auto local = resolve("Anna@EXAMPLE.com");
  EXPECT_EQ(local.kind, Resolution::Kind::kLocal);
  ASSERT_EQ(local.targets.size(), 1u);
  EXPECT_EQ(local.targets[0].user_id, anna);
  EXPECT_EQ(resolve("nobody@example.com").kind, Resolution::Kind::kUnknown);
  auto remote = resolve("someone@Elsewhere.org");
  EXPECT_EQ(remote.kind, Resolution::Kind::kRemote);
  ASSERT_EQ(remote.targets.size(), 1u);
  EXPECT_EQ(remote.targets[0].address, "someone@elsewhere.org");
}

TEST_F(AccountStoreTest, PlusAddressingGoesToTheBaseUser) {
  store_->add_domain("example.com");
  const int64_t anna = add_user("anna@example.com");
  auto r = resolve("anna+lists@example.com");
  EXPECT_EQ(r.kind, Resolution::Kind::kLocal);
  ASSERT_EQ(r.targets.size(), 1u);
  EXPECT_EQ(r.targets[0].user_id, anna);
  EXPECT_EQ(resolve("bob+lists@example.com").kind, Resolution::Kind::kUnknown);
}

TEST_F(AccountStoreTest, AliasesExpandToLocalAndRemoteTargets) {
  store_->add_domain("example.com");
  const int64_t anna = add_user("anna@example.com");
  const int64_t bob = add_user("bob@example.com");
  store_->add_alias("team@example.com", {"anna@example.com", "bob@example.com", "carol@elsewhere.org"});
  store_->add_alias("all@example.com", {"team@example.com", "anna@example.com"});  // a diamond
  auto r = resolve("team@example.com");
  EXPECT_EQ(r.kind, Resolution::Kind::kLocal);
  ASSERT_EQ(r.targets.size(), 3u);
  auto all = resolve("all@example.com");
  ASSERT_EQ(all.targets.size(), 3u);  // anna once
  int locals = 0;
  for (const auto& t : all.targets) {
    if (t.local) {
      ++locals;
      EXPECT_TRUE(t.user_id == anna || t.user_id == bob);
    } else {
      EXPECT_EQ(t.address, "carol@elsewhere.org");
    }
  }
  EXPECT_EQ(locals, 2);
  EXPECT_THROW(store_->add_alias("anna@example.com", {"bob@example.com"}), StoreError);  // shadows a user
  EXPECT_THROW(add_user("team@example.com"), StoreError);                               // shadows an alias
  store_->remove_alias("team@example.com", "carol@elsewhere.org");
  EXPECT_EQ(resolve("team@example.com").targets.size(), 2u);
  store_->remove_alias("team@example.com", "");
  EXPECT_EQ(resolve("team@example.com").kind, Resolution::Kind::kUnknown);
}

TEST_F(AccountStoreTest, AliasLoopsTerminate) {
  store_->add_domain("example.com");
  store_->add_alias("a@example.com", {"b@example.com"});
  store_->add_alias("b@example.com", {"a@example.com"});
  EXPECT_EQ(resolve("a@example.com").kind, Resolution::Kind::kUnknown);  // nowhere to deliver
  add_user("c@example.com");
  store_->add_alias("b@example.com", {"c@example.com"});
  auto r = resolve("a@example.com");
  EXPECT_EQ(r.kind, Resolution::Kind::kLocal);
  EXPECT_EQ(r.targets.size(), 1u);
}

TEST_F(AccountStoreTest, CatchAllTakesUnknownLocalParts) {
  store_->add_domain("example.com");
  const int64_t anna = add_user("anna@example.com");
  add_user("bob@example.com");
  store_->set_catch_all("example.com", "anna@example.com");
  auto r = resolve("whatever@example.com");
  EXPECT_EQ(r.kind, Resolution::Kind::kLocal);
  ASSERT_EQ(r.targets.size(), 1u);
  EXPECT_EQ(r.targets[0].user_id, anna);
  // Existing users still get their own mail.
  EXPECT_NE(resolve("bob@example.com").targets[0].user_id, anna);
  store_->set_catch_all("example.com", "");
  EXPECT_EQ(resolve("whatever@example.com").kind, Resolution::Kind::kUnknown);
  EXPECT_THROW(store_->set_catch_all("nope.example", "x@y.z"), StoreError);
}

TEST_F(AccountStoreTest, DisabledUsersReceiveNothing) {
  store_->add_domain("example.com");
  add_user("anna@example.com");
  store_->set_disabled("anna@example.com", true);
  EXPECT_EQ(resolve("anna@example.com").kind, Resolution::Kind::kUnknown);
  EXPECT_EQ(resolve("anna+x@example.com").kind, Resolution::Kind::kUnknown);
  store_->set_disabled("anna@example.com", false);
  EXPECT_EQ(resolve("anna@example.com").kind, Resolution::Kind::kLocal);
}

TEST_F(AccountStoreTest, AppPasswordsAndPasswordChange) {
  store_->add_domain("example.com");
  add_user("anna@example.com");
  auto params = store_->scram_params("anna@example.com");
  ASSERT_TRUE(params);
  EXPECT_EQ(params->salt.size(), 16u);
  store_->add_app_password("anna@example.com", "phone", std::string(32, 'x'), scram::derive("app", params->salt, 4096));
  EXPECT_THROW(store_->add_app_password("anna@example.com", "phone", std::string(32, 'y'), {}), StoreError);
  auto rec = store_->login_record("anna@example.com");
  ASSERT_TRUE(rec);
  ASSERT_EQ(rec->apps.size(), 1u);
  EXPECT_EQ(rec->apps[0].scram.salt, rec->scram.salt);
  EXPECT_EQ(store_->list_app_passwords("anna@example.com").size(), 1u);
  // A new main password revokes the app passwords.
  store_->set_password("anna@example.com", "$argon2id$other", scram::derive("new", "", 4096));
  EXPECT_TRUE(store_->list_app_passwords("anna@example.com").empty());
  EXPECT_THROW(store_->remove_app_password("anna@example.com", "phone"), StoreError);
}

TEST_F(AccountStoreTest, HashUpgradeOnlyReplacesTheVerifiedHash) {
  store_->add_domain("example.com");
  const int64_t id = add_user("anna@example.com");
  store_->upgrade_hash(id, "$argon2id$not-the-current-one", "$argon2id$new");
  EXPECT_EQ(store_->login_record("anna@example.com")->password_hash, "$argon2id$fake");
  store_->upgrade_hash(id, "$argon2id$fake", "$argon2id$new");
  EXPECT_EQ(store_->login_record("anna@example.com")->password_hash, "$argon2id$new");
}

TEST_F(AccountStoreTest, FakeSaltSecretIsSharedAndRandom) {
  const auto a = store_->secret("scram_fake_salt");
  EXPECT_EQ(a.size(), 64u);
  AccountStore other(*pool_, {});  // another replica sees the same value
  EXPECT_EQ(other.secret("scram_fake_salt"), a);
  EXPECT_THROW(store_->secret("nope"), StoreError);
}

}  // namespace
}  // namespace postline::auth
