// postline account move EMAIL --to SHARD, postline account cleanup EMAIL --shard SHARD:
// moving an account's mail between mailstore shards while it stays live
// (docs/DESIGN.md "Sharding", docs/operations.md "Sharding"). authd's
// directory says where the account is; the mailstore's AccountMover copies
// (common/mailstore/pg/account_move.h). Restartable: a move killed anywhere is
// run again with the same command.
#include <chrono>
#include <iostream>
#include <thread>

#include "common/mailstore/blob/blob_config.h"
#include "common/mailstore/pg/account_move.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "tools/postline/admin_rpc.h"
#include "tools/postline/mailstore_access.h"
#include "tools/postline/output.h"

namespace postline::cli {

using mail::v1::AdminService;
namespace mpg = mailstore::pg;

namespace {

void set_shard_state(CliContext& ctx, const std::string& what, const std::string& email,
                     const std::optional<std::string>& shard, std::optional<bool> moving) {
  mail::v1::UpdateUserRequest req;
  req.set_email(email);
  if (shard) req.set_shard(*shard);
  if (moving) req.set_moving(*moving);
  admin_call<mail::v1::UpdateUserRequest, mail::v1::UpdateUserResponse>(ctx, what, &AdminService::Stub::UpdateUser,
                                                                        req);
}

void check_shard_schema(const std::string& url, const std::string& name, const std::string& what) {
  try {
    mpg::check_schema(url);
  } catch (const std::exception& e) {
    throw CliError(what + ": shard " + name + ": " + e.what());
  }
}

std::string rows_text(const mpg::CopyStats& s) {
  return std::to_string(s.total_rows()) + " rows, " + std::to_string(s.bodies) + " bodies (" +
         format_used_bytes(s.body_bytes) + ")" +
         (s.objects_copied ? ", " + std::to_string(s.objects_copied) + " objects copied in the blob store (" +
                                 format_used_bytes(s.object_bytes) + ")"
                           : std::string());
}

}  // namespace

void register_account_commands(CLI::App& app, CliContext& ctx) {
  auto* account = app.add_subcommand("account", "an account's place among the mailstore shards");
  account->require_subcommand(1);

  auto mv_email = std::make_shared<std::string>();
  auto mv_to = std::make_shared<std::string>();
  auto mv_keep = std::make_shared<bool>(false);
  auto mv_settle = std::make_shared<std::string>();
  auto* move = account->add_subcommand(
      "move", "move an account's mail to another shard while it stays live (connected IMAP clients reconnect)");
  move->add_option("EMAIL", *mv_email, "the account")->required();
  move->add_option("--to", *mv_to, "the shard to move it to (a name from mailstore.shards)")->required();
  move->add_flag("--keep-source", *mv_keep,
                 "leave the rows on the old shard (remove them later with `postline account cleanup`)");
  move->add_option("--settle", *mv_settle,
                   "how long to wait after marking the account moving, so answers other services cached go stale "
                   "(default: smtp.recipient_cache_ttl + 1s)");
  move->callback([&ctx, mv_email, mv_to, mv_keep, mv_settle] {
    const std::string what = "account move " + *mv_email;
    const auto t0 = std::chrono::steady_clock::now();
    auto secs = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    mail::v1::User u = find_user(ctx, *mv_email, what);
    const std::string from = u.shard().empty() ? mpg::kDefaultShard : u.shard();
    if (from == *mv_to) {
      if (!u.moving()) {
        print_outcome(ctx, JsonObject().add("email", u.email()).add("shard", from).add("moved", false),
                      u.email() + " is on shard " + from + " already\n");
        return;
      }
      // A move that ended after the flip: the mail is on the target.
      set_shard_state(ctx, what, u.email(), std::nullopt, false);
      print_outcome(ctx, JsonObject().add("email", u.email()).add("shard", from).add("moved", true),
                    u.email() + " was moved to " + from +
                        " by an interrupted move; the old shard may still hold its rows: "
                        "postline account cleanup " + u.email() + " --shard OLD\n");
      return;
    }
    const std::string source = shard_url(ctx, from, what), target = shard_url(ctx, *mv_to, what);
    check_shard_schema(source, from, what);
    check_shard_schema(target, *mv_to, what);
    std::chrono::seconds settle = ctx.config().duration("smtp", "recipient_cache_ttl") + std::chrono::seconds(1);
    if (!mv_settle->empty()) {
      try {
        settle = config::parse_duration(*mv_settle, "--settle");
      } catch (const std::exception& e) {
        throw CliError(what + ": " + e.what(), 2);
      }
    }
    // Bodies in S3: the mover copies each object into the target shard's namespace.
    std::shared_ptr<mailstore::BlobStore> blobs;
    try {
      blobs = mailstore::blob_store_from_config(ctx.config(), nullptr, config::Config::process_environment());
    } catch (const config::ConfigError& e) {
      throw CliError(what + ": " + e.what(), 2);
    }
    mpg::AccountMover mover(source, target, blobs);
    // 1. The bulk copy, with the account live on the source.
    mpg::AccountMover::Bulk bulk;
    try {
      bulk = mover.bulk_copy(u.id());
    } catch (const std::exception& e) {
      throw CliError(what + ": copying to " + *mv_to + " failed (nothing changed; run again): " + e.what());
    }
    if (!ctx.json)
      std::cerr << "postline: copied " << rows_text(bulk.stats) << " to " << *mv_to << " in " << secs() << " s\n";
    // 2. The switch: deliveries defer, sessions on the old shard are told to go.
    set_shard_state(ctx, what, u.email(), std::nullopt, true);
    mpg::AccountMover::announce_moved(source, u.id(), from);
    std::this_thread::sleep_for(settle);  // cached answers (smtpd's recipient cache) expire
    const auto switch_started = std::chrono::steady_clock::now();
    std::unique_ptr<mpg::AccountMover::Switch> sw;
    try {
      sw = mover.begin_switch(u.id(), bulk.since);
    } catch (const std::exception& e) {
      set_shard_state(ctx, what, u.email(), std::nullopt, false);
      throw CliError(what + ": the switch failed, the account stays on " + from + " (run again): " + e.what());
    }
    // 3. The flip, then the old rows go (in the transaction that held the locks).
    try {
      set_shard_state(ctx, what, u.email(), *mv_to, std::nullopt);
    } catch (...) {
      sw->abandon();
      set_shard_state(ctx, what, u.email(), std::nullopt, false);
      throw;
    }
    const mpg::CopyStats delta = sw->delta();
    try {
      sw->finish(!*mv_keep, *mv_to);
    } catch (const std::exception& e) {
      std::cerr << "postline: " << what << ": the account is on " << *mv_to
                << " but deleting its rows on " << from << " failed (postline account cleanup " << u.email()
                << " --shard " << from << "): " << e.what() << "\n";
    }
    const double switch_secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - switch_started).count();
    mpg::AccountMover::announce_moved(source, u.id(), from);  // sessions that logged in during the switch
    set_shard_state(ctx, what, u.email(), std::nullopt, false);
    print_outcome(ctx,
                  JsonObject()
                      .add("email", u.email())
                      .add("from", from)
                      .add("to", *mv_to)
                      .add("moved", true)
                      .add("bulk_rows", bulk.stats.total_rows())
                      .add("bulk_bodies", bulk.stats.bodies)
                      .add("bulk_body_bytes", bulk.stats.body_bytes)
                      .add("objects_copied", bulk.stats.objects_copied + delta.objects_copied)
                      .add("delta_rows", delta.total_rows())
                      .add("switch_seconds", switch_secs)
                      .add("seconds", secs())
                      .add("source_deleted", !*mv_keep),
                  "moved " + u.email() + " from " + from + " to " + *mv_to + ": " + rows_text(bulk.stats) +
                      ", then " + std::to_string(delta.total_rows()) + " changed rows in a " +
                      std::to_string(switch_secs).substr(0, 5) + " s switch (deliveries deferred for " +
                      std::to_string(switch_secs + static_cast<double>(settle.count())).substr(0, 5) + " s)\n");
  });

  auto cl_email = std::make_shared<std::string>();
  auto cl_shard = std::make_shared<std::string>();
  auto cl_force = std::make_shared<bool>(false);
  auto* cleanup = account->add_subcommand(
      "cleanup", "delete an account's rows from a shard it is not on (left by --keep-source or an interrupted move)");
  cleanup->add_option("EMAIL", *cl_email, "the account")->required();
  cleanup->add_option("--shard", *cl_shard, "the shard to clean")->required();
  cleanup->add_flag("--force", *cl_force, "really delete them");
  cleanup->callback([&ctx, cl_email, cl_shard, cl_force] {
    const std::string what = "account cleanup " + *cl_email;
    const mail::v1::User u = find_user(ctx, *cl_email, what);
    const std::string on = u.shard().empty() ? mpg::kDefaultShard : u.shard();
    if (on == *cl_shard) throw CliError(what + ": the account's mail is on " + on + ": refusing to delete it");
    if (u.moving()) throw CliError(what + ": the account is being moved; try again when it is done");
    const std::string url = shard_url(ctx, *cl_shard, what);
    const auto rows = mpg::AccountMover::count_rows(url, u.id());
    RemovalPlan plan;
    plan.command = what;
    plan.kind = "the rows of";
    plan.name = u.email() + " on shard " + *cl_shard;
    RemovalPlan::Part part{"tables", "table", "tables", {}};
    for (const auto& [t, n] : rows)
      if (n > 0) part.names.push_back(t + " (" + std::to_string(n) + ")");
    plan.parts.push_back(part);
    plan.stays.push_back("the account's mail on " + on);
    require_force(ctx, plan, *cl_force);
    const auto st = mpg::AccountMover::cleanup(url, u.id(), on);
    print_outcome(ctx, JsonObject().add("email", u.email()).add("shard", *cl_shard).add("deleted", st.total_rows()),
                  "deleted " + std::to_string(st.total_rows()) + " rows of " + u.email() + " from " + *cl_shard +
                      "\n");
  });
}

}  // namespace postline::cli
