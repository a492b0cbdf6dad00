"""Bad configuration stops a service with a message naming the key; a service
refuses a database whose schema it does not know (issue 2, DESIGN.md)."""
from __future__ import annotations

import subprocess

import pytest

from platform_support import SERVICES, Platform, new_workdir


@pytest.fixture(scope="module")
def unstarted(pg_server_url):
    """Binaries, ports and a fresh (unmigrated) database, but no running service."""
    return Platform(pg_server_url, new_workdir("postline-cfg-"))


def run(p: Platform, service: str, args=(), extra_env=None):
    return subprocess.run([str(p.bin / f"postline-{service}"), *args], capture_output=True, text=True,
                          env=p.process_env(extra_env), timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("service", SERVICES)
def test_bad_environment_value_names_key(unstarted, service):
    result = run(unstarted, service, extra_env={"POSTLINE_IMAP_PORT": "not-a-port"})
    assert result.returncode == 2, result
    assert "imap.port" in result.stderr and "POSTLINE_IMAP_PORT" in result.stderr, result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_unknown_key_in_file_names_key(unstarted, service, tmp_path):
    config = tmp_path / "postline.yaml"
    config.write_text("smtp:\n  max_mesage_size: 10MiB\n")
    result = run(unstarted, service, ["--config", str(config)])
    assert result.returncode == 2, result
    assert "smtp.max_mesage_size" in result.stderr, result.stderr


def test_missing_config_file_is_an_error(unstarted, tmp_path):
    result = run(unstarted, "authd", ["--config", str(tmp_path / "nope.yaml")])
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr


@pytest.mark.parametrize("service", ["authd", "queued", "imapd", "managesieved"])
def test_unmigrated_database_is_refused(unstarted, service):
    result = run(unstarted, service)
    assert result.returncode not in (0, 2), result
    assert "postline migrate" in result.stderr, result.stderr


def cli(p: Platform, *args, extra_env=None):
    return subprocess.run([str(p.bin / "postline"), *args], capture_output=True, text=True,
                          env=p.process_env(extra_env), timeout=60, stdin=subprocess.DEVNULL)


# acme.* valid but for the one key each case below breaks.
ACME_ON = {"POSTLINE_ACME_ENABLED": "true", "POSTLINE_ACME_DIRECTORY_URL": "https://ca.example/dir",
           "POSTLINE_ACME_ACCOUNT_KEY_FILE": "/nonexistent/dir/account.key", "POSTLINE_SMTP_HOSTNAME": "mail.example.test",
           "POSTLINE_WEB_HTTP_REDIRECT_PORT": "8080"}


@pytest.mark.parametrize("env,key", [
    ({"POSTLINE_TLS_CERT_FILE": "/nonexistent/cert.pem", "POSTLINE_TLS_KEY_FILE": "/nonexistent/key.pem"},
     "tls.cert_file"),
    ({"POSTLINE_QUEUE_DKIM_KEYS": "example.test:s1:/nonexistent/dkim.pem"}, "queue.dkim_keys"),
    ({"POSTLINE_QUEUE_DKIM_KEYS": "example.test-without-selector"}, "queue.dkim_keys"),
    ({"POSTLINE_AUTH_PASSWORD_DICTIONARY": "/nonexistent/dict"}, "auth.password_dictionary"),
    ({"POSTLINE_GRPC_TLS_CERT_FILE": "/nonexistent/c.pem"}, "grpc.tls_"),
    ({"POSTLINE_WEB_CERT_FILE": "/nonexistent/web.pem", "POSTLINE_WEB_KEY_FILE": "/nonexistent/web.key"},
     "web.cert_file"),
    ({"POSTLINE_WEB_CERT_FILE": "/nonexistent/web.pem"}, "web.key_file"),
    # Issue 17: the acme.* keys, checked by the function webd uses.
    (ACME_ON | {"POSTLINE_ACME_DIRECTORY_URL": "http://ca.example/dir"}, "acme.directory_url"),
    (ACME_ON | {"POSTLINE_ACME_NAMES": "*.example.test"}, "acme.names"),
    (ACME_ON | {"POSTLINE_ACME_ACCOUNT_KEY_FILE": ""}, "acme.account_key_file"),
    (ACME_ON | {"POSTLINE_ACME_CA_FILE": "/nonexistent/ca.pem"}, "acme.ca_file"),
    (ACME_ON | {"POSTLINE_WEB_HTTP_REDIRECT_PORT": "0"}, "web.http_redirect_port"),
    # Issue 21: several servers must come with target_session_attrs=read-write (else a standby
    # may be chosen), and libpq must be able to parse the URL at all.
    ({"POSTLINE_DB_URL": "postgresql://postgres@127.0.0.1:5432,127.0.0.1:5433/postline"}, "db.url"),
    ({"POSTLINE_DB_URL": "postgresql://postgres:hunter2@127.0.0.1/postline?no_such_option=1"}, "db.url"),
    # One host's gRPC sockets: an absolute path that fits a socket address.
    ({"POSTLINE_QUEUE_GRPC_SOCKET": "run/queued.sock"}, "queue.grpc_socket"),
    ({"POSTLINE_AUTH_GRPC_SOCKET": "/" + "a" * 120}, "auth.grpc_socket"),
])
def test_config_check_loads_what_the_services_load(unstarted, tmp_path, env, key):
    """Issue 16: `config check` refuses a file a service would refuse, naming its key."""
    result = cli(unstarted, "config", "check", extra_env=env)
    assert result.returncode == 2, result
    assert key in result.stderr, result.stderr


def test_config_check_accepts_a_multi_host_url_that_asks_for_the_primary(unstarted):
    url = ("postgresql://postline:hunter2@db1.example.test:5432,db2.example.test:5432/postline"
           "?target_session_attrs=read-write&connect_timeout=5&keepalives_idle=10&tcp_user_timeout=15000")
    result = cli(unstarted, "config", "check", extra_env={"POSTLINE_DB_URL": url})
    assert result.returncode == 0 and "configuration ok" in result.stdout, result
    bad = cli(unstarted, "config", "check",
              extra_env={"POSTLINE_DB_URL": "postgresql://postline:hunter2@db1/postline?no_such_option=1"})
    assert "hunter2" not in bad.stderr + bad.stdout, bad


def test_config_check_refuses_a_short_admin_token_as_authd_does(unstarted, tmp_path):
    token = tmp_path / "token"
    token.write_text("short\n")
    env = {"POSTLINE_AUTH_ADMIN_TOKEN_FILE": str(token)}
    result = cli(unstarted, "config", "check", extra_env=env)
    assert result.returncode == 2 and "auth.admin_token_file" in result.stderr, result
    authd = run(unstarted, "authd", extra_env=env)
    assert authd.returncode == 2 and "auth.admin_token_file" in authd.stderr, authd
    token.write_text("a-token-of-thirty-two-characters\n")
    result = cli(unstarted, "config", "check", extra_env=env)
    assert result.returncode == 0 and "configuration ok" in result.stdout, result


def test_config_check_accepts_a_real_certificate_and_key(unstarted):
    env = {"POSTLINE_TLS_CERT_FILE": str(unstarted.cert), "POSTLINE_TLS_KEY_FILE": str(unstarted.key)}
    result = cli(unstarted, "config", "check", extra_env=env)
    assert result.returncode == 0, result
    # The key of another certificate: TLS would refuse the pair, so does the check.
    other_key = unstarted.workdir / "other.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(other_key)], check=True, capture_output=True)
    env["POSTLINE_TLS_KEY_FILE"] = str(other_key)
    result = cli(unstarted, "config", "check", extra_env=env)
    assert result.returncode == 2 and "tls." in result.stderr, result


def test_webd_refuses_bad_acme_settings_like_config_check(unstarted):
    env = ACME_ON | {"POSTLINE_ACME_DIRECTORY_URL": "http://ca.example/dir"}
    result = run(unstarted, "webd", extra_env=env)
    assert result.returncode == 2 and "acme.directory_url" in result.stderr, result
    # Valid keys pass the check; a good acme section is not a reason to refuse.
    env = {**ACME_ON, "POSTLINE_TLS_CERT_FILE": str(unstarted.cert), "POSTLINE_TLS_KEY_FILE": str(unstarted.key)}
    result = cli(unstarted, "config", "check", extra_env=env)
    assert result.returncode == 0, result
