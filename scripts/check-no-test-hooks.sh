#!/usr/bin/env bash
# The release `ndf` has no test hooks: the extraction workers' documents that hang, panic, abort
# or exhaust memory (ndf-pool's cargo feature `test-hooks`) and the service's deliberate task
# panics (ndf-server's `test-hooks`) exist only in builds that compile tests, because only
# dev-dependencies enable those features (resolver 3 unifies dev-dependency features only when
# tests, examples or benches are built).
#
# Builds the test `ndf` (`cargo test --no-run`: hooks compiled in) and the shipped `ndf` (`cargo
# build`, no dev-dependencies), then for each binary looks for the hooks' marker strings and runs
# its worker (`ndf __extract-child`) with NDF_POOL_TEST_HOOKS=1 on a document that starts with
# `%NDF-TEST-ABORT`:
#   - test build: both markers present, the worker aborts (the check can see hooks);
#   - shipped build: no marker, the worker extracts the document normally and exits 0.
# Features do not depend on the profile, so the shipped build is made with the dev profile by
# default (it reuses the test build's dependencies: a minute, where the fat-LTO release build
# takes 10-17 minutes on two cores); `--release` checks the release profile itself.
#
# Environment:
#   NDF_HOOKS_RELEASE_BIN  check this binary as the shipped one instead of building it
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac

# Strings that exist only when the hooks are compiled in (kept in sync with
# crates/ndf-pool/src/child.rs `hooks::MARKER` and crates/ndf-server/src/lib.rs `test_hooks`).
markers=("NDF-POOL-TEST-HOOKS-COMPILED-IN" "NDF_TEST_PANIC_TASK")

fail() { echo "check-no-test-hooks: $*" >&2; exit 1; }

profile=dev
[ "${1:-}" = "--release" ] && profile=release

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The workspace test build: right after `cargo test --workspace` (the test command) it is
# already built, where `-p ndf-cli` alone resolves features differently and rebuilds much of it.
cargo test --locked --workspace --no-run >/dev/null
[ -x "$target/debug/ndf" ] || fail "$target/debug/ndf not built"
# The shipped dev build lands on the same path: keep the test build aside.
cp "$target/debug/ndf" "$tmp/ndf-test-build"
hooked="$tmp/ndf-test-build"
if [ -n "${NDF_HOOKS_RELEASE_BIN:-}" ]; then
    release="$NDF_HOOKS_RELEASE_BIN"
elif [ "$profile" = release ]; then
    cargo build --release --locked -p ndf-cli --bin ndf
    release="$target/release/ndf"
else
    cargo build --locked -p ndf-cli --bin ndf
    release="$target/debug/ndf"
fi
[ -x "$release" ] || fail "$release not built"

# A one-page document whose text the probe looks for, behind the abort hook's marker.
text="release worker without hooks"
printf '%%NDF-TEST-ABORT\n%%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >> endobj
4 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj
5 0 obj << /Length 56 >> stream
BT /F1 24 Tf 72 700 Td (%s) Tj ET
endstream endobj
trailer << /Root 1 0 R >>
%%%%EOF
' "$text" > "$tmp/doc"
printf '%s' '{"format":"text","options":{"pages":null,"password":null,"annotations":true,"dehyphenate":true,"limits":{}}}' > "$tmp/request"

# One frame of the worker protocol: [kind: u8][len: u32 LE][payload].
frame() {
    local n
    n=$(stat -c %s "$2")
    printf '%s' "$1"
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
    cat "$2"
}
{ frame Q "$tmp/request"; frame D "$tmp/doc"; } > "$tmp/input"

# Run a worker on the probe; prints "<exit status> <1 if the text came back, else 0>".
probe() {
    local status=0
    NDF_POOL_TEST_HOOKS=1 timeout 60 "$1" __extract-child < "$tmp/input" > "$tmp/out" 2> "$tmp/err" || status=$?
    if grep -aqF "$text" "$tmp/out"; then echo "$status 1"; else echo "$status 0"; fi
}

# The test build: the check must see its hooks, or it proves nothing.
for m in "${markers[@]}"; do
    grep -aqF "$m" "$hooked" || fail "the test build $hooked lacks the marker $m: the check is out of date"
done
read -r status extracted < <(probe "$hooked")
[ "$status" != 0 ] && [ "$extracted" = 0 ] \
    || fail "the test build's worker did not abort on %NDF-TEST-ABORT (exit $status): the probe is out of date"

# The release build: no hook code, the document is extracted.
for m in "${markers[@]}"; do
    if grep -aqF "$m" "$release"; then
        fail "the release build $release contains the test-hook marker $m"
    fi
done
read -r status extracted < <(probe "$release")
[ "$status" = 0 ] && [ "$extracted" = 1 ] \
    || fail "the release worker misbehaved on a hook document (exit $status, text returned: $extracted): $(head -c 2000 "$tmp/err")"
echo "check-no-test-hooks: $release has no test hooks (the test build $hooked has them)"
