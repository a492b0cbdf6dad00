"""The Grafana dashboard parses, queries only exported metrics, covers what the issue
asks for, and its provisioning matches docker-compose.yml."""
import json
import re

import yaml

from deploylib import (DEPLOY, HISTOGRAM_SUFFIXES, ROOT, exported_metrics, known_metrics, load_module, omitted_metrics,
                       unknown_metrics)

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "postline.json"


def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def exprs(d):
    return [t["expr"] for p in panels(d) for t in p.get("targets", [])]


def test_dashboard_parses_and_has_panels():
    d = dashboard()
    assert d["uid"] and d["title"]
    assert len(exprs(d)) >= 20
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels(d):
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_dashboard_queries_only_exported_metrics():
    known, source = known_metrics()
    print(f"metric names from {source}: {len(known)}")
    bad = {e: unknown_metrics(e, known) for e in exprs(dashboard())}
    bad = {e: names for e, names in bad.items() if names}
    assert not bad, f"dashboard queries names not in {source}:\n" + "\n".join(f"{v}: {k}" for k, v in bad.items())


def test_dashboard_covers_what_operators_watch():
    text = " ".join(exprs(dashboard()))
    for needed in ("postline_smtpd_sessions_total", "postline_smtpd_messages_rejected_total",
                   "postline_queued_queue_depth", "postline_queued_oldest_message_age_seconds",
                   "postline_queued_deliveries_total", "postline_imapd_sessions_active",
                   "postline_imapd_command_duration_seconds_bucket", "postline_authd_logins_total",
                   "grpc_server_duration_seconds_bucket",
                   # issue 17: exported but on no panel before
                   "postline_smtpd_spam_verdicts_total", "postline_smtpd_auth_results_total",
                   "postline_queued_over_quota_total", "postline_queued_smtp_connections_total",
                   "postline_smtpd_build_info", "postline_ready", "process_resident_memory_bytes",
                   "process_cpu_seconds_total", "postline_db_pool_connections",
                   "postline_tls_certificate_not_after_timestamp_seconds"):
        assert needed in text, f"no panel uses {needed}"


def queried_names(d) -> set[str]:
    names = set()
    for e in exprs(d):
        for name in re.findall(r"\b(?:postline|process)_[a-z0-9_]+", e):
            names.add(name)
            names.update(name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s))
    return names


def test_catalogue_lists_every_family_the_code_exports():
    """docs/HELPERS.md is the list dashboards and alerts are checked against: a family the C++
    registers but the catalogue lacks would escape every other check here."""
    known, source = known_metrics()
    exported = exported_metrics()
    assert len(exported) > 60, "the scan of the C++ sources found too few metric families"
    missing = {name: where for name, where in exported.items() if name not in known}
    assert not missing, f"exported but not in {source}: {missing}"


def test_every_exported_family_is_on_a_panel_or_omitted_on_purpose():
    queried = queried_names(dashboard())
    omitted = omitted_metrics()
    exported = exported_metrics()
    for name, why in omitted.items():
        assert name in exported, f"docs/HELPERS.md omits {name}, which nothing exports"
        assert name not in queried, f"{name} is on a panel yet listed as omitted in docs/HELPERS.md"
        assert len(why.split()) >= 4, f"say why {name} is on no panel"
    bare = sorted(name for name in exported if name not in queried and name not in omitted)
    assert not bare, ("exported families on no panel of postline.json and not in docs/HELPERS.md "
                      f"'On no dashboard panel, on purpose': {bare} (their sources: "
                      f"{ {n: exported[n] for n in bare} })")


def test_promql_brackets_balance():
    for e in exprs(dashboard()):
        stack = []
        for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', e):
            if ch in "([{":
                stack.append(ch)
            elif ch in ")]}":
                assert stack and "([{"[")]}".index(ch)] == stack.pop(), e
        assert not stack, e


def test_dashboard_is_what_the_generator_writes():
    gen = load_module(DEPLOY / "grafana" / "gen_dashboard.py", "gen_dashboard")
    assert gen.build() == dashboard(), "postline.json is stale: run deploy/grafana/gen_dashboard.py"


def test_provisioning_matches_compose_mounts():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/postline.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    var = dashboard()["templating"]["list"][0]
    assert var["type"] == "datasource" and var["current"]["value"] == source["uid"]


def test_panels_do_not_overlap_and_fit_the_grid():
    taken = {}
    for p in panels(dashboard()):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in taken, f"{p['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = p["title"]
