"""deploy/k8s renders with kustomize (base and example overlay) and the rendered
objects hang together: probes, resources, selectors, ports, NetworkPolicies."""
import shutil

import pytest
import yaml

from deploylib import (DEPLOY, SERVICES, config_problems, kubectl_render, mini_kustomize, pod_labels, pod_spec,
                       selector_matches)

K8S = DEPLOY / "k8s"
MAIL_PORTS = {"smtpd": {25, 465, 587}, "imapd": {143, 993}, "managesieved": {4190}, "webd": {443, 80}}
ENTRYPOINT_COMMANDS = {"smtpd", "queued", "imapd", "managesieved", "authd", "webd", "migrate", "postline", "make-cert"}
# Objects the manifests refer to but the operator provides (docs/operations.md).
EXTERNAL_SECRETS = {"postline-tls", "postline-admin-token", "postline-web-session"}
# ... and ones a deployment may leave out (mounted with optional: true).
OPTIONAL_SECRETS = {"postline-dkim"}
# Label selectors of pods that are not in the manifests: CloudNativePG's.
EXTERNAL_LABELS = {"cnpg.io/cluster"}


@pytest.fixture(scope="module", params=["base", "overlays/example", "overlays/ha", "overlays/s3"])
def rendered(request):
    docs, how = kubectl_render(K8S / request.param)
    print(f"{request.param}: {len(docs)} objects rendered by {how}")
    return request.param, docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def name(d):
    return d["metadata"]["name"]


def container_ports(workload):
    return {p["name"]: p["containerPort"] for c in pod_spec(workload)["containers"] for p in c.get("ports", [])}


def workloads(docs):
    return [d for d in docs if pod_spec(d) is not None]


def service_deployments(docs):
    """The services' Deployments (not the admin toolbox)."""
    return [d for d in by_kind(docs, "Deployment") if component_of(d) in SERVICES]


def component_of(d):
    return pod_labels(d).get("app.kubernetes.io/component")


def test_renders_every_kind_the_issue_asks_for(rendered):
    _, docs = rendered
    kinds = {d["kind"] for d in docs}
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap", "Secret",
                 "Job", "NetworkPolicy", "ServiceMonitor"):
        assert kind in kinds, f"no {kind} rendered"
    assert {component_of(d) for d in by_kind(docs, "Deployment")} == {*SERVICES, "admin"}
    names = [(d["kind"], name(d)) for d in docs]
    assert len(names) == len(set(names)), "duplicate objects"


def test_every_workload_has_resources_and_runs_unprivileged(rendered):
    _, docs = rendered
    for w in workloads(docs):
        spec = pod_spec(w)
        if w["kind"] == "Deployment":
            assert selector_matches(w["spec"]["selector"], pod_labels(w)), f"{name(w)}: selector misses template"
        assert spec["securityContext"]["runAsNonRoot"] is True, name(w)
        for c in spec["containers"]:
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    assert res in c["resources"][kind], f"{name(w)}: resources.{kind}.{res} missing"
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name(w)
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name(w)
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name(w)


def test_service_deployments_have_probes(rendered):
    _, docs = rendered
    for d in service_deployments(docs):
        spec = pod_spec(d)
        ports = container_ports(d)
        for c in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                p = c.get(probe)
                assert p and "httpGet" in p, f"{name(d)}/{c['name']}: no HTTP {probe}"
                assert p["httpGet"]["port"] in ports, f"{name(d)}: {probe} port {p['httpGet']['port']} not declared"
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert c["args"][0] in ENTRYPOINT_COMMANDS, c["args"]
            assert c["args"][0] == component_of(d)


def test_http_port_is_the_configured_one(rendered):
    _, docs = rendered
    cm = next(d for d in by_kind(docs, "ConfigMap") if name(d).startswith("postline-config"))
    conf = yaml.safe_load(cm["data"]["postline.yaml"])
    assert not config_problems(conf, "ConfigMap postline-config"), config_problems(conf, "ConfigMap")
    from deploylib import SECTION, schema_map
    defaults = schema_map()
    for d in service_deployments(docs):
        svc = component_of(d)
        section = SECTION[svc]
        want = int((conf.get(section) or {}).get("http_port") or defaults[(section, "http_port")][1])
        assert container_ports(d)["http"] == want, f"{name(d)}: http port differs from the config"
        for port_name, key in {"grpc": "grpc_port", "mx": "mx_port", "submission": "submission_port",
                               "submissions": "submissions_port", "imap": "port", "imaps": "tls_port",
                               "https": "https_port", "http-redirect": "http_redirect_port",
                               "managesieve": "port"}.items():
            if port_name in container_ports(d):
                want = int((conf.get(section) or {}).get(key) or defaults[(section, key)][1])
                assert container_ports(d)[port_name] == want, f"{name(d)}: {port_name} differs from config"


def test_referenced_configmaps_and_secrets_exist(rendered):
    _, docs = rendered
    cms = {name(d) for d in by_kind(docs, "ConfigMap")}
    secrets = {name(d) for d in by_kind(docs, "Secret")} | EXTERNAL_SECRETS
    for w in workloads(docs):
        spec = pod_spec(w)
        for v in spec.get("volumes", []):
            if "configMap" in v:
                assert v["configMap"]["name"] in cms, f"{name(w)}: ConfigMap {v['configMap']['name']} missing"
            if "secret" in v:
                if v["secret"]["secretName"] in OPTIONAL_SECRETS:
                    assert v["secret"].get("optional") is True, f"{name(w)}: {v['secret']['secretName']} must be optional"
                    continue
                assert v["secret"]["secretName"] in secrets, f"{name(w)}: Secret {v['secret']['secretName']}"
        for c in spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets, f"{name(w)}: Secret {ref['name']} missing"


def test_services_select_pods_and_target_declared_ports(rendered):
    _, docs = rendered
    deployments = by_kind(docs, "Deployment")
    seen_mail = {}
    for s in by_kind(docs, "Service"):
        targets = [d for d in deployments if selector_matches({"matchLabels": s["spec"]["selector"]}, pod_labels(d))]
        assert len(targets) == 1, f"Service {name(s)} selects {len(targets)} Deployments"
        ports = container_ports(targets[0])
        for p in s["spec"]["ports"]:
            assert p["targetPort"] in ports or p["targetPort"] in ports.values(), \
                f"Service {name(s)} port {p['name']} targets {p['targetPort']}, not a container port"
        published = {p["port"] for p in s["spec"]["ports"]}
        if s["spec"]["type"] == "LoadBalancer":
            seen_mail[component_of(targets[0])] = published
            assert not {"http", "grpc"} & {p["targetPort"] for p in s["spec"]["ports"]}, \
                f"{name(s)}: metrics/gRPC must not be on a LoadBalancer"
        else:
            assert s["spec"].get("type", "ClusterIP") == "ClusterIP", name(s)
    assert seen_mail == MAIL_PORTS, f"LoadBalancer mail ports: {seen_mail}"


def test_pdbs_and_hpas_point_at_deployments(rendered):
    _, docs = rendered
    deployments = {name(d): d for d in service_deployments(docs)}
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        assert any(selector_matches(pdb["spec"]["selector"], pod_labels(d)) for d in deployments.values()), name(pdb)
    assert {component_of(d) for d in deployments.values()
            if any(selector_matches(p["spec"]["selector"], pod_labels(d)) for p in by_kind(docs, "PodDisruptionBudget"))
            } == set(SERVICES), "every tier needs a PodDisruptionBudget"
    scaled = set()
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployments, name(hpa)
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
        scaled.add(ref["name"])
    assert scaled == set(deployments), f"no HPA for {set(deployments) - scaled}"


def test_migrate_job(rendered):
    _, docs = rendered
    (job,) = by_kind(docs, "Job")
    c = pod_spec(job)["containers"][0]
    assert c["args"] == ["migrate"]
    assert any(e["name"] == "POSTLINE_DB_URL" for e in c["env"])
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")


def test_servicemonitor_scrapes_every_service_with_the_compose_job_names(rendered):
    _, docs = rendered
    (sm,) = by_kind(docs, "ServiceMonitor")
    selected = [s for s in by_kind(docs, "Service")
                if selector_matches(sm["spec"]["selector"], s["metadata"].get("labels", {}))]
    jobs = {s["metadata"]["labels"][sm["spec"]["jobLabel"]] for s in selected}
    assert jobs == {f"postline-{svc}" for svc in SERVICES}
    for s in selected:
        assert any(p["name"] == sm["spec"]["endpoints"][0]["port"] for p in s["spec"]["ports"]), name(s)
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert jobs <= {j["job_name"] for j in prom["scrape_configs"]}


# --- NetworkPolicies ---------------------------------------------------------------------
def peer_matches(peer, labels, same_namespace=True):
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer and not same_namespace:
        return selector_matches(peer.get("podSelector", {}), labels)
    if "namespaceSelector" in peer:
        return False  # other namespaces only (monitoring), not the platform's own pods
    return selector_matches(peer["podSelector"], labels)


def allowed(policies, target_labels, source_labels, port_name):
    """Is a connection from a pod in this namespace allowed by the policies (default deny)?"""
    selecting = [p for p in policies if selector_matches(p["spec"]["podSelector"], target_labels)]
    if not selecting:
        return True
    for p in selecting:
        for rule in p["spec"].get("ingress", []):
            port_ok = "ports" not in rule or any(pp.get("port") == port_name for pp in rule["ports"])
            from_ok = "from" not in rule or any(peer_matches(peer, source_labels) for peer in rule["from"])
            if port_ok and from_ok:
                return True
    return False


def test_networkpolicies_reference_existing_labels_and_ports(rendered):
    _, docs = rendered
    pods = [pod_labels(w) for w in workloads(docs)]
    ports_by_labels = [(pod_labels(w), container_ports(w)) for w in workloads(docs)]
    for np in by_kind(docs, "NetworkPolicy"):
        sel = np["spec"]["podSelector"]
        external = set((sel.get("matchLabels") or {})) & EXTERNAL_LABELS
        if not external:
            assert any(selector_matches(sel, l) for l in pods), f"{name(np)} selects no pod"
        for rule in np["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                ps = peer.get("podSelector")
                if ps is None or not (ps.get("matchLabels") or ps.get("matchExpressions")):
                    continue
                keys = set(ps.get("matchLabels") or {}) | {e["key"] for e in ps.get("matchExpressions") or []}
                if keys & EXTERNAL_LABELS:
                    continue
                assert any(selector_matches(ps, l) for l in pods), f"{name(np)}: a from-selector matches no pod"
            for pp in rule.get("ports", []):
                if isinstance(pp["port"], str):
                    assert any(pp["port"] in ports for l, ports in ports_by_labels if selector_matches(sel, l)), \
                        f"{name(np)}: port {pp['port']} is not a port of the selected pods"


def test_networkpolicies_allow_exactly_the_intended_paths(rendered):
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    comp = {component_of(w): pod_labels(w) for w in workloads(docs)}
    everyone = set(comp)
    expect = {
        ("authd", "grpc"): {"smtpd", "imapd", "managesieved", "queued", "webd", "admin"},
        ("queued", "grpc"): {"smtpd", "webd", "admin"},  # webd: the portal's sent mail
        # webd: the portal's health page asks smtpd's and imapd's /readyz.
        ("authd", "http"): set(), ("queued", "http"): set(), ("smtpd", "http"): {"webd"}, ("imapd", "http"): {"webd"},
        ("smtpd", "mx"): everyone, ("smtpd", "submission"): everyone, ("smtpd", "submissions"): everyone,
        ("imapd", "imap"): everyone, ("imapd", "imaps"): everyone,
        ("webd", "http"): set(), ("webd", "https"): everyone, ("webd", "http-redirect"): everyone,
        ("managesieved", "managesieve"): everyone, ("managesieved", "http"): set(),
    }
    for (target, port), sources in expect.items():
        got = {s for s in everyone if allowed(policies, comp[target], comp[s], port)}
        assert got == sources, f"{target}:{port} reachable from {sorted(got)}, expected {sorted(sources)}"
    assert not any(allowed(policies, comp["admin"], comp[s], port) for s in everyone for port in ("grpc", "http")), \
        "nothing may connect to the admin toolbox"
    pg = {"cnpg.io/cluster": "postline-db"}
    for s in everyone:
        assert allowed(policies, pg, comp[s], 5432), f"{s} cannot reach PostgreSQL"
    assert not allowed(policies, pg, {"app": "something-else"}, 5432), "PostgreSQL open to non-platform pods"


def test_overlay_sets_namespace_and_image():
    docs, _ = kubectl_render(K8S / "overlays" / "example")
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "postline", f"{d['kind']}/{name(d)} has no namespace"
    for w in workloads(docs):
        for c in pod_spec(w)["containers"]:
            assert c["image"].startswith("registry.example.org/postline:"), c["image"]


def test_ha_overlay_follows_a_failover_and_replicates_synchronously():
    """overlays/ha (docs/operations.md "High availability"): the database URL asks
    libpq for the read-write member and bounds how long a dead one can hold a
    connection; the CloudNativePG cluster keeps a synchronous standby."""
    import base64
    from urllib.parse import parse_qs, urlsplit

    docs, _ = kubectl_render(K8S / "overlays" / "ha")
    secrets = [d for d in docs if d["kind"] == "Secret" and name(d).startswith("postline-db")]
    assert len(secrets) == 1, [name(d) for d in secrets]
    secret = secrets[0]
    url = secret.get("stringData", {}).get("url") or base64.b64decode(secret["data"]["url"]).decode()
    params = parse_qs(urlsplit(url.strip()).query)
    assert params.get("target_session_attrs") == ["read-write"], url
    for key in ("connect_timeout", "keepalives_idle", "tcp_user_timeout"):
        assert key in params, f"{key} missing from {url}"
    clusters = [d for d in docs if d["kind"] == "Cluster" and d["apiVersion"].startswith("postgresql.cnpg.io/")]
    assert len(clusters) == 1
    cluster = clusters[0]
    assert cluster["metadata"]["namespace"] == "postline"
    assert name(cluster) == "postline-db"  # what the base's postline-postgres NetworkPolicy admits
    spec = cluster["spec"]
    assert spec["instances"] >= 2 and spec["minSyncReplicas"] >= 1, spec
    assert spec["postgresql"]["parameters"]["synchronous_commit"] == "on"
    assert urlsplit(url.strip()).hostname == "postline-db-rw.postline.svc"


def test_s3_overlay_gives_the_body_readers_the_bucket_and_credentials():
    """overlays/s3 (docs/operations.md "S3 blob storage"): imapd, queued and the admin
    pod's CLI (imports write bodies) get mailstore.blob_backend s3, the bucket, and the
    keys from a Secret; the other services do not read bodies and get nothing."""
    docs, _ = kubectl_render(K8S / "overlays" / "s3")
    maps = {name(d): d for d in docs if d["kind"] == "ConfigMap"}
    secrets = {name(d): d for d in docs if d["kind"] == "Secret"}
    for d in by_kind(docs, "Deployment"):
        c = pod_spec(d)["containers"][0]
        refs = c.get("envFrom", [])
        if component_of(d) not in ("imapd", "queued", "admin"):
            assert not refs, name(d)
            continue
        cms = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
        sec = [r["secretRef"]["name"] for r in refs if "secretRef" in r]
        assert len(cms) == 1 and len(sec) == 1, (name(d), refs)
        settings = maps[cms[0]]["data"]
        assert settings["POSTLINE_MAILSTORE_BLOB_BACKEND"] == "s3"
        assert settings["POSTLINE_MAILSTORE_S3_ENDPOINT"].startswith("https://")
        assert settings["POSTLINE_MAILSTORE_S3_BUCKET"]
        keys = set(secrets[sec[0]].get("data", {})) | set(secrets[sec[0]].get("stringData", {}))
        assert keys == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, keys


def test_python_fallback_agrees_with_kubectl():
    """The fallback renderer (used when kubectl is missing) must see the same objects."""
    if not shutil.which("kubectl"):
        reason = "kubectl not found: the fallback renderer cannot be compared with it here"
        print(reason)
        pytest.skip(reason)
    for sub in ("base", "overlays/example", "overlays/ha"):
        real, _ = kubectl_render(K8S / sub)
        mine = mini_kustomize(K8S / sub)
        strip = lambda n: n.rsplit("-", 1)[0] if n.startswith(("postline-config-", "postline-db-")) else n  # noqa: E731
        assert sorted((d["kind"], strip(name(d))) for d in real) == sorted((d["kind"], name(d)) for d in mine)


def test_admin_token_reaches_every_process_serving_or_calling_admin_rpcs(rendered):
    """authd (AdminService), queued (queue admin RPCs), the admin toolbox (the CLI) and webd (the
    portal's account pages and sent mail call both)."""
    _, docs = rendered
    for d in by_kind(docs, "Deployment"):
        c = pod_spec(d)["containers"][0]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        has = "POSTLINE_AUTH_ADMIN_TOKEN_FILE" in env
        assert has == (component_of(d) in ("authd", "queued", "admin", "webd")), name(d)
        if has:
            mount = next(m for m in c["volumeMounts"] if env["POSTLINE_AUTH_ADMIN_TOKEN_FILE"].startswith(m["mountPath"]))
            vol = next(v for v in pod_spec(d)["volumes"] if v["name"] == mount["name"])
            assert vol["secret"]["secretName"] == "postline-admin-token", name(d)
            assert env["POSTLINE_AUTH_ADMIN_TOKEN_FILE"].endswith("/admin-token"), "the Secret's key is admin-token"


def test_no_pod_mounts_a_service_account_token(rendered):
    """Nothing in Postline talks to the Kubernetes API (issue 17)."""
    _, docs = rendered
    for w in workloads(docs):
        assert pod_spec(w).get("automountServiceAccountToken") is False, f"{name(w)} mounts a service-account token"


def test_queued_mounts_its_dkim_keys_where_the_docs_say():
    """queue.dkim_keys names files (domain:selector:/path/key.pem, common/config/schema.cpp); the
    Secret postline-dkim is mounted at the directory docs/operations.md tells operators to use, and
    optional so a deployment that does not sign yet still starts."""
    docs, _ = kubectl_render(K8S / "base")
    (queued,) = [d for d in service_deployments(docs) if component_of(d) == "queued"]
    spec = pod_spec(queued)
    (volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == "postline-dkim"]
    assert volume["secret"]["optional"] is True
    assert volume["secret"]["defaultMode"] & 0o007 == 0, "private keys must not be world-readable"
    (container,) = spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    ops = (DEPLOY.parent / "docs" / "operations.md").read_text()
    assert f"{mount['mountPath']}/" in ops and "postline-dkim" in ops, "docs/operations.md: where the DKIM keys go"
    schema = (DEPLOY.parent / "common" / "config" / "schema.cpp").read_text()
    assert '"queue", "dkim_keys"' in schema
    for other in service_deployments(docs):
        if other is not queued:
            assert all(v.get("secret", {}).get("secretName") != "postline-dkim" for v in pod_spec(other)["volumes"]), \
                f"{name(other)} has no use for the DKIM keys"
