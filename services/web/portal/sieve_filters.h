// The portal's filters page as data (issue 18 with issue 19's Sieve): a
// vacation reply and a short list of rules, turned into one Sieve script that
// the portal stores and activates for the user. Sans-I/O: form fields in,
// script text out, and back (the page reads its own script to show the
// settings again).
//
// Round trip: the script carries the settings as a form-encoded comment line
// ("# postline-portal-filters: days=7&vacation=on&..."), which from_script()
// parses with the same rules as a POST, so a saved page always shows what was
// saved. A script the portal did not write (uploaded over ManageSieve) has no
// such line: from_script() gives nullopt, and the page says that saving will
// make the portal's script the active one instead (the other stays stored).
#pragma once

#include "services/web/portal/http_input.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::web::portal {

inline constexpr const char* kPortalScriptName = "postline-portal";
inline constexpr size_t kMaxFilterRules = 8;      // rows on the page
inline constexpr size_t kMaxFilterText = 200;     // a rule's value, a folder, the subject
inline constexpr size_t kMaxVacationBody = 4000;  // octets

struct FilterRule {
  enum class Field { kFrom, kTo, kSubject } field = Field::kFrom;
  enum class Match { kContains, kIs } match = Match::kContains;
  std::string value;
  enum class Action { kFileInto, kDiscard } action = Action::kFileInto;
  std::string folder;  // kFileInto
};

struct VacationSettings {
  bool enabled = false;
  int days = 7;  // RFC 5230 4.1: 1 or more; the page offers 1-30
  std::string subject, body;
};

struct PortalFilters {
  VacationSettings vacation;
  std::vector<FilterRule> rules;
};

// The page's fields: vacation ("on" when ticked), vacation_days,
// vacation_subject, vacation_body; per row i (0..kMaxFilterRules-1)
// rule<i>_field (from|to|subject), rule<i>_match (contains|is), rule<i>_value,
// rule<i>_action (fileinto|discard), rule<i>_folder. A row with an empty value
// is no rule. nullopt with `why` (said to the user) for anything else.
std::optional<PortalFilters> filters_from_form(const Fields& form, std::string* why);
// The fields that describe `f` (what filters_from_form reads back).
Fields filters_to_fields(const PortalFilters& f);

// The Sieve script (RFC 5228 with vacation, fileinto, mailbox): the vacation
// first (so filed mail is answered too), then the rules in order, each ending
// in `stop`. Checked by common/sieve in the tests.
std::string filters_to_script(const PortalFilters& f);
// The settings a script written by filters_to_script holds; nullopt for any
// other script.
std::optional<PortalFilters> filters_from_script(std::string_view script);

}  // namespace postline::web::portal
