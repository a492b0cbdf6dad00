// APPEND (RFC 9051 6.3.12) with UIDPLUS's APPENDUID (RFC 4315) and
// LITERAL+/literal8 message data. The size limit (APPENDLIMIT) is enforced by
// the Receiver before the bytes are buffered.
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

asio::awaitable<Result> cmd_append(Context& ctx) {
  // Flags come checked (no \Recent, no unknown \flags); the message is the
  // literal's bytes.
  AppendArgs args = parse_append_args(ctx.args);
  // RFC 6855 3.4: APPEND ... UTF8 (~{n}...) once UTF8=ACCEPT is enabled.
  if (args.utf8 && !ctx.session.utf8_accept) co_return Result::bad("UTF8 APPEND needs ENABLE UTF8=ACCEPT");
  const std::string name = from_wire(ctx.session, args.mailbox);
  const std::vector<std::string>& flags = args.flags;
  const std::optional<int64_t> date = args.internal_date;
  // literal8 (~{n}): the bytes are stored exactly as sent (RFC 3516 4.4). The
  // UTF8 form's literal8 is there for 8-bit headers (RFC 6855), not for
  // binary content: it is canonicalised like a plain literal, as before.
  const bool binary = args.literal8 && !args.utf8;
  std::string message = std::move(args.message);
  if (message.empty()) co_return Result::no("Empty message");

  co_await refresh_limits(ctx);
  const int64_t user_id = ctx.session.user_id;
  const mailstore::Quota quota{ctx.session.quota_bytes, ctx.session.quota_messages};
  auto op = [user_id, quota, name, flags = mailstore::flags_from_names(flags), date, binary,
             message = std::move(message)](mailstore::MailStore& st) {
    return st.append(user_id, name, {mailstore::AppendItem{message, flags, date, binary}}, quota);
  };
  mailstore::AppendResult res = co_await ctx.store(std::move(op));
  if (res.error == mailstore::StoreError::kNoSuchMailbox) co_return Result::no("No such mailbox", "TRYCREATE");
  if (res.error == mailstore::StoreError::kOverQuota) co_return Result::no("Quota exceeded", "OVERQUOTA");
  // Appending to the selected mailbox: the client sees EXISTS before the tagged OK.
  if (ctx.session.selected && ctx.session.selected->mailbox_id == res.mailbox_id) co_await sync_selected(ctx, true);
  co_return Result::ok("APPEND completed",
                       "APPENDUID " + std::to_string(res.uidvalidity) + " " + std::to_string(res.uids.at(0)));
}

}  // namespace postline::imap
