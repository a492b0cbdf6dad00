// /filters: the vacation reply and the filter rules (sieve_filters.h), saved
// as the user's active Sieve script through the Backend. The form is drawn
// from field values, so a refused POST shows what the user typed with the
// reason, and a GET shows what the stored script holds.
#include "common/sieve/sieve.h"
#include "services/web/portal/admin_pages.h"
#include "services/web/portal/portal.h"
#include "services/web/portal/sieve_filters.h"

namespace postline::web::portal {

namespace {

std::string value_of(const Fields& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? std::string() : it->second;
}

std::string option(const char* value, const char* label, const std::string& current) {
  return std::string("<option value=\"") + value + "\"" + (current == value ? " selected" : "") + ">" + label +
         "</option>";
}

std::string form_html(const Fields& f, const std::string& csrf) {
  const bool on = value_of(f, "vacation") == "on";
  std::string days = value_of(f, "vacation_days");
  if (days.empty()) days = "7";
  std::string out = "<form class=\"card\" method=\"post\" action=\"/filters\">" + hidden_csrf(csrf) + "\n";
  out += "<fieldset>\n<legend>Automatic reply (vacation)</legend>\n"
         "<p><input id=\"vacation\" name=\"vacation\" type=\"checkbox\" value=\"on\"" +
         std::string(on ? " checked" : "") +
         "> <label for=\"vacation\">Answer new mail automatically</label></p>\n"
         "<p><label for=\"vacation_subject\">Subject of the reply</label>\n"
         "<input id=\"vacation_subject\" name=\"vacation_subject\" maxlength=\"" +
         std::to_string(kMaxFilterText) + "\" value=\"" + esc(value_of(f, "vacation_subject")) +
         "\" placeholder=\"Out of office\"></p>\n"
         "<p><label for=\"vacation_body\">Text of the reply</label>\n"
         "<textarea id=\"vacation_body\" name=\"vacation_body\" rows=\"6\" maxlength=\"" +
         std::to_string(kMaxVacationBody) + "\">" + esc(value_of(f, "vacation_body")) +
         "</textarea></p>\n<p><label for=\"vacation_days\">Reply to the same sender at most once every (days)</label>\n"
         "<input id=\"vacation_days\" name=\"vacation_days\" type=\"number\" min=\"1\" max=\"30\" value=\"" +
         esc(days) +
         "\"></p>\n<p class=\"hint\">Mailing lists, bulk mail and other automatic messages never get a reply.</p>\n"
         "</fieldset>\n";
  out += "<fieldset>\n<legend>Rules</legend>\n<p class=\"hint\">Checked in order for each new message; the first that "
         "matches decides. Leave the text empty to remove a rule. Messages no rule matches go to the inbox.</p>\n"
         "<table class=\"list\"><caption>Filter rules</caption>\n<thead><tr><th scope=\"col\">When</th>"
         "<th scope=\"col\">Match</th><th scope=\"col\">Text</th><th scope=\"col\">Then</th>"
         "<th scope=\"col\">Folder</th></tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < kMaxFilterRules; ++i) {
    const std::string p = "rule" + std::to_string(i) + "_", n = std::to_string(i + 1);
    const std::string field = value_of(f, p + "field"), match = value_of(f, p + "match"),
                      action = value_of(f, p + "action");
    out += "<tr><td data-label=\"When\"><select name=\"" + p + "field\" aria-label=\"Rule " + n + ": header\">" +
           option("from", "From", field) + option("to", "To", field) + option("subject", "Subject", field) +
           "</select></td><td data-label=\"Match\"><select name=\"" + p + "match\" aria-label=\"Rule " + n +
           ": match\">" + option("contains", "contains", match) + option("is", "is", match) +
           "</select></td><td data-label=\"Text\"><input name=\"" + p + "value\" maxlength=\"" +
           std::to_string(kMaxFilterText) + "\" aria-label=\"Rule " + n + ": text\" value=\"" +
           esc(value_of(f, p + "value")) + "\"></td><td data-label=\"Then\"><select name=\"" + p +
           "action\" aria-label=\"Rule " + n + ": action\">" + option("fileinto", "move to folder", action) +
           option("discard", "delete", action) + "</select></td><td data-label=\"Folder\"><input name=\"" + p +
           "folder\" maxlength=\"" + std::to_string(kMaxFilterText) + "\" aria-label=\"Rule " + n +
           ": folder\" value=\"" + esc(value_of(f, p + "folder")) + "\"></td></tr>\n";
  }
  out += "</tbody></table>\n</fieldset>\n<p><button type=\"submit\">Save filters</button></p>\n</form>\n";
  return out;
}

}  // namespace

Answer Portal::filters(const std::optional<Fields>& form, const PageUser& user) const {
  std::string notice;
  unsigned status = 200;
  Fields shown;
  if (form) {
    std::string why;
    auto parsed = filters_from_form(*form, &why);
    shown = *form;
    if (!parsed) {
      notice = error_box(why);
      status = 400;
    } else {
      const std::string script = filters_to_script(*parsed);
      // What the page writes is always a valid script; checked anyway, as
      // PUTSCRIPT checks an upload, so a fault here never reaches delivery.
      auto compiled = sieve::compile(script);
      if (!compiled.errors.empty()) {
        notice = error_box("These filters cannot be saved (" + compiled.errors.front().text() +
                           "); please tell the administrator.");
        status = 500;
      } else {
        backend_.save_active_sieve_script(user.user_id, kPortalScriptName, script);
        notice = admin_pages::ok_box(parsed->rules.empty() && !parsed->vacation.enabled
                                         ? "Saved: no automatic reply and no rules; new mail goes to the inbox."
                                         : "Saved. New mail is filtered from now on.");
        shown = filters_to_fields(*parsed);
      }
    }
  } else {
    const FilterScripts scripts = backend_.filter_scripts(user.user_id, kPortalScriptName);
    const auto& active = scripts.active;
    const std::optional<std::string>& ours = scripts.named;
    if (!active || active->first != kPortalScriptName) {
      if (active) {
        notice = "<p class=\"hint\" role=\"status\">Your mail is filtered by the script <strong>" + esc(active->first) +
                 "</strong>, set up with a Sieve client. Saving here makes these filters the active ones instead; "
                 "that script stays stored.</p>\n";
      } else if (ours) {
        notice = "<p class=\"hint\" role=\"status\">These filters are switched off (no script is active); saving "
                 "switches them on.</p>\n";
      }
    }
    if (ours) {
      if (auto saved = filters_from_script(*ours)) shown = filters_to_fields(*saved);
    }
  }
  return html(status, page("Filters", &user, "/filters", notice + form_html(shown, user.csrf)));
}

}  // namespace postline::web::portal
