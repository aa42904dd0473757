#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), then report what was found.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Uses `cargo +nightly fuzz` when a nightly toolchain is installed, else stable cargo-fuzz;
# always `--sanitizer none` (the engine forbids unsafe code, so ASan finds little beyond what
# debug assertions and overflow checks, which cargo-fuzz enables, already catch, and works on
# stable). Builds go to $CARGO_TARGET_DIR (default /tmp/target-fuzz), logs to fuzz/logs/.
#
# libFuzzer options: -timeout=10 (an input running 10 s is a hang: the targets' own deadline is
# 2 s), -rss_limit_mb=2048 (an OOM), -max_len=262144 (the document seeds' size cap).
# Extra libFuzzer options can be passed in FUZZ_ARGS, e.g. FUZZ_ARGS="-jobs=2 -workers=2".
#
# Exit status: 0 when no new crash, timeout or OOM artifact appeared, 1 otherwise.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
secs=${1:-60}
shift || true

if ! cargo fuzz --version > /dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install --locked cargo-fuzz" >&2
    exit 2
fi
toolchain=()
if rustup toolchain list 2> /dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
fi
target_dir=${CARGO_TARGET_DIR:-/tmp/target-fuzz}
fuzz=(cargo "${toolchain[@]}" fuzz)
build_flags=(--sanitizer none --target-dir "$target_dir")

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
for t in "${targets[@]}"; do
    if [ ! -d "corpus/$t" ] || [ -z "$(ls -A "corpus/$t" 2> /dev/null)" ]; then
        echo "corpus/$t is empty: run fuzz/seed.sh first for useful seeds" >&2
        mkdir -p "corpus/$t"
    fi
done

echo "building ${#targets[@]} targets with ${fuzz[*]} ${build_flags[*]}"
start=$(date +%s)
if ! "${fuzz[@]}" build "${build_flags[@]}"; then
    echo "build failed" >&2
    exit 2
fi
echo "build took $(($(date +%s) - start)) s"

mkdir -p logs artifacts
declare -a summary
new_findings=()
for t in "${targets[@]}"; do
    mkdir -p "artifacts/$t"
    before=$(ls "artifacts/$t" 2> /dev/null | sort)
    log="logs/$t.log"
    echo "== $t for ${secs}s (log: fuzz/$log)"
    # shellcheck disable=SC2086
    "${fuzz[@]}" run "${build_flags[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
        -print_final_stats=1 ${FUZZ_ARGS:-} > "$log" 2>&1
    status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<< "$last" | grep -o '[0-9]*')
    ft=$(grep -o 'ft: [0-9]*' <<< "$last" | grep -o '[0-9]*')
    corp=$(grep -o 'corp: [0-9]*' <<< "$last" | grep -o '[0-9]*')
    after=$(ls "artifacts/$t" 2> /dev/null | sort)
    found=$(comm -13 <(echo "$before") <(echo "$after") | grep -E '^(crash|oom|timeout|leak)-' || true)
    summary+=("$(printf '%-18s exit %-3s execs %-10s cov %-6s ft %-7s corpus %-6s findings %s' \
        "$t" "$status" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$(wc -w <<< "$found")")")
    for a in $found; do
        new_findings+=("$t/$a")
    done
    if [ "$status" -ne 0 ] && [ -z "$found" ]; then
        echo "   $t exited with $status without an artifact; see fuzz/$log" >&2
    fi
done

echo
echo "== summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"

if [ "${#new_findings[@]}" -eq 0 ]; then
    echo "no new crashes, timeouts or OOMs"
    exit 0
fi
echo
echo "== ${#new_findings[@]} new finding(s): each one is an engine bug until proven otherwise"
for f in "${new_findings[@]}"; do
    t=${f%%/*}
    a=fuzz/artifacts/$f
    cat << EOF
* $a ($(stat -c %s "artifacts/$f") bytes)
    reproduce: cd fuzz && ${fuzz[*]} run ${build_flags[*]} $t artifacts/$f
    minimize:  cd fuzz && ${fuzz[*]} tmin ${build_flags[*]} $t artifacts/$f
    as bytes:  cd fuzz && ${fuzz[*]} fmt ${build_flags[*]} $t artifacts/$f
  Then add it as a regression test before fixing: a document input goes into
  crates/ndf-extract/tests/hostile.rs (rebuilt by the test's PDF writer when it can be, else as a
  byte-string literal of the minimized input), a stream-level input as a unit test of its crate
  (ndf-filters, ndf-cmap, ndf-fontfile, ndf-pdf content), naming the target and the failure.
EOF
done
exit 1
