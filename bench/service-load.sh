#!/usr/bin/env bash
# Load benchmark of synchronous extraction: `ndf serve` (embedded store) and wrk on this machine,
# over the dev corpus's documents of at most 20 pages (encrypted-with-password files left out),
# at a fixed concurrency over loopback. Prints documents per minute and latency percentiles.
#
#   bench/service-load.sh [DURATION_S] [CONCURRENCY] [WORKERS]     (defaults: 60 16 2)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-60}
CONCURRENCY=${2:-16}
WORKERS=${3:-2}
CORPUS=${NDF_CORPUS:-../shared/corpus/dev}

if ! command -v wrk >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y -qq wrk >/dev/null
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

target/release/ndf serve --listen 127.0.0.1:0 --data-dir "$work/data" --workers "$WORKERS" \
    --set max_waiting=256 --no-jobs 2> "$work/log" &
echo $! > "$work/pid"
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.1; done
url=$(sed -n 's/^ndf: listening on //p' "$work/log")
# Warm-up (page cache, worker processes).
wrk -t2 -c"$CONCURRENCY" -d5s -s bench/extract.lua "$url" -- "$work/list" > /dev/null
wrk -t2 -c"$CONCURRENCY" -d"${DURATION}s" --timeout 10s -s bench/extract.lua "$url" -- "$work/list"
