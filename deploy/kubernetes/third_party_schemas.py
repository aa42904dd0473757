"""Strict structural schemas of the third-party custom resources ndf's build functions make.

No package reachable here ships the KEDA or Prometheus-operator CRDs; the npm models
(@kubernetes-models/keda, @kubernetes-models/prometheus-operator) check types and required
fields but accept unknown fields, which the API server would prune silently (a misspelt field
would simply do nothing). These schemas reject unknown fields. Field lists written from the
upstream API types (KEDA v2 `keda.sh/v1alpha1`, prometheus-operator `monitoring.coreos.com/v1`,
as the npm models' type declarations list them) and KEDA's scaler documentation for trigger
metadata keys. Only the fields a cluster spec can plausibly need are listed deeper down; a new
field the build functions start using is added here with the upstream name.
"""

import copy


def obj(props, required=()):
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}


def map_of(value):
    return {"type": "object", "additionalProperties": value}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
ANY_OBJ = {"type": "object"}
STR_MAP = map_of(STR)
INT_OR_STR = {"type": ["integer", "string"]}
LABEL_SELECTOR = obj({"matchLabels": STR_MAP, "matchExpressions": {"type": "array"}})
SECRET_KEY = obj({"name": STR, "key": STR, "optional": BOOL}, ["key"])
SECRET_OR_CM = obj({"secret": SECRET_KEY, "configMap": SECRET_KEY})


def meta_root(api_version, kind, spec, spec_required=True):
    return obj({
        "apiVersion": {"const": api_version},
        "kind": {"const": kind},
        "metadata": ANY_OBJ,  # checked as ObjectMeta by kubernetes-validate
        "spec": spec,
    }, ["apiVersion", "kind", "metadata"] + (["spec"] if spec_required else []))


# Trigger metadata keys by scaler type (KEDA's scaler docs); values are strings in the CRD.
TRIGGER_KEYS = {
    "prometheus": ({"serverAddress", "query", "threshold"},
                   {"activationThreshold", "namespace", "customHeaders", "ignoreNullValues",
                    "queryParameters", "unsafeSsl", "authModes", "timeout"}),
    "postgresql": ({"query", "targetQueryValue"},
                   {"activationTargetQueryValue", "connectionFromEnv", "host", "port", "userName",
                    "dbName", "sslmode", "passwordFromEnv", "hostFromEnv", "portFromEnv",
                    "userNameFromEnv", "dbNameFromEnv"}),
    "cpu": ({"value"}, {"containerName", "type"}),
    "memory": ({"value"}, {"containerName", "type"}),
}

SCALED_OBJECT = meta_root("keda.sh/v1alpha1", "ScaledObject", obj({
    "scaleTargetRef": obj({"apiVersion": STR, "kind": STR, "name": STR,
                           "envSourceContainerName": STR}, ["name"]),
    "pollingInterval": INT, "cooldownPeriod": INT, "initialCooldownPeriod": INT,
    "idleReplicaCount": INT, "minReplicaCount": INT, "maxReplicaCount": INT,
    "fallback": obj({"failureThreshold": INT, "replicas": INT,
                     "behavior": {"enum": ["static", "currentReplicas", "currentReplicasIfHigher",
                                           "currentReplicasIfLower"]}},
                    ["failureThreshold", "replicas"]),
    "advanced": obj({
        "restoreToOriginalReplicaCount": BOOL,
        # behavior is an autoscaling/v2 HPA behavior: check_objects.py checks it as one.
        "horizontalPodAutoscalerConfig": obj({"name": STR, "behavior": ANY_OBJ}),
        "scalingModifiers": obj({"formula": STR, "target": STR, "activationTarget": STR,
                                 "metricType": STR}),
    }),
    "triggers": {"type": "array", "minItems": 1, "items": obj({
        "type": STR, "name": STR, "metadata": STR_MAP, "useCachedMetrics": BOOL,
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "authenticationRef": obj({"name": STR, "kind": {"enum": ["TriggerAuthentication",
                                                                "ClusterTriggerAuthentication"]}},
                                 ["name"]),
    }, ["type", "metadata"])},
}, ["scaleTargetRef", "triggers"]))

TRIGGER_AUTHENTICATION = meta_root("keda.sh/v1alpha1", "TriggerAuthentication", obj({
    "secretTargetRef": {"type": "array", "items": obj({"parameter": STR, "name": STR, "key": STR},
                                                      ["parameter", "name", "key"])},
    "env": {"type": "array", "items": obj({"parameter": STR, "name": STR, "containerName": STR},
                                          ["parameter", "name"])},
}))

RELABEL = obj({
    "action": STR, "modulus": INT, "regex": STR, "replacement": STR, "separator": STR,
    "sourceLabels": {"type": "array", "items": STR}, "targetLabel": STR,
})
TLS = obj({"ca": SECRET_OR_CM, "cert": SECRET_OR_CM, "keySecret": SECRET_KEY, "caFile": STR,
           "certFile": STR, "keyFile": STR, "insecureSkipVerify": BOOL, "serverName": STR,
           "minVersion": STR, "maxVersion": STR})
ENDPOINT = obj({
    "port": STR, "targetPort": INT_OR_STR, "path": STR, "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
    "params": map_of({"type": "array", "items": STR}), "interval": STR, "scrapeTimeout": STR,
    "honorLabels": BOOL, "honorTimestamps": BOOL, "trackTimestampsStaleness": BOOL,
    "filterRunning": BOOL, "bearerTokenFile": STR,
    "metricRelabelings": {"type": "array", "items": RELABEL},
    "relabelings": {"type": "array", "items": RELABEL},
    "tlsConfig": TLS, "authorization": obj({"type": STR, "credentials": SECRET_KEY}),
    "basicAuth": obj({"username": SECRET_KEY, "password": SECRET_KEY}),
    "bearerTokenSecret": SECRET_KEY, "oauth2": ANY_OBJ, "followRedirects": BOOL, "enableHttp2": BOOL,
    "proxyUrl": STR, "noProxy": STR, "proxyFromEnvironment": BOOL, "proxyConnectHeader": ANY_OBJ,
})
SERVICE_MONITOR = meta_root("monitoring.coreos.com/v1", "ServiceMonitor", obj({
    "endpoints": {"type": "array", "items": ENDPOINT},
    "selector": LABEL_SELECTOR,
    "namespaceSelector": obj({"any": BOOL, "matchNames": {"type": "array", "items": STR}}),
    "jobLabel": STR, "targetLabels": {"type": "array", "items": STR},
    "podTargetLabels": {"type": "array", "items": STR}, "sampleLimit": INT, "targetLimit": INT,
    "labelLimit": INT, "labelNameLengthLimit": INT, "labelValueLengthLimit": INT,
    "keepDroppedTargets": INT, "scrapeClass": STR, "attachMetadata": obj({"node": BOOL}),
    "scrapeProtocols": {"type": "array", "items": STR}, "fallbackScrapeProtocol": STR,
    "bodySizeLimit": STR, "selectorMechanism": STR, "serviceDiscoveryRole": STR,
}, ["endpoints", "selector"]))

RULE = obj({"record": STR, "alert": STR, "expr": INT_OR_STR, "for": STR,
            "keep_firing_for": STR, "labels": STR_MAP, "annotations": STR_MAP}, ["expr"])
PROMETHEUS_RULE = meta_root("monitoring.coreos.com/v1", "PrometheusRule", obj({
    "groups": {"type": "array", "items": obj({
        "name": STR, "interval": STR, "limit": INT, "labels": STR_MAP,
        "query_offset": STR, "partial_response_strategy": STR,
        "rules": {"type": "array", "items": RULE},
    }, ["name"])},
}))

SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
}


def extra_checks(o):
    """What a schema cannot say: each trigger's metadata keys for its scaler type, its
    required keys, numbers that must parse, and a rule being exactly one of record/alert."""
    errors = []
    if o.get("kind") == "ScaledObject":
        for i, t in enumerate((o.get("spec") or {}).get("triggers") or []):
            keys = TRIGGER_KEYS.get(t.get("type"))
            md = t.get("metadata") or {}
            if keys is None:
                errors.append(f"triggers.{i}: no metadata key list for scaler {t.get('type')!r}")
                continue
            required, optional = keys
            for k in sorted(required - set(md)):
                errors.append(f"triggers.{i}.metadata: {k} missing")
            for k in sorted(set(md) - required - optional):
                errors.append(f"triggers.{i}.metadata: unknown key {k}")
            for k in ("threshold", "activationThreshold", "targetQueryValue",
                      "activationTargetQueryValue", "value"):
                if k in md:
                    try:
                        float(md[k])
                    except (TypeError, ValueError):
                        errors.append(f"triggers.{i}.metadata.{k}: {md[k]!r} is not a number")
            for k in ("ignoreNullValues", "unsafeSsl"):
                if k in md and md[k] not in ("true", "false"):
                    errors.append(f"triggers.{i}.metadata.{k}: {md[k]!r} is not true/false")
    if o.get("kind") == "PrometheusRule":
        for g in (o.get("spec") or {}).get("groups") or []:
            for r in g.get("rules") or []:
                if ("record" in r) == ("alert" in r):
                    errors.append(f"group {g.get('name')}: a rule needs exactly one of record, alert")
    return errors


def planted():
    """(good objects, [(validator, description, bad object)]) for the self-check. The validator
    named must reject its bad object: "model" (the npm models), "strict" (these schemas)."""
    so = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
          "metadata": {"name": "planted"},
          "spec": {"scaleTargetRef": {"name": "w"}, "minReplicaCount": 1, "maxReplicaCount": 4,
                   "fallback": {"failureThreshold": 3, "replicas": 2},
                   "triggers": [{"type": "prometheus", "metadata": {
                       "serverAddress": "http://prometheus:9090", "query": "max(up)",
                       "threshold": "5", "ignoreNullValues": "false"}}]}}
    sm = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
          "metadata": {"name": "planted"},
          "spec": {"selector": {"matchLabels": {"app": "p"}},
                   "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}]}}
    pr = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
          "metadata": {"name": "planted"},
          "spec": {"groups": [{"name": "g", "rules": [
              {"alert": "A", "expr": "up == 0", "for": "1m", "labels": {"severity": "page"}}]}]}}

    def bad(o, path, value):
        out = copy.deepcopy(o)
        node = out
        for k in path[:-1]:
            node = node[k]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return out

    trig = ["spec", "triggers", 0, "metadata"]
    bads = [
        ("model", "ScaledObject minReplicaCount: \"two\"", bad(so, ["spec", "minReplicaCount"], "two")),
        ("model", "ScaledObject threshold: 5 (a number)", bad(so, trig + ["threshold"], 5)),
        ("model", "ScaledObject without triggers", bad(so, ["spec", "triggers"], DELETE)),
        ("model", "ServiceMonitor without selector", bad(sm, ["spec", "selector"], DELETE)),
        ("model", "PrometheusRule group without name", bad(pr, ["spec", "groups", 0, "name"], DELETE)),
        ("strict", "ScaledObject spec.notAField", bad(so, ["spec", "notAField"], 1)),
        ("strict", "ScaledObject metadata key serverAdress", bad(so, trig + ["serverAdress"], "x")),
        ("strict", "ScaledObject threshold: \"five\"", bad(so, trig + ["threshold"], "five")),
        ("strict", "ServiceMonitor endpoint notAField", bad(sm, ["spec", "endpoints", 0, "notAField"], 1)),
        ("strict", "PrometheusRule rule notAField", bad(pr, ["spec", "groups", 0, "rules", 0, "notAField"], 1)),
    ]
    return [so, sm, pr], bads


DELETE = object()
