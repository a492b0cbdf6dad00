"""The image's scripts with the real binaries (no docker engine here): the entrypoint
starts a service with the image's config file (deploy/docker/postline.container.yaml),
the HEALTHCHECK script reports it healthy through /readyz, and the CLI runs through the
entrypoint. Environment overrides stand in for what compose sets (ports, addresses)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

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


# A second instance next to the platform's: its own ports, loopback instead of the image's 0.0.0.0.
SECOND_INSTANCE = {
    "imapd": ("IMAP", ("PORT", "TLS_PORT")),
    "managesieved": ("MANAGESIEVE", ("PORT",)),
}


@pytest.mark.parametrize("service", sorted(SECOND_INSTANCE))
def test_entrypoint_starts_a_service_with_the_image_config_and_healthcheck_passes(platform, tmp_path, service):
    script = entrypoint_copy(tmp_path, platform.bin)
    http_port = free_port()
    section, port_keys = SECOND_INSTANCE[service]
    overrides = {f"POSTLINE_{section}_LISTEN_ADDRESS": "127.0.0.1", f"POSTLINE_{section}_HTTP_PORT": str(http_port)}
    overrides.update({f"POSTLINE_{section}_{key}": str(free_port()) for key in port_keys})
    env = platform.process_env(overrides)
    log_path = tmp_path / f"{service}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(["sh", str(script), service], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    log.close()
    try:
        def cmdline():
            return Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")

        # the entrypoint exec's the service: same PID, the binary with --config and the image's file
        args = wait_until(lambda: (c := cmdline()) and c[0].endswith(f"postline-{service}".encode()) and c,
                          timeout=10, what=f"the entrypoint to exec postline-{service}")
        assert args[1:3] == [b"--config", str(DOCKER / "postline.container.yaml").encode()], args

        health_env = {"PATH": os.environ["PATH"], "POSTLINE_HEALTHCHECK_PID": str(proc.pid),
                      f"POSTLINE_{section}_HTTP_PORT": str(http_port)}

        def healthy():
            if proc.poll() is not None:
                raise AssertionError(f"{service} exited {proc.returncode}:\n{log_path.read_text()}")
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
