#include "services/delivery-queue/reports/dmarc_report.h"

#include "common/mailauth/text_util.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cctype>
#include <set>

namespace postline::queue::reports {

using mailauth::to_lower;

int64_t DmarcAggregate::total_messages() const {
  int64_t n = 0;
  for (const auto& r : rows) n += r.count;
  return n;
}

int64_t DmarcAggregate::failed_messages() const {
  int64_t n = 0;
  for (const auto& r : rows)
    if (r.dkim != "pass" && r.spf != "pass") n += r.count;
  return n;
}

std::string full_ip(std::string_view address) {
  std::string a(address);
  unsigned char buf[16];
  if (inet_pton(AF_INET, a.c_str(), buf) == 1) {
    char out[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, buf, out, sizeof out);
    return out;
  }
  if (inet_pton(AF_INET6, a.c_str(), buf) == 1) {
    std::string out;
    for (int i = 0; i < 8; ++i)
      out += fmt::format("{}{:x}", i ? ":" : "", (unsigned(buf[2 * i]) << 8) | buf[2 * i + 1]);
    return out;
  }
  return "";
}

namespace {

void element(std::string& out, int indent, std::string_view name, std::string_view value) {
  out.append(size_t(indent) * 2, ' ');
  out += "<" + std::string(name) + ">" + xml_escape(value) + "</" + std::string(name) + ">\n";
}
void open(std::string& out, int indent, std::string_view name) {
  out.append(size_t(indent) * 2, ' ');
  out += "<" + std::string(name) + ">\n";
}
void close(std::string& out, int indent, std::string_view name) {
  out.append(size_t(indent) * 2, ' ');
  out += "</" + std::string(name) + ">\n";
}

const std::set<std::string>& dispositions() {
  static const std::set<std::string> s = {"none", "quarantine", "reject"};
  return s;
}
std::string one_of(const std::string& v, const std::set<std::string>& allowed, const std::string& fallback) {
  return allowed.count(v) ? v : fallback;
}

}  // namespace

std::string build_dmarc_xml(const DmarcAggregate& r) {
  static const std::set<std::string> pass_fail = {"pass", "fail"};
  static const std::set<std::string> align = {"r", "s"};
  static const std::set<std::string> overrides = {"forwarded",    "sampled_out",  "trusted_forwarder",
                                                  "mailing_list", "local_policy", "other"};
  static const std::set<std::string> dkim_results = {"none",    "pass",      "fail",     "policy",
                                                     "neutral", "temperror", "permerror"};
  static const std::set<std::string> spf_results = {"none",     "neutral",   "pass",     "fail",
                                                    "softfail", "temperror", "permerror"};
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<feedback xmlns=\"http://dmarc.org/dmarc-xml/0.1\">\n";
  element(out, 1, "version", "1.0");
  open(out, 1, "report_metadata");
  element(out, 2, "org_name", r.org_name);
  element(out, 2, "email", r.email);
  if (!r.extra_contact_info.empty()) element(out, 2, "extra_contact_info", r.extra_contact_info);
  element(out, 2, "report_id", r.report_id);
  open(out, 2, "date_range");
  element(out, 3, "begin", std::to_string(r.begin));
  element(out, 3, "end", std::to_string(r.end));
  close(out, 2, "date_range");
  for (const auto& e : r.errors) element(out, 2, "error", e);
  close(out, 1, "report_metadata");
  open(out, 1, "policy_published");
  element(out, 2, "domain", r.policy.domain);
  element(out, 2, "adkim", one_of(r.policy.adkim, align, "r"));
  element(out, 2, "aspf", one_of(r.policy.aspf, align, "r"));
  element(out, 2, "p", one_of(r.policy.p, dispositions(), "none"));
  element(out, 2, "sp", one_of(r.policy.sp, dispositions(), one_of(r.policy.p, dispositions(), "none")));
  element(out, 2, "pct", std::to_string(r.policy.pct));
  element(out, 2, "fo", r.policy.fo.empty() ? "0" : r.policy.fo);
  close(out, 1, "policy_published");
  for (const auto& row : r.rows) {
    open(out, 1, "record");
    open(out, 2, "row");
    std::string ip = full_ip(row.source_ip);
    element(out, 3, "source_ip", ip.empty() ? "0.0.0.0" : ip);
    element(out, 3, "count", std::to_string(row.count));
    open(out, 3, "policy_evaluated");
    element(out, 4, "disposition", one_of(row.disposition, dispositions(), "none"));
    element(out, 4, "dkim", one_of(row.dkim, pass_fail, "fail"));
    element(out, 4, "spf", one_of(row.spf, pass_fail, "fail"));
    if (!row.reason.empty()) {
      open(out, 4, "reason");
      element(out, 5, "type", one_of(row.reason, overrides, "other"));
      if (!row.reason_comment.empty()) element(out, 5, "comment", row.reason_comment);
      close(out, 4, "reason");
    }
    close(out, 3, "policy_evaluated");
    close(out, 2, "row");
    open(out, 2, "identifiers");
    if (!row.envelope_to.empty()) element(out, 3, "envelope_to", row.envelope_to);
    element(out, 3, "envelope_from", row.envelope_from);
    element(out, 3, "header_from", row.header_from);
    close(out, 2, "identifiers");
    open(out, 2, "auth_results");
    for (const auto& d : row.dkim_auth) {
      open(out, 3, "dkim");
      element(out, 4, "domain", d.domain);
      if (!d.selector.empty()) element(out, 4, "selector", d.selector);
      element(out, 4, "result", one_of(d.result, dkim_results, "permerror"));
      close(out, 3, "dkim");
    }
    open(out, 3, "spf");
    element(out, 4, "domain", row.spf_domain);
    element(out, 4, "scope", row.spf_scope == "helo" ? "helo" : "mfrom");
    element(out, 4, "result", one_of(row.spf_result, spf_results, "none"));
    close(out, 3, "spf");
    close(out, 2, "auth_results");
    close(out, 1, "record");
  }
  out += "</feedback>\n";
  return out;
}

namespace {

// Counts and times: at most 12 digits, so sums of many cannot overflow.
std::optional<int64_t> number(const std::string& s) {
  auto v = mailauth::parse_uint(s, 12);
  if (!v) return std::nullopt;
  return static_cast<int64_t>(*v);
}

}  // namespace

std::optional<DmarcAggregate> parse_dmarc_xml(std::string_view xml, std::string* error, const XmlLimits& limits,
                                              size_t max_records) {
  auto root = parse_xml(xml, error, limits);
  if (!root) return std::nullopt;
  auto fail = [&](const char* why) -> std::optional<DmarcAggregate> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (root->name != "feedback") return fail("the root element is not <feedback>");
  DmarcAggregate r;
  const XmlNode* meta = root->child("report_metadata");
  const XmlNode* policy = root->child("policy_published");
  if (!meta || !policy) return fail("report_metadata or policy_published missing");
  r.org_name = meta->child_text("org_name");
  r.email = meta->child_text("email");
  r.extra_contact_info = meta->child_text("extra_contact_info");
  r.report_id = meta->child_text("report_id");
  if (const XmlNode* range = meta->child("date_range")) {
    auto b = number(range->child_text("begin")), e = number(range->child_text("end"));
    if (!b || !e) return fail("date_range is not numeric");
    r.begin = *b;
    r.end = *e;
  } else {
    return fail("date_range missing");
  }
  for (const XmlNode* e : meta->children_named("error")) r.errors.push_back(e->text);
  r.policy.domain = to_lower(policy->child_text("domain"));
  if (r.policy.domain.empty()) return fail("policy_published has no domain");
  r.policy.adkim = policy->child_text("adkim");
  r.policy.aspf = policy->child_text("aspf");
  r.policy.p = policy->child_text("p");
  r.policy.sp = policy->child_text("sp");
  if (auto pct = number(policy->child_text("pct")); pct && *pct <= 100) r.policy.pct = static_cast<int>(*pct);
  r.policy.fo = policy->child_text("fo");
  if (r.report_id.empty() || r.org_name.empty()) return fail("org_name or report_id missing");
  for (const XmlNode* rec : root->children_named("record")) {
    if (r.rows.size() >= max_records) return fail("too many records");
    const XmlNode* row = rec->child("row");
    if (!row) return fail("record without row");
    DmarcRow out;
    out.source_ip = row->child_text("source_ip");
    auto count = number(row->child_text("count"));
    if (!count) return fail("record count is not numeric");
    out.count = *count;
    if (const XmlNode* pe = row->child("policy_evaluated")) {
      out.disposition = pe->child_text("disposition");
      out.dkim = pe->child_text("dkim");
      out.spf = pe->child_text("spf");
      if (const XmlNode* reason = pe->child("reason")) {
        out.reason = reason->child_text("type");
        out.reason_comment = reason->child_text("comment");
      }
    }
    if (const XmlNode* ids = rec->child("identifiers")) {
      out.envelope_to = ids->child_text("envelope_to");
      out.envelope_from = ids->child_text("envelope_from");
      out.header_from = ids->child_text("header_from");
    }
    if (const XmlNode* auth = rec->child("auth_results")) {
      for (const XmlNode* d : auth->children_named("dkim"))
        out.dkim_auth.push_back({d->child_text("domain"), d->child_text("selector"), d->child_text("result")});
      if (const XmlNode* s = auth->child("spf")) {
        out.spf_domain = s->child_text("domain");
        out.spf_scope = s->child_text("scope");
        out.spf_result = s->child_text("result");
      }
    }
    r.rows.push_back(std::move(out));
  }
  return r;
}

std::vector<ReportUri> parse_report_uris(std::string_view list, size_t max) {
  std::vector<ReportUri> out;
  for (auto part : mailauth::split(list, ',')) {
    if (out.size() >= max) break;
    std::string_view p = mailauth::trim_fws(part);
    if (p.empty() || p.size() > 1024) continue;
    ReportUri u;
    // The size limit: "!" digits [k|m|g|t] at the end (RFC 7489 6.4).
    if (auto bang = p.rfind('!'); bang != std::string_view::npos) {
      std::string_view size = p.substr(bang + 1);
      p = p.substr(0, bang);
      uint64_t mult = 1;
      if (!size.empty()) {
        char unit = mailauth::ascii_lower(size.back());
        if (unit == 'k' || unit == 'm' || unit == 'g' || unit == 't') {
          mult = unit == 'k' ? (1ull << 10) : unit == 'm' ? (1ull << 20) : unit == 'g' ? (1ull << 30) : (1ull << 40);
          size.remove_suffix(1);
        }
      }
      auto n = mailauth::parse_uint(size, 12);
      if (!n || *n == 0) continue;
      u.max_bytes = *n * mult;
    }
    auto colon = p.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    u.uri = std::string(p);
    u.scheme = to_lower(p.substr(0, colon));
    std::string_view rest = p.substr(colon + 1);
    if (u.scheme == "mailto") {
      // Percent-decoding (RFC 6068); "?" headers are not used.
      std::string addr;
      for (size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] == '?') break;
        if (rest[i] == '%' && i + 2 < rest.size() && std::isxdigit(static_cast<unsigned char>(rest[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(rest[i + 2]))) {
          addr += static_cast<char>(std::stoi(std::string(rest.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          addr += rest[i];
        }
      }
      auto at = addr.rfind('@');
      if (at == std::string::npos || at == 0 || at + 1 == addr.size()) continue;
      bool bad = false;
      for (unsigned char c : addr)
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == '"') bad = true;
      if (bad) continue;
      auto domain = mailauth::normalize_domain(addr.substr(at + 1));
      if (!domain) continue;
      u.address = addr.substr(0, at + 1) + *domain;
    } else {
      u.address = std::string(rest);
    }
    out.push_back(std::move(u));
  }
  return out;
}

std::string external_verification_name(std::string_view policy_domain, std::string_view destination_host) {
  return to_lower(policy_domain) + "._report._dmarc." + to_lower(destination_host);
}

bool external_verification_ok(const std::vector<std::string>& txt_records) {
  for (const auto& t : txt_records) {
    std::string_view v = mailauth::trim_fws(t);
    if (v.size() >= 8 && mailauth::iequals(v.substr(0, 8), "v=DMARC1")) {
      std::string_view rest = mailauth::trim_fws(v.substr(8));
      if (rest.empty() || rest.front() == ';') return true;
    }
  }
  return false;
}

std::string dmarc_report_filename(std::string_view receiver, std::string_view policy_domain, int64_t begin,
                                  int64_t end) {
  return fmt::format("{}!{}!{}!{}.xml.gz", receiver, policy_domain, begin, end);
}

}  // namespace postline::queue::reports
