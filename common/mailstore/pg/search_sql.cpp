#include "common/mailstore/pg/search_sql.h"

#include "common/mailstore/message_meta.h"

#include <vector>

namespace postline::mailstore::pg {

namespace {

std::string like_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    unsigned char u = c;
    if (!((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80 || c == ' '))
      out += '\\';
    out += c;
  }
  return out;
}

bool search_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

struct Compiler {
  db::pq::Params params;
  int next = 3;  // $1 user, $2 mailbox

  // Typed in the SQL: statements are prepared without parameter types, so
  // the server infers them from the context (smallint next to sysflags,
  // double precision in make_interval) and would misread the binary int8.
  std::string i64(int64_t v) {
    params.i64(v);
    return "$" + std::to_string(next++) + "::bigint";
  }
  std::string text(const std::string& v) {
    params.text(v);
    return "$" + std::to_string(next++);
  }
  std::string date_cmp(const char* column, const char* op, int64_t days) {
    return std::string("(") + column + " " + op + " DATE '1970-01-01' + (" + i64(days) + ")::integer)";
  }
  // sent_date is NULL without a parsable Date: header: such a message matches
  // no SENT* key, so it must match its NOT (a NULL would make NOT NULL too).
  std::string sent_cmp(const char* op, int64_t days) {
    return "COALESCE(" + date_cmp("m.sent_date", op, days) + ", FALSE)";
  }

  // What the trigram index can answer for a folded key: every word of the key
  // is inside one word of the text, and a word with whitespace on a side in
  // the key ends (or starts) a word of the text there; in search_words (" w1
  // w2 ... wn ") that is a space. The key itself is then checked against
  // search_text. "TRUE" for a key without words.
  std::string words_narrow(const std::string& v) {
    std::vector<std::pair<size_t, size_t>> words;
    for (size_t i = 0; i < v.size();) {
      while (i < v.size() && search_space(v[i])) ++i;
      const size_t start = i;
      while (i < v.size() && !search_space(v[i])) ++i;
      if (i > start) words.emplace_back(start, i);
    }
    if (words.empty()) return "TRUE";
    std::string out = "(TRUE";
    for (const auto& [a, b] : words) {
      const bool before = a > 0, after = b < v.size();
      out += " AND s.search_words LIKE " +
             text(std::string("%") + (before ? " " : "") + like_escape(v.substr(a, b - a)) + (after ? " " : "") + "%");
    }
    return out + ")";
  }

  std::string compile(const SearchCriterion& k) {
    using K = SearchCriterion;
    switch (k.kind) {
      case K::kAll: return "TRUE";
      case K::kNone: return "FALSE";
      case K::kAnd: {
        std::string out = "(TRUE";
        for (const auto& c : k.children) out += " AND " + compile(c);
        return out + ")";
      }
      case K::kOr: {
        std::string out = "(FALSE";
        for (const auto& c : k.children) out += " OR " + compile(c);
        return out + ")";
      }
      case K::kNot: return "(NOT " + compile(k.children.at(0)) + ")";
      case K::kSystemFlag: return "((m.sysflags & " + i64(k.number) + ") <> 0)";
      case K::kKeyword: return "(m.keywords IS NOT NULL AND " + text(k.text) + " = ANY(m.keywords))";
      case K::kBefore: return date_cmp("(m.internaldate AT TIME ZONE 'UTC')::date", "<", k.number);
      case K::kOn: return date_cmp("(m.internaldate AT TIME ZONE 'UTC')::date", "=", k.number);
      case K::kSince: return date_cmp("(m.internaldate AT TIME ZONE 'UTC')::date", ">=", k.number);
      case K::kSentBefore: return sent_cmp("<", k.number);
      case K::kSentOn: return sent_cmp("=", k.number);
      case K::kSentSince: return sent_cmp(">=", k.number);
      case K::kSavedBefore: return date_cmp("(m.savedate AT TIME ZONE 'UTC')::date", "<", k.number);
      case K::kSavedOn: return date_cmp("(m.savedate AT TIME ZONE 'UTC')::date", "=", k.number);
      case K::kSavedSince: return date_cmp("(m.savedate AT TIME ZONE 'UTC')::date", ">=", k.number);
      case K::kOlder: return "(m.internaldate <= now() - make_interval(secs => " + i64(k.number) + "))";
      case K::kYounger: return "(m.internaldate >= now() - make_interval(secs => " + i64(k.number) + "))";
      case K::kLarger: return "(m.size > " + i64(k.number) + ")";
      case K::kSmaller: return "(m.size < " + i64(k.number) + ")";
      case K::kModseq: return "(m.modseq >= " + i64(k.number) + ")";
      case K::kEmailId: return "(m.email_id = " + text(k.text) + ")";
      // message_meta.h thread_id_of(), in SQL over the body's sort keys.
      case K::kThreadId:
        return "(EXISTS (SELECT 1 FROM mailstore_sort_keys tk WHERE tk.sha256 = m.blob_sha256 AND 'T' || "
               "left(encode(sha256(convert_to('thread:' || COALESCE(tk.thread_refs[1], NULLIF(tk.message_id, '')), "
               "'UTF8')), 'hex'), 24) = " + text(k.text) + "))";
      case K::kUids: {
        if (k.uid_ranges.empty()) return "FALSE";
        // As parameters, so every UID set shares one prepared statement shape.
        std::vector<int64_t> lo, hi;
        for (auto [a, b] : k.uid_ranges) lo.push_back(a), hi.push_back(b);
        params.i64_array(lo);
        params.i64_array(hi);
        const std::string a = "$" + std::to_string(next++), b = "$" + std::to_string(next++);
        return "(EXISTS (SELECT 1 FROM unnest(" + a + "::int8[], " + b + "::int8[]) AS r(lo, hi) "
               "WHERE m.uid BETWEEN r.lo AND r.hi))";
      }
      case K::kText: {
        std::string v = fold_search_key(k.text);
        if (v.empty()) return "TRUE";
        return "(" + words_narrow(v) + " AND s.search_text LIKE " + text("%" + like_escape(v) + "%") + ")";
      }
      case K::kBody: {
        std::string v = fold_search_key(k.text);
        if (v.empty()) return "TRUE";
        // The words let the trigram index narrow first.
        std::string p = text("%" + like_escape(v) + "%");
        // The body text: after the header's blank line, before the parts' MIME
        // headers (kSearchPartsMarker; absent in rows older than it).
        return "(" + words_narrow(v) +
               " AND split_part(substr(s.search_text, strpos(s.search_text, E'\\n\\n')), E'\\x1e', 1) LIKE " + p +
               ")";
      }
      case K::kHeader: {
        std::string field = fold_search_key(k.field), v = fold_search_key(k.text);
        // One header line: "name: value". An empty value matches the field's presence.
        std::string re = "(^|\\n)" + regex_escape(field) + ":[^\\n]*" + regex_escape(v);
        // Only the message's own header lines, before the first blank line.
        std::string cond = "(split_part(s.search_text, E'\\n\\n', 1) ~ " + text(re) + ")";
        if (!v.empty()) cond = "(" + words_narrow(v) + " AND " + cond + ")";
        return cond;
      }
    }
    return "FALSE";
  }
};

static_assert(kSearchPartsMarker == '\x1e', "the BODY condition above spells the marker as E'\\x1e'");

}  // namespace

bool uses_text(const SearchCriterion& k) {
  if (k.kind == SearchCriterion::kText || k.kind == SearchCriterion::kBody || k.kind == SearchCriterion::kHeader)
    return true;
  for (const auto& c : k.children)
    if (uses_text(c)) return true;
  return false;
}

namespace {

// FROM and WHERE of every statement over a mailbox's messages by criteria.
// Sort keys (alias sk) and search text (alias s) are one row per distinct
// body, joined only when asked for.
std::string from_where(Compiler& c, UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                       bool sort_keys) {
  c.params.i64(user).i64(mailbox);
  std::string where = c.compile(criteria);
  return std::string(" FROM mailstore_messages m ") +
         (sort_keys ? "LEFT JOIN mailstore_sort_keys sk ON sk.sha256 = m.blob_sha256 " : "") +
         (uses_text(criteria) ? "LEFT JOIN mailstore_search s ON s.sha256 = m.blob_sha256 " : "") +
         "WHERE m.user_id = $1 AND m.mailbox_id = $2 AND " + where;
}

CompiledSearch finish(Compiler& c, std::string sql) {
  CompiledSearch out;
  out.sql = std::move(sql);
  out.params = std::move(c.params);
  return out;
}

// Seconds, as IMAP shows INTERNALDATE: messages within one second tie (and
// go by UID), in both stores alike.
constexpr const char* kArrivalSeconds = "floor(extract(epoch FROM m.internaldate))::bigint";

// The body key only where the keys are missing: a large mailbox's answer
// does not carry 32 bytes a row that are needed (almost) never.
constexpr const char* kBlobIfMissing = "CASE WHEN sk.sha256 IS NULL THEN m.blob_sha256 END";

std::string order_column(SortKey k) {
  // Fixed column names only: nothing from the client reaches the SQL text.
  switch (k) {
    case SortKey::kArrival: return kArrivalSeconds;
    case SortKey::kCc: return "sk.cc_mailbox COLLATE \"C\"";
    case SortKey::kDate: return std::string("COALESCE(sk.sent_at, ") + kArrivalSeconds + ")";
    case SortKey::kFrom: return "sk.from_mailbox COLLATE \"C\"";
    case SortKey::kSize: return "m.size";
    case SortKey::kSubject: return "sk.base_subject COLLATE \"C\"";
    case SortKey::kTo: return "sk.to_mailbox COLLATE \"C\"";
    case SortKey::kDisplayFrom: return "sk.display_from COLLATE \"C\"";
    case SortKey::kDisplayTo: return "sk.display_to COLLATE \"C\"";
  }
  return "m.uid";
}

}  // namespace

CompiledSearch compile_search(UserId user, MailboxId mailbox, const SearchCriterion& criteria) {
  Compiler c;
  std::string sql = "SELECT m.uid, m.modseq" + from_where(c, user, mailbox, criteria, false) + " ORDER BY m.uid";
  return finish(c, std::move(sql));
}

CompiledSearch compile_sort(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                            const std::vector<SortCriterion>& keys) {
  Compiler c;
  std::string sql = std::string("SELECT m.uid, sk.sha256 IS NULL, ") + kBlobIfMissing +
                    from_where(c, user, mailbox, criteria, true) + " ORDER BY ";
  for (const auto& k : keys) sql += order_column(k.key) + (k.reverse ? " DESC, " : ", ");
  sql += "m.uid";
  return finish(c, std::move(sql));
}

CompiledSearch compile_thread_keys(UserId user, MailboxId mailbox, const SearchCriterion& criteria) {
  Compiler c;
  std::string sql = std::string("SELECT m.uid, sk.sha256 IS NULL, ") + kBlobIfMissing + ", COALESCE(sk.sent_at, " +
                    kArrivalSeconds +
                    "), sk.base_subject, sk.reply_or_forward, sk.message_id, sk.thread_refs" +
                    from_where(c, user, mailbox, criteria, true) + " ORDER BY m.uid";
  return finish(c, std::move(sql));
}

}  // namespace postline::mailstore::pg
