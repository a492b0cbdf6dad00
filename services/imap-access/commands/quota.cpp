// QUOTA (RFC 9208): one quota root "" per user with the STORAGE resource
// (units of 1024 octets) taken from authd's quota_bytes at login, and the
// MESSAGE usage for information. Limits are set by operators with
// `postline quota set`, never over IMAP (SETQUOTA answers NO).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/store.h"

namespace postline::imap {

namespace {

asio::awaitable<std::string> quota_line(Context& ctx) {
  const int64_t user_id = ctx.session.user_id;
  auto query = [=](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return mailstore::usage(tx, user_id);
  };
  mailstore::Usage u = co_await ctx.db(std::move(query));
  const int64_t limit_kib = ctx.session.quota_bytes / 1024;
  const int64_t used_kib = (u.bytes + 1023) / 1024;
  co_return untagged("QUOTA \"\" (STORAGE " + std::to_string(used_kib) + " " + std::to_string(limit_kib) + ")");
}

}  // namespace

asio::awaitable<Result> cmd_getquotaroot(Context& ctx) {
  ctx.args.sp();
  const std::string name = from_wire(ctx.session, ctx.args.astring());
  ctx.args.end();
  const int64_t user_id = ctx.session.user_id;
  auto query = [=](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return mailstore::find_mailbox(tx, user_id, name).has_value();
  };
  bool exists = co_await ctx.db(std::move(query));
  if (!exists) co_return Result::no("No such mailbox", "NONEXISTENT");
  if (ctx.session.quota_bytes <= 0) {
    ctx.send(untagged("QUOTAROOT " + to_wire(ctx.session, name)));  // no quota applies
    co_return Result::ok("GETQUOTAROOT completed");
  }
  ctx.send(untagged("QUOTAROOT " + to_wire(ctx.session, name) + " \"\""));
  std::string line = co_await quota_line(ctx);
  ctx.send(std::move(line));
  co_return Result::ok("GETQUOTAROOT completed");
}

asio::awaitable<Result> cmd_getquota(Context& ctx) {
  ctx.args.sp();
  const std::string root = ctx.args.astring();
  ctx.args.end();
  if (!root.empty() || ctx.session.quota_bytes <= 0) co_return Result::no("No such quota root", "NONEXISTENT");
  std::string line = co_await quota_line(ctx);
  ctx.send(std::move(line));
  co_return Result::ok("GETQUOTA completed");
}

asio::awaitable<Result> cmd_setquota(Context& ctx) {
  co_return Result::no("Quotas are set by the administrator", "NOPERM");
}

}  // namespace postline::imap
