#include "services/delivery-queue/reports/tlsrpt_report.h"

#include "common/mailauth/text_util.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ctime>

namespace postline::queue::reports {

using nlohmann::json;

bool known_result_type(std::string_view t) {
  for (const char* k : kTlsResultTypes)
    if (t == k) return true;
  return false;
}

bool known_policy_type(std::string_view t) { return t == "sts" || t == "tlsa" || t == "no-policy-found"; }

int64_t TlsReport::total_successful() const {
  int64_t n = 0;
  for (const auto& p : policies) n += p.successful;
  return n;
}

int64_t TlsReport::total_failed() const {
  int64_t n = 0;
  for (const auto& p : policies) n += p.failed;
  return n;
}

std::string rfc3339(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

std::optional<int64_t> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  if (s.size() < 20) return std::nullopt;
  auto num = [&](size_t at, size_t len) -> std::optional<int> {
    auto v = mailauth::parse_uint(s.substr(at, len), len);
    if (!v) return std::nullopt;
    return static_cast<int>(*v);
  };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), se = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && mailauth::is_digit(s[pos])) ++pos;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    auto oh = num(pos + 1, 2), om = num(pos + 4, 2);
    if (!oh || !om) return std::nullopt;
    offset = (*oh * 60 + *om) * 60 * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *se;
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

std::string build_tlsrpt_json(const TlsReport& r) {
  json doc;
  doc["organization-name"] = r.organization_name;
  doc["date-range"] = {{"start-datetime", rfc3339(r.start)}, {"end-datetime", rfc3339(r.end)}};
  doc["contact-info"] = r.contact_info;
  doc["report-id"] = r.report_id;
  json policies = json::array();
  for (const auto& p : r.policies) {
    json policy;
    policy["policy-type"] = known_policy_type(p.policy_type) ? p.policy_type : "no-policy-found";
    if (!p.policy_strings.empty()) policy["policy-string"] = p.policy_strings;
    policy["policy-domain"] = p.policy_domain;
    if (!p.mx_hosts.empty()) policy["mx-host"] = p.mx_hosts;
    json entry;
    entry["policy"] = policy;
    entry["summary"] = {{"total-successful-session-count", p.successful}, {"total-failure-session-count", p.failed}};
    if (!p.failures.empty()) {
      json details = json::array();
      for (const auto& f : p.failures) {
        json d;
        d["result-type"] = known_result_type(f.result_type) ? f.result_type : "validation-failure";
        if (!f.sending_mta_ip.empty()) d["sending-mta-ip"] = f.sending_mta_ip;
        if (!f.receiving_mx_hostname.empty()) d["receiving-mx-hostname"] = f.receiving_mx_hostname;
        if (!f.receiving_mx_helo.empty()) d["receiving-mx-helo"] = f.receiving_mx_helo;
        if (!f.receiving_ip.empty()) d["receiving-ip"] = f.receiving_ip;
        d["failed-session-count"] = f.failed_session_count;
        if (!f.additional_information.empty()) d["additional-information"] = f.additional_information;
        if (!f.failure_reason_code.empty()) d["failure-reason-code"] = f.failure_reason_code;
        details.push_back(std::move(d));
      }
      entry["failure-details"] = std::move(details);
    }
    policies.push_back(std::move(entry));
  }
  doc["policies"] = std::move(policies);
  // Invalid UTF-8 in a peer-supplied name must not throw here: replace it.
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// -1 when absent, not an integer, negative or absurd (sums of many stay far from overflow).
int64_t count(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return -1;
  if (it->is_number_unsigned()) {
    auto u = it->get<uint64_t>();
    return u > 1000000000000ull ? -1 : static_cast<int64_t>(u);
  }
  auto v = it->get<int64_t>();
  return v < 0 || v > 1000000000000ll ? -1 : v;
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end()) return out;
  if (it->is_string()) out.push_back(it->get<std::string>());
  if (it->is_array())
    for (const auto& v : *it)
      if (v.is_string() && out.size() < 1000) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

std::optional<TlsReport> parse_tlsrpt_json(std::string_view text, std::string* error, size_t max_bytes,
                                           size_t max_policies, size_t max_failures) {
  auto fail = [&](std::string why) -> std::optional<TlsReport> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (text.size() > max_bytes) return fail("report larger than the limit");
  // Nesting is bounded by the parser callback: a report is 5 levels deep.
  int depth = 0;
  bool too_deep = false;
  json::parser_callback_t cb = [&](int d, json::parse_event_t event, json&) {
    if (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) {
      depth = d;
      if (d > 16) too_deep = true;
    }
    return !too_deep;
  };
  json doc = json::parse(text.begin(), text.end(), cb, false);
  if (too_deep) return fail("JSON nested too deeply");
  if (doc.is_discarded() || !doc.is_object()) return fail("not a JSON object");
  TlsReport r;
  r.organization_name = str(doc, "organization-name");
  r.contact_info = str(doc, "contact-info");
  r.report_id = str(doc, "report-id");
  if (r.organization_name.empty() || r.report_id.empty()) return fail("organization-name or report-id missing");
  auto range = doc.find("date-range");
  if (range == doc.end() || !range->is_object()) return fail("date-range missing");
  auto start = parse_rfc3339(str(*range, "start-datetime")), end = parse_rfc3339(str(*range, "end-datetime"));
  if (!start || !end) return fail("date-range is not RFC 3339");
  r.start = *start;
  r.end = *end;
  auto policies = doc.find("policies");
  if (policies == doc.end() || !policies->is_array()) return fail("policies missing");
  for (const auto& entry : *policies) {
    if (r.policies.size() >= max_policies) return fail("too many policies");
    if (!entry.is_object()) return fail("policy entry is not an object");
    TlsPolicyReport p;
    auto policy = entry.find("policy");
    if (policy == entry.end() || !policy->is_object()) return fail("policy missing");
    p.policy_type = str(*policy, "policy-type");
    p.policy_strings = strings(*policy, "policy-string");
    p.policy_domain = mailauth::to_lower(str(*policy, "policy-domain"));
    p.mx_hosts = strings(*policy, "mx-host");
    if (p.policy_domain.empty()) return fail("policy-domain missing");
    auto summary = entry.find("summary");
    if (summary == entry.end() || !summary->is_object()) return fail("summary missing");
    p.successful = count(*summary, "total-successful-session-count");
    p.failed = count(*summary, "total-failure-session-count");
    if (p.successful < 0 || p.failed < 0) return fail("session counts missing");
    if (auto details = entry.find("failure-details"); details != entry.end() && details->is_array()) {
      for (const auto& d : *details) {
        if (p.failures.size() >= max_failures) return fail("too many failure details");
        if (!d.is_object()) continue;
        TlsFailureDetail f;
        f.result_type = str(d, "result-type");
        f.sending_mta_ip = str(d, "sending-mta-ip");
        f.receiving_mx_hostname = str(d, "receiving-mx-hostname");
        f.receiving_mx_helo = str(d, "receiving-mx-helo");
        f.receiving_ip = str(d, "receiving-ip");
        f.failed_session_count = std::max<int64_t>(0, count(d, "failed-session-count"));
        f.additional_information = str(d, "additional-information");
        f.failure_reason_code = str(d, "failure-reason-code");
        p.failures.push_back(std::move(f));
      }
    }
    r.policies.push_back(std::move(p));
  }
  return r;
}

std::optional<std::vector<ReportUri>> parse_tlsrpt_record(std::string_view txt) {
  // Fields are "; "-separated key=value (RFC 8460 3); v= must come first.
  std::vector<ReportUri> uris;
  bool first = true, version = false;
  for (auto field : mailauth::split(txt, ';')) {
    std::string_view f = mailauth::trim_fws(field);
    if (f.empty()) continue;
    auto eq = f.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view key = mailauth::trim_fws(f.substr(0, eq)), value = mailauth::trim_fws(f.substr(eq + 1));
    if (first) {
      if (key != "v" || value != "TLSRPTv1") return std::nullopt;
      version = true;
      first = false;
      continue;
    }
    if (key == "rua") {
      for (auto& u : parse_report_uris(value))
        if (u.scheme == "mailto" || u.scheme == "https") uris.push_back(std::move(u));
    }
  }
  if (!version || uris.empty()) return std::nullopt;
  return uris;
}

std::string tlsrpt_filename(std::string_view submitter, std::string_view policy_domain, int64_t begin, int64_t end,
                            std::string_view unique_id) {
  return fmt::format("{}!{}!{}!{}!{}.json.gz", submitter, policy_domain, begin, end, unique_id);
}

}  // namespace postline::queue::reports
