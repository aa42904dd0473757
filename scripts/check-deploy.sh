#!/usr/bin/env bash
# Checks the monitoring deployment files: Prometheus rules (syntax and unit tests), the example
# Prometheus and Alertmanager configurations (syntax, routing, inhibition against a real
# Alertmanager on loopback), the Grafana dashboard, and that every alert has its tests and its
# runbook. Run from anywhere: bash scripts/check-deploy.sh
#
# Needs promtool, amtool and the alertmanager binary on PATH (Debian packages `prometheus` and
# `prometheus-alertmanager`) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
fail() { printf 'check-deploy: %s\n' "$*" >&2; exit 1; }

PROM_DIR=deploy/prometheus
ALERTS=$PROM_DIR/rules/ndf-alerts.yml
AM_CONFIG=deploy/alertmanager/alertmanager.yml
DASHBOARD=deploy/grafana/ndf-service.json

ALERTMANAGER_BIN=""
for candidate in alertmanager prometheus-alertmanager; do
    if command -v "$candidate" >/dev/null 2>&1; then ALERTMANAGER_BIN=$candidate; break; fi
done
missing=()
for tool in promtool amtool python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -n "$ALERTMANAGER_BIN" ] || missing+=("alertmanager")
if [ ${#missing[@]} -ne 0 ]; then
    fail "missing on PATH: ${missing[*]} (Debian: apt-get install prometheus prometheus-alertmanager python3)"
fi

TMP=$(mktemp -d)
AM_PID=""
cleanup() {
    if [ -n "$AM_PID" ]; then kill "$AM_PID" 2>/dev/null || true; wait "$AM_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# --- Prometheus -----------------------------------------------------------------------------
log "promtool check rules"
promtool check rules "$PROM_DIR"/rules/*.yml

log "promtool test rules"
promtool test rules "$PROM_DIR"/tests/*.yml

log "promtool check config (rule_files resolve relative to the config file)"
promtool check config "$PROM_DIR/prometheus.yml"

# --- alerts: labels, runbooks, test coverage; metric names ----------------------------------
log "alerts have severity, annotations, runbooks and tests; metric names are in the catalogue"
CHECK_TMP=$TMP python3 - "$ALERTS" "$DASHBOARD" "$PROM_DIR"/rules/*.yml -- "$PROM_DIR"/tests/*.yml <<'EOF'
import json, os, re, sys

args = sys.argv[1:]
alerts_file, dashboard_file = args[0], args[1]
sep = args.index("--")
rule_files, test_files = args[2:sep], args[sep + 1:]
errors = []

# The metric catalogue of `ndf serve` / `ndf worker`, read from its one definition (the
# `metrics!` table of crates/ndf-server/src/telemetry/metrics.rs). Counters get `_total`;
# histogram series carry _bucket/_sum/_count, stripped before the lookup.
catalogue_src = open("crates/ndf-server/src/telemetry/metrics.rs", encoding="utf-8").read()
CATALOGUE = set()
for name, kind in re.findall(r'=> \("([a-z0-9_]+)", (Counter|Gauge|Histogram),', catalogue_src):
    CATALOGUE.add(name + "_total" if kind == "Counter" else name)
if len(CATALOGUE) < 20:
    errors.append(f"metric catalogue not found in metrics.rs ({len(CATALOGUE)} names)")
# The same extraction as the service's dashboard test; recording-rule names (ndf:...) never match.
IDENT = re.compile(r"(?:ndf|process)_[a-z0-9_]+")

def check_names(where, expr):
    for name in IDENT.findall(expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in CATALOGUE and base not in CATALOGUE:
            errors.append(f"{where}: unknown metric {name}")

def kebab(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()

# Rule files are ours and uniformly formatted; parse the few fields needed line by line.
alerts = []  # (name, labels, annotations)
for path in rule_files:
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"^\s+expr: (\|\n(?:\s{10,}.*\n)+|.*\n)", text, re.M):
        check_names(path, m.group(1))
    if path != alerts_file:
        continue
    for block in re.split(r"^\s+- alert: ", text, flags=re.M)[1:]:
        name = block.split("\n", 1)[0].strip()
        fields = dict(re.findall(r"^\s+(severity|summary|description|runbook_url): (.+)$", block, re.M))
        alerts.append((name, fields))
if not alerts:
    errors.append(f"{alerts_file}: no alerts found")

readme = open("docs/runbooks/README.md", encoding="utf-8").read()
for name, fields in alerts:
    if fields.get("severity") not in ("page", "ticket"):
        errors.append(f"{name}: severity must be page or ticket, is {fields.get('severity')}")
    for key in ("summary", "description"):
        if not fields.get(key):
            errors.append(f"{name}: annotation {key} missing")
    want = f"docs/runbooks/{kebab(name)}.md"
    if fields.get("runbook_url") != want:
        errors.append(f"{name}: runbook_url must be {want}, is {fields.get('runbook_url')}")
    elif not os.path.isfile(want):
        errors.append(f"{name}: runbook {want} does not exist")
    if f"({os.path.basename(want)})" not in readme:
        errors.append(f"{name}: docs/runbooks/README.md does not link {os.path.basename(want)}")

# Every alert needs a test where it fires and one where it stays silent.
fires, silent = set(), set()
for path in test_files:
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"alertname: (\w+)\n\s+exp_alerts:( \[\])?\n", text):
        (silent if m.group(2) else fires).add(m.group(1))
for name in sorted({n for n, _ in alerts}):
    if name not in fires:
        errors.append(f"{name}: no test expects it to fire")
    if name not in silent:
        errors.append(f"{name}: no test expects it to stay silent")

# Dashboard: valid JSON, data source template, every panel queries something known.
try:
    dash = json.load(open(dashboard_file, encoding="utf-8"))
except ValueError as e:
    errors.append(f"{dashboard_file}: not valid JSON: {e}")
    dash = {"panels": []}
if not any(v.get("name") == "datasource" and v.get("type") == "datasource" and v.get("query") == "prometheus"
           for v in dash.get("templating", {}).get("list", [])):
    errors.append(f"{dashboard_file}: no prometheus template variable named datasource")
if not dash.get("panels"):
    errors.append(f"{dashboard_file}: no panels")
exprs = []
for panel in dash.get("panels", []):
    title = panel.get("title", f"panel {panel.get('id')}")
    if panel.get("datasource", {}).get("uid") != "${datasource}":
        errors.append(f"{dashboard_file}: panel {title!r} does not use ${{datasource}}")
    targets = [t.get("expr", "").strip() for t in panel.get("targets", [])]
    if not any(targets):
        errors.append(f"{dashboard_file}: panel {title!r} has no target with an expr")
    for expr in filter(None, targets):
        check_names(f"{dashboard_file} panel {title!r}", expr)
        exprs.append(expr)

# Hand the dashboard queries to promtool as recording rules to prove they parse.
with open(os.path.join(os.environ["CHECK_TMP"], "dashboard-rules.yml"), "w", encoding="utf-8") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, expr in enumerate(exprs):
        expr = expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
        out.write(f"      - record: dashboard:expr_{i}\n        expr: {json.dumps(expr)}\n")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"{len(alerts)} alert rules, {len(exprs)} dashboard queries: ok")
EOF

log "dashboard queries parse (promtool check rules on a generated file)"
promtool check rules "$TMP/dashboard-rules.yml"

# --- Alertmanager ---------------------------------------------------------------------------
log "amtool check-config"
amtool check-config "$AM_CONFIG"

log "amtool config routes test"
route_test() {
    local want=$1; shift
    local out
    out=$(amtool config routes test --config.file="$AM_CONFIG" --verify.receivers="$want" "$@" 2>&1) \
        || fail "labels {$*} should route to $want: $out"
    printf '  {%s} -> %s\n' "$*" "$want"
}
route_test ndf-page severity=page alertname=NdfApiOutage cluster=prod
route_test ndf-page severity=page alertname=NdfAllReplicasDown cluster=prod job=ndf
route_test ndf-ticket severity=ticket alertname=NdfInstanceDown cluster=prod instance=a:8080
route_test ndf-ticket severity=ticket alertname=NdfAvailabilityBudgetBurn cluster=prod long_window=3d
route_test ndf-default alertname=SomethingElse cluster=prod
# Each alert rule reaches the receiver of its severity.
while read -r name severity; do
    route_test "ndf-$severity" alertname="$name" severity="$severity" cluster=prod
done < <(awk '/^ *- alert: /{name=$3} /^ *severity: /{if (name != "") print name, $2; name=""}' "$ALERTS" | sort -u)

log "inhibition rules against a real Alertmanager on loopback"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ALERTMANAGER_BIN" --config.file="$AM_CONFIG" --storage.path="$TMP/am" \
    --web.listen-address="127.0.0.1:$PORT" --cluster.listen-address= >"$TMP/am.log" 2>&1 &
AM_PID=$!
python3 - "$PORT" <<'EOF' || { cat "$TMP/am.log" >&2; fail "inhibition check failed"; }
import json, sys, time, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(600):  # up to 60 s for the server to come up (a busy machine is slow)
    try:
        urllib.request.urlopen(base + "/-/ready", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("alertmanager did not become ready")

# (labels, expected state). Each case in its own cluster: NdfAllReplicasDown inhibits a cluster.
cases = [
    # a page inhibits the ticket of the same alert and cluster only
    ({"alertname": "NdfAvailabilityBudgetBurn", "severity": "page", "long_window": "1h", "cluster": "c1"}, "active"),
    ({"alertname": "NdfAvailabilityBudgetBurn", "severity": "ticket", "long_window": "3d", "cluster": "c1"}, "suppressed"),
    ({"alertname": "NdfLatencyBudgetBurn", "severity": "ticket", "long_window": "3d", "cluster": "c1"}, "active"),
    ({"alertname": "NdfAvailabilityBudgetBurn", "severity": "ticket", "long_window": "3d", "cluster": "c1b"}, "active"),
    # every API replica down inhibits the rest of that cluster
    ({"alertname": "NdfAllReplicasDown", "severity": "page", "job": "ndf", "cluster": "c2"}, "active"),
    ({"alertname": "NdfApiOutage", "severity": "page", "cluster": "c2"}, "suppressed"),
    ({"alertname": "NdfInstanceDown", "severity": "ticket", "job": "ndf", "instance": "a:8080", "cluster": "c2"}, "suppressed"),
    ({"alertname": "NdfApiOutage", "severity": "page", "cluster": "c2b"}, "active"),
    # a down replica inhibits alerts about the same replica only
    ({"alertname": "NdfInstanceDown", "severity": "ticket", "job": "ndf", "instance": "a:8080", "cluster": "c3"}, "active"),
    ({"alertname": "NdfMemoryNearLimit", "severity": "ticket", "job": "ndf", "instance": "a:8080", "cluster": "c3"}, "suppressed"),
    ({"alertname": "NdfMemoryNearLimit", "severity": "ticket", "job": "ndf", "instance": "b:8080", "cluster": "c3"}, "active"),
    ({"alertname": "NdfApiOutage", "severity": "page", "cluster": "c3"}, "active"),
]
body = json.dumps([{"labels": labels} for labels, _ in cases]).encode()
req = urllib.request.Request(base + "/api/v2/alerts", data=body, headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5)

key = lambda labels: tuple(sorted(labels.items()))
want = {key(labels): state for labels, state in cases}
bad = []
for _ in range(300):  # inhibition is evaluated when alerts are listed; up to 30 s on a busy machine
    got = {key(a["labels"]): a["status"]["state"]
           for a in json.load(urllib.request.urlopen(base + "/api/v2/alerts", timeout=5))}
    bad = [(dict(k), s, got.get(k)) for k, s in want.items() if got.get(k) != s]
    if not bad:
        break
    time.sleep(0.1)
for labels, expected, actual in bad:
    print(f"  {labels}: expected {expected}, got {actual}", file=sys.stderr)
if bad:
    sys.exit(1)
print(f"  {len(cases)} alerts: inhibited as expected")
EOF

log "all deployment checks passed"
