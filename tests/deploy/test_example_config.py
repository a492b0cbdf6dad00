"""deploy/postline.example.yaml documents every key of common/config/schema.cpp with its
default and help text, and every config file under deploy/ uses only known keys."""
import re
import shutil
import subprocess

import pytest
import yaml

from deploylib import DEPLOY, ROOT, config_problems, env_names, run, schema, value_text

EXAMPLE = DEPLOY / "postline.example.yaml"
REGENERATE = ("after changing common/config/schema.cpp, run deploy/tools/gen_example_config.py "
              "and commit deploy/postline.example.yaml with it")
# Postline config files shipped by deploy/ (not the example): image defaults, k8s configs.
CONFIG_FILES = [
    DEPLOY / "docker" / "postline.container.yaml",
    DEPLOY / "k8s" / "base" / "config" / "postline.yaml",
    DEPLOY / "k8s" / "overlays" / "example" / "postline.yaml",
]


def normalise(vtype, text):
    if vtype == "StringList":
        return [i.strip() for i in text.split(",") if i.strip()]
    return text


def test_schema_parses():
    entries = schema()
    assert len(entries) >= 40, f"only {len(entries)} schema entries parsed: regex out of date?"
    sections = {s for s, *_ in entries}
    assert {"db", "tls", "log", "dns", "auth", "smtp", "queue", "imap"} <= sections


def test_example_has_every_key_with_its_default():
    doc = yaml.safe_load(EXAMPLE.read_text())
    entries = schema()
    expected = {(s, k) for s, k, *_ in entries}
    present = {(s, k) for s, body in doc.items() for k in (body or {})}
    assert not expected - present, f"keys missing from the example: {sorted(expected - present)}; {REGENERATE}"
    assert not present - expected, \
        f"keys in the example but not in schema.cpp: {sorted(present - expected)}; {REGENERATE}"
    wrong = []
    for section, key, vtype, default, _ in entries:
        got = doc[section][key]
        got_text = normalise(vtype, value_text(got))
        if got_text != normalise(vtype, default):
            wrong.append(f"{section}.{key}: example {got!r}, schema default {default!r}")
    assert not wrong, "\n".join(wrong) + "\n" + REGENERATE


def test_example_documents_help_default_and_env_of_every_key():
    text = EXAMPLE.read_text()
    missing = []
    for section, key, vtype, default, help_text in schema():
        # the comment block right above `key:` inside its section
        m = re.search(rf"^{section}:\n(?:(?:  .*|#.*|)\n)*?((?:  #.*\n)+)  {key}:", text, re.M)
        if not m:
            missing.append(f"{section}.{key}: no comment block above the key")
            continue
        block = " ".join(line.strip().lstrip("#").strip() for line in m.group(1).splitlines())
        if help_text not in block:
            missing.append(f"{section}.{key}: help text not in its comment")
        if f"default: {default if default else '(empty)'}" not in block:
            missing.append(f"{section}.{key}: default not in its comment")
        if f"POSTLINE_{section.upper()}_{key.upper()}" not in block:
            missing.append(f"{section}.{key}: environment variable not in its comment")
    assert not missing, "\n".join(missing) + "\n" + REGENERATE


def test_example_is_what_the_generator_writes():
    out = run(["/usr/bin/python3", str(DEPLOY / "tools" / "gen_example_config.py"), "--check"])
    assert out.returncode == 0, ("deploy/postline.example.yaml is out of date: run "
                                 f"deploy/tools/gen_example_config.py\n{out.stdout}{out.stderr}")


def test_example_and_deploy_configs_use_known_keys_and_valid_values():
    problems = config_problems(yaml.safe_load(EXAMPLE.read_text()), "postline.example.yaml")
    for path in CONFIG_FILES:
        problems += config_problems(yaml.safe_load(path.read_text()), str(path.relative_to(ROOT)))
    assert not problems, "\n".join(problems)


def test_env_overrides_named_in_deploy_files_exist():
    """Every POSTLINE_* variable that compose or Kubernetes sets is a real config key."""
    allowed = env_names() | {"POSTLINE_TLS_DIR", "POSTLINE_HEALTHCHECK_URL", "POSTLINE_HEALTHCHECK_PID",
                             "POSTLINE_IMAGE", "POSTLINE_HOSTNAME"}
    files = [ROOT / "docker-compose.yml", DEPLOY / "compose.env.example",
             *sorted((DEPLOY / "k8s").rglob("*.yaml")), *sorted((DEPLOY / "k8s").rglob("*.env")),
             *sorted((DEPLOY / "docker").glob("*.sh"))]
    unknown = set()
    for path in files:
        for name in re.findall(r"\bPOSTLINE_[A-Z0-9_]+\b", path.read_text()):
            if name not in allowed and not name.startswith("POSTLINE_<"):
                unknown.add(f"{path.relative_to(ROOT)}: {name}")
    assert not unknown, "\n".join(sorted(unknown))


LOADER_MAIN = r"""
#include "common/config/config.h"
#include <iostream>
int main(int argc, char** argv) {
  try {
    for (int i = 1; i < argc; ++i) {
      auto cfg = postline::config::Config::load(argv[i], {});
      std::cout << "=== " << argv[i] << "\n" << cfg.to_yaml();
    }
    std::cout << "=== defaults\n" << postline::config::Config::load("", {}).to_yaml();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
"""


def test_real_config_loader_accepts_the_example_and_deploy_configs(tmp_path):
    """Compiles common/config (two files and yaml-cpp) and loads every file with it."""
    gxx = shutil.which("g++")
    has_yaml_cpp = subprocess.run(["pkg-config", "--exists", "yaml-cpp"], capture_output=True).returncode == 0 \
        if shutil.which("pkg-config") else False
    if not gxx or not has_yaml_cpp:
        reason = "g++ or yaml-cpp (libyaml-cpp-dev, scripts/packages/build.txt) missing: cannot build the loader"
        print(reason)
        pytest.skip(reason)
    (tmp_path / "main.cpp").write_text(LOADER_MAIN)
    exe = tmp_path / "load_config"
    cflags = run(["pkg-config", "--cflags", "--libs", "yaml-cpp"]).stdout.split()
    build = run([gxx, "-std=c++20", "-O0", "-include", "utility", f"-I{ROOT}", str(tmp_path / "main.cpp"),
                 str(ROOT / "common/config/config.cpp"), str(ROOT / "common/config/schema.cpp"),
                 "-o", str(exe), *cflags], timeout=600)
    assert build.returncode == 0, f"building the config loader failed:\n{build.stderr[-4000:]}"
    out = run([str(exe), str(EXAMPLE), *map(str, CONFIG_FILES)])
    assert out.returncode == 0, f"the config loader rejected a file: {out.stderr}"
    parts = dict(re.findall(r"^=== (.*)\n((?:(?!===).*\n)*)", out.stdout, re.M))
    assert parts[str(EXAMPLE)] == parts["defaults"], \
        "loading the example must give exactly the defaults:\n" + parts[str(EXAMPLE)]
