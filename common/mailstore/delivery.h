// The contract between the delivery queue and the mailstore (implemented by the
// mailstore owner in delivery.cpp). Kept in its own header so the queue depends
// on this one function only.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/mailstore/quota.h"

namespace postline::mailstore {

struct DeliveryResult {
  int64_t mailbox_id = 0;
  int64_t uid = 0;
  bool duplicate = false;  // delivery_key was delivered before: nothing inserted
  // quota_bytes > 0 and the user's stored bytes plus this message would exceed
  // it: nothing inserted, the delivery key is not recorded (a retry may succeed).
  bool over_quota = false;
  // Also set (with over_quota) when the message alone is larger than the quota:
  // no amount of expunging makes room, so the queue bounces at once.
  bool exceeds_quota = false;
  // Set (with over_quota) when the MESSAGE limit is the reason: the user
  // already stores quota.messages messages. Expunging makes room, so defer.
  bool over_message_quota = false;
};

// Delivers one message into a user's mailbox in ONE transaction on `conn`:
// creates the user's default mailboxes if missing, stores the body blob
// (content-addressed, SHA-256), parses it once (size, header fields, MIME
// structure), assigns the next UID, bumps MODSEQ, records `delivery_key` (the
// queue recipient id as text) so a retry after a crash never delivers twice,
// and sends NOTIFY on channel "postline_mailbox_changes" with payload
// "<user_id>:<mailbox_id>:<modseq>". Throws on database errors (nothing committed).
// `mailbox_name` is normally "INBOX" ("Junk" for spam verdicts).
//
// `quota`: authd's limits (ResolvedTarget quota_bytes and quota_messages; 0 =
// unlimited each). The check runs in the delivery's transaction with the
// user's mailstore_accounts row locked (SELECT ... FOR UPDATE), so concurrent
// deliveries to one user are serialised and cannot both slip under a limit.
// Over the MESSAGE limit answers over_quota + over_message_quota (never
// exceeds_quota). A duplicate delivery key answers duplicate even when the
// user is over quota now.
DeliveryResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                       std::string_view message, std::string_view delivery_key, const Quota& quota = {});

// Several messages for ONE user and mailbox in one transaction (the queue's
// burst to one mailbox): one mailbox row lock, one UID range, one MODSEQ, one
// NOTIFY and one commit instead of one each. Per item the result is what
// deliver() would have answered: duplicate keys are skipped, and under the
// quota items are accepted in order while they fit (an item over a limit gets
// over_quota and its key stays unclaimed, a later smaller one may still fit).
// All or nothing on database errors, like deliver().
struct DeliveryItem {
  std::string_view message;
  std::string_view delivery_key;
};
std::vector<DeliveryResult> deliver_batch(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                                          const std::vector<DeliveryItem>& items, const Quota& quota);

}  // namespace postline::mailstore
