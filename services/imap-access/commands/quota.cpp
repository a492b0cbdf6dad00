// QUOTA (RFC 9208): GETQUOTAROOT, GETQUOTA, SETQUOTA with the STORAGE (units
// of 1024 octets) and MESSAGE resources, both per user across all mailboxes.
//
// Quota roots: "" is the logged-in user's own (every mailbox of theirs is
// under it); "user/<address>" names any account's root, usable by admins
// (authd's `admin` flag) and, for reading, by the account itself. Limits live
// in authd; imapd reads its own at login and re-reads them when older than
// kQuotaRefresh (before APPEND/COPY and on every GETQUOTA/GETQUOTAROOT), so an
// operator's change takes effect in open sessions within that time. SETQUOTA
// goes to authd (SetQuota), which checks that the acting user is an admin and
// writes the audit line; imapd passes the id of the user it authenticated.
// Only resources with a limit are reported (RFC 9208 5: a resource without a
// limit is not listed).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/log/printable.h"
#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace postline::imap {

namespace {

constexpr auto kQuotaRefresh = std::chrono::seconds(30);
constexpr std::string_view kUserRootPrefix = "user/";

// "" -> own (empty address); "user/<address>" -> address; anything else -> nullopt.
std::optional<std::string> root_address(const std::string& root) {
  if (root.empty()) return std::string();
  if (root.size() > kUserRootPrefix.size()) {
    std::string prefix = root.substr(0, kUserRootPrefix.size());
    for (auto& c : prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (prefix == kUserRootPrefix) return root.substr(kUserRootPrefix.size());
  }
  return std::nullopt;
}

Result quota_error(QuotaReply::Status status) {
  switch (status) {
    case QuotaReply::Status::kDenied: return Result::no("Permission denied", "NOPERM");
    case QuotaReply::Status::kNotFound:
    case QuotaReply::Status::kInvalid: return Result::no("No such quota root", "NONEXISTENT");
    default: return Result::no("Quota service unavailable, try again later", "UNAVAILABLE");
  }
}

// `* QUOTA root (STORAGE used limit MESSAGE used limit)` for `user_id`.
asio::awaitable<std::string> quota_line(Context& ctx, const std::string& root, int64_t user_id, int64_t limit_bytes,
                                        int64_t limit_messages) {
  auto query = [=](mailstore::MailStore& st) { return st.usage(user_id); };
  mailstore::Usage u = co_await ctx.store(std::move(query));
  std::string resources;
  if (limit_bytes > 0)
    resources += "STORAGE " + std::to_string((u.bytes + 1023) / 1024) + " " + std::to_string(limit_bytes / 1024);
  if (limit_messages > 0) {
    if (!resources.empty()) resources += " ";
    resources += "MESSAGE " + std::to_string(u.messages) + " " + std::to_string(limit_messages);
  }
  co_return untagged("QUOTA " + quoted_or_literal(root) + " (" + resources + ")");
}

bool has_limits(const SessionState& s) { return s.quota_bytes > 0 || s.quota_messages > 0; }

}  // namespace

asio::awaitable<void> refresh_limits(Context& ctx, bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - ctx.session.quota_read_at < kQuotaRefresh) co_return;
  ctx.session.quota_read_at = now;  // also after a failure: retry later, not on every command
  const int64_t user_id = ctx.session.user_id;
  const std::string own;
  QuotaReply reply = co_await ctx.services.auth->get_quota(user_id, own);
  if (reply.status != QuotaReply::Status::kOk || reply.user_id != user_id) {
    // The limits read at login stay in force: better than none.
    spdlog::warn("[s:{}] could not re-read the quota from authd; keeping the previous limits",
                 ctx.session.session_id);
    co_return;
  }
  ctx.session.quota_bytes = reply.quota_bytes;
  ctx.session.quota_messages = reply.quota_messages;
}

asio::awaitable<Result> cmd_getquotaroot(Context& ctx) {
  const std::string name = from_wire(ctx.session, parse_mailbox_args(ctx.args).mailbox);
  const int64_t user_id = ctx.session.user_id;
  auto query = [=](mailstore::MailStore& st) { return st.find_mailbox(user_id, name).has_value(); };
  bool exists = co_await ctx.store(std::move(query));
  if (!exists) co_return Result::no("No such mailbox", "NONEXISTENT");
  co_await refresh_limits(ctx, true);
  if (!has_limits(ctx.session)) {
    ctx.send(untagged("QUOTAROOT " + to_wire(ctx.session, name)));  // no quota applies
    co_return Result::ok("GETQUOTAROOT completed");
  }
  ctx.send(untagged("QUOTAROOT " + to_wire(ctx.session, name) + " \"\""));
  std::string line =
      co_await quota_line(ctx, "", user_id, ctx.session.quota_bytes, ctx.session.quota_messages);
  ctx.send(std::move(line));
  co_return Result::ok("GETQUOTAROOT completed");
}

asio::awaitable<Result> cmd_getquota(Context& ctx) {
  const std::string root = parse_getquota_args(ctx.args).root;
  auto address = root_address(root);
  if (!address) co_return Result::no("No such quota root", "NONEXISTENT");
  if (address->empty()) {
    co_await refresh_limits(ctx, true);
    if (!has_limits(ctx.session)) co_return Result::no("No such quota root", "NONEXISTENT");
    std::string line =
        co_await quota_line(ctx, root, ctx.session.user_id, ctx.session.quota_bytes, ctx.session.quota_messages);
    ctx.send(std::move(line));
    co_return Result::ok("GETQUOTA completed");
  }
  const int64_t acting = ctx.session.user_id;
  const std::string target = *address;
  QuotaReply reply = co_await ctx.services.auth->get_quota(acting, target);
  if (reply.status != QuotaReply::Status::kOk) co_return quota_error(reply.status);
  if (reply.user_id == acting) {
    ctx.session.quota_bytes = reply.quota_bytes;
    ctx.session.quota_messages = reply.quota_messages;
  }
  // An account's root exists whether or not it has limits: "()" says none.
  std::string line = co_await quota_line(ctx, root, reply.user_id, reply.quota_bytes, reply.quota_messages);
  ctx.send(std::move(line));
  co_return Result::ok("GETQUOTA completed");
}

// SETQUOTA root (STORAGE kib MESSAGE n): the listed limits replace the root's
// limits; a resource not listed has none afterwards (RFC 9208 4.1.3), so an
// empty list removes every limit.
asio::awaitable<Result> cmd_setquota(Context& ctx) {
  // Limits are bounded (KiB * 1024 fits authd's int64 with room to spare);
  // a resource given twice is BAD, one we do not know is listed for the NO below.
  const SetQuotaArgs args = parse_setquota_args(ctx.args);
  const std::string& root = args.root;
  const std::optional<int64_t> storage_kib =
      args.storage_kib ? std::optional<int64_t>(static_cast<int64_t>(*args.storage_kib)) : std::nullopt;
  const std::optional<int64_t> messages =
      args.messages ? std::optional<int64_t>(static_cast<int64_t>(*args.messages)) : std::nullopt;
  const std::string unknown = args.unsupported.empty() ? std::string() : args.unsupported.front();
  auto address = root_address(root);
  if (!address) co_return Result::no("No such quota root", "NONEXISTENT");
  // RFC 9208 4.1.3: an unsupported resource makes the whole command fail.
  if (!unknown.empty()) co_return Result::no("Unsupported quota resource " + unknown);
  const int64_t acting = ctx.session.user_id;
  const std::string target = *address;
  const int64_t bytes = storage_kib.value_or(0) * 1024, count = messages.value_or(0);
  QuotaReply reply = co_await ctx.services.auth->set_quota(acting, target, bytes, count);
  if (reply.status != QuotaReply::Status::kOk) {
    spdlog::info("[s:{}] SETQUOTA {} refused", ctx.session.session_id, log::printable(root));
    co_return quota_error(reply.status);
  }
  spdlog::info("[s:{}] SETQUOTA {} storage={} messages={}", ctx.session.session_id, log::printable(reply.email), reply.quota_bytes,
               reply.quota_messages);
  if (reply.user_id == acting) {
    ctx.session.quota_bytes = reply.quota_bytes;
    ctx.session.quota_messages = reply.quota_messages;
  }
  std::string line = co_await quota_line(ctx, root, reply.user_id, reply.quota_bytes, reply.quota_messages);
  ctx.send(std::move(line));
  co_return Result::ok("SETQUOTA completed");
}

}  // namespace postline::imap
