//! Developer tool (not a test): every font file in a folder of samples is parsed and checked
//! against sidecars written with fontTools. The asserted check of the corpus's embedded fonts
//! is tests/corpus.rs.
//!
//! ```text
//! python3 tools/dump_expected.py DIR          # writes the sidecars, needs fontTools
//! cargo run -p ndf-fontfile --example sample_fonts -- DIR
//! ```
//!
//! File extensions give the kind the PDF claimed: `.pfa`/`.pfb`/`.t1` Type 1, `.ttf` TrueType,
//! `.cff`/`.cid` bare CFF, `.otf` OpenType. A sidecar `<file>.expect` (written by
//! `tools/dump_expected.py` with fontTools) lists expected values, which must all match:
//! `glyphs N`, `upem N`, `name GID NAME`, `uni GID HEX`, `enc CODE NAME`, `stdenc`,
//! `cid CID GID`, `code CODE GID` (`gid_for_code` without a hint), `adv GID ADVANCE`.

// The report is this tool's output.
#![allow(clippy::disallowed_methods)] // developer tools and tests read trusted files
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ndf_fontfile::{FontFileKind, FontProgram, sniff};

fn kind_of(ext: &str) -> Option<FontFileKind> {
    Some(match ext {
        "pfa" | "pfb" | "t1" => FontFileKind::Type1,
        "ttf" => FontFileKind::TrueType,
        "cff" | "cid" => FontFileKind::Cff,
        "otf" => FontFileKind::OpenType,
        _ => return None,
    })
}

/// Checks the sidecar expectations; returns the mismatches.
fn check_expect(p: &FontProgram, expect: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for line in expect.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| {
            f.get(i)
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        };
        let ok = match f.first().copied() {
            Some("glyphs") => p.num_glyphs() == num(1),
            Some("upem") => u32::from(p.units_per_em()) == num(1),
            Some("name") => p.glyph_name(num(1) as u16) == f.get(2).copied(),
            Some("byname") => p.glyph_by_name(f.get(1).unwrap_or(&"")) == Some(num(2) as u16),
            Some("uni") => {
                let cp = f.get(2).and_then(|s| u32::from_str_radix(s, 16).ok());
                p.unicode_of_glyph(num(1) as u16).map(u32::from) == cp
            }
            Some("enc") => p.builtin_glyph_name(num(1) as u8) == f.get(2).copied(),
            Some("stdenc") => p.uses_standard_encoding(),
            Some("cid") => p.gid_for_cid(num(1)) == Some(num(2) as u16),
            Some("code") => p.gid_for_code(num(1) as u8, None) == Some(num(2) as u16),
            Some("adv") => p.advance(num(1) as u16) == Some(num(2) as u16),
            _ => true,
        };
        if !ok {
            bad.push(line.to_string());
        }
    }
    bad
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!(
            "usage: sample_fonts DIR   (font samples, with sidecars from tools/dump_expected.py)"
        );
        std::process::exit(2);
    };
    let mut entries: Vec<_> = std::fs::read_dir(Path::new(&dir))
        .expect("DIR must be a readable folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();

    #[derive(Default, Debug)]
    struct Stats {
        files: u32,
        parsed: u32,
        failed: u32,
        builtin_encoding: u32,
        standard_encoding: u32,
        glyph_names: u32,
        unicode_cmap: u32,
        symbol_cmap: u32,
        cid_keyed: u32,
        expect_files: u32,
        expect_lines: u32,
    }
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut mismatches = Vec::new();
    let mut bytes = 0usize;
    let mut parse_time = std::time::Duration::ZERO;
    let start = Instant::now();
    for path in &entries {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        let Some(stated) = kind_of(ext) else { continue };
        let data = std::fs::read(path).expect("readable sample");
        bytes += data.len();
        let sniffed = sniff(&data);
        let key = format!("{stated:?}->{sniffed:?}");
        let s = stats.entry(key).or_default();
        s.files += 1;
        let t0 = Instant::now();
        let parsed = FontProgram::parse(stated, &data);
        parse_time += t0.elapsed();
        match parsed {
            Ok(p) => {
                s.parsed += 1;
                s.builtin_encoding += u32::from(p.has_builtin_encoding());
                s.standard_encoding += u32::from(p.uses_standard_encoding());
                s.glyph_names += u32::from(
                    (0..p.num_glyphs().min(65535)).any(|g| p.glyph_name(g as u16).is_some()),
                );
                s.unicode_cmap += u32::from(p.has_unicode_cmap());
                s.symbol_cmap += u32::from(p.has_symbol_cmap());
                s.cid_keyed += u32::from(p.is_cid_keyed());
                // Every lookup over the whole glyph range must be safe.
                for g in 0..=u16::MAX {
                    let _ = (p.glyph_name(g), p.unicode_of_glyph(g), p.advance(g));
                }
                for c in 0..=255u8 {
                    let _ = (
                        p.builtin_glyph_name(c),
                        p.builtin_gid(c),
                        p.gid_for_code(c, None),
                    );
                }
                let expect = path.with_extension(format!("{ext}.expect"));
                if let Ok(text) = std::fs::read_to_string(&expect) {
                    s.expect_files += 1;
                    s.expect_lines += text.lines().count() as u32;
                    for m in check_expect(&p, &text) {
                        mismatches.push(format!("{}: {m}", path.display()));
                    }
                }
            }
            Err(e) => {
                s.failed += 1;
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    let elapsed = start.elapsed();
    for (k, s) in &stats {
        println!("{k}: {s:?}");
    }
    println!(
        "{} fonts, {:.1} MiB: parse {:.3} s; whole check {:.3} s (with a 65,536-glyph sweep per font)",
        stats.values().map(|s| s.files).sum::<u32>(),
        bytes as f64 / 1048576.0,
        parse_time.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    for f in failures.iter().take(30) {
        println!("FAILED {f}");
    }
    // One line per (file, expectation type), with a count and the first example.
    let mut grouped: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
    for m in &mismatches {
        let (file, rest) = m.split_once(": ").unwrap_or((m, ""));
        let key = (
            file.to_string(),
            rest.split(' ').next().unwrap_or("").to_string(),
        );
        let e = grouped.entry(key).or_insert((0, rest.to_string()));
        e.0 += 1;
    }
    for ((file, _), (n, first)) in grouped.iter().take(80) {
        println!("MISMATCH {file}: {n} x, first: {first}");
    }
    println!(
        "{} failures, {} mismatches",
        failures.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} expectation mismatches",
        mismatches.len()
    );
    let total: u32 = stats.values().map(|s| s.files).sum();
    assert!(
        failures.len() as u32 * 50 <= total,
        "more than 2% of the sample fonts failed to parse"
    );
}
