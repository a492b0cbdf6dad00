// NOTIFY (RFC 5465) argument parsing and mailbox matching, sans-I/O.
#include "services/imap-access/protocol/notify_spec.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

NotifyParse parse(std::string_view args) {
  Reader r(args);
  return parse_notify(r);
}

using O = NotifyParse::Outcome;

TEST(NotifyParse, NoneAndSet) {
  EXPECT_EQ(parse(" NONE").outcome, O::kNone);
  EXPECT_EQ(parse(" none").outcome, O::kNone);
  auto p = parse(" SET (selected (MessageNew MessageExpunge FlagChange)) "
                 "(personal (MessageNew MessageExpunge MailboxName SubscriptionChange))");
  ASSERT_EQ(p.outcome, O::kSet) << p.error;
  EXPECT_FALSE(p.spec.status);
  ASSERT_EQ(p.spec.groups.size(), 2u);
  EXPECT_EQ(p.spec.groups[0].filter, NotifyFilter::kSelected);
  EXPECT_EQ(p.spec.groups[0].events, kEvMessageNew | kEvMessageExpunge | kEvFlagChange);
  EXPECT_EQ(p.spec.groups[1].filter, NotifyFilter::kPersonal);
  EXPECT_EQ(p.spec.groups[1].events,
            kEvMessageNew | kEvMessageExpunge | kEvMailboxName | kEvSubscriptionChange);
  ASSERT_NE(p.spec.selected_group(), nullptr);
  EXPECT_FALSE(p.spec.selected_delayed());
}

TEST(NotifyParse, StatusFiltersAndMailboxLists) {
  auto p = parse(" SET STATUS (selected-delayed (MessageNew MessageExpunge)) (subtree Lists (MessageNew "
                 "MessageExpunge)) (mailboxes (misc \"a b\" {3}\r\nxyz) NONE) (inboxes (MessageExpunge "
                 "MessageNew)) (subscribed (MailboxName))");
  ASSERT_EQ(p.outcome, O::kSet) << p.error;
  EXPECT_TRUE(p.spec.status);
  EXPECT_TRUE(p.spec.selected_delayed());
  ASSERT_EQ(p.spec.groups.size(), 5u);
  EXPECT_EQ(p.spec.groups[1].filter, NotifyFilter::kSubtree);
  EXPECT_EQ(p.spec.groups[1].mailboxes, std::vector<std::string>{"Lists"});
  EXPECT_EQ(p.spec.groups[2].mailboxes, (std::vector<std::string>{"misc", "a b", "xyz"}));
  EXPECT_EQ(p.spec.groups[2].events, 0u);  // NONE
  EXPECT_EQ(p.spec.groups[4].events, unsigned(kEvMailboxName));
}

TEST(NotifyParse, RfcMustRejectWithBad) {
  // MessageNew and MessageExpunge only together (RFC 5465 5).
  EXPECT_EQ(parse(" SET (personal (MessageNew))").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal (MessageExpunge))").outcome, O::kBad);
  // FlagChange needs both.
  EXPECT_EQ(parse(" SET (personal (FlagChange))").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal (FlagChange MessageNew))").outcome, O::kBad);
  // fetch-att only for the selected mailbox.
  EXPECT_EQ(parse(" SET (personal (MessageNew (uid) MessageExpunge))").outcome, O::kBad);
  // Two selected filters.
  EXPECT_EQ(parse(" SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))")
                .outcome,
            O::kBad);
  // Syntax.
  EXPECT_EQ(parse("").outcome, O::kBad);
  EXPECT_EQ(parse(" SET").outcome, O::kBad);
  EXPECT_EQ(parse(" SET STATUS").outcome, O::kBad);
  EXPECT_EQ(parse(" SET ()").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal ())").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal (MessageNew MessageExpunge)").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (nowhere (MessageNew MessageExpunge))").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (subtree (MessageNew MessageExpunge))").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal NONE) junk").outcome, O::kBad);
  EXPECT_EQ(parse(" NONE extra").outcome, O::kBad);
  EXPECT_EQ(parse(" GET (personal NONE)").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal NONE) (personal NONE)").outcome, O::kBad);
  // Mailbox events do not apply to the selected mailbox.
  EXPECT_EQ(parse(" SET (selected (MailboxName))").outcome, O::kBad);
}

TEST(NotifyParse, UnsupportedEventsAreBadEvent) {
  for (const char* ev : {"AnnotationChange", "SomethingNew"}) {
    auto p = parse(std::string(" SET (personal (MessageNew MessageExpunge ") + ev + "))");
    EXPECT_EQ(p.outcome, O::kBadEvent) << ev;
  }
  // The METADATA events are supported (RFC 5465 5.9/5.10: required with METADATA).
  auto m = parse(" SET (personal (MailboxMetadataChange)) (inboxes (ServerMetadataChange MessageNew MessageExpunge))");
  ASSERT_EQ(m.outcome, O::kSet) << m.error;
  EXPECT_EQ(m.spec.groups[0].events, unsigned{kEvMailboxMetadataChange});
  EXPECT_TRUE(m.spec.server_metadata());
  EXPECT_FALSE(parse(" SET (personal (MailboxMetadataChange))").spec.server_metadata());
  // Like the other mailbox events, not on the selected filter.
  EXPECT_EQ(parse(" SET (selected (MessageNew MessageExpunge MailboxMetadataChange))").outcome, O::kBad);
  EXPECT_NE(std::string(kSupportedNotifyEvents).find("MailboxMetadataChange ServerMetadataChange"),
            std::string::npos);
  // fetch attributes for the selected mailbox parse (nested parentheses
  // included) and are then refused as not supported.
  auto p = parse(" SET (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge))");
  EXPECT_EQ(p.outcome, O::kBadEvent) << p.error;
  EXPECT_NE(std::string(kSupportedNotifyEvents).find("MailboxName"), std::string::npos);
}

// The whole command is read before BADEVENT is answered: a syntax error
// after the unsupported event is still BAD, and the first reason is kept.
TEST(NotifyParse, BadEventOnlyForACompleteCommand) {
  auto p = parse(" SET (personal (MessageNew MessageExpunge AnnotationChange)) (inboxes (NewThing))");
  EXPECT_EQ(p.outcome, O::kBadEvent);
  EXPECT_EQ(p.error, "ANNOTATIONCHANGE is not supported");
  EXPECT_EQ(parse(" SET (personal (MessageNew MessageExpunge AnnotationChange)) junk").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal (NewThing)) (personal NONE)").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal (NewThing)").outcome, O::kBad);
  EXPECT_EQ(parse(" SET (personal (AnnotationChange))").outcome, O::kBad);  // RFC 5465 5: needs MessageNew
  EXPECT_EQ(parse(" SET (inboxes (NewEvent)) (selected (MessageNew (uid) MessageExpunge))").error,
            "unknown event NEWEVENT");
}

TEST(NotifyMatch, FiltersInOrder) {
  auto p = parse(" SET (selected (MessageNew MessageExpunge)) (mailboxes Trash NONE) (subtree Lists (MailboxName)) "
                 "(inboxes (MessageNew MessageExpunge FlagChange)) (subscribed (SubscriptionChange)) "
                 "(personal (MessageNew MessageExpunge))");
  ASSERT_EQ(p.outcome, O::kSet) << p.error;
  const auto& spec = p.spec;
  EXPECT_EQ(notify_events_for(spec, {"Trash", true}), 0u);  // first match: NONE
  EXPECT_EQ(notify_events_for(spec, {"Lists", false}), unsigned(kEvMailboxName));
  EXPECT_EQ(notify_events_for(spec, {"Lists/a/b", false}), unsigned(kEvMailboxName));
  EXPECT_EQ(notify_events_for(spec, {"Listsx", false}), kEvMessageNew | kEvMessageExpunge);
  EXPECT_EQ(notify_events_for(spec, {"INBOX", false}), kEvMessageEvents);
  EXPECT_EQ(notify_events_for(spec, {"Sent", true}), unsigned(kEvSubscriptionChange));
  EXPECT_EQ(notify_events_for(spec, {"Sent", false}), kEvMessageNew | kEvMessageExpunge);

  NotifyState st;
  st.spec = spec;
  st.mailboxes = {{1, "INBOX"}, {2, "Trash"}};
  EXPECT_EQ(st.events_for_id(1), kEvMessageEvents);
  EXPECT_EQ(st.events_for_id(2), 0u);
  EXPECT_EQ(st.events_for_id(3), 0u);  // unknown id
}

TEST(NotifyParse, MutatedInputNeverThrows) {
  const std::string base =
      " SET STATUS (selected (MessageNew (uid body[header.fields (a)]) MessageExpunge)) (subtree (A \"b\") NONE)";
  for (size_t cut = 0; cut <= base.size(); ++cut) {
    EXPECT_NO_THROW(parse(base.substr(0, cut)));
    std::string m = base;
    if (cut < m.size()) m[cut] = '(';
    EXPECT_NO_THROW(parse(m));
  }
}

}  // namespace
}  // namespace postline::imap
