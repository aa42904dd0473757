#!/usr/bin/env bash
# Profile-guided (PGO) release build of the `ndf` binary. See docs/performance/pgo.md.
#
#   scripts/pgo-build.sh [--train DIR|LIST] [--base] [--bench | --bench-only]
#
# 1. finds the llvm-profdata whose LLVM major equals rustc's (`rustc -vV`), installing Debian's
#    `llvm-<major>` package with apt-get when it is missing (Debian's default llvm-profdata is
#    older and cannot read rustc's profiles);
# 2. builds an instrumented release `ndf` (-Cprofile-generate) into <prefix>-gen, from a snapshot
#    of the working tree (<prefix>-data/src) that every build of the run uses;
# 3. trains it: `ndf batch --jobs 1 --format ndjson` over the training set, then one JSON and one
#    Markdown pass (`ndf extract --format json|markdown -o DIR`) so those writers are trained too;
# 4. merges the raw profiles with llvm-profdata;
# 5. builds the optimised release `ndf` (-Cprofile-use) into <prefix>-use and prints its path.
#
# Options:
#   --train DIR|LIST  training set: a folder (its *.pdf, recursively) or a file listing one PDF path
#                     per line. Default (also env NDF_PGO_TRAIN): the even-indexed files (0, 2, 4, ...)
#                     of the sorted ../shared/corpus/dev, so the odd-indexed half stays held out.
#   --base            also build the normal release `ndf` from the same tree, with the same flags
#                     minus PGO, into <prefix>-base (a like-for-like baseline), and time it.
#   --bench           implies --base: runs ../shared/bench/peers.py once with both binaries as
#                     batch candidates (plus PyMuPDF, 2 passes) on the held-out files (the dev
#                     corpus minus the training set) and on the whole dev corpus. The Python that
#                     runs peers.py comes from NDF_BENCH_PYTHON (default: python3), a virtualenv
#                     with ../shared/bench/requirements.txt installed. peers.py is followed by
#                     interleaved A/B rounds of both binaries (robust to a noisy machine).
#   --bench-only      only the --bench measurements, on the binaries of an earlier --bench run.
# Environment:
#   NDF_PGO_PREFIX    target-dir prefix (default: target/pgo): <prefix>-gen, -use, -base, -data
#   CARGO_BUILD_JOBS  parallel rustc jobs (default: 2)
#   NDF_PGO_KEEP_GEN  1 keeps the instrumented target dir (deleted after merging by default)
#   NDF_PGO_AB_ROUNDS interleaved rounds per corpus for --bench (default: 10)
#   LLVM_PROFDATA     llvm-profdata to use (its major must still match rustc's LLVM)
#   RUSTFLAGS         kept and extended (the repository has no .cargo/config.toml, so a normal
#                     release build uses none)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

die() { printf 'pgo-build: error: %s\n' "$*" >&2; exit 1; }
log() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

TRAIN="${NDF_PGO_TRAIN:-}"
BASE=0
BENCH=0
BENCH_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --train) [ $# -ge 2 ] || die "--train needs a folder or a list file"; TRAIN="$2"; shift 2 ;;
        --train=*) TRAIN="${1#--train=}"; shift ;;
        --base) BASE=1; shift ;;
        --bench) BASE=1; BENCH=1; shift ;;
        --bench-only) BASE=1; BENCH=1; BENCH_ONLY=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

DEV="$ROOT/../shared/corpus/dev"
PEERS="$ROOT/../shared/bench/peers.py"
PREFIX="${NDF_PGO_PREFIX:-target/pgo}"
case "$PREFIX" in /*) ;; *) PREFIX="$ROOT/$PREFIX" ;; esac
DATA="$PREFIX-data"
RAW="$DATA/raw"
MERGED="$DATA/ndf.profdata"
JOBS="${CARGO_BUILD_JOBS:-2}"
USER_RUSTFLAGS="${RUSTFLAGS:-}"
[ -z "${CARGO_ENCODED_RUSTFLAGS:-}" ] || die "CARGO_ENCODED_RUSTFLAGS is set; use RUSTFLAGS instead"
[ ! -e .cargo/config.toml ] || printf 'pgo-build: note: .cargo/config.toml exists; its rustflags are replaced by RUSTFLAGS\n' >&2

# --- llvm-profdata matching rustc's LLVM --------------------------------------------------------
RUSTC_VV=$(rustc -vV)
HOST=$(printf '%s\n' "$RUSTC_VV" | sed -n 's/^host: //p')
LLVM_MAJOR=$(printf '%s\n' "$RUSTC_VV" | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
{ [ -n "$LLVM_MAJOR" ] && [ -n "$HOST" ]; } || die "cannot read host and LLVM version from 'rustc -vV'"

profdata_major() { # older llvm-profdata only knows `merge --version`
    { "$1" merge --version 2>/dev/null || true; } | sed -n 's/.*LLVM version \([0-9]*\).*/\1/p' | head -n 1
}

find_profdata() {
    local c
    for c in "${LLVM_PROFDATA:-}" "llvm-profdata-$LLVM_MAJOR" "/usr/lib/llvm-$LLVM_MAJOR/bin/llvm-profdata"; do
        [ -n "$c" ] || continue
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    return 1
}

if [ "$BENCH_ONLY" -eq 0 ]; then
    if ! PROFDATA=$(find_profdata); then
        [ -z "${LLVM_PROFDATA:-}" ] || die "LLVM_PROFDATA=$LLVM_PROFDATA not found"
        log "installing llvm-$LLVM_MAJOR (for llvm-profdata-$LLVM_MAJOR)"
        command -v apt-get >/dev/null || die "llvm-profdata-$LLVM_MAJOR is missing and there is no apt-get; set LLVM_PROFDATA"
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "llvm-$LLVM_MAJOR" \
            || die "apt-get could not install llvm-$LLVM_MAJOR"
        PROFDATA=$(find_profdata) || die "llvm-$LLVM_MAJOR installed but llvm-profdata-$LLVM_MAJOR not found"
    fi
    PD_MAJOR=$(profdata_major "$PROFDATA")
    [ "$PD_MAJOR" = "$LLVM_MAJOR" ] \
        || die "$PROFDATA is LLVM '${PD_MAJOR:-unknown}' but rustc uses LLVM $LLVM_MAJOR:" \
            "it cannot read rustc's profiles (install llvm-$LLVM_MAJOR or set LLVM_PROFDATA)"
    printf 'rustc LLVM %s, %s (LLVM %s)\n' "$LLVM_MAJOR" "$PROFDATA" "$PD_MAJOR"
fi

# --- training set -------------------------------------------------------------------------------
mkdir -p "$DATA"
TRAIN_LIST="$DATA/train.list"
dev_pdfs() { # sorted like peers.py (code-point order)
    [ -d "$DEV" ] || die "dev corpus not found at ../shared/corpus/dev (relative to the repository root)"
    find "$DEV" -maxdepth 1 -name '*.pdf' -printf '%f\n' | LC_ALL=C sort
}
if [ -z "$TRAIN" ]; then
    [ -d "$DEV" ] || die "dev corpus not found at ../shared/corpus/dev (relative to the repository root)"
    dev_pdfs | awk -v d="$(cd "$DEV" && pwd)" 'NR % 2 == 1 { print d "/" $0 }' > "$TRAIN_LIST"
    TRAIN_DESC="even-indexed half of ../shared/corpus/dev"
elif [ -d "$TRAIN" ]; then
    find "$(cd "$TRAIN" && pwd)" -name '*.pdf' | LC_ALL=C sort > "$TRAIN_LIST"
    TRAIN_DESC="folder $TRAIN"
elif [ -f "$TRAIN" ]; then
    grep -v '^[[:space:]]*$' "$TRAIN" | while IFS= read -r p; do
        case "$p" in /*) printf '%s\n' "$p" ;; *) printf '%s\n' "$(cd "$(dirname "$TRAIN")" && pwd)/$p" ;; esac
    done > "$TRAIN_LIST"
    TRAIN_DESC="list $TRAIN"
else
    die "training set $TRAIN is neither a folder nor a file"
fi
N_TRAIN=$(wc -l < "$TRAIN_LIST")
[ "$N_TRAIN" -gt 0 ] || die "training set ($TRAIN_DESC) has no PDF"
printf 'training set: %s, %d files (%s)\n' "$TRAIN_DESC" "$N_TRAIN" "$TRAIN_LIST"

# --- builds -------------------------------------------------------------------------------------
TIMES="$DATA/timings.txt"
build() { # name rustflags
    local name="$1" flags="$2" t0 t1 dir="$PREFIX-$1"
    log "building $name ndf into ${dir#"$ROOT"/} (RUSTFLAGS='$flags', -j $JOBS)"
    printf 'log: %s\n' "$DATA/build-$name.log"
    t0=$(now)
    # --target: RUSTFLAGS then apply to the binary only, not to build scripts and proc macros.
    if ! (cd "$SRC" && RUSTFLAGS="$flags" CARGO_TARGET_DIR="$dir" cargo build --release -j "$JOBS" \
        -p ndf-cli --bin ndf --target "$HOST") > "$DATA/build-$name.log" 2>&1; then
        tail -n 40 "$DATA/build-$name.log" >&2
        die "$name build failed (log: $DATA/build-$name.log)"
    fi
    t1=$(now)
    printf '%s build: %s s\n' "$name" "$(secs "$t0" "$t1")" | tee -a "$TIMES"
}
join() { printf '%s' "$*" | sed 's/^ *//'; }

PGO_BIN="$PREFIX-use/$HOST/release/ndf"
BASE_BIN="$PREFIX-base/$HOST/release/ndf"

pgo_build() {
    # Source snapshot.
    # All builds compile one copy of the tree taken now, so the instrumented, the optimised and the
    # baseline binary come from identical sources even if the working tree changes meanwhile (the
    # profile would not match edited functions, and the comparison would not be like for like).
    SRC="$DATA/src"
    log "snapshot of the working tree (tracked and untracked, not ignored files) into ${SRC#"$ROOT"/}"
    { command -v git >/dev/null && git rev-parse --is-inside-work-tree >/dev/null 2>&1; } \
        || die "the repository must be a git work tree (the snapshot lists its files with git ls-files)"
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git ls-files -co --exclude-standard -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$SRC"
    printf 'commit %s%s\n' "$(git rev-parse --short HEAD)" \
        "$([ -z "$(git status --porcelain)" ] || echo ' + uncommitted changes')" | tee "$DATA/source.txt"

    if [ "$BASE" -eq 1 ]; then
        build base "$USER_RUSTFLAGS"
    fi

    build gen "$(join "$USER_RUSTFLAGS" "-Cprofile-generate=$RAW")"
    GEN_BIN="$PREFIX-gen/$HOST/release/ndf"

    log "training on $N_TRAIN files"
    rm -rf "$RAW" "$DATA/train-out"
    mkdir -p "$RAW" "$DATA/train-out/json" "$DATA/train-out/markdown"
    t0=$(now)
    # A document that fails to extract is part of the training (error paths); exit status 1 = some
    # documents failed, which is expected on a corpus with damaged files.
    "$GEN_BIN" batch --quiet --jobs 1 --format ndjson --files-from "$TRAIN_LIST" \
        > "$DATA/train-out/train.ndjson" || [ $? -eq 1 ] || die "instrumented ndf batch crashed"
    mapfile -t TRAIN_FILES < "$TRAIN_LIST"
    for fmt in json markdown; do
        "$GEN_BIN" extract --format "$fmt" -o "$DATA/train-out/$fmt" "${TRAIN_FILES[@]}" 2>/dev/null \
            || [ $? -eq 1 ] || die "instrumented ndf extract --format $fmt crashed"
    done
    t1=$(now)
    printf 'training run: %s s\n' "$(secs "$t0" "$t1")" | tee -a "$TIMES"
    ls "$RAW"/*.profraw >/dev/null 2>&1 || die "training wrote no .profraw file into $RAW"

    log "merging $(find "$RAW" -name '*.profraw' | wc -l) raw profiles"
    "$PROFDATA" merge -o "$MERGED" "$RAW"/*.profraw
    printf 'merged profile: %s\n' "$MERGED"
    if [ "${NDF_PGO_KEEP_GEN:-0}" != 1 ]; then
        rm -rf "$PREFIX-gen" # ~1.6 GB, useless once the profile is merged (NDF_PGO_KEEP_GEN=1 keeps it)
    fi

    build use "$(join "$USER_RUSTFLAGS" "-Cprofile-use=$MERGED -Cllvm-args=-pgo-warn-missing-function")"
    # -pgo-warn-missing-function: LLVM warns for each function absent from the profile (code that
    # differs from the instrumented build); a stale or mismatched profile also warns here.
    WARNINGS=$(grep -c -i 'no profile data\|profile data may be\|hash mismatch' "$DATA/build-use.log" || true)
    printf 'profile warnings in the optimised build: %s (log: %s)\n' "$WARNINGS" "$DATA/build-use.log"
}

if [ "$BENCH_ONLY" -eq 0 ]; then
    : > "$TIMES"
    pgo_build
else
    for b in "$BASE_BIN" "$PGO_BIN"; do [ -x "$b" ] || die "--bench-only: $b not built yet"; done
fi

# --- benchmark ----------------------------------------------------------------------------------
if [ "$BENCH" -eq 1 ]; then
    [ -d "$DEV" ] || die "dev corpus not found at ../shared/corpus/dev (needed by --bench)"
    [ -f "$PEERS" ] || die "../shared/bench/peers.py not found"
    PY="${NDF_BENCH_PYTHON:-python3}"
    HELD="$DATA/heldout"
    rm -rf "$HELD"
    mkdir -p "$HELD"
    DEV_ABS=$(cd "$DEV" && pwd)
    ln -s "$DEV_ABS/manifest.csv" "$HELD/manifest.csv"
    dev_pdfs | while IFS= read -r f; do
        grep -Fqx "$DEV_ABS/$f" "$TRAIN_LIST" || ln -s "$DEV_ABS/$f" "$HELD/$f"
    done
    printf 'held out: %d files in %s\n' "$(find "$HELD" -name '*.pdf' | wc -l)" "$HELD"
    for corpus in "$HELD" "$DEV_ABS"; do
        name=$([ "$corpus" = "$HELD" ] && echo heldout || echo dev)
        log "peers.py on $name (ndf normal vs ndf PGO vs PyMuPDF, 2 passes)"
        "$PY" "$PEERS" "$corpus" --out "$DATA/bench-$name" --passes 2 --extractors pymupdf \
            --md "$DATA/bench-$name.md" --title "ndf with and without PGO: $name" \
            --candidate-batch "ndf=$BASE_BIN batch --jobs 1 --format ndjson --files-from {list_file}" \
            --candidate-batch "ndf-pgo=$PGO_BIN batch --jobs 1 --format ndjson --files-from {list_file}"
        printf 'summary: %s\n' "$DATA/bench-$name.md"
    done
    # The machine may be shared and noisy: also time both binaries in interleaved rounds (order
    # alternating), each round the sum of the per-file in-process ms that peers.py also sums.
    ROUNDS="${NDF_PGO_AB_ROUNDS:-10}"
    total_ms() { # binary list
        { "$1" batch --quiet --jobs 1 --format ndjson --files-from "$2" 2>/dev/null || true; } \
            | grep -o '"ms":[0-9.]*' | awk -F: '{ s += $2 } END { printf "%.1f", s }'
    }
    for corpus in "$HELD" "$DEV_ABS"; do
        name=$([ "$corpus" = "$HELD" ] && echo heldout || echo dev)
        list="$DATA/$name.list"
        find "$corpus" -maxdepth 1 -name '*.pdf' | LC_ALL=C sort > "$list"
        log "interleaved A/B on $name: $ROUNDS rounds of normal and PGO ndf batch --jobs 1"
        for i in $(seq 1 "$ROUNDS"); do
            if [ $((i % 2)) -eq 1 ]; then
                b=$(total_ms "$BASE_BIN" "$list"); p=$(total_ms "$PGO_BIN" "$list")
            else
                p=$(total_ms "$PGO_BIN" "$list"); b=$(total_ms "$BASE_BIN" "$list")
            fi
            printf '%s %s %s\n' "$i" "$b" "$p"
        done > "$DATA/ab-$name.txt"
        awk -v name="$name" '
            function median(a, n,   i, j, t) {
                for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
            }
            $2 > 0 { n++; b[n] = $2; p[n] = $3; r[n] = $3 / $2; bm[n] = $2; pm[n] = $3 }
            END {
                if (n == 0) { printf "%s: no timings (did ndf crash?)\n", name; exit 1 }
                mb = median(b, n); mp = median(p, n); mr = median(r, n)
                minb = bm[1]; minp = pm[1]
                for (i = 2; i <= n; i++) { if (bm[i] < minb) minb = bm[i]; if (pm[i] < minp) minp = pm[i] }
                printf "%s, %d rounds: normal median %.0f ms (min %.0f), PGO median %.0f ms (min %.0f); ", \
                    name, n, mb, minb, mp, minp
                printf "PGO/normal: median of per-round ratios %.3f, of medians %.3f, of minima %.3f\n", \
                    mr, mp / mb, minp / minb
            }' "$DATA/ab-$name.txt" | tee -a "$TIMES"
    done
fi

log "done"
cat "$TIMES"
printf 'PGO binary: %s\n' "$PGO_BIN"
[ "$BASE" -eq 0 ] || printf 'baseline binary: %s\n' "$BASE_BIN"
