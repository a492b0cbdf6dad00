#include "tools/postline/import_imap.h"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "common/imapclient/client.h"
#include "common/imapclient/mutf7.h"
#include "common/log/printable.h"
#include "common/mailstore/accounts.h"
#include "tools/postline/import_writer.h"

namespace postline::cli::import {

namespace ic = postline::imapclient;
namespace ms = postline::mailstore;

namespace {

constexpr size_t kBatchMessages = 100;
constexpr size_t kBatchBytes = 32u << 20;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return ::fnmatch(p.c_str(), name.c_str(), 0) == 0; });
}

std::vector<std::string> split_levels(const std::string& name, std::optional<char> delim) {
  std::vector<std::string> levels;
  if (!delim) return {name};
  size_t pos = 0;
  for (;;) {
    const size_t d = name.find(*delim, pos);
    levels.push_back(name.substr(pos, d == std::string::npos ? std::string::npos : d - pos));
    if (d == std::string::npos) break;
    pos = d + 1;
  }
  return levels;
}

std::string join(const std::vector<std::string>& levels, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < levels.size(); ++i) out += (i ? sep : "") + levels[i];
  return out;
}

}  // namespace

std::string uid_set(const std::vector<uint32_t>& uids) {
  std::string out;
  for (size_t i = 0; i < uids.size();) {
    size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(uids[i]);
    if (j > i) out += ":" + std::to_string(uids[j]);
    i = j + 1;
  }
  return out;
}

std::vector<FolderPlan> plan_folders(const std::vector<ic::ListEntry>& entries,
                                     const std::map<std::string, std::string>& ours,
                                     const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                                     std::vector<std::string>& problems, const std::string& prefix) {
  static const char* kUses[] = {"\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"};
  struct Source {
    const ic::ListEntry* entry;
    std::vector<std::string> levels;  // decoded
    std::string display;
    std::string full;  // display with the namespace prefix (what --folder may also name)
  };
  std::vector<Source> sources;
  for (const auto& e : entries) {
    if (e.has_attribute("\\Noselect") || e.has_attribute("\\NonExistent")) continue;
    Source s{&e, {}, {}, {}};
    // "INBOX.Sent" under the personal namespace "INBOX." is our "Sent"; INBOX itself stays.
    std::string local = e.name;
    if (!prefix.empty() && local.size() > prefix.size() && local.compare(0, prefix.size(), prefix) == 0)
      local = local.substr(prefix.size());
    for (auto& level : split_levels(local, e.delimiter)) {
      auto utf8 = ic::decode_mutf7(level);
      s.levels.push_back(utf8 ? *utf8 : level);
    }
    if (!s.levels.empty() && lower(s.levels[0]) == "inbox") s.levels[0] = "INBOX";
    s.display = join(s.levels, e.delimiter ? std::string(1, *e.delimiter) : std::string());
    s.full = local == e.name ? s.display : prefix + s.display;
    sources.push_back(std::move(s));
  }
  // Special-use folders first: they decide where their subfolders go.
  std::map<std::vector<std::string>, std::vector<std::string>> prefix_map;
  std::map<std::vector<std::string>, std::string> use_of;
  std::set<std::string> taken;
  for (const auto& s : sources) {
    for (const char* use : kUses) {
      if (!s.entry->has_attribute(use)) continue;
      auto it = ours.find(use);
      if (it == ours.end() || taken.count(use)) continue;
      taken.insert(use);
      prefix_map[s.levels] = split_levels(it->second, '/');
      use_of[s.levels] = use;
    }
  }
  std::vector<FolderPlan> out;
  std::set<std::string> seen;
  for (const auto& s : sources) {
    if (!include.empty() && !matches_any(include, s.display) && !matches_any(include, s.full)) continue;
    if (matches_any(exclude, s.display) || matches_any(exclude, s.full)) continue;
    std::vector<std::string> dest;
    std::string use;
    for (size_t n = s.levels.size(); n > 0 && dest.empty(); --n) {
      std::vector<std::string> prefix(s.levels.begin(), s.levels.begin() + static_cast<std::ptrdiff_t>(n));
      auto it = prefix_map.find(prefix);
      if (it == prefix_map.end()) continue;
      dest = it->second;
      dest.insert(dest.end(), s.levels.begin() + static_cast<std::ptrdiff_t>(n), s.levels.end());
      if (n == s.levels.size()) use = use_of[prefix];
    }
    if (dest.empty()) dest = s.levels;
    for (auto& level : dest) std::replace(level.begin(), level.end(), '/', '_');
    const std::string name = ms::normalize_mailbox_name(join(dest, "/"));
    if (!ms::valid_mailbox_name(name)) {
      problems.push_back("folder " + log::printable(s.display, 200) + " is left out: '" + log::printable(name, 200) +
                         "' is not a mailbox name Postline accepts");
      continue;
    }
    if (!seen.insert(s.entry->name).second) continue;  // listed twice
    out.push_back(FolderPlan{s.entry->name, s.display, name, use});
  }
  return out;
}

namespace {

struct PlannedFolder {
  FolderPlan plan;
  uint64_t uidvalidity = 0;
  uint32_t start_uid = 1;
  std::string entry;  // METADATA entry of the checkpoint
  std::vector<std::pair<uint32_t, uint64_t>> todo;  // uid, size
  std::string note;
  bool failed = false;
  std::optional<FolderState> prior;
};

std::unique_ptr<ic::Client> connect(const ImapSource& src) {
  auto transport = std::make_unique<ic::Transport>(src.host, src.port, std::chrono::milliseconds(src.timeout));
  if (src.security == Security::kTls) transport->start_tls(src.host, src.tls);
  ic::Limits limits;
  limits.max_literal = std::max<size_t>(limits.max_literal, src.max_message + 1);
  limits.max_response = limits.max_literal + (16u << 20);
  auto client = std::make_unique<ic::Client>(std::move(transport), limits);
  const bool preauth = client->read_greeting();
  if (client->capabilities().empty()) client->refresh_capabilities();
  if (src.security == Security::kStartTls) client->starttls(src.host, src.tls);
  if (!preauth) client->login(src.user, src.password);
  return client;
}

// One folder: batches of UID FETCH, appended in one transaction each, the
// checkpoint moved after each. Throws ImapError for a NO/BAD (the connection
// stays in step), QuotaExceeded, TransportError.
void copy_folder(ic::Client& client, const ImapSource& src, ms::MailStore& store, ms::UserId user,
                 const ms::Quota& quota, const std::string& source_base, const PlannedFolder& pf, Progress& progress,
                 FolderResult& result) {
  progress.folder(pf.plan.display);
  MailboxWriter writer(store, user, pf.plan.destination, quota);
  writer.open();
  const std::string source = source_base + "/" + pf.plan.raw;
  FolderState state{pf.uidvalidity, pf.start_uid == 0 ? UINT32_MAX : pf.start_uid - 1};
  std::optional<uint32_t> first_failed;
  auto failed = [&](uint32_t uid, const std::string& why) {
    progress.warn(log::printable(pf.plan.display, 200) + ": UID " + std::to_string(uid) + ": " + why);
    ++result.errors;
    if (!first_failed || uid < *first_failed) first_failed = uid;
  };
  const auto sel = client.examine(pf.plan.raw);
  if (sel.uidvalidity != pf.uidvalidity) throw ic::ImapError("UIDVALIDITY changed during the import: run it again");
  size_t i = 0;
  while (i < pf.todo.size()) {
    std::vector<uint32_t> batch;
    std::map<uint32_t, uint64_t> sizes;
    size_t bytes = 0;
    while (i < pf.todo.size() && batch.size() < kBatchMessages && (batch.empty() || bytes < kBatchBytes)) {
      const auto [uid, size] = pf.todo[i++];
      if (size > src.max_message) {
        // Not fetched: it could not be APPENDed either. Tried again next time.
        failed(uid, human_bytes(static_cast<double>(size)) + " is larger than imap.max_literal_size; left out");
        progress.advance(static_cast<int64_t>(size));
        continue;
      }
      batch.push_back(uid);
      sizes[uid] = size;
      bytes += size;
    }
    if (batch.empty()) continue;
    int64_t imported = 0, imported_bytes = 0, skipped = 0;
    std::set<uint32_t> answered;
    std::string err, first_error;
    ic::Command c("UID FETCH " + uid_set(batch) + " (UID FLAGS INTERNALDATE BODY.PEEK[])");
    client.run(c, [&](ic::Response& r) {
      if (r.keyword != "FETCH") return;
      auto f = ic::parse_fetch(r, err);
      if (!f) {
        if (first_error.empty()) first_error = err;
        return;
      }
      if (!f->uid || !sizes.count(*f->uid)) return;           // an unsolicited flag update
      if (!f->body && !f->internaldate) return;                // flags only: not our answer
      if (!answered.insert(*f->uid).second) return;
      progress.advance(static_cast<int64_t>(sizes[*f->uid]));
      if (!f->body) {
        failed(*f->uid, "the server sent no body; it is tried again next time");
        return;
      }
      IncomingMessage m;
      m.exact = true;
      m.flags = flags_from_source(f->flags.value_or(std::vector<std::string>{}));
      if (f->internaldate) m.internaldate = ic::parse_internaldate(*f->internaldate);
      const int64_t size = static_cast<int64_t>(f->body->size());
      m.bytes = std::move(*f->body);
      if (writer.add(std::move(m))) {
        ++imported;
        imported_bytes += size;
      } else {
        ++skipped;
      }
    });
    if (!first_error.empty()) throw ic::ImapError(first_error);
    // UIDs that did not come back were expunged at the source meanwhile.
    for (uint32_t uid : batch)
      if (!answered.count(uid)) progress.advance(static_cast<int64_t>(sizes[uid]));
    writer.flush();
    result.messages += imported;
    result.bytes += imported_bytes;
    result.skipped += skipped;
    uint32_t last = batch.back();
    if (first_failed) last = std::min(last, *first_failed - 1);
    if (last > state.last_uid) {
      state.last_uid = last;
      save_state(store, user, pf.plan.destination, pf.entry, state, source);
    }
  }
  // An empty folder, or one with nothing new: remember its UIDVALIDITY.
  if (pf.todo.empty() && pf.prior != state) save_state(store, user, pf.plan.destination, pf.entry, state, source);
  if (pf.todo.empty() && pf.note.empty()) result.note = "up to date";
}

}  // namespace

void import_imap(const ImapSource& src, ms::MailStore& store, ms::UserId user, const ms::Quota& quota,
                 Progress& progress, Totals& totals) {
  auto client = connect(src);
  const auto entries = client->list();

  store.ensure_account(user);
  std::map<std::string, std::string> ours;
  for (const auto& mb : store.list(user).mailboxes)
    if (mb.special_use && !ours.count(*mb.special_use)) ours[*mb.special_use] = mb.name;
  std::vector<std::string> problems;
  const auto plans =
      plan_folders(entries, ours, src.include, src.exclude, problems, client->personal_namespace_prefix());
  for (const auto& p : problems) {
    progress.warn(p);
    ++totals.errors;
  }
  if (plans.empty() && (!src.include.empty() || !src.exclude.empty()))
    progress.warn("no source folder matches --folder/--exclude");

  const std::string source_base = "imap://" + src.user + "@" + src.host;
  // Pass 1: what is still to import, for the totals.
  std::vector<PlannedFolder> planned;
  int64_t total_messages = 0, total_bytes = 0;
  for (const auto& plan : plans) {
    PlannedFolder pf;
    pf.plan = plan;
    pf.entry = state_entry(src.host, src.user, plan.raw);
    try {
      const auto sel = client->examine(plan.raw);
      pf.uidvalidity = sel.uidvalidity;
      auto& prior = pf.prior;
      if (store.find_mailbox(user, plan.destination)) prior = load_state(store, user, plan.destination, pf.entry);
      if (prior && prior->uidvalidity == sel.uidvalidity) {
        pf.start_uid = prior->last_uid == UINT32_MAX ? 0 : prior->last_uid + 1;  // 0: nothing can follow
      } else if (prior) {
        pf.note = "UIDVALIDITY changed from " + std::to_string(prior->uidvalidity) + " to " +
                  std::to_string(sel.uidvalidity) + ": imported again, messages already here skipped";
        progress.warn(log::printable(plan.display, 200) + ": " + pf.note);
      }
      if (pf.start_uid > 0 && sel.exists > 0 && (!sel.uidnext || *sel.uidnext > pf.start_uid)) {
        std::string err, first_error;
        ic::Command c("UID FETCH " + std::to_string(pf.start_uid) + ":* (UID RFC822.SIZE)");
        client->run(c, [&](ic::Response& r) {
          if (r.keyword != "FETCH") return;
          auto f = ic::parse_fetch(r, err);
          if (!f) {
            if (first_error.empty()) first_error = err;
            return;
          }
          if (f->uid && *f->uid >= pf.start_uid) pf.todo.emplace_back(*f->uid, f->size.value_or(0));
        });
        if (!first_error.empty()) throw ic::ImapError(first_error);
        std::sort(pf.todo.begin(), pf.todo.end());
        pf.todo.erase(std::unique(pf.todo.begin(), pf.todo.end(),
                                  [](const auto& a, const auto& b) { return a.first == b.first; }),
                      pf.todo.end());
      }
    } catch (const ic::ImapError& e) {
      pf.failed = true;
      pf.note = e.what();
      progress.warn(log::printable(plan.display, 200) + ": " + e.what());
      ++totals.errors;
    }
    for (const auto& [uid, size] : pf.todo) {
      ++total_messages;
      total_bytes += static_cast<int64_t>(size);
    }
    planned.push_back(std::move(pf));
  }
  progress.set_total(total_messages, total_bytes);

  // Pass 2: copy.
  for (auto& pf : planned) {
    FolderResult result{pf.plan.display, pf.plan.destination, 0, 0, 0, 0, pf.note};
    auto done = [&] {
      ++totals.folders;
      totals.messages += result.messages;
      totals.bytes += result.bytes;
      totals.skipped += result.skipped;
      totals.errors += result.errors;
      totals.folder_results.push_back(result);
    };
    if (pf.failed) {
      ++totals.folders;
      result.errors = 0;  // counted in pass 1
      totals.folder_results.push_back(result);
      continue;
    }
    try {
      copy_folder(*client, src, store, user, quota, source_base, pf, progress, result);
    } catch (const ic::ImapError& e) {
      // A NO/BAD for this folder: the connection is fine, go on with the next one.
      result.note = e.what();
      ++result.errors;
      progress.warn(log::printable(pf.plan.display, 200) + ": " + e.what());
    } catch (...) {
      done();  // what was committed is in the summary
      throw;
    }
    done();
  }
  client->logout();
}

}  // namespace postline::cli::import
