"""Helpers shared by tests/deploy: repository paths, the config schema, the metric
names the services export, tool lookup, and a small kustomize fallback."""
from __future__ import annotations

import copy
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("smtpd", "queued", "imapd", "authd", "webd", "managesieved")
# config section of each service (POSTLINE_<SECTION>_HTTP_PORT etc.)
SECTION = {"smtpd": "smtp", "queued": "queue", "imapd": "imap", "authd": "auth", "webd": "web",
           "managesieved": "managesieve"}


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- configuration schema -------------------------------------------------------------
def schema():
    """[(section, key, type, default, help)] parsed from common/config/schema.cpp."""
    gen = load_module(DEPLOY / "tools" / "gen_example_config.py", "gen_example_config")
    return gen.parse_schema(ROOT / "common" / "config" / "schema.cpp")


def schema_map():
    return {(s, k): (t, d, h) for s, k, t, d, h in schema()}


_DURATION = re.compile(r"^\d{1,12}[smhd]?$")
_SIZE = re.compile(r"^\d{1,15}(B|KiB|K|k|MiB|M|GiB|G)?$")


def config_problems(doc, where: str) -> list[str]:
    """Checks a Postline config document like common/config's loader does."""
    known = schema_map()
    sections = {s for s, _ in known}
    problems = []
    if doc is None:
        return problems
    if not isinstance(doc, dict):
        return [f"{where}: top level must be a mapping of sections"]
    for section, body in doc.items():
        if section not in sections:
            problems.append(f"{where}: unknown section '{section}'")
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            problems.append(f"{where}: section '{section}' must be a mapping")
            continue
        for key, value in body.items():
            spec = known.get((section, key))
            if spec is None:
                problems.append(f"{where}: unknown key '{section}.{key}'")
                continue
            problems += value_problems(spec[0], value, f"{where}: {section}.{key}")
    return problems


def value_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value_text(v) for v in value)
    return str(value)


def value_problems(vtype: str, value, what: str) -> list[str]:
    if isinstance(value, dict):
        return [f"{what}: expected a value, got a mapping"]
    if isinstance(value, list) and vtype != "StringList":
        # the loader joins lists for any key, but only lists make sense as lists
        return [f"{what}: a list for a {vtype} key"]
    text = value_text(value)
    ok = {
        "String": True,
        "StringList": True,
        "Int": re.fullmatch(r"-?\d+", text) is not None,
        "Port": text.isdigit() and 0 <= int(text) <= 65535,
        "Bool": text in ("true", "false"),
        "Duration": _DURATION.match(text.strip()) is not None,
        "Size": _SIZE.match(text.strip()) is not None,
    }[vtype]
    return [] if ok else [f"{what}: '{text}' is not a valid {vtype}"]


def env_names() -> set[str]:
    return {f"POSTLINE_{s.upper()}_{k.upper()}" for s, k, *_ in schema()}


# --- metric names ----------------------------------------------------------------------
def known_metrics() -> tuple[set[str], str]:
    """Metric names the services export, from the catalogue in docs/HELPERS.md
    (the one list; a stale second copy is worse than none). Returns (names, source)."""
    text = (ROOT / "docs" / "HELPERS.md").read_text()
    m = re.search(r"^## Metric names.*?(?=^## |\Z)", text, re.M | re.S)
    assert m, "docs/HELPERS.md has no '## Metric names' section"
    section, source = m.group(0), "docs/HELPERS.md"
    names = set()
    # postline_<svc>_grpc_server_{duration_seconds,calls_total} / _client_{...}
    for m2 in re.finditer(r"postline_<svc>_grpc_(server|client)_\{([a-z_,]+)\}", section):
        for svc in SERVICES:
            for suffix in m2.group(2).split(","):
                names.add(f"postline_{svc}_grpc_{m2.group(1)}_{suffix}")
    if "postline_<svc>_build_info" in section:
        names.update(f"postline_{svc}_build_info" for svc in SERVICES)
    # per-service names and the shared ones (postline_ready, postline_db_pool_*, process_* ...)
    names.update(re.findall(r"\b(?:postline|process)_[a-z0-9_]+", section))
    return names, source


def omitted_metrics() -> dict[str, str]:
    """{family: why} from the "On no dashboard panel, on purpose" list of docs/HELPERS.md."""
    text = (ROOT / "docs" / "HELPERS.md").read_text()
    m = re.search(r"^### On no dashboard panel, on purpose\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert m, "docs/HELPERS.md has no '### On no dashboard panel, on purpose' list"
    return dict(re.findall(r"^- ((?:postline|process)_[a-z0-9_]+): (.+(?:\n  .+)*)", m.group(1), re.M))


def exported_metrics() -> dict[str, str]:
    """{family: source file} for every metric family the C++ code registers: prometheus-cpp
    .Name("..."), smtpd's counter(r, "...") helper, the scrape-time family("...") of
    common/metrics (and its process collector's one("...")), the RpcMetrics families per service and side, and build_info."""
    found = {}
    sources = [p for d in ("services", "common") for p in (ROOT / d).rglob("*.cpp")
               if not p.name.endswith(("_test.cpp", "_pgtest.cpp")) and "/fuzz/" not in str(p)]
    rpc_suffixes = ("duration_seconds", "calls_total")
    for path in sources:
        text = path.read_text()
        rel = str(path.relative_to(ROOT))
        for name in re.findall(r'(?:\.Name\(|counter\(r, |family\(|one\()\s*"((?:postline|process)_[a-z0-9_]+)"', text):
            found.setdefault(name, rel)
        for prefix, side in re.findall(r'"(postline_[a-z]+)", "(server|client)"\)', text):
            for suffix in rpc_suffixes:
                found.setdefault(f"{prefix}_grpc_{side}_{suffix}", rel)
        for prefix in re.findall(r'make_registry\("(postline_[a-z]+)"', text):
            found.setdefault(f"{prefix}_build_info", rel)
    return found


HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def unknown_metrics(expr: str, known: set[str]) -> list[str]:
    bad = []
    for name in re.findall(r"\b(?:postline|process)_[a-zA-Z0-9_]+", expr):
        if name in known:
            continue
        if any(name.endswith(s) and name[: -len(s)] in known for s in HISTOGRAM_SUFFIXES):
            continue
        bad.append(name)
    return bad


# --- tools -----------------------------------------------------------------------------
def require_tool(name: str, package: str) -> str:
    """Path of a tool that scripts/packages/deploy.txt installs; a missing one fails."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} not found: install Debian package {package} (scripts/packages/deploy.txt; "
                    f"scripts/test installs it)")
    return path


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    result = subprocess.run(cmd, **kw)
    return result


def yaml_files() -> list[Path]:
    """Every YAML file of the repository (tracked, or new and not ignored)."""
    out = run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
               "*.yml", "*.yaml", ".yamllint", ".clang-format", ".clang-tidy"])
    if out.returncode == 0:
        files = [ROOT / p for p in out.stdout.split("\0") if p]
    else:  # not a git checkout (an exported tree): walk it, skipping build output
        print(f"git ls-files failed ({out.stderr.strip()}); walking the tree instead")
        skip = ("build", "var", ".git", "node_modules")
        files = [p for pattern in ("*.yml", "*.yaml") for p in ROOT.rglob(pattern)
                 if not any(part.startswith(skip) for part in p.relative_to(ROOT).parts)]
        files += [ROOT / ".yamllint"]
    return sorted(p for p in files if p.exists())


# --- kustomize -------------------------------------------------------------------------
def kubectl_render(directory: Path):
    """(documents, how) rendered by `kubectl kustomize`, or by the Python fallback
    when no kubectl exists (the reason is printed)."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = run([kubectl, "kustomize", str(directory)])
        assert out.returncode == 0, f"kubectl kustomize {directory} failed:\n{out.stderr}"
        return [d for d in yaml.safe_load_all(out.stdout) if d], "kubectl kustomize"
    print(f"kubectl not found: rendering {directory} with the Python fallback in tests/deploy/deploylib.py. "
          "Debian 12's kubectl is in package kubernetes-client (1.20, whose kustomize v2 lacks `patches:`); "
          "the machine image ships a newer kubectl.")
    return mini_kustomize(directory), "python fallback"


def _match_target(doc, target):
    if "kind" in target and doc.get("kind") != target["kind"]:
        return False
    if "name" in target and doc["metadata"].get("name") != target["name"]:
        return False
    if "group" in target and doc.get("apiVersion", "").split("/")[0] != target["group"]:
        return False
    return True


def _json_patch(doc, ops):
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif op["op"] == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise AssertionError(f"fallback renderer does not know JSON patch op {op['op']}")


def mini_kustomize(directory: Path):
    """The subset of kustomize that deploy/k8s uses: resources (files and bases),
    namespace, images, configMap/secretGenerator (no hash suffix) and JSON6902 patches."""
    k = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs = []
    for res in k.get("resources", []):
        path = directory / res
        if path.is_dir():
            docs += mini_kustomize(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in k.get(key, []):
            data = {}
            for f in gen.get("files", []):
                name, _, src = f.partition("=") if "=" in f else (Path(f).name, "", f)
                data[name] = (directory / src).read_text()
            for lit in gen.get("literals", []):
                name, _, value = lit.partition("=")
                data[name] = value
            for env in gen.get("envs", []):
                for line in (directory / env).read_text().splitlines():
                    if line.strip() and not line.startswith("#"):
                        name, _, value = line.partition("=")
                        data[name] = value
            obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]},
                   ("stringData" if kind == "Secret" else "data"): data}
            if gen.get("behavior") in ("replace", "merge"):
                docs = [d for d in docs if not (d["kind"] == kind and d["metadata"]["name"] == gen["name"])]
            docs.append(obj)
    for patch in k.get("patches", []):
        ops = yaml.safe_load(patch["patch"])
        for d in docs:
            if _match_target(d, patch.get("target", {})):
                _json_patch(d, copy.deepcopy(ops))
    for img in k.get("images", []):
        for d in docs:
            for c in pod_spec(d).get("containers", []) if pod_spec(d) else []:
                if c.get("image", "").split(":")[0] == img["name"]:
                    c["image"] = f"{img.get('newName', img['name'])}:{img.get('newTag', 'latest')}"
    if "namespace" in k:
        for d in docs:
            if d["kind"] != "Namespace":
                d["metadata"]["namespace"] = k["namespace"]
    return docs


def pod_spec(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def pod_labels(doc):
    return doc["spec"]["template"]["metadata"].get("labels", {})


def selector_matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
