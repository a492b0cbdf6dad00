#include "services/imap-access/protocol/selected.h"

#include "services/imap-access/protocol/encoder.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <algorithm>

namespace postline::imap {

namespace {
constexpr const char* kSystemFlagNames[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};
constexpr const char* kSystemFlagList = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
}  // namespace

void SelectedMailbox::load(std::shared_ptr<const mailstore::MailboxIndex> index) {
  mailbox_id = index->info.mailbox_id;
  name = index->info.name;
  uidvalidity = index->info.uidvalidity;
  uidnext = index->info.uidnext;
  highestmodseq = index->info.highestmodseq;
  entries_.clear();
  keywords_ = mailstore::KeywordSets();
  pending_expunge_.clear();
  recent_.clear();
  contexts.clear();
  context_output_.clear();
  const auto all = index->keywords.all_keywords();
  announced_ = {all.begin(), all.end()};
  base_ = std::move(index);
}

void SelectedMailbox::make_own() {
  if (!base_) return;
  entries_ = base_->entries;
  keywords_ = base_->keywords;
  base_.reset();
}

void SelectedMailbox::append_flag_list(std::string& out, uint32_t msn) const {
  const Entry& e = entries()[msn - 1];
  out += '(';
  bool first = true;
  for (int bit = 0; bit < 5; ++bit) {
    if (!(e.system & (1u << bit))) continue;
    if (!first) out += ' ';
    out += kSystemFlagNames[bit];
    first = false;
  }
  if (show_recent && is_recent(e.uid)) {
    if (!first) out += ' ';
    out += "\\Recent";
    first = false;
  }
  for (const auto& k : keywords().get(e.keywords)) {
    if (!first) out += ' ';
    out += k;
    first = false;
  }
  out += ')';
}

void SelectedMailbox::add_recent(uint32_t from, uint32_t to) {
  if (from >= to) return;
  if (!recent_.empty() && recent_.back().second >= from) {
    recent_.back().second = std::max(recent_.back().second, to);
    return;
  }
  recent_.emplace_back(from, to);
}

bool SelectedMailbox::is_recent(uint32_t uid) const {
  // Claims come in ascending order and are few: the last ranges are the likely ones.
  for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
    if (uid >= it->second) return false;
    if (uid >= it->first) return true;
  }
  return false;
}

uint32_t SelectedMailbox::recent_count() const {
  uint32_t n = 0;
  for (auto [from, to] : recent_) n += first_msn_at_or_after(to) - first_msn_at_or_after(from);
  return n;
}

uint32_t SelectedMailbox::first_msn_at_or_after(uint32_t uid) const {
  const auto& all = entries();
  auto it = std::lower_bound(all.begin(), all.end(), uid, [](const Entry& e, uint32_t u) { return e.uid < u; });
  return static_cast<uint32_t>(it - all.begin()) + 1;
}

uint32_t SelectedMailbox::msn_of(uint32_t uid) const {
  const uint32_t msn = first_msn_at_or_after(uid);
  return msn <= exists() && entries()[msn - 1].uid == uid ? msn : 0;
}

void SelectedMailbox::set_flags(uint32_t uid, const mailstore::Flags& flags, int64_t modseq) {
  if (uint32_t msn = msn_of(uid)) {
    make_own();
    Entry& e = entries_[msn - 1];
    e.system = flags.system;
    e.keywords = keywords_.intern(flags.keywords);
    if (modseq > e.modseq) e.modseq = modseq;
    contexts.touch(uid);
  }
  // One MODSEQ per write and mailbox: the one right after ours is ours alone.
  if (modseq == highestmodseq + 1) highestmodseq = modseq;
}

std::vector<uint32_t> SelectedMailbox::remove(const std::vector<uint32_t>& ascending_uids) {
  // Numbers first: the REMOVEFROM responses name messages still in the view.
  if (!contexts.empty())
    context_output_ += contexts.expunge(ascending_uids, [this](uint32_t uid) { return msn_of(uid); });
  make_own();
  std::vector<uint32_t> msns;
  msns.reserve(ascending_uids.size());
  // Each removal shifts the later numbers down by one: the k-th removed
  // message (in ascending order) is reported at its original MSN - k.
  std::vector<char> gone(entries_.size(), 0);
  uint32_t removed = 0;
  for (uint32_t uid : ascending_uids) {
    pending_expunge_.erase(uid);
    const uint32_t msn = msn_of(uid);
    if (!msn || gone[msn - 1]) continue;
    gone[msn - 1] = 1;
    msns.push_back(msn - removed);
    ++removed;
  }
  if (removed) {
    size_t out = 0;
    for (size_t i = 0; i < entries_.size(); ++i)
      if (!gone[i]) entries_[out++] = entries_[i];
    entries_.resize(out);
  }
  return msns;
}

std::string SelectedMailbox::flush_expunges(const Options& options) {
  std::string out;
  if (pending_expunge_.empty()) return out;
  std::vector<uint32_t> uids(pending_expunge_.begin(), pending_expunge_.end());
  if (options.qresync) {
    remove(uids);
    out += take_context_output();
    out += untagged("VANISHED " + SequenceSet::format(uids));
    return out;
  }
  const std::vector<uint32_t> msns = remove(uids);
  out += take_context_output();
  for (uint32_t msn : msns) out += untagged(std::to_string(msn) + " EXPUNGE");
  return out;
}

std::string SelectedMailbox::flags_responses() const {
  std::string flags = kSystemFlagList;
  for (const auto& k : announced_) flags += " " + k;
  std::string out = untagged("FLAGS (" + flags + ")");
  // Clients may create any keyword (\*) unless the mailbox is read-only.
  out += untagged(std::string("OK [PERMANENTFLAGS (") + (read_only ? "" : flags + " \\*") + ")] Flags permitted");
  return out;
}

std::string SelectedMailbox::announce_new_keywords() {
  bool fresh = false;
  for (size_t id = 1; id < keywords().size(); ++id)
    for (const auto& k : keywords().get(static_cast<uint32_t>(id)))
      if (announced_.insert(k).second) fresh = true;
  return fresh ? flags_responses() : std::string();
}

std::string SelectedMailbox::apply(const std::vector<mailstore::MessageChange>& changed,
                                   const std::vector<uint32_t>& expunged, int64_t new_highestmodseq,
                                   int64_t new_uidnext, const Options& options) {
  std::string out;
  if (changed.empty() && expunged.empty()) {
    // Nothing to reflect: the view (possibly still the shared snapshot) stays as it is.
    if (new_highestmodseq > highestmodseq) highestmodseq = new_highestmodseq;
    if (new_uidnext > uidnext) uidnext = new_uidnext;
    if (options.allow_expunge) out += flush_expunges(options);
    return out;
  }
  make_own();
  for (uint32_t uid : expunged)
    if (msn_of(uid)) pending_expunge_.insert(uid);
  if (options.allow_expunge) out += flush_expunges(options);

  const uint32_t before = exists();
  const uint32_t known_max = max_uid();
  std::string fetches;
  for (const auto& m : changed) {
    if (m.uid > known_max) {
      // New message: UIDs ascend in commit order, so appending keeps the view sorted.
      if (entries_.empty() || m.uid > entries_.back().uid) {
        entries_.push_back({m.uid, keywords_.intern(m.flags.keywords), m.modseq, m.flags.system});
        contexts.touch(m.uid);
      }
      continue;
    }
    const uint32_t msn = msn_of(m.uid);
    if (!msn || pending_expunge_.count(m.uid)) continue;
    Entry& e = entries_[msn - 1];
    const uint32_t kw = keywords_.intern(m.flags.keywords);
    const bool same = e.system == m.flags.system && e.keywords == kw;
    // Already told (our own STORE set these flags and this MODSEQ): say nothing twice.
    const bool known = same && (m.modseq <= e.modseq || !options.modseq_in_fetch);
    if (m.modseq > e.modseq) e.modseq = m.modseq;
    if (known) continue;
    contexts.touch(m.uid);
    e.system = m.flags.system;
    e.keywords = kw;
    std::string line = std::to_string(msn) + " FETCH (";
    if (options.uid_in_fetch) line += "UID " + std::to_string(m.uid) + " ";
    line += "FLAGS ";
    append_flag_list(line, msn);
    if (options.modseq_in_fetch) line += " MODSEQ (" + std::to_string(m.modseq) + ")";
    line += ")";
    fetches += untagged(line);
  }
  // A keyword the client has not seen in FLAGS comes before the FETCH that uses it.
  out += announce_new_keywords();
  out += fetches;
  if (exists() != before) {
    out += untagged(std::to_string(exists()) + " EXISTS");
    // RFC 3501 7.3.2: RECENT comes with the EXISTS that changed it (and only
    // then: new mail another session claimed leaves the count as it was).
    if (options.recent && recent_count() != told_recent_) {
      told_recent_ = recent_count();
      out += untagged(std::to_string(told_recent_) + " RECENT");
    }
  }
  if (new_highestmodseq > highestmodseq) highestmodseq = new_highestmodseq;
  if (new_uidnext > uidnext) uidnext = new_uidnext;
  return out;
}

}  // namespace postline::imap
