"""Account management through the `postline` CLI against a running authd
(issue 7): domains, users, aliases, quotas, app passwords, throttles, --json,
and errors that say what was wrong."""
from __future__ import annotations

import json


def cli_ok(platform, *args, input=None):
    return platform.cli(*args, input=input).stdout


def cli_fails(platform, *args, input=None):
    result = platform.cli(*args, input=input, check=False)
    assert result.returncode != 0, f"postline {' '.join(args)} should have failed:\n{result.stdout}"
    return result.stderr


def test_domains(platform):
    assert "added domain cli.example" in cli_ok(platform, "domain", "add", "CLI.Example")
    assert "already exists" in cli_fails(platform, "domain", "add", "cli.example")
    # Internationalised names are stored as A-labels.
    cli_ok(platform, "domain", "add", "bücher.example")
    domains = {d["name"]: d for d in json.loads(cli_ok(platform, "domain", "list", "--json"))}
    assert "cli.example" in domains and "xn--bcher-kva.example" in domains
    assert domains["cli.example"]["users"] == 0
    table = cli_ok(platform, "domain", "list")
    assert table.splitlines()[0].split()[0] == "DOMAIN" and "cli.example" in table
    assert "empty label" in cli_fails(platform, "domain", "add", "bad..example")


def test_users_and_removal_rules(platform):
    cli_ok(platform, "domain", "add", "users.example")
    cli_ok(platform, "user", "add", "Anna@Users.Example", "--password-stdin", "--name", "Anna", "--quota", "1GiB",
           input="Quartz-Lantern-4821\n")
    assert "already exists" in cli_fails(platform, "user", "add", "anna@users.example", "--password-stdin",
                                         input="Quartz-Lantern-4821\n")
    assert "not hosted" in cli_fails(platform, "user", "add", "x@nowhere.example", "--password-stdin",
                                     input="Quartz-Lantern-4821\n")
    # The password policy (auth.password_min_length, cracklib): a clear reason, nothing created.
    assert "shorter than 10 characters" in cli_fails(platform, "user", "add", "weak@users.example",
                                                     "--password-stdin", input="x\n")
    assert "too easy to guess" in cli_fails(platform, "user", "add", "weak@users.example", "--password-stdin",
                                            input="password123\n")
    assert "contains the user name" in cli_fails(platform, "user", "add", "weak@users.example",
                                                 "--password-stdin", input="my-weak-password-9\n")
    assert "too easy to guess" in cli_fails(platform, "user", "passwd", "anna@users.example", "--password-stdin",
                                            input="qwertyuiop\n")
    assert "--password-stdin" in cli_fails(platform, "user", "add", "y@users.example")  # no tty, no password
    users = json.loads(cli_ok(platform, "--json", "user", "list", "users.example"))
    assert [(u["email"], u["display_name"], u["quota_bytes"], u["disabled"]) for u in users] == [
        ("anna@users.example", "Anna", 1 << 30, False)]
    # A domain with users is not removed by accident.
    err = cli_fails(platform, "domain", "remove", "users.example")
    assert "1 user: anna@users.example" in err and "--force" in err
    cli_ok(platform, "user", "remove", "anna@users.example", "--force")
    assert "no such user" in cli_fails(platform, "user", "remove", "anna@users.example", "--force")
    cli_ok(platform, "domain", "remove", "users.example")
    names = [d["name"] for d in json.loads(cli_ok(platform, "domain", "list", "--json"))]
    assert "users.example" not in names


def test_force_removes_a_domain_with_users(platform):
    platform.add_user("gone@force.example", "Quartz-Lantern-4821")
    cli_ok(platform, "domain", "remove", "force.example", "--force")
    emails = [u["email"] for u in json.loads(cli_ok(platform, "user", "list", "--json"))]
    assert "gone@force.example" not in emails


def test_quota_disable_and_names(platform):
    platform.add_user("q@quota.example", "Quartz-Lantern-4821")
    assert "5GiB" in cli_ok(platform, "quota", "set", "q@quota.example", "5GiB")
    cli_ok(platform, "user", "disable", "q@quota.example")
    cli_ok(platform, "user", "set-name", "q@quota.example", "Quinn")
    [user] = json.loads(cli_ok(platform, "user", "list", "quota.example", "--json"))
    assert user["quota_bytes"] == 5 << 30 and user["disabled"] is True and user["display_name"] == "Quinn"
    cli_ok(platform, "quota", "set", "q@quota.example", "unlimited")
    cli_ok(platform, "user", "enable", "q@quota.example")
    [user] = json.loads(cli_ok(platform, "user", "list", "quota.example", "--json"))
    assert user["quota_bytes"] == 0 and user["disabled"] is False
    assert "SIZE" in cli_fails(platform, "quota", "set", "q@quota.example", "lots")


def test_aliases_and_catch_all(platform):
    platform.add_user("a@alias.example", "Quartz-Lantern-4821")
    platform.add_user("b@alias.example", "Quartz-Lantern-4821")
    out = cli_ok(platform, "alias", "add", "Team@alias.example", "a@alias.example", "b@alias.example",
                 "c@remote.example")
    assert "team@alias.example" in out
    aliases = json.loads(cli_ok(platform, "alias", "list", "alias.example", "--json"))
    assert aliases == [{"address": "team@alias.example",
                        "targets": ["a@alias.example", "b@alias.example", "c@remote.example"]}]
    assert "is a user" in cli_fails(platform, "alias", "add", "a@alias.example", "b@alias.example")
    cli_ok(platform, "alias", "remove", "team@alias.example", "c@remote.example")
    [alias] = json.loads(cli_ok(platform, "alias", "list", "--json", "alias.example"))
    assert alias["targets"] == ["a@alias.example", "b@alias.example"]
    cli_ok(platform, "domain", "catch-all", "alias.example", "a@alias.example")
    [domain] = [d for d in json.loads(cli_ok(platform, "domain", "list", "--json")) if d["name"] == "alias.example"]
    assert domain["catch_all"] == "a@alias.example" and domain["aliases"] == 1
    cli_ok(platform, "domain", "catch-all", "alias.example", "--clear")
    cli_ok(platform, "alias", "remove", "team@alias.example", "--force")
    assert json.loads(cli_ok(platform, "alias", "list", "alias.example", "--json")) == []


def test_app_passwords(platform):
    platform.add_user("app@apps.example", "Quartz-Lantern-4821")
    password = cli_ok(platform, "app-password", "add", "app@apps.example", "phone").strip()
    assert len(password) == 24 and password.count("-") == 4
    assert "already has" in cli_fails(platform, "app-password", "add", "app@apps.example", "phone")
    [entry] = json.loads(cli_ok(platform, "app-password", "list", "app@apps.example", "--json"))
    assert entry["label"] == "phone" and entry["last_used_at"] == ""
    assert password not in cli_ok(platform, "app-password", "list", "app@apps.example")
    cli_ok(platform, "app-password", "remove", "app@apps.example", "phone")
    assert json.loads(cli_ok(platform, "app-password", "list", "app@apps.example", "--json")) == []


def test_passwords_never_reach_the_log(platform):
    platform.add_user("secret@log.example", "Zebra-Quasar-7781")
    cli_ok(platform, "user", "passwd", "secret@log.example", "--password-stdin", input="Orchid-Nebula-2290\n")
    log = platform.logs["authd"].read_text(errors="replace")
    assert "Zebra-Quasar-7781" not in log and "Orchid-Nebula-2290" not in log
    assert "audit admin action=add_user email=secret@log.example" in log
    assert "audit admin action=set_password email=secret@log.example" in log


def test_errors_name_the_problem(platform):
    err = cli_fails(platform, "--auth-addr", "127.0.0.1:1", "domain", "list")
    assert "cannot reach authd at 127.0.0.1:1" in err
    result = platform.cli("domain", "frobnicate", check=False)
    assert result.returncode == 2
    assert "throttle" in cli_ok(platform, "--help")
    assert json.loads(cli_ok(platform, "throttle", "list", "--json")) == []
    assert "nothing is throttled" in cli_fails(platform, "throttle", "unblock", "192.0.2.99")


def test_gauges(platform):
    platform.add_user("g1@gauge.example", "Quartz-Lantern-4821")
    assert platform.metric_value("authd", "postline_authd_accounts") >= 1
    assert platform.metric_value("authd", "postline_authd_domains") >= 1
    assert platform.metric_value("authd", "postline_authd_build_info") == 1
