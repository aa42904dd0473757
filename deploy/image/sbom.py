#!/usr/bin/env python3
"""CycloneDX 1.6 SBOM of the image (called by build.sh): the Rust crates compiled into `ndf`
and the Debian packages whose files the image carries (shared libraries, CA certificates).

    sbom.py --out ndf.cdx.json --image-name localhost/ndf --version V --revision SHA
            --epoch SOURCE_DATE_EPOCH --target TRIPLE [--file PATH ...]
            [--generated PATH=PACKAGE ...]

The crate graph is `cargo tree -e normal --target TRIPLE -p ndf-cli`: cargo resolves features
there as for building the binary alone, whereas `cargo metadata`'s resolve also unifies the
features dev-dependencies turn on (ndf-cli's tests enable test hooks that the shipped binary
lacks). Licences come from `cargo metadata`, SHA-256 hashes from Cargo.lock's checksums (the
hash of the .crate file the registry serves), Debian package names and versions from dpkg for each
--file. Output is deterministic: no wall-clock time, a UUID derived from the inputs.

Needs no tool beyond cargo, dpkg and Python 3.11 (tomllib); a cargo-installed generator would
cost CI minutes of compiling. build.sh validates the result against the CycloneDX schema.
"""

import argparse
import datetime
import json
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

# Cargo.lock's source of a crate from a registry (Cargo's default one: this workspace uses no other).
REGISTRY_PREFIXES = ("registry+", "sparse+")


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def crate_graph(target):
    """(root, {(name, version): set of (name, version)}) of ndf-cli's normal dependencies."""
    out = run("cargo", "tree", "--locked", "-p", "ndf-cli", "-e", "normal", "--target", target,
              "--prefix", "depth", "--format", "{p}")
    line_re = re.compile(r"^(\d+)(\S+) v(\S+)")
    edges, stack, root = {}, [], None
    for line in out.splitlines():
        m = line_re.match(line)
        if not m:
            sys.exit(f"sbom: unexpected cargo tree line {line!r}")
        depth, node = int(m[1]), (m[2], m[3])
        del stack[depth:]
        edges.setdefault(node, set())
        if stack:
            edges[stack[-1]].add(node)
        else:
            root = node
        stack.append(node)
    return root, edges


def bom_ref(name, version):
    return f"pkg:cargo/{name}@{version}"


def crate_components(edges, root_dir):
    meta = json.loads(run("cargo", "metadata", "--locked", "--format-version", "1"))
    packages = {}
    for p in meta["packages"]:
        packages.setdefault((p["name"], p["version"]), p)
    lock = tomllib.loads((root_dir / "Cargo.lock").read_text())
    sums = {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}
    components = []
    for name, version in sorted(edges):
        p = packages.get((name, version))
        if p is None:
            sys.exit(f"sbom: {name} {version} is in cargo tree but not in cargo metadata")
        c = {"type": "library", "bom-ref": bom_ref(name, version), "name": name,
             "version": version}
        if p.get("description"):
            c["description"] = " ".join(p["description"].split())
        if p.get("license"):
            c["licenses"] = [{"expression": p["license"]}]
        if (p["source"] or "").startswith(REGISTRY_PREFIXES):
            c["purl"] = bom_ref(name, version)
            if sums.get((name, version)):
                c["hashes"] = [{"alg": "SHA-256", "content": sums[(name, version)]}]
        elif p["source"] is None:
            # A crate of this workspace: not published, so no purl pointing at the registry.
            c["properties"] = [{"name": "ndf:source", "value": "workspace"}]
        else:
            c["properties"] = [{"name": "ndf:source", "value": p["source"]}]
        if p.get("repository"):
            c["externalReferences"] = [{"type": "vcs", "url": p["repository"]}]
        components.append(c)
    return components


def os_release():
    """(namespace, codename) of the build machine's distribution, for the packages' purls:
    `pkg:deb/debian/…?distro=bookworm` on Debian 12, `pkg:deb/ubuntu/…?distro=noble` on a CI
    runner's Ubuntu, so that scanners match each package against its own distribution's
    advisories."""
    fields = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value.strip().strip('"')
    namespace = fields.get("ID", "").lower()
    if not re.fullmatch(r"[a-z0-9.+-]+", namespace):
        sys.exit("sbom: /etc/os-release names no distribution (ID)")
    return namespace, fields.get("VERSION_CODENAME", "")


def deb_components(files, generated):
    """Debian packages owning the given files (dpkg -S), as components. `generated` holds
    PATH=PACKAGE pairs for files made by a package's scripts, which dpkg lists under no
    package (the CA bundle is written by update-ca-certificates)."""
    owners = {}
    for g in generated:
        path, _, pkg = g.partition("=")
        owners.setdefault(pkg, []).append(path)
    for f in files:
        real = str(Path(f).resolve())
        for candidate in dict.fromkeys([f, real, re.sub(r"^/usr/", "/", real)]):
            r = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                pkg = r.stdout.split(":", 1)[0].split(",")[0].strip()
                owners.setdefault(pkg, []).append(f)
                break
        else:
            sys.exit(f"sbom: no Debian package owns {f}")
    namespace, codename = os_release()
    distro = f"&distro={codename}" if codename else ""
    comps = []
    for pkg in sorted(owners):
        version, arch = run("dpkg-query", "-W", "-f", "${Version} ${Architecture}", pkg).split()
        purl = f"pkg:deb/{namespace}/{pkg}@{version}?arch={arch}{distro}"
        comps.append({"type": "library" if pkg != "ca-certificates" else "data",
                      "bom-ref": purl, "name": pkg, "version": version, "purl": purl,
                      "properties": [{"name": "ndf:image-path", "value": p}
                                     for p in sorted(owners[pkg])]})
    return comps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--image-name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--revision", required=True)
    ap.add_argument("--epoch", type=int, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--generated", action="append", default=[], metavar="PATH=PACKAGE")
    args = ap.parse_args()
    root_dir = Path(__file__).resolve().parents[2]

    root, edges = crate_graph(args.target)
    crates = crate_components(edges, root_dir)
    debs = deb_components(args.file, args.generated)
    image_ref = f"{args.image_name}:{args.version}"
    dependencies = [{"ref": image_ref,
                     "dependsOn": [bom_ref(*root)] + [d["bom-ref"] for d in debs]}]
    dependencies += [{"ref": bom_ref(*n), "dependsOn": sorted(bom_ref(*d) for d in edges[n])}
                     for n in sorted(edges)]
    dependencies += [{"ref": d["bom-ref"], "dependsOn": []} for d in debs]
    created = datetime.datetime.fromtimestamp(args.epoch, datetime.timezone.utc)
    seed = f"{image_ref}|{args.revision}|{args.target}"
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}",
        "version": 1,
        "metadata": {
            "timestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "deploy/image/sbom.py"}]},
            "component": {
                "type": "container", "bom-ref": image_ref, "name": args.image_name,
                "version": args.version,
                "licenses": [{"expression": "MIT OR Apache-2.0"}],
                "properties": [{"name": "org.opencontainers.image.revision",
                                "value": args.revision},
                               {"name": "ndf:rust-target", "value": args.target}],
            },
        },
        "components": crates + debs,
        "dependencies": dependencies,
    }
    Path(args.out).write_text(json.dumps(bom, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
