// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 6.3.4-6.3.8).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/store.h"

namespace postline::imap {

namespace {

Result from_error(mailstore::StoreError e, const char* ok_text) {
  switch (e) {
    case mailstore::StoreError::kNone: return Result::ok(ok_text);
    case mailstore::StoreError::kNoSuchMailbox: return Result::no("No such mailbox", "NONEXISTENT");
    case mailstore::StoreError::kAlreadyExists: return Result::no("Mailbox already exists", "ALREADYEXISTS");
    case mailstore::StoreError::kInvalidName: return Result::no("Invalid mailbox name", "CANNOT");
    case mailstore::StoreError::kInboxProtected: return Result::no("INBOX cannot be deleted", "CANNOT");
    case mailstore::StoreError::kHasChildren:
      return Result::no("Mailbox has children, delete them first", "INUSE");
    case mailstore::StoreError::kOverQuota: return Result::no("Quota exceeded", "OVERQUOTA");
  }
  return Result::no("Operation failed");
}

std::string name_arg(Context& ctx) {
  ctx.args.sp();
  return from_wire(ctx.session, ctx.args.astring());
}

}  // namespace

asio::awaitable<Result> cmd_create(Context& ctx) {
  const std::string name = name_arg(ctx);
  if (ctx.args.try_sp()) ctx.args.fail("CREATE parameters are not supported");
  ctx.args.end();
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](pqxx::connection& c) { return mailstore::create_mailbox(c, user_id, name); };
  auto err = co_await ctx.db(std::move(call));
  co_return from_error(err, "CREATE completed");
}

asio::awaitable<Result> cmd_delete(Context& ctx) {
  const std::string name = name_arg(ctx);
  ctx.args.end();
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](pqxx::connection& c) { return mailstore::delete_mailbox(c, user_id, name); };
  auto err = co_await ctx.db(std::move(call));
  co_return from_error(err, "DELETE completed");
}

asio::awaitable<Result> cmd_rename(Context& ctx) {
  const std::string from = name_arg(ctx);
  const std::string to = name_arg(ctx);
  ctx.args.end();
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](pqxx::connection& c) { return mailstore::rename_mailbox(c, user_id, from, to); };
  auto err = co_await ctx.db(std::move(call));
  co_return from_error(err, "RENAME completed");
}

asio::awaitable<Result> cmd_subscribe(Context& ctx) {
  const std::string name = name_arg(ctx);
  ctx.args.end();
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    bool exists = mailstore::find_mailbox(tx, user_id, name).has_value();
    tx.commit();
    if (exists) mailstore::set_subscribed(c, user_id, name, true);
    return exists;
  };
  // Subscribing to a name that does not exist is refused: it only confuses
  // clients (RFC 9051 allows either).
  bool ok = co_await ctx.db(std::move(call));
  if (!ok) co_return Result::no("No such mailbox", "NONEXISTENT");
  co_return Result::ok("SUBSCRIBE completed");
}

asio::awaitable<Result> cmd_unsubscribe(Context& ctx) {
  const std::string name = name_arg(ctx);
  ctx.args.end();
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](pqxx::connection& c) {
    mailstore::set_subscribed(c, user_id, name, false);
    return 0;
  };
  co_await ctx.db(std::move(call));
  co_return Result::ok("UNSUBSCRIBE completed");
}

}  // namespace postline::imap
