#!/usr/bin/env bash
# The whole test suite. README's second command; .ci/run calls this script.
#
# Installs what it needs on a fresh Debian machine (poppler-utils for the pdftotext reference
# checks) and runs: formatting, clippy with warnings as errors, every workspace test (unit,
# property, hostile-input, corpus, snapshot, schema, CLI), and a build of the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_INCREMENTAL=0
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE=1

log() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

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
apt_install poppler-utils

# --- checks -------------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test"
cargo test --workspace --locked

log "fuzz targets build"
cargo build --manifest-path fuzz/Cargo.toml --locked --bins

log "all tests passed"
