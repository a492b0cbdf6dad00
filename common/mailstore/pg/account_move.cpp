#include "common/mailstore/pg/account_move.h"

#include "common/db/pq.h"
#include "common/mailstore/accounts.h"

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
    "mailstore_urlauth_keys", "mailstore_sieve_scripts", "mailstore_sieve_active"};
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

// Rows of `t` matching `where` (parameters from `params`, then LIMIT and
// OFFSET) read from `src` as their composite text form, inserted into `dst`
// in batches. `update`: ON CONFLICT DO UPDATE (else DO NOTHING).
int64_t copy_rows(pq::Connection& src, pq::Connection& dst, const Table& t, const std::string& where,
                  const ParamsFn& params, int nparams, bool update, int batch, int64_t* bytes = nullptr) {
  const std::string select = "SELECT t::text FROM " + quote_ident(t.name) + " t WHERE " + where + " ORDER BY " +
                             join(t.pk) + " LIMIT $" + std::to_string(nparams + 1) + " OFFSET $" +
                             std::to_string(nparams + 2);
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
  for (int64_t offset = 0;; offset += batch) {
    auto p = params();
    p.i64(batch).i64(offset);
    auto r = src.exec_dynamic(select, p);
    if (r.rows() == 0) break;
    std::vector<std::string> rows;
    rows.reserve(r.rows());
    for (int i = 0; i < r.rows(); ++i) {
      rows.push_back(r.text(i, 0));
      if (bytes) *bytes += static_cast<int64_t>(rows.back().size());
    }
    dst.exec_dynamic(insert, pq::Params().text_array(rows));
    copied += r.rows();
    if (r.rows() < batch) break;
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

}  // namespace

struct AccountMover::Impl {
  std::string source_url, target_url;
  std::unordered_map<std::string, Table> tables;  // from the target's catalogue

  const Table& table(const std::string& n) const { return tables.at(n); }

  void load(pq::Connection& src, pq::Connection& dst) {
    if (!tables.empty()) return;
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

  // The bodies of the messages `where` selects (a condition on mailstore_messages m).
  void copy_bodies(pq::Connection& src, pq::Connection& dst, const std::string& where, const ParamsFn& params,
                   int nparams, CopyStats& stats) {
    const std::string sub = "sha256 IN (SELECT m.blob_sha256 FROM mailstore_messages m WHERE " + where + ")";
    for (const auto& n : kBodyTables) {
      int64_t bytes = 0;
      const int64_t rows = copy_rows(src, dst, table(n), sub, params, nparams, false, n == "mailstore_blobs" ? 32 : 500,
                                     n == "mailstore_blobs" ? &bytes : nullptr);
      stats.rows[n] += rows;
      if (n == "mailstore_blobs") {
        stats.bodies += rows;
        stats.body_bytes += bytes;
      }
    }
  }
};

AccountMover::AccountMover(std::string source_url, std::string target_url) : impl_(std::make_unique<Impl>()) {
  impl_->source_url = std::move(source_url);
  impl_->target_url = std::move(target_url);
}
AccountMover::~AccountMover() = default;

void AccountMover::check(UserId user) {
  pq::Connection src(impl_->source_url), dst(impl_->target_url);
  impl_->load(src, dst);
  auto r = src.exec_dynamic(
      "SELECT count(*) FROM mailstore_blobs WHERE data IS NULL AND sha256 IN "
      "(SELECT blob_sha256 FROM mailstore_messages WHERE user_id = $1)",
      pq::Params().i64(user));
  if (r.i64(0, 0) > 0)
    throw AccountMoveError("the account has " + std::to_string(r.i64(0, 0)) +
                           " bodies in the external blob store: moving those between shards is not supported yet");
}

AccountMover::Bulk AccountMover::bulk_copy(UserId user) {
  check(user);
  pq::Connection src(impl_->source_url), dst(impl_->target_url);
  impl_->load(src, dst);
  Bulk out;
  pq::Transaction read(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  out.since = src.exec_dynamic("SELECT now()::text").text(0, 0);
  pq::Transaction write(dst);
  // A move back to a shard the account once left: it may be written here again.
  dst.exec_dynamic("DELETE FROM mailstore_moved_accounts WHERE user_id = $1", pq::Params().i64(user));
  delete_user_rows(dst, user, kUserTables, nullptr);
  const ParamsFn by_user = [user] { return pq::Params().i64(user); };
  for (const auto& n : kUserTables) {
    if (n == "mailstore_messages") impl_->copy_bodies(src, dst, "m.user_id = $1", by_user, 1, out.stats);
    out.stats.rows[n] += copy_rows(src, dst, impl_->table(n), "user_id = $1", by_user, 1, true,
                                   n == "mailstore_messages" ? 1000 : 2000);
  }
  // The mailbox rows again: the message triggers added to the copied totals.
  copy_rows(src, dst, impl_->table("mailstore_mailboxes"), "user_id = $1", by_user, 1, true, 2000);
  bump_sequences(dst, user);
  write.commit();
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
                                                by_user, 1, true, 2000);
    st.rows["mailstore_accounts"] += copy_rows(src, dst, impl_->table("mailstore_accounts"), "user_id = $1",
                                               by_user, 1, true, 10);
    for (const auto& [id, uv] : source_uv) {
      const int64_t from = target_hms.count(id) ? target_hms[id] : 0;
      const ParamsFn p = [user, id = id, from] { return pq::Params().i64(user).i64(id).i64(from); };
      impl_->copy_bodies(src, dst, "m.user_id = $1 AND m.mailbox_id = $2 AND m.modseq > $3", p, 3, st);
      st.rows["mailstore_messages"] +=
          copy_rows(src, dst, impl_->table("mailstore_messages"), "user_id = $1 AND mailbox_id = $2 AND modseq > $3",
                    p, 3, true, 1000);
      st.rows["mailstore_expunged"] +=
          copy_rows(src, dst, impl_->table("mailstore_expunged"), "user_id = $1 AND mailbox_id = $2 AND modseq > $3",
                    p, 3, true, 2000);
      auto ex = dst.exec_dynamic(
          "DELETE FROM mailstore_messages m USING mailstore_expunged e WHERE m.user_id = $1 AND m.mailbox_id = $2 "
          "AND e.user_id = $1 AND e.mailbox_id = $2 AND e.uid = m.uid AND e.modseq > $3",
          p());
      st.rows["mailstore_messages (expunged)"] += ex.affected();
    }
    // The mailbox rows once more: the message triggers changed the totals.
    copy_rows(src, dst, impl_->table("mailstore_mailboxes"), "user_id = $1", by_user, 1, true, 2000);
  }
  delete_user_rows(dst, user, kSmallTables, nullptr);
  for (const auto& n : kSmallTables)
    st.rows[n] += copy_rows(src, dst, impl_->table(n), "user_id = $1", by_user, 1, true, 2000);
  // Delivery keys are only ever added: the ones since the bulk snapshot (a
  // minute of slack for transactions that began before it).
  st.rows["mailstore_deliveries"] += copy_rows(
      src, dst, impl_->table("mailstore_deliveries"),
      "user_id = $1 AND delivered_at >= $2::text::timestamptz - interval '1 minute'",
      [user, since] { return pq::Params().i64(user).text(since); }, 2, false, 2000);
  bump_sequences(dst, user);
  write.commit();
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
