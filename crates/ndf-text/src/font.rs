//! Fonts as text interpretation needs them: character codes to Unicode text and advance widths.
//!
//! Unicode comes from, in order: the `/ToUnicode` CMap; for simple fonts the encoding
//! (`/Differences` over a base encoding or the font program's built-in one) and glyph names
//! through the Adobe Glyph List; for composite fonts Unicode-coded CMaps and the Adobe CID
//! collections; and last the embedded font program's own cmap and glyph names.

use std::sync::Arc;

use ndf_cmap::CMap;
use ndf_fontdata::{BaseEncoding, Standard14, encoding_glyph, glyph_name_to_unicode, standard14};
use ndf_fontfile::{FontFileKind, FontProgram};
use ndf_model::{Code, Diagnostic, FontInfo, Matrix};
use ndf_pdf::{Dict, Object, Pdf};

/// Most mapping records kept from one CMap stream.
const MAX_CMAP_ENTRIES: usize = 200_000;
/// Most `/W` entries kept for one CID font.
const MAX_WIDTH_ENTRIES: usize = 200_000;

/// One glyph of a shown string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Glyph {
    /// Horizontal advance as a fraction of the font size (w0 / 1000 for ordinary fonts).
    pub width: f64,
    /// Vertical advance (w1y, negative = downwards) as a fraction of the font size.
    pub vertical_advance: f64,
    /// The code is the single byte 32, to which word spacing applies.
    pub is_space_code: bool,
    /// No Unicode was found for the glyph.
    pub unmapped: bool,
}

/// The kind-specific part of a font.
#[derive(Debug)]
enum Decoder {
    Simple(Box<SimpleTable>),
    Composite(Box<Composite>),
}

/// Per-code tables of a simple (single-byte) font.
#[derive(Debug)]
struct SimpleTable {
    text: String,
    spans: [(u32, u8); 256],
    widths: [f32; 256],
    mapped: [bool; 256],
}

/// A composite (Type0) font.
#[derive(Debug)]
struct Composite {
    cmap: Arc<CMap>,
    to_unicode: Option<CMap>,
    /// Sorted, non-overlapping (first CID, last CID, width as a fraction of the size).
    widths: Vec<(u32, u32, f32)>,
    default_width: f32,
    /// Sorted (first CID, last CID, w1y) for vertical fonts.
    vertical_widths: Vec<(u32, u32, f32)>,
    default_vertical: f32,
    registry: Vec<u8>,
    ordering: Vec<u8>,
    program: Option<FontProgram>,
    /// `/CIDToGIDMap` stream contents (2 bytes per CID); `None` means Identity.
    cid_to_gid: Option<Vec<u8>>,
}

/// A loaded font.
#[derive(Debug)]
pub(crate) struct Font {
    pub info: FontInfo,
    /// Ascent and descent as fractions of the em (descent negative).
    pub ascent: f64,
    pub descent: f64,
    pub vertical: bool,
    /// Size of the em in text space per unit of font size: 1 for ordinary fonts; estimated for
    /// Type3 fonts, whose glyph space has no defined em.
    pub em: f64,
    decoder: Decoder,
    /// Problems met while loading (reported once per page that uses the font).
    pub diagnostics: Vec<Diagnostic>,
}

impl Font {
    /// Decode the next glyph of a shown string: take its code off the front of `rest` (at least
    /// one byte while `rest` is not empty), append its text to `text`. `None` at the end.
    /// A step function rather than a loop with a callback, so the caller's per-glyph work
    /// compiles into its own loop.
    #[inline(always)]
    pub(crate) fn next_glyph(&self, rest: &mut &[u8], text: &mut String) -> Option<Glyph> {
        match &self.decoder {
            Decoder::Simple(t) => {
                let (&b, tail) = rest.split_first()?;
                *rest = tail;
                let (start, len) = t.spans[b as usize];
                let s = t
                    .text
                    .get(start as usize..start as usize + len as usize)
                    .unwrap_or("");
                // Most glyphs are one ASCII byte: skip the general copy.
                if let &[c] = s.as_bytes() {
                    text.push(char::from(c));
                } else {
                    text.push_str(s);
                }
                Some(Glyph {
                    width: f64::from(t.widths[b as usize]),
                    vertical_advance: -1.0,
                    is_space_code: b == 32,
                    unmapped: !t.mapped[b as usize],
                })
            }
            Decoder::Composite(c) => c.next_glyph(rest, text),
        }
    }
}

impl Composite {
    fn next_glyph(&self, rest: &mut &[u8], text: &mut String) -> Option<Glyph> {
        if rest.is_empty() {
            return None;
        }
        let read = self.cmap.next_code(rest);
        let len = usize::from(read.len).clamp(1, rest.len());
        *rest = rest.get(len..).unwrap_or(&[]);
        let cid = self.cmap.cid(read.code, read.len).unwrap_or(0);
        let mapped = self.unicode(read.code, read.len, cid, text);
        if !mapped {
            // Like poppler and MuPDF, an Identity-ordered font with no other mapping shows its
            // CIDs as code points (usually wrong, but what readers of such files have come to
            // expect); the glyph stays flagged unmapped.
            match self.identity_guess(cid) {
                Some(ch) => text.push(ch),
                None => text.push('\u{FFFD}'),
            }
        }
        Some(Glyph {
            width: f64::from(self.width(cid)),
            vertical_advance: f64::from(self.vertical_advance(cid)),
            is_space_code: read.len == 1 && read.code == 32,
            unmapped: !mapped,
        })
    }

    fn unicode(&self, code: u32, len: u8, cid: u32, out: &mut String) -> bool {
        let start = out.len();
        if let Some(tu) = &self.to_unicode
            && tu.unicode(code, len, out)
        {
            if acceptable_unicode(&out[start..]) {
                return true;
            }
            out.truncate(start);
        }
        if self.cmap.codes_are_unicode() && self.cmap.code_to_unicode(code, len, out) {
            return true;
        }
        if ndf_cmap::cid_to_unicode(&self.registry, &self.ordering, cid, out) {
            return true;
        }
        if let Some(p) = &self.program {
            let gid = match (&self.cid_to_gid, p.is_cid_keyed()) {
                (Some(map), _) => {
                    let i = cid as usize * 2;
                    map.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
                }
                (None, true) => p.gid_for_cid(cid),
                (None, false) => u16::try_from(cid).ok(),
            };
            if let Some(gid) = gid {
                if let Some(c) = p.unicode_of_glyph(gid) {
                    out.push(c);
                    return true;
                }
                if let Some(name) = p.glyph_name(gid)
                    && glyph_name_to_unicode(name, out)
                {
                    return true;
                }
            }
        }
        false
    }

    fn identity_guess(&self, cid: u32) -> Option<char> {
        let identity = self.ordering.is_empty() || self.ordering.eq_ignore_ascii_case(b"Identity");
        if !identity || cid < 0x20 || (0x7F..0xA0).contains(&cid) {
            return None;
        }
        char::from_u32(cid)
    }

    fn width(&self, cid: u32) -> f32 {
        lookup_range(&self.widths, cid).unwrap_or(self.default_width)
    }

    fn vertical_advance(&self, cid: u32) -> f32 {
        lookup_range(&self.vertical_widths, cid).unwrap_or(self.default_vertical)
    }
}

fn lookup_range(ranges: &[(u32, u32, f32)], cid: u32) -> Option<f32> {
    let i = ranges.partition_point(|r| r.1 < cid);
    ranges.get(i).filter(|r| r.0 <= cid).map(|r| r.2)
}

/// ToUnicode entries that map to nothing useful (NUL, control characters) are ignored in
/// favour of the next source, as poppler and pdf.js do.
fn acceptable_unicode(s: &str) -> bool {
    !s.is_empty() && s.chars().any(|c| !c.is_control() || c == '\t')
}

/// Load the font described by `dict` (the value in a `/Font` resource).
pub(crate) fn load_font<'a>(pdf: &Pdf<'a>, dict: Dict<'a>) -> Font {
    let subtype = pdf.get_name(dict, b"Subtype").unwrap_or(b"Type1");
    if subtype == b"Type0" {
        load_composite(pdf, dict)
    } else {
        load_simple(pdf, dict, subtype == b"Type3")
    }
}

/// Name, bold/italic/monospace, ascent and descent common to all kinds.
struct Common<'a> {
    info: FontInfo,
    ascent: f64,
    descent: f64,
    descriptor: Option<Dict<'a>>,
    flags: i64,
    std14: Option<&'static Standard14>,
}

fn common<'a>(
    pdf: &Pdf<'a>,
    dict: Dict<'a>,
    descriptor: Option<Dict<'a>>,
    base_font: &str,
) -> Common<'a> {
    let name = strip_subset(base_font).to_owned();
    let std14 = standard14(&name);
    let flags = descriptor
        .and_then(|d| pdf.get_i64(d, b"Flags"))
        .unwrap_or(0);
    let weight = descriptor
        .and_then(|d| pdf.get_f64(d, b"FontWeight"))
        .unwrap_or(0.0);
    let angle = descriptor
        .and_then(|d| pdf.get_f64(d, b"ItalicAngle"))
        .unwrap_or(0.0);
    let lower = name.to_ascii_lowercase();
    let bold = flags & (1 << 18) != 0
        || weight >= 600.0
        || ["bold", "black", "heavy", "semibold", "demi"]
            .iter()
            .any(|w| lower.contains(w))
        || std14.is_some_and(|s| s.bold);
    let italic = flags & (1 << 6) != 0
        || (angle != 0.0 && angle.is_finite())
        || lower.contains("italic")
        || lower.contains("oblique")
        || std14.is_some_and(|s| s.italic);
    let monospace = flags & 1 != 0
        || lower.contains("courier")
        || lower.contains("mono")
        || std14.is_some_and(|s| s.fixed_pitch);
    let mut ascent = descriptor
        .and_then(|d| pdf.get_f64(d, b"Ascent"))
        .unwrap_or(0.0);
    let mut descent = descriptor
        .and_then(|d| pdf.get_f64(d, b"Descent"))
        .unwrap_or(0.0);
    if ascent == 0.0
        && let Some(s) = std14
    {
        ascent = f64::from(s.ascent);
        descent = f64::from(s.descent);
    }
    // Descriptors lie often enough (zero, positive descents, em-sized ascents): keep the box
    // within sane proportions of the em.
    if !(300.0..=1500.0).contains(&ascent) {
        ascent = 800.0;
    }
    if descent > 0.0 {
        descent = -descent;
    }
    if !(-600.0..=0.0).contains(&descent) || descent == 0.0 {
        descent = -200.0;
    }
    let _ = dict;
    Common {
        info: FontInfo {
            name,
            bold,
            italic,
            monospace,
        },
        ascent: ascent / 1000.0,
        descent: descent / 1000.0,
        descriptor,
        flags,
        std14,
    }
}

/// `ABCDEF+Name` → `Name`.
fn strip_subset(name: &str) -> &str {
    match name.split_once('+') {
        Some((tag, rest)) if tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()) => rest,
        _ => name,
    }
}

fn name_string(bytes: Option<&[u8]>) -> String {
    bytes
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Parse the embedded font program of a descriptor, if any.
fn font_program<'a>(
    pdf: &Pdf<'a>,
    descriptor: Option<Dict<'a>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<FontProgram> {
    let d = descriptor?;
    let (stream, kind) = if let Some(s) = pdf.get_in(d, b"FontFile").as_stream() {
        (s, FontFileKind::Type1)
    } else if let Some(s) = pdf.get_in(d, b"FontFile2").as_stream() {
        (s, FontFileKind::TrueType)
    } else if let Some(s) = pdf.get_in(d, b"FontFile3").as_stream() {
        let kind = match s.dict.get_name(b"Subtype") {
            Some(b"OpenType") => FontFileKind::OpenType,
            _ => FontFileKind::Cff,
        };
        (s, kind)
    } else {
        return None;
    };
    let data = match pdf.decode_stream(stream) {
        Ok(d) => d,
        Err(e) => {
            diags.push(Diagnostic::warning(
                Code::FontDamaged,
                format!("font program unreadable: {}", e.message),
            ));
            return None;
        }
    };
    match FontProgram::parse(kind, &data.data) {
        Ok(p) => Some(p),
        Err(e) => {
            diags.push(Diagnostic::warning(
                Code::FontDamaged,
                format!("font program unreadable: {e}"),
            ));
            None
        }
    }
}

/// Parse a `/ToUnicode` stream (or a predefined CMap name, seen in the wild).
fn to_unicode_cmap<'a>(pdf: &Pdf<'a>, dict: Dict<'a>, diags: &mut Vec<Diagnostic>) -> Option<CMap> {
    match pdf.get_in(dict, b"ToUnicode") {
        Object::Stream(s) => match pdf.decode_stream(s) {
            Ok(d) => match CMap::parse(&d.data, MAX_CMAP_ENTRIES) {
                Ok(c) => Some(c),
                Err(e) => {
                    diags.push(Diagnostic::warning(
                        Code::FontDamaged,
                        format!("ToUnicode CMap unreadable: {e}"),
                    ));
                    None
                }
            },
            Err(e) => {
                diags.push(Diagnostic::warning(
                    Code::FontDamaged,
                    format!("ToUnicode CMap unreadable: {}", e.message),
                ));
                None
            }
        },
        _ => None,
    }
}

// ------------------------------------------------------------------ simple fonts

fn load_simple<'a>(pdf: &Pdf<'a>, dict: Dict<'a>, type3: bool) -> Font {
    let mut diagnostics = Vec::new();
    let base_font = name_string(
        pdf.get_name(dict, b"BaseFont")
            .or_else(|| pdf.get_name(dict, b"Name")),
    );
    let descriptor = pdf.get_dict(dict, b"FontDescriptor");
    let mut c = common(
        pdf,
        dict,
        descriptor,
        if base_font.is_empty() && type3 {
            "Type3"
        } else {
            &base_font
        },
    );
    let program = if type3 {
        None
    } else {
        font_program(pdf, c.descriptor, &mut diagnostics)
    };
    let to_unicode = to_unicode_cmap(pdf, dict, &mut diagnostics);

    // Type3 glyph space → text space.
    let font_matrix = match dict
        .get(b"FontMatrix")
        .filter(|_| type3)
        .and_then(|m| pdf.matrix(m))
    {
        Some(m) => m,
        None => Matrix::new(0.001, 0.0, 0.0, 0.001, 0.0, 0.0),
    };
    if type3 {
        // A Type3 glyph space says nothing about where the em is; boxes are sized from the
        // estimated em below.
        c.ascent = 0.8;
        c.descent = -0.2;
    }

    // Encoding: base (explicit, built-in or standard) then /Differences.
    let symbolic = c.flags & 4 != 0;
    let enc_obj = pdf.get_in(dict, b"Encoding");
    let (explicit_base, differences) = match enc_obj {
        Object::Name(n) => (BaseEncoding::from_name(n.0), None),
        Object::Dict(d) => (
            pdf.get_name(d, b"BaseEncoding")
                .and_then(BaseEncoding::from_name),
            pdf.get_array(d, b"Differences"),
        ),
        _ => (None, None),
    };
    let builtin_from_program = program
        .as_ref()
        .is_some_and(|p| p.has_builtin_encoding() && !p.uses_standard_encoding());
    let std14_base = c.std14.map(|s| s.builtin_encoding());
    let is_truetype = program
        .as_ref()
        .is_some_and(|p| matches!(p.kind(), FontFileKind::TrueType | FontFileKind::OpenType));

    let mut names: [Option<&str>; 256] = [None; 256];
    let mut owned_names: Vec<(u8, String)> = Vec::new();
    // Without an explicit base: the program's built-in encoding, the symbol fonts' own, none
    // for symbolic TrueType (its cmap decides) and Type3, else StandardEncoding.
    let base = explicit_base.or(
        if matches!(
            std14_base,
            Some(BaseEncoding::Symbol | BaseEncoding::ZapfDingbats)
        ) && !builtin_from_program
        {
            std14_base
        } else if builtin_from_program || (is_truetype && symbolic) || type3 {
            None
        } else {
            Some(BaseEncoding::Standard)
        },
    );
    if let Some(base) = base {
        for (code, slot) in names.iter_mut().enumerate() {
            *slot = encoding_glyph(base, code as u8);
        }
    } else if let Some(p) = program.as_ref().filter(|_| builtin_from_program) {
        for code in 0..=255u8 {
            if let Some(n) = p.builtin_glyph_name(code) {
                owned_names.push((code, n.to_owned()));
            }
        }
    }
    if let Some(diffs) = differences {
        let mut code: i64 = 0;
        for item in diffs.iter().take(4096) {
            match pdf.resolve(*item) {
                Object::Int(i) => code = i,
                Object::Real(r) => code = r as i64,
                Object::Name(n) => {
                    if (0..256).contains(&code) {
                        owned_names.retain(|(c, _)| i64::from(*c) != code);
                        owned_names.push((code as u8, String::from_utf8_lossy(n.0).into_owned()));
                        names[code as usize] = None;
                    }
                    code += 1;
                }
                _ => {}
            }
        }
    }
    let mut glyph_names: Vec<Option<String>> = names.iter().map(|n| n.map(str::to_owned)).collect();
    for (code, name) in owned_names {
        glyph_names[code as usize] = Some(name);
    }

    // Widths.
    let mut widths = [0f32; 256];
    let first_char = pdf.get_i64(dict, b"FirstChar").unwrap_or(0);
    let missing = c
        .descriptor
        .and_then(|d| pdf.get_f64(d, b"MissingWidth"))
        .unwrap_or(0.0);
    let width_arr = pdf.get_array(dict, b"Widths");
    let scale = font_matrix.m[0];
    for (code, w) in widths.iter_mut().enumerate() {
        let from_array = width_arr.and_then(|a| {
            let i = code as i64 - first_char;
            (i >= 0)
                .then(|| a.get(i as usize))
                .flatten()
                .and_then(|o| pdf.resolve(*o).as_f64())
        });
        let v = match from_array {
            Some(v) => v * scale,
            None => {
                let from_std14 = c.std14.and_then(|s| {
                    let name = glyph_names[code].as_deref()?;
                    s.width(name)
                });
                match (from_std14, width_arr) {
                    (Some(v), None) => f64::from(v) / 1000.0,
                    _ => {
                        let from_program = program.as_ref().and_then(|p| {
                            let gid = p.gid_for_code(code as u8, None)?;
                            let adv = p.advance(gid)?;
                            Some(f64::from(adv) / f64::from(p.units_per_em().max(1)))
                        });
                        match (from_program, width_arr) {
                            (Some(v), None) => v,
                            _ => missing * scale,
                        }
                    }
                }
            }
        };
        *w = if v.is_finite() {
            v.clamp(-1.0e6, 1.0e6) as f32
        } else {
            0.0
        };
    }

    // Unicode per code.
    let lower_name = c.info.name.to_ascii_lowercase();
    let dingbats = lower_name.contains("dingbat")
        || lower_name.contains("zapf")
        || matches!(std14_base, Some(BaseEncoding::ZapfDingbats));
    let mut table = SimpleTable {
        text: String::new(),
        spans: [(0, 0); 256],
        widths,
        mapped: [false; 256],
    };
    let mut buf = String::new();
    #[allow(clippy::needless_range_loop)] // `code` is the character code, used in several tables
    for code in 0..256usize {
        buf.clear();
        let mut ok = false;
        if let Some(tu) = &to_unicode
            && tu.unicode(code as u32, 1, &mut buf)
        {
            ok = acceptable_unicode(&buf);
            if !ok {
                buf.clear();
            }
        }
        if !ok && let Some(name) = glyph_names[code].as_deref() {
            ok = glyph_unicode(name, dingbats, &mut buf);
        }
        if !ok && let Some(p) = &program {
            // TrueType and fonts without usable names: the font's own cmap and glyph names.
            let hint = glyph_names[code].as_deref().and_then(|n| {
                let mut s = String::new();
                glyph_name_to_unicode(n, &mut s)
                    .then(|| s.chars().next())
                    .flatten()
            });
            let gid = p
                .gid_for_code(code as u8, hint)
                .or_else(|| p.builtin_gid(code as u8));
            if let Some(gid) = gid {
                if let Some(ch) = p.unicode_of_glyph(gid) {
                    buf.push(ch);
                    ok = true;
                } else if let Some(n) = p.glyph_name(gid) {
                    ok = glyph_unicode(n, dingbats, &mut buf);
                }
            }
        }
        if !ok {
            // Nothing maps this code. Like pdftotext and MuPDF, take the code itself as Latin-1
            // when it is printable (often right for fonts with private glyph names); the glyph
            // stays flagged unmapped.
            buf.clear();
            match code as u8 {
                c @ (0x20..=0x7E | 0xA0..=0xFF) => buf.push(c as char),
                _ => buf.push('\u{FFFD}'),
            }
        }
        let start = table.text.len() as u32;
        let len = buf.len().min(255);
        let mut end = len;
        while !buf.is_char_boundary(end) {
            end -= 1;
        }
        table.text.push_str(&buf[..end]);
        table.spans[code] = (start, end as u8);
        table.mapped[code] = ok;
    }
    let em = if type3 {
        type3_em(&glyph_names, &widths, &font_matrix)
    } else {
        1.0
    };
    Font {
        info: c.info,
        ascent: c.ascent,
        descent: c.descent,
        vertical: false,
        em,
        decoder: Decoder::Simple(Box::new(table)),
        diagnostics,
    }
}

/// The em of a Type3 font in text space per unit of font size, guessed the way poppler does:
/// an `m` is about 0.6 em wide, another letter or any glyph about 0.5 em; then corrected by
/// the FontMatrix's aspect.
fn type3_em(names: &[Option<String>], widths: &[f32; 256], fm: &Matrix) -> f64 {
    let width = |code: usize| f64::from(widths[code]).abs();
    let one_char = |code: usize| {
        names[code]
            .as_deref()
            .filter(|n| n.len() == 1)
            .and_then(|n| n.chars().next())
    };
    let m = (0..256)
        .find(|&c| one_char(c) == Some('m') && width(c) > 0.0)
        .map(|c| width(c) / 0.6);
    let letter = || {
        (0..256)
            .find(|&c| one_char(c).is_some_and(|ch| ch.is_ascii_alphabetic()) && width(c) > 0.0)
            .map(|c| width(c) / 0.5)
    };
    let any = || {
        (0..256)
            .find(|&c| names[c].is_some() && width(c) > 0.0)
            .map(|c| width(c) / 0.5)
    };
    let mut em = m.or_else(letter).or_else(any).unwrap_or(1.0);
    let [a, _, _, d, _, _] = fm.m;
    if a != 0.0 && (d / a).is_finite() {
        em *= (d / a).abs();
    }
    if em.is_finite() && em > 1e-6 && em < 1e6 {
        em
    } else {
        1.0
    }
}

/// Unicode of a glyph name. The Zapf Dingbats names (`a1` … `a206`) mean dingbats only in a
/// dingbat font; elsewhere `a97` is the code 97, as TeX's Type3 bitmap fonts name glyphs.
fn glyph_unicode(name: &str, dingbats: bool, out: &mut String) -> bool {
    let zapf_style =
        name.len() > 1 && name.starts_with('a') && name[1..].bytes().all(|b| b.is_ascii_digit());
    if zapf_style && !dingbats {
        return numeric_glyph_name(name, out) || glyph_name_to_unicode(name, out);
    }
    glyph_name_to_unicode(name, out) || numeric_glyph_name(name, out)
}

/// poppler's fallback for glyph names such as `g3`, `G41`, `cid42`, `c65`, `Cdd`: a number
/// that is the character code in an ASCII-compatible encoding. Only printable results count.
fn numeric_glyph_name(name: &str, out: &mut String) -> bool {
    let bytes = name.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if !(1..=3).contains(&letters) {
        return false;
    }
    let digits = &name[letters..];
    if digits.is_empty() || digits.len() > 5 {
        return false;
    }
    // poppler: `Bxx`, `Cxx` and `Gxx` with two hex digits are hexadecimal, the rest decimal.
    let hex_style = letters == 1
        && matches!(bytes.first(), Some(b'B' | b'C' | b'G'))
        && digits.len() == 2
        && digits.bytes().all(|b| b.is_ascii_hexdigit());
    let value = if hex_style {
        u32::from_str_radix(digits, 16).ok()
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u32>().ok()
    } else {
        None
    };
    match value.and_then(char::from_u32) {
        Some(c) if (' '..='~').contains(&c) || ('\u{A1}'..='\u{FF}').contains(&c) => {
            out.push(c);
            true
        }
        _ => false,
    }
}

// ------------------------------------------------------------------ composite fonts

fn load_composite<'a>(pdf: &Pdf<'a>, dict: Dict<'a>) -> Font {
    let mut diagnostics = Vec::new();
    let base_font = name_string(pdf.get_name(dict, b"BaseFont"));
    let descendant = pdf
        .get_array(dict, b"DescendantFonts")
        .and_then(|a| a.first().copied())
        .and_then(|o| pdf.resolve(o).as_dict())
        .or_else(|| pdf.get_dict(dict, b"DescendantFonts"))
        .unwrap_or_default();
    let descriptor = pdf.get_dict(descendant, b"FontDescriptor");
    // Strip the CMap suffix some writers append ("Foo-Identity-H").
    let display_name = base_font
        .trim_end_matches("-Identity-H")
        .trim_end_matches("-Identity-V")
        .to_owned();
    let c = common(pdf, dict, descriptor, &display_name);

    let cmap: Arc<CMap> = match pdf.get_in(dict, b"Encoding") {
        Object::Name(n) => CMap::predefined(&String::from_utf8_lossy(n.0)).unwrap_or_else(|| {
            diagnostics.push(Diagnostic::warning(
                Code::FontDamaged,
                "unknown predefined CMap; Identity assumed",
            ));
            Arc::new(CMap::identity(false))
        }),
        Object::Stream(s) => {
            let base = match pdf.get_in(s.dict, b"UseCMap") {
                Object::Name(n) => CMap::predefined(&String::from_utf8_lossy(n.0)),
                _ => None,
            };
            match pdf.decode_stream(s) {
                Ok(d) => match CMap::parse_with_base(&d.data, MAX_CMAP_ENTRIES, base) {
                    Ok(m) => Arc::new(m),
                    Err(e) => {
                        diagnostics.push(Diagnostic::warning(
                            Code::FontDamaged,
                            format!("embedded CMap unreadable: {e}"),
                        ));
                        Arc::new(CMap::identity(false))
                    }
                },
                Err(e) => {
                    diagnostics.push(Diagnostic::warning(
                        Code::FontDamaged,
                        format!("embedded CMap unreadable: {}", e.message),
                    ));
                    Arc::new(CMap::identity(false))
                }
            }
        }
        _ => Arc::new(CMap::identity(false)),
    };
    let vertical = cmap.is_vertical();
    let to_unicode = to_unicode_cmap(pdf, dict, &mut diagnostics);
    let program = font_program(pdf, descriptor, &mut diagnostics);

    let (registry, ordering) = match pdf.get_dict(descendant, b"CIDSystemInfo") {
        Some(info) => (
            pdf.get_string(info, b"Registry").unwrap_or(b"").to_vec(),
            pdf.get_string(info, b"Ordering").unwrap_or(b"").to_vec(),
        ),
        None => match cmap.cid_system_info() {
            Some((r, o)) => (r.to_vec(), o.to_vec()),
            None => (Vec::new(), Vec::new()),
        },
    };
    // The CMap's collection is more trustworthy than a descendant saying "Identity".
    let (registry, ordering) = match cmap.cid_system_info() {
        Some((r, o)) if ordering.is_empty() || ordering == b"Identity" => (r.to_vec(), o.to_vec()),
        _ => (registry, ordering),
    };

    let default_width = pdf.get_f64(descendant, b"DW").unwrap_or(1000.0) as f32 / 1000.0;
    let widths = cid_widths(pdf, pdf.get_array(descendant, b"W"), false);
    let (default_vertical, vertical_widths) = if vertical {
        let dw2 = pdf.get_array(descendant, b"DW2").map(|a| {
            let mut v = Vec::new();
            pdf.numbers(a, &mut v);
            v
        });
        let dv = dw2.and_then(|v| v.get(1).copied()).unwrap_or(-1000.0) as f32 / 1000.0;
        (dv, cid_widths(pdf, pdf.get_array(descendant, b"W2"), true))
    } else {
        (-1.0, Vec::new())
    };
    let cid_to_gid = match pdf.get_in(descendant, b"CIDToGIDMap") {
        Object::Stream(s) => pdf.decode_stream(s).ok().map(|d| d.data.into_owned()),
        _ => None,
    };

    let composite = Composite {
        cmap,
        to_unicode,
        widths,
        default_width,
        vertical_widths,
        default_vertical,
        registry,
        ordering,
        program,
        cid_to_gid,
    };
    Font {
        info: c.info,
        ascent: c.ascent,
        descent: c.descent,
        vertical,
        em: 1.0,
        decoder: Decoder::Composite(Box::new(composite)),
        diagnostics,
    }
}

/// `/W` (or `/W2` when `vertical`): `c [w …]` and `c_first c_last w` forms, as sorted ranges.
fn cid_widths<'a>(
    pdf: &Pdf<'a>,
    w: Option<&'a [Object<'a>]>,
    vertical: bool,
) -> Vec<(u32, u32, f32)> {
    let mut out: Vec<(u32, u32, f32)> = Vec::new();
    let Some(w) = w else { return out };
    let num = |o: &Object<'a>| pdf.resolve(*o).as_f64();
    let mut i = 0;
    // Each iteration consumes at least one element.
    while i < w.len() && out.len() < MAX_WIDTH_ENTRIES {
        let Some(first) = num(&w[i]) else {
            i += 1;
            continue;
        };
        let first = first.max(0.0).min(f64::from(u32::MAX)) as u32;
        match w.get(i + 1).map(|o| pdf.resolve(*o)) {
            Some(Object::Array(list)) => {
                let step = if vertical { 3 } else { 1 };
                for (k, chunk) in list.chunks(step).enumerate() {
                    if out.len() >= MAX_WIDTH_ENTRIES {
                        break;
                    }
                    if let Some(v) = chunk.first().and_then(&num) {
                        let cid = first.saturating_add(k as u32);
                        out.push((cid, cid, v as f32 / 1000.0));
                    }
                }
                i += 2;
            }
            Some(o) => {
                let last = o
                    .as_f64()
                    .map(|v| v.max(0.0).min(f64::from(u32::MAX)) as u32);
                let value = w.get(i + 2).and_then(&num);
                if let (Some(last), Some(v)) = (last, value)
                    && last >= first
                {
                    out.push((first, last, v as f32 / 1000.0));
                }
                i += if vertical { 5 } else { 3 };
            }
            None => break,
        }
    }
    out.sort_by_key(|r| r.0);
    // Make ranges non-overlapping: a later-starting range is clipped by nothing, an earlier
    // one is clipped at the next start (the first definition of a CID wins in practice).
    let mut clean: Vec<(u32, u32, f32)> = Vec::with_capacity(out.len());
    for r in out {
        match clean.last().map(|p| p.1) {
            Some(prev_end) if r.0 <= prev_end => {
                if r.1 > prev_end {
                    clean.push((prev_end + 1, r.1, r.2));
                }
            }
            _ => clean.push(r),
        }
    }
    clean
}

/// A font used when text is shown without a (readable) font: Helvetica with Standard encoding.
pub(crate) fn fallback_font() -> Font {
    let std = standard14("Helvetica");
    let mut table = SimpleTable {
        text: String::new(),
        spans: [(0, 0); 256],
        widths: [0.5; 256],
        mapped: [false; 256],
    };
    let mut buf = String::new();
    for code in 0..256usize {
        buf.clear();
        let name = encoding_glyph(BaseEncoding::Standard, code as u8);
        let ok = name.is_some_and(|n| glyph_name_to_unicode(n, &mut buf));
        if let (Some(s), Some(n)) = (std, name)
            && let Some(w) = s.width(n)
        {
            table.widths[code] = f32::from(w) / 1000.0;
        }
        if !ok {
            buf.clear();
            buf.push('\u{FFFD}');
        }
        let start = table.text.len() as u32;
        table.text.push_str(&buf);
        table.spans[code] = (start, buf.len() as u8);
        table.mapped[code] = ok;
    }
    Font {
        info: FontInfo {
            name: "Helvetica".into(),
            bold: false,
            italic: false,
            monospace: false,
        },
        ascent: 0.718,
        descent: -0.207,
        vertical: false,
        em: 1.0,
        decoder: Decoder::Simple(Box::new(table)),
        diagnostics: vec![Diagnostic::warning(
            Code::FontDamaged,
            "text shown without a usable font; Helvetica assumed",
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_names() {
        let mut s = String::new();
        assert!(numeric_glyph_name("g65", &mut s));
        assert_eq!(s, "A");
        s.clear();
        assert!(numeric_glyph_name("G41", &mut s), "two hex digits");
        assert_eq!(s, "A");
        s.clear();
        assert!(
            !numeric_glyph_name("g3", &mut s),
            "control codes are not text"
        );
        assert!(!numeric_glyph_name("glyph12345678", &mut s));
        assert!(!numeric_glyph_name("abcd", &mut s));
    }

    #[test]
    fn subset_prefix_is_stripped() {
        assert_eq!(strip_subset("ABCDEF+Times-Roman"), "Times-Roman");
        assert_eq!(strip_subset("Abcdef+Foo"), "Abcdef+Foo");
        assert_eq!(strip_subset("Plain"), "Plain");
    }

    #[test]
    fn width_ranges_lookup() {
        let r = vec![(1, 3, 0.5), (10, 10, 0.25)];
        assert_eq!(lookup_range(&r, 2), Some(0.5));
        assert_eq!(lookup_range(&r, 10), Some(0.25));
        assert_eq!(lookup_range(&r, 5), None);
        assert_eq!(lookup_range(&r, 11), None);
    }
}
