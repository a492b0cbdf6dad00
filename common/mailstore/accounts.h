// Per-user bootstrap shared by delivery and IMAP login: the first time the
// store sees a user it creates the default mailboxes with their RFC 6154
// SPECIAL-USE attributes and subscribes them (clients such as Thunderbird only
// show subscribed folders by default).
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::mailstore {

struct DefaultMailbox {
  const char* name;
  const char* special_use;  // nullptr for INBOX
};

const std::vector<DefaultMailbox>& default_mailboxes();

// "INBOX" is case-insensitive (RFC 9051 5.1), also as the first level of a
// hierarchy ("inbox/Lists" is "INBOX/Lists"); every other name is kept as is.
std::string normalize_mailbox_name(std::string_view name);

// Creates the account row and the default mailboxes if this user is new.
// Returns true if it created them. Safe under concurrency: the account row's
// unique key makes a second caller wait for the first and then do nothing.
bool ensure_account(pqxx::transaction_base& tx, int64_t user_id);

struct MailboxRow {
  int64_t mailbox_id = 0;
  std::string name;
  std::optional<std::string> special_use;
  int64_t uidvalidity = 0;
  int64_t uidnext = 0;
  int64_t highestmodseq = 0;
};

// Creates `name` (already normalised) if missing; returns its id.
int64_t create_mailbox_if_missing(pqxx::transaction_base& tx, int64_t user_id, const std::string& name,
                                  const char* special_use = nullptr);

// Sends the change notification every imapd LISTENs to; delivered at commit.
void notify_change(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id, int64_t modseq);

inline constexpr const char* kChangeChannel = "postline_mailbox_changes";

}  // namespace postline::mailstore
