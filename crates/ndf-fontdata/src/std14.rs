//! Metrics of the standard 14 fonts and resolution of `/BaseFont` names to them.

use std::fmt;

use crate::BaseEncoding;
use crate::encoding::encoding_glyph;
use crate::generated::metrics::FONTS;
use crate::hash::NameIndex;

/// Metrics of a standard-14 font, from Adobe's Core 14 AFM files.
///
/// Font-wide values are in 1/1000 em, like the glyph widths.
pub struct Standard14 {
    /// Canonical PostScript name, e.g. `"Helvetica-BoldOblique"`.
    pub name: &'static str,
    /// AFM `Ascender` (the bounding-box top for Symbol and ZapfDingbats, whose AFMs lack it).
    pub ascent: i16,
    /// AFM `Descender`, negative (the bounding-box bottom for Symbol and ZapfDingbats).
    pub descent: i16,
    /// AFM `CapHeight`; 0 for Symbol and ZapfDingbats, whose AFMs give none.
    pub cap_height: i16,
    /// AFM `XHeight`; 0 for Symbol and ZapfDingbats, whose AFMs give none.
    pub x_height: i16,
    /// AFM `ItalicAngle` in degrees, counter-clockwise from vertical (negative for slanted fonts).
    pub italic_angle: f32,
    /// Bold weight.
    pub bold: bool,
    /// Italic or oblique.
    pub italic: bool,
    /// Every glyph has the same width (the Courier family).
    pub fixed_pitch: bool,
    /// Serif design (the Times family).
    pub serif: bool,
    /// Uses a font-specific glyph set (Symbol, ZapfDingbats).
    pub symbolic: bool,
    /// Font bounding box `[llx, lly, urx, ury]`.
    pub font_bbox: [i16; 4],
    pub(crate) builtin: BaseEncoding,
    /// Glyph names sorted by bytes; `widths` is parallel to it.
    pub(crate) glyph_names: &'static [&'static str],
    /// Hash index over `glyph_names`.
    pub(crate) glyph_index: &'static NameIndex,
    pub(crate) widths: &'static [u16],
}

impl fmt::Debug for Standard14 {
    // The glyph tables are long and static; the name identifies them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Standard14")
            .field("name", &self.name)
            .field("ascent", &self.ascent)
            .field("descent", &self.descent)
            .field("cap_height", &self.cap_height)
            .field("x_height", &self.x_height)
            .field("italic_angle", &self.italic_angle)
            .field("flags", &self.flags())
            .field("font_bbox", &self.font_bbox)
            .field("glyphs", &self.glyph_names.len())
            .finish_non_exhaustive()
    }
}

impl Standard14 {
    /// Width by glyph name (1/1000 em); O(1) through a generated hash index.
    pub fn width(&self, glyph: &str) -> Option<u16> {
        let i = self
            .glyph_index
            .find(|i| self.glyph_names.get(i).copied(), glyph)?;
        self.widths.get(i).copied()
    }

    /// Width of a code in the font's built-in encoding (1/1000 em), `None` for unused codes.
    pub fn code_width(&self, code: u8) -> Option<u16> {
        encoding_glyph(self.builtin, code).and_then(|g| self.width(g))
    }

    /// The font's built-in encoding: Standard for the text fonts, Symbol / ZapfDingbats for those two.
    pub fn builtin_encoding(&self) -> BaseEncoding {
        self.builtin
    }

    /// All glyphs of the font with their widths, sorted by glyph name.
    pub fn glyphs(&self) -> impl ExactSizeIterator<Item = (&'static str, u16)> + use<> {
        let widths: &'static [u16] = self.widths;
        self.glyph_names.iter().copied().zip(widths.iter().copied())
    }

    /// The font descriptor `/Flags` (PDF 2.0 Table 121) the font would have.
    pub fn flags(&self) -> u32 {
        const FIXED_PITCH: u32 = 1;
        const SERIF: u32 = 1 << 1;
        const SYMBOLIC: u32 = 1 << 2;
        const NONSYMBOLIC: u32 = 1 << 5;
        const ITALIC: u32 = 1 << 6;
        const FORCE_BOLD: u32 = 1 << 18;
        let mut flags = if self.symbolic { SYMBOLIC } else { NONSYMBOLIC };
        for (set, bit) in [
            (self.fixed_pitch, FIXED_PITCH),
            (self.serif, SERIF),
            (self.italic, ITALIC),
            (self.bold, FORCE_BOLD),
        ] {
            if set {
                flags |= bit;
            }
        }
        flags
    }
}

/// All 14 fonts: the Courier, Helvetica and Times families (regular, bold, bold italic, italic
/// each), then Symbol and ZapfDingbats.
pub fn standard14_fonts() -> &'static [Standard14] {
    &FONTS
}

#[derive(Clone, Copy)]
enum Family {
    Courier,
    Helvetica,
    Times,
    Symbol,
    ZapfDingbats,
}

/// Family aliases after normalisation (lower case, no spaces, `-`, `,` or `_`), longest first
/// so that e.g. `timesnewroman` wins over `times`.
const FAMILIES: [(&[u8], Family); 11] = [
    (b"helveticanarrow", Family::Helvetica),
    (b"timesnewroman", Family::Times),
    (b"zapfdingbats", Family::ZapfDingbats),
    (b"arialnarrow", Family::Helvetica),
    (b"couriernew", Family::Courier),
    (b"helvetica", Family::Helvetica),
    (b"dingbats", Family::ZapfDingbats),
    (b"courier", Family::Courier),
    (b"symbol", Family::Symbol),
    (b"arial", Family::Helvetica),
    (b"times", Family::Times),
];

/// Style words that may follow the family. `mt`/`ps` are Monotype's and Adobe's name
/// decorations (`ArialMT`, `TimesNewRomanPS-BoldMT`).
const STYLE_WORDS: [(&[u8], Style); 8] = [
    (b"bold", Style::Bold),
    (b"italic", Style::Italic),
    (b"oblique", Style::Italic),
    (b"roman", Style::Plain),
    (b"regular", Style::Plain),
    (b"normal", Style::Plain),
    (b"mt", Style::Plain),
    (b"ps", Style::Plain),
];

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Bold,
    Italic,
}

/// Longest normalised name accepted; every alias with every style fits easily.
const MAX_NORMALISED_LEN: usize = 48;

/// Resolves a `/BaseFont` name to a standard-14 font, or `None`.
///
/// Accepts the canonical names and the common aliases: Arial, ArialMT, Arial-BoldMT,
/// Arial,BoldItalic, ArialNarrow and Helvetica-Narrow (approximated by Helvetica) -> Helvetica;
/// TimesNewRoman, TimesNewRomanPS-BoldItalicMT, "Times New Roman", Times-Roman,Bold -> Times;
/// CourierNew, CourierNewPS-BoldMT, "Courier New" -> Courier; Symbol, SymbolMT -> Symbol;
/// ZapfDingbats, Dingbats -> ZapfDingbats. A subset prefix (`ABCDEF+`) is ignored, as are case,
/// spaces and the `-` / `,` / `_` separators; the style words after the family may be `Bold`,
/// `Italic`, `Oblique`, `Roman`, `Regular`, `Normal`, `MT`, `PS`. Symbol and ZapfDingbats
/// ignore style words. Anything else (e.g. `Arial-Black`, `ArialUnicodeMS`) gives `None`.
pub fn standard14(base_font: &str) -> Option<&'static Standard14> {
    let mut buf = [0u8; MAX_NORMALISED_LEN];
    let mut len = 0usize;
    for &b in strip_subset_prefix(base_font.as_bytes()) {
        if matches!(b, b' ' | b'-' | b',' | b'_') {
            continue;
        }
        *buf.get_mut(len)? = b.to_ascii_lowercase();
        len += 1;
    }
    let name = buf.get(..len)?;

    let (family, mut rest) = FAMILIES
        .iter()
        .find_map(|&(alias, family)| name.strip_prefix(alias).map(|rest| (family, rest)))?;
    let (mut bold, mut italic) = (false, false);
    // Each round consumes a non-empty style word, so this ends.
    while !rest.is_empty() {
        let (word, style) = STYLE_WORDS
            .iter()
            .find(|(word, _)| rest.starts_with(word))?;
        match style {
            Style::Bold => bold = true,
            Style::Italic => italic = true,
            Style::Plain => {}
        }
        rest = rest.get(word.len()..)?;
    }

    let style_offset = match (bold, italic) {
        (false, false) => 0,
        (true, false) => 1,
        (true, true) => 2,
        (false, true) => 3,
    };
    let index = match family {
        Family::Courier => style_offset,
        Family::Helvetica => 4 + style_offset,
        Family::Times => 8 + style_offset,
        Family::Symbol => 12,
        Family::ZapfDingbats => 13,
    };
    FONTS.get(index)
}

/// Drops a subset tag: exactly six upper-case ASCII letters and `+`.
fn strip_subset_prefix(name: &[u8]) -> &[u8] {
    match name.split_at_checked(7) {
        Some((tag, rest))
            if tag.ends_with(b"+") && tag.iter().take(6).all(u8::is_ascii_uppercase) =>
        {
            rest
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agl_lookup;

    fn resolve(name: &str) -> Option<&'static str> {
        standard14(name).map(|f| f.name)
    }

    #[test]
    fn order_and_canonical_names() {
        let names: Vec<_> = standard14_fonts().iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "Courier",
                "Courier-Bold",
                "Courier-BoldOblique",
                "Courier-Oblique",
                "Helvetica",
                "Helvetica-Bold",
                "Helvetica-BoldOblique",
                "Helvetica-Oblique",
                "Times-Roman",
                "Times-Bold",
                "Times-BoldItalic",
                "Times-Italic",
                "Symbol",
                "ZapfDingbats",
            ]
        );
        for f in standard14_fonts() {
            assert_eq!(resolve(f.name), Some(f.name));
            assert_eq!(f.bold, f.name.contains("Bold"), "{}", f.name);
            assert_eq!(
                f.italic,
                f.name.contains("Italic") || f.name.contains("Oblique")
            );
            assert_eq!(f.italic, f.italic_angle < 0.0);
            assert_eq!(f.fixed_pitch, f.name.starts_with("Courier"));
            assert_eq!(f.serif, f.name.starts_with("Times"));
        }
    }

    #[test]
    fn widths() {
        let helv = standard14("Helvetica").unwrap();
        assert_eq!(helv.width("a"), Some(556));
        assert_eq!(helv.width("space"), Some(278));
        assert_eq!(helv.width("W"), Some(944));
        assert_eq!(helv.width("Euro"), Some(556));
        assert_eq!(helv.width("nosuchglyph"), None);
        assert_eq!(helv.width(""), None);
        assert_eq!(helv.code_width(b'a'), Some(556));
        assert_eq!(helv.code_width(0x27), Some(222)); // quoteright in StandardEncoding
        assert_eq!(helv.code_width(0x80), None);
        let times = standard14("Times-Roman").unwrap();
        assert_eq!(times.width("a"), Some(444));
        assert_eq!(times.width("space"), Some(250));
        assert_eq!(standard14("Times-Bold").unwrap().width("a"), Some(500));
        assert_eq!(standard14("Helvetica-Bold").unwrap().width("i"), Some(278));
        let symbol = standard14("Symbol").unwrap();
        assert_eq!(symbol.width("alpha"), Some(631));
        assert_eq!(symbol.code_width(b'a'), Some(631));
        assert_eq!(symbol.width("a"), None);
        let zapf = standard14("ZapfDingbats").unwrap();
        assert_eq!(zapf.width("a1"), Some(974));
        assert_eq!(zapf.code_width(0x21), Some(974));
        assert_eq!(zapf.width("space"), Some(278));
    }

    #[test]
    fn courier_is_monospaced() {
        for f in standard14_fonts()
            .iter()
            .filter(|f| f.name.starts_with("Courier"))
        {
            assert_eq!(f.glyphs().len(), 315);
            assert!(f.glyphs().all(|(_, w)| w == 600), "{}", f.name);
        }
    }

    #[test]
    fn glyph_tables_are_consistent() {
        for f in standard14_fonts() {
            assert_eq!(f.glyph_names.len(), f.widths.len(), "{}", f.name);
            assert!(f.glyph_names.windows(2).all(|w| w[0] < w[1]), "{}", f.name);
            for (g, w) in f.glyphs() {
                assert_eq!(f.width(g), Some(w));
                assert_eq!(f.glyph_names.binary_search(&g).map(|i| f.widths[i]), Ok(w));
                assert!(agl_lookup(g).is_some(), "{} {g}", f.name);
                assert!(w <= 1100, "{} {g} {w}", f.name);
            }
            // Every code of the built-in encoding has a width.
            for code in 0..=255u8 {
                if encoding_glyph(f.builtin_encoding(), code).is_some() {
                    assert!(f.code_width(code).is_some(), "{} {code:#x}", f.name);
                }
            }
            assert!(f.ascent > 0 && f.descent < 0, "{}", f.name);
            let [llx, lly, urx, ury] = f.font_bbox;
            assert!(llx < urx && lly < ury);
        }
    }

    #[test]
    fn font_wide_values() {
        let helv = standard14("Helvetica").unwrap();
        assert_eq!(
            (helv.ascent, helv.descent, helv.cap_height, helv.x_height),
            (718, -207, 718, 523)
        );
        assert_eq!(helv.font_bbox, [-166, -225, 1000, 931]);
        assert_eq!(helv.flags(), 32);
        assert_eq!(helv.builtin_encoding(), BaseEncoding::Standard);
        let ti = standard14("Times-Italic").unwrap();
        assert!((ti.italic_angle - -15.5).abs() < f32::EPSILON);
        assert_eq!(ti.flags(), 32 | 2 | 64);
        let cb = standard14("Courier-Bold").unwrap();
        assert_eq!(cb.flags(), 32 | 1 | (1 << 18));
        let sym = standard14("Symbol").unwrap();
        assert_eq!(sym.flags(), 4);
        assert_eq!(sym.builtin_encoding(), BaseEncoding::Symbol);
        assert_eq!((sym.ascent, sym.descent, sym.cap_height), (1010, -293, 0));
        let zapf = standard14("ZapfDingbats").unwrap();
        assert_eq!(zapf.builtin_encoding(), BaseEncoding::ZapfDingbats);
        assert!(format!("{zapf:?}").contains("ZapfDingbats"));
    }

    #[test]
    fn aliases() {
        let cases = [
            ("Arial", "Helvetica"),
            ("ArialMT", "Helvetica"),
            ("Arial,Bold", "Helvetica-Bold"),
            ("Arial-BoldMT", "Helvetica-Bold"),
            ("Arial-ItalicMT", "Helvetica-Oblique"),
            ("Arial-BoldItalicMT", "Helvetica-BoldOblique"),
            ("Arial,BoldItalic", "Helvetica-BoldOblique"),
            ("Arial,Italic", "Helvetica-Oblique"),
            ("ArialNarrow", "Helvetica"),
            ("ArialNarrow-Bold", "Helvetica-Bold"),
            ("Helvetica-Narrow", "Helvetica"),
            ("Helvetica-Narrow-BoldOblique", "Helvetica-BoldOblique"),
            ("helvetica-oblique", "Helvetica-Oblique"),
            ("HELVETICA,BOLD", "Helvetica-Bold"),
            ("Helvetica-Italic", "Helvetica-Oblique"),
            ("ABCDEF+Helvetica", "Helvetica"),
            ("ABCDEF+Arial-BoldMT", "Helvetica-Bold"),
            ("TimesNewRoman", "Times-Roman"),
            ("TimesNewRomanPSMT", "Times-Roman"),
            ("TimesNewRomanPS-BoldMT", "Times-Bold"),
            ("TimesNewRomanPS-ItalicMT", "Times-Italic"),
            ("TimesNewRomanPS-BoldItalicMT", "Times-BoldItalic"),
            ("Times New Roman", "Times-Roman"),
            ("Times New Roman,Bold", "Times-Bold"),
            ("TimesNewRoman,BoldItalic", "Times-BoldItalic"),
            ("Times-Roman,Bold", "Times-Bold"),
            ("Times-Roman,Italic", "Times-Italic"),
            ("Times", "Times-Roman"),
            ("Times-Oblique", "Times-Italic"),
            ("CourierNew", "Courier"),
            ("CourierNewPSMT", "Courier"),
            ("CourierNewPS-BoldMT", "Courier-Bold"),
            ("CourierNewPS-ItalicMT", "Courier-Oblique"),
            ("CourierNewPS-BoldItalicMT", "Courier-BoldOblique"),
            ("Courier New", "Courier"),
            ("Courier New,Bold", "Courier-Bold"),
            ("CourierNew,Italic", "Courier-Oblique"),
            ("Courier-Italic", "Courier-Oblique"),
            ("Courier-BoldItalic", "Courier-BoldOblique"),
            ("Symbol", "Symbol"),
            ("SymbolMT", "Symbol"),
            ("Symbol,Bold", "Symbol"),
            ("ZapfDingbats", "ZapfDingbats"),
            ("Dingbats", "ZapfDingbats"),
            ("QWERTY+ZapfDingbats", "ZapfDingbats"),
        ];
        for (alias, canonical) in cases {
            assert_eq!(resolve(alias), Some(canonical), "{alias}");
        }
    }

    #[test]
    fn non_standard_names() {
        for name in [
            "",
            "+",
            "ABCDEF+",
            "Arial-Black",
            "ArialUnicodeMS",
            "Calibri",
            "Helvetica-Condensed",
            "Helveticax",
            "Timesfoo",
            "CourierStd",
            "Symbola",
            "Wingdings",
            "abcdef+Helvetica", // a lower-case tag is not a subset prefix
            "ABCDE+Helvetica",
            "Helvetica\u{0}",
            "Ärial",
            "Arial-BoldBoldBoldBoldBoldBoldBoldBoldBoldBoldBold",
        ] {
            assert_eq!(resolve(name), None, "{name:?}");
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_base_fonts_never_panic(name in ".{0,100}") {
                if let Some(f) = standard14(&name) {
                    prop_assert!(standard14_fonts().iter().any(|g| std::ptr::eq(f, g)));
                }
            }

            #[test]
            fn fontish_names_never_panic(
                prefix in "([A-Z]{6}\\+)?",
                family in "(Arial|Times|TimesNewRoman|Courier|Helvetica|Symbol|Dingbats|x)",
                style in "([-, ]|Bold|Italic|Oblique|MT|PS|Roman|Narrow|y){0,8}",
            ) {
                let _ = standard14(&format!("{prefix}{family}{style}"));
            }

            #[test]
            fn arbitrary_glyph_widths_never_panic(glyph in ".{0,40}", code in any::<u8>()) {
                for f in standard14_fonts() {
                    let by_search = f.glyph_names.binary_search(&glyph.as_str()).ok();
                    prop_assert_eq!(f.width(&glyph), by_search.map(|i| f.widths[i]));
                    let _ = f.code_width(code);
                }
            }
        }
    }
}
