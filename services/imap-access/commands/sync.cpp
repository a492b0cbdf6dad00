// Bringing a session's view of its selected mailbox up to date from the store
// (the MODSEQ-based resync every instance does after a change notification).
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"

namespace postline::imap {

asio::awaitable<void> sync_selected(Context& ctx, bool allow_expunge) {
  if (!ctx.session.selected) co_return;
  auto& sel = *ctx.session.selected;
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id, since = sel.highestmodseq;
  ctx.session.mailbox_dirty = false;
  // One snapshot: the mailbox row and the changes agree (the store's promise).
  // New mail while selected read-write under IMAP4rev1 is this session's
  // \Recent if no other session claimed it first (RFC 3501 2.3.2).
  const bool claim = sel.show_recent && !sel.read_only;
  const int64_t known_uidnext = sel.uidnext;
  struct Sync {
    mailstore::Changes changes;
    std::optional<mailstore::Uid> recent_from;
  };
  auto query = [=](mailstore::MailStore& st) {
    Sync s{st.changes_since(user_id, mailbox_id, since), std::nullopt};
    if (claim && s.changes.exists && s.changes.info.uidnext > known_uidnext)
      s.recent_from = st.claim_recent(user_id, mailbox_id, static_cast<mailstore::Uid>(s.changes.info.uidnext));
    return s;
  };
  Sync result = co_await ctx.store(std::move(query));
  mailstore::Changes& snap = result.changes;
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
  opt.recent = sel.show_recent;
  if (result.recent_from) sel.add_recent(*result.recent_from, static_cast<uint32_t>(snap.info.uidnext));
  std::string out =
      sel.apply(snap.changed, snap.expunged, snap.info.highestmodseq, snap.info.uidnext, opt);
  if (!out.empty()) ctx.send(std::move(out));
  // RFC 5267 contexts follow the view, where EXPUNGE could go out too.
  if (allow_expunge && sel.contexts.has_dirty()) co_await update_contexts(ctx);
}

void enable_condstore(Context& ctx) {
  if (ctx.session.condstore) return;
  ctx.session.condstore = true;
  if (ctx.session.selected)
    ctx.send(untagged("OK [HIGHESTMODSEQ " + std::to_string(ctx.session.selected->highestmodseq) + "] Highest"));
}

}  // namespace postline::imap
