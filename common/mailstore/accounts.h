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

// What a change notification says. Message changes (the common case) carry
// only ids, as they always did: "<user_id>:<mailbox_id>:<modseq>". Mailbox
// and subscription changes (IMAP NOTIFY MailboxName/SubscriptionChange) add
// a kind and the names, because a deleted mailbox's name can no longer be
// read from the store: "<user>:<mailbox>:<modseq>:<kind>:<len>:<name>[:<old
// name>]" where <len> is the byte length of <name> (names may contain ':').
// Readers that only scan the first two numbers keep working with both forms.
enum class ChangeKind : char {
  kMessages = 'm',      // messages added, expunged or flagged (no names)
  kCreated = 'c',       // name
  kDeleted = 'd',       // name (the mailbox row is gone)
  kRenamed = 'r',       // name = new name, old_name
  kSubscribed = 's',    // name (mailbox_id 0 when no such mailbox)
  kUnsubscribed = 'u',  // name
};

struct ChangeEvent {
  ChangeEvent() = default;
  ChangeEvent(int64_t user, int64_t mailbox, int64_t seq, ChangeKind k = ChangeKind::kMessages, std::string n = {},
              std::string old = {})
      : user_id(user), mailbox_id(mailbox), modseq(seq), kind(k), name(std::move(n)), old_name(std::move(old)) {}
  int64_t user_id = 0;
  int64_t mailbox_id = 0;
  int64_t modseq = 0;
  ChangeKind kind = ChangeKind::kMessages;
  std::string name, old_name;
};

std::string encode_change(const ChangeEvent& e);
// nullopt for a payload that is not a change notification (logged by the caller).
std::optional<ChangeEvent> parse_change(std::string_view payload);
// notify_change for any kind of event; delivered at commit like notify_change.
void notify_event(pqxx::transaction_base& tx, const ChangeEvent& e);

inline constexpr const char* kChangeChannel = "postline_mailbox_changes";

}  // namespace postline::mailstore
