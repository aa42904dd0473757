#!/usr/bin/env bash
# Load benchmark of synchronous extraction: `ndf serve` (embedded store) and wrk on this machine,
# over the dev corpus's documents of at most 20 pages (encrypted-with-password files left out),
# at a fixed concurrency over loopback. Prints documents per minute, latency percentiles and
# memory: the RSS of the server and its worker processes after warm-up, at peak and after the
# run; the bound on every document's peak RSS from the server's `ndf_document_peak_rss_bytes`
# histogram (a worker holds one document at a time and resets its high-water mark before each,
# so this is the memory of one in-flight document, the worker's code and libraries included);
# and each worker's high-water mark for its last document.
#
#   bench/service-load.sh [DURATION_S] [CONCURRENCY] [WORKERS]     (defaults: 60 16 2)
#
# NDF_LOAD_SET adds server settings, e.g. NDF_LOAD_SET="result_cache_bytes=0" (the result cache
# would otherwise answer repeated documents without extracting them). NDF_LOAD_WARMUP sets the
# warm-up in seconds (default 30). NDF_CORPUS_DIR is the corpus folder (default
# ../shared/corpus/dev).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-60}
CONCURRENCY=${2:-16}
WORKERS=${3:-2}
CORPUS=${NDF_CORPUS_DIR:-../shared/corpus/dev}

if ! command -v wrk >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y -qq wrk curl >/dev/null
fi
cargo build --release --bin ndf -q
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

# Documents of at most 20 pages per the corpus manifest, without a user password.
python3 - "$CORPUS" > "$work/list" <<'PY'
import csv, os, sys
root = sys.argv[1]
for r in csv.DictReader(open(os.path.join(root, "manifest.csv"))):
    if r["pages"] and int(r["pages"]) <= 20 and "user password" not in r["encrypted"]:
        print(os.path.join(root, r["file"]))
PY
echo "documents: $(wc -l < "$work/list") (<= 20 pages), concurrency $CONCURRENCY, $WORKERS worker processes, ${DURATION}s"

extra=()
for kv in ${NDF_LOAD_SET:-}; do extra+=(--set "$kv"); done
target/release/ndf serve --listen 127.0.0.1:0 --data-dir "$work/data" --workers "$WORKERS" \
    --set max_waiting=256 "${extra[@]}" --no-jobs > "$work/access.log" 2> "$work/log" &
echo $! > "$work/pid"
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.1; done
url=$(sed -n 's/^ndf: listening on //p' "$work/log")
server=$(cat "$work/pid")
# Total RSS (kB) of the server and every process below it (the extraction workers).
tree_pids() { echo "$server"; pgrep -P "$server" || true; }
tree_rss() {
    local total=0 pid kb
    for pid in $(tree_pids); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}
# RSS (kB) of one process.
rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# "server S MB, workers A+B MB": where the memory is.
rss_breakdown() {
    local pid parts=""
    for pid in $(pgrep -P "$server" || true); do parts="$parts+$(( $(rss_of "$pid") / 1024 ))"; done
    echo "server $(( $(rss_of "$server") / 1024 )) MB, workers ${parts#+} MB"
}
# wrk ends by dropping the requests in flight, and the server kills a worker whose request was
# cancelled (by design), so right after wrk the workers may be fresh processes of ~5 MB. Before
# each memory reading, the same 40 documents are therefore sent one at a time, to completion:
# both readings then see workers that have just extracted the same documents.
settle() {
    local f
    awk 'NR % 5 == 1' "$work/list" | head -40 | while read -r f; do
        curl -s -o /dev/null -H 'Content-Type: application/pdf' --data-binary @"$f" \
            "$url/v1/extract?format=text" || true
    done
    sleep 1
}
# Warm-up (page cache, worker processes, the server's per-thread allocator arenas), at the
# run's own concurrency: NDF_LOAD_WARMUP seconds (default 30).
wrk -t2 -c"$CONCURRENCY" -d"${NDF_LOAD_WARMUP:-30}s" -s bench/extract.lua "$url" -- "$work/list" > /dev/null
settle
warm=$(tree_rss)
warm_parts=$(rss_breakdown)
# Samples twice a second: the total RSS, and each worker's high-water mark (reset before each
# document, so it is the peak of the document in progress or just finished).
( peak=0; hwm=0; while kill -0 "$server" 2>/dev/null; do
    r=$(tree_rss); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" > "$work/peak"
    for pid in $(pgrep -P "$server" || true); do
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${h:-0}" -gt "$hwm" ] && hwm=$h && echo "$hwm" > "$work/hwm"
    done
    sleep 0.5
done ) &
sampler=$!
wrk -t2 -c"$CONCURRENCY" -d"${DURATION}s" --timeout 10s -s bench/extract.lua "$url" -- "$work/list"
settle
after=$(tree_rss)
after_parts=$(rss_breakdown)
kill "$sampler" 2>/dev/null || true
echo "rss_after_warmup_mb $((warm / 1024)) ($warm_parts)"
echo "rss_peak_mb $(( $(cat "$work/peak" 2>/dev/null || echo 0) / 1024 ))"
echo "worker_document_peak_rss_max_sampled_mb $(awk '{printf "%.1f", $1 / 1024}' "$work/hwm" 2>/dev/null)"
echo "rss_after_run_mb $((after / 1024)) ($after_parts)"
awk -v w="$warm" -v a="$after" 'BEGIN { printf "rss_after_vs_warmup %+.1f%%\n", (a - w) * 100 / w }'
# Every document's peak RSS, from the server's histogram: the bucket that holds them all.
curl -s "$url/metrics" | python3 -c '
import re, sys
buckets, count = [], 0.0
for line in sys.stdin:
    m = re.match(r"ndf_document_peak_rss_bytes_bucket\{.*le=\"([^\"]+)\".*\} (\S+)", line)
    if m:
        buckets.append((float("inf") if m[1] == "+Inf" else float(m[1]), float(m[2])))
    m = re.match(r"ndf_document_peak_rss_bytes_count(\{.*\})? (\S+)", line)
    if m:
        count = float(m[2])
bound = next((b for b, c in sorted(buckets) if count and c >= count), None)
print("documents_measured %d, every_document_peak_rss_mb_at_most %s" % (count, "?" if bound is None else "%.0f" % (bound / 1048576)))
' || true
for pid in $(pgrep -P "$server" || true); do
    echo "worker $pid last_document_peak_rss_mb $(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null)"
done
