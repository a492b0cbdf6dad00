// RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT: SEARCH / SORT RETURN (UPDATE)
// keeps the result live while the mailbox stays selected, CANCELUPDATE ends
// that. The contexts themselves (criteria, result, what changed) live in the
// selected view (protocol/search_context.h); this file starts them, answers
// PARTIAL and re-evaluates them when messages change.
//
// Re-evaluation (docs/imap.md, "CONTEXT=SEARCH and CONTEXT=SORT"): a context
// looks again only at the messages whose flags changed or that are new to the
// view since it was last brought up to date. Criteria the view can answer
// (flags, keywords, UIDs, MODSEQ) are evaluated in memory, without the store;
// anything else is one store search of the criteria restricted to those UIDs
// (as UID ranges; beyond kMaxIncrementalRanges ranges the whole mailbox is
// searched again, which costs the same as the client repeating its command).
// A SORT context that gains messages asks the store to order the old result
// and the new members together (sort keys never change with flags, so the
// members already there keep their order) and sends each newcomer's position.
// Expunged messages leave every result when the view drops them, with their
// REMOVEFROM just before the EXPUNGE responses.
#include "services/imap-access/commands/registry.h"

#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/search_keys.h"

#include <algorithm>
#include <set>

namespace postline::imap {

namespace {

using Criterion = mailstore::SearchCriterion;

// Above this many UID ranges of changed messages, the whole search runs again.
constexpr size_t kMaxIncrementalRanges = 1000;

std::vector<std::pair<uint32_t, uint32_t>> to_ranges(const std::vector<uint32_t>& ascending) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (uint32_t u : ascending) {
    if (!out.empty() && out.back().second + 1 == u) out.back().second = u;
    else out.emplace_back(u, u);
  }
  return out;
}

Criterion uids_criterion(std::vector<std::pair<uint32_t, uint32_t>> ranges) {
  Criterion c;
  c.kind = ranges.empty() ? Criterion::kNone : Criterion::kUids;
  c.uid_ranges = std::move(ranges);
  return c;
}

Criterion both(Criterion a, Criterion b) {
  Criterion c;
  c.kind = Criterion::kAnd;
  c.children.push_back(std::move(a));
  c.children.push_back(std::move(b));
  return c;
}

}  // namespace

std::string partial_item(const PartialRange& range, const std::vector<uint32_t>& results, bool sorted) {
  // RFC 5267 4.4: positions in the result (mailbox order for SEARCH, sort
  // order for SORT); NIL when none of them exists.
  auto [begin, end] = partial_span(range, results.size());
  std::string out = " PARTIAL (" + format_partial_range(range) + " ";
  if (begin == end) return out + "NIL)";
  std::vector<uint32_t> part(results.begin() + begin, results.begin() + end);
  if (!sorted) return out + SequenceSet::format(part) + ")";
  // Sort order: ascending runs only (RFC 5267 3.2).
  std::string set;
  for (size_t i = 0; i < part.size();) {
    size_t j = i;
    while (j + 1 < part.size() && part[j + 1] == part[j] + 1) ++j;
    if (!set.empty()) set += ',';
    set += std::to_string(part[i]);
    if (j > i) set += ':' + std::to_string(part[j]);
    i = j + 1;
  }
  return out + set + ")";
}

void start_update_context(Context& ctx, const std::vector<uint32_t>& results, Criterion criteria,
                          const std::vector<mailstore::SortCriterion>* keys) {
  auto& sel = *ctx.session.selected;
  if (sel.contexts.size() >= kMaxUpdateContexts) {
    // RFC 5267 4.3.1: the command still answers; only the updates are refused.
    ctx.send(untagged("NO [NOUPDATE " + quoted_or_literal(ctx.tag) + "] Too many UPDATE contexts (at most " +
                      std::to_string(kMaxUpdateContexts) + "), no updates for this one"));
    return;
  }
  SearchContext c;
  c.tag = ctx.tag;
  c.uid = ctx.uid;
  c.sorted = keys != nullptr;
  if (keys) c.keys = *keys;
  c.criteria = std::move(criteria);
  c.result.reserve(results.size());
  for (uint32_t n : results) c.result.push_back(ctx.uid ? n : sel.uid_at(n));
  if (!c.sorted) std::sort(c.result.begin(), c.result.end());
  sel.contexts.add(std::move(c));
}

asio::awaitable<Result> cmd_cancelupdate(Context& ctx) {
  const CancelUpdateArgs args = parse_cancelupdate_args(ctx.args);
  auto& sel = *ctx.session.selected;
  // All or nothing: an unknown tag cancels none of them.
  for (const auto& tag : args.tags)
    if (!sel.contexts.find(tag)) co_return Result::no("No UPDATE context with tag " + quoted_or_literal(tag));
  for (const auto& tag : args.tags) sel.contexts.cancel(tag);
  co_return Result::ok("CANCELUPDATE completed");
}

asio::awaitable<void> update_contexts(Context& ctx) {
  if (!ctx.session.selected) co_return;
  // Tags, not references: the store calls below suspend, and a context is
  // looked up again after each (nothing else runs this session meanwhile, but
  // the vector may not be assumed stable across code that could add to it).
  std::vector<std::string> tags;
  for (const auto& c : ctx.session.selected->contexts.all())
    if (!c.dirty.empty()) tags.push_back(c.tag);
  const int64_t user_id = ctx.session.user_id;
  for (const auto& tag : tags) {
    if (!ctx.session.selected) co_return;
    auto& sel = *ctx.session.selected;
    SearchContext* c = sel.contexts.find(tag);
    if (!c) continue;
    std::vector<uint32_t> changed;
    for (uint32_t u : c->dirty)
      if (sel.msn_of(u)) changed.push_back(u);  // not yet told, or gone: nothing to say
    c->dirty.clear();
    if (changed.empty()) continue;

    std::set<uint32_t> matched;
    if (view_only(c->criteria)) {
      for (uint32_t u : changed)
        if (matches(c->criteria, sel, sel.msn_of(u))) matched.insert(u);
    } else {
      auto ranges = to_ranges(changed);
      Criterion restrict = uids_criterion(ranges.size() <= kMaxIncrementalRanges
                                              ? std::move(ranges)
                                              : std::vector<std::pair<uint32_t, uint32_t>>{{1, sel.max_uid()}});
      const int64_t mailbox_id = sel.mailbox_id;
      auto query = [=, criteria = both(std::move(restrict), c->criteria)](mailstore::MailStore& st) {
        return st.search(user_id, mailbox_id, criteria);
      };
      auto hits = co_await ctx.store(std::move(query));
      if (!ctx.session.selected || !(c = ctx.session.selected->contexts.find(tag))) co_return;
      const std::set<uint32_t> wanted(changed.begin(), changed.end());
      for (const auto& h : hits)
        if (wanted.count(h.uid)) matched.insert(h.uid);
    }
    auto& view = *ctx.session.selected;
    const SearchContext::MsnOf msn_of = [&view](uint32_t uid) { return view.msn_of(uid); };
    std::set<uint32_t> removed, added;
    for (uint32_t u : changed) {
      const bool in = c->contains(u);
      if (in && !matched.count(u)) removed.insert(u);
      if (!in && matched.count(u)) added.insert(u);
    }
    std::string out = c->remove(removed, msn_of);
    std::vector<uint32_t> order;
    if (c->sorted && !added.empty()) {
      std::vector<uint32_t> members = c->result;
      members.insert(members.end(), added.begin(), added.end());
      std::sort(members.begin(), members.end());
      const int64_t mailbox_id = view.mailbox_id;
      auto query = [=, criteria = uids_criterion(to_ranges(members)), keys = c->keys](mailstore::MailStore& st) {
        return st.sort(user_id, mailbox_id, criteria, keys);
      };
      order = co_await ctx.store(std::move(query));
      if (!ctx.session.selected || !(c = ctx.session.selected->contexts.find(tag))) co_return;
      // Another context's removals ran meanwhile? No: this session does one thing at a time.
    }
    out += c->add(added, order, msn_of);
    if (!out.empty()) ctx.send(std::move(out));
  }
}

}  // namespace postline::imap
