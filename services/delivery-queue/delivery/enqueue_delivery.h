// Local delivery inside the Enqueue transaction (store/queue_store.h,
// EnqueueTimeDelivery), into the PostgreSQL mailstore on the queue's own
// connection, for a batch of messages. A recipient is delivered at once when
// smtpd passed the user's limits along (EnvelopeRecipient.quota_known) and its
// DSN NOTIFY does not ask for SUCCESS (that report is the workers' job);
// everything else - a full mailbox included - stays queued and takes the
// ordinary path, which asks authd for the limits again and defers or bounces
// as before.
//
// The batch's recipients are grouped by (user, mailbox): one mailstore
// delivery per group, so N messages for one mailbox take its row lock once and
// get one UID range. Groups are staged in (user id, mailbox name) order, so two
// batches lock mailbox rows in the same order.
//
// Sieve (docs/sieve.md "How delivery runs scripts"): with a SieveRunner, the
// delivery statement itself skips users who have an active script (they stay
// queued and a worker runs the script, exactly once), so learning that a
// user has none costs no statement of its own; the others go where the
// per-user default (spam to Junk) puts them. When the administrator has
// before/after scripts, they run here in process and a recipient is
// delivered now only if they come to one copy of the message and nothing
// else (no redirect, vacation, reject, header edit, lookup).
//
// Exactly once: each message is keyed "e/<queue id>/<recipient index>" in the
// mailstore, so a retried Enqueue (same queue id) cannot deliver twice even
// before the queue notices the duplicate; the queue rows and the mailbox rows
// commit together or not at all.
#pragma once

#include "common/mailstore/message_meta.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "services/delivery-queue/delivery/metrics.h"
#include "services/delivery-queue/delivery/sieve_runner.h"
#include "services/delivery-queue/store/queue_store.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace postline::queue {

class MailstoreEnqueueDelivery final : public EnqueueTimeDelivery {
 public:
  // The messages must outlive this object (the staged bodies point into them)
  // and carry their queue ids.
  // `sieve` (null: no Sieve): see the top.
  MailstoreEnqueueDelivery(mailstore::pg::PgMailStore& store, std::vector<const NewMessage*> messages,
                           QueueMetrics* metrics, const SieveRunner* sieve = nullptr);
  MailstoreEnqueueDelivery(mailstore::pg::PgMailStore& store, const NewMessage& message, QueueMetrics* metrics,
                           const SieveRunner* sieve = nullptr)
      : MailstoreEnqueueDelivery(store, std::vector<const NewMessage*>{&message}, metrics, sieve) {}
  ~MailstoreEnqueueDelivery() override;

  bool tries(size_t message, size_t recipient) const override;
  size_t stage(db::pq::Connection::Pipeline& pipe) override;
  std::vector<std::vector<std::string>> read(const std::vector<db::pq::Result>& results, size_t first) override;
  void committed() override;

  // Whether a recipient qualifies (exposed for unit tests).
  static bool eligible(const NewRecipient& r);

 private:
  struct Group;
  mailstore::pg::PgMailStore& store_;
  std::vector<const NewMessage*> messages_;
  QueueMetrics* metrics_;
  std::vector<std::vector<bool>> tries_;
  // Per message: Return-Path + message, prepared (parsed, hashed) once and
  // shared by every recipient's item.
  std::vector<std::shared_ptr<const mailstore::PreparedMessage>> bodies_;
  std::vector<std::vector<std::string>> replies_;
  const SieveRunner* sieve_;
  struct Target {
    std::string mailbox;
    mailstore::Flags flags;
  };
  std::vector<std::vector<Target>> targets_;  // per message and recipient tried
  std::vector<std::unique_ptr<Group>> groups_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace postline::queue
