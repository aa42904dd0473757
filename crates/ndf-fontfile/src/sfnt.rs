//! sfnt (TrueType / OpenType) font programs: the table directory, `head`, `maxp`, `hhea`,
//! `hmtx`, `post`, `name`, `cmap` and, for CFF-flavoured OpenType, the `CFF ` table.
//!
//! Each table is read on its own, with bounds-checked reads of the few fields needed, so a
//! broken `glyf` (or a missing `hhea`) does not lose the cmap.

use crate::cff::{self, Cff};
use crate::cmap::{self, Runs};
use crate::names::NameTable;
use crate::tables::MAC_GLYPH_NAMES;

/// Most table records read from a directory.
const MAX_TABLES: usize = 256;

fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Table lookup over the directory.
pub(crate) struct Tables<'a> {
    data: &'a [u8],
    /// (tag, offset, length), as many records as fit.
    records: Vec<([u8; 4], u32, u32)>,
}

impl<'a> Tables<'a> {
    /// Reads the table records that fit. Collections (`ttcf`) use their first face.
    pub(crate) fn new(data: &'a [u8]) -> Option<Self> {
        let mut records = Vec::new();
        let face = match data.get(..4)? {
            b"ttcf" => u32_at(data, 12)? as usize,
            _ => 0,
        };
        let n = usize::from(u16_at(data, face.checked_add(4)?)?).min(MAX_TABLES);
        for i in 0..n {
            let off = face + 12 + i * 16;
            let (Some(tag), Some(o), Some(l)) = (
                data.get(off..off + 4),
                u32_at(data, off + 8),
                u32_at(data, off + 12),
            ) else {
                break;
            };
            records.push(([tag[0], tag[1], tag[2], tag[3]], o, l));
        }
        if records.is_empty() {
            return None;
        }
        Some(Self { data, records })
    }

    /// A table's bytes; linear search, since broken fonts have unsorted directories. A table
    /// running past the end of the data is cut short rather than dropped.
    pub(crate) fn get(&self, tag: &[u8; 4]) -> Option<&'a [u8]> {
        let &(_, off, len) = self.records.iter().find(|r| &r.0 == tag)?;
        let start = off as usize;
        let end = start.saturating_add(len as usize).min(self.data.len());
        self.data.get(start..end).filter(|t| !t.is_empty())
    }

    pub(crate) fn has(&self, tag: &[u8; 4]) -> bool {
        self.records.iter().any(|r| &r.0 == tag)
    }
}

/// What an sfnt font program yields.
#[derive(Debug, Default)]
pub(crate) struct Sfnt {
    /// 0 when no table says.
    pub(crate) num_glyphs: u32,
    pub(crate) units_per_em: u16,
    /// Advance widths of the first `numberOfHMetrics` glyphs; later glyphs use the last one.
    pub(crate) advances: Vec<u16>,
    /// `post` glyph names.
    pub(crate) names: NameTable,
    pub(crate) unicode: Runs,
    /// (3,0): the glyph of each byte code, trying code, 0xF000, 0xF100 and 0xF200 + code.
    pub(crate) symbol: Option<Box<[u16; 256]>>,
    /// (1,0): the glyph of each byte code.
    pub(crate) mac: Option<Box<[u16; 256]>>,
    pub(crate) font_name: Option<Box<str>>,
    pub(crate) cff: Option<Cff>,
}

/// True for an sfnt whose outlines are CFF (an OpenType font rather than a TrueType one).
pub(crate) fn is_cff_flavoured(data: &[u8]) -> bool {
    data.starts_with(b"OTTO")
        || Tables::new(data).is_some_and(|t| t.has(b"CFF ") && !t.has(b"glyf"))
}

pub(crate) fn parse(data: &[u8]) -> Option<Sfnt> {
    let t = Tables::new(data)?;
    let mut s = Sfnt {
        // head.unitsPerEm (offset 18); valid values are 16..=16384.
        units_per_em: t
            .get(b"head")
            .and_then(|h| u16_at(h, 18))
            .filter(|u| (16..=16384).contains(u))
            .unwrap_or(1000),
        ..Sfnt::default()
    };
    // maxp.numGlyphs (offset 4).
    if let Some(n) = t.get(b"maxp").and_then(|m| u16_at(m, 4)) {
        s.num_glyphs = n.into();
    }
    if let Some(c) = t.get(b"CFF ") {
        s.cff = cff::parse(c);
        if s.num_glyphs == 0 {
            s.num_glyphs = s.cff.as_ref().map_or(0, |c| c.num_glyphs);
        }
    }
    if s.num_glyphs == 0 {
        s.num_glyphs = glyphs_from_loca(&t);
    }
    let bound = if s.num_glyphs == 0 {
        crate::MAX_GLYPHS as u32
    } else {
        s.num_glyphs
    };

    s.advances = advances(&t, bound);
    if let Some(post) = t.get(b"post") {
        s.names = post_names(post, bound);
        if s.num_glyphs == 0 {
            s.num_glyphs = s.names.len() as u32;
        }
    }
    s.font_name = t.get(b"name").and_then(postscript_name);

    if let Some(cm) = t.get(b"cmap") {
        let recs: Vec<cmap::Record> = cmap::records(cm).take(MAX_TABLES).collect();
        // Full-repertoire Unicode subtables first (they are supersets of the BMP ones), in
        // the order fontTools' getBestCmap uses.
        let rank = |r: &cmap::Record| match (r.platform, r.encoding) {
            (3, 10) => Some(0),
            (0, 6) => Some(1),
            (0, 4) => Some(2),
            (3, 1) => Some(3),
            (0, e) if e <= 3 => Some(7 - e),
            _ => None,
        };
        let mut unicode: Vec<&cmap::Record> = recs.iter().filter(|r| rank(r).is_some()).collect();
        unicode.sort_by_key(|r| rank(r));
        let mut budget = cmap::WORK_BUDGET;
        let mut tried: Vec<u32> = Vec::new();
        for r in unicode {
            // (0,3) and (3,1) usually share one subtable: decode it once.
            if tried.contains(&r.offset) {
                continue;
            }
            tried.push(r.offset);
            let runs = cmap::decode(cm, r.offset, bound, &mut budget);
            if !runs.is_empty() {
                s.unicode = runs;
                break;
            }
        }
        let mut byte_table = |platform, encoding, variants: &[u32]| {
            let r = recs
                .iter()
                .find(|r| r.platform == platform && r.encoding == encoding)?;
            let runs = cmap::decode(cm, r.offset, bound, &mut budget);
            if runs.is_empty() {
                return None;
            }
            let mut table = Box::new([0u16; 256]);
            for (code, slot) in (0u32..).zip(table.iter_mut()) {
                *slot = variants
                    .iter()
                    .find_map(|v| runs.lookup(v + code))
                    .unwrap_or(0);
            }
            Some(table)
        };
        s.symbol = byte_table(3, 0, &[0, 0xF000, 0xF100, 0xF200]);
        s.mac = byte_table(1, 0, &[0]);
    }
    Some(s)
}

fn glyphs_from_loca(t: &Tables<'_>) -> u32 {
    let (Some(head), Some(loca)) = (t.get(b"head"), t.get(b"loca")) else {
        return 0;
    };
    let entry = if u16_at(head, 50) == Some(1) { 4 } else { 2 };
    let n = (loca.len() / entry).saturating_sub(1);
    n.min(crate::MAX_GLYPHS) as u32
}

fn advances(t: &Tables<'_>, bound: u32) -> Vec<u16> {
    let (Some(hhea), Some(hmtx)) = (t.get(b"hhea"), t.get(b"hmtx")) else {
        return Vec::new();
    };
    // hhea.numberOfHMetrics (offset 34).
    let Some(number_of_metrics) = u16_at(hhea, 34) else {
        return Vec::new();
    };
    let n = u32::from(number_of_metrics).min(bound) as usize;
    // Each long metric is (advance u16, lsb i16); a truncated table keeps what fits.
    hmtx.chunks_exact(4)
        .take(n)
        .map(|m| u16::from_be_bytes([m[0], m[1]]))
        .collect()
}

/// Glyph names of a `post` table (formats 1, 2 and 2.5; format 3 has none).
fn post_names(post: &[u8], bound: u32) -> NameTable {
    let bound = bound as usize;
    let mut names = NameTable::with_capacity(0);
    match u32_at(post, 0) {
        Some(0x0001_0000) => {
            for n in MAC_GLYPH_NAMES.iter().take(bound) {
                names.push(Some(n));
            }
        }
        Some(0x0002_0000) => {
            let count = usize::from(u16_at(post, 32).unwrap_or(0)).min(bound);
            let indices = post.get(34..).unwrap_or_default();
            let strings_start = 34 + usize::from(u16_at(post, 32).unwrap_or(0)) * 2;
            // The Pascal strings, read once (linear), then indexed.
            let mut strings: Vec<&[u8]> = Vec::new();
            let mut pos = strings_start;
            while strings.len() < crate::MAX_GLYPHS {
                let Some(&len) = post.get(pos) else { break };
                let Some(s) = post.get(pos + 1..pos + 1 + usize::from(len)) else {
                    break;
                };
                strings.push(s);
                pos += 1 + usize::from(len);
            }
            names = NameTable::with_capacity(count);
            for ix in indices.chunks_exact(2).take(count) {
                let ix = usize::from(u16::from_be_bytes([ix[0], ix[1]]));
                match MAC_GLYPH_NAMES.get(ix) {
                    Some(n) => names.push(Some(n)),
                    None => names.push_bytes(strings.get(ix - MAC_GLYPH_NAMES.len()).copied()),
                }
            }
        }
        Some(0x0002_5000) => {
            let count = usize::from(u16_at(post, 32).unwrap_or(0)).min(bound);
            let offsets = post.get(34..).unwrap_or_default();
            for (gid, &off) in offsets.iter().take(count).enumerate() {
                let ix = gid as i64 + i64::from(off as i8);
                let name = usize::try_from(ix)
                    .ok()
                    .and_then(|ix| MAC_GLYPH_NAMES.get(ix));
                names.push(name.copied());
            }
        }
        _ => {}
    }
    names
}

/// The PostScript name (name ID 6) of a `name` table: UTF-16BE for the Unicode and Windows
/// platforms, ASCII for Macintosh.
fn postscript_name(data: &[u8]) -> Option<Box<str>> {
    let count = usize::from(u16_at(data, 2)?).min(1024);
    let strings = usize::from(u16_at(data, 4)?);
    for i in 0..count {
        let rec = 6 + i * 12;
        let (Some(platform), Some(name_id), Some(len), Some(off)) = (
            u16_at(data, rec),
            u16_at(data, rec + 6),
            u16_at(data, rec + 8),
            u16_at(data, rec + 10),
        ) else {
            break;
        };
        if name_id != 6 || len > 255 {
            continue;
        }
        let start = strings + usize::from(off);
        let Some(bytes) = data.get(start..start + usize::from(len)) else {
            continue;
        };
        let s = match platform {
            0 | 3 => {
                let units = bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]));
                char::decode_utf16(units)
                    .collect::<Result<String, _>>()
                    .ok()
            }
            1 if bytes.is_ascii() => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        };
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            return Some(s.into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_format2() {
        let mut p = vec![0, 2, 0, 0];
        p.resize(32, 0);
        p.extend(4u16.to_be_bytes());
        for ix in [0u16, 36, 258, 259] {
            p.extend(ix.to_be_bytes());
        }
        p.extend(b"\x03foo\x04bar1");
        let names = post_names(&p, 100);
        assert_eq!(names.len(), 4);
        assert_eq!(names.get(0), Some(".notdef"));
        assert_eq!(names.get(1), Some("A"));
        assert_eq!(names.get(2), Some("foo"));
        assert_eq!(names.get(3), Some("bar1"));
        assert_eq!(post_names(&p, 2).len(), 2);
        // Truncated strings: the missing name is None, nothing panics.
        let names = post_names(&p[..p.len() - 2], 100);
        assert_eq!(names.get(3), None);
    }
}
