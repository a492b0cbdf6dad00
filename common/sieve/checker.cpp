// check(): gives the generic syntax tree its meaning. Every command and test is described
// by a Spec (its extension, its tags and their groups, its positional argument types);
// the checker validates the script against them and fills Test/Command::tags/positional
// so the interpreter never re-validates. Errors carry the line of the offending token.
#include <algorithm>
#include <cstdio>

#include "common/sieve/internal.h"
#include "common/sieve/sieve.h"

namespace postline::sieve {

const std::vector<std::string>& supported_extensions() {
  static const std::vector<std::string> all = {
      "fileinto", "reject", "ereject", "envelope", "variables", "vacation", "vacation-seconds",
      "imap4flags", "subaddress", "copy", "relational", "comparator-i;ascii-numeric", "body",
      "mailbox", "include", "date", "index", "duplicate", "editheader", "spamtest",
      "spamtestplus", "encoded-character"};
  return all;
}

namespace {

using detail::ArgType;

struct TagSpec {
  const char* name;
  ArgType param;      // kNone: a flag tag
  const char* group;  // tags of one group exclude each other
  const char* ext;    // "" = base
};

const TagSpec kComparator{"comparator", ArgType::kString, "comparator", ""};
const TagSpec kIs{"is", ArgType::kNone, "match", ""};
const TagSpec kContains{"contains", ArgType::kNone, "match", ""};
const TagSpec kMatches{"matches", ArgType::kNone, "match", ""};
const TagSpec kCount{"count", ArgType::kString, "match", "relational"};
const TagSpec kValue{"value", ArgType::kString, "match", "relational"};
const TagSpec kAll{"all", ArgType::kNone, "address-part", ""};
const TagSpec kLocal{"localpart", ArgType::kNone, "address-part", ""};
const TagSpec kDomain{"domain", ArgType::kNone, "address-part", ""};
const TagSpec kUser{"user", ArgType::kNone, "address-part", "subaddress"};
const TagSpec kDetail{"detail", ArgType::kNone, "address-part", "subaddress"};
const TagSpec kIndex{"index", ArgType::kNumber, "index", "index"};
const TagSpec kLast{"last", ArgType::kNone, "last", "index"};

struct Spec {
  const char* name;
  std::vector<const char*> exts;     // any one of them enables it; empty = base
  std::vector<TagSpec> tags;
  std::vector<ArgType> positional;
  std::size_t optional_positional = 0;  // trailing positionals that may be absent
  enum class Sub { kNone, kTest, kTestList } sub = Sub::kNone;
  enum class Block { kNone, kRequired } block = Block::kNone;
};

std::vector<TagSpec> match_tags() { return {kComparator, kIs, kContains, kMatches, kCount, kValue}; }
std::vector<TagSpec> address_tags() {
  auto t = match_tags();
  for (auto x : {kAll, kLocal, kDomain, kUser, kDetail}) t.push_back(x);
  return t;
}
std::vector<TagSpec> with(std::vector<TagSpec> a, std::initializer_list<TagSpec> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const TagSpec kFlags{"flags", ArgType::kStringList, "flags", "imap4flags"};
const TagSpec kCopy{"copy", ArgType::kNone, "copy", "copy"};
const TagSpec kCreate{"create", ArgType::kNone, "create", "mailbox"};
const TagSpec kZone{"zone", ArgType::kString, "zone", "date"};
const TagSpec kOrigZone{"originalzone", ArgType::kNone, "zone", "date"};

const std::vector<Spec>& command_specs() {
  static const std::vector<Spec> specs = {
      {"require", {}, {}, {ArgType::kStringList}},
      {"if", {}, {}, {}, 0, Spec::Sub::kTest, Spec::Block::kRequired},
      {"elsif", {}, {}, {}, 0, Spec::Sub::kTest, Spec::Block::kRequired},
      {"else", {}, {}, {}, 0, Spec::Sub::kNone, Spec::Block::kRequired},
      {"stop", {}, {}, {}},
      {"keep", {}, {kFlags}, {}},
      {"discard", {}, {}, {}},
      {"redirect", {}, {kCopy}, {ArgType::kString}},
      {"fileinto", {"fileinto"}, {kFlags, kCopy, kCreate}, {ArgType::kString}},
      {"reject", {"reject"}, {}, {ArgType::kString}},
      {"ereject", {"ereject"}, {}, {ArgType::kString}},
      {"set", {"variables"},
       {{"lower", ArgType::kNone, "case", ""}, {"upper", ArgType::kNone, "case", ""},
        {"lowerfirst", ArgType::kNone, "casefirst", ""}, {"upperfirst", ArgType::kNone, "casefirst", ""},
        {"quotewildcard", ArgType::kNone, "quote", ""}, {"length", ArgType::kNone, "length", ""}},
       {ArgType::kString, ArgType::kString}},
      {"vacation", {"vacation"},
       {{"days", ArgType::kNumber, "period", ""}, {"seconds", ArgType::kNumber, "period", "vacation-seconds"},
        {"subject", ArgType::kString, "subject", ""}, {"from", ArgType::kString, "from", ""},
        {"addresses", ArgType::kStringList, "addresses", ""}, {"mime", ArgType::kNone, "mime", ""},
        {"handle", ArgType::kString, "handle", ""}},
       {ArgType::kString}},
      {"setflag", {"imap4flags"}, {}, {ArgType::kStringList, ArgType::kStringList}, 1},
      {"addflag", {"imap4flags"}, {}, {ArgType::kStringList, ArgType::kStringList}, 1},
      {"removeflag", {"imap4flags"}, {}, {ArgType::kStringList, ArgType::kStringList}, 1},
      {"include", {"include"},
       {{"personal", ArgType::kNone, "location", ""}, {"global", ArgType::kNone, "location", ""},
        {"once", ArgType::kNone, "once", ""}, {"optional", ArgType::kNone, "optional", ""}},
       {ArgType::kString}},
      {"return", {"include"}, {}, {}},
      {"global", {"include"}, {}, {ArgType::kStringList}},
      {"addheader", {"editheader"}, {{"last", ArgType::kNone, "last", ""}}, {ArgType::kString, ArgType::kString}},
      {"deleteheader", {"editheader"},
       with(match_tags(), {{"index", ArgType::kNumber, "index", ""}, {"last", ArgType::kNone, "last", ""}}),
       {ArgType::kString, ArgType::kStringList}, 1},
  };
  return specs;
}

const std::vector<Spec>& test_specs() {
  static const std::vector<Spec> specs = {
      {"true", {}, {}, {}},
      {"false", {}, {}, {}},
      {"not", {}, {}, {}, 0, Spec::Sub::kTest},
      {"allof", {}, {}, {}, 0, Spec::Sub::kTestList},
      {"anyof", {}, {}, {}, 0, Spec::Sub::kTestList},
      {"exists", {}, {}, {ArgType::kStringList}},
      {"size", {}, {{"over", ArgType::kNone, "size", ""}, {"under", ArgType::kNone, "size", ""}}, {ArgType::kNumber}},
      {"header", {}, with(match_tags(), {kIndex, kLast}), {ArgType::kStringList, ArgType::kStringList}},
      {"address", {}, with(address_tags(), {kIndex, kLast}), {ArgType::kStringList, ArgType::kStringList}},
      {"envelope", {"envelope"}, address_tags(), {ArgType::kStringList, ArgType::kStringList}},
      {"string", {"variables"}, match_tags(), {ArgType::kStringList, ArgType::kStringList}},
      {"hasflag", {"imap4flags"}, match_tags(), {ArgType::kStringList, ArgType::kStringList}, 1},
      {"body", {"body"},
       with(match_tags(), {{"raw", ArgType::kNone, "transform", ""}, {"content", ArgType::kStringList, "transform", ""},
                           {"text", ArgType::kNone, "transform", ""}}),
       {ArgType::kStringList}},
      {"mailboxexists", {"mailbox"}, {}, {ArgType::kStringList}},
      {"date", {"date"}, with(match_tags(), {kZone, kOrigZone, kIndex, kLast}),
       {ArgType::kString, ArgType::kString, ArgType::kStringList}},
      {"currentdate", {"date"}, with(match_tags(), {kZone}), {ArgType::kString, ArgType::kStringList}},
      {"duplicate", {"duplicate"},
       {{"handle", ArgType::kString, "handle", ""}, {"header", ArgType::kString, "id", ""},
        {"uniqueid", ArgType::kString, "id", ""}, {"seconds", ArgType::kNumber, "seconds", ""},
        {"last", ArgType::kNone, "last", ""}},
       {}},
      {"spamtest", {"spamtest", "spamtestplus"},
       with(match_tags(), {{"percent", ArgType::kNone, "percent", "spamtestplus"}}), {ArgType::kString}},
  };
  return specs;
}

const Spec* find(const std::vector<Spec>& specs, std::string_view name) {
  for (const auto& s : specs)
    if (name == s.name) return &s;
  return nullptr;
}

const char* type_name(ArgType t) {
  switch (t) {
    case ArgType::kNone: return "nothing";
    case ArgType::kString: return "a string";
    case ArgType::kStringList: return "a string list";
    case ArgType::kNumber: return "a number";
  }
  return "?";
}

bool fits(const Argument& a, ArgType t) {
  switch (t) {
    case ArgType::kString: return a.kind == Argument::Kind::kString;
    case ArgType::kStringList: return a.kind == Argument::Kind::kString || a.kind == Argument::Kind::kStringList;
    case ArgType::kNumber: return a.kind == Argument::Kind::kNumber;
    case ArgType::kNone: return false;
  }
  return false;
}

const std::set<std::string> kDateParts = {"year", "month", "day", "date", "julian", "hour", "minute",
                                          "second", "time", "iso8601", "std11", "zone", "weekday"};

class Checker {
 public:
  Checker(Script& s, const CheckOptions& o) : script_(s), opts_(o) {}

  std::vector<Error> run() {
    bool requires_allowed = true;
    commands(script_.commands, requires_allowed, 0);
    script_.checked = errors_.empty();
    return errors_;
  }

 private:
  void error(Position p, std::string m) {
    ++error_count_;
    if (errors_.size() < 50) errors_.push_back({p, std::move(m)});  // enough for any reader
  }
  bool has(std::string_view ext) const { return script_.required.count(std::string(ext)) > 0; }
  bool enabled(const std::vector<const char*>& exts) const {
    if (exts.empty()) return true;
    for (auto e : exts)
      if (has(e)) return true;
    return false;
  }

  void commands(std::vector<Command>& list, bool& requires_allowed, std::size_t depth) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      Command& c = list[i];
      if (c.name == "require") {
        if (!requires_allowed || depth > 0) error(c.pos, "require must come before any other command");
      } else {
        requires_allowed = false;
      }
      if ((c.name == "elsif" || c.name == "else") &&
          (i == 0 || (list[i - 1].name != "if" && list[i - 1].name != "elsif"))) {
        error(c.pos, "'" + c.name + "' must follow 'if' or 'elsif'");
      }
      command(c, depth);
    }
  }

  void command(Command& c, std::size_t depth) {
    const Spec* spec = find(command_specs(), c.name);
    if (!spec) {
      error(c.pos, "unknown command '" + c.name + "'");
      return;
    }
    if (!enabled(spec->exts)) {
      error(c.pos, "command '" + c.name + "' needs require \"" + spec->exts[0] + "\"");
      return;
    }
    decode_encoded(c.args);
    bool args_ok = arguments(c.name, "command", c.pos, *spec, c.args, c.tags, c.positional);
    if (spec->sub == Spec::Sub::kTest) {
      if (!c.test) error(c.pos, "'" + c.name + "' needs a test");
      else test(*c.test, depth + 1);
    } else if (c.test || !c.test_list.empty()) {
      error(c.pos, "'" + c.name + "' takes no test");
    }
    if (spec->block == Spec::Block::kRequired && !c.has_block) error(c.pos, "'" + c.name + "' needs a block");
    if (spec->block == Spec::Block::kNone && c.has_block) error(c.pos, "'" + c.name + "' takes no block");
    if (c.name == "require" && args_ok) {
      if (!c.positional.empty()) {
        for (const auto& cap : c.positional[0]->strings) {
          auto& sup = supported_extensions();
          bool known = std::find(sup.begin(), sup.end(), cap) != sup.end();
          if (known && !opts_.allowed_extensions.empty() && !opts_.allowed_extensions.count(cap)) known = false;
          if (!known) {
            error(c.pos, "unknown or disabled extension \"" + cap + "\" in require");
            continue;
          }
          script_.required.insert(cap);
          // These imply their base (RFC 5235, RFC 6131): "spamtestplus" alone enables
          // spamtest, "vacation-seconds" alone enables vacation.
          if (cap == "spamtestplus") script_.required.insert("spamtest");
          if (cap == "vacation-seconds") script_.required.insert("vacation");
        }
      }
    }
    // The semantic checks read argument values: only when the types are right.
    if (args_ok) semantics_command(c);
    if (c.has_block) {
      bool no_require = false;
      commands(c.block, no_require, depth + 1);
    }
  }

  void test(Test& t, std::size_t depth) {
    const Spec* spec = find(test_specs(), t.name);
    if (!spec) {
      error(t.pos, "unknown test '" + t.name + "'");
      return;
    }
    if (!enabled(spec->exts)) {
      error(t.pos, "test '" + t.name + "' needs require \"" + spec->exts[0] + "\"");
      return;
    }
    decode_encoded(t.args);
    bool args_ok = arguments(t.name, "test", t.pos, *spec, t.args, t.tags, t.positional);
    if (spec->sub == Spec::Sub::kTest && t.tests.size() != 1) error(t.pos, "'" + t.name + "' needs exactly one test");
    if (spec->sub == Spec::Sub::kTestList && t.tests.empty()) error(t.pos, "'" + t.name + "' needs a test list");
    if (spec->sub == Spec::Sub::kNone && !t.tests.empty()) error(t.pos, "'" + t.name + "' takes no test");
    if (args_ok) semantics_test(t);
    for (auto& inner : t.tests) test(inner, depth + 1);
  }

  bool arguments(const std::string& name, const char* what, Position where, const Spec& spec, const std::vector<Argument>& args,
                 std::map<std::string, const Argument*>& tags, std::vector<const Argument*>& positional) {
    tags.clear();
    positional.clear();
    std::size_t errors_before = error_count_;
    std::map<std::string, std::string> groups;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
      const Argument& a = args[i];
      if (a.kind != Argument::Kind::kTag) break;
      const TagSpec* ts = nullptr;
      for (const auto& s : spec.tags)
        if (a.tag == s.name) ts = &s;
      if (!ts || (*ts->ext && !has(ts->ext))) {
        error(a.pos, "unknown tag ':" + a.tag + "' for the " + name + " " + what +
                         (ts ? std::string(" (needs require \"") + ts->ext + "\")" : ""));
        if (ts && ts->param != ArgType::kNone && i + 1 < args.size() && args[i + 1].kind != Argument::Kind::kTag) ++i;
        continue;
      }
      auto [it, fresh] = groups.emplace(ts->group, a.tag);
      if (!fresh) {
        error(a.pos, "':" + a.tag + "' conflicts with ':" + it->second + "' in " + name);
        continue;
      }
      const Argument* param = nullptr;
      if (ts->param != ArgType::kNone) {
        if (i + 1 >= args.size() || !fits(args[i + 1], ts->param)) {
          error(a.pos, "':" + a.tag + "' needs " + type_name(ts->param));
          continue;
        }
        param = &args[++i];
      }
      tags[a.tag] = param;
    }
    for (; i < args.size(); ++i) {
      const Argument& a = args[i];
      if (a.kind == Argument::Kind::kTag) {
        error(a.pos, "tag ':" + a.tag + "' must come before the other arguments of " + name);
        continue;
      }
      positional.push_back(&a);
    }
    std::size_t want = spec.positional.size();
    std::size_t min = want - spec.optional_positional;
    if (positional.size() < min || positional.size() > want) {
      error(where, name + " takes " +
                (min == want ? std::to_string(want) : std::to_string(min) + " to " + std::to_string(want)) +
                " positional argument(s), found " + std::to_string(positional.size()));
      if (positional.size() > want) positional.resize(want);
      return false;
    }
    // Optional positionals are leading ones (setflag [varname] list): shift types.
    std::size_t offset = want - positional.size();
    for (std::size_t k = 0; k < positional.size(); ++k) {
      if (!fits(*positional[k], spec.positional[k + offset])) {
        error(positional[k]->pos, "argument " + std::to_string(k + 1) + " of " + name + " must be " +
                                      type_name(spec.positional[k + offset]));
      }
    }
    return error_count_ == errors_before;
  }

  // RFC 5228 2.4.2.4: with "encoded-character" required, encoded characters are part of
  // the string's value from the start (before variables see it), as in Pigeonhole.
  void decode_encoded(std::vector<Argument>& args) {
    if (!has("encoded-character")) return;
    for (auto& a : args) {
      for (auto& str : a.strings) {
        if (str.find("${") == std::string::npos) continue;
        std::string why;
        auto decoded = detail::decode_encoded_characters(str, &why);
        if (decoded) str = std::move(*decoded);
        else error(a.pos, why);
      }
    }
  }

  void comparator_and_match(const std::map<std::string, const Argument*>& tags, Position p) {
    auto c = tags.find("comparator");
    if (c != tags.end() && c->second) {
      const std::string& name = c->second->strings[0];
      if (name == "i;ascii-numeric") {
        if (!has("comparator-i;ascii-numeric")) error(p, "comparator \"i;ascii-numeric\" needs require \"comparator-i;ascii-numeric\"");
      } else if (name != "i;octet" && name != "i;ascii-casemap") {
        error(p, "unknown comparator \"" + name + "\"");
      }
      // RFC 4790: i;ascii-numeric has equality and ordering, no substring operation,
      // and RFC 5228 2.7.3 makes such a combination an error.
      if (name == "i;ascii-numeric")
        for (const char* mt : {"contains", "matches"})
          if (tags.count(mt)) error(p, std::string("comparator \"i;ascii-numeric\" cannot do :") + mt);
    }
    for (const char* rel : {"count", "value"}) {
      auto r = tags.find(rel);
      if (r != tags.end() && r->second) {
        static const std::set<std::string> ops = {"gt", "ge", "lt", "le", "eq", "ne"};
        std::string op = detail::ascii_lower(r->second->strings[0]);
        if (!ops.count(op)) error(p, "relational operator \"" + r->second->strings[0] + "\" is not one of gt ge lt le eq ne");
      }
    }
  }

  void semantics_test(Test& t) {
    comparator_and_match(t.tags, t.pos);
    // RFC 5260: :last counts :index from the end, so alone it means nothing (duplicate's
    // own :last is another tag).
    if (t.name != "duplicate" && t.tags.count("last") && !t.tags.count("index")) error(t.pos, "':last' needs ':index'");
    if (t.tags.count("index") && t.tags.at("index") && t.tags.at("index")->number == 0)
      error(t.pos, "':index' counts from 1");
    if (t.name == "size" && !t.tags.count("over") && !t.tags.count("under")) error(t.pos, "size needs :over or :under");
    if (t.name == "address" && !t.positional.empty()) {
      // RFC 5228 2.7.4: the address test is restricted to headers that contain addresses.
      // The list is Pigeonhole's, so scripts move between the two unchanged.
      static const std::set<std::string> address_headers = {
          "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to",
          "resent-cc", "resent-bcc", "resent-reply-to", "delivered-to", "errors-to", "x-original-to",
          "mail-followup-to", "mail-reply-to"};
      for (const auto& h : t.positional[0]->strings) {
        if (has("variables") && h.find("${") != std::string::npos) continue;
        if (!address_headers.count(detail::ascii_lower(h)))
          error(t.pos, "header \"" + h + "\" does not hold addresses (the address test allows From, To, Cc, "
                       "Bcc, Sender, Reply-To, Resent-*, Delivered-To and the like)");
      }
    }
    if (t.name == "envelope" && !t.positional.empty()) {
      for (const auto& part : t.positional[0]->strings) {
        std::string p = detail::ascii_lower(part);
        if (p != "from" && p != "to" && p != "auth" && !has("variables")) {
          error(t.pos, "unknown envelope part \"" + part + "\" (from, to or auth)");
        }
      }
    }
    if ((t.name == "date" || t.name == "currentdate") && t.positional.size() >= 2) {
      const Argument* part = t.positional[t.name == "date" ? 1 : 0];
      if (part->kind == Argument::Kind::kString && !kDateParts.count(detail::ascii_lower(part->strings[0])) &&
          !has("variables"))
        error(t.pos, "unknown date part \"" + part->strings[0] + "\"");
    }
    if (t.name == "hasflag" && t.positional.size() == 2 && !has("variables"))
      error(t.pos, "hasflag names a variable only with require \"variables\" (RFC 5232)");
    if (t.name == "spamtest" && t.tags.count("percent") && !has("spamtestplus"))
      error(t.pos, "':percent' needs require \"spamtestplus\"");
  }

  void semantics_command(Command& c) {
    comparator_and_match(c.tags, c.pos);
    if ((c.name == "setflag" || c.name == "addflag" || c.name == "removeflag") && c.positional.size() == 2 &&
        !has("variables"))
      error(c.pos, c.name + " names a variable only with require \"variables\" (RFC 5232)");
    if (c.name == "deleteheader" && c.positional[0]->kind != Argument::Kind::kString) {
      error(c.positional[0]->pos, "argument 1 of deleteheader must be a string");
      return;
    }
    // deleteheader compares each field on its own, so there is nothing for :count to count;
    // refused rather than given an invented meaning (Pigeonhole 0.5.19 crashes on it).
    if (c.name == "deleteheader" && c.tags.count("count"))
      error(c.pos, "deleteheader cannot use :count (it matches one field at a time)");
    // deleteheader :last without :index is accepted and means nothing (as in Pigeonhole).
    if (c.name == "global")
      for (const auto& n : c.positional[0]->strings)
        if (!(has("variables") && n.find("${") != std::string::npos) && !detail::valid_variable_name(n))
          error(c.positional[0]->pos, "global: \"" + n + "\" is not a variable name");
    if (c.name == "redirect" && !c.positional.empty() && !has("variables")) {
      const std::string& a = c.positional[0]->strings[0];
      if (!detail::plausible_address(a)) error(c.positional[0]->pos, "redirect: \"" + a + "\" is not an address");
    }
    if (c.name == "set" && !c.positional.empty()) {
      const std::string& n = c.positional[0]->strings[0];
      if (!detail::valid_variable_name(n)) {
        error(c.positional[0]->pos, "set: \"" + n + "\" is not a variable name");
      } else if (auto dot = n.find('.'); dot != std::string::npos) {
        // RFC 5229 3: namespaces come from extensions; the only one here is include's
        // "global." (RFC 6609).
        std::string ns = detail::ascii_lower(n.substr(0, dot));
        if (ns != "global" || !has("include"))
          error(c.positional[0]->pos, "set: unknown variable namespace \"" + n.substr(0, dot) + "\"");
      }
    }
    auto literal = [&](const Argument* a) { return !has("variables") || a->strings[0].find("${") == std::string::npos; };
    if (c.name == "include" && !c.positional.empty() && literal(c.positional[0]) &&
        !detail::valid_script_name(c.positional[0]->strings[0]))
      error(c.positional[0]->pos, "include: \"" + c.positional[0]->strings[0] + "\" is not a script name");
    if (c.name == "vacation") {
      auto f = c.tags.find("from");
      if (f != c.tags.end() && f->second && literal(f->second) && !detail::valid_mailbox(f->second->strings[0]))
        error(f->second->pos, "vacation: :from \"" + f->second->strings[0] + "\" is not an address");
    }
    if ((c.name == "addheader" || c.name == "deleteheader") && !c.positional.empty()) {
      const std::string& n = c.positional[0]->strings[0];
      if (!has("variables") && !detail::valid_header_name(n))
        error(c.positional[0]->pos, c.name + ": \"" + n + "\" is not a header field name");
    }
  }

  Script& script_;
  const CheckOptions& opts_;
  std::vector<Error> errors_;
  std::size_t error_count_ = 0;
};

}  // namespace

std::vector<Error> check(Script& script, const CheckOptions& options) {
  script.required.clear();
  return Checker(script, options).run();
}

ParseResult compile(std::string_view text, const CheckOptions& options) {
  ParseResult r = parse(text, options.limits);
  if (!r.script) return r;
  r.errors = check(*r.script, options);
  if (!r.errors.empty()) r.script.reset();
  return r;
}

}  // namespace postline::sieve
