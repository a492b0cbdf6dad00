"""Shared helpers for the queue's and delivery's e2e tests (test_queue_*.py,
test_sieve_delivery.py, test_accounts_delivery.py, test_skeleton.py): submission on 587 as a
mail client does it, the queue CLI's JSON, a recipient's queue id, queued messages injected
for a local user and their count delivered, an INBOX (or a mailbox's subjects) read over IMAP, a DKIM key for example.test, and an aiosmtpd remote MX
with STARTTLS. Each test module keeps its own accounts and MX handler."""
from __future__ import annotations

import base64
import contextlib
import imaplib
import json
import smtplib
import ssl
import subprocess
from pathlib import Path

from platform_support import free_port, server_tls_context


def submit(platform, sender: str, password: str, rcpts: list[str], data: bytes, *, timeout: float = 30,
           mail_options: list[str] | tuple = (), check_extension: str | None = None) -> None:
    """Port 587, STARTTLS, AUTH, then one message: as a mail client would.
    `check_extension`: an EHLO keyword smtpd must offer after STARTTLS."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_submission"], timeout=timeout) as smtp:
        smtp.ehlo("client.example.test")
        smtp.starttls(context=ctx)
        smtp.ehlo("client.example.test")
        if check_extension:
            assert smtp.has_extn(check_extension), f"smtpd offers {check_extension.upper()} after STARTTLS"
        smtp.login(sender, password)
        smtp.sendmail(sender, rcpts, data, mail_options=list(mail_options))


def queue_json(platform, *args):
    """`postline --json queue ARGS...`, parsed."""
    return json.loads(platform.cli("--json", "queue", *args).stdout)


def queue_id_of(platform, address: str) -> str:
    """The queue id of the one (non-DSN) message with a recipient `address`."""
    rows = platform.psql(
        "SELECT m.queue_id FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id "
        f"WHERE r.address = '{address}' AND NOT m.is_dsn").split()
    assert len(rows) == 1, rows
    return rows[0]


def inject_local(platform, address: str, uid: int, tag: str, n: int, *, numbered_senders: bool = False) -> None:
    """n queued messages for the local user `address` (id `uid`), committed in one statement,
    queue ids `<tag>000001`...; from bob@remote.test, or (`numbered_senders`) from n
    different senders k1@remote.test ... with a plain body."""
    domain = address.rsplit("@", 1)[1]
    if numbered_senders:
        text, mail_from = ("From: k%s@remote.test\\r\\nTo: " + address + "\\r\\nSubject: " + tag + " %s\\r\\n"
                           "Message-ID: <" + tag + "-%s@remote.test>\\r\\n\\r\\nbody\\r\\n"), "'k' || g || '@remote.test'"
    else:
        text, mail_from = ("From: bob@remote.test\\r\\nTo: " + address + "\\r\\nSubject: " + tag + " %s\\r\\n"
                           "Message-ID: <" + tag + "-%s@remote.test>\\r\\n\\r\\nbody %s\\r\\n"), "'bob@remote.test'"
    platform.psql(
        f"WITH src AS (SELECT g, format(E'{text}', g, g, g) AS b"
        f" FROM generate_series(1, {n}) g),"
        " m AS (INSERT INTO queue_messages (queue_id, mail_from, size, body)"
        f" SELECT '{tag}' || lpad(g::text, 6, '0'), {mail_from}, octet_length(b), convert_to(b, 'UTF8')"
        " FROM src RETURNING id)"
        " INSERT INTO queue_recipients (message_id, address, domain, local, user_id)"
        f" SELECT id, '{address}', '{domain}', true, {uid} FROM m")


def delivered(platform, tag: str) -> int:
    """How many recipients of the messages inject_local made with `tag` are delivered."""
    return int(platform.psql(
        "SELECT count(*) FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id"
        f" WHERE m.queue_id LIKE '{tag}%' AND r.state = 'delivered'").strip())


def inbox(platform, user: str, password: str) -> list[bytes]:
    """Every message in the user's INBOX, read-only over IMAP."""
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(user, password)
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", data
        count = int(data[0])
        if count == 0:
            return []
        typ, data = imap.fetch(f"1:{count}", "(BODY.PEEK[])")
        assert typ == "OK", data
        return [part[1] for part in data if isinstance(part, tuple)]
    finally:
        imap.logout()


def subjects(platform, user: str, password: str, mailbox: str = "INBOX") -> list[str]:
    """The Subject of every message in `mailbox` (none when the mailbox does not exist), over IMAP."""
    client = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        client.login(user, password)
        typ, data = client.select(f'"{mailbox}"', readonly=True)
        if typ != "OK" or int(data[0]) == 0:
            return []
        typ, data = client.fetch(f"1:{int(data[0])}", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK", data
        return [part[1].decode().strip().removeprefix("Subject: ") for part in data if isinstance(part, tuple)]
    finally:
        client.logout()


def new_dkim_key(directory: Path) -> tuple[Path, str]:
    """An RSA key for example.test (selector "pl") in `directory`, and its DNS TXT record."""
    key = directory / "example.test.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return key, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@contextlib.contextmanager
def remote_mx(controller_module, handler, directory: Path, hostname: str, **options):
    """aiosmtpd (`controller_module`: aiosmtpd.controller, imported by the test with
    importorskip) running `handler` on a free loopback port with STARTTLS (a
    self-signed certificate for `hostname`); yields the port."""
    ctx = server_tls_context(directory, hostname)
    controller = controller_module.Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=ctx,
                                              **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()
