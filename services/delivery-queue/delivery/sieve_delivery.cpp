#include "services/delivery-queue/delivery/sieve_delivery.h"

#include "common/log/printable.h"
#include "common/mailstore/delivery_key.h"
#include "services/delivery-queue/delivery/local_mailbox.h"
#include "services/delivery-queue/delivery/safe_text.h"

#include <spdlog/spdlog.h>

namespace postline::queue {

namespace sst = mailstore::pg::sieve_state;
using db::pq::Connection;

namespace {

// Rounds of questions one run may ask (each costs a round trip): a script
// that includes one that tests a mailbox that ... More is treated like a
// runtime error: the message is kept in INBOX.
constexpr int kMaxRounds = 4;

void merge(sst::Questions& into, const sst::Questions& q) {
  into.vacation_keys.insert(q.vacation_keys.begin(), q.vacation_keys.end());
  into.duplicate_keys.insert(q.duplicate_keys.begin(), q.duplicate_keys.end());
  into.mailboxes.insert(q.mailboxes.begin(), q.mailboxes.end());
  into.scripts.insert(q.scripts.begin(), q.scripts.end());
}

std::string result_name(SievePlan::Result r) {
  switch (r) {
    case SievePlan::Result::kOk: return "ok";
    case SievePlan::Result::kCompileError: return "compile_error";
    case SievePlan::Result::kRuntimeError: return "runtime_error";
  }
  return "ok";
}

// What the queue records for the recipient (and the run record keeps for a
// retry): one line, no UIDs (a retry could not know them).
std::string reply_for(const SievePlan& plan) {
  if (plan.reject) return "550 5.7.1 rejected by the recipient's Sieve script: " + safe_text(*plan.reject, 300);
  std::string out = "250 2.0.0 Sieve:";
  std::string sep = " ";
  if (!plan.stores.empty()) {
    out += sep + "delivered to";
    for (size_t i = 0; i < plan.stores.size(); ++i) out += (i ? ", " : " ") + plan.stores[i].mailbox;
    sep = "; ";
  }
  for (const auto& to : plan.redirected_to) {
    out += sep + "redirected to <" + to + ">";
    sep = "; ";
  }
  if (plan.vacation) {
    out += sep + "vacation reply queued";
    sep = "; ";
  }
  if (plan.stores.empty() && plan.redirected_to.empty()) out += sep + "discarded";
  return safe_text(out, 900);
}

// A script that asked too much: the message into INBOX as it is.
SievePlan keep_plan(const SieveInput& in, std::string error) {
  SievePlan p;
  p.result = SievePlan::Result::kRuntimeError;
  p.error = std::move(error);
  p.stores.push_back({"INBOX", {}, std::string(in.message)});
  p.actions.push_back("implicit_keep");
  return p;
}

sst::Outgoing to_outgoing(const NewMessage& m) {
  sst::Outgoing o;
  o.queue_id = m.queue_id;
  o.mail_from = m.mail_from;
  o.helo = m.helo;
  o.client_ip = m.client_ip;
  o.authenticated_user = m.authenticated_user;
  o.dsn_ret = m.dsn_ret;
  o.dsn_envid = m.dsn_envid;
  o.body_type = m.body_type;
  o.target_mailbox = m.target_mailbox;
  o.smtputf8 = m.smtputf8;
  o.is_dsn = m.is_dsn;
  for (const auto& r : m.recipients) o.recipients.push_back({r.address, r.notify, r.orcpt});
  o.body = m.body;
  return o;
}

// As stage_enqueue() takes it: recipients resolved by authd when a worker takes them.
NewMessage from_outgoing(sst::Outgoing o) {
  NewMessage m;
  m.queue_id = std::move(o.queue_id);
  m.mail_from = std::move(o.mail_from);
  m.helo = std::move(o.helo);
  m.client_ip = std::move(o.client_ip);
  m.authenticated_user = std::move(o.authenticated_user);
  m.dsn_ret = std::move(o.dsn_ret);
  m.dsn_envid = std::move(o.dsn_envid);
  m.body_type = std::move(o.body_type);
  m.target_mailbox = std::move(o.target_mailbox);
  m.smtputf8 = o.smtputf8;
  m.is_dsn = o.is_dsn;
  for (auto& r : o.recipients) {
    NewRecipient rc;
    rc.address = std::move(r.address);
    rc.notify = std::move(r.notify);
    rc.orcpt = std::move(r.orcpt);
    rc.needs_resolve = true;
    m.recipients.push_back(std::move(rc));
  }
  m.body = std::move(o.body);
  return m;
}

}  // namespace

SieveDelivery::SieveDelivery(db::pq::Pool& pool, mailstore::pg::PgMailStore& store, SieveRunner& runner,
                             QueueMetrics* metrics, std::function<void()> queued)
    : SieveDelivery({{"", SieveShard{&pool, &store, true}}}, "", runner, metrics, std::move(queued)) {}

SieveDelivery::SieveDelivery(std::map<std::string, SieveShard> shards, std::string default_shard, SieveRunner& runner,
                             QueueMetrics* metrics, std::function<void()> queued)
    : shards_(std::move(shards)),
      default_shard_(std::move(default_shard)),
      runner_(runner),
      metrics_(metrics),
      queued_(std::move(queued)) {}

const SieveShard* SieveDelivery::find(const std::string& name) const {
  if (name.empty()) {
    if (shards_.size() != 1) return nullptr;  // several shards: an account is not guessed at
    return &shards_.begin()->second;
  }
  if (auto it = shards_.find(name); it != shards_.end()) return &it->second;
  if (shards_.size() == 1 && shards_.begin()->first.empty()) return &shards_.begin()->second;  // one unnamed shard
  return nullptr;
}

std::map<int64_t, LocalSieve::Script> SieveDelivery::active_scripts(const std::vector<int64_t>& users,
                                                                    const std::string& shard) {
  std::map<int64_t, Script> out;
  if (users.empty()) return out;
  const SieveShard* where = find(shard);
  if (!where && shard.empty()) where = find(default_shard_);
  if (!where) throw std::runtime_error("unknown mailstore shard " + shard);
  auto active = where->pool->with([&](Connection& c) { return sst::active_scripts(c, users); }, /*idempotent=*/true);
  for (auto& [user, s] : active) out[user] = {std::move(s.name), std::move(s.sha256)};
  return out;
}

std::string SieveDelivery::default_mailbox(const MessageData& message) const {
  return runner_.default_mailbox(message.body, local_mailbox(message));
}

RecipientResult SieveDelivery::deliver(const MessageData& msg, const ClaimedRecipient& r,
                                       const std::optional<Script>& active, const mailstore::Quota& quota,
                                       const std::string& shard, std::vector<NewMessage>& queue_with_outcome) {
  const int64_t user = r.user_id;
  const std::string tag = "[q:" + log::tag_value(msg.queue_id) + "] [u:" + log::tag_value(r.address, 512) + "]";
  const SieveShard* where = find(shard);
  if (!where) {
    if (metrics_) metrics_->sieve_run("failed");
    spdlog::info("{} sieve delivery deferred: the account's mailstore shard is unknown here", tag);
    return {Outcome::kTemporary, "451 4.3.0 mailbox store for this account unknown now", "", false, false};
  }
  db::pq::Pool& pool_ = *where->pool;
  mailstore::pg::PgMailStore& store_ = *where->store;
  const bool queue_here = where->queue_here;
  const std::string run_key = mailstore::sieve_run_key(msg.queue_id, r.id);
  SieveInput in;
  in.message = msg.body;
  in.mail_from = msg.mail_from;
  in.recipient = r.address;
  in.orcpt = r.orcpt;
  in.authenticated_user = msg.authenticated_user;
  in.user_id = user;
  in.target_mailbox = local_mailbox(msg);
  in.smtputf8 = msg.smtputf8;
  in.body_type = msg.body_type;
  in.queue_id = msg.queue_id;
  in.now = std::time(nullptr);
  try {
    std::shared_ptr<const CompiledScript> compiled;
    if (active)
      compiled = runner_.user_script(user, active->name, active->sha256, [&] {
        return pool_.with([&](Connection& c) { return sst::script_text(c, user, active->name); }, true);
      });
    return pool_.with([&](Connection& c) -> RecipientResult {
      bool open = false;
      try {
        Connection::Pipeline first(c);
        first.add("BEGIN");
        sst::add_lock(first, user);
        sst::add_run_lookup(first, user, run_key);
        if (!queue_here) sst::add_outbox_lookup(first, user, run_key);
        open = true;
        const auto res = first.run();
        if (auto done = sst::read_run(res.at(2))) {
          c.run("ROLLBACK");
          open = false;
          // What the run sends, kept with it: queued now with the outcome.
          if (!queue_here)
            for (auto& o : sst::read_outbox(res.at(3))) queue_with_outcome.push_back(from_outgoing(std::move(o)));
          if (metrics_) metrics_->sieve_run("replayed");
          spdlog::info("{} sieve: run found committed by an earlier attempt: {}", tag, log::printable(done->reply, 400));
          return {done->rejected ? Outcome::kPermanent : Outcome::kDelivered, done->reply, "", false, false};
        }

        // The interpreter's questions, one round trip per round.
        sst::Answers known;
        sst::Questions answered;
        SievePlan plan;
        bool settled = false;
        for (int round = 0; round < kMaxRounds && !settled; ++round) {
          sst::Questions asked;
          plan = runner_.run(in, compiled.get(), known, answered, asked);
          if (asked.empty()) {
            settled = true;
            break;
          }
          Connection::Pipeline q(c);
          sst::add_questions(q, user, asked);
          sst::read_answers(q.run(), 0, asked, known);
          merge(answered, asked);
        }
        if (!settled) plan = keep_plan(in, "the scripts kept asking about the mailbox state (more than 4 rounds)");

        // Everything the run does, in this transaction.
        sst::Records records;
        records.run_key = run_key;
        records.outcome = {plan.reject.has_value(), reply_for(plan)};
        records.vacation_keys = plan.vacation_keys;
        records.duplicates = plan.duplicates;
        if (!queue_here)
          for (const auto& m : plan.outgoing) records.outbox.push_back(to_outgoing(m));
        Connection::Pipeline w(c);
        size_t n = sst::add_records(w, user, records);
        std::vector<std::string> bodies(plan.stores.size()), keys(plan.stores.size());
        std::vector<std::unique_ptr<mailstore::pg::PgMailStore::StagedDelivery>> staged;
        std::vector<size_t> firsts;
        for (size_t i = 0; i < plan.stores.size(); ++i) {
          // RFC 5321 4.4: the final delivery adds Return-Path.
          bodies[i] = "Return-Path: <" + msg.mail_from + ">\r\n" + plan.stores[i].message;
          keys[i] = mailstore::sieve_copy_key(msg.queue_id, r.id, i);
          staged.push_back(store_.stage_delivery(
              user, plan.stores[i].mailbox, {mailstore::DeliveryItem{bodies[i], keys[i], plan.stores[i].flags}}, quota));
          firsts.push_back(n);
          n += staged.back()->add_to(w);
        }
        if (queue_here)
          for (const auto& m : plan.outgoing) n += stage_enqueue(w, m);
        const auto wr = w.run();
        bool over = false, exceeds = false, by_count = false;
        for (size_t i = 0; i < staged.size(); ++i)
          for (const auto& d : staged[i]->read(wr, firsts[i]))
            if (d.over_quota) {
              over = true;
              exceeds = exceeds || d.exceeds_quota;
              by_count = by_count || d.over_message_quota;
            }
        if (over) {
          // Nothing of the run happens: it runs again on the retry.
          c.run("ROLLBACK");
          open = false;
          if (metrics_) metrics_->over_quota(exceeds ? "bounced" : "deferred");
          if (exceeds)
            return {Outcome::kPermanent, "552 5.2.2 mailbox full: the message is larger than the recipient's quota", "",
                    false, false};
          return {Outcome::kTemporary,
                  by_count ? "452 4.2.2 mailbox full (message count quota)" : "452 4.2.2 mailbox full (over quota)", "",
                  false, false};
        }
        c.run("COMMIT");
        open = false;
        for (auto& s : staged) s->announce();
        if (queue_here) {
          if (!plan.outgoing.empty() && queued_) queued_();
        } else {
          // Queued by the caller, with the recipient's outcome (the wake comes then).
          for (const auto& m : plan.outgoing) queue_with_outcome.push_back(m);
        }

        if (metrics_) {
          metrics_->sieve_run(result_name(plan.result));
          for (const auto& a : plan.actions) metrics_->sieve_action(a);
        }
        if (plan.result != SievePlan::Result::kOk)
          spdlog::warn("{} sieve {}: {} (the message was kept)", tag, result_name(plan.result),
                       log::printable(plan.error, 1024));
        for (const auto& note : plan.notes) spdlog::info("{} sieve: {}", tag, log::printable(note, 512));
        for (size_t i = 0; i < plan.outgoing.size(); ++i)
          spdlog::info("{} sieve: queued {} to <{}>", tag, plan.outgoing[i].queue_id,
                       log::printable(plan.outgoing[i].recipients.front().address, 512));
        return {records.outcome.rejected ? Outcome::kPermanent : Outcome::kDelivered, records.outcome.reply, "", false,
                false};
      } catch (...) {
        if (open) {
          try {
            c.run("ROLLBACK");
          } catch (const std::exception&) {
          }
        }
        throw;
      }
    });
  } catch (const std::exception& e) {
    // Nothing was committed (or the commit's answer was lost: the retry
    // finds the run record). The recipient is deferred.
    if (metrics_) metrics_->sieve_run("failed");
    spdlog::warn("{} sieve delivery failed (deferred): {}", tag, log::printable(e.what(), 1024));
    return {Outcome::kTemporary, "451 4.3.0 local delivery with Sieve failed: " + safe_text(e.what(), 200), "", false,
            false};
  }
}

int64_t SieveDelivery::prune(std::chrono::seconds runs_max_age) {
  constexpr int64_t kVacationMaxAge = 91LL * 86400;  // the longest :days (90) and a day
  int64_t n = 0;
  for (auto& [name, shard] : shards_)
    n += shard.pool->with([&](Connection& c) { return sst::prune(c, runs_max_age.count(), kVacationMaxAge, 1000); },
                          true);
  return n;
}

}  // namespace postline::queue
