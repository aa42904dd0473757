#!/usr/bin/env python3
"""Seeds for the stream-level fuzz targets, cut out of real PDFs.

Usage: seed_streams.py CORPUS_DIR PDF...

Finds every `stream ... endstream` in the given PDFs (a regex scan, no PDF parser: good
enough for seeds), inflates the Flate ones, and files them by what they look like:

  content_stream  page content (text operators)
  cmap_parse      CMaps (begincmap)
  font_program    font programs (sfnt, OTTO, CFF, Type 1)
  filter_flate    the raw compressed bytes, behind a /DecodeParms header (see fuzz/src/lib.rs)
  filter_lzw, filter_ascii85, filter_asciihex, filter_runlength
                  small content streams re-encoded with that filter (plus any such streams
                  found as they are)

Seeds are named by content hash, so rerunning is idempotent. Standard library only.
"""

import base64
import binascii
import hashlib
import os
import re
import sys
import zlib

MAX_SEED = 64 << 10
MAX_FONT = 256 << 10
CAP = {"content_stream": 300, "cmap_parse": 150, "font_program": 80, "filter_flate": 200}
REENCODE_CAP = 60

STREAM = re.compile(rb"(?<!end)stream\r?\n")


def header(predictor=1, colors=1, bits=8, columns=1, early=1):
    """The 6-byte parameter header the filter targets read first."""
    columns = max(0, min(columns, 0xFFFF))
    return bytes([predictor & 0xFF, colors & 0xFF, bits & 0xFF, columns & 0xFF, columns >> 8, early & 1])


def int_param(d, key, default):
    m = re.search(rb"/" + key + rb"\s+(-?\d+)", d)
    return int(m.group(1)) if m else default


def lzw_encode(data, early=1):
    """PDF LZWDecode encoder (MSB-first codes, 9-12 bits, ClearTable 256, EOD 257)."""
    out, acc, nbits = bytearray(), 0, 0
    width = 9

    def emit(code):
        nonlocal acc, nbits
        acc = (acc << width) | code
        nbits += width
        while nbits >= 8:
            nbits -= 8
            out.append((acc >> nbits) & 0xFF)

    table = {bytes([i]): i for i in range(256)}
    nxt = 258
    emit(256)
    w = b""
    for b in data:
        wc = w + bytes([b])
        if wc in table:
            w = wc
            continue
        emit(table[w])
        table[wc] = nxt
        nxt += 1
        if nxt + early > (1 << width):
            if width < 12:
                width += 1
            else:
                emit(256)
                table = {bytes([i]): i for i in range(256)}
                nxt, width = 258, 9
        w = bytes([b])
    if w:
        emit(table[w])
        # The decoder adds one more entry on reading that code; follow its width.
        nxt += 1
        if nxt + early > (1 << width) and width < 12:
            width += 1
    emit(257)
    if nbits:
        out.append((acc << (8 - nbits)) & 0xFF)
    return bytes(out)


def runlength_encode(data):
    out, i = bytearray(), 0
    while i < len(data):
        j = i
        while j < len(data) and j - i < 128 and data[j] == data[i]:
            j += 1
        if j - i >= 2:
            out += bytes([257 - (j - i), data[i]])
            i = j
            continue
        j = i
        while j < len(data) and j - i < 128 and not (j + 1 < len(data) and data[j] == data[j + 1]):
            j += 1
        out += bytes([j - i - 1]) + data[i:j]
        i = j
    return bytes(out + b"\x80")


def looks_like_font(d):
    return d[:4] in (b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf") or d[:2] == b"\x80\x01" or d[:2] == b"%!" or (
        len(d) > 4 and d[0] == 1 and d[2] >= 4 and 1 <= d[3] <= 4
    )


PER_FILE = 3


class Sink:
    def __init__(self, root):
        self.root = root
        self.count = {}
        self.file_count = {}

    def next_file(self):
        self.file_count = {}

    def put(self, target, data, cap=None):
        cap = cap or CAP.get(target, REENCODE_CAP)
        if self.count.get(target, 0) >= cap or not data:
            return
        # Spread the seeds over the files rather than taking the first few files' streams.
        if self.file_count.get(target, 0) >= PER_FILE:
            return
        self.file_count[target] = self.file_count.get(target, 0) + 1
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, hashlib.sha1(data).hexdigest()[:16])
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        self.count[target] = self.count.get(target, 0) + 1


def main():
    root, pdfs = sys.argv[1], sys.argv[2:]
    sink = Sink(root)
    small_contents = []
    for pdf in pdfs:
        try:
            with open(pdf, "rb") as f:
                buf = f.read()
        except OSError:
            continue
        sink.next_file()
        for m in STREAM.finditer(buf):
            # The stream's dictionary: from its "obj" keyword to "stream" (linear, no parsing).
            before = buf[max(0, m.start() - 4096) : m.start()]
            i = before.rfind(b"obj")
            d = before[i:] if i >= 0 else before[-512:]
            start = m.end()
            end = buf.find(b"endstream", start)
            if end < 0:
                continue
            raw = buf[start:end].rstrip(b"\r\n")
            flate = b"/FlateDecode" in d or b"/Fl " in d
            data = raw
            if flate:
                try:
                    data = zlib.decompressobj().decompress(raw, 8 << 20)
                except zlib.error:
                    continue
                if len(raw) <= MAX_SEED and b"/Filter [" not in d:
                    h = header(
                        int_param(d, b"Predictor", 1),
                        int_param(d, b"Colors", 1),
                        int_param(d, b"BitsPerComponent", 8),
                        int_param(d, b"Columns", 1),
                    )
                    sink.put("filter_flate", h + raw)
            elif b"/LZWDecode" in d:
                sink.put("filter_lzw", header(early=int_param(d, b"EarlyChange", 1)) + raw)
                continue
            elif b"/ASCII85Decode" in d:
                sink.put("filter_ascii85", header() + raw)
                continue
            elif b"/ASCIIHexDecode" in d:
                sink.put("filter_asciihex", header() + raw)
                continue
            elif b"/RunLengthDecode" in d:
                sink.put("filter_runlength", header() + raw)
                continue
            elif b"/Filter" in d:
                continue
            if b"begincmap" in data and len(data) <= MAX_SEED:
                sink.put("cmap_parse", data)
            elif looks_like_font(data) and len(data) <= MAX_FONT and (b"/FontFile" in buf):
                sink.put("font_program", data)
            elif (b" Tj" in data or b" TJ" in data or b"BT" in data) and len(data) <= MAX_SEED:
                sink.put("content_stream", data)
                if len(data) <= 4096:
                    small_contents.append(data)
    sink.next_file()
    for c in small_contents[:REENCODE_CAP]:
        sink.next_file()
        sink.put("filter_lzw", header() + lzw_encode(c))
        sink.put("filter_ascii85", header() + base64.a85encode(c) + b"~>")
        sink.put("filter_asciihex", header() + binascii.hexlify(c) + b">")
        sink.put("filter_runlength", header() + runlength_encode(c))
    for t in sorted(sink.count):
        print(f"  {t}: {sink.count[t]} seeds from streams")


if __name__ == "__main__":
    main()
