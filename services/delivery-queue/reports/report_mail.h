// Report messages, sans-I/O: the MIME messages queued sends (RFC 7489
// 7.2.1.1 for DMARC, RFC 8460 5.3 for TLS-RPT), and the reports found in a
// message someone sent us (gzip, zip or plain XML/JSON attachments).
#pragma once

#include "services/delivery-queue/reports/dmarc_report.h"
#include "services/delivery-queue/reports/tlsrpt_report.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::queue::reports {

struct ReportEnvelope {
  std::string from;        // our reporting address (reports.email)
  std::string to;          // the rua mailbox
  std::string submitter;   // our organisation's domain / host (reports.org_name's host)
  std::string policy_domain;
  std::string report_id;
  std::string filename;
  std::string date;         // RFC 5322 date-time for Date:
};

// multipart/mixed: a short text part and the gzip'd XML as application/gzip.
std::string dmarc_report_message(const ReportEnvelope& e, std::string_view gzipped_xml);
// multipart/report; report-type="tlsrpt": text, then application/tlsrpt+gzip;
// TLS-Report-Domain and TLS-Report-Submitter header fields.
std::string tlsrpt_report_message(const ReportEnvelope& e, std::string_view gzipped_json);

// Cheap test on the header block only, for every message delivered locally:
// does it claim to carry a report? (Subject "Report Domain:" of RFC 7489
// 7.2.1.1, TLS-Report-Domain of RFC 8460 5.3, report-type=tlsrpt.)
bool looks_like_report(std::string_view message);

struct ExtractLimits {
  size_t max_decompressed = 16 * 1024 * 1024;  // per attachment, after gzip/zip
  size_t max_attachments = 8;
};

struct FoundReport {
  enum class Kind { kDmarc, kTlsRpt } kind;
  std::string document;  // XML or JSON, decompressed
};

// The reports in `message` (every error goes to *errors, one line each).
std::vector<FoundReport> extract_reports(std::string_view message, const ExtractLimits& limits,
                                         std::vector<std::string>* errors);

}  // namespace postline::queue::reports
