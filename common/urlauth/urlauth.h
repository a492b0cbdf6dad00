// URLAUTH (RFC 4467): IMAP URLs that carry their own authorization, as
// imapd's GENURLAUTH makes them and URLFETCH reads them, and as queued reads
// them for smtpd's BURL (RFC 4468). Shared so the two readers cannot answer
// differently.
//
// The INTERNAL mechanism (RFC 4467 7): the token is HMAC-SHA256 of the rump
// URL (everything before ":internal:<token>", i.e. up to and including
// ";URLAUTH=<access>", exactly as the client wrote it) keyed by the mailbox
// access key (mailstore::MailStore::urlauth_key, 32 random octets per user and
// mailbox), written as 64 lower-case hex digits (the URL's enc-urlauth is
// 32*HEXDIG, so base64 is not an option). Tokens are compared in constant time
// and case-insensitively (hex).
//
// Who may fetch (the access identifier, RFC 4467 3):
//   anonymous      anyone
//   authuser       any authenticated user of this server
//   user+<user>    that IMAP user only (URLFETCH)
//   submit+<user>  the submission server acting for that user only (BURL);
//                  never an IMAP session, which is no submission server
#pragma once

#include "common/mailstore/mail_store.h"
#include "common/urlauth/imap_url.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postline::urlauth {

// An absolute IMAP URL of a message (or part) with ";URLAUTH=": the rump
// URL GENURLAUTH takes, or the authorized URL with ":mechanism:token".
struct UrlauthUrl {
  std::string rump;            // up to and including ";URLAUTH=<access>": what the token signs
  std::string owner;           // the URL's user (iuserinfo), decoded: whose mailbox it is
  std::string access;          // "anonymous", "authuser", "user+fred", "submit+fred" (as written)
  std::optional<int64_t> expire;  // ;EXPIRE=<date-time>, Unix seconds
  std::string mechanism;       // lower case; "" in a rump URL
  std::string token;           // "" in a rump URL
  ImapUrl message;             // mailbox, UIDVALIDITY, UID, SECTION, PARTIAL
};

// Parses `text`; nullopt when it is not an absolute imap:// URL with a user,
// a UID and a valid ;URLAUTH= access identifier (and, when present, a valid
// ;EXPIRE= date-time and ":mechanism:token" with a hex token).
std::optional<UrlauthUrl> parse_urlauth_url(std::string_view text);

// RFC 3339 date-time ("2006-04-20T13:00:00Z", "...T15:00:00.5+02:00") as
// Unix seconds; nullopt when it is not one.
std::optional<int64_t> parse_date_time(std::string_view text);

// The INTERNAL mechanism's token for `rump` under `key` (64 hex digits).
std::string internal_token(std::string_view key, std::string_view rump);
// Whether `token` is the INTERNAL token of `rump` under `key` (constant time).
bool verify_internal_token(std::string_view key, std::string_view rump, std::string_view token);

// Who is fetching (the access identifier decides whether they may).
enum class Fetcher { kImapSession, kSubmission };
// `user`: the fetcher's authenticated user ("" for nobody).
bool access_permits(std::string_view access, Fetcher fetcher, std::string_view user);

enum class FetchStatus {
  kOk,
  kInvalid,   // not INTERNAL, expired, no key, wrong token, stale UIDVALIDITY, no such mailbox
  kNotFound,  // authorized, but the message (or the section) is not there
};
struct Fetched {
  FetchStatus status = FetchStatus::kInvalid;
  std::string bytes;
};

// Verifies an authorized URL of `owner`'s mailbox and reads what it names
// through the store (blocking: run it where store calls run). The access
// identifier is the caller's check (access_permits), and so is resolving
// url.owner to `owner`. `now`: Unix seconds, for ;EXPIRE=. Never sets \Seen.
Fetched fetch_authorized(mailstore::MailStore& store, mailstore::UserId owner, const UrlauthUrl& url, int64_t now);

// The bytes BODY[section]<partial> of a raw message names, as URLFETCH returns
// them (RFC 5092 isection, ipartial); nullopt when the section is not there.
std::optional<std::string> url_section_bytes(std::string_view raw, const ImapUrl& url);

}  // namespace postline::urlauth
