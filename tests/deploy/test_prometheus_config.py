"""promtool on the Prometheus files, rule unit tests, and the metric names they use."""
import re

import yaml

from deploylib import DEPLOY, SECTION, SERVICES, known_metrics, require_tool, run, schema_map, unknown_metrics

PROM = DEPLOY / "prometheus"


def test_promtool_check_rules():
    promtool = require_tool("promtool", "prometheus")
    out = run([promtool, "check", "rules", str(PROM / "alerts.yml")])
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_check_config():
    promtool = require_tool("promtool", "prometheus")
    out = run([promtool, "check", "config", str(PROM / "prometheus.yml")])
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_rule_unit_tests():
    promtool = require_tool("promtool", "prometheus")
    out = run([promtool, "test", "rules", str(PROM / "tests" / "alerts_test.yml")])
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr


def alert_rules():
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_the_alerts_the_issue_asks_for_exist():
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    wanted = {
        "PostlineServiceDown": "up",
        "PostlineQueueGrowing": "postline_queued_queue_depth",
        "PostlineQueueOldestMessageOld": "postline_queued_oldest_message_age_seconds",
        "PostlineDeliveryFailureRatioHigh": "postline_queued_deliveries_total",
        "PostlineAuthFailureSpike": "postline_authd_logins_total",
    }
    for alert, metric in wanted.items():
        assert alert in exprs, f"alert {alert} missing"
        assert metric in exprs[alert]
    assert "> 3600" in exprs["PostlineQueueOldestMessageOld"], "oldest message alert is about one hour"


def test_readiness_and_certificate_alerts():
    rules = {r["alert"]: r for r in alert_rules()}
    ready = rules["PostlineNotReady"]
    assert "postline_ready" in ready["expr"] and "== 0" in ready["expr"]
    assert re.search(r"\bup\b.*== 1", ready["expr"]), "not ready *while the process is up*"
    assert ready["for"] == "2m"
    soon, very_soon = rules["PostlineCertificateExpiresSoon"], rules["PostlineCertificateExpiresVerySoon"]
    for rule, days, severity in ((soon, 14, "warning"), (very_soon, 3, "critical")):
        assert "postline_tls_certificate_not_after_timestamp_seconds" in rule["expr"]
        assert f"< {days} * 86400" in rule["expr"], rule["expr"]
        assert rule["labels"]["severity"] == severity


def test_every_alert_has_severity_summary_and_a_runbook_section():
    ops = (DEPLOY.parent / "docs" / "operations.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^#+\s+(.*)$", ops, re.M)}
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"].get("summary"), rule["alert"]
        runbook = rule["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#"), runbook
        assert runbook.split("#", 1)[1] in anchors, f"{rule['alert']}: no heading for {runbook} in operations.md"


def test_every_alert_has_a_unit_test():
    tests = yaml.safe_load((PROM / "tests" / "alerts_test.yml").read_text())
    tested = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", []) if a.get("exp_alerts")}
    missing = {r["alert"] for r in alert_rules()} - tested
    assert not missing, f"alerts never seen firing in alerts_test.yml: {sorted(missing)}"


def test_rules_use_only_exported_metric_names():
    known, source = known_metrics()
    print(f"metric names from {source}: {len(known)}")
    bad = {r["alert"]: unknown_metrics(r["expr"], known) for r in alert_rules()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"alert expressions use names not in {source}: {bad}"


def test_scrape_config_has_one_job_per_service():
    doc = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    defaults = schema_map()
    default_http = {svc: defaults[(SECTION[svc], "http_port")][1] for svc in SERVICES}
    for svc in SERVICES:
        job = jobs.get(f"postline-{svc}")
        assert job, f"no scrape job postline-{svc}"
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        assert targets == [f"{svc}:{default_http[svc]}"], targets
    assert doc["rule_files"] == ["alerts.yml"]


def test_prometheusrule_matches_alerts_file():
    rule = yaml.safe_load((DEPLOY / "k8s" / "base" / "prometheusrule.yaml").read_text())
    alerts = yaml.safe_load((PROM / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"], \
        "deploy/k8s/base/prometheusrule.yaml is stale: run deploy/tools/gen_prometheusrule.py"
