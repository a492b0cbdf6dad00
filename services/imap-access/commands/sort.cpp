// SORT and UID SORT (RFC 5256 3, SORT=DISPLAY RFC 5957, ESORT RFC 5267 3,
// CONTEXT=SORT RFC 5267 4: search_context.cpp),
// THREAD and UID THREAD (RFC 5256 3: ORDEREDSUBJECT, REFERENCES). The store
// orders and threads from sort keys it computed when each body was stored
// (mail_store.h sort/thread), never by reading messages here. Sequence
// numbers exist only in this session: the criteria get them as UID ranges
// (store_criterion, as SEARCH does), and the answer maps UIDs back.
#include "services/imap-access/commands/registry.h"

#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/search_keys.h"

#include <algorithm>
#include <string_view>

namespace postline::imap {

namespace {

using Criterion = mailstore::SearchCriterion;

bool supported_charset(const std::string& charset) { return charset == "US-ASCII" || charset == "UTF-8"; }

// Only messages this session was told about: a message delivered since its
// last EXISTS has no sequence number yet (and comes after max_uid).
Criterion known_only(Criterion c, const SelectedMailbox& sel) {
  Criterion known;
  known.kind = Criterion::kUids;
  known.uid_ranges.emplace_back(1, sel.max_uid());
  Criterion both;
  both.kind = Criterion::kAnd;
  both.children.push_back(std::move(known));
  both.children.push_back(std::move(c));
  return both;
}

// ESORT's ALL (RFC 5267 4.2): the numbers in sort order, as a sequence-set
// whose ranges are only ascending runs (3:5 is 3,4,5 in that order).
std::string ordered_set(const std::vector<uint32_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(ids[i]);
    if (j > i) out += ':' + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

struct ThreadRenderer {
  const SelectedMailbox& sel;
  bool uid;

  uint32_t id(const mailstore::ThreadNode& n) const {
    if (n.uid == 0) return 0;
    return uid ? (sel.msn_of(n.uid) ? n.uid : 0) : sel.msn_of(n.uid);
  }
  // thread-list (RFC 5256 4): "(" members [nested] ")", where a chain of
  // single children is a run of numbers and two or more children are each a
  // thread-list of their own; a dummy (or a message this session cannot
  // name) contributes no number, only its children.
  void list(const mailstore::ThreadNode& node, std::string& out) const {
    const size_t start = out.size();
    out += '(';
    const mailstore::ThreadNode* n = &node;
    bool any = false;
    for (;;) {
      if (uint32_t i = id(*n)) {
        if (any) out += ' ';
        out += std::to_string(i);
        any = true;
      }
      if (n->children.size() == 1) {
        n = &n->children.front();
        continue;
      }
      if (n->children.empty()) break;
      const size_t before = out.size();
      if (any) out += ' ';
      const size_t lists = out.size();
      for (const auto& c : n->children) list(c, out);
      if (out.size() == lists) out.resize(before);  // no child could be named: no stray space
      any = any || out.size() > before;
      break;
    }
    if (!any) {
      out.resize(start);  // nothing this session can name: no "()"
      return;
    }
    out += ')';
  }
};

}  // namespace

asio::awaitable<Result> cmd_sort(Context& ctx) {
  auto& sel = *ctx.session.selected;
  SortArgs a;
  const std::string_view args_text = ctx.args.rest();
  try {
    a = parse_sort_args(ctx.args, ctx.uid);
  } catch (const SyntaxError&) {
    if (asks_to_save(args_text)) sel.saved_uids.clear();
    throw;
  }
  if (!supported_charset(a.charset)) {
    if (a.ret_save) sel.saved_uids.clear();
    co_return Result::no("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)");
  }
  // RFC 5267 4.3: the tag names the context in every update, so it must be unique.
  if (a.ctx.update && sel.contexts.find(ctx.tag))
    co_return Result::bad("An UPDATE context with this tag is active (CANCELUPDATE it first)");
  const bool modseq = uses_modseq(a.key);
  if (modseq) enable_condstore(ctx);
  std::optional<Criterion> context_criteria;
  if (a.ctx.update) context_criteria = store_criterion(a.key, sel);
  std::vector<uint32_t> results;
  int64_t max_modseq = 0;
  if (sel.exists() > 0) {
    const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
    auto query = [=, criteria = known_only(store_criterion(a.key, sel), sel),
                  keys = a.criteria](mailstore::MailStore& st) { return st.sort(user_id, mailbox_id, criteria, keys); };
    auto uids = co_await ctx.store(std::move(query));
    results.reserve(uids.size());
    for (uint32_t uid : uids) {
      const uint32_t msn = sel.msn_of(uid);
      if (!msn) continue;  // expunged by another session and already gone from the store
      results.push_back(ctx.uid ? uid : msn);
      max_modseq = std::max(max_modseq, sel.modseq_at(msn));
    }
  }
  if (a.ret_save) {
    // SEARCHRES (RFC 5182 2.4): with MIN and/or MAX but neither ALL nor COUNT
    // only those (here: the first and the last in sort order) are saved,
    // otherwise the whole result; "$" is a set, so the order goes.
    std::vector<uint32_t> keep;
    if (a.ctx.partial) {
      // PARTIAL (RFC 9394 3.1): what was asked for is what is saved.
      auto [begin, end] = partial_span(*a.ctx.partial, results.size());
      keep.assign(results.begin() + begin, results.begin() + end);
    } else if ((a.ret_min || a.ret_max) && !a.ret_all && !a.ret_count) {
      if (!results.empty()) {
        if (a.ret_min) keep.push_back(results.front());
        if (a.ret_max && (keep.empty() || results.back() != keep.front())) keep.push_back(results.back());
      }
    } else {
      keep = results;
    }
    sel.saved_uids.clear();
    for (uint32_t n : keep) sel.saved_uids.push_back(ctx.uid ? n : sel.uid_at(n));
    std::sort(sel.saved_uids.begin(), sel.saved_uids.end());
    if (!a.ret_min && !a.ret_max && !a.ret_count && !a.ret_all && !a.ctx.partial) {
      if (context_criteria) start_update_context(ctx, results, std::move(*context_criteria), &a.criteria);
      co_return Result::ok(ctx.uid ? "UID SORT completed" : "SORT completed");  // SAVE alone: nothing is sent
    }
  }
  if (context_criteria) start_update_context(ctx, results, std::move(*context_criteria), &a.criteria);
  if (a.esort) {
    // RFC 5267 4.2: MIN and MAX are the first and the last in sort order.
    std::string line = "ESEARCH (TAG " + quoted_or_literal(ctx.tag) + ")";
    if (ctx.uid) line += " UID";
    if (!results.empty()) {
      if (a.ret_min) line += " MIN " + std::to_string(results.front());
      if (a.ret_max) line += " MAX " + std::to_string(results.back());
      if (a.ret_all) line += " ALL " + ordered_set(results);
    }
    if (a.ctx.partial) line += partial_item(*a.ctx.partial, results, true);
    if (a.ret_count) line += " COUNT " + std::to_string(results.size());
    if (modseq && !results.empty()) line += " MODSEQ " + std::to_string(max_modseq);
    ctx.send(untagged(line));
  } else {
    std::string line = "SORT";
    for (uint32_t n : results) line += " " + std::to_string(n);
    // RFC 7162 3.1.5: SORT with MODSEQ reports the highest mod-sequence too.
    if (modseq && !results.empty()) line += " (MODSEQ " + std::to_string(max_modseq) + ")";
    ctx.send(untagged(line));
  }
  co_return Result::ok(ctx.uid ? "UID SORT completed" : "SORT completed");
}

asio::awaitable<Result> cmd_thread(Context& ctx) {
  ThreadArgs a = parse_thread_args(ctx.args, ctx.uid);
  if (!supported_charset(a.charset)) co_return Result::no("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)");
  auto& sel = *ctx.session.selected;
  if (uses_modseq(a.key)) enable_condstore(ctx);
  std::string line = "THREAD";
  if (sel.exists() > 0) {
    const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
    auto query = [=, criteria = known_only(store_criterion(a.key, sel), sel),
                  algorithm = a.algorithm](mailstore::MailStore& st) {
      return st.thread(user_id, mailbox_id, criteria, algorithm);
    };
    auto threads = co_await ctx.store(std::move(query));
    ThreadRenderer render{sel, ctx.uid};
    std::string lists;
    for (const auto& t : threads) render.list(t, lists);
    if (!lists.empty()) line += " " + lists;
  }
  ctx.send(untagged(line));
  co_return Result::ok(ctx.uid ? "UID THREAD completed" : "THREAD completed");
}

}  // namespace postline::imap
