"""deploy/docker: the Dockerfile's structure (no docker engine here to build it), and
the image's scripts run for real: entrypoint, healthcheck, runtime-deps.sh."""
import http.server
import os
import re
import shutil
import socket
import subprocess
import threading

import pytest

from deploylib import DEPLOY, ROOT, require_tool, run

DOCKER = DEPLOY / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
BINARIES = ("postline", "postline-smtpd", "postline-queued", "postline-imapd", "postline-authd", "postline-webd")


def instructions():
    """[(INSTRUCTION, arguments)] with line continuations joined and comments dropped."""
    out, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            current = ""
    return out


def stages():
    result, current = [], None
    for ins, args in instructions():
        if ins == "FROM":
            current = {"from": args, "ins": []}
            result.append(current)
        elif current is not None:
            current["ins"].append((ins, args))
    return result


def test_multi_stage_on_debian_12():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG DEBIAN_IMAGE=debian:12$", text, re.M)
    s = stages()
    assert [st["from"] for st in s] == ["${DEBIAN_IMAGE} AS build", "${DEBIAN_IMAGE} AS runtime"]


def test_build_stage_uses_the_project_scripts():
    build = stages()[0]["ins"]
    runs = " ".join(a for i, a in build if i == "RUN")
    assert "source scripts/lib.sh && postline_install_packages" in runs
    assert re.search(r"(^|\s)scripts/build(\s|$)", runs), "the build stage must call scripts/build"
    for b in BINARIES:
        assert b in runs, f"{b} is not collected from build/bin"
    lib = (ROOT / "scripts" / "lib.sh").read_text()
    assert "postline_install_packages()" in lib and "postline_build()" in lib
    assert (ROOT / "scripts" / "build").exists()


def test_runtime_stage_is_non_root_with_healthcheck_and_entrypoint():
    runtime = stages()[1]["ins"]
    users = [a for i, a in runtime if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    (hc,) = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert "/usr/local/bin/postline-healthcheck" in hc
    (ep,) = [a for i, a in runtime if i == "ENTRYPOINT"]
    assert "/usr/local/bin/postline-entrypoint" in ep
    exposed = {int(p) for i, a in runtime if i == "EXPOSE" for p in a.split()}
    assert {2525, 5587, 4465, 1143, 1993, 50051, 50052, 9101, 9102, 9103, 9104} <= exposed


def test_copied_sources_exist():
    for stage in stages():
        for ins, args in stage["ins"]:
            if ins == "COPY" and "--from=" not in args:
                for src in args.split()[:-1]:
                    if not src.startswith("--"):
                        assert (ROOT / src).exists(), f"COPY source {src} does not exist"
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert "build" in ignore and "build-*" in ignore and "var" in ignore


def test_shell_scripts_pass_shellcheck():
    shellcheck = require_tool("shellcheck", "shellcheck")
    scripts = sorted(str(p) for p in DOCKER.glob("*.sh"))
    out = run([shellcheck, "-s", "sh", *scripts])
    assert out.returncode == 0, out.stdout + out.stderr


def entrypoint(*args, env=None):
    return run(["sh", str(DOCKER / "entrypoint.sh"), *args], env={"PATH": os.environ["PATH"], **(env or {})})


def test_entrypoint_usage_and_unknown_command():
    assert entrypoint("help").returncode == 0
    bad = entrypoint("bogus")
    assert bad.returncode == 64 and "unknown command 'bogus'" in bad.stderr


def test_entrypoint_selects_the_service_and_adds_config(tmp_path):
    """Run the entrypoint against stub binaries that print their arguments."""
    text = (DOCKER / "entrypoint.sh").read_text()
    text = text.replace("/usr/local/bin/", f"{tmp_path}/bin/").replace("/etc/postline/postline.yaml",
                                                                       f"{tmp_path}/postline.yaml")
    script = tmp_path / "entrypoint.sh"
    script.write_text(text)
    (tmp_path / "bin").mkdir()
    for b in BINARIES:
        stub = tmp_path / "bin" / b
        stub.write_text(f'#!/bin/sh\necho "{b} $*"\n')
        stub.chmod(0o755)

    def ep(*args):
        return run(["sh", str(script), *args]).stdout.strip()

    assert ep("smtpd") == "postline-smtpd"  # no config file yet: none passed
    (tmp_path / "postline.yaml").write_text("log:\n  level: info\n")
    assert ep("smtpd") == f"postline-smtpd --config {tmp_path}/postline.yaml"
    assert ep("imapd", "--config", "/x.yaml") == "postline-imapd --config /x.yaml"
    assert ep("queued", "--config=/y.yaml") == "postline-queued --config=/y.yaml"
    assert ep("migrate") == "postline migrate"
    assert ep("postline", "queue", "list") == "postline queue list"


def test_entrypoint_make_cert(tmp_path):
    if not shutil.which("openssl"):
        reason = "openssl missing (scripts/packages/test.txt installs it)"
        print(reason)
        pytest.skip(reason)
    out = entrypoint("make-cert", "mail.example.org", env={"POSTLINE_TLS_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tls.key").stat().st_mode & 0o077 == 0, "private key must not be group/world readable"
    subject = run(["openssl", "x509", "-in", str(tmp_path / "tls.crt"), "-noout", "-subject"]).stdout
    assert "mail.example.org" in subject
    before = (tmp_path / "tls.crt").read_bytes()
    again = entrypoint("make-cert", env={"POSTLINE_TLS_DIR": str(tmp_path)})
    assert again.returncode == 0 and "leaving them alone" in again.stdout
    assert (tmp_path / "tls.crt").read_bytes() == before


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_healthcheck_probes_readyz_of_the_running_service(tmp_path):
    if not shutil.which("curl"):
        reason = "curl missing (scripts/packages/test.txt installs it)"
        print(reason)
        pytest.skip(reason)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake = tmp_path / "postline-queued"  # a process whose argv[0] names the service
    shutil.copy("/bin/sleep", fake)
    proc = subprocess.Popen([str(fake), "60"])
    try:
        env = {"PATH": os.environ["PATH"], "POSTLINE_HEALTHCHECK_PID": str(proc.pid),
               "POSTLINE_QUEUE_HTTP_PORT": str(port)}
        hc = ["sh", str(DOCKER / "healthcheck.sh")]
        assert run(hc, env=env).returncode == 0
        _Handler.status = 503
        assert run(hc, env=env).returncode != 0, "a 503 from /readyz must make the container unhealthy"
        with socket.socket() as s:  # a closed port: unhealthy too
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        assert run(hc, env={**env, "POSTLINE_QUEUE_HTTP_PORT": str(closed)}).returncode != 0
        # not a service (migrate, make-cert): healthy
        assert run(hc, env={**env, "POSTLINE_HEALTHCHECK_PID": str(os.getpid())}).returncode == 0
    finally:
        _Handler.status = 200
        proc.kill()
        proc.wait()
        server.shutdown()


def test_runtime_deps_maps_libraries_to_debian_packages():
    out = run(["sh", str(DOCKER / "runtime-deps.sh"), "/bin/ls"])
    assert out.returncode == 0, out.stderr
    packages = out.stdout.split()
    assert "libc6" in packages, packages
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p) for p in packages), packages


def test_entrypoint_init_writes_cert_and_admin_token_once(tmp_path):
    if not shutil.which("openssl"):
        reason = "openssl missing (scripts/packages/test.txt installs it)"
        print(reason)
        pytest.skip(reason)
    token = tmp_path / "admin-token"
    env = {"POSTLINE_TLS_DIR": str(tmp_path), "POSTLINE_AUTH_ADMIN_TOKEN_FILE": str(token)}
    out = entrypoint("init", "mx.example.org", env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tls.crt").exists() and (tmp_path / "tls.key").exists()
    value = token.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", value), value
    assert token.stat().st_mode & 0o077 == 0, "the admin token must be private"
    again = entrypoint("init", env=env)
    assert again.returncode == 0 and token.read_text().strip() == value, "init must not replace a token"


def test_entrypoint_make_internal_pki(tmp_path):
    """A CA and a service certificate for mutual-TLS gRPC: the certificate
    chains to the CA, names authd and queued, is usable as client and server,
    the key is private, the CA key is gone, and a second run changes nothing."""
    if not shutil.which("openssl"):
        reason = "openssl missing (scripts/packages/test.txt installs it)"
        print(reason)
        pytest.skip(reason)
    env = {"POSTLINE_TLS_DIR": str(tmp_path)}
    out = entrypoint("make-internal-pki", env=env)
    assert out.returncode == 0, out.stderr
    internal = tmp_path / "internal"
    assert sorted(p.name for p in internal.iterdir()) == ["ca.crt", "service.crt", "service.key"]
    assert (internal / "service.key").stat().st_mode & 0o077 == 0, "private key must not be group/world readable"
    verify = run(["openssl", "verify", "-CAfile", str(internal / "ca.crt"), "-purpose", "sslserver",
                  str(internal / "service.crt")])
    assert verify.returncode == 0, verify.stdout + verify.stderr
    verify = run(["openssl", "verify", "-CAfile", str(internal / "ca.crt"), "-purpose", "sslclient",
                  str(internal / "service.crt")])
    assert verify.returncode == 0, verify.stdout + verify.stderr
    text = run(["openssl", "x509", "-in", str(internal / "service.crt"), "-noout", "-text"]).stdout
    assert "DNS:authd" in text and "DNS:queued" in text, text
    before = (internal / "service.crt").read_bytes()
    again = entrypoint("make-internal-pki", env=env)
    assert again.returncode == 0 and "leaving them alone" in again.stdout
    assert (internal / "service.crt").read_bytes() == before
