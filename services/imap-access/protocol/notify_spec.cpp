#include "services/imap-access/protocol/notify_spec.h"

namespace postline::imap {

const NotifyGroup* NotifySpec::selected_group() const {
  for (const auto& g : groups)
    if (g.filter == NotifyFilter::kSelected || g.filter == NotifyFilter::kSelectedDelayed) return &g;
  return nullptr;
}

bool NotifySpec::server_metadata() const {
  for (const auto& g : groups)
    if (g.events & kEvServerMetadataChange) return true;
  return false;
}

bool NotifySpec::selected_delayed() const {
  const auto* g = selected_group();
  return g && g->filter == NotifyFilter::kSelectedDelayed;
}

namespace {

// fetch-att list after MessageNew: balanced parentheses over atoms (section
// specs such as body.peek[header.fields (from to)] nest one level).
void skip_fetch_atts(Reader& r) {
  r.expect('(');
  int depth = 1;
  while (depth > 0) {
    if (r.at_end()) r.fail("unterminated fetch attribute list");
    if (r.try_char('(')) ++depth;
    else if (r.try_char(')')) --depth;
    else if (!r.try_sp()) r.fetch_att_atom();
  }
}

// An event we do not implement is not a syntax error (event-ext = atom): it
// is answered NO [BADEVENT], but only once the whole command has parsed, so
// that a syntax error anywhere in it is still BAD. The first reason is kept.
void refuse(std::string& bad_event, std::string why) {
  if (bad_event.empty()) bad_event = std::move(why);
}

unsigned parse_events(Reader& r, bool selected_filter, std::string& bad_event) {
  if (!r.try_char('(')) {
    if (to_upper(r.atom()) != "NONE") r.fail("expected an event list or NONE");
    return 0;
  }
  unsigned events = 0;
  bool first = true;
  bool fetch_att = false, annotation = false;
  while (!r.try_char(')')) {
    if (!first) r.sp();
    first = false;
    const std::string ev = to_upper(r.atom());
    if (ev == "MESSAGENEW") {
      events |= kEvMessageNew;
      if (r.peek() == ' ' && r.rest().size() > 1 && r.rest()[1] == '(') {
        r.sp();
        // RFC 5465 5.1: fetch attributes only make sense for the selected mailbox.
        if (!selected_filter) r.fail("MessageNew fetch attributes are only allowed for the selected mailbox");
        skip_fetch_atts(r);
        fetch_att = true;
      }
    } else if (ev == "MESSAGEEXPUNGE") {
      events |= kEvMessageExpunge;
    } else if (ev == "FLAGCHANGE") {
      events |= kEvFlagChange;
    } else if (ev == "MAILBOXNAME") {
      events |= kEvMailboxName;
    } else if (ev == "SUBSCRIPTIONCHANGE") {
      events |= kEvSubscriptionChange;
    } else if (ev == "ANNOTATIONCHANGE") {
      annotation = true;
      refuse(bad_event, ev + " is not supported");
    } else if (ev == "MAILBOXMETADATACHANGE") {
      events |= kEvMailboxMetadataChange;
    } else if (ev == "SERVERMETADATACHANGE") {
      events |= kEvServerMetadataChange;
    } else {
      refuse(bad_event, "unknown event " + ev);
    }
  }
  if (first) r.fail("empty event list");
  // RFC 5465 5: MessageNew and MessageExpunge come together; FlagChange and
  // AnnotationChange need both.
  if (((events & kEvMessageNew) != 0) != ((events & kEvMessageExpunge) != 0))
    r.fail("MessageNew and MessageExpunge must be given together");
  if ((events & kEvFlagChange) && !(events & kEvMessageNew))
    r.fail("FlagChange requires MessageNew and MessageExpunge");
  if (annotation && !(events & kEvMessageNew)) r.fail("AnnotationChange requires MessageNew and MessageExpunge");
  // Our own refusal, after the syntax is known to be right.
  if (fetch_att) refuse(bad_event, "MessageNew fetch attributes are not supported");
  return events;
}

std::vector<std::string> one_or_more_mailbox(Reader& r) {
  std::vector<std::string> out;
  if (r.try_char('(')) {
    do out.push_back(r.astring());
    while (r.try_sp());
    r.expect(')');
  } else {
    out.push_back(r.astring());
  }
  return out;
}

}  // namespace

NotifyParse parse_notify(Reader& r) {
  NotifyParse p;
  std::string bad_event;
  try {
    r.sp();
    const std::string verb = to_upper(r.atom());
    if (verb == "NONE") {
      r.end();
      p.outcome = NotifyParse::Outcome::kNone;
      return p;
    }
    if (verb != "SET") r.fail("expected SET or NONE");
    r.sp();
    if (r.peek() != '(') {
      if (to_upper(r.atom()) != "STATUS") r.fail("expected STATUS or an event group");
      p.spec.status = true;
      r.sp();
    }
    bool seen_selected = false;
    std::set<NotifyFilter> seen_single;
    for (bool first = true; first || r.try_sp(); first = false) {
      r.expect('(');
      NotifyGroup g;
      const std::string f = to_upper(r.atom());
      if (f == "SELECTED") g.filter = NotifyFilter::kSelected;
      else if (f == "SELECTED-DELAYED") g.filter = NotifyFilter::kSelectedDelayed;
      else if (f == "INBOXES") g.filter = NotifyFilter::kInboxes;
      else if (f == "PERSONAL") g.filter = NotifyFilter::kPersonal;
      else if (f == "SUBSCRIBED") g.filter = NotifyFilter::kSubscribed;
      else if (f == "SUBTREE") g.filter = NotifyFilter::kSubtree;
      else if (f == "MAILBOXES") g.filter = NotifyFilter::kMailboxes;
      else r.fail("unknown mailbox filter " + f);
      const bool selected = g.filter == NotifyFilter::kSelected || g.filter == NotifyFilter::kSelectedDelayed;
      if (selected) {
        // One filter for the selected mailbox: two would contradict each other.
        if (seen_selected) r.fail("selected/selected-delayed given more than once");
        seen_selected = true;
      } else if (g.filter != NotifyFilter::kSubtree && g.filter != NotifyFilter::kMailboxes) {
        if (!seen_single.insert(g.filter).second) r.fail("mailbox filter " + f + " given more than once");
      }
      r.sp();
      if (g.filter == NotifyFilter::kSubtree || g.filter == NotifyFilter::kMailboxes) {
        g.mailboxes = one_or_more_mailbox(r);
        r.sp();
      }
      g.events = parse_events(r, selected, bad_event);
      // Mailbox events are about mailboxes other than the selected one; the
      // selected filter only takes message events.
      if (selected && (g.events & ~kEvMessageEvents)) r.fail("only message events apply to the selected mailbox");
      r.expect(')');
      p.spec.groups.push_back(std::move(g));
    }
    r.end();
    p.outcome = NotifyParse::Outcome::kSet;
    if (!bad_event.empty()) {
      p.outcome = NotifyParse::Outcome::kBadEvent;
      p.error = std::move(bad_event);
    }
  } catch (const SyntaxError& e) {
    p.outcome = NotifyParse::Outcome::kBad;
    p.error = e.what();
  }
  return p;
}

unsigned notify_events_for(const NotifySpec& spec, const NotifyMailbox& mb) {
  for (const auto& g : spec.groups) {
    bool match = false;
    switch (g.filter) {
      case NotifyFilter::kSelected:
      case NotifyFilter::kSelectedDelayed: continue;
      // Mail is delivered into INBOX (and the Junk folder the spam filter
      // picks, which nobody wants to be told about): INBOX is the inbox.
      case NotifyFilter::kInboxes: match = mb.name == "INBOX"; break;
      case NotifyFilter::kPersonal: match = true; break;  // one namespace: the user's own
      case NotifyFilter::kSubscribed: match = mb.subscribed; break;
      case NotifyFilter::kSubtree:
        for (const auto& m : g.mailboxes)
          if (mb.name == m || (mb.name.size() > m.size() && mb.name.substr(0, m.size()) == m &&
                               mb.name[m.size()] == '/'))
            match = true;
        break;
      case NotifyFilter::kMailboxes:
        for (const auto& m : g.mailboxes)
          if (mb.name == m) match = true;
        break;
    }
    if (match) return g.events;  // the first matching filter decides (RFC 5465 leaves overlaps open)
  }
  return 0;
}

}  // namespace postline::imap
