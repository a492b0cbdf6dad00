// postline mailbox list|status|fetch|search|expunge|create|delete|rename|recalc:
// doveadm's mailbox tools. The account comes from authd, the mailboxes from
// the mailstore opened directly (mailstore_access.h); search words are parsed
// into typed criteria first (mailbox_query.h).
#include <algorithm>
#include <ctime>
#include <iostream>
#include <set>
#include <sstream>

#include "common/mailauth/text_util.h"
#include "tools/postline/mailbox_query.h"
#include "tools/postline/mailstore_access.h"
#include "tools/postline/output.h"

namespace postline::cli {

namespace ms = mailstore;

namespace {

// What one command works on: the account's id and the store.
struct Target {
  mail::v1::User user;
  std::unique_ptr<ms::MailStore> store;
};

Target open_target(CliContext& ctx, const std::string& email, const std::string& what) {
  Target t;
  t.user = find_user(ctx, email, what);
  t.store = open_mailstore(ctx, what, t.user.shard());
  return t;
}

ms::MailboxInfo find_mailbox(Target& t, const std::string& name, const std::string& what) {
  auto info = t.store->find_mailbox(t.user.id(), name);
  if (!info) throw CliError(what + ": " + t.user.email() + " has no mailbox '" + name + "'");
  return *info;
}

std::string store_error(ms::StoreError e) {
  switch (e) {
    case ms::StoreError::kNone: return "ok";
    case ms::StoreError::kNoSuchMailbox: return "no such mailbox";
    case ms::StoreError::kAlreadyExists: return "a mailbox of that name exists already";
    case ms::StoreError::kInvalidName: return "not a valid mailbox name";
    case ms::StoreError::kInboxProtected: return "INBOX cannot be deleted";
    case ms::StoreError::kHasChildren: return "the mailbox has child mailboxes (delete or move them first)";
    case ms::StoreError::kOverQuota: return "over quota";
  }
  return "failed";
}

// Unix seconds as RFC 3339 UTC.
std::string rfc3339(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// UIDs as an IMAP set ("1:3,7"), for telling an operator what matched.
std::string uid_set(const std::vector<ms::Uid>& uids) {
  std::string out;
  for (size_t i = 0; i < uids.size();) {
    size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(uids[i]);
    if (j > i) out += ":" + std::to_string(uids[j]);
    i = j + 1;
  }
  return out;
}

std::string json_uid_array(const std::vector<ms::Uid>& uids) {
  std::string out = "[";
  for (size_t i = 0; i < uids.size(); ++i) out += (i ? ", " : "") + std::to_string(uids[i]);
  return out + "]";
}

// `mailbox search`'s QUERY words as the shell passed them, one word each;
// a single argument with spaces in it ('from carol unseen') is split like
// --search, so both spellings work.
std::vector<std::string> query_words(const std::vector<std::string>& args) {
  if (args.size() == 1 && args[0].find_first_of(" \t") != std::string::npos) return tokenize_query(args[0]);
  return args;
}

// The messages a command works on: --uid SET and/or --search QUERY (both:
// messages matching both), ascending.
struct Selection {
  std::string uid, search;
  std::vector<std::string> words;  // `mailbox search`'s QUERY words
};

// --uid and --search checked before any connection (a bad query is a usage
// error whatever the servers do); at least one of them is required.
void check_selection(const Selection& sel, const std::string& what) {
  if (sel.uid.empty() && sel.search.empty())
    throw CliError(what + ": say which messages: --uid SET or --search QUERY (--search all: every message)", 2);
  if (!sel.search.empty()) parse_query(tokenize_query(sel.search));
  if (!sel.uid.empty()) {
    try {
      parse_uid_set(sel.uid);
    } catch (const CliError& e) {
      throw CliError(std::string("--uid: ") + e.what(), 2);
    }
  }
}

std::vector<ms::Uid> select_uids(Target& t, const ms::MailboxInfo& box, const Selection& sel) {
  ms::SearchCriterion all;
  all.kind = ms::SearchCriterion::kAnd;
  if (!sel.uid.empty()) {
    ms::SearchCriterion uids;
    uids.kind = ms::SearchCriterion::kUids;
    try {
      uids.uid_ranges = parse_uid_set(sel.uid);
    } catch (const CliError& e) {
      throw CliError(std::string("--uid: ") + e.what(), 2);
    }
    all.children.push_back(std::move(uids));
  }
  if (!sel.search.empty()) all.children.push_back(parse_query(tokenize_query(sel.search)));
  if (!sel.words.empty()) all.children.push_back(parse_query(sel.words));
  std::vector<ms::Uid> out;
  for (const auto& hit : t.store->search(t.user.id(), box.mailbox_id, all)) out.push_back(hit.uid);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- fetch ---------------------------------------------------------------------

enum class Field { kUid, kFlags, kSize, kDate, kModseq, kHeaders, kBody, kText };

struct FieldName {
  const char* name;
  Field field;
};
constexpr FieldName kFields[] = {{"uid", Field::kUid},         {"flags", Field::kFlags},   {"size", Field::kSize},
                                 {"date", Field::kDate},       {"modseq", Field::kModseq}, {"headers", Field::kHeaders},
                                 {"body", Field::kBody},       {"text", Field::kText}};

bool is_bytes(Field f) { return f == Field::kHeaders || f == Field::kBody || f == Field::kText; }

std::vector<Field> parse_fields(const std::vector<std::string>& given) {
  std::vector<Field> out;
  for (const auto& option : given) {
    std::stringstream ss(option);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (name.empty()) continue;
      bool found = false;
      for (const auto& f : kFields) {
        if (name != f.name) continue;
        if (std::find(out.begin(), out.end(), f.field) == out.end()) out.push_back(f.field);
        found = true;
      }
      if (!found)
        throw CliError("--field: unknown field '" + name + "' (known: uid, flags, size, date, modseq, headers, body, text)",
                       2);
    }
  }
  if (out.empty()) out = {Field::kUid, Field::kFlags, Field::kSize, Field::kDate};
  return out;
}

const char* field_name(Field f) {
  for (const auto& n : kFields)
    if (n.field == f) return n.name;
  return "?";
}

void fetch(CliContext& ctx, const std::string& email, const std::string& mailbox, const Selection& sel,
           const std::vector<std::string>& field_options) {
  const std::string what = "mailbox fetch " + email + " " + mailbox;
  check_selection(sel, what);
  const std::vector<Field> fields = parse_fields(field_options);
  with_mailstore_errors(what, [&] {
    Target t = open_target(ctx, email, what);
    const ms::MailboxInfo box = find_mailbox(t, mailbox, what);
    const std::vector<ms::Uid> uids = select_uids(t, box, sel);
    const bool need_body = std::any_of(fields.begin(), fields.end(),
                                       [](Field f) { return f == Field::kBody || f == Field::kText; });
    const bool want_headers = std::any_of(fields.begin(), fields.end(), [](Field f) { return f == Field::kHeaders; });
    unsigned read = ms::kFieldFlags | ms::kFieldInternalDate | ms::kFieldSize;
    if (want_headers) read |= ms::kFieldHeader | ms::kFieldBlob;
    if (need_body) read |= ms::kFieldBlob;
    // In groups, printed as they come, so a large mailbox is never held in
    // memory at once (the JSON array too is streamed, in print_json_array's layout).
    constexpr size_t kGroup = 256;
    size_t printed = 0;
    const bool raw = !ctx.json && fields.size() == 1 && is_bytes(fields[0]);
    for (size_t start = 0; start < uids.size(); start += kGroup) {
      std::vector<ms::Uid> group(uids.begin() + static_cast<std::ptrdiff_t>(start),
                                 uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), start + kGroup)));
      auto records = t.store->read_messages(t.user.id(), box.mailbox_id, group, read);
      // Bodies: every message's when body or text is asked for; headers that
      // are not cached (over 64 KiB) are read from the body too.
      auto needs_body = [&](const ms::MessageData& m) { return need_body || (want_headers && !m.header); };
      std::vector<std::string> blobs;
      for (const auto& m : records)
        if (needs_body(m)) blobs.push_back(m.blob);
      const ms::BodySet bodies = blobs.empty() ? ms::BodySet{} : t.store->read_bodies(t.user.id(), blobs);
      size_t next_body = 0;
      for (const auto& m : records) {
        std::optional<std::string_view> body;
        if (needs_body(m)) body = bodies[next_body++];
        auto bytes_of = [&](Field f) -> std::string {
          const auto header_size = static_cast<size_t>(m.header_size);
          if (f == Field::kHeaders && m.header) return std::string(*m.header);
          if (!body)
            throw CliError(what + ": the body of UID " + std::to_string(m.uid) + " is missing from the store");
          if (f == Field::kHeaders) return std::string(body->substr(0, std::min(header_size, body->size())));
          if (f == Field::kText) return std::string(body->substr(std::min(header_size, body->size())));
          return std::string(*body);
        };
        if (raw) {
          std::cout << bytes_of(fields[0]);
          continue;
        }
        if (ctx.json) {
          JsonObject o;
          for (Field f : fields) {
            switch (f) {
              case Field::kUid: o.add("uid", static_cast<int64_t>(m.uid)); break;
              case Field::kFlags: o.add("flags", ms::flag_names(m.flags)); break;
              case Field::kSize: o.add("size", m.size); break;
              case Field::kDate: o.add("date", rfc3339(m.internaldate)); break;
              case Field::kModseq: o.add("modseq", m.modseq); break;
              default: o.add(std::string(field_name(f)) + "_base64", mailauth::base64_encode(bytes_of(f)));
            }
          }
          std::cout << (printed++ ? ",\n  " : "[\n  ") << o.str();
          continue;
        }
        // doveadm's "flow" layout: one "name: value" line per field, byte
        // fields on the lines after "name:", a form feed line between messages.
        if (printed++) std::cout << "\f\n";
        for (Field f : fields) {
          switch (f) {
            case Field::kUid: std::cout << "uid: " << m.uid << "\n"; break;
            case Field::kFlags: std::cout << "flags: " << join(ms::flag_names(m.flags), " ") << "\n"; break;
            case Field::kSize: std::cout << "size: " << m.size << "\n"; break;
            case Field::kDate: std::cout << "date: " << rfc3339(m.internaldate) << "\n"; break;
            case Field::kModseq: std::cout << "modseq: " << m.modseq << "\n"; break;
            default: {
              const std::string b = bytes_of(f);
              std::cout << field_name(f) << ":\n" << b;
              if (b.empty() || b.back() != '\n') std::cout << "\n";
            }
          }
        }
      }
    }
    if (ctx.json) std::cout << (printed ? "\n]\n" : "[]\n");
    std::cout.flush();
  });
}

// ---- what destructive commands remove ------------------------------------------

std::vector<std::string> uid_names(const std::vector<ms::Uid>& uids) {
  std::vector<std::string> out;
  out.reserve(uids.size());
  for (auto uid : uids) out.push_back(std::to_string(uid));
  return out;
}

RemovalPlan expunge_plan(const std::string& what, const ms::MailboxInfo& box, const std::string& email,
                         const std::vector<ms::Uid>& uids) {
  RemovalPlan plan;
  plan.command = what;
  plan.kind = std::to_string(uids.size()) + (uids.size() == 1 ? " message from" : " messages from");
  plan.name = box.name + " of " + email;
  plan.parts.push_back({"uids", "uid", "uids", uid_names(uids)});
  plan.stays.push_back("the mailbox " + box.name + " and its other messages");
  return plan;
}

RemovalPlan delete_plan(const std::string& what, Target& t, const ms::MailboxInfo& box) {
  RemovalPlan plan;
  plan.command = what;
  plan.kind = "mailbox";
  plan.name = box.name + " of " + t.user.email();
  std::vector<ms::Uid> uids;
  if (auto opened = t.store->open(t.user.id(), box.name); opened.index)
    for (const auto& e : opened.index->entries) uids.push_back(e.uid);
  plan.parts.push_back({"uids", "message uid", "message uids", uid_names(uids)});
  plan.stays.push_back("the account's other mailboxes");
  return plan;
}

// ---- the commands ---------------------------------------------------------------

std::shared_ptr<std::string> positional(CLI::App* cmd, const char* name, const char* help) {
  auto v = std::make_shared<std::string>();
  cmd->add_option(name, *v, help)->required();
  return v;
}

}  // namespace

void register_mailbox_commands(CLI::App& app, CliContext& ctx) {
  auto* mailbox = app.add_subcommand("mailbox", "a user's mailboxes: list, status, fetch, search, expunge, recalc");
  mailbox->require_subcommand(1);
  mailbox->add_option("--db-url", ctx.db_url, "the mailstore's PostgreSQL URL (default: POSTLINE_DB_URL, then db.url)")
      ->envname("POSTLINE_DB_URL");

  // list
  auto* list = mailbox->add_subcommand("list", "the user's mailboxes with their counts");
  auto list_email = positional(list, "EMAIL", "the account");
  list->callback([&ctx, list_email] {
    const std::string what = "mailbox list " + *list_email;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *list_email, what);
      const ms::MailboxList l = t.store->list(t.user.id());
      std::vector<std::string> names;
      for (const auto& m : l.mailboxes) names.push_back(m.name);
      const std::set<std::string> subscribed(l.subscriptions.begin(), l.subscriptions.end());
      const auto statuses = t.store->status(t.user.id(), names);
      if (ctx.json) {
        std::vector<JsonObject> rows;
        for (const auto& s : statuses)
          rows.push_back(JsonObject()
                             .add("name", s.info.name)
                             .add("messages", s.messages)
                             .add("unseen", s.unseen)
                             .add("deleted", s.deleted)
                             .add("size", s.size)
                             .add("special_use", s.info.special_use.value_or(""))
                             .add("subscribed", subscribed.count(s.info.name) > 0)
                             .add("uidvalidity", s.info.uidvalidity)
                             .add("uidnext", s.info.uidnext));
        print_json_array(std::cout, rows);
        return;
      }
      Table table({"MAILBOX", "MESSAGES", "UNSEEN", "SIZE", "SPECIAL-USE", "SUBSCRIBED"});
      for (const auto& s : statuses)
        table.row({s.info.name, std::to_string(s.messages), std::to_string(s.unseen), format_used_bytes(s.size),
                   s.info.special_use.value_or("-"), subscribed.count(s.info.name) ? "yes" : "no"});
      table.print(std::cout);
      if (statuses.empty()) std::cout << "(no mailboxes yet: they are made at the first delivery or login)\n";
    });
  });

  // status
  auto* status = mailbox->add_subcommand("status", "one mailbox's IMAP STATUS values");
  auto st_email = positional(status, "EMAIL", "the account");
  auto st_box = positional(status, "MAILBOX", "the mailbox, e.g. INBOX or Archive/2026");
  status->callback([&ctx, st_email, st_box] {
    const std::string what = "mailbox status " + *st_email + " " + *st_box;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *st_email, what);
      const ms::MailboxInfo box = find_mailbox(t, *st_box, what);
      auto statuses = t.store->status(t.user.id(), {box.name});
      if (statuses.empty()) throw CliError(what + ": the mailbox was deleted meanwhile");
      const ms::MailboxStatus& s = statuses[0];
      if (ctx.json) {
        std::cout << JsonObject()
                         .add("name", s.info.name)
                         .add("messages", s.messages)
                         .add("recent", s.recent)
                         .add("unseen", s.unseen)
                         .add("deleted", s.deleted)
                         .add("uidnext", s.info.uidnext)
                         .add("uidvalidity", s.info.uidvalidity)
                         .add("highestmodseq", s.info.highestmodseq)
                         .add("size", s.size)
                         .add("special_use", s.info.special_use.value_or(""))
                         .str()
                  << "\n";
        return;
      }
      Table table({"MAILBOX", "MESSAGES", "RECENT", "UNSEEN", "DELETED", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ",
                   "SIZE"});
      table.row({s.info.name, std::to_string(s.messages), std::to_string(s.recent), std::to_string(s.unseen),
                 std::to_string(s.deleted), std::to_string(s.info.uidnext), std::to_string(s.info.uidvalidity),
                 std::to_string(s.info.highestmodseq), std::to_string(s.size)});
      table.print(std::cout);
    });
  });

  // fetch
  struct FetchArgs {
    std::string email, mailbox;
    Selection sel;
    std::vector<std::string> fields;
  };
  auto fa = std::make_shared<FetchArgs>();
  auto* fetch_cmd = mailbox->add_subcommand(
      "fetch", "print messages or their fields; with one of headers/body/text alone, exactly the stored bytes");
  fetch_cmd->add_option("EMAIL", fa->email, "the account")->required();
  fetch_cmd->add_option("MAILBOX", fa->mailbox, "the mailbox")->required();
  fetch_cmd->add_option("--uid", fa->sel.uid, "UID set, e.g. 4 or 1:10,15");
  fetch_cmd->add_option("--search", fa->sel.search, "search query, e.g. 'from alice since 2026-01-01' (see README)");
  fetch_cmd->add_option("--field", fa->fields,
                        "uid, flags, size, date, modseq, headers, body, text (repeat or comma-separate; "
                        "default uid,flags,size,date)");
  fetch_cmd->callback([&ctx, fa] { fetch(ctx, fa->email, fa->mailbox, fa->sel, fa->fields); });

  // search
  struct SearchArgs {
    std::string email, mailbox;
    std::vector<std::string> words;
  };
  auto sa = std::make_shared<SearchArgs>();
  auto* search = mailbox->add_subcommand("search", "the UIDs of the messages matching QUERY, one per line");
  search->add_option("EMAIL", sa->email, "the account")->required();
  search->add_option("MAILBOX", sa->mailbox, "the mailbox")->required();
  search->add_option("QUERY", sa->words, "search words, e.g. from alice subject \"monthly report\" unseen")
      ->required();
  search->callback([&ctx, sa] {
    const std::string what = "mailbox search " + sa->email + " " + sa->mailbox;
    sa->words = query_words(sa->words);
    parse_query(sa->words);  // a usage error before any connection
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, sa->email, what);
      const ms::MailboxInfo box = find_mailbox(t, sa->mailbox, what);
      Selection sel;
      sel.words = sa->words;
      const auto uids = select_uids(t, box, sel);
      if (ctx.json) {
        std::cout << "{" << json_string("mailbox") << ": " << json_string(box.name) << ", "
                  << json_string("uidvalidity") << ": " << box.uidvalidity << ", " << json_string("uids") << ": "
                  << json_uid_array(uids) << "}\n";
        return;
      }
      for (auto uid : uids) std::cout << uid << "\n";
    });
  });

  // expunge
  struct ExpungeArgs {
    std::string email, mailbox;
    Selection sel;
    bool force = false;
  };
  auto ea = std::make_shared<ExpungeArgs>();
  auto* expunge = mailbox->add_subcommand(
      "expunge", "remove the messages matching --search and/or --uid; says what it would remove unless --force");
  expunge->add_option("EMAIL", ea->email, "the account")->required();
  expunge->add_option("MAILBOX", ea->mailbox, "the mailbox")->required();
  expunge->add_option("--search", ea->sel.search, "which messages, e.g. 'before 2025-01-01' or 'all'");
  expunge->add_option("--uid", ea->sel.uid, "which UIDs (with --search: only those of them that match)");
  expunge->add_flag("--force", ea->force, "remove them (without: list what would go and refuse)");
  expunge->callback([&ctx, ea] {
    const std::string what = "mailbox expunge " + ea->email + " " + ea->mailbox;
    check_selection(ea->sel, what);
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, ea->email, what);
      const ms::MailboxInfo box = find_mailbox(t, ea->mailbox, what);
      const auto uids = select_uids(t, box, ea->sel);
      if (!uids.empty()) require_force(ctx, expunge_plan(what, box, t.user.email(), uids), ea->force);
      std::vector<ms::Uid> gone;
      if (!uids.empty()) {
        // As an IMAP client does it (STORE +FLAGS \Deleted, UID EXPUNGE): each
        // a committed change the store announces to every IMAP session.
        t.store->store_flags(t.user.id(), box.mailbox_id, uids, ms::FlagMode::kAdd, ms::Flags{ms::kDeleted, {}});
        gone = t.store->expunge(t.user.id(), box.mailbox_id, uids);
      }
      if (ctx.json) {
        std::cout << "{" << json_string("mailbox") << ": " << json_string(box.name) << ", "
                  << json_string("expunged") << ": " << gone.size() << ", " << json_string("uids") << ": "
                  << json_uid_array(gone) << "}\n";
        return;
      }
      std::cout << "expunged " << gone.size() << " message(s) from " << box.name << " of " << t.user.email()
                << (gone.empty() ? "" : " (UIDs " + uid_set(gone) + ")") << "\n";
    });
  });

  // create / delete / rename
  auto* create = mailbox->add_subcommand("create", "create a mailbox (parents as needed)");
  auto cr_email = positional(create, "EMAIL", "the account");
  auto cr_box = positional(create, "MAILBOX", "the new mailbox, e.g. Projects/2026");
  create->callback([&ctx, cr_email, cr_box] {
    const std::string what = "mailbox create " + *cr_email + " " + *cr_box;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *cr_email, what);
      t.store->ensure_account(t.user.id());  // as a first login would
      const auto e = t.store->create_mailbox(t.user.id(), *cr_box);
      if (e != ms::StoreError::kNone) throw CliError(what + ": " + store_error(e));
      print_outcome(ctx, JsonObject().add("email", t.user.email()).add("mailbox", *cr_box).add("created", true),
                    "created mailbox " + *cr_box + " of " + t.user.email() + "\n");
    });
  });

  auto del_force = std::make_shared<bool>(false);
  auto* del = mailbox->add_subcommand("delete", "delete a mailbox and its messages (asks for --force)");
  auto del_email = positional(del, "EMAIL", "the account");
  auto del_box = positional(del, "MAILBOX", "the mailbox");
  del->add_flag("--force", *del_force, "delete it with its messages (without: list what would go)");
  del->callback([&ctx, del_email, del_box, del_force] {
    const std::string what = "mailbox delete " + *del_email + " " + *del_box;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *del_email, what);
      const ms::MailboxInfo box = find_mailbox(t, *del_box, what);
      const RemovalPlan plan = delete_plan(what, t, box);
      if (plan.removes_more()) require_force(ctx, plan, *del_force);  // an empty mailbox goes without
      const auto e = t.store->delete_mailbox(t.user.id(), box.name);
      if (e != ms::StoreError::kNone) throw CliError(what + ": " + store_error(e));
      print_outcome(ctx, JsonObject().add("mailbox", box.name).add("deleted", true).merge(plan.json()),
                    "removed " + plan.target() + (plan.removes_more() ? " and:\n" : "\n") + plan.text());
    });
  });

  auto* rename = mailbox->add_subcommand("rename", "rename a mailbox (children follow; UIDVALIDITY is kept)");
  auto rn_email = positional(rename, "EMAIL", "the account");
  auto rn_from = positional(rename, "FROM", "the mailbox");
  auto rn_to = positional(rename, "TO", "its new name");
  rename->callback([&ctx, rn_email, rn_from, rn_to] {
    const std::string what = "mailbox rename " + *rn_email + " " + *rn_from;
    with_mailstore_errors(what, [&] {
      Target t = open_target(ctx, *rn_email, what);
      const auto e = t.store->rename_mailbox(t.user.id(), *rn_from, *rn_to);
      if (e != ms::StoreError::kNone) throw CliError(what + " to " + *rn_to + ": " + store_error(e));
      print_outcome(ctx,
                    JsonObject().add("email", t.user.email()).add("mailbox", *rn_from).add("renamed_to", *rn_to),
                    "renamed mailbox " + *rn_from + " of " + t.user.email() + " to " + *rn_to + "\n");
    });
  });

  // recalc
  auto* recalc = mailbox->add_subcommand(
      "recalc", "recount the usage totals the store keeps per mailbox from the messages (doveadm quota recalc)");
  auto rc_email = positional(recalc, "EMAIL", "the account");
  recalc->callback([&ctx, rc_email] {
    const std::string what = "mailbox recalc " + *rc_email;
    with_mailstore_errors(what, [&] {
      const mail::v1::User user = find_user(ctx, *rc_email, what);
      const auto r = open_mailstore(ctx, what, user.shard())->recalculate_usage(user.id());
      if (ctx.json) {
        std::cout << JsonObject()
                         .add("email", user.email())
                         .add("mailboxes_fixed", r.mailboxes_fixed)
                         .add("bytes_before", r.before.bytes)
                         .add("messages_before", r.before.messages)
                         .add("bytes", r.after.bytes)
                         .add("messages", r.after.messages)
                         .str()
                  << "\n";
        return;
      }
      if (r.mailboxes_fixed == 0)
        std::cout << "usage of " << user.email() << " was right: " << r.after.messages << " message(s), "
                  << r.after.bytes << " bytes\n";
      else
        std::cout << "usage of " << user.email() << " recounted in " << r.mailboxes_fixed << " mailbox(es): "
                  << r.before.messages << " -> " << r.after.messages << " message(s), " << r.before.bytes << " -> "
                  << r.after.bytes << " bytes\n";
    });
  });
}

}  // namespace postline::cli
