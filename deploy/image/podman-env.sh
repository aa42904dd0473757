# shellcheck shell=bash
# Sourced by build.sh and test.sh.

# ndf_apt_install PACKAGE...: installs the Debian packages that are missing (like
# scripts/test.sh's apt_install).
ndf_apt_install() {
    local missing=() pkg sudo=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ndf_podman_env OUT_DIR: installs podman and runc when missing, checks them and exports
# CONTAINERS_CONF pointing at containers.conf with this machine's limits filled in.
ndf_podman_env() {
    local out="$1" nofile nproc
    ndf_apt_install podman runc || return 1
    command -v podman >/dev/null || { echo "podman is not installed (apt-get install podman runc)" >&2; return 1; }
    command -v runc >/dev/null || { echo "runc is not installed (apt-get install runc)" >&2; return 1; }
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    nproc=$(ulimit -Hu)
    { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
    mkdir -p "$out"
    sed -e "s/@NOFILE@/$nofile/g" -e "s/@NPROC@/$nproc/g" \
        "$(dirname "${BASH_SOURCE[0]}")/containers.conf" > "$out/containers.conf"
    CONTAINERS_CONF="$(cd "$out" && pwd)/containers.conf"
    export CONTAINERS_CONF
}
