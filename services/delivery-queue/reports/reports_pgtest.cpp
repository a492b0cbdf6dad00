// The reporting tables and job against a real PostgreSQL: batched counts
// add up, a report goes out once however many replicas run the job at the
// same time, destinations are verified (RFC 7489 7.1) and size-limited, the
// TLS report reaches the _smtp._tls rua, received reports are kept once and
// only for our domains.
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "services/delivery-queue/reports/compression.h"
#include "services/delivery-queue/reports/reporter.h"
#include "services/delivery-queue/sql/migrations.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <ctime>
#include <thread>

using namespace postline;
using namespace postline::queue;
using namespace postline::queue::reports;

namespace {

class OurDomains final : public RecipientResolver {
 public:
  Resolution resolve(const std::string& address) override {
    // postmaster@ of our domain: authd knows the domain (no such user: unknown).
    Resolution r;
    r.kind = address == "postmaster@postline.test" ? Resolution::kUnknown : Resolution::kRemote;
    return r;
  }
  std::optional<mailstore::Quota> quota(const std::string&, int64_t, const std::string&) override {
    return std::nullopt;
  }
};

class ReportsPg : public ::testing::Test {
 protected:
  void SetUp() override {
    url = postline::testing::create_test_database("reports");
    pqxx::connection c(url);
    db::migrate(c, sql::migrations());
    pool = std::make_unique<db::Pool>(url, 8);
    cfg.send = true;
    cfg.org_name = "mx.postline.test";
    cfg.email = "dmarc-reports@postline.test";
    cfg.hostname = "mx.postline.test";
    cfg.period = 86400;
  }
  std::unique_ptr<Reporter> reporter(mailauth::FakeDnsLookup dns) {
    return std::make_unique<Reporter>(cfg, *pool, std::make_unique<mailauth::FakeDnsLookup>(std::move(dns)),
                                      &domains, registry, [] {});
  }
  std::string q(const std::string& sql) {
    pqxx::connection c(url);
    pqxx::work tx(c);
    auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }
  DmarcEvaluationRow row(const std::string& domain, const std::string& ip, const std::string& rua, int64_t when) {
    DmarcEvaluationRow r;
    r.period_start = when;
    r.policy_domain = domain;
    r.row.source_ip = ip;
    r.row.count = 1;
    r.row.header_from = r.row.envelope_from = domain;
    r.row.envelope_to = "postline.test";
    r.row.dkim = "pass";
    r.row.spf = "pass";
    r.row.spf_domain = domain;
    r.row.spf_result = "pass";
    r.rua = rua;
    r.policy.domain = domain;
    r.policy.p = "reject";
    return r;
  }
  std::string url;
  std::unique_ptr<db::Pool> pool;
  ReporterConfig cfg;
  OurDomains domains;
  prometheus::Registry registry;
  const int64_t yesterday = static_cast<int64_t>(std::time(nullptr)) - 86400;
};

TEST_F(ReportsPg, BatchesAddUpAndOneReportGoesOutOnceUnderConcurrency) {
  mailauth::FakeDnsLookup dns;
  auto a = reporter(dns), b = reporter(dns);
  // Two batches, a duplicate row inside one: counts add up.
  std::vector<DmarcEvaluationRow> batch = {row("bank.example", "192.0.2.1", "mailto:d@bank.example", yesterday),
                                           row("bank.example", "192.0.2.1", "mailto:d@bank.example", yesterday),
                                           row("bank.example", "192.0.2.2", "mailto:d@bank.example", yesterday)};
  a->record_dmarc(batch);
  b->record_dmarc(batch);
  EXPECT_EQ(q("SELECT sum(messages) FROM dmarc_report_rows"), "6");
  EXPECT_EQ(q("SELECT count(*) FROM dmarc_report_rows"), "2");

  // Two replicas run the job at once: the report is queued once.
  std::vector<std::string> lines_a, lines_b;
  std::thread ta([&] { lines_a = a->run_once(); });
  std::thread tb([&] { lines_b = b->run_once(); });
  ta.join();
  tb.join();
  EXPECT_EQ(lines_a.size() + lines_b.size(), 1u);
  EXPECT_EQ(q("SELECT count(*) FROM queue_messages"), "1");
  EXPECT_EQ(q("SELECT count(*) FROM report_runs WHERE outcome = 'sent'"), "1");
  EXPECT_EQ(q("SELECT count(*) FROM dmarc_report_rows"), "0");  // in the report now
  EXPECT_EQ(q("SELECT r.address FROM queue_recipients r"), "d@bank.example");
  EXPECT_EQ(q("SELECT mail_from FROM queue_messages"), "dmarc-reports@postline.test");
  EXPECT_TRUE(a->run_once().empty());
  // A late batch for the period already reported is not kept for ever.
  a->record_dmarc({row("bank.example", "192.0.2.9", "mailto:d@bank.example", yesterday)});
  EXPECT_EQ(q("SELECT count(*) FROM dmarc_report_rows"), "1");
  EXPECT_TRUE(a->run_once().empty());
  EXPECT_EQ(q("SELECT count(*) FROM dmarc_report_rows"), "0");
  // The attachment is the gzip'd XML with both rows.
  std::string body = q("SELECT convert_from(body, 'UTF8') FROM queue_messages");
  EXPECT_NE(body.find("Subject: Report Domain: bank.example Submitter: postline.test"), std::string::npos);
}

TEST_F(ReportsPg, DestinationsAreVerifiedAndSizeLimited) {
  mailauth::FakeDnsLookup dns;
  dns.add_txt("agreed.example._report._dmarc.vendor.example", "v=DMARC1");
  auto r = reporter(dns);
  r->record_dmarc({row("agreed.example", "192.0.2.1", "mailto:a@vendor.example", yesterday),
                   row("stranger.example", "192.0.2.1", "mailto:a@vendor.example", yesterday),
                   row("tiny.example", "192.0.2.1", "mailto:t@tiny.example!1k", yesterday),
                   row("none.example", "192.0.2.1", "https://r.example/", yesterday)});
  auto lines = r->run_once();
  ASSERT_EQ(lines.size(), 4u);
  auto outcome = [&](const std::string& d) {
    return q("SELECT outcome FROM report_runs WHERE policy_domain = '" + d + "'");
  };
  EXPECT_EQ(outcome("agreed.example"), "sent");
  EXPECT_EQ(outcome("stranger.example"), "unverified");
  EXPECT_EQ(outcome("tiny.example"), "too_large");
  EXPECT_EQ(outcome("none.example"), "no_rua");
  EXPECT_EQ(q("SELECT count(*) FROM queue_messages"), "1");
}

TEST_F(ReportsPg, DnsTroubleLeavesThePeriodForTheNextRun) {
  mailauth::FakeDnsLookup dns;
  dns.fail("shaky.example._report._dmarc.vendor.example");
  auto r = reporter(dns);
  r->record_dmarc({row("shaky.example", "192.0.2.1", "mailto:a@vendor.example", yesterday)});
  auto lines = r->run_once();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("dns_error"), std::string::npos);
  EXPECT_EQ(q("SELECT count(*) FROM report_runs"), "0");
  EXPECT_EQ(q("SELECT sum(messages) FROM dmarc_report_rows"), "1");
}

TEST_F(ReportsPg, CurrentPeriodWaits) {
  mailauth::FakeDnsLookup dns;
  auto r = reporter(dns);
  r->record_dmarc({row("bank.example", "192.0.2.1", "mailto:d@bank.example", std::time(nullptr))});
  EXPECT_TRUE(r->run_once().empty());
}

TEST_F(ReportsPg, TlsReportGoesToTheTlsRptRua) {
  mailauth::FakeDnsLookup dns;
  dns.add_txt("_smtp._tls.remote.example", "v=TLSRPTv1; rua=mailto:tls@remote.example,https://r.example/x");
  dns.add_txt("_smtp._tls.two.example", "v=TLSRPTv1; rua=mailto:a@two.example");
  dns.add_txt("_smtp._tls.two.example", "v=TLSRPTv1; rua=mailto:b@two.example");  // two records: none
  auto r = reporter(dns);
  // Outcomes through the recorder, flushed by the run.
  // (period: the buffer uses the wall clock, so write yesterday's rows directly.)
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    add_tls_rows(tx, {{yesterday - yesterday % 86400, "remote.example", "no-policy-found", "", "mx.remote.example", "",
                       "", 7},
                      {yesterday - yesterday % 86400, "remote.example", "no-policy-found", "", "mx.remote.example",
                       "192.0.2.5", "starttls-not-supported", 2},
                      {yesterday - yesterday % 86400, "two.example", "no-policy-found", "", "mx.two.example", "", "",
                       1}});
    tx.commit();
  }
  r->tls_recorder()->record("remote.example", TlsPolicyType::kNoPolicyFound, {}, "mx.remote.example", "192.0.2.5",
                            "validation-failure", false);  // today: not in yesterday's report
  auto lines = r->run_once();
  ASSERT_EQ(lines.size(), 2u) << lines[0];
  EXPECT_EQ(q("SELECT outcome FROM report_runs WHERE policy_domain = 'remote.example'"), "sent");
  EXPECT_EQ(q("SELECT outcome FROM report_runs WHERE policy_domain = 'two.example'"), "no_rua");
  EXPECT_EQ(q("SELECT r.address FROM queue_recipients r"), "tls@remote.example");
  EXPECT_NE(q("SELECT detail FROM report_runs WHERE policy_domain = 'remote.example'").find("skipped (https)"),
            std::string::npos);
  // Today's outcome was flushed by the run and waits for its period.
  EXPECT_EQ(q("SELECT result_type FROM tls_report_rows"), "validation-failure");
}

TEST_F(ReportsPg, ReceivedReportsAreKeptOnceAndOnlyForOurDomains) {
  mailauth::FakeDnsLookup dns;
  auto r = reporter(dns);
  DmarcAggregate a;
  a.org_name = "google.com";
  a.email = "noreply@google.com";
  a.report_id = "g1";
  a.begin = 1;
  a.end = 2;
  a.policy.domain = "postline.test";
  DmarcRow x;
  x.source_ip = "192.0.2.1";
  x.count = 5;
  x.header_from = x.envelope_from = "postline.test";
  a.rows = {x};
  auto mail = [&](const DmarcAggregate& agg) {
    ReportEnvelope e{"noreply@google.com", "dmarc@postline.test", "google.com", agg.policy.domain, agg.report_id,
                     "r.xml.gz", "Thu, 04 Dec 2025 00:00:00 +0000"};
    return dmarc_report_message(e, gzip_compress(build_dmarc_xml(agg)));
  };
  EXPECT_EQ(r->ingest(mail(a)), std::vector<std::string>{"dmarc postline.test stored"});
  EXPECT_EQ(r->ingest(mail(a)), std::vector<std::string>{"dmarc postline.test duplicate"});
  DmarcAggregate other = a;
  other.policy.domain = "somebody.example";
  EXPECT_EQ(r->ingest(mail(other)), std::vector<std::string>{"dmarc somebody.example not_ours"});
  auto listed = r->list("dmarc", "Postline.TEST", 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].total, 5);
  EXPECT_EQ(listed[0].failed, 5);  // neither DKIM nor SPF passed in that row
  EXPECT_NE(listed[0].detail_json.find("\"192.0.2.1\""), std::string::npos) << listed[0].detail_json;
  EXPECT_TRUE(r->list("tlsrpt", "", 10).empty());
}

}  // namespace
