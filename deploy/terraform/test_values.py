"""Tests of the ndf-values module with a real Terraform, beyond what `terraform test` covers.

    python test_values.py --terraform BIN --work DIR [--render PYTHON RENDER_PY]

1. Refusals: each bad input must make `terraform plan` fail with the expected message (a
   variable's validation block or a rule of ./modules/ndf-values/rules).
2. The example inputs (tests/inputs/*.tfvars, plus made-up secret values generated here) are
   applied with local state; the `values` output must hold no secret value, `secrets` must list
   exactly the Secrets expected, and, with --render, the values must render through the chart
   (deploy/helm/render.py: Helm's own library and the chart's values.schema.json) into an
   NdfCluster whose spec is the module's cluster.spec, with no secret value in the manifest.

The module is copied into DIR first: Terraform writes .terraform/ and state next to the
configuration it runs. Exit status 0 when every case passed, 1 otherwise.
"""

import argparse
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent

GOOD_IMAGE = "registry.example.com/ndf:0.1.0"
SCALE_OUT = {"image": GOOD_IMAGE, "storage_mode": "scale-out", "api_replicas": 2,
             "existing_postgres_secret": "pg", "s3_bucket": "docs", "existing_s3_secret": "s3",
             "existing_master_key_secret": "keys"}

# (case, variables, the message `terraform plan` must print)
REFUSALS = [
    ("embedded, two API replicas", {"image": GOOD_IMAGE, "api_replicas": 2},
     "The embedded store runs exactly one API replica"),
    ("embedded, workers", {"image": GOOD_IMAGE, "worker_replicas": 1},
     "The embedded store has no separate workers"),
    ("embedded, autoscaling", {"image": GOOD_IMAGE, "autoscaling_enabled": True,
                               "prometheus_address": "http://p:9090"},
     "The embedded store cannot autoscale"),
    ("embedded, blue-green", {"image": GOOD_IMAGE, "rollout_strategy": "BlueGreen"},
     'The embedded store needs rollout_strategy = "Rolling"'),
    ("embedded, with a bucket", {"image": GOOD_IMAGE, "s3_bucket": "docs"},
     "PostgreSQL and S3 settings are for scale-out storage"),
    ("scale-out without a database", {**SCALE_OUT, "existing_postgres_secret": ""},
     "Scale-out storage needs a database"),
    ("scale-out without a bucket", {**SCALE_OUT, "s3_bucket": ""},
     "Scale-out storage needs a bucket"),
    ("scale-out without a master key", {**SCALE_OUT, "existing_master_key_secret": ""},
     "Scale-out storage needs a master key"),
    ("scale-out without S3 credentials", {**SCALE_OUT, "existing_s3_secret": ""},
     "Scale-out storage needs S3 credentials"),
    ("ambient S3 credentials and a Secret", {**SCALE_OUT, "s3_credentials": "ambient"},
     "the pods use their own identity"),
    ("S3 key id without its secret", {**SCALE_OUT, "existing_s3_secret": "",
                                      "s3_access_key_id": "AKIATESTONLY"},
     "Set both s3_access_key_id and s3_secret_access_key, or neither"),
    ("a value and an existing Secret", {**SCALE_OUT, "master_key": "test-only-master-key"},
     "Give each secret either as a value or as an existing Secret"),
    ("more min than max workers", {**SCALE_OUT, "autoscaling_enabled": True,
                                   "prometheus_address": "http://p:9090",
                                   "autoscaling_min_workers": 5, "autoscaling_max_workers": 2},
     "The autoscaling_min_workers must not exceed autoscaling_max_workers"),
    ("more min than max API replicas", {**SCALE_OUT, "autoscaling_api_min_replicas": 5,
                                        "autoscaling_api_max_replicas": 2},
     "The autoscaling_api_min_replicas must not exceed autoscaling_api_max_replicas"),
    ("autoscaling without Prometheus", {**SCALE_OUT, "autoscaling_enabled": True},
     "Autoscaling reads the queue depth from Prometheus"),
    ("a cluster without an image", {},
     "The image is required when cluster_enabled is true"),
    ("unknown storage mode", {"image": GOOD_IMAGE, "storage_mode": "sqlite"},
     "The storage_mode must be embedded or scale-out"),
    ("image :latest", {"image": "registry.example.com/ndf:latest"},
     "The image must be an image reference with a tag or a digest"),
    ("image without tag", {"image": "registry.example.com/ndf"},
     "The image must be an image reference with a tag or a digest"),
    ("image with upper case", {"image": "Registry/NDF:1"},
     "The image must be an image reference with a tag or a digest"),
    ("operator image :latest", {"image": GOOD_IMAGE, "operator_image": "ndf:latest"},
     "The operator_image must be an image reference"),
    ("101 API replicas", {**SCALE_OUT, "api_replicas": 101},
     "The api_replicas must be a whole number from 0 to 100"),
    ("1.5 API replicas", {**SCALE_OUT, "api_replicas": 1.5},
     "The api_replicas must be a whole number from 0 to 100"),
    ("negative workers", {**SCALE_OUT, "worker_replicas": -1},
     "The worker_replicas must be a whole number from 0 to 500"),
    ("job concurrency 0", {"image": GOOD_IMAGE, "worker_job_concurrency": 0},
     "The worker_job_concurrency must be a whole number from 1 to 256"),
    ("CPU not a quantity", {"image": GOOD_IMAGE, "api_resources": {
        "cpu_request": "half", "memory_request": "1Gi", "cpu_limit": "2", "memory_limit": "2Gi"}},
     "Each of api_resources must be a Kubernetes quantity"),
    ("memory in GB", {"image": GOOD_IMAGE, "worker_resources": {
        "cpu_request": "1", "memory_request": "1GB", "cpu_limit": "2", "memory_limit": "2Gi"}},
     "Each of worker_resources must be a Kubernetes quantity"),
    ("volume size not a quantity", {"image": GOOD_IMAGE, "embedded_volume_size": "20 GiB"},
     "The embedded_volume_size must be a Kubernetes quantity"),
    ("CPU utilisation 0", {**SCALE_OUT, "target_cpu_utilization": 0},
     "The target_cpu_utilization must be a percentage from 1 to 100"),
    ("not a PostgreSQL URL", {**SCALE_OUT, "existing_postgres_secret": "",
                              "postgres_url": "mysql://db/ndf"},
     "The postgres_url must start with postgres://"),
    ("bad bucket name", {**SCALE_OUT, "s3_bucket": "Docs_Bucket"},
     "The s3_bucket must be a valid bucket name"),
    ("prefix with a slash", {**SCALE_OUT, "s3_prefix": "/prod"},
     "The s3_prefix must not start or end with '/'"),
    ("bad S3 credentials mode", {**SCALE_OUT, "s3_credentials": "iam"},
     "The s3_credentials must be secret or ambient"),
    ("short hashing secret", {"image": GOOD_IMAGE, "api_key_hash_secret": "short"},
     "The api_key_hash_secret must be at least 32 characters long"),
    ("bootstrap key line too short", {"image": GOOD_IMAGE, "bootstrap_keys": "acme admin"},
     "Each line of bootstrap_keys must read TENANT"),
    ("bad release name", {"image": GOOD_IMAGE, "name": "NDF_prod"},
     "The name must be a DNS label"),
    ("bad Secret name", {"image": GOOD_IMAGE, "existing_bootstrap_keys_secret": "Keys!"},
     "The existing_bootstrap_keys_secret must be a Secret name"),
    ("Prometheus not a URL", {**SCALE_OUT, "prometheus_address": "prometheus:9090"},
     "The prometheus_address must be an http(s) URL"),
    ("bad pull policy", {"image": GOOD_IMAGE, "image_pull_policy": "Sometimes"},
     "The image_pull_policy must be one of IfNotPresent, Always, Never"),
    ("bad rollout strategy", {"image": GOOD_IMAGE, "rollout_strategy": "Canary"},
     "The rollout_strategy must be Rolling or BlueGreen"),
]


def fake_secrets():
    """Made-up secret values, different at each run, all carrying the marker TESTONLY."""
    def tok(n=24):
        return "TESTONLY" + secrets.token_hex(n)
    api_key = tok()
    return {
        "postgres_url": f"postgres://ndf:{tok()}@db.internal:5432/ndf?sslmode=require",
        "s3_access_key_id": tok(8),
        "s3_secret_access_key": tok(),
        "master_key": tok(),
        "api_key_hash_secret": tok(),
        "bootstrap_keys": f"acme admin,extract,jobs:write,jobs:read bootstrap {api_key}",
        "test_api_key": api_key,
    }


# The example inputs: which made-up secret values each gets, and the Secrets it must create.
INPUTS = {
    "embedded": ([], {}),
    "operator-only": ([], {}),
    "aws": (["postgres_url", "master_key", "api_key_hash_secret", "bootstrap_keys"],
            {"ndf-postgres": ["url"], "ndf-master-key": ["masterKey"],
             "ndf-api-key-hash": ["apiKeySecret"], "ndf-bootstrap-keys": ["bootstrapKeys"]}),
    "scale-out": (list(fake_secrets()),
                  {"ndf-postgres": ["url"], "ndf-s3": ["accessKeyId", "secretAccessKey"],
                   "ndf-master-key": ["masterKey"], "ndf-api-key-hash": ["apiKeySecret"],
                   "ndf-bootstrap-keys": ["bootstrapKeys"], "ndf-test-api-key": ["apiKey"]}),
}


def squash(text):
    """Terraform wraps messages at the terminal width: compare with whitespace collapsed."""
    return re.sub(r"\s+", " ", text)


class Runner:
    def __init__(self, terraform, work):
        self.terraform, self.work = os.path.abspath(terraform), pathlib.Path(work).resolve()
        self.module = self.work / "ndf-values"
        shutil.copytree(HERE / "modules/ndf-values", self.module, ignore=shutil.ignore_patterns(".terraform*", "tests"))
        self.tf("init", "-backend=false", "-input=false", "-no-color")

    def tf(self, *args, check=True):
        env = dict(os.environ, TF_IN_AUTOMATION="1", TF_CLI_ARGS="")
        p = subprocess.run([self.terraform, *args], cwd=self.module, env=env,
                           capture_output=True, text=True)
        if check and p.returncode != 0:
            sys.exit(f"terraform {' '.join(args)} failed:\n{p.stdout}{p.stderr}")
        return p

    def var_file(self, name, variables):
        path = self.work / f"{name}.tfvars.json"
        path.write_text(json.dumps(variables))
        return str(path)


def refusals(run):
    failed = 0
    # The bases the refusals vary must themselves pass: each refusal is then due to its change.
    for i, base in enumerate(({"image": GOOD_IMAGE}, SCALE_OUT)):
        p = run.tf("plan", "-input=false", "-no-color", "-lock=false",
                   f"-var-file={run.var_file(f'base-{i}', base)}", check=False)
        if p.returncode != 0:
            failed += 1
            print(f"   FAIL base input {base} refused:\n{p.stdout}{p.stderr}", file=sys.stderr)
    for i, (case, variables, message) in enumerate(REFUSALS):
        vf = run.var_file(f"refusal-{i}", variables)
        p = run.tf("plan", "-input=false", "-no-color", "-lock=false", f"-var-file={vf}",
                   check=False)
        out = squash(p.stdout + p.stderr)
        if p.returncode == 0 or squash(message) not in out:
            failed += 1
            print(f"   FAIL refusal: {case}: rc {p.returncode}, expected message {message!r}\n{out[-1500:]}",
                  file=sys.stderr)
    print(f"   refusals: {len(REFUSALS) - failed}/{len(REFUSALS)} bad inputs refused with the expected message")
    return failed


def examples(run, render):
    failed = 0
    for name, (secret_vars, want_secrets) in INPUTS.items():
        tfvars = HERE / "tests/inputs" / f"{name}.tfvars"
        fakes = {k: v for k, v in fake_secrets().items() if k in secret_vars}
        args = [f"-var-file={tfvars}"] + ([f"-var-file={run.var_file(name + '-secrets', fakes)}"] if fakes else [])
        state = run.work / f"{name}.tfstate"
        run.tf("apply", "-auto-approve", "-input=false", "-no-color", "-lock=false", f"-state={state}", *args)
        out = json.loads(run.tf("output", "-json", f"-state={state}").stdout)
        values, secrets_out = out["values"]["value"], out["secrets"]["value"]
        problems = []
        values_text = json.dumps(values)
        if "TESTONLY" in values_text or any(v in values_text for v in fakes.values()):
            problems.append("a secret value is in the chart's values")
        if not out["secret_data"]["sensitive"]:
            problems.append("secret_data is not sensitive")
        if secrets_out != want_secrets:
            problems.append(f"secrets {secrets_out} != {want_secrets}")
        if yaml.safe_load(out["values_yaml"]["value"]) != values:
            problems.append("values_yaml is not the values")
        rendered = ""
        if render:
            values_file = run.work / f"{name}.values.json"
            values_file.write_text(json.dumps(values))
            p = subprocess.run([*render, "--values", str(values_file), "--name", "ndf",
                                "--namespace", "ndf"], capture_output=True, text=True)
            if p.returncode != 0:
                problems.append(f"the chart refused the values: {p.stderr.strip()[-1500:]}")
            else:
                rendered = p.stdout
                docs = [d for d in yaml.safe_load_all(rendered) if d]
                clusters = [d for d in docs if d.get("kind") == "NdfCluster"]
                want = [values["cluster"]["spec"]] if values["cluster"]["enabled"] else []
                if [c.get("spec") for c in clusters] != want:
                    problems.append(f"the NdfCluster rendered is not cluster.spec: {clusters}")
                if "TESTONLY" in rendered:
                    problems.append("a secret value is in the rendered manifest")
        for problem in problems:
            print(f"   FAIL {name}: {problem}", file=sys.stderr)
        failed += bool(problems)
        if not problems:
            print(f"   {name}: values ok, {len(secrets_out)} Secret(s) to create"
                  + (f", rendered ({len(rendered.splitlines())} lines)" if render else ""))
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--terraform", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--render", nargs=2, metavar=("PYTHON", "RENDER_PY"))
    args = ap.parse_args()
    run = Runner(args.terraform, args.work)
    failed = refusals(run) + examples(run, args.render)
    if failed:
        sys.exit(f"test_values: {failed} case(s) failed")


if __name__ == "__main__":
    main()
