#include "services/delivery-queue/reports/report_store.h"

#include "common/mailauth/text_util.h"

namespace postline::queue::reports {

std::string text_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\0') continue;
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

namespace {

std::string int_array(const std::vector<int64_t>& v) {
  std::string out = "{";
  for (auto x : v) out += (out.size() > 1 ? "," : "") + std::to_string(x);
  return out + "}";
}

std::string join_dkim(const std::vector<DkimAuth>& auth) {
  std::string out;
  for (const auto& d : auth)
    out += (out.empty() ? "" : "\n") + d.domain + " " + (d.selector.empty() ? "-" : d.selector) + " " + d.result;
  return out;
}

std::vector<DkimAuth> split_dkim(const std::string& s) {
  std::vector<DkimAuth> out;
  for (auto line : mailauth::split(s, '\n')) {
    auto parts = mailauth::split(line, ' ');
    if (parts.size() != 3) continue;
    out.push_back({std::string(parts[0]), parts[1] == "-" ? std::string() : std::string(parts[1]),
                   std::string(parts[2])});
  }
  return out;
}

}  // namespace

void add_dmarc_rows(pqxx::transaction_base& tx, const std::vector<DmarcEvaluationRow>& rows) {
  if (rows.empty()) return;
  std::vector<int64_t> period, count, pct;
  std::vector<std::string> domain, ip, hfrom, efrom, eto, disp, dkim, spf, reason, dkim_auth, spf_auth;
  std::vector<std::string> rua, adkim, aspf, p, sp, fo;
  for (const auto& r : rows) {
    period.push_back(r.period_start);
    domain.push_back(r.policy_domain);
    ip.push_back(r.row.source_ip);
    hfrom.push_back(r.row.header_from);
    efrom.push_back(r.row.envelope_from);
    eto.push_back(r.row.envelope_to);
    disp.push_back(r.row.disposition);
    dkim.push_back(r.row.dkim);
    spf.push_back(r.row.spf);
    reason.push_back(r.row.reason);
    dkim_auth.push_back(join_dkim(r.row.dkim_auth));
    spf_auth.push_back(r.row.spf_domain + " " + r.row.spf_scope + " " + r.row.spf_result);
    count.push_back(r.row.count);
    rua.push_back(r.rua);
    adkim.push_back(r.policy.adkim);
    aspf.push_back(r.policy.aspf);
    p.push_back(r.policy.p);
    sp.push_back(r.policy.sp);
    pct.push_back(r.policy.pct);
    fo.push_back(r.policy.fo);
  }
  // Same key twice in one statement would make ON CONFLICT fail ("cannot
  // affect row a second time"): sum them first.
  tx.exec_params(
      "INSERT INTO dmarc_report_rows AS d (period_start, policy_domain, source_ip, header_from, envelope_from,"
      " envelope_to, disposition, dkim_aligned, spf_aligned, reason, dkim_auth, spf_auth, messages)"
      " SELECT to_timestamp(t.ps), t.dom, t.ip, t.hf, t.ef, t.et, t.disp, t.dk, t.sp, t.rs, t.da, t.sa, sum(t.n)"
      " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
      "   $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[])"
      "   AS t(ps, dom, ip, hf, ef, et, disp, dk, sp, rs, da, sa, n)"
      " GROUP BY t.ps, t.dom, t.ip, t.hf, t.ef, t.et, t.disp, t.dk, t.sp, t.rs, t.da, t.sa"
      " ON CONFLICT (period_start, policy_domain, source_ip, header_from, envelope_from, envelope_to,"
      "   disposition, dkim_aligned, spf_aligned, reason, dkim_auth, spf_auth)"
      " DO UPDATE SET messages = d.messages + excluded.messages",
      int_array(period), text_array_literal(domain), text_array_literal(ip), text_array_literal(hfrom),
      text_array_literal(efrom), text_array_literal(eto), text_array_literal(disp), text_array_literal(dkim),
      text_array_literal(spf), text_array_literal(reason), text_array_literal(dkim_auth),
      text_array_literal(spf_auth), int_array(count));
  tx.exec_params(
      "INSERT INTO dmarc_report_policies AS p (period_start, policy_domain, rua, adkim, aspf, p, sp, pct, fo)"
      " SELECT DISTINCT ON (t.ps, t.dom) to_timestamp(t.ps), t.dom, t.rua, t.adkim, t.aspf, t.p, t.sp, t.pct, t.fo"
      " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
      "   $8::bigint[], $9::text[]) WITH ORDINALITY AS t(ps, dom, rua, adkim, aspf, p, sp, pct, fo, ord)"
      " ORDER BY t.ps, t.dom, t.ord DESC"
      " ON CONFLICT (period_start, policy_domain) DO UPDATE SET rua = excluded.rua, adkim = excluded.adkim,"
      "   aspf = excluded.aspf, p = excluded.p, sp = excluded.sp, pct = excluded.pct, fo = excluded.fo",
      int_array(period), text_array_literal(domain), text_array_literal(rua), text_array_literal(adkim),
      text_array_literal(aspf), text_array_literal(p), text_array_literal(sp), int_array(pct),
      text_array_literal(fo));
}

void add_tls_rows(pqxx::transaction_base& tx, const std::vector<TlsOutcomeBuffer::Row>& rows) {
  if (rows.empty()) return;
  std::vector<int64_t> period, sessions;
  std::vector<std::string> domain, type, strings, mx, ip, result;
  for (const auto& r : rows) {
    period.push_back(r.period_start);
    domain.push_back(r.policy_domain);
    type.push_back(r.policy_type);
    strings.push_back(r.policy_strings);
    mx.push_back(r.mx_host);
    ip.push_back(r.receiving_ip);
    result.push_back(r.result_type);
    sessions.push_back(r.sessions);
  }
  tx.exec_params(
      "INSERT INTO tls_report_rows AS r (period_start, policy_domain, policy_type, policy_strings, mx_host,"
      " receiving_ip, result_type, sessions)"
      " SELECT to_timestamp(t.ps), t.dom, t.ty, t.st, t.mx, t.ip, t.rt, sum(t.n)"
      " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
      "   $8::bigint[]) AS t(ps, dom, ty, st, mx, ip, rt, n)"
      " GROUP BY t.ps, t.dom, t.ty, t.st, t.mx, t.ip, t.rt"
      " ON CONFLICT (period_start, policy_domain, policy_type, policy_strings, mx_host, receiving_ip, result_type)"
      " DO UPDATE SET sessions = r.sessions + excluded.sessions",
      int_array(period), text_array_literal(domain), text_array_literal(type), text_array_literal(strings),
      text_array_literal(mx), text_array_literal(ip), text_array_literal(result), int_array(sessions));
}

namespace {

std::vector<PendingReport> pending(pqxx::transaction_base& tx, const char* table, const char* kind, int64_t now,
                                   int64_t period, int limit) {
  std::vector<PendingReport> out;
  const std::string sql =
      std::string("SELECT DISTINCT r.policy_domain, extract(epoch FROM r.period_start)::bigint FROM ") + table +
      " r WHERE r.period_start <= to_timestamp($1::bigint - $2::bigint)"
      " AND NOT EXISTS (SELECT 1 FROM report_runs x WHERE x.kind = $3 AND x.policy_domain = r.policy_domain"
      "   AND x.period_start = r.period_start)"
      " ORDER BY 2, 1 LIMIT $4::int";
  for (const auto& row : tx.exec_params(sql, now, period, kind, limit))
    out.push_back({row[0].as<std::string>(), row[1].as<int64_t>()});
  return out;
}

}  // namespace

std::vector<PendingReport> pending_dmarc_reports(pqxx::transaction_base& tx, int64_t now, int64_t period,
                                                 int limit) {
  return pending(tx, "dmarc_report_rows", "dmarc", now, period, limit);
}

std::vector<PendingReport> pending_tls_reports(pqxx::transaction_base& tx, int64_t now, int64_t period, int limit) {
  return pending(tx, "tls_report_rows", "tlsrpt", now, period, limit);
}

DmarcPeriod load_dmarc_period(pqxx::transaction_base& tx, const std::string& domain, int64_t period_start) {
  DmarcPeriod out;
  out.policy.domain = domain;
  auto pol = tx.exec_params(
      "SELECT rua, adkim, aspf, p, sp, pct, fo FROM dmarc_report_policies"
      " WHERE policy_domain = $1 AND period_start = to_timestamp($2::bigint)",
      domain, period_start);
  if (!pol.empty()) {
    out.rua = pol[0][0].as<std::string>();
    out.policy.adkim = pol[0][1].as<std::string>();
    out.policy.aspf = pol[0][2].as<std::string>();
    out.policy.p = pol[0][3].as<std::string>();
    out.policy.sp = pol[0][4].as<std::string>();
    out.policy.pct = pol[0][5].as<int>();
    out.policy.fo = pol[0][6].as<std::string>();
  }
  for (const auto& row : tx.exec_params(
           "SELECT source_ip, header_from, envelope_from, envelope_to, disposition, dkim_aligned, spf_aligned,"
           " reason, dkim_auth, spf_auth, messages FROM dmarc_report_rows"
           " WHERE policy_domain = $1 AND period_start = to_timestamp($2::bigint)"
           " ORDER BY source_ip, header_from, envelope_from, envelope_to, disposition, dkim_aligned, spf_aligned",
           domain, period_start)) {
    DmarcRow r;
    r.source_ip = row[0].as<std::string>();
    r.header_from = row[1].as<std::string>();
    r.envelope_from = row[2].as<std::string>();
    r.envelope_to = row[3].as<std::string>();
    r.disposition = row[4].as<std::string>();
    r.dkim = row[5].as<std::string>();
    r.spf = row[6].as<std::string>();
    r.reason = row[7].as<std::string>();
    r.dkim_auth = split_dkim(row[8].as<std::string>());
    const std::string spf_auth = row[9].as<std::string>();  // split() views into it
    auto spf = mailauth::split(spf_auth, ' ');
    if (spf.size() == 3) {
      r.spf_domain = std::string(spf[0]);
      r.spf_scope = std::string(spf[1]);
      r.spf_result = std::string(spf[2]);
    }
    r.count = row[10].as<int64_t>();
    out.rows.push_back(std::move(r));
  }
  return out;
}

std::vector<TlsPolicyReport> load_tls_period(pqxx::transaction_base& tx, const std::string& domain,
                                             int64_t period_start) {
  std::vector<TlsPolicyReport> out;
  for (const auto& row : tx.exec_params(
           "SELECT policy_type, policy_strings, mx_host, receiving_ip, result_type, sessions FROM tls_report_rows"
           " WHERE policy_domain = $1 AND period_start = to_timestamp($2::bigint)"
           " ORDER BY policy_type, policy_strings, result_type, mx_host, receiving_ip",
           domain, period_start)) {
    const std::string type = row[0].as<std::string>(), strings = row[1].as<std::string>();
    TlsPolicyReport* p = nullptr;
    for (auto& x : out) {
      std::string joined;
      for (const auto& s : x.policy_strings) joined += (joined.empty() ? "" : "\n") + s;
      if (x.policy_type == type && joined == strings) p = &x;
    }
    if (!p) {
      out.emplace_back();
      p = &out.back();
      p->policy_type = type;
      p->policy_domain = domain;
      for (auto s : mailauth::split(strings, '\n'))
        if (!s.empty()) p->policy_strings.emplace_back(s);
    }
    const int64_t n = row[5].as<int64_t>();
    const std::string result = row[4].as<std::string>();
    if (result.empty()) {
      p->successful += n;
    } else {
      p->failed += n;
      TlsFailureDetail f;
      f.result_type = result;
      f.receiving_mx_hostname = row[2].as<std::string>();
      f.receiving_ip = row[3].as<std::string>();
      f.failed_session_count = n;
      p->failures.push_back(std::move(f));
    }
  }
  return out;
}

bool claim_report(pqxx::transaction_base& tx, const std::string& kind, const std::string& domain,
                  int64_t period_start, const std::string& report_id, const std::string& outcome,
                  const std::string& detail) {
  auto r = tx.exec_params(
      "INSERT INTO report_runs (kind, policy_domain, period_start, report_id, outcome, detail)"
      " VALUES ($1, $2, to_timestamp($3::bigint), $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
      kind, domain, period_start, report_id, outcome, detail);
  if (r.empty()) return false;
  if (kind == "dmarc") {
    tx.exec_params("DELETE FROM dmarc_report_rows WHERE policy_domain = $1 AND period_start = to_timestamp($2::bigint)",
                   domain, period_start);
    tx.exec_params("DELETE FROM dmarc_report_policies WHERE policy_domain = $1 AND period_start = to_timestamp($2::bigint)",
                   domain, period_start);
  } else {
    tx.exec_params("DELETE FROM tls_report_rows WHERE policy_domain = $1 AND period_start = to_timestamp($2::bigint)",
                   domain, period_start);
  }
  return true;
}

int64_t housekeeping(pqxx::transaction_base& tx, int64_t keep_received_seconds) {
  int64_t n = 0;
  n += tx.exec("DELETE FROM dmarc_report_rows r USING report_runs x WHERE x.kind = 'dmarc'"
               " AND x.policy_domain = r.policy_domain AND x.period_start = r.period_start")
           .affected_rows();
  n += tx.exec("DELETE FROM dmarc_report_policies r USING report_runs x WHERE x.kind = 'dmarc'"
               " AND x.policy_domain = r.policy_domain AND x.period_start = r.period_start")
           .affected_rows();
  n += tx.exec("DELETE FROM tls_report_rows r USING report_runs x WHERE x.kind = 'tlsrpt'"
               " AND x.policy_domain = r.policy_domain AND x.period_start = r.period_start")
           .affected_rows();
  n += tx.exec("DELETE FROM report_runs WHERE created_at < now() - interval '60 days'"
               " AND period_start < now() - interval '60 days'")
           .affected_rows();
  if (keep_received_seconds > 0)
    n += tx.exec_params("DELETE FROM received_reports WHERE received_at < now() - make_interval(secs => $1::bigint)",
                        keep_received_seconds)
             .affected_rows();
  return n;
}

bool store_received(pqxx::transaction_base& tx, const ReceivedReport& r) {
  auto res = tx.exec_params(
      "INSERT INTO received_reports (kind, policy_domain, org_name, report_id, contact, begin_at, end_at, total,"
      " failed, detail) VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint), to_timestamp($7::bigint), $8, $9, $10::jsonb)"
      " ON CONFLICT (kind, org_name, report_id, policy_domain) DO NOTHING RETURNING id",
      r.kind, r.policy_domain, r.org_name, r.report_id, r.contact, r.begin, r.end, r.total, r.failed,
      r.detail_json);
  return !res.empty();
}

std::vector<ReceivedReport> list_received(pqxx::transaction_base& tx, const std::string& kind,
                                          const std::string& domain, int limit) {
  std::vector<ReceivedReport> out;
  for (const auto& row : tx.exec_params(
           "SELECT id, kind, extract(epoch FROM received_at)::bigint, policy_domain, org_name, report_id, contact,"
           " extract(epoch FROM begin_at)::bigint, extract(epoch FROM end_at)::bigint, total, failed, detail::text"
           " FROM received_reports WHERE ($1::text = '' OR kind = $1::text) AND ($2::text = '' OR policy_domain = lower($2::text))"
           " ORDER BY begin_at DESC, id DESC LIMIT $3::int",
           kind, domain, limit)) {
    ReceivedReport r;
    r.id = row[0].as<int64_t>();
    r.kind = row[1].as<std::string>();
    r.received_at = row[2].as<int64_t>();
    r.policy_domain = row[3].as<std::string>();
    r.org_name = row[4].as<std::string>();
    r.report_id = row[5].as<std::string>();
    r.contact = row[6].as<std::string>();
    r.begin = row[7].as<int64_t>();
    r.end = row[8].as<int64_t>();
    r.total = row[9].as<int64_t>();
    r.failed = row[10].as<int64_t>();
    r.detail_json = row[11].as<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace postline::queue::reports
