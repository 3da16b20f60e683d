#!/usr/bin/env python3
"""What schema validation and checkov do not know about deploy/k8s (run by deploy/check.sh).

    python deploy/check_manifests.py                        # check, exit 1 on any problem
    python deploy/check_manifests.py --write-router-config  # regenerate k8s/router-config.yaml

Checks:
- kustomization.yaml lists exactly the manifest files of deploy/k8s;
- the router-config ConfigMap holds router/router.config.yaml byte for byte;
- every environment variable a Deployment sets (env, and the keys of the ConfigMaps it takes
  with envFrom) is one the code of that service reads: a quoted literal in its Rust sources, a
  `from_env:` of router/router.config.yaml, or (router) a hive-router built-in documented in
  router/README.md; PENDING lists the ones being added right now (a warning, not a failure);
- every ConfigMap a pod uses is in the manifests, every Secret is described in
  docs/operations/deploy.md;
- the administrative Jobs of k8s/admin/ (not in the kustomization) likewise, for the binary
  they run (erp-identity, erp-employee);
- each Deployment has what docs/operations/deploy.md promises (non-root, read-only root
  filesystem, no privilege escalation, ALL capabilities dropped, RuntimeDefault seccomp,
  probes on /health and /ready or /readiness, requests and limits, a zone spread, a grace
  period) and its Service, PodDisruptionBudget and HorizontalPodAutoscaler;
- the Istio resources (no schema in kubernetes-validate) against a small schema of the fields
  used here.
Needs PyYAML and jsonschema (both come with kubernetes-validate).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
ROUTER_CONFIG = ROOT / "router" / "router.config.yaml"
ROUTER_CONFIGMAP = K8S / "router-config.yaml"
DEPLOY_DOC = ROOT / "docs" / "operations" / "deploy.md"

# Variables set in the manifests that the code does not read YET, with why they are set.
PENDING: dict[str, str] = {}

SUBGRAPHS = ("identity", "employee", "pmo", "finance", "crm", "ops", "marketing", "analytics")
ROUTER = "router"

problems: list[str] = []
warnings: list[str] = []


def problem(message: str) -> None:
    problems.append(message)


def load_all(directory: Path) -> dict[str, list[dict]]:
    docs = {}
    for path in sorted(directory.glob("*.yaml")):
        name = str(path.relative_to(K8S))
        docs[name] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def router_configmap_text() -> str:
    body = ROUTER_CONFIG.read_text()
    indented = "".join(("    " + line) if line.strip() else line for line in body.splitlines(True))
    return (
        "# GENERATED from router/router.config.yaml by\n"
        "#   python3 deploy/check_manifests.py --write-router-config\n"
        "# (deploy/check.sh fails when the two differ). Mounted at ROUTER_CONFIG_FILE_PATH\n"
        "# (router-env); every deployment-specific value in it is a `from_env` variable.\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: router-config\n"
        "  namespace: erp-os\n"
        "  labels:\n"
        "    app.kubernetes.io/name: router\n"
        "    app.kubernetes.io/part-of: erp-os\n"
        "data:\n"
        "  router.config.yaml: |\n" + indented
    )


def env_names_read(role: str) -> set[str]:
    """Names the code of `role` (a subgraph: the kit and its crate; or the router) reads."""
    literal = re.compile(r'"([A-Z][A-Z0-9_]{2,})"')
    if role == ROUTER:
        # `erp-os router` is erp_router::run (router/src) called from src/main.rs.
        files = list((ROOT / "router" / "src").rglob("*.rs")) + [ROOT / "src" / "main.rs"]
    else:
        files = (
            list((ROOT / "subgraphs" / "kit" / "src").rglob("*.rs"))
            + list((ROOT / "subgraphs" / role / "src").rglob("*.rs"))
            + [ROOT / "src" / "services.rs"]
        )
    names = set()
    for f in files:
        names.update(literal.findall(f.read_text()))
    if role == ROUTER:
        names.update(re.findall(r"from_env:\s*([A-Z][A-Z0-9_]+)", ROUTER_CONFIG.read_text()))
        readme = (ROOT / "router" / "README.md").read_text()
        builtins = re.search(r"\*\*Built-in variables\*\*:(.*?)\n\d\.", readme, re.S)
        if builtins:
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", builtins.group(1)))
        else:
            problem("router/README.md: the 'Built-in variables' list was not found")
    return names


def check_kustomization(docs: dict[str, list[dict]]) -> None:
    kustomization = docs.pop("kustomization.yaml", [None])[0]
    if not kustomization:
        problem("deploy/k8s/kustomization.yaml is missing")
        return
    listed = kustomization.get("resources", [])
    if len(listed) != len(set(listed)):
        problem("kustomization.yaml lists a file twice")
    missing = sorted(set(docs) - set(listed))
    extra = sorted(set(listed) - set(docs))
    if missing:
        problem(f"kustomization.yaml does not list {missing}")
    if extra:
        problem(f"kustomization.yaml lists files that do not exist: {extra}")


def check_router_config() -> None:
    if not ROUTER_CONFIGMAP.exists() or ROUTER_CONFIGMAP.read_text() != router_configmap_text():
        problem(
            "deploy/k8s/router-config.yaml differs from router/router.config.yaml: run "
            "python3 deploy/check_manifests.py --write-router-config"
        )
        return
    data = yaml.safe_load(ROUTER_CONFIGMAP.read_text())["data"]["router.config.yaml"]
    if data != ROUTER_CONFIG.read_text():
        problem("router-config ConfigMap does not parse back to router/router.config.yaml")


def by_kind(docs: dict[str, list[dict]]) -> dict[tuple[str, str], dict]:
    index = {}
    for file, items in docs.items():
        for d in items:
            key = (d.get("kind"), d.get("metadata", {}).get("name"))
            if key in index:
                problem(f"{file}: {key[0]} {key[1]} is defined twice")
            index[key] = d
            if d.get("kind") != "Namespace" and d.get("metadata", {}).get("namespace") != "erp-os":
                problem(f"{file}: {key[0]} {key[1]} is not in the namespace erp-os")
    return index


def check_pod(where: str, pod: dict, role: str, index: dict, secrets_doc: str) -> None:
    """What every pod of ERP OS needs, and an environment its code reads."""
    if pod.get("automountServiceAccountToken") is not False:
        problem(f"{where}: mounts a service account token")
    if ("ServiceAccount", pod.get("serviceAccountName")) not in index:
        problem(f"{where}: its ServiceAccount {pod.get('serviceAccountName')} is not in the manifests")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(f"{where}: pod securityContext needs runAsNonRoot and seccomp RuntimeDefault")
    containers = pod["containers"]
    if len(containers) != 1 or pod.get("initContainers"):
        problem(f"{where}: expected one container")
    c = containers[0]
    sc = c.get("securityContext", {})
    for key, want in (
        ("runAsNonRoot", True),
        ("readOnlyRootFilesystem", True),
        ("allowPrivilegeEscalation", False),
        ("privileged", False),
    ):
        if sc.get(key) is not want:
            problem(f"{where}: container securityContext.{key} must be {want}")
    if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
        problem(f"{where}: capabilities must drop ALL and add none")
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(res.get(part, {})):
            problem(f"{where}: resources.{part} needs cpu and memory")

    # Environment: names the code reads, ConfigMaps that exist, Secrets that are documented.
    read = env_names_read(role)
    names: list[str] = []
    for e in c.get("env", []):
        names.append(e["name"])
        ref = e.get("valueFrom", {})
        if "secretKeyRef" in ref:
            secret = ref["secretKeyRef"]["name"]
            if f"`{secret}`" not in secrets_doc:
                problem(f"{where}: Secret {secret} is not described in docs/operations/deploy.md")
            if ref["secretKeyRef"]["key"] != e["name"]:
                problem(f"{where}: Secret key {ref['secretKeyRef']['key']} should be named {e['name']}")
        if "configMapKeyRef" in ref and ("ConfigMap", ref["configMapKeyRef"]["name"]) not in index:
            problem(f"{where}: ConfigMap {ref['configMapKeyRef']['name']} does not exist")
    for source in c.get("envFrom", []):
        if "secretRef" in source:
            problem(f"{where}: envFrom a Secret hides the variable names; use env + secretKeyRef")
        cm = source.get("configMapRef", {}).get("name")
        if cm:
            if ("ConfigMap", cm) not in index:
                problem(f"{where}: ConfigMap {cm} does not exist")
            else:
                names.extend(index[("ConfigMap", cm)].get("data", {}))
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problem(f"{where}: {dup} is set twice")
    for n in sorted(set(names)):
        if n in read:
            continue
        if n in PENDING:
            warnings.append(f"{where}: {n} is not read by the code yet ({PENDING[n]})")
        else:
            problem(f"{where}: sets {n}, which the code of {role} does not read")
    for v in pod.get("volumes", []):
        if "configMap" in v and ("ConfigMap", v["configMap"]["name"]) not in index:
            problem(f"{where}: volume ConfigMap {v['configMap']['name']} does not exist")
        if "secret" in v and f"`{v['secret']['secretName']}`" not in secrets_doc:
            problem(f"{where}: Secret {v['secret']['secretName']} is not described in docs/operations/deploy.md")


def check_deployment(name: str, deploy: dict, index: dict, secrets_doc: str) -> None:
    where = f"Deployment {name}"
    spec = deploy["spec"]
    pod = spec["template"]["spec"]
    check_pod(where, pod, name, index, secrets_doc)
    if "replicas" in spec:
        problem(f"{where}: has `replicas` (the HPA owns it)")
    if pod.get("serviceAccountName") != name:
        problem(f"{where}: needs its own ServiceAccount {name}")
    if not 30 <= pod.get("terminationGracePeriodSeconds", 0) <= 120:
        problem(f"{where}: terminationGracePeriodSeconds should be set (30..120 s)")
    zones = [
        t
        for t in pod.get("topologySpreadConstraints", [])
        if t.get("topologyKey") == "topology.kubernetes.io/zone"
    ]
    if not zones:
        problem(f"{where}: no topology spread across zones")
    c = pod["containers"][0]
    if c.get("command", [None])[-1] != name or not c.get("command", [""])[0].endswith("/erp-os"):
        problem(f"{where}: the command must be `erp-os {name}`")
    ready_path = "/readiness" if name == ROUTER else "/ready"
    for probe, path in (("readinessProbe", ready_path), ("livenessProbe", "/health")):
        got = c.get(probe, {}).get("httpGet", {}).get("path")
        if got != path:
            problem(f"{where}: {probe} should GET {path}, not {got}")
        if name == ROUTER and c.get(probe, {}).get("httpGet", {}).get("scheme") != "HTTPS":
            problem(f"{where}: {probe} must use HTTPS (the listener is TLS only)")
    for kind in ("Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
        if (kind, name) not in index:
            problem(f"{where}: no {kind} {name}")
    hpa = index.get(("HorizontalPodAutoscaler", name))
    if hpa and hpa["spec"]["scaleTargetRef"]["name"] != name:
        problem(f"HorizontalPodAutoscaler {name} scales something else")


ADMIN_BINARIES = {"erp-identity": "identity", "erp-employee": "employee"}


def check_job(name: str, job: dict, index: dict, secrets_doc: str) -> None:
    where = f"Job {name}"
    pod = job["spec"]["template"]["spec"]
    binary = pod["containers"][0].get("command", [""])[0].rsplit("/", 1)[-1]
    role = ADMIN_BINARIES.get(binary)
    if role is None:
        problem(f"{where}: runs {binary}, not one of {sorted(ADMIN_BINARIES)}")
        return
    check_pod(where, pod, role, index, secrets_doc)
    if pod.get("restartPolicy") != "Never" or job["spec"].get("backoffLimit") != 0:
        problem(f"{where}: an administrative Job runs once (restartPolicy Never, backoffLimit 0)")


ISTIO_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["matchLabels"],
    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
}
MTLS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"mode": {"enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}},
}
STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}},
}
ISTIO_SCHEMAS = {
    "PeerAuthentication": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "selector": ISTIO_SELECTOR,
            "mtls": MTLS,
            "portLevelMtls": {
                "type": "object",
                "propertyNames": {"pattern": "^[1-9][0-9]{0,4}$"},
                "additionalProperties": MTLS,
            },
        },
    },
    "AuthorizationPolicy": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "selector": ISTIO_SELECTOR,
            "action": {"enum": ["ALLOW", "DENY", "AUDIT", "CUSTOM"]},
            "rules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "from": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "source": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "principals": STRINGS,
                                            "namespaces": STRINGS,
                                            "ipBlocks": STRINGS,
                                        },
                                    }
                                },
                            },
                        },
                        "to": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "operation": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "methods": STRINGS,
                                            "paths": STRINGS,
                                            "ports": STRINGS,
                                        },
                                    }
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_istio(docs: dict[str, list[dict]], index: dict) -> None:
    service_accounts = {n for (k, n) in index if k == "ServiceAccount"}
    labels = {
        d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name")
        for (k, _), d in index.items()
        if k == "Deployment"
    }
    strict = False
    for file, items in docs.items():
        for d in items:
            if not str(d.get("apiVersion", "")).startswith("security.istio.io/"):
                continue
            kind, name = d["kind"], d["metadata"]["name"]
            where = f"{file}: {kind} {name}"
            if d["apiVersion"] != "security.istio.io/v1" or kind not in ISTIO_SCHEMAS:
                problem(f"{where}: unexpected apiVersion/kind")
                continue
            try:
                jsonschema.validate(d["metadata"], METADATA)
                jsonschema.validate(d.get("spec", {}), ISTIO_SCHEMAS[kind])
            except jsonschema.ValidationError as err:
                problem(f"{where}: {err.message} at {list(err.absolute_path)}")
                continue
            selected = d["spec"].get("selector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            if "selector" in d["spec"] and selected not in labels:
                problem(f"{where}: selects no Deployment")
            if kind == "PeerAuthentication" and "selector" not in d["spec"]:
                strict = d["spec"].get("mtls", {}).get("mode") == "STRICT"
            for rule in d["spec"].get("rules", []):
                for f in rule.get("from", []):
                    for p in f.get("source", {}).get("principals", []):
                        sa = p.rsplit("/sa/", 1)[-1]
                        if not p.startswith("cluster.local/ns/erp-os/sa/") or sa not in service_accounts:
                            problem(f"{where}: principal {p} is not a ServiceAccount of erp-os")
    if not strict:
        problem("istio.yaml: no namespace-wide PeerAuthentication with mtls STRICT")


def main() -> int:
    if sys.argv[1:] == ["--write-router-config"]:
        ROUTER_CONFIGMAP.write_text(router_configmap_text())
        print(f"wrote {ROUTER_CONFIGMAP.relative_to(ROOT)}")
        return 0
    if sys.argv[1:]:
        print(__doc__)
        return 2
    docs = load_all(K8S)
    check_kustomization(docs)
    check_router_config()
    admin = load_all(K8S / "admin")
    if not admin:
        problem("deploy/k8s/admin/ has no manifests")
    index = by_kind({**docs, **admin})
    secrets_doc = DEPLOY_DOC.read_text() if DEPLOY_DOC.exists() else ""
    if not secrets_doc:
        problem("docs/operations/deploy.md is missing")
    deployments = sorted(n for (k, n) in index if k == "Deployment")
    if deployments != sorted(SUBGRAPHS + (ROUTER,)):
        problem(f"expected Deployments {sorted(SUBGRAPHS + (ROUTER,))}, found {deployments}")
    for name in deployments:
        check_deployment(name, index[("Deployment", name)], index, secrets_doc)
    for name in sorted(n for (k, n) in index if k == "Job"):
        check_job(name, index[("Job", name)], index, secrets_doc)
    check_istio(docs, index)
    for w in warnings:
        print(f"check_manifests: WARNING {w}")
    for p in problems:
        print(f"check_manifests: FAIL {p}")
    count = sum(len(v) for v in docs.values()) + sum(len(v) for v in admin.values())
    print(f"check_manifests: {count} resources, {len(problems)} problems, {len(warnings)} warnings")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
