// Which mailbox a local recipient's copy goes into.
#pragma once

#include "services/delivery-queue/store/queue_store.h"

#include <string>
#include <string_view>

namespace postline::queue {

// The message's stored target mailbox (Envelope.target_mailbox; "" = INBOX).
// Rows enqueued before migration 002 have none (NULL): for those only, the
// "X-Postline-Mailbox: Junk" header that smtpd used to write into the message
// still decides. Remove the fallback once no such row can be pending
// (queue.max_lifetime after every instance runs migration 002).
std::string local_mailbox(const MessageData& message);

// The old header-based verdict: "Junk" if the header section carries smtpd's
// exact field, else "INBOX". Only the header section is read.
std::string_view legacy_header_mailbox(std::string_view message);

// The reply recorded for a local delivery that succeeded (a worker's or one
// during Enqueue): "250 2.0.0 delivered to MAILBOX uid N", or for a key that
// was delivered before, "250 2.0.0 already delivered (uid N)".
std::string delivered_reply(const std::string& mailbox, int64_t uid, bool duplicate);

}  // namespace postline::queue
