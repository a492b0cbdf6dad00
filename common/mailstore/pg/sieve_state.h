// What queued reads and writes about a user's Sieve runs (sql/017 and 018),
// as statements appended to the caller's pipeline inside the caller's
// transaction - the way PgMailStore::StagedDelivery lets the queue commit a
// delivery together with its own rows. Delivery with Sieve is one
// transaction: the run record, the deliveries, the vacation and duplicate
// records and the messages the run queues (redirects, vacation replies) commit
// together or not at all (docs/sieve.md, "How delivery runs scripts").
//
// Keys (vacation, duplicate) are the interpreter's strings; the tables hold
// their SHA-256.
#pragma once

#include "common/mailstore/mail_store.h"  // first: pq.h needs <utility>
#include "common/db/pq.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace postline::mailstore::pg::sieve_state {

// ---- outside a transaction -------------------------------------------------------

// The active script (name, SHA-256 of its octets) of each of `users` that has
// one: one statement, whatever the number of users.
struct ActiveScript {
  std::string name;
  std::string sha256;  // 32 octets
};
std::map<UserId, ActiveScript> active_scripts(db::pq::Connection& c, const std::vector<UserId>& users);
// A script's text; nullopt when it is gone.
std::optional<std::string> script_text(db::pq::Connection& c, UserId user, const std::string& name);

// ---- inside the caller's transaction ------------------------------------------------

// One Sieve delivery at a time per user (so two deliveries cannot both see
// "no vacation reply yet"): a transaction-level advisory lock. 1 statement.
size_t add_lock(db::pq::Connection::Pipeline& pipe, UserId user);

// A run recorded earlier under `run_key`: 1 statement; read_run() takes its result.
struct RecordedRun {
  bool rejected = false;
  std::string reply;
};
size_t add_run_lookup(db::pq::Connection::Pipeline& pipe, UserId user, const std::string& run_key);
std::optional<RecordedRun> read_run(const db::pq::Result& r);

// What a run asked about: vacation history, duplicate ids, mailboxes, the
// user's other scripts (include :personal). 4 statements.
struct Questions {
  std::set<std::string> vacation_keys, duplicate_keys, mailboxes, scripts;
  bool empty() const { return vacation_keys.empty() && duplicate_keys.empty() && mailboxes.empty() && scripts.empty(); }
};
struct Answers {
  std::map<std::string, std::int64_t> vacation_age;  // key -> seconds since the last reply (absent: never)
  std::set<std::string> duplicates_seen;             // keys seen and not expired
  std::set<std::string> mailboxes;                    // names that exist
  std::map<std::string, std::string> scripts;         // name -> text
};
constexpr size_t kQuestionStatements = 4;
size_t add_questions(db::pq::Connection::Pipeline& pipe, UserId user, const Questions& q);
void read_answers(const std::vector<db::pq::Result>& results, size_t first, const Questions& q, Answers& into);

// A message a run sends (a redirect, the vacation reply), kept with the run
// record when the caller queues it in a transaction of another database
// (queued on a shard other than the one on db.url: sql/020). The fields are
// the queue's (services/delivery-queue/store/queue_store.h NewMessage).
struct Outgoing {
  std::string queue_id, mail_from, helo, client_ip, authenticated_user, dsn_ret, dsn_envid, body_type,
      target_mailbox;
  bool smtputf8 = false, is_dsn = false;
  struct Recipient {
    std::string address, notify, orcpt;
  };
  std::vector<Recipient> recipients;
  std::string body;
};

// What a run leaves behind: the run itself (a retry then repeats nothing: a
// second record of the key is a unique violation, `duplicate_run()`), the
// vacation replies queued and the duplicate ids to remember (RFC 7352:
// `refresh` restarts an existing entry's period).
struct Records {
  std::string run_key;
  RecordedRun outcome;
  std::vector<std::string> vacation_keys;
  struct Duplicate {
    std::string key;
    std::uint64_t seconds = 0;
    bool refresh = false;
  };
  std::vector<Duplicate> duplicates;
  std::vector<Outgoing> outbox;  // kept with the run (see Outgoing); usually empty
};
size_t add_records(db::pq::Connection::Pipeline& pipe, UserId user, const Records& r);
// The error a pipeline threw because the run was recorded already (a
// delivery that committed before the process died, found by a retry).
bool duplicate_run(const db::pq::Error& e);
// The messages a recorded run kept (Records::outbox), in order: 1 statement.
size_t add_outbox_lookup(db::pq::Connection::Pipeline& pipe, UserId user, const std::string& run_key);
std::vector<Outgoing> read_outbox(const db::pq::Result& r);

// ---- housekeeping --------------------------------------------------------------------

// Deletes run records older than `runs_max_age` (no retry comes after
// queue.max_lifetime), vacation replies older than `vacation_max_age` (the
// longest period) and expired duplicate ids, at most `batch` rows of each.
// Returns the rows deleted.
std::int64_t prune(db::pq::Connection& c, std::int64_t runs_max_age_seconds, std::int64_t vacation_max_age_seconds,
                   std::int64_t batch);

}  // namespace postline::mailstore::pg::sieve_state
