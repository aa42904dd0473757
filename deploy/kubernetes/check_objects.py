#!/usr/bin/env python3
"""Validates Kubernetes objects (multi-document YAML files) the way an API server would, offline.

Run by deploy/kubernetes/check.sh inside its venv (kubernetes-validate, jsonschema, PyYAML):

    check_objects.py --crd CRD.yaml --versions 1.30.0,1.37.0 --models DIR
                     [--extra-schemas FILE.py] FILE...

Each object goes to the validator of its API group:
- built-in kinds (and the CRD itself): kubernetes-validate's strict schemas (unknown fields are
  errors), once per Kubernetes version;
- ndf.dev (NdfCluster): the committed CRD's openAPIV3Schema with jsonschema, made structural the
  way the API server prunes (an object with `properties` takes no other field; `nullable` allows
  null). CEL rules are not evaluated here (ndf-operator's unit tests evaluate them);
- keda.sh and monitoring.coreos.com: the npm packages @kubernetes-models/keda and
  @kubernetes-models/prometheus-operator (validators generated from the upstream API types:
  types, formats, required fields; node, under --models) AND this file's strict schemas
  (third_party_schemas.py: unknown fields, the trigger metadata keys), because the upstream
  validators accept unknown fields and their CRDs ship in no package reachable here;
- more such groups with --extra-schemas FILE.py (a module like third_party_schemas.py that also
  names its groups' npm packages in NODE_GROUPS: deploy/helm/gateway_schemas.py adds the Gateway
  API's HTTPRoute and BackendTLSPolicy).
Metadata of custom resources is checked as ObjectMeta by kubernetes-validate.

Before anything else every validator is shown planted good and bad objects: the good must pass
and each bad one must fail, so a validator that checks nothing fails the run (exit 1).
Exit status: 0 all valid; 1 an object is invalid or a self-check failed; 2 usage or setup error.
"""

import argparse
import copy
import importlib.util
import json
import os
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

# No __pycache__ left in the repository by the import below.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import third_party_schemas  # noqa: E402

NODE_GROUPS = {
    "keda.sh": "@kubernetes-models/keda",
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
}

# Resolves each object to its model class (by file path: the packages' export maps differ) and
# prints, per object, null or the validator's message.
NODE_SCRIPT = r"""
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [modelsDir, input] = process.argv.slice(2);
const out = [];
for (const { pkg, obj } of JSON.parse(readFileSync(input, 'utf8'))) {
  const [group, version] = obj.apiVersion.split('/');
  const file = `${modelsDir}/node_modules/${pkg}/${group}/${version}/${obj.kind}.js`;
  try {
    const mod = await import(pathToFileURL(file).href);
    new mod[obj.kind](obj).validate();
    out.push(null);
  } catch (e) {
    out.push(String(e && e.message || e));
  }
}
console.log(JSON.stringify(out));
"""


def group_of(obj):
    api = obj.get("apiVersion", "")
    return api.split("/", 1)[0] if "/" in api else ""


def where(obj):
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')} {meta.get('name')}"


def structural(schema):
    """The CRD schema as the API server applies it: unknown fields rejected (pruned), nulls
    allowed where `nullable`."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            if node.get("nullable") is True and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    # apiVersion, kind and metadata are the API server's at the root of every object (metadata
    # is checked as ObjectMeta separately and left out of what this schema sees).
    props = s.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props.pop("metadata", None)
    return s


class Checker:
    def __init__(self, crd, versions, models_dir, extra=None):
        self.versions = versions
        self.models_dir = models_dir
        self.extra = extra
        self.node_groups = {**NODE_GROUPS, **(extra.NODE_GROUPS if extra else {})}
        self.schemas = {**third_party_schemas.SCHEMAS, **(extra.SCHEMAS if extra else {})}
        self.crd_kind = crd["spec"]["names"]["kind"]
        self.crd_group = crd["spec"]["group"]
        self.crd_schemas = {}
        for v in crd["spec"]["versions"]:
            schema = structural(v["schema"]["openAPIV3Schema"])
            jsonschema.Draft7Validator.check_schema(schema)
            self.crd_schemas[f"{self.crd_group}/{v['name']}"] = jsonschema.Draft7Validator(schema)

    def builtin(self, obj):
        errors = []
        for version in self.versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except SchemaNotFoundError:
                errors.append(f"kubernetes {version} has no kind {obj.get('apiVersion')}/{obj.get('kind')}")
            except jsonschema.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                errors.append(f"kubernetes {version} --strict: {path}: {e.message}")
        return errors

    def metadata(self, obj):
        """ObjectMeta as the API server checks it, borrowed from a ConfigMap's schema."""
        if not (obj.get("metadata") or {}).get("name"):
            return ["metadata.name missing"]
        return self.builtin({"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]})

    def crd(self, obj):
        validator = self.crd_schemas.get(obj.get("apiVersion"))
        if validator is None or obj.get("kind") != self.crd_kind:
            return [f"the CRD serves no {obj.get('apiVersion')}/{obj.get('kind')}"]
        body = {k: v for k, v in obj.items() if k != "metadata"}
        return [
            f"CRD schema: {'.'.join(str(p) for p in e.path)}: {e.message}"
            for e in validator.iter_errors(body)
        ]

    def strict(self, obj):
        schema = self.schemas.get((obj.get("apiVersion"), obj.get("kind")))
        if schema is None:
            return ["no strict schema in third_party_schemas.py (or --extra-schemas) for this kind"]
        errors = [
            f"strict schema: {'.'.join(str(p) for p in e.path)}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(obj)
        ]
        errors += third_party_schemas.extra_checks(obj)
        behavior = (((obj.get("spec") or {}).get("advanced") or {})
                    .get("horizontalPodAutoscalerConfig") or {}).get("behavior")
        if behavior is not None:
            # KEDA hands it to the HPA it creates: check it as an autoscaling/v2 HPA's.
            hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                   "metadata": {"name": "behavior"},
                   "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"},
                            "maxReplicas": 1, "behavior": behavior}}
            errors += [f"advanced.horizontalPodAutoscalerConfig.behavior: {e}" for e in self.builtin(hpa)]
        return errors

    def models(self, objs):
        """Errors per object (same order) from the npm models' validators, in one node run."""
        if not objs:
            return []
        batch = [{"pkg": self.node_groups[group_of(o)], "obj": o} for o in objs]
        path = os.path.join(self.models_dir, "validate-batch.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(batch, f)
        script = os.path.join(self.models_dir, "validate-models.mjs")
        with open(script, "w", encoding="utf-8") as f:
            f.write(NODE_SCRIPT)
        run = subprocess.run(["node", script, self.models_dir, path],
                             capture_output=True, text=True, check=False)
        if run.returncode != 0:
            sys.exit(f"node validator failed (rc {run.returncode}): {run.stderr}")
        out = json.loads(run.stdout)
        if len(out) != len(objs):
            sys.exit(f"node validator answered {len(out)} results for {len(objs)} objects")
        return [[] if m is None else [f"upstream model: {m}"] for m in out]

    def check(self, objs):
        """A list of error lists, one per object."""
        results = [[] for _ in objs]
        third = []
        for i, obj in enumerate(objs):
            if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
                results[i] = ["not a Kubernetes object (apiVersion and kind needed)"]
            elif group_of(obj) == self.crd_group:
                results[i] = self.crd(obj) + self.metadata(obj)
            elif group_of(obj) in self.node_groups:
                results[i] = self.strict(obj) + self.metadata(obj)
                third.append(i)
            else:
                results[i] = self.builtin(obj)
        for i, errors in zip(third, self.models([objs[i] for i in third])):
            results[i] += errors
        return results


def self_check(checker, crs):
    """Planted objects: each good one passes every validator it meets, and each bad one is
    rejected by the one validator it was made for (so each validator is shown to work alone)."""
    good, bad = third_party_schemas.planted()
    if checker.extra:
        extra_good, extra_bad = checker.extra.planted()
        good, bad = good + extra_good, bad + extra_bad
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "planted"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "p"}},
            "template": {
                "metadata": {"labels": {"app": "p"}},
                "spec": {"containers": [{"name": "c", "image": "example/p:1"}]},
            },
        },
    }
    good = [deployment] + good
    d1 = set_path(deployment, ["spec", "replicas"], "two")
    d2 = set_path(deployment, ["spec", "template", "spec", "containers", 0, "notAField"], True)
    d3 = set_path(deployment, ["metadata", "labels"], {"app": 1})
    bad += [("kubernetes", 'Deployment replicas: "two"', d1),
            ("kubernetes", "Deployment unknown container field (strict)", d2),
            ("kubernetes", "Deployment label value not a string", d3),
            ("metadata", "ScaledObject label value not a string",
             set_path(good[1], ["metadata", "labels"], {"app": 1}))]
    if not crs:
        sys.exit("self-check: no NdfCluster example to plant faults in")
    good += crs
    bad += [("crd", name, mutated) for name, mutated in ndf_faults(checker, crs[0])]
    failures = []
    for obj, errors in zip(good, checker.check(good)):
        if errors:
            failures.append(f"planted good {where(obj)} rejected: {errors}")
    model_bad = [b for v, _, b in bad if v == "model"]
    model_results = iter(checker.models(model_bad))
    for validator, name, obj in bad:
        errors = {
            "kubernetes": checker.builtin,
            "metadata": checker.metadata,
            "crd": checker.crd,
            "strict": checker.strict,
            "model": lambda _o: next(model_results),
        }[validator](obj)
        if not errors:
            failures.append(f"planted bad object accepted by the {validator} validator: {name}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit("self-check failed: a validator does not check what it should")
    counts = {}
    for v, _, _ in bad:
        counts[v] = counts.get(v, 0) + 1
    print(f"self-check: {len(good)} planted good objects pass; planted bad objects rejected: "
          + ", ".join(f"{n} by {v}" for v, n in counts.items()))


def ndf_faults(checker, cr):
    """Bad copies of a real NdfCluster: an integer field given as a string, an unknown field at
    the top of spec and one nested deeper, a string field given a number."""
    schema = checker.crd_schemas[cr["apiVersion"]].schema
    faults = []
    leaves = list(typed_leaves(cr.get("spec", {}), schema["properties"]["spec"], ["spec"]))
    for wanted, value in (("integer", "two"), ("string", 2)):
        path = next((p for p, t in leaves if t == wanted), None)
        if path is None:
            sys.exit(f"self-check: the NdfCluster example has no {wanted} field to break")
        faults.append((f"NdfCluster {'.'.join(path)}: {value!r}", set_path(cr, path, value)))
    faults.append(("NdfCluster spec.notAField", set_path(cr, ["spec", "notAField"], 1)))
    nested = next((p for p, t in leaves if len(p) > 2), None)
    if nested is None:
        sys.exit("self-check: the NdfCluster example has no nested field")
    faults.append((f"NdfCluster {'.'.join(nested[:-1])}.notAField",
                   set_path(cr, nested[:-1] + ["notAField"], 1)))
    return faults


def typed_leaves(value, schema, path):
    if isinstance(value, dict) and "properties" in schema:
        for k, v in value.items():
            if k in schema["properties"]:
                yield from typed_leaves(v, schema["properties"][k], path + [k])
    elif not isinstance(value, (dict, list)):
        t = schema.get("type")
        yield path, (t[0] if isinstance(t, list) else t)


def set_path(obj, path, value):
    out = copy.deepcopy(obj)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crd", required=True)
    ap.add_argument("--versions", required=True, help="comma-separated Kubernetes versions")
    ap.add_argument("--models", required=True, help="folder whose node_modules holds the npm models")
    ap.add_argument("--examples", nargs="*", default=[], help="NdfCluster files for the self-check")
    ap.add_argument("--extra-schemas", help="a module like third_party_schemas.py with NODE_GROUPS")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    versions = [v for v in args.versions.split(",") if v]
    with open(args.crd, encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    extra = None
    if args.extra_schemas:
        spec = importlib.util.spec_from_file_location("extra_schemas", args.extra_schemas)
        extra = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(extra)
    checker = Checker(crd, versions, os.path.abspath(args.models), extra)
    crs = []
    for path in args.examples:
        with open(path, encoding="utf-8") as f:
            crs += [d for d in yaml.safe_load_all(f) if d and d.get("kind") == checker.crd_kind]
    self_check(checker, crs)

    failed = 0
    total = 0
    kinds = {}
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            objs = [d for d in yaml.safe_load_all(f) if d is not None]
        if not objs:
            print(f"{path}: no object", file=sys.stderr)
            failed += 1
            continue
        for obj, errors in zip(objs, checker.check(objs)):
            total += 1
            kinds[obj.get("kind")] = kinds.get(obj.get("kind"), 0) + 1
            for e in errors:
                print(f"{path}: {where(obj)}: {e}", file=sys.stderr)
            failed += bool(errors)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"{total} objects in {len(args.files)} files against Kubernetes {', '.join(versions)}: "
          f"{total - failed} valid, {failed} invalid ({summary})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
