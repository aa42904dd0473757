#!/usr/bin/env python3
"""Generate the compact CMap data of ndf-cmap from pdfminer.six's bundled tables.

Usage:
    python3 -m venv /tmp/cmap-venv && /tmp/cmap-venv/bin/pip install pdfminer.six
    /tmp/cmap-venv/bin/python crates/ndf-cmap/tools/generate.py [PDFMINER_CMAP_DIR]

PDFMINER_CMAP_DIR defaults to the `cmap` folder of the importable `pdfminer`
package. Nothing is downloaded. Output (overwritten):
    crates/ndf-cmap/data/cmaps.bin    every predefined CJK CMap
    crates/ndf-cmap/data/cid2uni.bin  CID -> Unicode per Adobe character collection

Source quirks handled here (pdfminer converts Adobe's cid2code tables, not the
CMap files themselves):
  * pdfminer stores no codespace ranges: they are taken from ADOBE_CODESPACES
    (as declared in Adobe's CMap files), fixed by the encoding for the Unicode
    CMaps, or derived from the codes (derive_codespace) for an unknown CMap.
    Every code is checked to lie within its CMap's codespace.
  * Adobe's -V CMaps are `usecmap` of their -H CMap plus vertical overrides;
    pdfminer's -V tables drop some -H entries, so each -V map here is its -H
    map overlaid with pdfminer's -V table. Likewise ETenms-B5-H (on ETen-B5-H)
    and UniJIS-UCS2-HW-H/-V (on UniJIS-UCS2-H), which pdfminer keeps as bare
    override tables.
  * CID -> Unicode: pdfminer's horizontal table (CID2UNICHR_H), its vertical
    one for CIDs the former lacks, then the inverse of the collection's
    Unicode CMaps (lowest code point) for CIDs still unmapped.

Binary format (all integers are LEB128 varints unless noted; "svarint" is a
zigzag-encoded signed varint):

cmaps.bin
    magic   8 bytes  b"NDFCMAP1"
    count   varint
    count x map:
        name_len varint, name (ASCII)
        flags    u8: bit 0 vertical; bits 1..3 kind (0 raw bytes, 1 UCS-2,
                 2 UTF-16, 3 UTF-32, 4 UTF-8)
        collection u8: 0 Japan1, 1 GB1, 2 CNS1, 3 Korea1
        base     varint: 0 none, else 1 + index of an earlier map whose
                 mappings this one overlays
        body_len varint, body:
            codespace: u8 n, n x (u8 len, len bytes low, len bytes high)
            4 groups (code length 1..4) of mapping records:
                n varint, n x (gap varint, count-1 varint, cid svarint)
            4 groups of removal records (codes of the base that this map
            leaves unmapped): n varint, n x (gap varint, count-1 varint)
        A record maps codes lo..lo+count-1 to cid..cid+count-1. `gap` is lo
        minus the end (last+1) of the previous record of the group (0 at the
        start); `cid` is the difference to the previous record's cid end.
        For the Unicode kinds the codes are Unicode scalar values, all in
        group 4; the CMap's code bytes are decoded to a scalar before lookup.

cid2uni.bin
    magic   8 bytes  b"NDFC2U01"
    count   varint
    count x collection:
        name_len varint, name (e.g. "Japan1"), size varint (max CID + 1),
        n varint, n x (gap varint, count-1 varint, code point svarint)
        (same delta scheme: CIDs lo..lo+count-1 -> consecutive code points)
"""

import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "data")

COLLECTIONS = ["Japan1", "GB1", "CNS1", "Korea1"]

KIND_RAW, KIND_UCS2, KIND_UTF16, KIND_UTF32, KIND_UTF8 = range(5)


def collection_of(name):
    if name.startswith("UniJIS") or name in JAPAN1_NAMES:
        return 0
    if name.startswith("UniGB") or name.startswith("GB"):
        return 1
    if name.startswith("UniCNS") or name.startswith(("B5", "CNS", "ETen", "ETHK", "HK")):
        return 2
    if name.startswith("UniKS") or name.startswith("KSC"):
        return 3
    raise SystemExit(f"unknown collection for {name}")


JAPAN1_NAMES = set()
for stem in ["78", "78-EUC", "78-RKSJ", "78ms-RKSJ", "83pv-RKSJ", "90ms-RKSJ", "90msp-RKSJ",
             "90pv-RKSJ", "Add", "Add-RKSJ", "EUC", "Ext", "Ext-RKSJ", "Hankaku", "Hiragana",
             "Katakana", "NWP", "RKSJ", "Roman", "WP-Symbol"]:
    JAPAN1_NAMES.add(stem + "-H")
    JAPAN1_NAMES.add(stem + "-V")
JAPAN1_NAMES.update(["H", "V"])


def kind_of(name):
    if not name.startswith("Uni"):
        return KIND_RAW
    for tag, kind in (("UCS2", KIND_UCS2), ("UTF16", KIND_UTF16), ("UTF32", KIND_UTF32),
                      ("UTF8", KIND_UTF8)):
        if f"-{tag}-" in name:
            return kind
    raise SystemExit(f"unknown Unicode kind for {name}")


def semantic_base(name, names):
    """The CMap that Adobe's file `usecmap`s (pdfminer's table overlays it)."""
    special = {
        "ETenms-B5-H": "ETen-B5-H",
        "ETenms-B5-V": "ETenms-B5-H",
        "UniJIS-UCS2-HW-H": "UniJIS-UCS2-H",
        "UniJIS-UCS2-HW-V": "UniJIS-UCS2-H",
    }
    if name in special:
        return special[name]
    if name == "V":
        return "H"
    if name.endswith("-V"):
        h = name[:-2] + "-H"
        if h in names:
            return h
    return None


def flatten(trie, prefix=b"", out=None):
    if out is None:
        out = {}
    for k, v in trie.items():
        key = prefix + bytes([int(k)])
        if isinstance(v, dict):
            flatten(v, key, out)
        else:
            out[key] = int(v)
    return out


def decode_scalar(kind, code):
    enc = {KIND_UCS2: "utf-16-be", KIND_UTF16: "utf-16-be", KIND_UTF32: "utf-32-be",
           KIND_UTF8: "utf-8"}[kind]
    s = code.decode(enc, errors="strict")
    if len(s) != 1:
        raise ValueError(code)
    if kind == KIND_UCS2 and len(code) != 2:
        raise ValueError(code)
    return ord(s)


def encode_scalar(kind, cp):
    ch = chr(cp)
    if kind in (KIND_UCS2, KIND_UTF16):
        return ch.encode("utf-16-be")
    if kind == KIND_UTF32:
        return ch.encode("utf-32-be")
    return ch.encode("utf-8")


# Codespace ranges as declared in Adobe's CMap files (pdfminer's tables do not
# keep them), by CMap name without its -H/-V suffix.
ADOBE_CODESPACES = [
    (["78-EUC", "EUC"], ["00-80", "8ea0-8edf", "a1a1-fefe"]),
    (["78", "Add", "Ext", "H", "V", "NWP", "GB", "GBT", "CNS1", "CNS2", "KSC"], ["2121-7e7e"]),
    (["78-RKSJ", "78ms-RKSJ", "90ms-RKSJ", "90msp-RKSJ", "Add-RKSJ", "Ext-RKSJ", "RKSJ"],
     ["00-80", "8140-9ffc", "a0-df", "e040-fcfc"]),
    (["83pv-RKSJ", "90pv-RKSJ"], ["00-80", "8140-9ffc", "a0-df", "e040-fcfc", "fd-ff"]),
    (["Hankaku", "Hiragana", "Katakana", "Roman", "WP-Symbol"], ["00-ff"]),
    (["GB-EUC", "GBT-EUC", "KSC-EUC"], ["00-80", "a1a1-fefe"]),
    (["GBK-EUC", "GBKp-EUC"], ["00-80", "8140-fefe"]),
    (["GBK2K"], ["00-7f", "81308130-fe39fe39", "8140-fefe"]),
    (["GBTpc-EUC", "GBpc-EUC"], ["00-80", "a1a1-fcfe", "fd-ff"]),
    (["B5", "ETen-B5", "ETenms-B5", "HKdla-B5", "HKm314-B5", "HKm471-B5"], ["00-80", "a140-fefe"]),
    (["B5pc"], ["00-80", "a140-fcfe", "fd-ff"]),
    (["CNS-EUC"], ["00-80", "8ea1a1a1-8ea1fefe", "8ea2a1a1-8ea2fefe", "8ea3a1a1-8ea3fefe",
                   "a1a1-fefe"]),
    (["ETHK-B5", "HKscs-B5"], ["00-80", "8740-fefe"]),
    (["HKdlb-B5"], ["00-80", "8e40-fefe"]),
    (["HKgccs-B5"], ["00-80", "8a40-fefe"]),
    (["KSC-Johab"], ["00-80", "8441-d3fe", "d831-defe", "e031-f9fe"]),
    (["KSCms-UHC", "KSCms-UHC-HW"], ["00-80", "8141-fefe"]),
    (["KSCpc-EUC"], ["00-84", "a141-fdfe", "fe-ff"]),
]


def adobe_codespace(name):
    stem = name if name in ("H", "V") else name[:-2]
    for stems, ranges in ADOBE_CODESPACES:
        if stem in stems:
            out = []
            for r in ranges:
                lo, hi = (bytes.fromhex(x) for x in r.split("-"))
                out.append((len(lo), lo, hi))
            return out
    return None


def in_codespace(codespace, code):
    return any(ln == len(code) and all(lo[i] <= code[i] <= hi[i] for i in range(ln))
               for ln, lo, hi in codespace)


def derive_codespace(keys):
    """Codespace ranges from the codes: per code length, runs of first bytes
    (a gap of first bytes used by no code of any length is filled when a run
    of multi-byte codes continues after it), each run with the min/max of
    every later byte position."""
    firsts_by_len = {}
    for k in keys:
        firsts_by_len.setdefault(len(k), set()).add(k[0])
    used = set().union(*firsts_by_len.values())
    ranges = []
    for ln in sorted(firsts_by_len):
        runs = []
        for b in sorted(firsts_by_len[ln]):
            if runs and (runs[-1][1] + 1 == b or (ln > 1 and all(
                    g not in used for g in range(runs[-1][1] + 1, b)))):
                runs[-1][1] = b
            else:
                runs.append([b, b])
        for lo, hi in runs:
            low = [lo] + [255] * (ln - 1)
            high = [hi] + [0] * (ln - 1)
            for k in keys:
                if len(k) == ln and lo <= k[0] <= hi:
                    for i in range(1, ln):
                        low[i] = min(low[i], k[i])
                        high[i] = max(high[i], k[i])
            ranges.append((ln, bytes(low), bytes(high)))
    return ranges


UNICODE_CODESPACE = {
    KIND_UCS2: [(2, b"\x00\x00", b"\xd7\xff"), (2, b"\xe0\x00", b"\xff\xff")],
    KIND_UTF16: [(2, b"\x00\x00", b"\xd7\xff"), (4, b"\xd8\x00\xdc\x00", b"\xdb\xff\xdf\xff"),
                 (2, b"\xe0\x00", b"\xff\xff")],
    KIND_UTF32: [(4, b"\x00\x00\x00\x00", b"\x00\x10\xff\xff")],
    KIND_UTF8: [(1, b"\x00", b"\x7f"), (2, b"\xc0\x80", b"\xdf\xbf"),
                (3, b"\xe0\x80\x80", b"\xef\xbf\xbf"), (4, b"\xf0\x80\x80\x80", b"\xf7\xbf\xbf\xbf")],
}


def varint(n):
    assert n >= 0
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def svarint(n):
    return varint((n << 1) if n >= 0 else ((-n) << 1) - 1)


def to_ranges(items):
    """Sorted (code, value) pairs -> [lo, count, value] runs of consecutive codes and values."""
    runs = []
    for code, val in items:
        if runs and runs[-1][0] + runs[-1][1] == code and (val is None or runs[-1][2] + runs[-1][1] == val):
            runs[-1][1] += 1
        else:
            runs.append([code, 1, val])
    return runs


def encode_groups(mapping, with_values=True):
    """mapping: {(len, code): cid} -> bytes of 4 groups."""
    out = bytearray()
    for ln in range(1, 5):
        items = sorted((c, v) for (l, c), v in mapping.items() if l == ln)
        runs = to_ranges(items if with_values else [(c, None) for c, _ in items])
        out += varint(len(runs))
        prev_end = 0
        prev_cid_end = 0
        for lo, count, val in runs:
            out += varint(lo - prev_end)
            out += varint(count - 1)
            if with_values:
                out += svarint(val - prev_cid_end)
                prev_cid_end = val + count
            prev_end = lo + count
    return bytes(out)


def keyed(kind, full):
    """{code bytes: cid} -> {(len, code int): cid}; Unicode kinds become scalars in group 4."""
    if kind == KIND_RAW:
        return {(len(k), int.from_bytes(k, "big")): v for k, v in full.items()}
    out = {}
    for k, v in full.items():
        out[(4, decode_scalar(kind, k))] = v
    return out


def load_maps(src):
    names = sorted(f[:-8] for f in os.listdir(src)
                   if f.endswith(".json.gz") and not f.startswith("to-unicode"))
    raw = {}
    for name in names:
        with gzip.open(os.path.join(src, name + ".json.gz"), "rt", encoding="utf-8") as fh:
            j = json.load(fh)
        raw[name] = (flatten(j["CODE2CID"]), bool(j["IS_VERTICAL"]))
    return names, raw


def build_full(names, raw):
    """Resolve the usecmap layering into complete code -> CID tables."""
    full = {}

    def resolve(name, depth=0):
        if name in full:
            return full[name]
        if depth > 8:
            raise SystemExit("usecmap loop")
        table, _ = raw[name]
        base = semantic_base(name, raw)
        if base is not None:
            merged = dict(resolve(base, depth + 1))
            merged.update(table)
            table = merged
        full[name] = table
        return table

    for name in names:
        resolve(name)
    return full


def main():
    if len(sys.argv) > 1:
        src = sys.argv[1]
    else:
        import pdfminer  # noqa: PLC0415
        src = os.path.join(os.path.dirname(pdfminer.__file__), "cmap")
    names, raw = load_maps(src)
    full = build_full(names, raw)

    # Emit -H (and other bases) before the maps that may overlay them.
    order = sorted(names, key=lambda n: (n.endswith("-V") or n == "V", n))
    keyed_maps = {}
    for name in order:
        kind = kind_of(name)
        km = keyed(kind, full[name])
        if kind != KIND_RAW:
            back = {encode_scalar(kind, c): v for (_, c), v in km.items()}
            if back != full[name]:
                raise SystemExit(f"{name}: scalar round trip differs")
        keyed_maps[name] = km

    blobs = []
    emitted = []  # (name, collection, is_unicode_kind)
    total_records = 0
    for idx, name in enumerate(order):
        kind = kind_of(name)
        coll = collection_of(name)
        km = keyed_maps[name]
        vertical = raw[name][1]
        codespace = []
        if kind == KIND_RAW:
            codespace = adobe_codespace(name) or derive_codespace(list(full[name]))
            for code in full[name]:
                if not in_codespace(codespace, code):
                    raise SystemExit(f"{name}: code {code.hex()} outside its codespace")
        cs = bytearray([len(codespace)])
        for ln, lo, hi in codespace:
            cs += bytes([ln]) + lo + hi
        standalone = encode_groups(km) + encode_groups({}, with_values=False)
        best = (len(standalone), 0, standalone)
        # Overlaying an earlier map of the same collection and code space is
        # much smaller for the -V maps and for the UTF-8/16/32 siblings.
        sample = sorted(km)[:: max(1, len(km) // 300)]
        cands = []
        for j, (oname, ocoll, ouni) in enumerate(emitted):
            if ocoll != coll or ouni != (kind != KIND_RAW):
                continue
            okm = keyed_maps[oname]
            miss = sum(1 for k in sample if okm.get(k) != km[k])
            cands.append((miss, j))
        for _, j in sorted(cands)[:4]:
            okm = keyed_maps[emitted[j][0]]
            over = {k: v for k, v in km.items() if okm.get(k) != v}
            rem = {k: 0 for k in okm if k not in km}
            body = encode_groups(over) + encode_groups(rem, with_values=False)
            if len(body) < best[0]:
                best = (len(body), j + 1, body)
        _, base, body = best
        body = bytes(cs) + body
        flags = (1 if vertical else 0) | (kind << 1)
        nb = name.encode("ascii")
        blobs.append(varint(len(nb)) + nb + bytes([flags, coll]) + varint(base)
                     + varint(len(body)) + body)
        emitted.append((name, coll, kind != KIND_RAW))
        total_records += len(km)
        assert idx == len(emitted) - 1

    os.makedirs(OUT, exist_ok=True)
    data = b"NDFCMAP1" + varint(len(blobs)) + b"".join(blobs)
    with open(os.path.join(OUT, "cmaps.bin"), "wb") as fh:
        fh.write(data)

    # CID -> Unicode: pdfminer's horizontal table, then its vertical one for
    # CIDs it lacks, then the inverse of the collection's Unicode CMaps (lowest
    # code point wins) for CIDs still unmapped.
    inverse_sources = {
        "Japan1": ["UniJIS-UTF32-H", "UniJIS-UTF32-V", "UniJIS2004-UTF32-H",
                   "UniJISX0213-UTF32-H", "UniJISX02132004-UTF32-H", "UniJIS-UCS2-H"],
        "GB1": ["UniGB-UTF32-H", "UniGB-UTF32-V", "UniGB-UCS2-H"],
        "CNS1": ["UniCNS-UTF32-H", "UniCNS-UTF32-V", "UniCNS-UCS2-H"],
        "Korea1": ["UniKS-UTF32-H", "UniKS-UTF32-V", "UniKS-UCS2-H"],
    }
    c2u = bytearray(b"NDFC2U01") + varint(len(COLLECTIONS))
    for coll in COLLECTIONS:
        with gzip.open(os.path.join(src, f"to-unicode-Adobe-{coll}.json.gz"), "rt",
                       encoding="utf-8") as fh:
            t = json.load(fh)
        table = {}
        for src_name in reversed(inverse_sources[coll]):
            for (_, cp), cid in sorted(keyed_maps[src_name].items(), reverse=True):
                table[cid] = cp
        for part in ("CID2UNICHR_V", "CID2UNICHR_H"):
            for k, v in t[part].items():
                if len(v) != 1:
                    raise SystemExit(f"{coll}: CID {k} maps to {len(v)} characters")
                table[int(k)] = ord(v)
        table.pop(0, None)
        runs = to_ranges(sorted(table.items()))
        nb = coll.encode("ascii")
        c2u += varint(len(nb)) + nb + varint(max(table) + 1) + varint(len(runs))
        prev_end = 0
        prev_cp_end = 0
        for lo, count, cp in runs:
            c2u += varint(lo - prev_end) + varint(count - 1) + svarint(cp - prev_cp_end)
            prev_end = lo + count
            prev_cp_end = cp + count
    with open(os.path.join(OUT, "cid2uni.bin"), "wb") as fh:
        fh.write(bytes(c2u))
    print(f"cmaps.bin: {len(data)} bytes, {len(blobs)} CMaps, {total_records} mappings")
    print(f"cid2uni.bin: {len(c2u)} bytes")


if __name__ == "__main__":
    main()
