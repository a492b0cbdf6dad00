// Per-user limits (RFC 9208 resources STORAGE and MESSAGE) as authd hands
// them out; the mailstore enforces them, it does not store them.
#pragma once

#include <cstdint>

namespace postline::mailstore {

struct Quota {
  int64_t bytes = 0;     // STORAGE: bytes in all mailboxes (authd quota_bytes); 0 = unlimited
  int64_t messages = 0;  // MESSAGE: messages in all mailboxes (authd quota_messages); 0 = unlimited
};

}  // namespace postline::mailstore
