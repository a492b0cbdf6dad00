// APPEND (RFC 9051 6.3.12) with UIDPLUS's APPENDUID (RFC 4315) and
// LITERAL+/literal8 message data. The size limit (APPENDLIMIT) is enforced by
// the Receiver before the bytes are buffered.
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"

namespace postline::imap {

namespace {
bool valid_store_flag(const std::string& f) {
  if (f.empty() || f[0] != '\\') return true;  // keywords
  static const char* kAllowed[] = {"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"};
  std::string lower;
  for (char c : f) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* a : kAllowed)
    if (lower == a) return true;
  return false;
}
}  // namespace

bool valid_flags_for_store(const std::vector<std::string>& flags) {
  for (const auto& f : flags)
    if (!valid_store_flag(f)) return false;
  return true;
}

asio::awaitable<Result> cmd_append(Context& ctx) {
  ctx.args.sp();
  const std::string name = from_wire(ctx.session, ctx.args.astring());
  ctx.args.sp();
  std::vector<std::string> flags;
  if (ctx.args.peek() == '(') {
    flags = ctx.args.flag_list();
    ctx.args.sp();
  }
  std::optional<int64_t> date;
  if (ctx.args.peek() == '"') {
    auto parsed = parse_imap_datetime(ctx.args.quoted());
    if (!parsed) ctx.args.fail("invalid date-time");
    date = parsed;
    ctx.args.sp();
  }
  std::string message;
  bool binary = false;  // literal8: the bytes are stored exactly as sent (RFC 3516 4.4)
  if (iequals(ctx.args.rest().substr(0, 5), "UTF8 ")) {
    // RFC 6855 3.4: APPEND ... UTF8 (~{n}...) once UTF8=ACCEPT is enabled.
    if (!ctx.session.utf8_accept) co_return Result::bad("UTF8 APPEND needs ENABLE UTF8=ACCEPT");
    ctx.args.atom();
    ctx.args.sp();
    ctx.args.expect('(');
    ctx.args.expect('~');
    message = ctx.args.literal();
    ctx.args.expect(')');
  } else {
    binary = ctx.args.try_char('~');
    message = ctx.args.literal();
  }
  ctx.args.end();
  if (!valid_flags_for_store(flags)) co_return Result::bad("Invalid system flag");
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
