"""smtpd with Rspamd (Debian's rspamd package, started here on loopback with a
private config dir) and rate limits (issue 9). Skipped when rspamd is not
installed. Rspamd's own network lookups point at a closed port: no Internet."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import urllib.request
import uuid

import pytest

from antispam_support import LocalDns
from platform_support import free_port, new_workdir, wait_until
from smtp_support import ALICE, PASSWORD, stored_bodies, wait_delivered

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@pytest.fixture(scope="module")
def dns():
    d = LocalDns()
    d.add_txt("good.test", "v=spf1 ip4:127.0.0.1 -all")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def rspamd():
    if not shutil.which("rspamd"):
        pytest.skip("rspamd is not installed (scripts/packages/antispam.txt)")
    work = new_workdir("postline-rspamd-")
    local = work / "local"
    (local / "override.d").mkdir(parents=True)
    (local / "local.d").mkdir()
    for d in ("db", "run", "log"):
        (work / d).mkdir()
    port = free_port()
    for worker, p in (("normal", port), ("controller", free_port()), ("proxy", free_port())):
        (local / "override.d" / f"worker-{worker}.inc").write_text(f'bind_socket = "127.0.0.1:{p}";\ncount = 1;\n')
    (local / "override.d" / "logging.inc").write_text('type = "console";\nlevel = "error";\n')
    (local / "override.d" / "fuzzy_check.conf").write_text("enabled = false;\n")
    closed = free_port()
    (local / "local.d" / "options.inc").write_text(
        f'dns {{\n  nameserver = ["127.0.0.1:{closed}"];\n  timeout = 0.5s;\n  retransmits = 1;\n}}\n')
    args = ["rspamd", "-f", f"--var=LOCAL_CONFDIR={local}", f"--var=DBDIR={work / 'db'}",
            f"--var=RUNDIR={work / 'run'}", f"--var=LOGDIR={work / 'log'}"]
    if os.geteuid() == 0:
        user = pwd.getpwnam("_rspamd")
        for root, dirs, files in os.walk(work):
            for n in dirs + files + ["."]:
                os.chown(os.path.join(root, n), user.pw_uid, user.pw_gid)
        args += ["-u", "_rspamd", "-g", "_rspamd"]
    log = open(work / "rspamd.out", "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_until(up, timeout=120, interval=0.5, what="rspamd to answer /ping")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def start(factory, dns, extra):
    env = {"POSTLINE_DNS_SERVERS": dns.address, "POSTLINE_SMTP_HOSTNAME": "mx.example.test"}
    env.update(extra)
    p = factory(env, start=False)
    p.migrate()
    for service in ("authd", "queued", "smtpd"):
        p.start(service)
    p.add_user(ALICE, PASSWORD)
    return p


def message(marker: str, body: str = "") -> bytes:
    return (f"From: news@good.test\r\nTo: {ALICE}\r\nSubject: {marker}\r\nMessage-ID: <{marker}@good.test>\r\n"
            f"Date: Wed, 25 Nov 2026 20:00:00 +0000\r\n\r\nHello {marker}\r\n{body}\r\n").encode()


def test_rspamd_reject_is_550_and_its_score_is_recorded(fresh_platform_factory, dns, rspamd):
    p = start(fresh_platform_factory, dns, {"POSTLINE_SPAM_RSPAMD_URL": rspamd})
    m = "gtube" + uuid.uuid4().hex[:8]
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.good.test")
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("news@good.test", [ALICE], message(m, GTUBE))
    assert err.value.smtp_code == 550 and err.value.smtp_error.startswith(b"5.7.1"), err.value
    assert not stored_bodies(p, m)
    assert p.metric_value("smtpd", "postline_smtpd_rspamd_checks_total", {"action": "reject"}) == 1
    assert p.metric_value("smtpd", "postline_smtpd_messages_rejected_total", {"reason": "rspamd_reject"}) == 1
    p.stop_all()


def test_rspamd_down_accepts_and_counts(fresh_platform_factory, dns):
    p = start(fresh_platform_factory, dns, {"POSTLINE_SPAM_RSPAMD_URL": f"http://127.0.0.1:{free_port()}"})
    m = "down" + uuid.uuid4().hex[:8]
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.good.test")
        s.sendmail("news@good.test", [ALICE], message(m))
    wait_delivered(p, m)
    assert p.metric_value("smtpd", "postline_smtpd_rspamd_errors_total") == 1
    p.stop_all()


def test_rspamd_down_fail_closed_is_451(fresh_platform_factory, dns):
    p = start(fresh_platform_factory, dns, {"POSTLINE_SPAM_RSPAMD_URL": f"http://127.0.0.1:{free_port()}",
                                            "POSTLINE_SPAM_RSPAMD_FAIL_OPEN": "false"})
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.good.test")
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("news@good.test", [ALICE], message("closed"))
    assert err.value.smtp_code == 451 and err.value.smtp_error.startswith(b"4.7.1"), err.value
    p.stop_all()


def test_rate_limit_per_client_ip(fresh_platform_factory, dns):
    p = start(fresh_platform_factory, dns, {"POSTLINE_SPAM_RATE_IP_MESSAGES": "2"})
    results = []
    for port in (p.ports["smtp_mx"], p.ports["smtp_mx"], p.ports["smtp_mx"]):
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            s.ehlo("mail.good.test")
            try:
                s.sendmail("news@good.test", [ALICE], message("rate" + uuid.uuid4().hex[:8]))
                results.append(250)
            except smtplib.SMTPDataError as e:
                results.append(e.smtp_code)
    assert results == [250, 250, 451], results
    assert p.metric_value("smtpd", "postline_smtpd_rate_limited_total", {"kind": "ip"}) == 1
    # the counter lives in PostgreSQL, where every smtpd replica increments it
    assert p.psql("SELECT messages FROM smtp_rate_counters WHERE key = 'ip:127.0.0.1'").strip() == "3"
    p.stop_all()
