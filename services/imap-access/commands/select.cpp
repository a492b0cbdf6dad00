// SELECT, EXAMINE (RFC 9051 6.3.2/6.3.3), CLOSE, UNSELECT (RFC 3691).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/store.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <set>

namespace postline::imap {

namespace {

const char* kSystemFlags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

asio::awaitable<Result> open(Context& ctx, bool read_only) {
  ctx.args.sp();
  std::string name = from_wire(ctx.session, ctx.args.astring());
  struct Qresync {
    int64_t uidvalidity = 0, modseq = 0;
    std::optional<SequenceSet> known;
  };
  std::optional<Qresync> qresync;
  if (ctx.args.try_sp()) {
    // RFC 7162: SELECT mailbox (CONDSTORE) / (QRESYNC (uidvalidity modseq [known-uids [seq-match]]))
    ctx.args.expect('(');
    std::string param = to_upper(ctx.args.atom());
    if (param == "CONDSTORE") {
      ctx.session.condstore = true;
    } else if (param == "QRESYNC") {
      if (!ctx.session.qresync) co_return Result::bad("QRESYNC is not enabled");
      ctx.args.sp();
      ctx.args.expect('(');
      Qresync q;
      q.uidvalidity = ctx.args.nz_number();
      ctx.args.sp();
      q.modseq = static_cast<int64_t>(ctx.args.number64());
      if (ctx.args.try_sp() && ctx.args.peek() != '(') {
        q.known = SequenceSet::parse(ctx.args.sequence_set_text());
        if (!q.known) ctx.args.fail("invalid known-uids");
        ctx.args.try_sp();
      }
      if (ctx.args.try_char('(')) {
        // seq-match-data only narrows what we would send anyway: accept and ignore.
        while (!ctx.args.at_end() && ctx.args.peek() != ')') ctx.args.expect(ctx.args.peek());
        ctx.args.expect(')');
      }
      ctx.args.expect(')');
      qresync = q;
    } else {
      ctx.args.fail("unsupported SELECT parameter");
    }
    ctx.args.expect(')');
  }
  ctx.args.end();
  // A failed SELECT leaves no mailbox selected (RFC 9051 6.3.2).
  if (ctx.session.selected) {
    ctx.session.selected.reset();
    ctx.session.state = State::kAuthenticated;
    ctx.send(untagged("OK [CLOSED] Previous mailbox closed"));
  }
  struct Opened {
    std::optional<mailstore::MailboxInfo> info;
    std::vector<MessageUpdate> messages;
    std::vector<int64_t> vanished;
  };
  const int64_t since = qresync ? qresync->modseq : -1;
  const int64_t user_id = ctx.session.user_id;
  auto query = [=](pqxx::connection& c) {
    Opened o;
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    o.info = mailstore::find_mailbox(tx, user_id, name);
    if (!o.info) return o;
    for (auto& m : mailstore::message_states(tx, user_id, o.info->mailbox_id))
      o.messages.push_back({static_cast<uint32_t>(m.uid), std::move(m.flags), m.modseq});
    if (since >= 0) o.vanished = mailstore::expunged_since(tx, user_id, o.info->mailbox_id, since);
    return o;
  };
  Opened opened = co_await ctx.db(std::move(query));
  if (!opened.info) co_return Result::no("No such mailbox", "NONEXISTENT");

  SelectedMailbox sel;
  sel.mailbox_id = opened.info->mailbox_id;
  sel.name = opened.info->name;
  sel.read_only = read_only;
  sel.uidvalidity = opened.info->uidvalidity;
  sel.uidnext = opened.info->uidnext;
  sel.highestmodseq = opened.info->highestmodseq;
  sel.load(opened.messages);

  std::set<std::string> keywords;
  uint32_t first_unseen = 0;
  for (uint32_t msn = 1; msn <= sel.exists(); ++msn) {
    bool seen = false;
    for (const auto& f : sel.flags_at(msn)) {
      if (f == "\\Seen") seen = true;
      if (!f.empty() && f[0] != '\\') keywords.insert(f);
    }
    if (!seen && !first_unseen) first_unseen = msn;
  }
  std::string flags = kSystemFlags;
  for (const auto& k : keywords) flags += " " + k;
  ctx.send(untagged(std::to_string(sel.exists()) + " EXISTS"));
  if (!ctx.session.rev2) ctx.send(untagged("0 RECENT"));
  ctx.send(untagged("FLAGS (" + flags + ")"));
  // Clients may create any keyword (\*).
  ctx.send(untagged(std::string("OK [PERMANENTFLAGS (") + (read_only ? "" : flags + " \\*") + ")] Flags permitted"));
  if (first_unseen && !ctx.session.rev2)
    ctx.send(untagged("OK [UNSEEN " + std::to_string(first_unseen) + "] First unseen"));
  ctx.send(untagged("OK [UIDVALIDITY " + std::to_string(sel.uidvalidity) + "] UIDs valid"));
  ctx.send(untagged("OK [UIDNEXT " + std::to_string(sel.uidnext) + "] Predicted next UID"));
  ctx.send(untagged("OK [HIGHESTMODSEQ " + std::to_string(sel.highestmodseq) + "] Highest"));
  ctx.send(untagged("OK [MAILBOXID (M" + std::to_string(sel.mailbox_id) + ")] Ok"));
  if (qresync && qresync->uidvalidity == sel.uidvalidity) {
    // RFC 7162 3.2.5.1: what vanished and what changed since the client's MODSEQ.
    std::vector<uint32_t> vanished;
    for (int64_t uid : opened.vanished)
      if (!qresync->known || qresync->known->contains(static_cast<uint32_t>(uid), UINT32_MAX))
        vanished.push_back(static_cast<uint32_t>(uid));
    if (!vanished.empty()) ctx.send(untagged("VANISHED (EARLIER) " + SequenceSet::format(vanished)));
    for (const auto& m : opened.messages) {
      if (m.modseq <= qresync->modseq) continue;
      ctx.send(untagged(std::to_string(sel.msn_of(m.uid)) + " FETCH (UID " + std::to_string(m.uid) + " FLAGS " +
                        flag_list(m.flags) + " MODSEQ (" + std::to_string(m.modseq) + "))"));
    }
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
  ctx.args.end();
  auto& sel = *ctx.session.selected;
  // CLOSE expunges silently (no EXPUNGE responses) unless read-only.
  if (!sel.read_only) {
    const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
    auto op = [=](pqxx::connection& c) { return mailstore::expunge(c, user_id, mailbox_id, std::nullopt); };
    co_await ctx.db(std::move(op));
  }
  ctx.session.selected.reset();
  ctx.session.state = State::kAuthenticated;
  co_return Result::ok("CLOSE completed");
}

asio::awaitable<Result> cmd_unselect(Context& ctx) {
  ctx.args.end();
  ctx.session.selected.reset();
  ctx.session.state = State::kAuthenticated;
  co_return Result::ok("UNSELECT completed");
}

}  // namespace postline::imap
