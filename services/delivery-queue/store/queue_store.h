// All SQL of the delivery queue (tables in ../sql/). Everything here is
// blocking libpqxx on a connection the caller owns; callers run it on worker
// threads or gRPC handler threads, never on an I/O thread.
//
// The queue's guarantees live here:
//  - enqueue() commits message and recipients in one transaction, and only a
//    committed message gets a queue id back;
//  - Claim holds FOR UPDATE SKIP LOCKED row locks on the recipients it returns
//    until commit(), so any number of workers and instances share one queue
//    without double delivery, and a crashed worker's rows are due again at once.
#pragma once

#include "common/db/pq.h"

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace postline::queue {

enum class State { kQueued, kDelivering, kDelivered, kDeferred, kBounced, kExpired };
std::string_view state_name(State s);
std::optional<State> parse_state(std::string_view name);

using Clock = std::chrono::system_clock;

struct NewRecipient {
  std::string address;
  bool local = false;
  int64_t user_id = 0;
  std::string notify;  // RFC 3461 NOTIFY as given ("" = default FAILURE,DELAY)
  std::string orcpt;
  bool needs_resolve = false;  // local/remote decided by authd at delivery time
  // Local: the user's limits as smtpd had them from authd at RCPT (0 =
  // unlimited), for a delivery during Enqueue; not stored (a worker asks
  // authd again).
  bool quota_known = false;
  int64_t quota_bytes = 0;
  int64_t quota_messages = 0;
  // Sharding: the mailstore shard (not db.url's) this local recipient is
  // handed to right after the Enqueue commit (delivery/immediate_delivery.h);
  // "" = none. Not stored; such a recipient is stored queued but due only
  // `handoff_grace` later (queue.handoff_grace), so a worker takes it only
  // when the hand-off did not happen (a crash, a failure).
  std::string handoff_shard;
  std::chrono::seconds handoff_grace{10};
};

struct NewMessage {
  std::string queue_id;  // "" = generate one
  std::string mail_from;
  std::string helo, client_ip, authenticated_user;
  std::string dsn_ret, dsn_envid;
  bool smtputf8 = false;
  bool requiretls = false;  // RFC 8689 MAIL FROM ... REQUIRETLS
  std::string body_type;
  bool is_dsn = false;
  // Mailbox for local recipients ("" = INBOX; smtpd's spam verdict: "Junk").
  std::string target_mailbox;
  std::vector<NewRecipient> recipients;
  std::string body;
};

struct EnqueueResult {
  std::string queue_id;
  bool duplicate = false;  // the same queue id was already committed (a retried Enqueue)
  size_t delivered_now = 0;  // recipients delivered inside the Enqueue transaction
  bool pending = true;       // some recipient waits for a worker (wake them)
  // The queue recipient ids in recipient order (enqueue_batch; empty for a
  // duplicate): a hand-off keys its deliveries by them.
  std::vector<int64_t> recipient_ids;
};

// Thrown when a caller-chosen queue id is already taken by a different message.
class QueueIdConflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string generate_queue_id();
bool valid_queue_id(std::string_view id);
// The Message-ID header of `message` (unfolded, without the angle brackets;
// "" when there is none in the header block), stored for `--message-id`.
std::string header_message_id(std::string_view message);
// The Subject header field of `message`, RFC 2047-decoded to UTF-8, control
// characters as spaces, at most 200 characters; "" when there is none (or it
// is not valid UTF-8). Kept for the web portal's sent-mail list.
std::string header_subject(std::string_view message);
// The first `name` header field's value (name lower-case, with the colon:
// "x-spam-status:"), folding joined and surrounding blanks trimmed; nullopt
// when there is none. The header block only (up to the first empty line), and
// only its first 256 KiB: enough for any real header, bounded for a hostile one.
std::optional<std::string> first_header(std::string_view message, std::string_view name);
// Lower-cased domain of an address ("" when there is none).
std::string address_domain(std::string_view address);

// One transaction. Sends no NOTIFY: the caller wakes the workers after the
// commit (its own directly, other instances through a RemoteWake).
EnqueueResult enqueue(pqxx::connection& conn, const NewMessage& msg);
// Same, inside a transaction the caller commits (DSNs enqueued together with
// the bounce that causes them).
EnqueueResult enqueue(pqxx::work& tx, const NewMessage& msg);

// --- Enqueue on the hot path ----------------------------------------------------
//
// The same contract on libpq (common/db/pq.h): prepared statements, the body
// as binary, two round trips per message. And the place where a local
// recipient can be delivered at once: another layer's statements (the
// mailstore's) run inside the Enqueue transaction, so message, recipients and
// the new mailbox row commit together - one transaction and one WAL flush
// where enqueue, claim, delivery and the claim's commit took four, and the
// body is written once, into the mailbox, instead of also into the queue.
// 250 is still sent only after that commit is durable.
//
// One object per Enqueue transaction (a batch of messages, see
// rpc/enqueue_batcher.h); the queue store calls it in this order: tries() for
// every recipient, stage() once inside the open transaction, read() with the
// results of that round trip, committed() after COMMIT.
class EnqueueTimeDelivery {
 public:
  virtual ~EnqueueTimeDelivery() = default;
  // Whether recipient `recipient` of message `message` (indexes into the
  // batch and its NewMessage::recipients) is attempted now.
  virtual bool tries(size_t message, size_t recipient) const = 0;
  // Appends the delivery statements; returns how many it added.
  virtual size_t stage(db::pq::Connection::Pipeline& pipe) = 0;
  // From the results at [first, first + staged): per message and recipient,
  // the reply of a final delivery ("250 2.0.0 ..."), "" for one that stays
  // queued for a worker (over quota, not attempted). Throws like the
  // statements do.
  virtual std::vector<std::vector<std::string>> read(const std::vector<db::pq::Result>& results, size_t first) = 0;
  // After the commit (announcements, logs, metrics). Never after a rollback.
  virtual void committed() = 0;
};

// The messages of a batch could not share one transaction (a queue id that
// is already there, or a statement that failed): enqueue them one by one.
class BatchSplit : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One transaction on `conn` (BEGIN .. COMMIT) for all `messages` (each with
// its queue id set), in two round trips whatever their number: group commit.
// With `now`, the recipients it tries are delivered in that transaction and
// stored as delivered with their attempt; a message's body is stored only if
// one of its recipients still needs it.
// A single message: a taken queue id is answered as a duplicate (or
// QueueIdConflict), and if the delivery statements fail the message is
// enqueued again without them (the workers deliver it), so the mailstore can
// never refuse mail that the queue could take. Several messages: either case
// throws BatchSplit after rolling back (the caller goes one by one).
// Otherwise throws db::pq::ConnectionLost or db::pq::Error.
std::vector<EnqueueResult> enqueue_batch(db::pq::Connection& conn, const std::vector<const NewMessage*>& messages,
                                         EnqueueTimeDelivery* now = nullptr);
// One message (its queue id is generated when empty).
EnqueueResult enqueue(db::pq::Connection& conn, const NewMessage& msg, EnqueueTimeDelivery* now = nullptr);

// A message made by a delivery (a Sieve redirect or vacation reply), queued in
// the delivery's own transaction on `pipe` (libpq, inside BEGIN .. COMMIT the
// caller runs), so it exists if and only if that delivery committed. One
// statement: the message row and its recipients, which are resolved by authd
// when a worker takes them (NewRecipient::needs_resolve is implied; `local`
// and `user_id` are ignored). The queue id must be set; the body is stored.
// Sends no NOTIFY: wake the workers after the commit. Returns the statements added.
size_t stage_enqueue(db::pq::Connection::Pipeline& pipe, const NewMessage& msg);

// --- Immediate delivery into other shards (delivery/immediate_delivery.h) -----

// One transaction: each of `delivered` (recipient id, reply) that is still
// queued and untried becomes delivered with its attempt (one that a worker
// took meanwhile is left alone); each of `due_now` that is still queued is due
// at once (a worker delivers it). Returns how many were marked delivered.
size_t record_handoff(db::pq::Connection& conn, const std::vector<std::pair<int64_t, std::string>>& delivered,
                      const std::vector<int64_t>& due_now, std::chrono::milliseconds duration);

inline constexpr const char* kNotifyChannel = "postline_queue";

// Wakes the workers of every queued instance (their LISTEN on kNotifyChannel)
// after recipients became due, from outside the transaction that made them so.
// A NOTIFY inside each Enqueue made PostgreSQL serialise all those commits on
// its cluster-wide notification lock, held through the WAL flush (issue 14:
// 36-65 % of active backends waited on it). Here a NOTIFY is its own
// statement on a connection of its own, with no write and so no WAL flush, and
// pokes that arrive while one is being sent are merged into the next: at most
// one in flight however many messages arrive. A poke lost with a dying
// process costs only latency: workers also poll (queue.poll_interval).
class RemoteWake {
 public:
  explicit RemoteWake(std::string url);
  ~RemoteWake();
  RemoteWake(const RemoteWake&) = delete;
  RemoteWake& operator=(const RemoteWake&) = delete;
  void poke();

 private:
  void loop();
  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// --- claiming -----------------------------------------------------------------

struct ClaimedRecipient {
  int64_t id = 0;
  int64_t message_id = 0;
  std::string address;
  std::string domain;
  bool local = false;
  int64_t user_id = 0;
  bool needs_resolve = false;
  std::string notify, orcpt;
  int attempts = 0;  // before this attempt
  // attempts at the last requeue: the retry schedule's step is
  // attempts - backoff_base (`queue requeue` starts the backoff over).
  int backoff_base = 0;
  bool delay_warned = false;
};

struct MessageData {
  int64_t id = 0;
  std::string queue_id;
  std::string mail_from;
  std::string dsn_ret, dsn_envid;
  bool smtputf8 = false;
  // RFC 8689 MAIL FROM ... REQUIRETLS (migration 006): delivered only over TLS
  // authenticated by MTA-STS or DANE to a server offering REQUIRETLS.
  bool requiretls = false;
  std::string body_type;
  bool is_dsn = false;
  int64_t size = 0;
  Clock::time_point created_at;
  // Where queue.max_lifetime counts from: the last `queue requeue`, else arrival.
  Clock::time_point lifetime_start;
  std::string body;
  // "" = INBOX. nullopt: enqueued before migration 002 (the column is NULL);
  // local delivery then reads smtpd's old X-Postline-Mailbox header instead.
  std::optional<std::string> target_mailbox;
  std::string authenticated_user;  // who submitted it (Sieve's envelope "auth")
};

struct Attempt {
  Clock::time_point started;
  std::chrono::milliseconds duration{0};
  std::string mx_host;
  std::string reply;
  bool remote_reply = false;  // `reply` is the remote server's, not our own decision
};

// A transaction holding row locks on claimed recipients. Destroying it without
// commit() rolls back: the recipients are due again, untouched.
class Claim {
 public:
  // Claims up to `limit` due recipients (queued/deferred, next_attempt_at <= now).
  Claim(pqxx::connection& conn, int limit);
  // Only due remote recipients of `domain`: more mail for a destination whose
  // SMTP connection is open (connection reuse).
  Claim(pqxx::connection& conn, int limit, const std::string& domain);
  const std::vector<ClaimedRecipient>& recipients() const { return recipients_; }
  // Loads the message (body included) once per message id.
  const MessageData& message(int64_t message_id);

  // Records the attempt and the recipient's new state.
  void record(const ClaimedRecipient& r, State state, const Attempt& attempt,
              Clock::time_point next_attempt_at);
  // After authd resolved a DSN recipient.
  void set_resolution(ClaimedRecipient& r, bool local, int64_t user_id, const std::string& address);
  void mark_delay_warned(const ClaimedRecipient& r);
  // Not attempted now (a local concurrency limit): due again at `when`, no
  // attempt counted.
  void postpone(const ClaimedRecipient& r, Clock::time_point when);
  // Issue 22 item 4: the other pending remote recipients of `message_id` at
  // `domain` that this claim does not hold yet - due or not, not held, not
  // locked by another claim - locked, added to recipients() and returned. So
  // the recipients of one message for one destination travel in one SMTP
  // transaction even when the claim's LIMIT cut between them or their retry
  // times drifted apart.
  // The constructors already do this for what they claimed, while the claim
  // statements are serialised (so two claimers never split a message); the
  // workers call it again for recipients whose domain is known only after
  // resolution.
  std::vector<ClaimedRecipient> claim_destination_siblings(int64_t message_id, const std::string& domain);
  pqxx::work& tx() { return tx_; }
  void commit() { tx_.commit(); }

 private:
  // The pending remote siblings of each (message id, domain), locked and added.
  std::vector<ClaimedRecipient> take_destination_siblings(const std::vector<std::pair<int64_t, std::string>>& groups);
  void take_siblings_of_claimed();

  pqxx::work tx_;
  std::vector<ClaimedRecipient> recipients_;
  std::vector<std::unique_ptr<MessageData>> messages_;
};

// --- destination slots: queue.max_per_domain across every instance ------------
//
// A session to a destination domain holds one of its `max` slots: a
// session-level advisory lock on (domain hash, slot number) in the database
// session of the worker's claim connection. Locks live exactly as long as the
// holder's database session, so a killed instance frees its slots the moment
// PostgreSQL notices the connection is gone; there is nothing to expire.
int64_t destination_slot_key(const std::string& domain, int slot);
// Takes a free slot of `domain` through `tx` (the lock outlives the
// transaction: it belongs to the session); nullopt when all `max` are held.
std::optional<int64_t> acquire_destination_slot(pqxx::transaction_base& tx, const std::string& domain, int max);
// Gives a slot back; `conn` must have no transaction open. Throws on a
// database error: the caller then closes the connection, which frees it too.
void release_destination_slot(pqxx::connection& conn, int64_t key);

// Seconds until the earliest pending recipient is due (nullopt: none pending).
std::optional<std::chrono::milliseconds> time_until_next_due(pqxx::connection& conn);

// --- administration (QueueService) -------------------------------------------

struct RecipientView {
  int64_t id = 0;
  std::string address;
  std::string domain;  // lower-case destination domain
  std::string notify, orcpt;
  bool local = false;
  State state = State::kQueued;
  bool held = false;           // pending and on hold
  int64_t held_since_unix = 0;
  int attempts = 0;
  std::string last_reply;
  int64_t next_attempt_unix = 0;
  struct AttemptView {
    int64_t started_unix = 0;
    int64_t duration_ms = 0;
    std::string mx_host, reply;
    // The reply is the remote server's (rows older than migration 003: taken
    // to be so whenever a host is named).
    bool remote_reply = false;
    State outcome = State::kDeferred;
  };
  std::vector<AttemptView> history;
};

struct MessageView {
  std::string queue_id;
  std::string mail_from, helo, client_ip, authenticated_user, dsn_ret, dsn_envid, body_type;
  std::string target_mailbox;  // "" = INBOX (also for rows older than the column)
  std::string header_message_id;  // "" when none (or enqueued before migration 003)
  std::string header_subject;     // "" when none (or enqueued before migration 005)
  bool smtputf8 = false;
  bool requiretls = false;
  bool held = false;  // some pending recipient is on hold
  int64_t size = 0;
  int64_t created_unix = 0;
  int64_t requeued_unix = 0;  // 0 = never requeued
  std::vector<RecipientView> recipients;
};

// Which messages an administrative command means (queue list, and the bulk
// forms of hold, release, requeue, retry and delete). Every condition given
// must hold; the recipient conditions (recipient, domain, state, held) must
// hold for one and the same recipient. Empty = not a condition.
struct MessageFilter {
  std::optional<std::string> sender;  // envelope sender, case-insensitive; "" = the null sender <>
  std::string recipient;              // a recipient address, case-insensitive
  std::string domain;                 // a recipient's destination domain
  std::string message_id;             // the Message-ID header, without <>
  int64_t older_than_seconds = 0;     // arrived more than this long ago
  int64_t newer_than_seconds = 0;     // arrived less than this long ago
  std::optional<State> state;         // nullopt: a pending (queued or deferred) recipient
  bool held_only = false;             // a pending recipient on hold
  bool any_state = false;             // a recipient in any state (state must be nullopt); listing only
  std::string authenticated_user;     // the submitter (Envelope.authenticated_user), case-insensitive
};
// A selection: explicit queue ids, or every message the filter matches.
struct Selection {
  std::vector<std::string> queue_ids;
  MessageFilter filter;
};
struct SelectedMessage {
  int64_t id = 0;
  std::string queue_id;
};
// Messages matching `filter`, oldest first, at most `limit`.
std::vector<SelectedMessage> select_messages(pqxx::transaction_base& tx, const MessageFilter& filter, int limit);
// The messages of `sel`: its queue ids (those missing are appended to
// `missing`), else the filter's matches (at most `limit`).
std::vector<SelectedMessage> resolve_selection(pqxx::transaction_base& tx, const Selection& sel, int limit,
                                               std::vector<std::string>* missing);

// What an administrative change did: messages it changed and their recipients.
struct ActionCount {
  int64_t messages = 0;
  int64_t recipients = 0;
  std::vector<std::string> queue_ids;  // the messages changed
};
enum class AdminAction { kHold, kRelease, kRequeue, kRetry };
std::string_view admin_action_name(AdminAction a);
// One statement over the pending recipients of `messages`, in `tx`:
//  hold     - held from now on: no worker claims them, they do not expire;
//             a recipient being delivered right now is held once its attempt
//             ends (the statement waits for its row lock);
//  release  - no longer held, due now; queue.max_lifetime still counts from
//             arrival (or the last requeue);
//  requeue  - released, due now, the retry schedule starts over and the
//             lifetime counts from now (postsuper -r);
//  retry    - due now, unless held.
// Wakes the workers of every instance on commit (NOTIFY) when recipients
// became due.
ActionCount apply_action(pqxx::transaction_base& tx, AdminAction action, const std::vector<SelectedMessage>& messages);


std::optional<MessageView> get_message(pqxx::connection& conn, const std::string& queue_id, bool with_history);
// state nullopt: messages that still have a pending (queued/deferred) recipient.
std::vector<MessageView> list_messages(pqxx::connection& conn, std::optional<State> state, int limit);
// A page of a listing (keyset paging): only the matches after, or before, the
// message with this queue id in the listing's order. At most one is set.
struct Page {
  std::string after, before;
};
// The message a Page names is no longer in the queue (ListMessages: NOT_FOUND).
struct PageCursorGone : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The messages `filter` matches (see MessageFilter), oldest first (or newest
// first), with each recipient's attempt history when `with_history`; with a
// `page`, only those after (or the `limit` just before) its message, still in
// that order. Throws PageCursorGone.
std::vector<MessageView> list_messages(pqxx::connection& conn, const MessageFilter& filter, int limit,
                                       bool with_history = false, bool newest_first = false, const Page& page = {});
// The stored message bytes of `queue_id` (nullopt: no such message). `stored`
// is false when the body was not kept (every recipient was delivered during
// Enqueue, see docs/queue.md): then `body` is empty although size is not.
struct StoredBody {
  std::string body;
  bool stored = true;
};
std::optional<StoredBody> message_body(pqxx::connection& conn, const std::string& queue_id);
// Makes pending recipients due now; returns how many. queue_id "" = all.
int64_t retry_now(pqxx::connection& conn, const std::string& queue_id);
// Deletes a message and everything about it; returns its pending recipients
// (before deletion) so the caller can bounce them. nullopt: no such message.
struct DeletedMessage {
  MessageData message;
  std::vector<ClaimedRecipient> pending;
};
std::optional<DeletedMessage> delete_message(pqxx::work& tx, const std::string& queue_id);

// Deletes up to `limit` messages whose recipients are all final and finished
// before now - keep (their attempt history goes with them). Returns how many.
int64_t purge_finished(pqxx::connection& conn, std::chrono::seconds keep, int limit);

// Queue depth by state and the age of the oldest pending message (metrics).
struct QueueStats {
  std::vector<std::pair<State, int64_t>> depth;
  double oldest_pending_age_seconds = 0;  // held messages not counted: they wait on purpose
  int64_t held_messages = 0;
};
QueueStats stats(pqxx::connection& conn);

}  // namespace postline::queue
