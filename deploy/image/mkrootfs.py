#!/usr/bin/env python3
"""Writes the image's root filesystem as one tar, reproducibly (called by build.sh).

Every entry gets a fixed mtime (SOURCE_DATE_EPOCH), numeric owners and no user or group names,
and the entries are sorted, so the same binary, libraries and CA bundle always give the same
bytes (and `podman build` the same image id). Written with tarfile rather than GNU tar so that
/data can be owned by uid 10001 without running as root or chown-ing a staging directory.

    mkrootfs.py --out rootfs.tar --mtime EPOCH --binary ndf --ca-bundle FILE [--lib PATH ...]
                [--list]

--lib takes the paths `ldd` printed (the loader included); each is stored under that same path
with the content of the file it resolves to (Debian's /lib64 and /lib are symlinks). --list
prints the entries (type, mode, uid:gid, path) one a line, sorted: the test compares the image
against it.
"""

import argparse
import io
import sys
import tarfile

UID = GID = 10001
BIN = "usr/local/bin/ndf"

PASSWD = "root:x:0:0:root:/:/nonexistent\nndf:x:10001:10001:ndf:/data:/nonexistent\n"
GROUP = "root:x:0:\nndf:x:10001:\n"
# /etc/hosts (mounted by the runtime) before DNS; no other NSS source exists in the image.
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"


def entries(args):
    """path -> (type, mode, uid, gid, bytes or None), paths without a leading slash."""
    out = {}

    def add_dirs(path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            out.setdefault(d, (tarfile.DIRTYPE, 0o755, 0, 0, None))

    def add_file(path, data, mode):
        path = path.lstrip("/")
        add_dirs(path)
        out[path] = (tarfile.REGTYPE, mode, 0, 0, data)

    with open(args.binary, "rb") as f:
        add_file(BIN, f.read(), 0o755)
    for lib in args.lib:
        if not lib.startswith("/"):
            sys.exit(f"mkrootfs: library path {lib!r} is not absolute")
        with open(lib, "rb") as f:  # follows symlinks: the file's content under ldd's name
            add_file(lib, f.read(), 0o755)
    with open(args.ca_bundle, "rb") as f:
        add_file("etc/ssl/certs/ca-certificates.crt", f.read(), 0o644)
    add_file("etc/passwd", PASSWD.encode(), 0o644)
    add_file("etc/group", GROUP.encode(), 0o644)
    add_file("etc/nsswitch.conf", NSSWITCH.encode(), 0o644)
    out["tmp"] = (tarfile.DIRTYPE, 0o1777, 0, 0, None)
    # The service's data directory: only its user may read it (keys, database, documents).
    out["data"] = (tarfile.DIRTYPE, 0o700, UID, GID, None)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out")
    p.add_argument("--mtime", type=int, required=True)
    p.add_argument("--binary", required=True)
    p.add_argument("--ca-bundle", required=True)
    p.add_argument("--lib", action="append", default=[])
    p.add_argument("--list", action="store_true")
    args = p.parse_args()
    items = sorted(entries(args).items())
    if args.list:
        for path, (kind, mode, uid, gid, _) in items:
            print(f"{'d' if kind == tarfile.DIRTYPE else 'f'} {mode:04o} {uid}:{gid} /{path}")
    if not args.out:
        return
    with tarfile.open(args.out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, (kind, mode, uid, gid, data) in items:
            info = tarfile.TarInfo(path)
            info.type, info.mode, info.uid, info.gid = kind, mode, uid, gid
            info.uname = info.gname = ""
            info.mtime = args.mtime
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)


if __name__ == "__main__":
    main()
