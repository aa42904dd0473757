#!/usr/bin/env python3
"""What the operator builds from a profile's NdfCluster (`ndf deploy render`), checked against
what the profile promises. Run by deploy/helm/check.sh:

    check_built.py PROFILE NDFCLUSTER.yaml OPERATOR-OBJECTS.yaml

Every profile: no Secret object; no ConfigMap carrying secret material (connection URLs,
private keys, key names of the Secrets); every Secret the spec names is used by a pod through a
secretKeyRef or a secret volume. Then per profile: embedded (one API replica on a PVC, no
workers), scale-out (API and workers, no PVC), autoscaling (a KEDA ScaledObject on the workers
and an HPA on the API), gpu (GPU requests on the workers only).
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


def main():
    profile, cluster_file, built_file = sys.argv[1:4]
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
    for e in errors:
        print(f"   FAIL {profile}: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    summary = ", ".join(f"{len(v)} {k}" for k, v in sorted(kinds.items()))
    print(f"   ok   {profile}: the operator builds {summary}; no secret in them, "
          f"{len(named_secrets(spec))} Secrets used by reference")


if __name__ == "__main__":
    main()
