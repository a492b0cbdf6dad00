// STORE and UID STORE (RFC 9051 6.4.6) with CONDSTORE's UNCHANGEDSINCE and
// MODIFIED (RFC 7162 3.1.3).
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

#include <algorithm>
#include <map>
#include <set>

namespace postline::imap {

asio::awaitable<Result> cmd_store(Context& ctx) {
  // Flags come checked (no \Recent, no unknown \flags) with system flags in
  // canonical case.
  const StoreArgs args = parse_store_args(ctx.args, ctx.uid);
  auto& sel = *ctx.session.selected;
  std::vector<Selected> targets;
  if (auto bad = select_messages(sel, args.set, ctx.uid, targets)) co_return Result::bad(*bad);
  // Only a valid command enables CONDSTORE (RFC 7162 3.1), with the
  // HIGHESTMODSEQ the client has not heard yet.
  if (args.unchanged_since) enable_condstore(ctx);
  if (sel.read_only) co_return Result::no("Mailbox is read-only", "READ-ONLY");
  if (args.mode != StoreMode::kRemove) {
    size_t new_keywords = 0;
    for (const auto& f : args.flags)
      if (f[0] != '\\' && !sel.announced_keywords().count(f)) ++new_keywords;
    if (new_keywords && sel.announced_keywords().size() + new_keywords > kMaxMailboxKeywords)
      co_return Result::no("Too many keywords in this mailbox (at most " + std::to_string(kMaxMailboxKeywords) + ")",
                           "LIMIT");
  }
  const mailstore::FlagMode mode = args.mode == StoreMode::kAdd      ? mailstore::FlagMode::kAdd
                                   : args.mode == StoreMode::kRemove ? mailstore::FlagMode::kRemove
                                                                     : mailstore::FlagMode::kReplace;
  const bool silent = args.silent;
  const std::optional<int64_t> unchanged_since =
      args.unchanged_since ? std::optional<int64_t>(static_cast<int64_t>(*args.unchanged_since)) : std::nullopt;
  std::vector<uint32_t> uids;
  for (const auto& t : targets) uids.push_back(t.uid);
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
  auto call = [=, wanted = mailstore::flags_from_names(args.flags)](mailstore::MailStore& st) {
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
