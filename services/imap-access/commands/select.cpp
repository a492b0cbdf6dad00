// SELECT, EXAMINE (RFC 9051 6.3.2/6.3.3), CLOSE, UNSELECT (RFC 3691).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <algorithm>

namespace postline::imap {

namespace {

// RFC 7162 3.2.5.2: the client's (message number, UID) pairs. Where the
// view still has that UID at that number, no message below it was expunged
// since the client's state: the messages below a UID it knew are the same
// ones now (UIDs only grow, so none can have appeared below it). Returns the
// highest such UID, 0 when no pair matches.
uint32_t unchanged_below(const SelectedMailbox& sel, const SelectArgs::SeqMatch& m) {
  std::vector<uint32_t> msns, uids;
  for (auto [lo, hi] : m.msns.resolve(UINT32_MAX))
    for (uint64_t n = lo; n <= hi && msns.size() <= sel.exists(); ++n) msns.push_back(static_cast<uint32_t>(n));
  for (auto [lo, hi] : m.uids.resolve(UINT32_MAX))
    for (uint64_t n = lo; n <= hi && uids.size() < msns.size(); ++n) uids.push_back(static_cast<uint32_t>(n));
  uint32_t floor = 0;
  for (size_t i = 0; i < msns.size() && i < uids.size(); ++i)
    if (msns[i] >= 1 && msns[i] <= sel.exists() && sel.uid_at(msns[i]) == uids[i]) floor = std::max(floor, uids[i]);
  return floor;
}

asio::awaitable<Result> open(Context& ctx, bool read_only) {
  const SelectArgs args = parse_select_args(ctx.args);
  // RFC 7162 3.2.5: QRESYNC without ENABLE QRESYNC is BAD (and changes nothing).
  if (args.qresync && !ctx.session.qresync) co_return Result::bad("QRESYNC is not enabled");
  const std::string name = from_wire(ctx.session, args.mailbox);
  const std::optional<SelectArgs::Qresync>& qresync = args.qresync;
  if (args.condstore) ctx.session.condstore = true;
  // A failed SELECT leaves no mailbox selected (RFC 9051 6.3.2).
  if (ctx.session.selected) {
    ctx.session.selected.reset();
    ctx.session.state = State::kAuthenticated;
    ctx.send(untagged("OK [CLOSED] Previous mailbox closed"));
  }
  const std::optional<int64_t> since =
      qresync ? std::optional<int64_t>(static_cast<int64_t>(qresync->modseq)) : std::nullopt;
  const int64_t user_id = ctx.session.user_id;
  // The store's index snapshot: cheap for a mailbox opened before (the store
  // reads only what changed since), and no message rows at all.
  // \Recent (IMAP4rev1): a read-write SELECT claims the mailbox's unclaimed
  // messages (they lose \Recent for every later session); EXAMINE shows them
  // without claiming (RFC 3501 6.3.2). IMAP4rev2 has no \Recent and claims nothing.
  const bool rev1 = !ctx.session.rev2;
  struct Open {
    mailstore::Opened opened;
    std::optional<uint32_t> recent_from;
  };
  auto query = [=](mailstore::MailStore& st) {
    Open o{st.open(user_id, name, since), std::nullopt};
    if (o.opened.index && rev1) {
      const auto& info = o.opened.index->info;
      const auto up_to = static_cast<mailstore::Uid>(info.uidnext);
      if (read_only) {
        o.recent_from = st.first_recent_uid(user_id, info.mailbox_id);
      } else if (auto from = st.claim_recent(user_id, info.mailbox_id, up_to)) {
        o.recent_from = *from;
      }
    }
    return o;
  };
  Open result = co_await ctx.store(std::move(query));
  mailstore::Opened& opened = result.opened;
  if (!opened.index) co_return Result::no("No such mailbox", "NONEXISTENT");

  SelectedMailbox sel;
  sel.read_only = read_only;
  sel.load(opened.index);  // shares the snapshot: nothing is copied
  sel.show_recent = rev1;
  if (result.recent_from) sel.add_recent(*result.recent_from, static_cast<uint32_t>(sel.uidnext));

  uint32_t first_unseen = 0;
  if (!ctx.session.rev2)
    for (uint32_t msn = 1; msn <= sel.exists() && !first_unseen; ++msn)
      if (!(sel.system_flags_at(msn) & mailstore::kSeen)) first_unseen = msn;
  ctx.send(untagged(std::to_string(sel.exists()) + " EXISTS"));
  if (rev1) {
    sel.told_recent(sel.recent_count());
    ctx.send(untagged(std::to_string(sel.recent_count()) + " RECENT"));
  }
  ctx.send(sel.flags_responses());
  if (first_unseen) ctx.send(untagged("OK [UNSEEN " + std::to_string(first_unseen) + "] First unseen"));
  ctx.send(untagged("OK [UIDVALIDITY " + std::to_string(sel.uidvalidity) + "] UIDs valid"));
  ctx.send(untagged("OK [UIDNEXT " + std::to_string(sel.uidnext) + "] Predicted next UID"));
  ctx.send(untagged("OK [HIGHESTMODSEQ " + std::to_string(sel.highestmodseq) + "] Highest"));
  ctx.send(untagged("OK [MAILBOXID (M" + std::to_string(sel.mailbox_id) + ")] Ok"));
  if (qresync && qresync->uidvalidity == sel.uidvalidity) {
    // RFC 7162 3.2.5.1: what vanished and what changed since the client's MODSEQ.
    // The store's list is exact unless its history was pruned (then every
    // missing UID); seq-match-data narrows the latter.
    const uint32_t floor = qresync->seq_match ? unchanged_below(sel, *qresync->seq_match) : 0;
    std::vector<uint32_t> vanished;
    for (uint32_t uid : opened.vanished)
      if (uid > floor && (!qresync->known_uids || qresync->known_uids->contains(uid, UINT32_MAX)))
        vanished.push_back(uid);
    if (!vanished.empty()) ctx.send(untagged("VANISHED (EARLIER) " + SequenceSet::format(vanished)));
    std::string changed;
    for (uint32_t msn = 1; msn <= sel.exists(); ++msn) {
      if (sel.modseq_at(msn) <= static_cast<int64_t>(qresync->modseq)) continue;
      changed += "* " + std::to_string(msn) + " FETCH (UID " + std::to_string(sel.uid_at(msn)) + " FLAGS ";
      sel.append_flag_list(changed, msn);
      changed += " MODSEQ (" + std::to_string(sel.modseq_at(msn)) + "))\r\n";
    }
    ctx.send(std::move(changed));
  }
  ctx.session.selected = std::move(sel);
  ctx.session.state = State::kSelected;
  ctx.session.mailbox_dirty = false;
  co_return Result::ok(read_only ? "EXAMINE completed" : "SELECT completed", read_only ? "READ-ONLY" : "READ-WRITE");
}

}  // namespace

asio::awaitable<Result> cmd_select(Context& ctx) { co_return co_await open(ctx, false); }
asio::awaitable<Result> cmd_examine(Context& ctx) { co_return co_await open(ctx, true); }

asio::awaitable<Result> cmd_close(Context& ctx) {
  parse_no_args(ctx.args);
  auto& sel = *ctx.session.selected;
  // CLOSE expunges silently (no EXPUNGE responses) unless read-only.
  if (!sel.read_only) {
    const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
    auto op = [=](mailstore::MailStore& st) { return st.expunge(user_id, mailbox_id, std::nullopt); };
    co_await ctx.store(std::move(op));
  }
  ctx.session.selected.reset();
  ctx.session.state = State::kAuthenticated;
  co_return Result::ok("CLOSE completed");
}

asio::awaitable<Result> cmd_unselect(Context& ctx) {
  parse_no_args(ctx.args);
  ctx.session.selected.reset();
  ctx.session.state = State::kAuthenticated;
  co_return Result::ok("UNSELECT completed");
}

}  // namespace postline::imap
