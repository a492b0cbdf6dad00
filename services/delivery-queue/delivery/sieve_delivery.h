// Sieve at local delivery, the part with the database (docs/sieve.md "How
// delivery runs scripts"): a worker hands over one claimed local recipient
// whose user has an active script (or every one, when the administrator has
// before/after scripts); this runs the scripts (sieve_runner.h) and carries
// out what they decided in ONE transaction on its own libpq connection:
//
//   BEGIN; the user's Sieve lock; was this recipient's run recorded already?
//   (the interpreter's questions: vacation history, duplicate ids, mailboxes,
//    included scripts - one round trip per round, usually none or one)
//   the run record (s/<queue id>/<recipient id>), the copies it stores (keyed
//   w/<queue id>/<recipient id>[.n]), vacation and duplicate records, the
//   redirects and the vacation reply as new queue messages; COMMIT
//
// Exactly once across kill -9: if the process dies after that COMMIT and
// before the worker's claim transaction records the recipient, the retry finds
// the run record and returns its outcome without running anything again; if it
// dies before, nothing of the run exists. The worker's row lock on the queue
// recipient keeps two attempts of one recipient apart; the per-user lock keeps
// two deliveries to one user from both seeing "no vacation reply yet".
//
// Never loses mail: a script that does not compile is left out (the rest of
// the sequence still runs), a runtime error keeps the message in INBOX, each
// with one escaped log line and postline_queued_sieve_runs_total{result}.
//
// Sharding (docs/DESIGN.md "Sharding"): the run goes to the account's shard,
// on connections to that shard, in that shard's transaction. On the shard on
// db.url the messages the run sends are queued in that same transaction as
// above. On any other shard the queue is another database: they are kept
// with the run record (mailstore_sieve_outbox, sql/021) and handed back to
// the worker, which queues them in the claim transaction that records the
// recipient; a retry that finds the run record hands them back again from
// the outbox, so they are queued once whatever dies when.
#pragma once

#include "common/db/pq.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/pg/sieve_state.h"
#include "services/delivery-queue/delivery/interfaces.h"
#include "services/delivery-queue/delivery/metrics.h"
#include "services/delivery-queue/delivery/sieve_runner.h"

#include <functional>
#include <map>
#include <optional>

namespace postline::queue {

// One mailstore shard as Sieve delivery uses it.
struct SieveShard {
  db::pq::Pool* pool = nullptr;
  mailstore::pg::PgMailStore* store = nullptr;
  bool queue_here = false;  // the queue's database (db.url): messages are queued in the run's transaction
};

class SieveDelivery final : public LocalSieve {
 public:
  // One shard, the queue's database. `queued`: called after a commit that
  // queued messages (wake the workers).
  SieveDelivery(db::pq::Pool& pool, mailstore::pg::PgMailStore& store, SieveRunner& runner, QueueMetrics* metrics,
                std::function<void()> queued = {});
  // Every shard by name; an account whose shard is "" is on `default_shard`
  // when there is one shard only (with several, its delivery defers).
  SieveDelivery(std::map<std::string, SieveShard> shards, std::string default_shard, SieveRunner& runner,
                QueueMetrics* metrics, std::function<void()> queued = {});

  SieveRunner& runner() { return runner_; }

  std::map<int64_t, Script> active_scripts(const std::vector<int64_t>& users, const std::string& shard) override;
  bool runs(bool has_script) const override { return has_script || runner_.has_global_scripts(); }
  std::string default_mailbox(const MessageData& message) const override;
  // See the top. A database failure is a temporary result (nothing of the
  // run was committed, or the retry finds the run record).
  RecipientResult deliver(const MessageData& message, const ClaimedRecipient& recipient,
                          const std::optional<Script>& active, const mailstore::Quota& quota,
                          const std::string& shard, std::vector<NewMessage>& queue_with_outcome) override;
  // Run records older than `runs_max_age`, vacation history older than the
  // longest period (90 days), expired duplicate ids; 1,000 rows of each per call.
  int64_t prune(std::chrono::seconds runs_max_age) override;

  // The shard `name` names ("" = the default when there is one shard); null: unknown.
  const SieveShard* find(const std::string& name) const;

 private:
  std::map<std::string, SieveShard> shards_;
  std::string default_shard_;
  SieveRunner& runner_;
  QueueMetrics* metrics_;
  std::function<void()> queued_;
};

}  // namespace postline::queue
