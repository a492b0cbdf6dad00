#include "common/mailstore/pg/sieve_state.h"

#include <algorithm>
#include <climits>
#include <string_view>

namespace postline::mailstore::pg::sieve_state {

namespace {

using db::pq::Connection;
using db::pq::Params;
using db::pq::Result;
using db::pq::Statement;

const Statement kActive{"ms_sieve_state_active",
                        "SELECT a.user_id, a.name, s.sha256 FROM mailstore_sieve_active a "
                        "JOIN mailstore_sieve_scripts s ON s.user_id = a.user_id AND s.name = a.name "
                        "WHERE a.user_id = ANY($1)"};
const Statement kText{"ms_sieve_state_text",
                      "SELECT script FROM mailstore_sieve_scripts WHERE user_id = $1 AND name = $2"};
// "mailstore_sieve:<user>", hashed like the metadata lock (013).
const Statement kLock{"ms_sieve_state_lock",
                      "SELECT pg_advisory_xact_lock(hashtextextended('mailstore_sieve:' || $1::text, 0))"};
const Statement kRun{"ms_sieve_state_run",
                     "SELECT rejected, reply FROM mailstore_sieve_runs WHERE user_id = $1 AND run_key = $2"};
const Statement kVacationAges{
    "ms_sieve_state_vacation_ages",
    "SELECT k.key, floor(extract(epoch FROM now() - v.replied_at))::bigint FROM unnest($2::bytea[]) AS k(key) "
    "JOIN mailstore_sieve_vacation v ON v.user_id = $1 AND v.key_sha256 = sha256(k.key)"};
const Statement kDuplicatesSeen{
    "ms_sieve_state_duplicates_seen",
    "SELECT k.key FROM unnest($2::bytea[]) AS k(key) "
    "JOIN mailstore_sieve_duplicates d ON d.user_id = $1 AND d.key_sha256 = sha256(k.key) AND d.expires_at > now()"};
const Statement kMailboxesExist{"ms_sieve_state_mailboxes",
                                "SELECT name FROM mailstore_mailboxes WHERE user_id = $1 AND name = ANY($2)"};
const Statement kScripts{"ms_sieve_state_scripts",
                         "SELECT name, script FROM mailstore_sieve_scripts WHERE user_id = $1 AND name = ANY($2)"};
// Plain INSERT: a run recorded before is a unique violation that rolls the
// whole delivery back (duplicate_run()).
const Statement kRecordRun{"ms_sieve_state_record_run",
                           "INSERT INTO mailstore_sieve_runs (user_id, run_key, rejected, reply) "
                           "VALUES ($1, $2, $3, $4)"};
const Statement kRecordOutgoing{
    "ms_sieve_state_record_outgoing",
    "INSERT INTO mailstore_sieve_outbox (user_id, run_key, n, queue_id, mail_from, helo, client_ip, authenticated_user,"
    " dsn_ret, dsn_envid, smtputf8, body_type, is_dsn, target_mailbox, recipients, notify, orcpt, body)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"};
const Statement kOutbox{
    "ms_sieve_state_outbox",
    "SELECT queue_id, mail_from, helo, client_ip, authenticated_user, dsn_ret, dsn_envid, smtputf8, body_type, is_dsn,"
    " target_mailbox, recipients, notify, orcpt, body FROM mailstore_sieve_outbox WHERE user_id = $1 AND run_key = $2"
    " ORDER BY n"};
const Statement kRecordVacation{
    "ms_sieve_state_record_vacation",
    "INSERT INTO mailstore_sieve_vacation (user_id, key_sha256, replied_at) "
    "SELECT DISTINCT $1::bigint, sha256(k), now() FROM unnest($2::bytea[]) AS k "
    "ON CONFLICT (user_id, key_sha256) DO UPDATE SET replied_at = now()"};
// RFC 7352: an id recorded again within its period keeps its expiry, unless
// the test had :last; an expired one starts a new period.
const Statement kRecordDuplicates{
    "ms_sieve_state_record_duplicates",
    "INSERT INTO mailstore_sieve_duplicates AS d (user_id, key_sha256, expires_at) "
    "SELECT $1, sha256(t.key), now() + make_interval(secs => t.secs::double precision) "
    "FROM unnest($2::bytea[], $3::int8[]) AS t(key, secs) "
    "ON CONFLICT (user_id, key_sha256) DO UPDATE SET expires_at = EXCLUDED.expires_at "
    "WHERE d.expires_at <= now()"};
const Statement kRefreshDuplicates{
    "ms_sieve_state_refresh_duplicates",
    "INSERT INTO mailstore_sieve_duplicates AS d (user_id, key_sha256, expires_at) "
    "SELECT $1, sha256(t.key), now() + make_interval(secs => t.secs::double precision) "
    "FROM unnest($2::bytea[], $3::int8[]) AS t(key, secs) "
    "ON CONFLICT (user_id, key_sha256) DO UPDATE SET expires_at = EXCLUDED.expires_at"};
const Statement kPruneRuns{"ms_sieve_state_prune_runs",
                           "DELETE FROM mailstore_sieve_runs WHERE ctid = ANY(ARRAY(SELECT ctid FROM mailstore_sieve_runs "
                           "WHERE ran_at < now() - make_interval(secs => $1::double precision) LIMIT $2))"};
const Statement kPruneVacation{
    "ms_sieve_state_prune_vacation",
    "DELETE FROM mailstore_sieve_vacation WHERE ctid = ANY(ARRAY(SELECT ctid FROM mailstore_sieve_vacation "
    "WHERE replied_at < now() - make_interval(secs => $1::double precision) LIMIT $2))"};
const Statement kPruneDuplicates{
    "ms_sieve_state_prune_duplicates",
    "DELETE FROM mailstore_sieve_duplicates WHERE ctid = ANY(ARRAY(SELECT ctid FROM mailstore_sieve_duplicates "
    "WHERE expires_at < now() LIMIT $1))"};

std::vector<std::string> list(const std::set<std::string>& s) { return {s.begin(), s.end()}; }

}  // namespace

std::map<UserId, ActiveScript> active_scripts(Connection& c, const std::vector<UserId>& users) {
  std::map<UserId, ActiveScript> out;
  if (users.empty()) return out;
  std::vector<int64_t> ids(users.begin(), users.end());
  const Result r = c.exec(kActive, Params().i64_array(ids));
  for (int i = 0; i < r.rows(); ++i) out[r.i64(i, 0)] = {r.text(i, 1), r.text(i, 2)};
  return out;
}

std::optional<std::string> script_text(Connection& c, UserId user, const std::string& name) {
  const Result r = c.exec(kText, Params().i64(user).text(name));
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

size_t add_lock(Connection::Pipeline& pipe, UserId user) {
  pipe.add(kLock, Params().i64(user));
  return 1;
}

size_t add_run_lookup(Connection::Pipeline& pipe, UserId user, const std::string& run_key) {
  pipe.add(kRun, Params().i64(user).text(run_key));
  return 1;
}

std::optional<RecordedRun> read_run(const Result& r) {
  if (r.rows() == 0) return std::nullopt;
  return RecordedRun{r.boolean(0, 0), r.text(0, 1)};
}

size_t add_questions(Connection::Pipeline& pipe, UserId user, const Questions& q) {
  pipe.add(kVacationAges, Params().i64(user).bytea_array(list(q.vacation_keys)));
  pipe.add(kDuplicatesSeen, Params().i64(user).bytea_array(list(q.duplicate_keys)));
  pipe.add(kMailboxesExist, Params().i64(user).text_array(list(q.mailboxes)));
  pipe.add(kScripts, Params().i64(user).text_array(list(q.scripts)));
  return kQuestionStatements;
}

void read_answers(const std::vector<Result>& results, size_t first, const Questions& q, Answers& into) {
  const Result& ages = results.at(first);
  for (int i = 0; i < ages.rows(); ++i) into.vacation_age[ages.text(i, 0)] = ages.i64(i, 1);
  const Result& seen = results.at(first + 1);
  for (int i = 0; i < seen.rows(); ++i) into.duplicates_seen.insert(seen.text(i, 0));
  const Result& boxes = results.at(first + 2);
  for (int i = 0; i < boxes.rows(); ++i) into.mailboxes.insert(boxes.text(i, 0));
  const Result& scripts = results.at(first + 3);
  for (int i = 0; i < scripts.rows(); ++i) into.scripts[scripts.text(i, 0)] = scripts.text(i, 1);
  (void)q;
}

size_t add_records(Connection::Pipeline& pipe, UserId user, const Records& r) {
  pipe.add(kRecordRun, Params().i64(user).text(r.run_key).boolean(r.outcome.rejected).text(r.outcome.reply));
  size_t n = 1;
  for (size_t i = 0; i < r.outbox.size(); ++i) {
    const Outgoing& o = r.outbox[i];
    std::vector<std::string> addresses, notifies, orcpts;
    for (const auto& rc : o.recipients) {
      addresses.push_back(rc.address);
      notifies.push_back(rc.notify);
      orcpts.push_back(rc.orcpt);
    }
    pipe.add(kRecordOutgoing, Params()
                                  .i64(user)
                                  .text(r.run_key)
                                  .i32(static_cast<int32_t>(i))
                                  .text(o.queue_id)
                                  .text(o.mail_from)
                                  .text(o.helo)
                                  .text(o.client_ip)
                                  .text(o.authenticated_user)
                                  .text(o.dsn_ret)
                                  .text(o.dsn_envid)
                                  .boolean(o.smtputf8)
                                  .text(o.body_type)
                                  .boolean(o.is_dsn)
                                  .text(o.target_mailbox)
                                  .text_array(addresses)
                                  .text_array(notifies)
                                  .text_array(orcpts)
                                  .bytea(o.body));
    ++n;
  }
  if (!r.vacation_keys.empty()) {
    pipe.add(kRecordVacation, Params().i64(user).bytea_array(r.vacation_keys));
    ++n;
  }
  // One row per key and statement (ON CONFLICT may not touch a row twice).
  std::map<std::string, const Records::Duplicate*> plain, refresh;
  for (const auto& d : r.duplicates) (d.refresh ? refresh : plain)[d.key] = &d;
  for (auto* group : {&plain, &refresh}) {
    if (group->empty()) continue;
    std::vector<std::string> keys;
    std::vector<int64_t> secs;
    for (const auto& [k, d] : *group) {
      keys.push_back(k);
      secs.push_back(static_cast<int64_t>(std::min<std::uint64_t>(d->seconds, INT32_MAX)));
    }
    pipe.add(group == &plain ? kRecordDuplicates : kRefreshDuplicates, Params().i64(user).bytea_array(keys).i64_array(secs));
    ++n;
  }
  return n;
}

bool duplicate_run(const db::pq::Error& e) {
  return e.unique_violation() && std::string_view(e.what()).find("mailstore_sieve_runs") != std::string_view::npos;
}

size_t add_outbox_lookup(Connection::Pipeline& pipe, UserId user, const std::string& run_key) {
  pipe.add(kOutbox, Params().i64(user).text(run_key));
  return 1;
}

std::vector<Outgoing> read_outbox(const Result& r) {
  std::vector<Outgoing> out;
  for (int i = 0; i < r.rows(); ++i) {
    Outgoing o;
    o.queue_id = r.text(i, 0);
    o.mail_from = r.text(i, 1);
    o.helo = r.text(i, 2);
    o.client_ip = r.text(i, 3);
    o.authenticated_user = r.text(i, 4);
    o.dsn_ret = r.text(i, 5);
    o.dsn_envid = r.text(i, 6);
    o.smtputf8 = r.boolean(i, 7);
    o.body_type = r.text(i, 8);
    o.is_dsn = r.boolean(i, 9);
    o.target_mailbox = r.text(i, 10);
    const auto addresses = r.text_array(i, 11), notifies = r.text_array(i, 12), orcpts = r.text_array(i, 13);
    for (size_t k = 0; k < addresses.size(); ++k)
      o.recipients.push_back({addresses[k], k < notifies.size() ? notifies[k] : "", k < orcpts.size() ? orcpts[k] : ""});
    o.body = r.text(i, 14);
    out.push_back(std::move(o));
  }
  return out;
}

std::int64_t prune(Connection& c, std::int64_t runs_max_age_seconds, std::int64_t vacation_max_age_seconds,
                   std::int64_t batch) {
  std::int64_t n = c.exec(kPruneRuns, Params().i64(runs_max_age_seconds).i64(batch)).affected();
  n += c.exec(kPruneVacation, Params().i64(vacation_max_age_seconds).i64(batch)).affected();
  n += c.exec(kPruneDuplicates, Params().i64(batch)).affected();
  return n;
}

}  // namespace postline::mailstore::pg::sieve_state
