#include "services/delivery-queue/delivery/workers.h"
#include "common/db/url_check.h"
#include "common/log/printable.h"
#include "common/mailstore/delivery_key.h"

#include "services/delivery-queue/delivery/local_mailbox.h"
#include "services/delivery-queue/delivery/safe_text.h"
#include "services/delivery-queue/dsn/dsn.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>

namespace postline::queue {
namespace {

// A local delivery that must wait for the account's shard (sharding).
struct ShardDefer : std::runtime_error {
  ShardDefer(std::string r, const char* why) : std::runtime_error(why), reply(std::move(r)), reason(why) {}
  std::string reply;
  const char* reason;
};

double random01() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string truncate(std::string_view s, size_t n = 400) { return safe_text(s, n); }

// What one recipient's attempt came to, collected until the batch commits.
struct Done {
  ClaimedRecipient recipient;
  RecipientResult result;
  Decision decision;
  bool local = false;
  double seconds = 0;
};

}  // namespace

Workers::Workers(db::Pool& pool, WorkerConfig config, LocalDelivery* local, RemoteDelivery* remote,
                 RecipientResolver* resolver, QueueMetrics* metrics)
    : pool_(pool),
      config_(std::move(config)),
      local_(local),
      remote_(remote),
      resolver_(resolver),
      metrics_(metrics) {}

Workers::~Workers() { stop(); }

void Workers::start() {
  threads_.emplace_back([this] { listener_loop(); });
  for (int i = 0; i < config_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void Workers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Workers::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wake_seq_;
  }
  cv_.notify_all();
}

bool Workers::wait_for_work(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return stopping_ || wake_seq_ != seen; });
  return !stopping_;
}

void Workers::worker_loop() {
  std::chrono::milliseconds backoff{0};
  while (true) {
    uint64_t seen;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      seen = wake_seq_;
    }
    int handled = 0;
    try {
      handled = run_once();
      backoff = std::chrono::milliseconds(0);
    } catch (const std::exception& e) {
      // Database down or a bug in one batch: nothing was committed, the
      // recipients are due again. Back off so a dead database is not hammered.
      backoff = std::min(std::chrono::milliseconds(5000), backoff * 2 + std::chrono::milliseconds(200));
      spdlog::warn("delivery round failed (retrying in {} ms): {}", backoff.count(), e.what());
      // A wake-up ends the pause early: the listener wakes everyone when its
      // connection is back (a PostgreSQL restart, a failover to a standby),
      // so the backlog is claimed then, not after up to five seconds.
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, backoff, [&] { return stopping_ || wake_seq_ != seen; });
      continue;
    }
    if (handled >= config_.batch_size) {
      wake();  // more is probably due: let idle workers share it
      continue;
    }
    if (handled > 0) continue;
    auto timeout = config_.poll_interval;
    try {
      auto due = pool_.with([](pqxx::connection& c) { return time_until_next_due(c); });
      // due == 0 with nothing claimed: the due rows are locked by other workers
      // (in flight); their commit or our poll interval brings us back.
      if (due && due->count() > 0) timeout = std::min(timeout, *due + std::chrono::milliseconds(5));
    } catch (const std::exception&) {
    }
    if (!wait_for_work(seen, timeout)) return;
  }
}

void Workers::listener_loop() {
  auto last_stats = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto last_purge = last_stats;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    try {
      pqxx::connection conn(db::with_program_name(pool_.url()));
      struct Receiver : pqxx::notification_receiver {
        Receiver(pqxx::connection& c, Workers* w) : pqxx::notification_receiver(c, kNotifyChannel), workers(w) {}
        void operator()(const std::string&, int) override { workers->wake(); }
        Workers* workers;
      } receiver(conn, this);
      // Notifications sent while we were not listening are lost: rescan. After
      // a failover this is the first moment the new primary answers.
      if (reconnects_++ > 0) spdlog::info("queue notification listener reconnected; running a claim pass");
      wake();
      while (true) {
        {
          std::lock_guard lock(mutex_);
          if (stopping_) return;
        }
        // Blocks in select() on the connection's socket; the timeout only
        // bounds how late we notice stop() and refresh the gauges.
        conn.await_notification(0, 250000);
        if (metrics_ && std::chrono::steady_clock::now() - last_stats > std::chrono::seconds(5)) {
          last_stats = std::chrono::steady_clock::now();
          metrics_->set_stats(stats(conn));
        }
        if (std::chrono::steady_clock::now() - last_purge > std::chrono::minutes(1)) {
          last_purge = std::chrono::steady_clock::now();
          if (config_.keep_finished.count() > 0)
            if (auto n = purge_finished(conn, config_.keep_finished, 1000); n > 0)
              spdlog::info("purged {} finished message(s) older than {}s", n, config_.keep_finished.count());
          // Sieve run records are needed only while a retry may come.
          if (sieve_) {
            try {
              if (auto n = sieve_->prune(config_.policy.max_lifetime + std::chrono::hours(24)); n > 0)
                spdlog::info("pruned {} Sieve state row(s)", n);
            } catch (const std::exception& e) {
              spdlog::warn("pruning the Sieve state failed (tried again later): {}", log::printable(e.what(), 1024));
            }
          }
        }
      }
    } catch (const std::exception& e) {
      spdlog::warn("queue notification listener: {} (reconnecting)", e.what());
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    }
  }
}

// The destination sessions a worker has open in one run_once(), each holding
// one of its domain's slots (queue.max_per_domain, cluster-wide) on the
// worker's claim connection. Closing a session gives its slot back.
struct Workers::Destinations {
  struct Open {
    std::unique_ptr<RemoteSession> session;  // null: no remote delivery configured
    int64_t slot_key = 0;
  };
  explicit Destinations(db::Pool::Lease& l) : lease(l) {}
  ~Destinations() { close_all(); }
  // Only while the claim connection has no transaction open.
  void close(const std::string& domain) {
    auto it = open.find(domain);
    if (it == open.end()) return;
    const int64_t key = it->second.slot_key;
    open.erase(it);  // QUIT first: the slot is free only once the session is
    if (!lease.operator->()) return;
    try {
      release_destination_slot(*lease, key);
    } catch (const std::exception& e) {
      // Dropping the connection ends its database session and every lock
      // the session holds: the slot cannot leak into the pool.
      spdlog::warn("releasing a destination slot failed ({}): dropping the connection", e.what());
      lease.discard();
    }
  }
  void close_all() {
    while (!open.empty()) close(open.begin()->first);
  }
  db::Pool::Lease& lease;
  std::map<std::string, Open> open;
};

int Workers::run_once() {
  auto claim_lease = pool_.acquire();
  // Declared before the claim: sessions close and slots are released only
  // after the last claim transaction has ended.
  Destinations destinations(claim_lease);
  std::optional<Claim> claim;
  try {
    claim.emplace(*claim_lease, config_.batch_size);
  } catch (const pqxx::broken_connection& e) {
    claim_lease.discard();
    throw db::Unavailable(std::string("database connection lost: ") + e.what());
  }
  if (claim->recipients().empty()) return 0;
  int handled = deliver_claim(*claim, destinations);

  // Connection reuse: while a destination's connection may carry more, claim
  // the next due batch for that domain and send it over the same connection
  // (no new connect, EHLO, STARTTLS). A domain with nothing more due is
  // closed at once, which also frees its slot.
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    // One domain at a time; every other session (a batch may have mixed
    // domains) is closed now rather than sit idle holding a slot.
    claim.reset();
    std::string domain;
    for (const auto& [d, open] : destinations.open)
      if (open.session && open.session->reusable()) {
        domain = d;
        break;
      }
    std::vector<std::string> others;
    for (const auto& entry : destinations.open)
      if (entry.first != domain) others.push_back(entry.first);
    for (const auto& d : others) destinations.close(d);
    if (domain.empty()) break;
    claim.emplace(*claim_lease, config_.batch_size, domain);
    if (claim->recipients().empty()) {
      claim.reset();
      destinations.close(domain);
      continue;
    }
    handled += deliver_claim(*claim, destinations);
  }
  claim.reset();
  destinations.close_all();
  return handled;
}

int Workers::deliver_claim(Claim& claim_ref, Destinations& destinations) {
  Claim* claim = &claim_ref;
  std::vector<ClaimedRecipient> recipients = claim->recipients();
  std::vector<Done> done;
  // A retry decision of one recipient; with `deferred_next` (one SMTP
  // transaction's recipients) every deferred recipient is due again at the same
  // moment, so they are retried together instead of drifting apart.
  auto decide_for = [&](const ClaimedRecipient& r, Outcome outcome, Clock::time_point now, double rnd) {
    const auto& msg = claim->message(r.message_id);
    // The schedule's step and the lifetime start over after `queue requeue`.
    return decide(outcome, r.attempts - r.backoff_base + 1, msg.lifetime_start, now, config_.policy, rnd);
  };
  auto finish = [&](const ClaimedRecipient& r, RecipientResult result, bool local, Clock::time_point started,
                    std::chrono::steady_clock::time_point t0,
                    std::optional<Clock::time_point> deferred_next = std::nullopt) {
    Done d{r, std::move(result), {}, local,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
    d.decision = decide_for(r, d.result.outcome, Clock::now(), random01());
    if (d.decision.state == State::kDeferred && deferred_next) d.decision.next_attempt_at = *deferred_next;
    d.result.reply = truncate(d.result.reply, 1000);
    d.result.mx_host = truncate(d.result.mx_host, 255);
    Attempt a{started, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0),
              d.result.mx_host, d.result.reply, d.result.remote_reply};
    claim->record(r, d.decision.state, a, d.decision.next_attempt_at);
    done.push_back(std::move(d));
  };

  // 1. Recipients resolved only now (the senders our DSNs go back to).
  std::vector<ClaimedRecipient> ready;
  for (auto& r : recipients) {
    if (!r.needs_resolve) {
      ready.push_back(r);
      continue;
    }
    const auto started = Clock::now();
    const auto t0 = std::chrono::steady_clock::now();
    Resolution res;
    if (resolver_) res = resolver_->resolve(r.address);
    switch (res.kind) {
      case Resolution::kLocal:
        claim->set_resolution(r, true, res.user_id, res.address.empty() ? r.address : res.address);
        ready.push_back(r);
        break;
      case Resolution::kRemote:
        claim->set_resolution(r, false, 0, res.address.empty() ? r.address : res.address);
        ready.push_back(r);
        break;
      case Resolution::kUnknown:
        finish(r, {Outcome::kPermanent, "550 5.1.1 recipient unknown", "", false, false}, true, started, t0);
        break;
      case Resolution::kTemporaryFailure:
        finish(r, {Outcome::kTemporary, "451 4.3.0 cannot resolve recipient now (authd unavailable)", "", false, false},
               true, started, t0);
        break;
    }
  }

  // 2. Local recipients: grouped by (user, mailbox), one mailstore
  // transaction per group (a burst to one mailbox pays one lock, one commit),
  // each message keyed by its recipient id so a retry never duplicates.
  std::map<std::pair<int64_t, std::string>, std::vector<ClaimedRecipient>> remote_groups;
  std::map<std::pair<int64_t, std::string>, std::vector<ClaimedRecipient>> local_groups;
  // Sieve (docs/sieve.md "How delivery runs scripts"): one query for the
  // claim's users tells who has an active script; their recipients (every
  // local one when the administrator has before/after scripts) run it one by
  // one, the rest go into the default's mailbox in groups as before.
  std::vector<ClaimedRecipient> sieve_recipients;
  std::map<int64_t, LocalSieve::Script> scripts;
  std::set<int64_t> scripts_unknown;  // users whose scripts could not be read (their mail is deferred)
  // Sharding: with Sieve, each local user's place (and limits) is asked of
  // authd first, once per user of the claim, because the scripts live on the
  // user's shard; the groups below reuse the answer.
  std::map<int64_t, std::optional<RecipientResolver::LocalTarget>> targets;
  auto target_of = [&](const ClaimedRecipient& r) -> const std::optional<RecipientResolver::LocalTarget>& {
    auto it = targets.find(r.user_id);
    if (it == targets.end()) {
      std::optional<RecipientResolver::LocalTarget> t;
      if (resolver_) t = resolver_->local_target(r.address, r.user_id, claim->message(r.message_id).queue_id);
      it = targets.emplace(r.user_id, std::move(t)).first;
    }
    return it->second;
  };
  if (sieve_) {
    std::map<std::string, std::vector<int64_t>> by_shard;
    for (const auto& r : ready) {
      if (!r.local) continue;
      const auto& t = target_of(r);
      auto& users = by_shard[t ? t->shard : std::string()];
      if (std::find(users.begin(), users.end(), r.user_id) == users.end()) users.push_back(r.user_id);
    }
    for (const auto& [shard, users] : by_shard) {
      try {
        for (auto& [user, script] : sieve_->active_scripts(users, shard)) scripts[user] = std::move(script);
      } catch (const std::exception& e) {
        scripts_unknown.insert(users.begin(), users.end());
        spdlog::warn("reading the Sieve scripts of {} user(s) failed (their mail is deferred): {}", users.size(),
                     log::printable(e.what(), 1024));
      }
    }
  }
  for (const auto& r : ready) {
    if (!r.local) {
      remote_groups[{r.message_id, r.domain}].push_back(r);
      continue;
    }
    const auto& msg = claim->message(r.message_id);
    if (!sieve_) {
      local_groups[{r.user_id, local_mailbox(msg)}].push_back(r);
    } else if (scripts_unknown.count(r.user_id)) {
      const auto now = Clock::now();
      finish(r, {Outcome::kTemporary, "451 4.3.0 mailbox store unavailable (Sieve scripts)", "", false, false}, true,
             now, std::chrono::steady_clock::now());
    } else if (sieve_->runs(scripts.count(r.user_id) > 0)) {
      sieve_recipients.push_back(r);
    } else {
      local_groups[{r.user_id, sieve_->default_mailbox(msg)}].push_back(r);
    }
  }
  // Messages Sieve runs on other shards sent: queued in this claim's
  // transaction, with the outcome of the recipient whose run sent them.
  bool sieve_queued = false;
  for (const auto& r : sieve_recipients) {
    const auto started = Clock::now();
    const auto t0 = std::chrono::steady_clock::now();
    const auto& msg = claim->message(r.message_id);
    mailstore::Quota quota;
    const auto& target = target_of(r);
    if (target) quota = target->quota;
    // Sharding: an account being moved waits; the others run on their own
    // shard (docs/DESIGN.md "Sharding").
    if (target && target->moving) {
      finish(r, {Outcome::kTemporary, "452 4.2.0 mailbox being moved, try again shortly", "", false, false}, true,
             started, t0);
      continue;
    }
    std::optional<LocalSieve::Script> script;
    if (auto it = scripts.find(r.user_id); it != scripts.end()) script = it->second;
    std::vector<NewMessage> outgoing;
    auto result = sieve_->deliver(msg, r, script, quota, target ? target->shard : std::string(), outgoing);
    for (const auto& m : outgoing) {
      auto q = enqueue(claim->tx(), m);
      spdlog::info("[q:{}] [u:{}] sieve: queued {} to <{}>{}", msg.queue_id, log::tag_value(r.address, 512),
                   q.queue_id, log::printable(m.recipients.empty() ? "" : m.recipients.front().address, 512),
                   q.duplicate ? " (already queued)" : "");
      sieve_queued = true;
    }
    finish(r, std::move(result), true, started, t0);
  }
  for (auto& [key, group] : local_groups) {
    const auto& [user_id, mailbox] = key;
    const auto started = Clock::now();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<RecipientResult> results(group.size());
    try {
      if (!local_) throw std::runtime_error("no local delivery configured");
      // RFC 5321 4.4: the final delivery adds Return-Path with the envelope sender.
      std::vector<std::string> bodies, keys;
      for (const auto& r : group) {
        const auto& msg = claim->message(r.message_id);
        bodies.push_back("Return-Path: <" + msg.mail_from + ">\r\n" + msg.body);
        keys.push_back(mailstore::worker_delivery_key(msg.queue_id, r.id));
      }
      std::vector<mailstore::DeliveryItem> items;
      for (size_t i = 0; i < group.size(); ++i) items.push_back({bodies[i], keys[i]});
      // The quota is asked of authd now (not captured at RCPT) so that a quota
      // raised while the message waits counts on the next retry.
      mailstore::Quota quota;
      std::string shard;
      bool moving = false;
      std::optional<RecipientResolver::LocalTarget> t;
      if (sieve_)
        t = target_of(group.front());
      else if (resolver_)
        t = resolver_->local_target(group.front().address, user_id, claim->message(group.front().message_id).queue_id);
      if (t) {
        quota = t->quota;
        shard = t->shard;
        moving = t->moving;
      }
      // Sharding: an account being moved between shards waits for the move
      // (a few seconds); one whose shard is unknown is not guessed at.
      if (moving) throw ShardDefer("452 4.2.0 mailbox being moved, try again shortly", "moving");
      if (!local_->route(user_id, shard))
        throw ShardDefer("451 4.3.0 mailbox store for this account unknown now", "unknown_shard");
      auto delivered = local_->deliver_batch(user_id, mailbox, items, quota);
      for (size_t i = 0; i < group.size(); ++i) {
        const LocalResult& d = delivered.at(i);
        if (d.exceeds_quota) {
          results[i] = {Outcome::kPermanent,
                        "552 5.2.2 mailbox full: the message is larger than the recipient's quota", "", false, false};
          if (metrics_) metrics_->over_quota("bounced");
        } else if (d.over_quota) {
          results[i] = {Outcome::kTemporary,
                        d.over_message_quota ? "452 4.2.2 mailbox full (message count quota)"
                                             : "452 4.2.2 mailbox full (over quota)",
                        "", false, false};
          if (metrics_) metrics_->over_quota("deferred");
        } else {
          results[i] = {Outcome::kDelivered, delivered_reply(mailbox, d.uid, d.duplicate), "", false, false};
        }
      }
    } catch (const ShardDefer& e) {
      for (auto& res : results) res = {Outcome::kTemporary, e.reply, "", false, false};
      spdlog::info("local delivery of {} message(s) to user {} deferred: {}", group.size(), user_id, e.reason);
    } catch (const db::Unavailable& e) {
      for (auto& res : results) res = {Outcome::kTemporary, "451 4.3.0 mailbox store unavailable", "", false, false};
      spdlog::warn("local delivery of {} message(s) to user {}: {}", group.size(), user_id, e.what());
    } catch (const std::exception& e) {
      for (auto& res : results)
        res = {Outcome::kTemporary, "451 4.3.0 local delivery failed: " + truncate(e.what(), 200), "", false, false};
      spdlog::warn("local delivery of {} message(s) to user {}: {}", group.size(), user_id, e.what());
    }
    for (size_t i = 0; i < group.size(); ++i) finish(group[i], std::move(results[i]), true, started, t0);
  }
  // 3. Remote recipients: one SMTP transaction per (message, domain), with
  // every pending recipient of the message at that domain - also those the
  // claim's LIMIT left out or whose retry time lies a little ahead.
  for (auto& [key, group] : remote_groups) {
    for (auto& sibling : claim->claim_destination_siblings(key.first, key.second)) {
      group.push_back(std::move(sibling));
      recipients.push_back(group.back());
    }
  }
  for (auto& [key, group] : remote_groups) {
    const auto started = Clock::now();
    const auto t0 = std::chrono::steady_clock::now();
    const auto& msg = claim->message(key.first);
    std::vector<const ClaimedRecipient*> ptrs;
    for (const auto& r : group) ptrs.push_back(&r);
    auto dest = destinations.open.find(key.second);
    if (dest == destinations.open.end()) {
      auto slot = acquire_destination_slot(claim->tx(), key.second, config_.max_per_domain);
      if (!slot) {
        // The destination already has max_per_domain sessions, from this
        // instance or others: try again shortly without counting an attempt
        // against the recipients.
        const auto when = Clock::now() + std::chrono::seconds(2);  // together again, like a retry
        for (const auto& r : group) claim->postpone(r, when);
        spdlog::debug("[q:{}] {} busy ({} sessions): postponed", msg.queue_id, key.second, config_.max_per_domain);
        continue;
      }
      Destinations::Open open;
      open.slot_key = *slot;
      try {
        if (remote_) open.session = remote_->open(key.second);
      } catch (const std::exception& e) {
        spdlog::error("[q:{}] opening a session to {} failed: {}", msg.queue_id, key.second, log::printable(e.what(), 1024));
      }
      dest = destinations.open.emplace(key.second, std::move(open)).first;
    }
    std::vector<RecipientResult> results;
    try {
      if (dest->second.session) {
        results = dest->second.session->deliver(msg, ptrs);
        const auto counts = dest->second.session->take_counts();
        if (metrics_) metrics_->smtp_connections(counts.opened, counts.reused);
        for (const auto& r : dest->second.session->take_policy_results())
          if (metrics_) metrics_->transport_policy(r);
      }
    } catch (const std::exception& e) {
      // Never let one destination's trouble roll back the batch: recipients
      // already delivered in it would be delivered again.
      spdlog::error("[q:{}] remote delivery to {} failed: {}", msg.queue_id, key.second, log::printable(e.what(), 1024));
      results.assign(group.size(), RecipientResult{Outcome::kTemporary, "451 4.3.0 local error in remote delivery",
                                                   "", false, false});
    }
    results.resize(group.size(), RecipientResult{Outcome::kTemporary, "451 4.3.2 remote delivery is not available",
                                                 "", false, false});
    // One retry time for the transaction's deferred recipients (one jitter
    // draw, the earliest schedule among them): a 4xx to the whole transaction
    // or an outage brings them back together. A recipient deferred alone
    // inside an accepted transaction (a 4xx to its RCPT) shares it too, which
    // at worst retries it a little earlier than its own schedule.
    const auto now = Clock::now();
    const double rnd = random01();
    std::optional<Clock::time_point> deferred_next;
    for (size_t i = 0; i < group.size(); ++i) {
      const auto d = decide_for(group[i], results[i].outcome, now, rnd);
      if (d.state == State::kDeferred && (!deferred_next || d.next_attempt_at < *deferred_next))
        deferred_next = d.next_attempt_at;
    }
    for (size_t i = 0; i < group.size(); ++i) finish(group[i], std::move(results[i]), false, started, t0, deferred_next);
  }

  // 4. DSNs, in the same transaction as the outcomes that cause them: a bounce
  //    is recorded if and only if its DSN is queued.
  std::map<std::tuple<int64_t, int>, std::vector<DsnRecipient>> reports;
  std::vector<DsnAction> dsn_sent;
  for (const auto& d : done) {
    const auto& msg = claim->message(d.recipient.message_id);
    std::optional<DsnAction> action;
    switch (d.decision.state) {
      case State::kBounced:
      case State::kExpired:
        if (notify_wants(d.recipient.notify, DsnAction::kFailed)) action = DsnAction::kFailed;
        break;
      case State::kDelivered:
        if (d.local && notify_wants(d.recipient.notify, DsnAction::kDelivered)) action = DsnAction::kDelivered;
        if (!d.local && !d.result.remote_dsn && notify_wants(d.recipient.notify, DsnAction::kRelayed))
          action = DsnAction::kRelayed;
        break;
      case State::kDeferred:
        if (config_.delay_warning.count() > 0 && !d.recipient.delay_warned &&
            Clock::now() - msg.created_at >= config_.delay_warning &&
            notify_wants(d.recipient.notify, DsnAction::kDelayed)) {
          action = DsnAction::kDelayed;
          claim->mark_delay_warned(d.recipient);
        }
        break;
      default: break;
    }
    if (!action) continue;
    if (msg.is_dsn || msg.mail_from.empty()) {
      // Never a bounce for a bounce (RFC 3461 6.2 / RFC 5321 3.6.3).
      if (*action == DsnAction::kFailed)
        spdlog::warn("[q:{}] undeliverable DSN to {} discarded: {}", msg.queue_id,
                     log::printable(d.recipient.address, 512), log::printable(d.result.reply, 1024));
      continue;
    }
    DsnRecipient dr;
    dr.address = d.recipient.address;
    dr.orcpt = d.recipient.orcpt;
    dr.action = *action;
    // Expiry: "delivery time expired" (RFC 3463 X.4.7); the last reply goes
    // into the diagnostic. A mailbox that stayed full expires as 5.2.2
    // ("mailbox full", now permanent), which tells the sender more.
    dr.status = d.decision.state == State::kExpired
                    ? (enhanced_status(d.result.reply) == "4.2.2" ? "5.2.2" : "4.4.7")
                    : enhanced_status(d.result.reply);
    dr.remote_mta = d.result.mx_host;
    dr.diagnostic = d.result.reply;
    dr.smtp_diagnostic = d.result.remote_reply;
    dr.last_attempt = Clock::now();
    if (*action == DsnAction::kDelayed) dr.will_retry_until = msg.lifetime_start + config_.policy.max_lifetime;
    reports[{msg.id, static_cast<int>(*action)}].push_back(std::move(dr));
  }
  for (auto& [key, rcpts] : reports) {
    const auto& msg = claim->message(std::get<0>(key));
    const auto action = static_cast<DsnAction>(std::get<1>(key));
    const size_t count = rcpts.size();
    auto dsn = make_dsn_message({config_.hostname, config_.bounce_from}, msg, std::move(rcpts), Clock::now());
    auto q = enqueue(claim->tx(), dsn);
    spdlog::info("[q:{}] {} DSN for {} recipient(s) queued as {}", msg.queue_id, dsn_action_name(action),
                 count, q.queue_id);
    dsn_sent.push_back(action);
  }

  claim->commit();
  if (!dsn_sent.empty() || sieve_queued) wake();  // the DSNs (and Sieve's messages) are due now (Enqueue sends no NOTIFY)
  if (sieve_queued && on_queued_) on_queued_();

  for (const auto& d : done) {
    const auto& msg = claim->message(d.recipient.message_id);
    spdlog::info("[q:{}]{} to=<{}> relay={} state={} attempts={} reply=\"{}\"", msg.queue_id,
                 d.local ? " [u:" + log::tag_value(d.recipient.address, 512) + "]" : std::string(),
                 log::printable(d.recipient.address, 512),
                 d.local ? "local" : (d.result.mx_host.empty() ? "none" : d.result.mx_host),
                 state_name(d.decision.state), d.recipient.attempts + 1, log::printable(d.result.reply, 1024));
    if (metrics_) metrics_->delivery(d.decision.state, d.local ? "local" : "remote", d.seconds);
  }
  if (metrics_)
    for (auto a : dsn_sent) metrics_->dsn_sent(a);
  if (!dsn_sent.empty()) wake();
  return static_cast<int>(recipients.size());
}

}  // namespace postline::queue
