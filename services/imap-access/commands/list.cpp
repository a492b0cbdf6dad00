// LIST (with LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, CHILDREN RFC 3348,
// LIST-STATUS RFC 5819), LSUB, NAMESPACE (RFC 2342) and STATUS (RFC 9051
// 6.3.11, STATUS=SIZE RFC 8438, CONDSTORE HIGHESTMODSEQ, APPENDLIMIT RFC 7889,
// MAILBOXID RFC 8474, DELETED-STORAGE RFC 9208).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/mailbox_name.h"

#include <algorithm>
#include <map>
#include <set>

namespace postline::imap {

namespace {

// What STATUS items need beyond MailboxStatus: DELETED-STORAGE (RFC 9208
// 4.3), the KiB that EXPUNGE would free, rounded up like QUOTA's STORAGE.
// Read on the database threads, next to the status it goes with.
int64_t deleted_storage_kib(mailstore::MailStore& st, int64_t user_id, int64_t mailbox_id) {
  mailstore::SearchCriterion deleted;
  deleted.kind = mailstore::SearchCriterion::kSystemFlag;
  deleted.number = mailstore::kDeleted;
  std::vector<uint32_t> uids;
  for (const auto& hit : st.search(user_id, mailbox_id, deleted)) uids.push_back(hit.uid);
  if (uids.empty()) return 0;
  std::sort(uids.begin(), uids.end());
  int64_t bytes = 0;
  for (const auto& m : st.read_messages(user_id, mailbox_id, uids, mailstore::kFieldSize)) bytes += m.size;
  return (bytes + 1023) / 1024;
}

std::string render_status(const SessionState& session, const Settings& settings, const mailstore::MailboxStatus& st,
                          const StatusItems& it, int64_t deleted_kib) {
  std::vector<std::string> parts;
  if (it.messages) parts.push_back("MESSAGES " + std::to_string(st.messages));
  if (it.recent) parts.push_back("RECENT " + std::to_string(st.recent));
  if (it.uidnext) parts.push_back("UIDNEXT " + std::to_string(st.info.uidnext));
  if (it.uidvalidity) parts.push_back("UIDVALIDITY " + std::to_string(st.info.uidvalidity));
  if (it.unseen) parts.push_back("UNSEEN " + std::to_string(st.unseen));
  if (it.deleted) parts.push_back("DELETED " + std::to_string(st.deleted));
  if (it.size) parts.push_back("SIZE " + std::to_string(st.size));
  if (it.highestmodseq) parts.push_back("HIGHESTMODSEQ " + std::to_string(st.info.highestmodseq));
  // RFC 7889: one limit for every mailbox, the one APPENDLIMIT= advertises.
  if (it.appendlimit) parts.push_back("APPENDLIMIT " + std::to_string(settings.max_literal));
  // RFC 8474: the id SELECT's OK [MAILBOXID] shows.
  if (it.mailboxid) parts.push_back("MAILBOXID (M" + std::to_string(st.info.mailbox_id) + ")");
  if (it.deleted_storage) parts.push_back("DELETED-STORAGE " + std::to_string(deleted_kib));
  std::string line = "STATUS " + to_wire(session, st.info.name) + " (";
  for (size_t i = 0; i < parts.size(); ++i) line += (i ? " " : "") + parts[i];
  return untagged(line + ")");
}

}  // namespace

asio::awaitable<Result> cmd_list(Context& ctx) {
  const bool lsub = ctx.command == "LSUB";
  // RECURSIVEMATCH alone is refused by the parser (RFC 5258 3: BAD).
  const ListArgs args = lsub ? parse_lsub_args(ctx.args) : parse_list_args(ctx.args);
  const bool sel_subscribed = args.select_subscribed, sel_special = args.select_special_use;
  const bool recursive = args.select_recursivematch;
  // RFC 5258 3.1: the SUBSCRIBED selection implies RETURN (SUBSCRIBED).
  // CHILDREN and SPECIAL-USE information is always returned (RFC 5258 4
  // allows it; clients rely on it).
  const bool ret_subscribed = sel_subscribed || args.return_subscribed, ret_children = true, ret_special = true;
  const std::optional<StatusItems>& ret_status = args.return_status;
  const std::string& reference = args.reference;
  const std::vector<std::string>& patterns = args.patterns;

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
    std::map<std::string, int64_t> deleted_kib;
  };
  const int64_t user_id = ctx.session.user_id;
  const bool want_status = ret_status.has_value();
  const bool want_deleted_storage = want_status && ret_status->deleted_storage;
  auto query = [=](mailstore::MailStore& st) {
    Listing l;
    auto list = st.list(user_id);
    l.boxes = std::move(list.mailboxes);
    l.subscriptions = std::move(list.subscriptions);
    if (want_status) {
      std::vector<std::string> names;
      for (const auto& b : l.boxes) names.push_back(b.name);
      for (auto& s : st.status(user_id, names)) {
        if (want_deleted_storage)
          l.deleted_kib[s.info.name] = deleted_storage_kib(st, user_id, s.info.mailbox_id);
        l.status.emplace(s.info.name, std::move(s));
      }
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
    // A subscribed name, or an unsubscribed superior of one that the pattern
    // reaches where a "%" stopped it short of the name: RFC 3501 6.3.9 says
    // LSUB "%" with "foo/bar" subscribed and "foo" not MUST return foo, as
    // \Noselect. (With "*" the name itself is listed, not its superiors.)
    std::map<std::string, bool> answer;  // name -> listed only as a superior
    for (const auto& name : listing.subscriptions) {
      if (matches(name)) {
        answer[name] = false;
        continue;
      }
      for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1)) {
        std::string superior = name.substr(0, slash);
        if (!subscribed.count(superior) && matches(superior)) answer.emplace(superior, true);
      }
    }
    for (const auto& [name, superior_only] : answer) {
      std::string attrs = superior_only || !existing.count(name) ? "\\Noselect" : "";
      ctx.send(untagged("LSUB (" + attrs + ") \"/\" " + to_wire(ctx.session, name)));
    }
    co_return Result::ok("LSUB completed");
  }

  std::map<std::string, const mailstore::MailboxInfo*> by_name;
  for (const auto& b : listing.boxes) by_name[b.name] = &b;
  // The selection criteria (RFC 5258 3.1): every option given must hold.
  auto selected = [&](const std::string& name) {
    if (sel_subscribed && !subscribed.count(name)) return false;
    if (sel_special) {
      auto it = by_name.find(name);
      if (it == by_name.end() || !it->second->special_use) return false;
    }
    return true;
  };
  const std::vector<std::string>* universe = &listing.subscriptions;
  std::vector<std::string> box_names;
  if (!sel_subscribed) {
    for (const auto& b : listing.boxes) box_names.push_back(b.name);
    universe = &box_names;
  }
  // RECURSIVEMATCH (RFC 5258 3.5): a mailbox with a descendant that meets
  // the criteria is listed too, with CHILDINFO, even when it does not meet
  // them itself (or does not exist).
  std::set<std::string> with_child;
  if (recursive)
    for (const auto& n : *universe) {
      if (!selected(n)) continue;
      for (size_t slash = n.find('/'); slash != std::string::npos; slash = n.find('/', slash + 1))
        with_child.insert(n.substr(0, slash));
    }
  std::vector<std::string> names;
  for (const auto& n : *universe)
    if (matches(n) && (selected(n) || with_child.count(n))) names.push_back(n);
  if (recursive) {
    const std::set<std::string> listed(names.begin(), names.end()), known(universe->begin(), universe->end());
    for (const auto& n : with_child)
      if (!known.count(n) && !listed.count(n) && matches(n)) names.push_back(n);
    std::sort(names.begin(), names.end());
  }
  std::string childinfo;  // the criteria, as CHILDINFO lists them
  if (sel_subscribed) childinfo += "\"SUBSCRIBED\"";
  if (sel_special) childinfo += std::string(childinfo.empty() ? "" : " ") + "\"SPECIAL-USE\"";
  for (const auto& name : names) {
    auto it = by_name.find(name);
    const mailstore::MailboxInfo* info = it == by_name.end() ? nullptr : it->second;
    std::vector<std::string> attrs;
    if (!info) attrs.push_back("\\NonExistent");
    if (ret_children && info) attrs.push_back(has_children(name) ? "\\HasChildren" : "\\HasNoChildren");
    if (ret_subscribed && subscribed.count(name)) attrs.push_back("\\Subscribed");
    if (ret_special && info && info->special_use) attrs.push_back(*info->special_use);
    std::string line = "LIST " + flag_list(attrs) + " \"/\" " + to_wire(ctx.session, name);
    if (with_child.count(name)) line += " (\"CHILDINFO\" (" + childinfo + "))";
    ctx.send(untagged(line));
    if (ret_status && info) {
      auto st = listing.status.find(name);
      if (st != listing.status.end()) {
        auto kib = listing.deleted_kib.find(name);
        ctx.send(render_status(ctx.session, ctx.services.settings, st->second, *ret_status,
                               kib == listing.deleted_kib.end() ? 0 : kib->second));
      }
    }
  }
  co_return Result::ok("LIST completed");
}

asio::awaitable<Result> cmd_namespace(Context& ctx) {
  parse_no_args(ctx.args);
  // One personal namespace, no shared or other users' namespaces.
  ctx.send(untagged("NAMESPACE ((\"\" \"/\")) NIL NIL"));
  co_return Result::ok("NAMESPACE completed");
}

asio::awaitable<Result> cmd_status(Context& ctx) {
  const StatusArgs args = parse_status_args(ctx.args);
  const std::string name = from_wire(ctx.session, args.mailbox);
  const StatusItems items = args.items;
  // STATUS HIGHESTMODSEQ is a CONDSTORE-enabling command (RFC 7162 3.1).
  if (items.highestmodseq) enable_condstore(ctx);
  const int64_t user_id = ctx.session.user_id;
  struct Read {
    std::vector<mailstore::MailboxStatus> status;
    int64_t deleted_kib = 0;
  };
  auto query = [=](mailstore::MailStore& st) {
    Read r;
    r.status = st.status(user_id, {name});
    if (items.deleted_storage && !r.status.empty())
      r.deleted_kib = deleted_storage_kib(st, user_id, r.status.front().info.mailbox_id);
    return r;
  };
  Read read = co_await ctx.store(std::move(query));
  if (read.status.empty()) co_return Result::no("No such mailbox", "NONEXISTENT");
  ctx.send(render_status(ctx.session, ctx.services.settings, read.status.front(), items, read.deleted_kib));
  co_return Result::ok("STATUS completed");
}

}  // namespace postline::imap
