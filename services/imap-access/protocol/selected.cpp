#include "services/imap-access/protocol/selected.h"

#include "services/imap-access/protocol/encoder.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <algorithm>

namespace postline::imap {

void SelectedMailbox::load(const std::vector<MessageUpdate>& messages) {
  uids_.clear();
  flags_.clear();
  pending_expunge_.clear();
  for (const auto& m : messages) {
    uids_.push_back(m.uid);
    flags_.push_back(m.flags);
  }
}

uint32_t SelectedMailbox::msn_of(uint32_t uid) const {
  auto it = std::lower_bound(uids_.begin(), uids_.end(), uid);
  if (it == uids_.end() || *it != uid) return 0;
  return static_cast<uint32_t>(it - uids_.begin()) + 1;
}

void SelectedMailbox::set_flags(uint32_t uid, std::vector<std::string> flags) {
  if (uint32_t msn = msn_of(uid)) flags_[msn - 1] = std::move(flags);
}

uint32_t SelectedMailbox::remove(uint32_t uid) {
  uint32_t msn = msn_of(uid);
  if (msn) {
    uids_.erase(uids_.begin() + (msn - 1));
    flags_.erase(flags_.begin() + (msn - 1));
  }
  pending_expunge_.erase(uid);
  return msn;
}

std::string SelectedMailbox::flush_expunges(const Options& options) {
  std::string out;
  if (pending_expunge_.empty()) return out;
  if (options.qresync) {
    std::vector<uint32_t> v(pending_expunge_.begin(), pending_expunge_.end());
    for (uint32_t uid : v) remove(uid);
    out += untagged("VANISHED " + SequenceSet::format(v));
    return out;
  }
  // Highest first, so each number is still valid when the client applies it.
  std::vector<uint32_t> v(pending_expunge_.rbegin(), pending_expunge_.rend());
  for (uint32_t uid : v) {
    uint32_t msn = remove(uid);
    if (msn) out += untagged(std::to_string(msn) + " EXPUNGE");
  }
  return out;
}

std::string SelectedMailbox::apply(const std::vector<MessageUpdate>& changed, const std::vector<uint32_t>& expunged,
                                   int64_t new_highestmodseq, int64_t new_uidnext, const Options& options) {
  std::string out;
  for (uint32_t uid : expunged)
    if (msn_of(uid)) pending_expunge_.insert(uid);
  if (options.allow_expunge) out += flush_expunges(options);

  const uint32_t before = exists();
  const uint32_t known_max = max_uid();
  for (const auto& m : changed) {
    if (m.uid > known_max) {
      // New message: UIDs ascend in commit order, so appending keeps the view sorted.
      if (uids_.empty() || m.uid > uids_.back()) {
        uids_.push_back(m.uid);
        flags_.push_back(m.flags);
      }
      continue;
    }
    uint32_t msn = msn_of(m.uid);
    if (!msn || pending_expunge_.count(m.uid)) continue;
    if (flags_[msn - 1] == m.flags && !options.modseq_in_fetch) continue;
    flags_[msn - 1] = m.flags;
    std::string line = std::to_string(msn) + " FETCH (";
    if (options.uid_in_fetch) line += "UID " + std::to_string(m.uid) + " ";
    line += "FLAGS " + flag_list(m.flags);
    if (options.modseq_in_fetch) line += " MODSEQ (" + std::to_string(m.modseq) + ")";
    line += ")";
    out += untagged(line);
  }
  if (exists() != before) out += untagged(std::to_string(exists()) + " EXISTS");
  if (new_highestmodseq > highestmodseq) highestmodseq = new_highestmodseq;
  if (new_uidnext > uidnext) uidnext = new_uidnext;
  return out;
}

}  // namespace postline::imap
