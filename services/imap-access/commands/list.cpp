// LIST (with LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, CHILDREN RFC 3348,
// LIST-STATUS RFC 5819), LSUB, NAMESPACE (RFC 2342) and STATUS (RFC 9051
// 6.3.11, STATUS=SIZE RFC 8438, CONDSTORE HIGHESTMODSEQ).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/mailbox_name.h"

#include <map>
#include <set>

namespace postline::imap {

namespace {

struct StatusItems {
  bool messages = false, uidnext = false, uidvalidity = false, unseen = false, deleted = false, size = false,
       recent = false, highestmodseq = false;
};

StatusItems parse_status_items(Reader& r) {
  StatusItems s;
  r.expect('(');
  bool first = true;
  while (!r.try_char(')')) {
    if (!first) r.sp();
    first = false;
    std::string item = to_upper(r.atom());
    if (item == "MESSAGES") s.messages = true;
    else if (item == "UIDNEXT") s.uidnext = true;
    else if (item == "UIDVALIDITY") s.uidvalidity = true;
    else if (item == "UNSEEN") s.unseen = true;
    else if (item == "DELETED") s.deleted = true;
    else if (item == "SIZE") s.size = true;
    else if (item == "RECENT") s.recent = true;
    else if (item == "HIGHESTMODSEQ") s.highestmodseq = true;
    else r.fail("unknown STATUS item " + item);
  }
  if (first) r.fail("empty STATUS item list");
  return s;
}

std::string render_status(const SessionState& session, const mailstore::MailboxStatus& st, const StatusItems& it) {
  std::vector<std::string> parts;
  if (it.messages) parts.push_back("MESSAGES " + std::to_string(st.messages));
  if (it.recent) parts.push_back("RECENT 0");
  if (it.uidnext) parts.push_back("UIDNEXT " + std::to_string(st.info.uidnext));
  if (it.uidvalidity) parts.push_back("UIDVALIDITY " + std::to_string(st.info.uidvalidity));
  if (it.unseen) parts.push_back("UNSEEN " + std::to_string(st.unseen));
  if (it.deleted) parts.push_back("DELETED " + std::to_string(st.deleted));
  if (it.size) parts.push_back("SIZE " + std::to_string(st.size));
  if (it.highestmodseq) parts.push_back("HIGHESTMODSEQ " + std::to_string(st.info.highestmodseq));
  std::string line = "STATUS " + to_wire(session, st.info.name) + " (";
  for (size_t i = 0; i < parts.size(); ++i) line += (i ? " " : "") + parts[i];
  return untagged(line + ")");
}

std::string mailbox_pattern(Reader& r) { return r.list_mailbox(); }

}  // namespace

asio::awaitable<Result> cmd_list(Context& ctx) {
  bool lsub = ctx.command == "LSUB";
  ctx.args.sp();
  // LIST-EXTENDED selection options.
  bool sel_subscribed = false, sel_special = false;
  if (!lsub && ctx.args.try_char('(')) {
    bool first = true;
    while (!ctx.args.try_char(')')) {
      if (!first) ctx.args.sp();
      first = false;
      std::string opt = to_upper(ctx.args.atom());
      if (opt == "SUBSCRIBED") sel_subscribed = true;
      else if (opt == "SPECIAL-USE") sel_special = true;
      else if (opt == "REMOTE" || opt == "RECURSIVEMATCH") {
      } else ctx.args.fail("unknown LIST selection option " + opt);
    }
    ctx.args.sp();
  }
  std::string reference = ctx.args.astring();
  ctx.args.sp();
  std::vector<std::string> patterns;
  if (!lsub && ctx.args.try_char('(')) {
    for (;;) {
      patterns.push_back(mailbox_pattern(ctx.args));
      if (ctx.args.try_char(')')) break;
      ctx.args.sp();
    }
  } else {
    patterns.push_back(mailbox_pattern(ctx.args));
  }
  bool ret_subscribed = sel_subscribed, ret_children = true, ret_special = true;
  std::optional<StatusItems> ret_status;
  if (!lsub && ctx.args.try_sp()) {
    if (to_upper(ctx.args.atom()) != "RETURN") ctx.args.fail("expected RETURN");
    ctx.args.sp();
    ctx.args.expect('(');
    bool first = true;
    while (!ctx.args.try_char(')')) {
      if (!first) ctx.args.sp();
      first = false;
      std::string opt = to_upper(ctx.args.atom());
      if (opt == "SUBSCRIBED") ret_subscribed = true;
      else if (opt == "CHILDREN") ret_children = true;
      else if (opt == "SPECIAL-USE") ret_special = true;
      else if (opt == "STATUS") {
        ctx.args.sp();
        ret_status = parse_status_items(ctx.args);
      } else ctx.args.fail("unknown LIST return option " + opt);
    }
  }
  ctx.args.end();

  // LIST "" "": the hierarchy delimiter and root (RFC 9051 6.3.9).
  if (patterns.size() == 1 && patterns[0].empty()) {
    ctx.send(untagged(std::string(lsub ? "LSUB" : "LIST") + " (\\Noselect) \"/\" \"\""));
    co_return Result::ok(lsub ? "LSUB completed" : "LIST completed");
  }
  // The reference is prepended to the pattern (no special meaning beyond that).
  std::vector<std::string> full;
  for (auto& p : patterns) {
    std::string decoded = ctx.session.utf8_accept ? p : mutf7_decode(p).value_or(p);
    std::string combined = reference.empty() ? decoded : reference + decoded;
    if (combined.size() >= 5 && iequals(combined.substr(0, 5), "INBOX") &&
        (combined.size() == 5 || combined[5] == '/'))
      combined = "INBOX" + combined.substr(5);
    full.push_back(combined);
  }

  struct Listing {
    std::vector<mailstore::MailboxInfo> boxes;
    std::vector<std::string> subscriptions;
    std::map<std::string, mailstore::MailboxStatus> status;
  };
  const int64_t user_id = ctx.session.user_id;
  const bool want_status = ret_status.has_value();
  auto query = [=](mailstore::MailStore& st) {
    Listing l;
    auto list = st.list(user_id);
    l.boxes = std::move(list.mailboxes);
    l.subscriptions = std::move(list.subscriptions);
    if (want_status) {
      std::vector<std::string> names;
      for (const auto& b : l.boxes) names.push_back(b.name);
      for (auto& s : st.status(user_id, names)) l.status.emplace(s.info.name, std::move(s));
    }
    return l;
  };
  Listing listing = co_await ctx.store(std::move(query));
  std::set<std::string> subscribed(listing.subscriptions.begin(), listing.subscriptions.end());
  std::set<std::string> existing;
  for (const auto& b : listing.boxes) existing.insert(b.name);

  auto matches = [&](const std::string& name) {
    for (const auto& p : full)
      if (list_match(p, name)) return true;
    return false;
  };
  auto has_children = [&](const std::string& name) {
    auto it = existing.upper_bound(name + "/");
    return (it != existing.end() && it->rfind(name + "/", 0) == 0) || existing.count(name + "/") > 0;
  };

  if (lsub) {
    for (const auto& name : listing.subscriptions) {
      if (!matches(name)) continue;
      std::string attrs = existing.count(name) ? "" : "\\Noselect";
      ctx.send(untagged("LSUB (" + attrs + ") \"/\" " + to_wire(ctx.session, name)));
    }
    co_return Result::ok("LSUB completed");
  }

  std::vector<std::string> names;
  if (sel_subscribed) {
    for (const auto& n : listing.subscriptions)
      if (matches(n)) names.push_back(n);
  } else {
    for (const auto& b : listing.boxes)
      if (matches(b.name)) names.push_back(b.name);
  }
  std::map<std::string, const mailstore::MailboxInfo*> by_name;
  for (const auto& b : listing.boxes) by_name[b.name] = &b;
  for (const auto& name : names) {
    auto it = by_name.find(name);
    const mailstore::MailboxInfo* info = it == by_name.end() ? nullptr : it->second;
    if (sel_special && !(info && info->special_use)) continue;
    std::vector<std::string> attrs;
    if (!info) attrs.push_back("\\NonExistent");
    if (ret_children && info) attrs.push_back(has_children(name) ? "\\HasChildren" : "\\HasNoChildren");
    if (ret_subscribed && subscribed.count(name)) attrs.push_back("\\Subscribed");
    if (ret_special && info && info->special_use) attrs.push_back(*info->special_use);
    ctx.send(untagged("LIST " + flag_list(attrs) + " \"/\" " + to_wire(ctx.session, name)));
    if (ret_status && info) {
      auto st = listing.status.find(name);
      if (st != listing.status.end()) ctx.send(render_status(ctx.session, st->second, *ret_status));
    }
  }
  co_return Result::ok("LIST completed");
}

asio::awaitable<Result> cmd_namespace(Context& ctx) {
  ctx.args.end();
  // One personal namespace, no shared or other users' namespaces.
  ctx.send(untagged("NAMESPACE ((\"\" \"/\")) NIL NIL"));
  co_return Result::ok("NAMESPACE completed");
}

asio::awaitable<Result> cmd_status(Context& ctx) {
  ctx.args.sp();
  const std::string name = from_wire(ctx.session, ctx.args.astring());
  ctx.args.sp();
  StatusItems items = parse_status_items(ctx.args);
  ctx.args.end();
  if (items.highestmodseq) enable_condstore(ctx);
  const int64_t user_id = ctx.session.user_id;
  auto query = [=](mailstore::MailStore& st) { return st.status(user_id, {name}); };
  auto st = co_await ctx.store(std::move(query));
  if (st.empty()) co_return Result::no("No such mailbox", "NONEXISTENT");
  ctx.send(render_status(ctx.session, st.front(), items));
  co_return Result::ok("STATUS completed");
}

}  // namespace postline::imap
