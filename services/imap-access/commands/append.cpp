// APPEND (RFC 9051 6.3.12) and MULTIAPPEND (RFC 3502) with UIDPLUS's
// APPENDUID (RFC 4315) and LITERAL+/literal8 message data. The size limit (APPENDLIMIT) is enforced by
// the Receiver before the bytes are buffered.
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

void report_expunged(Context& ctx, const std::vector<uint32_t>& uids);  // expunge.cpp

asio::awaitable<Result> cmd_append(Context& ctx) {
  // Flags come checked (no \Recent, no unknown \flags); each message is its
  // literal's bytes. MULTIAPPEND (RFC 3502): several messages, one transaction.
  AppendArgs args = parse_append_args(ctx.args);
  const std::string name = from_wire(ctx.session, args.mailbox);
  for (const AppendMessage& m : args.messages) {
    // RFC 6855 3.4: APPEND ... UTF8 (~{n}...) once UTF8=ACCEPT is enabled.
    if (m.utf8 && !ctx.session.utf8_accept) co_return Result::bad("UTF8 APPEND needs ENABLE UTF8=ACCEPT");
    // RFC 3502 6.3.11: one message that cannot be appended fails them all.
    if (m.message.empty()) co_return Result::no("Empty message");
  }

  co_await refresh_limits(ctx);
  const int64_t user_id = ctx.session.user_id;
  const mailstore::Quota quota{ctx.session.quota_bytes, ctx.session.quota_messages};
  auto op = [user_id, quota, name, messages = std::move(args.messages)](mailstore::MailStore& st) {
    std::vector<mailstore::AppendItem> items;
    items.reserve(messages.size());
    for (const AppendMessage& m : messages) {
      // literal8 (~{n}): the bytes are stored exactly as sent (RFC 3516 4.4).
      // The UTF8 form's literal8 is there for 8-bit headers (RFC 6855), not
      // for binary content: it is canonicalised like a plain literal.
      const bool binary = m.literal8 && !m.utf8;
      items.push_back(mailstore::AppendItem{m.message, mailstore::flags_from_names(m.flags), m.internal_date, binary});
    }
    return st.append(user_id, name, items, quota);
  };
  mailstore::AppendResult res = co_await ctx.store(std::move(op));
  if (res.error == mailstore::StoreError::kNoSuchMailbox) co_return Result::no("No such mailbox", "TRYCREATE");
  if (res.error == mailstore::StoreError::kOverQuota) co_return Result::no("Quota exceeded", "OVERQUOTA");
  // Appending to the selected mailbox: the client sees EXISTS before the tagged OK.
  if (ctx.session.selected && ctx.session.selected->mailbox_id == res.mailbox_id) co_await sync_selected(ctx, true);
  // RFC 4315: a MULTIAPPEND's APPENDUID carries the UIDs as a uid-set.
  co_return Result::ok("APPEND completed",
                       "APPENDUID " + std::to_string(res.uidvalidity) + " " + SequenceSet::format(res.uids));
}

// REPLACE / UID REPLACE (RFC 8508): APPEND of the new message and the expunge
// of the old one (whatever its flags) in one store transaction, so a draft
// being saved again is never there twice or not at all.
asio::awaitable<Result> cmd_replace(Context& ctx) {
  ReplaceArgs args = parse_replace_args(ctx.args, ctx.uid);
  const std::string dest = from_wire(ctx.session, args.mailbox);
  auto& sel = *ctx.session.selected;
  if (args.message.utf8 && !ctx.session.utf8_accept) co_return Result::bad("UTF8 APPEND needs ENABLE UTF8=ACCEPT");
  std::vector<Selected> targets;
  if (auto bad = select_messages(sel, args.target, ctx.uid, targets)) co_return Result::bad(*bad);
  // The expunge needs a read-write mailbox; nothing is appended without it.
  if (sel.read_only) co_return Result::no("Mailbox is read-only", "READ-ONLY");
  if (targets.empty()) co_return Result::no("No such message");
  if (args.message.message.empty()) co_return Result::no("Empty message");

  co_await refresh_limits(ctx);
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
  const uint32_t uid = targets.front().uid;
  const mailstore::Quota quota{ctx.session.quota_bytes, ctx.session.quota_messages};
  auto op = [user_id, mailbox_id, uid, quota, dest, m = std::move(args.message)](mailstore::MailStore& st) {
    const bool binary = m.literal8 && !m.utf8;  // as APPEND
    return st.replace(user_id, mailbox_id, uid, dest,
                      mailstore::AppendItem{m.message, mailstore::flags_from_names(m.flags), m.internal_date, binary},
                      quota);
  };
  mailstore::ReplaceResult res = co_await ctx.store(std::move(op));
  if (res.error == mailstore::StoreError::kNoSuchMailbox) co_return Result::no("No such mailbox", "TRYCREATE");
  if (res.error == mailstore::StoreError::kOverQuota) co_return Result::no("Quota exceeded", "OVERQUOTA");
  // RFC 8508 3.3: APPENDUID in an untagged OK, then the expunge (and, into
  // the selected mailbox, the new EXISTS) before the tagged OK.
  ctx.send(untagged("OK [APPENDUID " + std::to_string(res.appended.uidvalidity) + " " +
                    SequenceSet::format(res.appended.uids) + "] Replacement message ready"));
  report_expunged(ctx, res.expunged);
  if (res.appended.mailbox_id == sel.mailbox_id) co_await sync_selected(ctx, true);
  co_return Result::ok(ctx.uid ? "UID REPLACE completed" : "REPLACE completed");
}

}  // namespace postline::imap
