#!/usr/bin/python3
"""Writes deploy/postline.example.yaml from common/config/schema.cpp.

Usage: deploy/tools/gen_example_config.py [--check] [--schema FILE]   (run from anywhere)

The schema table is the single source of truth for configuration keys; this
script turns it into the documented example (every key, its default as the
value, its type, help text and environment variable as comments).
tests/deploy/test_example_config.py checks that the two agree, so after adding
a key to schema.cpp, run this script and commit the regenerated example.
--check exits 1 (printing a diff) if the committed example is out of date.
--schema reads another copy of schema.cpp (e.g. `git show HEAD:common/config/schema.cpp`).
"""
import difflib
import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "common" / "config" / "schema.cpp"
EXAMPLE = ROOT / "deploy" / "postline.example.yaml"

# {"section", "key", T::kType, "default", "help"} -- entries may span lines.
_STR = r'"((?:[^"\\]|\\.)*)"'
ENTRY = re.compile(r"\{\s*" + _STR + r",\s*" + _STR + r",\s*T::k(\w+),\s*" + _STR + r",\s*" + _STR + r"\s*\}",
                   re.S)

SECTION_NOTES = {
    "db": "PostgreSQL, shared by every service (each service owns its tables).",
    "mailstore": "Where message bodies live: PostgreSQL (default) or an S3-compatible bucket (docs/operations.md, S3 blob storage).",
    "tls": "Certificate for SMTP STARTTLS/465 and IMAP STARTTLS/993. Reloaded on SIGHUP and when the files change.",
    "log": "Logging of every service.",
    "dns": "Resolver for postline-queued (MX, MTA-STS; DANE with a trust anchor) and postline-smtpd (SPF/DKIM/DMARC/DNSBL).",
    "auth": "postline-authd, and how the other services reach it.",
    "smtp": "postline-smtpd: MX, submission and submissions listeners.",
    "spam": "postline-smtpd's inbound checks on the MX listener (docs/antispam.md).",
    "queue": "postline-queued: the durable queue and outbound delivery.",
    "sieve": "Sieve scripts at local delivery in postline-queued (docs/sieve.md).",
    "imap": "postline-imapd: IMAP and IMAPS listeners.",
    "managesieve": "postline-managesieved: ManageSieve (RFC 5804) for uploading Sieve scripts (docs/managesieve.md).",
    "web": "postline-webd: HTTPS for client set-up (autoconfig, autodiscover, mobileconfig), MTA-STS (docs/web.md).",
    "acme": "postline-webd's ACME client (RFC 8555, http-01): obtains and renews tls.cert_file (docs/web.md).",
    "reports": "DMARC aggregate (RFC 7489) and SMTP TLS (RFC 8460) reports, sent and received (docs/antispam.md).",
}


def _unescape(s):
    return s.encode().decode("unicode_escape")


def parse_schema(path=SCHEMA):
    """[(section, key, type, default, help)] in schema order."""
    text = pathlib.Path(path).read_text()
    body = text[text.index("keys = {"):]
    entries = [tuple(_unescape(g) if i != 2 else g for i, g in enumerate(m.groups()))
               for m in ENTRY.finditer(body)]
    if not entries:
        raise SystemExit(f"no schema entries found in {path}")
    return entries


def yaml_value(vtype, default):
    if vtype == "StringList":
        items = [i.strip() for i in default.split(",") if i.strip()]
        return "[" + ", ".join(items) + "]"
    if vtype == "String":
        return '"' + default.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return default  # Int, Port, Bool, Duration, Size: plain scalars


TYPE_WORDS = {
    "String": "string", "Int": "integer", "Port": "port 0-65535", "Bool": "true|false",
    "Duration": "duration (30s, 5m, 4h, 5d)", "Size": "size (512KiB, 50MiB, 2GiB)",
    "StringList": "list (YAML list or comma-separated string)",
}


def render(entries):
    out = [
        "# Postline configuration: every key, with its default as the value.",
        "#",
        "# Generated from common/config/schema.cpp by deploy/tools/gen_example_config.py;",
        "# tests/deploy checks that the two agree. Copy this file, delete what you do not",
        "# change, and start any service with `--config FILE`.",
        "#",
        "# Every key can also be set from the environment as POSTLINE_<SECTION>_<KEY>",
        "# (e.g. POSTLINE_DB_URL, POSTLINE_SMTP_MX_PORT); the environment wins over the file.",
        "# Unknown sections or keys and malformed values stop the service with a message",
        "# naming the key. In containers set every listen_address to 0.0.0.0.",
    ]
    section = None
    for sec, key, vtype, default, help_text in entries:
        if sec != section:
            section = sec
            out.append("")
            note = SECTION_NOTES.get(sec)
            if note:
                out.append("# " + note)
            out.append(f"{sec}:")
        else:
            out.append("")
        for line in textwrap.wrap(help_text, 100):
            out.append(f"  # {line}")
        shown = default if default != "" else "(empty)"
        out.append(f"  # default: {shown}")
        out.append(f"  # type: {TYPE_WORDS[vtype]}; env: POSTLINE_{sec.upper()}_{key.upper()}")
        out.append(f"  {key}: {yaml_value(vtype, default)}")
    return "\n".join(out) + "\n"


def main():
    args = sys.argv[1:]
    source = SCHEMA
    if "--schema" in args:
        source = pathlib.Path(args[args.index("--schema") + 1])
    entries = parse_schema(source)
    text = render(entries)
    if "--check" in args:
        current = EXAMPLE.read_text() if EXAMPLE.exists() else ""
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), str(EXAMPLE), "regenerated"))
            return 1
        return 0
    EXAMPLE.write_text(text)
    print(f"wrote {EXAMPLE} ({len(entries)} keys from {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
