// COPY, MOVE and their UID forms (RFC 9051 6.4.7/6.4.8, RFC 6851, UIDPLUS
// COPYUID RFC 4315). Bodies are not copied: the new rows point at the same blob.
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

void report_expunged(Context& ctx, const std::vector<uint32_t>& uids);

namespace {

asio::awaitable<Result> copy_or_move(Context& ctx, bool move) {
  const CopyArgs args = parse_copy_args(ctx.args, ctx.uid);
  const std::string dest = from_wire(ctx.session, args.mailbox);
  auto& sel = *ctx.session.selected;
  if (move && sel.read_only) co_return Result::no("Mailbox is read-only", "READ-ONLY");
  std::vector<Selected> targets;
  if (auto bad = select_messages(sel, args.set, ctx.uid, targets)) co_return Result::bad(*bad);
  const char* done = move ? (ctx.uid ? "UID MOVE completed" : "MOVE completed")
                          : (ctx.uid ? "UID COPY completed" : "COPY completed");
  if (targets.empty()) co_return Result::ok(done);
  std::vector<uint32_t> uids;
  for (const auto& t : targets) uids.push_back(t.uid);
  if (!move) co_await refresh_limits(ctx);  // MOVE is never refused for quota
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
  const mailstore::Quota quota{ctx.session.quota_bytes, ctx.session.quota_messages};
  auto call = [=](mailstore::MailStore& st) { return st.copy(user_id, mailbox_id, uids, dest, move, quota); };
  mailstore::CopyResult res = co_await ctx.store(std::move(call));
  if (res.error == mailstore::StoreError::kNoSuchMailbox) co_return Result::no("No such mailbox", "TRYCREATE");
  if (res.error == mailstore::StoreError::kOverQuota) co_return Result::no("Quota exceeded", "OVERQUOTA");
  std::string code;
  if (!res.source_uids.empty()) {
    code = "COPYUID " + std::to_string(res.uidvalidity) + " " + SequenceSet::format(res.source_uids) + " " +
           SequenceSet::format(res.dest_uids);
  }
  // Into the selected mailbox: the client sees the new EXISTS with this
  // command, not at some later one (expunges only where numbers allow them).
  const bool into_selected = res.dest_mailbox_id == sel.mailbox_id;
  if (!move) {
    if (into_selected) co_await sync_selected(ctx, ctx.uid);
    co_return Result::ok(done, code);
  }
  // RFC 6851 4.3: COPYUID goes in an untagged OK before the expunges.
  if (!code.empty()) ctx.send(untagged("OK [" + code + "] Moved"));
  report_expunged(ctx, res.source_uids);
  if (into_selected) co_await sync_selected(ctx, ctx.uid);
  co_return Result::ok(done);
}

}  // namespace

asio::awaitable<Result> cmd_copy(Context& ctx) { co_return co_await copy_or_move(ctx, false); }
asio::awaitable<Result> cmd_move(Context& ctx) { co_return co_await copy_or_move(ctx, true); }

}  // namespace postline::imap
