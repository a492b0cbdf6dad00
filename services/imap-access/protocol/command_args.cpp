#include "services/imap-access/protocol/command_args.h"

#include "services/imap-access/protocol/encoder.h"

#include <algorithm>
#include <cctype>
#include <array>

namespace postline::imap {

namespace {

[[noreturn]] void bad(const std::string& why) { throw SyntaxError(why); }

// Strings that end up in the store, in authd or in a log: no NUL. The grammar
// allows none either (quoted chars and CHAR8 exclude it); the Reader does not check.
void check_text(const std::string& s, size_t max, const char* what) {
  if (s.size() > max) bad(std::string(what) + " longer than " + std::to_string(max) + " octets");
  if (s.find('\0') != std::string::npos) bad(std::string("NUL in ") + what);
}

std::string mailbox(Reader& r, const char* what = "mailbox name") {
  std::string s = r.astring();
  check_text(s, kMaxMailboxNameOctets, what);
  return s;
}

std::string pattern(Reader& r) {
  std::string s = r.list_mailbox();
  check_text(s, kMaxMailboxNameOctets, "mailbox pattern");
  return s;
}

// `allow_saved`: "$" (RFC 5182) is allowed, where a command acts on messages
// of the selected mailbox (not in SELECT's QRESYNC parameters).
SequenceSet sequence_set(Reader& r, const char* what = "sequence set", bool allow_saved = false) {
  auto set = SequenceSet::parse(r.sequence_set_text(), allow_saved);
  if (!set) bad(std::string("invalid ") + what);
  return *set;
}

// RFC 7162 3.2.5: seq-match-data never contains '*' (numbers are paired one by one).
SequenceSet sequence_set_no_star(Reader& r, const char* what) {
  std::string text = r.sequence_set_text();
  if (text.find('*') != std::string::npos) bad(std::string("'*' is not allowed in ") + what);
  auto set = SequenceSet::parse(text);
  if (!set) bad(std::string("invalid ") + what);
  return *set;
}

uint64_t numbers_in(const SequenceSet& set) {
  uint64_t n = 0;
  for (auto [lo, hi] : set.resolve(1)) n += uint64_t{hi} - lo + 1;
  return n;
}

// mod-sequence-value / mod-sequence-valzer: at most 63 bits (number64 is). 0 is accepted
// everywhere, also where RFC 7162 wants >= 1 (CHANGEDSINCE, QRESYNC): clients do
// send CHANGEDSINCE 0 (iPhone Mail), and 0 means "everything", which is harmless.
uint64_t mod_sequence(Reader& r) {
  uint64_t n = r.number64();
  if (n > kMaxModSequence) bad("mod-sequence value too large");
  return n;
}

std::string upper_atom(Reader& r) { return to_upper(r.atom()); }

// flag (RFC 9051 9) as a client may set it: the five settable system flags in
// canonical case, or a keyword. \Recent is the server's alone, \* appears only
// in PERMANENTFLAGS, and an unknown \flag is nothing we could store.
std::string settable_flag(Reader& r) {
  std::string f = r.flag();
  if (f[0] != '\\') {
    if (f.size() > kMaxKeywordOctets) bad("keyword longer than " + std::to_string(kMaxKeywordOctets) + " octets");
    return f;
  }
  static constexpr std::array<std::string_view, 5> kSystem = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
                                                              "\\Draft"};
  for (auto s : kSystem)
    if (iequals(f, s)) return std::string(s);
  if (iequals(f, "\\Recent")) bad("\\Recent cannot be set by a client");
  bad("invalid system flag " + f);
}

void add_flag(std::vector<std::string>& flags, Reader& r) {
  if (flags.size() >= kMaxFlags) bad("more than " + std::to_string(kMaxFlags) + " flags");
  flags.push_back(settable_flag(r));
}

// flag-list = "(" [flag *(SP flag)] ")"
std::vector<std::string> flag_list(Reader& r) {
  std::vector<std::string> flags;
  r.expect('(');
  if (r.try_char(')')) return flags;
  for (;;) {
    add_flag(flags, r);
    if (r.try_char(')')) return flags;
    r.sp();
  }
}

// "(" status-att *(SP status-att) ")"
StatusItems status_items(Reader& r) {
  static constexpr std::pair<std::string_view, bool StatusItems::*> kItems[] = {
      {"MESSAGES", &StatusItems::messages},
      {"UIDNEXT", &StatusItems::uidnext},
      {"UIDVALIDITY", &StatusItems::uidvalidity},
      {"UNSEEN", &StatusItems::unseen},
      {"DELETED", &StatusItems::deleted},
      {"SIZE", &StatusItems::size},
      {"RECENT", &StatusItems::recent},
      {"HIGHESTMODSEQ", &StatusItems::highestmodseq},
      {"APPENDLIMIT", &StatusItems::appendlimit},
      {"MAILBOXID", &StatusItems::mailboxid},
      {"DELETED-STORAGE", &StatusItems::deleted_storage},
  };
  StatusItems s;
  r.expect('(');
  if (r.peek() == ')') bad("empty STATUS item list");
  for (size_t n = 1;; ++n) {
    if (n > kMaxStatusItems) bad("more than " + std::to_string(kMaxStatusItems) + " STATUS items");
    const std::string item = upper_atom(r);
    auto known = std::find_if(std::begin(kItems), std::end(kItems), [&](const auto& k) { return k.first == item; });
    if (known == std::end(kItems)) bad("unknown STATUS item " + item);
    s.*(known->second) = true;
    if (r.try_char(')')) return s;
    r.sp();
  }
}

// parse_imap_datetime accepts any day up to 31 (so 31-Feb-2020 would become
// 2-Mar): the day must exist in its month. `s` is a date-time it accepted.
bool real_calendar_day(std::string_view s) {
  static constexpr std::string_view kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                 "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  const int day = (s[0] == ' ' ? 0 : s[0] - '0') * 10 + (s[1] - '0');
  const int year = std::stoi(std::string(s.substr(7, 4)));
  const std::string month = to_upper(s.substr(3, 3));
  const auto m = std::find(std::begin(kMonths), std::end(kMonths), month) - std::begin(kMonths);
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return m < 12 && day <= kDays[m] + (m == 1 && leap ? 1 : 0);
}

// RFC 7162 3.2.5: "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"
SelectArgs::Qresync qresync_param(Reader& r) {
  SelectArgs::Qresync q;
  r.expect('(');
  q.uidvalidity = r.nz_number();
  r.sp();
  q.modseq = mod_sequence(r);
  if (r.try_sp()) {
    bool match = r.peek() == '(';
    if (!match) {
      // RFC 7162's grammar forbids '*' here, but clients send "1:*" for "every
      // UID I have" (so do our own e2e tests): '*' reads as the highest UID
      // there could be, which filters nothing. Refusing would cost such a
      // client its resync for no gain.
      q.known_uids = sequence_set(r, "known-uids");
      match = r.try_sp();
    }
    if (match) {
      r.expect('(');
      SelectArgs::SeqMatch m;
      m.msns = sequence_set_no_star(r, "known-sequence-set");
      r.sp();
      m.uids = sequence_set_no_star(r, "known-uid-set");
      r.expect(')');
      // Paired number by number: sets of different sizes cannot be matched.
      if (numbers_in(m.msns) != numbers_in(m.uids)) bad("known-sequence-set and known-uid-set differ in size");
      q.seq_match = std::move(m);
    }
  }
  r.expect(')');
  return q;
}

}  // namespace

NoArgs parse_no_args(Reader& r) {
  r.end();
  return {};
}

IdArgs parse_id_args(Reader& r) {
  IdArgs a;
  r.sp();
  if (r.try_char('(')) {
    auto& params = a.params.emplace();
    // RFC 2971's "#" list: an empty one, "()", is accepted as today.
    if (!r.try_char(')')) {
      for (;;) {
        if (params.size() >= kMaxIdPairs) bad("more than " + std::to_string(kMaxIdPairs) + " ID parameters");
        std::string field = r.string();
        check_text(field, kMaxIdFieldOctets, "ID field name");
        r.sp();
        std::optional<std::string> value = r.nstring();
        if (value) check_text(*value, kMaxIdValueOctets, "ID value");
        params.emplace_back(std::move(field), std::move(value));
        if (r.try_char(')')) break;
        r.sp();
      }
    }
  } else if (r.nstring().has_value()) {
    bad("ID takes a parameter list or NIL");
  }
  r.end();
  return a;
}

EnableArgs parse_enable_args(Reader& r) {
  EnableArgs a;
  do {
    r.sp();
    if (a.capabilities.size() >= kMaxEnableCapabilities)
      bad("more than " + std::to_string(kMaxEnableCapabilities) + " capabilities");
    a.capabilities.push_back(upper_atom(r));
  } while (!r.at_end());
  r.end();
  return a;
}

LoginArgs parse_login_args(Reader& r) {
  LoginArgs a;
  r.sp();
  a.userid = r.astring();
  check_text(a.userid, kMaxCredentialOctets, "user name");
  r.sp();
  a.password = r.astring();
  check_text(a.password, kMaxCredentialOctets, "password");
  r.end();
  return a;
}

AuthenticateArgs parse_authenticate_args(Reader& r) {
  AuthenticateArgs a;
  r.sp();
  a.mechanism = upper_atom(r);
  if (r.try_sp()) {
    // initial-resp = base64 / "=" (RFC 4959): every base64 char is an ATOM-CHAR.
    std::string ir = r.atom();
    if (ir == "=") {
      a.initial_response.emplace();
    } else {
      a.initial_response = decode_sasl_base64(ir);
      if (!a.initial_response) bad("invalid base64 in the initial response");
    }
  }
  r.end();
  return a;
}

SelectArgs parse_select_args(Reader& r) {
  SelectArgs a;
  r.sp();
  a.mailbox = mailbox(r);
  if (r.try_sp()) {
    // select-params = SP "(" select-param *(SP select-param) ")" (RFC 4466)
    r.expect('(');
    for (;;) {
      const std::string param = upper_atom(r);
      if (param == "CONDSTORE") {
        if (a.condstore) bad("CONDSTORE given twice");
        a.condstore = true;
      } else if (param == "QRESYNC") {
        if (a.qresync) bad("QRESYNC given twice");
        r.sp();
        a.qresync = qresync_param(r);
      } else {
        bad("unknown SELECT parameter " + param);
      }
      if (r.try_char(')')) break;
      r.sp();
    }
  }
  r.end();
  return a;
}

MailboxArgs parse_create_args(Reader& r) {
  MailboxArgs a;
  r.sp();
  a.mailbox = mailbox(r);
  // create-params (RFC 4466), e.g. USE (RFC 6154): CREATE-SPECIAL-USE is not offered.
  if (r.peek() == ' ') bad("CREATE parameters are not supported");
  r.end();
  return a;
}

MailboxArgs parse_mailbox_args(Reader& r) {
  MailboxArgs a;
  r.sp();
  a.mailbox = mailbox(r);
  r.end();
  return a;
}

RenameArgs parse_rename_args(Reader& r) {
  RenameArgs a;
  r.sp();
  a.from = mailbox(r);
  r.sp();
  a.to = mailbox(r);
  r.end();
  return a;
}

ListArgs parse_list_args(Reader& r) {
  ListArgs a;
  r.sp();
  if (r.try_char('(')) {
    a.extended = true;
    size_t n = 0;
    while (!r.try_char(')')) {
      if (n > 0) r.sp();
      if (++n > kMaxListOptions) bad("too many LIST selection options");
      const std::string opt = upper_atom(r);
      if (opt == "SUBSCRIBED") {
        a.select_subscribed = true;
      } else if (opt == "REMOTE") {
        a.select_remote = true;
      } else if (opt == "RECURSIVEMATCH") {
        a.select_recursivematch = true;
      } else if (opt == "SPECIAL-USE") {
        a.select_special_use = true;
      } else {
        bad("unknown LIST selection option " + opt);  // RFC 5258 3: BAD
      }
    }
    // RFC 5258 3: RECURSIVEMATCH modifies another option; alone (or with only
    // REMOTE, which selects nothing by itself) it is a BAD.
    if (a.select_recursivematch && !a.select_subscribed && !a.select_special_use)
      bad("RECURSIVEMATCH needs a selection option to modify");
    r.sp();
  }
  a.reference = mailbox(r, "reference");
  r.sp();
  if (r.try_char('(')) {
    a.extended = true;
    if (r.peek() == ')') bad("empty mailbox pattern list");
    for (;;) {
      if (a.patterns.size() >= kMaxListPatterns)
        bad("more than " + std::to_string(kMaxListPatterns) + " mailbox patterns");
      a.patterns.push_back(pattern(r));
      if (r.try_char(')')) break;
      r.sp();
    }
  } else {
    a.patterns.push_back(pattern(r));
  }
  if (r.try_sp()) {
    if (upper_atom(r) != "RETURN") bad("expected RETURN");
    a.extended = a.has_return = true;
    r.sp();
    r.expect('(');
    size_t n = 0;
    while (!r.try_char(')')) {
      if (n > 0) r.sp();
      if (++n > kMaxListOptions) bad("too many LIST return options");
      const std::string opt = upper_atom(r);
      if (opt == "SUBSCRIBED") {
        a.return_subscribed = true;
      } else if (opt == "CHILDREN") {
        a.return_children = true;
      } else if (opt == "SPECIAL-USE") {
        a.return_special_use = true;
      } else if (opt == "STATUS") {
        if (a.return_status) bad("STATUS return option given twice");
        r.sp();
        a.return_status = status_items(r);
      } else {
        bad("unknown LIST return option " + opt);
      }
    }
  }
  r.end();
  return a;
}

ListArgs parse_lsub_args(Reader& r) {
  ListArgs a;
  r.sp();
  a.reference = mailbox(r, "reference");
  r.sp();
  a.patterns.push_back(pattern(r));
  r.end();
  return a;
}

StatusArgs parse_status_args(Reader& r) {
  StatusArgs a;
  r.sp();
  a.mailbox = mailbox(r);
  r.sp();
  a.items = status_items(r);
  r.end();
  return a;
}

namespace {
// One append-message: [SP flag-list] [SP date-time] SP append-data, the leading
// SP already consumed.
AppendMessage append_message(Reader& r) {
  AppendMessage m;
  if (r.peek() == '(') {
    m.flags = flag_list(r);
    r.sp();
  }
  if (r.peek() == '"') {
    const std::string text = r.quoted();
    m.internal_date = parse_imap_datetime(text);
    if (!m.internal_date || !real_calendar_day(text)) bad("invalid date-time");
    r.sp();
  }
  if (r.peek() == '{' || r.peek() == '~') {
    // literal / literal8 (RFC 3516): the Reader reads both once the '~' is gone.
    m.literal8 = r.try_char('~');
    m.message = r.literal();
  } else if (r.at_end()) {
    bad("missing message literal");
  } else {
    // append-data-ext (RFC 4466): UTF8 (RFC 6855 3.4), "UTF8" SP "(" literal8 ")",
    // or CATENATE (RFC 4469), "CATENATE" SP "(" cat-part *(SP cat-part) ")".
    const std::string ext = upper_atom(r);
    if (ext == "CATENATE") {
      r.sp();
      r.expect('(');
      for (;;) {
        if (m.catenate.size() >= kMaxCatenateParts)
          bad("more than " + std::to_string(kMaxCatenateParts) + " CATENATE parts");
        CatenatePart part;
        const std::string kind = upper_atom(r);
        r.sp();
        if (kind == "TEXT") {
          // text-literal; literal8 too, as BINARY (RFC 3516) allows it in APPEND.
          part.literal8 = r.try_char('~');
          if (r.peek() != '{') bad("CATENATE TEXT takes a literal");
          part.text = r.literal();
        } else if (kind == "URL") {
          part.is_url = true;
          part.text = r.astring();
          if (part.text.size() > kMaxImapUrlOctets) bad("URL too long");
        } else {
          bad("unknown CATENATE part " + kind);
        }
        m.catenate.push_back(std::move(part));
        if (r.try_char(')')) break;
        r.sp();
      }
      return m;
    }
    if (ext != "UTF8") bad("unknown APPEND data " + ext);
    r.sp();
    r.expect('(');
    if (r.peek() != '~') bad("UTF8 APPEND data must be a literal8 (~{n})");
    r.expect('~');
    m.message = r.literal();
    r.expect(')');
    m.utf8 = m.literal8 = true;
  }
  return m;
}
}  // namespace

AppendArgs parse_append_args(Reader& r) {
  AppendArgs a;
  r.sp();
  a.mailbox = mailbox(r);
  r.sp();
  a.messages.push_back(append_message(r));
  // MULTIAPPEND (RFC 3502): further messages, each after one SP.
  while (!r.at_end()) {
    if (a.messages.size() >= kMaxAppendMessages)
      bad("more than " + std::to_string(kMaxAppendMessages) + " messages in one APPEND");
    r.sp();
    a.messages.push_back(append_message(r));
  }
  r.end();
  return a;
}

ReplaceArgs parse_replace_args(Reader& r, bool uid) {
  ReplaceArgs a;
  a.uid = uid;
  r.sp();
  // seq-number / uniqueid: one number or '*', no ranges or lists.
  const std::string text = r.sequence_set_text();
  if (text.find_first_of(":,$") != std::string::npos) bad("REPLACE takes a single message");
  auto set = SequenceSet::parse(text);
  if (!set) bad(uid ? "invalid UID" : "invalid message sequence number");
  a.target = *set;
  r.sp();
  a.mailbox = mailbox(r);
  r.sp();
  a.message = append_message(r);
  r.end();
  return a;
}

CopyArgs parse_copy_args(Reader& r, bool uid) {
  CopyArgs a;
  a.uid = uid;
  r.sp();
  a.set = sequence_set(r, "sequence set", true);
  r.sp();
  a.mailbox = mailbox(r);
  r.end();
  return a;
}

FetchArgs parse_fetch_args(Reader& r, bool uid) {
  FetchArgs a;
  a.uid = uid;
  r.sp();
  a.set = sequence_set(r, "sequence set", true);
  r.sp();
  // Reads up to and including the end; CHANGEDSINCE is a 63-bit number64.
  a.request = parse_fetch(r);
  // RFC 7162 3.2.6: VANISHED only in UID FETCH and only with CHANGEDSINCE.
  if (a.request.vanished && !uid) bad("VANISHED is only allowed in UID FETCH");
  if (a.request.vanished && !a.request.changed_since) bad("VANISHED needs CHANGEDSINCE");
  return a;
}

StoreArgs parse_store_args(Reader& r, bool uid) {
  StoreArgs a;
  a.uid = uid;
  r.sp();
  a.set = sequence_set(r, "sequence set", true);
  r.sp();
  if (r.try_char('(')) {
    // store-modifiers (RFC 4466); RFC 7162 defines UNCHANGEDSINCE, given once.
    for (;;) {
      const std::string mod = upper_atom(r);
      if (mod != "UNCHANGEDSINCE") bad("unknown STORE modifier " + mod);
      if (a.unchanged_since) bad("UNCHANGEDSINCE given twice");
      r.sp();
      a.unchanged_since = mod_sequence(r);
      if (r.try_char(')')) break;
      r.sp();
    }
    r.sp();
  }
  std::string op = upper_atom(r);
  if (op[0] == '+') {
    a.mode = StoreMode::kAdd;
    op.erase(0, 1);
  } else if (op[0] == '-') {
    a.mode = StoreMode::kRemove;
    op.erase(0, 1);
  }
  if (op == "FLAGS.SILENT") {
    a.silent = true;
  } else if (op != "FLAGS") {
    bad("expected FLAGS, +FLAGS or -FLAGS");
  }
  r.sp();
  if (r.peek() == '(') {
    a.flags = flag_list(r);
  } else {
    do add_flag(a.flags, r);
    while (r.try_sp());
  }
  r.end();
  return a;
}

SearchArgs parse_search_args(Reader& r, bool uid) {
  SearchArgs a;
  a.uid = uid;
  // Reads the SP itself, then keys up to the end; MODSEQ and LARGER/SMALLER
  // take number64, which is 63-bit.
  a.request = parse_search(r);
  r.end();
  return a;
}

namespace {
// charset SP 1*search-key (RFC 5256 search-criteria): the charset is an
// astring, and there is no CHARSET keyword before it.
void sort_search_criteria(Reader& r, std::string& charset, SearchKey& key) {
  r.sp();
  charset = to_upper(r.astring());
  if (charset.empty() || charset.size() > 64) bad("invalid charset");
  r.sp();
  key = parse_search_key_list(r);
}
}  // namespace

CancelUpdateArgs parse_cancelupdate_args(Reader& r) {
  // RFC 5267 5: "CANCELUPDATE" 1*(SP quoted)
  CancelUpdateArgs a;
  do {
    r.sp();
    if (r.peek() != '"') bad("CANCELUPDATE takes quoted tags");
    if (a.tags.size() >= kMaxCancelUpdateTags) bad("too many tags");
    a.tags.push_back(r.quoted());
  } while (!r.at_end());
  r.end();
  return a;
}

SortArgs parse_sort_args(Reader& r, bool uid) {
  SortArgs a;
  a.uid = uid;
  r.sp();
  if (r.peek() != '(') {
    // ESORT (RFC 5267 4): sort-return-opts before the criteria.
    if (to_upper(r.atom()) != "RETURN") bad("expected ( or RETURN");
    r.sp();
    r.expect('(');
    a.esort = true;
    size_t opts = 0;
    while (!r.try_char(')')) {
      if (opts++ > 0) r.sp();
      if (opts > 16) bad("too many RETURN options");
      const std::string opt = to_upper(r.atom());
      if (opt == "MIN") a.ret_min = true;
      else if (opt == "MAX") a.ret_max = true;
      else if (opt == "COUNT") a.ret_count = true;
      else if (opt == "ALL") a.ret_all = true;
      else if (opt == "SAVE") a.ret_save = true;  // SEARCHRES (RFC 5182)
      else if (!parse_context_return_option(opt, r, a.ctx)) bad("unsupported RETURN option " + opt);
    }
    // RFC 5267 4.4: one PARTIAL or one ALL, not both.
    if (a.ret_all && a.ctx.partial) bad("PARTIAL and ALL cannot be combined");
    // RFC 4731 3.1: () is ALL; RFC 5182 2.1: SAVE alone asks for no ESEARCH
    // response; CONTEXT and UPDATE ask for no result data of their own.
    if (!(a.ret_min || a.ret_max || a.ret_count || a.ret_all || a.ret_save || a.ctx.partial)) a.ret_all = true;
    r.sp();
  }
  // sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
  r.expect('(');
  for (;;) {
    if (a.criteria.size() >= kMaxSortCriteria) bad("too many sort criteria");
    mailstore::SortCriterion c;
    std::string key = to_upper(r.atom());
    if (key == "REVERSE") {
      c.reverse = true;
      r.sp();
      key = to_upper(r.atom());
    }
    using K = mailstore::SortKey;
    if (key == "ARRIVAL") c.key = K::kArrival;
    else if (key == "CC") c.key = K::kCc;
    else if (key == "DATE") c.key = K::kDate;
    else if (key == "FROM") c.key = K::kFrom;
    else if (key == "SIZE") c.key = K::kSize;
    else if (key == "SUBJECT") c.key = K::kSubject;
    else if (key == "TO") c.key = K::kTo;
    else if (key == "DISPLAYFROM") c.key = K::kDisplayFrom;  // RFC 5957
    else if (key == "DISPLAYTO") c.key = K::kDisplayTo;
    else bad("unknown sort key " + key);
    a.criteria.push_back(c);
    if (r.try_char(')')) break;
    r.sp();
  }
  sort_search_criteria(r, a.charset, a.key);
  r.end();
  return a;
}

ThreadArgs parse_thread_args(Reader& r, bool uid) {
  ThreadArgs a;
  a.uid = uid;
  r.sp();
  const std::string alg = to_upper(r.atom());
  if (alg == "ORDEREDSUBJECT") a.algorithm = mailstore::ThreadAlgorithm::kOrderedSubject;
  else if (alg == "REFERENCES") a.algorithm = mailstore::ThreadAlgorithm::kReferences;
  else bad("unknown threading algorithm " + alg);
  sort_search_criteria(r, a.charset, a.key);
  r.end();
  return a;
}

UidExpungeArgs parse_uid_expunge_args(Reader& r) {
  UidExpungeArgs a;
  r.sp();
  a.set = sequence_set(r, "UID set", true);
  r.end();
  return a;
}

QuotaRootArgs parse_getquota_args(Reader& r) {
  QuotaRootArgs a;
  r.sp();
  a.root = mailbox(r, "quota root");
  r.end();
  return a;
}

SetQuotaArgs parse_setquota_args(Reader& r) {
  SetQuotaArgs a;
  r.sp();
  a.root = mailbox(r, "quota root");
  r.sp();
  r.expect('(');
  // setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
  size_t n = 0;
  while (!r.try_char(')')) {
    if (n > 0) r.sp();
    if (++n > kMaxQuotaResources) bad("too many quota resources");
    const std::string resource = upper_atom(r);
    r.sp();
    const uint64_t limit = r.number64();
    if (limit > kMaxQuotaLimit) bad("resource limit too large");
    if (resource == "STORAGE") {
      if (a.storage_kib) bad("STORAGE given twice");
      a.storage_kib = limit;
    } else if (resource == "MESSAGE") {
      if (a.messages) bad("MESSAGE given twice");
      a.messages = limit;
    } else if (std::find(a.unsupported.begin(), a.unsupported.end(), resource) != a.unsupported.end()) {
      bad(resource + " given twice");
    } else {
      a.unsupported.push_back(resource);
    }
  }
  r.end();
  return a;
}

NotifyArgs parse_notify_args(Reader& r) {
  NotifyParse p = parse_notify(r);
  if (p.outcome == NotifyParse::Outcome::kBad) bad(p.error);
  size_t names = 0;
  for (const auto& g : p.spec.groups) {
    for (const auto& m : g.mailboxes) {
      check_text(m, kMaxMailboxNameOctets, "mailbox name");
      if (++names > kMaxNotifyMailboxNames)
        bad("more than " + std::to_string(kMaxNotifyMailboxNames) + " mailbox names");
    }
  }
  NotifyArgs a;
  a.outcome = p.outcome;
  a.spec = std::move(p.spec);
  if (p.outcome == NotifyParse::Outcome::kBadEvent) a.bad_event = std::move(p.error);
  return a;
}

CompressArgs parse_compress_args(Reader& r) {
  r.sp();
  const std::string mechanism = upper_atom(r);
  if (mechanism != "DEFLATE") bad("unknown compression mechanism");
  r.end();
  return CompressArgs{CompressMechanism::kDeflate};
}

// ---- METADATA (RFC 5464) ----

std::optional<std::string> metadata_entry_error(std::string_view entry) {
  if (entry.size() > kMaxMetadataEntryOctets)
    return "metadata entry name longer than " + std::to_string(kMaxMetadataEntryOctets) + " octets";
  for (char c : entry) {
    const auto u = static_cast<unsigned char>(c);
    // RFC 5464 3.2: no "*" or "%", nothing outside ASCII, no octets 0x00-0x19;
    // DEL is no name character either.
    if (u < 0x20 || u >= 0x7f) return std::string("invalid character in metadata entry name");
    if (c == '*' || c == '%') return std::string("\"*\" and \"%\" are not allowed in metadata entry names");
  }
  auto below = [&](std::string_view prefix) {
    return entry.size() >= prefix.size() && iequals(entry.substr(0, prefix.size()), prefix) &&
           (entry.size() == prefix.size() || entry[prefix.size()] == '/');
  };
  if (!below("/private") && !below("/shared"))
    return std::string("metadata entry names start with /private or /shared");
  if (entry.find("//") != std::string_view::npos) return std::string("\"//\" in metadata entry name");
  if (entry.back() == '/') return std::string("metadata entry name ends with \"/\"");
  return std::nullopt;
}

namespace {

std::string metadata_entry(Reader& r) {
  std::string e = r.astring();
  if (auto why = metadata_entry_error(e)) bad(*why);
  return e;
}

void count_entry(size_t n) {
  if (n > kMaxMetadataEntriesPerCommand)
    bad("more than " + std::to_string(kMaxMetadataEntriesPerCommand) + " metadata entries");
}

}  // namespace

namespace {
// RFC 4467 mechanism: "INTERNAL" / 1*(ALPHA / DIGIT / "-" / "."), upper-cased.
std::string urlauth_mechanism(Reader& r) {
  std::string m = to_upper(r.atom());
  for (char c : m)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') bad("bad URLAUTH mechanism");
  return m;
}
std::string url_text(Reader& r) {
  std::string url = r.astring();
  if (url.empty() || url.size() > kMaxImapUrlOctets) bad("bad URL");
  return url;
}
}  // namespace

GenUrlauthArgs parse_genurlauth_args(Reader& r) {
  GenUrlauthArgs a;
  do {
    if (a.items.size() == kMaxUrlsPerCommand) bad("too many URLs");
    r.sp();
    GenUrlauthArgs::Item item;
    item.rump = url_text(r);
    r.sp();
    item.mechanism = urlauth_mechanism(r);
    a.items.push_back(std::move(item));
  } while (!r.at_end());
  r.end();
  return a;
}

ResetKeyArgs parse_resetkey_args(Reader& r) {
  ResetKeyArgs a;
  if (r.at_end()) return a;
  r.sp();
  a.mailbox = mailbox(r);
  while (!r.at_end()) {
    r.sp();
    a.mechanisms.push_back(urlauth_mechanism(r));
  }
  return a;
}

UrlFetchArgs parse_urlfetch_args(Reader& r) {
  UrlFetchArgs a;
  do {
    if (a.urls.size() == kMaxUrlsPerCommand) bad("too many URLs");
    r.sp();
    a.urls.push_back(url_text(r));
  } while (!r.at_end());
  r.end();
  return a;
}

GetMetadataArgs parse_getmetadata_args(Reader& r) {
  GetMetadataArgs a;
  r.sp();
  // getmetadata-options: a mailbox name never starts with "(" (not an atom
  // character, and quoted strings and literals start otherwise).
  if (r.try_char('(')) {
    bool have_maxsize = false, have_depth = false;
    for (;;) {
      const std::string option = upper_atom(r);
      r.sp();
      if (option == "MAXSIZE" && !have_maxsize) {
        have_maxsize = true;
        a.maxsize = r.number();
      } else if (option == "DEPTH" && !have_depth) {
        have_depth = true;
        const std::string d = to_upper(r.atom());
        if (d == "0") a.depth = mailstore::MetadataDepth::kZero;
        else if (d == "1") a.depth = mailstore::MetadataDepth::kOne;
        else if (d == "INFINITY") a.depth = mailstore::MetadataDepth::kInfinity;
        else bad("DEPTH is 0, 1 or infinity");
      } else if (option == "MAXSIZE" || option == "DEPTH") {
        bad(option + " given twice");
      } else {
        bad("unknown GETMETADATA option " + option);
      }
      if (r.try_char(')')) break;
      r.sp();
    }
    r.sp();
  }
  a.mailbox = mailbox(r);
  r.sp();
  if (r.try_char('(')) {
    for (;;) {
      count_entry(a.entries.size() + 1);
      a.entries.push_back(metadata_entry(r));
      if (r.try_char(')')) break;
      r.sp();
    }
  } else {
    a.entries.push_back(metadata_entry(r));
  }
  r.end();
  return a;
}

SetMetadataArgs parse_setmetadata_args(Reader& r) {
  SetMetadataArgs a;
  r.sp();
  a.mailbox = mailbox(r);
  r.sp();
  r.expect('(');
  for (;;) {
    count_entry(a.updates.size() + 1);
    mailstore::MetadataUpdate u;
    u.entry = metadata_entry(r);
    if (u.entry.find('/', 1) == std::string::npos) bad("cannot set " + u.entry + " itself, only entries below it");
    r.sp();
    if (r.try_char('~')) {
      if (!r.is_literal_start()) bad("literal8 expected after ~");
      u.value = r.literal();  // literal8: any octets (RFC 3516)
    } else {
      u.value = r.nstring();
      if (u.value && u.value->find('\0') != std::string::npos) bad("NUL in a metadata value needs a literal8 (~{n})");
    }
    a.updates.push_back(std::move(u));
    if (r.try_char(')')) break;
    r.sp();
  }
  r.end();
  return a;
}

namespace {

using Parser = CommandArgs (*)(Reader&);

struct Entry {
  std::string_view name;
  Parser parse;
};

template <auto Fn>
CommandArgs plain(Reader& r) {
  return Fn(r);
}
template <auto Fn, bool Uid>
CommandArgs with_uid(Reader& r) {
  return Fn(r, Uid);
}

// The command table's names (commands/registry.cpp), in its order.
constexpr Entry kParsers[] = {
    {"CAPABILITY", plain<parse_no_args>},
    {"NOOP", plain<parse_no_args>},
    {"LOGOUT", plain<parse_no_args>},
    {"ID", plain<parse_id_args>},
    {"STARTTLS", plain<parse_no_args>},
    {"UNAUTHENTICATE", plain<parse_no_args>},
    {"LOGIN", plain<parse_login_args>},
    {"AUTHENTICATE", plain<parse_authenticate_args>},
    {"ENABLE", plain<parse_enable_args>},
    {"SELECT", plain<parse_select_args>},
    {"EXAMINE", plain<parse_select_args>},
    {"CHECK", plain<parse_no_args>},
    {"CLOSE", plain<parse_no_args>},
    {"UNSELECT", plain<parse_no_args>},
    {"FETCH", with_uid<parse_fetch_args, false>},
    {"UID FETCH", with_uid<parse_fetch_args, true>},
    {"STORE", with_uid<parse_store_args, false>},
    {"UID STORE", with_uid<parse_store_args, true>},
    {"SEARCH", with_uid<parse_search_args, false>},
    {"UID SEARCH", with_uid<parse_search_args, true>},
    {"CANCELUPDATE", plain<parse_cancelupdate_args>},
    {"SORT", with_uid<parse_sort_args, false>},
    {"UID SORT", with_uid<parse_sort_args, true>},
    {"THREAD", with_uid<parse_thread_args, false>},
    {"UID THREAD", with_uid<parse_thread_args, true>},
    {"REPLACE", with_uid<parse_replace_args, false>},
    {"UID REPLACE", with_uid<parse_replace_args, true>},
    {"COPY", with_uid<parse_copy_args, false>},
    {"UID COPY", with_uid<parse_copy_args, true>},
    {"MOVE", with_uid<parse_copy_args, false>},
    {"UID MOVE", with_uid<parse_copy_args, true>},
    {"EXPUNGE", plain<parse_no_args>},
    {"UID EXPUNGE", plain<parse_uid_expunge_args>},
    {"APPEND", plain<parse_append_args>},
    {"CREATE", plain<parse_create_args>},
    {"DELETE", plain<parse_mailbox_args>},
    {"RENAME", plain<parse_rename_args>},
    {"SUBSCRIBE", plain<parse_mailbox_args>},
    {"UNSUBSCRIBE", plain<parse_mailbox_args>},
    {"LIST", plain<parse_list_args>},
    {"LSUB", plain<parse_lsub_args>},
    {"NAMESPACE", plain<parse_no_args>},
    {"STATUS", plain<parse_status_args>},
    {"IDLE", plain<parse_no_args>},
    {"NOTIFY", plain<parse_notify_args>},
    {"GETQUOTAROOT", plain<parse_mailbox_args>},
    {"GETQUOTA", plain<parse_getquota_args>},
    {"SETQUOTA", plain<parse_setquota_args>},
    {"COMPRESS", plain<parse_compress_args>},
    {"GETMETADATA", plain<parse_getmetadata_args>},
    {"SETMETADATA", plain<parse_setmetadata_args>},
    {"GENURLAUTH", plain<parse_genurlauth_args>},
    {"RESETKEY", plain<parse_resetkey_args>},
    {"URLFETCH", plain<parse_urlfetch_args>},
};

constexpr auto kNames = [] {
  std::array<std::string_view, std::size(kParsers)> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kParsers[i].name;
  return names;
}();

}  // namespace

CommandArgs parse_command_args(std::string_view name, Reader& r) {
  for (const auto& e : kParsers)
    if (e.name == name) return e.parse(r);
  bad("unknown command");
}

std::span<const std::string_view> command_args_names() { return kNames; }

CommandHead parse_command_head(Reader& r) {
  CommandHead h;
  h.tag = r.tag();
  r.sp();
  h.name = to_upper(r.atom());
  if (h.name == "UID") {
    r.sp();
    h.name = "UID " + to_upper(r.atom());
  }
  return h;
}

std::optional<std::string> decode_sasl_base64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    uint32_t n = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      int v = 0;
      if (c == '=' && last && k >= 2) {
        ++pad;
      } else {
        v = value(c);
        if (v < 0 || pad > 0) return std::nullopt;  // "=" only at the very end
      }
      n = (n << 6) | static_cast<uint32_t>(v);
    }
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

}  // namespace postline::imap
