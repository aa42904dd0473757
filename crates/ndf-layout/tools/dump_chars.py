#!/usr/bin/env python3
"""Dev tool: dump PyMuPDF characters as a simple JSON form of ndf_model::TextPage.

Used to tune ndf-layout before the project's own interpreter exists. Writes, for every PDF
in CORPUS, into OUT (never into the repository):
  <stem>.json       {"file", "pages": [{"number", "width", "height", "rotation",
                     "fonts": [[name, bold, italic, monospace]],
                     "chars": [[text, x0, y0, x1, y1, ox, oy, advance, size, dx, dy,
                                flags, font]]}]}
  <stem>.ref.txt    `pdftotext -enc UTF-8 FILE -` (the benchmark's reference)
  <stem>.mupdf.txt  PyMuPDF's own `page.get_text()` joined with form feeds (the peer to beat)

Coordinates are the visible page space (rotation applied), top-left origin, y down. Characters
come in MuPDF's extraction order (close to content order); MuPDF's synthetic spaces are
inhibited so only real space glyphs appear, as from a PDF interpreter.

Usage: python dump_chars.py CORPUS OUT [--limit N] [--max-pages N]
"""
import argparse
import json
import os
import re
import subprocess
import sys

import pymupdf

# CharFlags of ndf-model.
INVISIBLE, VERTICAL, CLIPPED = 1, 2, 32
FILLED, STROKED = 16, 32  # MuPDF span char_flags
# PyMuPDF's get_text() defaults (so characters map like its own text), minus the media-box
# clip (flagged CLIPPED here instead) and with synthetic spaces inhibited.
RAW_FLAGS = (pymupdf.TEXT_PRESERVE_LIGATURES | pymupdf.TEXT_PRESERVE_WHITESPACE
             | pymupdf.TEXT_CID_FOR_UNKNOWN_UNICODE | pymupdf.TEXT_INHIBIT_SPACES)


def strip_subset(name):
    return re.sub(r"^[A-Z]{6}\+", "", name)


def advance(r, vx, vy, h, wmode):
    """The glyph advance from MuPDF's axis-aligned box of a possibly rotated glyph box of
    advance w and height h: W = w|c| + h|s|, H = w|s| + h|c|."""
    c, s = abs(vx), abs(vy)
    if wmode:
        c, s = s, c
    if c >= s:
        return max(0.0, (r.width - h * s) / c) if c > 1e-6 else 0.0
    return max(0.0, (r.height - h * c) / s) if s > 1e-6 else 0.0


def dump_page(page):
    rot = page.rotation_matrix
    rect = page.rect
    fonts, font_ids, chars = [], {}, []
    raw = page.get_text("rawdict", flags=RAW_FLAGS)
    for block in raw.get("blocks", []):
        for line in block.get("lines", []):
            wmode = line.get("wmode", 0)
            dx, dy = line.get("dir", (1.0, 0.0))
            if wmode:
                # MuPDF gives the progress direction of vertical lines; TextChar::dir is the
                # glyph baseline (text-space x axis), a quarter turn counter-clockwise.
                dx, dy = dy, -dx
            # Rotate the direction vector into visible space (no translation).
            vx = rot.a * dx + rot.c * dy
            vy = rot.b * dx + rot.d * dy
            for span in line.get("spans", []):
                name = strip_subset(span.get("font", ""))
                sf = span.get("flags", 0)
                key = (name, bool(sf & 16), bool(sf & 2), bool(sf & 8))
                fid = font_ids.get(key)
                if fid is None:
                    fid = font_ids[key] = len(fonts)
                    fonts.append(list(key))
                cf = span.get("char_flags", FILLED)
                flags = 0
                if not cf & (FILLED | STROKED):
                    flags |= INVISIBLE
                if wmode:
                    flags |= VERTICAL
                size = span.get("size", 0.0)
                asc, desc = span.get("ascender", 0.8), span.get("descender", -0.2)
                sc = span.get("chars", [])
                for i, ch in enumerate(sc):
                    if ch.get("synthetic"):
                        continue
                    r = pymupdf.Rect(ch["bbox"]) * rot
                    o = pymupdf.Point(ch["origin"]) * rot
                    # Advance: the glyph's own advance (MuPDF's box extent along the
                    # baseline), without character or word spacing, like TextChar::advance.
                    adv = advance(r, vx, vy, size * (asc - desc), wmode)
                    if i + 1 < len(sc):
                        # MuPDF's box can be wider than the advance (horizontal scaling);
                        # the next origin bounds it.
                        o2 = pymupdf.Point(sc[i + 1]["origin"]) * rot
                        px, py = (-vy, vx) if wmode else (vx, vy)
                        step = (o2.x - o.x) * px + (o2.y - o.y) * py
                        if 0 < step < adv:
                            adv = step
                    cflags = flags
                    cx, cy = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2
                    if not (rect.x0 <= cx <= rect.x1 and rect.y0 <= cy <= rect.y1):
                        cflags |= CLIPPED
                    text = ch["c"].encode("utf-8", "replace").decode("utf-8")
                    chars.append([text, round(r.x0, 3), round(r.y0, 3), round(r.x1, 3),
                                  round(r.y1, 3), round(o.x, 3), round(o.y, 3), round(adv, 3),
                                  round(size, 3), round(vx, 5), round(vy, 5), cflags, fid])
    return {"number": page.number + 1, "width": rect.width, "height": rect.height,
            "rotation": page.rotation, "fonts": fonts, "chars": chars}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--max-pages", type=int, default=0)
    args = ap.parse_args()
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    os.makedirs(args.out, exist_ok=True)
    files = sorted(f for f in os.listdir(args.corpus) if f.lower().endswith(".pdf"))
    if args.limit:
        files = files[:args.limit]
    for f in files:
        path = os.path.join(args.corpus, f)
        stem = os.path.join(args.out, f[:-4])
        try:
            doc = pymupdf.open(path)
            if doc.needs_pass and not doc.authenticate(""):
                raise RuntimeError("password required")
            pages, texts = [], []
            for page in doc:
                if args.max_pages and page.number >= args.max_pages:
                    break
                pages.append(dump_page(page))
                texts.append(page.get_text())
            with open(stem + ".json", "w", encoding="utf-8") as fo:
                json.dump({"file": f, "pages": pages}, fo, ensure_ascii=True)
            with open(stem + ".mupdf.txt", "w", encoding="utf-8", errors="surrogatepass") as fo:
                fo.write("\f".join(texts))
        except Exception as e:  # noqa: BLE001 - a dev tool: report and go on
            print(f"{f}: {e}", file=sys.stderr)
            continue
        ref = subprocess.run(["pdftotext", "-enc", "UTF-8", path, "-"], capture_output=True,
                             timeout=120)
        with open(stem + ".ref.txt", "wb") as fo:
            fo.write(ref.stdout)
        print(f, len(pages), "pages", sum(len(p["chars"]) for p in pages), "chars")


if __name__ == "__main__":
    main()
