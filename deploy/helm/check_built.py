#!/usr/bin/env python3
"""What the operator builds from a profile's NdfCluster (`ndf deploy render`), checked against
what the profile promises. Run by deploy/helm/check.sh:

    check_built.py PROFILE NDFCLUSTER.yaml OPERATOR-OBJECTS.yaml CHART-RENDERING.yaml

Every profile: no Secret object; no ConfigMap carrying secret material (connection URLs,
private keys, key names of the Secrets); every Secret the spec names is used by a pod through a
secretKeyRef or a secret volume. Then per profile: embedded (one API replica on a PVC, no
workers), scale-out (API and workers, no PVC), autoscaling (a KEDA ScaledObject on the workers
and an HPA on the API), gpu (GPU requests on the workers only). And the chart's `helm test` Pod
reaches what the operator builds: its URL names the active Service and its port, and its own
NetworkPolicy's egress selects the API pods on their container port. A route or ingress
(PROFILE+route, PROFILE+ingress: an overlay on a profile) sends to a Service the operator builds,
on its port, selecting the API pods; the operator's API NetworkPolicy admits each of
network.apiIngressFrom (the gateway's pods) on the API port, and still the test Pod.
Exit status: 0 as promised; 1 otherwise.
"""

import re
import sys

import yaml

SECRET_REFS = re.compile(r"postgres(ql)?://|-----BEGIN|secretAccessKey|masterKey|apiKeySecret")


def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def named_secrets(spec):
    """Secret names the NdfCluster spec refers to."""
    names = set()
    for node in walk(spec):
        for key in ("urlSecret", "credentialsSecret", "apiKeySecret", "masterKey",
                    "bootstrapKeysSecret", "webhookSecret"):
            ref = node.get(key)
            if isinstance(ref, dict) and "name" in ref:
                names.add(ref["name"])
        tls = node.get("tls")
        if isinstance(tls, dict) and "secretName" in tls:
            names.add(tls["secretName"])
    return names


def used_secrets(objs):
    names = set()
    for obj in objs:
        for node in walk(obj):
            ref = node.get("secretKeyRef")
            if isinstance(ref, dict):
                names.add(ref.get("name"))
            sec = node.get("secret")
            if isinstance(sec, dict) and "secretName" in sec:
                names.add(sec["secretName"])
    return names


def smoke_test_reaches_api(chart, kinds, api):
    pods = [o for o in chart if o["kind"] == "Pod"]
    policies = [o for o in chart if o["kind"] == "NetworkPolicy"
                and (o["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    if len(pods) != 1 or len(policies) != 1 or len(api) != 1:
        return [f"want one test Pod, one test NetworkPolicy, one API Deployment; got "
                f"{len(pods)}, {len(policies)}, {len(api)}"]
    args = pods[0]["spec"]["containers"][0]["args"]
    url = args[args.index("--url") + 1]
    m = re.match(r"^(https?)://([^.]+)\.([^.]+)\.svc:(\d+)$", url)
    if not m:
        return [f"test URL {url!r} is not http(s)://SERVICE.NAMESPACE.svc:PORT"]
    service = next((s for s in kinds.get("Service", []) if s["metadata"]["name"] == m[2]), None)
    if service is None or m[3] != service["metadata"].get("namespace", m[3]):
        return [f"test URL {url}: no Service {m[2]} in namespace {m[3]} among the operator's"]
    errors = []
    if int(m[4]) not in [p["port"] for p in service["spec"]["ports"]]:
        errors.append(f"test URL port {m[4]} is not a port of Service {m[2]}")
    template = api[0]["spec"]["template"]
    labels = template["metadata"]["labels"]
    if not set(service["spec"]["selector"].items()) <= set(labels.items()):
        errors.append(f"Service {m[2]} does not select the API pods")
    ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
    for rule in policies[0]["spec"]["egress"]:
        for peer in rule.get("to") or []:
            want = peer["podSelector"]["matchLabels"]
            if not set(want.items()) <= set(labels.items()):
                errors.append(f"the test NetworkPolicy selects {want}, not the API pods")
            if not {p["port"] for p in rule["ports"]} <= ports:
                errors.append("the test NetworkPolicy's port is not the API container's")
    return errors


def admitted(policy, want, port):
    """Does this ingress NetworkPolicy admit the peer `want` on `port`?"""
    return any(want in (rule.get("from") or [])
               and port in [p.get("port") for p in rule.get("ports") or []]
               for rule in policy["spec"].get("ingress") or [])


def exposure_reaches_api(chart, kinds, api, spec):
    backends = []
    for o in chart:
        if o["kind"] == "HTTPRoute":
            backends += [(o["kind"], b["name"], b["port"])
                         for r in o["spec"]["rules"] for b in r["backendRefs"]]
        elif o["kind"] == "Ingress":
            backends += [(o["kind"], p["backend"]["service"]["name"],
                          p["backend"]["service"]["port"]["number"])
                         for r in o["spec"]["rules"] for p in r["http"]["paths"]]
    if not backends:
        return ["want an HTTPRoute or an Ingress"], 0
    errors = []
    services = {s["metadata"]["name"]: s for s in kinds.get("Service", [])}
    labels = api[0]["spec"]["template"]["metadata"]["labels"] if len(api) == 1 else {}
    # The API port: the container port the Services target (by name, "http").
    ports = {p["containerPort"] for c in api[0]["spec"]["template"]["spec"]["containers"]
             for p in c.get("ports", []) if p.get("name") == "http"} if len(api) == 1 else set()
    if not ports:
        return ["no API container port named http"], 0
    for kind, name, port in backends:
        svc = services.get(name)
        if svc is None:
            errors.append(f"the {kind} sends to Service {name}, which the operator does not build")
            continue
        if port not in [p["port"] for p in svc["spec"]["ports"]]:
            errors.append(f"the {kind} sends to port {port}, not a port of Service {name}")
        if not set(svc["spec"]["selector"].items()) <= set(labels.items()):
            errors.append(f"Service {name} does not select the API pods")
    policies = [p for p in kinds.get("NetworkPolicy", [])
                if p["metadata"]["name"].endswith("-api-ingress")]
    peers = (spec.get("network") or {}).get("apiIngressFrom") or []
    if len(policies) != 1 or not peers:
        errors.append(f"want the operator's API NetworkPolicy and network.apiIngressFrom "
                      f"(got {len(policies)} policies, {len(peers)} peers)")
    else:
        for port in ports:
            for peer in peers:
                if not admitted(policies[0], peer, port):
                    errors.append(f"the API NetworkPolicy does not admit {peer} on {port}")
            if not admitted(policies[0], {"podSelector": {}}, port):
                errors.append("the API NetworkPolicy no longer admits this namespace's pods "
                              "(the helm test): apiIngressFrom lacks {podSelector: {}}")
    return errors, len(backends)


def main():
    case, cluster_file, built_file, chart_file = sys.argv[1:5]
    profile, _, overlay = case.partition("+")
    chart = [d for d in yaml.safe_load_all(open(chart_file, encoding="utf-8")) if d]
    (cluster,) = [d for d in yaml.safe_load_all(open(cluster_file, encoding="utf-8")) if d]
    objs = [d for d in yaml.safe_load_all(open(built_file, encoding="utf-8")) if d]
    spec = cluster["spec"]
    errors = []
    kinds = {}
    for o in objs:
        kinds.setdefault(o["kind"], []).append(o)
    if "Secret" in kinds:
        errors.append("the operator builds a Secret")
    for cm in kinds.get("ConfigMap", []):
        for key, value in (cm.get("data") or {}).items():
            if SECRET_REFS.search(key) or SECRET_REFS.search(str(value)):
                errors.append(f"ConfigMap {cm['metadata']['name']} key {key} looks secret")
    missing = named_secrets(spec) - used_secrets(objs)
    if missing:
        errors.append(f"Secrets named in the spec but used by no pod: {sorted(missing)}")

    deployments = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
    api = [d for n, d in deployments.items() if "-api-" in n]
    workers = [d for n, d in deployments.items() if "-worker-" in n]
    gpu_users = [n for n, d in deployments.items()
                 if any("nvidia.com/gpu" in (c.get("resources", {}).get("limits") or {})
                        for c in d["spec"]["template"]["spec"]["containers"])]
    has_storage = "PersistentVolumeClaim" in kinds
    if profile == "embedded":
        if not has_storage or workers and any(w["spec"].get("replicas") for w in workers):
            errors.append("embedded: want a PVC and no running workers")
        if [d["spec"].get("replicas") for d in api] != [1]:
            errors.append(f"embedded: want one API Deployment of 1 replica, got "
                          f"{[d['spec'].get('replicas') for d in api]}")
    elif profile in ("scale-out", "autoscaling", "gpu"):
        if has_storage or not workers:
            errors.append(f"{profile}: want workers and no PVC")
    if profile == "autoscaling":
        so = kinds.get("ScaledObject", [])
        if len(so) != 1 or "-worker-" not in so[0]["spec"]["scaleTargetRef"]["name"]:
            errors.append("autoscaling: want one KEDA ScaledObject on the workers")
        elif "ndf_jobs" not in so[0]["spec"]["triggers"][0]["metadata"].get("query", ""):
            errors.append("autoscaling: the ScaledObject does not scale on the queue (ndf_jobs)")
        if not kinds.get("HorizontalPodAutoscaler"):
            errors.append("autoscaling: want an HPA on the API")
    elif "ScaledObject" in kinds:
        errors.append(f"{profile}: a ScaledObject without autoscaling")
    if profile == "gpu":
        if not gpu_users or any("-worker-" not in n for n in gpu_users):
            errors.append(f"gpu: want GPU requests on the workers only, got {gpu_users}")
    elif gpu_users:
        errors.append(f"{profile}: GPU requests without gpu.enabled")
    errors += smoke_test_reaches_api(chart, kinds, api)
    exposed = ""
    if overlay in ("route", "ingress"):
        more, n = exposure_reaches_api(chart, kinds, api, spec)
        errors += more
        exposed = (f"; its {overlay} ({n} backends) reaches the API Service, and the API's "
                   f"NetworkPolicy admits the {overlay}'s peers and the test Pod")
    elif overlay:
        errors.append(f"no check for overlay {overlay!r}")
    for e in errors:
        print(f"   FAIL {case}: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    summary = ", ".join(f"{len(v)} {k}" for k, v in sorted(kinds.items()))
    print(f"   ok   {case}: the operator builds {summary}; no secret in them, "
          f"{len(named_secrets(spec))} Secrets used by reference; the helm test reaches its API "
          f"(URL, Service, NetworkPolicy){exposed}")


if __name__ == "__main__":
    main()
