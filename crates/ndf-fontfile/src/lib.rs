//! Embedded font programs (TrueType, OpenType, CFF, Type1): encodings, charsets, cmaps and glyph
//! names needed to map glyphs to Unicode.
//!
//! A PDF text extractor falls back on the font program when the PDF gives no usable ToUnicode
//! or encoding (as MuPDF, pdf.js and poppler do). [`FontProgram::parse`] reads a `/FontFile`
//! (Type 1), `/FontFile2` (TrueType) or `/FontFile3` (`/Type1C`, `/CIDFontType0C`, `/OpenType`)
//! stream eagerly into small owned tables, so the font bytes can be dropped afterwards.
//!
//! Bounds: at most [`MAX_GLYPHS`] glyphs; names of at most 255 bytes in a pool of at most 2 MiB;
//! cmaps decoded with a fixed work budget. Parsing is linear in the input and never panics.
//! Lookups are O(1) or O(log n).

mod cff;
mod cmap;
mod names;
mod sfnt;
mod tables;
mod type1;

use std::fmt;

use cmap::Runs;
use names::NameTable;

/// Most glyphs a font program may have (glyph ids are 16-bit).
pub const MAX_GLYPHS: usize = 65_536;
/// Most steps spent building the glyph -> Unicode table.
const REVERSE_BUDGET: u32 = 1 << 21;

/// The kind of a font program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FontFileKind {
    /// Type 1 (`/FontFile`): PFA, PFB or the PDF's cleartext + eexec form.
    Type1,
    /// TrueType (`/FontFile2`): sfnt with `glyf` outlines.
    TrueType,
    /// Bare CFF (`/FontFile3` with `/Type1C` or `/CIDFontType0C`).
    Cff,
    /// OpenType (`/FontFile3` with `/OpenType`): sfnt with CFF or `glyf` outlines.
    OpenType,
}

/// Why a font program could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FontFileError {
    /// The stream is empty.
    #[error("empty font program")]
    Empty,
    /// The bytes are not a readable font program of the (corrected) kind.
    #[error("malformed {kind:?} font program: {reason}")]
    Malformed {
        /// The kind that was tried (after correction by [`sniff`]).
        kind: FontFileKind,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Guesses the kind from the bytes, for when the PDF's `/Subtype` or stream key lies
/// (a `/FontFile3` that is really sfnt, a `/FontFile2` that is CFF, a PFB in `/FontFile`).
pub fn sniff(data: &[u8]) -> Option<FontFileKind> {
    let head = data.get(..4)?;
    match head {
        [0x80, 0x01, ..] => return Some(FontFileKind::Type1),
        b"OTTO" => return Some(FontFileKind::OpenType),
        [0, 1, 0, 0] | b"true" | b"ttcf" => {
            return Some(if sfnt::is_cff_flavoured(data) {
                FontFileKind::OpenType
            } else {
                FontFileKind::TrueType
            });
        }
        // CFF header: major 1, header size >= 4, offset size 1..=4.
        [1, _, hdr, off] if *hdr >= 4 && (1..=4).contains(off) => {
            return Some(FontFileKind::Cff);
        }
        _ => {}
    }
    // Type 1: "%!PS-AdobeFont" / "%!FontType1", possibly after a little leading junk.
    let window = &data[..data.len().min(64)];
    if window.windows(2).any(|w| w == b"%!") {
        return Some(FontFileKind::Type1);
    }
    None
}

/// The kind to parse as: the bytes win, except that TrueType and OpenType (both sfnt) keep
/// the PDF's word unless the bytes say CFF outlines.
fn effective_kind(stated: FontFileKind, sniffed: Option<FontFileKind>) -> FontFileKind {
    use FontFileKind::{OpenType, TrueType};
    match (stated, sniffed) {
        (_, None) => stated,
        (OpenType, Some(TrueType)) => OpenType,
        (_, Some(s)) => s,
    }
}

/// Registry, ordering and supplement of a CID-keyed font (its ROS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidSystemInfo<'a> {
    /// E.g. "Adobe".
    pub registry: &'a str,
    /// E.g. "Japan1" or "Identity".
    pub ordering: &'a str,
    /// Supplement number.
    pub supplement: i32,
}

/// The parts of an embedded font program that text extraction needs. Owns only small derived
/// tables (sized by the glyph count), not the font bytes.
pub struct FontProgram {
    kind: FontFileKind,
    num_glyphs: u32,
    units_per_em: u16,
    font_name: Option<Box<str>>,
    font_matrix: Option<[f64; 6]>,
    glyph_names: NameTable,
    encoding: Option<NameTable>,
    /// Code -> GID of a CFF built-in encoding (0 = none).
    encoding_gids: Option<Box<[u16; 256]>>,
    standard_encoding: bool,
    cid: Option<cff::CidInfo>,
    unicode: Runs,
    /// (GID, lowest code point) sorted by GID.
    reverse: Vec<(u16, char)>,
    symbol: Option<Box<[u16; 256]>>,
    mac: Option<Box<[u16; 256]>>,
    advances: Vec<u16>,
}

impl fmt::Debug for FontProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FontProgram")
            .field("kind", &self.kind)
            .field("font_name", &self.font_name)
            .field("num_glyphs", &self.num_glyphs)
            .field("units_per_em", &self.units_per_em)
            .field("glyph_names", &!self.glyph_names.is_blank())
            .field("builtin_encoding", &self.encoding.is_some())
            .field("standard_encoding", &self.standard_encoding)
            .field("cid_keyed", &self.cid.is_some())
            .field("unicode_cmap_runs", &self.unicode.runs().len())
            .field("symbol_cmap", &self.symbol.is_some())
            .field("mac_cmap", &self.mac.is_some())
            .finish()
    }
}

/// Units per em implied by a FontMatrix (1000 for the usual 0.001 scale).
fn upem_from_matrix(m: Option<[f64; 6]>) -> u16 {
    match m {
        Some([a, ..]) if a > 0.0 => {
            let u = (1.0 / a).round();
            if (16.0..=16384.0).contains(&u) {
                u as u16
            } else {
                1000
            }
        }
        _ => 1000,
    }
}

/// GID -> lowest code point, from the Unicode cmap runs; work is capped by REVERSE_BUDGET.
fn build_reverse(runs: &Runs, bound: u32) -> Vec<(u16, char)> {
    if runs.is_empty() {
        return Vec::new();
    }
    let bound = bound.min(MAX_GLYPHS as u32) as usize;
    let mut best = vec![u32::MAX; bound];
    let mut budget = REVERSE_BUDGET;
    let mut visit = |gid: usize, cp: u32| {
        if let Some(slot) = best.get_mut(gid)
            && cp < *slot
            && char::from_u32(cp).is_some()
        {
            *slot = cp;
        }
    };
    // Runs are sorted by start code, so once a glyph is seen its code can only be beaten by an
    // overlapping (hostile) run; the budget bounds that case.
    'runs: for r in runs.runs() {
        if r.constant {
            if budget == 0 {
                break;
            }
            budget -= 1;
            visit(r.gid.into(), r.start);
            continue;
        }
        for k in 0..r.len {
            if budget == 0 {
                break 'runs;
            }
            budget -= 1;
            let gid = usize::from(r.gid) + k as usize;
            if gid >= bound {
                break;
            }
            visit(gid, r.start + k);
        }
    }
    best.iter()
        .enumerate()
        .filter_map(|(g, &cp)| Some((u16::try_from(g).ok()?, char::from_u32(cp)?)))
        .collect()
}

/// Mac OS Roman code of a character, for looking a Unicode hint up in a (1,0) cmap.
fn mac_roman_code(c: char) -> Option<u8> {
    let u = u32::from(c);
    if u < 0x80 {
        return u8::try_from(u).ok();
    }
    tables::MAC_ROMAN_HIGH
        .iter()
        .position(|&m| u32::from(m) == u)
        .and_then(|i| u8::try_from(i + 0x80).ok())
}

impl FontProgram {
    fn empty(kind: FontFileKind) -> Self {
        Self {
            kind,
            num_glyphs: 0,
            units_per_em: 1000,
            font_name: None,
            font_matrix: None,
            glyph_names: NameTable::default(),
            encoding: None,
            encoding_gids: None,
            standard_encoding: false,
            cid: None,
            unicode: Runs::default(),
            reverse: Vec::new(),
            symbol: None,
            mac: None,
            advances: Vec::new(),
        }
    }

    /// Parses a font program. `kind` is what the PDF says; it is corrected by [`sniff`] when
    /// the bytes disagree. Broken parts are skipped: a font whose `glyf` is broken still gives
    /// its cmap. Fails only when nothing of the kind can be read.
    pub fn parse(kind: FontFileKind, data: &[u8]) -> Result<FontProgram, FontFileError> {
        if data.is_empty() {
            return Err(FontFileError::Empty);
        }
        let kind = effective_kind(kind, sniff(data));
        let malformed = |reason| FontFileError::Malformed { kind, reason };
        match kind {
            FontFileKind::TrueType | FontFileKind::OpenType => {
                let s = sfnt::parse(data).ok_or(malformed("unreadable sfnt table directory"))?;
                Ok(Self::from_sfnt(kind, s))
            }
            FontFileKind::Cff => {
                let c = cff::parse(data)
                    .ok_or(malformed("unreadable CFF header, INDEX or Top DICT"))?;
                Ok(Self::from_cff(kind, c))
            }
            FontFileKind::Type1 => {
                let t = type1::parse(data);
                if !t.recognised {
                    return Err(malformed("no Type 1 structure found"));
                }
                Ok(Self::from_type1(t))
            }
        }
    }

    fn from_cff(kind: FontFileKind, c: cff::Cff) -> Self {
        let mut p = Self::empty(kind);
        p.num_glyphs = c.num_glyphs;
        p.units_per_em = upem_from_matrix(c.font_matrix);
        p.font_name = c.font_name;
        p.font_matrix = c.font_matrix;
        p.glyph_names = c.names;
        p.standard_encoding = c.standard_encoding;
        if let Some((names, gids)) = c.encoding {
            p.encoding = Some(names);
            p.encoding_gids = Some(gids);
        }
        p.cid = c.cid;
        p
    }

    fn from_type1(t: type1::Type1) -> Self {
        let mut p = Self::empty(FontFileKind::Type1);
        p.num_glyphs = t.names.len() as u32;
        p.units_per_em = upem_from_matrix(t.font_matrix);
        p.font_name = t.font_name;
        p.font_matrix = t.font_matrix;
        p.glyph_names = t.names;
        p.encoding = t.encoding;
        p.standard_encoding = t.standard_encoding && p.encoding.is_none();
        p
    }

    fn from_sfnt(kind: FontFileKind, s: sfnt::Sfnt) -> Self {
        let mut p = Self::empty(kind);
        p.num_glyphs = s.num_glyphs;
        p.units_per_em = s.units_per_em;
        p.font_name = s.font_name;
        p.glyph_names = s.names;
        if let Some(c) = s.cff {
            // The CFF charset names the glyphs of CFF-flavoured OpenType (`post` is usually v3).
            if !c.names.is_blank() {
                p.glyph_names = c.names;
            }
            p.font_name = p.font_name.or(c.font_name);
            p.font_matrix = c.font_matrix;
            p.standard_encoding = c.standard_encoding;
            if let Some((names, gids)) = c.encoding {
                p.encoding = Some(names);
                p.encoding_gids = Some(gids);
            }
            p.cid = c.cid;
        }
        let bound = if p.num_glyphs == 0 {
            MAX_GLYPHS as u32
        } else {
            p.num_glyphs
        };
        p.reverse = build_reverse(&s.unicode, bound);
        p.unicode = s.unicode;
        p.symbol = s.symbol;
        p.mac = s.mac;
        p.advances = s.advances;
        p
    }

    /// The kind that was parsed (the PDF's word, corrected by [`sniff`]).
    pub fn kind(&self) -> FontFileKind {
        self.kind
    }

    /// The font's name (Type 1 /FontName, CFF Name INDEX, sfnt PostScript name), if any.
    pub fn font_name(&self) -> Option<&str> {
        self.font_name.as_deref()
    }

    /// The FontMatrix of a Type 1 or CFF font, when the font states one.
    pub fn font_matrix(&self) -> Option<[f64; 6]> {
        self.font_matrix
    }

    /// True when the font has its own encoding (Type 1 /Encoding array, CFF custom or Expert).
    pub fn has_builtin_encoding(&self) -> bool {
        self.encoding.is_some()
    }

    /// Glyph name of a code in the font's built-in encoding. None when the font has none
    /// (TrueType), uses StandardEncoding (see [`FontProgram::uses_standard_encoding`]) or
    /// leaves the code unmapped.
    pub fn builtin_glyph_name(&self, code: u8) -> Option<&str> {
        self.encoding.as_ref()?.get(code.into())
    }

    /// Glyph id of a code in the built-in encoding: direct for CFF, by glyph name for Type 1.
    pub fn builtin_gid(&self, code: u8) -> Option<u16> {
        if let Some(gids) = &self.encoding_gids {
            return Some(gids[usize::from(code)]).filter(|&g| g != 0);
        }
        self.glyph_by_name(self.builtin_glyph_name(code)?)
    }

    /// True when the built-in encoding is StandardEncoding (Type 1 `StandardEncoding def`,
    /// CFF encoding offset 0).
    pub fn uses_standard_encoding(&self) -> bool {
        self.standard_encoding
    }

    /// Glyph name of a glyph id (CFF charset, TrueType `post`, Type 1 CharStrings order).
    pub fn glyph_name(&self, gid: u16) -> Option<&str> {
        self.glyph_names.get(gid.into())
    }

    /// Glyph id of a glyph name (lowest id when several glyphs share it). O(log n).
    pub fn glyph_by_name(&self, name: &str) -> Option<u16> {
        self.glyph_names.find(name)
    }

    /// Unicode of a glyph from the font's Unicode cmap ((3,10), (0,*), (3,1)); the lowest code
    /// point wins for glyphs mapped several times. O(log n).
    pub fn unicode_of_glyph(&self, gid: u16) -> Option<char> {
        let i = self.reverse.binary_search_by_key(&gid, |&(g, _)| g).ok()?;
        self.reverse.get(i).map(|&(_, c)| c)
    }

    /// Glyph id of a character in the font's Unicode cmap. O(log n).
    pub fn gid_for_unicode(&self, c: char) -> Option<u16> {
        self.unicode.lookup(c.into())
    }

    /// Glyph id of a single-byte code of a TrueType simple font, as in ISO 32000 §9.6.5.4 and
    /// poppler / pdf.js: first the Unicode cmap with `unicode_hint` (the Unicode of the
    /// encoding's glyph name, which the caller passes when it has one), or the (1,0) cmap with
    /// the hint's Mac Roman code; then the (3,0) symbol cmap with code, 0xF000 + code,
    /// 0xF100 + code and 0xF200 + code; then the (1,0) cmap with the code; then the Unicode
    /// cmap with the code and 0xF000 + code. None when no cmap maps it (callers then commonly
    /// use the code as the glyph id).
    pub fn gid_for_code(&self, code: u8, unicode_hint: Option<char>) -> Option<u16> {
        let nz = |g: u16| (g != 0).then_some(g);
        if let Some(c) = unicode_hint {
            if let Some(g) = self.unicode.lookup(c.into()) {
                return Some(g);
            }
            if let (Some(mac), Some(m)) = (&self.mac, mac_roman_code(c))
                && let Some(g) = nz(mac[usize::from(m)])
            {
                return Some(g);
            }
        }
        if let Some(g) = self.symbol.as_ref().and_then(|t| nz(t[usize::from(code)])) {
            return Some(g);
        }
        if let Some(g) = self.mac.as_ref().and_then(|t| nz(t[usize::from(code)])) {
            return Some(g);
        }
        let code = u32::from(code);
        self.unicode
            .lookup(code)
            .or_else(|| self.unicode.lookup(0xF000 + code))
    }

    /// CID-keyed CFF: glyph id of a CID through the charset. Other fonts: the identity for
    /// ids below the glyph count. None when the CID is not in the font.
    pub fn gid_for_cid(&self, cid: u32) -> Option<u16> {
        match &self.cid {
            Some(c) => c.gid_for_cid(cid),
            None => u16::try_from(cid)
                .ok()
                .filter(|&g| u32::from(g) < self.num_glyphs),
        }
    }

    /// CID of a glyph id in a CID-keyed CFF font.
    pub fn cid_of_glyph(&self, gid: u16) -> Option<u32> {
        let c = self.cid.as_ref()?;
        c.gid_to_cid.get(usize::from(gid)).map(|&c| c.into())
    }

    /// True for CID-keyed CFF (a ROS in the Top DICT).
    pub fn is_cid_keyed(&self) -> bool {
        self.cid.is_some()
    }

    /// Registry, ordering and supplement of a CID-keyed CFF font.
    pub fn cid_system_info(&self) -> Option<CidSystemInfo<'_>> {
        self.cid.as_ref().map(|c| CidSystemInfo {
            registry: &c.registry,
            ordering: &c.ordering,
            supplement: c.supplement,
        })
    }

    /// Number of glyphs (maxp / CharStrings count); 0 when no table says.
    pub fn num_glyphs(&self) -> u32 {
        self.num_glyphs
    }

    /// Units per em: `head` for sfnt; from the FontMatrix for CFF and Type 1 (1000 by default).
    pub fn units_per_em(&self) -> u16 {
        self.units_per_em
    }

    /// Advance width of a glyph in font units (`hmtx`; None for CFF and Type 1).
    pub fn advance(&self, gid: u16) -> Option<u16> {
        if self.num_glyphs != 0 && u32::from(gid) >= self.num_glyphs {
            return None;
        }
        self.advances
            .get(usize::from(gid))
            .or_else(|| self.advances.last())
            .copied()
    }

    /// True when an sfnt has a usable Unicode cmap ((3,1), (3,10) or (0,*)).
    pub fn has_unicode_cmap(&self) -> bool {
        !self.unicode.is_empty()
    }

    /// True when an sfnt has a usable (3,0) symbol cmap.
    pub fn has_symbol_cmap(&self) -> bool {
        self.symbol.is_some()
    }

    /// True when an sfnt has a usable (1,0) Mac Roman cmap.
    pub fn has_mac_roman_cmap(&self) -> bool {
        self.mac.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_kinds() {
        assert_eq!(sniff(b"OTTO\0\0"), Some(FontFileKind::OpenType));
        assert_eq!(sniff(&[0, 1, 0, 0, 0, 0]), Some(FontFileKind::TrueType));
        assert_eq!(sniff(&[1, 0, 4, 2, 0]), Some(FontFileKind::Cff));
        assert_eq!(sniff(&[1, 0, 2, 2, 0]), None);
        assert_eq!(sniff(&[0x80, 1, 0, 0]), Some(FontFileKind::Type1));
        assert_eq!(sniff(b"%!PS-AdobeFont-1.0"), Some(FontFileKind::Type1));
        assert_eq!(sniff(b"\r\n%!FontType1"), Some(FontFileKind::Type1));
        assert_eq!(sniff(b"abc"), None);
        assert_eq!(sniff(b"hello world"), None);
    }

    #[test]
    fn kind_correction() {
        use FontFileKind::*;
        assert_eq!(effective_kind(Cff, Some(OpenType)), OpenType);
        assert_eq!(effective_kind(TrueType, Some(Cff)), Cff);
        assert_eq!(effective_kind(OpenType, Some(TrueType)), OpenType);
        assert_eq!(effective_kind(TrueType, Some(OpenType)), OpenType);
        assert_eq!(effective_kind(Type1, None), Type1);
    }

    #[test]
    fn upem_from_font_matrix() {
        assert_eq!(upem_from_matrix(None), 1000);
        assert_eq!(upem_from_matrix(Some([0.001, 0., 0., 0.001, 0., 0.])), 1000);
        assert_eq!(
            upem_from_matrix(Some([0.00048828125, 0., 0., 0.00048828125, 0., 0.])),
            2048
        );
        assert_eq!(upem_from_matrix(Some([1.0, 0., 0., 1.0, 0., 0.])), 1000);
        assert_eq!(
            upem_from_matrix(Some([-0.001, 0., 0., 0.001, 0., 0.])),
            1000
        );
    }

    #[test]
    fn mac_roman() {
        assert_eq!(mac_roman_code('A'), Some(b'A'));
        assert_eq!(mac_roman_code('é'), Some(0x8E));
        assert_eq!(mac_roman_code('€'), Some(0xDB));
        assert_eq!(mac_roman_code('ж'), None);
    }

    #[test]
    fn type1_program() {
        let p =
            FontProgram::parse(FontFileKind::Type1, &type1::tests::sample(false, [0; 4])).unwrap();
        assert_eq!(p.kind(), FontFileKind::Type1);
        assert_eq!(p.num_glyphs(), 3);
        assert_eq!(p.units_per_em(), 2000);
        assert_eq!(p.builtin_glyph_name(65), Some("A"));
        assert_eq!(p.builtin_gid(65), Some(1));
        assert_eq!(p.builtin_gid(200), Some(2));
        assert_eq!(p.builtin_gid(66), None); // /B is encoded but has no charstring
        assert_eq!(p.glyph_by_name("Eacute"), Some(2));
        assert_eq!(p.gid_for_cid(2), Some(2));
        assert_eq!(p.gid_for_cid(3), None);
        assert!(!p.uses_standard_encoding());
        assert!(!p.is_cid_keyed());
        assert_eq!(p.advance(0), None);
        assert_eq!(p.unicode_of_glyph(1), None);
        assert!(
            FontProgram::parse(FontFileKind::Type1, b"nothing here").is_err(),
            "garbage must not parse as Type 1"
        );
        assert_eq!(
            FontProgram::parse(FontFileKind::Type1, b"").unwrap_err(),
            FontFileError::Empty
        );
    }
}
