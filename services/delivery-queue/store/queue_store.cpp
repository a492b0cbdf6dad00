#include "services/delivery-queue/store/queue_store.h"

#include "common/db/url_check.h"
#include "common/mime/mime.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <cctype>
#include <cmath>
#include <random>
#include <set>

namespace postline::queue {
namespace {

double to_epoch(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

Clock::time_point from_epoch(double seconds) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
}

// Claimed recipients also carry a transaction-scoped advisory lock in this
// key space, so that `queue show/list` and the depth gauge can see what is
// being delivered right now (row locks are invisible in pg_locks) without
// taking any lock themselves. Released with the claim, or with the session
// of a crashed worker.
constexpr int kDeliveringLockSpace = 0x71756575;  // "queu"
constexpr const char* kDeliveringIds =
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
    " AND classid = 1903519093 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

int64_t lock_key(int64_t id) { return id % 2147483647; }

bool is_final(State s) { return s == State::kDelivered || s == State::kBounced || s == State::kExpired; }

State state_or(const pqxx::field& f) {
  auto s = parse_state(f.as<std::string>());
  return s ? *s : State::kQueued;
}

}  // namespace

std::string_view state_name(State s) {
  switch (s) {
    case State::kQueued: return "queued";
    case State::kDelivering: return "delivering";
    case State::kDelivered: return "delivered";
    case State::kDeferred: return "deferred";
    case State::kBounced: return "bounced";
    case State::kExpired: return "expired";
  }
  return "queued";
}

std::optional<State> parse_state(std::string_view name) {
  for (State s : {State::kQueued, State::kDelivering, State::kDelivered, State::kDeferred, State::kBounced,
                  State::kExpired})
    if (state_name(s) == name) return s;
  return std::nullopt;
}

std::string generate_queue_id() {
  // Time-ordered (sorts roughly by arrival in listings and logs) plus 40 random
  // bits, so ids from several smtpd/queued instances do not collide.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKLMNPQRSTVWXYZ";  // Crockford base32
  uint64_t t = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
  std::string id(18, '0');
  for (int i = 9; i >= 0; --i) {
    id[i] = kAlphabet[t % 32];
    t /= 32;
  }
  uint64_t r = rng();
  for (int i = 10; i < 18; ++i) {
    id[i] = kAlphabet[r % 32];
    r /= 32;
  }
  return id;
}

bool valid_queue_id(std::string_view id) {
  if (id.size() < 6 || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

std::optional<std::string> first_header(std::string_view message, std::string_view name) {
  message = message.substr(0, 256 * 1024);
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header block
    bool match = line.size() >= name.size();
    for (size_t i = 0; match && i < name.size(); ++i)
      match = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
    if (!match) {
      pos = eol + 1;
      continue;
    }
    // The value, with its continuation lines (folding) joined.
    std::string value(line.substr(name.size()));
    pos = eol + 1;
    while (pos < message.size() && (message[pos] == ' ' || message[pos] == '\t')) {
      eol = message.find('\n', pos);
      if (eol == std::string_view::npos) eol = message.size();
      std::string_view more = message.substr(pos, eol - pos);
      if (!more.empty() && more.back() == '\r') more.remove_suffix(1);
      value += more;
      pos = eol + 1;
    }
    auto is_space = [](unsigned char c) { return c == ' ' || c == '\t'; };
    while (!value.empty() && is_space(value.front())) value.erase(value.begin());
    while (!value.empty() && is_space(value.back())) value.pop_back();
    return value;
  }
  return std::nullopt;
}

namespace {

// Valid UTF-8, as a text column needs.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

}  // namespace

std::string header_message_id(std::string_view message) {
  auto found = first_header(message, "message-id:");
  if (!found) return "";
  std::string value = std::move(*found);
  if (value.size() >= 2 && value.front() == '<' && value.back() == '>') value = value.substr(1, value.size() - 2);
  // Stored in a text column: no control characters, no invalid UTF-8.
  const bool clean = std::all_of(value.begin(), value.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
  if (!clean || value.size() > 998) return "";
  return value;
}

std::string header_subject(std::string_view message) {
  auto found = first_header(message, "subject:");
  if (!found) return "";
  std::string value = mime::decode_header_value(*found);
  // Control characters (a decoded =0A, a tab) become spaces; at most 200
  // characters, cut at a character boundary.
  for (auto& c : value)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (!valid_utf8(value)) return "";
  size_t chars = 0, cut = 0;
  while (cut < value.size() && chars < 200) {
    const auto c = static_cast<unsigned char>(value[cut]);
    cut += c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    ++chars;
  }
  value.resize(std::min(cut, value.size()));
  return value;
}

std::string address_domain(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  std::string d(address.substr(at + 1));
  for (auto& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return d;
}

EnqueueResult enqueue(pqxx::work& tx, const NewMessage& msg) {
  EnqueueResult result;
  result.queue_id = msg.queue_id.empty() ? generate_queue_id() : msg.queue_id;
  auto inserted = tx.exec_params(
      "INSERT INTO queue_messages (queue_id, mail_from, helo, client_ip, authenticated_user, dsn_ret, dsn_envid,"
      " smtputf8, body_type, is_dsn, size, body, target_mailbox, header_message_id, header_subject, requiretls)"
      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,NULLIF($14,''),$15,$16)"
      " ON CONFLICT (queue_id) DO NOTHING RETURNING id",
      result.queue_id, msg.mail_from, msg.helo, msg.client_ip, msg.authenticated_user, msg.dsn_ret, msg.dsn_envid,
      msg.smtputf8, msg.body_type, msg.is_dsn, static_cast<int64_t>(msg.body.size()),
      pqxx::binarystring(msg.body.data(), msg.body.size()), msg.target_mailbox, header_message_id(msg.body),
      header_subject(msg.body), msg.requiretls);
  if (inserted.empty()) {
    // smtpd retried an Enqueue whose answer it lost: the first one committed.
    // Same id and same size is the same message; anything else is a clash.
    auto existing = tx.exec_params("SELECT size FROM queue_messages WHERE queue_id = $1", result.queue_id);
    if (!existing.empty() && existing[0][0].as<int64_t>() == static_cast<int64_t>(msg.body.size())) {
      result.duplicate = true;
      return result;
    }
    throw QueueIdConflict("queue id " + result.queue_id + " is already used by another message");
  }
  const int64_t message_id = inserted[0][0].as<int64_t>();
  for (const auto& r : msg.recipients) {
    std::optional<int64_t> user_id;
    if (r.local) user_id = r.user_id;
    tx.exec_params(
        "INSERT INTO queue_recipients (message_id, address, domain, local, user_id, needs_resolve, notify, orcpt)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        message_id, r.address, address_domain(r.address), r.local, user_id, r.needs_resolve, r.notify, r.orcpt);
  }
  return result;
}

RemoteWake::RemoteWake(std::string url) : url_(std::move(url)), thread_([this] { loop(); }) {}

RemoteWake::~RemoteWake() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void RemoteWake::poke() {
  {
    std::lock_guard lock(mu_);
    pending_ = true;
  }
  cv_.notify_one();
}

void RemoteWake::loop() {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return pending_ || stop_; });
    if (stop_) return;
    pending_ = false;  // every poke from here on asks for another NOTIFY
    lock.unlock();
    try {
      if (!conn) conn = std::make_unique<pqxx::connection>(db::with_program_name(url_));
      pqxx::nontransaction tx(*conn);
      tx.exec(std::string("NOTIFY ") + kNotifyChannel);
    } catch (const std::exception& e) {
      conn.reset();
      spdlog::warn("queue wake-up NOTIFY failed: {} (workers still poll)", e.what());
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
      continue;
    }
    lock.lock();
  }
}

EnqueueResult enqueue(pqxx::connection& conn, const NewMessage& msg) {
  pqxx::work tx(conn);
  auto result = enqueue(tx, msg);
  tx.commit();
  return result;
}

// --- Enqueue on libpq ------------------------------------------------------------

namespace {
using db::pq::Connection;
using db::pq::Params;
using db::pq::Statement;

const Statement kInsertMessage{
    "q_insert_message",
    "INSERT INTO queue_messages (queue_id, mail_from, helo, client_ip, authenticated_user, dsn_ret, dsn_envid,"
    " smtputf8, body_type, is_dsn, size, body, target_mailbox, header_message_id, header_subject, requiretls)"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,NULLIF($14,''),$15,$16)"
    " ON CONFLICT (queue_id) DO NOTHING RETURNING id"};

// The recipients in one statement, in the order given (ids ascend with it),
// each either queued or - delivered inside this transaction - final, with
// its attempt. user_id 0 is a remote recipient.
const Statement kInsertRecipients{
    "q_insert_recipients",
    "WITH r AS (INSERT INTO queue_recipients (message_id, address, domain, local, user_id, notify, orcpt, state,"
    "   attempts, last_attempt_at, last_reply, finished_at, next_attempt_at)"
    " SELECT $1, t.address, t.domain, t.user_id > 0, NULLIF(t.user_id, 0), t.notify, t.orcpt,"
    "   CASE WHEN t.reply = '' THEN 'queued' ELSE 'delivered' END, CASE WHEN t.reply = '' THEN 0 ELSE 1 END,"
    "   CASE WHEN t.reply = '' THEN NULL ELSE now() END, t.reply, CASE WHEN t.reply = '' THEN NULL ELSE now() END,"
    "   now() + make_interval(secs => t.delay)"
    " FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $9::bigint[])"
    "   WITH ORDINALITY AS t(address, domain, user_id, notify, orcpt, reply, delay, ord)"
    " ORDER BY t.ord RETURNING id, attempts, last_reply),"
    " a AS (INSERT INTO queue_attempts (recipient_id, started_at, duration_ms, mx_host, reply, outcome)"
    " SELECT r.id, now(), $8, '', r.last_reply, 'delivered' FROM r WHERE r.attempts > 0)"
    " SELECT id FROM r ORDER BY id"};

const Statement kStoreBody{"q_store_body", "UPDATE queue_messages SET body = $2 WHERE id = $1"};
const Statement kMessageSize{"q_message_size", "SELECT size FROM queue_messages WHERE queue_id = $1"};

// Answers a queue id that is already taken: the same message (a retried
// Enqueue whose answer was lost) or a clash.
EnqueueResult already_there(Connection& conn, const std::string& queue_id, size_t size) {
  auto r = conn.exec(kMessageSize, Params().text(queue_id));
  if (r.rows() == 1 && r.i64(0, 0) == static_cast<int64_t>(size)) {
    EnqueueResult out;
    out.queue_id = queue_id;
    out.duplicate = true;
    out.pending = false;
    return out;
  }
  throw QueueIdConflict("queue id " + queue_id + " is already used by another message");
}

void rollback_quietly(Connection& conn) {
  try {
    conn.run("ROLLBACK");
  } catch (const db::pq::Error&) {
  }
}
}  // namespace

std::vector<EnqueueResult> enqueue_batch(Connection& conn, const std::vector<const NewMessage*>& messages,
                                         EnqueueTimeDelivery* now) {
  const size_t count = messages.size();
  std::vector<EnqueueResult> results(count);
  if (count == 0) return results;
  std::vector<std::vector<bool>> tried(count);
  std::vector<bool> body_needed(count, false);
  for (size_t m = 0; m < count; ++m) {
    const NewMessage& msg = *messages[m];
    if (msg.queue_id.empty()) throw std::invalid_argument("enqueue_batch: a message without a queue id");
    results[m].queue_id = msg.queue_id;
    tried[m].assign(msg.recipients.size(), false);
    for (size_t i = 0; i < msg.recipients.size(); ++i) {
      tried[m][i] = now && now->tries(m, i);
      if (!tried[m][i]) body_needed[m] = true;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    // Round trip 1: the message rows, then the deliveries (a queue id that is
    // taken rolls it all back).
    Connection::Pipeline first(conn);
    first.add("BEGIN");
    for (size_t m = 0; m < count; ++m) {
      const NewMessage& msg = *messages[m];
      first.add(kInsertMessage, Params()
                                    .text(msg.queue_id)
                                    .text(msg.mail_from)
                                    .text(msg.helo)
                                    .text(msg.client_ip)
                                    .text(msg.authenticated_user)
                                    .text(msg.dsn_ret)
                                    .text(msg.dsn_envid)
                                    .boolean(msg.smtputf8)
                                    .text(msg.body_type)
                                    .boolean(msg.is_dsn)
                                    .i64(static_cast<int64_t>(msg.body.size()))
                                    .bytea(body_needed[m] ? std::string_view(msg.body) : std::string_view())
                                    .text(msg.target_mailbox)
                                    .text(header_message_id(msg.body))
                                    .text(header_subject(msg.body))
                                    .boolean(msg.requiretls));
    }
    if (now) now->stage(first);
    auto r = first.run();
    std::vector<int64_t> ids(count);
    for (size_t m = 0; m < count; ++m) {
      if (r.at(1 + m).rows() == 0) {
        rollback_quietly(conn);
        if (count > 1) throw BatchSplit("queue id " + messages[m]->queue_id + " is already there");
        results[0] = already_there(conn, messages[0]->queue_id, messages[0]->body.size());
        return results;
      }
      ids[m] = r.at(1 + m).i64(0, 0);
    }
    std::vector<std::vector<std::string>> replies;
    if (now) replies = now->read(r, 1 + count);
    replies.resize(count);

    // Round trip 2: recipients (final or queued), a body that a recipient
    // tried now still needs, COMMIT.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    Connection::Pipeline second(conn);
    std::vector<size_t> recipients_at(count);  // the recipients' statement of each message
    size_t statements = 0;
    for (size_t m = 0; m < count; ++m) {
      const NewMessage& msg = *messages[m];
      const size_t n = msg.recipients.size();
      replies[m].resize(n);
      std::vector<std::string> addresses, domains, notifies, orcpts;
      std::vector<int64_t> users, delays;
      bool pending = false;
      for (size_t i = 0; i < n; ++i) {
        const auto& rc = msg.recipients[i];
        delays.push_back(rc.handoff_shard.empty() ? 0 : std::max<int64_t>(1, rc.handoff_grace.count()));
        addresses.push_back(rc.address);
        domains.push_back(address_domain(rc.address));
        users.push_back(rc.local ? rc.user_id : 0);
        notifies.push_back(rc.notify);
        orcpts.push_back(rc.orcpt);
        if (!tried[m][i]) replies[m][i].clear();
        if (replies[m][i].empty()) pending = true;
        else ++results[m].delivered_now;
      }
      results[m].pending = pending;
      recipients_at[m] = statements++;
      second.add(kInsertRecipients, Params()
                                        .i64(ids[m])
                                        .text_array(addresses)
                                        .text_array(domains)
                                        .i64_array(users)
                                        .text_array(notifies)
                                        .text_array(orcpts)
                                        .text_array(replies[m])
                                        .i32(static_cast<int32_t>(ms.count()))
                                        .i64_array(delays));
      if (pending && !body_needed[m]) {
        second.add(kStoreBody, Params().i64(ids[m]).bytea(msg.body));
        ++statements;
      }
    }
    second.add("COMMIT");
    const auto done = second.run();
    for (size_t m = 0; m < count; ++m) {
      const auto& ids_of = done.at(recipients_at[m]);
      for (int i = 0; i < ids_of.rows(); ++i) results[m].recipient_ids.push_back(ids_of.i64(i, 0));
    }
  } catch (const db::pq::Error& e) {
    rollback_quietly(conn);
    if (count > 1) throw BatchSplit(e.what());
    if (!now) throw;
    // The delivery statements failed (or the recipients did): take the
    // message the ordinary way; the workers deliver it and report.
    spdlog::warn("[q:{}] delivery during Enqueue failed ({}): queued for the workers", messages[0]->queue_id,
                 e.what());
    return enqueue_batch(conn, messages, nullptr);
  }
  if (now) now->committed();
  return results;
}

namespace {
const Statement kStageEnqueue{
    "q_stage_enqueue",
    "WITH m AS (INSERT INTO queue_messages (queue_id, mail_from, helo, client_ip, authenticated_user, dsn_ret,"
    " dsn_envid, smtputf8, body_type, is_dsn, size, body, target_mailbox, header_message_id, header_subject)"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,NULLIF($14,''),$15) RETURNING id)"
    " INSERT INTO queue_recipients (message_id, address, domain, local, user_id, needs_resolve, notify, orcpt)"
    " SELECT m.id, t.address, t.domain, false, NULL, true, t.notify, t.orcpt"
    " FROM m, unnest($16::text[], $17::text[], $18::text[], $19::text[]) WITH ORDINALITY"
    "   AS t(address, domain, notify, orcpt, ord) ORDER BY t.ord"};
}  // namespace

size_t stage_enqueue(Connection::Pipeline& pipe, const NewMessage& msg) {
  if (msg.queue_id.empty()) throw std::invalid_argument("stage_enqueue: a message without a queue id");
  std::vector<std::string> addresses, domains, notifies, orcpts;
  for (const auto& r : msg.recipients) {
    addresses.push_back(r.address);
    domains.push_back(address_domain(r.address));
    notifies.push_back(r.notify);
    orcpts.push_back(r.orcpt);
  }
  pipe.add(kStageEnqueue, Params()
                              .text(msg.queue_id)
                              .text(msg.mail_from)
                              .text(msg.helo)
                              .text(msg.client_ip)
                              .text(msg.authenticated_user)
                              .text(msg.dsn_ret)
                              .text(msg.dsn_envid)
                              .boolean(msg.smtputf8)
                              .text(msg.body_type)
                              .boolean(msg.is_dsn)
                              .i64(static_cast<int64_t>(msg.body.size()))
                              .bytea(msg.body)
                              .text(msg.target_mailbox)
                              .text(header_message_id(msg.body))
                              .text(header_subject(msg.body))
                              .text_array(addresses)
                              .text_array(domains)
                              .text_array(notifies)
                              .text_array(orcpts));
  return 1;
}

EnqueueResult enqueue(Connection& conn, const NewMessage& msg, EnqueueTimeDelivery* now) {
  if (!msg.queue_id.empty()) return enqueue_batch(conn, {&msg}, now).front();
  // The delivery keys derive from the queue id: `now` was built for this message.
  if (now) throw std::invalid_argument("enqueue: a delivery during Enqueue needs the message's queue id");
  NewMessage named = msg;
  named.queue_id = generate_queue_id();
  return enqueue_batch(conn, {&named}, now).front();
}

// --- Immediate delivery into other shards -----------------------------------------

namespace {
const Statement kHandoffDelivered{
    "q_handoff_delivered",
    "WITH d AS (UPDATE queue_recipients q SET state = 'delivered', attempts = q.attempts + 1,"
    "   last_attempt_at = now(), last_reply = t.reply, finished_at = now()"
    " FROM unnest($1::bigint[], $2::text[]) AS t(id, reply)"
    " WHERE q.id = t.id AND q.state = 'queued' AND q.attempts = 0 RETURNING q.id, t.reply)"
    " INSERT INTO queue_attempts (recipient_id, started_at, duration_ms, mx_host, reply, outcome)"
    " SELECT d.id, now(), $3, '', d.reply, 'delivered' FROM d"};
const Statement kHandoffDueNow{
    "q_handoff_due_now",
    "UPDATE queue_recipients SET next_attempt_at = now() WHERE id = ANY($1::bigint[]) AND state = 'queued'"};
}  // namespace

size_t record_handoff(Connection& conn, const std::vector<std::pair<int64_t, std::string>>& delivered,
                      const std::vector<int64_t>& due_now, std::chrono::milliseconds duration) {
  if (delivered.empty() && due_now.empty()) return 0;
  std::vector<int64_t> ids;
  std::vector<std::string> replies;
  for (const auto& [id, reply] : delivered) {
    ids.push_back(id);
    replies.push_back(reply);
  }
  Connection::Pipeline p(conn);
  p.add("BEGIN");
  p.add(kHandoffDelivered,
        Params().i64_array(ids).text_array(replies).i32(static_cast<int32_t>(std::min<int64_t>(duration.count(), INT32_MAX))));
  p.add(kHandoffDueNow, Params().i64_array(due_now));
  p.add("COMMIT");
  try {
    auto r = p.run();
    return static_cast<size_t>(r.at(1).affected());
  } catch (const db::pq::Error&) {
    rollback_quietly(conn);
    throw;
  }
}

// --- Claim ---------------------------------------------------------------------

namespace {
// Serialises the claim statements only (see Claim::Claim); "postclam".
constexpr long long kClaimLockKey = 0x706f7374636c616dLL;

// The claim statements of concurrent claimers run one at a time; see Claim::Claim.
struct ClaimSerialiser {
  explicit ClaimSerialiser(pqxx::work& t) : tx(t) {
    // try_ with a short bound instead of blocking: should a lock ever leak (an
    // SQL error between lock and unlock leaves it with a pooled session), claims
    // fall back to plain SKIP LOCKED after ~200 ms instead of stalling.
    for (int i = 0; i < 20 && !held; ++i) {
      held = tx.exec_params("SELECT pg_try_advisory_lock($1)", kClaimLockKey)[0][0].as<bool>();
      if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~ClaimSerialiser() {
    if (!held) return;
    try {
      tx.exec_params("SELECT pg_advisory_unlock($1)", kClaimLockKey);
    } catch (...) {
      // The transaction is already broken; see the bound above.
    }
  }
  pqxx::work& tx;
  bool held = false;
};

// A row of the claim statements' column list (id, message_id, address, domain,
// local, user_id, needs_resolve, notify, orcpt, attempts, delay_warned, backoff_base).
ClaimedRecipient claimed_recipient(const pqxx::row& row) {
  ClaimedRecipient r;
  r.id = row[0].as<int64_t>();
  r.message_id = row[1].as<int64_t>();
  r.address = row[2].as<std::string>();
  r.domain = row[3].as<std::string>();
  r.local = row[4].as<bool>();
  r.user_id = row[5].as<int64_t>();
  r.needs_resolve = row[6].as<bool>();
  r.notify = row[7].as<std::string>();
  r.orcpt = row[8].as<std::string>();
  r.attempts = row[9].as<int>();
  r.delay_warned = row[10].as<bool>();
  r.backoff_base = row[11].as<int>();
  return r;
}
}  // namespace

Claim::Claim(pqxx::connection& conn, int limit, const std::string& domain) : tx_(conn) {
  {
    // Serialised like the general claim, so this cannot split one message's
    // recipients at the domain with a concurrent claimer either.
    ClaimSerialiser serialised(tx_);
    for (const auto& row : tx_.exec_params(
             "SELECT id, message_id, address, domain, local, coalesce(user_id, 0), needs_resolve, notify, orcpt,"
             " attempts, delay_warned, backoff_base FROM queue_recipients"
             " WHERE state IN ('queued', 'deferred') AND held_at IS NULL AND next_attempt_at <= now()"
             " AND NOT local AND NOT needs_resolve AND domain = $2"
             " ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
             limit, domain)) {
      recipients_.push_back(claimed_recipient(row));
    }
    // Still serialised: a concurrent claimer cannot take part of a message's
    // recipients at the domain between our LIMIT and this.
    take_siblings_of_claimed();
  }
  if (!recipients_.empty()) {
    std::string ids = "{";
    for (const auto& r : recipients_) ids += (ids.size() > 1 ? "," : "") + std::to_string(r.id);
    ids += "}";
    tx_.exec_params("SELECT pg_try_advisory_xact_lock($1, (id % 2147483647)::int4) FROM unnest($2::bigint[]) AS id",
                    kDeliveringLockSpace, ids);
  }
}

int64_t destination_slot_key(const std::string& domain, int slot) {
  // 64-bit FNV-1a of the domain: stable across processes and builds (unlike
  // std::hash). Key layout: 0x51 ('Q') in the top byte keeps these apart from
  // the other advisory keys in this database, 36 bits of hash, 20 bits of
  // slot. Two domains sharing a hash would share slots: stricter, never looser.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : domain) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  const uint64_t key = (0x51ULL << 56) | ((h & 0xFFFFFFFFFULL) << 20) | (static_cast<uint64_t>(slot) & 0xFFFFF);
  return static_cast<int64_t>(key);
}

std::optional<int64_t> acquire_destination_slot(pqxx::transaction_base& tx, const std::string& domain, int max) {
  // One try per slot, never waiting: a busy destination postpones its mail,
  // it does not hold up a worker. Advisory locks are reentrant within a
  // session, so a session must hold at most one slot per domain (Workers
  // keeps one session per domain per claim connection).
  for (int slot = 0; slot < max && slot < (1 << 20); ++slot) {
    const int64_t key = destination_slot_key(domain, slot);
    if (tx.exec_params("SELECT pg_try_advisory_lock($1)", key)[0][0].as<bool>()) return key;
  }
  return std::nullopt;
}

void release_destination_slot(pqxx::connection& conn, int64_t key) {
  pqxx::nontransaction tx(conn);
  tx.exec_params("SELECT pg_advisory_unlock($1)", key);
}

Claim::Claim(pqxx::connection& conn, int limit) : tx_(conn) {
  // ORDER BY next_attempt_at: the longest-waiting first. SKIP LOCKED: rows other
  // workers hold are theirs; we take the next ones instead of waiting.
  //
  // A batch is either local recipients or remote recipients of ONE domain:
  // the oldest due recipient decides which. So a destination that times out
  // only ever holds up its own mail, never a batch of other domains' or local
  // deliveries (head-of-line blocking).
  static const std::string kColumns =
      "SELECT id, message_id, address, domain, local, coalesce(user_id, 0), needs_resolve, notify, orcpt,"
      " attempts, delay_warned, backoff_base FROM queue_recipients"
      " WHERE state IN ('queued', 'deferred') AND held_at IS NULL AND next_attempt_at <= now()";
  auto take = [&](const pqxx::result& rows) {
    for (const auto& row : rows) {
      recipients_.push_back(claimed_recipient(row));
    }
  };
  // The claim statements of concurrent claimers run one at a time (a
  // session-level advisory lock held only around them, not for the attempt):
  // with SKIP LOCKED alone, two statements running side by side could each lock
  // part of one message's recipients at one domain and split a transaction that
  // should carry both RCPTs. The class comes from the oldest due row (locked or
  // not); if everything of that class is in flight elsewhere, fall back to
  // whatever is due.
  // (ClaimSerialiser: a bounded try-lock, so a leaked lock cannot stall claims.)
  ClaimSerialiser serialised(tx_);
  take(tx_.exec_params(
      "WITH f AS (SELECT local OR needs_resolve AS loc, domain FROM queue_recipients"
      "  WHERE state IN ('queued', 'deferred') AND held_at IS NULL AND next_attempt_at <= now()"
      "  ORDER BY next_attempt_at, id LIMIT 1)"
      " SELECT r.id, r.message_id, r.address, r.domain, r.local, coalesce(r.user_id, 0), r.needs_resolve, r.notify,"
      " r.orcpt, r.attempts, r.delay_warned, r.backoff_base FROM queue_recipients r, f"
      " WHERE r.state IN ('queued', 'deferred') AND r.held_at IS NULL AND r.next_attempt_at <= now()"
      " AND ((f.loc AND (r.local OR r.needs_resolve))"
      "   OR (NOT f.loc AND NOT r.local AND NOT r.needs_resolve AND r.domain = f.domain))"
      " ORDER BY r.next_attempt_at, r.id LIMIT $1 FOR UPDATE OF r SKIP LOCKED",
      limit));
  if (recipients_.empty())
    take(tx_.exec_params(kColumns + " ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED", limit));
  // Issue 22 item 4: the LIMIT may have cut a message's recipients at one
  // domain; the rest join now, while the claim statements are still
  // serialised, so no concurrent claimer can take them first.
  take_siblings_of_claimed();
  if (!recipients_.empty()) {
    std::string ids = "{";
    for (const auto& r : recipients_) ids += (ids.size() > 1 ? "," : "") + std::to_string(r.id);
    ids += "}";
    // try_: never wait, even on the (theoretical) key collision.
    tx_.exec_params("SELECT pg_try_advisory_xact_lock($1, (id % 2147483647)::int4) FROM unnest($2::bigint[]) AS id",
                    kDeliveringLockSpace, ids);
  }
}

const MessageData& Claim::message(int64_t message_id) {
  for (const auto& m : messages_)
    if (m->id == message_id) return *m;
  auto rows = tx_.exec_params(
      "SELECT id, queue_id, mail_from, dsn_ret, dsn_envid, smtputf8, body_type, is_dsn, size,"
      " extract(epoch from created_at)::float8, body, target_mailbox,"
      " extract(epoch from coalesce(requeued_at, created_at))::float8, requiretls, authenticated_user FROM queue_messages"
      " WHERE id = $1",
      message_id);
  if (rows.empty()) throw std::runtime_error("queue message " + std::to_string(message_id) + " vanished");
  const auto& row = rows[0];
  auto m = std::make_unique<MessageData>();
  m->id = row[0].as<int64_t>();
  m->queue_id = row[1].as<std::string>();
  m->mail_from = row[2].as<std::string>();
  m->dsn_ret = row[3].as<std::string>();
  m->dsn_envid = row[4].as<std::string>();
  m->smtputf8 = row[5].as<bool>();
  m->body_type = row[6].as<std::string>();
  m->is_dsn = row[7].as<bool>();
  m->size = row[8].as<int64_t>();
  m->created_at = from_epoch(row[9].as<double>());
  pqxx::binarystring body(row[10]);
  m->body = body.str();
  if (!row[11].is_null()) m->target_mailbox = row[11].as<std::string>();
  m->lifetime_start = from_epoch(row[12].as<double>());
  m->requiretls = row[13].as<bool>();
  m->authenticated_user = row[14].as<std::string>();
  messages_.push_back(std::move(m));
  return *messages_.back();
}

void Claim::record(const ClaimedRecipient& r, State state, const Attempt& attempt,
                   Clock::time_point next_attempt_at) {
  const std::string name(state_name(state));
  tx_.exec_params(
      "UPDATE queue_recipients SET state = $2, attempts = attempts + 1, last_attempt_at = to_timestamp($3),"
      " last_reply = $4, next_attempt_at = to_timestamp($5),"
      " finished_at = CASE WHEN $6 THEN now() ELSE NULL END WHERE id = $1",
      r.id, name, to_epoch(attempt.started), attempt.reply, to_epoch(next_attempt_at), is_final(state));
  tx_.exec_params(
      "INSERT INTO queue_attempts (recipient_id, started_at, duration_ms, mx_host, reply, outcome, remote_reply)"
      " VALUES ($1, to_timestamp($2), $3, $4, $5, $6, $7)",
      r.id, to_epoch(attempt.started), static_cast<int64_t>(attempt.duration.count()), attempt.mx_host,
      attempt.reply, name, attempt.remote_reply);
}

void Claim::set_resolution(ClaimedRecipient& r, bool local, int64_t user_id, const std::string& address) {
  std::optional<int64_t> uid;
  if (local) uid = user_id;
  tx_.exec_params(
      "UPDATE queue_recipients SET local = $2, user_id = $3, needs_resolve = false, address = $4, domain = $5"
      " WHERE id = $1",
      r.id, local, uid, address, address_domain(address));
  r.local = local;
  r.user_id = user_id;
  r.needs_resolve = false;
  r.address = address;
  r.domain = address_domain(address);
}

void Claim::mark_delay_warned(const ClaimedRecipient& r) {
  tx_.exec_params("UPDATE queue_recipients SET delay_warned = true WHERE id = $1", r.id);
}

void Claim::postpone(const ClaimedRecipient& r, Clock::time_point when) {
  tx_.exec_params("UPDATE queue_recipients SET next_attempt_at = to_timestamp($2) WHERE id = $1", r.id,
                  to_epoch(when));
}

std::vector<ClaimedRecipient> Claim::take_destination_siblings(
    const std::vector<std::pair<int64_t, std::string>>& groups) {
  std::vector<ClaimedRecipient> added;
  if (groups.empty()) return added;
  std::string held = "{", messages = "{", domains = "{";
  for (const auto& r : recipients_) held += (held.size() > 1 ? "," : "") + std::to_string(r.id);
  held += "}";
  // Text arrays travel as one parameter: quote each domain (no quotes or
  // backslashes in a domain, but escape them anyway).
  for (const auto& [message_id, domain] : groups) {
    messages += (messages.size() > 1 ? "," : "") + std::to_string(message_id);
    std::string quoted = "\"";
    for (char c : domain) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    domains += (domains.size() > 1 ? "," : "") + quoted + "\"";
  }
  messages += "}";
  domains += "}";
  // Not-yet-due siblings too (Postfix retries a message's pending recipients
  // together as well): sending one earlier than its schedule costs nothing,
  // splitting the transaction costs the remote a second copy.
  for (const auto& row : tx_.exec_params(
           "SELECT id, message_id, address, domain, local, coalesce(user_id, 0), needs_resolve, notify, orcpt,"
           " attempts, delay_warned, backoff_base FROM queue_recipients"
           " WHERE (message_id, domain) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))"
           " AND state IN ('queued', 'deferred') AND held_at IS NULL"
           " AND NOT local AND NOT needs_resolve AND NOT (id = ANY($3::bigint[]))"
           " ORDER BY id FOR UPDATE SKIP LOCKED",
           messages, domains, held)) {
    added.push_back(claimed_recipient(row));
  }
  recipients_.insert(recipients_.end(), added.begin(), added.end());
  return added;
}

void Claim::take_siblings_of_claimed() {
  std::vector<std::pair<int64_t, std::string>> groups;
  for (const auto& r : recipients_) {
    if (r.local || r.needs_resolve) continue;
    std::pair<int64_t, std::string> key{r.message_id, r.domain};
    if (std::find(groups.begin(), groups.end(), key) == groups.end()) groups.push_back(std::move(key));
  }
  take_destination_siblings(groups);
}

std::vector<ClaimedRecipient> Claim::claim_destination_siblings(int64_t message_id, const std::string& domain) {
  auto added = take_destination_siblings({{message_id, domain}});
  if (added.empty()) return added;
  std::string ids = "{";
  for (const auto& r : added) ids += (ids.size() > 1 ? "," : "") + std::to_string(r.id);
  ids += "}";
  tx_.exec_params("SELECT pg_try_advisory_xact_lock($1, (id % 2147483647)::int4) FROM unnest($2::bigint[]) AS id",
                  kDeliveringLockSpace, ids);
  return added;
}

std::optional<std::chrono::milliseconds> time_until_next_due(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec(
      "SELECT extract(epoch from (min(next_attempt_at) - now()))::float8 FROM queue_recipients"
      " WHERE state IN ('queued', 'deferred') AND held_at IS NULL");
  if (rows.empty() || rows[0][0].is_null()) return std::nullopt;
  double s = rows[0][0].as<double>();
  if (s < 0) s = 0;
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(s * 1000)));
}

// --- administration --------------------------------------------------------------

namespace {

MessageView message_from_row(const pqxx::row& row) {
  MessageView m;
  m.queue_id = row["queue_id"].as<std::string>();
  m.mail_from = row["mail_from"].as<std::string>();
  m.helo = row["helo"].as<std::string>();
  m.client_ip = row["client_ip"].as<std::string>();
  m.authenticated_user = row["authenticated_user"].as<std::string>();
  m.dsn_ret = row["dsn_ret"].as<std::string>();
  m.dsn_envid = row["dsn_envid"].as<std::string>();
  m.body_type = row["body_type"].as<std::string>();
  m.target_mailbox = row["target_mailbox"].is_null() ? "" : row["target_mailbox"].as<std::string>();
  m.header_message_id = row["header_message_id"].is_null() ? "" : row["header_message_id"].as<std::string>();
  m.header_subject = row["header_subject"].as<std::string>();
  m.smtputf8 = row["smtputf8"].as<bool>();
  m.requiretls = row["requiretls"].as<bool>();
  m.size = row["size"].as<int64_t>();
  m.created_unix = row["created_unix"].as<int64_t>();
  m.requeued_unix = row["requeued_unix"].is_null() ? 0 : row["requeued_unix"].as<int64_t>();
  return m;
}

constexpr const char* kMessageColumns =
    "m.id, m.queue_id, m.mail_from, m.helo, m.client_ip, m.authenticated_user, m.dsn_ret, m.dsn_envid,"
    " m.body_type, m.target_mailbox, m.header_message_id, m.header_subject, m.smtputf8, m.requiretls, m.size,"
    " extract(epoch from m.created_at)::bigint AS created_unix,"
    " extract(epoch from m.requeued_at)::bigint AS requeued_unix";

std::set<int64_t> delivering_keys(pqxx::transaction_base& tx) {
  std::set<int64_t> keys;
  for (const auto& row : tx.exec(kDeliveringIds)) keys.insert(row[0].as<int64_t>());
  return keys;
}

template <typename Ids>
std::string pg_array(const Ids& ids) {
  std::string out = "{";
  for (const auto& id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "}";
}

void load_recipients(pqxx::transaction_base& tx, int64_t message_id, MessageView& m, bool with_history,
                     const std::set<int64_t>& delivering) {
  auto rows = tx.exec_params(
      "SELECT id, address, local, state, attempts, last_reply, extract(epoch from next_attempt_at)::bigint,"
      " domain, notify, orcpt, extract(epoch from held_at)::bigint"
      " FROM queue_recipients WHERE message_id = $1 ORDER BY id",
      message_id);
  for (const auto& row : rows) {
    RecipientView r;
    r.id = row[0].as<int64_t>();
    r.address = row[1].as<std::string>();
    r.local = row[2].as<bool>();
    r.state = state_or(row[3]);
    r.attempts = row[4].as<int>();
    r.last_reply = row[5].as<std::string>();
    r.next_attempt_unix = row[6].as<int64_t>();
    r.domain = row[7].as<std::string>();
    r.notify = row[8].as<std::string>();
    r.orcpt = row[9].as<std::string>();
    const bool pending = r.state == State::kQueued || r.state == State::kDeferred;
    if (pending && !row[10].is_null()) {
      r.held = true;
      r.held_since_unix = row[10].as<int64_t>();
      m.held = true;
    }
    if (pending && delivering.count(lock_key(r.id))) r.state = State::kDelivering;
    m.recipients.push_back(std::move(r));
  }
  if (!with_history || m.recipients.empty()) return;
  // Every attempt of the message's recipients in one statement (not one per
  // recipient: the portal lists many messages with their history).
  std::map<int64_t, RecipientView*> by_id;
  for (auto& r : m.recipients) by_id[r.id] = &r;
  auto attempts = tx.exec_params(
      "SELECT a.recipient_id, extract(epoch from a.started_at)::bigint, a.duration_ms, a.mx_host, a.reply, a.outcome,"
      " coalesce(a.remote_reply, a.mx_host <> '')"
      " FROM queue_attempts a JOIN queue_recipients r ON r.id = a.recipient_id"
      " WHERE r.message_id = $1 ORDER BY a.started_at, a.id",
      message_id);
  for (const auto& a : attempts) {
    auto it = by_id.find(a[0].as<int64_t>());
    if (it == by_id.end()) continue;  // a recipient added after the first statement read them
    RecipientView::AttemptView v;
    v.started_unix = a[1].as<int64_t>();
    v.duration_ms = a[2].as<int64_t>();
    v.mx_host = a[3].as<std::string>();
    v.reply = a[4].as<std::string>();
    v.outcome = state_or(a[5]);
    v.remote_reply = a[6].as<bool>();
    it->second->history.push_back(std::move(v));
  }
}

// One statement for every filter: each condition is a parameter that is
// "off" when empty/zero, so the SQL text never depends on the input (only the
// ORDER BY direction is one of two constant texts).
// $1 sender given, $2 sender, $3 message id, $4 older than (s), $5 newer than
// (s), $6 recipient, $7 domain, $8 state ('' = pending, 'any' = any state),
// $9 held only, $10 the delivering recipients' lock keys, $11 limit,
// $12 authenticated user ('' = any), $13 the queue id of a page's boundary
// message ('' = none), $14 true: the rows after it in (created_at, id) order,
// false: those before it.
constexpr const char* kSelectFiltered =
    " FROM queue_messages m"
    " WHERE (NOT $1::boolean OR lower(m.mail_from) = lower($2::text))"
    " AND ($3::text = '' OR m.header_message_id = $3)"
    " AND ($4::bigint = 0 OR m.created_at < now() - make_interval(secs => $4::float8))"
    " AND ($5::bigint = 0 OR m.created_at > now() - make_interval(secs => $5::float8))"
    " AND ($12::text = '' OR lower(m.authenticated_user) = lower($12::text))"
    " AND ($13::text = '' OR CASE WHEN $14::boolean"
    "   THEN (m.created_at, m.id) > (SELECT c.created_at, c.id FROM queue_messages c WHERE c.queue_id = $13)"
    "   ELSE (m.created_at, m.id) < (SELECT c.created_at, c.id FROM queue_messages c WHERE c.queue_id = $13) END)"
    " AND EXISTS (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id"
    "   AND ($6::text = '' OR lower(r.address) = lower($6))"
    "   AND ($7::text = '' OR r.domain = lower($7))"
    "   AND CASE WHEN $8::text = '' THEN r.state IN ('queued', 'deferred')"
    "            WHEN $8 = 'any' THEN true"
    "            WHEN $8 = 'delivering' THEN r.state IN ('queued', 'deferred')"
    "                 AND (r.id % 2147483647) = ANY($10::bigint[])"
    "            ELSE r.state = $8 END"
    "   AND (NOT $9::boolean OR (r.held_at IS NOT NULL AND r.state IN ('queued', 'deferred'))))";
constexpr const char* kOldestFirst = " ORDER BY m.created_at, m.id LIMIT $11::bigint";
constexpr const char* kNewestFirst = " ORDER BY m.created_at DESC, m.id DESC LIMIT $11::bigint";

// `cursor`: a page's boundary message ("" = none); `after`: the rows after it
// in (created_at, id) order, else those before it.
pqxx::result run_filter(pqxx::transaction_base& tx, const std::string& columns, const MessageFilter& f, int limit,
                        bool newest_first = false, const std::string& cursor = "", bool after = true) {
  std::string message_id = f.message_id;
  if (message_id.size() >= 2 && message_id.front() == '<' && message_id.back() == '>')
    message_id = message_id.substr(1, message_id.size() - 2);
  const std::string state = f.state ? std::string(state_name(*f.state)) : f.any_state ? "any" : "";
  const std::string delivering = state == "delivering" ? pg_array(delivering_keys(tx)) : "{}";
  return tx.exec_params("SELECT " + columns + kSelectFiltered + (newest_first ? kNewestFirst : kOldestFirst),
                        f.sender.has_value(), f.sender.value_or(""), message_id, f.older_than_seconds,
                        f.newer_than_seconds, f.recipient, f.domain, state, f.held_only, delivering, limit,
                        f.authenticated_user, cursor, after);
}

}  // namespace

std::optional<MessageView> get_message(pqxx::connection& conn, const std::string& queue_id, bool with_history) {
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec_params(std::string("SELECT ") + kMessageColumns + " FROM queue_messages m WHERE m.queue_id = $1",
                             queue_id);
  if (rows.empty()) return std::nullopt;
  auto m = message_from_row(rows[0]);
  load_recipients(tx, rows[0]["id"].as<int64_t>(), m, with_history, delivering_keys(tx));
  return m;
}

std::vector<MessageView> list_messages(pqxx::connection& conn, const MessageFilter& filter, int limit,
                                       bool with_history, bool newest_first, const Page& page) {
  pqxx::read_transaction tx(conn);
  const bool backward = !page.before.empty();
  const std::string& cursor = backward ? page.before : page.after;
  if (!cursor.empty() && tx.exec_params("SELECT 1 FROM queue_messages WHERE queue_id = $1", cursor).empty())
    throw PageCursorGone("no message " + cursor + " in the queue");
  // A page before the cursor is read towards it from the far side's end: the
  // `limit` nearest matches in the opposite order, turned round below.
  const bool descending = newest_first != backward;
  const auto delivering = delivering_keys(tx);
  std::vector<MessageView> out;
  for (const auto& row : run_filter(tx, kMessageColumns, filter, limit, descending, cursor, !descending)) {
    auto m = message_from_row(row);
    load_recipients(tx, row["id"].as<int64_t>(), m, with_history, delivering);
    out.push_back(std::move(m));
  }
  if (backward) std::reverse(out.begin(), out.end());
  return out;
}

std::vector<MessageView> list_messages(pqxx::connection& conn, std::optional<State> state, int limit) {
  MessageFilter f;
  f.state = state;
  return list_messages(conn, f, limit);
}

std::vector<SelectedMessage> select_messages(pqxx::transaction_base& tx, const MessageFilter& filter, int limit) {
  std::vector<SelectedMessage> out;
  for (const auto& row : run_filter(tx, "m.id, m.queue_id", filter, limit))
    out.push_back({row[0].as<int64_t>(), row[1].as<std::string>()});
  return out;
}

std::vector<SelectedMessage> resolve_selection(pqxx::transaction_base& tx, const Selection& sel, int limit,
                                               std::vector<std::string>* missing) {
  if (sel.queue_ids.empty()) return select_messages(tx, sel.filter, limit);
  std::vector<SelectedMessage> out;
  std::set<std::string> seen;
  for (const auto& qid : sel.queue_ids) {
    if (!seen.insert(qid).second) continue;
    auto rows = tx.exec_params("SELECT id FROM queue_messages WHERE queue_id = $1", qid);
    if (rows.empty()) {
      if (missing) missing->push_back(qid);
      continue;
    }
    out.push_back({rows[0][0].as<int64_t>(), qid});
  }
  return out;
}

std::string_view admin_action_name(AdminAction a) {
  switch (a) {
    case AdminAction::kHold: return "hold";
    case AdminAction::kRelease: return "release";
    case AdminAction::kRequeue: return "requeue";
    case AdminAction::kRetry: return "retry";
  }
  return "retry";
}

ActionCount apply_action(pqxx::transaction_base& tx, AdminAction action,
                         const std::vector<SelectedMessage>& messages) {
  ActionCount out;
  if (messages.empty()) return out;
  std::vector<int64_t> ids;
  for (const auto& m : messages) ids.push_back(m.id);
  const std::string array = pg_array(ids);
  // Every statement touches pending recipients only: a delivered, bounced or
  // expired recipient has nothing left to hold or retry.
  const char* sql = nullptr;
  switch (action) {
    case AdminAction::kHold:
      sql = "UPDATE queue_recipients SET held_at = now() WHERE message_id = ANY($1::bigint[])"
            " AND state IN ('queued', 'deferred') AND held_at IS NULL RETURNING message_id";
      break;
    case AdminAction::kRelease:
      sql = "UPDATE queue_recipients SET held_at = NULL, next_attempt_at = now() WHERE message_id = ANY($1::bigint[])"
            " AND state IN ('queued', 'deferred') AND held_at IS NOT NULL RETURNING message_id";
      break;
    case AdminAction::kRequeue:
      sql = "UPDATE queue_recipients SET held_at = NULL, next_attempt_at = now(), backoff_base = attempts"
            " WHERE message_id = ANY($1::bigint[]) AND state IN ('queued', 'deferred') RETURNING message_id";
      break;
    case AdminAction::kRetry:
      sql = "UPDATE queue_recipients SET next_attempt_at = now() WHERE message_id = ANY($1::bigint[])"
            " AND state IN ('queued', 'deferred') AND held_at IS NULL RETURNING message_id";
      break;
  }
  auto rows = tx.exec_params(sql, array);
  std::set<int64_t> changed;
  for (const auto& row : rows) changed.insert(row[0].as<int64_t>());
  out.recipients = static_cast<int64_t>(rows.size());
  out.messages = static_cast<int64_t>(changed.size());
  for (const auto& m : messages)
    if (changed.count(m.id)) out.queue_ids.push_back(m.queue_id);
  if (action == AdminAction::kRequeue && !changed.empty())
    tx.exec_params("UPDATE queue_messages SET requeued_at = now() WHERE id = ANY($1::bigint[])", pg_array(changed));
  if (action != AdminAction::kHold && out.recipients > 0) tx.exec(std::string("NOTIFY ") + kNotifyChannel);
  return out;
}

std::optional<StoredBody> message_body(pqxx::connection& conn, const std::string& queue_id) {
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec_params("SELECT body, size FROM queue_messages WHERE queue_id = $1", queue_id);
  if (rows.empty()) return std::nullopt;
  StoredBody out;
  out.body = pqxx::binarystring(rows[0][0]).str();
  out.stored = !(out.body.empty() && rows[0][1].as<int64_t>() > 0);
  return out;
}

int64_t retry_now(pqxx::connection& conn, const std::string& queue_id) {
  pqxx::work tx(conn);
  pqxx::result r;
  // Held recipients wait for `queue release` (postqueue -f does not deliver
  // the hold queue either).
  if (queue_id.empty()) {
    r = tx.exec(
        "UPDATE queue_recipients SET next_attempt_at = now() WHERE state IN ('queued', 'deferred')"
        " AND held_at IS NULL AND next_attempt_at > now()");
  } else {
    r = tx.exec_params(
        "UPDATE queue_recipients SET next_attempt_at = now() WHERE state IN ('queued', 'deferred')"
        " AND held_at IS NULL AND message_id = (SELECT id FROM queue_messages WHERE queue_id = $1)",
        queue_id);
  }
  tx.exec(std::string("NOTIFY ") + kNotifyChannel);
  tx.commit();
  return static_cast<int64_t>(r.affected_rows());
}

std::optional<DeletedMessage> delete_message(pqxx::work& tx, const std::string& queue_id) {
  auto ids = tx.exec_params("SELECT id FROM queue_messages WHERE queue_id = $1 FOR UPDATE", queue_id);
  if (ids.empty()) return std::nullopt;
  const int64_t id = ids[0][0].as<int64_t>();
  DeletedMessage out;
  auto m = tx.exec_params(
      "SELECT id, queue_id, mail_from, dsn_ret, dsn_envid, smtputf8, body_type, is_dsn, size,"
      " extract(epoch from created_at)::float8, body, requiretls FROM queue_messages WHERE id = $1",
      id);
  const auto& row = m[0];
  out.message.requiretls = row[11].as<bool>();
  out.message.id = id;
  out.message.queue_id = row[1].as<std::string>();
  out.message.mail_from = row[2].as<std::string>();
  out.message.dsn_ret = row[3].as<std::string>();
  out.message.dsn_envid = row[4].as<std::string>();
  out.message.smtputf8 = row[5].as<bool>();
  out.message.body_type = row[6].as<std::string>();
  out.message.is_dsn = row[7].as<bool>();
  out.message.size = row[8].as<int64_t>();
  out.message.created_at = from_epoch(row[9].as<double>());
  out.message.lifetime_start = out.message.created_at;
  out.message.body = pqxx::binarystring(row[10]).str();
  // Waits for a worker that is delivering one of these recipients right now:
  // deleting under its feet would lose the outcome of a delivery in flight.
  auto pending = tx.exec_params(
      "SELECT id, address, domain, local, coalesce(user_id, 0), notify, orcpt, attempts FROM queue_recipients"
      " WHERE message_id = $1 AND state IN ('queued', 'deferred') FOR UPDATE",
      id);
  for (const auto& p : pending) {
    ClaimedRecipient r;
    r.id = p[0].as<int64_t>();
    r.message_id = id;
    r.address = p[1].as<std::string>();
    r.domain = p[2].as<std::string>();
    r.local = p[3].as<bool>();
    r.user_id = p[4].as<int64_t>();
    r.notify = p[5].as<std::string>();
    r.orcpt = p[6].as<std::string>();
    r.attempts = p[7].as<int>();
    out.pending.push_back(std::move(r));
  }
  tx.exec_params("DELETE FROM queue_messages WHERE id = $1", id);
  return out;
}

int64_t purge_finished(pqxx::connection& conn, std::chrono::seconds keep, int limit) {
  pqxx::work tx(conn);
  // Batches keep each transaction short; SKIP LOCKED never waits on a message
  // that an administrator or a worker is touching.
  auto r = tx.exec_params(
      "DELETE FROM queue_messages WHERE id IN (SELECT m.id FROM queue_messages m"
      " WHERE m.created_at < now() - make_interval(secs => $1)"
      " AND NOT EXISTS (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id"
      "   AND (r.state IN ('queued', 'deferred', 'delivering') OR r.finished_at >= now() - make_interval(secs => $1)))"
      " ORDER BY m.id LIMIT $2 FOR UPDATE SKIP LOCKED)",
      static_cast<double>(keep.count()), limit);
  tx.commit();
  return static_cast<int64_t>(r.affected_rows());
}

QueueStats stats(pqxx::connection& conn) {
  QueueStats s;
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec("SELECT state, count(*) FROM queue_recipients GROUP BY state");
  for (State st : {State::kQueued, State::kDelivering, State::kDelivered, State::kDeferred, State::kBounced,
                   State::kExpired}) {
    int64_t n = 0;
    for (const auto& row : rows)
      if (row[0].as<std::string>() == state_name(st)) n = row[1].as<int64_t>();
    s.depth.emplace_back(st, n);
  }
  // In flight: counted from the claims' advisory locks (see kDeliveringLockSpace).
  const auto in_flight = tx.exec(std::string("SELECT count(*) FROM (") + kDeliveringIds + ") d")[0][0].as<int64_t>();
  for (auto& [st, n] : s.depth)
    if (st == State::kDelivering) n = in_flight;
  auto oldest = tx.exec(
      "SELECT coalesce(extract(epoch from now() - min(m.created_at)), 0)::float8 FROM queue_messages m"
      " WHERE EXISTS (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id"
      " AND r.state IN ('queued', 'deferred') AND r.held_at IS NULL)");
  s.held_messages = tx.exec(
      "SELECT count(DISTINCT message_id) FROM queue_recipients WHERE held_at IS NOT NULL"
      " AND state IN ('queued', 'deferred')")[0][0].as<int64_t>();
  s.oldest_pending_age_seconds = oldest[0][0].as<double>();
  return s;
}

}  // namespace postline::queue
