"""yamllint (with the repository's .yamllint) and a PyYAML parse of every YAML file."""
import yaml

from deploylib import ROOT, require_tool, run, yaml_files

def test_there_are_yaml_files_to_lint():
    files = [str(p.relative_to(ROOT)) for p in yaml_files()]
    for must in ("docker-compose.yml", "deploy/postline.example.yaml", "deploy/prometheus/alerts.yml",
                 "deploy/k8s/base/kustomization.yaml", ".yamllint"):
        assert must in files, f"{must} not found by git ls-files"

def test_yamllint_every_yaml_file():
    yamllint = require_tool("yamllint", "yamllint")
    files = [str(p) for p in yaml_files()]
    out = run([yamllint, "--strict", "-f", "parsable", "-c", str(ROOT / ".yamllint"), *files], cwd=ROOT)
    print(f"yamllint checked {len(files)} files")
    assert out.returncode == 0, f"yamllint found problems:\n{out.stdout}{out.stderr}"

def test_every_yaml_file_parses():
    problems = []
    for path in yaml_files():
        if path.name in (".clang-format", ".clang-tidy"):
            continue
        try:
            list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as e:
            problems.append(f"{path.relative_to(ROOT)}: {e}")
    assert not problems, "\n".join(problems)
