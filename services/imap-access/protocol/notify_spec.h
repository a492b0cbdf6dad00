// NOTIFY (RFC 5465) arguments and mailbox matching: sans-I/O. The command
// handler (commands/notify.cpp) resolves names against the store; the
// connection (server/connection.cpp) uses matches() to decide which change
// events become untagged STATUS / LIST responses.
#pragma once

#include "services/imap-access/protocol/reader.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace postline::imap {

// Events we implement (bit set). AnnotationChange is refused with NO
// [BADEVENT ...] (no ANNOTATE). MailboxMetadataChange and ServerMetadataChange
// are required once METADATA / METADATA-SERVER are advertised (RFC 5465 5.9,
// 5.10); they become unsolicited `* METADATA mailbox entry ...` responses.
enum NotifyEvent : unsigned {
  kEvMessageNew = 1,
  kEvMessageExpunge = 2,
  kEvFlagChange = 4,
  kEvMailboxName = 8,
  kEvSubscriptionChange = 16,
  kEvMailboxMetadataChange = 32,
  kEvServerMetadataChange = 64,
};
inline constexpr unsigned kEvMessageEvents = kEvMessageNew | kEvMessageExpunge | kEvFlagChange;
// The BADEVENT response code's list (RFC 5465 6: what the server supports).
inline constexpr const char* kSupportedNotifyEvents =
    "BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange "
    "ServerMetadataChange)";

enum class NotifyFilter { kSelected, kSelectedDelayed, kInboxes, kPersonal, kSubscribed, kSubtree, kMailboxes };

struct NotifyGroup {
  NotifyFilter filter = NotifyFilter::kPersonal;
  std::vector<std::string> mailboxes;  // subtree/mailboxes: as the client wrote them (wire form)
  unsigned events = 0;                 // 0 = NONE
};

struct NotifySpec {
  bool status = false;  // NOTIFY SET STATUS
  std::vector<NotifyGroup> groups;
  // ServerMetadataChange is about no mailbox: any group that names it turns it
  // on, whatever its filter.
  bool server_metadata() const;
  const NotifyGroup* selected_group() const;  // selected / selected-delayed, if given
  bool selected_delayed() const;
};

struct NotifyParse {
  enum class Outcome { kSet, kNone, kBad, kBadEvent } outcome = Outcome::kBad;
  NotifySpec spec;
  std::string error;  // kBad/kBadEvent: why
};

// Parses everything after "NOTIFY" (the reader is positioned at the SP),
// always to the end of the command. Syntax errors and the RFC's MUST-reject
// rules give kBad; a syntactically valid command with events we do not
// implement gives kBadEvent (NO [BADEVENT (...)]) with the first reason.
// Never throws.
NotifyParse parse_notify(Reader& r);

// What the session knows about one mailbox when matching it against the
// non-selected filters. Names are store names (UTF-8, INBOX normalised);
// subtree/mailboxes names in `spec` must already be converted the same way.
struct NotifyMailbox {
  std::string_view name;
  bool subscribed = false;
};
// The events the first matching non-selected filter asks for (0: not watched).
unsigned notify_events_for(const NotifySpec& spec, const NotifyMailbox& mb);

// A session's active NOTIFY: the spec (store names) plus what it needs to
// match change events that carry only a mailbox id: the user's mailboxes by
// id and the subscribed names, kept current from the events themselves.
struct NotifyState {
  NotifySpec spec;
  std::map<int64_t, std::string> mailboxes;
  std::set<std::string> subscriptions;
  // Events for a mailbox other than the selected one; 0 when unknown/unwatched.
  unsigned events_for_id(int64_t mailbox_id) const {
    auto it = mailboxes.find(mailbox_id);
    if (it == mailboxes.end()) return 0;
    return events_for_name(it->second);
  }
  unsigned events_for_name(const std::string& name) const {
    return notify_events_for(spec, NotifyMailbox{name, subscriptions.count(name) > 0});
  }
};

}  // namespace postline::imap
