"""Differential tier: Postline's Sieve interpreter against Pigeonhole's sieve-test.

Every script in scripts/ runs against every message in messages/ (or the ones its
`# messages:` line names) in both implementations, with the same envelope; the actions
are normalised to one line each (README.md here) and compared. What still differs must
be listed in known_differences.txt with the row of docs/sieve.md "Differences from
Pigeonhole" that justifies it; a new difference, or a listed one that went away, fails.

sieve-test comes from Debian's dovecot-sieve (scripts/packages/test.txt). Without it, or
without root (sieve-test drops to the mail user), every case skips and says why.
"""
from __future__ import annotations

import email.header
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
MESSAGES = HERE / "messages"
INCLUDES = HERE / "include"
KNOWN = HERE / "known_differences.txt"
RECIPIENT = "bob@example.net"
# A fixed "now" would be better, but sieve-test has no option for it: no case depends on
# the current date (currentdate is covered by the unit tests).

DOVECOT_CONF = """\
mail_location = maildir:{root}/mail
mail_uid = nobody
mail_gid = nogroup
base_dir = {root}/run
log_path = /dev/stderr
plugin {{
  sieve = file:{root}/sieve
  sieve_global = {root}/sieve/global
  sieve_extensions = +editheader +spamtest +spamtestplus +vacation-seconds
  sieve_spamtest_status_type = score
  sieve_spamtest_status_header = X-Spam-Score
  sieve_spamtest_max_value = 10
  sieve_vacation_min_period = 0
  sieve_vacation_use_original_recipient = yes
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"""


def _skip_reason() -> str | None:
    if not shutil.which("sieve-test"):
        return "sieve-test is not installed (apt-get install dovecot-sieve; scripts/packages/test.txt)"
    if os.geteuid() != 0:
        return "sieve-test needs root to drop to the mail user (run as root)"
    if not os.environ.get("POSTLINE_SIEVE_EVAL"):
        return "POSTLINE_SIEVE_EVAL is not set (run through ctest: ctest -R differential_sieve)"
    return None


def _cases() -> list[tuple[str, str]]:
    cases = []
    all_messages = sorted(p.name for p in MESSAGES.glob("*.eml"))
    for script in sorted(SCRIPTS.glob("*.sieve")):
        wanted = all_messages
        m = re.search(r"^# messages: (.+)$", script.read_text(), re.M)
        if m:
            wanted = m.group(1).split()
        for msg in wanted:
            cases.append((script.name, msg))
    return cases


def _envelope_from(raw: bytes) -> str:
    m = re.search(rb"^From:.*?<?([^<>\s\"]+@[^<>\s\"]+)>?\s*$", raw, re.M | re.I)
    return m.group(1).decode() if m else ""


def _spam_score(raw: bytes) -> str | None:
    m = re.search(rb"^X-Spam-Score: *([0-9.]+)", raw, re.M | re.I)
    return m.group(1).decode() if m else None


@pytest.fixture(scope="module")
def workdir():
    root = Path(tempfile.mkdtemp(prefix="postline-sieve-diff."))
    for sub in ("mail", "run", "sieve/global", "scripts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for p in INCLUDES.glob("*.sieve"):
        shutil.copy(p, root / "sieve" / p.name)
    (root / "dovecot.conf").write_text(DOVECOT_CONF.format(root=root))
    # sieve-test runs as nobody: it writes compiled scripts next to them and the Maildir.
    for dirpath, dirs, files in os.walk(root):
        os.chmod(dirpath, 0o777)
        for f in files:
            os.chmod(Path(dirpath) / f, 0o644)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _stage(root: Path, source: Path) -> Path:
    """A copy sieve-test (running as nobody) can compile next to."""
    copy = root / "scripts" / source.name
    shutil.copy(source, copy)
    os.chmod(copy, 0o644)
    return copy


def pigeonhole(root: Path, script: str, message: str, before: list[Path] = (), directory: Path = SCRIPTS) -> list[str]:
    """sieve-test's result in the normalised form."""
    copy = _stage(root, directory / script)
    # sieve-test 0.5.19 fails to open a -s script given by absolute path ("failed to open
    # script: internal error"); a name relative to its working directory works.
    before_args = []
    for b in before:
        before_args += ["-s", _stage(root, b).name]
    raw = (MESSAGES / message).read_bytes()
    sender = _envelope_from(raw)
    proc = subprocess.run(
        ["sieve-test", "-c", str(root / "dovecot.conf"), "-C", "-f", sender or "<>", "-r", RECIPIENT,
         "-a", RECIPIENT, *before_args, str(copy), str(MESSAGES / message)],
        capture_output=True, text=True, timeout=60, cwd=root / "scripts")
    out = proc.stdout + proc.stderr
    if "failed to compile sieve script" in out:
        m = re.search(r": line (\d+): error:", out)
        return [f"compile-error line {m.group(1) if m else '?'}"]
    lines = _normalise_pigeonhole(out)
    if any(x.startswith("vacation ") for x in lines):
        lines = _vacation_decision(root, lines, sender, copy, message)
    return lines


def _vacation_decision(root: Path, lines: list[str], sender: str, copy: Path, message: str) -> list[str]:
    """sieve-test shows a vacation action whether or not it would reply: Pigeonhole applies
    the RFC 3834 rules (lists, bulk, auto-submitted, own address) when it executes the
    action. So run again with -e (execute), which writes the reply to stdout instead of
    sending it, and take the decision and the composed Subject from there. The folders
    the script files into must exist for the execution to succeed."""
    for line in lines:
        if line.startswith("store "):
            box = line.split()[1]
            if box != "INBOX":
                d = root / "mail" / ("." + box.replace("/", "."))
                for sub in ("cur", "new", "tmp"):
                    (d / sub).mkdir(parents=True, exist_ok=True)
                    os.chmod(d / sub, 0o777)
                os.chmod(d, 0o777)
    proc = subprocess.run(
        ["sieve-test", "-c", str(root / "dovecot.conf"), "-C", "-e", "-f", sender or "<>", "-r", RECIPIENT,
         "-a", RECIPIENT, str(copy), str(MESSAGES / message)],
        capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    out_lines = []
    m = re.search(r"^Subject: (.*)$", out, re.M)
    for line in lines:
        if not line.startswith("vacation "):
            out_lines.append(line)
            continue
        if "sent vacation response" not in out:
            continue  # Pigeonhole decided not to reply (the log line says why)
        if m:
            subject = str(email.header.make_header(email.header.decode_header(m.group(1))))
            line = re.sub(r"subject=.*$", "subject=" + subject, line)
        out_lines.append(line)
    return out_lines


def _normalise_pigeonhole(out: str) -> list[str]:
    lines: list[str] = []
    errored = "final result: failed" in out
    kept_after_error = "resolved with successful implicit keep" in out
    section = None
    vac: dict[str, str] | None = None
    current: list | None = None

    def flush():
        nonlocal current, vac
        if current is not None:
            kind, box, flags, create = current
            text = f"store {box}"
            if flags:
                text += " flags " + " ".join(sorted(f.lower() for f in flags))
            if create:
                text += " create"
            lines.append(text)
        if vac is not None:
            lines.append(f"vacation seconds={vac.get('seconds', '?')} subject={vac.get('subject', '')}")
        current = None
        vac = None

    tracked: list[str] = []
    in_message = False
    # With before scripts (-s), sieve-test prints "Performed actions:" / "Implicit keep:"
    # once per script; an earlier script's implicit keep is deferred to the next script,
    # so only the last section's implicit keep is the result's.
    last_implicit = out.rfind("Implicit keep:")
    offset = 0
    for line in out.splitlines(keepends=True):
        at = offset
        offset += len(line)
        line = line.rstrip("\n")
        if line.startswith("Implicit keep:") and at != last_implicit:
            flush()
            section = "deferred"
            continue
        if section == "deferred" and not line.startswith("Performed actions:"):
            continue
        if line.startswith("START MESSAGE"):
            in_message = True
            continue
        if line.startswith("END MESSAGE"):
            in_message = False
            continue
        if in_message:
            continue
        if line.startswith("Performed actions:"):
            section = "actions"
            continue
        if line.startswith("Implicit keep:"):
            flush()
            section = "implicit"
            continue
        if section is None:
            continue
        # Only leading indentation goes: a folder name may end in a space.
        s = line.lstrip().rstrip("\r")
        if s.startswith("* "):
            flush()
            body = s[2:]
            if body.startswith("store message in folder: "):
                current = ["store", body[len("store message in folder: "):], [], False]
            elif body.startswith("redirect message to: "):
                lines.append("redirect " + body[len("redirect message to: "):].strip("<>"))
            elif body == "discard":
                lines.append("discard")
            elif body.startswith("reject message with reason: "):
                lines.append("reject " + body[len("reject message with reason: "):])
            elif body.startswith("send vacation message"):
                vac = {}
            elif body.startswith("track duplicate"):
                tracked.append(body)
            elif body == "keep":
                current = ["store", "INBOX", [], False]
            else:
                lines.append("unknown " + body)
        elif s.startswith("+ add IMAP flags: ") and current is not None:
            current[2] = s[len("+ add IMAP flags: "):].split()
        elif s.startswith("+ create mailbox") and current is not None:
            current[3] = True
        elif s.startswith("=> ") and vac is not None:
            k, _, v = s[3:].partition(":")
            vac[k.strip()] = v.strip()
        elif s.startswith("sieve-test: Info: final result"):
            flush()
    flush()
    # Pigeonhole lists duplicate tracking among the actions; Postline returns it apart
    # (RunResult::duplicate_marks): compare them after the actions, in order.
    lines += tracked
    if errored:
        lines = ["error"] + (["store INBOX"] if kept_after_error else [])
    return lines


def postline(script: str, message: str, before: list[Path] = (), directory: Path = SCRIPTS) -> list[str]:
    raw = (MESSAGES / message).read_bytes()
    args = [os.environ["POSTLINE_SIEVE_EVAL"], "--from", _envelope_from(raw), "--to", RECIPIENT,
            "--include-dir", str(INCLUDES)]
    for b in before:
        args += ["--before", str(b)]
    score = _spam_score(raw)
    if score is not None:
        args += ["--spam-score", score, "--spam-max", "10"]
    args += [str(directory / script), str(MESSAGES / message)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    out = proc.stdout.splitlines()
    if proc.returncode == 1:
        m = re.match(r"error line (\d+):", out[0])
        return [f"compile-error line {m.group(1) if m else '?'}"]
    if out and out[0].startswith("error "):
        return ["error"] + out[1:]
    return out


def _known() -> dict[str, str]:
    known = {}
    if KNOWN.exists():
        for line in KNOWN.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            case, _, why = line.partition(" ")
            known[case] = why.strip()
    return known


CASES = _cases()


@pytest.mark.parametrize("script,message", CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_same_actions(workdir, script, message):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    theirs = pigeonhole(workdir, script, message)
    ours = postline(script, message)
    case = f"{script}:{message}"
    known = _known()
    if case in known:
        assert ours != theirs, f"{case} is listed in known_differences.txt but both now say {ours}"
        return
    assert ours == theirs, f"{case}\n  postline:   {ours}\n  pigeonhole: {theirs}"


MULTISCRIPT = HERE / "multiscript"


def _multiscript_cases() -> list[tuple[str, str, str]]:
    cases = []
    for line in (MULTISCRIPT / "cases.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        before, main = line.split()
        for msg in sorted(p.name for p in MESSAGES.glob("*.eml")):
            cases.append((before, main, msg))
    return cases


MULTI_CASES = _multiscript_cases()


@pytest.mark.parametrize("before,main,message", MULTI_CASES, ids=[f"{b}+{m}-{g}" for b, m, g in MULTI_CASES])
def test_same_actions_with_before_scripts(workdir, before, main, message):
    """run() over a sequence (an administrator's before scripts, then the user's) against
    sieve-test -s: which scripts run, what carries over (flags, actions; not variables)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    before_paths = [MULTISCRIPT / f"{b}.sieve" for b in before.split(",")]
    theirs = pigeonhole(workdir, f"{main}.sieve", message, before_paths, MULTISCRIPT)
    ours = postline(f"{main}.sieve", message, before_paths, MULTISCRIPT)
    case = f"{before}+{main}:{message}"
    if case in _known():
        assert ours != theirs, f"{case} is listed in known_differences.txt but both now say {ours}"
        return
    assert ours == theirs, f"{case}\n  postline:   {ours}\n  pigeonhole: {theirs}"


def test_corpus_is_large_enough():
    assert len(CASES) >= 40, len(CASES)
