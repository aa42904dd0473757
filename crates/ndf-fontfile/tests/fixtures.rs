//! Checks on the synthetic fonts of tests/fixtures (made by tests/fixtures/make_fixtures.py,
//! whose constants these assertions mirror), damaged copies of them, and arbitrary bytes.

use ndf_fontfile::{CidSystemInfo, FontFileError, FontFileKind, FontProgram, sniff};
use proptest::prelude::*;

const TTF: &[u8] = include_bytes!("fixtures/tiny.ttf");
const OTF: &[u8] = include_bytes!("fixtures/tiny-cff.otf");
const CFF: &[u8] = include_bytes!("fixtures/tiny.cff");
const CID: &[u8] = include_bytes!("fixtures/tiny-cid.cff");
const PFA: &[u8] = include_bytes!("fixtures/tiny.pfa");
const PFB: &[u8] = include_bytes!("fixtures/tiny.pfb");

const KINDS: [FontFileKind; 4] = [
    FontFileKind::Type1,
    FontFileKind::TrueType,
    FontFileKind::Cff,
    FontFileKind::OpenType,
];
const GLYPHS: [&str; 9] = [
    ".notdef", "space", "A", "B", "Euro", "alpha", "bullet", "A.alt", "eacute",
];

fn parse(kind: FontFileKind, data: &[u8]) -> FontProgram {
    FontProgram::parse(kind, data).expect("fixture parses")
}

#[test]
fn truetype_tables() {
    let p = parse(FontFileKind::TrueType, TTF);
    assert_eq!(p.kind(), FontFileKind::TrueType);
    assert_eq!(p.num_glyphs(), 9);
    assert_eq!(p.units_per_em(), 2048);
    assert_eq!(p.font_name(), Some("NdfTiny-Regular"));
    for (gid, name) in GLYPHS.iter().enumerate() {
        assert_eq!(p.glyph_name(gid as u16), Some(*name));
        assert_eq!(p.glyph_by_name(name), Some(gid as u16));
    }
    assert_eq!(p.glyph_name(9), None);
    assert_eq!(p.glyph_by_name("Z"), None);
    // post names, not a built-in encoding.
    assert!(!p.has_builtin_encoding());
    assert!(!p.uses_standard_encoding());
    assert_eq!(p.builtin_glyph_name(65), None);
    // hmtx.
    assert_eq!(p.advance(0), Some(500));
    assert_eq!(p.advance(2), Some(600));
    assert_eq!(p.advance(8), Some(660));
    assert_eq!(p.advance(9), None);
    // Unicode: U+0041 and U+0391 both map to A: the lowest wins; U+1D400 needs (3,10).
    assert!(p.has_unicode_cmap() && p.has_symbol_cmap() && p.has_mac_roman_cmap());
    assert_eq!(p.unicode_of_glyph(2), Some('A'));
    assert_eq!(p.unicode_of_glyph(7), Some('\u{1D400}'));
    assert_eq!(p.unicode_of_glyph(8), Some('é'));
    assert_eq!(p.unicode_of_glyph(0), None);
    assert_eq!(p.gid_for_unicode('Α'), Some(2));
    assert_eq!(p.gid_for_unicode('€'), Some(4));
    assert_eq!(p.gid_for_unicode('z'), None);
    // Not CID-keyed: identity below the glyph count.
    assert!(!p.is_cid_keyed());
    assert_eq!(p.gid_for_cid(8), Some(8));
    assert_eq!(p.gid_for_cid(9), None);
}

#[test]
fn truetype_code_lookup() {
    let p = parse(FontFileKind::TrueType, TTF);
    // The hint goes to the Unicode cmap first.
    assert_eq!(p.gid_for_code(0x41, Some('A')), Some(2));
    assert_eq!(p.gid_for_code(0xC9, Some('é')), Some(8));
    // A hint the Unicode cmap lacks: its Mac Roman code (Omega = 0xBD) in (1,0) -> B.
    assert_eq!(p.gid_for_code(0x01, Some('Ω')), Some(3));
    // No hint: (3,0) with code, 0xF000+, 0xF100+, 0xF200+.
    assert_eq!(p.gid_for_code(0x41, None), Some(3)); // 0xF041 -> B
    assert_eq!(p.gid_for_code(0x61, None), Some(5)); // 0xF161 -> alpha
    assert_eq!(p.gid_for_code(0x62, None), Some(6)); // 0x62 -> bullet
    // Then (1,0) with the code.
    assert_eq!(p.gid_for_code(0x8E, None), Some(8));
    // Then the Unicode cmap with the code.
    assert_eq!(p.gid_for_code(0x20, None), Some(1));
    assert_eq!(p.gid_for_code(0xE9, None), Some(8));
    assert_eq!(p.gid_for_code(0x7A, None), None);
    // A hint that maps nowhere falls back to the code.
    assert_eq!(p.gid_for_code(0x62, Some('ж')), Some(6));
}

#[test]
fn opentype_cff() {
    let p = parse(FontFileKind::OpenType, OTF);
    assert_eq!(p.kind(), FontFileKind::OpenType);
    assert_eq!(p.num_glyphs(), 9);
    assert_eq!(p.units_per_em(), 1000);
    for (gid, name) in GLYPHS.iter().enumerate() {
        assert_eq!(p.glyph_name(gid as u16), Some(*name), "CFF charset names");
    }
    assert_eq!(p.unicode_of_glyph(5), Some('α'));
    assert_eq!(p.unicode_of_glyph(7), None); // U+1D400 was left out of this font
    assert_eq!(p.advance(4), Some(620));
    assert!(p.uses_standard_encoding());
    assert!(!p.has_symbol_cmap());
    // A /FontFile2 or /FontFile3 /Type1C that is really OpenType is corrected.
    assert_eq!(
        parse(FontFileKind::TrueType, OTF).kind(),
        FontFileKind::OpenType
    );
    assert_eq!(parse(FontFileKind::Cff, OTF).kind(), FontFileKind::OpenType);
}

#[test]
fn bare_cff_with_custom_encoding() {
    let p = parse(FontFileKind::Cff, CFF);
    assert_eq!(p.kind(), FontFileKind::Cff);
    assert_eq!(p.num_glyphs(), 9);
    assert_eq!(p.units_per_em(), 1000);
    assert_eq!(p.font_name(), Some("NdfTinyCff"));
    assert_eq!(p.glyph_name(7), Some("A.alt"));
    assert_eq!(p.glyph_by_name("eacute"), Some(8));
    assert!(p.has_builtin_encoding());
    assert!(!p.uses_standard_encoding());
    for (code, name, gid) in [
        (32u8, "space", 1u16),
        (65, "A", 2),
        (66, "B", 3),
        (128, "Euro", 4),
        (225, "alpha", 5),
    ] {
        assert_eq!(p.builtin_glyph_name(code), Some(name));
        assert_eq!(p.builtin_gid(code), Some(gid));
    }
    assert_eq!(p.builtin_glyph_name(67), None);
    assert_eq!(p.builtin_gid(67), None);
    assert_eq!(p.advance(1), None);
    assert!(!p.has_unicode_cmap());
    // A /FontFile2 that is really CFF is corrected.
    assert_eq!(parse(FontFileKind::TrueType, CFF).kind(), FontFileKind::Cff);
}

#[test]
fn cid_keyed_cff() {
    let p = parse(FontFileKind::Cff, CID);
    assert!(p.is_cid_keyed());
    assert_eq!(
        p.cid_system_info(),
        Some(CidSystemInfo {
            registry: "Adobe",
            ordering: "Identity",
            supplement: 0
        })
    );
    assert_eq!(p.num_glyphs(), 9);
    let cids = [0u32, 1, 34, 35, 500, 1000, 1001, 7000, 9000];
    for (gid, &cid) in cids.iter().enumerate() {
        assert_eq!(p.gid_for_cid(cid), Some(gid as u16), "cid {cid}");
        assert_eq!(p.cid_of_glyph(gid as u16), Some(cid));
    }
    for missing in [2u32, 36, 499, 9001, 70_000, u32::MAX] {
        assert_eq!(p.gid_for_cid(missing), None);
    }
    assert_eq!(p.glyph_name(1), None);
    assert!(!p.has_builtin_encoding() && !p.uses_standard_encoding());
}

#[test]
fn type1_hex_and_pfb() {
    for data in [PFA, PFB] {
        let p = parse(FontFileKind::Type1, data);
        assert_eq!(p.kind(), FontFileKind::Type1);
        assert_eq!(p.font_name(), Some("NdfTinyT1"));
        assert_eq!(p.font_matrix(), Some([0.0005, 0.0, 0.0, 0.0005, 0.0, 0.0]));
        assert_eq!(p.units_per_em(), 2000);
        assert_eq!(p.num_glyphs(), 5);
        let names: Vec<_> = (0..5).map(|g| p.glyph_name(g)).collect();
        assert_eq!(
            names,
            [
                Some(".notdef"),
                Some("A"),
                Some("B"),
                Some("Euro"),
                Some("alpha")
            ]
        );
        assert_eq!(p.builtin_glyph_name(128), Some("Euro"));
        assert_eq!(p.builtin_gid(225), Some(4));
        assert_eq!(p.builtin_glyph_name(32), None);
        assert!(!p.uses_standard_encoding());
    }
    // A /FontFile3 /Type1C that is really a PFB is corrected.
    assert_eq!(parse(FontFileKind::Cff, PFB).kind(), FontFileKind::Type1);
}

#[test]
fn sniffing_fixtures() {
    assert_eq!(sniff(TTF), Some(FontFileKind::TrueType));
    assert_eq!(sniff(OTF), Some(FontFileKind::OpenType));
    assert_eq!(sniff(CFF), Some(FontFileKind::Cff));
    assert_eq!(sniff(CID), Some(FontFileKind::Cff));
    assert_eq!(sniff(PFA), Some(FontFileKind::Type1));
    assert_eq!(sniff(PFB), Some(FontFileKind::Type1));
}

/// Offset and length of an sfnt table.
fn table(data: &[u8], tag: &[u8; 4]) -> (usize, usize) {
    let n = u16::from_be_bytes([data[4], data[5]]) as usize;
    (0..n)
        .map(|i| 12 + i * 16)
        .find(|&r| &data[r..r + 4] == tag)
        .map(|r| {
            let at = |o: usize| u32::from_be_bytes(data[o..o + 4].try_into().unwrap()) as usize;
            (at(r + 8), at(r + 12))
        })
        .expect("table present")
}

#[test]
fn broken_tables_keep_the_cmap() {
    // Point `hhea` and `loca` past the end of the file: ttf-parser's Face::parse rejects the
    // font, but the cmap, post and maxp are still read.
    let mut bad = TTF.to_vec();
    let n = u16::from_be_bytes([bad[4], bad[5]]) as usize;
    for i in 0..n {
        let r = 12 + i * 16;
        if &bad[r..r + 4] == b"hhea" || &bad[r..r + 4] == b"loca" {
            bad[r + 8..r + 12].copy_from_slice(&0x7FFF_0000u32.to_be_bytes());
        }
    }
    let p = parse(FontFileKind::TrueType, &bad);
    assert_eq!(p.gid_for_code(0x41, Some('A')), Some(2));
    assert_eq!(p.unicode_of_glyph(7), Some('\u{1D400}'));
    assert_eq!(p.glyph_name(4), Some("Euro"));
    assert_eq!(p.advance(2), None);

    // A table directory cut short: the records that fit are still used.
    let (cmap_off, _) = table(TTF, b"cmap");
    let mut short = TTF.to_vec();
    let n = u16::from_be_bytes([short[4], short[5]]);
    short[4..6].copy_from_slice(&(n + 100).to_be_bytes());
    assert!(cmap_off > 12);
    let p = parse(FontFileKind::TrueType, &short);
    assert_eq!(p.gid_for_unicode('€'), Some(4));
}

#[test]
fn truncations_never_fail_badly() {
    for (kind, data) in [
        (FontFileKind::TrueType, TTF),
        (FontFileKind::OpenType, OTF),
        (FontFileKind::Cff, CFF),
        (FontFileKind::Cff, CID),
        (FontFileKind::Type1, PFA),
        (FontFileKind::Type1, PFB),
    ] {
        for len in 0..data.len() {
            if let Ok(p) = FontProgram::parse(kind, &data[..len]) {
                assert!(p.num_glyphs() <= 65_536);
                let _ = (
                    p.glyph_name(1),
                    p.unicode_of_glyph(1),
                    p.gid_for_code(65, None),
                );
            }
        }
    }
    assert_eq!(
        FontProgram::parse(FontFileKind::TrueType, &[]).unwrap_err(),
        FontFileError::Empty
    );
}

fn exercise(p: &FontProgram) {
    assert!(p.num_glyphs() <= 65_536);
    assert!(p.units_per_em() >= 16);
    for g in [0u16, 1, 2, 100, u16::MAX] {
        let _ = (
            p.glyph_name(g),
            p.unicode_of_glyph(g),
            p.advance(g),
            p.cid_of_glyph(g),
        );
        if let Some(name) = p.glyph_name(g) {
            // The lowest glyph with this name is at or before g.
            assert!(p.glyph_by_name(name).is_some_and(|h| h <= g));
        }
    }
    for c in [0u8, 32, 65, 255] {
        let _ = (p.builtin_glyph_name(c), p.builtin_gid(c));
        let _ = (p.gid_for_code(c, None), p.gid_for_code(c, Some('A')));
    }
    let _ = (
        p.gid_for_cid(0),
        p.gid_for_cid(u32::MAX),
        p.gid_for_unicode('A'),
    );
}

fn fixtures() -> impl Strategy<Value = &'static [u8]> {
    prop::sample::select(vec![TTF, OTF, CFF, CID, PFA, PFB])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(kind in prop::sample::select(KINDS.to_vec()),
                                   data in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(p) = FontProgram::parse(kind, &data) {
            exercise(&p);
        }
        let _ = sniff(&data);
    }

    #[test]
    fn arbitrary_bytes_behind_magic_never_panic(
        magic in prop::sample::select(vec![
            &b"\x00\x01\x00\x00"[..], b"OTTO", b"true", b"ttcf", b"\x01\x00\x04\x01",
            b"\x01\x00\x04\x04", b"\x80\x01", b"%!PS-AdobeFont-1.0\n/Encoding 256 array dup 1 /a put ",
            b"%!\ncurrentfile eexec\n", b"%!\n/CharStrings 2 dict dup begin /a 3 RD ",
        ]),
        kind in prop::sample::select(KINDS.to_vec()),
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut data = magic.to_vec();
        data.extend(tail);
        if let Ok(p) = FontProgram::parse(kind, &data) {
            exercise(&p);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(
        font in fixtures(),
        kind in prop::sample::select(KINDS.to_vec()),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    ) {
        let mut data = font.to_vec();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        if let Ok(p) = FontProgram::parse(kind, &data) {
            exercise(&p);
        }
    }

    #[test]
    fn mutated_fixture_words_never_panic(
        font in fixtures(),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(),
             prop::sample::select(vec![0u16, 1, 2, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF])),
            1..8),
    ) {
        // Counts and offsets set to extremes.
        let mut data = font.to_vec();
        for (at, word) in edits {
            let i = at.index(data.len() - 1);
            data[i..i + 2].copy_from_slice(&word.to_be_bytes());
        }
        let kind = sniff(font).unwrap_or(FontFileKind::TrueType);
        if let Ok(p) = FontProgram::parse(kind, &data) {
            exercise(&p);
        }
    }
}
