//! Micro-benchmarks of font handling: parsing embedded font programs (Type1, CFF, TrueType,
//! OpenType; `ndf-fontfile`), parsing ToUnicode CMaps and looking codes up in them and in a
//! predefined CJK CMap (`ndf-cmap`), and interpreting pages with a cold and a warm font cache
//! (`extract_page`: font loading plus the content interpreter).
//!
//! Inputs: the font programs and CMaps embedded in a few files of the dev corpus
//! (`../shared/corpus/dev` beside the repository, or the folder in `NDF_CORPUS_DIR`). Without
//! the corpus, the tiny font fixtures of `ndf-fontfile` and the built-in predefined CMaps are
//! measured and the rest is skipped with a message.
//!
//! ```text
//! cargo bench -p ndf-text --bench fonts                 # full run
//! cargo bench -p ndf-text --bench fonts -- --quick      # a few seconds per benchmark
//! cargo bench -p ndf-text --bench fonts -- fontfile     # only font program parsing
//! ```
#![allow(clippy::print_stderr)] // the skip notices

use std::collections::HashSet;
use std::hint::black_box;
use std::path::PathBuf;

use ndf_testkit::corpus::{MAX_FILE, read_bounded};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndf_cmap::CMap;
use ndf_fontfile::{FontFileKind, FontProgram};
use ndf_pdf::{Bump, Dict, Object, OpenOptions, Pdf};
use ndf_text::{FontCache, PageOptions, extract_page};

/// Corpus files whose fonts are measured: Type1 (pdfTeX), CFF (dvips + Ghostscript), TrueType
/// (LibreOffice), CJK Type0 with CFF CID fonts and ToUnicode, and one with every font kind.
const FONT_FILES: [&str; 5] = [
    "debian-refcard-a4-7de62b.pdf",
    "debian-screenplay-2d601e.pdf",
    "kreuzberg-test_article-688595.pdf",
    "debian-CJKpunct-4a9184.pdf",
    "pdfjs-issue6127-75e1a2.pdf",
];

/// Pages interpreted with a cold and a warm font cache: (file, 0-based page).
const PAGES: [(&str, usize); 2] = [
    ("debian-CJKpunct-4a9184.pdf", 2),
    ("pdfcpu-UnifontMedium_BMP-911d5a.pdf", 0),
];

/// Most mapping records kept per parsed CMap (as the engine's default limit).
const MAX_CMAP_ENTRIES: usize = 1 << 20;
/// Font programs by kind and ToUnicode CMaps, decoded.
#[derive(Default)]
struct FontData {
    programs: Vec<(FontFileKind, Vec<u8>)>,
    to_unicode: Vec<Vec<u8>>,
}

/// Collects the font programs and ToUnicode CMaps used on the pages of one document (each
/// stream once).
fn collect_fonts(data: &[u8], out: &mut FontData) {
    let arena = Bump::new();
    let Ok(pdf) = Pdf::open(data, &arena, &OpenOptions::default()) else {
        return;
    };
    let mut seen = HashSet::new();
    for i in 0..pdf.page_count() {
        let Some(page) = pdf.page(i) else { continue };
        let Some(fonts) = pdf.get_dict(page.resources, b"Font") else {
            continue;
        };
        for (_, font) in fonts.iter() {
            let Some(font) = pdf.resolve(font).as_dict() else {
                continue;
            };
            if let Some(obj) = font.get(b"ToUnicode")
                && let Some(bytes) = decode_once(&pdf, obj, &mut seen)
            {
                out.to_unicode.push(bytes);
            }
            // A Type0 font's program is in its descendant CIDFont's descriptor.
            let cid_font: Option<Dict<'_>> = pdf
                .get_array(font, b"DescendantFonts")
                .and_then(|a| a.first())
                .and_then(|o| pdf.resolve(*o).as_dict());
            let Some(descriptor) = pdf.get_dict(cid_font.unwrap_or(font), b"FontDescriptor") else {
                continue;
            };
            for (key, kind) in [
                (&b"FontFile"[..], FontFileKind::Type1),
                (b"FontFile2", FontFileKind::TrueType),
                (b"FontFile3", FontFileKind::Cff),
            ] {
                let Some(obj) = descriptor.get(key) else {
                    continue;
                };
                let kind = match pdf.resolve(obj).as_stream() {
                    Some(s) if s.dict.get_name(b"Subtype") == Some(b"OpenType") => {
                        FontFileKind::OpenType
                    }
                    _ => kind,
                };
                if let Some(bytes) = decode_once(&pdf, obj, &mut seen) {
                    out.programs.push((kind, bytes));
                }
            }
        }
    }
}

/// A stream's decoded bytes, unless the stream was decoded before (by object number).
fn decode_once<'a>(pdf: &Pdf<'a>, obj: Object<'a>, seen: &mut HashSet<u32>) -> Option<Vec<u8>> {
    let stream = pdf.resolve(obj).as_stream()?;
    if let Some(id) = stream.id
        && !seen.insert(id.num)
    {
        return None;
    }
    pdf.decode_stream(stream).ok().map(|d| d.data.into_owned())
}

/// The tiny font fixtures of `ndf-fontfile`, for a run without the corpus.
fn fixture_fonts(out: &mut FontData) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ndf-fontfile/tests/fixtures");
    for (file, kind) in [
        ("tiny.pfa", FontFileKind::Type1),
        ("tiny.cff", FontFileKind::Cff),
        ("tiny.ttf", FontFileKind::TrueType),
        ("tiny-cff.otf", FontFileKind::OpenType),
    ] {
        if let Some(bytes) = read_bounded(&dir.join(file), MAX_FILE) {
            out.programs.push((kind, bytes));
        }
    }
}

fn kind_label(kind: FontFileKind) -> &'static str {
    match kind {
        FontFileKind::Type1 => "type1",
        FontFileKind::TrueType => "truetype",
        FontFileKind::Cff => "cff",
        FontFileKind::OpenType => "opentype",
    }
}

/// Reads every code of `bytes` with the CMap's codespace and looks its Unicode up; returns the
/// number of mapped codes.
fn decode_codes(cmap: &CMap, bytes: &[u8], out: &mut String) -> usize {
    out.clear();
    let (mut pos, mut mapped) = (0, 0);
    while let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) {
        let code = cmap.next_code(rest);
        mapped += usize::from(cmap.unicode(code.code, code.len, out));
        pos += usize::from(code.len.max(1));
    }
    mapped
}

fn bench_fonts(c: &mut Criterion) {
    let corpus = ndf_testkit::corpus::dir();
    let mut fonts = FontData::default();
    match &corpus {
        Some(dir) => {
            for name in FONT_FILES {
                match read_bounded(&dir.join(name), MAX_FILE) {
                    Some(data) => collect_fonts(&data, &mut fonts),
                    None => eprintln!("corpus file {name} not readable: skipped"),
                }
            }
        }
        None => {
            eprintln!(
                "dev corpus not found (../shared/corpus/dev or NDF_CORPUS_DIR): tiny fixtures \
                 and predefined CMaps only"
            );
            fixture_fonts(&mut fonts);
        }
    }

    // Font programs: all of one kind parsed per iteration.
    let mut g = c.benchmark_group("fontfile");
    for kind in [
        FontFileKind::Type1,
        FontFileKind::Cff,
        FontFileKind::TrueType,
        FontFileKind::OpenType,
    ] {
        let of_kind: Vec<&[u8]> = fonts
            .programs
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, b)| b.as_slice())
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let bytes: usize = of_kind.iter().map(|b| b.len()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        let label = format!("{}/{}-programs", kind_label(kind), of_kind.len());
        g.bench_function(label, |b| {
            b.iter(|| {
                of_kind
                    .iter()
                    .filter_map(|p| FontProgram::parse(kind, black_box(p)).ok())
                    .map(|p| p.num_glyphs())
                    .sum::<u32>()
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("cmap");
    if !fonts.to_unicode.is_empty() {
        let bytes: usize = fonts.to_unicode.iter().map(Vec::len).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(
            format!("parse_tounicode/{}-cmaps", fonts.to_unicode.len()),
            |b| {
                b.iter(|| {
                    fonts
                        .to_unicode
                        .iter()
                        .filter_map(|d| CMap::parse(black_box(d), MAX_CMAP_ENTRIES).ok())
                        .count()
                });
            },
        );
        // Lookups in the largest ToUnicode CMap: 16 KiB of codes through its codespace.
        if let Some(cmap) = fonts
            .to_unicode
            .iter()
            .max_by_key(|d| d.len())
            .and_then(|d| CMap::parse(d, MAX_CMAP_ENTRIES).ok())
        {
            let codes: Vec<u8> = (0..16 * 1024).map(|i| (i * 7 % 251) as u8).collect();
            let mut text = String::new();
            g.throughput(Throughput::Bytes(codes.len() as u64));
            g.bench_function("lookup_tounicode/16KiB", |b| {
                b.iter(|| decode_codes(&cmap, black_box(&codes), &mut text));
            });
        }
    }
    // A predefined CJK CMap (decoded on first use, then shared): code -> CID, and the CID
    // collection's CID -> Unicode, over the 20,992 CJK unified ideographs.
    if let Some(cmap) = CMap::predefined("UniGB-UCS2-H") {
        let codes: Vec<u32> = (0x4E00..0x9FFF).collect();
        g.throughput(Throughput::Elements(codes.len() as u64));
        g.bench_function("predefined_cid/UniGB-UCS2-H", |b| {
            b.iter(|| {
                codes
                    .iter()
                    .filter_map(|&c| cmap.cid(black_box(c), 2))
                    .fold(0u64, |a, cid| a + u64::from(cid))
            });
        });
        let cids: Vec<u32> = codes.iter().filter_map(|&c| cmap.cid(c, 2)).collect();
        let mut text = String::new();
        g.throughput(Throughput::Elements(cids.len() as u64));
        g.bench_function("cid_to_unicode/Adobe-GB1", |b| {
            b.iter(|| {
                text.clear();
                cids.iter()
                    .filter(|&&cid| ndf_cmap::cid_to_unicode(b"Adobe", b"GB1", cid, &mut text))
                    .count()
            });
        });
    }
    g.finish();

    // Whole pages: a fresh font cache (fonts loaded) against a warm one (interpretation only).
    let Some(dir) = corpus else {
        eprintln!("dev corpus not found: page interpretation benchmarks skipped");
        return;
    };
    let mut g = c.benchmark_group("extract_page");
    g.sample_size(20);
    for (name, index) in PAGES {
        let Some(data) = read_bounded(&dir.join(name), MAX_FILE) else {
            eprintln!("corpus file {name} not readable: skipped");
            continue;
        };
        // The same document serves every iteration: no deadline and no document decode budget
        // (either would trip after enough iterations and turn the pages empty).
        let mut open = OpenOptions::default();
        open.limits.deadline_ms = 0;
        open.limits.max_document_bytes = u64::MAX;
        let arena = Bump::new();
        let Ok(pdf) = Pdf::open(&data, &arena, &open) else {
            continue;
        };
        let options = PageOptions::default();
        let label = format!("{}-p{}", name.trim_end_matches(".pdf"), index + 1);
        g.bench_function(format!("cold_fonts/{label}"), |b| {
            b.iter(|| {
                let mut cache = FontCache::new();
                extract_page(&pdf, black_box(index), &mut cache, &options)
                    .chars
                    .len()
            });
        });
        let mut cache = FontCache::new();
        g.bench_function(format!("warm_fonts/{label}"), |b| {
            b.iter(|| {
                extract_page(&pdf, black_box(index), &mut cache, &options)
                    .chars
                    .len()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_fonts);
criterion_main!(benches);
