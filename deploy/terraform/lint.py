"""Project rules for the Terraform under deploy/terraform, on python-hcl2's parse of each file.

    python lint.py [DIR]          lint DIR (default: this script's folder); exit 1 on a violation
    python lint.py --self-test    each rule must catch its planted violation; exit 1 otherwise
    python lint.py --sync         write modules/ndf/values_variables.tf and values.tf from
                                  modules/ndf-values/variables.tf (rule values-sync checks them)

Rules (ids as printed):
  variable-typed      every variable has a type and a description
  variable-validated  variables with a constrained domain (numbers; names about modes, replicas,
                      images, resources, sizes, versions, URLs, buckets, regions, ...) validate it
  output-sensitive    an output whose value derives from a sensitive variable, a sensitive module
                      output or a secret attribute (passwords, keys, secret strings) is sensitive
  providers-pinned    required_version set; every required provider has `~> x.y[.z]` or an exact
                      version; every resource's provider is required
  chart-pinned        every helm_release has a version: an exact literal, or a variable without
                      default that validates it
  no-hardcoded-secret no literal in a secret-named argument, no password in a URL literal, no
                      default of a sensitive variable (test configurations: made-up values marked
                      test-only / test_only)
  no-provider-block   reusable modules (under modules/, tests aside) configure no provider
  values-sync         modules/ndf declares and passes through every ndf-values variable unchanged
  readme-documents    README.md names every variable and output of the modules and examples
"""

import pathlib
import re
import sys
import tempfile

import hcl2

HERE = pathlib.Path(__file__).resolve().parent

CONSTRAINED = re.compile(
    r"(mode|strategy|policy|replicas|image|resources|_size$|version|_url$|address|endpoint|"
    r"bucket|namespace|^existing_|_secret_name$|region|retention|days|_class$|_port$|cidr|"
    r"^name$|prefix)"
)
SECRET_ARG = re.compile(
    r"(password|passwd|secret|token|private_key|master_key|access_key|api_key|bootstrap_keys)"
)
NAME_LIKE_ARG = re.compile(r"(^existing_|_?[nN]ame$|_arn$|_names$|^description$)")
SECRET_ATTR = re.compile(
    r"(random_password\.[\w-]+(\[[^\]]*\])?\.(result|bcrypt_hash)|aws_iam_access_key\.[\w-]+"
    r"(\[[^\]]*\])?\.(secret|ses_smtp_password_v4)|\.secret_string\b|aws_db_instance\.[\w-]+"
    r"(\[[^\]]*\])?\.password\b|kubernetes_secret(_v1)?\.[\w-]+(\[[^\]]*\])?\.data\b|"
    r"private_key_pem)"
)
# A literal password: user and password not interpolated.
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@\"${}]+:[^@\s\"${}]+@")
PINNED = re.compile(r"^\s*(~>\s*\d+\.\d+(\.\d+)?|=?\s*\d+\.\d+\.\d+)\s*$")
EXACT_SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
TEST_MARK = re.compile(r"test[-_]only")


def unq(s):
    return s[1:-1] if isinstance(s, str) and len(s) >= 2 and s[0] == s[-1] == '"' else s


def is_literal(v):
    return isinstance(v, str) and v.startswith('"') and "${" not in v


def strip_nonsensitive(expr):
    """Drops nonsensitive(...) calls: what they return is not sensitive."""
    out, i = [], 0
    while True:
        j = expr.find("nonsensitive(", i)
        if j < 0:
            return "".join(out) + expr[i:]
        out.append(expr[i:j])
        depth, k = 0, j + len("nonsensitive")
        for k in range(k, len(expr)):
            depth += {"(": 1, ")": -1}.get(expr[k], 0)
            if depth == 0:
                break
        i = k + 1


def text(v):
    return repr(v)


class Module:
    """The blocks of one directory's .tf files."""

    def __init__(self, path, root):
        self.path, self.root = path, root
        self.rel = path.relative_to(root).as_posix() if path != root else "."
        self.blocks = {}
        for f in sorted(path.glob("*.tf")):
            with open(f) as fh:
                for kind, items in hcl2.load(fh).items():
                    for item in items:
                        self.blocks.setdefault(kind, []).append((f.name, item))
        self.reusable = self.rel.startswith("modules/") and "/tests/" not in self.rel + "/"
        self.test = "/tests/" in "/" + self.rel + "/"

    def named(self, kind):
        """(file, name, body) of each block of this kind with one label."""
        for f, item in self.blocks.get(kind, []):
            for name, body in item.items():
                if name != "__is_block__":
                    yield f, unq(name), body

    def resources(self):
        for f, item in self.blocks.get("resource", []):
            for rtype, named in item.items():
                for name, body in named.items():
                    if name != "__is_block__":
                        yield f, unq(rtype), unq(name), body


def walk(body, key=""):
    """(argument name, value) of every argument, nested blocks included."""
    if isinstance(body, dict):
        for k, v in body.items():
            if k.startswith("__"):
                continue
            if isinstance(v, (dict, list)):
                yield from walk(v, unq(k))
            else:
                yield unq(k), v
    elif isinstance(body, list):
        for v in body:
            if isinstance(v, (dict, list)):
                yield from walk(v, key)
            else:
                yield key, v


def sensitive_refs(mod, modules_by_path):
    """Regexes of references whose value is sensitive in this module."""
    pats = [SECRET_ATTR]
    sens_vars = [n for _, n, b in mod.named("variable") if b.get("sensitive") is True]
    pats += [re.compile(rf"\bvar\.{re.escape(n)}\b") for n in sens_vars]
    for _, name, body in mod.named("module"):
        src = unq(body.get("source", ""))
        if src.startswith("."):
            child = modules_by_path.get((mod.path / src).resolve())
            if child:
                for _, out, ob in child.named("output"):
                    if ob.get("sensitive") is True:
                        pats.append(re.compile(rf"\bmodule\.{re.escape(name)}\.{re.escape(out)}\b"))
    # Locals: tainted when their expression reads anything tainted, to a fixed point.
    local_exprs = {}
    for _, item in mod.blocks.get("locals", []):
        for k, v in item.items():
            if not k.startswith("__"):
                local_exprs[k] = strip_nonsensitive(text(v))
    tainted = set()
    changed = True
    while changed:
        changed = False
        cur = pats + [re.compile(rf"\blocal\.{re.escape(n)}\b") for n in tainted]
        for k, e in local_exprs.items():
            if k not in tainted and any(p.search(e) for p in cur):
                tainted.add(k)
                changed = True
    return pats + [re.compile(rf"\blocal\.{re.escape(n)}\b") for n in tainted]


def lint_module(mod, modules_by_path, errors):
    def err(rule, f, msg):
        errors.append(f"{rule} {mod.rel}/{f}: {msg}")

    variables = {n: (f, b) for f, n, b in mod.named("variable")}
    for name, (f, body) in variables.items():
        if "type" not in body or not unq(body.get("description", "")).strip():
            err("variable-typed", f, f"variable {name} needs a type and a description")
        vtype = re.sub(r"^\$\{(.*)\}$", r"\1", str(body.get("type", "")))
        if (vtype == "number" or (CONSTRAINED.search(name) and vtype != "bool")) and not body.get("validation"):
            err("variable-validated", f, f"variable {name} has a constrained domain but no validation")
        if body.get("sensitive") is True and body.get("default") not in (None, '""', "${null}"):
            err("no-hardcoded-secret", f, f"sensitive variable {name} has a default value")

    refs = sensitive_refs(mod, modules_by_path)
    for f, name, body in mod.named("output"):
        expr = strip_nonsensitive(text(body.get("value", "")))
        if any(p.search(expr) for p in refs) and body.get("sensitive") is not True:
            err("output-sensitive", f, f"output {name} derives from a secret: mark it sensitive = true")

    # Providers.
    required = {}
    terraform_blocks = [b for _, b in mod.blocks.get("terraform", [])]
    if not mod.test and not any("required_version" in b for b in terraform_blocks):
        err("providers-pinned", "versions.tf", "no terraform required_version")
    for b in terraform_blocks:
        for rp in b.get("required_providers", []):
            for pname, spec in rp.items():
                if pname.startswith("__"):
                    continue
                required[pname] = spec
                src = unq(spec.get("source", "")) if isinstance(spec, dict) else ""
                if src.startswith("terraform.io/builtin/"):
                    continue
                version = unq(spec.get("version", "")) if isinstance(spec, dict) else ""
                if not PINNED.match(version or ""):
                    err("providers-pinned", "versions.tf",
                        f"provider {pname} needs a pinned version (~> x.y[.z] or exact), has {version!r}")
    for f, rtype, rname, _ in mod.resources():
        prov = rtype.split("_")[0]
        if prov not in required:
            err("providers-pinned", f, f"resource {rtype}.{rname}: provider {prov} is not in required_providers")

    # Charts.
    for f, rtype, rname, body in mod.resources():
        if rtype != "helm_release":
            continue
        version = body.get("version")
        m = re.fullmatch(r"\$\{var\.(\w+)\}", str(version or ""))
        if version is None:
            err("chart-pinned", f, f"helm_release.{rname} has no chart version")
        elif m:
            vf, vb = variables.get(m.group(1), (None, {}))
            if not vb.get("validation") or "default" in vb:
                err("chart-pinned", f, f"helm_release.{rname}: var.{m.group(1)} must validate an exact version and have no default")
        elif not (is_literal(version) and EXACT_SEMVER.match(unq(version))):
            err("chart-pinned", f, f"helm_release.{rname}: version {version} is not an exact version")

    # Literal secrets in arguments of resources, modules, providers and locals.
    for kind in ("resource", "module", "provider", "locals", "data"):
        for f, item in mod.blocks.get(kind, []):
            for key, v in walk(item):
                if not isinstance(v, str):
                    continue
                marked = mod.test and TEST_MARK.search(v)
                if URL_WITH_PASSWORD.search(v) and not marked:
                    err("no-hardcoded-secret", f, f"{key}: a URL with a password")
                elif (SECRET_ARG.search(key) and not NAME_LIKE_ARG.search(key) and is_literal(v)
                      and unq(v) != "" and not marked):
                    err("no-hardcoded-secret", f, f"{key}: a literal value")

    if mod.reusable:
        for f, item in mod.blocks.get("provider", []):
            err("no-provider-block", f, f"provider block {list(item)[0]} in a reusable module (the caller configures providers)")


# ---------------------------------------------------------------- values-sync

SYNC_HEADER = ("# Generated by deploy/terraform/lint.py --sync from ../ndf-values/{src}; do not edit.\n"
               "# lint.py (rule values-sync) fails when it drifts.\n")


def generated(root):
    src = root / "modules/ndf-values/variables.tf"
    variables_tf = SYNC_HEADER.format(src="variables.tf") + "\n" + src.read_text()
    with open(src) as fh:
        names = [unq(n) for item in hcl2.load(fh).get("variable", []) for n in item if n != "__is_block__"]
    width = max(len(n) for n in names)
    lines = [f"  {n.ljust(width)} = var.{n}" for n in names]
    values_tf = (SYNC_HEADER.format(src="variables.tf") + "\n"
                 'module "values" {\n  source = "../ndf-values"\n\n' + "\n".join(lines) + "\n}\n")
    return {"modules/ndf/values_variables.tf": variables_tf, "modules/ndf/values.tf": values_tf}


def lint_sync(root, errors):
    if not (root / "modules/ndf-values/variables.tf").exists() or not (root / "modules/ndf").is_dir():
        return
    for rel, want in generated(root).items():
        p = root / rel
        if not p.exists() or p.read_text() != want:
            errors.append(f"values-sync {rel}: differs from modules/ndf-values (run lint.py --sync)")


def lint_readme(root, modules, errors):
    readme = root / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    for mod in modules.values():
        if mod.test or not (mod.rel.startswith("modules/") or mod.rel.startswith("examples/")):
            continue
        for kind in ("variable", "output"):
            for f, name, _ in mod.named(kind):
                if f"`{name}`" not in text:
                    errors.append(f"readme-documents {mod.rel}/{f}: {kind} {name} is not in README.md")


def lint(root):
    root = root.resolve()
    dirs = sorted({p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts})
    modules = {d: Module(d, root) for d in dirs}
    errors = []
    for mod in modules.values():
        lint_module(mod, modules, errors)
    lint_sync(root, errors)
    lint_readme(root, modules, errors)
    return errors


# ---------------------------------------------------------------- self-test

GOOD_VERSIONS = 'terraform {\n  required_version = "~> 1.0"\n}\n'
# (rule, files): each must make lint report that rule.
SENSITIVE_OUT_MODULE = {"modules/inner/main.tf": GOOD_VERSIONS
                        + 'output "data" {\n  description = "d"\n  value       = "x"\n  sensitive   = true\n}\n'}
PLANTED = [
    ("variable-typed", {"modules/m/main.tf": GOOD_VERSIONS + 'variable "x" {\n  default = true\n}\n'}),
    ("variable-validated", {"modules/m/main.tf": GOOD_VERSIONS
                            + 'variable "api_replicas" {\n  type        = number\n  description = "d"\n}\n'}),
    ("variable-validated", {"modules/m/main.tf": GOOD_VERSIONS
                            + 'variable "image" {\n  type        = string\n  description = "d"\n}\n'}),
    ("output-sensitive", {"modules/m/main.tf": GOOD_VERSIONS
                          + 'variable "pw" {\n  type        = string\n  description = "d"\n  sensitive   = true\n}\n'
                          + 'locals {\n  url = "postgres://u:${var.pw}@h/db"\n}\n'
                          + 'output "url" {\n  description = "d"\n  value       = local.url\n}\n'}),
    ("output-sensitive", {**SENSITIVE_OUT_MODULE, "examples/e/main.tf": GOOD_VERSIONS
                          + 'module "m" {\n  source = "../../modules/inner"\n}\n'
                          + 'output "o" {\n  description = "d"\n  value       = module.m.data\n}\n'}),
    ("output-sensitive", {"examples/e/main.tf": GOOD_VERSIONS
                          + 'output "o" {\n  description = "d"\n  value       = random_password.p.result\n}\n'}),
    ("providers-pinned", {"modules/m/main.tf": 'terraform {\n  required_version = "~> 1.0"\n\n'
                          '  required_providers {\n    aws = {\n'
                          '      source  = "hashicorp/aws"\n      version = ">= 5.0"\n    }\n  }\n}\n'}),
    ("providers-pinned", {"modules/m/main.tf": 'variable "x" {\n  type        = bool\n  description = "d"\n}\n'}),
    ("providers-pinned", {"modules/m/main.tf": GOOD_VERSIONS
                          + 'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n'}),
    ("chart-pinned", {"modules/m/main.tf": GOOD_VERSIONS
                      + 'resource "helm_release" "r" {\n  name  = "r"\n  chart = "./c"\n}\n'}),
    ("chart-pinned", {"modules/m/main.tf": GOOD_VERSIONS
                      + 'resource "helm_release" "r" {\n  name    = "r"\n  chart   = "./c"\n  version = "~> 0.1"\n}\n'}),
    ("no-hardcoded-secret", {"examples/e/main.tf": GOOD_VERSIONS
                             + 'module "m" {\n  source     = "../m"\n  master_key = "abcd1234"\n}\n'}),
    ("no-hardcoded-secret", {"examples/e/main.tf": GOOD_VERSIONS
                             + 'module "m" {\n  source = "../m"\n  url    = "postgres://ndf:hunter2@db/ndf"\n}\n'}),
    ("no-hardcoded-secret", {"modules/m/main.tf": GOOD_VERSIONS
                             + 'variable "token" {\n  type        = string\n  description = "d"\n'
                             + '  sensitive   = true\n  default     = "abc"\n}\n'}),
    ("no-provider-block", {"modules/m/main.tf": GOOD_VERSIONS + 'provider "aws" {\n  region = "eu-west-1"\n}\n'}),
    ("readme-documents", {"README.md": "| `x` | bool |\n", "modules/m/main.tf": GOOD_VERSIONS
                          + 'variable "x" {\n  type        = bool\n  description = "d"\n}\n'
                          + 'variable "y" {\n  type        = bool\n  description = "d"\n}\n'}),
]


def self_test():
    failed = []
    for rule, files in PLANTED:
        with tempfile.TemporaryDirectory() as d:
            for rel, content in files.items():
                p = pathlib.Path(d, rel)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(content)
            found = lint(pathlib.Path(d))
        hits = [e for e in found if e.startswith(rule + " ")]
        if not hits:
            failed.append(rule)
        print(f"   self-check: {rule}: " + (f"caught: {hits[0].split(': ', 1)[1]}" if hits else "MISSED"))
    # values-sync: the real modules with one variable added to ndf-values and not to ndf.
    with tempfile.TemporaryDirectory() as d:
        for rel in ("modules/ndf-values/variables.tf", "modules/ndf/values_variables.tf", "modules/ndf/values.tf"):
            p = pathlib.Path(d, rel)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text((HERE / rel).read_text())
        extra = 'variable "planted" {\n  type        = bool\n  default     = false\n  description = "d"\n}\n'
        with open(pathlib.Path(d, "modules/ndf-values/variables.tf"), "a") as fh:
            fh.write("\n" + extra)
        errors = []
        lint_sync(pathlib.Path(d), errors)
        ok = any(e.startswith("values-sync ") for e in errors)
        print(f"   self-check: values-sync: {'caught' if ok else 'MISSED'} the planted violation")
        if not ok:
            failed.append("values-sync")
    return failed


def main(argv):
    if argv[1:2] == ["--self-test"]:
        failed = self_test()
        if failed:
            sys.exit(f"lint self-test failed: {', '.join(failed)} missed a planted violation")
        return
    if argv[1:2] == ["--sync"]:
        for rel, content in generated(HERE).items():
            (HERE / rel).write_text(content)
            print(f"wrote {rel}")
        return
    root = pathlib.Path(argv[1]) if len(argv) > 1 else HERE
    errors = lint(root)
    for e in errors:
        print(f"   {e}", file=sys.stderr)
    if errors:
        sys.exit(f"lint: {len(errors)} violation(s)")
    n = len({p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts})
    print(f"   lint: {n} configurations, no violation")


if __name__ == "__main__":
    main(sys.argv)
