"""doveadm-class mailbox tools through the real `postline` binary against real
services (issue 17): mail delivered over SMTP, then `quota show` prints usage
next to the limits, `mailbox list`/`status` say what IMAP says for the same
mailboxes, `mailbox fetch` prints exactly the stored bytes, `mailbox search`
finds the UIDs IMAP SEARCH finds, `mailbox expunge` refuses without --force
and with it removes the messages while an IDLE client sees EXPUNGE, and
`mailbox recalc` repairs usage totals that drifted."""
from __future__ import annotations

import base64
import datetime
import imaplib
import json
import re
import smtplib
import subprocess

import pytest

from platform_support import wait_until

DOMAIN = "mbtools.test"
ANNA = f"anna@{DOMAIN}"
PASSWORD = "mailbox tools password"

# What smtpd receives; the store keeps a Received: line above it.
MESSAGES = [
    ("carol@remote.test", b"Subject: Monthly report\r\nFrom: Carol <carol@remote.test>\r\nTo: " + ANNA.encode() +
     b"\r\nMessage-ID: <r1@remote.test>\r\n\r\nThe numbers are in.\r\nRegards\r\n"),
    ("dave@remote.test", b"Subject: Lunch?\r\nFrom: dave@remote.test\r\nTo: " + ANNA.encode() +
     b"\r\nMessage-ID: <r2@remote.test>\r\n\r\nPizza at noon, invoice attached later.\r\n"),
    ("carol@remote.test", b"Subject: Invoice 42\r\nFrom: Carol <carol@remote.test>\r\nTo: " + ANNA.encode() +
     b"\r\nMessage-ID: <r3@remote.test>\r\n\r\n" + b"x" * 3000 + b"\r\nTotal due: 42 EUR\r\n"),
]


@pytest.fixture(scope="module")
def mp(platform):
    platform.add_user(ANNA, PASSWORD)
    platform.cli("quota", "set", ANNA, "--storage", "1M", "--messages", "100")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        for sender, body in MESSAGES:
            smtp.sendmail(sender, [ANNA], body)
    wait_until(lambda: status(platform, "INBOX")["messages"] == len(MESSAGES), timeout=30,
               what="the three messages in INBOX")
    return platform


def cli_json(platform, *args):
    return json.loads(platform.cli("--json", *args).stdout)


def status(platform, box):
    return cli_json(platform, "mailbox", "status", ANNA, box)


def cli_bytes(platform, *args) -> subprocess.CompletedProcess:
    """The CLI's stdout as bytes (fetch prints message bytes, not text)."""
    return subprocess.run([str(platform.bin / "postline"), *args], capture_output=True,
                          env=platform.process_env(), timeout=60, check=True)


def login(platform) -> imaplib.IMAP4:
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(ANNA, PASSWORD)
    return m


def imap_status(m: imaplib.IMAP4, box: str) -> dict:
    typ, data = m.status(f'"{box}"', "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ SIZE)")
    assert typ == "OK", data
    items = re.search(rb"\((.*)\)", data[0]).group(1).split()
    return {items[i].decode().lower(): int(items[i + 1]) for i in range(0, len(items), 2)}


def imap_uids(m: imaplib.IMAP4, *criteria: str) -> list[int]:
    typ, data = m.uid("SEARCH", *criteria)
    assert typ == "OK", data
    return sorted(int(x) for x in data[0].split())


def test_quota_show_prints_usage_next_to_the_limits(mp):
    m = login(mp)
    try:
        m.select("INBOX", readonly=True)
        typ, data = m.fetch("1:*", "(RFC822.SIZE)")
        sizes = [int(re.search(rb"RFC822.SIZE (\d+)", d).group(1)) for d in data]
    finally:
        m.logout()
    shown = cli_json(mp, "quota", "show", ANNA)
    assert shown == {"email": ANNA, "quota_bytes": 1 << 20, "quota_messages": 100, "used_bytes": sum(sizes),
                     "used_messages": 3, "used_bytes_percent": sum(sizes) * 100 // (1 << 20),
                     "used_messages_percent": 3}, shown
    text = mp.cli("quota", "show", ANNA).stdout
    assert re.search(r"anna@mbtools\.test\s+\d+\.\d KiB / 1MiB \(0%\)\s+3 / 100 \(3%\)", text), text
    # Unlimited: no percentage to give, none printed.
    mp.cli("quota", "set", ANNA, "--messages", "unlimited")
    try:
        shown = cli_json(mp, "quota", "show", ANNA)
        assert shown["used_messages"] == 3 and "used_messages_percent" not in shown, shown
        assert "3 / unlimited\n" in mp.cli("quota", "show", ANNA).stdout
    finally:
        mp.cli("quota", "set", ANNA, "--messages", "100")
    missing = mp.cli("quota", "show", f"nobody@{DOMAIN}", check=False)
    assert missing.returncode == 1 and "no such user" in missing.stderr, missing


def test_list_and_status_say_what_imap_says(mp):
    m = login(mp)
    try:
        m.select("INBOX")
        m.uid("STORE", "1", "+FLAGS", r"(\Seen)")  # so UNSEEN and MESSAGES differ
        m.append("Archive", r"(\Seen)", None, b"Subject: kept\r\n\r\narchived\r\n")
        typ, listed = m.list()
        special = {}
        for line in listed:
            name = line.rsplit(b" ", 1)[1].strip(b'"').decode()
            use = re.findall(rb"\\(Sent|Drafts|Trash|Junk|Archive|All|Flagged)\b", line)
            special[name] = "\\" + use[0].decode() if use else ""
        imap = {name: imap_status(m, name) for name in special}
    finally:
        m.logout()
    rows = cli_json(mp, "mailbox", "list", ANNA)
    assert sorted(r["name"] for r in rows) == sorted(special), (rows, special)
    for r in rows:
        want = imap[r["name"]]
        assert (r["messages"], r["unseen"], r["size"], r["uidvalidity"], r["uidnext"]) == (
            want["messages"], want["unseen"], want["size"], want["uidvalidity"], want["uidnext"]), (r, want)
        assert r["special_use"] == special[r["name"]], (r, special)
        assert r["subscribed"] is True
    for box in ("INBOX", "Archive"):
        st = status(mp, box)
        want = imap[box]
        for key in ("messages", "unseen", "uidnext", "uidvalidity", "highestmodseq", "size"):
            assert st[key] == want[key], (box, key, st, want)
    assert status(mp, "INBOX")["unseen"] == 2
    text = mp.cli("mailbox", "list", ANNA).stdout
    assert re.search(r"^INBOX\s+3\s+2\s+\S+ \S*B\s+-\s+yes$", text, re.M), text
    assert re.search(r"^Sent\s+0\s+0\s+0 B\s+\\Sent\s+yes$", text, re.M), text
    assert "HIGHESTMODSEQ" in mp.cli("mailbox", "status", ANNA, "inbox").stdout
    nope = mp.cli("mailbox", "status", ANNA, "Nowhere", check=False)
    assert nope.returncode == 1 and "has no mailbox 'Nowhere'" in nope.stderr, nope


def test_fetch_prints_exactly_the_stored_bytes(mp):
    m = login(mp)
    try:
        m.select("INBOX", readonly=True)
        typ, data = m.uid("FETCH", "3", "(BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] FLAGS INTERNALDATE)")
        parts = {re.search(rb"(BODY\[[A-Z]*\])", d[0]).group(1): d[1] for d in data if isinstance(d, tuple)}
    finally:
        m.logout()
    body = parts[b"BODY[]"]
    assert body.endswith(MESSAGES[2][1]), body[:200]
    assert cli_bytes(mp, "mailbox", "fetch", ANNA, "INBOX", "--uid", "3", "--field", "body").stdout == body
    assert cli_bytes(mp, "mailbox", "fetch", ANNA, "INBOX", "--uid", "3", "--field", "headers").stdout == \
        parts[b"BODY[HEADER]"]
    assert cli_bytes(mp, "mailbox", "fetch", ANNA, "INBOX", "--uid", "3", "--field", "text").stdout == \
        parts[b"BODY[TEXT]"]

    [row] = cli_json(mp, "mailbox", "fetch", ANNA, "INBOX", "--search", "subject 'invoice 42'",
                     "--field", "uid,flags,size,body")
    assert row["uid"] == 3 and row["flags"] == [] and row["size"] == len(body), row
    assert base64.b64decode(row["body_base64"]) == body

    # The flow layout: fields, then a form feed line between messages.
    flow = mp.cli("mailbox", "fetch", ANNA, "INBOX", "--uid", "1:2").stdout
    blocks = flow.split("\f\n")
    assert len(blocks) == 2, flow
    assert blocks[0].startswith("uid: 1\nflags: \\Seen\nsize: ") and re.search(r"date: \d{4}-\d\d-\d\dT", blocks[0])
    assert blocks[1].startswith("uid: 2\nflags: \n"), blocks[1]

    bad = mp.cli("mailbox", "fetch", ANNA, "INBOX", "--uid", "3", "--field", "bodyy", check=False)
    assert bad.returncode == 2 and "unknown field 'bodyy'" in bad.stderr, bad
    bad = mp.cli("mailbox", "fetch", ANNA, "INBOX", check=False)
    assert bad.returncode == 2 and "--uid SET or --search QUERY" in bad.stderr, bad


def test_search_finds_what_imap_search_finds(mp):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    tomorrow = today + datetime.timedelta(days=1)
    imap_day = lambda d: d.strftime("%d-%b-%Y")  # noqa: E731
    cases = [
        (["from", "carol"], ["FROM", "carol"]),
        (["subject", "lunch?"], ["SUBJECT", '"lunch?"']),
        (["text", "invoice"], ["TEXT", "invoice"]),
        (["body", "Total due"], ["BODY", '"Total due"']),
        (["unseen"], ["UNSEEN"]),
        (["seen"], ["SEEN"]),
        (["larger", "2K"], ["LARGER", "2048"]),
        (["smaller", "2K"], ["SMALLER", "2048"]),
        (["since", today.isoformat()], ["SINCE", imap_day(today)]),
        (["before", tomorrow.isoformat()], ["BEFORE", imap_day(tomorrow)]),
        (["before", "2000-01-01"], ["BEFORE", "1-Jan-2000"]),
        (["not", "from", "carol"], ["NOT", "FROM", "carol"]),
        (["or", "subject", "lunch", "larger", "3000"], ["OR", "SUBJECT", "lunch", "LARGER", "3000"]),
        (["from", "carol", "unseen"], ["FROM", "carol", "UNSEEN"]),
        (["uid", "2:*"], ["UID", "2:*"]),
        (["all"], ["ALL"]),
    ]
    m = login(mp)
    try:
        m.select("INBOX", readonly=True)
        for words, imap in cases:
            want = imap_uids(m, *imap)
            got = [int(x) for x in mp.cli("mailbox", "search", ANNA, "INBOX", *words).stdout.split()]
            assert got == want, (words, got, want)
    finally:
        m.logout()
    assert [int(x) for x in mp.cli("mailbox", "search", ANNA, "INBOX", "from", "carol").stdout.split()] == [1, 3]
    # One argument with spaces is split as --search strings are.
    assert mp.cli("mailbox", "search", ANNA, "INBOX", "from carol 'unseen'").stdout == "3\n"
    found = cli_json(mp, "mailbox", "search", ANNA, "INBOX", "subject", "Monthly report")
    assert found["mailbox"] == "INBOX" and found["uids"] == [1] and found["uidvalidity"] > 0, found
    bad = mp.cli("mailbox", "search", ANNA, "INBOX", "frm", "carol", check=False)
    assert bad.returncode == 2 and "unknown word 'frm'" in bad.stderr, bad
    bad = mp.cli("mailbox", "search", ANNA, "INBOX", "since", "yesterday", check=False)
    assert bad.returncode == 2 and "'yesterday' is not a date" in bad.stderr, bad


def test_expunge_asks_for_force_and_an_idle_client_sees_it(mp):
    before = status(mp, "INBOX")
    # Without --force (and not at a terminal): refused, listing what would go.
    dry = mp.cli("mailbox", "expunge", ANNA, "INBOX", "--search", "from dave", check=False)
    assert dry.returncode == 1 and dry.stdout == "", dry
    assert ("refused without --force; this removes 1 message from INBOX of anna@mbtools.test and:\n"
            "  1 uid: 2\n  kept: the mailbox INBOX and its other messages\nnothing removed") in dry.stderr, dry
    assert status(mp, "INBOX")["messages"] == before["messages"]
    dry = mp.cli("--json", "mailbox", "expunge", ANNA, "INBOX", "--uid", "1:3", check=False)
    refusal = json.loads(dry.stderr)
    assert dry.returncode == 1 and refusal["refused"] is True, dry
    assert refusal["would_remove"]["uids"] == ["1", "2", "3"] and refusal["would_remove"]["uid_count"] == 3, refusal
    dry = mp.cli("mailbox", "expunge", ANNA, "INBOX", "--uid", "1:3", "--search", "larger 2K", check=False)
    assert dry.returncode == 1 and "  1 uid: 3\n" in dry.stderr, dry
    assert status(mp, "INBOX")["messages"] == before["messages"]
    neither = mp.cli("mailbox", "expunge", ANNA, "INBOX", "--force", check=False)
    assert neither.returncode == 2 and "--uid SET or --search QUERY" in neither.stderr, neither

    # A listener on the mailstore's change channel, as imapd has: the CLI's
    # store must itself announce its commits before the command returns (imapd
    # also rechecks every 10 s, which alone would let the IDLE check below pass).
    listener = subprocess.Popen(["psql", mp.db_url, "-Atq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    listener.stdin.write("LISTEN postline_mailbox_changes;\nSELECT 'listening';\n")
    listener.stdin.flush()
    assert listener.stdout.readline().strip() == "listening"
    idle = login(mp)
    try:
        idle.select("INBOX")
        idle.sock.settimeout(20)
        idle.send(b"i1 IDLE\r\n")
        assert idle.readline().startswith(b"+"), "no IDLE continuation"
        done = cli_json(mp, "mailbox", "expunge", ANNA, "INBOX", "--search", "from dave", "--force")
        assert done == {"mailbox": "INBOX", "expunged": 1, "uids": [2]}, done
        # psql prints what arrived meanwhile after its next statement.
        out, _ = listener.communicate("SELECT 'done';\n", timeout=30)
        [user] = [u for u in cli_json(mp, "user", "list", DOMAIN) if u["email"] == ANNA]
        modseq = status(mp, "INBOX")["highestmodseq"]
        payloads = re.findall(r'notification "postline_mailbox_changes" with payload "([^"]*)"', out)
        assert any(re.fullmatch(rf"{user['id']}:\d+:{modseq}", p) for p in payloads), (out, modseq)
        seen = []
        while True:  # the socket timeout bounds this: no EXPUNGE within 20 s fails the test
            line = idle.readline()
            seen.append(line)
            if re.match(rb"\* 2 EXPUNGE\r\n", line):
                break
        idle.send(b"DONE\r\n")
        while not idle.readline().startswith(b"i1 "):
            pass
    finally:
        idle.logout()
    after = status(mp, "INBOX")
    assert after["messages"] == before["messages"] - 1 and after["uidnext"] == before["uidnext"], after
    assert mp.cli("mailbox", "search", ANNA, "INBOX", "all").stdout.split() == ["1", "3"]
    assert cli_json(mp, "quota", "show", ANNA)["used_messages"] == before["messages"] - 1 + 1  # + Archive's
    # Nothing matches: nothing to do, still says so.
    out = mp.cli("mailbox", "expunge", ANNA, "INBOX", "--search", "from dave", "--force").stdout
    assert out == "expunged 0 message(s) from INBOX of anna@mbtools.test\n", out
    bad = mp.cli("mailbox", "expunge", ANNA, "INBOX", "--search", "'unterminated", "--force", check=False)
    assert bad.returncode == 2 and "unterminated" in bad.stderr, bad


def test_recalc_repairs_drifted_usage_totals(mp):
    right = cli_json(mp, "quota", "show", ANNA)
    out = cli_json(mp, "mailbox", "recalc", ANNA)
    assert out["mailboxes_fixed"] == 0 and out["bytes"] == right["used_bytes"], out
    # Drift the kept totals as a bug or a bad restore would.
    mp.psql("UPDATE mailstore_mailboxes SET total_bytes = total_bytes + 5000, total_messages = total_messages + 7 "
            "WHERE name = 'INBOX'")
    assert cli_json(mp, "quota", "show", ANNA)["used_messages"] == right["used_messages"] + 7
    text = mp.cli("mailbox", "recalc", ANNA).stdout
    assert f"recounted in 1 mailbox(es): {right['used_messages'] + 7} -> {right['used_messages']} message(s)" in text
    assert cli_json(mp, "quota", "show", ANNA) == right


def test_create_rename_delete(mp):
    assert mp.cli("mailbox", "create", ANNA, "Projects/2026").stdout == \
        "created mailbox Projects/2026 of anna@mbtools.test\n"
    again = mp.cli("mailbox", "create", ANNA, "Projects/2026", check=False)
    assert again.returncode == 1 and "exists already" in again.stderr, again
    assert cli_json(mp, "mailbox", "rename", ANNA, "Projects", "Work") == {
        "email": ANNA, "mailbox": "Projects", "renamed_to": "Work"}
    names = [r["name"] for r in cli_json(mp, "mailbox", "list", ANNA)]
    assert "Work/2026" in names and "Projects" not in names, names
    m = login(mp)
    try:
        m.append("Work/2026", None, None, b"Subject: plan\r\n\r\nplan\r\n")
    finally:
        m.logout()
    refused = mp.cli("mailbox", "delete", ANNA, "Work/2026", check=False)
    assert refused.returncode == 1 and "this removes mailbox Work/2026 of anna@mbtools.test and:\n  1 message uid: 1\n" \
        in refused.stderr, refused
    assert mp.cli("mailbox", "delete", ANNA, "Work/2026", "--force").stdout == (
        "removed mailbox Work/2026 of anna@mbtools.test and:\n  1 message uid: 1\n"
        "  kept: the account's other mailboxes\n")
    # An empty mailbox goes without --force, as an empty domain does.
    assert cli_json(mp, "mailbox", "delete", ANNA, "Work")["deleted"] is True
    inbox = mp.cli("mailbox", "delete", ANNA, "INBOX", "--force", check=False)
    assert inbox.returncode == 1 and "INBOX cannot be deleted" in inbox.stderr, inbox
    unknown = mp.cli("mailbox", "list", f"nobody@{DOMAIN}", check=False)
    assert unknown.returncode == 1 and "mailbox list nobody@mbtools.test: no such user" in unknown.stderr, unknown
