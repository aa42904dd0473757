#!/usr/bin/env python3
"""The chart's own checks, with Helm's Go library (helm-python-sdk). Run by deploy/helm/check.sh
inside its venv:

    check_chart.py --out DIR [--update]

1. self-check: Helm's lint and render are shown a planted broken template and a planted bad
   value and must refuse both (so a lint or render that checks nothing fails the run);
2. Chart.yaml: appVersion = the workspace version (Cargo.toml), kubeVersion = ndf-operator's
   MIN_/MAX_KUBERNETES_MINOR;
3. crds/: byte for byte the committed CRD (deploy/kubernetes/crd, itself `ndf deploy crd`);
4. values.schema.json: what gen_values_schema.py makes of that CRD;
5. every CEL rule of the CRD has its mirror in templates/_validate.tpl (same message), and a
   planted violation of each is refused with that message by the templates alone (a copy of
   the chart without values.schema.json);
6. every profile (and the defaults, and each overlay on the profile OVERLAY_BASE names):
   lint --strict at the oldest and newest supported Kubernetes, render, compare with snapshots/<profile>.yaml (--update rewrites them), write the
   rendering to DIR/<profile>.yaml (CRD included once, DIR/crd.yaml) for the validators; the
   packaged chart (`helm package`) renders every profile the same;
7. the operator objects are the committed `ndf deploy operator-install` ones: the same RBAC
   rules, container and pod hardening, args, env, ports, probes, volumes, strategy, policy;
8. values logic: a table of bad values refused with the expected message, good ones rendered;
   the route's and the ingress' backend is the NdfCluster's Service;
9. nothing secret rendered: no Secret, no ConfigMap, secrets referenced by name only.
Exit status: 0 all good; 1 otherwise.
"""

import argparse
import copy
import os
import re
import shutil
import sys
import tempfile

import helm_python as helm
import yaml

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_values_schema  # noqa: E402
import render  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(HERE, "ndf")
CRD = os.path.join(REPO, "deploy", "kubernetes", "crd", "ndfclusters.ndf.dev.yaml")
OPERATOR = os.path.join(REPO, "deploy", "kubernetes", "operator", "ndf-operator.yaml")
PROFILES = os.path.join(HERE, "profiles")
OVERLAYS = os.path.join(HERE, "overlays")
# Each overlay is rendered (snapshot, validators, scanners) on the profile its header names.
OVERLAY_BASE = {"route": "scale-out", "ingress": "embedded"}
SNAPSHOTS = os.path.join(HERE, "snapshots")
RELEASE, NAMESPACE = "ndf", "ndf-system"
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"registry.example.com/ndf:0.1.0@{DIGEST}"

failures = []


def fail(msg):
    failures.append(msg)
    print(f"   FAIL {msg}", file=sys.stderr)


def ok(msg):
    print(f"   ok   {msg}")


def refused(values, chart=CHART):
    """Helm's error for these values, or None when they render."""
    try:
        render.render(values, chart=chart, name=RELEASE, namespace=NAMESPACE)
    except helm.HelmError as e:
        return str(e)
    return None


def docs_of(text):
    return [d for d in yaml.safe_load_all(text) if d]


def supported_versions():
    src = open(os.path.join(REPO, "crates", "ndf-operator", "src", "lib.rs"), encoding="utf-8").read()
    lo = re.search(r"^pub const MIN_KUBERNETES_MINOR: u32 = (\d+);", src, re.M)
    hi = re.search(r"^pub const MAX_KUBERNETES_MINOR: u32 = (\d+);", src, re.M)
    if not (lo and hi):
        sys.exit("MIN_/MAX_KUBERNETES_MINOR not found in crates/ndf-operator/src/lib.rs")
    return int(lo.group(1)), int(hi.group(1))


# ------------------------------------------------------------------ 1. self-check

def self_check(work):
    planted = os.path.join(work, "planted")
    shutil.copytree(CHART, planted)
    with open(os.path.join(planted, "templates", "zz-broken.yaml"), "w", encoding="utf-8") as f:
        f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.deeper }\n")
    report = helm.lint(planted, strict=True, kube_version="v1.33.0")
    if not report.get("errors"):
        fail("self-check: helm lint passed a chart with a broken template")
    else:
        ok(f"self-check: helm lint refuses a broken template ({report['errors'][0][:70]}…)")
    if refused({}, chart=planted) is None:
        fail("self-check: helm render passed a chart with a broken template")
    else:
        ok("self-check: helm render refuses a broken template")
    bad = {"operator": {"replicas": "one"}}
    report = helm.lint(CHART, bad, strict=True, kube_version="v1.33.0")
    if not report.get("errors") or refused(bad) is None:
        fail("self-check: lint or render accepted operator.replicas: \"one\"")
    else:
        ok("self-check: lint and render refuse a value of the wrong type")


# ------------------------------------------------------------------ 2-4. sources

def sources():
    cargo = open(os.path.join(REPO, "Cargo.toml"), encoding="utf-8").read()
    m = re.search(r"^\[workspace\.package\][^\[]*?^version = \"([^\"]+)\"", cargo, re.M | re.S)
    chart = yaml.safe_load(open(os.path.join(CHART, "Chart.yaml"), encoding="utf-8"))
    if not m or str(chart.get("appVersion")) != m.group(1):
        fail(f"Chart.yaml appVersion {chart.get('appVersion')!r} is not the workspace version "
             f"{m and m.group(1)!r}")
    else:
        ok(f"Chart.yaml appVersion {m.group(1)} = the workspace version")
    lo, hi = supported_versions()
    want = f">=1.{lo}.0-0 <1.{hi + 1}.0-0"
    if chart.get("kubeVersion") != want:
        fail(f"Chart.yaml kubeVersion {chart.get('kubeVersion')!r}, want {want!r} (ndf-operator)")
    else:
        ok(f"Chart.yaml kubeVersion {want!r} = ndf-operator's 1.{lo}..1.{hi}")

    copy_path = os.path.join(CHART, "crds", os.path.basename(CRD))
    crds = sorted(os.listdir(os.path.join(CHART, "crds")))
    if crds != [os.path.basename(CRD)]:
        fail(f"crds/ holds {crds}, want only {os.path.basename(CRD)}")
    if open(copy_path, "rb").read() != open(CRD, "rb").read():
        fail(f"{os.path.relpath(copy_path, REPO)} differs from {os.path.relpath(CRD, REPO)} "
             f"(cp it)")
    else:
        ok(f"crds/ = {os.path.relpath(CRD, REPO)}, byte for byte")

    crd = next(d for d in yaml.safe_load_all(open(CRD, encoding="utf-8")) if d)
    import json
    want_schema = json.dumps(gen_values_schema.values_schema(crd), indent=2) + "\n"
    have = open(gen_values_schema.OUT, encoding="utf-8").read()
    if have != want_schema:
        fail("values.schema.json differs from the CRD (run deploy/helm/gen_values_schema.py)")
    else:
        ok("values.schema.json = gen_values_schema.py of the CRD")
    return crd


# ------------------------------------------------------------------ 5. CEL mirrors

def cel_rules(crd):
    out = []

    def walk(node, path):
        if not isinstance(node, dict):
            return
        for r in node.get("x-kubernetes-validations", []):
            out.append((".".join(path), r["rule"], r["message"]))
        for k, v in (node.get("properties") or {}).items():
            walk(v, path + [k])
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + ["[]"])

    walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], [])
    return out


def spec(**fields):
    """A good embedded spec, with fields replaced."""
    s = {"image": IMAGE, "storage": {"embedded": {"size": "1Gi"}},
         "security": {"bootstrapKeysSecret": {"name": "k", "key": "keys"}}}
    s.update(copy.deepcopy(fields))
    return s


SCALE_OUT = {"scaleOut": {"postgres": {"urlSecret": {"name": "pg", "key": "url"}},
                          "s3": {"bucket": "b"}}}
MASTER = {"masterKey": {"name": "keys", "key": "masterKey"},
          "bootstrapKeysSecret": {"name": "k", "key": "keys"}}


def scale_out(**fields):
    return spec(**{"storage": SCALE_OUT, "security": MASTER, **fields})


def bluegreen(analysis):
    return scale_out(rollout={"strategy": "BlueGreen", "analysis": analysis})


PROM = {"address": "http://prometheus:9090", "query": "vector(0)", "threshold": 0.1}

# One planted violation per CEL message (the values the schema-less chart must refuse with it).
CEL_PLANTED = {
    "the name of an NdfCluster is at most 40 characters (its objects append up to 15)":
        {"name": "n" * 41, "spec": spec()},
    "embedded storage runs exactly one API replica (api.replicas: 1)":
        {"spec": spec(api={"replicas": 2})},
    "embedded storage has no separate workers (workers.replicas: 0): the API replica runs the jobs":
        {"spec": spec(workers={"replicas": 1})},
    "embedded storage cannot autoscale: use scaleOut storage":
        {"spec": spec(autoscaling={"enabled": True, "prometheusAddress": "http://p:9090"})},
    "embedded storage needs rollout.strategy Rolling (one volume cannot serve two colours)":
        {"spec": spec(rollout={"strategy": "BlueGreen"})},
    "scaleOut storage needs security.masterKey: ndf encrypts what it keeps outside its data directory":
        {"spec": spec(storage=SCALE_OUT)},
    "gpu.count must be at least 1 when gpu.enabled":
        {"spec": scale_out(gpu={"enabled": True, "count": 0})},
    "autoscaling.minReplicas must not exceed autoscaling.maxReplicas":
        {"spec": scale_out(autoscaling={"minReplicas": 5, "maxReplicas": 4})},
    "autoscaling.apiMinReplicas must not exceed autoscaling.apiMaxReplicas":
        {"spec": scale_out(autoscaling={"apiMinReplicas": 5, "apiMaxReplicas": 4})},
    "autoscaling.prometheusAddress is required when autoscaling is enabled (KEDA reads the queue depth there)":
        {"spec": scale_out(autoscaling={"enabled": True})},
    "rollout.analysis runs only with strategy BlueGreen":
        {"spec": scale_out(rollout={"analysis": {"smoke": {"count": 1}}})},
    "rollout.analysis: set exactly one of prometheus and smoke":
        {"spec": bluegreen({"prometheus": PROM, "smoke": {"count": 1}})},
    "rollout.analysis.prometheus.failureLimit must be below count":
        {"spec": bluegreen({"prometheus": dict(PROM, count=2, failureLimit=2)})},
    "rollout.analysis.prometheus.address must be an http(s) URL":
        {"spec": bluegreen({"prometheus": dict(PROM, address="prometheus:9090")})},
    "storage: set exactly one of embedded and scaleOut":
        {"spec": spec(storage=dict(SCALE_OUT, embedded={"size": "1Gi"}), security=MASTER)},
}
# Rules on oldSelf compare with the live object: planted through the template the chart calls
# with the looked-up NdfCluster (lookup itself answers nothing offline).
CEL_TRANSITION_PLANTED = {
    "storage cannot switch between embedded and scaleOut in place: migrate to a new NdfCluster":
        ("ndf.validateStorageTransition", {"spec": {"storage": {"embedded": {}}}},
         {"storage": SCALE_OUT}),
}


def cel_mirrors(crd, work):
    rules = cel_rules(crd)
    tpl = open(os.path.join(CHART, "templates", "_validate.tpl"), encoding="utf-8").read()
    bare = os.path.join(work, "no-schema")
    shutil.copytree(CHART, bare)
    os.remove(os.path.join(bare, "values.schema.json"))
    for path, rule, message in rules:
        where = f"CEL rule on {path or '<root>'} ({message[:50]}…)"
        if f'fail "{message}"' not in tpl:
            fail(f"{where}: no `fail \"{message}\"` mirror in templates/_validate.tpl")
            continue
        if message in CEL_PLANTED:
            cluster = dict(CEL_PLANTED[message], enabled=True)
            err = refused({"cluster": cluster}, chart=bare)
            strict_err = refused({"cluster": cluster})
            if err is None or message not in err:
                fail(f"{where}: the planted violation was not refused with the rule's message "
                     f"by the templates (got: {err})")
            elif strict_err is None:
                fail(f"{where}: the chart (with its schema) accepted the planted violation")
            else:
                ok(f"{where}: mirrored, planted violation refused")
        elif message in CEL_TRANSITION_PLANTED:
            template, old, new = CEL_TRANSITION_PLANTED[message]
            transition = os.path.join(work, "transition")
            shutil.copytree(bare, transition)
            plant = os.path.join(transition, "templates", "zz-planted.yaml")
            with open(plant, "w", encoding="utf-8") as f:
                f.write("{{- include %s (dict \"old\" .Values.tests.old \"new\" .Values.tests.new) }}\n"
                        % f'"{template}"')
            err = refused({"tests": {"old": old, "new": new}}, chart=transition)
            same = refused({"tests": {"old": old, "new": {"storage": {"embedded": {}}}}},
                           chart=transition)
            if "lookup \"ndf.dev/v1alpha1\" \"NdfCluster\"" not in tpl:
                fail(f"{where}: _validate.tpl does not look the live NdfCluster up")
            elif err is None or message not in err or same is not None:
                fail(f"{where}: the planted transition was not refused (got: {err}), or an "
                     f"unchanged storage was ({same})")
            else:
                ok(f"{where}: mirrored (against the looked-up live object), planted transition "
                   f"refused")
        else:
            fail(f"{where}: no planted violation in check_chart.py CEL_PLANTED")
    stale = (set(CEL_PLANTED) | set(CEL_TRANSITION_PLANTED)) - {m for _, _, m in rules}
    for m in sorted(stale):
        fail(f"CEL_PLANTED has a rule the CRD no longer has: {m}")
    print(f"   {len(rules)} CEL rules in the CRD")


# ------------------------------------------------------------------ 6. profiles

def profiles():
    """(name, values files): the defaults, each profile, each overlay on its profile."""
    names = sorted(f[:-5] for f in os.listdir(PROFILES) if f.endswith(".yaml"))
    out = [("default", [])] + [(n, [os.path.join(PROFILES, n + ".yaml")]) for n in names]
    for o in sorted(f[:-5] for f in os.listdir(OVERLAYS) if f.endswith(".yaml")):
        base = OVERLAY_BASE.get(o)
        if base not in names:
            sys.exit(f"overlays/{o}.yaml: no profile to render it on in OVERLAY_BASE")
        out.append((f"{base}+{o}", [os.path.join(PROFILES, base + ".yaml"),
                                    os.path.join(OVERLAYS, o + ".yaml")]))
    return out


def lint_and_render(out, update):
    lo, hi = supported_versions()
    rendered = {}
    for name, paths in profiles():
        values = render.user_values(paths)
        for minor in (lo, hi):
            report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE,
                               kube_version=f"v1.{minor}.0")
            bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
            if bad or report.get("errors"):
                fail(f"{name}: helm lint --strict (Kubernetes 1.{minor}): "
                     f"{bad or report.get('errors')}")
        try:
            text = render.render(values, name=RELEASE, namespace=NAMESPACE)
        except helm.HelmError as e:
            fail(f"{name}: render failed: {e}")
            continue
        rendered[name] = text
        snapshot = os.path.join(SNAPSHOTS, name + ".yaml")
        header = (f"# Golden snapshot: deploy/helm/render.py"
                  f"{''.join(' -f ' + os.path.relpath(p, REPO) for p in paths)}"
                  f" --name {RELEASE} --namespace {NAMESPACE}\n"
                  f"# Regenerate: bash deploy/helm/check.sh --update\n")
        if update:
            with open(snapshot, "w", encoding="utf-8") as f:
                f.write(header + text)
            ok(f"{name}: snapshot written")
        elif not os.path.exists(snapshot):
            fail(f"{name}: no snapshot {os.path.relpath(snapshot, REPO)} (check.sh --update)")
        elif open(snapshot, encoding="utf-8").read() != header + text:
            fail(f"{name}: rendering differs from {os.path.relpath(snapshot, REPO)} "
                 f"(review, then check.sh --update)")
        else:
            ok(f"{name}: lint --strict at 1.{lo} and 1.{hi}, rendered "
               f"{len(docs_of(text))} objects = snapshot")
        with open(os.path.join(out, name + ".yaml"), "w", encoding="utf-8") as f:
            f.write(text)
    extra = {f[:-5] for f in os.listdir(SNAPSHOTS) if f.endswith(".yaml")} - {n for n, _ in profiles()}
    for e in sorted(extra):
        fail(f"snapshots/{e}.yaml has no profile")
    with helm.Chart.load(CHART) as c:
        with open(os.path.join(out, "crd.yaml"), "w", encoding="utf-8") as f:
            f.write("".join(x["data"] for x in c.crds))
    return rendered


def package(rendered, out):
    """The packaged chart (what a release pushes) holds everything: the same renderings."""
    archive = helm.package(CHART, destination=out)
    for name, paths in profiles():
        values = render.user_values(paths)
        if render.render(values, chart=archive, name=RELEASE, namespace=NAMESPACE) != rendered.get(name):
            fail(f"{name}: the packaged chart {os.path.basename(archive)} renders differently")
            return
    with helm.Chart.load(archive) as c:
        crds = len(c.crds)
    os.remove(archive)
    if crds != 1:
        fail(f"the packaged chart holds {crds} CRDs, want 1")
        return
    ok(f"{os.path.basename(archive)}: every profile renders as from the directory; CRD included")


# ------------------------------------------------------------------ 7. operator drift

def operator_drift(default_text):
    committed = {(d["kind"]): d for d in yaml.safe_load_all(open(OPERATOR, encoding="utf-8")) if d}
    chart = {d["kind"]: d for d in docs_of(default_text)}
    checks = []
    before = len(failures)

    def same(what, a, b):
        checks.append(what)
        if a != b:
            fail(f"operator drift: {what}: chart {a!r} != committed {b!r}")

    same("ClusterRole rules", chart["ClusterRole"]["rules"], committed["ClusterRole"]["rules"])
    same("ClusterRoleBinding roleRef", chart["ClusterRoleBinding"]["roleRef"],
         committed["ClusterRoleBinding"]["roleRef"])
    same("ServiceAccount automount", chart["ServiceAccount"].get("automountServiceAccountToken"),
         committed["ServiceAccount"].get("automountServiceAccountToken"))
    cd, kd = chart["Deployment"], committed["Deployment"]
    same("Deployment replicas, strategy, history",
         [cd["spec"].get(k) for k in ("replicas", "strategy", "revisionHistoryLimit")],
         [kd["spec"].get(k) for k in ("replicas", "strategy", "revisionHistoryLimit")])
    cp, kp = cd["spec"]["template"]["spec"], kd["spec"]["template"]["spec"]
    for key in ("securityContext", "automountServiceAccountToken", "enableServiceLinks",
                "volumes", "serviceAccountName"):
        same(f"pod {key}", cp.get(key), kp.get(key))
    (cc,), (kc,) = cp["containers"], kp["containers"]
    for key in ("name", "securityContext", "args", "env", "ports", "readinessProbe",
                "livenessProbe", "volumeMounts", "resources", "imagePullPolicy"):
        same(f"container {key}", cc.get(key), kc.get(key))
    # The committed install's accepted checkov findings, and the same reasons (the chart adds
    # the unpinned-image ones only while image.digest is empty).
    chart_notes = cd["metadata"].get("annotations") or {}
    same("Deployment checkov annotations",
         {k: chart_notes.get(k) for k in kd["metadata"].get("annotations") or {}},
         kd["metadata"].get("annotations") or {})
    cn, kn = chart["NetworkPolicy"]["spec"], committed["NetworkPolicy"]["spec"]
    same("NetworkPolicy egress and policy types", [cn["egress"], cn["policyTypes"]],
         [kn["egress"], kn["policyTypes"]])
    if len(failures) == before:
        ok(f"operator objects = {os.path.relpath(OPERATOR, REPO)}: {', '.join(checks)}")


# ------------------------------------------------------------------ 8. values logic

GATEWAY_NS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gw"}}}
ROUTE = {"enabled": True, "parentRefs": [{"name": "gw", "namespace": "gw"}]}
INGRESS = {"enabled": True, "hosts": [{"host": "ndf.example.com"}]}


def exposed(**fields):
    """An embedded cluster whose API admits the gateway's namespace, and `fields` (route, …)."""
    return {"cluster": {"enabled": True, "spec": spec(network={"apiIngressFrom": [GATEWAY_NS]})},
            **fields}


BAD = [
    ("scale-out without a database secret",
     {"cluster": {"enabled": True, "spec": scale_out(storage={"scaleOut": {"s3": {"bucket": "b"}}})}},
     "missing property 'postgres'"),
    ("scale-out with postgres but no urlSecret",
     {"cluster": {"enabled": True, "spec": scale_out(
         storage={"scaleOut": {"postgres": {}, "s3": {"bucket": "b"}}})}},
     "missing property 'urlSecret'"),
    ("embedded with two replicas",
     {"cluster": {"enabled": True, "spec": spec(api={"replicas": 2})}},
     "embedded storage runs exactly one API replica (api.replicas: 1)"),
    ("embedded (by default) with two replicas",
     {"cluster": {"enabled": True, "spec": {"image": IMAGE, "api": {"replicas": 2},
                                            "security": MASTER}}},
     "embedded storage runs exactly one API replica (api.replicas: 1)"),
    ("unknown key at the top level", {"replicaCount": 2},
     "additional properties 'replicaCount' not allowed"),
    ("unknown key under operator", {"operator": {"leaderElection": True}},
     "additional properties 'leaderElection' not allowed"),
    ("unknown key under cluster.spec", {"cluster": {"enabled": True, "spec": spec(replicas=2)}},
     "additional properties 'replicas' not allowed"),
    ("unknown key deep under cluster.spec",
     {"cluster": {"enabled": True, "spec": scale_out(
         storage={"scaleOut": {"postgres": {"urlSecret": {"name": "pg", "key": "url",
                                                          "namespace": "x"}},
                               "s3": {"bucket": "b"}}})}},
     "additional properties 'namespace' not allowed"),
    ("operator replicas 2", {"operator": {"replicas": 2}}, "maximum: got 2, want 1"),
    ("an NdfCluster without an image", {"cluster": {"enabled": True, "spec": {}}},
     "missing property 'image'"),
    ("a wrong type deep under cluster.spec",
     {"cluster": {"enabled": True, "spec": spec(pod={"jobDeadlineSeconds": "long"})}},
     "got string, want integer"),
    ("a helm test without any API key",
     {"cluster": {"enabled": True, "spec": spec(security={})}},
     "tests.apiKeySecret (or cluster.spec.security.bootstrapKeysSecret) must name"),
    ("an image digest that is not one", {"image": {"repository": "r", "digest": "latest"}},
     "/image/digest"),
    ("an unknown key under route", exposed(route=dict(ROUTE, backend="ndf")),
     "additional properties 'backend' not allowed"),
    ("an unknown key under ingress.hosts[]",
     exposed(ingress=dict(INGRESS, hosts=[{"host": "ndf.example.com", "port": 80}])),
     "additional properties 'port' not allowed"),
    ("a route without parentRefs", exposed(route={"enabled": True}), "/route/parentRefs"),
    ("an ingress without hosts", exposed(ingress={"enabled": True}), "/ingress/hosts"),
    ("a route timeout that is not a Gateway API duration",
     exposed(route=dict(ROUTE, timeouts={"request": "10 minutes"})), "/route/timeouts/request"),
    ("a route hostname with capitals", exposed(route=dict(ROUTE, hostnames=["NDF.example.com"])),
     "/route/hostnames/0"),
    ("a route without an NdfCluster or a serviceName", {"route": ROUTE},
     "route.enabled needs cluster.enabled, or route.serviceName"),
    ("an ingress without an NdfCluster or a serviceName", {"ingress": INGRESS},
     "ingress.enabled needs cluster.enabled, or ingress.serviceName"),
    ("a route the API's NetworkPolicy would not admit (no apiIngressFrom)",
     {"cluster": {"enabled": True, "spec": spec()}, "route": ROUTE},
     "route.enabled: the API's NetworkPolicy admits only pods of namespace ndf-system: name the "
     "gateway's pods in cluster.spec.network.apiIngressFrom"),
    ("an ingress the API's NetworkPolicy would not admit (no apiIngressFrom)",
     {"cluster": {"enabled": True, "spec": spec()}, "ingress": INGRESS},
     "name the ingress controller's pods in cluster.spec.network.apiIngressFrom"),
    ("a route to an HTTPS API without backendTLS",
     {"cluster": {"enabled": True, "spec": spec(
         network={"apiIngressFrom": [GATEWAY_NS]},
         security={"tls": {"secretName": "tls"}, "bootstrapKeysSecret": {"name": "k", "key": "keys"}})},
      "route": ROUTE},
     "route.enabled with cluster.spec.security.tls: the API speaks HTTPS; set "
     "route.backendTLS.caCertificateRefs"),
]
GOOD = [
    ("the defaults (operator only)", {}),
    ("an NdfCluster only, with an operator from elsewhere",
     {"operator": {"enabled": False}, "cluster": {"enabled": True, "spec": spec()}}),
    ("operator paused (0 replicas)", {"operator": {"replicas": 0}}),
    ("embedded by default (no storage given)",
     {"cluster": {"enabled": True, "spec": {"image": IMAGE, "security": MASTER}}}),
    ("open mode without keys and without tests",
     {"tests": {"enabled": False}, "cluster": {"enabled": True, "spec": spec(
         security={"insecureNoAuth": True})}}),
    ("a smoke analysis on blue-green", {"cluster": {"enabled": True, "spec": bluegreen(
        {"smoke": {"count": 2, "apiKeySecret": {"name": "k", "key": "key"}}})}}),
    ("TLS with an explicit CA secret and an explicit test key",
     {"tests": {"apiKeySecret": {"name": "t", "key": "key"}, "caSecret": {"name": "ca", "key": "pem"}},
      "cluster": {"enabled": True, "spec": spec(security={"tls": {"secretName": "tls"},
                                                            "bootstrapKeysSecret": {"name": "k", "key": "keys"}})}}),
    ("a 40-character name", {"cluster": {"enabled": True, "name": "n" * 40, "spec": spec()}}),
    ("an NdfCluster deleted with the release",
     {"cluster": {"enabled": True, "keepOnUninstall": False, "spec": spec()}}),
    ("a route and an ingress to an NdfCluster managed elsewhere (serviceName)",
     {"route": dict(ROUTE, serviceName="docs"), "ingress": dict(INGRESS, serviceName="docs")}),
    ("a route under a path prefix (rewritten to /)", exposed(route=dict(ROUTE, pathPrefix="/ndf"))),
    ("a route and an ingress with the API's NetworkPolicies off",
     {"cluster": {"enabled": True, "spec": spec(network={"policies": False})},
      "route": ROUTE, "ingress": INGRESS}),
]


def values_logic():
    for what, values, expected in BAD:
        err = refused(values)
        if err is None:
            fail(f"values: {what}: rendered, should be refused")
        elif expected not in err:
            fail(f"values: {what}: refused, but not with {expected!r}: {err}")
        else:
            ok(f"values: {what}: refused ({expected})")
    for what, values in GOOD:
        err = refused(values)
        if err is not None:
            fail(f"values: {what}: refused: {err}")
        else:
            ok(f"values: {what}: renders")


def exposure():
    """The route and the ingress send to the Service the operator names after the NdfCluster
    (cluster.name, else the release), on the API port; a path prefix is rewritten to /."""
    values = exposed(route=dict(ROUTE, pathPrefix="/ndf"), ingress=INGRESS)
    values["cluster"]["name"] = "docs"
    objs = {o["kind"]: o for o in docs_of(render.render(values, name=RELEASE, namespace=NAMESPACE))}
    route, ingress = objs.get("HTTPRoute"), objs.get("Ingress")
    if not route or not ingress:
        fail(f"exposure: want an HTTPRoute and an Ingress, got {sorted(objs)}")
        return
    (rule,) = route["spec"]["rules"]
    backends = [(b["name"], b["port"]) for b in rule["backendRefs"]]
    backends += [(p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
                 for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    rewrite = [f["urlRewrite"]["path"] for f in rule.get("filters", []) if f["type"] == "URLRewrite"]
    if set(backends) != {("docs", 8080)}:
        fail(f"exposure: backends {backends}, want the NdfCluster's Service docs:8080")
    elif rewrite != [{"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}]:
        fail(f"exposure: /ndf is not rewritten to / ({rule})")
    elif not rule.get("timeouts", {}).get("request"):
        fail("exposure: the route has no request timeout")
    else:
        ok("exposure: route and ingress send to the NdfCluster's Service (cluster.name) on 8080; "
           "a path prefix is rewritten to /; the route has a request timeout")


# ------------------------------------------------------------------ 9. secrets

SECRET_FIELDS = ("urlSecret", "credentialsSecret", "apiKeySecret", "masterKey",
                 "bootstrapKeysSecret", "webhookSecret", "tls")


def no_secrets(rendered):
    for name, text in rendered.items():
        objs = docs_of(text)
        kinds = {o["kind"] for o in objs}
        if kinds & {"Secret", "ConfigMap"}:
            fail(f"{name}: renders a {sorted(kinds & {'Secret', 'ConfigMap'})}")
            continue
        refs = []

        def walk(node, path):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k in SECRET_FIELDS:
                        if not (isinstance(v, dict) and set(v) <= {"name", "key", "secretName",
                                                                   "clientCaKey", "accessKeyIdKey",
                                                                   "secretAccessKeyKey"}):
                            fail(f"{name}: {'.'.join(path + [k])} is not a Secret reference")
                        refs.append(".".join(path + [k]))
                    walk(v, path + [k])

        for o in objs:
            if o["kind"] == "NdfCluster":
                walk(o["spec"], ["spec"])
        ok(f"{name}: no Secret, no ConfigMap; {len(refs)} secrets referenced by name only")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--update", action="store_true", help="rewrite the golden snapshots")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"helm-python-sdk {helm.__version__} (Helm {helm.helm_sdk_version()})")
    with tempfile.TemporaryDirectory() as work:
        print("== self-check of Helm's lint and render")
        self_check(work)
        print("== sources: Chart.yaml, crds/, values.schema.json")
        crd = sources()
        print("== CEL rules mirrored in templates/_validate.tpl")
        cel_mirrors(crd, work)
    print("== profiles: lint --strict, render, golden snapshots")
    rendered = lint_and_render(args.out, args.update)
    print("== helm package: the archive renders as the directory does")
    package(rendered, args.out)
    print("== operator objects against ndf deploy operator-install")
    if "default" in rendered:
        operator_drift(rendered["default"])
    print("== values logic")
    values_logic()
    exposure()
    print("== nothing secret rendered")
    no_secrets({k: v for k, v in rendered.items() if k != "default"})
    if failures:
        print(f"check_chart: {len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("check_chart: all good")


if __name__ == "__main__":
    main()
