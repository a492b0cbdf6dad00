#include "common/mailstore/memory/memory_mail_store.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/threading.h"

#include <algorithm>
#include <climits>

namespace postline::mailstore {

namespace {
// Copies (the store's bytes may change under a later write), owned by the set.
BodySet as_body_set(std::shared_ptr<std::vector<std::optional<std::string>>> owned) {
  std::vector<std::optional<std::string_view>> views;
  views.reserve(owned->size());
  for (const auto& b : *owned) views.push_back(b ? std::optional<std::string_view>(*b) : std::nullopt);
  return BodySet(std::move(views), std::move(owned));
}
}  // namespace

namespace {

using TimePoint = std::chrono::system_clock::time_point;

// The store whose change feed this thread is delivering (its callback's own
// writes are queued and delivered by that loop, after the current event).
thread_local const void* t_dispatching = nullptr;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t day_of(int64_t unix_seconds) { return floor_div(unix_seconds, 86400); }

// Keywords as the SQL keeps them: sorted bytewise, distinct.
std::vector<std::string> normal_keywords(std::vector<std::string> k) {
  std::sort(k.begin(), k.end());
  k.erase(std::unique(k.begin(), k.end()), k.end());
  return k;
}

std::vector<std::string> keywords_union(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return normal_keywords(std::move(out));
}

std::vector<std::string> keywords_minus(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (const auto& k : a)
    if (std::find(b.begin(), b.end(), k) == b.end()) out.push_back(k);
  return normal_keywords(std::move(out));
}

bool contains(std::string_view text, std::string_view key) { return text.find(key) != std::string_view::npos; }

// "a/b/c" -> "a", "a/b" (superiors, outermost first).
std::vector<std::string> superiors(const std::string& name) {
  std::vector<std::string> out;
  for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
    out.push_back(name.substr(0, slash));
  return out;
}

bool is_inferior(const std::string& name, const std::string& of) {
  return name.size() > of.size() && name.compare(0, of.size(), of) == 0 && name[of.size()] == '/';
}

// SEARCH text semantics as pg/search_sql.cpp compiles them (search_text is
// what search_index_of() computed; keys are folded by fold_search_key).
struct Matcher {
  int64_t now = 0;

  template <typename M>
  bool match(const SearchCriterion& k, const M& m, const std::string& text) const {
    using K = SearchCriterion;
    switch (k.kind) {
      case K::kAll: return true;
      case K::kNone: return false;
      case K::kAnd:
        for (const auto& c : k.children)
          if (!match(c, m, text)) return false;
        return true;
      case K::kOr:
        for (const auto& c : k.children)
          if (match(c, m, text)) return true;
        return false;
      case K::kNot: return !match(k.children.at(0), m, text);
      case K::kSystemFlag: return (m.system & k.number) != 0;
      case K::kKeyword: return std::find(m.keywords.begin(), m.keywords.end(), k.text) != m.keywords.end();
      case K::kBefore: return day_of(m.internaldate) < k.number;
      case K::kOn: return day_of(m.internaldate) == k.number;
      case K::kSince: return day_of(m.internaldate) >= k.number;
      case K::kSentBefore: return m.sent_day && *m.sent_day < k.number;
      case K::kSentOn: return m.sent_day && *m.sent_day == k.number;
      case K::kSentSince: return m.sent_day && *m.sent_day >= k.number;
      case K::kSavedBefore: return day_of(m.savedate) < k.number;
      case K::kSavedOn: return day_of(m.savedate) == k.number;
      case K::kSavedSince: return day_of(m.savedate) >= k.number;
      case K::kOlder: return m.internaldate <= now - k.number;
      case K::kYounger: return m.internaldate >= now - k.number;
      case K::kLarger: return m.size > k.number;
      case K::kSmaller: return m.size < k.number;
      case K::kModseq: return m.modseq >= k.number;
      case K::kEmailId: return m.email_id == k.text;
      case K::kThreadId: return !m.thread_id.empty() && m.thread_id == k.text;
      case K::kUids:
        for (auto [lo, hi] : k.uid_ranges)
          if (m.uid >= lo && m.uid <= hi) return true;
        return false;
      case K::kText: {
        const std::string v = fold_search_key(k.text);
        return v.empty() || contains(text, v);
      }
      case K::kBody: {
        const std::string v = fold_search_key(k.text);
        if (v.empty()) return true;
        // After the first blank line (the whole text when there is none, as
        // PostgreSQL's substr(t, strpos(t, '\n\n')) gives), before the parts'
        // MIME headers (kSearchPartsMarker).
        const size_t blank = text.find("\n\n");
        std::string_view body = std::string_view(text).substr(blank == std::string::npos ? 0 : blank);
        body = body.substr(0, body.find(kSearchPartsMarker));
        return contains(body, v);
      }
      case K::kHeader: {
        // A line "field:..." of the search text whose rest contains the value
        // (the SQL's regex (^|\n)field:[^\n]*value); empty value: the field is there.
        // Only the message's own header (before the first blank line): not
        // header-like lines in the body, nor the headers of parts or embedded
        // messages (RFC 9051 6.4.4).
        const std::string field = fold_search_key(k.field) + ":", v = fold_search_key(k.text);
        std::string_view t = text;
        t = t.substr(0, t.find("\n\n"));
        for (size_t start = 0; start <= t.size();) {
          size_t end = t.find('\n', start);
          if (end == std::string_view::npos) end = t.size();
          std::string_view line = t.substr(start, end - start);
          if (line.substr(0, field.size()) == field && contains(line.substr(field.size()), v)) return true;
          start = end + 1;
        }
        return false;
      }
    }
    return false;
  }
};

}  // namespace

MemoryMailStore::MemoryMailStore(Clock clock) : clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

MemoryMailStore::~MemoryMailStore() = default;

int64_t MemoryMailStore::now_seconds() const {
  return std::chrono::floor<std::chrono::seconds>(clock_().time_since_epoch()).count();
}

size_t MemoryMailStore::stored_blobs() const {
  std::lock_guard lock(mu_);
  return blobs_.size();
}

// ---- change feed ----

void MemoryMailStore::post(std::vector<ChangeEvent> events) {
  if (!callback_) return;
  for (auto& e : events) pending_.push_back(std::move(e));
}

void MemoryMailStore::dispatch() {
  if (t_dispatching == this) return;  // a write from inside our callback: the loop below delivers it next
  std::lock_guard dispatching(dispatch_mu_);
  const void* outer = t_dispatching;
  t_dispatching = this;
  for (;;) {
    ChangeEvent e;
    ChangeCallback cb;
    {
      std::lock_guard lock(mu_);
      if (pending_.empty()) break;
      e = std::move(pending_.front());
      pending_.pop_front();
      cb = callback_;
    }
    if (cb) {
      try {
        cb(e);
      } catch (...) {
        t_dispatching = outer;
        throw;
      }
    }
  }
  t_dispatching = outer;
}

void MemoryMailStore::start_change_feed(ChangeCallback callback) {
  std::lock_guard lock(mu_);
  callback_ = std::move(callback);
}

void MemoryMailStore::stop_change_feed() {
  {
    std::lock_guard lock(mu_);
    callback_ = nullptr;
    pending_.clear();
  }
  // Once this returns no callback runs any more (unless called from one).
  if (t_dispatching != this) std::lock_guard wait_for_dispatch(dispatch_mu_);
}

// ---- helpers (under mu_) ----

MemoryMailStore::Mailbox* MemoryMailStore::by_id(UserId user, MailboxId id) {
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return nullptr;
  for (auto& [name, mb] : a->second.mailboxes)
    if (mb.info.mailbox_id == id) return &mb;
  return nullptr;
}

MemoryMailStore::Mailbox& MemoryMailStore::add_mailbox(Account& a, const std::string& name, const char* special_use) {
  Mailbox mb;
  mb.info.mailbox_id = next_mailbox_id_++;
  mb.info.name = name;
  if (special_use && *special_use) mb.info.special_use = special_use;
  // A sequence that never goes back (and cycles within 32 bits, never 0),
  // like mailstore_uidvalidity_seq: DELETE + CREATE never reuses a value.
  mb.info.uidvalidity = next_uidvalidity_;
  next_uidvalidity_ = next_uidvalidity_ >= 4294967295LL ? 1 : next_uidvalidity_ + 1;
  return a.mailboxes.emplace(name, std::move(mb)).first->second;
}

void MemoryMailStore::ensure_account_locked(UserId user) {
  Account& a = account(user);
  if (a.created) return;
  a.created = true;
  for (const auto& d : default_mailboxes()) {
    if (!a.mailboxes.count(d.name)) add_mailbox(a, d.name, d.special_use);
    a.subscriptions.insert(d.name);
  }
}

Usage MemoryMailStore::usage_locked(UserId user) {
  Usage u;
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return u;
  for (const auto& [name, mb] : a->second.mailboxes) {
    u.bytes += mb.total_bytes;
    u.messages += static_cast<int64_t>(mb.messages.size());
  }
  return u;
}

std::vector<Uid> MemoryMailStore::expunged_since_locked(const Mailbox& mb, Modseq since) const {
  std::vector<Uid> out;
  if (since >= mb.pruned_horizon) {
    for (const auto& [uid, rec] : mb.expunged)
      if (rec.modseq > since) out.push_back(uid);
    return out;
  }
  // History was pruned above `since`: every UID below UIDNEXT that is gone.
  for (int64_t uid = 1; uid < mb.info.uidnext; ++uid)
    if (!mb.messages.count(static_cast<Uid>(uid))) out.push_back(static_cast<Uid>(uid));
  return out;
}

void MemoryMailStore::insert_message(Mailbox& mb, Message m) {
  mb.total_bytes += m.size;
  const Uid uid = m.uid;
  mb.messages[uid] = std::move(m);
  mb.snapshot.reset();
}

void MemoryMailStore::remove_message(Mailbox& mb, Uid uid, Modseq modseq) {
  auto it = mb.messages.find(uid);
  if (it == mb.messages.end()) return;
  mb.total_bytes -= it->second.size;
  mb.messages.erase(it);
  mb.expunged[uid] = ExpungedRecord{modseq, clock_()};
  mb.snapshot.reset();
}

namespace {
// The message row a prepared message becomes (flags and dates by the caller).
template <typename Message>
Message message_from(const PreparedMessage& p) {
  Message m;
  m.size = static_cast<int64_t>(p.meta.size);
  m.header_size = static_cast<int64_t>(p.meta.header_size);
  m.blob = p.key;
  m.structure = p.meta.structure;
  m.header = p.header;
  if (!p.meta.preview.empty()) m.preview = p.meta.preview;  // PostgreSQL stores an empty preview as NULL
  m.email_id = p.email_id;
  m.thread_id = thread_id_of(p.meta.sort).value_or("");
  m.sent_day = p.meta.sent_day;
  return m;
}
}  // namespace

// ---- accounts and mailboxes ----

void MemoryMailStore::ensure_account(UserId user) {
  std::lock_guard lock(mu_);
  ensure_account_locked(user);
}

MailboxList MemoryMailStore::list(UserId user) {
  std::lock_guard lock(mu_);
  MailboxList out;
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return out;
  for (const auto& [name, mb] : a->second.mailboxes) out.mailboxes.push_back(mb.info);
  out.subscriptions.assign(a->second.subscriptions.begin(), a->second.subscriptions.end());
  return out;
}

std::optional<MailboxInfo> MemoryMailStore::find_mailbox(UserId user, const std::string& name) {
  std::lock_guard lock(mu_);
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return std::nullopt;
  auto it = a->second.mailboxes.find(normalize_mailbox_name(name));
  if (it == a->second.mailboxes.end()) return std::nullopt;
  return it->second.info;
}

std::vector<MailboxStatus> MemoryMailStore::status(UserId user, const std::vector<std::string>& names) {
  std::set<std::string> wanted;
  for (const auto& n : names) wanted.insert(normalize_mailbox_name(n));
  std::lock_guard lock(mu_);
  std::vector<MailboxStatus> out;
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return out;
  for (const auto& name : wanted) {  // ordered by name, like the mailboxes
    auto it = a->second.mailboxes.find(name);
    if (it == a->second.mailboxes.end()) continue;
    const Mailbox& mb = it->second;
    MailboxStatus st;
    st.info = mb.info;
    st.messages = static_cast<int64_t>(mb.messages.size());
    st.size = mb.total_bytes;
    for (const auto& [uid, m] : mb.messages) {
      if (!(m.system & kSeen)) ++st.unseen;
      if (m.system & kDeleted) ++st.deleted;
      if (uid >= mb.first_recent_uid) ++st.recent;
    }
    out.push_back(std::move(st));
  }
  return out;
}

Usage MemoryMailStore::usage(UserId user) {
  std::lock_guard lock(mu_);
  return usage_locked(user);
}

StoreError MemoryMailStore::create_mailbox(UserId user, const std::string& raw_name) {
  std::string name = normalize_mailbox_name(raw_name);
  while (!name.empty() && name.back() == '/') name.pop_back();  // "foo/" creates "foo" (RFC 9051 6.3.4)
  if (!valid_mailbox_name(name)) return StoreError::kInvalidName;
  {
    std::lock_guard lock(mu_);
    ensure_account_locked(user);
    Account& a = account(user);
    if (a.mailboxes.count(name)) return StoreError::kAlreadyExists;
    std::vector<ChangeEvent> events;
    // Missing superiors are created too, so the hierarchy never has holes.
    for (const auto& parent : superiors(name)) {
      if (a.mailboxes.count(parent)) continue;
      const Mailbox& mb = add_mailbox(a, parent, nullptr);
      events.emplace_back(user, mb.info.mailbox_id, 1, ChangeKind::kCreated, parent);
    }
    const Mailbox& mb = add_mailbox(a, name, nullptr);
    events.emplace_back(user, mb.info.mailbox_id, 1, ChangeKind::kCreated, name);
    post(std::move(events));
  }
  dispatch();
  return StoreError::kNone;
}

StoreError MemoryMailStore::delete_mailbox(UserId user, const std::string& raw_name) {
  const std::string name = normalize_mailbox_name(raw_name);
  if (name == "INBOX") return StoreError::kInboxProtected;
  {
    std::lock_guard lock(mu_);
    Account& a = account(user);
    auto it = a.mailboxes.find(name);
    if (it == a.mailboxes.end()) return StoreError::kNoSuchMailbox;
    // Inferiors sort from "name/" on (names such as "name-x" sort before it).
    auto child = a.mailboxes.lower_bound(name + "/");
    if (child != a.mailboxes.end() && is_inferior(child->first, name)) return StoreError::kHasChildren;
    const MailboxInfo info = it->second.info;
    a.mailboxes.erase(it);  // its messages and expunge history go with it; subscriptions stay (names)
    post({ChangeEvent{user, info.mailbox_id, info.highestmodseq + 1, ChangeKind::kDeleted, name}});
  }
  dispatch();
  return StoreError::kNone;
}

StoreError MemoryMailStore::rename_mailbox(UserId user, const std::string& raw_from, const std::string& raw_to) {
  const std::string from = normalize_mailbox_name(raw_from);
  std::string to = normalize_mailbox_name(raw_to);
  while (!to.empty() && to.back() == '/') to.pop_back();
  if (!valid_mailbox_name(to)) return StoreError::kInvalidName;
  {
    std::lock_guard lock(mu_);
    Account& a = account(user);
    auto src = a.mailboxes.find(from);
    if (src == a.mailboxes.end()) return StoreError::kNoSuchMailbox;
    if (a.mailboxes.count(to)) return StoreError::kAlreadyExists;
    if (is_inferior(to, from)) return StoreError::kInvalidName;
    // The mailbox and its inferiors (not INBOX's: RFC 9051 6.3.6).
    std::vector<std::string> moving;
    if (from != "INBOX") {
      for (auto it = src; it != a.mailboxes.end() && it->first.compare(0, from.size(), from) == 0; ++it)
        if (it->first == from || is_inferior(it->first, from)) moving.push_back(it->first);
      // An inferior's new name may be taken (a delivery creates "a/b" without
      // creating "a"): refused like the name itself.
      const std::set<std::string> moving_set(moving.begin(), moving.end());
      for (const auto& old_name : moving) {
        const std::string new_name = to + old_name.substr(from.size());
        if (a.mailboxes.count(new_name) && !moving_set.count(new_name)) return StoreError::kAlreadyExists;
      }
    }
    std::vector<ChangeEvent> events;
    for (const auto& parent : superiors(to)) {
      if (a.mailboxes.count(parent)) continue;
      const Mailbox& mb = add_mailbox(a, parent, nullptr);
      events.emplace_back(user, mb.info.mailbox_id, 1, ChangeKind::kCreated, parent);
    }
    if (from == "INBOX") {
      // RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox and
      // leaves INBOX empty; INBOX's children are not renamed.
      Mailbox& dest = add_mailbox(a, to, nullptr);
      events.emplace_back(user, dest.info.mailbox_id, 1, ChangeKind::kCreated, to);
      Mailbox& inbox = a.mailboxes.at("INBOX");
      if (!inbox.messages.empty()) {
        const int64_t now = now_seconds();
        const Modseq dmodseq = ++dest.info.highestmodseq;
        const Modseq smodseq = ++inbox.info.highestmodseq;
        std::vector<Uid> uids;
        for (const auto& [uid, m] : inbox.messages) uids.push_back(uid);
        for (Uid uid : uids) {
          Message m = inbox.messages.at(uid);
          m.uid = static_cast<Uid>(dest.info.uidnext++);
          m.modseq = dmodseq;
          m.savedate = now;
          insert_message(dest, std::move(m));
          remove_message(inbox, uid, smodseq);
        }
        events.emplace_back(user, dest.info.mailbox_id, dmodseq);
        events.emplace_back(user, inbox.info.mailbox_id, smodseq);
      }
    } else {
      // The mailbox and its inferiors keep their ids and UIDVALIDITY; only names change.
      std::vector<std::pair<std::string, Mailbox>> renamed;
      for (const auto& old_name : moving) {
        auto node = a.mailboxes.extract(old_name);
        renamed.emplace_back(old_name, std::move(node.mapped()));
      }
      for (auto& [old_name, mb] : renamed) {
        mb.info.name = to + old_name.substr(from.size());
        mb.snapshot.reset();
        events.emplace_back(user, mb.info.mailbox_id, mb.info.highestmodseq, ChangeKind::kRenamed, mb.info.name,
                            old_name);
        std::string key = mb.info.name;
        a.mailboxes.emplace(std::move(key), std::move(mb));
      }
      // Subscriptions follow, unless the new name is subscribed already.
      const std::set<std::string> before = a.subscriptions;
      for (const auto& s : before) {
        if (s != from && !is_inferior(s, from)) continue;
        std::string renamed_to = to + s.substr(from.size());
        if (before.count(renamed_to)) continue;
        a.subscriptions.erase(s);
        a.subscriptions.insert(std::move(renamed_to));
      }
    }
    post(std::move(events));
  }
  dispatch();
  return StoreError::kNone;
}

StoreError MemoryMailStore::subscribe(UserId user, const std::string& raw_name) {
  const std::string name = normalize_mailbox_name(raw_name);
  {
    std::lock_guard lock(mu_);
    Account& a = account(user);
    auto it = a.mailboxes.find(name);
    if (it == a.mailboxes.end()) return StoreError::kNoSuchMailbox;
    a.subscriptions.insert(name);
    post({ChangeEvent{user, it->second.info.mailbox_id, it->second.info.highestmodseq, ChangeKind::kSubscribed, name}});
  }
  dispatch();
  return StoreError::kNone;
}

void MemoryMailStore::unsubscribe(UserId user, const std::string& raw_name) {
  const std::string name = normalize_mailbox_name(raw_name);
  {
    std::lock_guard lock(mu_);
    Account& a = account(user);
    a.subscriptions.erase(name);
    auto it = a.mailboxes.find(name);
    const bool exists = it != a.mailboxes.end();
    post({ChangeEvent{user, exists ? it->second.info.mailbox_id : 0, exists ? it->second.info.highestmodseq : 0,
                      ChangeKind::kUnsubscribed, name}});
  }
  dispatch();
}

// ---- the selected mailbox ----

Opened MemoryMailStore::open(UserId user, const std::string& raw_name, std::optional<Modseq> vanished_since) {
  const std::string name = normalize_mailbox_name(raw_name);
  std::lock_guard lock(mu_);
  Opened out;
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return out;
  auto it = a->second.mailboxes.find(name);
  if (it == a->second.mailboxes.end()) return out;
  Mailbox& mb = it->second;
  if (!mb.snapshot) {
    auto index = std::make_shared<MailboxIndex>();
    index->info = mb.info;
    index->entries.reserve(mb.messages.size());
    for (const auto& [uid, m] : mb.messages)
      index->entries.push_back(IndexEntry{uid, index->keywords.intern(m.keywords), m.modseq, m.system});
    mb.snapshot = std::move(index);
  }
  out.index = mb.snapshot;
  if (vanished_since) out.vanished = expunged_since_locked(mb, *vanished_since);
  return out;
}

std::optional<Uid> MemoryMailStore::claim_recent(UserId user, MailboxId mailbox, Uid up_to) {
  std::lock_guard lock(mu_);
  Mailbox* mb = by_id(user, mailbox);
  if (!mb || mb->first_recent_uid >= up_to) return std::nullopt;
  const Uid was = mb->first_recent_uid;
  mb->first_recent_uid = up_to;
  return was;
}

Uid MemoryMailStore::first_recent_uid(UserId user, MailboxId mailbox) {
  std::lock_guard lock(mu_);
  Mailbox* mb = by_id(user, mailbox);
  return mb ? mb->first_recent_uid : 1;
}

Changes MemoryMailStore::changes_since(UserId user, MailboxId mailbox, Modseq since) {
  std::lock_guard lock(mu_);
  Changes ch;
  const Mailbox* mb = by_id(user, mailbox);
  if (!mb) return ch;
  ch.exists = true;
  ch.info = mb->info;
  if (mb->info.highestmodseq <= since) return ch;
  for (const auto& [uid, m] : mb->messages)
    if (m.modseq > since) ch.changed.push_back(MessageChange{uid, Flags{m.system, m.keywords}, m.modseq});
  ch.expunged = expunged_since_locked(*mb, since);
  return ch;
}

std::vector<std::pair<Uid, std::string>> MemoryMailStore::delivery_keys(UserId user, MailboxId mailbox,
                                                                        const std::vector<Uid>& uids) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<Uid, std::string>> out;
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return out;
  const std::set<Uid> wanted(uids.begin(), uids.end());
  for (const auto& [key, d] : a->second.deliveries)
    if (d.mailbox_id == mailbox && wanted.count(static_cast<Uid>(d.uid))) out.emplace_back(static_cast<Uid>(d.uid), key);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Uid> MemoryMailStore::expunged_since(UserId user, MailboxId mailbox, Modseq since) {
  std::lock_guard lock(mu_);
  const Mailbox* mb = by_id(user, mailbox);
  if (!mb) return {};
  return expunged_since_locked(*mb, since);
}

std::vector<MessageData> MemoryMailStore::read_messages(UserId user, MailboxId mailbox, const std::vector<Uid>& uids,
                                                        unsigned fields) {
  std::lock_guard lock(mu_);
  std::vector<MessageData> out;
  const Mailbox* mb = by_id(user, mailbox);
  if (!mb) return out;
  std::vector<Uid> wanted = uids;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  for (Uid uid : wanted) {
    auto it = mb->messages.find(uid);
    if (it == mb->messages.end()) continue;
    const Message& m = it->second;
    MessageData d;
    d.uid = m.uid;
    d.modseq = m.modseq;
    if (fields & kFieldFlags) d.flags = Flags{m.system, m.keywords};
    if (fields & kFieldInternalDate) d.internaldate = m.internaldate;
    if (fields & kFieldSaveDate) d.savedate = m.savedate;
    if (fields & kFieldSize) {
      d.size = m.size;
      d.header_size = m.header_size;
    }
    if (fields & kFieldBlob) d.blob = m.blob;
    // Copies the record owns (a later write may change the store's own).
    if (fields & (kFieldStructure | kFieldHeader)) {
      auto owned = std::make_shared<std::pair<std::optional<std::string>, std::optional<std::string>>>();
      if (fields & kFieldStructure) owned->first = m.structure;
      if (fields & kFieldHeader) owned->second = m.header;
      if (owned->first) d.structure = std::string_view(*owned->first);
      if (owned->second) d.header = std::string_view(*owned->second);
      d.owner = std::move(owned);
    }
    if (fields & kFieldPreview) d.preview = m.preview;
    if (fields & kFieldEmailId) d.email_id = m.email_id;
    out.push_back(std::move(d));
  }
  return out;
}

BodySet MemoryMailStore::read_bodies(UserId, const std::vector<std::string>& blobs) {
  std::lock_guard lock(mu_);
  auto owned = std::make_shared<std::vector<std::optional<std::string>>>(blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i)
    if (auto it = blobs_.find(blobs[i]); it != blobs_.end()) (*owned)[i] = it->second.body;
  return as_body_set(std::move(owned));
}

BodySet MemoryMailStore::read_ranges(UserId, const std::vector<BodyRange>& ranges) {
  std::lock_guard lock(mu_);
  auto owned = std::make_shared<std::vector<std::optional<std::string>>>(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    auto it = blobs_.find(ranges[i].blob);
    if (it == blobs_.end()) continue;
    const std::string& body = it->second.body;
    if (ranges[i].offset >= body.size()) {
      (*owned)[i] = std::string();
      continue;
    }
    (*owned)[i] = body.substr(ranges[i].offset, std::min<uint64_t>(ranges[i].length, body.size() - ranges[i].offset));
  }
  return as_body_set(std::move(owned));
}

std::vector<SearchHit> MemoryMailStore::search(UserId user, MailboxId mailbox, const SearchCriterion& criteria) {
  std::lock_guard lock(mu_);
  std::vector<SearchHit> out;
  const Mailbox* mb = by_id(user, mailbox);
  if (!mb) return out;
  Matcher matcher{now_seconds()};
  static const std::string kNoText;
  for (const auto& [uid, m] : mb->messages) {
    auto blob = blobs_.find(m.blob);
    if (matcher.match(criteria, m, blob == blobs_.end() ? kNoText : blob->second.search_text))
      out.push_back(SearchHit{uid, m.modseq});
  }
  return out;
}

void MemoryMailStore::forget_sort_keys() {
  std::lock_guard lock(mu_);
  for (auto& [key, blob] : blobs_) blob.sort.reset();
}

std::vector<std::pair<const MemoryMailStore::Message*, const SortKeys*>> MemoryMailStore::sortable(
    UserId user, MailboxId mailbox, const SearchCriterion& criteria) {
  std::vector<std::pair<const Message*, const SortKeys*>> out;
  const Mailbox* mb = by_id(user, mailbox);
  if (!mb) return out;
  Matcher matcher{now_seconds()};
  static const std::string kNoText;
  static const SortKeys kNoKeys;
  for (const auto& [uid, m] : mb->messages) {
    auto blob = blobs_.find(m.blob);
    if (!matcher.match(criteria, m, blob == blobs_.end() ? kNoText : blob->second.search_text)) continue;
    if (blob == blobs_.end()) {
      out.emplace_back(&m, &kNoKeys);
      continue;
    }
    // Keys missing (stored before they existed): computed from the body once,
    // as PgMailStore does for rows older than migration 012.
    if (!blob->second.sort) blob->second.sort = sort_keys_of(blob->second.body);
    out.emplace_back(&m, &*blob->second.sort);
  }
  return out;
}

std::vector<Uid> MemoryMailStore::sort(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                       const std::vector<SortCriterion>& keys) {
  std::lock_guard lock(mu_);
  auto rows = sortable(user, mailbox, criteria);
  // The same order as pg/search_sql.cpp's ORDER BY: strings bytewise
  // (COLLATE "C"; char_traits<char> compares as unsigned char), the sent
  // date falling back to the internal date, UID last.
  auto cmp = [&](const std::pair<const Message*, const SortKeys*>& a,
                 const std::pair<const Message*, const SortKeys*>& b) {
    for (const auto& k : keys) {
      int c = 0;
      auto three = [](const auto& x, const auto& y) { return x < y ? -1 : y < x ? 1 : 0; };
      switch (k.key) {
        case SortKey::kArrival: c = three(a.first->internaldate, b.first->internaldate); break;
        case SortKey::kSize: c = three(a.first->size, b.first->size); break;
        case SortKey::kDate:
          c = three(a.second->sent.value_or(a.first->internaldate), b.second->sent.value_or(b.first->internaldate));
          break;
        case SortKey::kSubject: c = a.second->subject.compare(b.second->subject); break;
        case SortKey::kFrom: c = a.second->from.compare(b.second->from); break;
        case SortKey::kTo: c = a.second->to.compare(b.second->to); break;
        case SortKey::kCc: c = a.second->cc.compare(b.second->cc); break;
        case SortKey::kDisplayFrom: c = a.second->display_from.compare(b.second->display_from); break;
        case SortKey::kDisplayTo: c = a.second->display_to.compare(b.second->display_to); break;
      }
      if (c != 0) return k.reverse ? c > 0 : c < 0;
    }
    return a.first->uid < b.first->uid;
  };
  std::sort(rows.begin(), rows.end(), cmp);
  std::vector<Uid> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(r.first->uid);
  return out;
}

std::vector<ThreadNode> MemoryMailStore::thread(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                                ThreadAlgorithm algorithm) {
  std::vector<ThreadInput> in;
  {
    std::lock_guard lock(mu_);
    for (const auto& [m, k] : sortable(user, mailbox, criteria))
      in.push_back(ThreadInput{m->uid, k->sent.value_or(m->internaldate), k->subject, k->reply_or_forward,
                               k->message_id, k->references});
  }
  return compute_threads(in, algorithm);
}

// ---- writes ----

FlagUpdate MemoryMailStore::store_flags(UserId user, MailboxId mailbox, const std::vector<Uid>& uids, FlagMode mode,
                                        const Flags& flags, std::optional<Modseq> unchanged_since) {
  FlagUpdate out;
  if (uids.empty()) return out;
  std::set<Uid> wanted(uids.begin(), uids.end());
  const std::vector<std::string> keywords = normal_keywords(flags.keywords);
  {
    std::lock_guard lock(mu_);
    Mailbox* mb = by_id(user, mailbox);
    if (!mb) return out;
    const Modseq modseq = mb->info.highestmodseq + 1;
    for (Uid uid : wanted) {
      auto it = mb->messages.find(uid);
      if (it == mb->messages.end()) continue;
      Message& m = it->second;
      if (unchanged_since && m.modseq > *unchanged_since) {
        out.modified.push_back(uid);  // RFC 7162 MODIFIED
        continue;
      }
      uint8_t system = m.system;
      std::vector<std::string> kw = m.keywords;
      switch (mode) {
        case FlagMode::kReplace:
          system = flags.system;
          kw = keywords;
          break;
        case FlagMode::kAdd:
          system |= flags.system;
          kw = keywords_union(m.keywords, keywords);
          break;
        case FlagMode::kRemove:
          system &= static_cast<uint8_t>(~flags.system);
          kw = keywords_minus(m.keywords, keywords);
          break;
      }
      if (system == m.system && kw == m.keywords) continue;  // a no-op takes no MODSEQ
      m.system = system;
      m.keywords = std::move(kw);
      m.modseq = modseq;
      out.changed.push_back(MessageChange{uid, Flags{m.system, m.keywords}, modseq});
    }
    if (!out.changed.empty()) {
      mb->info.highestmodseq = modseq;
      mb->snapshot.reset();
      post({ChangeEvent{user, mailbox, modseq}});
    }
  }
  dispatch();
  return out;
}

std::vector<Uid> MemoryMailStore::expunge(UserId user, MailboxId mailbox, const std::optional<std::vector<Uid>>& only) {
  std::vector<Uid> out;
  {
    std::lock_guard lock(mu_);
    Mailbox* mb = by_id(user, mailbox);
    if (!mb) return out;
    std::optional<std::set<Uid>> among;
    if (only) among.emplace(only->begin(), only->end());
    for (const auto& [uid, m] : mb->messages)
      if ((m.system & kDeleted) && (!among || among->count(uid))) out.push_back(uid);
    if (out.empty()) return out;
    const Modseq modseq = ++mb->info.highestmodseq;
    for (Uid uid : out) remove_message(*mb, uid, modseq);
    post({ChangeEvent{user, mailbox, modseq}});
  }
  dispatch();
  return out;
}

AppendResult MemoryMailStore::append_locked(UserId user, const std::string& name, const std::vector<AppendItem>& items,
                                            const std::vector<PreparedMessage>& prepared, const Quota& quota) {
  AppendResult out;
  auto failed = [](StoreError e) {
    AppendResult r;
    r.error = e;
    return r;
  };
  // All or nothing: check every item before inserting any. The quota counts
  // the items before this one (the soft limit of mailstore_append_one).
  Usage used = usage_locked(user);
  for (const auto& p : prepared) {
    const auto size = static_cast<int64_t>(p.meta.size);
    if ((quota.bytes > 0 && used.bytes + size > quota.bytes) ||
        (quota.messages > 0 && used.messages + 1 > quota.messages))
      return failed(StoreError::kOverQuota);
    auto a = accounts_.find(user);
    if (a == accounts_.end() || !a->second.mailboxes.count(name)) return failed(StoreError::kNoSuchMailbox);
    used.bytes += size;
    used.messages += 1;
  }
  Mailbox& mb = accounts_.at(user).mailboxes.at(name);
  const Modseq modseq = ++mb.info.highestmodseq;  // one MODSEQ for the whole APPEND
  const int64_t now = now_seconds();
  for (size_t i = 0; i < prepared.size(); ++i) {
    Message m = message_from<Message>(prepared[i]);
    m.uid = static_cast<Uid>(mb.info.uidnext++);
    m.modseq = modseq;
    m.system = items[i].flags.system;
    m.keywords = normal_keywords(items[i].flags.keywords);
    m.internaldate = items[i].internaldate.value_or(now);
    m.savedate = now;
    blobs_.try_emplace(prepared[i].key, Blob{prepared[i].body, prepared[i].search->text, prepared[i].meta.sort});
    out.uids.push_back(m.uid);
    insert_message(mb, std::move(m));
  }
  out.mailbox_id = mb.info.mailbox_id;
  out.uidvalidity = mb.info.uidvalidity;
  post({ChangeEvent{user, mb.info.mailbox_id, modseq}});
  return out;
}

AppendResult MemoryMailStore::append(UserId user, const std::string& mailbox, const std::vector<AppendItem>& items,
                                     const Quota& quota) {
  if (items.empty()) return {};
  std::vector<PreparedMessage> prepared;
  prepared.reserve(items.size());
  for (const auto& item : items) prepared.push_back(prepare_message(item.message, item.binary, true));
  AppendResult out;
  {
    std::lock_guard lock(mu_);
    out = append_locked(user, normalize_mailbox_name(mailbox), items, prepared, quota);
  }
  dispatch();
  return out;
}

ReplaceResult MemoryMailStore::replace(UserId user, MailboxId source, Uid uid, const std::string& dest,
                                       const AppendItem& item, const Quota& quota) {
  const std::vector<AppendItem> items{item};
  const std::vector<PreparedMessage> prepared{prepare_message(item.message, item.binary, true)};
  ReplaceResult out;
  {
    std::lock_guard lock(mu_);
    out.appended = append_locked(user, normalize_mailbox_name(dest), items, prepared, quota);
    if (out.appended.error != StoreError::kNone) {
      out.error = out.appended.error;
      return out;
    }
    Mailbox* mb = by_id(user, source);
    if (mb && mb->messages.count(uid)) {
      const Modseq modseq = ++mb->info.highestmodseq;
      remove_message(*mb, uid, modseq);
      out.expunged.push_back(uid);
      post({ChangeEvent{user, source, modseq}});
    }
  }
  dispatch();
  return out;
}

CopyResult MemoryMailStore::copy(UserId user, MailboxId source, const std::vector<Uid>& uids, const std::string& dest,
                                 bool move, const Quota& quota) {
  CopyResult out;
  const std::string dest_name = normalize_mailbox_name(dest);
  {
    std::lock_guard lock(mu_);
    auto a = accounts_.find(user);
    if (a == accounts_.end() || !a->second.mailboxes.count(dest_name)) {
      out.error = StoreError::kNoSuchMailbox;
      return out;
    }
    Mailbox& to = a->second.mailboxes.at(dest_name);
    Mailbox* from = by_id(user, source);
    out.uidvalidity = to.info.uidvalidity;
    out.dest_mailbox_id = to.info.mailbox_id;
    std::vector<Uid> present;
    int64_t bytes = 0;
    if (from) {
      std::set<Uid> wanted(uids.begin(), uids.end());
      for (Uid uid : wanted)
        if (auto it = from->messages.find(uid); it != from->messages.end()) {
          present.push_back(uid);
          bytes += it->second.size;
        }
    }
    if (present.empty()) return out;
    if (!move && (quota.bytes > 0 || quota.messages > 0)) {  // MOVE changes no total: never refused
      const Usage used = usage_locked(user);
      if ((quota.bytes > 0 && used.bytes + bytes > quota.bytes) ||
          (quota.messages > 0 && used.messages + static_cast<int64_t>(present.size()) > quota.messages)) {
        CopyResult failed;
        failed.error = StoreError::kOverQuota;
        return failed;
      }
    }
    const Modseq dmodseq = ++to.info.highestmodseq;
    const int64_t now = now_seconds();
    std::vector<Message> copies;
    for (Uid uid : present) {
      Message m = from->messages.at(uid);  // flags, dates and the body (blob) are kept
      m.uid = static_cast<Uid>(to.info.uidnext++);
      m.modseq = dmodseq;
      m.savedate = now;
      out.source_uids.push_back(uid);
      out.dest_uids.push_back(m.uid);
      copies.push_back(std::move(m));
    }
    for (auto& m : copies) insert_message(to, std::move(m));
    std::vector<ChangeEvent> events{ChangeEvent{user, to.info.mailbox_id, dmodseq}};
    if (move) {
      const Modseq smodseq = ++from->info.highestmodseq;
      for (Uid uid : present) remove_message(*from, uid, smodseq);
      events.emplace_back(user, source, smodseq);
    }
    post(std::move(events));
  }
  dispatch();
  return out;
}

std::vector<DeliveryResult> MemoryMailStore::deliver(UserId user, std::string_view mailbox,
                                                     const std::vector<DeliveryItem>& items, const Quota& quota) {
  std::vector<DeliveryResult> results(items.size());
  if (items.empty()) return results;
  const std::string name = normalize_mailbox_name(mailbox.empty() ? "INBOX" : mailbox);
  const char* special = default_special_use(name);
  std::vector<PreparedMessage> prepared;
  prepared.reserve(items.size());
  for (const auto& item : items) prepared.push_back(prepare_message(item.message, false, true));
  {
    std::lock_guard lock(mu_);
    ensure_account_locked(user);
    Account& a = account(user);
    Modseq modseq = 0;  // one MODSEQ for the whole batch, taken by the first message stored
    MailboxId touched = 0;
    const int64_t now = now_seconds();
    for (size_t i = 0; i < items.size(); ++i) {
      DeliveryResult& d = results[i];
      const std::string key(items[i].delivery_key);
      if (auto dup = a.deliveries.find(key); dup != a.deliveries.end()) {
        d.duplicate = true;
        d.mailbox_id = dup->second.mailbox_id;
        d.uid = dup->second.uid;
        continue;
      }
      const PreparedMessage& p = prepared[i];
      const auto size = static_cast<int64_t>(p.meta.size);
      if (quota.bytes > 0 || quota.messages > 0) {
        const Usage used = usage_locked(user);
        if (quota.bytes > 0 && (size > quota.bytes || used.bytes + size > quota.bytes)) {
          d.over_quota = true;
          d.exceeds_quota = size > quota.bytes;
          continue;
        }
        if (quota.messages > 0 && used.messages + 1 > quota.messages) {
          d.over_quota = d.over_message_quota = true;
          continue;
        }
      }
      // A default mailbox the user deleted (Junk) comes back with its special use.
      auto it = a.mailboxes.find(name);
      Mailbox& mb = it != a.mailboxes.end() ? it->second : add_mailbox(a, name, special);
      if (!modseq || touched != mb.info.mailbox_id) {
        modseq = ++mb.info.highestmodseq;
        touched = mb.info.mailbox_id;
      }
      Message m = message_from<Message>(p);
      m.uid = static_cast<Uid>(mb.info.uidnext++);
      m.modseq = modseq;
      m.internaldate = m.savedate = now;
      m.system = items[i].flags.system;
      m.keywords = items[i].flags.keywords;
      blobs_.try_emplace(p.key, Blob{p.body, p.search->text, p.meta.sort});
      d.mailbox_id = mb.info.mailbox_id;
      d.uid = m.uid;
      a.deliveries[key] = Delivered{d.mailbox_id, d.uid};
      insert_message(mb, std::move(m));
    }
    if (touched) post({ChangeEvent{user, touched, modseq}});
  }
  dispatch();
  return results;
}

// ---- METADATA (RFC 5464) ----

namespace {
// `stored` is `requested` itself, or below it within `depth`.
bool metadata_matches(const std::string& stored, const std::string& requested, MetadataDepth depth) {
  if (stored == requested) return true;
  if (depth == MetadataDepth::kZero) return false;
  if (stored.size() <= requested.size() + 1 || stored.compare(0, requested.size(), requested) != 0 ||
      stored[requested.size()] != '/')
    return false;
  return depth == MetadataDepth::kInfinity || stored.find('/', requested.size() + 1) == std::string::npos;
}
}  // namespace

MetadataResult MemoryMailStore::get_metadata(UserId user, const std::string& mailbox,
                                             const std::vector<std::string>& entries, MetadataDepth depth,
                                             std::optional<size_t> maxsize) {
  std::vector<std::string> wanted;
  for (const auto& e : entries) wanted.push_back(metadata_entry_key(e));
  std::lock_guard lock(mu_);
  MetadataResult out;
  const std::map<std::string, std::string>* table = nullptr;
  auto a = accounts_.find(user);
  if (mailbox.empty()) {
    if (a == accounts_.end()) return out;
    table = &a->second.server_metadata;
  } else {
    if (a == accounts_.end()) return MetadataResult{MetadataError::kNoSuchMailbox, {}, 0};
    auto it = a->second.mailboxes.find(normalize_mailbox_name(mailbox));
    if (it == a->second.mailboxes.end()) return MetadataResult{MetadataError::kNoSuchMailbox, {}, 0};
    table = &it->second.metadata;
  }
  for (const auto& [key, value] : *table) {  // ordered by name, each once
    bool match = false;
    for (const auto& w : wanted) match = match || metadata_matches(key, w, depth);
    if (!match) continue;
    if (maxsize && value.size() > *maxsize) {
      out.longest_omitted = std::max(out.longest_omitted, value.size());
      continue;
    }
    out.entries.push_back(MetadataEntry{key, value});
  }
  return out;
}

MetadataError MemoryMailStore::set_metadata(UserId user, const std::string& mailbox,
                                            const std::vector<MetadataUpdate>& raw_updates) {
  std::vector<MetadataUpdate> updates;
  if (auto err = normalize_metadata_updates(raw_updates, updates); err != MetadataError::kNone) return err;
  {
    std::lock_guard lock(mu_);
    std::map<std::string, std::string>* table = nullptr;
    MailboxId id = 0;
    std::string name;
    if (mailbox.empty()) {
      table = &account(user).server_metadata;
    } else {
      auto a = accounts_.find(user);
      if (a == accounts_.end()) return MetadataError::kNoSuchMailbox;
      auto it = a->second.mailboxes.find(normalize_mailbox_name(mailbox));
      if (it == a->second.mailboxes.end()) return MetadataError::kNoSuchMailbox;
      table = &it->second.metadata;
      id = it->second.info.mailbox_id;
      name = it->first;
    }
    // Work on a copy: all or nothing.
    std::map<std::string, std::string> next = *table;
    std::vector<std::string> entries;
    for (const auto& u : updates) {
      if (u.value) next[u.entry] = *u.value;
      else next.erase(u.entry);
      entries.push_back(u.entry);
    }
    if (next.size() > kMaxMetadataEntries && next.size() > table->size()) return MetadataError::kTooMany;
    *table = std::move(next);
    post(metadata_change_events(user, id, name, entries));
  }
  dispatch();
  return MetadataError::kNone;
}

// ---- URLAUTH access keys (RFC 4467) ----

std::optional<std::string> MemoryMailStore::urlauth_key(UserId user, const std::string& mailbox, bool create) {
  std::lock_guard lock(mu_);
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return std::nullopt;
  auto it = a->second.mailboxes.find(normalize_mailbox_name(mailbox));
  if (it == a->second.mailboxes.end()) return std::nullopt;
  if (!it->second.urlauth_key && create) it->second.urlauth_key = new_urlauth_key();
  return it->second.urlauth_key;
}

bool MemoryMailStore::reset_urlauth_keys(UserId user, const std::string& mailbox) {
  std::lock_guard lock(mu_);
  auto a = accounts_.find(user);
  if (a == accounts_.end()) return mailbox.empty();
  if (mailbox.empty()) {
    for (auto& [name, mb] : a->second.mailboxes) mb.urlauth_key.reset();
    return true;
  }
  auto it = a->second.mailboxes.find(normalize_mailbox_name(mailbox));
  if (it == a->second.mailboxes.end()) return false;
  it->second.urlauth_key.reset();
  return true;
}

PruneResult MemoryMailStore::prune_expunged(std::chrono::seconds max_age, int64_t batch) {
  std::lock_guard lock(mu_);  // the one lock: pruners never run at once here
  PruneResult res;
  const TimePoint cutoff = clock_() - max_age;
  auto old_enough = [&](const ExpungedRecord& r) { return r.at < cutoff; };
  for (auto& [user, a] : accounts_)
    for (auto& [name, mb] : a.mailboxes) {
      bool any = false;
      for (const auto& [uid, rec] : mb.expunged)
        if ((any = old_enough(rec))) break;
      if (!any) continue;
      // One mailbox per call, at most `batch` rows; the horizon rises to the
      // highest MODSEQ pruned.
      Modseq highest = 0;
      for (auto it = mb.expunged.begin(); it != mb.expunged.end() && res.deleted < batch;) {
        if (!old_enough(it->second)) {
          ++it;
          continue;
        }
        highest = std::max(highest, it->second.modseq);
        it = mb.expunged.erase(it);
        ++res.deleted;
      }
      if (res.deleted) mb.pruned_horizon = std::max(mb.pruned_horizon, highest);
      res.more = true;  // more may remain here or elsewhere: the caller stops at a call that finds nothing
      return res;
    }
  return res;
}

std::vector<std::pair<WatchedMailbox, Modseq>> MemoryMailStore::highest_modseqs(const std::vector<WatchedMailbox>& mb) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<WatchedMailbox, Modseq>> out;
  for (const auto& w : mb)
    if (const Mailbox* m = by_id(w.user_id, w.mailbox_id)) out.push_back({w, m->info.highestmodseq});
  return out;
}

}  // namespace postline::mailstore
