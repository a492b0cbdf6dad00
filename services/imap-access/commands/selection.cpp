#include "services/imap-access/commands/selection.h"

#include <algorithm>

namespace postline::imap {

std::optional<std::string> check_message_numbers(const SelectedMailbox& sel, const SequenceSet& set, bool by_uid) {
  // "$" is checked nowhere: what it holds was valid when it was saved.
  if (by_uid || sel.exists() == 0) return std::nullopt;
  for (auto [lo, hi] : set.resolve(sel.exists()))
    if (lo == 0 || hi > sel.exists()) return "Invalid message sequence number";
  return std::nullopt;
}

std::optional<std::string> select_messages(const SelectedMailbox& sel, const SequenceSet& set, bool by_uid,
                                           std::vector<Selected>& out) {
  out.clear();
  if (by_uid) {
    // "n:*" with n above every UID still means the highest UID (RFC 9051 6.4.8).
    for (auto [lo, hi] : set.resolve(sel.max_uid())) {
      for (uint32_t msn = sel.first_msn_at_or_after(lo); msn <= sel.exists() && sel.uid_at(msn) <= hi; ++msn)
        out.push_back({msn, sel.uid_at(msn)});
    }
  } else {
    if (sel.exists() == 0) return std::nullopt;  // "1:*" on an empty mailbox selects nothing
    for (auto [lo, hi] : set.resolve(sel.exists())) {
      if (lo == 0 || hi > sel.exists()) return "Invalid message sequence number";
      for (uint32_t msn = lo; msn <= hi; ++msn) out.push_back({msn, sel.uid_at(msn)});
    }
  }
  // "$" (RFC 5182): the saved result's messages that are still here, by UID
  // whatever the command's form (UID or not).
  if (set.saved())
    for (uint32_t uid : sel.saved_uids)
      if (uint32_t msn = sel.msn_of(uid)) out.push_back({msn, uid});
  std::sort(out.begin(), out.end(), [](const Selected& a, const Selected& b) { return a.msn < b.msn; });
  out.erase(std::unique(out.begin(), out.end(), [](const Selected& a, const Selected& b) { return a.msn == b.msn; }),
            out.end());
  return std::nullopt;
}

}  // namespace postline::imap
