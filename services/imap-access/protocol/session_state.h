// Per-connection protocol state (RFC 9051 3): which state the session is in,
// who is logged in, what was ENABLEd, and the selected mailbox view.
#pragma once

#include "services/imap-access/protocol/notify_spec.h"
#include "services/imap-access/protocol/selected.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace postline::imap {

enum class State { kNotAuthenticated, kAuthenticated, kSelected, kLogout };

struct SessionState {
  State state = State::kNotAuthenticated;
  std::string session_id;
  std::string remote_ip;
  std::string remote_address;  // "ip:port", for log tags ([c:...])
  std::string listener;  // "imap" or "imaps"
  bool tls = false;
  bool compressed = false;  // COMPRESS DEFLATE (RFC 4978) is on: set by its handler, for good
  int64_t user_id = 0;
  bool holds_user_slot = false;  // counted in Services::user_slots (released at UNAUTHENTICATE and close)
  std::string username;
  std::string shard;  // the mailstore shard authd named at login ("Sharding")
  int64_t quota_bytes = 0;     // from authd at login, refreshed (commands/quota.cpp); 0 = unlimited
  int64_t quota_messages = 0;  // likewise, the MESSAGE limit
  bool admin = false;          // from authd at login (only for the log; authd authorises SETQUOTA)
  std::chrono::steady_clock::time_point quota_read_at{};  // when the limits above were read
  bool utf8_accept = false;  // ENABLE UTF8=ACCEPT / IMAP4rev2: mailbox names in UTF-8
  bool rev2 = false;         // ENABLE IMAP4rev2
  bool condstore = false;    // CONDSTORE enabled (explicitly or by a CONDSTORE-using command)
  bool qresync = false;
  bool idling = false;
  bool mailbox_dirty = false;  // a change notification arrived for the selected mailbox
  int bad_commands = 0;
  std::optional<SelectedMailbox> selected;
  std::optional<NotifyState> notify;  // NOTIFY SET active (RFC 5465)
  uint64_t notify_generation = 0;     // bumped by every NOTIFY command (the connection re-arms)
};

}  // namespace postline::imap
