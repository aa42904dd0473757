#!/usr/bin/env bash
# The container image tested for real: podman with the runc runtime, as root. Never skips: a
# missing podman, runc, corpus or a container that cannot start fails the test.
#
#   deploy/image/test.sh
#
# 1. builds the image (build.sh; NDF_IMAGE_TEST_REUSE=1 takes the one already in target/image)
#    and checks its configuration: user 10001, entrypoint, command, stop signal, OCI labels with
#    this commit's revision, the exact file list (the binary, the libraries its ldd lists, the
#    CA bundle, passwd/group/nsswitch, /tmp, /data; no shell), the SBOM against the CycloneDX
#    1.6 schema, and determinism: the same binary built into an image again gives the same id;
# 2. runs it read-only with a tmpfs /tmp, a volume on /data, 512 MiB and one CPU, the port on
#    loopback: the default command (0.0.0.0:8080) refuses to start without an API key; a key
#    made by `ndf keys create` in a one-off container; then /healthz, /readyz, an extraction, a
#    job, every process as uid 10001 and every file in the volume owned by 10001;
# 3. `podman stop -t 30` while jobs are running and queued: exit code 0, and every job is
#    finished or queued again (none lost): a fresh container on the volume then finishes them.
# Prints: image size, binary size, image step time, time from `podman run` to /readyz 200
# (printed only: no assertion on time).
#
# Environment: NDF_CORPUS_DIR (default ../shared/corpus/dev), NDF_IMAGE_TEST_REUSE=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=deploy/image
# shellcheck source=deploy/image/podman-env.sh
. "$here/podman-env.sh"

fail() { echo "image test: FAILED: $*" >&2; exit 1; }
step() { printf '\n-- image test: %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

[ "$(id -u)" = 0 ] || fail "run as root: rootless podman here has no port mapping or resource limits"
ndf_apt_install curl jq binutils ca-certificates || fail "could not install curl, jq, binutils, ca-certificates"
for tool in curl jq python3; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
corpus="${NDF_CORPUS_DIR:-../shared/corpus/dev}"
[ -d "$corpus" ] || fail "no dev corpus at $corpus (set NDF_CORPUS_DIR)"
small="$corpus/camelot-detect_vertical_false-3d4b69.pdf" # 1 page, 12 KB
# The largest documents by pages: a job over each keeps a worker busy for a while.
big=("$corpus/debian-R-exts-792220.pdf" "$corpus/debian-ledmac-cbc2f0.pdf" "$corpus/debian-xeCJK-1fbc09.pdf")
for f in "$small" "${big[@]}"; do [ -f "$f" ] || fail "corpus file $f missing"; done

out=target/image
ndf_podman_env "$out" || fail "podman/runc missing (apt-get install podman runc)"

# --- cleanup: everything this run creates carries its label --------------------------------
# A network of its own: `podman network rm` then deletes its CNI bridge (the default network's
# bridge would stay behind); containers that need no port run with --network none.
run_id="ndf-image-test-$$"
vol="$run_id"
net="$run_id"
cleanup() {
    local ids
    ids=$(podman ps -aq --filter "label=$run_id" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one id a word
    [ -z "$ids" ] || podman rm -f -t 0 $ids >/dev/null 2>&1 || true
    podman volume rm -f "$vol" >/dev/null 2>&1 || true
    podman network rm -f "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- 1. build and configuration -------------------------------------------------------------
# The commit the image must name, read before the build (a commit landing during a long cargo
# build must not make the image look wrong).
revision=$(git rev-parse HEAD)
if [ "${NDF_IMAGE_TEST_REUSE:-0}" = 1 ]; then
    [ -s "$out/image-id" ] || fail "NDF_IMAGE_TEST_REUSE=1 but no image in $out (run build.sh)"
else
    step "build"
    bash "$here/build.sh"
fi
image=$(cat "$out/image-id")
podman image exists "$image" || fail "image $image (from $out/image-id) is not in podman's store"

step "configuration"
created=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}" +%Y-%m-%dT%H:%M:%SZ)
version=$(cargo metadata --locked --no-deps --format-version 1 | jq -r '.packages[] | select(.name == "ndf-cli") | .version')
podman image inspect "$image" > "$out/inspect.json"
python3 - "$out/inspect.json" "$revision" "$created" "$version" <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg, revision, created, version = img["Config"], *sys.argv[2:5]
def check(what, got, want):
    if got != want:
        sys.exit(f"image test: FAILED: {what} is {got!r}, expected {want!r}")
check("User", cfg.get("User"), "10001:10001")
check("Entrypoint", cfg.get("Entrypoint"), ["/usr/local/bin/ndf"])
check("Cmd", cfg.get("Cmd"), ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data"])
check("StopSignal", cfg.get("StopSignal"), "SIGTERM")
check("ExposedPorts", sorted(cfg.get("ExposedPorts", {})), ["8080/tcp"])
labels = cfg.get("Labels") or {}
for key in ("source", "version", "revision", "licenses", "title", "created"):
    if not labels.get(f"org.opencontainers.image.{key}"):
        sys.exit(f"image test: FAILED: label org.opencontainers.image.{key} missing")
check("revision label", labels["org.opencontainers.image.revision"], revision)
check("licenses label", labels["org.opencontainers.image.licenses"], "MIT OR Apache-2.0")
check("created label", labels["org.opencontainers.image.created"], created)
check("version label", labels["org.opencontainers.image.version"], version)
check("WorkingDir", cfg.get("WorkingDir"), "/data")
check("NDF_DATA_DIR", [e for e in cfg.get("Env", []) if e.startswith("NDF_")], ["NDF_DATA_DIR=/data"])
check("layers", len(img["RootFS"]["Layers"]), 1)
print("   user, entrypoint, cmd, stop signal, port, labels, one layer: ok")
EOF

# The image's files, read from its mounted root filesystem, against what must be there.
mnt=$(podman image mount "$image")
actual=$(cd "$mnt" && find . -mindepth 1 -printf '%y %04m %U:%G /%P\n' | sort -k4)
stripped_sha=$(sha256sum < "$mnt/usr/local/bin/ndf")
# ldd of the image's binary, run independently of build.sh: exactly these libraries.
mapfile -t want_libs < <(ldd "$mnt/usr/local/bin/ndf" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
has_sh=""
if [ -e "$mnt/bin/sh" ]; then has_sh=yes; fi
passwd_ok=$(grep -c '^ndf:x:10001:10001:' "$mnt/etc/passwd" || true)
podman image unmount "$image" >/dev/null
[ -z "$has_sh" ] || fail "the image has /bin/sh"
[ "$passwd_ok" = 1 ] || fail "/etc/passwd lacks user ndf (10001:10001)"
[ "$stripped_sha" = "$(sha256sum < "$out/ndf")" ] || fail "the image's /usr/local/bin/ndf is not $out/ndf"
expected=$(
    printf 'f 0755 0:0 /usr/local/bin/ndf\nf 0644 0:0 /etc/passwd\nf 0644 0:0 /etc/group\n'
    printf 'f 0644 0:0 /etc/nsswitch.conf\nf 0644 0:0 /etc/ssl/certs/ca-certificates.crt\n'
    printf 'd 1777 0:0 /tmp\nd 0700 10001:10001 /data\n'
    for l in "${want_libs[@]}"; do printf 'f 0755 0:0 %s\n' "$l"; done
)
files_actual=$(grep -v '^d 0755 0:0 ' <<<"$actual" | sort -k4)
files_expected=$(sort -k4 <<<"$expected")
if [ "$files_actual" != "$files_expected" ]; then
    diff <(echo "$files_expected") <(echo "$files_actual") >&2 || true
    fail "the image's files differ from the expected list (< expected, > image)"
fi
# Other directories are only the parents of those files.
extra_dirs=$(grep '^d 0755 0:0 ' <<<"$actual" | awk '{print $4}' | while read -r d; do
    grep -q " $d/" <<<"$expected" || echo "$d"; done)
[ -z "$extra_dirs" ] || fail "unexpected directories in the image: $extra_dirs"
echo "   files: $(wc -l <<<"$files_actual") files and directories as expected, $(wc -l <<<"$actual") entries, no /bin/sh"

step "determinism: the same binary built into an image again"
binary_src=$(cat "$out/binary-path")
NDF_IMAGE_OUT="$out/rebuild" NDF_IMAGE_BIN="$binary_src" NDF_IMAGE_SAVE=0 bash "$here/build.sh" >/dev/null
[ "$(cat "$out/rebuild/image-id")" = "$image" ] ||
    fail "rebuilding from the same binary gave image $(cat "$out/rebuild/image-id"), not $image"
cmp -s "$out/context/rootfs.tar" "$out/rebuild/context/rootfs.tar" || fail "rootfs.tar differs between two builds"
cmp -s "$out/ndf.cdx.json" "$out/rebuild/ndf.cdx.json" || fail "the SBOM differs between two builds"
echo "   same image id $image, same rootfs.tar, same SBOM"

step "SBOM (CycloneDX 1.6 schema)"
venv=target/image-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cyclonedx.validation.json' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'cyclonedx-python-lib[json-validation]>=9,<12'
fi
"$venv/bin/python" - "$out/ndf.cdx.json" "$out/libs.list" <<'EOF'
import json, sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
text = open(sys.argv[1]).read()
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
if error:
    sys.exit(f"image test: FAILED: the SBOM is not valid CycloneDX 1.6: {error}")
bom = json.loads(text)
names = {c["name"] for c in bom["components"]}
for need in ("ndf-cli", "ndf-server", "tokio", "libc6", "ca-certificates"):
    if need not in names:
        sys.exit(f"image test: FAILED: the SBOM lacks {need}")
paths = {p["value"] for c in bom["components"] for p in c.get("properties", []) if p["name"] == "ndf:image-path"}
for lib in open(sys.argv[2]).read().split():
    if lib not in paths:
        sys.exit(f"image test: FAILED: the SBOM names no package for {lib}")
crates = [c for c in bom["components"] if c.get("purl", "").startswith("pkg:cargo/")]
unhashed = [c["name"] for c in crates if not c.get("hashes")]
if unhashed:
    sys.exit(f"image test: FAILED: crates without a hash: {unhashed}")
print(f"   valid; {len(crates)} registry crates, {len(bom['components'])} components")
EOF

# --- 2. running it ------------------------------------------------------------------------------
# A free loopback port below the kernel's ephemeral range (no outgoing connection takes it).
port=$(python3 -c '
import random, socket
for p in random.sample(range(20000, 32000), 200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: s.close()
else: raise SystemExit("no free port")')
base="http://127.0.0.1:$port"
limits=(--read-only --tmpfs "/tmp:rw,size=64m,mode=1777" -v "$vol:/data" --memory 512m --cpus 1)
podman volume create --label "$run_id" "$vol" >/dev/null
podman network create --label "$run_id" "$net" >/dev/null
run() { podman run --label "$run_id" "${limits[@]}" "$@"; }

wait_exit() { # NAME: the container's exit code once it ended (bounded)
    timeout 120 podman wait "$1" || fail "container $1 did not end within 120 s"
}

step "the default command refuses 0.0.0.0 without an API key"
run -d --name "$run_id-refuse" --network none "$image" >/dev/null
code=$(wait_exit "$run_id-refuse")
log=$(podman logs "$run_id-refuse" 2>&1)
[ "$code" != 0 ] || fail "serve on 0.0.0.0 without a key exited 0; log: $log"
grep -q "refusing to serve 0.0.0.0:8080 without authentication" <<<"$log" ||
    fail "no refusal message in the log: $log"
echo "   exit $code: $(grep -o 'refusing to serve[^:]*:[^:]*' <<<"$log" | head -1)"

step "an API key from 'ndf keys create' in a one-off container"
created=$(run --rm --name "$run_id-keys" --network none "$image" keys create --tenant image-test --name image-test \
    --scope extract --scope jobs:read --scope jobs:write) || fail "ndf keys create failed"
key=$(jq -er .key <<<"$created") || fail "no key in: $created"
auth=(-H "Authorization: Bearer $key")

step "serve"
t0=$(date +%s.%N)
# The grace period given to jobs on SIGTERM (default 30 s) stays below `podman stop -t 30`, else
# a long job would meet SIGKILL (exit 137) before it is handed back; Kubernetes pods likewise
# need terminationGracePeriodSeconds above shutdown_grace_ms + shutdown_delay_ms.
run -d --name "$run_id-serve" --network "$net" -p "127.0.0.1:$port:8080" -e NDF_SHUTDOWN_GRACE_MS=15000 "$image" >/dev/null
ready=""
for _ in $(seq 1 1200); do # 120 s
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ]; then ready=1; break; fi
    [ "$(podman inspect -f '{{.State.Running}}' "$run_id-serve")" = true ] ||
        fail "the container ended: $(podman logs "$run_id-serve" 2>&1 | tail -20)"
    sleep 0.1
done
[ -n "$ready" ] || fail "/readyz not 200 within 120 s: $(podman logs "$run_id-serve" 2>&1 | tail -20)"
start_to_ready=$(since "$t0")
echo "   podman run to /readyz 200: $start_to_ready s"
curl -sf "$base/healthz" | jq -e '.status == "ok"' >/dev/null || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/pdf' --data-binary @"$small" "$base/v1/extract")" = 401 ] ||
    fail "an extraction without a key was not refused with 401"

resp=$(curl -sf "${auth[@]}" -H 'Content-Type: application/pdf' --data-binary @"$small" "$base/v1/extract") ||
    fail "POST /v1/extract failed"
pages=$(jq -er '.pages | length' <<<"$resp") || fail "no pages in the extraction: ${resp:0:300}"
[ "$pages" = 1 ] || fail "the extraction has $pages pages, expected 1"
text_chars=$(jq -r '[.. | strings] | join("") | length' <<<"$resp")
[ "$text_chars" -gt 100 ] || fail "the extraction holds almost no text: ${resp:0:300}"
echo "   extraction: $pages page, $text_chars characters of strings"

submit() { # FILE: the new job's id
    curl -sf "${auth[@]}" -H 'Content-Type: application/pdf' --data-binary @"$1" "$base/v1/jobs" | jq -er .id
}
job_state() { curl -sf "${auth[@]}" "$base/v1/jobs/$1" | jq -er .state; }
wait_succeeded() { # ID: bounded poll until the job succeeded
    local s=""
    for _ in $(seq 1 600); do # 120 s
        s=$(job_state "$1") || s="unreachable"
        case "$s" in succeeded) return 0 ;; failed | cancelled) fail "job $1 ended $s" ;; esac
        sleep 0.2
    done
    fail "job $1 still $s after 120 s"
}
id=$(submit "$small") || fail "POST /v1/jobs failed"
wait_succeeded "$id"
curl -sf "${auth[@]}" "$base/v1/jobs/$id/result" | jq -e '.pages | length == 1' >/dev/null ||
    fail "the job's result is not the 1-page document"
echo "   job $id succeeded, result fetched"

step "non-root processes, volume owned by 10001"
pid=$(podman inspect -f '{{.State.Pid}}' "$run_id-serve")
grep -Eq '^Uid:\s+10001\s+10001\s+10001\s+10001$' "/proc/$pid/status" || fail "ndf runs as $(grep Uid: "/proc/$pid/status")"
grep -Eq '^Gid:\s+10001\s+10001\s+10001\s+10001$' "/proc/$pid/status" || fail "ndf runs with $(grep Gid: "/proc/$pid/status")"
users=$(podman top "$run_id-serve" huser | tail -n +2 | sort -u | tr '\n' ' ')
[ "$users" = "10001 " ] || fail "container processes run as: $users"
mp=$(podman volume inspect -f '{{.Mountpoint}}' "$vol")
not_owned=$(find "$mp" ! -uid 10001 -o ! -gid 10001 | head -5)
[ -z "$not_owned" ] || fail "files in the volume not owned by 10001: $not_owned"
# The limits reach the kernel: the container's cgroup (v1 or v2) caps memory at 512 MiB and
# CPU at one core, and the root filesystem is read-only.
cg_file() { # CONTROLLER FILE_V1 FILE_V2: the file of the service's cgroup
    local rel
    rel=$(awk -F: -v c="$1" '$2 ~ "(^|,)" c "(,|$)" { print $3 }' "/proc/$pid/cgroup")
    if [ -n "$rel" ]; then echo "/sys/fs/cgroup/$1$rel/$2"; else echo "/sys/fs/cgroup$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")/$3"; fi
}
mem=$(cat "$(cg_file memory memory.limit_in_bytes memory.max)")
[ "$mem" = 536870912 ] || fail "the container's memory limit is $mem, not 512 MiB"
cpu=$(if [ -f "$(cg_file cpu cpu.cfs_quota_us cpu.max)" ]; then cat "$(cg_file cpu cpu.cfs_quota_us cpu.max)"; fi)
case "$cpu" in 100000 | "100000 100000") ;; *) fail "the container's CPU quota is '$cpu', not one core" ;; esac
[ "$(podman inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$run_id-serve")" = true ] || fail "root filesystem not read-only"
echo "   cgroup: memory limit $mem bytes, CPU quota $cpu (one core); read-only root filesystem"
echo "   processes: $(podman top "$run_id-serve" huser args | tail -n +2 | awk '{print $1, $2, $3}' | sort | uniq -c | tr -s ' ' | paste -sd ';'); $(find "$mp" | wc -l) volume entries owned by 10001"

# --- 3. stop during jobs ------------------------------------------------------------------------
wait_ready() { # NAME: bounded poll of /readyz
    for _ in $(seq 1 1200); do # 120 s
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && return 0
        [ "$(podman inspect -f '{{.State.Running}}' "$1")" = true ] ||
            fail "container $1 ended: $(podman logs "$1" 2>&1 | tail -20)"
        sleep 0.1
    done
    fail "container $1 not ready within 120 s: $(podman logs "$1" 2>&1 | tail -20)"
}
api_only() { # NAME: a container serving the API but running no jobs
    run -d --name "$1" --network "$net" -p "127.0.0.1:$port:8080" "$image" \
        serve --listen 0.0.0.0:8080 --data-dir /data --no-jobs >/dev/null
    wait_ready "$1"
}
stop_clean() { # NAME: podman stop -t 30 and exit code 0
    podman stop -t 30 "$1" >/dev/null || fail "podman stop $1 failed"
    local code
    code=$(podman inspect -f '{{.State.ExitCode}}' "$1")
    [ "$code" = 0 ] || fail "container $1 exited $code on SIGTERM: $(podman logs "$1" 2>&1 | tail -20)"
}
stop_clean "$run_id-serve"

# A large document takes a fraction of a second here, as long as submitting it: 36 jobs are
# queued first through an API-only container, so the one worker (one CPU) of the next has
# seconds of work, and the stop comes as soon as one job is seen running.
step "podman stop -t 30 while jobs run"
api_only "$run_id-fill"
ids=()
for _ in $(seq 1 12); do
    for f in "${big[@]}"; do ids+=("$(submit "$f")") || fail "POST /v1/jobs failed"; done
done
stop_clean "$run_id-fill"
# Twice: with a 15 s grace the running job finishes; with none it is handed back at once.
# Either way the container exits 0 and every job is succeeded or queued (read by an API-only
# container, so nothing moves while they are counted).
stop_times=""
for grace in 15000 0; do
    run -d --name "$run_id-work-$grace" --network "$net" -p "127.0.0.1:$port:8080" \
        -e NDF_SHUTDOWN_GRACE_MS="$grace" "$image" >/dev/null
    running=""
    for _ in $(seq 1 1200); do # 120 s: one of them starts
        running=$(curl -sf "${auth[@]}" "$base/v1/jobs?state=running&limit=1" | jq -r '.jobs[0].id // empty') || true
        [ -n "$running" ] && break
        sleep 0.1
    done
    [ -n "$running" ] || fail "none of the queued jobs was seen running within 120 s"
    t1=$(date +%s.%N)
    stop_clean "$run_id-work-$grace"
    stop_s=$(since "$t1")
    stop_times+="$stop_s s (grace $grace ms) "
    echo "   grace $grace ms: stopped in $stop_s s with exit code 0 while job $running ran"

    api_only "$run_id-look-$grace"
    declare -A seen=()
    for j in "${ids[@]}"; do
        s=$(job_state "$j") || fail "job $j is gone after the stop"
        seen[$s]=$((${seen[$s]:-0} + 1))
        case "$s" in succeeded | queued) ;; *) fail "job $j is $s after a clean stop (expected succeeded or queued)" ;; esac
    done
    handed=$(podman logs "$run_id-work-$grace" 2>&1 | grep -c '"outcome":"handed_back"' || true)
    echo "   ${#ids[@]} jobs: $(for s in "${!seen[@]}"; do printf '%s %s, ' "${seen[$s]}" "$s"; done)$handed handed back at the stop (service log)"
    unset seen
    stop_clean "$run_id-look-$grace"
done

step "a fresh container on the volume finishes them all"
run -d --name "$run_id-again" --network "$net" -p "127.0.0.1:$port:8080" "$image" >/dev/null
wait_ready "$run_id-again"
for j in "${ids[@]}"; do
    wait_succeeded "$j"
    curl -sf "${auth[@]}" -o /dev/null "$base/v1/jobs/$j/result" || fail "no result for job $j"
done
echo "   all ${#ids[@]} jobs succeeded, none lost"
stop_clean "$run_id-again"

# --- figures --------------------------------------------------------------------------------------
step "figures"
echo "   image $image: $(podman image inspect -f '{{.Size}}' "$image") bytes (podman), rootfs.tar $(stat -c %s "$out/context/rootfs.tar") bytes$([ -f "$out/ndf-image.tar" ] && echo ", saved archive $(stat -c %s "$out/ndf-image.tar") bytes")"
echo "   binary: $(stat -c %s "$out/ndf") bytes stripped, debug info $(stat -c %s "$out/ndf.debug") bytes"
echo "   podman run to /readyz 200: $start_to_ready s; podman stop during jobs: $stop_times"
echo "image test: passed"
