"""docker-compose.yml: the services the issue lists, healthchecks, depends_on
conditions, published mail ports, mounted files, and `docker-compose config`."""
import re
import shutil

import pytest
import yaml

from deploylib import DEPLOY, ROOT, SECTION, SERVICES, require_tool, run, schema_map

COMPOSE = ROOT / "docker-compose.yml"


def compose():
    return yaml.safe_load(COMPOSE.read_text())  # PyYAML resolves the <<: merge keys


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return env


def test_services_the_issue_asks_for():
    services = compose()["services"]
    assert set(services) >= {"postgres", "migrate", "init", "prometheus", "grafana", *SERVICES}
    assert services["postgres"]["image"].startswith("postgres:")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert services["migrate"]["command"] == ["migrate"]
    for svc in SERVICES:
        assert services[svc]["command"] == [svc]


def test_depends_on_conditions_reference_real_services():
    services = compose()["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: use the long depends_on form with conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            cond = spec.get("condition")
            assert cond in ("service_started", "service_healthy", "service_completed_successfully"), (name, dep)
            if cond == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
            if cond == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is one-shot but would be restarted"
    for svc in SERVICES:
        deps = services[svc]["depends_on"]
        assert "migrate" in deps or any("migrate" in services[d].get("depends_on", {}) for d in deps), \
            f"{svc} may start before the schema is migrated"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_healthchecks_probe_readyz_on_the_right_port():
    services = compose()["services"]
    defaults = schema_map()
    for name in ("postgres", "prometheus", "grafana", *SERVICES):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    script = (DEPLOY / "docker" / "healthcheck.sh").read_text()
    assert "/readyz" in script
    for svc in SERVICES:
        hc = services[svc]["healthcheck"]["test"]
        assert "/usr/local/bin/postline-healthcheck" in hc, hc
        var = f"POSTLINE_{SECTION[svc].upper()}_HTTP_PORT"
        # the healthcheck reads the port from this variable; it must equal what Prometheus scrapes
        port = env_of(services[svc]).get(var, defaults[(SECTION[svc], "http_port")][1])
        assert f"{var}:-{defaults[(SECTION[svc], 'http_port')][1]}" in script
        prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        targets = [t for j in prom["scrape_configs"] if j["job_name"] == f"postline-{svc}"
                   for sc in j["static_configs"] for t in sc["targets"]]
        assert targets == [f"{svc}:{port}"], (svc, targets, port)


def test_mail_ports_published_to_the_listeners():
    services = compose()["services"]
    defaults = schema_map()
    want = {
        "smtpd": {25: ("smtp", "mx_port"), 465: ("smtp", "submissions_port"), 587: ("smtp", "submission_port")},
        "imapd": {143: ("imap", "port"), 993: ("imap", "tls_port")},
        "managesieved": {4190: ("managesieve", "port")},
        "webd": {443: ("web", "https_port"), 80: ("web", "http_redirect_port")},
    }
    for svc, ports in want.items():
        published = {}
        for p in services[svc]["ports"]:
            m = re.fullmatch(r"(?:[\d.]+:)?(\d+):(\d+)", str(p))
            assert m, p
            published[int(m.group(1))] = int(m.group(2))
        env = env_of(services[svc])
        for host, (section, key) in ports.items():
            container = int(env.get(f"POSTLINE_{section.upper()}_{key.upper()}", defaults[(section, key)][1]))
            assert published.get(host) == container, f"{svc}: host port {host} must map to {container}"


def test_containers_listen_on_every_interface():
    conf = yaml.safe_load((DEPLOY / "docker" / "postline.container.yaml").read_text())
    for section in ("auth", "queue", "smtp", "imap", "managesieve"):
        assert conf[section]["listen_address"] == "0.0.0.0", section
    assert conf["auth"]["addr"] == "authd:50051" and conf["queue"]["addr"] == "queued:50052"
    assert set(compose()["services"]) >= {"authd", "queued"}


def test_certificates_and_admin_token_come_from_volumes_filled_by_init():
    c = compose()
    services = c["services"]
    assert "tls" in c["volumes"] and "secrets" in c["volumes"]
    assert services["init"]["command"][0] == "init"
    assert "tls:/etc/postline/tls" in services["init"]["volumes"]
    assert "secrets:/etc/postline/secrets" in services["init"]["volumes"]
    for svc in ("authd", "queued"):  # both serve admin RPCs that require the token
        token = env_of(services[svc])["POSTLINE_AUTH_ADMIN_TOKEN_FILE"]
        assert token == "/etc/postline/secrets/admin-token", svc
        assert "secrets:/etc/postline/secrets:ro" in services[svc]["volumes"], svc
        assert services[svc]["depends_on"]["init"]["condition"] == "service_completed_successfully", svc
    assert "/etc/postline/secrets/admin-token" in (DEPLOY / "docker" / "entrypoint.sh").read_text()
    conf = yaml.safe_load((DEPLOY / "docker" / "postline.container.yaml").read_text())
    for svc in ("smtpd", "imapd", "managesieved"):
        assert "tls:/etc/postline/tls:ro" in services[svc]["volumes"]
        assert services[svc]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert conf["tls"]["cert_file"].startswith("/etc/postline/tls/")


def test_bind_mounted_files_and_build_context_exist():
    c = compose()
    for name, svc in c["services"].items():
        for v in svc.get("volumes") or []:
            src = v.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), f"{name}: {src} does not exist"
        build = svc.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).exists()


SECRETS = ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD")


def compose_config(tmp_path, env_lines, *args):
    """`docker-compose config` with only `env_lines` as the .env (the real .env, if a developer
    has one, and the caller's environment are left out)."""
    tool = require_tool("docker-compose", "docker-compose")
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{line}\n" for line in env_lines))
    return run([tool, "-f", str(COMPOSE), "--project-directory", str(ROOT), "--env-file", str(env_file), "config",
                *args], cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def test_docker_compose_config_validates(tmp_path):
    """Debian's docker-compose (v1) validates the file against the compose schema
    without a docker engine."""
    out = compose_config(tmp_path, [f"{v}=test-{v.lower()}" for v in SECRETS], "-q")
    assert out.returncode == 0, out.stdout + out.stderr


def test_example_env_file_is_enough(tmp_path):
    out = compose_config(tmp_path, (DEPLOY / "compose.env.example").read_text().splitlines(), "-q")
    assert out.returncode == 0, out.stdout + out.stderr


def test_refuses_to_start_without_its_secrets(tmp_path):
    """No silent fallback to a known password: each secret missing stops compose, naming it."""
    text = COMPOSE.read_text()
    for var in SECRETS:
        assert re.search(r"\$\{" + var + r":\?[^}]+\}", text), f"{var} must be ${{{var}:?message}}"
        assert not re.search(r"\$\{" + var + r":?-", text), f"{var} has a default value"
        others = [f"{v}=x-{v.lower()}" for v in SECRETS if v != var]
        out = compose_config(tmp_path, others, "-q")
        assert out.returncode != 0, f"compose started without {var}"
        assert f"set {var} in .env" in out.stdout + out.stderr, out.stdout + out.stderr
    for known in ("postline", "admin"):
        assert f":-{known}}}" not in text, f"a fallback to the password {known!r} is left in docker-compose.yml"
    example = dict(line.split("=", 1) for line in (DEPLOY / "compose.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    for var in SECRETS:
        assert example.get(var), f"deploy/compose.env.example does not set {var}"


SIZE = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size_bytes(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([KMG])?(?:i?B)?", str(text))
    assert m, text
    return int(m.group(1)) * SIZE.get(m.group(2) or "", 1)


def test_every_container_has_cpu_and_memory_limits():
    services = compose()["services"]
    for name, svc in services.items():
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        assert float(limits.get("cpus", 0)) > 0, f"{name}: no cpus limit"
        assert size_bytes(limits.get("memory", "0")) > 0, f"{name}: no memory limit"
        reserved = svc["deploy"]["resources"].get("reservations", {}).get("memory")
        if reserved:
            assert size_bytes(reserved) <= size_bytes(limits["memory"]), name


def test_memory_limits_fit_the_buffer_budgets():
    """smtpd and imapd derive their buffer budgets from the container's limit
    (common/service/memory.h: a quarter of it, at least one largest message or literal with
    its copies). With the default sizes the budget must leave at least half the limit to the rest."""
    services = compose()["services"]
    defaults = schema_map()
    one_message = 8 * size_bytes(defaults[("smtp", "max_message_size")][1])  # smtpd main.cpp data_cost_factor
    one_literal = 5 * size_bytes(defaults[("imap", "max_literal_size")][1])  # imap Settings literal_cost_factor
    for name, at_least in (("smtpd", one_message), ("imapd", one_literal)):
        limit = size_bytes(services[name]["deploy"]["resources"]["limits"]["memory"])
        budget = max(min(limit // 4, 1 << 30), 64 << 20, at_least)
        assert budget <= limit // 2, f"{name}: a {limit >> 20} MiB limit leaves too little beside a {budget >> 20} MiB budget"
    # argon2id: hash_threads hashes of hash_mem_limit each fit in authd's limit with room to spare
    authd = size_bytes(services["authd"]["deploy"]["resources"]["limits"]["memory"])
    hashing = int(defaults[("auth", "hash_threads")][1]) * size_bytes(defaults[("auth", "hash_mem_limit")][1])
    assert hashing <= authd // 2, "authd's memory limit is too small for its password hashing"


def test_docker_compose_v2_plugin_if_present():
    docker = shutil.which("docker")
    if not docker or run([docker, "compose", "version"]).returncode != 0:
        reason = "no docker compose v2 plugin on this machine (the docker CLI has no `compose` command)"
        print(reason)
        pytest.skip(reason)
    out = run([docker, "compose", "-f", str(COMPOSE), "config", "-q"], cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_grpc_between_services_is_mutual_tls_with_init_made_files():
    """Every service gets all three grpc.tls_* files (half a configuration
    exits 2), from the tls volume that init fills, and the certificate names
    the hosts the services dial (checked against the entrypoint's SAN list)."""
    services = compose()["services"]
    keys = ("POSTLINE_GRPC_TLS_CERT_FILE", "POSTLINE_GRPC_TLS_KEY_FILE", "POSTLINE_GRPC_TLS_CA_FILE")
    entrypoint = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    for svc in ("authd", "queued", "smtpd", "imapd", "webd"):
        env = env_of(services[svc])
        assert all(env.get(k, "").startswith("/etc/postline/tls/internal/") for k in keys), (svc, env)
        assert "tls:/etc/postline/tls:ro" in services[svc]["volumes"], svc
        assert services[svc]["depends_on"]["init"]["condition"] == "service_completed_successfully", svc
        for addr_key in ("POSTLINE_AUTH_ADDR", "POSTLINE_QUEUE_ADDR"):
            host = env[addr_key].rsplit(":", 1)[0]
            assert f"DNS:{host}" in entrypoint, f"{host} missing from the internal certificate's names"
    # migrate talks only to PostgreSQL and runs before init: no gRPC TLS needed.
    assert not any(k in env_of(services["migrate"]) for k in keys)
