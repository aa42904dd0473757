#!/usr/bin/env bash
# Build the seed corpora in fuzz/corpus/<target>/ (git-ignored; copies, never links).
#
#   fuzz/seed.sh [DEV_CORPUS_DIR]     (default: NDF_CORPUS_DIR, else ../shared/corpus/dev)
#
# - open_document, extract_page: the dev corpus PDFs up to SEED_MAX_BYTES (default 256 KiB;
#   bigger inputs slow every execution) plus a few hand-written tiny PDFs.
# - content_stream, cmap_parse, font_program, filter_*: streams cut out of those PDFs by
#   seed_streams.py (python3), plus small hand-written seeds so every target has some even
#   without python3 or the corpus.
# - font_program also gets the ndf-fontfile test fixtures.
# - http_request: hand-written only (page selections, callback URLs, config snippets, query
#   strings, raw and multipart bodies), each behind its mode byte (fuzz_targets/http_request.rs).
#
# Rerunning only adds files. Filter seeds start with the 6-byte /DecodeParms header described
# in fuzz/src/lib.rs: [predictor, colors, bits, columns lo, columns hi, flags].
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dev=${1:-${NDF_CORPUS_DIR:-$root/../shared/corpus/dev}}
max=${SEED_MAX_BYTES:-262144}
corpus=$here/corpus

targets=(open_document extract_page cmap_parse filter_flate filter_brotli filter_lzw filter_ascii85
    filter_asciihex filter_runlength font_program content_stream http_request)
for t in "${targets[@]}"; do mkdir -p "$corpus/$t"; done

# ---------------------------------------------------------------- hand-written seeds

# A minimal one-page PDF with text (offsets need not be exact: the engine repairs them, and
# the mutated copies exercise both paths).
tiny_pdf='%PDF-1.7
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >> endobj
4 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >> endobj
5 0 obj << /Length 44 >> stream
BT /F1 12 Tf 72 720 Td (Hello, fuzz) Tj ET
endstream endobj
xref
0 6
0000000000 65535 f 
0000000009 00000 n 
0000000058 00000 n 
0000000114 00000 n 
0000000241 00000 n 
0000000337 00000 n 
trailer << /Size 6 /Root 1 0 R >>
startxref
433
%%EOF
'
for t in open_document extract_page; do
    printf '%s' "$tiny_pdf" > "$corpus/$t/tiny-text"
    printf '%%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Contents 4 0 R/Resources<</XObject<</X 5 0 R>>>>>>endobj 4 0 obj<</Length 6>>stream\n/X Do\nendstream endobj 5 0 obj<</Subtype/Form/Length 6>>stream\n/X Do\nendstream endobj trailer<</Root 1 0 R>>' > "$corpus/$t/tiny-form-cycle"
done

printf 'BT /F1 12 Tf 1 0 0 1 72 720 Tm [(Hel) -20 (lo)] TJ 0 -14 TD (x) Tj T* (y) Tj ET\nq 1 0 0 1 0 0 cm /Im1 Do Q /OC /L1 BDC EMC\nBI /W 2 /H 1 /BPC 8 /CS /G ID \x00\xff EI\n<< /MCID 3 >> /P BDC <48656c6c6f> Tj EMC\n' \
    > "$corpus/content_stream/hand-ops"

printf '/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n1 begincodespacerange <0000> <FFFF> endcodespacerange\n2 beginbfchar <0003> <0020> <0024> <00410042> endbfchar\n2 beginbfrange <0010> <0020> <0030> <0100> <0102> [<0041> <D83DDE00> <0043>] endbfrange\nendcmap CMapName currentdict /CMap defineresource pop end end\n' \
    > "$corpus/cmap_parse/hand-tounicode"
printf '/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CMapName /Test-H def /CMapType 1 def /UseCMap /UniJIS-UCS2-H usecmap\n2 begincodespacerange <00> <80> <8140> <9FFC> endcodespacerange\n1 begincidrange <8140> <817E> 633 endcidrange\n1 begincidchar <20> 1 endcidchar\n1 beginnotdefrange <00> <1F> 1 endnotdefrange\nendcmap\n' \
    > "$corpus/cmap_parse/hand-cid"

# Header: predictor 1, colors 1, bits 8, columns 1, flags 1 (EarlyChange).
hdr='\x01\x01\x08\x01\x00\x01'
printf "${hdr}"'\x78\x9c\xf3\x48\xcd\xc9\xc9\x57\x28\xc9\x48\x2d\x4a\x55\x04\x00\x1c\xb4\x04\x4e' > "$corpus/filter_flate/hand-hello"
# PNG predictor (12 = Up), 4 columns: two rows, each tagged Up (2).
printf '\x0c\x01\x08\x04\x00\x01\x78\x9c\x63\x62\x64\x62\x66\x61\x62\x04\x02\x00\x00\x78\x00\x13' > "$corpus/filter_flate/hand-png-up"
# brotli.compress(b"hello").
printf "${hdr}"'\x0b\x02\x80\x68\x65\x6c\x6c\x6f\x03' > "$corpus/filter_brotli/hand-hello"
printf "${hdr}"'\x80\x0b\x60\x50\x22\x0c\x0c\x85\x01' > "$corpus/filter_lzw/hand-spec-example"
printf "${hdr}"'87cURD]i,"Ebo7~>' > "$corpus/filter_ascii85/hand-hello"
printf "${hdr}"'z!!*-(~>' > "$corpus/filter_ascii85/hand-z"
printf "${hdr}"'48 65 6c 6C 6f 2>' > "$corpus/filter_asciihex/hand-hello"
printf "${hdr}"'\x04Hello\xfd!\x80' > "$corpus/filter_runlength/hand-hello"

# http_request: the first byte is the mode (0 pages, 1 callback, 2 TOML config, 3 NDF_*
# environment, 4 URL redaction, 5 query string, 6 request body, 7 API key / tenant id).
h=$corpus/http_request
printf '\x001-3,7,10-' > "$h/pages-ranges"
printf '\x00 2 , 4 - 6 ,\t9-' > "$h/pages-spaces"
printf '\x01hooks.example.test,*.corp.test,127.0.0.1:9999\nhttps://hooks.example.test/done?job=1' > "$h/callback-exact"
printf '\x01*.corp.test\nhttp://a.b.CORP.test:8080/cb#x' > "$h/callback-wildcard"
printf '\x01hooks.example.test\nhttps://user:pw@hooks.example.test/' > "$h/callback-credentials"
printf '\x02listen = "127.0.0.1:9000"\nworkers = 3\nstore = "postgres://ndf:pw@db:5432/ndf?sslmode=require"\nwebhook_secret = "s3cret"\nwebhook_allow_hosts = ["hooks.example.test", "*.corp.test"]\n[limits]\ndeadline_ms = 5000\nmax_pages = 10\n' > "$h/config-toml"
printf '\x02s3_secret_access_key = "k"\ns3_allow_http = true\nmax_body_bytes = 1048576\nadmin_listen = "127.0.0.1:9100"\n' > "$h/config-toml-s3"
printf '\x03LISTEN=127.0.0.1:9000\nWORKERS=7\nLIMITS_DEADLINE_MS=9\nWEBHOOK_SECRET=abc\nWEBHOOK_ALLOW_HOSTS=a.test, *.b.test\nS3_ALLOW_HTTP=yes\nMAX_BODY_BYTES=18446744073709551615\nNDF_PASSWORD=not-config\n' > "$h/config-env"
printf '\x04postgres\x00ndf\x00db.internal:5432/ndf?sslmode=require&password=x#frag' > "$h/redact-postgres"
printf '\x04s3\x00AKIA\x00bucket/prefix?X-Amz-Signature=f00&token=t' > "$h/redact-s3"
printf '\x05pages=1-3%%2C7&format=markdown' > "$h/query-extract"
printf '\x05pages=2-&callback_url=https%%3A%%2F%%2Fa.corp.test%%2Fhook&format=text' > "$h/query-job"
# Body mode: [kind, flags, limit, chunk size] then the body (see body() in the target).
printf '\x06\x00\x01\x03\x07%%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' > "$h/body-raw-pdf"
printf '\x06\x00\x02\x00\x40%%PDF-1.7 longer than the sixteen byte limit\n' > "$h/body-raw-too-large"
printf '\x06\x01\x00\x03\x40--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\nContent-Type: application/pdf\r\n\r\n%%PDF-1.4\n%%%%EOF\n\r\n--XyZ--\r\n' > "$h/body-multipart"
printf '\x06\x02\x05\x02\x0b--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\njunk first %%PDF-1.7 x\r\n--XyZ--\r\n' > "$h/body-multipart-quoted"
printf '\x06\x04\x00\x03\x20multipart/form-data; boundary=----b7\n------b7\r\nContent-Disposition: form-data; name="other"\r\n\r\n%%PDF-1.4\r\n------b7--\r\n' > "$h/body-multipart-no-file"
printf '\x06\x05\x04\x03\x20--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\n%%PDF-1.4\r\n--XyZ--\r\n' > "$h/body-multipart-no-boundary"
printf '\x07ndf_0123456789ab_%s' "$(printf '0123456789abcdef%.0s' 1 2 3 4)" > "$h/key-well-formed"
printf '\x07tenant-a_01' > "$h/tenant"

fixtures=$root/crates/ndf-fontfile/tests/fixtures
if [ -d "$fixtures" ]; then
    for f in "$fixtures"/*.ttf "$fixtures"/*.otf "$fixtures"/*.cff "$fixtures"/*.pfa "$fixtures"/*.pfb; do
        [ -f "$f" ] && cp "$f" "$corpus/font_program/fixture-$(basename "$f")"
    done
fi

# ---------------------------------------------------------------- seeds from the dev corpus

if [ -d "$dev" ]; then
    pdfs=()
    while IFS= read -r -d '' f; do
        if [ "$(stat -c %s "$f")" -le "$max" ]; then pdfs+=("$f"); fi
    done < <(find "$dev" -maxdepth 1 -name '*.pdf' -print0 | sort -z)
    for f in "${pdfs[@]}"; do
        for t in open_document extract_page; do cp "$f" "$corpus/$t/"; done
    done
    echo "copied ${#pdfs[@]} PDFs (<= $max bytes) from $dev"
    if command -v python3 > /dev/null; then
        python3 "$here/seed_streams.py" "$corpus" "$dev"/*.pdf
    else
        echo "python3 not found: stream-level targets keep only the hand-written seeds"
    fi
else
    echo "no dev corpus at $dev: only hand-written seeds"
fi

for t in "${targets[@]}"; do
    printf '  %-18s %5d files\n' "$t" "$(find "$corpus/$t" -type f | wc -l)"
done
