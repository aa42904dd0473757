#!/usr/bin/env python3
"""Writes deploy/helm/ndf/values.schema.json from the committed NdfCluster CRD.

    gen_values_schema.py [--check]      (--check: exit 1 when the committed file differs)

`cluster.spec` is the CRD's openAPIV3Schema `spec`, made strict the way the API server prunes:
every object with `properties` (and no x-kubernetes-preserve-unknown-fields, and no map-typed
additionalProperties) takes no other key; `nullable` becomes a "null" type; int-or-string
fields take an integer or a string; int32/int64 formats become bounds; CRD defaults are kept
(annotations: Helm applies none, the API server does). The spec's top-level `required` (image)
applies only with cluster.enabled. The rest of the schema (image, operator, route, ingress,
tests, …) is written here, strict too. CEL rules cannot be JSON Schema: templates/_validate.tpl
mirrors them.
"""

import copy
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CRD = os.path.join(HERE, "..", "kubernetes", "crd", "ndfclusters.ndf.dev.yaml")
OUT = os.path.join(HERE, "ndf", "values.schema.json")

INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def strict(node):
    """The CRD schema node as JSON Schema (draft-07), unknown keys refused."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "format" and value in INT_BOUNDS | {"double": None}:
            continue
        if key in ("properties",):
            out[key] = {k: strict(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = strict(value)
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    fmt = node.get("format")
    if fmt in INT_BOUNDS:
        lo, hi = INT_BOUNDS[fmt]
        out.setdefault("minimum", lo)
        out.setdefault("maximum", hi)
    for bound in ("minimum", "maximum"):
        # The CRD writes 1.0 for integer bounds; the same number, written as an integer.
        if isinstance(out.get(bound), float) and out[bound].is_integer():
            out[bound] = int(out[bound])
    if (
        "properties" in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and not isinstance(node.get("additionalProperties"), dict)
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types + ["null"]
        if "enum" in out:
            out["enum"] = out["enum"] + [None]
    return out


def obj(properties, required=(), description=None, nullable=False):
    o = {"type": ["object", "null"] if nullable else "object",
         "additionalProperties": False, "properties": properties}
    if required:
        o["required"] = list(required)
    if description:
        o["description"] = description
    return o


def string(description=None, **kw):
    s = {"type": "string", **kw}
    if description:
        s["description"] = description
    return s


def string_map(description):
    return {"type": "object", "additionalProperties": {"type": "string"},
            "description": description}


QUANTITY = {"type": ["integer", "string"]}
RESOURCES = obj({
    "requests": obj({"cpu": QUANTITY, "memory": QUANTITY}, ["cpu", "memory"]),
    "limits": obj({"cpu": QUANTITY, "memory": QUANTITY}, ["cpu", "memory"]),
}, ["requests", "limits"], "Container requests and limits (both required).")
SECRET_KEY = obj({"name": string(minLength=1), "key": string(minLength=1)},
                 ["name", "key"], nullable=True)


def values_schema(crd):
    version = crd["spec"]["versions"][0]
    spec = strict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])
    spec_required = spec.pop("required", [])
    spec["description"] = ("The NdfCluster's spec, verbatim (the CRD's schema; its CEL rules are "
                           "checked by templates/_validate.tpl).")
    cluster = obj({
        "enabled": {"type": "boolean", "description": "Create an NdfCluster in this release."},
        "name": string("The NdfCluster's name (default: the release name); at most 40 "
                       "characters.", maxLength=40, pattern="^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"),
        "labels": string_map("Labels of the NdfCluster object."),
        "annotations": string_map("Annotations of the NdfCluster object (e.g. ndf.dev/promote)."),
        "keepOnUninstall": {"type": "boolean", "description": "helm.sh/resource-policy: keep "
                            "on the NdfCluster: `helm uninstall` leaves it, its pods and its data."},
        "spec": spec,
    }, description=f"An {crd['spec']['names']['kind']} ({crd['spec']['group']}/"
                   f"{version['name']}) from values.")
    # The CRD requires spec.image: only when an NdfCluster is rendered.
    cluster["if"] = {"properties": {"enabled": {"const": True}}, "required": ["enabled"]}
    cluster["then"] = {"properties": {"spec": {"required": spec_required}}}

    image = obj({
        "repository": string(minLength=1),
        "tag": string("Default: the chart's appVersion."),
        "digest": string("sha256:… pins the image.", pattern="^(sha256:[0-9a-f]{64})?$"),
        "pullPolicy": string(enum=["Always", "IfNotPresent", "Never"]),
    }, ["repository"], "The ndf image of the operator and the test Pod.")
    operator = obj({
        "enabled": {"type": "boolean"},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 1,
                     "description": "0 or 1: no leader election."},
        "resources": RESOURCES,
        "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
        "nodeSelector": string_map("Node labels for the operator's pod."),
        "tolerations": {"type": "array", "items": obj({
            "key": string(), "operator": string(enum=["Exists", "Equal"]), "value": string(),
            "effect": string(enum=["NoSchedule", "PreferNoSchedule", "NoExecute"]),
            "tolerationSeconds": {"type": "integer"}})},
        "affinity": {"type": "object", "description": "A Kubernetes Affinity (checked on the "
                     "rendered Deployment by kubernetes-validate --strict)."},
        "priorityClassName": string(),
        "podAnnotations": string_map("Annotations of the operator's pod."),
        "podLabels": string_map("Extra labels of the operator's pod."),
        "serviceAccount": obj({"annotations": string_map("ServiceAccount annotations.")}),
        "podDisruptionBudget": obj({"enabled": {"type": "boolean"}}),
        "networkPolicy": obj({
            "enabled": {"type": "boolean"},
            "metricsFromNamespaces": {"type": "array", "items": string(minLength=1),
                                      "description": "Namespaces that may scrape /metrics."},
        }),
        "metrics": obj({
            "service": obj({"enabled": {"type": "boolean"}}),
            "serviceMonitor": obj({
                "enabled": {"type": "boolean"},
                "interval": string(pattern="^[0-9]+(ms|s|m|h)$"),
                "labels": string_map("Labels your Prometheus selects ServiceMonitors by."),
            }),
        }),
    }, description="The ndf operator (`ndf operator`).")
    # Gateway API and Kubernetes name rules, so a typo fails at `helm install`, not at apply.
    dns_label = string(minLength=1, maxLength=63, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    hostname = string(minLength=1, maxLength=253,
                      pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    duration = string(pattern="^([0-9]{1,5}(h|m|s|ms)){1,4}$")
    service_name = string("The Service to send to: the NdfCluster's name (default: "
                          "cluster.name or the release name).",
                          pattern="^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", maxLength=40)
    route = obj({
        "enabled": {"type": "boolean", "description": "Render a Gateway API HTTPRoute."},
        "serviceName": service_name,
        "annotations": string_map("Annotations of the HTTPRoute."),
        "labels": string_map("Extra labels of the HTTPRoute and BackendTLSPolicy."),
        "parentRefs": {"type": "array", "maxItems": 32, "description":
                       "The Gateways (listeners) the route attaches to.",
                       "items": obj({
                           "group": string(maxLength=253), "kind": string(minLength=1, maxLength=63),
                           "namespace": dns_label, "name": string(minLength=1, maxLength=253),
                           "sectionName": string(minLength=1, maxLength=253),
                           "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                       }, ["name"])},
        "hostnames": {"type": "array", "maxItems": 16, "items": hostname},
        "pathPrefix": string("Requests under this prefix go to the API (prefix replaced by /).",
                             pattern="^/([^?#]*)?$", maxLength=1024),
        "timeouts": obj({
            "request": duration,
            "backendRequest": {"anyOf": [duration, {"const": ""}]},
        }, ["request"], "HTTPRoute rule timeouts (long: 200 MB uploads)."),
        "backendTLS": obj({
            "caCertificateRefs": {"type": "array", "maxItems": 8, "items": obj({
                "kind": string(enum=["ConfigMap", "Secret"]), "name": string(minLength=1),
            }, ["name"])},
            "hostname": {"anyOf": [hostname, {"const": ""}]},
        }, description="A BackendTLSPolicy for an HTTPS API (cluster.spec.security.tls)."),
    }, description="A Gateway API HTTPRoute to the NdfCluster's Service.")
    route["if"] = {"properties": {"enabled": {"const": True}}, "required": ["enabled"]}
    route["then"] = {"properties": {"parentRefs": {"minItems": 1}}, "required": ["parentRefs"]}
    ingress = obj({
        "enabled": {"type": "boolean", "description": "Render an Ingress."},
        "serviceName": service_name,
        "className": string("The IngressClass (empty: the cluster's default)."),
        "annotations": string_map("Annotations of the Ingress (controller settings)."),
        "labels": string_map("Extra labels of the Ingress."),
        "hosts": {"type": "array", "items": obj({
            "host": hostname,
            "paths": {"type": "array", "minItems": 1,
                      "items": string(pattern="^/", maxLength=1024)},
        }, ["host"])},
        "pathType": string(enum=["Prefix", "Exact", "ImplementationSpecific"]),
        "tls": {"type": "array", "items": obj({
            "secretName": string(minLength=1),
            "hosts": {"type": "array", "items": hostname},
        }, ["secretName"])},
    }, description="An Ingress to the NdfCluster's Service.")
    ingress["if"] = {"properties": {"enabled": {"const": True}}, "required": ["enabled"]}
    ingress["then"] = {"properties": {"hosts": {"minItems": 1}}, "required": ["hosts"]}
    tests = obj({
        "enabled": {"type": "boolean"},
        "job": {"type": "boolean", "description": "Also run a job round trip."},
        "apiKeySecret": SECRET_KEY,
        "caSecret": SECRET_KEY,
        "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
        "resources": RESOURCES,
    }, description="The `helm test` Pod (`ndf smoke`).")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": "Generated by deploy/helm/gen_values_schema.py from "
                    "deploy/kubernetes/crd/ndfclusters.ndf.dev.yaml; do not edit.",
        "title": "Values of the ndf chart",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            # Helm passes `global` to every chart (a parent chart's shared values).
            "global": {"type": "object"},
            "commonLabels": string_map("Labels added to every object."),
            "image": image,
            "imagePullSecrets": {"type": "array",
                                 "items": obj({"name": string(minLength=1)}, ["name"])},
            "operator": operator,
            "cluster": cluster,
            "route": route,
            "ingress": ingress,
            "tests": tests,
        },
    }


def main():
    with open(CRD, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    (crd,) = docs
    text = json.dumps(values_schema(crd), indent=2, sort_keys=False) + "\n"
    if "--check" in sys.argv[1:]:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{OUT} differs from the CRD: run python3 {__file__}")
        print(f"{os.path.relpath(OUT)}: up to date with the CRD")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
