// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 6.3.4-6.3.8).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

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

// DELETE, SUBSCRIBE, UNSUBSCRIBE: one mailbox name, as the store spells it.
std::string name_arg(Context& ctx) { return from_wire(ctx.session, parse_mailbox_args(ctx.args).mailbox); }

}  // namespace

asio::awaitable<Result> cmd_create(Context& ctx) {
  const std::string name = from_wire(ctx.session, parse_create_args(ctx.args).mailbox);
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](mailstore::MailStore& st) { return st.create_mailbox(user_id, name); };
  auto err = co_await ctx.store(std::move(call));
  co_return from_error(err, "CREATE completed");
}

asio::awaitable<Result> cmd_delete(Context& ctx) {
  const std::string name = name_arg(ctx);
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](mailstore::MailStore& st) { return st.delete_mailbox(user_id, name); };
  auto err = co_await ctx.store(std::move(call));
  co_return from_error(err, "DELETE completed");
}

asio::awaitable<Result> cmd_rename(Context& ctx) {
  const RenameArgs args = parse_rename_args(ctx.args);
  const std::string from = from_wire(ctx.session, args.from), to = from_wire(ctx.session, args.to);
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](mailstore::MailStore& st) { return st.rename_mailbox(user_id, from, to); };
  auto err = co_await ctx.store(std::move(call));
  co_return from_error(err, "RENAME completed");
}

asio::awaitable<Result> cmd_subscribe(Context& ctx) {
  const std::string name = name_arg(ctx);
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](mailstore::MailStore& st) { return st.subscribe(user_id, name); };
  // Subscribing to a name that does not exist is refused: it only confuses
  // clients (RFC 9051 allows either).
  auto err = co_await ctx.store(std::move(call));
  if (err != mailstore::StoreError::kNone) co_return Result::no("No such mailbox", "NONEXISTENT");
  co_return Result::ok("SUBSCRIBE completed");
}

asio::awaitable<Result> cmd_unsubscribe(Context& ctx) {
  const std::string name = name_arg(ctx);
  const int64_t user_id = ctx.session.user_id;
  auto call = [=](mailstore::MailStore& st) {
    st.unsubscribe(user_id, name);
    return 0;
  };
  co_await ctx.store(std::move(call));
  co_return Result::ok("UNSUBSCRIBE completed");
}

}  // namespace postline::imap
