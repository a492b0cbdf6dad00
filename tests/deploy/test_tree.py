"""The tree itself: no merge left conflict markers behind, and every package list
names only package names (a stray line there makes `apt-get install` fail on a
fresh machine, so scripts/up and CI would stop before building)."""
import re

from deploylib import ROOT, run

# Git's markers at the start of a line, followed by a space and a side name
# (or alone for the separator): not Markdown setext rules, which this tree's
# docs do not use with exactly seven '='.
MARKER = re.compile(rb"^(<<<<<<< \S|>>>>>>> \S|=======$)", re.M)


def tracked_files():
    out = run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    assert out.returncode == 0, out.stderr
    return [ROOT / p for p in out.stdout.split("\0") if p]


def test_no_merge_conflict_markers():
    found = []
    for path in tracked_files():
        if not path.is_file() or path.stat().st_size > 4 << 20:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary (fuzz corpora, images)
            continue
        for m in MARKER.finditer(data):
            line = data.count(b"\n", 0, m.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0).decode(errors='replace')}")
    assert not found, "conflict markers left by a merge:\n" + "\n".join(found)


def test_package_lists_hold_package_names_only():
    # Debian policy 5.6.1: lower case letters, digits, + - . ; two characters at least.
    name = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
    bad = []
    for path in sorted((ROOT / "scripts" / "packages").glob("*.txt")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for word in line.split("#", 1)[0].split():
                if not name.match(word):
                    bad.append(f"{path.relative_to(ROOT)}:{n}: {word!r}")
    assert not bad, "not Debian package names:\n" + "\n".join(bad)
