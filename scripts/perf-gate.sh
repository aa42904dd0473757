#!/usr/bin/env bash
# Instruction-count performance gate (issue 6). Usage:
#
#   scripts/perf-gate.sh            compare against perf/baseline.tsv; exit 1 on a regression
#   scripts/perf-gate.sh --update   measure and rewrite perf/baseline.tsv
#
# Builds `ndf-corpus-bench` (crates/ndf-bench) in release mode and runs it under
# `valgrind --tool=callgrind`, one process per document named in perf/gate-documents.txt (files
# of ../shared/corpus/dev). Callgrind counts instructions (Ir) only inside
# `gate_extract_document` (open, fonts, interpretation, layout and text rendering of one
# document), so start-up, file reading and printing are not counted. Instruction counts do not
# depend on the machine's load, unlike times: two runs differ by a few hundred instructions per
# document (hash seeds), against 45 million to 1.7 billion per document.
#
# Fails (exit 1) when the total exceeds the baseline's by more than NDF_PERF_GATE_THRESHOLD
# percent (default 5); documents beyond the threshold are marked but do not fail on their own.
# Improvements beyond the threshold are reported, not failed: update the baseline then. Counts
# depend on the compiler: the baseline records the rustc release and LLVM version it was
# measured with, and the gate refuses (exit 1) to compare counts of another compiler; after
# checking a toolchain change, --update. It also fails without the corpus folder or valgrind:
# it never passes without measuring.
#
# Environment: NDF_PERF_GATE_THRESHOLD (percent, default 5), NDF_PERF_GATE_JOBS (valgrind
# processes at a time, default 2), NDF_CORPUS_DIR (default ../shared/corpus/dev),
# NDF_PERF_GATE_BASELINE (default perf/baseline.tsv), CARGO_TARGET_DIR (default target),
# RUSTC (default rustc, as for cargo). Profiles stay in <target>/perf-gate/callgrind.out.N
# (N = the document's place in the set) for `callgrind_annotate`.
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
case "${1:-}" in
    "") ;;
    --update) update=1 ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: scripts/perf-gate.sh [--update]" >&2; exit 2 ;;
esac

threshold="${NDF_PERF_GATE_THRESHOLD:-5}"
jobs="${NDF_PERF_GATE_JOBS:-2}"
corpus="${NDF_CORPUS_DIR:-../shared/corpus/dev}"
set_file=perf/gate-documents.txt
baseline="${NDF_PERF_GATE_BASELINE:-perf/baseline.tsv}"
target="${CARGO_TARGET_DIR:-target}"
out="$target/perf-gate"
fn=ndf_corpus_bench::gate_extract_document

if ! [[ "$threshold" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    echo "perf gate: NDF_PERF_GATE_THRESHOLD must be a number of percent, not '$threshold'" >&2
    exit 2
fi
if ! [[ "$jobs" =~ ^[1-9][0-9]*$ ]]; then
    echo "perf gate: NDF_PERF_GATE_JOBS must be a positive number, not '$jobs'" >&2
    exit 2
fi
# The compiler the counts come from: release line and LLVM version of `rustc -vV`.
rustc_bin="${RUSTC:-rustc}"
rustc_vv=$("$rustc_bin" -vV) || { echo "perf gate: FAILED, '$rustc_bin -vV' did not run" >&2; exit 1; }
now_rustc=$("$rustc_bin" -V)
now_llvm=$(sed -n 's/^LLVM version: //p' <<< "$rustc_vv")
if [ "$update" -eq 0 ]; then
    if [ ! -f "$baseline" ]; then
        echo "perf gate: FAILED, no baseline at $baseline: create it with scripts/perf-gate.sh --update" >&2
        exit 1
    fi
    base_rustc=$(sed -n 's/^# rustc: //p' "$baseline")
    base_llvm=$(sed -n 's/^# llvm: //p' "$baseline")
    if [ "$base_rustc" != "$now_rustc" ] || [ "$base_llvm" != "$now_llvm" ]; then
        echo "perf gate: FAILED, the baseline was measured with '${base_rustc:-an unrecorded rustc}' (LLVM ${base_llvm:-unrecorded})," >&2
        echo "           this is '$now_rustc' (LLVM $now_llvm): instruction counts of two compilers do not compare." >&2
        echo "           Check the change is intended, then rerun with scripts/perf-gate.sh --update." >&2
        exit 1
    fi
fi
if [ ! -d "$corpus" ]; then
    echo "perf gate: FAILED, no corpus folder at $corpus (set NDF_CORPUS_DIR): nothing was measured" >&2
    exit 1
fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "perf gate: valgrind is not installed (apt-get install valgrind)" >&2
    exit 1
fi

# The document set: one file name per line; blank lines and # comments ignored.
mapfile -t docs < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$set_file")
if [ ${#docs[@]} -eq 0 ]; then
    echo "perf gate: $set_file names no documents" >&2
    exit 1
fi
mkdir -p "$out"
rm -f "$out"/callgrind.out* "$out"/*.log "$out/measured.tsv"
for d in "${docs[@]}"; do
    if [ ! -f "$corpus/$d" ]; then
        echo "perf gate: $d (from $set_file) is not in $corpus" >&2
        exit 1
    fi
done

cargo build --release --locked -p ndf-bench
bench="$target/release/ndf-corpus-bench"

echo "perf gate: callgrind over ${#docs[@]} documents, $jobs at a time ($(valgrind --version))"
started=$(date +%s)
# One process per document, so a document's count does not depend on what ran before it in the
# same process (allocator state, lazily built tables). A fixed, minimal environment: the
# environment's size shifts the initial stack, which can move a few instructions.
measure_one() { # <index> <pdf>
    env -i PATH="$PATH" LC_ALL=C valgrind --tool=callgrind --toggle-collect="$GATE_FN" \
        --callgrind-out-file="$GATE_OUT/callgrind.out.$1" \
        "$GATE_BENCH" --no-deadline "$2" > "$GATE_OUT/bench.$1.log" 2> "$GATE_OUT/valgrind.$1.log" \
        || { echo "perf gate: the bench failed under valgrind on $2 (see $GATE_OUT/valgrind.$1.log)" >&2; return 1; }
}
export -f measure_one
export GATE_FN="$fn" GATE_OUT="$out" GATE_BENCH="$bench"
for i in "${!docs[@]}"; do
    printf '%s\0%s\0' "$((i + 1))" "$corpus/${docs[$i]}"
done | xargs -0 -n 2 -P "$jobs" bash -c 'measure_one "$@"' _ || exit 1
echo "perf gate: measured in $(($(date +%s) - started)) s"

# One profile per document, numbered in order of the set.
measured="$out/measured.tsv"
: > "$measured"
for i in "${!docs[@]}"; do
    f="$out/callgrind.out.$((i + 1))"
    ir=$(sed -n 's/^summary: *//p' "$f" 2>/dev/null || true)
    if [ -z "$ir" ]; then
        echo "perf gate: no profile $f for ${docs[$i]}" >&2
        exit 1
    fi
    if [ "$ir" -eq 0 ]; then
        echo "perf gate: no instruction counted in $fn for ${docs[$i]} (inlined or renamed?)" >&2
        exit 1
    fi
    printf '%s\t%s\n' "${docs[$i]}" "$ir" >> "$measured"
done
total=$(awk -F'\t' '{ s += $2 } END { printf "%.0f", s }' "$measured")

if [ "$update" -eq 1 ]; then
    {
        echo "# Instruction-count baseline of scripts/perf-gate.sh (Ir inside gate_extract_document, per document)."
        echo "# Rewrite with: scripts/perf-gate.sh --update"
        echo "# rustc: $now_rustc"
        echo "# llvm: $now_llvm"
        echo "# valgrind: $(valgrind --version)"
        echo "# measured: $(date -u +%Y-%m-%d)"
        printf 'document\tIr\n'
        cat "$measured"
        printf 'TOTAL\t%s\n' "$total"
    } > "$baseline"
    awk -F'\t' '{ printf "%-52s %15.0f\n", $1, $2 }' "$measured"
    printf '%-52s %15s\n' TOTAL "$total"
    echo "perf gate: baseline written to $baseline"
    exit 0
fi

if ! diff -q <(grep -v '^#' "$baseline" | sed 1d | grep -v '^TOTAL' | cut -f1) <(cut -f1 "$measured") >/dev/null; then
    echo "perf gate: $baseline is for a different document set than $set_file:" >&2
    echo "           run scripts/perf-gate.sh --update" >&2
    exit 1
fi

# Compare: per document and total, change in percent of the baseline.
awk -F'\t' -v threshold="$threshold" '
    FNR == 1 { file++ }
    file == 1 && !/^#/ && $1 != "document" && $1 != "TOTAL" { base[$1] = $2; next }
    file == 2 {
        order[++n] = $1; now[$1] = $2; bt += base[$1]; nt += $2
    }
    function pct(b, v) { return b > 0 ? (v - b) * 100 / b : 0 }
    END {
        printf "%-52s %15s %15s %8s\n", "document", "baseline Ir", "Ir", "change"
        for (i = 1; i <= n; i++) {
            d = order[i]; p = pct(base[d], now[d])
            flag = p > threshold ? "  <-- slower" : (p < -threshold ? "  <-- faster" : "")
            printf "%-52s %15.0f %15.0f %+7.2f%%%s\n", d, base[d], now[d], p, flag
        }
        p = pct(bt, nt)
        printf "%-52s %15.0f %15.0f %+7.2f%%\n", "TOTAL", bt, nt, p
        if (p > threshold) {
            printf "perf gate: FAILED: total instructions +%.2f%% over the baseline (threshold %s%%).\n", p, threshold
            printf "           If the cost is intended, rewrite the baseline: scripts/perf-gate.sh --update\n"
            exit 1
        }
        if (p < -threshold) {
            printf "perf gate: passed, %.2f%% fewer instructions than the baseline: consider scripts/perf-gate.sh --update\n", -p
        } else {
            printf "perf gate: passed (total within +%s%% of the baseline)\n", threshold
        }
    }' "$baseline" "$measured"
