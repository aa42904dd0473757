//! CMaps: the ToUnicode and embedded CMap parser, the predefined CJK CMaps and CID-to-Unicode tables.
//!
//! - [`CMap::parse`] reads CMap programs found in PDFs (ToUnicode CMaps and the
//!   embedded encoding CMaps of Type0 fonts), leniently and within a bound.
//! - [`CMap::predefined`] gives the CMaps predefined by ISO 32000 (Identity-H/V
//!   and Adobe's CJK CMaps), decoded lazily from compact embedded tables.
//! - [`cid_to_unicode`] maps CIDs of the Adobe-GB1, -CNS1, -Japan1 and -Korea1
//!   character collections to Unicode, for Type0 fonts without a ToUnicode.
//!
//! Lookups by character code are keyed by `(length in bytes, code value)`:
//! sorted disjoint ranges per code length, found by binary search, with no
//! allocation.

mod cid2uni;
mod lexer;
mod paint;
mod parse;
mod predefined;

use std::fmt;
use std::sync::Arc;

pub use cid2uni::cid_to_unicode;
use paint::{Span, find};
pub use predefined::predefined_names;

/// Most codespace ranges kept per CMap (real CMaps declare fewer than ten).
pub(crate) const MAX_CODESPACE: usize = 64;
/// Longest Unicode destination kept for one code, in UTF-16 units.
pub(crate) const MAX_DEST_UNITS: usize = 256;
/// Deepest `usecmap` chain followed.
pub(crate) const MAX_DEPTH: u8 = 8;

/// One character code read by [`CMap::next_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRead {
    /// The code value: the `len` bytes read, big-endian.
    pub code: u32,
    /// Bytes consumed (1..=4; 0 only for empty input).
    pub len: u8,
    /// Whether the bytes fell in a codespace range.
    pub matched: bool,
}

/// Why a CMap could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum CMapError {
    /// The data holds no CMap structure at all (no codespace, mapping,
    /// `begincmap` or resolvable `usecmap`).
    #[error("not a CMap program")]
    NotACMap,
}

/// How the code bytes of a CMap relate to Unicode (predefined CMaps only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// Arbitrary byte codes, looked up as `(len, code)`.
    Raw,
    Ucs2,
    Utf16,
    Utf32,
    Utf8,
}

/// A codespace range: each code byte must lie within the bounds of its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Codespace {
    pub(crate) len: u8,
    pub(crate) lo: [u8; 4],
    pub(crate) hi: [u8; 4],
}

impl Codespace {
    fn contains(&self, bytes: &[u8]) -> bool {
        bytes.len() == usize::from(self.len)
            && bytes
                .iter()
                .zip(self.lo.iter().zip(self.hi.iter()))
                .all(|(b, (lo, hi))| lo <= b && b <= hi)
    }
}

/// Codes `lo..=hi` map to CIDs `cid..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CidRange {
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) cid: u32,
}

impl Span for CidRange {
    fn lo(&self) -> u32 {
        self.lo
    }
    fn hi(&self) -> u32 {
        self.hi
    }
    fn restrict(&self, lo: u32, hi: u32) -> Option<Self> {
        let cid = self.cid.checked_add(lo.checked_sub(self.lo)?)?;
        Some(Self { lo, hi, cid })
    }
}

/// A notdefrange: every code of `lo..=hi` maps to the same CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotdefRange(pub(crate) CidRange);

impl Span for NotdefRange {
    fn lo(&self) -> u32 {
        self.0.lo
    }
    fn hi(&self) -> u32 {
        self.0.hi
    }
    fn restrict(&self, lo: u32, hi: u32) -> Option<Self> {
        Some(Self(CidRange { lo, hi, ..self.0 }))
    }
}

/// Codes `lo..=hi` map to the UTF-16 destination `units[start..start + len]`,
/// incremented by `code - origin` (see [`write_dest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BfRange {
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) origin: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Span for BfRange {
    fn lo(&self) -> u32 {
        self.lo
    }
    fn hi(&self) -> u32 {
        self.hi
    }
    fn restrict(&self, lo: u32, hi: u32) -> Option<Self> {
        Some(Self { lo, hi, ..*self })
    }
}

/// A CMap: codespace ranges, code -> CID mappings (encoding CMaps) and
/// code -> Unicode mappings (ToUnicode CMaps).
pub struct CMap {
    pub(crate) name: Option<Box<str>>,
    pub(crate) vertical: bool,
    pub(crate) kind: CodeKind,
    pub(crate) registry: Option<Box<[u8]>>,
    pub(crate) ordering: Option<Box<[u8]>>,
    pub(crate) codespace: Vec<Codespace>,
    /// Bit `n - 1` set when some codespace range of length `n` admits the first byte.
    pub(crate) first_byte_lens: [u8; 256],
    /// Bit `n - 1` set when mappings with `n`-byte codes exist (used without codespace).
    pub(crate) mapped_lens: u8,
    /// Per code length 1..=4; for the Unicode kinds only index 3, keyed by scalar value.
    pub(crate) cids: [Vec<CidRange>; 4],
    pub(crate) notdefs: [Vec<NotdefRange>; 4],
    pub(crate) bfs: [Vec<BfRange>; 4],
    pub(crate) units: Vec<u16>,
    pub(crate) parent: Option<Arc<CMap>>,
    pub(crate) depth: u8,
    pub(crate) truncated: bool,
}

impl fmt::Debug for CMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn count<T>(v: &[Vec<T>; 4]) -> usize {
            v.iter().map(Vec::len).sum()
        }
        f.debug_struct("CMap")
            .field("name", &self.name)
            .field("vertical", &self.vertical)
            .field("kind", &self.kind)
            .field("codespace", &self.codespace.len())
            .field("cid_ranges", &count(&self.cids))
            .field("notdef_ranges", &count(&self.notdefs))
            .field("bf_ranges", &count(&self.bfs))
            .field("parent", &self.parent.as_ref().map(|p| p.name()))
            .field("truncated", &self.truncated)
            .finish()
    }
}

impl CMap {
    pub(crate) fn empty() -> Self {
        Self {
            name: None,
            vertical: false,
            kind: CodeKind::Raw,
            registry: None,
            ordering: None,
            codespace: Vec::new(),
            first_byte_lens: [0; 256],
            mapped_lens: 0,
            cids: Default::default(),
            notdefs: Default::default(),
            bfs: Default::default(),
            units: Vec::new(),
            parent: None,
            depth: 0,
            truncated: false,
        }
    }

    /// Parse a CMap program. Lenient: unknown operators and junk are skipped;
    /// `usecmap` naming a predefined CMap is resolved (an unknown name is
    /// ignored). Bounded: at most `max_entries` mapping records (bfchar/cidchar
    /// entries, ranges counting 1 each, and bfrange array elements) are kept;
    /// the rest are dropped and [`CMap::is_truncated`] reports it. Ranges are
    /// stored as ranges, never expanded. Linear in `data.len()` plus
    /// O(n log n) in the kept records.
    pub fn parse(data: &[u8], max_entries: usize) -> Result<CMap, CMapError> {
        parse::parse(data, max_entries, None)
    }

    /// [`CMap::parse`] with a base CMap, for a CMap stream whose dictionary
    /// names another CMap in `/UseCMap`: unmapped codes fall back to `base`,
    /// whose codespace ranges are inherited. A base already `MAX_DEPTH` (8)
    /// levels deep is ignored.
    pub fn parse_with_base(
        data: &[u8],
        max_entries: usize,
        base: Option<Arc<CMap>>,
    ) -> Result<CMap, CMapError> {
        parse::parse(data, max_entries, base)
    }

    /// A predefined CMap by name (Identity-H, Identity-V, and the Adobe CJK
    /// ones of ISO 32000 and more); `None` if unknown. Decoded on first use,
    /// then shared.
    pub fn predefined(name: &str) -> Option<Arc<CMap>> {
        predefined::get(name)
    }

    /// The Identity CMap: 2-byte codespace `<0000>-<FFFF>`, CID = code.
    pub fn identity(vertical: bool) -> CMap {
        let mut m = CMap::empty();
        m.name = Some(if vertical { "Identity-V" } else { "Identity-H" }.into());
        m.vertical = vertical;
        m.registry = Some(b"Adobe".as_slice().into());
        m.ordering = Some(b"Identity".as_slice().into());
        m.set_codespace(vec![Codespace {
            len: 2,
            lo: [0; 4],
            hi: [0xFF, 0xFF, 0, 0],
        }]);
        m.cids[1] = vec![CidRange {
            lo: 0,
            hi: 0xFFFF,
            cid: 0,
        }];
        m.mapped_lens = 0b10;
        m
    }

    /// The `/CMapName`, if declared (always set for predefined CMaps).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True for vertical writing mode (`/WMode 1`).
    pub fn is_vertical(&self) -> bool {
        self.vertical
    }

    /// True when more than `max_entries` mapping records were found and some dropped.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// `/CIDSystemInfo` Registry and Ordering (e.g. `Adobe`, `Japan1`), if known.
    pub fn cid_system_info(&self) -> Option<(&[u8], &[u8])> {
        match (&self.registry, &self.ordering) {
            (Some(r), Some(o)) => Some((r, o)),
            _ => self.parent.as_ref().and_then(|p| p.cid_system_info()),
        }
    }

    /// True when codespace ranges are known (declared, inherited or predefined).
    pub fn has_codespace(&self) -> bool {
        !self.codespace.is_empty()
    }

    /// True for predefined CMaps whose codes are themselves Unicode (UCS-2,
    /// UTF-16, UTF-32 or UTF-8): the `Uni*` CMaps, or a CMap using one.
    pub fn codes_are_unicode(&self) -> bool {
        self.kind != CodeKind::Raw || self.parent.as_ref().is_some_and(|p| p.codes_are_unicode())
    }

    pub(crate) fn set_codespace(&mut self, ranges: Vec<Codespace>) {
        self.first_byte_lens = [0; 256];
        for r in &ranges {
            let bit = 1u8 << (r.len.clamp(1, 4) - 1);
            for b in r.lo[0]..=r.hi[0] {
                if let Some(m) = self.first_byte_lens.get_mut(usize::from(b)) {
                    *m |= bit;
                }
            }
        }
        self.codespace = ranges;
    }

    /// Read the next character code from `bytes` using the codespace ranges
    /// (1-4 bytes, shortest match first). If no range matches, follow the PDF
    /// 2.0 rule (consume the length of the shortest range whose first byte
    /// matches, else 1 byte, never more than available) with `matched: false`.
    /// Without codespace ranges, the code lengths used by the mappings decide
    /// (preferring a length whose code is mapped). Never returns `len` 0 for
    /// non-empty input.
    pub fn next_code(&self, bytes: &[u8]) -> CodeRead {
        let Some(&b0) = bytes.first() else {
            return CodeRead {
                code: 0,
                len: 0,
                matched: false,
            };
        };
        if !self.codespace.is_empty() {
            let mask = self.first_byte_lens[usize::from(b0)];
            for n in 1..=4u8 {
                if mask & (1 << (n - 1)) == 0 {
                    continue;
                }
                let Some(head) = bytes.get(..usize::from(n)) else {
                    break;
                };
                if self.codespace.iter().any(|r| r.contains(head)) {
                    return read(bytes, n, true);
                }
            }
            let shortest = if mask == 0 {
                1
            } else {
                mask.trailing_zeros() as u8 + 1
            };
            return read(bytes, shortest, false);
        }
        if self.mapped_lens != 0 {
            let mut first_fit = None;
            for n in 1..=4u8 {
                if self.mapped_lens & (1 << (n - 1)) == 0 || usize::from(n) > bytes.len() {
                    continue;
                }
                let r = read(bytes, n, true);
                if self.has_mapping(r.code, n) {
                    return r;
                }
                first_fit.get_or_insert(r);
            }
            if let Some(r) = first_fit {
                return r;
            }
            let shortest = self.mapped_lens.trailing_zeros() as u8 + 1;
            return read(bytes, shortest, false);
        }
        if let Some(p) = &self.parent {
            return p.next_code(bytes);
        }
        read(bytes, 1, false)
    }

    fn has_mapping(&self, code: u32, len: u8) -> bool {
        let i = usize::from(len.saturating_sub(1));
        self.bfs.get(i).is_some_and(|v| find(v, code).is_some())
            || self.cids.get(i).is_some_and(|v| find(v, code).is_some())
    }

    /// Encoding CMaps: code -> CID (cidchar/cidrange, then the `usecmap`
    /// parent; a notdefrange covering the code gives its CID as fallback);
    /// `None` when unmapped.
    pub fn cid(&self, code: u32, len: u8) -> Option<u32> {
        if !(1..=4).contains(&len) {
            return None;
        }
        self.cid_mapped(code, len, 0)
            .or_else(|| self.cid_notdef(code, len, 0))
    }

    fn cid_mapped(&self, code: u32, len: u8, depth: u8) -> Option<u32> {
        let own = match self.kind {
            CodeKind::Raw => lookup_cid(self.cids.get(usize::from(len.wrapping_sub(1)))?, code),
            kind => scalar_of(kind, code, len).and_then(|s| lookup_cid(&self.cids[3], s)),
        };
        own.or_else(|| {
            let p = self.parent.as_ref().filter(|_| depth < MAX_DEPTH)?;
            p.cid_mapped(code, len, depth + 1)
        })
    }

    fn cid_notdef(&self, code: u32, len: u8, depth: u8) -> Option<u32> {
        let own = find(self.notdefs.get(usize::from(len.wrapping_sub(1)))?, code);
        own.map(|r| r.0.cid).or_else(|| {
            let p = self.parent.as_ref().filter(|_| depth < MAX_DEPTH)?;
            p.cid_notdef(code, len, depth + 1)
        })
    }

    /// ToUnicode CMaps: code -> Unicode text, appended to `out`. Destinations
    /// are UTF-16BE (surrogate pairs combined, invalid units -> U+FFFD). In a
    /// bfrange with a string destination, code `lo + k` maps to the
    /// destination incremented by `k`: a single character as a code point,
    /// longer text on its last UTF-16 unit with carry into the previous unit
    /// (as pdf.js does). Codes are matched by `(len, code)` first; if that
    /// misses, the same value at another length (some ToUnicode CMaps write
    /// 1-byte codes as `<0041>`). Returns false when unmapped.
    pub fn unicode(&self, code: u32, len: u8, out: &mut String) -> bool {
        if (1..=4).contains(&len) && self.write_bf(code, len, out, 0) {
            return true;
        }
        (1..=4u8).any(|l| l != len && self.write_bf(code, l, out, 0))
    }

    fn write_bf(&self, code: u32, len: u8, out: &mut String, depth: u8) -> bool {
        if let Some(r) = self
            .bfs
            .get(usize::from(len.wrapping_sub(1)))
            .and_then(|v| find(v, code))
        {
            let start = r.start as usize;
            let units = self
                .units
                .get(start..start.saturating_add(r.len as usize))
                .unwrap_or_default();
            write_dest(units, code.wrapping_sub(r.origin), out);
            return true;
        }
        match &self.parent {
            Some(p) if depth < MAX_DEPTH => p.write_bf(code, len, out, depth + 1),
            _ => false,
        }
    }

    /// For CMaps whose codes are Unicode ([`CMap::codes_are_unicode`]): the
    /// character a code stands for, appended to `out`; false when the code is
    /// not a valid character in the CMap's encoding.
    pub fn code_to_unicode(&self, code: u32, len: u8, out: &mut String) -> bool {
        let kind = match self.kind {
            CodeKind::Raw => match &self.parent {
                Some(p) => return p.code_to_unicode(code, len, out),
                None => return false,
            },
            k => k,
        };
        match scalar_of(kind, code, len).and_then(char::from_u32) {
            Some(c) => {
                out.push(c);
                true
            }
            None => false,
        }
    }
}

/// `n` bytes (fewer if not available, at least 1) of non-empty `bytes` as a code.
fn read(bytes: &[u8], n: u8, matched: bool) -> CodeRead {
    let n = usize::from(n).clamp(1, bytes.len().clamp(1, 4));
    let code = bytes
        .iter()
        .take(n)
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    CodeRead {
        code,
        len: n as u8,
        matched,
    }
}

#[inline]
fn lookup_cid(ranges: &[CidRange], code: u32) -> Option<u32> {
    let r = find(ranges, code)?;
    r.cid.checked_add(code - r.lo)
}

/// The Unicode scalar a code of a Unicode-kind CMap stands for.
fn scalar_of(kind: CodeKind, code: u32, len: u8) -> Option<u32> {
    match (kind, len) {
        (CodeKind::Ucs2, 2) => Some(code),
        (CodeKind::Utf16, 2) => (!(0xD800..=0xDFFF).contains(&code)).then_some(code),
        (CodeKind::Utf16, 4) => {
            let (hi, lo) = (code >> 16, code & 0xFFFF);
            ((0xD800..=0xDBFF).contains(&hi) && (0xDC00..=0xDFFF).contains(&lo))
                .then(|| 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
        }
        (CodeKind::Utf32, 4) => Some(code),
        (CodeKind::Utf8, 1..=4) => {
            let bytes = code.to_be_bytes();
            let seq = bytes.get(4 - usize::from(len)..)?;
            let s = std::str::from_utf8(seq).ok()?;
            let mut chars = s.chars();
            let c = chars.next()?;
            chars.next().is_none().then_some(u32::from(c))
        }
        _ => None,
    }
}

/// Appends the UTF-16 destination `units`, incremented by `offset`.
fn write_dest(units: &[u16], offset: u32, out: &mut String) {
    if offset == 0 {
        decode_utf16(units.iter().copied(), out);
        return;
    }
    // A single character (one unit or one surrogate pair): step its code point.
    let single = match units {
        [u] if !(0xD800..=0xDFFF).contains(u) => Some(u32::from(*u)),
        [hi @ 0xD800..=0xDBFF, lo @ 0xDC00..=0xDFFF] => {
            Some(0x10000 + ((u32::from(*hi) - 0xD800) << 10) + (u32::from(*lo) - 0xDC00))
        }
        _ => None,
    };
    if let Some(cp) = single {
        let c = cp
            .checked_add(offset)
            .and_then(char::from_u32)
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        out.push(c);
        return;
    }
    let Some((&last, head)) = units.split_last() else {
        return;
    };
    let sum = u64::from(last) + u64::from(offset);
    let new_last = (sum & 0xFFFF) as u16;
    let carry = (sum >> 16) as u16; // truncation intended: carry wraps like the unit
    match head.split_last() {
        Some((&prev, rest)) => decode_utf16(
            rest.iter()
                .copied()
                .chain([prev.wrapping_add(carry), new_last]),
            out,
        ),
        None => decode_utf16(std::iter::once(new_last), out),
    }
}

fn decode_utf16(units: impl Iterator<Item = u16>, out: &mut String) {
    for c in char::decode_utf16(units) {
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
}

#[cfg(test)]
mod tests;
