// The MailStore conformance suite: the behaviour mail_store.h specifies,
// asserted through the interface against every implementation. Built twice:
//   POSTLINE_CONFORMANCE_MEMORY  MemoryMailStore (mailstore_conformance_test, label unit)
//   POSTLINE_CONFORMANCE_PG      PgMailStore on a fresh migrated database per
//                                test (mailstore_conformance_pgtest, label pg)
//   POSTLINE_CONFORMANCE_S3      the same with bodies in S3 (S3BlobStore on the
//                                S3 test server; mailstore_conformance_s3test, label pg)
// What only PostgreSQL has (the index cache across instances, notifications
// between processes) is in pg/pg_mail_store_pgtest.cpp.
#include "common/mailstore/mail_store_conformance.h"
#include "common/mailstore/delivery_key.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/message_meta.h"

#if defined(POSTLINE_CONFORMANCE_MEMORY)
#include "common/mailstore/memory/memory_mail_store.h"
#elif defined(POSTLINE_CONFORMANCE_PG) || defined(POSTLINE_CONFORMANCE_S3)
#include "common/db/migrations.h"
#if defined(POSTLINE_CONFORMANCE_S3)
#include "common/mailstore/blob/s3/s3_blob_store.h"
#include "tests/support/s3_test_server.h"
#endif
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/sql/migrations.h"
#include "tests/support/pg_test_db.h"

#include <pqxx/pqxx>
#else
#error "define POSTLINE_CONFORMANCE_MEMORY, POSTLINE_CONFORMANCE_PG or POSTLINE_CONFORMANCE_S3"
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <ostream>
#include <set>
#include <thread>

namespace postline::mailstore::conformance {
// For test names and messages (found by argument-dependent lookup).
void PrintTo(const BackendFactory& f, std::ostream* os) { *os << f.name; }
}  // namespace postline::mailstore::conformance

using namespace postline::mailstore;
using postline::mailstore::conformance::Backend;
using postline::mailstore::conformance::BackendFactory;

namespace {

// ---- the implementations ----------------------------------------------------

#if defined(POSTLINE_CONFORMANCE_MEMORY)
class MemoryBackend : public Backend {
 public:
  MemoryBackend()
      : store_([this] { return std::chrono::system_clock::now() + std::chrono::seconds(offset_.load()); }) {}
  MailStore& store() override { return store_; }
  // The store's clock moves on: every record already written is that much older.
  void age_expunged(std::chrono::seconds by) override { offset_ += by.count(); }
  int64_t stored_blobs() override { return static_cast<int64_t>(store_.stored_blobs()); }
  bool asynchronous_feed() const override { return false; }
  void forget_sort_keys() override { store_.forget_sort_keys(); }

 private:
  std::atomic<int64_t> offset_{0};
  MemoryMailStore store_;
};

std::vector<BackendFactory> backends() {
  return {{"Memory", [] { return std::make_unique<MemoryBackend>(); }}};
}
#else
class PgBackend : public Backend {
 public:
  PgBackend() : url_(postline::testing::create_test_database("mailstore_conf")) {
    pqxx::connection c(url_);
    postline::db::migrate(c, sql::migrations());
    postline::db::check_schema(c, sql::migrations());  // throws on a mismatch
    pg::PgOptions o;
    o.url = url_;
    o.pool_size = 4;
#if defined(POSTLINE_CONFORMANCE_S3)
    // Bodies in the S3 test server, under a prefix of this test's own.
    const auto server = postline::testing::s3_test_server();
    s3::S3BlobOptions b;
    b.s3.endpoint = server.endpoint;
    b.s3.bucket = server.bucket;
    b.s3.region = server.region;
    b.s3.credentials = {server.access_key_id, server.secret_access_key, ""};
    b.prefix = postline::testing::s3_test_prefix();
    o.blobs = std::make_shared<s3::S3BlobStore>(b);
#endif
    store_ = std::make_unique<pg::PgMailStore>(o);
  }
  MailStore& store() override { return *store_; }
  void age_expunged(std::chrono::seconds by) override {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec("UPDATE mailstore_expunged SET expunged_at = expunged_at - make_interval(secs => " +
            std::to_string(by.count()) + ")");
    tx.commit();
  }
  int64_t stored_blobs() override {
    pqxx::connection c(url_);
    pqxx::read_transaction tx(c);
    return tx.exec("SELECT count(*) FROM mailstore_blobs")[0][0].as<int64_t>();
  }
  std::shared_ptr<void> hold_prune_lock() override {
    struct Holder {
      explicit Holder(const std::string& url) : conn(url), tx(conn) {
        tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(0x7073746c0001LL) + ")");
      }
      pqxx::connection conn;
      pqxx::work tx;
    };
    return std::make_shared<Holder>(url_);
  }
  bool asynchronous_feed() const override { return true; }
  void forget_sort_keys() override {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec("DELETE FROM mailstore_sort_keys");
    tx.commit();
  }

 private:
  std::string url_;
  std::unique_ptr<pg::PgMailStore> store_;
};

std::vector<BackendFactory> backends() {
#if defined(POSTLINE_CONFORMANCE_S3)
  return {{"PgS3", [] { return std::make_unique<PgBackend>(); }}};
#else
  return {{"Pg", [] { return std::make_unique<PgBackend>(); }}};
#endif
}
#endif

// ---- helpers ----------------------------------------------------------------

constexpr UserId kUser = 42;
constexpr UserId kOther = 43;

const std::string kMsg = "From: a@example.org\r\nSubject: Hi\r\n\r\nHello\r\n";

std::string numbered(int i) {
  return "From: a@example.test\r\nSubject: message " + std::to_string(i) + "\r\nMessage-ID: <m" + std::to_string(i) +
         "@example.test>\r\n\r\nBody " + std::to_string(i) + "\r\n";
}

int64_t unix_day(int y, unsigned m, unsigned d) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count();
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AppendItem item(std::string_view message, Flags flags = {}) {
  AppendItem i;
  i.message = message;
  i.flags = std::move(flags);
  return i;
}

SearchCriterion key(SearchCriterion::Kind kind, int64_t number = 0) {
  SearchCriterion c;
  c.kind = kind;
  c.number = number;
  return c;
}
SearchCriterion text_key(SearchCriterion::Kind kind, std::string text) {
  SearchCriterion c;
  c.kind = kind;
  c.text = std::move(text);
  return c;
}
SearchCriterion header_key(std::string field, std::string text) {
  SearchCriterion c;
  c.kind = SearchCriterion::kHeader;
  c.field = std::move(field);
  c.text = std::move(text);
  return c;
}
SearchCriterion uid_key(std::vector<std::pair<Uid, Uid>> ranges) {
  SearchCriterion c;
  c.kind = SearchCriterion::kUids;
  c.uid_ranges = std::move(ranges);
  return c;
}
SearchCriterion group(SearchCriterion::Kind kind, std::vector<SearchCriterion> children) {
  SearchCriterion c;
  c.kind = kind;
  c.children = std::move(children);
  return c;
}

std::vector<std::string> names_of(const MailboxList& l) {
  std::vector<std::string> out;
  for (const auto& m : l.mailboxes) out.push_back(m.name);
  return out;
}

// Collects change events from the feed; waits (bounded) for a condition.
class Events {
 public:
  ChangeCallback callback() {
    return [this](const ChangeEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  // True when `pred(events so far)` holds within the deadline.
  bool wait(const std::function<bool(const std::vector<ChangeEvent>&)>& pred,
            std::chrono::seconds deadline = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return pred(events_); });
  }
  // Waits for a message event of the mailbox at or past `modseq` (message
  // events of one mailbox may be coalesced into the highest).
  bool wait_messages(UserId user, MailboxId mailbox, Modseq modseq) {
    return wait([&](const std::vector<ChangeEvent>& all) {
      for (const auto& e : all)
        if (e.kind == ChangeKind::kMessages && e.user_id == user && e.mailbox_id == mailbox && e.modseq >= modseq)
          return true;
      return false;
    });
  }
  std::vector<ChangeEvent> all() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ChangeEvent> events_;
};

class MailStoreConformance : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    store_ = &backend_->store();
  }
  // SetUp may have thrown (no test database, no S3 test server): nothing to stop.
  void TearDown() override {
    if (store_) store_->stop_change_feed();
  }

  MailStore& s() { return *store_; }
  MailboxInfo box(const std::string& name, UserId user = kUser) {
    auto b = s().find_mailbox(user, name);
    EXPECT_TRUE(b.has_value()) << name;
    return b.value_or(MailboxInfo{});
  }
  AppendResult append(const std::string& mailbox, const std::string& message, Flags flags = {},
                      std::optional<int64_t> date = {}, UserId user = kUser) {
    AppendItem i = item(message, std::move(flags));
    i.internaldate = date;
    return s().append(user, mailbox, {i});
  }
  Uid append_uid(const std::string& mailbox, const std::string& message, Flags flags = {},
                 std::optional<int64_t> date = {}) {
    auto r = append(mailbox, message, std::move(flags), date);
    EXPECT_EQ(r.error, StoreError::kNone);
    return r.uids.empty() ? 0 : r.uids[0];
  }
  DeliveryResult deliver(UserId user, std::string_view mailbox, const std::string& message, const std::string& key,
                         const Quota& quota = {}) {
    auto r = s().deliver(user, mailbox, {DeliveryItem{message, key}}, quota);
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? DeliveryResult{} : r[0];
  }
  std::vector<Uid> uids_in(const std::string& mailbox, UserId user = kUser) {
    auto o = s().open(user, mailbox);
    std::vector<Uid> out;
    if (o.index)
      for (const auto& e : o.index->entries) out.push_back(e.uid);
    return out;
  }
  std::vector<Uid> search(MailboxId mailbox, const SearchCriterion& c) {
    std::vector<Uid> out;
    for (const auto& h : s().search(kUser, mailbox, c)) out.push_back(h.uid);
    return out;
  }
  // Every usage total equals what the mailboxes' STATUS counts add up to.
  Usage checked_usage(UserId user, const char* after) {
    const Usage u = s().usage(user);
    std::vector<std::string> names;
    for (const auto& m : s().list(user).mailboxes) names.push_back(m.name);
    Usage sum;
    for (const auto& st : s().status(user, names)) sum.bytes += st.size, sum.messages += st.messages;
    EXPECT_EQ(u.bytes, sum.bytes) << after;
    EXPECT_EQ(u.messages, sum.messages) << after;
    return u;
  }

  std::unique_ptr<Backend> backend_;
  MailStore* store_ = nullptr;
};

// ---- accounts and mailboxes -----------------------------------------------------

TEST_P(MailStoreConformance, EnsureAccountCreatesTheDefaultMailboxesSubscribedOnce) {
  s().ensure_account(kUser);
  auto l = s().list(kUser);
  // Ordered by name, bytewise.
  EXPECT_EQ(names_of(l), (std::vector<std::string>{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}));
  EXPECT_EQ(l.subscriptions, (std::vector<std::string>{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}));
  std::set<int64_t> validities, ids;
  for (const auto& m : l.mailboxes) {
    const char* special = default_special_use(m.name);
    if (special) EXPECT_EQ(m.special_use, std::optional<std::string>(special)) << m.name;
    else EXPECT_FALSE(m.special_use) << m.name;
    EXPECT_EQ(m.uidnext, 1);
    EXPECT_EQ(m.highestmodseq, 1);
    EXPECT_GT(m.uidvalidity, 0);
    EXPECT_LE(m.uidvalidity, 4294967295LL);
    validities.insert(m.uidvalidity);
    ids.insert(m.mailbox_id);
  }
  EXPECT_EQ(validities.size(), 6u);
  EXPECT_EQ(ids.size(), 6u);
  // The second time it does nothing: a default mailbox the user deleted stays deleted.
  ASSERT_EQ(s().delete_mailbox(kUser, "Junk"), StoreError::kNone);
  s().unsubscribe(kUser, "Sent");
  s().ensure_account(kUser);
  l = s().list(kUser);
  EXPECT_EQ(names_of(l), (std::vector<std::string>{"Archive", "Drafts", "INBOX", "Sent", "Trash"}));
  EXPECT_EQ(l.subscriptions, (std::vector<std::string>{"Archive", "Drafts", "INBOX", "Junk", "Trash"}));
  // Another user has mailboxes of its own.
  s().ensure_account(kOther);
  EXPECT_EQ(s().list(kOther).mailboxes.size(), 6u);
  EXPECT_NE(box("INBOX", kOther).mailbox_id, box("INBOX").mailbox_id);
  EXPECT_NE(box("INBOX", kOther).uidvalidity, box("INBOX").uidvalidity);
}

TEST_P(MailStoreConformance, AnUnknownUserHasNothing) {
  EXPECT_TRUE(s().list(kUser).mailboxes.empty());
  EXPECT_TRUE(s().list(kUser).subscriptions.empty());
  EXPECT_FALSE(s().find_mailbox(kUser, "INBOX"));
  EXPECT_TRUE(s().status(kUser, {"INBOX"}).empty());
  EXPECT_EQ(s().usage(kUser).bytes, 0);
  EXPECT_EQ(s().usage(kUser).messages, 0);
  EXPECT_FALSE(s().open(kUser, "INBOX").index);
  // APPEND does not create the account (login does, with ensure_account).
  EXPECT_EQ(append("INBOX", kMsg).error, StoreError::kNoSuchMailbox);
  EXPECT_EQ(s().subscribe(kUser, "INBOX"), StoreError::kNoSuchMailbox);
  EXPECT_EQ(s().delete_mailbox(kUser, "Sent"), StoreError::kNoSuchMailbox);
}

TEST_P(MailStoreConformance, ListAndFindFollowTheNameRules) {
  s().ensure_account(kUser);
  for (const char* n : {"b", "B", "a-z", "a", "a/z", "\xC3\xA4rger", "Z"})
    ASSERT_EQ(s().create_mailbox(kUser, n), StoreError::kNone) << n;
  std::vector<std::string> names = names_of(s().list(kUser));
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());  // std::string orders bytewise, like COLLATE "C"
  EXPECT_EQ(names, sorted);
  EXPECT_EQ(names.size(), 13u);
  // INBOX is case-insensitive, also as the first level; other names are not.
  EXPECT_EQ(box("inbox").mailbox_id, box("INBOX").mailbox_id);
  EXPECT_EQ(box("iNbOx").name, "INBOX");
  ASSERT_EQ(s().create_mailbox(kUser, "Inbox/Lists"), StoreError::kNone);
  EXPECT_EQ(box("inbox/Lists").name, "INBOX/Lists");
  EXPECT_NE(box("b").mailbox_id, box("B").mailbox_id);
  EXPECT_FALSE(s().find_mailbox(kUser, "archive"));
}

TEST_P(MailStoreConformance, CreateMailboxRules) {
  s().ensure_account(kUser);
  EXPECT_EQ(s().create_mailbox(kUser, "A/B/C"), StoreError::kNone);
  // Superiors are created too: the hierarchy has no holes.
  EXPECT_TRUE(s().find_mailbox(kUser, "A"));
  EXPECT_TRUE(s().find_mailbox(kUser, "A/B"));
  EXPECT_EQ(s().create_mailbox(kUser, "A"), StoreError::kAlreadyExists);
  EXPECT_EQ(s().create_mailbox(kUser, "A/B/C"), StoreError::kAlreadyExists);
  EXPECT_EQ(s().create_mailbox(kUser, "inbox"), StoreError::kAlreadyExists);
  // A trailing separator is dropped (RFC 9051 6.3.4).
  EXPECT_EQ(s().create_mailbox(kUser, "Lists/"), StoreError::kNone);
  EXPECT_TRUE(s().find_mailbox(kUser, "Lists"));
  EXPECT_EQ(s().create_mailbox(kUser, "Lists//"), StoreError::kAlreadyExists);
  for (const std::string& bad : {std::string(""), std::string("/"), std::string("bad//name"), std::string("/lead"),
                                std::string("wild*"), std::string("wild%"), std::string("ctl\x01"),
                                std::string("del\x7f"), std::string("nul\0x", 5), std::string(1001, 'x')})
    EXPECT_EQ(s().create_mailbox(kUser, bad), StoreError::kInvalidName) << bad;
  EXPECT_EQ(s().create_mailbox(kUser, std::string(1000, 'x')), StoreError::kNone);
  auto fresh = box("A/B/C");
  EXPECT_FALSE(fresh.special_use);
  EXPECT_EQ(fresh.uidnext, 1);
  EXPECT_EQ(fresh.highestmodseq, 1);
  // A created mailbox is not subscribed.
  auto subs = s().list(kUser).subscriptions;
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "A/B/C"), 0);
  // CREATE makes the account when there is none yet.
  EXPECT_EQ(s().create_mailbox(kOther, "Projects"), StoreError::kNone);
  EXPECT_TRUE(s().find_mailbox(kOther, "INBOX"));
}

TEST_P(MailStoreConformance, UidvalidityIsNeverReusedAfterDeleteAndCreate) {
  s().ensure_account(kUser);
  std::set<int64_t> seen;
  for (const auto& m : s().list(kUser).mailboxes) seen.insert(m.uidvalidity);
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(s().create_mailbox(kUser, "Box"), StoreError::kNone);
    const auto b = box("Box");
    EXPECT_TRUE(seen.insert(b.uidvalidity).second) << "UIDVALIDITY " << b.uidvalidity << " reused";
    ASSERT_EQ(append("Box", kMsg).error, StoreError::kNone);
    ASSERT_EQ(s().delete_mailbox(kUser, "Box"), StoreError::kNone);
  }
  // The recreated mailbox starts over: UIDs from 1.
  ASSERT_EQ(s().create_mailbox(kUser, "Box"), StoreError::kNone);
  EXPECT_EQ(box("Box").uidnext, 1);
  EXPECT_TRUE(seen.insert(box("Box").uidvalidity).second);
}

TEST_P(MailStoreConformance, DeleteMailboxRules) {
  s().ensure_account(kUser);
  EXPECT_EQ(s().delete_mailbox(kUser, "INBOX"), StoreError::kInboxProtected);
  EXPECT_EQ(s().delete_mailbox(kUser, "inbox"), StoreError::kInboxProtected);
  EXPECT_EQ(s().delete_mailbox(kUser, "Nope"), StoreError::kNoSuchMailbox);
  ASSERT_EQ(s().create_mailbox(kUser, "A/B"), StoreError::kNone);
  ASSERT_EQ(s().create_mailbox(kUser, "A-sibling"), StoreError::kNone);
  ASSERT_EQ(s().create_mailbox(kUser, "A.sibling"), StoreError::kNone);
  EXPECT_EQ(s().delete_mailbox(kUser, "A"), StoreError::kHasChildren);
  ASSERT_EQ(s().subscribe(kUser, "A/B"), StoreError::kNone);
  const auto ab = box("A/B");
  ASSERT_EQ(append("A/B", kMsg, Flags{kDeleted, {}}).error, StoreError::kNone);
  EXPECT_EQ(s().usage(kUser).messages, 1);
  EXPECT_EQ(s().delete_mailbox(kUser, "A/B"), StoreError::kNone);
  EXPECT_FALSE(s().find_mailbox(kUser, "A/B"));
  EXPECT_FALSE(s().changes_since(kUser, ab.mailbox_id, 0).exists);
  EXPECT_TRUE(s().expunged_since(kUser, ab.mailbox_id, 0).empty());
  EXPECT_TRUE(s().read_messages(kUser, ab.mailbox_id, {1}, kFieldFlags).empty());
  EXPECT_TRUE(s().highest_modseqs({{kUser, ab.mailbox_id}}).empty());
  EXPECT_EQ(s().usage(kUser).messages, 0);  // its messages went with it
  // Names that only share a prefix are not children.
  EXPECT_EQ(s().delete_mailbox(kUser, "A"), StoreError::kNone);
  EXPECT_TRUE(s().find_mailbox(kUser, "A-sibling"));
  // Subscriptions are names: they survive the mailbox.
  auto subs = s().list(kUser).subscriptions;
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "A/B"), 1);
  // INBOX's children are ordinary mailboxes.
  ASSERT_EQ(s().create_mailbox(kUser, "INBOX/Sub"), StoreError::kNone);
  EXPECT_EQ(s().delete_mailbox(kUser, "inbox/Sub"), StoreError::kNone);
  EXPECT_EQ(s().delete_mailbox(kUser, "INBOX"), StoreError::kInboxProtected);
}

TEST_P(MailStoreConformance, RenameKeepsIdentityAndChildrenAndSubscriptionsFollow) {
  s().ensure_account(kUser);
  ASSERT_EQ(s().create_mailbox(kUser, "A/B/C"), StoreError::kNone);
  ASSERT_EQ(s().create_mailbox(kUser, "AB"), StoreError::kNone);  // not a child of A
  ASSERT_EQ(s().subscribe(kUser, "A/B"), StoreError::kNone);
  ASSERT_EQ(s().subscribe(kUser, "AB"), StoreError::kNone);
  const Uid uid = append_uid("A/B", kMsg, Flags{kSeen, {"$x"}});
  const auto a = box("A"), ab = box("A/B"), abc = box("A/B/C");
  EXPECT_EQ(s().rename_mailbox(kUser, "A", "Z"), StoreError::kNone);
  EXPECT_FALSE(s().find_mailbox(kUser, "A"));
  EXPECT_FALSE(s().find_mailbox(kUser, "A/B"));
  EXPECT_TRUE(s().find_mailbox(kUser, "AB"));
  for (auto [name, before] : std::vector<std::pair<std::string, MailboxInfo>>{{"Z", a}, {"Z/B", ab}, {"Z/B/C", abc}}) {
    const auto now = box(name);
    EXPECT_EQ(now.mailbox_id, before.mailbox_id) << name;
    EXPECT_EQ(now.uidvalidity, before.uidvalidity) << name;
    EXPECT_EQ(now.uidnext, before.uidnext) << name;
    EXPECT_EQ(now.highestmodseq, before.highestmodseq) << name;
  }
  auto msgs = s().read_messages(kUser, ab.mailbox_id, {uid}, kFieldFlags);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].flags, (Flags{kSeen, {"$x"}}));
  auto subs = s().list(kUser).subscriptions;
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "Z/B"), 1);
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "A/B"), 0);
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "AB"), 1);
  // Superiors of the new name are created.
  EXPECT_EQ(s().rename_mailbox(kUser, "Z/B/C", "X/Y/C"), StoreError::kNone);
  EXPECT_TRUE(s().find_mailbox(kUser, "X"));
  EXPECT_TRUE(s().find_mailbox(kUser, "X/Y"));
  EXPECT_EQ(box("X/Y/C").mailbox_id, abc.mailbox_id);
  // The refusals.
  EXPECT_EQ(s().rename_mailbox(kUser, "Z", "Z/B/D"), StoreError::kInvalidName);  // into its own inferior
  EXPECT_EQ(s().rename_mailbox(kUser, "Z", "AB"), StoreError::kAlreadyExists);
  EXPECT_EQ(s().rename_mailbox(kUser, "Z", "inbox"), StoreError::kAlreadyExists);
  EXPECT_EQ(s().rename_mailbox(kUser, "Nope", "Fresh"), StoreError::kNoSuchMailbox);
  EXPECT_EQ(s().rename_mailbox(kUser, "Z", "bad//name"), StoreError::kInvalidName);
  EXPECT_EQ(s().rename_mailbox(kUser, "Z", "wild*"), StoreError::kInvalidName);
  // A trailing separator is dropped.
  EXPECT_EQ(s().rename_mailbox(kUser, "AB", "CD/"), StoreError::kNone);
  EXPECT_TRUE(s().find_mailbox(kUser, "CD"));
}

TEST_P(MailStoreConformance, RenameInboxMovesItsMessagesAndLeavesInbox) {
  s().ensure_account(kUser);
  ASSERT_EQ(s().create_mailbox(kUser, "INBOX/Child"), StoreError::kNone);
  const Uid u1 = append_uid("INBOX", numbered(1), Flags{kSeen | kFlagged, {"$Work"}}, 86400);
  const Uid u2 = append_uid("INBOX", numbered(2));
  const auto inbox = box("INBOX");
  EXPECT_EQ(s().rename_mailbox(kUser, "inbox", "Old"), StoreError::kNone);
  const auto after = box("INBOX");
  EXPECT_EQ(after.mailbox_id, inbox.mailbox_id);
  EXPECT_EQ(after.uidvalidity, inbox.uidvalidity);
  EXPECT_EQ(after.uidnext, inbox.uidnext);  // UIDs are never reused
  EXPECT_GT(after.highestmodseq, inbox.highestmodseq);
  EXPECT_TRUE(uids_in("INBOX").empty());
  EXPECT_EQ(s().expunged_since(kUser, inbox.mailbox_id, inbox.highestmodseq), (std::vector<Uid>{u1, u2}));
  const auto old = box("Old");
  EXPECT_NE(old.mailbox_id, inbox.mailbox_id);
  EXPECT_NE(old.uidvalidity, inbox.uidvalidity);
  EXPECT_EQ(uids_in("Old"), (std::vector<Uid>{1, 2}));
  auto msgs = s().read_messages(kUser, old.mailbox_id, {1, 2}, kFieldFlags | kFieldInternalDate);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].flags, (Flags{kSeen | kFlagged, {"$Work"}}));
  EXPECT_EQ(msgs[0].internaldate, 86400);
  // INBOX's children stay where they are.
  EXPECT_TRUE(s().find_mailbox(kUser, "INBOX/Child"));
  EXPECT_FALSE(s().find_mailbox(kUser, "Old/Child"));
  EXPECT_EQ(checked_usage(kUser, "rename INBOX").messages, 2);
  // An empty INBOX renames to an empty mailbox.
  EXPECT_EQ(s().rename_mailbox(kUser, "INBOX", "Empty"), StoreError::kNone);
  EXPECT_TRUE(uids_in("Empty").empty());
  EXPECT_TRUE(s().find_mailbox(kUser, "INBOX"));
}

// A delivery into a missing nested mailbox creates just that mailbox ("L/x"
// without "L"); renaming a mailbox that has a child "x" to "L" would then give
// the child a name that is taken.
TEST_P(MailStoreConformance, RenameRefusesWhenAnInferiorsNewNameIsTaken) {
  s().ensure_account(kUser);
  ASSERT_FALSE(deliver(kUser, "L/x", kMsg, "k1").over_quota);
  ASSERT_EQ(s().create_mailbox(kUser, "P/x"), StoreError::kNone);
  ASSERT_FALSE(s().find_mailbox(kUser, "L"));
  StoreError err = StoreError::kNone;
  EXPECT_NO_THROW(err = s().rename_mailbox(kUser, "P", "L"));
  EXPECT_EQ(err, StoreError::kAlreadyExists);
  EXPECT_TRUE(s().find_mailbox(kUser, "P/x"));
  EXPECT_EQ(uids_in("L/x"), (std::vector<Uid>{1}));
}

TEST_P(MailStoreConformance, SubscriptionsAreNames) {
  s().ensure_account(kUser);
  EXPECT_EQ(s().subscribe(kUser, "Nope"), StoreError::kNoSuchMailbox);
  ASSERT_EQ(s().create_mailbox(kUser, "Lists/b"), StoreError::kNone);
  ASSERT_EQ(s().create_mailbox(kUser, "Lists/a"), StoreError::kNone);
  EXPECT_EQ(s().subscribe(kUser, "Lists/b"), StoreError::kNone);
  EXPECT_EQ(s().subscribe(kUser, "Lists/a"), StoreError::kNone);
  EXPECT_EQ(s().subscribe(kUser, "Lists/a"), StoreError::kNone);  // twice is once
  s().unsubscribe(kUser, "inbox");                                 // INBOX is case-insensitive here too
  EXPECT_EQ(s().list(kUser).subscriptions,
            (std::vector<std::string>{"Archive", "Drafts", "Junk", "Lists/a", "Lists/b", "Sent", "Trash"}));
  EXPECT_EQ(s().subscribe(kUser, "Inbox"), StoreError::kNone);
  s().unsubscribe(kUser, "Never/Subscribed");  // nothing to do, no error
  ASSERT_EQ(s().delete_mailbox(kUser, "Lists/a"), StoreError::kNone);
  auto subs = s().list(kUser).subscriptions;
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "Lists/a"), 1);  // survives DELETE
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "INBOX"), 1);
  s().unsubscribe(kUser, "Lists/a");  // and can be removed afterwards
  subs = s().list(kUser).subscriptions;
  EXPECT_EQ(std::count(subs.begin(), subs.end(), "Lists/a"), 0);
  // Per user.
  s().ensure_account(kOther);
  EXPECT_EQ(s().list(kOther).subscriptions.size(), 6u);
}

// \Recent (RFC 3501 2.3.2): each UID is handed to one claimer, in order.
TEST_P(MailStoreConformance, RecentIsClaimedOnceAndCountedInStatus) {
  s().ensure_account(kUser);
  const MailboxId inbox = box("INBOX").mailbox_id;
  EXPECT_EQ(s().first_recent_uid(kUser, inbox), 1u);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(append("INBOX", numbered(i)).error, StoreError::kNone);
  EXPECT_EQ(s().status(kUser, {"INBOX"}).at(0).recent, 3);
  EXPECT_EQ(s().claim_recent(kUser, inbox, 3), std::optional<Uid>(1));  // UIDs 1 and 2
  EXPECT_EQ(s().claim_recent(kUser, inbox, 3), std::nullopt);           // nothing left below 3
  EXPECT_EQ(s().claim_recent(kUser, inbox, 2), std::nullopt);           // the mark never moves back
  EXPECT_EQ(s().first_recent_uid(kUser, inbox), 3u);
  EXPECT_EQ(s().status(kUser, {"INBOX"}).at(0).recent, 1);
  EXPECT_EQ(s().claim_recent(kUser, inbox, 4), std::optional<Uid>(3));
  EXPECT_EQ(s().status(kUser, {"INBOX"}).at(0).recent, 0);
  EXPECT_EQ(s().claim_recent(kUser, 999999, 4), std::nullopt);  // no such mailbox
  // Marks are per mailbox.
  EXPECT_EQ(s().first_recent_uid(kUser, box("Sent").mailbox_id), 1u);
}

TEST_P(MailStoreConformance, StatusCountsMessagesUnseenDeletedAndSize) {
  s().ensure_account(kUser);
  ASSERT_EQ(append("INBOX", kMsg, Flags{kSeen, {}}).error, StoreError::kNone);
  ASSERT_EQ(append("INBOX", kMsg, Flags{kDeleted, {}}).error, StoreError::kNone);
  ASSERT_EQ(append("INBOX", numbered(3), Flags{kSeen | kDeleted, {}}).error, StoreError::kNone);
  ASSERT_EQ(append("Sent", kMsg).error, StoreError::kNone);
  auto st = s().status(kUser, {"Trash", "inbox", "Nope", "Sent", "INBOX"});
  ASSERT_EQ(st.size(), 3u);  // missing names left out, each mailbox once, ordered by name
  EXPECT_EQ(st[0].info.name, "INBOX");
  EXPECT_EQ(st[1].info.name, "Sent");
  EXPECT_EQ(st[2].info.name, "Trash");
  EXPECT_EQ(st[0].messages, 3);
  EXPECT_EQ(st[0].unseen, 1);
  EXPECT_EQ(st[0].deleted, 2);
  EXPECT_EQ(st[0].size, static_cast<int64_t>(2 * kMsg.size() + numbered(3).size()));
  EXPECT_EQ(st[0].info.uidnext, 4);
  EXPECT_EQ(st[0].info.highestmodseq, box("INBOX").highestmodseq);
  EXPECT_EQ(st[0].info.uidvalidity, box("INBOX").uidvalidity);
  EXPECT_EQ(st[1].messages, 1);
  EXPECT_EQ(st[1].unseen, 1);
  EXPECT_EQ(st[2].messages, 0);
  EXPECT_EQ(st[2].size, 0);
  EXPECT_EQ(st[2].info.special_use, std::optional<std::string>("\\Trash"));
  EXPECT_TRUE(s().status(kUser, {}).empty());
}

// usage() (QUOTA, and the quota checks) against STATUS after every kind of write.
TEST_P(MailStoreConformance, UsageTotalsFollowEveryWrite) {
  const std::string big = "Subject: big\r\n\r\n" + std::string(5000, 'x') + "\r\n";
  deliver(kUser, "INBOX", kMsg, "k1");
  deliver(kUser, "INBOX", big, "k2");
  deliver(kUser, "INBOX", big, "k2");  // duplicate: nothing added
  EXPECT_EQ(checked_usage(kUser, "deliver").messages, 2);
  ASSERT_EQ(append("Archive", kMsg, Flags{kDeleted, {}}).error, StoreError::kNone);
  EXPECT_EQ(checked_usage(kUser, "append").messages, 3);
  const MailboxId inbox = box("INBOX").mailbox_id, archive = box("Archive").mailbox_id;
  ASSERT_EQ(s().copy(kUser, inbox, {1, 2}, "Sent", false).error, StoreError::kNone);
  EXPECT_EQ(checked_usage(kUser, "copy").messages, 5);
  ASSERT_EQ(s().copy(kUser, inbox, {2}, "Drafts", true).error, StoreError::kNone);  // MOVE
  EXPECT_EQ(checked_usage(kUser, "move").messages, 5);
  s().expunge(kUser, archive, std::nullopt);
  EXPECT_EQ(checked_usage(kUser, "expunge").messages, 4);
  EXPECT_EQ(s().rename_mailbox(kUser, "INBOX", "Old"), StoreError::kNone);
  EXPECT_EQ(checked_usage(kUser, "rename INBOX").messages, 4);
  EXPECT_EQ(s().delete_mailbox(kUser, "Sent"), StoreError::kNone);
  const Usage end = checked_usage(kUser, "delete mailbox");
  EXPECT_EQ(end.messages, 2);
  EXPECT_EQ(end.bytes, static_cast<int64_t>(kMsg.size() + big.size()));
  EXPECT_EQ(s().usage(kOther).messages, 0);
}

// ---- APPEND -----------------------------------------------------------------------

TEST_P(MailStoreConformance, AppendAssignsUidsAndKeepsFlagsAndDates) {
  s().ensure_account(kUser);
  const auto before = box("INBOX");
  auto a = append("INBOX", kMsg, flags_from_names({"\\seen", "$Label1", "$Label1", "\\Recent", "$A"}), 86400);
  auto b = append("inbox", kMsg);
  ASSERT_EQ(a.error, StoreError::kNone);
  ASSERT_EQ(b.error, StoreError::kNone);
  ASSERT_EQ(a.uids.size(), 1u);
  ASSERT_EQ(b.uids.size(), 1u);
  EXPECT_EQ(a.uids[0], 1u);
  EXPECT_EQ(b.uids[0], 2u);
  EXPECT_EQ(a.mailbox_id, before.mailbox_id);
  EXPECT_EQ(a.uidvalidity, before.uidvalidity);
  const auto after = box("INBOX");
  EXPECT_EQ(after.uidnext, 3);
  EXPECT_EQ(after.highestmodseq, before.highestmodseq + 2);
  auto recs = s().read_messages(kUser, a.mailbox_id, {1, 2}, kFieldFlags | kFieldInternalDate | kFieldSaveDate);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].flags, (Flags{kSeen, {"$A", "$Label1"}}));
  EXPECT_EQ(recs[0].internaldate, 86400);
  EXPECT_EQ(recs[0].modseq, before.highestmodseq + 1);
  EXPECT_EQ(recs[1].modseq, after.highestmodseq);
  // Without a date: now. SAVEDATE is always now.
  const int64_t now = now_seconds();
  EXPECT_NEAR(static_cast<double>(recs[1].internaldate), static_cast<double>(now), 60);
  EXPECT_NEAR(static_cast<double>(recs[0].savedate), static_cast<double>(now), 60);
  EXPECT_TRUE(recs[1].flags == Flags{});
  EXPECT_EQ(append("Nope", kMsg).error, StoreError::kNoSuchMailbox);
  EXPECT_EQ(box("INBOX").uidnext, 3);
  // Nothing to append: nothing happens.
  auto none = s().append(kUser, "INBOX", {});
  EXPECT_EQ(none.error, StoreError::kNone);
  EXPECT_TRUE(none.uids.empty());
  EXPECT_EQ(box("INBOX").highestmodseq, after.highestmodseq);
}

TEST_P(MailStoreConformance, MultiAppendIsAllOrNothing) {
  s().ensure_account(kUser);
  const auto before = box("INBOX");
  const std::string m1 = numbered(1), m2 = numbered(2), m3 = numbered(3);
  auto r = s().append(kUser, "INBOX", {item(m1), item(m2, Flags{kDraft, {}}), item(m3)});
  ASSERT_EQ(r.error, StoreError::kNone);
  EXPECT_EQ(r.uids, (std::vector<Uid>{1, 2, 3}));
  // Room for two more messages, three offered: none goes in.
  const Quota quota{0, 5};
  r = s().append(kUser, "INBOX", {item(m1), item(m2), item(m3)}, quota);
  EXPECT_EQ(r.error, StoreError::kOverQuota);
  EXPECT_TRUE(r.uids.empty());
  EXPECT_EQ(uids_in("INBOX"), (std::vector<Uid>{1, 2, 3}));
  const auto after = box("INBOX");
  EXPECT_EQ(after.uidnext, 4);
  EXPECT_GT(after.highestmodseq, before.highestmodseq);
  // The byte limit the same way: the second item does not fit.
  const Quota bytes{static_cast<int64_t>(m1.size() + m2.size() + m3.size() + m1.size()), 0};
  r = s().append(kUser, "INBOX", {item(m1), item(m2)}, bytes);
  EXPECT_EQ(r.error, StoreError::kOverQuota);
  EXPECT_EQ(box("INBOX").uidnext, 4);
  EXPECT_EQ(box("INBOX").highestmodseq, after.highestmodseq);
  EXPECT_EQ(s().usage(kUser).messages, 3);
  r = s().append(kUser, "INBOX", {item(m1)}, bytes);
  EXPECT_EQ(r.error, StoreError::kNone);
}

// mail_store.h: "Writes. Each is one transaction that takes one new MODSEQ."
TEST_P(MailStoreConformance, MultiAppendTakesOneModseq) {
  s().ensure_account(kUser);
  const auto before = box("INBOX");
  const std::string m1 = numbered(1), m2 = numbered(2), m3 = numbered(3);
  auto r = s().append(kUser, "INBOX", {item(m1), item(m2), item(m3)});
  ASSERT_EQ(r.error, StoreError::kNone);
  EXPECT_EQ(box("INBOX").highestmodseq, before.highestmodseq + 1);
  std::set<Modseq> modseqs;
  for (const auto& m : s().read_messages(kUser, r.mailbox_id, r.uids, 0)) modseqs.insert(m.modseq);
  EXPECT_EQ(modseqs, (std::set<Modseq>{before.highestmodseq + 1}));
}

TEST_P(MailStoreConformance, AppendCanonicalisesLineEndingsUnlessBinary) {
  s().ensure_account(kUser);
  const std::string lf = "Subject: x\n\nbody\n";
  const std::string binary = std::string("Subject: y\r\n\r\n\x00\x01\xff\nraw\r", 22);
  ASSERT_EQ(append("INBOX", lf).error, StoreError::kNone);
  auto r = s().append(kUser, "INBOX", {AppendItem{binary, {}, std::nullopt, true}});
  ASSERT_EQ(r.error, StoreError::kNone);
  auto recs = s().read_messages(kUser, r.mailbox_id, {1, 2}, kFieldSize | kFieldBlob);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].size, 20);  // CRLF
  EXPECT_EQ(recs[0].header_size, 14);
  EXPECT_EQ(recs[1].size, static_cast<int64_t>(binary.size()));
  auto bodies = s().read_bodies(kUser, {recs[0].blob, recs[1].blob});
  EXPECT_EQ(bodies[0], std::optional<std::string>("Subject: x\r\n\r\nbody\r\n"));
  EXPECT_EQ(bodies[1], std::optional<std::string>(binary));
}

// ---- message records and bodies -------------------------------------------------------

TEST_P(MailStoreConformance, ReadMessagesReturnsTheFieldsAskedFor) {
  s().ensure_account(kUser);
  const std::string msg =
      "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Plans\r\n"
      "Date: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <p@example.org>\r\n\r\n"
      "Let us meet   on Monday.\r\n";
  const std::string html = "Subject: h\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n";
  const std::string huge_header = "X-Big: " + std::string(kMaxCachedHeader, 'h') + "\r\nSubject: b\r\n\r\nbody\r\n";
  const Uid u1 = append_uid("INBOX", msg, Flags{kAnswered, {"$Work"}}, 1700000000);
  const Uid u2 = append_uid("INBOX", html);
  const Uid u3 = append_uid("INBOX", huge_header);
  const auto inbox = box("INBOX");
  const PreparedMessage p = prepare_message(msg);
  const unsigned all = kFieldFlags | kFieldInternalDate | kFieldSaveDate | kFieldSize | kFieldBlob |
                       kFieldStructure | kFieldHeader | kFieldPreview | kFieldEmailId;
  // Ascending UIDs (the interface's precondition), one of them missing: those that exist.
  auto recs = s().read_messages(kUser, inbox.mailbox_id, {u1, u2, u3, 99}, all);
  ASSERT_EQ(recs.size(), 3u);
  const MessageData& r = recs[0];
  EXPECT_EQ(r.uid, u1);
  EXPECT_EQ(r.modseq, inbox.highestmodseq - 2);
  EXPECT_EQ(r.flags, (Flags{kAnswered, {"$Work"}}));
  EXPECT_EQ(r.internaldate, 1700000000);
  EXPECT_NEAR(static_cast<double>(r.savedate), static_cast<double>(now_seconds()), 60);
  EXPECT_EQ(r.size, static_cast<int64_t>(msg.size()));
  EXPECT_EQ(r.header_size, static_cast<int64_t>(msg.find("Let us")));
  EXPECT_EQ(r.blob, p.key);
  EXPECT_EQ(r.blob, sha256(msg));
  EXPECT_EQ(r.structure, std::optional<std::string>(p.meta.structure));
  EXPECT_EQ(r.header, std::optional<std::string>(msg.substr(0, msg.find("Let us"))));
  EXPECT_EQ(r.preview, std::optional<std::string>("Let us meet on Monday."));
  EXPECT_EQ(r.email_id, p.email_id);
  EXPECT_EQ(recs[1].uid, u2);
  EXPECT_FALSE(recs[1].preview) << "no text/plain part: no preview";
  EXPECT_EQ(recs[2].uid, u3);
  EXPECT_FALSE(recs[2].header) << "headers over kMaxCachedHeader are read from the body";
  EXPECT_TRUE(recs[2].structure);
  // Only UID and MODSEQ without fields.
  auto bare = s().read_messages(kUser, inbox.mailbox_id, {u1}, 0);
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(bare[0].uid, u1);
  EXPECT_EQ(bare[0].modseq, r.modseq);
  EXPECT_TRUE(bare[0].flags == Flags{});
  EXPECT_EQ(bare[0].size, 0);
  EXPECT_TRUE(bare[0].blob.empty());
  EXPECT_FALSE(bare[0].structure);
  EXPECT_FALSE(bare[0].header);
  EXPECT_FALSE(bare[0].preview);
  EXPECT_TRUE(bare[0].email_id.empty());
  // One field alone.
  auto sizes = s().read_messages(kUser, inbox.mailbox_id, {u1}, kFieldSize);
  ASSERT_EQ(sizes.size(), 1u);
  EXPECT_EQ(sizes[0].size, r.size);
  EXPECT_TRUE(sizes[0].blob.empty());
  // A set with a gap, dense or sparse: only what was asked for.
  for (const std::vector<Uid>& asked : {std::vector<Uid>{u1, u3}, std::vector<Uid>{u1, u3, 4000000000u}}) {
    auto some = s().read_messages(kUser, inbox.mailbox_id, asked, kFieldSize);
    ASSERT_EQ(some.size(), 2u);
    EXPECT_EQ(some[0].uid, u1);
    EXPECT_EQ(some[1].uid, u3);
    EXPECT_EQ(some[1].size, static_cast<int64_t>(huge_header.size()));
  }
  EXPECT_TRUE(s().read_messages(kUser, inbox.mailbox_id, {}, all).empty());
  EXPECT_TRUE(s().read_messages(kUser, inbox.mailbox_id + 1000, {u1}, all).empty());
  EXPECT_TRUE(s().read_messages(kOther, inbox.mailbox_id, {u1}, all).empty()) << "another user's mailbox";
}

// Bodies are content-addressed: the same bytes are stored once, whoever has them.
TEST_P(MailStoreConformance, BodiesAreStoredOnceAndByteExact) {
  const auto d1 = deliver(kUser, "INBOX", kMsg, "q1");
  ASSERT_FALSE(deliver(kOther, "INBOX", kMsg, "q1").duplicate);  // another user, the same body
  ASSERT_EQ(append("Archive", kMsg).error, StoreError::kNone);
  ASSERT_EQ(s().copy(kUser, d1.mailbox_id, {1}, "Sent", false).error, StoreError::kNone);
  EXPECT_EQ(backend_->stored_blobs(), 1);
  std::set<std::string> keys;
  for (auto [user, name] : std::vector<std::pair<UserId, std::string>>{
           {kUser, "INBOX"}, {kOther, "INBOX"}, {kUser, "Archive"}, {kUser, "Sent"}}) {
    const auto recs = s().read_messages(user, box(name, user).mailbox_id, {1}, kFieldBlob | kFieldEmailId);
    ASSERT_EQ(recs.size(), 1u) << name;
    keys.insert(recs[0].blob);
  }
  EXPECT_EQ(keys, (std::set<std::string>{sha256(kMsg)}));
  // Positional answers, missing keys as nullopt, duplicates answered twice.
  const std::string other = "Subject: t\r\n\r\nanother body\r\n";
  ASSERT_EQ(append("INBOX", other).error, StoreError::kNone);
  EXPECT_EQ(backend_->stored_blobs(), 2);
  const std::string missing(32, '\x01');
  auto many = s().read_bodies(kUser, {sha256(other), missing, sha256(kMsg), sha256(other)});
  ASSERT_EQ(many.size(), 4u);
  EXPECT_EQ(many[0], std::optional<std::string>(other));
  EXPECT_FALSE(many[1].has_value());
  EXPECT_EQ(many[2], std::optional<std::string>(kMsg));
  EXPECT_EQ(many[3], std::optional<std::string>(other));
  EXPECT_TRUE(s().read_bodies(kUser, {}).empty());
  // Every byte value survives (NUL, backslash, 8-bit).
  std::string all;
  for (int rep = 0; rep < 3; ++rep)
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  all += "\\\\000\\x41";
  auto r = s().append(kUser, "INBOX", {AppendItem{all, {}, std::nullopt, true}});
  ASSERT_EQ(r.error, StoreError::kNone);
  EXPECT_EQ(s().read_bodies(kUser, {sha256(all)})[0], std::optional<std::string>(all));
  EXPECT_EQ(s().read_ranges(kUser, {{sha256(all), 90, 300}})[0], std::optional<std::string>(all.substr(90, 300)));
}

TEST_P(MailStoreConformance, ReadRangesAreClippedToTheBody) {
  s().ensure_account(kUser);
  const std::string other = "Subject: t\r\n\r\nanother body\r\n";
  ASSERT_EQ(append("INBOX", kMsg).error, StoreError::kNone);
  ASSERT_EQ(append("INBOX", other).error, StoreError::kNone);
  const std::string missing(32, '\x01');
  auto ranges = s().read_ranges(kUser, {{sha256(kMsg), 0, 10},
                                        {missing, 0, 5},
                                        {sha256(other), 14, 7},
                                        {sha256(other), 20, 1000},
                                        {sha256(kMsg), 5000, 3},
                                        {sha256(kMsg), 1, UINT64_MAX},
                                        {sha256(kMsg), 6, 11},
                                        {sha256(kMsg), 3, 0}});
  ASSERT_EQ(ranges.size(), 8u);
  EXPECT_EQ(ranges[0], std::optional<std::string>(kMsg.substr(0, 10)));
  EXPECT_FALSE(ranges[1].has_value());
  EXPECT_EQ(ranges[2], std::optional<std::string>("another"));
  EXPECT_EQ(ranges[3], std::optional<std::string>(other.substr(20)));
  EXPECT_EQ(ranges[4], std::optional<std::string>(""));
  EXPECT_EQ(ranges[5], std::optional<std::string>(kMsg.substr(1)));
  EXPECT_EQ(ranges[6], std::optional<std::string>("a@example.o"));
  EXPECT_EQ(ranges[7], std::optional<std::string>(""));
  EXPECT_TRUE(s().read_ranges(kUser, {}).empty());
}

// ---- STORE --------------------------------------------------------------------------

TEST_P(MailStoreConformance, StoreBumpsModseqOnlyWhenFlagsChange) {
  s().ensure_account(kUser);
  const Uid uid = append_uid("INBOX", kMsg);
  const MailboxId id = box("INBOX").mailbox_id;
  const Modseq before = box("INBOX").highestmodseq;
  auto u = s().store_flags(kUser, id, {uid}, FlagMode::kAdd, flags_from_names({"\\Flagged"}));
  ASSERT_EQ(u.changed.size(), 1u);
  EXPECT_EQ(u.changed[0].uid, uid);
  EXPECT_EQ(u.changed[0].modseq, before + 1);
  EXPECT_EQ(u.changed[0].flags, (Flags{kFlagged, {}}));
  EXPECT_EQ(box("INBOX").highestmodseq, before + 1);
  // A no-op changes no MODSEQ.
  auto again = s().store_flags(kUser, id, {uid}, FlagMode::kAdd, Flags{kFlagged, {}});
  EXPECT_TRUE(again.changed.empty());
  EXPECT_TRUE(again.modified.empty());
  EXPECT_EQ(box("INBOX").highestmodseq, before + 1);
  EXPECT_TRUE(s().store_flags(kUser, id, {uid}, FlagMode::kRemove, Flags{kSeen, {"$none"}}).changed.empty());
  EXPECT_TRUE(s().store_flags(kUser, id, {uid}, FlagMode::kReplace, Flags{kFlagged, {}}).changed.empty());
  EXPECT_EQ(box("INBOX").highestmodseq, before + 1);
  auto removed = s().store_flags(kUser, id, {uid}, FlagMode::kRemove, flags_from_names({"\\flagged"}));
  ASSERT_EQ(removed.changed.size(), 1u);
  EXPECT_TRUE(removed.changed[0].flags == Flags{});
  EXPECT_EQ(removed.changed[0].modseq, before + 2);
  // UNCHANGEDSINCE older than the message's MODSEQ: refused and reported.
  auto cond = s().store_flags(kUser, id, {uid}, FlagMode::kReplace, flags_from_names({"x"}), before);
  EXPECT_TRUE(cond.changed.empty());
  EXPECT_EQ(cond.modified, std::vector<Uid>{uid});
  EXPECT_EQ(box("INBOX").highestmodseq, before + 2);
  // Nothing, unknown UIDs, unknown mailboxes: nothing happens.
  EXPECT_TRUE(s().store_flags(kUser, id, {}, FlagMode::kAdd, Flags{kSeen, {}}).changed.empty());
  EXPECT_TRUE(s().store_flags(kUser, id, {77}, FlagMode::kAdd, Flags{kSeen, {}}).changed.empty());
  EXPECT_TRUE(s().store_flags(kUser, id + 1000, {uid}, FlagMode::kAdd, Flags{kSeen, {}}).changed.empty());
  EXPECT_TRUE(s().store_flags(kOther, id, {uid}, FlagMode::kAdd, Flags{kSeen, {}}).changed.empty());
  EXPECT_EQ(box("INBOX").highestmodseq, before + 2);
}

TEST_P(MailStoreConformance, StoreModesOnSystemFlagsAndKeywords) {
  s().ensure_account(kUser);
  for (int i = 1; i <= 3; ++i) append_uid("INBOX", numbered(i), Flags{kSeen, {"$b"}});
  const MailboxId id = box("INBOX").mailbox_id;
  const Modseq before = box("INBOX").highestmodseq;
  // ADD: union, sorted and distinct (bytewise: upper case first).
  auto add = s().store_flags(kUser, id, {3, 1, 1}, FlagMode::kAdd, Flags{kFlagged | kSeen, {"$a", "$b", "Zz"}});
  ASSERT_EQ(add.changed.size(), 2u);
  EXPECT_EQ(add.changed[0].uid, 1u);  // ascending UID
  EXPECT_EQ(add.changed[1].uid, 3u);
  EXPECT_EQ(add.changed[0].flags, (Flags{kSeen | kFlagged, {"$a", "$b", "Zz"}}));
  EXPECT_EQ(add.changed[0].modseq, before + 1);
  EXPECT_EQ(add.changed[1].modseq, before + 1);  // one MODSEQ per STORE
  // REMOVE: only what is there; keywords are case-sensitive.
  auto rem = s().store_flags(kUser, id, {1, 2, 3}, FlagMode::kRemove, Flags{kSeen, {"$B", "Zz"}});
  ASSERT_EQ(rem.changed.size(), 3u);
  EXPECT_EQ(rem.changed[0].flags, (Flags{kFlagged, {"$a", "$b"}}));
  EXPECT_EQ(rem.changed[1].flags, (Flags{0, {"$b"}}));
  // REPLACE: exactly the given flags.
  auto rep = s().store_flags(kUser, id, {1, 2}, FlagMode::kReplace, Flags{kDraft | kDeleted, {"$c"}});
  ASSERT_EQ(rep.changed.size(), 2u);
  EXPECT_EQ(rep.changed[1].flags, (Flags{kDraft | kDeleted, {"$c"}}));
  auto cleared = s().store_flags(kUser, id, {1}, FlagMode::kReplace, Flags{});
  ASSERT_EQ(cleared.changed.size(), 1u);
  EXPECT_TRUE(cleared.changed[0].flags == Flags{});
  // What the records and the index say afterwards.
  auto recs = s().read_messages(kUser, id, {1, 2, 3}, kFieldFlags);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_TRUE(recs[0].flags == Flags{});
  EXPECT_EQ(recs[1].flags, (Flags{kDraft | kDeleted, {"$c"}}));
  EXPECT_EQ(recs[2].flags, (Flags{kFlagged, {"$a", "$b"}}));
  auto o = s().open(kUser, "INBOX");
  ASSERT_TRUE(o.index);
  ASSERT_EQ(o.index->entries.size(), 3u);
  EXPECT_EQ(o.index->flags_of(o.index->entries[2]), (Flags{kFlagged, {"$a", "$b"}}));
  EXPECT_EQ(o.index->keywords.all_keywords(), (std::vector<std::string>{"$a", "$b", "$c"}));
}

TEST_P(MailStoreConformance, StoreUnchangedSinceReportsModified) {
  s().ensure_account(kUser);
  for (int i = 1; i <= 4; ++i) append_uid("INBOX", numbered(i));
  const MailboxId id = box("INBOX").mailbox_id;
  const Modseq base = box("INBOX").highestmodseq;
  // 3 and 4 change after `base`.
  ASSERT_EQ(s().store_flags(kUser, id, {3, 4}, FlagMode::kAdd, Flags{kFlagged, {}}).changed.size(), 2u);
  auto r = s().store_flags(kUser, id, {1, 2, 3, 4}, FlagMode::kAdd, Flags{kSeen, {}}, base);
  std::vector<Uid> changed;
  for (const auto& c : r.changed) changed.push_back(c.uid);
  EXPECT_EQ(changed, (std::vector<Uid>{1, 2}));
  EXPECT_EQ(r.modified, (std::vector<Uid>{3, 4}));
  // At the message's own MODSEQ the condition holds; a no-op is neither changed nor modified.
  auto now = box("INBOX").highestmodseq;
  auto r2 = s().store_flags(kUser, id, {1, 3}, FlagMode::kAdd, Flags{kSeen, {}}, now);
  ASSERT_EQ(r2.changed.size(), 1u);
  EXPECT_EQ(r2.changed[0].uid, 3u);
  EXPECT_TRUE(r2.modified.empty());
  // UNCHANGEDSINCE 0 refuses every message (RFC 7162 3.1.3).
  auto r3 = s().store_flags(kUser, id, {1, 2}, FlagMode::kAdd, Flags{kDraft, {}}, 0);
  EXPECT_TRUE(r3.changed.empty());
  EXPECT_EQ(r3.modified, (std::vector<Uid>{1, 2}));
}

// ---- EXPUNGE, the index and QRESYNC -----------------------------------------------------

TEST_P(MailStoreConformance, ExpungeRemovesDeletedMessagesAndRecordsThem) {
  s().ensure_account(kUser);
  const Uid a = append_uid("INBOX", numbered(1), Flags{kDeleted, {}});
  const Uid b = append_uid("INBOX", numbered(2));
  const Uid c = append_uid("INBOX", numbered(3), Flags{kDeleted, {}});
  const Uid d = append_uid("INBOX", numbered(4), Flags{kDeleted, {}});
  const MailboxId id = box("INBOX").mailbox_id;
  const Modseq before = box("INBOX").highestmodseq;
  // Only among the given UIDs (UID EXPUNGE); a UID without \Deleted stays.
  EXPECT_EQ(s().expunge(kUser, id, std::vector<Uid>{b, c}), std::vector<Uid>{c});
  EXPECT_EQ(box("INBOX").highestmodseq, before + 1);
  EXPECT_EQ(s().expunge(kUser, id, std::nullopt), (std::vector<Uid>{a, d}));
  EXPECT_EQ(box("INBOX").highestmodseq, before + 2);
  EXPECT_EQ(uids_in("INBOX"), std::vector<Uid>{b});
  EXPECT_EQ(s().expunged_since(kUser, id, before), (std::vector<Uid>{a, c, d}));
  EXPECT_EQ(s().expunged_since(kUser, id, before + 1), (std::vector<Uid>{a, d}));
  EXPECT_TRUE(s().expunged_since(kUser, id, before + 2).empty());
  // Nothing to expunge: no MODSEQ.
  EXPECT_TRUE(s().expunge(kUser, id, std::nullopt).empty());
  EXPECT_TRUE(s().expunge(kUser, id, std::vector<Uid>{}).empty());
  EXPECT_TRUE(s().expunge(kUser, id + 1000, std::nullopt).empty());
  EXPECT_EQ(box("INBOX").highestmodseq, before + 2);
  // UIDs are not reused.
  EXPECT_EQ(append_uid("INBOX", kMsg), 5u);
}

TEST_P(MailStoreConformance, ChangesSinceReportsNewChangedAndExpunged) {
  s().ensure_account(kUser);
  for (int i = 1; i <= 4; ++i) append_uid("INBOX", numbered(i));
  const MailboxId id = box("INBOX").mailbox_id;
  const Modseq base = box("INBOX").highestmodseq;
  s().store_flags(kUser, id, {2}, FlagMode::kAdd, Flags{kSeen, {"$k"}});
  s().store_flags(kUser, id, {3}, FlagMode::kAdd, Flags{kDeleted, {}});
  s().expunge(kUser, id, std::nullopt);
  const Uid fresh = append_uid("INBOX", numbered(5));
  auto ch = s().changes_since(kUser, id, base);
  EXPECT_TRUE(ch.exists);
  EXPECT_EQ(ch.info.mailbox_id, id);
  EXPECT_EQ(ch.info.highestmodseq, box("INBOX").highestmodseq);
  EXPECT_EQ(ch.info.uidnext, 6);
  ASSERT_EQ(ch.changed.size(), 2u);
  EXPECT_EQ(ch.changed[0].uid, 2u);
  EXPECT_EQ(ch.changed[0].flags, (Flags{kSeen, {"$k"}}));
  EXPECT_EQ(ch.changed[0].modseq, base + 1);
  EXPECT_EQ(ch.changed[1].uid, fresh);
  EXPECT_EQ(ch.changed[1].modseq, base + 4);
  EXPECT_EQ(ch.expunged, std::vector<Uid>{3});
  // From 0: everything there is, nothing expunged before.
  auto all = s().changes_since(kUser, id, 0);
  EXPECT_EQ(all.changed.size(), 4u);
  EXPECT_EQ(all.expunged, std::vector<Uid>{3});
  // Up to date: nothing.
  auto none = s().changes_since(kUser, id, ch.info.highestmodseq);
  EXPECT_TRUE(none.exists);
  EXPECT_TRUE(none.changed.empty());
  EXPECT_TRUE(none.expunged.empty());
  EXPECT_EQ(none.info.highestmodseq, ch.info.highestmodseq);
  // Another user's mailbox id is no mailbox of ours.
  EXPECT_FALSE(s().changes_since(kOther, id, 0).exists);
}

TEST_P(MailStoreConformance, OpenReturnsAnImmutableSnapshotAndVanished) {
  s().ensure_account(kUser);
  append_uid("INBOX", numbered(1), Flags{kSeen, {"$a"}});
  append_uid("INBOX", numbered(2), Flags{0, {"$a"}});
  append_uid("INBOX", numbered(3), Flags{kDeleted, {"$a", "$b"}});
  append_uid("INBOX", numbered(4));
  const MailboxId id = box("INBOX").mailbox_id;
  const Modseq mid = box("INBOX").highestmodseq;
  auto o = s().open(kUser, "inbox", mid);
  ASSERT_TRUE(o.index);
  EXPECT_TRUE(o.vanished.empty());
  const MailboxIndex& ix = *o.index;
  EXPECT_EQ(ix.info.name, "INBOX");
  EXPECT_EQ(ix.info.mailbox_id, id);
  EXPECT_EQ(ix.info.uidnext, 5);
  EXPECT_EQ(ix.info.highestmodseq, mid);
  ASSERT_EQ(ix.entries.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ix.entries[i].uid, i + 1);
  EXPECT_EQ(ix.flags_of(ix.entries[0]), (Flags{kSeen, {"$a"}}));
  EXPECT_EQ(ix.flags_of(ix.entries[2]), (Flags{kDeleted, {"$a", "$b"}}));
  EXPECT_EQ(ix.entries[0].keywords, ix.entries[1].keywords);  // interned once
  EXPECT_EQ(ix.entries[3].keywords, 0u);
  EXPECT_EQ(ix.entries[3].modseq, mid);
  EXPECT_EQ(ix.keywords.all_keywords(), (std::vector<std::string>{"$a", "$b"}));
  // Writes after the snapshot do not change it.
  s().expunge(kUser, id, std::nullopt);
  s().store_flags(kUser, id, {1}, FlagMode::kReplace, Flags{});
  EXPECT_EQ(ix.entries.size(), 4u);
  EXPECT_EQ(ix.flags_of(ix.entries[0]), (Flags{kSeen, {"$a"}}));
  auto later = s().open(kUser, "INBOX", mid);
  ASSERT_TRUE(later.index);
  EXPECT_EQ(later.vanished, std::vector<Uid>{3});
  ASSERT_EQ(later.index->entries.size(), 3u);
  EXPECT_EQ(later.index->entries[2].uid, 4u);
  EXPECT_EQ(later.index->flags_of(later.index->entries[0]), Flags{});
  EXPECT_EQ(later.index->info.highestmodseq, mid + 2);
  EXPECT_TRUE(s().open(kUser, "INBOX").vanished.empty()) << "vanished only when asked";
  EXPECT_FALSE(s().open(kUser, "Nope").index);
  EXPECT_FALSE(s().open(kOther, "INBOX").index);
}

// Per RFC 7162 3.2.5.2 the history may be pruned: below the pruned horizon
// expunged_since answers every missing UID below UIDNEXT (a superset), at or
// above it exactly. Only records older than max_age go, in batches.
TEST_P(MailStoreConformance, PruningOldExpungeHistoryKeepsResyncCorrect) {
  s().ensure_account(kUser);
  std::vector<Uid> uids;
  for (int i = 0; i < 8; ++i) uids.push_back(append_uid("INBOX", numbered(i), Flags{kDeleted, {}}));
  const MailboxId mailbox = box("INBOX").mailbox_id;
  const Modseq client_modseq = box("INBOX").highestmodseq;  // a client that saw all 8
  // Old expunges: 1 and 2. A recent one: 3 (after the old ones were aged).
  s().expunge(kUser, mailbox, std::vector<Uid>{uids[0], uids[1]});
  const Modseq after_old = box("INBOX").highestmodseq;
  backend_->age_expunged(std::chrono::hours(24 * 40));
  s().expunge(kUser, mailbox, std::vector<Uid>{uids[2]});
  const Modseq after_recent = box("INBOX").highestmodseq;
  EXPECT_EQ(s().expunged_since(kUser, mailbox, client_modseq), (std::vector<Uid>{uids[0], uids[1], uids[2]}));

  // Young history is kept.
  auto none = s().prune_expunged(std::chrono::hours(24 * 60), 100);
  EXPECT_TRUE(none.locked);
  EXPECT_EQ(none.deleted, 0);
  EXPECT_FALSE(none.more);
  EXPECT_EQ(s().expunged_since(kUser, mailbox, after_old), std::vector<Uid>{uids[2]});

  // Batches of one: two calls prune the two old rows, the next finds nothing.
  int64_t deleted = 0;
  int calls = 0;
  for (; calls < 5; ++calls) {
    auto r = s().prune_expunged(std::chrono::hours(24 * 30), 1);
    EXPECT_TRUE(r.locked);
    EXPECT_LE(r.deleted, 1);
    deleted += r.deleted;
    if (!r.more) break;
  }
  EXPECT_EQ(deleted, 2);
  EXPECT_EQ(calls, 2);
  // At or above the horizon (the highest pruned MODSEQ) the history is exact.
  EXPECT_EQ(s().expunged_since(kUser, mailbox, after_old), std::vector<Uid>{uids[2]});
  EXPECT_TRUE(s().expunged_since(kUser, mailbox, after_recent).empty());
  // Below it: every UID below UIDNEXT that is gone, the old ones included, never a present one.
  const std::vector<Uid> gone{uids[0], uids[1], uids[2]};
  EXPECT_EQ(s().expunged_since(kUser, mailbox, client_modseq), gone);
  EXPECT_EQ(s().expunged_since(kUser, mailbox, 0), gone);
  EXPECT_EQ(s().open(kUser, "INBOX", client_modseq).vanished, gone);
  EXPECT_EQ(s().changes_since(kUser, mailbox, client_modseq).expunged, gone);
  EXPECT_EQ(s().changes_since(kUser, mailbox, after_old).expunged, std::vector<Uid>{uids[2]});
  // A message appended later is never reported as gone.
  append_uid("INBOX", kMsg);
  EXPECT_EQ(s().expunged_since(kUser, mailbox, 0), gone);
}

TEST_P(MailStoreConformance, PruningCoversEveryMailboxAndUser) {
  for (UserId user : {kUser, kOther}) {
    s().ensure_account(user);
    for (const char* name : {"INBOX", "Archive"}) {
      ASSERT_EQ(append(name, kMsg, Flags{kDeleted, {}}, {}, user).error, StoreError::kNone);
      ASSERT_EQ(s().expunge(user, box(name, user).mailbox_id, std::nullopt).size(), 1u);
    }
  }
  backend_->age_expunged(std::chrono::hours(48));
  int64_t deleted = 0;
  int calls = 0;
  for (PruneResult r; calls < 10; ++calls) {
    r = s().prune_expunged(std::chrono::hours(24), 100);
    deleted += r.deleted;
    if (!r.more) break;
  }
  EXPECT_EQ(deleted, 4);
  EXPECT_EQ(calls, 4);  // one mailbox per call
  for (UserId user : {kUser, kOther}) {
    const auto inbox = box("INBOX", user);
    // The history is gone: from before the horizon, UID 1 is still reported.
    EXPECT_EQ(s().expunged_since(user, inbox.mailbox_id, 0), std::vector<Uid>{1});
    EXPECT_TRUE(s().expunged_since(user, inbox.mailbox_id, inbox.highestmodseq).empty());
  }
}

TEST_P(MailStoreConformance, OnlyOnePrunerAtATime) {
  auto holder = backend_->hold_prune_lock();
  if (!holder) GTEST_SKIP() << "one process: no pruning lock to contend for";
  s().ensure_account(kUser);
  ASSERT_EQ(append("INBOX", kMsg, Flags{kDeleted, {}}).error, StoreError::kNone);
  s().expunge(kUser, box("INBOX").mailbox_id, std::nullopt);
  backend_->age_expunged(std::chrono::hours(24 * 40));
  auto r = s().prune_expunged(std::chrono::hours(24), 100);
  EXPECT_FALSE(r.locked);
  EXPECT_EQ(r.deleted, 0);
  holder.reset();
  r = s().prune_expunged(std::chrono::hours(24), 100);
  EXPECT_TRUE(r.locked);
  EXPECT_EQ(r.deleted, 1);
}

// ---- COPY and MOVE ---------------------------------------------------------------------

TEST_P(MailStoreConformance, CopyKeepsFlagsAndAssignsUidsInAscendingSourceOrder) {
  s().ensure_account(kUser);
  for (int i = 1; i <= 4; ++i) append_uid("INBOX", numbered(i), Flags{static_cast<uint8_t>(i), {"$k"}}, 1000 * i);
  ASSERT_EQ(append("Archive", kMsg).error, StoreError::kNone);  // Archive's UIDNEXT is 2
  const auto inbox = box("INBOX"), archive = box("Archive");
  auto c = s().copy(kUser, inbox.mailbox_id, {4, 99, 2, 1, 2}, "Archive", false);
  ASSERT_EQ(c.error, StoreError::kNone);
  EXPECT_EQ(c.uidvalidity, archive.uidvalidity);
  EXPECT_EQ(c.dest_mailbox_id, archive.mailbox_id);
  EXPECT_EQ(c.source_uids, (std::vector<Uid>{1, 2, 4}));
  EXPECT_EQ(c.dest_uids, (std::vector<Uid>{2, 3, 4}));
  const auto after = box("Archive");
  EXPECT_EQ(after.uidnext, 5);
  EXPECT_EQ(after.highestmodseq, archive.highestmodseq + 1);
  const unsigned fields = kFieldFlags | kFieldInternalDate | kFieldSize | kFieldBlob | kFieldEmailId |
                          kFieldStructure | kFieldHeader | kFieldPreview;
  auto src = s().read_messages(kUser, inbox.mailbox_id, {1, 2, 4}, fields);
  auto dst = s().read_messages(kUser, archive.mailbox_id, {2, 3, 4}, fields);
  ASSERT_EQ(src.size(), 3u);
  ASSERT_EQ(dst.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(dst[i].flags, src[i].flags) << i;
    EXPECT_EQ(dst[i].internaldate, src[i].internaldate) << i;
    EXPECT_EQ(dst[i].size, src[i].size) << i;
    EXPECT_EQ(dst[i].header_size, src[i].header_size) << i;
    EXPECT_EQ(dst[i].blob, src[i].blob) << i;
    EXPECT_EQ(dst[i].email_id, src[i].email_id) << "EMAILID is stable across COPY";
    EXPECT_EQ(dst[i].structure, src[i].structure) << i;
    EXPECT_EQ(dst[i].header, src[i].header) << i;
    EXPECT_EQ(dst[i].preview, src[i].preview) << i;
    EXPECT_EQ(dst[i].modseq, after.highestmodseq) << "one MODSEQ for the COPY";
  }
  // The source is untouched.
  EXPECT_EQ(uids_in("INBOX"), (std::vector<Uid>{1, 2, 3, 4}));
  EXPECT_EQ(box("INBOX").highestmodseq, inbox.highestmodseq);
  // No such destination; nothing to copy (UIDVALIDITY still answered).
  EXPECT_EQ(s().copy(kUser, inbox.mailbox_id, {1}, "Nope", false).error, StoreError::kNoSuchMailbox);
  auto nothing = s().copy(kUser, inbox.mailbox_id, {50, 60}, "Trash", false);
  EXPECT_EQ(nothing.error, StoreError::kNone);
  EXPECT_EQ(nothing.uidvalidity, box("Trash").uidvalidity);
  EXPECT_EQ(nothing.dest_mailbox_id, box("Trash").mailbox_id);
  EXPECT_TRUE(nothing.source_uids.empty());
  EXPECT_TRUE(nothing.dest_uids.empty());
  EXPECT_EQ(box("Trash").highestmodseq, 1);
  auto no_source = s().copy(kUser, inbox.mailbox_id + 1000, {1}, "Trash", true);
  EXPECT_EQ(no_source.error, StoreError::kNone);
  EXPECT_TRUE(no_source.dest_uids.empty());
  EXPECT_EQ(no_source.uidvalidity, box("Trash").uidvalidity);
}

// REPLACE (RFC 8508): the new message and the expunge of the old one commit
// together; a replaced message that is gone already does not stop the append.
// RFC 8474 THREADID: a thread's messages share one id (the root's, from the
// parent chain), in any mailbox; a message that names no thread has none.
TEST_P(MailStoreConformance, SearchThreadIdFindsTheThreadsMessages) {
  s().ensure_account(kUser);
  const std::string root = "Message-ID: <root@x>\r\nSubject: plan\r\n\r\nx\r\n";
  const std::string reply = "Message-ID: <r1@x>\r\nIn-Reply-To: <root@x>\r\nSubject: Re: plan\r\n\r\ny\r\n";
  const std::string deeper = "Message-ID: <r2@x>\r\nReferences: <root@x> <r1@x>\r\nSubject: Re: plan\r\n\r\nz\r\n";
  const std::string other = "Message-ID: <other@x>\r\nSubject: else\r\n\r\nw\r\n";
  const std::string none = "Subject: no ids\r\n\r\nv\r\n";
  for (const auto* m : {&root, &reply, &deeper, &other, &none}) append_uid("INBOX", *m);
  append_uid("Archive", deeper);  // the same thread elsewhere
  const auto id = thread_id_of(sort_keys_of(root));
  ASSERT_TRUE(id);
  EXPECT_EQ(thread_id_of(sort_keys_of(reply)), id);
  EXPECT_EQ(thread_id_of(sort_keys_of(deeper)), id);
  EXPECT_NE(thread_id_of(sort_keys_of(other)), id);
  EXPECT_FALSE(thread_id_of(sort_keys_of(none)));
  EXPECT_EQ(id->size(), 25u);
  SearchCriterion c = key(SearchCriterion::kThreadId);
  c.text = *id;
  EXPECT_EQ(search(box("INBOX").mailbox_id, c), (std::vector<Uid>{1, 2, 3}));
  EXPECT_EQ(search(box("Archive").mailbox_id, c), std::vector<Uid>{1});
  c.text = "T000000000000000000000000";
  EXPECT_TRUE(search(box("INBOX").mailbox_id, c).empty());
}

TEST_P(MailStoreConformance, ReplaceAppendsAndExpungesTogether) {
  s().ensure_account(kUser);
  append_uid("Drafts", numbered(1), Flags{kDraft, {}});
  append_uid("Drafts", numbered(2));
  const auto drafts = box("Drafts");
  const std::string v2 = numbered(11);
  auto r = s().replace(kUser, drafts.mailbox_id, 1, "Drafts", item(v2, Flags{kSeen, {}}));
  ASSERT_EQ(r.error, StoreError::kNone);
  EXPECT_EQ(r.appended.uids, std::vector<Uid>{3});
  EXPECT_EQ(r.appended.mailbox_id, drafts.mailbox_id);
  EXPECT_EQ(r.appended.uidvalidity, drafts.uidvalidity);
  EXPECT_EQ(r.expunged, std::vector<Uid>{1});
  EXPECT_EQ(uids_in("Drafts"), (std::vector<Uid>{2, 3}));
  EXPECT_GT(box("Drafts").highestmodseq, drafts.highestmodseq);
  EXPECT_EQ(s().expunged_since(kUser, drafts.mailbox_id, drafts.highestmodseq), std::vector<Uid>{1});
  auto recs = s().read_messages(kUser, drafts.mailbox_id, {3}, kFieldFlags | kFieldBlob);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].flags, (Flags{kSeen, {}}));
  EXPECT_EQ(recs[0].blob, sha256(v2));
  EXPECT_EQ(checked_usage(kUser, "replace").messages, 2);

  // Into another mailbox.
  r = s().replace(kUser, drafts.mailbox_id, 2, "INBOX", item(numbered(12)));
  ASSERT_EQ(r.error, StoreError::kNone);
  EXPECT_EQ(r.expunged, std::vector<Uid>{2});
  EXPECT_EQ(uids_in("Drafts"), std::vector<Uid>{3});
  EXPECT_EQ(uids_in("INBOX"), std::vector<Uid>{1});

  // The old message gone already: the new one is stored all the same.
  r = s().replace(kUser, drafts.mailbox_id, 1, "Drafts", item(numbered(13)));
  ASSERT_EQ(r.error, StoreError::kNone);
  EXPECT_TRUE(r.expunged.empty());
  EXPECT_EQ(uids_in("Drafts"), (std::vector<Uid>{3, 4}));

  // A refused append expunges nothing.
  EXPECT_EQ(s().replace(kUser, drafts.mailbox_id, 3, "Nope", item(numbered(14))).error, StoreError::kNoSuchMailbox);
  EXPECT_EQ(s().replace(kUser, drafts.mailbox_id, 3, "Drafts", item(numbered(15)), Quota{0, 1}).error,
            StoreError::kOverQuota);
  EXPECT_EQ(uids_in("Drafts"), (std::vector<Uid>{3, 4}));
  EXPECT_EQ(checked_usage(kUser, "refused replace").messages, 3);
}

TEST_P(MailStoreConformance, MoveCopiesAndExpungesInOneStep) {
  s().ensure_account(kUser);
  for (int i = 1; i <= 3; ++i) append_uid("INBOX", numbered(i), Flags{kSeen, {}});
  const auto inbox = box("INBOX"), trash = box("Trash");
  auto m = s().copy(kUser, inbox.mailbox_id, {3, 1}, "Trash", true);
  ASSERT_EQ(m.error, StoreError::kNone);
  EXPECT_EQ(m.source_uids, (std::vector<Uid>{1, 3}));
  EXPECT_EQ(m.dest_uids, (std::vector<Uid>{1, 2}));
  EXPECT_EQ(m.uidvalidity, trash.uidvalidity);
  EXPECT_EQ(uids_in("INBOX"), std::vector<Uid>{2});
  EXPECT_EQ(uids_in("Trash"), (std::vector<Uid>{1, 2}));
  const auto src_after = box("INBOX"), dst_after = box("Trash");
  EXPECT_EQ(src_after.highestmodseq, inbox.highestmodseq + 1);
  EXPECT_EQ(dst_after.highestmodseq, trash.highestmodseq + 1);
  // The source's QRESYNC history has them, at the MOVE's MODSEQ.
  EXPECT_EQ(s().expunged_since(kUser, inbox.mailbox_id, inbox.highestmodseq), (std::vector<Uid>{1, 3}));
  EXPECT_TRUE(s().expunged_since(kUser, inbox.mailbox_id, src_after.highestmodseq).empty());
  auto recs = s().read_messages(kUser, trash.mailbox_id, {1, 2}, kFieldFlags | kFieldBlob);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].flags, (Flags{kSeen, {}}));
  EXPECT_EQ(recs[0].blob, sha256(numbered(1)));
  EXPECT_EQ(recs[1].blob, sha256(numbered(3)));
  EXPECT_EQ(checked_usage(kUser, "move").messages, 3);
  // Moving what is no longer there moves nothing.
  auto again = s().copy(kUser, inbox.mailbox_id, {1, 3}, "Trash", true);
  EXPECT_EQ(again.error, StoreError::kNone);
  EXPECT_TRUE(again.dest_uids.empty());
  EXPECT_EQ(box("INBOX").highestmodseq, src_after.highestmodseq);
}

TEST_P(MailStoreConformance, MessageQuotaRefusesAppendAndCopyButNotMove) {
  s().ensure_account(kUser);
  const Quota quota{0, 3};
  ASSERT_EQ(s().append(kUser, "INBOX", {item(kMsg)}, quota).error, StoreError::kNone);
  auto b = s().append(kUser, "Archive", {item(kMsg)}, quota);
  ASSERT_EQ(b.error, StoreError::kNone);
  auto c = s().append(kUser, "INBOX", {item(kMsg)}, quota);
  ASSERT_EQ(c.error, StoreError::kNone);
  EXPECT_EQ(s().append(kUser, "INBOX", {item(kMsg)}, quota).error, StoreError::kOverQuota);
  auto refused = s().copy(kUser, c.mailbox_id, {c.uids[0]}, "Trash", false, quota);
  EXPECT_EQ(refused.error, StoreError::kOverQuota);
  EXPECT_TRUE(refused.dest_uids.empty());
  EXPECT_TRUE(uids_in("Trash").empty());
  // MOVE within the account changes no total.
  auto moved = s().copy(kUser, c.mailbox_id, {c.uids[0]}, "Trash", true, quota);
  EXPECT_EQ(moved.error, StoreError::kNone);
  EXPECT_EQ(moved.dest_uids.size(), 1u);
  // Byte and message limits together: whichever is hit refuses.
  const Quota roomy{1 << 20, 10};
  EXPECT_EQ(s().copy(kUser, b.mailbox_id, {b.uids[0]}, "INBOX", false, roomy).error, StoreError::kNone);
  EXPECT_EQ(s().append(kUser, "INBOX", {item(kMsg)}, Quota{10, 0}).error, StoreError::kOverQuota);
  EXPECT_EQ(s().copy(kUser, b.mailbox_id, {b.uids[0]}, "INBOX", false, Quota{10, 0}).error, StoreError::kOverQuota);
  EXPECT_EQ(s().usage(kUser).messages, 4);
  // Exactly full is allowed.
  const int64_t used = s().usage(kUser).bytes;
  EXPECT_EQ(s().append(kUser, "INBOX", {item(kMsg)}, Quota{used + static_cast<int64_t>(kMsg.size()), 5})
                .error,
            StoreError::kNone);
  // Zero is unlimited.
  EXPECT_EQ(s().append(kUser, "INBOX", {item(kMsg)}, Quota{0, 0}).error, StoreError::kNone);
}

// ---- delivery -------------------------------------------------------------------------

TEST_P(MailStoreConformance, FirstDeliveryCreatesTheAccount) {
  auto r = deliver(7, "INBOX", kMsg, "q1");
  EXPECT_FALSE(r.duplicate);
  EXPECT_FALSE(r.over_quota);
  EXPECT_EQ(r.uid, 1);
  auto l = s().list(7);
  EXPECT_EQ(l.mailboxes.size(), 6u);
  EXPECT_EQ(l.subscriptions.size(), 6u);
  EXPECT_EQ(box("Sent", 7).special_use, std::optional<std::string>("\\Sent"));
  EXPECT_EQ(r.mailbox_id, box("INBOX", 7).mailbox_id);
  // Nothing to deliver: nothing happens, not even the account.
  EXPECT_TRUE(s().deliver(8, "INBOX", {}).empty());
  EXPECT_TRUE(s().list(8).mailboxes.empty());
}

TEST_P(MailStoreConformance, DeliveryUidsAndModseqIncrease) {
  auto a = deliver(7, "INBOX", kMsg, "q1");
  auto b = deliver(7, "inbox", kMsg + "x", "q2");
  auto c = deliver(7, "", kMsg + "y", "q3");  // empty name: INBOX
  EXPECT_EQ(a.mailbox_id, b.mailbox_id);
  EXPECT_EQ(c.mailbox_id, a.mailbox_id);
  EXPECT_EQ(b.uid, a.uid + 1);
  EXPECT_EQ(c.uid, b.uid + 1);
  const auto inbox = box("INBOX", 7);
  EXPECT_EQ(inbox.uidnext, 4);
  auto recs = s().read_messages(7, inbox.mailbox_id, {1, 2, 3}, kFieldFlags | kFieldInternalDate);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_LT(recs[0].modseq, recs[1].modseq);
  EXPECT_LT(recs[1].modseq, recs[2].modseq);
  EXPECT_EQ(recs[2].modseq, inbox.highestmodseq);
  EXPECT_TRUE(recs[0].flags == Flags{});  // delivered mail is new: no flags
  EXPECT_NEAR(static_cast<double>(recs[0].internaldate), static_cast<double>(now_seconds()), 60);
}

TEST(DeliveryKey, TheQueueIdComesBackOut) {
  EXPECT_EQ(enqueue_delivery_key("6751A2C03F9E2B", 3), "e/6751A2C03F9E2B/3");
  EXPECT_EQ(worker_delivery_key("6751A2C03F9E2B", 42), "w/6751A2C03F9E2B/42");
  EXPECT_EQ(queue_id_of_delivery_key("e/6751A2C03F9E2B/3"), std::optional<std::string>("6751A2C03F9E2B"));
  EXPECT_EQ(queue_id_of_delivery_key("w/Q/42"), std::optional<std::string>("Q"));
  for (const char* other : {"12345", "", "e/", "e//1", "e/Q/", "x/Q/1", "e/Q"})
    EXPECT_EQ(queue_id_of_delivery_key(other), std::nullopt) << other;
}

TEST_P(MailStoreConformance, DeliveryKeysNameTheDeliveredMessages) {
  deliver(7, "INBOX", kMsg, "e/Q1/0");
  deliver(7, "INBOX", kMsg + "x", "w/Q2/15");
  deliver(8, "INBOX", kMsg, "e/OTHER/0");  // another user's key is never seen
  const auto inbox = box("INBOX", 7);
  const auto appended = s().append(7, "INBOX", {item(kMsg + "y")});  // no key: left out
  ASSERT_EQ(appended.uids.size(), 1u);
  using Keys = std::vector<std::pair<Uid, std::string>>;
  EXPECT_EQ(s().delivery_keys(7, inbox.mailbox_id, {1, 2, appended.uids[0], 99}), (Keys{{1, "e/Q1/0"}, {2, "w/Q2/15"}}));
  EXPECT_EQ(s().delivery_keys(7, inbox.mailbox_id, {2}), (Keys{{2, "w/Q2/15"}}));
  EXPECT_EQ(s().delivery_keys(7, inbox.mailbox_id + 1000, {1, 2}), Keys{});
  EXPECT_EQ(s().delivery_keys(7, inbox.mailbox_id, {}), Keys{});
}

TEST_P(MailStoreConformance, SameKeyDeliversOnce) {
  auto a = deliver(7, "INBOX", kMsg, "q1");
  auto b = deliver(7, "INBOX", kMsg, "q1");
  EXPECT_TRUE(b.duplicate);
  EXPECT_EQ(b.uid, a.uid);
  EXPECT_EQ(b.mailbox_id, a.mailbox_id);
  EXPECT_EQ(s().usage(7).messages, 1);
  // The key is per user: the same key for another user is another delivery.
  EXPECT_FALSE(deliver(8, "INBOX", kMsg, "q1").duplicate);
  // A key stays delivered after its message and even its mailbox are gone
  // (a late retry must not deliver again), and whatever the target now is.
  auto j = deliver(7, "Junk", kMsg, "q2");
  ASSERT_EQ(s().store_flags(7, j.mailbox_id, {static_cast<Uid>(j.uid)}, FlagMode::kAdd, Flags{kDeleted, {}})
                .changed.size(),
            1u);
  ASSERT_EQ(s().expunge(7, j.mailbox_id, std::nullopt).size(), 1u);
  ASSERT_EQ(s().delete_mailbox(7, "Junk"), StoreError::kNone);
  auto late = deliver(7, "INBOX", kMsg, "q2");
  EXPECT_TRUE(late.duplicate);
  EXPECT_EQ(late.mailbox_id, j.mailbox_id);
  EXPECT_EQ(late.uid, j.uid);
  EXPECT_FALSE(s().find_mailbox(7, "Junk"));
  EXPECT_EQ(s().usage(7).messages, 1);
}

TEST_P(MailStoreConformance, ConcurrentSameKeyDeliversOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> fresh{0}, duplicates{0};
  std::atomic<int64_t> uid{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto r = s().deliver(9, "INBOX", {DeliveryItem{kMsg, "same"}});
      if (r.at(0).duplicate) {
        ++duplicates;
      } else {
        ++fresh;
        uid = r[0].uid;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(duplicates.load(), 3);
  EXPECT_EQ(s().usage(9).messages, 1);
  EXPECT_EQ(uids_in("INBOX", 9), std::vector<Uid>{static_cast<Uid>(uid.load())});
}

TEST_P(MailStoreConformance, OverQuotaDeliveryInsertsNothingAndLeavesTheKeyUnclaimed) {
  EXPECT_FALSE(deliver(20, "INBOX", kMsg, "z1", Quota{0, 0}).over_quota);  // zero is unlimited
  const int64_t quota = static_cast<int64_t>(kMsg.size()) * 2;
  EXPECT_FALSE(deliver(21, "INBOX", kMsg, "o1", Quota{quota, 0}).over_quota);
  EXPECT_FALSE(deliver(21, "INBOX", kMsg, "o2", Quota{quota, 0}).over_quota);  // exactly full
  auto r = deliver(21, "INBOX", kMsg, "o3", Quota{quota, 0});
  EXPECT_TRUE(r.over_quota);
  EXPECT_FALSE(r.exceeds_quota);
  EXPECT_FALSE(r.over_message_quota);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.uid, 0);
  EXPECT_EQ(s().usage(21).messages, 2);
  // A raised quota (the retry) delivers under the same key: it was not claimed.
  auto again = deliver(21, "INBOX", kMsg, "o3", Quota{quota * 2, 0});
  EXPECT_FALSE(again.over_quota);
  EXPECT_FALSE(again.duplicate);
  EXPECT_EQ(again.uid, 3);
  // A duplicate answers duplicate even though the user is over quota now.
  auto dup = deliver(21, "INBOX", kMsg, "o1", Quota{1 + static_cast<int64_t>(kMsg.size()), 0});
  EXPECT_TRUE(dup.duplicate);
  EXPECT_FALSE(dup.over_quota);
  EXPECT_EQ(dup.uid, 1);
}

TEST_P(MailStoreConformance, AMessageLargerThanTheQuotaExceedsIt) {
  auto r = deliver(22, "INBOX", kMsg, "big", Quota{static_cast<int64_t>(kMsg.size()) - 1, 0});
  EXPECT_TRUE(r.over_quota);
  EXPECT_TRUE(r.exceeds_quota);  // bounce: no expunging makes room
  EXPECT_FALSE(r.over_message_quota);
  EXPECT_EQ(s().usage(22).messages, 0);
  // Exactly the quota fits.
  EXPECT_FALSE(deliver(22, "INBOX", kMsg, "fits", Quota{static_cast<int64_t>(kMsg.size()), 0}).over_quota);
}

TEST_P(MailStoreConformance, MessageQuotaDefersWithoutClaimingTheKey) {
  const Quota quota{0, 2};
  EXPECT_FALSE(deliver(30, "INBOX", kMsg, "m1", quota).over_quota);
  EXPECT_FALSE(deliver(30, "Junk", kMsg, "m2", quota).over_quota);  // counts every mailbox
  auto r = deliver(30, "INBOX", kMsg, "m3", quota);
  EXPECT_TRUE(r.over_quota);
  EXPECT_TRUE(r.over_message_quota);
  EXPECT_FALSE(r.exceeds_quota);  // expunging makes room: defer, do not bounce
  EXPECT_EQ(s().usage(30).messages, 2);
  // Bytes are still checked alongside.
  auto bytes = deliver(30, "INBOX", kMsg, "m3", Quota{static_cast<int64_t>(kMsg.size()) * 10, 3});
  EXPECT_FALSE(bytes.over_quota) << "m3 was not claimed by the refused delivery";
  EXPECT_FALSE(bytes.duplicate);
  auto both = deliver(30, "INBOX", kMsg, "m5", Quota{static_cast<int64_t>(kMsg.size()) - 1, 1});
  EXPECT_TRUE(both.exceeds_quota) << "the byte limit is the reason given first";
  EXPECT_FALSE(both.over_message_quota);
  EXPECT_FALSE(deliver(30, "INBOX", kMsg, "m6", Quota{0, 0}).over_quota);
}

// The quota is strict for delivery: concurrent deliveries cannot both slip under it.
TEST_P(MailStoreConformance, ConcurrentDeliveriesCannotBothSlipUnderTheQuota) {
  const int64_t quota = static_cast<int64_t>(kMsg.size()) * 3;
  deliver(23, "INBOX", kMsg, "warm", Quota{quota, 0});
  std::vector<std::thread> threads;
  std::atomic<int> stored{0}, refused{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto r = s().deliver(23, "INBOX", {DeliveryItem{kMsg, "k" + std::to_string(i)}}, Quota{quota, 0});
      (r.at(0).over_quota ? refused : stored)++;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored.load(), 2);
  EXPECT_EQ(refused.load(), 6);
  EXPECT_EQ(s().usage(23).messages, 3);
}

// A burst for one mailbox in one call: consecutive UIDs, duplicates answered
// like single deliveries, the quota applied item by item.
TEST_P(MailStoreConformance, BatchDeliversInOrderSkipsDuplicatesAndAppliesTheQuota) {
  constexpr UserId kBatchUser = 12;
  ASSERT_FALSE(deliver(kBatchUser, "INBOX", kMsg, "b0").duplicate);
  const std::string m1 = "Subject: one\r\n\r\n1\r\n", m2 = "Subject: two\r\n\r\n2\r\n";
  auto r = s().deliver(kBatchUser, "INBOX", {{m1, "b1"}, {kMsg, "b0"}, {m2, "b2"}, {m2, "b2"}});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FALSE(r[0].duplicate);
  EXPECT_TRUE(r[1].duplicate);
  EXPECT_EQ(r[1].uid, 1);
  EXPECT_EQ(r[0].uid, 2);
  EXPECT_EQ(r[2].uid, 3);
  EXPECT_TRUE(r[3].duplicate) << "the same key twice in one batch";
  EXPECT_EQ(r[3].uid, 3);
  EXPECT_EQ(r[3].mailbox_id, r[2].mailbox_id);

  // MESSAGE limit 5 with 3 stored: two of three fit; the third's key stays free.
  const std::string m3 = "Subject: 3\r\n\r\n3\r\n", m4 = "Subject: 4\r\n\r\n4\r\n", m5 = "Subject: 5\r\n\r\n5\r\n";
  r = s().deliver(kBatchUser, "INBOX", {{m3, "b3"}, {m4, "b4"}, {m5, "b5"}}, Quota{0, 5});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].uid, 4);
  EXPECT_EQ(r[1].uid, 5);
  EXPECT_TRUE(r[2].over_quota && r[2].over_message_quota);
  // Raised: the refused one goes in on retry, the delivered ones are duplicates.
  r = s().deliver(kBatchUser, "INBOX", {{m4, "b4"}, {m5, "b5"}}, Quota{0, 6});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].duplicate);
  EXPECT_EQ(r[1].uid, 6);
  EXPECT_FALSE(r[1].duplicate);
  EXPECT_EQ(s().usage(kBatchUser).messages, 6);
}

// The old deliver_batch contract, and mail_store.h's "each write takes one new MODSEQ".
TEST_P(MailStoreConformance, BatchDeliveryTakesOneModseq) {
  constexpr UserId kBatchUser = 12;
  ASSERT_FALSE(deliver(kBatchUser, "INBOX", kMsg, "b0").duplicate);
  const Modseq before = box("INBOX", kBatchUser).highestmodseq;
  const std::string m1 = "Subject: one\r\n\r\n1\r\n", m2 = "Subject: two\r\n\r\n2\r\n";
  auto r = s().deliver(kBatchUser, "INBOX", {{m1, "b1"}, {kMsg, "b0"}, {m2, "b2"}});
  ASSERT_EQ(r.size(), 3u);
  std::set<Modseq> modseqs;
  for (const auto& m : s().read_messages(kBatchUser, r[0].mailbox_id, {2, 3}, 0)) modseqs.insert(m.modseq);
  EXPECT_EQ(modseqs, (std::set<Modseq>{before + 1}));
  EXPECT_EQ(box("INBOX", kBatchUser).highestmodseq, before + 1);
}

TEST_P(MailStoreConformance, DeliveryRecreatesAMissingMailbox) {
  deliver(7, "INBOX", kMsg, "q1");
  const auto junk = box("Junk", 7);
  ASSERT_EQ(s().delete_mailbox(7, "Junk"), StoreError::kNone);
  auto r = deliver(7, "Junk", kMsg, "q2");
  EXPECT_FALSE(r.over_quota);
  EXPECT_EQ(r.uid, 1);
  const auto again = box("Junk", 7);
  EXPECT_EQ(again.special_use, std::optional<std::string>("\\Junk")) << "a default mailbox comes back as one";
  EXPECT_NE(again.uidvalidity, junk.uidvalidity);
  EXPECT_EQ(r.mailbox_id, again.mailbox_id);
  // Any other name is created as a plain mailbox.
  auto lists = deliver(7, "Lists/dev", kMsg, "q3");
  EXPECT_EQ(lists.uid, 1);
  const auto dev = box("Lists/dev", 7);
  EXPECT_FALSE(dev.special_use);
  EXPECT_EQ(lists.mailbox_id, dev.mailbox_id);
}

// Sieve's imap4flags and fileinto :flags: the new message carries the item's flags.
TEST_P(MailStoreConformance, DeliverySetsTheItemsFlags) {
  const Flags seen_work = flags_from_names({"\\Seen", "$Work", "$Alpha"});
  auto r = s().deliver(7, "INBOX", {DeliveryItem{kMsg, "f1", seen_work}, DeliveryItem{kMsg, "f2"}});
  ASSERT_EQ(r.size(), 2u);
  const auto inbox = box("INBOX", 7);
  auto got = s().read_messages(7, inbox.mailbox_id, {static_cast<Uid>(r[0].uid), static_cast<Uid>(r[1].uid)},
                               kFieldFlags);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].flags.system, kSeen);
  EXPECT_EQ(got[0].flags.keywords, (std::vector<std::string>{"$Alpha", "$Work"}));
  EXPECT_EQ(got[1].flags, Flags{});
  EXPECT_FALSE(r[0].sieve);
  // Unseen counts follow the flags.
  EXPECT_EQ(s().status(7, {"INBOX"}).at(0).unseen, 1);
}

TEST_P(MailStoreConformance, DeliveredBodiesAreCanonicalAndAnalysed) {
  deliver(7, "INBOX", "Subject: x\n\nbody\n", "q1");
  const auto inbox = box("INBOX", 7);
  auto recs = s().read_messages(7, inbox.mailbox_id, {1}, kFieldSize | kFieldBlob | kFieldStructure | kFieldHeader);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].size, 20);
  EXPECT_EQ(recs[0].header_size, 14);
  EXPECT_EQ(recs[0].header, std::optional<std::string>("Subject: x\r\n\r\n"));
  EXPECT_TRUE(recs[0].structure);
  EXPECT_EQ(s().read_bodies(7, {recs[0].blob})[0], std::optional<std::string>("Subject: x\r\n\r\nbody\r\n"));
  EXPECT_EQ(search(inbox.mailbox_id, text_key(SearchCriterion::kBody, "BODY")), std::vector<Uid>{}) << "user 42";
  auto hits = s().search(7, inbox.mailbox_id, text_key(SearchCriterion::kBody, "BODY"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].uid, 1u);
  EXPECT_EQ(hits[0].modseq, recs[0].modseq);
}

// ---- SEARCH ---------------------------------------------------------------------------

TEST_P(MailStoreConformance, SearchFlagsKeywordsSizesUidsAndModseq) {
  s().ensure_account(kUser);
  const std::string small = "Subject: s\r\n\r\nx\r\n";
  const std::string large = "Subject: l\r\n\r\n" + std::string(2000, 'y') + "\r\n";
  append_uid("INBOX", small, Flags{kSeen, {"$Work"}});             // 1
  append_uid("INBOX", large, Flags{kFlagged, {"$Home", "$Work"}});  // 2
  append_uid("INBOX", small, Flags{kSeen | kDeleted, {}});          // 3
  append_uid("INBOX", large);                                       // 4
  const MailboxId id = box("INBOX").mailbox_id;
  using K = SearchCriterion;
  EXPECT_EQ(search(id, key(K::kAll)), (std::vector<Uid>{1, 2, 3, 4}));
  EXPECT_TRUE(search(id, key(K::kNone)).empty());
  EXPECT_EQ(search(id, key(K::kSystemFlag, kSeen)), (std::vector<Uid>{1, 3}));
  EXPECT_EQ(search(id, key(K::kSystemFlag, kDeleted)), std::vector<Uid>{3});
  EXPECT_TRUE(search(id, key(K::kSystemFlag, kDraft)).empty());
  EXPECT_EQ(search(id, group(K::kNot, {key(K::kSystemFlag, kSeen)})), (std::vector<Uid>{2, 4}));
  EXPECT_EQ(search(id, text_key(K::kKeyword, "$Work")), (std::vector<Uid>{1, 2}));
  EXPECT_EQ(search(id, text_key(K::kKeyword, "$Home")), std::vector<Uid>{2});
  EXPECT_TRUE(search(id, text_key(K::kKeyword, "$Nope")).empty());
  EXPECT_EQ(search(id, group(K::kNot, {text_key(K::kKeyword, "$Work")})), (std::vector<Uid>{3, 4}));
  EXPECT_EQ(search(id, key(K::kLarger, static_cast<int64_t>(small.size()))), (std::vector<Uid>{2, 4}));
  EXPECT_EQ(search(id, key(K::kLarger, static_cast<int64_t>(small.size()) - 1)), (std::vector<Uid>{1, 2, 3, 4}));
  EXPECT_EQ(search(id, key(K::kSmaller, static_cast<int64_t>(large.size()))), (std::vector<Uid>{1, 3}));
  EXPECT_TRUE(search(id, key(K::kSmaller, static_cast<int64_t>(small.size()))).empty());
  EXPECT_EQ(search(id, uid_key({{2, 3}})), (std::vector<Uid>{2, 3}));
  EXPECT_EQ(search(id, uid_key({{4, 4}, {1, 1}, {9, 20}})), (std::vector<Uid>{1, 4}));
  EXPECT_TRUE(search(id, uid_key({})).empty());
  const Modseq before = box("INBOX").highestmodseq;
  s().store_flags(kUser, id, {1, 4}, FlagMode::kAdd, Flags{kAnswered, {}});
  auto hits = s().search(kUser, id, key(K::kModseq, before + 1));
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].uid, 1u);
  EXPECT_EQ(hits[0].modseq, before + 1);
  EXPECT_EQ(hits[1].uid, 4u);
  EXPECT_EQ(search(id, key(K::kModseq, before)), (std::vector<Uid>{1, 4}));
  EXPECT_EQ(search(id, key(K::kModseq, 0)).size(), 4u);
  EXPECT_TRUE(s().search(kUser, id + 1000, key(K::kAll)).empty());
  EXPECT_TRUE(s().search(kOther, id, key(K::kAll)).empty());
}

TEST_P(MailStoreConformance, SearchBooleanCombinations) {
  s().ensure_account(kUser);
  append_uid("INBOX", numbered(1), Flags{kSeen, {}});
  append_uid("INBOX", numbered(2), Flags{kSeen | kFlagged, {}});
  append_uid("INBOX", numbered(3), Flags{kFlagged, {}});
  append_uid("INBOX", numbered(4));
  const MailboxId id = box("INBOX").mailbox_id;
  using K = SearchCriterion;
  const auto seen = key(K::kSystemFlag, kSeen), flagged = key(K::kSystemFlag, kFlagged);
  EXPECT_EQ(search(id, group(K::kAnd, {seen, flagged})), std::vector<Uid>{2});
  EXPECT_EQ(search(id, group(K::kOr, {seen, flagged})), (std::vector<Uid>{1, 2, 3}));
  EXPECT_EQ(search(id, group(K::kNot, {group(K::kOr, {seen, flagged})})), std::vector<Uid>{4});
  EXPECT_EQ(search(id, group(K::kAnd, {group(K::kNot, {seen}), group(K::kOr, {flagged, uid_key({{4, 4}})})})),
            (std::vector<Uid>{3, 4}));
  EXPECT_EQ(search(id, group(K::kAnd, {})).size(), 4u);  // no conditions: all
  EXPECT_TRUE(search(id, group(K::kOr, {})).empty());    // no alternatives: none
  EXPECT_EQ(search(id, group(K::kNot, {group(K::kNot, {seen})})), (std::vector<Uid>{1, 2}));
}

TEST_P(MailStoreConformance, SearchDates) {
  s().ensure_account(kUser);
  const int64_t nov24 = unix_day(2020, 11, 24), nov25 = nov24 + 1;
  const std::string dated = "Subject: d\r\nDate: Tue, 24 Nov 2020 23:30:00 -0800\r\n\r\nx\r\n";  // the day as written
  const std::string dateless = "Subject: n\r\n\r\nx\r\n";
  append_uid("INBOX", dated, {}, nov24 * 86400);                 // 1: internal date 2020-11-24 00:00 UTC
  append_uid("INBOX", dateless, {}, nov25 * 86400 - 1);          // 2: 2020-11-24 23:59:59 UTC
  append_uid("INBOX", dated, {}, nov25 * 86400);                 // 3: 2020-11-25 00:00 UTC
  append_uid("INBOX", dateless, {}, now_seconds() - 2 * 3600);   // 4: two hours ago
  const MailboxId id = box("INBOX").mailbox_id;
  using K = SearchCriterion;
  EXPECT_EQ(search(id, key(K::kBefore, nov25)), (std::vector<Uid>{1, 2}));
  EXPECT_EQ(search(id, key(K::kOn, nov24)), (std::vector<Uid>{1, 2}));
  EXPECT_EQ(search(id, key(K::kOn, nov25)), std::vector<Uid>{3});
  EXPECT_EQ(search(id, key(K::kSince, nov25)), (std::vector<Uid>{3, 4}));
  EXPECT_TRUE(search(id, key(K::kBefore, nov24)).empty());
  // The Date: header's day, time and zone disregarded; none without one.
  EXPECT_EQ(search(id, key(K::kSentOn, nov24)), (std::vector<Uid>{1, 3}));
  EXPECT_EQ(search(id, key(K::kSentBefore, nov25)), (std::vector<Uid>{1, 3}));
  EXPECT_TRUE(search(id, key(K::kSentBefore, nov24)).empty());
  EXPECT_EQ(search(id, key(K::kSentSince, nov24)), (std::vector<Uid>{1, 3}));
  EXPECT_TRUE(search(id, key(K::kSentSince, nov25)).empty());
  // SAVEDATE (RFC 8514) is when the message was stored here: today.
  auto recs = s().read_messages(kUser, id, {1}, kFieldSaveDate);
  ASSERT_EQ(recs.size(), 1u);
  const int64_t today = recs[0].savedate / 86400;
  EXPECT_EQ(search(id, key(K::kSavedOn, today)).size(), 4u);
  EXPECT_EQ(search(id, key(K::kSavedSince, today)).size(), 4u);
  EXPECT_TRUE(search(id, key(K::kSavedBefore, today)).empty());
  EXPECT_EQ(search(id, key(K::kSavedBefore, today + 1)).size(), 4u);
  // OLDER / YOUNGER (RFC 5032) against now, in seconds.
  EXPECT_EQ(search(id, key(K::kYounger, 3 * 3600)), std::vector<Uid>{4});
  EXPECT_TRUE(search(id, key(K::kYounger, 3600)).empty());
  EXPECT_EQ(search(id, key(K::kOlder, 3600)), (std::vector<Uid>{1, 2, 3, 4}));
  EXPECT_EQ(search(id, key(K::kOlder, 3 * 3600)), (std::vector<Uid>{1, 2, 3}));
}

// RFC 9051 6.4.4: NOT matches the messages that do not match the key. A
// message without a (parsable) Date: header matches no SENT* key, so it
// matches their negation.
TEST_P(MailStoreConformance, NotSentKeysMatchMessagesWithoutDate) {
  s().ensure_account(kUser);
  const int64_t nov24 = unix_day(2026, 11, 24);
  append_uid("INBOX", "Subject: d\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nx\r\n");
  append_uid("INBOX", "Subject: n\r\n\r\nx\r\n");
  append_uid("INBOX", "Subject: g\r\nDate: garbage\r\n\r\nx\r\n");
  const MailboxId id = box("INBOX").mailbox_id;
  using K = SearchCriterion;
  EXPECT_EQ(search(id, key(K::kSentOn, nov24)), std::vector<Uid>{1});
  EXPECT_EQ(search(id, group(K::kNot, {key(K::kSentOn, nov24)})), (std::vector<Uid>{2, 3}));
  EXPECT_EQ(search(id, group(K::kNot, {key(K::kSentBefore, nov24 + 10)})), (std::vector<Uid>{2, 3}));
  EXPECT_EQ(search(id, group(K::kNot, {key(K::kSentSince, nov24 - 10)})), (std::vector<Uid>{2, 3}));
  EXPECT_EQ(search(id, group(K::kOr, {key(K::kSentOn, nov24), group(K::kNot, {key(K::kSentOn, nov24)})})),
            (std::vector<Uid>{1, 2, 3}));
}

TEST_P(MailStoreConformance, SearchTextBodyAndHeader) {
  s().ensure_account(kUser);
  append_uid("INBOX",
             "From: Alice <alice@example.org>\r\nSubject: Quarterly   Report\r\nX-Tag: Zebra\r\n\r\n"
             "The budget is attached.\r\n");  // 1
  append_uid("INBOX", "From: bob@example.org\r\nSubject: Lunch\r\n\r\nPizza at noon?\r\nZebra crossing.\r\n");  // 2
  append_uid("INBOX",
             "From: carol@example.org\r\nSubject: =?UTF-8?Q?=C3=89T=C3=89_plans?=\r\n\r\n"
             "Nothing here.\r\n");  // 3
  const MailboxId id = box("INBOX").mailbox_id;
  using K = SearchCriterion;
  // TEXT: header and body, case-insensitive, whitespace runs are one space.
  EXPECT_EQ(search(id, text_key(K::kText, "quarterly report")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, text_key(K::kText, "  QUARTERLY \t REPORT ")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, text_key(K::kText, "zebra")), (std::vector<Uid>{1, 2}));
  // Parts of words, across a word boundary, words present but not in this order.
  EXPECT_EQ(search(id, text_key(K::kText, "uarterl")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, text_key(K::kText, "rterly rep")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, text_key(K::kText, "budget is attached")), std::vector<Uid>{1});
  EXPECT_TRUE(search(id, text_key(K::kText, "report quarterly")).empty());
  EXPECT_TRUE(search(id, text_key(K::kText, "quarterly reports")).empty());
  EXPECT_TRUE(search(id, text_key(K::kText, "squarterly")).empty());
  EXPECT_EQ(search(id, header_key("subject", "erly rep")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, text_key(K::kText, "example.org")), (std::vector<Uid>{1, 2, 3}));
  EXPECT_EQ(search(id, text_key(K::kText, "quarterly%report")), std::vector<Uid>{}) << "LIKE wildcards are literal";
  EXPECT_EQ(search(id, text_key(K::kText, "b_dget")), std::vector<Uid>{});
  EXPECT_EQ(search(id, text_key(K::kText, "")).size(), 3u);
  // Decoded (RFC 2047) and lowercased beyond ASCII.
  EXPECT_EQ(search(id, text_key(K::kText, "\xC3\xA9t\xC3\xA9")), std::vector<Uid>{3});
  EXPECT_EQ(search(id, text_key(K::kText, "\xC3\x89T\xC3\x89 PLANS")), std::vector<Uid>{3});
  // BODY: only after the header.
  EXPECT_EQ(search(id, text_key(K::kBody, "zebra")), std::vector<Uid>{2});
  EXPECT_EQ(search(id, text_key(K::kBody, "BUDGET")), std::vector<Uid>{1});
  EXPECT_TRUE(search(id, text_key(K::kBody, "quarterly")).empty());
  EXPECT_TRUE(search(id, text_key(K::kBody, "alice")).empty());
  EXPECT_EQ(search(id, text_key(K::kBody, "")).size(), 3u);
  // HEADER: the value on the field's own line; an empty value: the field is there.
  EXPECT_EQ(search(id, header_key("Subject", "report")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, header_key("subject", "LUNCH")), std::vector<Uid>{2});
  EXPECT_EQ(search(id, header_key("SUBJECT", "\xC3\xA9t\xC3\xA9")), std::vector<Uid>{3});
  EXPECT_EQ(search(id, header_key("From", "alice")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, header_key("x-tag", "zeb")), std::vector<Uid>{1});
  EXPECT_EQ(search(id, header_key("X-Tag", "")), std::vector<Uid>{1});
  EXPECT_TRUE(search(id, header_key("Subject", "zebra")).empty()) << "zebra is on another line";
  EXPECT_TRUE(search(id, header_key("Subj", "report")).empty()) << "the whole field name";
  EXPECT_TRUE(search(id, header_key("ject", "report")).empty()) << "from the start of the line";
  EXPECT_TRUE(search(id, header_key("X-Missing", "")).empty());
  EXPECT_EQ(search(id, header_key("Subject", "")).size(), 3u);
  // Regex metacharacters in keys are literal.
  EXPECT_TRUE(search(id, header_key("Subject", "q.*t")).empty());
  EXPECT_TRUE(search(id, header_key("Sub.ect", "")).empty());
  // Combined with other keys.
  EXPECT_EQ(search(id, group(K::kAnd, {text_key(K::kText, "zebra"), group(K::kNot, {header_key("x-tag", "")})})),
            std::vector<Uid>{2});
}

// ---- the change feed ---------------------------------------------------------------------

// IMAP NOTIFY needs names with mailbox events: a deleted mailbox's name is
// gone from the store by the time a listener hears of it.
TEST_P(MailStoreConformance, ChangeFeedCarriesMailboxAndSubscriptionEvents) {
  s().ensure_account(kUser);
  Events events;
  s().start_change_feed(events.callback());
  ASSERT_EQ(s().create_mailbox(kUser, "P/q"), StoreError::kNone);
  const auto p = box("P"), pq = box("P/q");
  ASSERT_EQ(s().subscribe(kUser, "P/q"), StoreError::kNone);
  ASSERT_EQ(s().rename_mailbox(kUser, "P", "R"), StoreError::kNone);
  s().unsubscribe(kUser, "R/q");
  s().unsubscribe(kUser, "Gone");
  const auto rq = box("R/q");
  ASSERT_EQ(s().delete_mailbox(kUser, "R/q"), StoreError::kNone);
  const auto named = [](const std::vector<ChangeEvent>& all) {
    std::vector<ChangeEvent> out;
    for (const auto& e : all)
      if (e.kind != ChangeKind::kMessages) out.push_back(e);
    return out;
  };
  ASSERT_TRUE(events.wait([&](const auto& all) { return named(all).size() >= 8; }))
      << named(events.all()).size() << " named events";
  auto got = named(events.all());
  std::vector<std::string> seen;
  for (const auto& e : got)
    seen.push_back(std::string(1, static_cast<char>(e.kind)) + " " + e.name +
                   (e.old_name.empty() ? "" : " <- " + e.old_name));
  ASSERT_EQ(seen.size(), 8u);
  std::sort(seen.begin() + 3, seen.begin() + 5);  // one rename, its mailboxes in no set order
  EXPECT_EQ(seen, (std::vector<std::string>{"c P", "c P/q", "s P/q", "r R <- P", "r R/q <- P/q", "u R/q", "u Gone",
                                            "d R/q"}));
  for (const auto& e : got) {
    EXPECT_EQ(e.user_id, kUser);
    switch (e.kind) {
      case ChangeKind::kCreated:
        EXPECT_EQ(e.mailbox_id, e.name == "P" ? p.mailbox_id : pq.mailbox_id);
        EXPECT_EQ(e.modseq, 1);
        break;
      case ChangeKind::kSubscribed: EXPECT_EQ(e.mailbox_id, pq.mailbox_id); break;
      case ChangeKind::kRenamed:
        EXPECT_EQ(e.mailbox_id, e.name == "R" ? p.mailbox_id : pq.mailbox_id);
        EXPECT_EQ(e.modseq, 1);
        break;
      case ChangeKind::kUnsubscribed:
        EXPECT_EQ(e.mailbox_id, e.name == "Gone" ? 0 : rq.mailbox_id) << e.name;
        break;
      case ChangeKind::kDeleted:
        EXPECT_EQ(e.mailbox_id, rq.mailbox_id);
        EXPECT_EQ(e.modseq, rq.highestmodseq + 1);
        break;
      default: break;
    }
  }
}

TEST_P(MailStoreConformance, ChangeFeedReportsEveryMessageWrite) {
  s().ensure_account(kUser);
  Events events;
  s().start_change_feed(events.callback());
  const auto inbox = box("INBOX"), trash = box("Trash");
  // APPEND
  auto a = s().append(kUser, "INBOX", {item(numbered(1), Flags{kDeleted, {}}), item(numbered(2))});
  ASSERT_EQ(a.error, StoreError::kNone);
  Modseq m = box("INBOX").highestmodseq;
  EXPECT_TRUE(events.wait_messages(kUser, inbox.mailbox_id, m)) << "APPEND";
  // STORE
  s().store_flags(kUser, inbox.mailbox_id, {2}, FlagMode::kAdd, Flags{kSeen, {}});
  m = box("INBOX").highestmodseq;
  EXPECT_TRUE(events.wait_messages(kUser, inbox.mailbox_id, m)) << "STORE";
  // EXPUNGE
  ASSERT_EQ(s().expunge(kUser, inbox.mailbox_id, std::nullopt).size(), 1u);
  m = box("INBOX").highestmodseq;
  EXPECT_TRUE(events.wait_messages(kUser, inbox.mailbox_id, m)) << "EXPUNGE";
  // COPY: the destination.
  ASSERT_EQ(s().copy(kUser, inbox.mailbox_id, {2}, "Archive", false).dest_uids.size(), 1u);
  EXPECT_TRUE(events.wait_messages(kUser, box("Archive").mailbox_id, box("Archive").highestmodseq)) << "COPY";
  // MOVE: both.
  ASSERT_EQ(s().copy(kUser, inbox.mailbox_id, {2}, "Trash", true).dest_uids.size(), 1u);
  EXPECT_TRUE(events.wait_messages(kUser, trash.mailbox_id, box("Trash").highestmodseq)) << "MOVE destination";
  EXPECT_TRUE(events.wait_messages(kUser, inbox.mailbox_id, box("INBOX").highestmodseq)) << "MOVE source";
  // Delivery, with the MODSEQ of the delivered message.
  auto d = deliver(kUser, "INBOX", kMsg, "k1");
  auto recs = s().read_messages(kUser, d.mailbox_id, {static_cast<Uid>(d.uid)}, 0);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(events.wait_messages(kUser, inbox.mailbox_id, recs[0].modseq)) << "delivery";
  // Nothing but message events, none of them named.
  for (const auto& e : events.all()) {
    EXPECT_EQ(e.kind, ChangeKind::kMessages);
    EXPECT_TRUE(e.name.empty());
    EXPECT_EQ(e.user_id, kUser);
  }
}

TEST_P(MailStoreConformance, NoOpWritesPostNothing) {
  if (backend_->asynchronous_feed()) GTEST_SKIP() << "the absence of an asynchronous event cannot be awaited";
  s().ensure_account(kUser);
  const Uid uid = append_uid("INBOX", kMsg, Flags{kSeen, {}});
  const MailboxId id = box("INBOX").mailbox_id;
  Events events;
  s().start_change_feed(events.callback());
  s().store_flags(kUser, id, {uid}, FlagMode::kAdd, Flags{kSeen, {}});
  s().expunge(kUser, id, std::nullopt);
  s().copy(kUser, id, {99}, "Trash", true);
  s().deliver(kUser, "INBOX", {});
  s().append(kUser, "INBOX", {});
  EXPECT_EQ(s().create_mailbox(kUser, "INBOX"), StoreError::kAlreadyExists);
  EXPECT_EQ(s().subscribe(kUser, "Nope"), StoreError::kNoSuchMailbox);
  EXPECT_EQ(append("INBOX", kMsg, {}, {}, kOther).error, StoreError::kNoSuchMailbox);
  EXPECT_TRUE(events.all().empty());
  // And after stop_change_feed, nothing at all.
  s().stop_change_feed();
  append_uid("INBOX", kMsg);
  EXPECT_TRUE(events.all().empty());
}

TEST_P(MailStoreConformance, HighestModseqsAndPing) {
  s().ensure_account(kUser);
  s().ensure_account(kOther);
  const auto inbox = box("INBOX"), sent = box("Sent"), other = box("INBOX", kOther);
  append_uid("INBOX", kMsg);
  append_uid("INBOX", kMsg);
  auto h = s().highest_modseqs({{kUser, inbox.mailbox_id},
                                {kUser, sent.mailbox_id},
                                {kOther, other.mailbox_id},
                                {kOther, inbox.mailbox_id},  // not that user's
                                {kUser, inbox.mailbox_id + 1000}});
  std::map<std::pair<UserId, MailboxId>, Modseq> got;
  for (const auto& [w, modseq] : h) got[{w.user_id, w.mailbox_id}] = modseq;
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(got[std::make_pair(kUser, inbox.mailbox_id)], box("INBOX").highestmodseq);
  EXPECT_EQ(got[std::make_pair(kUser, sent.mailbox_id)], 1);
  EXPECT_EQ(got[std::make_pair(kOther, other.mailbox_id)], 1);
  EXPECT_TRUE(s().highest_modseqs({}).empty());
  EXPECT_TRUE(s().ping());
}


// ---- SORT and THREAD (RFC 5256, RFC 5957) ---------------------------------------

namespace {
int64_t unix_time(int y, unsigned m, unsigned d, int hour = 0) { return unix_day(y, m, d) * 86400 + hour * 3600; }
std::vector<SortCriterion> by(std::initializer_list<SortCriterion> keys) { return keys; }
}  // namespace

class SortConformance : public MailStoreConformance {
 protected:
  // Four messages whose every sort key differs (expected orders per key below).
  MailboxId four() {
    s().ensure_account(kUser);
    append_uid("INBOX",
               "From: \"Zed Alpha\" <bob@example.test>\r\nTo: carol@example.test\r\nSubject: Re: apple\r\n"
               "Date: Wed, 3 Jan 2024 10:00:00 +0000\r\n\r\n" + std::string(1000, 'a') + "\r\n",
               {}, unix_time(2024, 2, 1));
    append_uid("INBOX",
               "From: Alice <ALICE@example.test>\r\nTo: \"Bob B\" <dave@example.test>\r\nCc: zoe@example.test\r\n"
               "Subject: banana\r\nDate: Mon, 1 Jan 2024 10:00:00 +0100\r\n\r\n" + std::string(2000, 'b') + "\r\n",
               {}, unix_time(2024, 1, 15));
    // No Date: DATE uses the internal date (RFC 5256 2.2).
    append_uid("INBOX",
               "From: carl@example.test\r\nSubject: [list] Apple (fwd)\r\n\r\n" + std::string(3000, 'c') + "\r\n", {},
               unix_time(2024, 1, 2));
    append_uid("INBOX",
               "From: =?UTF-8?Q?=C3=89mile?= <emile@example.test>\r\nCc: adam@example.test\r\n"
               "Subject: Fwd: Cherry\r\nDate: garbage\r\n\r\n" + std::string(500, 'e') + "\r\n",
               {}, unix_time(2023, 12, 31));
    return box("INBOX").mailbox_id;
  }
  std::vector<Uid> sorted(MailboxId id, std::vector<SortCriterion> keys, SearchCriterion c = key(SearchCriterion::kAll)) {
    return s().sort(kUser, id, c, keys);
  }
};

TEST_P(SortConformance, EveryKeyOrdersByTheStoredValues) {
  const MailboxId id = four();
  using K = SortKey;
  // Local parts, ASCII case-insensitive: alice bob carl emile.
  EXPECT_EQ(sorted(id, by({{K::kFrom}})), (std::vector<Uid>{2, 1, 3, 4}));
  // Display names, else the address (RFC 5957): alice, carl@..., zed alpha, émile (UTF-8 after ASCII).
  EXPECT_EQ(sorted(id, by({{K::kDisplayFrom}})), (std::vector<Uid>{2, 3, 1, 4}));
  // No To is the empty string, first; ties by UID.
  EXPECT_EQ(sorted(id, by({{K::kTo}})), (std::vector<Uid>{3, 4, 1, 2}));
  EXPECT_EQ(sorted(id, by({{K::kDisplayTo}})), (std::vector<Uid>{3, 4, 2, 1}));
  EXPECT_EQ(sorted(id, by({{K::kCc}})), (std::vector<Uid>{1, 3, 4, 2}));
  // Base subjects: apple, banana, apple, cherry.
  EXPECT_EQ(sorted(id, by({{K::kSubject}})), (std::vector<Uid>{1, 3, 2, 4}));
  // Sent dates in UTC (2 is 09:00Z on 1 Jan), the internal date without a usable Date:.
  EXPECT_EQ(sorted(id, by({{K::kDate}})), (std::vector<Uid>{4, 2, 3, 1}));
  EXPECT_EQ(sorted(id, by({{K::kArrival}})), (std::vector<Uid>{4, 3, 2, 1}));
  EXPECT_EQ(sorted(id, by({{K::kSize}})), (std::vector<Uid>{4, 1, 2, 3}));
}

TEST_P(SortConformance, ReverseAndSecondaryKeysAndTheUidLast) {
  const MailboxId id = four();
  using K = SortKey;
  // REVERSE turns one key; equal subjects stay in UID order.
  EXPECT_EQ(sorted(id, by({{K::kSubject, true}})), (std::vector<Uid>{4, 2, 1, 3}));
  EXPECT_EQ(sorted(id, by({{K::kSubject}, {K::kDate}})), (std::vector<Uid>{3, 1, 2, 4}));
  EXPECT_EQ(sorted(id, by({{K::kSubject}, {K::kDate, true}})), (std::vector<Uid>{1, 3, 2, 4}));
  EXPECT_EQ(sorted(id, by({{K::kSize, true}})), (std::vector<Uid>{3, 2, 1, 4}));
}

TEST_P(SortConformance, OnlyTheMatchingMessages) {
  const MailboxId id = four();
  using K = SortKey;
  EXPECT_EQ(sorted(id, by({{K::kSubject}}), uid_key({{2, 4}})), (std::vector<Uid>{3, 2, 4}));
  EXPECT_EQ(sorted(id, by({{K::kDate}}), header_key("subject", "apple")), (std::vector<Uid>{3, 1}));
  EXPECT_EQ(sorted(id, by({{K::kFrom}}), text_key(SearchCriterion::kText, "bbbb")), std::vector<Uid>{2});
  EXPECT_TRUE(sorted(id, by({{K::kFrom}}), key(SearchCriterion::kNone)).empty());
  EXPECT_TRUE(s().sort(kUser, id + 1000, key(SearchCriterion::kAll), by({{K::kFrom}})).empty());
}

TEST_P(SortConformance, KeysOfBodiesStoredBeforeThemAreComputedOnFirstUse) {
  const MailboxId id = four();
  backend_->forget_sort_keys();
  using K = SortKey;
  EXPECT_EQ(sorted(id, by({{K::kDisplayFrom}})), (std::vector<Uid>{2, 3, 1, 4}));
  EXPECT_EQ(sorted(id, by({{K::kDate}})), (std::vector<Uid>{4, 2, 3, 1}));
  EXPECT_EQ(sorted(id, by({{K::kSubject}, {K::kDate}})), (std::vector<Uid>{3, 1, 2, 4}));
  backend_->forget_sort_keys();
  auto t = s().thread(kUser, id, key(SearchCriterion::kAll), ThreadAlgorithm::kOrderedSubject);
  // cherry (31 Dec), banana (1 Jan), apple (3, from its internal date 2 Jan; then 1).
  const std::vector<ThreadNode> want{ThreadNode{4, {}}, ThreadNode{2, {}}, ThreadNode{3, {ThreadNode{1, {}}}}};
  EXPECT_EQ(t, want);
}

// Keys go into text columns: NUL and other controls from RFC 2047 words or a
// literal8 APPEND must not make the message unstorable.
TEST_P(SortConformance, ControlOctetsInKeysAreHarmless) {
  s().ensure_account(kUser);
  append_uid("INBOX", "Subject: =?UTF-8?Q?b=00x?=\r\nFrom: =?UTF-8?Q?=00=01Al=07?= <a\x01@example.test>\r\n\r\nx\r\n");
  AppendItem raw = item(std::string_view("Subject: a\0\x7f\xff\r\nFrom: \"z\0\" <z@x>\r\n\r\nx", 36));
  raw.binary = true;
  ASSERT_EQ(s().append(kUser, "INBOX", {raw}).error, StoreError::kNone);
  const MailboxId id = box("INBOX").mailbox_id;
  EXPECT_EQ(sorted(id, by({{SortKey::kSubject}})), (std::vector<Uid>{2, 1}));
  EXPECT_EQ(sorted(id, by({{SortKey::kDisplayFrom}})), (std::vector<Uid>{1, 2}));  // "al" before "z"
  EXPECT_EQ(s().thread(kUser, id, key(SearchCriterion::kAll), ThreadAlgorithm::kReferences).size(), 2u);
}

TEST_P(SortConformance, DatesCompareInUtc) {
  s().ensure_account(kUser);
  // 01:00 +0200 on 1 Jan is 23:00 UTC on 31 Dec: before 23:30 +0000.
  append_uid("INBOX", "Subject: a\r\nDate: Mon, 1 Jan 2024 01:00:00 +0200\r\n\r\nx\r\n");
  append_uid("INBOX", "Subject: b\r\nDate: Sun, 31 Dec 2023 23:30:00 +0000\r\n\r\nx\r\n");
  append_uid("INBOX", "Subject: c\r\nDate: Sun, 31 Dec 2023 18:00:00 EST\r\n\r\nx\r\n");  // 23:00Z + 0
  const MailboxId id = box("INBOX").mailbox_id;
  EXPECT_EQ(sorted(id, by({{SortKey::kDate}})), (std::vector<Uid>{1, 3, 2}));
  EXPECT_EQ(sorted(id, by({{SortKey::kDate, true}})), (std::vector<Uid>{2, 1, 3}));
}

class ThreadConformance : public MailStoreConformance {
 protected:
  static std::string msg(const std::string& id, const std::string& refs, const std::string& subject, int day) {
    std::string m;
    if (!id.empty()) m += "Message-ID: <" + id + ">\r\n";
    m += refs;
    m += "Subject: " + subject + "\r\nDate: " + std::to_string(day) + " Jan 2024 12:00:00 +0000\r\n\r\nx\r\n";
    return m;
  }
  MailboxId conversation() {
    s().ensure_account(kUser);
    append_uid("INBOX", msg("a@x", "", "Meeting", 1));                                        // 1
    append_uid("INBOX", msg("b@x", "In-Reply-To: <a@x>\r\n", "Re: Meeting", 3));              // 2
    append_uid("INBOX", msg("c@x", "References: <a@x> <b@x>\r\n", "Re: Meeting", 4));         // 3
    append_uid("INBOX", msg("d@x", "References: <a@x>\r\n", "RE: [list] Meeting", 2));        // 4: sent before 2
    append_uid("INBOX", msg("e@x", "", "Lunch", 5));                                          // 5
    append_uid("INBOX", msg("f@x", "References: <zz@x>\r\n", "Re: Party", 6));                // 6: parent never arrived
    append_uid("INBOX", msg("g@x", "References: <zz@x>\r\n", "Re: Party", 7));                // 7
    append_uid("INBOX", msg("", "", "Re: Lunch", 8));                                         // 8: no Message-ID
    append_uid("INBOX", msg("h@x", "", "lunch", 9));                                          // 9: a second Lunch
    return box("INBOX").mailbox_id;
  }
  static ThreadNode n(Uid uid, std::vector<ThreadNode> children = {}) { return ThreadNode{uid, std::move(children)}; }
};

TEST_P(ThreadConformance, References) {
  const MailboxId id = conversation();
  auto t = s().thread(kUser, id, key(SearchCriterion::kAll), ThreadAlgorithm::kReferences);
  // (1 (4)(2 3)) ((5 8)(9)) ((6)(7)): siblings by sent date; 8 (a reply by
  // subject) joins 5; 9 is no reply, so 5's thread and 9 go under a dummy;
  // the missing <zz@x> stays as a dummy with two children.
  const std::vector<ThreadNode> want{n(1, {n(4), n(2, {n(3)})}), n(0, {n(5, {n(8)}), n(9)}), n(0, {n(6), n(7)})};
  EXPECT_EQ(t, want);
  auto some = s().thread(kUser, id, uid_key({{2, 3}}), ThreadAlgorithm::kReferences);
  EXPECT_EQ(some, (std::vector<ThreadNode>{n(2, {n(3)})}));
}

TEST_P(ThreadConformance, OrderedSubject) {
  const MailboxId id = conversation();
  auto t = s().thread(kUser, id, key(SearchCriterion::kAll), ThreadAlgorithm::kOrderedSubject);
  const std::vector<ThreadNode> want{n(1, {n(4), n(2), n(3)}), n(5, {n(8), n(9)}), n(6, {n(7)})};
  EXPECT_EQ(t, want);
}

TEST_P(ThreadConformance, LoopsAndDuplicateIdsAreHarmless) {
  s().ensure_account(kUser);
  append_uid("INBOX", msg("a@x", "References: <b@x>\r\n", "x", 1));  // a under b
  append_uid("INBOX", msg("b@x", "References: <a@x>\r\n", "y", 2));  // b under a: would loop
  append_uid("INBOX", msg("a@x", "", "z", 3));                       // the same id again
  append_uid("INBOX", msg("s@x", "References: <s@x>\r\n", "w", 4));  // itself
  const MailboxId id = box("INBOX").mailbox_id;
  auto t = s().thread(kUser, id, key(SearchCriterion::kAll), ThreadAlgorithm::kReferences);
  size_t count = 0;
  std::function<void(const ThreadNode&)> walk = [&](const ThreadNode& x) {
    if (x.uid) ++count;
    for (const auto& c : x.children) walk(c);
  };
  for (const auto& x : t) walk(x);
  EXPECT_EQ(count, 4u) << "every message exactly once";
}

// ---- METADATA (RFC 5464) ------------------------------------------------------

std::vector<std::string> entry_names(const MetadataResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.entries) out.push_back(e.entry);
  return out;
}

MetadataUpdate set(std::string entry, std::string value) { return MetadataUpdate{std::move(entry), std::move(value)}; }
MetadataUpdate nil(std::string entry) { return MetadataUpdate{std::move(entry), std::nullopt}; }

// ---- URLAUTH access keys (RFC 4467) ----------------------------------------------

TEST_P(MailStoreConformance, UrlauthKeysAreMadeOnceResetAndGoWithTheMailbox) {
  s().ensure_account(kUser);
  s().ensure_account(kOther);
  EXPECT_EQ(s().urlauth_key(kUser, "INBOX", false), std::nullopt) << "no key before the first GENURLAUTH";
  auto key = s().urlauth_key(kUser, "INBOX", true);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->size(), kUrlauthKeyOctets);
  EXPECT_EQ(s().urlauth_key(kUser, "inbox", true), key) << "made once; INBOX is case-insensitive";
  EXPECT_EQ(s().urlauth_key(kUser, "INBOX", false), key);
  EXPECT_EQ(s().urlauth_key(kOther, "INBOX", false), std::nullopt) << "per user";
  auto other = s().urlauth_key(kOther, "INBOX", true);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(other, key);
  auto sent = s().urlauth_key(kUser, "Sent", true);
  ASSERT_TRUE(sent.has_value());
  EXPECT_NE(sent, key) << "per mailbox";
  EXPECT_EQ(s().urlauth_key(kUser, "Nope", true), std::nullopt) << "no such mailbox";

  // RESETKEY of one mailbox forgets that key only; the next one is new.
  EXPECT_TRUE(s().reset_urlauth_keys(kUser, "INBOX"));
  EXPECT_EQ(s().urlauth_key(kUser, "INBOX", false), std::nullopt);
  EXPECT_EQ(s().urlauth_key(kUser, "Sent", false), sent);
  auto again = s().urlauth_key(kUser, "INBOX", true);
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(again, key);
  EXPECT_FALSE(s().reset_urlauth_keys(kUser, "Nope"));
  // RESETKEY without a mailbox: all of the user's, nobody else's.
  EXPECT_TRUE(s().reset_urlauth_keys(kUser, ""));
  EXPECT_EQ(s().urlauth_key(kUser, "INBOX", false), std::nullopt);
  EXPECT_EQ(s().urlauth_key(kUser, "Sent", false), std::nullopt);
  EXPECT_EQ(s().urlauth_key(kOther, "INBOX", false), other);

  // RENAME keeps the key; DELETE takes it, and a new mailbox of that name starts without.
  ASSERT_EQ(s().create_mailbox(kUser, "Drafts2"), StoreError::kNone);
  auto drafts = s().urlauth_key(kUser, "Drafts2", true);
  ASSERT_EQ(s().rename_mailbox(kUser, "Drafts2", "Drafts3"), StoreError::kNone);
  EXPECT_EQ(s().urlauth_key(kUser, "Drafts3", false), drafts);
  ASSERT_EQ(s().delete_mailbox(kUser, "Drafts3"), StoreError::kNone);
  ASSERT_EQ(s().create_mailbox(kUser, "Drafts3"), StoreError::kNone);
  EXPECT_EQ(s().urlauth_key(kUser, "Drafts3", false), std::nullopt);
}

TEST_P(MailStoreConformance, MetadataSetGetAndRemove) {
  s().ensure_account(kUser);
  EXPECT_EQ(s().set_metadata(kUser, "INBOX", {set("/private/comment", "My comment"), set("/shared/comment", "Shared")}),
            MetadataError::kNone);
  auto r = s().get_metadata(kUser, "INBOX", {"/private/comment", "/shared/comment", "/private/nothing"},
                            MetadataDepth::kZero);
  EXPECT_EQ(r.error, MetadataError::kNone);
  EXPECT_EQ(r.entries, (std::vector<MetadataEntry>{{"/private/comment", "My comment"}, {"/shared/comment", "Shared"}}));
  EXPECT_EQ(r.longest_omitted, 0u);
  // Names are case-insensitive and stored lower-cased; a value is replaced.
  EXPECT_EQ(s().set_metadata(kUser, "inbox", {set("/PRIVATE/Comment", "Changed")}), MetadataError::kNone);
  r = s().get_metadata(kUser, "INBOX", {"/Private/COMMENT"}, MetadataDepth::kZero);
  EXPECT_EQ(r.entries, (std::vector<MetadataEntry>{{"/private/comment", "Changed"}}));
  // NIL removes; removing what is not there is fine.
  EXPECT_EQ(s().set_metadata(kUser, "INBOX", {nil("/private/comment"), nil("/private/never")}), MetadataError::kNone);
  r = s().get_metadata(kUser, "INBOX", {"/private/comment", "/shared/comment"}, MetadataDepth::kZero);
  EXPECT_EQ(entry_names(r), (std::vector<std::string>{"/shared/comment"}));
  // A repeated entry takes its last value.
  EXPECT_EQ(s().set_metadata(kUser, "INBOX", {set("/private/x", "1"), nil("/private/x"), set("/private/x", "3")}),
            MetadataError::kNone);
  EXPECT_EQ(s().get_metadata(kUser, "INBOX", {"/private/x"}, MetadataDepth::kZero).entries,
            (std::vector<MetadataEntry>{{"/private/x", "3"}}));
}

TEST_P(MailStoreConformance, MetadataValuesAreOctetsAndServerEntriesAreSeparate) {
  s().ensure_account(kUser);
  const std::string binary("a\0b\r\n\xff\x80z", 8);
  EXPECT_EQ(s().set_metadata(kUser, "", {set("/private/blob", binary), set("/shared/comment", "server")}),
            MetadataError::kNone);
  EXPECT_EQ(s().set_metadata(kUser, "Sent", {set("/shared/comment", "sent")}), MetadataError::kNone);
  EXPECT_EQ(s().get_metadata(kUser, "", {"/private/blob"}, MetadataDepth::kZero).entries,
            (std::vector<MetadataEntry>{{"/private/blob", binary}}));
  EXPECT_EQ(s().get_metadata(kUser, "", {"/shared/comment"}, MetadataDepth::kZero).entries,
            (std::vector<MetadataEntry>{{"/shared/comment", "server"}}));
  EXPECT_EQ(s().get_metadata(kUser, "Sent", {"/shared/comment"}, MetadataDepth::kZero).entries,
            (std::vector<MetadataEntry>{{"/shared/comment", "sent"}}));
  EXPECT_TRUE(s().get_metadata(kUser, "INBOX", {"/shared/comment"}, MetadataDepth::kZero).entries.empty());
  // Another user sees none of it, /shared included (no sharing in Postline).
  s().ensure_account(kOther);
  EXPECT_TRUE(s().get_metadata(kOther, "", {"/shared", "/private"}, MetadataDepth::kInfinity).entries.empty());
  EXPECT_TRUE(s().get_metadata(kOther, "Sent", {"/shared"}, MetadataDepth::kInfinity).entries.empty());
  // A user with no account yet has no server entries (and no mailboxes).
  EXPECT_EQ(s().get_metadata(999, "", {"/shared"}, MetadataDepth::kInfinity).error, MetadataError::kNone);
  EXPECT_EQ(s().get_metadata(999, "INBOX", {"/shared"}, MetadataDepth::kInfinity).error,
            MetadataError::kNoSuchMailbox);
}

TEST_P(MailStoreConformance, MetadataDepth) {
  s().ensure_account(kUser);
  ASSERT_EQ(s().set_metadata(kUser, "INBOX",
                             {set("/private/a", "1"), set("/private/a/b", "2"), set("/private/a/b/c", "3"),
                              set("/private/ab", "4"), set("/shared/a", "5")}),
            MetadataError::kNone);
  EXPECT_EQ(entry_names(s().get_metadata(kUser, "INBOX", {"/private/a"}, MetadataDepth::kZero)),
            (std::vector<std::string>{"/private/a"}));
  EXPECT_EQ(entry_names(s().get_metadata(kUser, "INBOX", {"/private/a"}, MetadataDepth::kOne)),
            (std::vector<std::string>{"/private/a", "/private/a/b"}));
  EXPECT_EQ(entry_names(s().get_metadata(kUser, "INBOX", {"/private/a"}, MetadataDepth::kInfinity)),
            (std::vector<std::string>{"/private/a", "/private/a/b", "/private/a/b/c"}));
  // The requested entry need not exist itself; overlapping requests list each entry once.
  EXPECT_EQ(entry_names(s().get_metadata(kUser, "INBOX", {"/private", "/private/a"}, MetadataDepth::kOne)),
            (std::vector<std::string>{"/private/a", "/private/a/b", "/private/ab"}));
  EXPECT_EQ(entry_names(s().get_metadata(kUser, "INBOX", {"/shared", "/private"}, MetadataDepth::kInfinity)).size(),
            5u);
}

TEST_P(MailStoreConformance, MetadataMaxsizeLeavesOutLargerValues) {
  s().ensure_account(kUser);
  ASSERT_EQ(s().set_metadata(kUser, "INBOX",
                             {set("/private/small", "12345"), set("/private/big", std::string(2199, 'x')),
                              set("/private/mid", std::string(100, 'y'))}),
            MetadataError::kNone);
  auto r = s().get_metadata(kUser, "INBOX", {"/private"}, MetadataDepth::kOne, 100);
  EXPECT_EQ(entry_names(r), (std::vector<std::string>{"/private/mid", "/private/small"}));
  EXPECT_EQ(r.longest_omitted, 2199u);
  r = s().get_metadata(kUser, "INBOX", {"/private"}, MetadataDepth::kOne, 0);
  EXPECT_TRUE(r.entries.empty());
  EXPECT_EQ(r.longest_omitted, 2199u);
  r = s().get_metadata(kUser, "INBOX", {"/private"}, MetadataDepth::kOne);
  EXPECT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.longest_omitted, 0u);
}

TEST_P(MailStoreConformance, MetadataLimitsRefuseTheWholeChange) {
  s().ensure_account(kUser);
  // A value over the limit: nothing of the command is written.
  EXPECT_EQ(s().set_metadata(kUser, "INBOX",
                             {set("/private/ok", "fine"),
                              set("/private/big", std::string(kMaxMetadataValueOctets + 1, 'x'))}),
            MetadataError::kTooLarge);
  EXPECT_EQ(s().set_metadata(kUser, "INBOX", {set("/private/max", std::string(kMaxMetadataValueOctets, 'x'))}),
            MetadataError::kNone);
  EXPECT_EQ(entry_names(s().get_metadata(kUser, "INBOX", {"/private"}, MetadataDepth::kOne)),
            (std::vector<std::string>{"/private/max"}));
  // Up to kMaxMetadataEntries per mailbox; one more is refused, all or nothing.
  std::vector<MetadataUpdate> many;
  for (size_t i = 1; i < kMaxMetadataEntries; ++i) many.push_back(set("/private/e" + std::to_string(i), "v"));
  ASSERT_EQ(s().set_metadata(kUser, "INBOX", many), MetadataError::kNone);
  EXPECT_EQ(s().set_metadata(kUser, "INBOX", {nil("/private/e1"), set("/private/x", "v"), set("/private/y", "v")}),
            MetadataError::kTooMany);
  auto r = s().get_metadata(kUser, "INBOX", {"/private"}, MetadataDepth::kOne);
  EXPECT_EQ(r.entries.size(), kMaxMetadataEntries);
  const auto names = entry_names(r);
  EXPECT_EQ(std::count(names.begin(), names.end(), "/private/e1"), 1);
  // Replacing and swapping entries at the limit works; so does removal.
  EXPECT_EQ(s().set_metadata(kUser, "INBOX", {set("/private/e2", "new"), nil("/private/e3"), set("/private/z", "v")}),
            MetadataError::kNone);
  EXPECT_EQ(s().set_metadata(kUser, "INBOX", {nil("/private/e4")}), MetadataError::kNone);
  // The limit is per mailbox: the server entries and Sent have their own.
  EXPECT_EQ(s().set_metadata(kUser, "Sent", {set("/private/x", "v")}), MetadataError::kNone);
  EXPECT_EQ(s().set_metadata(kUser, "", many), MetadataError::kNone);
  EXPECT_EQ(s().set_metadata(kUser, "", {set("/private/x", "v"), set("/private/y", "v")}), MetadataError::kTooMany);
}

TEST_P(MailStoreConformance, MetadataChangesAreAnnouncedAfterTheyCommit) {
  s().ensure_account(kUser);
  Events events;
  s().start_change_feed(events.callback());
  const MailboxId sent = box("Sent").mailbox_id;
  ASSERT_EQ(s().set_metadata(kUser, "Sent", {set("/private/B", "1"), nil("/shared/a")}), MetadataError::kNone);
  ASSERT_EQ(s().set_metadata(kUser, "", {set("/private/comment", "x")}), MetadataError::kNone);
  // Refused changes announce nothing.
  EXPECT_EQ(s().set_metadata(kUser, "Nope", {set("/private/x", "1")}), MetadataError::kNoSuchMailbox);
  auto metadata_events = [&](const std::vector<ChangeEvent>& all) {
    std::vector<ChangeEvent> out;
    for (const auto& e : all)
      if (e.kind == ChangeKind::kMetadata) out.push_back(e);
    return out;
  };
  ASSERT_TRUE(events.wait([&](const std::vector<ChangeEvent>& all) { return metadata_events(all).size() >= 2; }));
  auto got = metadata_events(events.all());
  ASSERT_EQ(got.size(), 2u);
  std::sort(got.begin(), got.end(),
            [](const ChangeEvent& a, const ChangeEvent& b) { return a.mailbox_id > b.mailbox_id; });
  EXPECT_EQ(got[0].user_id, kUser);
  EXPECT_EQ(got[0].mailbox_id, sent);
  EXPECT_EQ(got[0].name, "Sent");
  EXPECT_EQ(got[0].entries, (std::vector<std::string>{"/private/b", "/shared/a"}));
  EXPECT_EQ(got[1].mailbox_id, 0);
  EXPECT_EQ(got[1].name, "");
  EXPECT_EQ(got[1].entries, (std::vector<std::string>{"/private/comment"}));
}

TEST_P(MailStoreConformance, MetadataFollowsRenameAndGoesWithDelete) {
  s().ensure_account(kUser);
  ASSERT_EQ(s().create_mailbox(kUser, "Projects/Alpha"), StoreError::kNone);
  ASSERT_EQ(s().set_metadata(kUser, "Projects/Alpha", {set("/private/comment", "alpha")}), MetadataError::kNone);
  ASSERT_EQ(s().set_metadata(kUser, "Projects", {set("/private/comment", "parent")}), MetadataError::kNone);
  ASSERT_EQ(s().rename_mailbox(kUser, "Projects", "Work"), StoreError::kNone);
  EXPECT_EQ(s().get_metadata(kUser, "Projects/Alpha", {"/private/comment"}, MetadataDepth::kZero).error,
            MetadataError::kNoSuchMailbox);
  EXPECT_EQ(s().get_metadata(kUser, "Work/Alpha", {"/private/comment"}, MetadataDepth::kZero).entries,
            (std::vector<MetadataEntry>{{"/private/comment", "alpha"}}));
  EXPECT_EQ(s().get_metadata(kUser, "Work", {"/private/comment"}, MetadataDepth::kZero).entries,
            (std::vector<MetadataEntry>{{"/private/comment", "parent"}}));
  // DELETE takes the annotations along; a new mailbox of that name starts empty.
  ASSERT_EQ(s().delete_mailbox(kUser, "Work/Alpha"), StoreError::kNone);
  EXPECT_EQ(s().set_metadata(kUser, "Work/Alpha", {set("/private/comment", "x")}), MetadataError::kNoSuchMailbox);
  ASSERT_EQ(s().create_mailbox(kUser, "Work/Alpha"), StoreError::kNone);
  EXPECT_TRUE(s().get_metadata(kUser, "Work/Alpha", {"/private"}, MetadataDepth::kInfinity).entries.empty());
  // RENAME INBOX moves the messages to a new mailbox; INBOX keeps its annotations.
  ASSERT_EQ(s().set_metadata(kUser, "INBOX", {set("/private/comment", "inbox")}), MetadataError::kNone);
  ASSERT_EQ(s().rename_mailbox(kUser, "INBOX", "Old"), StoreError::kNone);
  EXPECT_EQ(entry_names(s().get_metadata(kUser, "INBOX", {"/private/comment"}, MetadataDepth::kZero)),
            (std::vector<std::string>{"/private/comment"}));
  EXPECT_TRUE(s().get_metadata(kUser, "Old", {"/private"}, MetadataDepth::kInfinity).entries.empty());
  // The server entries are not a mailbox's: they survive all of this.
  EXPECT_EQ(s().set_metadata(kUser, "", {set("/private/comment", "server")}), MetadataError::kNone);
  ASSERT_EQ(s().delete_mailbox(kUser, "Old"), StoreError::kNone);
  EXPECT_EQ(s().get_metadata(kUser, "", {"/private/comment"}, MetadataDepth::kZero).entries.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Store, MailStoreConformance, ::testing::ValuesIn(backends()),
                         [](const ::testing::TestParamInfo<BackendFactory>& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Store, SortConformance, ::testing::ValuesIn(backends()),
                         [](const ::testing::TestParamInfo<BackendFactory>& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Store, ThreadConformance, ::testing::ValuesIn(backends()),
                         [](const ::testing::TestParamInfo<BackendFactory>& info) { return info.param.name; });

// ---- what only the in-memory store promises ----------------------------------------------

#if defined(POSTLINE_CONFORMANCE_MEMORY)

TEST(MemoryMailStore, ChangeEventsArriveBeforeTheWriteReturnsAndCallbacksMayWrite) {
  MemoryMailStore store;
  store.ensure_account(kUser);
  std::vector<ChangeEvent> seen;
  store.start_change_feed([&](const ChangeEvent& e) {
    seen.push_back(e);
    // A callback may call the store, also to write: its own event comes next.
    if (e.kind == ChangeKind::kCreated && e.name == "Auto") {
      EXPECT_EQ(store.subscribe(kUser, "Auto"), StoreError::kNone);
    }
    EXPECT_TRUE(store.find_mailbox(kUser, "INBOX"));
  });
  ASSERT_EQ(store.create_mailbox(kUser, "Auto"), StoreError::kNone);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, ChangeKind::kCreated);
  EXPECT_EQ(seen[1].kind, ChangeKind::kSubscribed);
  const std::string m = kMsg;
  auto r = store.append(kUser, "INBOX", {item(m)});
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].mailbox_id, r.mailbox_id);
  EXPECT_EQ(seen[2].modseq, store.find_mailbox(kUser, "INBOX")->highestmodseq);
  store.stop_change_feed();
  store.append(kUser, "INBOX", {item(m)});
  EXPECT_EQ(seen.size(), 3u);
}

TEST(MemoryMailStore, TheInjectedClockDatesMessagesAndAgesHistory) {
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  MemoryMailStore store([&] { return now; });
  store.ensure_account(kUser);
  const std::string m = kMsg;
  auto r = store.append(kUser, "INBOX", {item(m, Flags{kDeleted, {}})});
  auto recs = store.read_messages(kUser, r.mailbox_id, r.uids, kFieldInternalDate | kFieldSaveDate);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].internaldate, 1'800'000'000);
  EXPECT_EQ(recs[0].savedate, 1'800'000'000);
  store.expunge(kUser, r.mailbox_id, std::nullopt);
  now += std::chrono::hours(24);
  EXPECT_EQ(store.prune_expunged(std::chrono::hours(24), 10).deleted, 0) << "exactly max_age is not older";
  now += std::chrono::seconds(1);
  EXPECT_EQ(store.prune_expunged(std::chrono::hours(24), 10).deleted, 1);
  using K = SearchCriterion;
  EXPECT_EQ(store.search(kUser, r.mailbox_id, key(K::kAll)).size(), 0u);
  auto r2 = store.append(kUser, "INBOX", {item(m)});
  now += std::chrono::seconds(100);
  EXPECT_EQ(store.search(kUser, r2.mailbox_id, key(K::kOlder, 100)).size(), 1u);
  EXPECT_EQ(store.search(kUser, r2.mailbox_id, key(K::kOlder, 101)).size(), 0u);
  EXPECT_EQ(store.search(kUser, r2.mailbox_id, key(K::kYounger, 100)).size(), 1u);
  EXPECT_EQ(store.search(kUser, r2.mailbox_id, key(K::kYounger, 99)).size(), 0u);
}

TEST(MemoryMailStore, OpenSharesTheSnapshotUntilTheMailboxChanges) {
  MemoryMailStore store;
  store.ensure_account(kUser);
  const std::string m = kMsg;
  store.append(kUser, "INBOX", {item(m)});
  auto a = store.open(kUser, "INBOX").index;
  EXPECT_EQ(store.open(kUser, "INBOX").index.get(), a.get());
  store.append(kUser, "Sent", {item(m)});  // another mailbox
  EXPECT_EQ(store.open(kUser, "INBOX").index.get(), a.get());
  store.store_flags(kUser, a->info.mailbox_id, {1}, FlagMode::kAdd, Flags{kSeen, {}});
  auto b = store.open(kUser, "INBOX").index;
  EXPECT_NE(b.get(), a.get());
  EXPECT_EQ(a->entries[0].system, 0);
  EXPECT_EQ(b->entries[0].system, kSeen);
}

#endif

}  // namespace
