#!/usr/bin/env bash
# Offline check of the production deployment (deploy/Containerfile, deploy/k8s/): no cluster,
# no container engine, no kubectl or kustomize. Run by scripts/test.sh (and so by CI).
#
#   bash deploy/check.sh
#
# 1. deploy/check_manifests.py: the kustomization lists every manifest (k8s/admin/: one-off
#    Jobs applied by hand, checked the same way), the router ConfigMap is
#    router/router.config.yaml, every variable set is one the code reads, every Secret is
#    documented, each Deployment has its probes, limits, securityContext, Service, PDB and HPA,
#    and the Istio resources match their (small) schema;
# 2. yamllint --strict;
# 3. kubernetes-validate --strict against Kubernetes 1.31 (the oldest supported: preStop
#    `sleep`, unhealthyPodEvictionPolicy) and 1.37 (the newest bundled); a kind without a
#    schema fails, except the Istio kinds (checked in 1) and the Kustomization itself;
# 4. checkov on the manifests and on the Containerfile; findings that do not apply are skipped
#    in the files themselves with their reason (checkov.io/skipN annotations,
#    `# checkov:skip=` in the Containerfile).
#
# The tools are installed from PyPI into their own venv (checkov pins many libraries, so not
# the venv of deploy/local/services.sh): ERP_CACHE (default ~/.cache/erp-os)/deploy-venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ERP_CACHE="${ERP_CACHE:-$HOME/.cache/erp-os}"
VENV="$ERP_CACHE/deploy-venv"
# Versions that install on Python 3.11 (tried on Debian 12).
KUBERNETES_VALIDATE_VERSION=1.37.0
YAMLLINT_VERSION=1.38.0
CHECKOV_VERSION=3.3.30
K8S_VERSIONS=(1.31.0 1.37.0)

log() { printf '[deploy/check] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

installed() { # NAME VERSION
  "$VENV/bin/python" - "$1" "$2" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
PY
}

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  mkdir -p "$ERP_CACHE"
  python3 -m venv "$VENV"
fi
want=()
installed kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" || want+=("kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")
installed yamllint "$YAMLLINT_VERSION" || want+=("yamllint==$YAMLLINT_VERSION")
installed checkov "$CHECKOV_VERSION" || want+=("checkov==$CHECKOV_VERSION")
if (( ${#want[@]} )); then
  log "pip: installing ${want[*]}"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${want[@]}" >&2
fi

log "manifests: deploy/check_manifests.py"
"$VENV/bin/python" deploy/check_manifests.py

log "yamllint --strict"
"$VENV/bin/yamllint" --strict -c deploy/yamllint.yaml deploy/k8s deploy/yamllint.yaml

for version in "${K8S_VERSIONS[@]}"; do
  log "kubernetes-validate --strict (Kubernetes $version)"
  out="$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" deploy/k8s/*.yaml deploy/k8s/admin/*.yaml 2>&1)" \
    || { printf '%s\n' "$out" >&2; die "kubernetes-validate (Kubernetes $version)"; }
  # Only these kinds may lack a schema; a typo in an apiVersion or kind must not pass.
  unexpected="$(printf '%s\n' "$out" | grep -v -E \
    "Couldn't find schema for kind (PeerAuthentication|AuthorizationPolicy) with api version security\.istio\.io/v1 |Couldn't find schema for kind Kustomization with api version kustomize\.config\.k8s\.io/v1beta1 " \
    | grep -v '^$' || true)"
  if [[ -n "$unexpected" ]]; then
    printf '%s\n' "$unexpected" >&2
    die "kubernetes-validate (Kubernetes $version): unexpected output"
  fi
done

log "checkov: deploy/k8s (kubernetes)"
"$VENV/bin/checkov" -d deploy/k8s --framework kubernetes --skip-download --compact --quiet \
  || die "checkov found problems in deploy/k8s"

# checkov recognises Dockerfiles by name only.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp deploy/Containerfile "$scratch/Dockerfile"
log "checkov: deploy/Containerfile (dockerfile)"
"$VENV/bin/checkov" -f "$scratch/Dockerfile" --framework dockerfile --skip-download --compact --quiet \
  || die "checkov found problems in deploy/Containerfile"

log "ok"
