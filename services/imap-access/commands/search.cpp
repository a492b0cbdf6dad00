// SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH results (RFC 4731) and
// MODSEQ (RFC 7162). The criteria tree is compiled to one parameterised SQL
// query: flags, dates and sizes are columns; text keys use the stored,
// case-folded search text with its pg_trgm index (LIKE / regex), never the
// message bodies.
#include "services/imap-access/commands/registry.h"

#include "common/mime/mime.h"
#include "services/imap-access/protocol/search_keys.h"

#include <pqxx/pqxx>

namespace postline::imap {

namespace {

struct Compiler {
  const SelectedMailbox& sel;
  std::vector<std::string> params;  // $3.. (user_id, mailbox_id are $1, $2)

  std::string param(std::string v) {
    params.push_back(std::move(v));
    return "$" + std::to_string(params.size() + 2);
  }

  static std::string like_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '%' || c == '_' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }
  static std::string regex_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      unsigned char u = c;
      if (!((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80 || c == ' '))
        out += '\\';
      out += c;
    }
    return out;
  }
  // Search text is folded with whitespace collapsed; fold the key the same way.
  static std::string fold(const std::string& s) {
    std::string f = mime::fold_case(s), out;
    bool space = false;
    for (char c : f) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        space = true;
        continue;
      }
      if (space && !out.empty()) out += ' ';
      space = false;
      out += c;
    }
    return out;
  }

  std::string set_sql(const SequenceSet& set, bool uid) {
    std::string out = "(FALSE";
    if (uid) {
      for (auto [lo, hi] : set.resolve(sel.max_uid() ? sel.max_uid() : 1))
        out += " OR uid BETWEEN " + std::to_string(lo) + " AND " + std::to_string(hi);
    } else {
      // Message numbers exist only in this session: turn them into UIDs.
      for (auto [lo, hi] : set.resolve(sel.exists())) {
        if (sel.exists() == 0 || lo > sel.exists()) continue;
        hi = std::min(hi, sel.exists());
        if (lo == 0) lo = 1;
        out += " OR uid BETWEEN " + std::to_string(sel.uid_at(lo)) + " AND " + std::to_string(sel.uid_at(hi));
      }
    }
    return out + ")";
  }

  std::string date_cmp(const char* column, const char* op, int64_t days) {
    return std::string("(") + column + " " + op + " DATE '1970-01-01' + " + param(std::to_string(days)) + "::integer)";
  }

  std::string compile(const SearchKey& k) {
    switch (k.kind) {
      case SearchKey::kAll: return "TRUE";
      case SearchKey::kNone: return "FALSE";
      case SearchKey::kAnd: {
        std::string out = "(TRUE";
        for (const auto& c : k.children) out += " AND " + compile(c);
        return out + ")";
      }
      case SearchKey::kOr: return "(" + compile(k.children[0]) + " OR " + compile(k.children[1]) + ")";
      case SearchKey::kNot: return "(NOT " + compile(k.children[0]) + ")";
      case SearchKey::kFlag:
      case SearchKey::kKeyword: return "(" + param(k.text) + " = ANY(flags))";
      case SearchKey::kBefore: return date_cmp("(internaldate AT TIME ZONE 'UTC')::date", "<", k.number);
      case SearchKey::kOn: return date_cmp("(internaldate AT TIME ZONE 'UTC')::date", "=", k.number);
      case SearchKey::kSince: return date_cmp("(internaldate AT TIME ZONE 'UTC')::date", ">=", k.number);
      case SearchKey::kSentBefore: return date_cmp("sent_date", "<", k.number);
      case SearchKey::kSentOn: return date_cmp("sent_date", "=", k.number);
      case SearchKey::kSentSince: return date_cmp("sent_date", ">=", k.number);
      case SearchKey::kSavedBefore: return date_cmp("(savedate AT TIME ZONE 'UTC')::date", "<", k.number);
      case SearchKey::kSavedOn: return date_cmp("(savedate AT TIME ZONE 'UTC')::date", "=", k.number);
      case SearchKey::kSavedSince: return date_cmp("(savedate AT TIME ZONE 'UTC')::date", ">=", k.number);
      case SearchKey::kOlder:
        return "(internaldate <= now() - make_interval(secs => " + param(std::to_string(k.number)) + "::bigint))";
      case SearchKey::kYounger:
        return "(internaldate >= now() - make_interval(secs => " + param(std::to_string(k.number)) + "::bigint))";
      case SearchKey::kLarger: return "(size > " + param(std::to_string(k.number)) + "::bigint)";
      case SearchKey::kSmaller: return "(size < " + param(std::to_string(k.number)) + "::bigint)";
      case SearchKey::kModseq: return "(modseq >= " + param(std::to_string(k.number)) + "::bigint)";
      case SearchKey::kUidSet: return set_sql(*k.set, true);
      case SearchKey::kSeqSet: return set_sql(*k.set, false);
      case SearchKey::kText: {
        std::string v = fold(k.text);
        if (v.empty()) return "TRUE";
        return "(search_text LIKE " + param("%" + like_escape(v) + "%") + ")";
      }
      case SearchKey::kBody: {
        std::string v = fold(k.text);
        if (v.empty()) return "TRUE";
        // The LIKE on the whole text lets the trigram index narrow first.
        std::string p = param("%" + like_escape(v) + "%");
        return "(search_text LIKE " + p + " AND substr(search_text, strpos(search_text, E'\\n\\n')) LIKE " + p + ")";
      }
      case SearchKey::kHeader: {
        std::string field = fold(k.field), v = fold(k.text);
        // One header line: "name: value". An empty value matches the field's presence.
        std::string re = "(^|\\n)" + regex_escape(field) + ":[^\\n]*" + regex_escape(v);
        std::string cond = "(search_text ~ " + param(re) + ")";
        if (!v.empty()) cond = "(search_text LIKE " + param("%" + like_escape(v) + "%") + " AND " + cond + ")";
        return cond;
      }
    }
    return "FALSE";
  }
};

}  // namespace

asio::awaitable<Result> cmd_search(Context& ctx) {
  SearchRequest req = parse_search(ctx.args);
  if (req.charset != "US-ASCII" && req.charset != "UTF-8")
    co_return Result::no("Unsupported charset", "BADCHARSET (UTF-8 US-ASCII)");
  auto& sel = *ctx.session.selected;
  Compiler compiler{sel, {}};
  std::string where = compiler.compile(req.key);
  bool uses_modseq = false;
  std::function<void(const SearchKey&)> scan = [&](const SearchKey& k) {
    if (k.kind == SearchKey::kModseq) uses_modseq = true;
    for (const auto& c : k.children) scan(c);
  };
  scan(req.key);
  if (uses_modseq) ctx.session.condstore = true;
  // search_text lives in mailstore_search, one row per distinct body (keyed
  // like the blob); the other columns the compiled keys use are the message's.
  const std::string sql =
      "SELECT uid, modseq FROM mailstore_messages LEFT JOIN mailstore_search ON sha256 = blob_sha256 "
      "WHERE user_id = $1 AND mailbox_id = $2 AND " + where + " ORDER BY uid";
  std::vector<std::string> params = compiler.params;
  params.insert(params.begin(), std::to_string(sel.mailbox_id));
  params.insert(params.begin(), std::to_string(ctx.session.user_id));
  auto query = [sql, params](pqxx::connection& c) {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
    std::vector<std::pair<uint32_t, int64_t>> out;
    for (const auto& r : tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params)))
      out.emplace_back(r[0].as<uint32_t>(), r[1].as<int64_t>());
    return out;
  };
  auto rows = co_await ctx.db(std::move(query));
  std::vector<uint32_t> results;
  int64_t max_modseq = 0;
  for (auto [uid, modseq] : rows) {
    uint32_t msn = sel.msn_of(uid);
    if (!msn) continue;  // not yet announced to this session
    results.push_back(ctx.uid ? uid : msn);
    max_modseq = std::max(max_modseq, modseq);
  }
  std::sort(results.begin(), results.end());
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
    if (req.ret_count) line += " COUNT " + std::to_string(results.size());
    if (uses_modseq && !results.empty()) line += " MODSEQ " + std::to_string(max_modseq);
    ctx.send(untagged(line));
  } else {
    std::string line = "SEARCH";
    for (uint32_t n : results) line += " " + std::to_string(n);
    if (uses_modseq && !results.empty()) line += " (MODSEQ " + std::to_string(max_modseq) + ")";
    ctx.send(untagged(line));
  }
  co_return Result::ok(ctx.uid ? "UID SEARCH completed" : "SEARCH completed");
}

}  // namespace postline::imap
