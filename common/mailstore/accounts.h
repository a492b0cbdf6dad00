// Pieces of the mailstore that every implementation shares and that touch no
// database: the default mailboxes a new account gets (with their RFC 6154
// SPECIAL-USE attributes, all subscribed: clients such as Thunderbird only
// show subscribed folders by default), the INBOX name rule, and the change
// notification payload that travels between instances.
#pragma once

#include "common/mailstore/mail_store.h"

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
// The special use of a default mailbox name ("Junk" -> "\Junk"), or nullptr.
const char* default_special_use(std::string_view name);

// "INBOX" is case-insensitive (RFC 9051 5.1), also as the first level of a
// hierarchy ("inbox/Lists" is "INBOX/Lists"); every other name is kept as is.
std::string normalize_mailbox_name(std::string_view name);

// A name the store accepts (UTF-8 text, no empty levels and no "." or ".."
// levels, no wildcards or control characters, at most 1000 bytes).
bool valid_mailbox_name(const std::string& name);

// The change notification payload. Message changes (the common case) carry
// only ids, as they always did: "<user_id>:<mailbox_id>:<modseq>". Mailbox
// and subscription changes (IMAP NOTIFY MailboxName/SubscriptionChange) add
// a kind and the names, because a deleted mailbox's name can no longer be
// read from the store: "<user>:<mailbox>:<modseq>:<kind>:<len>:<name>[:<old
// name>]" where <len> is the byte length of <name> (names may contain ':').
// Readers that only scan the first two numbers keep working with both forms.
// METADATA changes (kind 'a') append ":" and the entry names separated by
// "\n" (entry names have no control characters): "<user>:<mailbox>:0:a:<len>:
// <mailbox name>:<entries>", mailbox 0 and an empty name for the server.
std::string encode_change(const ChangeEvent& e);
// The kMetadata events for a SETMETADATA: the entries split over as many
// events as it takes to keep each payload under kMaxMetadataPayload
// (PostgreSQL refuses a NOTIFY payload of 8000 bytes or more).
inline constexpr size_t kMaxMetadataPayload = 4000;
std::vector<ChangeEvent> metadata_change_events(UserId user, MailboxId mailbox, const std::string& name,
                                                const std::vector<std::string>& entries);
// nullopt for a payload that is not a change notification (logged by the caller).
std::optional<ChangeEvent> parse_change(std::string_view payload);

inline constexpr const char* kChangeChannel = "postline_mailbox_changes";

}  // namespace postline::mailstore
