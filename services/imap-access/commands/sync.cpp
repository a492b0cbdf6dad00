// Bringing a session's view of its selected mailbox up to date from the store
// (the MODSEQ-based resync every instance does after a change notification).
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/store.h"

namespace postline::imap {

asio::awaitable<void> sync_selected(Context& ctx, bool allow_expunge) {
  if (!ctx.session.selected) co_return;
  auto& sel = *ctx.session.selected;
  struct Snapshot {
    bool exists = false;
    int64_t highestmodseq = 0, uidnext = 0;
    std::vector<MessageUpdate> changed;
    std::vector<uint32_t> expunged;
  };
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id, since = sel.highestmodseq;
  ctx.session.mailbox_dirty = false;
  auto query = [=](pqxx::connection& c) {
    Snapshot s;
    // One snapshot: the mailbox row and the changes must agree.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    auto row = tx.exec_params(
        "SELECT highestmodseq, uidnext FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2", user_id,
        mailbox_id);
    if (row.empty()) return s;
    s.exists = true;
    s.highestmodseq = row[0][0].as<int64_t>();
    s.uidnext = row[0][1].as<int64_t>();
    if (s.highestmodseq <= since) return s;
    for (auto& m : mailstore::message_states(tx, user_id, mailbox_id, since))
      s.changed.push_back({static_cast<uint32_t>(m.uid), std::move(m.flags), m.modseq});
    for (auto uid : mailstore::expunged_since(tx, user_id, mailbox_id, since))
      s.expunged.push_back(static_cast<uint32_t>(uid));
    return s;
  };
  Snapshot snap = co_await ctx.db(std::move(query));
  if (!snap.exists) {
    // The mailbox was deleted or renamed away under us (another session).
    ctx.send(untagged("BYE Selected mailbox was deleted, have to disconnect"));
    ctx.session.state = State::kLogout;
    ctx.effect = Effect::kClose;
    co_return;
  }
  SelectedMailbox::Options opt;
  opt.allow_expunge = allow_expunge;
  opt.modseq_in_fetch = ctx.session.condstore;
  opt.qresync = ctx.session.qresync;
  std::string out = sel.apply(snap.changed, snap.expunged, snap.highestmodseq, snap.uidnext, opt);
  if (!out.empty()) ctx.send(std::move(out));
}

}  // namespace postline::imap
