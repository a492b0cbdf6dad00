#include "services/delivery-queue/reports/report_mail.h"

#include "common/mailauth/text_util.h"
#include "common/mime/mime.h"
#include "services/delivery-queue/reports/compression.h"

#include <fmt/format.h>
#include <openssl/rand.h>

namespace postline::queue::reports {
namespace {

std::string boundary() {
  unsigned char b[12];
  RAND_bytes(b, sizeof b);
  std::string out = "=_report_";
  for (unsigned char c : b) out += fmt::format("{:02x}", c);
  return out;
}

std::string base64_lines(std::string_view data) {
  std::string b64 = mailauth::base64_encode(data), out;
  for (size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\r\n";
  return out;
}

// Header values we write come from configuration and DNS; a stray CR/LF
// must not start a new field.
std::string clean(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '\r' && c != '\n') out += c;
  return out;
}

std::string common_headers(const ReportEnvelope& e, const std::string& subject) {
  std::string host = e.from.substr(e.from.rfind('@') + 1);
  std::string m;
  m += "From: " + clean(e.from) + "\r\n";
  m += "To: " + clean(e.to) + "\r\n";
  m += "Subject: " + clean(subject) + "\r\n";
  m += "Date: " + clean(e.date) + "\r\n";
  m += "Message-ID: <" + clean(e.report_id) + "." + boundary().substr(9, 8) + "@" + clean(host) + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Auto-Submitted: auto-generated\r\n";
  return m;
}

}  // namespace

std::string dmarc_report_message(const ReportEnvelope& e, std::string_view gz) {
  const std::string b = boundary();
  // RFC 7489 7.2.1.1: the subject names the domain, the submitter and the report id.
  std::string m = common_headers(e, "Report Domain: " + e.policy_domain + " Submitter: " + e.submitter +
                                        " Report-ID: <" + e.report_id + ">");
  m += "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n";
  m += "This is a DMARC aggregate report (RFC 7489).\r\n\r\n";
  m += "--" + b + "\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  m += "DMARC aggregate report for " + clean(e.policy_domain) + " from " + clean(e.submitter) + ".\r\n";
  m += "Report-ID: " + clean(e.report_id) + "\r\n\r\n";
  m += "--" + b + "\r\n";
  m += "Content-Type: application/gzip; name=\"" + clean(e.filename) + "\"\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "Content-Disposition: attachment; filename=\"" + clean(e.filename) + "\"\r\n\r\n";
  m += base64_lines(gz);
  m += "\r\n--" + b + "--\r\n";
  return m;
}

std::string tlsrpt_report_message(const ReportEnvelope& e, std::string_view gz) {
  const std::string b = boundary();
  std::string m = common_headers(e, "Report Domain: " + e.policy_domain + " Submitter: " + e.submitter +
                                        " Report-ID: <" + e.report_id + ">");
  m += "TLS-Report-Domain: " + clean(e.policy_domain) + "\r\n";
  m += "TLS-Report-Submitter: " + clean(e.submitter) + "\r\n";
  m += "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n\tboundary=\"" + b + "\"\r\n\r\n";
  m += "--" + b + "\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  m += "This is an aggregate TLS report (RFC 8460) from " + clean(e.submitter) + ".\r\n\r\n";
  m += "--" + b + "\r\n";
  m += "Content-Type: application/tlsrpt+gzip\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "Content-Disposition: attachment; filename=\"" + clean(e.filename) + "\"\r\n\r\n";
  m += base64_lines(gz);
  m += "\r\n--" + b + "--\r\n";
  return m;
}

bool looks_like_report(std::string_view message) {
  size_t end = message.find("\r\n\r\n");
  if (end == std::string_view::npos) end = message.find("\n\n");
  std::string_view head = message.substr(0, std::min(end, size_t(256 * 1024)));
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 1;
    if (mailauth::istarts_with(line, "TLS-Report-Domain:")) return true;
    if (mailauth::istarts_with(line, "Subject:")) {
      std::string_view v = mailauth::trim_fws(line.substr(8));
      if (mailauth::istarts_with(v, "Report Domain:") || mailauth::istarts_with(v, "Report domain:")) return true;
    }
    if (mailauth::istarts_with(line, "Content-Type:") && mailauth::to_lower(line).find("tlsrpt") != std::string::npos)
      return true;
  }
  return false;
}

namespace {

void walk(const mime::Part& p, std::vector<const mime::Part*>& leaves, size_t depth) {
  if (depth > 8) return;
  if (p.is_multipart()) {
    for (const auto& c : p.children) walk(c, leaves, depth + 1);
    return;
  }
  if (p.is_message()) return;  // a forwarded message: not a report attachment
  leaves.push_back(&p);
}

std::string filename_of(const mime::Part& p) {
  for (const auto& d : p.disposition_params)
    if (d.name == "filename") return mailauth::to_lower(d.value);
  if (const std::string* n = p.param("name")) return mailauth::to_lower(*n);
  return "";
}

}  // namespace

std::vector<FoundReport> extract_reports(std::string_view message, const ExtractLimits& limits,
                                         std::vector<std::string>* errors) {
  std::vector<FoundReport> out;
  auto note = [&](std::string e) {
    if (errors) errors->push_back(std::move(e));
  };
  mime::ParsedMessage parsed = mime::parse(message);
  std::vector<const mime::Part*> leaves;
  walk(parsed.root, leaves, 0);
  size_t looked = 0;
  for (const mime::Part* p : leaves) {
    const std::string type = p->type + "/" + p->subtype;
    const std::string name = filename_of(*p);
    enum { kNone, kGzip, kZip, kPlain } form = kNone;
    if (type == "application/gzip" || type == "application/x-gzip" || type == "application/tlsrpt+gzip" ||
        mailauth::iends_with(name, ".gz"))
      form = kGzip;
    else if (type == "application/zip" || type == "application/x-zip-compressed" ||
             type == "application/x-zip" || mailauth::iends_with(name, ".zip"))
      form = kZip;
    else if (type == "text/xml" || type == "application/xml" || type == "application/tlsrpt+json" ||
             mailauth::iends_with(name, ".xml") || mailauth::iends_with(name, ".json"))
      form = kPlain;
    if (form == kNone) continue;
    if (++looked > limits.max_attachments) {
      note("more report attachments than the limit");
      break;
    }
    if (p->body_end > message.size() || p->body_start > p->body_end) continue;
    std::string raw = mime::decode_transfer(message.substr(p->body_start, p->body_end - p->body_start), p->encoding);
    std::string err;
    std::optional<std::string> doc;
    if (form == kGzip) doc = gzip_decompress(raw, limits.max_decompressed, &err);
    else if (form == kZip) doc = zip_extract(raw, limits.max_decompressed, &err);
    else if (raw.size() <= limits.max_decompressed) doc = std::move(raw);
    else err = "attachment larger than the limit";
    if (!doc) {
      note((name.empty() ? type : name) + ": " + err);
      continue;
    }
    std::string_view d = mailauth::trim_fws(*doc);
    if (!d.empty() && d.front() == '{') out.push_back({FoundReport::Kind::kTlsRpt, std::move(*doc)});
    else if (d.find("<feedback") != std::string_view::npos || d.find(":feedback") != std::string_view::npos)
      out.push_back({FoundReport::Kind::kDmarc, std::move(*doc)});
    else note((name.empty() ? type : name) + ": neither a DMARC nor a TLS report");
  }
  return out;
}

}  // namespace postline::queue::reports
