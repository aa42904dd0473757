//! The simple-font base encodings and PDFDocEncoding.

use crate::generated::encodings as tables;

/// A predefined single-byte encoding: the five PDF base encodings plus the built-in encodings
/// of the Symbol and ZapfDingbats fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseEncoding {
    /// `StandardEncoding`, Adobe's standard Latin encoding (built into the Latin standard-14 fonts).
    Standard,
    /// `WinAnsiEncoding` (Windows code page 1252 with the PDF specification's notes).
    WinAnsi,
    /// `MacRomanEncoding` (Mac OS Roman).
    MacRoman,
    /// `MacExpertEncoding` (expert glyphs: small caps, old-style figures, fractions).
    MacExpert,
    /// `PDFDocEncoding`, the encoding of PDF text strings.
    PdfDoc,
    /// The built-in encoding of the Symbol font.
    Symbol,
    /// The built-in encoding of the ZapfDingbats font.
    ZapfDingbats,
}

impl BaseEncoding {
    /// Parses an `/Encoding` or `/BaseEncoding` name: `StandardEncoding`, `WinAnsiEncoding`,
    /// `MacRomanEncoding`, `MacExpertEncoding` or `PDFDocEncoding`. `None` for anything else
    /// (the Symbol and ZapfDingbats encodings have no PDF name).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"StandardEncoding" => Some(Self::Standard),
            b"WinAnsiEncoding" => Some(Self::WinAnsi),
            b"MacRomanEncoding" => Some(Self::MacRoman),
            b"MacExpertEncoding" => Some(Self::MacExpert),
            b"PDFDocEncoding" => Some(Self::PdfDoc),
            _ => None,
        }
    }

    /// The PDF name of the encoding (`"Symbol"` / `"ZapfDingbats"` for the two font-specific ones).
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "StandardEncoding",
            Self::WinAnsi => "WinAnsiEncoding",
            Self::MacRoman => "MacRomanEncoding",
            Self::MacExpert => "MacExpertEncoding",
            Self::PdfDoc => "PDFDocEncoding",
            Self::Symbol => "Symbol",
            Self::ZapfDingbats => "ZapfDingbats",
        }
    }
}

/// The whole table of an encoding: the glyph name per code, `""` for unused codes.
///
/// Handy to seed a font's 256-entry code -> glyph table before applying `/Differences`.
pub fn encoding_table(enc: BaseEncoding) -> &'static [&'static str; 256] {
    match enc {
        BaseEncoding::Standard => &tables::STANDARD,
        BaseEncoding::WinAnsi => &tables::WIN_ANSI,
        BaseEncoding::MacRoman => &tables::MAC_ROMAN,
        BaseEncoding::MacExpert => &tables::MAC_EXPERT,
        BaseEncoding::PdfDoc => &tables::PDF_DOC,
        BaseEncoding::Symbol => &tables::SYMBOL,
        BaseEncoding::ZapfDingbats => &tables::ZAPF_DINGBATS,
    }
}

/// Glyph name for a code in an encoding (`None` for unused codes).
///
/// The tables follow PDF 2.0 Annex D, including its notes: in WinAnsi 0xA0 is `space`, 0xAD is
/// `hyphen`, and the codes Windows-1252 leaves undefined above 0x7E (0x7F, 0x81, 0x8D, 0x8F,
/// 0x90, 0x9D) are `bullet`; in MacRoman 0xCA is `space`. MacRoman also has the Mac OS Roman
/// symbol glyphs the specification omits (0xAD `notequal`, 0xB9 `pi`, 0xF0 `apple`, ...), since
/// real Mac fonts encode them there. Every name returned resolves with [`crate::agl_lookup`].
pub fn encoding_glyph(enc: BaseEncoding, code: u8) -> Option<&'static str> {
    let glyph = encoding_table(enc)[usize::from(code)];
    (!glyph.is_empty()).then_some(glyph)
}

/// PDFDocEncoding byte -> Unicode (for PDF text strings), `None` for undefined bytes.
///
/// Per PDF 2.0 Table D.2: tab, line feed and carriage return are themselves; the other bytes
/// below 0x18, and 0x7F, 0x9F and 0xAD, are undefined.
pub fn pdfdoc_to_char(b: u8) -> Option<char> {
    match tables::PDF_DOC_UNICODE[usize::from(b)] {
        0 => None,
        v => char::from_u32(u32::from(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agl_lookup;

    const ALL: [BaseEncoding; 7] = [
        BaseEncoding::Standard,
        BaseEncoding::WinAnsi,
        BaseEncoding::MacRoman,
        BaseEncoding::MacExpert,
        BaseEncoding::PdfDoc,
        BaseEncoding::Symbol,
        BaseEncoding::ZapfDingbats,
    ];

    #[test]
    fn from_name() {
        assert_eq!(
            BaseEncoding::from_name(b"StandardEncoding"),
            Some(BaseEncoding::Standard)
        );
        assert_eq!(
            BaseEncoding::from_name(b"WinAnsiEncoding"),
            Some(BaseEncoding::WinAnsi)
        );
        assert_eq!(
            BaseEncoding::from_name(b"MacRomanEncoding"),
            Some(BaseEncoding::MacRoman)
        );
        assert_eq!(
            BaseEncoding::from_name(b"MacExpertEncoding"),
            Some(BaseEncoding::MacExpert)
        );
        assert_eq!(
            BaseEncoding::from_name(b"PDFDocEncoding"),
            Some(BaseEncoding::PdfDoc)
        );
        assert_eq!(BaseEncoding::from_name(b"Symbol"), None);
        assert_eq!(BaseEncoding::from_name(b"winansiencoding"), None);
        assert_eq!(BaseEncoding::from_name(b""), None);
        for enc in ALL {
            if !matches!(enc, BaseEncoding::Symbol | BaseEncoding::ZapfDingbats) {
                assert_eq!(BaseEncoding::from_name(enc.name().as_bytes()), Some(enc));
            }
        }
    }

    #[test]
    fn spot_checks() {
        use BaseEncoding::*;
        assert_eq!(encoding_glyph(WinAnsi, 0x80), Some("Euro"));
        assert_eq!(encoding_glyph(WinAnsi, 0x92), Some("quoteright"));
        assert_eq!(encoding_glyph(WinAnsi, 0x27), Some("quotesingle"));
        assert_eq!(encoding_glyph(WinAnsi, 0x60), Some("grave"));
        assert_eq!(encoding_glyph(WinAnsi, 0xA0), Some("space"));
        assert_eq!(encoding_glyph(WinAnsi, 0xAD), Some("hyphen"));
        for code in [0x7F, 0x81, 0x8D, 0x8F, 0x90, 0x9D, 0x95] {
            assert_eq!(encoding_glyph(WinAnsi, code), Some("bullet"), "{code:#x}");
        }
        assert_eq!(encoding_glyph(WinAnsi, 0x1F), None);
        assert_eq!(encoding_glyph(WinAnsi, 0xE9), Some("eacute"));
        assert_eq!(encoding_glyph(MacRoman, 0xD2), Some("quotedblleft"));
        assert_eq!(encoding_glyph(MacRoman, 0xCA), Some("space"));
        assert_eq!(encoding_glyph(MacRoman, 0x8E), Some("eacute"));
        assert_eq!(encoding_glyph(MacRoman, 0xDB), Some("currency"));
        assert_eq!(encoding_glyph(MacRoman, 0xB9), Some("pi"));
        assert_eq!(encoding_glyph(Standard, 0x27), Some("quoteright"));
        assert_eq!(encoding_glyph(Standard, 0x60), Some("quoteleft"));
        assert_eq!(encoding_glyph(Standard, 0xAE), Some("fi"));
        assert_eq!(encoding_glyph(Standard, 0x80), None);
        assert_eq!(encoding_glyph(PdfDoc, 0x18), Some("breve"));
        assert_eq!(encoding_glyph(PdfDoc, 0xA0), Some("Euro"));
        assert_eq!(encoding_glyph(MacExpert, 0x21), Some("exclamsmall"));
        assert_eq!(encoding_glyph(Symbol, 0x61), Some("alpha"));
        assert_eq!(encoding_glyph(Symbol, 0x22), Some("universal"));
        assert_eq!(encoding_glyph(ZapfDingbats, 0x21), Some("a1"));
        assert_eq!(
            encoding_glyph(ZapfDingbats, 0x21).and_then(agl_lookup),
            Some("\u{2701}")
        );
        assert_eq!(encoding_glyph(ZapfDingbats, 0x20), Some("space"));
        for enc in ALL {
            assert_eq!(encoding_glyph(enc, 0), None);
        }
    }

    #[test]
    fn every_encoded_glyph_has_unicode() {
        for enc in ALL {
            let used = (0..=255u8)
                .filter(|&c| encoding_glyph(enc, c).is_some())
                .count();
            assert!(used > 100, "{enc:?} has only {used} codes");
            for code in 0..=255u8 {
                if let Some(g) = encoding_glyph(enc, code) {
                    assert!(agl_lookup(g).is_some(), "{enc:?} {code:#x} {g}");
                }
            }
        }
    }

    #[test]
    fn printable_ascii_matches_between_latin_encodings() {
        for code in 0x20..0x7Fu8 {
            let win = encoding_glyph(BaseEncoding::WinAnsi, code);
            assert_eq!(win, encoding_glyph(BaseEncoding::PdfDoc, code), "{code:#x}");
            assert_eq!(
                win,
                encoding_glyph(BaseEncoding::MacRoman, code),
                "{code:#x}"
            );
        }
    }

    #[test]
    fn pdfdoc() {
        assert_eq!(pdfdoc_to_char(b'A'), Some('A'));
        assert_eq!(pdfdoc_to_char(0x18), Some('\u{02D8}'));
        assert_eq!(pdfdoc_to_char(0x80), Some('\u{2022}'));
        assert_eq!(pdfdoc_to_char(0x8D), Some('\u{201C}'));
        assert_eq!(pdfdoc_to_char(0x93), Some('\u{FB01}'));
        assert_eq!(pdfdoc_to_char(0xA0), Some('€'));
        assert_eq!(pdfdoc_to_char(0xE9), Some('é'));
        assert_eq!(pdfdoc_to_char(0xFF), Some('ÿ'));
        assert_eq!(pdfdoc_to_char(b'\n'), Some('\n'));
        assert_eq!(pdfdoc_to_char(b'\t'), Some('\t'));
        assert_eq!(pdfdoc_to_char(b'\r'), Some('\r'));
        for b in [0x00, 0x01, 0x08, 0x0B, 0x17, 0x7F, 0x9F, 0xAD] {
            assert_eq!(pdfdoc_to_char(b), None, "{b:#x}");
        }
        // Latin-1 range is identity except the undefined soft hyphen slot.
        for b in 0xA1..=0xFFu8 {
            if b != 0xAD {
                assert_eq!(pdfdoc_to_char(b), Some(char::from(b)), "{b:#x}");
            }
        }
        // Consistent with the glyph table wherever a glyph is defined.
        for b in 0..=255u8 {
            if let Some(g) = encoding_glyph(BaseEncoding::PdfDoc, b) {
                let c = pdfdoc_to_char(b).map(String::from);
                assert_eq!(c.as_deref(), agl_lookup(g), "{b:#x}");
            }
        }
    }
}
