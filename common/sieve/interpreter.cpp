// run(): executes a checked script against one message. Runtime errors (a limit, a
// failed include, conflicting actions) throw RuntimeError inside; run() catches it and
// returns the implicit keep with the error (RFC 5228 2.10.6), so callers can always
// execute RunResult::actions.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "common/mime/mime.h"
#include "common/sieve/internal.h"
#include "common/sieve/sieve.h"

namespace postline::sieve {

using namespace detail;

namespace {

struct RuntimeError : std::runtime_error {
  Position pos;
  RuntimeError(Position p, const std::string& m) : std::runtime_error(m), pos(p) {}
};

struct StopSignal {};    // `stop`: ends every script
struct ReturnSignal {};  // `return`: ends the current included script

struct Scope {
  const Script* script = nullptr;
  std::map<std::string, std::string> vars;  // lowercased names
  std::set<std::string> globals;            // names declared `global` here
  std::vector<std::string> match;           // ${0}..${n}
};

struct Address3 {
  std::string local, domain;
  bool has_domain = true;
};

std::string trim_ws(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return std::string(s.substr(b, e - b));
}

// Splits "local@domain" (envelope addresses are single addr-specs, RFC 5321 paths).
// CR and LF runs become one space: for values that end up in header fields.
std::string single_line(std::string_view in) {
  std::string out;
  bool in_break = false;
  for (char c : in) {
    if (c == '\r' || c == '\n') {
      if (!in_break) out += ' ';
      in_break = true;
      continue;
    }
    in_break = false;
    out += c;
  }
  return out;
}

// RFC 5321 2.4: the local part is case-sensitive, the domain is not.
bool same_address(std::string_view a, std::string_view b) {
  auto at_a = a.rfind('@'), at_b = b.rfind('@');
  if (at_a == std::string_view::npos || at_b == std::string_view::npos) return a == b;
  return a.substr(0, at_a) == b.substr(0, at_b) && iequals(a.substr(at_a), b.substr(at_b));
}

Address3 split_address(std::string_view a) {
  Address3 r;
  auto at = a.rfind('@');
  if (at == std::string_view::npos) {
    r.local = std::string(a);
    r.has_domain = false;
  } else {
    r.local = std::string(a.substr(0, at));
    r.domain = std::string(a.substr(at + 1));
  }
  return r;
}

class Interpreter {
 public:
  Interpreter(const Message& m, const RunContext& ctx) : msg_(m), ctx_(ctx), lim_(ctx.limits) {
    start_ = std::chrono::steady_clock::now();
    now_ = ctx.now ? ctx.now : std::time(nullptr);
    for (const auto& f : m.header_fields()) header_.push_back(f);
  }

  // Runs the scripts in order as one delivery (administrator's before scripts, the user's,
  // after scripts): the actions, the flags variable and the header edits carry over, the
  // variables do not. The next script runs only while the message is still kept: the
  // implicit keep is in force or the script did an explicit keep (Pigeonhole's rule, so
  // `fileinto`, `redirect` or `discard` without keep in a before script end the sequence).
  // `stop` ends the sequence; `return` ends one script.
  RunResult execute(const std::vector<const Script*>& scripts) {
    RunResult r;
    std::size_t index = 0;
    try {
      for (; index < scripts.size(); ++index) {
        Scope top;
        top.script = scripts[index];
        implicit_keep_ = true;
        explicit_keep_ = false;
        bool stopped = false;
        try {
          block(top.script->commands, top);
        } catch (const ReturnSignal&) {
        } catch (const StopSignal&) {
          stopped = true;
        }
        if (stopped || (!implicit_keep_ && !explicit_keep_)) break;
      }
      finish(r);
    } catch (const RuntimeError& e) {
      r = RunResult{};
      r.ok = false;
      r.error = Error{e.pos, e.what()};
      r.error_script = index;
      Action keep;
      keep.kind = Action::Kind::kKeep;
      keep.implicit = true;
      keep.mailbox = ctx_.default_mailbox;
      r.actions.push_back(keep);
    }
    r.notes.insert(r.notes.end(), notes_.begin(), notes_.end());
    return r;
  }

 private:
  // ---- bookkeeping ----

  void step(Position p) {
    if (++steps_ > lim_.max_steps)
      throw RuntimeError(p, "script ran more than " + std::to_string(lim_.max_steps) + " steps");
    if ((steps_ & 1023) == 0) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count();
      if (static_cast<std::uint64_t>(ms) > lim_.max_run_ms)
        throw RuntimeError(p, "script ran longer than " + std::to_string(lim_.max_run_ms) + " ms");
    }
  }

  bool has(const Scope& s, std::string_view ext) const { return s.script->required.count(std::string(ext)) > 0; }

  // ---- variables (RFC 5229) ----

  std::string* var_slot(Scope& s, const std::string& lname, bool create) {
    bool global = s.globals.count(lname) || lname.rfind("global.", 0) == 0;
    auto& m = global ? globals_ : s.vars;
    std::string key = lname.rfind("global.", 0) == 0 ? lname.substr(7) : lname;
    auto it = m.find(key);
    if (it != m.end()) return &it->second;
    if (!create) return nullptr;
    if (m.size() >= lim_.max_variables) throw RuntimeError({}, "more than " + std::to_string(lim_.max_variables) + " variables");
    return &m[key];
  }

  // Variables (RFC 5229). Encoded characters were already decoded by check().
  std::string expand(Scope& s, const std::string& in) {
    if (!has(s, "variables") || in.find("${") == std::string::npos) return in;
    // Bounded while it grows: "${a}${a}..." must not build gigabytes before any check.
    const std::size_t cap = std::max<std::size_t>(lim_.max_variable_size * 4, in.size());
    std::string out;
    for (std::size_t i = 0; i < in.size() && out.size() <= cap;) {
      if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '{') {
        std::size_t close = in.find('}', i + 2);
        if (close != std::string::npos) {
          std::string name = in.substr(i + 2, close - i - 2);
          std::string lname = ascii_lower(name);
          std::optional<std::string> value = variable_value(s, lname);
          if (value) {
            out += *value;
            i = close + 1;
            continue;
          }
        }
      }
      out += in[i++];
    }
    if (out.size() > cap) out.resize(cap);
    return out;
  }

  // nullopt: not a variable reference (kept literally, RFC 5229 3).
  std::optional<std::string> variable_value(Scope& s, const std::string& lname) {
    if (lname.empty()) return std::nullopt;
    if (std::all_of(lname.begin(), lname.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::size_t n = lname.size() > 3 ? 1000 : std::stoul(lname);
      return n < s.match.size() ? s.match[n] : std::string();
    }
    if (!valid_variable_name(lname)) return std::nullopt;
    if (const std::string* v = var_slot(s, lname, false)) return *v;
    return std::string();
  }

  std::string str(Scope& s, const Argument* a) { return expand(s, a->strings.at(0)); }
  std::vector<std::string> list(Scope& s, const Argument* a) {
    std::vector<std::string> out;
    for (const auto& x : a->strings) out.push_back(expand(s, x));
    return out;
  }
  template <class Node>
  const Argument* tag(const Node& n, const char* name) const {
    auto it = n.tags.find(name);
    return it == n.tags.end() ? nullptr : it->second;
  }
  template <class Node>
  bool has_tag(const Node& n, const char* name) const {
    return n.tags.count(name) > 0;
  }

  // ---- matching ----

  struct Matcher {
    Comparator comparator = Comparator::kAsciiCasemap;
    MatchType type = MatchType::kIs;
    Relation relation = Relation::kEq;
  };

  template <class Node>
  Matcher matcher(const Node& n) const {
    Matcher m;
    if (const Argument* c = tag(n, "comparator")) m.comparator = *comparator_named(c->strings[0]);
    if (has_tag(n, "contains")) m.type = MatchType::kContains;
    else if (has_tag(n, "matches")) m.type = MatchType::kMatches;
    else if (const Argument* r = tag(n, "count")) { m.type = MatchType::kCount; m.relation = *relation_named(r->strings[0]); }
    else if (const Argument* r = tag(n, "value")) { m.type = MatchType::kValue; m.relation = *relation_named(r->strings[0]); }
    return m;
  }

  // Does any value match any key? Sets match variables on success for :matches (RFC 5229 3.2).
  bool match_any(Scope& s, const Matcher& m, const std::vector<std::string>& values,
                 const std::vector<std::string>& keys, Position p) {
    if (m.type == MatchType::kCount) {
      std::string count = std::to_string(values.size());
      for (const auto& k : keys) {
        step(p);
        if (relation_holds(m.relation, compare(m.comparator, count, k))) return true;
      }
      return false;
    }
    for (const auto& v : values) {
      for (const auto& k : keys) {
        step(p);
        switch (m.type) {
          case MatchType::kIs:
            if (compare(m.comparator, v, k) == 0) return true;
            break;
          case MatchType::kContains:
            if (contains(m.comparator, v, k)) return true;
            break;
          case MatchType::kValue:
            if (relation_holds(m.relation, compare(m.comparator, v, k))) return true;
            break;
          case MatchType::kMatches: {
            std::vector<std::string> caps;
            bool vars = has(s, "variables");
            if (glob_match(m.comparator, v, k, vars ? &caps : nullptr)) {
              if (vars) {
                s.match.clear();
                s.match.push_back(v);
                for (auto& c : caps) s.match.push_back(std::move(c));
              }
              return true;
            }
            break;
          }
          case MatchType::kCount: break;
        }
      }
    }
    return false;
  }

  // ---- headers ----

  // Decoded, unfolded values of the fields named (in message order), or one index of them.
  template <class Node>
  std::vector<std::string> header_values(Scope& s, const Node& n, const std::vector<std::string>& names, bool decode) {
    std::vector<std::string> out;
    for (const auto& name : names) {
      std::vector<const HeaderField*> fields;
      for (const auto& f : header_) {
        if (iequals(f.name, trim_ws(name))) fields.push_back(&f);
      }
      if (const Argument* idx = tag(n, "index")) {
        std::size_t i = idx->number;
        if (i == 0 || i > fields.size()) continue;
        const HeaderField* f = has_tag(n, "last") ? fields[fields.size() - i] : fields[i - 1];
        fields = {f};
      }
      for (const HeaderField* f : fields) {
        std::string v = mime::unfold(f->value);
        out.push_back(decode ? mime::decode_header_value(v) : v);
      }
    }
    return out;
  }

  // The part of an address the test asks for; `skip` when it has none (RFC 5233: no
  // separator -> :detail does not match).
  std::optional<std::string> select_part(const Address3& a, const std::string& part) const {
    if (part == "localpart") return a.local;
    if (part == "domain") return a.domain;
    if (part == "user" || part == "detail") {
      auto plus = a.local.find('+');
      if (part == "user") return plus == std::string::npos ? a.local : a.local.substr(0, plus);
      if (plus == std::string::npos) return std::nullopt;
      return a.local.substr(plus + 1);
    }
    if (!a.has_domain) return a.local;
    return a.local + "@" + a.domain;
  }

  template <class Node>
  std::string address_part_name(const Node& n) const {
    for (const char* p : {"localpart", "domain", "user", "detail"})
      if (has_tag(n, p)) return p;
    return "all";
  }

  // ---- tests ----

  bool test(const Test& t, Scope& s) {
    step(t.pos);
    const std::string& n = t.name;
    if (n == "true") return true;
    if (n == "false") return false;
    if (n == "not") return !test(t.tests[0], s);
    if (n == "allof") {
      for (const auto& x : t.tests)
        if (!test(x, s)) return false;
      return true;
    }
    if (n == "anyof") {
      for (const auto& x : t.tests)
        if (test(x, s)) return true;
      return false;
    }
    if (n == "exists") {
      for (const auto& name : list(s, t.positional[0])) {
        bool found = false;
        for (const auto& f : header_)
          if (iequals(f.name, name)) found = true;
        if (!found) return false;
      }
      return true;
    }
    if (n == "size") {
      std::uint64_t lim = t.positional[0]->number;
      return has_tag(t, "over") ? msg_.size() > lim : msg_.size() < lim;
    }
    Matcher m = matcher(t);
    if (n == "header") {
      auto values = header_values(s, t, list(s, t.positional[0]), true);
      return match_any(s, m, values, list(s, t.positional[1]), t.pos);
    }
    if (n == "address") {
      std::string part = address_part_name(t);
      std::vector<std::string> values;
      for (const auto& raw : header_values(s, t, list(s, t.positional[0]), false)) {
        for (const auto& a : mime::parse_addresses(raw)) {
          if (!a.host && !a.mailbox) continue;    // group end
          if (!a.host && a.mailbox) continue;     // group start
          Address3 x;
          x.local = a.mailbox.value_or("");
          x.domain = *a.host;
          if (x.local == "MISSING_MAILBOX") x.local.clear();
          if (x.domain == "MISSING_DOMAIN") { x.domain.clear(); x.has_domain = false; }
          if (auto v = select_part(x, part)) values.push_back(*v);
        }
      }
      return match_any(s, m, values, list(s, t.positional[1]), t.pos);
    }
    if (n == "envelope") {
      std::string part = address_part_name(t);
      std::vector<std::string> values;
      for (const auto& ep : list(s, t.positional[0])) {
        std::string e = ascii_lower(ep);
        std::string a;
        if (e == "from") a = ctx_.envelope.from;
        else if (e == "to") a = ctx_.envelope.to;
        else if (e == "auth") {
          if (ctx_.envelope.auth.empty()) continue;
          a = ctx_.envelope.auth;
        } else {
          throw RuntimeError(t.pos, "unknown envelope part \"" + ep + "\"");
        }
        if (a.empty()) {
          // RFC 5228 5.4: the null reverse-path is the empty string.
          if (part == "all" || part == "localpart" || part == "domain") values.push_back("");
          continue;
        }
        if (auto v = select_part(split_address(a), part)) values.push_back(*v);
      }
      return match_any(s, m, values, list(s, t.positional[1]), t.pos);
    }
    if (n == "string") {
      std::vector<std::string> values;
      for (auto& v : list(s, t.positional[0])) {
        // RFC 5229 5: with :count, empty strings are not counted.
        if (m.type == MatchType::kCount && v.empty()) continue;
        values.push_back(std::move(v));
      }
      return match_any(s, m, values, list(s, t.positional[1]), t.pos);
    }
    if (n == "hasflag") {
      std::vector<std::string> values;
      if (t.positional.size() == 2) {
        for (const auto& name : list(s, t.positional[0])) {
          std::string* v = var_slot(s, ascii_lower(name), false);
          if (v) for (auto& f : split_flags(*v)) values.push_back(f);
        }
      } else {
        values = flags_;
      }
      return match_any(s, m, values, list(s, t.positional.back()), t.pos);
    }
    if (n == "body") return body_test(t, s, m);
    if (n == "mailboxexists") {
      for (const auto& name : list(s, t.positional[0]))
        if (ctx_.mailboxes && !ctx_.mailboxes->exists(name)) return false;
      return true;
    }
    if (n == "date" || n == "currentdate") return date_test(t, s, m);
    if (n == "duplicate") return duplicate_test(t, s);
    if (n == "spamtest") {
      std::string value;
      if (has_tag(t, "percent")) {
        value = ctx_.spam_percent ? std::to_string(std::clamp(*ctx_.spam_percent, 0, 100)) : "0";
      } else {
        value = ctx_.spam_score ? std::to_string(std::clamp(*ctx_.spam_score, 0, 10)) : "0";
      }
      return match_any(s, m, {value}, list(s, t.positional[0]), t.pos);
    }
    throw RuntimeError(t.pos, "test '" + n + "' is not implemented");
  }

  bool body_test(const Test& t, Scope& s, const Matcher& m) {
    std::vector<std::string> values;
    if (has_tag(t, "raw")) {
      values.push_back(msg_.raw_body());
    } else if (!tag(t, "content")) {
      // :text, the default (RFC 5173): the text of the text/* parts, HTML reduced to its
      // text as Pigeonhole does, so a word matches whatever markup surrounds it.
      if (!body_parts_) body_parts_ = msg_.body_parts();
      for (const auto& p : *body_parts_) {
        if (p.content_type.rfind("text/", 0) != 0) continue;
        values.push_back(p.content_type == "text/html" ? mime::html_to_text(p.text) : p.text);
      }
    } else {
      std::vector<std::string> types = list(s, tag(t, "content"));
      // Decoded once per run: several body tests on a large message share it.
      if (!body_parts_) body_parts_ = msg_.body_parts();
      for (const auto& p : *body_parts_) {
        auto slash = p.content_type.find('/');
        std::string top = p.content_type.substr(0, slash);
        bool want = false;
        for (const auto& ty : types) {
          std::string lt = ascii_lower(ty);
          // RFC 5173: "" matches all, "type" all of that type, "type/subtype" exact.
          if (lt.empty() || lt == top || lt == p.content_type) want = true;
        }
        if (want) values.push_back(p.text);
      }
    }
    return match_any(s, m, values, list(s, t.positional[0]), t.pos);
  }

  bool date_test(const Test& t, Scope& s, const Matcher& m) {
    std::optional<DateTime> dt;
    std::string part;
    std::vector<std::string> keys;
    int zone = ctx_.zone_minutes;
    bool original = has_tag(t, "originalzone");
    if (const Argument* z = tag(t, "zone")) {
      auto pz = parse_zone(str(s, z));
      if (!pz) return false;  // RFC 5260: an invalid zone makes the test fail
      zone = *pz;
    }
    if (t.name == "currentdate") {
      dt = DateTime{static_cast<std::int64_t>(now_), zone};
      part = str(s, t.positional[0]);
      keys = list(s, t.positional[1]);
    } else {
      auto values = header_values(s, t, {str(s, t.positional[0])}, false);
      part = str(s, t.positional[1]);
      keys = list(s, t.positional[2]);
      if (values.empty()) return false;
      // RFC 5260: the Received field's date is after its last ';'.
      std::string v = values[0];
      if (iequals(str(s, t.positional[0]), "received")) {
        auto semi = v.rfind(';');
        if (semi != std::string::npos) v = v.substr(semi + 1);
      }
      dt = parse_rfc5322_date(v);
      if (!dt) return false;
      if (!original) dt->zone_minutes = zone;
    }
    auto value = date_part(*dt, part);
    if (!value) throw RuntimeError(t.pos, "unknown date part \"" + part + "\"");
    return match_any(s, m, {*value}, keys, t.pos);
  }

  bool duplicate_test(const Test& t, Scope& s) {
    std::string id;
    if (const Argument* u = tag(t, "uniqueid")) {
      id = str(s, u);
    } else {
      std::string name = "message-id";
      if (const Argument* h = tag(t, "header")) name = str(s, h);
      auto values = header_values(s, t, {name}, false);
      if (values.empty()) return false;  // RFC 7352: no such header -> false, not tracked
      id = trim_ws(values[0]);
    }
    std::string handle;
    if (const Argument* h = tag(t, "handle")) handle = str(s, h);
    std::uint64_t seconds = 7 * 86400;
    if (const Argument* sec = tag(t, "seconds")) seconds = sec->number;
    std::string key = "duplicate\n" + ctx_.user + "\n" + handle + "\n" + (tag(t, "uniqueid") ? "u:" : "h:") + id;
    bool seen = ctx_.duplicates && ctx_.duplicates->seen_within(key, seconds);
    bool refresh = has_tag(t, "last");
    // RFC 7352: the id is recorded only when the run completes; a second test of the
    // same id in this run still sees only what was stored before.
    bool recorded = false;
    for (auto& mk : marks_)
      if (mk.key == key) recorded = true;
    if (!recorded) marks_.push_back({key, handle, seconds, refresh});
    return seen;
  }

  // ---- flags (RFC 5232) ----

  static std::vector<std::string> split_flags(const std::string& s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && s[i] == ' ') ++i;
      std::size_t j = i;
      while (j < s.size() && s[j] != ' ') ++j;
      if (j > i) {
        std::string f = s.substr(i, j - i);
        bool dup = false;
        for (const auto& x : out)
          if (iequals(x, f)) dup = true;
        if (!dup) out.push_back(f);
      }
      i = j;
    }
    return out;
  }
  static std::string join_flags(const std::vector<std::string>& f) {
    std::string out;
    for (const auto& x : f) {
      if (!out.empty()) out += ' ';
      out += x;
    }
    return out;
  }
  std::vector<std::string> flag_list(Scope& s, const Argument* a) {
    std::vector<std::string> all;
    for (const auto& x : list(s, a))
      for (auto& f : split_flags(x)) all.push_back(f);
    return split_flags(join_flags(all));
  }

  void flag_command(const Command& c, Scope& s) {
    std::vector<std::string>* target = &flags_;
    std::vector<std::string> var_flags;
    std::string* var = nullptr;
    if (c.positional.size() == 2) {
      std::string name = ascii_lower(str(s, c.positional[0]));
      if (!valid_variable_name(name)) throw RuntimeError(c.pos, "\"" + name + "\" is not a variable name");
      var = var_slot(s, name, true);
      var_flags = split_flags(*var);
      target = &var_flags;
    }
    std::vector<std::string> given = flag_list(s, c.positional.back());
    if (c.name == "setflag") {
      *target = given;
    } else if (c.name == "addflag") {
      for (auto& f : given) target->push_back(f);
      *target = split_flags(join_flags(*target));
    } else {
      target->erase(std::remove_if(target->begin(), target->end(),
                                   [&](const std::string& f) {
                                     for (const auto& g : given)
                                       if (iequals(f, g)) return true;
                                     return false;
                                   }),
                    target->end());
    }
    // The flags are a variable (RFC 5232 3), so the variable size limit holds for them too.
    while (!target->empty() && join_flags(*target).size() > lim_.max_variable_size) target->pop_back();
    if (var) *var = join_flags(var_flags);
  }

  // ---- actions ----

  void add_action(Action a) {
    if (actions_.size() >= lim_.max_actions)
      throw RuntimeError(a.pos, "more than " + std::to_string(lim_.max_actions) + " actions");
    bool delivers = a.kind == Action::Kind::kKeep || a.kind == Action::Kind::kFileinto ||
                    a.kind == Action::Kind::kRedirect || a.kind == Action::Kind::kVacation;
    bool rejects = a.kind == Action::Kind::kReject || a.kind == Action::Kind::kEreject;
    for (const auto& x : actions_) {
      bool x_rejects = x.kind == Action::Kind::kReject || x.kind == Action::Kind::kEreject;
      if (rejects && x_rejects) throw RuntimeError(a.pos, "more than one reject");
      // RFC 5429 2.1/2.2: reject is incompatible with vacation; SHOULD with keep,
      // fileinto and redirect (Pigeonhole refuses too).
      if ((rejects && (x.kind != Action::Kind::kDiscard)) || (x_rejects && delivers))
        throw RuntimeError(a.pos, "reject cannot be combined with keep, fileinto, redirect or vacation");
      if (a.kind == Action::Kind::kVacation && x.kind == Action::Kind::kVacation)
        throw RuntimeError(a.pos, "vacation used more than once (RFC 5230)");
      // Duplicates are one action (RFC 5228 2.10.3): the same mailbox, the same address.
      bool same_box = (a.kind == Action::Kind::kFileinto || a.kind == Action::Kind::kKeep) &&
                      (x.kind == Action::Kind::kFileinto || x.kind == Action::Kind::kKeep) && a.mailbox == x.mailbox;
      bool same_addr = a.kind == Action::Kind::kRedirect && x.kind == Action::Kind::kRedirect &&
                       same_address(a.address, x.address);
      if (same_box || same_addr) {
        if (same_box) {
          // The repeated store's flags replace the first one's (RFC 5232 is silent; this is
          // what Pigeonhole does, so scripts moved from Dovecot keep their meaning).
          Action& first = const_cast<Action&>(x);
          first.flags = a.flags;
          first.create = first.create || a.create;
        }
        if (!a.copy) implicit_keep_ = false;
        return;
      }
    }
    if (a.kind == Action::Kind::kRedirect && ++redirects_ > lim_.max_redirects)
      throw RuntimeError(a.pos, "more than " + std::to_string(lim_.max_redirects) + " redirects");
    if (!a.copy && a.kind != Action::Kind::kVacation) implicit_keep_ = false;
    a.edits_before = edits_.size();
    actions_.push_back(std::move(a));
  }

  void vacation(const Command& c, Scope& s) {
    Action a;
    a.kind = Action::Kind::kVacation;
    a.pos = c.pos;
    a.copy = true;  // vacation does not cancel the implicit keep
    VacationAction& v = a.vacation;
    v.reason = str(s, c.positional[0]);
    v.mime = has_tag(c, "mime");
    std::uint64_t seconds = 7ull * 86400;
    if (const Argument* d = tag(c, "days")) {
      std::uint64_t days = std::clamp<std::uint64_t>(d->number, static_cast<std::uint64_t>(ctx_.vacation_min_days),
                                                     static_cast<std::uint64_t>(ctx_.vacation_max_days));
      seconds = days * 86400;
    } else if (const Argument* sec = tag(c, "seconds")) {
      seconds = std::min<std::uint64_t>(sec->number, static_cast<std::uint64_t>(ctx_.vacation_max_days) * 86400);
    }
    v.seconds = seconds;
    std::vector<std::string> mine;
    if (!ctx_.envelope.to.empty()) mine.push_back(ctx_.envelope.to);
    if (!ctx_.envelope.orig_to.empty()) mine.push_back(ctx_.envelope.orig_to);
    for (const auto& x : ctx_.user_addresses) mine.push_back(x);
    if (const Argument* ad = tag(c, "addresses"))
      for (const auto& x : list(s, ad)) mine.push_back(x);
    std::string subject;
    bool has_subject = false;
    if (const Argument* sub = tag(c, "subject")) {
      subject = str(s, sub);
      has_subject = true;
    }
    v.from = ctx_.envelope.to;
    if (const Argument* f = tag(c, "from")) {
      // RFC 5230 4.3: a mailbox (an address, optionally with a phrase). Anything else is
      // ignored with a note rather than put into the reply's From field.
      std::string given = single_line(str(s, f));
      if (valid_mailbox(given))
        v.from = given;
      else
        notes_.push_back("vacation: :from \"" + given + "\" is not an address; using " + v.from);
    }
    // RFC 5230 4.2: the default handle is derived from the arguments.
    if (const Argument* h = tag(c, "handle")) v.handle = str(s, h);
    else v.handle = v.reason + "\n" + subject + "\n" + v.from + "\n" + (v.mime ? "mime" : "");
    std::string orig_subject;
    for (const auto& sv : header_values(s, c, {"subject"}, true)) { orig_subject = sv; break; }
    // One line: the caller writes it into a header field (no header injection).
    v.subject = single_line(has_subject ? subject : "Auto: " + orig_subject);
    for (const auto& id : header_values(s, c, {"message-id"}, false)) { v.in_reply_to = trim_ws(id); break; }
    std::string refs;
    for (const auto& r : header_values(s, c, {"references"}, false)) { refs = trim_ws(r); break; }
    v.references = refs.empty() ? v.in_reply_to : refs + " " + v.in_reply_to;
    v.to = ctx_.envelope.from;
    v.key = "vacation\n" + ctx_.user + "\n" + v.handle + "\n" + ascii_lower(v.to);
    if (auto why = vacation_refusal(s, c, mine, v)) {
      notes_.push_back("vacation: no reply to <" + v.to + ">: " + *why);
      // Still "used": a second vacation is an error either way.
      vacation_used_ = true;
      return;
    }
    if (vacation_used_) throw RuntimeError(c.pos, "vacation used more than once (RFC 5230)");
    vacation_used_ = true;
    add_action(std::move(a));
  }

  // RFC 5230 4.5-4.6 and RFC 3834: when not to reply. nullopt = reply.
  std::optional<std::string> vacation_refusal(Scope& s, const Command& c, const std::vector<std::string>& mine,
                                              const VacationAction& v) {
    if (vacation_used_) throw RuntimeError(c.pos, "vacation used more than once (RFC 5230)");
    const std::string& sender = v.to;
    if (sender.empty()) return "null sender";
    Address3 sa = split_address(sender);
    std::string local = ascii_lower(sa.local);
    if (local == "mailer-daemon" || local == "listserv" || local == "majordomo" || local.rfind("owner-", 0) == 0 ||
        (local.size() > 8 && local.compare(local.size() - 8, 8, "-request") == 0))
      return "sender " + sender + " is a system or list address";
    for (const auto& m : mine)
      if (iequals(m, sender)) return "sender is the recipient";
    // The message as it arrived: an editheader deletion before `vacation` must not turn a
    // list message into one that gets a reply.
    const std::vector<HeaderField>& original = msg_.header_fields();
    for (const auto& f : original) {
      std::string n = ascii_lower(f.name);
      std::string val = ascii_lower(trim_ws(mime::unfold(f.value)));
      if (n == "auto-submitted" && trim_ws(val.substr(0, val.find(';'))) != "no") return "Auto-Submitted: " + val;
      if (n == "precedence" && (val == "bulk" || val == "list" || val == "junk")) return "Precedence: " + val;
      if (n.rfind("list-", 0) == 0 &&
          (n == "list-id" || n == "list-help" || n == "list-subscribe" || n == "list-unsubscribe" ||
           n == "list-post" || n == "list-owner" || n == "list-archive"))
        return "mailing list (" + f.name + ")";
      if (n == "x-auto-response-suppress" && (val.find("all") != std::string::npos || val.find("oof") != std::string::npos))
        return "X-Auto-Response-Suppress: " + val;
    }
    // RFC 5230 4.5: one of the user's addresses must be in a recipient header.
    bool addressed = false;
    for (const char* h : {"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"}) {
      for (const auto& f : original) {
        if (!iequals(f.name, h)) continue;
        for (const auto& a : mime::parse_addresses(f.value)) {
          if (!a.host || !a.mailbox) continue;
          std::string addr = *a.mailbox + "@" + *a.host;
          for (const auto& m : mine)
            if (iequals(m, addr)) addressed = true;
        }
      }
    }
    if (!addressed) return "none of the recipient's addresses is in To/Cc/Bcc";
    if (ctx_.vacation_history && ctx_.vacation_history->replied_within(v.key, v.seconds))
      return "already replied within the period";
    return std::nullopt;
  }

  void fileinto(const Command& c, Scope& s, bool keep) {
    Action a;
    a.kind = keep ? Action::Kind::kKeep : Action::Kind::kFileinto;
    a.pos = c.pos;
    if (keep) explicit_keep_ = true;
    a.mailbox = keep ? ctx_.default_mailbox : str(s, c.positional[0]);
    if (!keep && a.mailbox.empty()) throw RuntimeError(c.pos, "fileinto: empty mailbox name");
    a.copy = has_tag(c, "copy");
    a.create = has_tag(c, "create");
    if (const Argument* f = tag(c, "flags")) a.flags = flag_list(s, f);
    else a.flags = flags_;
    add_action(std::move(a));
  }

  void edit_header(const Command& c, Scope& s) {
    if (++header_edits_ > lim_.max_header_edits)
      throw RuntimeError(c.pos, "more than " + std::to_string(lim_.max_header_edits) + " header edits");
    std::string name = str(s, c.positional[0]);
    if (!valid_header_name(name)) throw RuntimeError(c.pos, c.name + ": \"" + name + "\" is not a header field name");
    // RFC 5293 lets implementations protect fields; Received and Auto-Submitted are protected (as in Pigeonhole).
    bool protect = iequals(name, "received") || iequals(name, "auto-submitted");
    HeaderEdit e;
    e.name = name;
    if (c.name == "addheader") {
      // Line breaks would start new header fields in the stored copy: they become spaces
      // (the caller folds long values and RFC 2047-encodes non-ASCII ones).
      std::string value = single_line(str(s, c.positional[1]));
      if (protect) { notes_.push_back("editheader: " + name + " is protected"); return; }
      e.kind = HeaderEdit::Kind::kAdd;
      e.value = value;
      e.last = has_tag(c, "last");
      HeaderField f{name, " " + value};
      if (e.last) header_.push_back(f);
      else header_.insert(header_.begin(), f);
      edits_.push_back(std::move(e));
      return;
    }
    if (protect) { notes_.push_back("editheader: " + name + " is protected"); return; }
    e.kind = HeaderEdit::Kind::kDelete;
    Matcher m = matcher(c);
    std::vector<std::string> patterns;
    if (c.positional.size() == 2) patterns = list(s, c.positional[1]);
    std::vector<std::size_t> positions;  // indexes into header_
    for (std::size_t i = 0; i < header_.size(); ++i)
      if (iequals(header_[i].name, name)) positions.push_back(i);
    std::vector<std::size_t> chosen;  // 1-based occurrences
    if (const Argument* idx = tag(c, "index")) {
      std::size_t n = idx->number;
      if (n >= 1 && n <= positions.size()) chosen.push_back(has_tag(c, "last") ? positions.size() - n + 1 : n);
    } else {
      for (std::size_t k = 1; k <= positions.size(); ++k) chosen.push_back(k);
    }
    std::vector<std::size_t> del;
    for (std::size_t occ : chosen) {
      const HeaderField& f = header_[positions[occ - 1]];
      if (!patterns.empty()) {
        std::string v = mime::decode_header_value(mime::unfold(f.value));
        Scope tmp = s;  // deleteheader does not set match variables
        if (!match_any(tmp, m, {v}, patterns, c.pos)) continue;
      }
      del.push_back(occ);
    }
    if (del.empty()) return;
    for (auto it = del.rbegin(); it != del.rend(); ++it) header_.erase(header_.begin() + static_cast<long>(positions[*it - 1]));
    e.occurrences = del;
    edits_.push_back(std::move(e));
  }

  void set_command(const Command& c, Scope& s) {
    std::string name = ascii_lower(c.positional[0]->strings[0]);
    std::string value = str(s, c.positional[1]);
    if (has_tag(c, "lower")) value = ascii_lower(value);
    if (has_tag(c, "upper")) for (char& ch : value) if (ch >= 'a' && ch <= 'z') ch = char(ch - 32);
    if (has_tag(c, "lowerfirst") && !value.empty() && value[0] >= 'A' && value[0] <= 'Z') value[0] = char(value[0] + 32);
    if (has_tag(c, "upperfirst") && !value.empty() && value[0] >= 'a' && value[0] <= 'z') value[0] = char(value[0] - 32);
    if (has_tag(c, "quotewildcard")) value = quote_wildcards(value);
    if (has_tag(c, "length")) {
      // RFC 5229 4: the length in characters.
      std::size_t n = 0;
      for (unsigned char ch : value) if ((ch & 0xC0) != 0x80) ++n;
      value = std::to_string(n);
    }
    if (value.size() > lim_.max_variable_size) {
      std::size_t cut = lim_.max_variable_size;
      while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
      value.resize(cut);
    }
    *var_slot(s, name, true) = std::move(value);
  }

  void include(const Command& c, Scope& s) {
    if (++includes_ > lim_.max_includes) throw RuntimeError(c.pos, "more than " + std::to_string(lim_.max_includes) + " includes");
    if (depth_ >= lim_.max_include_depth)
      throw RuntimeError(c.pos, "include nested deeper than " + std::to_string(lim_.max_include_depth));
    std::string name = str(s, c.positional[0]);
    bool global = has_tag(c, "global");
    if (!valid_script_name(name)) throw RuntimeError(c.pos, "include: \"" + name + "\" is not a script name");
    std::string key = (global ? "g:" : "p:") + name;
    if (has_tag(c, "once") && included_once_.count(key)) return;
    // RFC 6609: including a script that is being executed is an error (recursion).
    for (const auto& active : include_stack_)
      if (active == key) throw RuntimeError(c.pos, "include: \"" + name + "\" includes itself");
    std::optional<std::string> text;
    if (ctx_.loader) text = ctx_.loader->load(global ? ScriptLoader::Location::kGlobal : ScriptLoader::Location::kPersonal, name);
    if (!text) {
      if (has_tag(c, "optional")) return;
      throw RuntimeError(c.pos, "include: script \"" + name + "\" does not exist");
    }
    auto it = compiled_.find(key);
    if (it == compiled_.end()) {
      CheckOptions opts;
      opts.limits = lim_;
      ParseResult pr = compile(*text, opts);
      if (!pr.script) throw RuntimeError(c.pos, "include: script \"" + name + "\": " + pr.errors[0].text());
      it = compiled_.emplace(key, std::move(pr.script)).first;
    }
    included_once_.insert(key);
    include_stack_.push_back(key);
    ++depth_;
    Scope inner;
    inner.script = it->second.get();
    try {
      block(inner.script->commands, inner);
    } catch (const ReturnSignal&) {
    } catch (const RuntimeError& e) {
      // Name the included script: its line alone would point into the wrong file. Nested
      // includes give a chain, outermost first.
      throw RuntimeError(c.pos, "in included script \"" + name + "\", line " + std::to_string(e.pos.line) + ": " +
                                    e.what());
    }
    --depth_;
    include_stack_.pop_back();
  }

  // ---- commands ----

  void block(const std::vector<Command>& cmds, Scope& s) {
    bool last_if_taken = false;  // for elsif/else: did an earlier branch of the chain run?
    for (const Command& c : cmds) {
      step(c.pos);
      const std::string& n = c.name;
      if (n == "if") {
        last_if_taken = test(*c.test, s);
        if (last_if_taken) block(c.block, s);
        continue;
      }
      if (n == "elsif") {
        if (!last_if_taken) {
          last_if_taken = test(*c.test, s);
          if (last_if_taken) block(c.block, s);
        }
        continue;
      }
      if (n == "else") {
        if (!last_if_taken) block(c.block, s);
        continue;
      }
      if (n == "require") continue;
      if (n == "stop") throw StopSignal{};
      if (n == "return") throw ReturnSignal{};
      if (n == "keep") fileinto(c, s, true);
      else if (n == "fileinto") fileinto(c, s, false);
      else if (n == "discard") {
        Action a;
        a.kind = Action::Kind::kDiscard;
        a.pos = c.pos;
        implicit_keep_ = false;
        bool seen = false;
        for (const auto& x : actions_) if (x.kind == Action::Kind::kDiscard) seen = true;
        if (!seen) add_action(std::move(a));
      } else if (n == "redirect") {
        Action a;
        a.kind = Action::Kind::kRedirect;
        a.pos = c.pos;
        a.address = trim_ws(str(s, c.positional[0]));
        if (a.address.size() > 2 && a.address.front() == '<' && a.address.back() == '>')
          a.address = a.address.substr(1, a.address.size() - 2);
        if (!plausible_address(a.address)) throw RuntimeError(c.pos, "redirect: \"" + a.address + "\" is not an address");
        a.copy = has_tag(c, "copy");
        if (!ctx_.redirects_allowed) {
          // A loop (the caller saw its own Delivered-To): no copy goes out, and the
          // implicit keep stays, so the message is not lost with the redirect.
          notes_.push_back("redirect to <" + a.address + "> suppressed: the message already passed this recipient");
        } else {
          add_action(std::move(a));
        }
      } else if (n == "reject" || n == "ereject") {
        Action a;
        a.kind = n == "reject" ? Action::Kind::kReject : Action::Kind::kEreject;
        a.pos = c.pos;
        a.reason = str(s, c.positional[0]);
        add_action(std::move(a));
      } else if (n == "set") set_command(c, s);
      else if (n == "vacation") vacation(c, s);
      else if (n == "setflag" || n == "addflag" || n == "removeflag") flag_command(c, s);
      else if (n == "include") include(c, s);
      else if (n == "global") {
        for (const auto& name : list(s, c.positional[0])) {
          std::string ln = ascii_lower(name);
          if (!valid_variable_name(ln)) throw RuntimeError(c.pos, "global: \"" + name + "\" is not a variable name");
          s.globals.insert(ln);
        }
      } else if (n == "addheader" || n == "deleteheader") edit_header(c, s);
      else throw RuntimeError(c.pos, "command '" + n + "' is not implemented");
      last_if_taken = false;
    }
  }

  void finish(RunResult& r) {
    r.actions = std::move(actions_);
    if (implicit_keep_) {
      Action keep;
      keep.kind = Action::Kind::kKeep;
      keep.implicit = true;
      keep.mailbox = ctx_.default_mailbox;
      keep.flags = flags_;
      keep.edits_before = edits_.size();
      // An explicit keep/fileinto of INBOX already stored it (RFC 5228 2.10.3).
      bool stored = false;
      for (auto& a : r.actions)
        if ((a.kind == Action::Kind::kKeep || a.kind == Action::Kind::kFileinto) && a.mailbox == keep.mailbox) stored = true;
      if (!stored) r.actions.push_back(keep);
    }
    r.header_edits = std::move(edits_);
    if (!r.header_edits.empty()) r.edited_header = header_;
    r.duplicate_marks = std::move(marks_);
  }

  const Message& msg_;
  const RunContext& ctx_;
  const Limits& lim_;
  std::chrono::steady_clock::time_point start_;
  std::time_t now_;
  std::uint64_t steps_ = 0;
  std::vector<HeaderField> header_;  // the working header (editheader changes it)
  std::optional<std::vector<BodyPart>> body_parts_;
  std::vector<Action> actions_;
  std::vector<HeaderEdit> edits_;
  std::vector<RunResult::DuplicateMark> marks_;
  std::vector<std::string> notes_;
  std::vector<std::string> flags_;   // the internal flags variable (RFC 5232 3)
  std::map<std::string, std::string> globals_;
  std::map<std::string, std::unique_ptr<Script>> compiled_;
  std::set<std::string> included_once_;
  std::vector<std::string> include_stack_;
  std::size_t depth_ = 0, includes_ = 0, redirects_ = 0, header_edits_ = 0;
  bool implicit_keep_ = true, explicit_keep_ = false, vacation_used_ = false;
};

}  // namespace

namespace detail {

bool valid_mailbox(std::string_view s) {
  auto addrs = mime::parse_addresses(s);
  return addrs.size() == 1 && addrs[0].mailbox && addrs[0].host && *addrs[0].host != "MISSING_DOMAIN" &&
         *addrs[0].mailbox != "MISSING_MAILBOX";
}

bool valid_script_name(std::string_view n) { return !n.empty() && n.find('/') == std::string_view::npos; }

}  // namespace detail

RunResult run(const Script& script, const Message& message, const RunContext& context) {
  return run(std::vector<const Script*>{&script}, message, context);
}

RunResult run(const std::vector<const Script*>& scripts, const Message& message, const RunContext& context) {
  bool checked = !scripts.empty();
  for (const Script* s : scripts)
    if (!s || !s->checked) checked = false;
  if (!checked) {
    RunResult r;
    r.ok = false;
    r.error = Error{{}, "script was not checked (call check() or compile() first)"};
    Action keep;
    keep.kind = Action::Kind::kKeep;
    keep.implicit = true;
    keep.mailbox = context.default_mailbox;
    r.actions.push_back(keep);
    return r;
  }
  return Interpreter(message, context).execute(scripts);
}

bool already_delivered_to(const Message& message, std::string_view address) {
  for (const auto& f : message.header_fields()) {
    if (!iequals(f.name, "delivered-to")) continue;
    std::string v = trim_ws(mime::unfold(f.value));
    if (v.size() > 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
    if (same_address(v, address) || iequals(v, address)) return true;
  }
  return false;
}

std::size_t count_fields(const Message& message, std::string_view name) {
  std::size_t n = 0;
  for (const auto& f : message.header_fields())
    if (iequals(f.name, name)) ++n;
  return n;
}

namespace {
double spam_ratio(double score, double max_score) {
  if (!(max_score > 0)) return 0;
  double r = score / max_score;
  return r < 0 ? 0 : (r > 1 ? 1 : r);
}
}  // namespace

int spamtest_value(double score, double max_score) { return 1 + static_cast<int>(spam_ratio(score, max_score) * 9); }
int spamtest_percent(double score, double max_score) {
  return static_cast<int>(spam_ratio(score, max_score) * 100 + 0.5);
}

std::string quote_string(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0') continue;
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') {
        out += "\r\n";
        ++i;
      }
      continue;
    }
    if (c == '\n') {
      out += "\r\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string spam_to_junk_script(int threshold, std::string_view mailbox) {
  return "require [\"spamtest\", \"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\r\n"
         "if spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"" +
         std::to_string(std::clamp(threshold, 1, 10)) + "\" {\r\n  fileinto " + quote_string(mailbox) +
         ";\r\n  stop;\r\n}\r\n";
}

std::string describe(const RunResult& r) {
  std::string out;
  // One line per action: control characters (the CRLF of a text: reason) become '?'.
  auto line = [](std::string s) {
    for (char& c : s)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return s;
  };
  if (!r.ok && r.error) out += "error " + r.error->text() + "\n";
  auto flags = [](const std::vector<std::string>& f) {
    std::vector<std::string> l;
    for (const auto& x : f) l.push_back(ascii_lower(x));
    std::sort(l.begin(), l.end());
    std::string s;
    for (const auto& x : l) s += " " + x;
    return s.empty() ? std::string() : " flags" + s;
  };
  for (const auto& a : r.actions) {
    switch (a.kind) {
      case Action::Kind::kKeep:
      case Action::Kind::kFileinto:
        out += "store " + line(a.mailbox) + flags(a.flags) + (a.create ? " create" : "") + "\n";
        break;
      case Action::Kind::kRedirect: out += "redirect " + line(a.address) + "\n"; break;
      case Action::Kind::kDiscard: out += "discard\n"; break;
      case Action::Kind::kReject: out += "reject " + line(a.reason) + "\n"; break;
      case Action::Kind::kEreject: out += "ereject " + line(a.reason) + "\n"; break;
      case Action::Kind::kVacation:
        out += "vacation seconds=" + std::to_string(a.vacation.seconds) + " subject=" + line(a.vacation.subject) + "\n";
        break;
    }
  }
  for (const auto& m : r.duplicate_marks)
    out += m.handle.empty() ? "track duplicate\n" : "track duplicate with handle: " + m.handle + "\n";
  return out;
}

}  // namespace postline::sieve
