"""The image's scripts with the real binaries (no docker engine here): the entrypoint
starts a service with the image's config file (deploy/docker/postline.container.yaml),
the HEALTHCHECK script reports it healthy through /readyz, and the CLI runs through the
entrypoint. Environment overrides stand in for what compose sets (ports, addresses)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from platform_support import ROOT, free_port, wait_until

DOCKER = ROOT / "deploy" / "docker"


def entrypoint_copy(directory: Path, bin_dir: Path) -> Path:
    """entrypoint.sh with the image's paths replaced by the build's."""
    text = (DOCKER / "entrypoint.sh").read_text()
    text = text.replace("/usr/local/bin/postline-healthcheck", str(DOCKER / "healthcheck.sh"))
    text = text.replace("/usr/local/bin/", f"{bin_dir}/")
    text = text.replace("/etc/postline/postline.yaml", str(DOCKER / "postline.container.yaml"))
    path = directory / "entrypoint.sh"
    path.write_text(text)
    return path


def test_entrypoint_starts_a_service_with_the_image_config_and_healthcheck_passes(platform, tmp_path):
    script = entrypoint_copy(tmp_path, platform.bin)
    http_port = free_port()
    env = platform.process_env({
        # a second imapd next to the platform's: its own ports, loopback instead of 0.0.0.0
        "POSTLINE_IMAP_LISTEN_ADDRESS": "127.0.0.1",
        "POSTLINE_IMAP_PORT": str(free_port()),
        "POSTLINE_IMAP_TLS_PORT": str(free_port()),
        "POSTLINE_IMAP_HTTP_PORT": str(http_port),
    })
    log = open(tmp_path / "imapd.log", "wb")
    proc = subprocess.Popen(["sh", str(script), "imapd"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    log.close()
    try:
        def cmdline():
            return Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")

        # the entrypoint exec's the service: same PID, the binary with --config and the image's file
        args = wait_until(lambda: (c := cmdline()) and c[0].endswith(b"postline-imapd") and c, timeout=10,
                          what="the entrypoint to exec postline-imapd")
        assert args[1:3] == [b"--config", str(DOCKER / "postline.container.yaml").encode()], args

        health_env = {"PATH": os.environ["PATH"], "POSTLINE_HEALTHCHECK_PID": str(proc.pid),
                      "POSTLINE_IMAP_HTTP_PORT": str(http_port)}

        def healthy():
            if proc.poll() is not None:
                raise AssertionError(f"imapd exited {proc.returncode}:\n{(tmp_path / 'imapd.log').read_text()}")
            return subprocess.run(["sh", str(DOCKER / "healthcheck.sh")], env=health_env,
                                  capture_output=True).returncode == 0

        wait_until(healthy, timeout=30, interval=0.2, what="the HEALTHCHECK script to pass")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # stopped: the same healthcheck now fails (the PID is gone, so point it at the port by URL)
    gone = subprocess.run(["sh", str(DOCKER / "healthcheck.sh")], capture_output=True,
                          env={"PATH": os.environ["PATH"],
                               "POSTLINE_HEALTHCHECK_URL": f"http://127.0.0.1:{http_port}/readyz"})
    assert gone.returncode != 0


def test_cli_through_the_entrypoint(platform, tmp_path):
    script = entrypoint_copy(tmp_path, platform.bin)
    platform.add_domain("container.example")
    out = subprocess.run(["sh", str(script), "postline", "domain", "list"], env=platform.process_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "container.example" in out.stdout
