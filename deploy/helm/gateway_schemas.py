"""Strict structural schemas of the Gateway API kinds the chart renders (HTTPRoute and
BackendTLSPolicy, `gateway.networking.k8s.io/v1`), for deploy/kubernetes/check_objects.py
(`--extra-schemas deploy/helm/gateway_schemas.py`), the way deploy/kubernetes/third_party_schemas.py
serves KEDA and prometheus-operator kinds.

The npm model @kubernetes-models/gateway-api (generated from the Gateway API's CRDs) checks
types, patterns, enums and required fields but accepts unknown fields, which the API server
would prune silently; these schemas reject them. Field names from the upstream v1 types (as the
model's type declarations list them); only what a route to ndf can plausibly need is listed
deeper down.
"""

import copy

# The validator's groups: objects of these API groups go to the npm model (and to SCHEMAS).
NODE_GROUPS = {"gateway.networking.k8s.io": "@kubernetes-models/gateway-api"}


def obj(props, required=()):
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}


STR = {"type": "string"}
INT = {"type": "integer"}
STR_MAP = {"type": "object", "additionalProperties": STR}


def root(kind, spec):
    return obj({"apiVersion": {"const": "gateway.networking.k8s.io/v1"}, "kind": {"const": kind},
                "metadata": {"type": "object"},  # checked as ObjectMeta by kubernetes-validate
                "spec": spec}, ["apiVersion", "kind", "metadata", "spec"])


PARENT_REF = obj({"group": STR, "kind": STR, "namespace": STR, "name": STR,
                  "sectionName": STR, "port": INT}, ["name"])
HEADER = obj({"name": STR, "value": STR}, ["name", "value"])
PATH_MATCH = obj({"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]}, "value": STR})
MATCH = obj({
    "path": PATH_MATCH,
    "headers": {"type": "array", "items": obj({"type": STR, "name": STR, "value": STR},
                                              ["name", "value"])},
    "queryParams": {"type": "array", "items": obj({"type": STR, "name": STR, "value": STR},
                                                  ["name", "value"])},
    "method": STR,
})
HEADER_FILTER = obj({"set": {"type": "array", "items": HEADER},
                     "add": {"type": "array", "items": HEADER},
                     "remove": {"type": "array", "items": STR}})
FILTER = obj({
    "type": {"enum": ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
                      "RequestRedirect", "URLRewrite", "ExtensionRef", "CORS",
                      "ExternalAuth"]},
    "urlRewrite": obj({"hostname": STR, "path": obj({
        "type": {"enum": ["ReplaceFullPath", "ReplacePrefixMatch"]},
        "replaceFullPath": STR, "replacePrefixMatch": STR}, ["type"])}),
    "requestHeaderModifier": HEADER_FILTER,
    "responseHeaderModifier": HEADER_FILTER,
}, ["type"])
BACKEND_REF = obj({"group": STR, "kind": STR, "name": STR, "namespace": STR, "port": INT,
                   "weight": INT, "filters": {"type": "array", "items": FILTER}}, ["name"])
RULE = obj({
    "name": STR,
    "matches": {"type": "array", "items": MATCH},
    "filters": {"type": "array", "items": FILTER},
    "backendRefs": {"type": "array", "items": BACKEND_REF},
    "timeouts": obj({"request": STR, "backendRequest": STR}),
})
HTTP_ROUTE = root("HTTPRoute", obj({
    "parentRefs": {"type": "array", "items": PARENT_REF},
    "hostnames": {"type": "array", "items": STR},
    "rules": {"type": "array", "items": RULE},
}))
BACKEND_TLS_POLICY = root("BackendTLSPolicy", obj({
    "targetRefs": {"type": "array", "items": obj({"group": STR, "kind": STR, "name": STR,
                                                  "sectionName": STR},
                                                 ["group", "kind", "name"])},
    "validation": obj({
        "caCertificateRefs": {"type": "array", "items": obj({"group": STR, "kind": STR,
                                                             "name": STR},
                                                            ["group", "kind", "name"])},
        "wellKnownCACertificates": {"enum": ["System"]},
        "hostname": STR,
        "subjectAltNames": {"type": "array", "items": {"type": "object"}},
    }, ["hostname"]),
    "options": STR_MAP,
}, ["targetRefs", "validation"]))

SCHEMAS = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTP_ROUTE,
    ("gateway.networking.k8s.io/v1", "BackendTLSPolicy"): BACKEND_TLS_POLICY,
}


def planted():
    """(good objects, [(validator, description, bad object)]), like third_party_schemas."""
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "planted"},
             "spec": {"parentRefs": [{"name": "gw", "namespace": "gateway-system"}],
                      "hostnames": ["ndf.example.com"],
                      "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                 "backendRefs": [{"name": "ndf", "port": 8080}],
                                 "timeouts": {"request": "600s"}}]}}
    policy = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
              "metadata": {"name": "planted"},
              "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "ndf"}],
                       "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap",
                                                             "name": "ca"}],
                                      "hostname": "ndf.ndf.svc"}}}

    def bad(o, path, value):
        out = copy.deepcopy(o)
        node = out
        for k in path[:-1]:
            node = node[k]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return out

    rule = ["spec", "rules", 0]
    bads = [
        ("model", "HTTPRoute timeouts.request: \"forever\"",
         bad(route, rule + ["timeouts", "request"], "forever")),
        ("model", "HTTPRoute parentRef without name", bad(route, ["spec", "parentRefs", 0, "name"], None)),
        ("model", "HTTPRoute backendRef port: \"http\"",
         bad(route, rule + ["backendRefs", 0, "port"], "http")),
        ("model", "HTTPRoute hostname Bad_Host", bad(route, ["spec", "hostnames"], ["Bad_Host"])),
        ("model", "BackendTLSPolicy without validation.hostname",
         bad(policy, ["spec", "validation", "hostname"], None)),
        ("strict", "HTTPRoute rule notAField", bad(route, rule + ["notAField"], 1)),
        ("strict", "HTTPRoute backendRef notAField", bad(route, rule + ["backendRefs", 0, "notAField"], 1)),
        ("strict", "HTTPRoute timeouts.idle (not a field)", bad(route, rule + ["timeouts", "idle"], "1s")),
        ("strict", "BackendTLSPolicy spec.notAField", bad(policy, ["spec", "notAField"], 1)),
    ]
    return [route, policy], bads
