#include "services/web/portal/sieve_filters.h"

#include "common/sieve/sieve.h"
#include "services/web/core/query.h"

namespace postline::web::portal {

namespace {

constexpr std::string_view kDataLine = "# postline-portal-filters: ";

std::string get(const Fields& form, const std::string& name) {
  auto it = form.find(name);
  return it == form.end() ? std::string() : it->second;
}

// Text a user typed into a one-line field: no control characters (a CR LF
// would start a new line in the script's comment and headers never hold one).
bool one_line(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

// IMAP CREATE's rules for the names fileinto :create may make (RFC 3501
// 5.1, the wildcards RFC 3501 6.3.8): what the mailstore would refuse, the
// page refuses first.
bool folder_name_ok(std::string_view s) {
  if (s.empty() || !one_line(s)) return false;
  for (char c : s)
    if (c == '*' || c == '%') return false;
  return s.front() != '/' && s.back() != '/';
}

const char* field_name(FilterRule::Field f) {
  switch (f) {
    case FilterRule::Field::kFrom: return "from";
    case FilterRule::Field::kTo: return "to";
    case FilterRule::Field::kSubject: return "subject";
  }
  return "from";
}

}  // namespace

std::optional<PortalFilters> filters_from_form(const Fields& form, std::string* why) {
  auto fail = [&](std::string text) -> std::optional<PortalFilters> {
    if (why) *why = std::move(text);
    return std::nullopt;
  };
  PortalFilters f;
  VacationSettings& v = f.vacation;
  v.enabled = get(form, "vacation") == "on";
  v.subject = get(form, "vacation_subject");
  v.body = get(form, "vacation_body");
  const std::string days = get(form, "vacation_days");
  if (!days.empty()) {
    if (days.size() > 2 || days.find_first_not_of("0123456789") != std::string::npos) {
      return fail("The days between replies must be a number from 1 to 30.");
    }
    v.days = std::stoi(days);
  }
  if (v.days < 1 || v.days > 30) return fail("The days between replies must be a number from 1 to 30.");
  if (v.subject.size() > kMaxFilterText || !one_line(v.subject)) {
    return fail("The reply's subject must be one line of at most " + std::to_string(kMaxFilterText) + " characters.");
  }
  if (v.body.size() > kMaxVacationBody) {
    return fail("The reply's text must be at most " + std::to_string(kMaxVacationBody) + " characters.");
  }
  if (v.enabled && v.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail("Write the text of the automatic reply, or switch the reply off.");
  }
  for (size_t i = 0; i < kMaxFilterRules; ++i) {
    const std::string p = "rule" + std::to_string(i) + "_";
    FilterRule r;
    r.value = get(form, p + "value");
    if (r.value.empty()) continue;  // an empty row
    const std::string row = "Rule " + std::to_string(i + 1) + ": ";
    if (r.value.size() > kMaxFilterText || !one_line(r.value)) {
      return fail(row + "the text to look for must be one line of at most " + std::to_string(kMaxFilterText) +
                  " characters.");
    }
    const std::string field = get(form, p + "field"), match = get(form, p + "match"),
                      action = get(form, p + "action");
    if (field == "from") r.field = FilterRule::Field::kFrom;
    else if (field == "to") r.field = FilterRule::Field::kTo;
    else if (field == "subject") r.field = FilterRule::Field::kSubject;
    else return fail(row + "choose From, To or Subject.");
    if (match == "contains") r.match = FilterRule::Match::kContains;
    else if (match == "is") r.match = FilterRule::Match::kIs;
    else return fail(row + "choose \"contains\" or \"is\".");
    if (action == "fileinto") r.action = FilterRule::Action::kFileInto;
    else if (action == "discard") r.action = FilterRule::Action::kDiscard;
    else return fail(row + "choose what happens to the message.");
    if (r.action == FilterRule::Action::kFileInto) {
      r.folder = get(form, p + "folder");
      if (r.folder.size() > kMaxFilterText || !folder_name_ok(r.folder)) {
        return fail(row + "name the folder (one line, without * or %, not starting or ending with /).");
      }
    }
    f.rules.push_back(std::move(r));
  }
  return f;
}

Fields filters_to_fields(const PortalFilters& f) {
  Fields out;
  if (f.vacation.enabled) out["vacation"] = "on";
  out["vacation_days"] = std::to_string(f.vacation.days);
  out["vacation_subject"] = f.vacation.subject;
  out["vacation_body"] = f.vacation.body;
  for (size_t i = 0; i < f.rules.size() && i < kMaxFilterRules; ++i) {
    const FilterRule& r = f.rules[i];
    const std::string p = "rule" + std::to_string(i) + "_";
    out[p + "field"] = field_name(r.field);
    out[p + "match"] = r.match == FilterRule::Match::kIs ? "is" : "contains";
    out[p + "value"] = r.value;
    out[p + "action"] = r.action == FilterRule::Action::kDiscard ? "discard" : "fileinto";
    if (r.action == FilterRule::Action::kFileInto) out[p + "folder"] = r.folder;
  }
  return out;
}

std::string filters_to_script(const PortalFilters& f) {
  using sieve::quote_string;
  std::string data;
  for (const auto& [name, value] : filters_to_fields(f)) {
    if (value.empty()) continue;
    data += (data.empty() ? "" : "&") + name + "=" + url_encode(value);
  }
  std::vector<std::string> require;
  if (f.vacation.enabled) require.emplace_back("vacation");
  bool files = false;
  for (const auto& r : f.rules) files = files || r.action == FilterRule::Action::kFileInto;
  if (files) {
    require.emplace_back("fileinto");
    require.emplace_back("mailbox");  // fileinto :create (RFC 5490 3.2)
  }
  std::string s = "# Written by the Postline web portal (Filters). Saving there replaces this script.\r\n";
  s += std::string(kDataLine) + data + "\r\n";
  if (!require.empty()) {
    s += "require [";
    for (size_t i = 0; i < require.size(); ++i) s += (i ? ", " : "") + quote_string(require[i]);
    s += "];\r\n";
  }
  if (f.vacation.enabled) {
    // RFC 5230: never to lists, bulk mail, null senders or other auto-replies
    // (the interpreter's rules); once per sender per :days.
    s += "vacation :days " + std::to_string(f.vacation.days);
    if (!f.vacation.subject.empty()) s += " :subject " + quote_string(f.vacation.subject);
    s += " " + quote_string(f.vacation.body) + ";\r\n";
  }
  for (const auto& r : f.rules) {
    const std::string match = r.match == FilterRule::Match::kIs ? ":is" : ":contains";
    // From and To compare the address (RFC 5228 5.1), Subject the header text.
    const std::string test = r.field == FilterRule::Field::kSubject
                                 ? "header " + match + " \"subject\" " + quote_string(r.value)
                                 : "address " + match + " " + quote_string(field_name(r.field)) + " " +
                                       quote_string(r.value);
    const std::string action = r.action == FilterRule::Action::kDiscard
                                   ? "discard;"
                                   : "fileinto :create " + quote_string(r.folder) + ";";
    s += "if " + test + " {\r\n  " + action + "\r\n  stop;\r\n}\r\n";
  }
  return s;
}

std::optional<PortalFilters> filters_from_script(std::string_view script) {
  size_t at = 0;
  while (at < script.size()) {
    size_t end = script.find('\n', at);
    if (end == std::string_view::npos) end = script.size();
    std::string_view line = script.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, kDataLine.size()) == kDataLine) {
      std::string why;
      auto fields = parse_form(line.substr(kDataLine.size()), &why);
      if (!fields) return std::nullopt;
      return filters_from_form(*fields, &why);
    }
    if (line.empty() || line.front() != '#') return std::nullopt;  // the line is at the top
    at = end + 1;
  }
  return std::nullopt;
}

}  // namespace postline::web::portal
