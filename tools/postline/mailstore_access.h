// How the CLI reaches a user's mail, as doveadm does: the account (id and
// limits) from authd's AdminService over gRPC (GetUser), the mailboxes through the
// mailstore's typed interface (mailstore::MailStore, PgMailStore on db.url),
// opened directly by this process. No SQL here: the mailstore owns its
// tables, and its writes announce themselves to IMAP sessions after commit
// exactly as imapd's and queued's do (the store's NotificationSender), so a
// CLI expunge reaches IDLE clients as EXPUNGE.
#pragma once

#include <memory>
#include <string>

#include "common/mailstore/mail_store.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/sieve_scripts.h"
#include "mail/v1/auth.pb.h"
#include "tools/postline/cli_context.h"

namespace postline::cli {

// The account with this address (AdminService GetUser: authd canonicalises
// the address). Throws CliError "<what>: no such user" (exit 1), or the RPC's
// error.
mail::v1::User find_user(CliContext& ctx, const std::string& email, const std::string& what);

// The mailstore on db.url (POSTLINE_DB_URL, db.url), after checking that the
// database holds the schema this build knows. Throws CliError naming the
// database problem (unreachable; not migrated: run `postline migrate`).
// Commands use it as a mailstore::MailStore; only `mailbox recalc` needs
// PgMailStore's own maintenance call (recalculate_usage).
// `shard`: the account's shard as authd names it (mail::v1::User.shard; ""
// = "main"), looked up in mailstore.shards (empty: db.url is "main").
std::unique_ptr<mailstore::pg::PgMailStore> open_mailstore(CliContext& ctx, const std::string& what,
                                                           const std::string& shard = "");
// The PostgreSQL URL of a mailstore shard (mailstore.shards; "main" is db.url
// when no shards are configured). Throws CliError for an unknown name.
std::string shard_url(CliContext& ctx, const std::string& shard, const std::string& what);

// The users' Sieve scripts (`postline sieve`) on the account's shard, after the same check.
std::unique_ptr<mailstore::SieveScriptStore> open_sieve_scripts(CliContext& ctx, const std::string& what,
                                                                const std::string& shard = "");

// Runs `fn` (mailstore calls) and turns the database going away into a
// CliError that names the operation.
template <typename Fn>
auto with_mailstore_errors(const std::string& what, Fn&& fn) -> decltype(fn());
[[noreturn]] void mailstore_failed(const std::string& what, const std::exception& e);

// A byte count as people read usage: "0 B", "812 B", "12.3 KiB", "1.5 GiB".
std::string format_used_bytes(int64_t bytes);
// used / limit as a whole percentage (rounded down); -1 when unlimited (0).
int64_t percent_of(int64_t used, int64_t limit);

template <typename Fn>
auto with_mailstore_errors(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const CliError&) {
    throw;
  } catch (const std::exception& e) {
    mailstore_failed(what, e);
  }
}

}  // namespace postline::cli
