#!/usr/bin/env bash
# Validates every Kubernetes object the project ships or builds, offline, as an API server would:
# `ndf deploy render` of each example under deploy/kubernetes/examples (compared with its
# committed copy under deploy/kubernetes/rendered), the operator's install objects
# (deploy/kubernetes/operator), the CRD (`ndf deploy crd`, compared with its committed copy) and
# the NdfCluster examples.
#
#   bash deploy/kubernetes/check.sh
#
# Built-in kinds: kubernetes-validate's strict schemas for the oldest and the newest Kubernetes
# version ndf-operator supports; NdfCluster: the committed CRD's schema (jsonschema); KEDA and
# Prometheus-operator kinds: the npm models' validators plus strict schemas of our own
# (check_objects.py says why). Every validator is first shown planted bad objects and must reject
# them. checkov and trivy config cover the same files through `scripts/scan.sh iac` (deploy/).
#
# Tools: kubernetes-validate, jsonschema and PyYAML (pip, pinned) in a venv under
# target/scan-venvs (SCAN_VENVS); the npm models (pinned) under target/k8s-models (K8S_MODELS);
# both reused when present at the pinned versions. Needs python3, node and npm; the ndf binary is
# NDF_BIN, else `cargo build -p ndf-cli` builds target/debug/ndf. A missing tool or input fails.
# Exit status: 0 all valid; 1 otherwise.
set -euo pipefail

cd "$(dirname "$0")/../.."
here=deploy/kubernetes

venvs=$(realpath -m "${SCAN_VENVS:-target/scan-venvs}")
models=$(realpath -m "${K8S_MODELS:-target/k8s-models}")
python=${PYTHON:-python3}

# Pinned (scripts/lib/tools.sh: k8s_pip_pkgs, k8s_npm_pkgs; docs/deployment.md quotes them),
# and ensure / ensure_venv / npm_into.
. scripts/lib/tools.sh

fail() { echo "check-kubernetes: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*"; }

for tool in "$python" node npm; do
    command -v "$tool" > /dev/null || fail "$tool is not on PATH (node and npm: Debian nodejs, npm)"
done

# The oldest and newest Kubernetes versions ndf-operator supports: its MIN_/MAX_KUBERNETES_MINOR
# constants (one definition), unless NDF_K8S_VERSIONS lists others.
versions_from_source() {
    local m
    for m in MIN MAX; do
        sed -nE "s/^pub const ${m}_KUBERNETES_MINOR: u32 = ([0-9]+);.*/1.\\1.0/p" \
            crates/ndf-operator/src/lib.rs
    done
}
if [ -n "${NDF_K8S_VERSIONS:-}" ]; then
    mapfile -t versions < <(tr ', ' '\n\n' <<< "$NDF_K8S_VERSIONS" | grep .)
else
    mapfile -t versions < <(versions_from_source)
    [ "${#versions[@]}" -eq 2 ] \
        || fail "MIN_KUBERNETES_MINOR / MAX_KUBERNETES_MINOR not found in crates/ndf-operator/src/lib.rs"
fi
# Oldest and newest only (kubernetes-validate's schemas of the versions between are in order).
versions=("${versions[0]}" "${versions[-1]}")
versions_csv=$(printf '%s\n' "${versions[@]}" | sort -uV | paste -sd, -)

# ---------------------------------------------------------------- tools

venv=$venvs/kubernetes
log "tools"
ensure_venv "$venv" "${k8s_pip_pkgs[@]}"
ensure "$models" "${k8s_npm_pkgs[*]}" npm_into "$models" "${k8s_npm_pkgs[@]}"
echo "   kubernetes-validate $("$venv/bin/kubernetes-validate" --version), node $(node --version)"

ndf=${NDF_BIN:-}
if [ -z "$ndf" ]; then
    cargo build --quiet -p ndf-cli
    ndf=target/debug/ndf
fi
[ -x "$ndf" ] || fail "no ndf binary at $ndf"

# ---------------------------------------------------------------- inputs

crd=$here/crd/ndfclusters.ndf.dev.yaml
[ -f "$crd" ] || fail "no CRD at $crd"
mapfile -t examples < <(find "$here/examples" -name '*.yaml' 2> /dev/null | sort)
[ "${#examples[@]}" -ge 1 ] || fail "no NdfCluster example under $here/examples"
mapfile -t operator < <(find "$here/operator" -name '*.yaml' 2> /dev/null | sort)
[ "${#operator[@]}" -ge 1 ] || fail "no operator install objects under $here/operator"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# same_objects FRESH COMMITTED: the same objects, YAML-parsed (formatting aside).
same_objects() {
    "$venv/bin/python" - "$1" "$2" << 'EOF'
import sys, yaml
fresh, committed = ([d for d in yaml.safe_load_all(open(p)) if d is not None] for p in sys.argv[1:])
sys.exit(0 if fresh == committed else 1)
EOF
}

log "ndf deploy render of each example (and its committed copy under $here/rendered)"
rendered=()
for ex in "${examples[@]}"; do
    name=$(basename "$ex")
    "$ndf" deploy render "$ex" > "$work/$name" || fail "ndf deploy render $ex failed"
    rendered+=("$work/$name")
    committed=$here/rendered/$name
    [ -f "$committed" ] || fail "$ex has no committed rendering at $committed"
    # The committed copy is what GitOps users apply: it must be what ndf builds.
    same_objects "$work/$name" "$committed" \
        || fail "$committed differs from ndf deploy render $ex (re-render it)"
    echo "   $ex: committed copy up to date"
done
# (ndf-operator's tests hold the committed operator install objects to its build function.)
log "ndf deploy crd (and its committed copy)"
"$ndf" deploy crd > "$work/crd.yaml" || fail "ndf deploy crd failed"
same_objects "$work/crd.yaml" "$crd" || fail "$crd differs from ndf deploy crd"
echo "   $crd: up to date"

log "validate against Kubernetes ${versions_csv}"
"$venv/bin/python" "$here/check_objects.py" --crd "$crd" --versions "$versions_csv" \
    --models "$models" --examples "${examples[@]}" -- \
    "$work/crd.yaml" "${examples[@]}" "${operator[@]}" "${rendered[@]}"

log "all Kubernetes objects valid"
