// EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3, RFC 4315 2.1).
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

// Removes expunged UIDs from the view and reports them (EXPUNGE or VANISHED).
void report_expunged(Context& ctx, const std::vector<uint32_t>& uids) {
  auto& sel = *ctx.session.selected;
  if (uids.empty()) return;
  if (ctx.session.qresync) {
    std::vector<uint32_t> v;
    for (auto u : uids)
      if (sel.msn_of(u)) v.push_back(u);
    sel.remove(v);
    // RFC 5267 contexts: REMOVEFROM before the messages are gone.
    std::string out = sel.take_context_output();
    if (!v.empty()) out += untagged("VANISHED " + SequenceSet::format(v));
    if (!out.empty()) ctx.send(std::move(out));
    return;
  }
  // Ascending UIDs; each number is valid when the client applies it.
  const std::vector<uint32_t> msns = sel.remove(uids);
  std::string out = sel.take_context_output();
  for (uint32_t msn : msns) out += untagged(std::to_string(msn) + " EXPUNGE");
  ctx.send(std::move(out));
}

asio::awaitable<Result> cmd_expunge(Context& ctx) {
  std::optional<SequenceSet> uid_set;
  if (ctx.uid) uid_set = parse_uid_expunge_args(ctx.args).set;
  else parse_no_args(ctx.args);
  auto& sel = *ctx.session.selected;
  std::optional<std::vector<uint32_t>> only;
  if (uid_set) {
    std::vector<Selected> targets;
    select_messages(sel, *uid_set, true, targets);
    only.emplace();
    for (const auto& t : targets) only->push_back(t.uid);
  }
  if (sel.read_only) co_return Result::no("Mailbox is read-only", "READ-ONLY");
  if (only && only->empty()) co_return Result::ok("UID EXPUNGE completed");
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
  auto call = [=](mailstore::MailStore& st) { return st.expunge(user_id, mailbox_id, only); };
  std::vector<uint32_t> gone = co_await ctx.store(std::move(call));
  report_expunged(ctx, gone);
  co_return Result::ok(ctx.uid ? "UID EXPUNGE completed" : "EXPUNGE completed");
}

}  // namespace postline::imap
