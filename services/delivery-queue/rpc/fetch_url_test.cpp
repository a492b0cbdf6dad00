// FetchUrl's work (rpc/queue_service.h fetch_url): BURL's URLAUTH check and
// read, against the in-memory mailstore and a fake authd.
#include "services/delivery-queue/rpc/queue_service.h"

#include "common/mailstore/memory/memory_mail_store.h"
#include "common/urlauth/urlauth.h"

#include <gtest/gtest.h>

namespace postline::queue {
namespace {

namespace v1 = postline::mail::v1;

class FakeResolver : public RecipientResolver {
 public:
  Resolution resolve(const std::string& address) override {
    asked.push_back(address);
    if (address == "joe@example.test") return Resolution{Resolution::kLocal, 7, "joe@example.test"};
    if (address == "alias@example.test") return Resolution{Resolution::kLocal, 7, "joe@example.test"};
    if (address == "down@example.test") return Resolution{};
    return Resolution{Resolution::kUnknown, 0, ""};
  }
  std::optional<mailstore::Quota> quota(const std::string&, int64_t, const std::string&) override {
    return std::nullopt;
  }
  std::optional<LocalTarget> local_target(const std::string& address, int64_t user_id, const std::string&) override {
    targets_asked.push_back(address);
    if (user_id == 7 && address == "joe@example.test") return LocalTarget{{}, "s2", joe_moving};
    if (user_id == 8 && address == "fred@example.test") return LocalTarget{{}, "", false};
    return std::nullopt;
  }
  std::vector<std::string> asked, targets_asked;
  bool joe_moving = false;
};

constexpr const char* kDraft = "From: fred@example.test\r\nSubject: hi\r\n\r\nHello.\r\n";

class FetchUrl : public ::testing::Test {
 protected:
  static constexpr mailstore::UserId kFred = 8, kJoe = 7;
  void SetUp() override {
    store.ensure_account(kFred);
    store.ensure_account(kJoe);
    fred_uid = store.append(kFred, "Drafts", {mailstore::AppendItem{kDraft}}).uids.at(0);
    joe_uid = store.append(kJoe, "INBOX", {mailstore::AppendItem{kDraft}}).uids.at(0);
  }
  std::string authorize(mailstore::UserId user, const std::string& rump, const std::string& mailbox) {
    return rump + ":internal:" + urlauth::internal_token(*store.urlauth_key(user, mailbox, true), rump);
  }
  v1::FetchUrlResponse fetch(const std::string& url, const std::string& submitter = "fred@example.test",
                             int64_t submitter_id = kFred, int64_t max = 0) {
    v1::FetchUrlRequest req;
    req.set_url(url);
    req.set_submit_user(submitter);
    req.set_submit_user_id(submitter_id);
    req.set_max_size(max);
    return fetch_url(store, resolver, req, 1'000'000'000);
  }
  std::string fred_rump(const std::string& access) {
    return "imap://fred%40example.test@imap.example.test/Drafts/;UID=" + std::to_string(fred_uid) +
           ";URLAUTH=" + access;
  }
  mailstore::MemoryMailStore store;
  FakeResolver resolver;
  uint32_t fred_uid = 0, joe_uid = 0;
};

TEST_F(FetchUrl, ReadsTheSubmittersOwnDraft) {
  auto r = fetch(authorize(kFred, fred_rump("submit+fred%40example.test"), "Drafts"));
  EXPECT_EQ(r.result(), v1::FETCH_URL_RESULT_OK) << r.reason();
  EXPECT_EQ(r.data(), kDraft);
  EXPECT_TRUE(resolver.asked.empty()) << "the submitter's own mailbox needs no lookup";
  EXPECT_EQ(fetch(authorize(kFred, fred_rump("anonymous"), "Drafts")).result(), v1::FETCH_URL_RESULT_OK);
  EXPECT_EQ(fetch(authorize(kFred, fred_rump("authuser"), "Drafts")).result(), v1::FETCH_URL_RESULT_OK);
}

TEST_F(FetchUrl, RefusesWhatTheSubmitterMayNotRead) {
  // A token that is not the mailbox key's.
  EXPECT_EQ(fetch(fred_rump("submit+fred%40example.test") + ":internal:" + std::string(64, 'f')).result(),
            v1::FETCH_URL_RESULT_NOT_AUTHORIZED);
  // submit+ for someone else, user+ (an IMAP user's, not a submission server's).
  EXPECT_EQ(fetch(authorize(kFred, fred_rump("submit+joe%40example.test"), "Drafts")).result(),
            v1::FETCH_URL_RESULT_NOT_AUTHORIZED);
  EXPECT_EQ(fetch(authorize(kFred, fred_rump("user+fred%40example.test"), "Drafts")).result(),
            v1::FETCH_URL_RESULT_NOT_AUTHORIZED);
  // Not a URLAUTH URL at all.
  EXPECT_EQ(fetch("imap://fred%40example.test@h/Drafts/;UID=1").result(), v1::FETCH_URL_RESULT_NOT_AUTHORIZED);
  // A message that is gone; too big.
  const std::string gone = "imap://fred%40example.test@h/Drafts/;UID=99;URLAUTH=anonymous";
  EXPECT_EQ(fetch(authorize(kFred, gone, "Drafts")).result(), v1::FETCH_URL_RESULT_NOT_FOUND);
  auto big = fetch(authorize(kFred, fred_rump("anonymous"), "Drafts"), "fred@example.test", kFred, 10);
  EXPECT_EQ(big.result(), v1::FETCH_URL_RESULT_TOO_BIG);
  EXPECT_TRUE(big.data().empty());
}

TEST_F(FetchUrl, AnotherUsersUrlIsResolvedThroughAuthd) {
  const std::string rump =
      "imap://joe%40example.test@h/INBOX/;UID=" + std::to_string(joe_uid) + ";URLAUTH=submit+fred%40example.test";
  auto r = fetch(authorize(kJoe, rump, "INBOX"));
  EXPECT_EQ(r.result(), v1::FETCH_URL_RESULT_OK) << r.reason();
  EXPECT_EQ(resolver.asked, (std::vector<std::string>{"joe@example.test"}));
  // The key is joe's: fred's key does not make a URL of joe's mailbox.
  EXPECT_EQ(fetch(authorize(kFred, rump, "INBOX")).result(), v1::FETCH_URL_RESULT_NOT_AUTHORIZED);
  // An alias is not a user; an unknown address neither; authd down is a fault of ours.
  const std::string alias =
      "imap://alias%40example.test@h/INBOX/;UID=" + std::to_string(joe_uid) + ";URLAUTH=anonymous";
  EXPECT_EQ(fetch(authorize(kJoe, alias, "INBOX")).result(), v1::FETCH_URL_RESULT_NOT_AUTHORIZED);
  const std::string down = "imap://down%40example.test@h/INBOX/;UID=1;URLAUTH=anonymous";
  EXPECT_THROW(fetch(down + ":internal:" + std::string(64, '0')), std::exception);
}

TEST_F(FetchUrl, ShardedTheOwnersShardIsAskedOfAuthdBeforeTheRead) {
  // queued has never placed joe (no delivery to him yet): FetchUrl asks authd's
  // directory for his shard and places him there before reading.
  std::vector<std::pair<int64_t, std::string>> placed;
  auto place = [&](int64_t user, const std::string& shard) {
    placed.emplace_back(user, shard);
    return shard != "gone";
  };
  const std::string rump =
      "imap://joe%40example.test@h/INBOX/;UID=" + std::to_string(joe_uid) + ";URLAUTH=submit+fred%40example.test";
  v1::FetchUrlRequest req;
  req.set_url(authorize(kJoe, rump, "INBOX"));
  req.set_submit_user("fred@example.test");
  req.set_submit_user_id(kFred);
  auto r = fetch_url(store, resolver, req, 1'000'000'000, place);
  EXPECT_EQ(r.result(), v1::FETCH_URL_RESULT_OK) << r.reason();
  EXPECT_EQ(placed, (std::vector<std::pair<int64_t, std::string>>{{kJoe, "s2"}}));
  // The submitter's own draft: placed as authd says too.
  v1::FetchUrlRequest own;
  own.set_url(authorize(kFred, fred_rump("submit+fred%40example.test"), "Drafts"));
  own.set_submit_user("fred@example.test");
  own.set_submit_user_id(kFred);
  EXPECT_EQ(fetch_url(store, resolver, own, 1'000'000'000, place).result(), v1::FETCH_URL_RESULT_OK);
  EXPECT_EQ(placed.back(), (std::pair<int64_t, std::string>{kFred, ""}));
  // Being moved: a temporary failure (smtpd's 4xx), nothing read.
  resolver.joe_moving = true;
  placed.clear();
  EXPECT_THROW(fetch_url(store, resolver, req, 1'000'000'000, place), std::exception);
  EXPECT_TRUE(placed.empty());
}

}  // namespace
}  // namespace postline::queue
