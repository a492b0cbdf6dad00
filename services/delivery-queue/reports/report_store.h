// The reporting tables (services/delivery-queue/sql/007_reports.sql): every
// statement on them lives here, parameterised; rows go in as arrays
// (unnest), so a batch of any size is one statement.
#pragma once

#include "services/delivery-queue/reports/dmarc_report.h"
#include "services/delivery-queue/reports/tls_outcomes.h"
#include "services/delivery-queue/reports/tlsrpt_report.h"

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postline::queue::reports {

// One DMARC evaluation at the MX (or many alike: count).
struct DmarcEvaluationRow {
  int64_t period_start = 0;
  std::string policy_domain;
  DmarcRow row;                   // count = messages
  DmarcPolicyPublished policy;    // as published at evaluation time
  std::string rua;
};

// Adds the counts (ON CONFLICT: messages + excluded.messages) and the
// policies (last seen wins).
void add_dmarc_rows(pqxx::transaction_base& tx, const std::vector<DmarcEvaluationRow>& rows);
void add_tls_rows(pqxx::transaction_base& tx, const std::vector<TlsOutcomeBuffer::Row>& rows);

struct PendingReport {
  std::string policy_domain;
  int64_t period_start = 0;
};
// Periods that ended before `now` with rows and no report_runs row yet.
std::vector<PendingReport> pending_dmarc_reports(pqxx::transaction_base& tx, int64_t now, int64_t period,
                                                 int limit = 1000);
std::vector<PendingReport> pending_tls_reports(pqxx::transaction_base& tx, int64_t now, int64_t period,
                                               int limit = 1000);

struct DmarcPeriod {
  std::string rua;
  DmarcPolicyPublished policy;
  std::vector<DmarcRow> rows;
};
DmarcPeriod load_dmarc_period(pqxx::transaction_base& tx, const std::string& domain, int64_t period_start);
std::vector<TlsPolicyReport> load_tls_period(pqxx::transaction_base& tx, const std::string& domain,
                                             int64_t period_start);

// Claims (kind, domain, period) for this run; false when some run already
// did. The rows of the period are deleted with the claim: they are in the
// report now (or there was nowhere to send it).
bool claim_report(pqxx::transaction_base& tx, const std::string& kind, const std::string& domain,
                  int64_t period_start, const std::string& report_id, const std::string& outcome,
                  const std::string& detail);

// Received reports.
struct ReceivedReport {
  int64_t id = 0;
  std::string kind;  // dmarc | tlsrpt
  int64_t received_at = 0;
  std::string policy_domain, org_name, report_id, contact;
  int64_t begin = 0, end = 0;
  int64_t total = 0, failed = 0;
  std::string detail_json;
};
// false: the same report (kind, org, id, domain) was stored before.
bool store_received(pqxx::transaction_base& tx, const ReceivedReport& r);
std::vector<ReceivedReport> list_received(pqxx::transaction_base& tx, const std::string& kind,
                                          const std::string& domain, int limit);

// Housekeeping, run with the job: counts that arrived for a period already
// reported (a late smtpd batch) go; report_runs older than 60 days go (no
// evaluation that old can arrive); received reports older than
// keep_received_seconds go (0 = kept for ever). Returns the rows deleted.
int64_t housekeeping(pqxx::transaction_base& tx, int64_t keep_received_seconds);

// Postgres text[] literal: {"a","b\"c"}.
std::string text_array_literal(const std::vector<std::string>& values);

}  // namespace postline::queue::reports
