#!/usr/bin/env python3
"""Runs the chart's `helm test` Pod command for real, without Kubernetes: the rendered Pod's
exact arguments (`ndf smoke …`) against a real `ndf serve` on loopback, its Secret files mapped
to local files. Run by deploy/helm/check.sh:

    run_test_pod.py NDF_BIN RENDERED.yaml WORKDIR

The API key file is what the Pod mounts from the bootstrap keys Secret: a keys file made with
`ndf keys generate` at run time, which `ndf serve` also loads (NDF_BOOTSTRAP_KEYS_FILE), as the
NdfCluster's API pods do. The test must pass (a real extraction and a job round trip), and fail
with a wrong key (so a test that cannot fail fails this check). The Service URL is replaced by
the loopback address; only http (TLS is the API's, not the test's, concern here).
Exit status: 0 as expected; 1 otherwise.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import yaml


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_args(pod, base_url, files):
    """The container's args with the URL and the mounted Secret files made local."""
    container = pod["spec"]["containers"][0]
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    mapping = {}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if not secret:
            continue
        for item in secret.get("items", []):
            path = f"{mount['mountPath']}/{item['path']}"
            if (secret["secretName"], item["key"]) not in files:
                sys.exit(f"no local file for Secret {secret['secretName']} key {item['key']}")
            mapping[path] = files[(secret["secretName"], item["key"])]
    args = list(container["args"])
    args[args.index("--url") + 1] = base_url
    return [mapping.get(a, a) for a in args]


def wait_ready(url, proc, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def main():
    ndf, rendered, work = sys.argv[1:4]
    docs = [d for d in yaml.safe_load_all(open(rendered, encoding="utf-8")) if d]
    (pod,) = [d for d in docs if d["kind"] == "Pod"]
    (cluster,) = [d for d in docs if d["kind"] == "NdfCluster"]
    ref = cluster["spec"]["security"]["bootstrapKeysSecret"]
    os.makedirs(work, exist_ok=True)
    keys = os.path.join(work, "keys")
    # ndf refuses NDF_* variables it does not know (NDF_BIN of the caller, among others).
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDF_")}
    # As the profiles say: the test's key first, then an admin key (the test reads line one).
    with open(keys, "w", encoding="utf-8") as f:
        for scopes in (["extract", "jobs:write", "jobs:read"], ["admin"]):
            subprocess.run([ndf, "keys", "generate", "--tenant", "helm", "--name", scopes[0]]
                           + [a for s in scopes for a in ("--scope", s)],
                           stdout=f, check=True, env=env)
    wrong = os.path.join(work, "wrong-key")
    with open(wrong, "w", encoding="utf-8") as f:
        f.write("helm extract smoke ndf_not-a-key\n")
    log = open(os.path.join(work, "serve.log"), "w", encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["NDF_BOOTSTRAP_KEYS_FILE"] = keys
    server = subprocess.Popen([ndf, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                               os.path.join(work, "data")], env=env, stdout=log, stderr=log)
    try:
        if not wait_ready(base, server):
            print(open(os.path.join(work, "serve.log"), encoding="utf-8").read()[-3000:],
                  file=sys.stderr)
            sys.exit("ndf serve did not become ready on loopback")
        args = local_args(pod, base, {(ref["name"], ref["key"]): keys})
        run = subprocess.run([ndf] + args, capture_output=True, text=True, timeout=300,
                             check=False, env=env)
        if run.returncode != 0 or "smoke test passed" not in run.stdout:
            sys.exit(f"the helm test command failed (rc {run.returncode}):\n{run.stdout}{run.stderr}")
        for line in run.stdout.splitlines():
            print(f"   {line}")
        bad = subprocess.run([ndf] + local_args(pod, base, {(ref["name"], ref["key"]): wrong}),
                             capture_output=True, text=True, timeout=300, check=False, env=env)
        if bad.returncode != 1:
            sys.exit(f"the helm test command with a wrong key exited {bad.returncode}, not 1")
        print(f"   ok   `ndf {' '.join(pod['spec']['containers'][0]['args'])}` (the test Pod's "
              f"command) passes against ndf serve on loopback, and fails (1) with a wrong key")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


if __name__ == "__main__":
    main()
