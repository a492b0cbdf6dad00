// The worker's collaborators, behind small interfaces so the delivery loop can
// be tested against a real PostgreSQL with fake peers (and so DKIM signing or a
// relayhost slot in without touching the loop).
#pragma once

#include "common/mailstore/mail_store.h"
#include "common/mailstore/quota.h"
#include "services/delivery-queue/delivery/retry.h"
#include "services/delivery-queue/policy/transport_result.h"
#include "services/delivery-queue/store/queue_store.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace postline::queue {

// The outcome of one attempt for one recipient.
struct RecipientResult {
  Outcome outcome = Outcome::kTemporary;
  // An SMTP-style reply line: "250 2.0.0 ok", "451 4.4.1 connection refused".
  std::string reply;
  std::string mx_host;        // the host that answered ("" for local or no host reached)
  bool remote_reply = false;  // `reply` came from the remote server (DSN Diagnostic-Code: smtp)
  bool remote_dsn = false;    // the remote accepted our NOTIFY: it reports success itself
};

// A session with one destination domain that may carry several messages over
// one SMTP connection (RFC 5321 3.3), one transaction per message. Used by one
// thread at a time; destroying it ends the session (QUIT).
class RemoteSession {
 public:
  virtual ~RemoteSession() = default;
  // As RemoteDelivery::deliver, over the open connection when there is one.
  virtual std::vector<RecipientResult> deliver(const MessageData& message,
                                               const std::vector<const ClaimedRecipient*>& recipients) = 0;
  // A connection is open and may carry another message now (under the
  // per-connection message cap and idle limit): worth claiming more mail for
  // this domain.
  virtual bool reusable() const { return false; }
  // Connections opened, and transactions run over a connection that was
  // already open, since the last call (metrics).
  struct Counts {
    int opened = 0;
    int reused = 0;
  };
  virtual Counts take_counts() { return {}; }
  // The transport-security policy evaluations (MTA-STS, DANE, none) since the
  // last call, one per connection attempt that got as far as the TLS decision
  // and one per host skipped for policy reasons (metrics; TLS-RPT, RFC 8460).
  virtual std::vector<TransportPolicyResult> take_policy_results() { return {}; }
};

// Delivers one message to several recipients at one destination domain.
// Returns one result per recipient, in order. Never throws for peer behaviour.
class RemoteDelivery {
 public:
  virtual ~RemoteDelivery() = default;
  virtual std::vector<RecipientResult> deliver(const MessageData& message,
                                               const std::vector<const ClaimedRecipient*>& recipients) = 0;
  // A session for `domain`. The default sends each message on its own
  // (deliver()) and never offers reuse (test fakes).
  virtual std::unique_ptr<RemoteSession> open(const std::string& domain) {
    (void)domain;
    struct PerMessage final : RemoteSession {
      explicit PerMessage(RemoteDelivery& d) : delivery(d) {}
      std::vector<RecipientResult> deliver(const MessageData& m,
                                           const std::vector<const ClaimedRecipient*>& r) override {
        return delivery.deliver(m, r);
      }
      RemoteDelivery& delivery;
    };
    return std::make_unique<PerMessage>(*this);
  }
};

// Delivers into a local mailbox, in one transaction of its own, idempotent on
// `delivery_key` (production: MailStore::deliver through MailstoreDelivery).
struct LocalResult {
  int64_t uid = 0;
  bool duplicate = false;
  bool over_quota = false;          // nothing delivered: a limit of the user is reached (defer, 4.2.2)
  bool exceeds_quota = false;       // ... the message alone is larger than the byte limit (bounce, 5.2.2)
  bool over_message_quota = false;  // ... the message count is the reason (defer)
};
class LocalDelivery {
 public:
  virtual ~LocalDelivery() = default;
  // Into `mailbox` ("INBOX", "Junk", ...; the mailstore creates a missing
  // one), enforcing the user's limits (0 = unlimited).
  virtual LocalResult deliver(int64_t user_id, std::string_view mailbox, std::string_view message,
                              std::string_view delivery_key, const mailstore::Quota& quota) = 0;
  // Several messages for one user and mailbox, results positional. The
  // mailstore does them in one transaction; the default (test fakes) one by
  // one, each under the same limits.
  // Sharding: the user's shard as authd just said ("" unknown) before a
  // delivery. False: this delivery cannot place the user (several shards and
  // no answer, or a shard this process does not know): defer.
  virtual bool route(int64_t user_id, const std::string& shard) {
    (void)user_id;
    (void)shard;
    return true;
  }
  virtual std::vector<LocalResult> deliver_batch(int64_t user_id, std::string_view mailbox,
                                                 const std::vector<mailstore::DeliveryItem>& items,
                                                 const mailstore::Quota& quota) {
    std::vector<LocalResult> out;
    for (const auto& item : items) out.push_back(deliver(user_id, mailbox, item.message, item.delivery_key, quota));
    return out;
  }
};

// Sieve at local delivery (production: SieveDelivery, sieve_delivery.h;
// null: no Sieve, every local recipient goes into its target mailbox).
class LocalSieve {
 public:
  virtual ~LocalSieve() = default;
  struct Script {
    std::string name;
    std::string sha256;  // of the text: the compiled-script cache's key
  };
  // The active scripts of `users`, all on mailstore shard `shard` ("" = the
  // default; one query per shard of a claim). Throws on a database error.
  virtual std::map<int64_t, Script> active_scripts(const std::vector<int64_t>& users, const std::string& shard) = 0;
  // Whether a recipient whose user has (or has not) an active script goes
  // through deliver() instead of the plain mailbox delivery.
  virtual bool runs(bool has_script) const = 0;
  // The mailbox of a plain delivery (no script runs): the per-user default's
  // decision (spam to Junk) or the message's target mailbox.
  virtual std::string default_mailbox(const MessageData& message) const = 0;
  // One recipient through the scripts on its shard (as authd said, "" =
  // unknown), its side effects committed together and exactly once (a retry
  // repeats nothing). Messages the run sends that could not be queued in the
  // run's own transaction (a shard other than the queue's database) are
  // appended to `queue_with_outcome`: the caller queues them in the
  // transaction that records this recipient's outcome. Never throws.
  virtual RecipientResult deliver(const MessageData& message, const ClaimedRecipient& recipient,
                                  const std::optional<Script>& active, const mailstore::Quota& quota,
                                  const std::string& shard, std::vector<NewMessage>& queue_with_outcome) = 0;
  // Housekeeping of the Sieve state (run records, vacation history, duplicate
  // ids), called now and then; returns the rows deleted.
  virtual int64_t prune(std::chrono::seconds runs_max_age) {
    (void)runs_max_age;
    return 0;
  }
};

// Where an address lives; asked for recipients that were not resolved at
// Enqueue time (the senders of the DSNs we generate).
struct Resolution {
  enum Kind { kLocal, kRemote, kUnknown, kTemporaryFailure } kind = kTemporaryFailure;
  int64_t user_id = 0;
  std::string address;  // final address after alias expansion
};

class RecipientResolver {
 public:
  virtual ~RecipientResolver() = default;
  virtual Resolution resolve(const std::string& address) = 0;
  // The limits (STORAGE bytes and MESSAGE count, 0 = unlimited) of local user
  // `user_id` that `address` delivers to, asked at delivery time so a raised
  // quota counts on retry. nullopt: unknown (authd unreachable, or no such
  // target): the caller delivers without a quota check (fail open). The
  // default knows nothing. `trace_id` (the message's queue id) goes to authd
  // as x-postline-trace metadata for its log.
  virtual std::optional<mailstore::Quota> quota(const std::string& address, int64_t user_id,
                                                const std::string& trace_id) {
    (void)address;
    (void)user_id;
    (void)trace_id;
    return std::nullopt;
  }
  // The same question with the account's place (docs/DESIGN.md "Sharding"):
  // its limits, its mailstore shard and whether it is being moved between
  // shards (then the delivery defers). The default asks quota() and knows no
  // shard.
  struct LocalTarget {
    mailstore::Quota quota;
    std::string shard;  // "" = unknown
    bool moving = false;
  };
  virtual std::optional<LocalTarget> local_target(const std::string& address, int64_t user_id,
                                                  const std::string& trace_id) {
    auto q = quota(address, user_id, trace_id);
    if (!q) return std::nullopt;
    return LocalTarget{*q, "", false};
  }
};

}  // namespace postline::queue
