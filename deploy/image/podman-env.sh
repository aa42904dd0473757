# shellcheck shell=bash
# Sourced by build.sh and test.sh: checks that podman and runc are installed and exports
# CONTAINERS_CONF pointing at containers.conf with this machine's limits filled in.
#   ndf_podman_env OUT_DIR
ndf_podman_env() {
    local out="$1" nofile nproc
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
