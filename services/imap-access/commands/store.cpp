// STORE and UID STORE (RFC 9051 6.4.6) with CONDSTORE's UNCHANGEDSINCE and
// MODIFIED (RFC 7162 3.1.3).
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/mail_store.h"

#include <map>
#include <set>

namespace postline::imap {

bool valid_flags_for_store(const std::vector<std::string>& flags);

asio::awaitable<Result> cmd_store(Context& ctx) {
  ctx.args.sp();
  auto set = SequenceSet::parse(ctx.args.sequence_set_text());
  if (!set) ctx.args.fail("invalid sequence set");
  ctx.args.sp();
  std::optional<int64_t> unchanged_since;
  if (ctx.args.try_char('(')) {
    std::string mod = to_upper(ctx.args.atom());
    if (mod != "UNCHANGEDSINCE") ctx.args.fail("unknown STORE modifier " + mod);
    ctx.args.sp();
    unchanged_since = static_cast<int64_t>(ctx.args.number64());
    ctx.args.expect(')');
    ctx.args.sp();
  }
  std::string op = to_upper(ctx.args.atom());
  mailstore::FlagMode mode = mailstore::FlagMode::kReplace;
  if (!op.empty() && op[0] == '+') mode = mailstore::FlagMode::kAdd, op.erase(0, 1);
  else if (!op.empty() && op[0] == '-') mode = mailstore::FlagMode::kRemove, op.erase(0, 1);
  bool silent = false;
  if (op == "FLAGS.SILENT") silent = true;
  else if (op != "FLAGS") ctx.args.fail("expected FLAGS, +FLAGS or -FLAGS");
  ctx.args.sp();
  std::vector<std::string> flags;
  if (ctx.args.peek() == '(') {
    flags = ctx.args.flag_list();
  } else {
    for (;;) {
      flags.push_back(ctx.args.flag());
      if (!ctx.args.try_sp()) break;
    }
  }
  ctx.args.end();
  if (!valid_flags_for_store(flags)) co_return Result::bad("Invalid system flag");
  if (unchanged_since) enable_condstore(ctx);
  auto& sel = *ctx.session.selected;
  if (sel.read_only) co_return Result::no("Mailbox is read-only", "READ-ONLY");

  std::vector<Selected> targets;
  if (auto bad = select_messages(sel, *set, ctx.uid, targets)) co_return Result::bad(*bad);
  std::vector<uint32_t> uids;
  for (const auto& t : targets) uids.push_back(t.uid);
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
  auto call = [=, wanted = mailstore::flags_from_names(flags)](mailstore::MailStore& st) {
    return st.store_flags(user_id, mailbox_id, uids, mode, wanted, unchanged_since);
  };
  mailstore::FlagUpdate update = co_await ctx.store(std::move(call));
  std::map<uint32_t, const mailstore::MessageChange*> changed;
  for (const auto& m : update.changed) {
    sel.set_flags(m.uid, m.flags, m.modseq);
    changed[m.uid] = &m;
  }
  // A new keyword is announced in FLAGS before any FETCH shows it (RFC 9051 7.3.5).
  if (auto flags_update = sel.announce_new_keywords(); !flags_update.empty()) ctx.send(std::move(flags_update));
  std::set<uint32_t> modified(update.modified.begin(), update.modified.end());
  for (const auto& t : targets) {
    if (modified.count(t.uid)) continue;
    auto it = changed.find(t.uid);
    // .SILENT still reports MODSEQ changes to a CONDSTORE client (RFC 7162 3.2).
    if (silent && !(ctx.session.condstore && it != changed.end())) continue;
    uint32_t msn = sel.msn_of(t.uid);
    if (!msn) continue;
    std::string line = std::to_string(msn) + " FETCH (";
    if (ctx.uid) line += "UID " + std::to_string(t.uid) + " ";
    line += "FLAGS ";
    sel.append_flag_list(line, msn);
    if (ctx.session.condstore && it != changed.end()) line += " MODSEQ (" + std::to_string(it->second->modseq) + ")";
    line += ")";
    ctx.send(untagged(line));
  }
  if (!modified.empty()) {
    std::vector<uint32_t> v;
    for (uint32_t uid : modified) v.push_back(ctx.uid ? uid : sel.msn_of(uid));
    std::sort(v.begin(), v.end());
    co_return Result::ok("Conditional STORE failed for some messages", "MODIFIED " + SequenceSet::format(v));
  }
  co_return Result::ok(ctx.uid ? "UID STORE completed" : "STORE completed");
}

}  // namespace postline::imap
