#!/usr/bin/env python3
"""Write `<font>.expect` sidecars for examples/sample_fonts.rs, computed independently with fontTools.

Usage: python3 tools/dump_expected.py DIR   (fonts named *.ttf, *.otf, *.cff, *.cid, *.pfa)
Fonts fontTools cannot read get no sidecar. Lines: see examples/sample_fonts.rs.
"""
import io
import re
import os
import sys

from fontTools.cffLib import CFFFontSet
from fontTools.encodings.StandardEncoding import StandardEncoding
from fontTools.ttLib import TTFont
from fontTools.t1Lib import T1Font


def cff_lines(top, strings_ok=True):
    out = []
    cs = top.charset
    if hasattr(top, "ROS"):
        for gid, n in enumerate(cs):
            if n.startswith("cid"):
                out.append(f"cid {int(n[3:])} {gid}")
        return out, len(cs)
    for gid, n in enumerate(cs):
        out.append(f"name {gid} {n}")
    enc = getattr(top, "Encoding", "StandardEncoding")
    if enc == "StandardEncoding":
        out.append("stdenc")
    elif isinstance(enc, list):
        for code, n in enumerate(enc):
            if n != ".notdef":
                out.append(f"enc {code} {n}")
    return out, len(cs)


def upem_of(matrix):
    a = matrix[0] if matrix else 0.001
    u = round(1 / a) if a > 0 else 1000
    return u if 16 <= u <= 16384 else 1000


def dump_sfnt(path):
    f = TTFont(path, lazy=False, recalcBBoxes=False, recalcTimestamp=False, fontNumber=0)
    out = [f"glyphs {f['maxp'].numGlyphs}", f"upem {f['head'].unitsPerEm}"]
    order = f.getGlyphOrder()
    if "CFF " in f:
        lines, _ = cff_lines(f["CFF "].cff.topDictIndex[0])
        out += [l for l in lines if not l.startswith(("enc", "stdenc"))]
    elif "post" in f and f["post"].formatType in (1.0, 2.0):
        for gid, n in enumerate(order):
            # fontTools invents `glyphNNNNN` for empty names and `name#1` for duplicates.
            # It also renames later duplicates `name.1`, `name.2`...
            dup = re.fullmatch(r"(.+)\.\d+", n)
            if dup and dup.group(1) in order[:gid]:
                continue
            if "#" not in n and not re.fullmatch(r"glyph\d{5}", n):
                out.append(f"name {gid} {n}")
    best = f.getBestCmap()
    if best:
        rev = {}
        for cp, n in best.items():
            gid = f.getGlyphID(n)
            # Glyphs past maxp.numGlyphs do not exist (subsetters often keep the cmap).
            if 0 < gid < f["maxp"].numGlyphs and (gid not in rev or cp < rev[gid]):
                rev[gid] = cp
        for gid, cp in sorted(rev.items()):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            out.append(f"uni {gid} {cp:X}")
    # gid_for_code(code, None): (3,0) with code, F000+, F100+, F200+; (1,0); Unicode code, F000+.
    ng = f["maxp"].numGlyphs

    def table(pid, eid):
        t = f["cmap"].getcmap(pid, eid) if "cmap" in f else None
        if t is None:
            return {}
        m = {c: f.getGlyphID(n) for c, n in t.cmap.items()}
        return {c: g for c, g in m.items() if 0 < g < ng}

    sym, mac = table(3, 0), table(1, 0)
    uni = {c: f.getGlyphID(n) for c, n in (best or {}).items()}
    uni = {c: g for c, g in uni.items() if 0 < g < ng}
    if sym or mac or uni:
        for code in range(256):
            cands = [sym.get(code + v) for v in (0, 0xF000, 0xF100, 0xF200)]
            cands += [mac.get(code), uni.get(code), uni.get(0xF000 + code)]
            g = next((g for g in cands if g), None)
            if g is not None:
                out.append(f"code {code} {g}")
    if "hmtx" in f:
        for gid, n in enumerate(order[: f["hhea"].numberOfHMetrics]):
            out.append(f"adv {gid} {f['hmtx'][n][0]}")
    return out


def dump_cff(path):
    fs = CFFFontSet()
    with open(path, "rb") as fh:
        fs.decompile(io.BytesIO(fh.read()), None)
    top = fs.topDictIndex[0]
    lines, n = cff_lines(top)
    return [f"glyphs {n}", f"upem {upem_of(getattr(top, 'FontMatrix', None))}"] + lines


def dump_t1(path):
    try:
        t = T1Font(path)
    except Exception:  # noqa: BLE001
        # PDF /FontFile streams often omit the trailer (Length3 = 0); t1Lib needs it.
        import tempfile
        with open(path, "rb") as fh:
            data = fh.read()
        with tempfile.NamedTemporaryFile(suffix=".pfa", delete=False) as tmp:
            tmp.write(data + b"\n" + b"0" * 512 + b"\ncleartomark\n")
        try:
            t = T1Font(tmp.name)
        finally:
            os.unlink(tmp.name)
    t.parse()
    d = t.font
    names = list(d["CharStrings"].keys())
    out = [f"glyphs {len(names)}", f"upem {upem_of(d.get('FontMatrix'))}"]
    for gid, n in enumerate(names):
        out.append(f"name {gid} {n}")
    enc = d.get("Encoding")
    if enc == StandardEncoding:
        out.append("stdenc")
    elif isinstance(enc, list):
        for code, n in enumerate(enc):
            if n and n != ".notdef":
                out.append(f"enc {code} {n}")
    return out


def main(folder):
    ok = bad = 0
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        ext = name.rsplit(".", 1)[-1]
        fn = {"ttf": dump_sfnt, "otf": dump_sfnt, "cff": dump_cff, "cid": dump_cff, "pfa": dump_t1}.get(ext)
        if fn is None:
            continue
        try:
            lines = fn(path)
        except Exception as e:  # noqa: BLE001 - broken fonts just get no sidecar
            bad += 1
            print(f"skip {name}: {type(e).__name__}: {e}"[:200], file=sys.stderr)
            continue
        with open(path + ".expect", "w") as fh:
            fh.write("\n".join(lines) + "\n")
        ok += 1
    print(f"{ok} sidecars written, {bad} fonts fontTools could not read")


if __name__ == "__main__":
    main(sys.argv[1])
