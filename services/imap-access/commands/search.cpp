// SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH results (RFC 4731),
// MODSEQ (RFC 7162) and CONTEXT=SEARCH's PARTIAL and UPDATE (RFC 5267 4,
// search_context.cpp). Sequence numbers exist only in this session, so they are
// turned into UID ranges here; the store evaluates the rest (text keys on its
// search index, never by reading bodies). Criteria that only look at flags,
// UIDs and MODSEQ are answered from the session's view without the store,
// which is what clients ask most (UNSEEN, DELETED, UID ranges).
#include "services/imap-access/commands/registry.h"

#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/search_keys.h"

#include <algorithm>

namespace postline::imap {

namespace {

using Criterion = mailstore::SearchCriterion;

// Message numbers (or UIDs) of a set as inclusive UID ranges of the view.
std::vector<std::pair<uint32_t, uint32_t>> uid_ranges(const SelectedMailbox& sel, const SequenceSet& set, bool uid) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  // "$" (RFC 5182): the saved UIDs, whether the key was a sequence set or UID.
  if (set.saved())
    for (uint32_t u : sel.saved_uids) out.emplace_back(u, u);
  if (uid) {
    for (auto [lo, hi] : set.resolve(sel.max_uid() ? sel.max_uid() : 1)) out.emplace_back(lo, hi);
    return out;
  }
  for (auto [lo, hi] : set.resolve(sel.exists())) {
    if (sel.exists() == 0 || lo > sel.exists()) continue;
    hi = std::min(hi, sel.exists());
    if (lo == 0) lo = 1;
    out.emplace_back(sel.uid_at(lo), sel.uid_at(hi));
  }
  return out;
}

}  // namespace

Criterion store_criterion(const SearchKey& k, const SelectedMailbox& sel) {
  Criterion c;
  c.number = k.number;
  c.text = k.text;
  c.field = k.field;
  for (const auto& child : k.children) c.children.push_back(store_criterion(child, sel));
  switch (k.kind) {
    case SearchKey::kAll: c.kind = Criterion::kAll; break;
    case SearchKey::kNone: c.kind = Criterion::kNone; break;
    case SearchKey::kAnd: c.kind = Criterion::kAnd; break;
    case SearchKey::kOr: c.kind = Criterion::kOr; break;
    case SearchKey::kNot: c.kind = Criterion::kNot; break;
    case SearchKey::kFlag:
    case SearchKey::kKeyword:
      if (!k.text.empty() && k.text[0] == '\\') {
        // A system flag (KEYWORD \Seen is read the same way); \Recent is never stored.
        const uint8_t bit = mailstore::system_flag_bit(k.text);
        c.kind = bit ? Criterion::kSystemFlag : Criterion::kNone;
        c.number = bit;
      } else {
        c.kind = Criterion::kKeyword;
      }
      break;
    case SearchKey::kBefore: c.kind = Criterion::kBefore; break;
    case SearchKey::kOn: c.kind = Criterion::kOn; break;
    case SearchKey::kSince: c.kind = Criterion::kSince; break;
    case SearchKey::kSentBefore: c.kind = Criterion::kSentBefore; break;
    case SearchKey::kSentOn: c.kind = Criterion::kSentOn; break;
    case SearchKey::kSentSince: c.kind = Criterion::kSentSince; break;
    case SearchKey::kSavedBefore: c.kind = Criterion::kSavedBefore; break;
    case SearchKey::kSavedOn: c.kind = Criterion::kSavedOn; break;
    case SearchKey::kSavedSince: c.kind = Criterion::kSavedSince; break;
    case SearchKey::kOlder: c.kind = Criterion::kOlder; break;
    case SearchKey::kYounger: c.kind = Criterion::kYounger; break;
    case SearchKey::kLarger: c.kind = Criterion::kLarger; break;
    case SearchKey::kSmaller: c.kind = Criterion::kSmaller; break;
    case SearchKey::kHeader: c.kind = Criterion::kHeader; break;
    case SearchKey::kBody: c.kind = Criterion::kBody; break;
    case SearchKey::kText: c.kind = Criterion::kText; break;
    case SearchKey::kModseq: c.kind = Criterion::kModseq; break;
    case SearchKey::kEmailId: c.kind = Criterion::kEmailId; break;
    case SearchKey::kThreadId: c.kind = Criterion::kThreadId; break;
    case SearchKey::kRecent:
      // The session's \Recent UIDs, as UID ranges: the store has no per-session state.
      for (auto [from, to] : sel.recent_ranges()) c.uid_ranges.emplace_back(from, to - 1);
      c.kind = c.uid_ranges.empty() ? Criterion::kNone : Criterion::kUids;
      break;
    case SearchKey::kUidSet:
    case SearchKey::kSeqSet:
      c.kind = Criterion::kUids;
      c.uid_ranges = uid_ranges(sel, *k.set, k.kind == SearchKey::kUidSet);
      break;
  }
  return c;
}

// True when the view alone can answer (flags, keywords, UIDs, MODSEQ).
bool view_only(const Criterion& c) {
  switch (c.kind) {
    case Criterion::kAll: case Criterion::kNone: case Criterion::kSystemFlag: case Criterion::kKeyword:
    case Criterion::kUids: case Criterion::kModseq:
      break;
    case Criterion::kAnd: case Criterion::kOr: case Criterion::kNot:
      for (const auto& child : c.children)
        if (!view_only(child)) return false;
      break;
    default: return false;
  }
  return true;
}

bool matches(const Criterion& c, const SelectedMailbox& sel, uint32_t msn) {
  switch (c.kind) {
    case Criterion::kAll: return true;
    case Criterion::kNone: return false;
    case Criterion::kAnd:
      for (const auto& child : c.children)
        if (!matches(child, sel, msn)) return false;
      return true;
    case Criterion::kOr:
      for (const auto& child : c.children)
        if (matches(child, sel, msn)) return true;
      return false;
    case Criterion::kNot: return !matches(c.children.at(0), sel, msn);
    case Criterion::kSystemFlag: return sel.system_flags_at(msn) & c.number;
    case Criterion::kKeyword: {
      const auto& k = sel.keywords_at(msn);
      return std::binary_search(k.begin(), k.end(), c.text);
    }
    case Criterion::kUids: {
      const uint32_t uid = sel.uid_at(msn);
      for (auto [lo, hi] : c.uid_ranges)
        if (uid >= lo && uid <= hi) return true;
      return false;
    }
    case Criterion::kModseq: return sel.modseq_at(msn) >= c.number;
    default: return false;
  }
}

bool uses_modseq(const SearchKey& k) {
  if (k.kind == SearchKey::kModseq) return true;
  for (const auto& c : k.children)
    if (uses_modseq(c)) return true;
  return false;
}

// RFC 5182 2.1: a SEARCH that asked to SAVE and failed leaves "$" empty. A
// command that does not parse never got as far as knowing its options, so
// this looks for SAVE in its RETURN list.
bool asks_to_save(std::string_view args) {
  const std::string text = to_upper(args.substr(0, std::min<size_t>(args.size(), 200)));
  const size_t ret = text.find("RETURN (");
  if (ret == std::string::npos || ret > 1) return false;
  const size_t close = text.find(')', ret);
  return text.substr(ret, close == std::string::npos ? std::string::npos : close - ret).find("SAVE") !=
         std::string::npos;
}

asio::awaitable<Result> cmd_search(Context& ctx) {
  auto& sel = *ctx.session.selected;
  SearchRequest req;
  const std::string_view args_text = ctx.args.rest();
  try {
    req = parse_search_args(ctx.args, ctx.uid).request;
  } catch (const SyntaxError&) {
    if (asks_to_save(args_text)) sel.saved_uids.clear();
    throw;
  }
  if (req.charset != "US-ASCII" && req.charset != "UTF-8") {
    if (req.ret_save) sel.saved_uids.clear();
    co_return Result::no("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)");
  }
  // RFC 5267 4.3: the tag names the context in every update, so it must be unique.
  if (req.ctx.update && sel.contexts.find(ctx.tag))
    co_return Result::bad("An UPDATE context with this tag is active (CANCELUPDATE it first)");
  const bool modseq = uses_modseq(req.key);
  if (modseq) enable_condstore(ctx);
  Criterion criteria = store_criterion(req.key, sel);
  std::optional<Criterion> context_criteria;
  if (req.ctx.update) context_criteria = criteria;

  // (msn or uid, modseq) of the matches, ascending.
  std::vector<uint32_t> results;
  int64_t max_modseq = 0;
  if (view_only(criteria)) {
    for (uint32_t msn = 1; msn <= sel.exists(); ++msn) {
      if (!matches(criteria, sel, msn)) continue;
      results.push_back(ctx.uid ? sel.uid_at(msn) : msn);
      max_modseq = std::max(max_modseq, sel.modseq_at(msn));
    }
  } else {
    const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
    auto query = [=, criteria = std::move(criteria)](mailstore::MailStore& st) {
      return st.search(user_id, mailbox_id, criteria);
    };
    auto hits = co_await ctx.store(std::move(query));
    for (const auto& h : hits) {
      uint32_t msn = sel.msn_of(h.uid);
      if (!msn) continue;  // not yet announced to this session
      results.push_back(ctx.uid ? h.uid : msn);
      max_modseq = std::max(max_modseq, h.modseq);
    }
    std::sort(results.begin(), results.end());
  }
  if (req.ret_save) {
    // RFC 5182 2.4: with MIN and/or MAX but neither ALL nor COUNT only those
    // are saved; otherwise the whole result.
    std::vector<uint32_t> keep;
    if (req.ctx.partial) {
      // PARTIAL (RFC 9394 3.1): what was asked for is what is saved.
      auto [begin, end] = partial_span(*req.ctx.partial, results.size());
      keep.assign(results.begin() + begin, results.begin() + end);
    } else if ((req.ret_min || req.ret_max) && !req.ret_all && !req.ret_count) {
      if (!results.empty()) {
        if (req.ret_min) keep.push_back(results.front());
        if (req.ret_max && (keep.empty() || results.back() != keep.front())) keep.push_back(results.back());
      }
    } else {
      keep = results;
    }
    sel.saved_uids.clear();
    for (uint32_t n : keep) sel.saved_uids.push_back(ctx.uid ? n : sel.uid_at(n));
    std::sort(sel.saved_uids.begin(), sel.saved_uids.end());
    // SAVE alone: the result is kept, nothing is sent (RFC 5182 2.1).
    if (!req.ret_min && !req.ret_max && !req.ret_count && !req.ret_all && !req.ctx.partial) {
      if (context_criteria) start_update_context(ctx, results, std::move(*context_criteria), nullptr);
      co_return Result::ok(ctx.uid ? "UID SEARCH completed" : "SEARCH completed");
    }
  }
  if (context_criteria) start_update_context(ctx, results, std::move(*context_criteria), nullptr);
  if (ctx.session.rev2 && !req.esearch) {
    // IMAP4rev2 has no SEARCH response: ESEARCH with ALL (RFC 9051 6.4.4).
    req.esearch = true;
    req.ret_all = true;
  }
  if (req.esearch) {
    std::string line = "ESEARCH (TAG " + quoted_or_literal(ctx.tag) + ")";
    if (ctx.uid) line += " UID";
    if (!results.empty()) {
      if (req.ret_min) line += " MIN " + std::to_string(results.front());
      if (req.ret_max) line += " MAX " + std::to_string(results.back());
      if (req.ret_all) line += " ALL " + SequenceSet::format(results);
    }
    if (req.ctx.partial) line += partial_item(*req.ctx.partial, results, false);
    if (req.ret_count) line += " COUNT " + std::to_string(results.size());
    if (modseq && !results.empty()) line += " MODSEQ " + std::to_string(max_modseq);
    ctx.send(untagged(line));
  } else {
    std::string line = "SEARCH";
    for (uint32_t n : results) line += " " + std::to_string(n);
    if (modseq && !results.empty()) line += " (MODSEQ " + std::to_string(max_modseq) + ")";
    ctx.send(untagged(line));
  }
  co_return Result::ok(ctx.uid ? "UID SEARCH completed" : "SEARCH completed");
}

}  // namespace postline::imap
