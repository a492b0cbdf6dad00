// NOTIFY (RFC 5465): the command only validates and records what the client
// wants to hear about (and sends the initial STATUS for NOTIFY SET STATUS);
// server/connection.cpp turns change events into the untagged responses while
// no command is running, so they never land inside another command's output.
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

asio::awaitable<void> send_notify_status(Context& ctx, std::vector<std::string> names,
                                         std::map<std::string, std::string>* last_sent) {
  if (names.empty()) co_return;
  const int64_t user_id = ctx.session.user_id;
  auto read = [user_id, names = std::move(names)](mailstore::MailStore& st) { return st.status(user_id, names); };
  auto statuses = co_await ctx.store(std::move(read));
  for (const auto& st : statuses) {
    std::string line = notify_status_line(ctx.session, st);
    if (last_sent) {
      auto& last = (*last_sent)[st.info.name];
      if (last == line) continue;
      last = line;
    }
    ctx.send(std::move(line));
    if (ctx.services.observer) ctx.services.observer->notification("status");
  }
}

std::string notify_status_line(const SessionState& s, const mailstore::MailboxStatus& st) {
  // RFC 5465 5.2-5.4: what changes with new/expunged/flagged messages.
  std::string line = "STATUS " + to_wire(s, st.info.name) + " (MESSAGES " + std::to_string(st.messages) +
                     " UIDNEXT " + std::to_string(st.info.uidnext) + " UIDVALIDITY " +
                     std::to_string(st.info.uidvalidity) + " UNSEEN " + std::to_string(st.unseen);
  if (s.condstore) line += " HIGHESTMODSEQ " + std::to_string(st.info.highestmodseq);
  return untagged(line + ")");
}

std::string notify_list_line(const SessionState& s, const std::string& attributes, const std::string& name,
                             const std::string& old_name) {
  std::string line = "LIST (" + attributes + ") \"/\" " + to_wire(s, name);
  // RFC 5465 5.4 / RFC 5258 OLDNAME extended data for a renamed mailbox.
  if (!old_name.empty()) line += " (\"OLDNAME\" (" + to_wire(s, old_name) + "))";
  return untagged(line);
}

asio::awaitable<Result> cmd_notify(Context& ctx) {
  // The whole command is read first: an unsupported event is NO [BADEVENT]
  // only when nothing after it is a syntax error (that is BAD).
  NotifyArgs parsed = parse_notify_args(ctx.args);
  switch (parsed.outcome) {
    case NotifyParse::Outcome::kBad: co_return Result::bad("NOTIFY: invalid arguments");  // parse_notify_args throws instead
    case NotifyParse::Outcome::kBadEvent: co_return Result::no("NOTIFY: " + parsed.bad_event, kSupportedNotifyEvents);
    case NotifyParse::Outcome::kNone:
      ctx.session.notify.reset();
      ++ctx.session.notify_generation;
      co_return Result::ok("NOTIFY completed");
    case NotifyParse::Outcome::kSet: break;
  }
  NotifyState state;
  state.spec = std::move(parsed.spec);
  for (auto& g : state.spec.groups)
    for (auto& m : g.mailboxes) {
      m = mailstore::normalize_mailbox_name(from_wire(ctx.session, m));
      while (m.size() > 1 && m.back() == '/') m.pop_back();
    }

  const int64_t user_id = ctx.session.user_id;
  const int64_t selected_id = ctx.session.selected ? ctx.session.selected->mailbox_id : 0;
  auto load = [=](mailstore::MailStore& st) { return st.list(user_id); };
  mailstore::MailboxList loaded = co_await ctx.store(std::move(load));
  for (const auto& mb : loaded.mailboxes) state.mailboxes.emplace(mb.mailbox_id, mb.name);
  state.subscriptions.insert(loaded.subscriptions.begin(), loaded.subscriptions.end());

  // Cap what one session may watch: every watched mailbox costs a STATUS
  // query per change burst.
  std::vector<std::string> status_names;
  size_t watched = 0;
  for (const auto& [id, name] : state.mailboxes) {
    if (id == selected_id) continue;
    const unsigned ev = state.events_for_name(name);
    if (!ev) continue;
    ++watched;
    if (ev & kEvMessageEvents) status_names.push_back(name);
  }
  if (watched > kMaxNotifyMailboxes)
    co_return Result::no("NOTIFY would watch " + std::to_string(watched) + " mailboxes, at most " +
                             std::to_string(kMaxNotifyMailboxes) + " are allowed",
                         "LIMIT");

  // NOTIFY SET STATUS: one STATUS per watched non-selected mailbox with
  // message events, before the tagged OK (RFC 5465 3.1).
  if (state.spec.status && !status_names.empty()) co_await send_notify_status(ctx, std::move(status_names));
  ctx.session.notify = std::move(state);
  ++ctx.session.notify_generation;
  co_return Result::ok("NOTIFY completed");
}

}  // namespace postline::imap
