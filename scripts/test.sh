#!/usr/bin/env bash
# The whole test suite. README's second command; .ci/run calls this script.
#
# Installs what it needs on a fresh Debian machine (poppler-utils and poppler-data, for CJK, for the pdftotext reference
# checks; Prometheus, Alertmanager and chromium for the observability tests; PostgreSQL and
# seaweedfs through scripts/services.sh; podman and runc for the image) and runs: formatting,
# clippy with warnings as errors, the Prometheus rules / Alertmanager / dashboard checks, every
# workspace test (unit, property, hostile-input, corpus, snapshot, schema, CLI, service,
# operator), the container image built from the release binary and run for real, every
# Kubernetes object the operator builds validated offline, the Helm chart, the Terraform module
# and the CI/CD workflows checked with their real tools, a build of the fuzz targets, the
# scans and cargo-deny.
#
# Every test runs or fails: the inputs from outside the repository (the dev corpus
# ../shared/corpus/dev, or NDF_CORPUS_DIR, and the RustSec snapshot ../shared/advisory-db) are
# checked first, and NDF_REQUIRE_INPUTS=1 / NDF_REQUIRE_SERVICES=1 turn a test's missing
# corpus, tool or service into a failure instead of a skip (ndf_testkit::corpus).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_INCREMENTAL=0
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE=1

log() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }
die() { printf '\ntest.sh: FAILED: %s\n' "$*" >&2; exit 1; }

# --- inputs from ../shared ------------------------------------------------------------------
corpus="${NDF_CORPUS_DIR:-../shared/corpus/dev}"
advisories=../shared/advisory-db
[ -d "$corpus" ] || die "no dev corpus at $corpus (../shared beside the repository, or set NDF_CORPUS_DIR): the corpus, snapshot, schema and layout tests and the perf gate need it"
compgen -G "$corpus/*.pdf" >/dev/null || die "the dev corpus folder $corpus holds no PDF"
[ -f "$corpus/manifest.csv" ] || die "no manifest.csv in the dev corpus $corpus"
[ -d "$advisories" ] || die "no RustSec advisory snapshot at $advisories: cargo deny cannot check advisories without it"
compgen -G "$advisories/crates/*" >/dev/null || die "the advisory snapshot $advisories holds no advisories (crates/)"
# Absolute: test binaries run in their crate's folder.
NDF_CORPUS_DIR=$(cd "$corpus" && pwd)
export NDF_CORPUS_DIR
export NDF_REQUIRE_INPUTS=1
# Update modes would make the snapshot and schema tests rewrite their expectations and pass.
export INSTA_UPDATE=no
unset INSTA_FORCE_PASS NDF_UPDATE_SCHEMA

# --- system packages ----------------------------------------------------------------------
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    log "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
apt_install poppler-utils poppler-data prometheus prometheus-alertmanager chromium fonts-dejavu-core openssl valgrind \
    podman runc binutils curl jq
# node and npm (the Kubernetes check reads the KEDA and prometheus-operator models from npm):
# the machine's own when present, else Debian's.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm

# --- checks -------------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "alerting rules, Alertmanager and dashboard (promtool, amtool)"
bash scripts/check-deploy.sh

# Real PostgreSQL and an S3-compatible server (seaweedfs, which checks signatures) on
# loopback for the scale-out backend; torn down on exit whatever happens.
log "starting PostgreSQL and S3 on loopback"
scripts/services.sh start
trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
. target/services/env
export NDF_REQUIRE_SERVICES=1

log "cargo test"
cargo test --workspace --locked

# The container image from the release binary (deploy/image/build.sh), run for real with
# podman + runc: configuration, file list, same image id on rebuild, SBOM, refusal without keys,
# extraction, a job, uid 10001, `podman stop` during jobs (deploy/image/test.sh).
log "container image: build and run (podman, runc)"
bash deploy/image/test.sh

# The shipped (release) binary the image holds has none of the test hooks (documents that hang,
# abort or exhaust a worker; deliberate task panics): only test builds compile them.
log "no test hooks in the shipped ndf"
bash scripts/check-no-test-hooks.sh --release

# Every Kubernetes object ndf-operator builds (examples, operator install, CRD) validated
# offline: kubernetes-validate --strict at the oldest and newest supported versions, custom
# resources against their schemas (deploy/kubernetes/check.sh).
log "Kubernetes objects: kubernetes-validate, CRD schemas"
NDF_BIN=target/release/ndf bash deploy/kubernetes/check.sh

# The Helm chart (deploy/helm/check.sh): CRD and values-schema drift, every CEL rule mirrored,
# every profile rendered with Helm's own library (helm-python-sdk) and linted strictly at the
# oldest and newest supported Kubernetes, golden snapshots, the values logic (bad values
# refused), kubernetes-validate --strict, checkov and trivy over the rendered output, and the
# `helm test` Pod's command run against a real `ndf serve`.
log "Helm chart: render, lint, validate, scan every profile"
NDF_BIN=target/release/ndf bash deploy/helm/check.sh

# The Terraform module and example (deploy/terraform/check.sh): Terraform 1.0.3 fmt -check,
# validate and `terraform test` of the provider-free configurations, refusals of bad inputs,
# the project's HCL rules (python-hcl2), checkov, trivy, and the module's values rendered by
# the chart.
log "Terraform: fmt, validate, test, lint, scans"
bash deploy/terraform/check.sh

# The GitHub Actions workflows (scripts/check-workflows.sh): actionlint, zizmor, shellcheck over
# every run: script, actions pinned by commit, the rollout script against a fake kubectl.
log "CI/CD workflows: actionlint, zizmor, shellcheck"
bash scripts/check-workflows.sh

# Instructions counted by callgrind on a fixed document set against perf/baseline.tsv: fails
# on a total regression over 5%, and on a missing corpus or a baseline of another compiler
# (docs/performance/gate.md).
log "instruction-count gate"
bash scripts/perf-gate.sh

# The fuzz targets are built; where the fuzzing toolchain is here (a nightly toolchain and
# cargo-fuzz; `--sanitizer none` works on stable too) they are built by cargo-fuzz instead and
# each runs for 5 s. The long runs: fuzz/run.sh.
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && command -v cargo-fuzz >/dev/null 2>&1; then
    log "fuzz targets build and smoke run (5 s per target)"
    cargo fuzz build --sanitizer none
    for target in $(cargo fuzz list); do
        cargo fuzz run --sanitizer none "$target" -- -max_total_time=5 -rss_limit_mb=2048 \
            > "target/fuzz-smoke-$target.log" 2>&1 \
            || { tail -40 "target/fuzz-smoke-$target.log"; echo "smoke fuzz of $target failed"; exit 1; }
        echo "   $target: $(grep -E '^#[0-9]+' "target/fuzz-smoke-$target.log" | tail -1 | cut -c1-90)"
    done
else
    log "fuzz targets build (no nightly toolchain or cargo-fuzz here: no smoke run)"
    cargo build --manifest-path fuzz/Cargo.toml --locked --bins
fi

log "scans: gitleaks, semgrep rules, checkov and trivy over deploy/"
bash scripts/scan.sh

# --- supply chain: licences, bans, sources, advisories (offline, RustSec snapshot) ----------
log "cargo deny"
command -v cargo-deny >/dev/null 2>&1 || cargo install --locked cargo-deny
cargo fetch --locked
db=target/advisory-db/advisory-db-3157b0e258782691   # the directory name cargo-deny derives from deny.toml's db-urls
if [ ! -d "$db/.git" ]; then
    rm -rf "$db" && mkdir -p "$(dirname "$db")" && cp -r "$advisories" "$db"
    # cargo-deny reads the snapshot's date from git: make the plain copy a repository.
    git -C "$db" init -q && git -C "$db" add -A
    git -C "$db" -c user.name=ci -c user.email=ci@localhost commit -qm "RustSec snapshot"
fi
cargo deny --offline check

log "all tests passed"
