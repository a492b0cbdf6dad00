#include "common/mailstore/pg/account_move.h"

#include "common/db/pq.h"
#include "common/mailstore/accounts.h"
#include "common/mailstore/pg/pg_mail_store.h"

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_map>

namespace postline::mailstore::pg {

namespace pq = db::pq;

namespace {

// The user's tables, parents before children (insertion order; deletion runs
// backwards). mailstore_accounts and mailstore_mailboxes have no foreign key
// to each other.
const std::vector<std::string> kUserTables = {
    "mailstore_accounts",    "mailstore_mailboxes", "mailstore_subscriptions", "mailstore_messages",
    "mailstore_expunged",    "mailstore_deliveries", "mailstore_recent",       "mailstore_metadata",
    "mailstore_urlauth_keys", "mailstore_sieve_scripts", "mailstore_sieve_active", "mailstore_sieve_runs",
    "mailstore_sieve_outbox", "mailstore_sieve_vacation", "mailstore_sieve_duplicates"};
// A Sieve outbox row holds a whole message (a redirect's copy; sent as text,
// hex, twice its size): few per page.
const std::string kOutbox = "mailstore_sieve_outbox";
constexpr int kOutboxBatch = 8;
// Tables keyed by body (content-addressed, shared across users).
const std::vector<std::string> kBodyTables = {"mailstore_blobs", "mailstore_search", "mailstore_sort_keys",
                                              "mailstore_search_backlog"};
// Copied whole again at the switch (small).
const std::vector<std::string> kSmallTables = {"mailstore_subscriptions", "mailstore_recent", "mailstore_metadata",
                                               "mailstore_urlauth_keys", "mailstore_sieve_scripts",
                                               "mailstore_sieve_active"};

struct Table {
  std::string name;
  std::vector<std::string> columns;   // insertable (no generated columns), in order
  std::vector<std::string> pk;
  std::string signature;              // every column with its type, to compare two databases
};

std::string quote_ident(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

Table load_table(pq::Connection& c, const std::string& name) {
  Table t;
  t.name = name;
  static const pq::Statement cols{
      "move_columns",
      "SELECT a.attname, a.attgenerated <> '', format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
      "WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"};
  auto r = c.exec(cols, pq::Params().text(name));
  if (r.rows() == 0) throw AccountMoveError("table " + name + " missing: run `postline migrate` on both shards");
  for (int i = 0; i < r.rows(); ++i) {
    if (!r.boolean(i, 1)) t.columns.push_back(r.text(i, 0));
    t.signature += r.text(i, 0) + " " + r.text(i, 2) + (r.boolean(i, 1) ? " generated" : "") + ",";
  }
  static const pq::Statement pk{
      "move_pk",
      "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
      "WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)"};
  auto p = c.exec(pk, pq::Params().text(name));
  for (int i = 0; i < p.rows(); ++i) t.pk.push_back(p.text(i, 0));
  return t;
}

std::string join(const std::vector<std::string>& v, const std::string& prefix = "") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + prefix + quote_ident(v[i]);
  return out;
}

using ParamsFn = std::function<pq::Params()>;

// Called with each page's values of one column (binary: raw bytes for
// bytea), before the page is inserted.
struct PageHook {
  std::string column;
  std::function<void(const std::vector<std::string>&)> fn;
};

// Rows of `t` matching `where` (parameters from `params`, then the page
// size and the cursor) read from `src` as their composite text form,
// inserted into `dst` in batches. Pages are keyset-paged by the primary key:
// each page starts after the last row of the one before (the cursor is that
// row's text, its key columns read back from it), so every page is an index
// range scan and the whole copy is linear. `update`: ON CONFLICT DO UPDATE
// (else DO NOTHING).
int64_t copy_rows(pq::Connection& src, pq::Connection& dst, const Table& t, const std::string& where, size_t fixed,
                  const ParamsFn& params, int nparams, bool update, int batch, int64_t* bytes = nullptr,
                  const PageHook* hook = nullptr) {
  // `fixed`: how many leading key columns `where` fixes by equality
  // (user_id = $1 ...). The cursor compares the key columns after them, so
  // the index scan starts at the cursor: compared on the whole key, with an
  // equality on its first column as well, PostgreSQL's btree starts at that
  // equality and steps over every earlier entry of the user (each page
  // linear again).
  for (size_t i = 0; i < fixed; ++i)
    if (i >= t.pk.size() || where.find(t.pk[i] + " = $") == std::string::npos)
      throw std::logic_error("copy of " + t.name + ": the condition does not fix key column " + std::to_string(i));
  const std::string limit = std::to_string(nparams + 1), cursor = std::to_string(nparams + 2);
  const std::string head = "SELECT t::text" + (hook ? ", t." + quote_ident(hook->column) : std::string()) +
                           " FROM " + quote_ident(t.name) + " t WHERE (" + where + ")";
  const std::string tail = " ORDER BY " + join(t.pk, "t.") + " LIMIT $" + limit;
  std::vector<std::string> rest_key(t.pk.begin() + static_cast<std::ptrdiff_t>(std::min(fixed, t.pk.size())), t.pk.end());
  std::string after;
  for (size_t i = 0; i < rest_key.size(); ++i)
    after += (i ? ", " : "") + std::string("($") + cursor + "::text::" + quote_ident(t.name) + ")." +
             quote_ident(rest_key[i]);
  const std::string first_page = head + tail;
  // (Every key column fixed: one row at most, no second page.)
  const std::string next_page =
      rest_key.empty() ? head + " AND false" + tail
                       : head + " AND (" + join(rest_key, "t.") + ") > (" + after + ")" + tail;
  std::string insert = "INSERT INTO " + quote_ident(t.name) + " (" + join(t.columns) +
                       ") OVERRIDING SYSTEM VALUE SELECT " + join(t.columns, "(r).") +
                       " FROM (SELECT unnest($1::text[])::" + quote_ident(t.name) + " AS r) s ON CONFLICT (" +
                       join(t.pk) + ") DO ";
  std::vector<std::string> rest;
  for (const auto& c : t.columns)
    if (std::find(t.pk.begin(), t.pk.end(), c) == t.pk.end()) rest.push_back(c);
  if (!update || rest.empty()) {
    insert += "NOTHING";
  } else {
    insert += "UPDATE SET ";
    for (size_t i = 0; i < rest.size(); ++i)
      insert += (i ? ", " : "") + quote_ident(rest[i]) + " = EXCLUDED." + quote_ident(rest[i]);
  }
  int64_t copied = 0;
  std::string last;
  for (bool first = true;; first = false) {
    auto p = params();
    p.i64(batch);
    if (!first) p.text(last);
    auto r = src.exec_dynamic(first ? first_page : next_page, p);
    if (r.rows() == 0) break;
    std::vector<std::string> rows, column;
    rows.reserve(r.rows());
    for (int i = 0; i < r.rows(); ++i) {
      rows.push_back(r.text(i, 0));
      if (hook) column.push_back(r.text(i, 1));
      if (bytes) *bytes += static_cast<int64_t>(rows.back().size());
    }
    if (hook) hook->fn(column);
    dst.exec_dynamic(insert, pq::Params().text_array(rows));
    copied += r.rows();
    if (r.rows() < batch) break;
    last = std::move(rows.back());
  }
  return copied;
}

void delete_user_rows(pq::Connection& c, UserId user, const std::vector<std::string>& tables, CopyStats* stats) {
  for (auto it = tables.rbegin(); it != tables.rend(); ++it) {
    auto r = c.exec_dynamic("DELETE FROM " + quote_ident(*it) + " WHERE user_id = $1", pq::Params().i64(user));
    if (stats) stats->rows[*it] += r.affected();
  }
}

// The identity and UIDVALIDITY sequences of the target move past what was
// copied, so a mailbox created there later gets a new id and a new
// UIDVALIDITY (the copied ones came from the source's sequences).
void bump_sequences(pq::Connection& c, UserId user) {
  c.exec_dynamic(
      "SELECT setval(s, GREATEST(m, nextval(s))) FROM (SELECT pg_get_serial_sequence('mailstore_mailboxes', "
      "'mailbox_id') AS s, (SELECT max(mailbox_id) FROM mailstore_mailboxes WHERE user_id = $1) AS m) x",
      pq::Params().i64(user));
  c.exec_dynamic(
      "SELECT setval('mailstore_uidvalidity_seq', GREATEST(m, nextval('mailstore_uidvalidity_seq'))) FROM "
      "(SELECT max(uidvalidity) AS m FROM mailstore_mailboxes WHERE user_id = $1) x",
      pq::Params().i64(user));
}

void mark_moved(pq::Connection& c, UserId user, const std::string& moved_to) {
  c.exec_dynamic(
      "INSERT INTO mailstore_moved_accounts (user_id, moved_to) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE "
      "SET moved_to = EXCLUDED.moved_to, moved_at = now()",
      pq::Params().i64(user).text(moved_to));
}

std::string blob_namespace(pq::Connection& c) {
  auto r = c.exec_dynamic("SELECT namespace FROM mailstore_blob_namespace");
  return r.rows() ? r.text(0, 0) : std::string();
}

}  // namespace

struct AccountMover::Impl {
  std::string source_url, target_url;
  std::shared_ptr<BlobStore> blobs;                  // as configured (no namespace)
  std::shared_ptr<BlobStore> source_blobs, target_blobs;  // in each shard's namespace
  std::function<void(const std::string&)>* fault_hook = nullptr;
  std::unordered_map<std::string, Table> tables;  // from the target's catalogue

  const Table& table(const std::string& n) const { return tables.at(n); }
  void fault(const std::string& step) const {
    if (fault_hook && *fault_hook) (*fault_hook)(step);
  }

  std::string source_space, target_space;

  void load(pq::Connection& src, pq::Connection& dst) {
    if (!tables.empty()) return;
    if (blobs) {
      // Each shard's objects are its own (sql/020): the same store seen in
      // each one's namespace. Equal namespaces (legacy): no views, and a body
      // in the external store stops the move (check(), copy_bodies()).
      source_space = blob_namespace(src);
      target_space = blob_namespace(dst);
      if (source_space != target_space) {
        source_blobs = blobs->in_namespace(source_space);
        target_blobs = blobs->in_namespace(target_space);
      }
    }
    std::vector<std::string> all = kUserTables;
    all.insert(all.end(), kBodyTables.begin(), kBodyTables.end());
    for (const auto& n : all) {
      Table a = load_table(src, n), b = load_table(dst, n);
      if (a.signature != b.signature)
        throw AccountMoveError("the two shards' " + n +
                               " tables differ (run `postline migrate` on both with the same version)");
      tables.emplace(n, std::move(b));
    }
  }

  // The upload intents (sql/016) this mover holds on the target for the
  // transaction being written: finished in it, or handed to the target's
  // sweeper when it fails.
  struct Intents {
    std::unique_ptr<pq::Connection> conn;  // commits each batch of intents on its own
    std::vector<int64_t> open;             // not yet finished in the write transaction
    std::vector<int64_t> all;              // every one taken for this transaction
    void abandon() noexcept {
      if (all.empty() || !conn) return;
      try {
        conn->exec_dynamic("UPDATE mailstore_blob_intents SET created_at = '-infinity' WHERE intent_id = ANY($1)",
                           pq::Params().i64_array(all));
      } catch (...) {
        // They expire by age instead.
      }
      all.clear();
    }
  };

  // The bodies `keys` (raw SHA-256, from one page of messages) onto the
  // target, before the page's messages: objects first (into the target's
  // namespace, under intents committed on the target), then the catalogue,
  // search and sort rows, then the intents are finished in `dst`'s
  // transaction (PL003 there: the target's sweeper expired one, the move
  // fails and is run again).
  void copy_bodies(pq::Connection& src, pq::Connection& dst, std::vector<std::string> keys, Intents& intents,
                   CopyStats& stats) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    if (keys.empty()) return;
    auto ext = src.exec_dynamic(
        "SELECT sha256, size FROM mailstore_blobs WHERE sha256 = ANY($1) AND data IS NULL ORDER BY sha256",
        pq::Params().bytea_array(keys));
    std::vector<std::string> external, shas;
    std::map<std::string, int64_t> size_of;
    for (int i = 0; i < ext.rows(); ++i) {
      external.push_back(ext.text(i, 0));
      size_of[external.back()] = ext.i64(i, 1);
    }
    if (!external.empty()) {
      if (!source_blobs || !target_blobs)
        throw AccountMoveError("the account has bodies in the external blob store: configure mailstore.blob_backend");
      if (!intents.conn) intents.conn = std::make_unique<pq::Connection>(target_url);
      std::vector<int64_t> locks;
      for (const auto& k : external) locks.push_back(blob_lock_key(k));
      std::vector<std::string> missing;
      {
        pq::Transaction tx(*intents.conn);
        intents.conn->exec_dynamic(
            "SELECT count(pg_advisory_xact_lock_shared(k)) FROM (SELECT DISTINCT unnest($1::int8[]) AS k ORDER BY 1) s",
            pq::Params().i64_array(locks));
        // After the locks, in a statement of its own: sees every sweep that finished before.
        auto r = intents.conn->exec_dynamic(
            "WITH i AS (INSERT INTO mailstore_blob_intents (sha256) SELECT unnest($1::bytea[]) "
            "  RETURNING intent_id, sha256) "
            "SELECT i.intent_id, i.sha256, EXISTS (SELECT 1 FROM mailstore_blobs b WHERE b.sha256 = i.sha256) FROM i",
            pq::Params().bytea_array(external));
        tx.commit();
        for (int i = 0; i < r.rows(); ++i) {
          intents.open.push_back(r.i64(i, 0));
          intents.all.push_back(r.i64(i, 0));
          shas.push_back(r.text(i, 1));
          if (!r.boolean(i, 2)) missing.push_back(r.text(i, 1));
        }
      }
      fault("intents");
      // Rows this transaction wrote already (an earlier page) are not in the
      // committed view: their objects are there, held by this transaction.
      if (!missing.empty()) {
        auto have = dst.exec_dynamic("SELECT sha256 FROM mailstore_blobs WHERE sha256 = ANY($1)",
                                     pq::Params().bytea_array(missing));
        std::set<std::string> there;
        for (int i = 0; i < have.rows(); ++i) there.insert(have.text(i, 0));
        for (const auto& k : missing) {
          if (there.count(k)) continue;
          // Inside the bucket (S3's CopyObject) when both namespaces are views of one.
          if (!target_blobs->copy_from(*source_blobs, k))
            throw AccountMoveError("body " + hex_of(k) +
                                   " is catalogued on the source shard but missing from its blob store");
          ++stats.objects_copied;
          stats.object_bytes += size_of[k];
        }
      }
      fault("objects");
    }
    const ParamsFn by_keys = [keys] { return pq::Params().bytea_array(keys); };
    for (const auto& n : kBodyTables) {
      int64_t bytes = 0;
      const int64_t rows = copy_rows(src, dst, table(n), "sha256 = ANY($1)", 0, by_keys, 1, false,
                                     n == "mailstore_blobs" ? 32 : 500, n == "mailstore_blobs" ? &bytes : nullptr);
      stats.rows[n] += rows;
      if (n == "mailstore_blobs") {
        stats.bodies += rows;
        stats.body_bytes += bytes;
      }
    }
    if (!intents.open.empty()) {
      dst.exec_dynamic("SELECT mailstore_finish_blob_intents($1::int8[], $2::bytea[])",
                       pq::Params().i64_array(intents.open).bytea_array(shas));
      intents.open.clear();
    }
  }

  // Copies the messages `where` selects with their bodies, page by page.
  int64_t copy_messages(pq::Connection& src, pq::Connection& dst, const std::string& where, size_t fixed,
                        const ParamsFn& params,
                        int nparams, int batch, Intents& intents, CopyStats& stats) {
    const PageHook hook{"blob_sha256", [&](const std::vector<std::string>& keys) {
                          copy_bodies(src, dst, keys, intents, stats);
                        }};
    return copy_rows(src, dst, table("mailstore_messages"), where, fixed, params, nparams, true, batch, nullptr, &hook);
  }
};

AccountMover::AccountMover(std::string source_url, std::string target_url, std::shared_ptr<BlobStore> blobs)
    : impl_(std::make_unique<Impl>()) {
  impl_->source_url = std::move(source_url);
  impl_->target_url = std::move(target_url);
  impl_->blobs = std::move(blobs);
  impl_->fault_hook = &fault_hook;
}
AccountMover::~AccountMover() = default;

void AccountMover::check(UserId user) {
  pq::Connection src(impl_->source_url), dst(impl_->target_url);
  impl_->load(src, dst);
  auto r = src.exec_dynamic(
      "SELECT count(*) FROM mailstore_blobs WHERE data IS NULL AND sha256 IN "
      "(SELECT blob_sha256 FROM mailstore_messages WHERE user_id = $1)",
      pq::Params().i64(user));
  const int64_t external = r.i64(0, 0);
  if (external == 0) return;
  if (!impl_->blobs)
    throw AccountMoveError("the account has " + std::to_string(external) +
                           " bodies in the external blob store: the move needs mailstore.blob_backend configured");
  if (!impl_->source_blobs)
    throw AccountMoveError("both shards keep their objects in the same blob namespace '" + impl_->source_space +
                           "' (databases that held S3 bodies before migration 020): moving bodies between them "
                           "is refused (docs/operations.md \"Sharding\")");
}

AccountMover::Bulk AccountMover::bulk_copy(UserId user) {
  check(user);
  pq::Connection src(impl_->source_url), dst(impl_->target_url);
  impl_->load(src, dst);
  Bulk out;
  pq::Transaction read(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  out.since = src.exec_dynamic("SELECT now()::text").text(0, 0);
  Impl::Intents intents;
  try {
    pq::Transaction write(dst);
    // A move back to a shard the account once left: it may be written here again.
    dst.exec_dynamic("DELETE FROM mailstore_moved_accounts WHERE user_id = $1", pq::Params().i64(user));
    delete_user_rows(dst, user, kUserTables, nullptr);
    const ParamsFn by_user = [user] { return pq::Params().i64(user); };
    for (const auto& n : kUserTables) {
      if (n == "mailstore_messages")
        out.stats.rows[n] +=
            impl_->copy_messages(src, dst, "user_id = $1", 1, by_user, 1, std::max(1, message_batch), intents, out.stats);
      else
        out.stats.rows[n] += copy_rows(src, dst, impl_->table(n), "user_id = $1", 1, by_user, 1, true,
                                       n == kOutbox ? kOutboxBatch : 2000);
    }
    // The mailbox rows again: the message triggers added to the copied totals.
    copy_rows(src, dst, impl_->table("mailstore_mailboxes"), "user_id = $1", 1, by_user, 1, true, 2000);
    bump_sequences(dst, user);
    impl_->fault("bulk");
    write.commit();
  } catch (...) {
    intents.abandon();  // the target's sweeper takes back the objects copied for nothing
    throw;
  }
  read.commit();
  return out;
}

struct AccountMover::Switch::Impl {
  std::unique_ptr<pq::Connection> src;
  std::unique_ptr<pq::Transaction> tx;
  UserId user = 0;
  bool done = false;
};

AccountMover::Switch::~Switch() {
  if (impl_ && !impl_->done) abandon();
}

void AccountMover::Switch::abandon() {
  if (!impl_ || impl_->done) return;
  impl_->done = true;
  impl_->tx.reset();  // rolls back: the locks go, the source stays as it was
}

void AccountMover::Switch::finish(bool delete_source, const std::string& moved_to) {
  if (!impl_ || impl_->done) throw AccountMoveError("the switch is over already");
  mark_moved(*impl_->src, impl_->user, moved_to);
  if (delete_source) delete_user_rows(*impl_->src, impl_->user, kUserTables, nullptr);
  impl_->tx->commit();
  impl_->done = true;
}

std::unique_ptr<AccountMover::Switch> AccountMover::begin_switch(UserId user, const std::string& since,
                                                                 int lock_timeout_ms) {
  auto sw = std::unique_ptr<Switch>(new Switch());
  sw->impl_ = std::make_unique<Switch::Impl>();
  sw->impl_->user = user;
  sw->impl_->src = std::make_unique<pq::Connection>(impl_->source_url);
  pq::Connection& src = *sw->impl_->src;
  pq::Connection dst(impl_->target_url);
  impl_->load(src, dst);
  sw->impl_->tx = std::make_unique<pq::Transaction>(src);
  src.run(("SET LOCAL lock_timeout = " + std::to_string(std::max(1, lock_timeout_ms))).c_str());
  // Every writer of this user locks its mailbox row (UID and MODSEQ
  // allocation) or the account row (quota-checked delivery) first.
  src.exec_dynamic("SELECT 1 FROM mailstore_accounts WHERE user_id = $1 FOR UPDATE", pq::Params().i64(user));
  src.exec_dynamic("SELECT 1 FROM mailstore_mailboxes WHERE user_id = $1 ORDER BY mailbox_id FOR UPDATE",
                   pq::Params().i64(user));
  CopyStats& st = sw->delta_;
  const ParamsFn by_user = [user] { return pq::Params().i64(user); };
  Impl::Intents intents;
  try {
    pq::Transaction write(dst);
    // What the target holds per mailbox: the delta starts above its HIGHESTMODSEQ.
    std::map<int64_t, int64_t> target_hms;
    {
      auto r = dst.exec_dynamic("SELECT mailbox_id, highestmodseq, uidvalidity FROM mailstore_mailboxes WHERE user_id = $1",
                                pq::Params().i64(user));
      auto s = src.exec_dynamic("SELECT mailbox_id, uidvalidity FROM mailstore_mailboxes WHERE user_id = $1",
                                pq::Params().i64(user));
      std::map<int64_t, int64_t> source_uv;
      for (int i = 0; i < s.rows(); ++i) source_uv[s.i64(i, 0)] = s.i64(i, 1);
      std::vector<int64_t> keep;
      for (int i = 0; i < r.rows(); ++i) {
        auto it = source_uv.find(r.i64(i, 0));
        if (it != source_uv.end() && it->second == r.i64(i, 2)) {
          target_hms[r.i64(i, 0)] = r.i64(i, 1);
          keep.push_back(r.i64(i, 0));
        }
      }
      // Mailboxes deleted on the source since the bulk copy (their messages cascade).
      auto gone = dst.exec_dynamic("DELETE FROM mailstore_mailboxes WHERE user_id = $1 AND NOT (mailbox_id = ANY($2))",
                                   pq::Params().i64(user).i64_array(keep));
      st.rows["mailstore_mailboxes (deleted)"] += gone.affected();
      // Renames may swap names: park the target's names out of the way first.
      dst.exec_dynamic(
          "UPDATE mailstore_mailboxes SET name = name || ' (moving ' || mailbox_id || ')' WHERE user_id = $1",
          pq::Params().i64(user));
      st.rows["mailstore_mailboxes"] += copy_rows(src, dst, impl_->table("mailstore_mailboxes"), "user_id = $1",
                                                  1, by_user, 1, true, 2000);
      st.rows["mailstore_accounts"] += copy_rows(src, dst, impl_->table("mailstore_accounts"), "user_id = $1",
                                                 1, by_user, 1, true, 10);
      for (const auto& [id, uv] : source_uv) {
        const int64_t from = target_hms.count(id) ? target_hms[id] : 0;
        const ParamsFn p = [user, id = id, from] { return pq::Params().i64(user).i64(id).i64(from); };
        st.rows["mailstore_messages"] += impl_->copy_messages(src, dst, "user_id = $1 AND mailbox_id = $2 AND modseq > $3", 2,
                                                              p, 3, std::max(1, message_batch), intents, st);
        st.rows["mailstore_expunged"] +=
            copy_rows(src, dst, impl_->table("mailstore_expunged"), "user_id = $1 AND mailbox_id = $2 AND modseq > $3", 2,
                      p, 3, true, 2000);
        auto ex = dst.exec_dynamic(
            "DELETE FROM mailstore_messages m USING mailstore_expunged e WHERE m.user_id = $1 AND m.mailbox_id = $2 "
            "AND e.user_id = $1 AND e.mailbox_id = $2 AND e.uid = m.uid AND e.modseq > $3",
            p());
        st.rows["mailstore_messages (expunged)"] += ex.affected();
      }
      // The mailbox rows once more: the message triggers changed the totals.
      copy_rows(src, dst, impl_->table("mailstore_mailboxes"), "user_id = $1", 1, by_user, 1, true, 2000);
    }
    delete_user_rows(dst, user, kSmallTables, nullptr);
    for (const auto& n : kSmallTables)
      st.rows[n] += copy_rows(src, dst, impl_->table(n), "user_id = $1", 1, by_user, 1, true, 2000);
    // Delivery keys are only ever added: the ones since the bulk snapshot (a
    // minute of slack for transactions that began before it).
    st.rows["mailstore_deliveries"] += copy_rows(
        src, dst, impl_->table("mailstore_deliveries"),
        "user_id = $1 AND delivered_at >= $2::text::timestamptz - interval '1 minute'", 1,
        [user, since] { return pq::Params().i64(user).text(since); }, 2, false, 2000);
    // The Sieve delivery state (sql/018, sql/021), so a run retried on the
    // target finds its record and a vacation reply is not sent again: the
    // history whole (upserts; a newer reply time wins), the run records since
    // the bulk snapshot with their outbox (a run's rows are written once, by
    // the transaction that carries it out).
    for (const std::string n : {"mailstore_sieve_vacation", "mailstore_sieve_duplicates"})
      st.rows[n] += copy_rows(src, dst, impl_->table(n), "user_id = $1", 1, by_user, 1, true, 2000);
    const ParamsFn runs_since = [user, since] { return pq::Params().i64(user).text(since); };
    st.rows["mailstore_sieve_runs"] += copy_rows(
        src, dst, impl_->table("mailstore_sieve_runs"),
        "user_id = $1 AND ran_at >= $2::text::timestamptz - interval '1 minute'", 1, runs_since, 2, false, 2000);
    st.rows["mailstore_sieve_outbox"] += copy_rows(
        src, dst, impl_->table("mailstore_sieve_outbox"),
        "user_id = $1 AND run_key IN (SELECT r.run_key FROM mailstore_sieve_runs r WHERE r.user_id = $1 AND "
        "r.ran_at >= $2::text::timestamptz - interval '1 minute')",
        1, runs_since, 2, false, kOutboxBatch);
    bump_sequences(dst, user);
    impl_->fault("delta");
    write.commit();
  } catch (...) {
    intents.abandon();
    throw;
  }
  return sw;
}

CopyStats AccountMover::cleanup(const std::string& url, UserId user, const std::string& moved_to) {
  pq::Connection c(url);
  CopyStats st;
  pq::Transaction tx(c);
  if (!moved_to.empty()) mark_moved(c, user, moved_to);
  delete_user_rows(c, user, kUserTables, &st);
  tx.commit();
  return st;
}

std::map<std::string, int64_t> AccountMover::count_rows(const std::string& url, UserId user) {
  pq::Connection c(url);
  std::map<std::string, int64_t> out;
  for (const auto& n : kUserTables)
    out[n] = c.exec_dynamic("SELECT count(*) FROM " + quote_ident(n) + " WHERE user_id = $1", pq::Params().i64(user))
                 .i64(0, 0);
  return out;
}

void AccountMover::announce_moved(const std::string& url, UserId user, const std::string& from_shard) {
  pq::Connection c(url);
  ChangeEvent e(user, 0, 0, ChangeKind::kMoved, from_shard);
  c.exec_dynamic("SELECT pg_notify($1, $2)", pq::Params().text(kChangeChannel).text(encode_change(e)));
}

}  // namespace postline::mailstore::pg
