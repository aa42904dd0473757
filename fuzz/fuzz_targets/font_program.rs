//! `ndf_fontfile::FontProgram::parse` as every kind, then every lookup text extraction uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndf_fontfile::{FontFileKind, FontProgram, MAX_GLYPHS};

fuzz_target!(|data: &[u8]| {
    let _ = ndf_fontfile::sniff(data);
    for kind in [
        FontFileKind::Type1,
        FontFileKind::TrueType,
        FontFileKind::Cff,
        FontFileKind::OpenType,
    ] {
        let Ok(font) = FontProgram::parse(kind, data) else {
            continue;
        };
        assert!(
            font.num_glyphs() as usize <= MAX_GLYPHS,
            "more than MAX_GLYPHS glyphs"
        );
        let _ = (
            font.kind(),
            font.font_name(),
            font.font_matrix(),
            font.units_per_em(),
        );
        let _ = (
            font.has_builtin_encoding(),
            font.uses_standard_encoding(),
            font.is_cid_keyed(),
        );
        let _ = (
            font.has_unicode_cmap(),
            font.has_symbol_cmap(),
            font.has_mac_roman_cmap(),
        );
        let _ = font.cid_system_info();
        for code in 0..=255u8 {
            let _ = font.builtin_glyph_name(code);
            let _ = font.builtin_gid(code);
            let _ = font.gid_for_code(code, None);
            let _ = font.gid_for_code(code, char::from_u32(u32::from(code)));
        }
        let glyphs = font.num_glyphs().min(2048);
        for gid in (0..glyphs).chain([u32::from(u16::MAX)]) {
            let gid = gid as u16;
            if let Some(name) = font.glyph_name(gid) {
                assert!(name.len() <= 255, "glyph name longer than 255 bytes");
                let _ = font.glyph_by_name(name);
            }
            let _ = font.unicode_of_glyph(gid);
            let _ = font.cid_of_glyph(gid);
            let _ = font.advance(gid);
        }
        for c in ['A', 'z', ' ', '\u{20AC}', '\u{FFFD}', '\u{1F600}'] {
            let _ = font.gid_for_unicode(c);
        }
        for cid in [0, 1, 100, 65_535, 65_536, u32::MAX] {
            let _ = font.gid_for_cid(cid);
        }
        let _ = font.glyph_by_name(".notdef");
    }
});
