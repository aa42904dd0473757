#!/usr/bin/env bash
# Corpus benchmark: `ndf batch --jobs 1` against peer extractors, side by side in one run of
# ../shared/bench/peers.py (speed as a ratio to the peers of the same run, quality as token F1
# against pdftotext). Usage:
#
#   scripts/bench-corpus.sh [extra peers.py options, e.g. --limit 20 or --passes 2]
#
# Steps: release build of `ndf` (fat LTO, several minutes), a Python virtualenv with the
# benchmark's pinned requirements, then peers.py over the corpus with ndf as a batch candidate.
# The summary is printed and written to <out>/results.md; per-file CSV and texts stay in <out>.
#
# Environment:
#   NDF_BENCH_PYTHON      python of a virtualenv with ../shared/bench/requirements.txt
#                         (default: created once at <target>/bench-venv with pip)
#   NDF_BENCH_EXTRACTORS  peers to run (default pymupdf,pypdf,pdf_oxide; pdftotext, the
#                         reference, always runs; add mutool,pypdfium2,pdfminer,pdfplumber)
#   NDF_BENCH_PASSES      timing passes (default 1)
#   NDF_CORPUS_DIR        corpus folder (default ../shared/corpus/dev)
#   NDF_BENCH_OUT         output folder (default <target>/bench-corpus)
#   NDF_BENCH_NO_BUILD=1  use the existing <target>/release/ndf
#   CARGO_TARGET_DIR      cargo's target folder (default target)
# Needs pdftotext (poppler-utils) and, for the mutool peer, mupdf-tools.
set -euo pipefail
cd "$(dirname "$0")/.."

corpus="${NDF_CORPUS_DIR:-../shared/corpus/dev}"
peers=../shared/bench/peers.py
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
out="${NDF_BENCH_OUT:-$target/bench-corpus}"
extractors="${NDF_BENCH_EXTRACTORS:-pymupdf,pypdf,pdf_oxide}"
passes="${NDF_BENCH_PASSES:-1}"

[ -d "$corpus" ] || { echo "bench-corpus: no corpus folder at $corpus (set NDF_CORPUS_DIR)" >&2; exit 1; }
[ -f "$peers" ] || { echo "bench-corpus: $peers not found (the shared benchmark harness)" >&2; exit 1; }
command -v pdftotext >/dev/null 2>&1 || { echo "bench-corpus: pdftotext missing (apt-get install poppler-utils)" >&2; exit 1; }

if [ "${NDF_BENCH_NO_BUILD:-0}" != 1 ]; then
    cargo build --release --locked -p ndf-cli --bin ndf
fi
ndf="$target/release/ndf"
[ -x "$ndf" ] || { echo "bench-corpus: $ndf not built" >&2; exit 1; }

python="${NDF_BENCH_PYTHON:-}"
if [ -z "$python" ]; then
    venv="$target/bench-venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q -r ../shared/bench/requirements.txt
    fi
    python="$venv/bin/python"
fi

mkdir -p "$out"
echo "bench-corpus: $(basename "$ndf") $("$ndf" --version 2>/dev/null || true), peers: $extractors, $passes pass(es), corpus $corpus"
"$python" "$peers" "$corpus" --out "$out" --passes "$passes" --timeout 30 \
    --extractors "$extractors" \
    --candidate-batch "ndf=$ndf batch --jobs 1 --format ndjson --files-from {list_file}" \
    --md "$out/results.md" --title "Corpus benchmark: ndf batch --jobs 1 against peers" \
    --note "scripts/bench-corpus.sh, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)" \
    "$@"
echo "bench-corpus: summary in $out/results.md"
