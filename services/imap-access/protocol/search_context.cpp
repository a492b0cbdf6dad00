#include "services/imap-access/protocol/search_context.h"

#include "services/imap-access/protocol/encoder.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <algorithm>

namespace postline::imap {

namespace {

// Pairs of (position, run) for a SORT context: a run a:b stands for a, a+1, ...
// at consecutive positions (RFC 5267 3.2: ranges in sort results ascend).
struct PairWriter {
  std::string out;
  bool open = false;
  uint64_t pos = 0, first = 0, last = 0;
  bool consecutive_positions = true;  // ADDTO: p, p+1 ...; REMOVEFROM: p, p, ...

  void put(uint64_t p, uint64_t id) {
    const uint64_t next_pos = consecutive_positions ? pos + (last - first) + 1 : pos;
    if (open && p == next_pos && id == last + 1) {
      last = id;
      return;
    }
    close();
    pos = p;
    first = last = id;
    open = true;
  }
  void close() {
    if (!open) return;
    if (!out.empty()) out += ' ';
    out += std::to_string(pos) + ' ' + std::to_string(first);
    if (last > first) out += ':' + std::to_string(last);
    open = false;
  }
};

}  // namespace

bool SearchContext::contains(uint32_t u) const {
  if (!sorted) return std::binary_search(result.begin(), result.end(), u);
  return std::find(result.begin(), result.end(), u) != result.end();
}

std::string SearchContext::response(const char* item, const std::string& pairs) const {
  std::string line = "ESEARCH (TAG " + quoted_or_literal(tag) + ")";
  if (uid) line += " UID";
  line += std::string(" ") + item + " (" + pairs + ")";
  return untagged(line);
}

std::string SearchContext::remove(const std::set<uint32_t>& gone, const MsnOf& msn_of) {
  if (gone.empty() || result.empty()) return {};
  std::vector<uint32_t> kept, removed_ids;
  kept.reserve(result.size());
  PairWriter pairs;
  pairs.consecutive_positions = false;  // after one is removed the next takes its place
  for (size_t i = 0; i < result.size(); ++i) {
    const uint32_t u = result[i];
    if (!gone.count(u)) {
      kept.push_back(u);
      continue;
    }
    const uint32_t id = uid ? u : msn_of(u);
    if (sorted) pairs.put(kept.size() + 1, id);  // its position once those before it are gone
    else removed_ids.push_back(id);
  }
  if (kept.size() == result.size()) return {};
  result = std::move(kept);
  if (!sorted) {
    // SEARCH results are in mailbox order, which says where each one was:
    // position 0 (the client needs none), as for ADDTO.
    std::sort(removed_ids.begin(), removed_ids.end());
    return response("REMOVEFROM", "0 " + SequenceSet::format(removed_ids));
  }
  pairs.close();
  return response("REMOVEFROM", pairs.out);
}

std::string SearchContext::add(const std::set<uint32_t>& added, const std::vector<uint32_t>& order,
                               const MsnOf& msn_of) {
  if (added.empty()) return {};
  if (!sorted) {
    std::vector<uint32_t> ids;
    for (uint32_t u : added) ids.push_back(uid ? u : msn_of(u));
    std::sort(ids.begin(), ids.end());
    std::vector<uint32_t> merged;
    std::merge(result.begin(), result.end(), added.begin(), added.end(), std::back_inserter(merged));
    result = std::move(merged);
    return response("ADDTO", "0 " + SequenceSet::format(ids));
  }
  // The store ordered the result and the new messages together; the
  // members already there keep their relative order (sort keys do not
  // change with flags), so only the new ones move in.
  std::vector<uint32_t> merged;
  merged.reserve(result.size() + added.size());
  const std::set<uint32_t> in_order(order.begin(), order.end());
  size_t i = 0;
  for (uint32_t u : order) {
    if (added.count(u)) {
      merged.push_back(u);
      continue;
    }
    // Members the store no longer has (expunged, not yet told) stay where they were.
    while (i < result.size() && result[i] != u) {
      if (!in_order.count(result[i])) merged.push_back(result[i]);
      ++i;
    }
    if (i < result.size()) merged.push_back(result[i++]);
  }
  for (; i < result.size(); ++i)
    if (!in_order.count(result[i])) merged.push_back(result[i]);
  // Defensive: anything the merge lost goes at the end rather than vanish silently.
  if (merged.size() != result.size() + added.size()) {
    std::set<uint32_t> have(merged.begin(), merged.end());
    for (uint32_t u : result)
      if (!have.count(u)) merged.push_back(u);
    for (uint32_t u : added)
      if (!have.count(u)) merged.push_back(u);
  }
  PairWriter pairs;
  for (size_t j = 0; j < merged.size(); ++j)
    if (added.count(merged[j])) pairs.put(j + 1, uid ? merged[j] : msn_of(merged[j]));
  pairs.close();
  result = std::move(merged);
  return response("ADDTO", pairs.out);
}

SearchContext* SearchContexts::find(const std::string& tag) {
  for (auto& c : contexts_)
    if (c.tag == tag) return &c;
  return nullptr;
}

bool SearchContexts::cancel(const std::string& tag) {
  auto it = std::find_if(contexts_.begin(), contexts_.end(), [&](const SearchContext& c) { return c.tag == tag; });
  if (it == contexts_.end()) return false;
  contexts_.erase(it);
  return true;
}

void SearchContexts::touch(uint32_t uid) {
  for (auto& c : contexts_) c.dirty.insert(uid);
}

bool SearchContexts::has_dirty() const {
  for (const auto& c : contexts_)
    if (!c.dirty.empty()) return true;
  return false;
}

std::string SearchContexts::expunge(const std::vector<uint32_t>& uids, const SearchContext::MsnOf& msn_of) {
  if (contexts_.empty() || uids.empty()) return {};
  const std::set<uint32_t> gone(uids.begin(), uids.end());
  std::string out;
  for (auto& c : contexts_) {
    out += c.remove(gone, msn_of);
    for (uint32_t u : uids) c.dirty.erase(u);
  }
  return out;
}

}  // namespace postline::imap
