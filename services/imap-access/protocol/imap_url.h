// The IMAP URL parser lives in common/urlauth (shared with queued's URLAUTH
// fetch for BURL); imapd's protocol code names it here.
#pragma once

#include "common/urlauth/imap_url.h"

namespace postline::imap {
using urlauth::ImapUrl;
using urlauth::kMaxImapUrlOctets;
using urlauth::parse_imap_url;
}  // namespace postline::imap
