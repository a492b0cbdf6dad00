"""A real Prometheus (Debian's package) scrapes the running platform with the
repository's scrape configuration and alert rules, and reports every target up.

The scrape jobs are those of deploy/prometheus/prometheus.yml (postline-smtpd,
-queued, -imapd, -managesieved, -authd, -webd), with their targets pointed at the platform's free HTTP
ports instead of the compose host names."""
from __future__ import annotations

import imaplib
import json
import os
import shutil
import signal
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from platform_support import ROOT, free_port, wait_until

PROM_DIR = ROOT / "deploy" / "prometheus"


def postline_jobs(platform) -> list[str]:
    """The repository's postline-* scrape jobs; starts webd, which the platform
    starts only for tests that ask, so that every job has its service."""
    if "webd" not in platform.procs:
        platform.start_webd()
    doc = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    jobs = [j["job_name"] for j in doc["scrape_configs"] if j["job_name"].startswith("postline-")]
    assert sorted(jobs) == ["postline-authd", "postline-imapd", "postline-managesieved", "postline-queued",
                            "postline-smtpd", "postline-webd"], jobs
    return jobs


def write_config(directory: Path, targets: dict[str, str]) -> Path:
    """A Prometheus config with the repository's jobs and rules, aimed at `targets`
    ({job: "127.0.0.1:port"}), scraping every second."""
    shutil.copy(PROM_DIR / "alerts.yml", directory / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                           for job, target in targets.items()],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Prometheus:
    """A Prometheus server on a free loopback port, stopped by stop()."""

    def __init__(self, directory: Path, targets: dict[str, str]):
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).exists():
            pytest.fail("prometheus not found: install Debian package prometheus "
                        "(scripts/packages/deploy.txt; scripts/test installs it)")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = write_config(directory, targets)
        self.log = directory / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until(self._ready, timeout=60, interval=0.2, what="Prometheus /-/ready")
        except Exception:
            self.stop()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log.read_text()}")
        with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
            return r.status == 200

    def api(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_all_up(prom: Prometheus, jobs: list[str], timeout: float = 60.0, platform=None):
    """Polls /api/v1/targets until every job's target reports health "up"."""
    last = {}

    def all_up():
        targets = prom.api("/api/v1/targets")["activeTargets"]
        last.clear()
        last.update({t["labels"]["job"]: (t["health"], t.get("lastError", "")) for t in targets})
        return set(last) == set(jobs) and all(h == "up" for h, _ in last.values())

    try:
        wait_until(all_up, timeout=timeout, interval=0.5, what="every Prometheus target up")
    except TimeoutError as e:
        logs = ""
        if platform is not None:
            for job, (health, _) in last.items():
                svc = job.removeprefix("postline-")
                proc = platform.procs.get(svc)
                if health != "up":
                    state = "not running" if proc is None else f"exit code {proc.poll()}"
                    logs += f"\n--- {svc} ({state}) ---\n{platform.log_tail(svc)}"
        raise AssertionError(f"{e}; targets: {last}{logs}") from None
    return last


def documented_metric_names() -> set[str]:
    """The list the dashboard and alerts are checked against (tests/deploy/deploylib.py)."""
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "deploy"))
    from deploylib import known_metrics
    return known_metrics()[0]


def failed_imap_login(port: int):
    """One LOGIN with a wrong password over IMAPS (the test certificate is self-signed)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("nobody@example.test", "wrong password")
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def test_prometheus_scrapes_every_service_up(platform, tmp_path):
    jobs = postline_jobs(platform)
    targets = {job: f"127.0.0.1:{platform.ports[job.removeprefix('postline-') + '_http']}" for job in jobs}
    prom = Prometheus(tmp_path, targets)
    try:
        states = wait_all_up(prom, jobs, platform=platform)
        print(f"Prometheus on {prom.base}: {states}")

        # `up` as the alert rules see it: one series per service, all 1
        result = prom.api("/api/v1/query?query=" + urllib.request.quote('up{job=~"postline-.*"}'))["result"]
        assert {r["metric"]["job"]: r["value"][1] for r in result} == {job: "1" for job in jobs}

        # the repository's alert rules load and evaluate without errors against real series
        def rules_evaluated():
            groups = prom.api("/api/v1/rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) and rules

        rules = wait_until(rules_evaluated, timeout=30, interval=0.5, what="alert rules evaluated")
        bad = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
        assert not bad, f"alert rules failing on real data: {bad}"
        firing = [r["name"] for r in rules if r.get("state") == "firing"]
        assert "PostlineServiceDown" not in firing

        # the label values the alert rules select on are the ones the services use
        def label_values(metric, label):
            series = prom.api("/api/v1/series?match[]=" + urllib.request.quote(metric))
            return {s.get(label) for s in series}

        assert "delivered" in label_values("postline_queued_deliveries_total", "outcome")
        failed_imap_login(platform.ports["imaps"])
        wait_until(lambda: "invalid_credentials" in label_values("postline_authd_logins_total", "outcome"),
                   timeout=30, interval=0.5, what="a failed IMAP login counted as outcome=invalid_credentials")

        # names actually exported, compared with the documented list (informational: a
        # family appears only once something was counted under it)
        names = set(prom.api("/api/v1/label/__name__/values"))
        exported = {n for n in names if n.startswith("postline_")}
        documented = documented_metric_names()
        bases = {n.removesuffix(s) for n in exported for s in ("_bucket", "_sum", "_count")
                 if n.endswith(s) and n.removesuffix(s) in documented}
        print(f"exported postline_* names: {sorted(exported)}\n"
              f"documented but not exported (yet, or nothing counted under a labelled family): "
              f"{sorted(documented - exported - bases)}\n"
              f"exported but undocumented: {sorted(exported - documented - {b + s for b in bases for s in ('_bucket', '_sum', '_count')})}")
    finally:
        prom.stop()
        if os.environ.get("POSTLINE_KEEP_TEST_DIRS"):
            print(f"prometheus log: {prom.log}")


def test_a_stopped_service_shows_down(platform, tmp_path):
    """The same set-up notices a service that goes away (what PostlineServiceDown alerts on)."""
    jobs = postline_jobs(platform)
    targets = {job: f"127.0.0.1:{platform.ports[job.removeprefix('postline-') + '_http']}" for job in jobs}
    prom = Prometheus(tmp_path, targets)
    try:
        wait_all_up(prom, jobs, platform=platform)
        platform.stop("imapd")

        def imapd_down():
            result = prom.api("/api/v1/query?query=" + urllib.request.quote('up{job="postline-imapd"}'))["result"]
            return result and result[0]["value"][1] == "0"

        wait_until(imapd_down, timeout=30, interval=0.5, what="postline-imapd reported down")
    finally:
        prom.stop()
        if "imapd" not in platform.procs:
            platform.start("imapd")
