#include "common/mailauth/auth_results.h"

#include <algorithm>

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

namespace {

bool is_token_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

bool is_atext(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != std::string_view::npos;
}

std::string sanitize(std::string_view v) {
  std::string out;
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) out.push_back(c);
  }
  return out;
}

std::string quote(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// pvalue (RFC 8601 2.2): a token, an [local-part]@domain, or a quoted-string.
std::string pvalue(std::string_view raw) {
  std::string v = sanitize(raw);
  if (!v.empty() && std::all_of(v.begin(), v.end(), is_token_char)) return v;
  size_t at = v.rfind('@');
  if (at != std::string::npos && normalize_domain(std::string_view(v).substr(at + 1)) &&
      std::all_of(v.begin(), v.begin() + long(at), is_atext))
    return v;
  return quote(v);
}

}  // namespace

std::string render_authentication_results(std::string_view authserv_id, const std::vector<AuthResultsEntry>& entries) {
  std::string out = "Authentication-Results: " + pvalue(authserv_id) + ";";
  if (entries.empty()) return out + " none\r\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    std::string line = sanitize(e.method) + "=" + sanitize(e.result);
    if (!e.comment.empty()) {
      std::string c;
      for (char ch : sanitize(e.comment)) {
        if (ch == '(' || ch == ')' || ch == '\\') c.push_back('\\');
        c.push_back(ch);
      }
      line += " (" + c + ")";
    }
    if (!e.reason.empty()) line += " reason=" + quote(sanitize(e.reason));
    for (const auto& [k, v] : e.properties) {
      if (v.empty()) continue;
      line += "\r\n\t  " + sanitize(k) + "=" + pvalue(v);
    }
    out += "\r\n\t" + line + (i + 1 < entries.size() ? ";" : "");
  }
  return out + "\r\n";
}

std::vector<AuthResultsEntry> auth_results_entries(const DkimVerifyResult& dkim) {
  std::vector<AuthResultsEntry> out;
  if (dkim.signatures.empty()) {
    out.push_back({"dkim", "none", "", {}, ""});
    return out;
  }
  for (const auto& s : dkim.signatures) {
    // A reason helps only when something went wrong; a pass speaks for itself.
    AuthResultsEntry e{"dkim", to_string(s.result), s.result == AuthResult::kPass ? "" : s.reason, {}, ""};
    std::string comment;
    if (s.key_bits) comment = std::to_string(s.key_bits) + "-bit key";
    if (s.weak) comment += std::string(comment.empty() ? "" : "; ") + "weak";
    if (s.testing) comment += std::string(comment.empty() ? "" : "; ") + "testing";
    e.comment = comment;
    e.properties = {{"header.d", s.domain}, {"header.i", s.identity}, {"header.s", s.selector},
                    {"header.a", s.algorithm}, {"header.b", s.b_prefix.substr(0, 8)}};
    out.push_back(std::move(e));
  }
  return out;
}

AuthResultsEntry auth_results_entry(const SpfVerdict& spf, std::string_view mail_from, std::string_view helo) {
  AuthResultsEntry e{"spf", to_string(spf.result), "", {}, spf.reason};
  if (mail_from.empty()) {
    e.properties = {{"smtp.helo", std::string(helo)}};
  } else {
    e.properties = {{"smtp.mailfrom", std::string(mail_from)}};
  }
  return e;
}

AuthResultsEntry auth_results_entry(const DmarcVerdict& d) {
  AuthResultsEntry e{"dmarc", to_string(d.result), "", {}, ""};
  if (d.record) {
    e.comment = std::string("p=") + to_string(d.record->p) + " dis=" + to_string(d.apply);
    if (d.record->sp) e.comment += std::string(" sp=") + to_string(*d.record->sp);
    if (d.arc_override) e.comment += " arc-override=" + d.arc_override_sealer;
  }
  e.properties = {{"header.from", d.from_domain}};
  return e;
}

AuthResultsEntry auth_results_entry(const ArcVerdict& a) {
  AuthResultsEntry e{"arc", to_string(a.result), "", {}, ""};
  if (a.result == ArcResult::kFail) e.reason = a.reason;
  if (a.instances > 0) {
    e.comment = "i=" + std::to_string(a.instances);
    if (!a.sealers.empty()) e.comment += " as.d=" + a.latest_sealer();
  }
  if (a.result == ArcResult::kPass) e.properties = {{"header.oldest-pass", std::to_string(a.oldest_pass)}};
  return e;
}

std::string authserv_id_of(std::string_view v) {
  size_t i = 0;
  int depth = 0;
  for (; i < v.size(); ++i) {
    char c = v[i];
    if (depth > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++depth;
      else if (c == ')') --depth;
      continue;
    }
    if (c == '(') {
      depth = 1;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    break;
  }
  if (i >= v.size()) return {};
  std::string id;
  if (v[i] == '"') {
    for (++i; i < v.size() && v[i] != '"'; ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      id.push_back(v[i]);
    }
    return id;
  }
  for (; i < v.size(); ++i) {
    char c = v[i];
    if (c == ';' || c == '(' || is_wsp(c) || c == '\r' || c == '\n') break;
    id.push_back(c);
  }
  return id;
}

std::string remove_own_authentication_results(std::string_view message, std::string_view authserv_id,
                                              size_t* removed) {
  std::string out;
  out.reserve(message.size());
  size_t count = 0;
  size_t pos = 0;
  // Walk the header block field by field; a field is its first line plus continuation
  // lines (starting with WSP). Stop at the first empty line.
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    size_t line_end = eol == std::string_view::npos ? message.size() : eol + 1;
    std::string_view line = message.substr(pos, line_end - pos);
    if (line == "\r\n" || line == "\n") break;
    size_t field_end = line_end;
    while (field_end < message.size() && is_wsp(message[field_end])) {
      size_t e = message.find('\n', field_end);
      field_end = e == std::string_view::npos ? message.size() : e + 1;
    }
    std::string_view field = message.substr(pos, field_end - pos);
    size_t colon = field.find(':');
    bool drop = false;
    if (colon != std::string_view::npos) {
      std::string_view name = field.substr(0, colon);
      while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
      if (iequals(name, "Authentication-Results") && iequals(authserv_id_of(field.substr(colon + 1)), authserv_id))
        drop = true;
    }
    if (drop) {
      ++count;
    } else {
      out.append(field);
    }
    pos = field_end;
  }
  out.append(message.substr(pos));
  if (removed) *removed = count;
  return out;
}

}  // namespace postline::mailauth
