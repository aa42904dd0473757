#!/usr/bin/env bash
# Builds the `ndf` container image: FROM scratch, the binary and only what it needs, non-root,
# reproducible (the same binary, libraries and commit give the same image id).
#
#   deploy/image/build.sh
#
# 1. builds `ndf` (crates/ndf-cli) with cargo's release profile (NDF_IMAGE_PROFILE overrides);
# 2. splits the debug info off: OUT/ndf.debug (objcopy --only-keep-debug, linked from the
#    binary by --add-gnu-debuglink) and the stripped OUT/ndf that goes into the image;
# 3. writes the root filesystem as OUT/context/rootfs.tar (mkrootfs.py): /usr/local/bin/ndf,
#    exactly the shared libraries `ldd` lists and the loader, the CA bundle, /etc/passwd and
#    /etc/group with user and group ndf (10001), /tmp (1777), /data (10001, 0700); fixed
#    mtimes (SOURCE_DATE_EPOCH, default the commit time), numeric owners, sorted names;
# 4. `podman build` of deploy/image/Containerfile (FROM scratch, ADD rootfs.tar, OCI labels from
#    build arguments, USER 10001:10001, ENTRYPOINT ndf, CMD serve on 0.0.0.0:8080, data in /data) with
#    runc and this machine's ulimits (podman-env.sh), tagged localhost/ndf:VERSION and
#    localhost/ndf:SHORT_REV; the id goes to OUT/image-id;
# 5. the CycloneDX SBOM OUT/ndf.cdx.json (sbom.py) and `podman save` to OUT/ndf-image.tar.
#
# The default CMD listens on 0.0.0.0, so the service refuses to start until an API key exists
# in /data (`ndf keys create`) or it is told --insecure-no-auth: a container never serves
# unauthenticated by accident.
#
# Environment:
#   NDF_IMAGE_PROFILE  cargo profile of the binary (default release)
#   NDF_IMAGE_BIN      use this (unstripped) binary instead of running cargo
#   NDF_IMAGE_OUT      output folder (default target/image)
#   NDF_IMAGE_NAME     image name (default localhost/ndf)
#   NDF_IMAGE_SOURCE   org.opencontainers.image.source (default: the git remote `origin`)
#   NDF_IMAGE_SAVE     0: no `podman save` (default 1)
#   SOURCE_DATE_EPOCH  timestamps of the files and the image (default: the commit's time)
# Runs as root (podman here needs it for port mapping and limits). Prints the figures: binary
# sizes, cargo time, image step time, image size.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=deploy/image
# shellcheck source=deploy/image/podman-env.sh
. "$here/podman-env.sh"

die() { echo "image build: FAILED: $*" >&2; exit 1; }
# Seconds since a `date +%s.%N` stamp.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
for tool in cargo git python3 objcopy strip ldd; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

out="${NDF_IMAGE_OUT:-target/image}"
profile="${NDF_IMAGE_PROFILE:-release}"
name="${NDF_IMAGE_NAME:-localhost/ndf}"
mkdir -p "$out/context"
ndf_podman_env "$out" || die "podman/runc missing"

version=$(cargo metadata --locked --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "ndf-cli"))')
# The commit checked out; uncommitted changes are built but not named (CI builds clean checkouts).
revision=$(git rev-parse HEAD)
short=$(git rev-parse --short=12 HEAD)
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
source_url="${NDF_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null | sed -E 's#//[^/@]*@#//#' || true)}"
[ -n "$source_url" ] || source_url="unknown (set NDF_IMAGE_SOURCE)"
target_triple=$(rustc -vV | sed -n 's/^host: //p')

# --- 1. the binary ----------------------------------------------------------------------------
if [ -n "${NDF_IMAGE_BIN:-}" ]; then
    bin="$NDF_IMAGE_BIN"
    [ -x "$bin" ] || die "NDF_IMAGE_BIN=$bin is not an executable"
else
    tdir="${CARGO_TARGET_DIR:-target}"
    case "$profile" in dev | test) pdir=debug ;; bench) pdir=release ;; *) pdir="$profile" ;; esac
    [ "$(realpath -m "$tdir/$pdir")" != "$(realpath -m "$out")" ] ||
        die "cargo's output folder for profile $profile is the image output folder $out: set NDF_IMAGE_OUT"
    t0=$(date +%s.%N)
    cargo build --locked --profile "$profile" -p ndf-cli --bin ndf
    echo "image build: cargo build --profile $profile: $(since "$t0") s"
    bin="$tdir/$pdir/ndf"
fi

# test.sh rebuilds the image from the same binary to check determinism.
realpath "$bin" > "$out/binary-path"

# --- 2. debug info split off, stripped binary -------------------------------------------------
t0=$(date +%s.%N)
rm -f "$out/ndf" "$out/ndf.debug"
objcopy --only-keep-debug "$bin" "$out/ndf.debug"
strip --strip-all --remove-section=.gnu_debuglink -o "$out/ndf" "$bin"
# The link names the file and carries its CRC: debuggers find ndf.debug beside the binary.
(cd "$out" && objcopy --add-gnu-debuglink=ndf.debug ndf)

# --- 3. root filesystem -----------------------------------------------------------------------
# Every library the dynamic loader resolves, and the loader itself; "not found" is an error.
ldd_out=$(ldd "$out/ndf") || die "ldd $out/ndf failed (a static binary needs no libraries: adapt this script)"
if grep -q "not found" <<<"$ldd_out"; then die "unresolved libraries: $ldd_out"; fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out" | sort -u)
[ ${#libs[@]} -gt 0 ] || die "ldd listed no library: $ldd_out"
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates)"
lib_args=()
for l in "${libs[@]}"; do lib_args+=(--lib "$l"); done
python3 "$here/mkrootfs.py" --out "$out/context/rootfs.tar" --mtime "$epoch" \
    --binary "$out/ndf" --ca-bundle "$ca" "${lib_args[@]}" --list > "$out/rootfs.list"
printf '%s\n' "${libs[@]}" > "$out/libs.list"

# --- 4. the image -----------------------------------------------------------------------------
cp "$here/Containerfile" "$out/context/Containerfile"
t1=$(date +%s.%N)
podman build -q --pull=never --layers=false --timestamp "$epoch" --runtime runc \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --build-arg CREATED="$created" --build-arg SOURCE="$source_url" \
    --iidfile "$out/image-id" -t "$name:$version" -t "$name:$short" \
    -f "$out/context/Containerfile" "$out/context" >/dev/null 2>"$out/podman-build.log" ||
    { cat "$out/podman-build.log" >&2; die "podman build failed"; }
# The image this build replaced under the same tags, if no container uses it.
podman image prune -f --filter label=org.opencontainers.image.title=ndf >/dev/null
build_s=$(since "$t1")
step_s=$(since "$t0")
id=$(cat "$out/image-id")

# --- 5. SBOM, saved image ---------------------------------------------------------------------
sbom_files=()
for l in "${libs[@]}"; do sbom_files+=(--file "$l"); done
python3 "$here/sbom.py" --out "$out/ndf.cdx.json" --image-name "$name" --version "$version" \
    --revision "$revision" --epoch "$epoch" --target "$target_triple" "${sbom_files[@]}" \
    --generated "$ca=ca-certificates"
if [ "${NDF_IMAGE_SAVE:-1}" != 0 ]; then
    rm -f "$out/ndf-image.tar"
    podman save -q --format oci-archive -o "$out/ndf-image.tar" "$name:$version" >/dev/null
fi

size=$(podman image inspect --format '{{.Size}}' "$id")
printf 'image build: %s (%s:%s, %s:%s)\n' "$id" "$name" "$version" "$name" "$short"
printf 'image build: binary %s bytes unstripped, %s stripped; ndf.debug %s bytes\n' \
    "$(stat -c %s "$bin")" "$(stat -c %s "$out/ndf")" "$(stat -c %s "$out/ndf.debug")"
printf 'image build: rootfs.tar %s bytes, image %s bytes%s\n' "$(stat -c %s "$out/context/rootfs.tar")" \
    "$size" "$([ -f "$out/ndf-image.tar" ] && echo ", saved $(stat -c %s "$out/ndf-image.tar") bytes")"
echo "image build: image step $step_s s (strip + rootfs + podman build), podman build $build_s s"
