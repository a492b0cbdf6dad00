// IMAP URLs (RFC 5092) as CATENATE (RFC 4469) and URLAUTH (RFC 4467, urlauth.h) use them: a message, or a
// section or partial of one, in the user's own mailboxes on this server.
// Sans-I/O: text in, a typed value out; the caller resolves it against the
// store. Only the "message" form with a UID is accepted: a mailbox list or
// search URL names no bytes to catenate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postline::urlauth {

struct ImapUrl {
  std::string mailbox;                  // decoded (UTF-8), as the store names it
  std::optional<uint32_t> uidvalidity;  // ;UIDVALIDITY=n: must match, or the URL is stale
  uint32_t uid = 0;                     // ;UID=n
  std::string section;                  // ;SECTION=..., decoded, as in BODY[section]
  std::optional<uint64_t> partial_offset, partial_length;  // ;PARTIAL=o[.n]
};

// Longest URL accepted (the mailbox name limit plus room for the rest).
inline constexpr size_t kMaxImapUrlOctets = 4096;

// Parses a relative URL ("/INBOX;UIDVALIDITY=42/;UID=7/;SECTION=1.2") or an
// absolute one on this server ("imap://user@host/INBOX/;UID=7"): nullopt when
// the text is not such a URL, names another user (`user` given and the URL's
// iuserinfo differs, case-insensitively) or carries URLAUTH (not offered).
// The absolute form's host is not checked against ours: a URL only ever
// reaches the acting user's own mailboxes, so it cannot read anything else.
std::optional<ImapUrl> parse_imap_url(std::string_view text, std::string_view user = {});

// RFC 3986 percent-decoding of one URL part whose literal characters must be
// letters, digits or one of `also_allowed`. nullopt on a bad %XX escape, on
// an escaped NUL, CR or LF, or on any other character. Shared by the IMAP URL
// parts and URLAUTH's user part.
std::optional<std::string> percent_decode(std::string_view s, std::string_view also_allowed);

}  // namespace postline::urlauth
