//! Every font program embedded in the dev corpus (`FontFile`, `FontFile2`, `FontFile3` of the
//! fonts on every page, read with `ndf-pdf`) is parsed as the kind the PDF states, and every
//! lookup over its glyphs and codes is safe. At most 2% of the programs may fail to parse (some
//! corpus files are broken on purpose), and the corpus must yield programs of every kind.
//!
//! Without the corpus folder the test says so and does not run, or fails under
//! `NDF_REQUIRE_INPUTS=1`, which the test command sets (`ndf_testkit::corpus`). Checking font
//! samples against fontTools' values (a developer tool): `examples/sample_fonts.rs`.
#![allow(clippy::print_stderr)] // the report

use std::collections::{BTreeMap, HashSet};

use ndf_fontfile::{FontFileKind, FontProgram};
use ndf_pdf::{Bump, Dict, OpenOptions, Pdf};
use ndf_testkit::corpus;

/// The font programs of one document: (kind stated by the PDF, decoded bytes), each stream once.
fn embedded_fonts(data: &[u8]) -> Vec<(FontFileKind, Vec<u8>)> {
    let arena = Bump::new();
    let Ok(pdf) = Pdf::open(data, &arena, &OpenOptions::default()) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for i in 0..pdf.page_count() {
        let Some(page) = pdf.page(i) else { continue };
        let Some(fonts) = pdf.get_dict(page.resources, b"Font") else {
            continue;
        };
        for (_, font) in fonts.iter() {
            let Some(font) = pdf.resolve(font).as_dict() else {
                continue;
            };
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
                let Some(stream) = descriptor.get(key).and_then(|o| pdf.resolve(o).as_stream())
                else {
                    continue;
                };
                if stream.id.is_some_and(|id| !seen.insert(id.num)) {
                    continue;
                }
                let kind = if stream.dict.get_name(b"Subtype") == Some(b"OpenType") {
                    FontFileKind::OpenType
                } else {
                    kind
                };
                if let Ok(decoded) = pdf.decode_stream(stream) {
                    out.push((kind, decoded.data.into_owned()));
                }
            }
        }
    }
    out
}

/// Every lookup over the glyph range (and just past it) and over every one-byte code.
fn sweep(p: &FontProgram) {
    let last = p.num_glyphs().saturating_add(16).min(u32::from(u16::MAX));
    for g in (0..=last as u16).chain([u16::MAX]) {
        let _ = (p.glyph_name(g), p.unicode_of_glyph(g), p.advance(g));
    }
    for c in 0..=255u8 {
        let _ = (
            p.builtin_glyph_name(c),
            p.builtin_gid(c),
            p.gid_for_code(c, None),
        );
    }
}

#[test]
fn corpus_embedded_fonts_parse() {
    let Some(dir) = corpus::dir_for_test("corpus_embedded_fonts_parse") else {
        return;
    };
    // (parsed, failed) per stated kind.
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for path in corpus::pdfs(&dir) {
        let Some(data) = corpus::read_bounded(&path, corpus::MAX_FILE) else {
            panic!("{} is not readable", path.display());
        };
        for (kind, bytes) in embedded_fonts(&data) {
            let entry = counts.entry(format!("{kind:?}")).or_default();
            match FontProgram::parse(kind, &bytes) {
                Ok(p) => {
                    entry.0 += 1;
                    sweep(&p);
                }
                Err(e) => {
                    entry.1 += 1;
                    failures.push(format!("{} ({kind:?}): {e}", path.display()));
                }
            }
        }
    }
    let total: usize = counts.values().map(|(ok, bad)| ok + bad).sum();
    eprintln!("embedded font programs (parsed, failed) by stated kind: {counts:?}");
    for f in &failures {
        eprintln!("  failed: {f}");
    }
    for kind in ["Type1", "TrueType", "Cff", "OpenType"] {
        assert!(
            counts.get(kind).is_some_and(|c| c.0 > 0),
            "no {kind} program parsed from the corpus: {counts:?}"
        );
    }
    assert!(
        total >= 500,
        "only {total} font programs found in the corpus"
    );
    assert!(
        failures.len() * 50 <= total,
        "{} of {total} font programs failed to parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
