#!/usr/bin/env python3
"""Renders the ndf chart with Helm's own Go library (helm-python-sdk: Helm v4), offline.

    render.py [--chart DIR] [--values FILE...]... [--set-json PATH=JSON...]... [--name NAME]
              [--namespace NS] [--include-crds] [--no-tests]

Prints the rendered manifest (`# Source:` headers, templates in path order, like `helm template`)
or exits 1 with Helm's error (schema violations, a `fail` of templates/_validate.tpl, bad YAML).
Values merge as Helm merges them: the chart's values.yaml, then each --values file in order (maps
deep-merged, anything else replaced), then each --set-json. Run it with the Python of the helm
venv that deploy/helm/check.sh makes (target/scan-venvs/helm/bin/python).
"""

import argparse
import os
import sys

import helm_python as helm
import yaml

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ndf")
NAME = "ndf"
NAMESPACE = "ndf"


def merge(base, override):
    """Helm's mergeMaps: maps merge key by key, everything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def user_values(files=(), set_json=()):
    values = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            values = merge(values, helm.values_from_yaml(f.read()) or {})
    for expr in set_json:
        values = merge(values, helm.parse_set_json(expr))
    return values


def render(values, chart=CHART, name=NAME, namespace=NAMESPACE, include_crds=False,
           tests=True):
    """The manifest as text; raises helm_python.HelmError with Helm's message."""
    with helm.Chart.load(chart) as c:
        rendered = c.render(values, name=name, namespace=namespace, is_install=True)
        crds = c.crds if include_crds else []
    parts = []
    for crd in crds:
        parts.append((crd["name"], crd["data"]))
    for path in sorted(rendered):
        if path.endswith("NOTES.txt") or not rendered[path].strip():
            continue
        if not tests and "/templates/tests/" in path:
            continue
        parts.append((path, rendered[path]))
    out = []
    for path, text in parts:
        for doc in split_docs(text):
            out.append(f"---\n# Source: {path}\n{doc}")
    return "".join(out)


def notes(values, chart=CHART, name=NAME, namespace=NAMESPACE):
    with helm.Chart.load(chart) as c:
        rendered = c.render(values, name=name, namespace=namespace, is_install=True)
    return next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")


def split_docs(text):
    """The non-empty YAML documents of one template's output (comments-only ones dropped)."""
    docs = []
    for chunk in ("\n" + text).split("\n---"):
        chunk = chunk.strip("\n")
        if yaml.safe_load(chunk) is None:
            continue
        docs.append(chunk.rstrip() + "\n")
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chart", default=CHART)
    ap.add_argument("--values", "-f", action="extend", nargs="+", default=[], metavar="FILE")
    ap.add_argument("--set-json", action="extend", nargs="+", default=[], metavar="PATH=JSON")
    ap.add_argument("--name", default=NAME)
    ap.add_argument("--namespace", default=NAMESPACE)
    ap.add_argument("--include-crds", action="store_true")
    ap.add_argument("--no-tests", action="store_true", help="leave out the helm test hook Pod")
    args = ap.parse_args()
    try:
        values = user_values(args.values, args.set_json)
        text = render(values, args.chart, args.name, args.namespace, args.include_crds,
                      not args.no_tests)
    except (helm.HelmError, OSError) as e:
        print(f"render.py: {e}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
