//! A small, bounded parser for bare CFF (version 1) font programs: the header, the Name, Top
//! DICT and String INDEXes, the Top DICT operators that matter for text extraction, the charset
//! (predefined or custom) and the encoding (predefined or custom, with supplements).

use crate::names::NameTable;
use crate::tables::{
    CFF_EXPERT_CHARSET, CFF_EXPERT_ENCODING, CFF_EXPERT_SUBSET_CHARSET, CFF_STANDARD_STRINGS,
};

/// Number of predefined standard strings (SIDs below this index the standard table).
const N_STD_STRINGS: usize = 391;
/// Deepest DICT operand stack (CFF allows 48).
const MAX_OPERANDS: usize = 48;
/// Longest real number, in characters, that is parsed (longer ones read as 0).
const MAX_REAL_CHARS: usize = 40;

fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// A CFF INDEX: `count` objects addressed by 1-based offsets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Index<'a> {
    count: usize,
    off_size: usize,
    offsets: &'a [u8],
    /// The object data (possibly truncated): offset 1 is `data[0]`.
    data: &'a [u8],
}

impl<'a> Index<'a> {
    /// Reads the INDEX at `pos`; returns it and the position just after it.
    pub(crate) fn read(d: &'a [u8], pos: usize) -> Option<(Self, usize)> {
        let count = usize::from(u16_at(d, pos)?);
        if count == 0 {
            return Some((Self::default(), pos + 2));
        }
        let off_size = usize::from(*d.get(pos + 2)?);
        if !(1..=4).contains(&off_size) {
            return None;
        }
        let offs_start = pos + 3;
        let offs_len = (count + 1) * off_size;
        let offsets = d.get(offs_start..offs_start + offs_len)?;
        let data_start = offs_start + offs_len;
        let mut idx = Self {
            count,
            off_size,
            offsets,
            data: &[],
        };
        let last = idx.offset(count)?;
        let end = data_start.checked_add(last.checked_sub(1)?)?;
        // Lenient: a truncated INDEX keeps the objects that are complete.
        idx.data = d.get(data_start..end.min(d.len())).unwrap_or_default();
        Some((idx, end))
    }

    fn offset(&self, i: usize) -> Option<usize> {
        let start = i.checked_mul(self.off_size)?;
        let b = self.offsets.get(start..start + self.off_size)?;
        Some(b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn get(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.count {
            return None;
        }
        let a = self.offset(i)?.checked_sub(1)?;
        let b = self.offset(i + 1)?.checked_sub(1)?;
        self.data.get(a..b)
    }
}

/// One DICT number.
fn read_number(d: &[u8], pos: &mut usize) -> Option<f64> {
    let b0 = *d.get(*pos)?;
    *pos += 1;
    let v = match b0 {
        28 => {
            let v = i16::from_be_bytes([*d.get(*pos)?, *d.get(*pos + 1)?]);
            *pos += 2;
            f64::from(v)
        }
        29 => {
            let b = d.get(*pos..*pos + 4)?;
            *pos += 4;
            f64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        30 => read_real(d, pos),
        32..=246 => f64::from(i32::from(b0) - 139),
        247..=250 => {
            let b1 = *d.get(*pos)?;
            *pos += 1;
            f64::from((i32::from(b0) - 247) * 256 + i32::from(b1) + 108)
        }
        251..=254 => {
            let b1 = *d.get(*pos)?;
            *pos += 1;
            f64::from(-(i32::from(b0) - 251) * 256 - i32::from(b1) - 108)
        }
        _ => return None,
    };
    Some(v)
}

/// A BCD real (operator 30); consumes through the 0xF nibble or the end of the data.
fn read_real(d: &[u8], pos: &mut usize) -> f64 {
    let mut buf = [0u8; MAX_REAL_CHARS];
    let mut n = 0usize;
    let mut overflow = false;
    let mut push = |s: &[u8]| {
        for &c in s {
            if n < MAX_REAL_CHARS {
                buf[n] = c;
                n += 1;
            } else {
                overflow = true;
            }
        }
    };
    'outer: while let Some(&b) = d.get(*pos) {
        *pos += 1;
        for nib in [b >> 4, b & 0xF] {
            match nib {
                0..=9 => push(&[b'0' + nib]),
                0xA => push(b"."),
                0xB => push(b"E"),
                0xC => push(b"E-"),
                0xE => push(b"-"),
                0xF => break 'outer,
                _ => {}
            }
        }
    }
    if overflow {
        return 0.0;
    }
    std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// Calls `f(operator, operands)` for each operator of a DICT. Two-byte operators are 1200 + b1.
fn walk_dict(d: &[u8], mut f: impl FnMut(u16, &[f64])) {
    let mut stack = [0f64; MAX_OPERANDS];
    let mut n = 0usize;
    let mut pos = 0usize;
    while let Some(&b0) = d.get(pos) {
        if b0 <= 21 {
            pos += 1;
            let op = if b0 == 12 {
                let Some(&b1) = d.get(pos) else { return };
                pos += 1;
                1200 + u16::from(b1)
            } else {
                u16::from(b0)
            };
            f(op, &stack[..n]);
            n = 0;
        } else if matches!(b0, 22..=27 | 31 | 255) {
            // Reserved byte: skip it and drop the operands it interrupted.
            pos += 1;
            n = 0;
        } else if let Some(v) = read_number(d, &mut pos) {
            if n < MAX_OPERANDS {
                stack[n] = v;
                n += 1;
            }
        } else {
            return; // Truncated number.
        }
    }
}

/// The CID-keyed part of a CFF font.
#[derive(Debug, Default)]
pub(crate) struct CidInfo {
    pub(crate) registry: Box<str>,
    pub(crate) ordering: Box<str>,
    pub(crate) supplement: i32,
    /// CID of each GID.
    pub(crate) gid_to_cid: Vec<u16>,
    /// GIDs sorted by (CID, GID), for CID -> GID lookups.
    pub(crate) by_cid: Vec<u16>,
}

impl CidInfo {
    pub(crate) fn gid_for_cid(&self, cid: u32) -> Option<u16> {
        let cid = u16::try_from(cid).ok()?;
        let cid_of = |g: u16| self.gid_to_cid.get(usize::from(g)).copied();
        let pos = self
            .by_cid
            .partition_point(|&g| cid_of(g).is_some_and(|c| c < cid));
        let &g = self.by_cid.get(pos)?;
        (cid_of(g) == Some(cid)).then_some(g)
    }
}

/// What a bare CFF font program yields.
#[derive(Debug, Default)]
pub(crate) struct Cff {
    pub(crate) num_glyphs: u32,
    pub(crate) names: NameTable,
    /// Built-in encoding (custom or Expert): glyph name and GID per code.
    pub(crate) encoding: Option<(NameTable, Box<[u16; 256]>)>,
    pub(crate) standard_encoding: bool,
    pub(crate) cid: Option<CidInfo>,
    pub(crate) font_name: Option<Box<str>>,
    pub(crate) font_matrix: Option<[f64; 6]>,
}

#[derive(Default)]
struct TopDict {
    charset: Option<usize>,
    encoding: Option<usize>,
    charstrings: Option<usize>,
    ros: Option<(u16, u16, i32)>,
    font_matrix: Option<[f64; 6]>,
}

fn to_offset(v: f64) -> Option<usize> {
    (0.0..=f64::from(u32::MAX))
        .contains(&v)
        .then_some(v as usize)
}

fn to_sid(v: f64) -> Option<u16> {
    (0.0..=65535.0).contains(&v).then_some(v as u16)
}

fn parse_top_dict(d: &[u8]) -> TopDict {
    let mut t = TopDict::default();
    walk_dict(d, |op, args| match (op, args) {
        (15, [.., v]) => t.charset = to_offset(*v),
        (16, [.., v]) => t.encoding = to_offset(*v),
        (17, [.., v]) => t.charstrings = to_offset(*v),
        (1230, [r, o, s, ..]) => {
            if let (Some(r), Some(o)) = (to_sid(*r), to_sid(*o)) {
                t.ros = Some((r, o, s.clamp(-1e9, 1e9) as i32));
            }
        }
        (1207, [a, b, c, d, e, f, ..]) => t.font_matrix = Some([*a, *b, *c, *d, *e, *f]),
        _ => {}
    });
    t
}

/// String of a SID: standard strings, then the font's String INDEX.
fn sid_str<'a>(strings: &Index<'a>, sid: u16) -> Option<&'a [u8]> {
    let sid = usize::from(sid);
    match CFF_STANDARD_STRINGS.get(sid) {
        Some(s) => Some(s.as_bytes()),
        None => strings.get(sid - N_STD_STRINGS),
    }
}

/// GID -> SID (or CID) for the first `n` glyphs; entries the charset does not cover stay 0.
fn read_charset(d: &[u8], offset: usize, n: usize, cid_keyed: bool) -> Vec<u16> {
    let mut sids = vec![0u16; n];
    let predefined: Option<&[u16]> = match (offset, cid_keyed) {
        (0..=2, true) => {
            // Nonsense for a CID font; the common repair is the identity.
            for (g, s) in sids.iter_mut().enumerate() {
                *s = u16::try_from(g).unwrap_or(0);
            }
            return sids;
        }
        (0, false) => {
            // ISOAdobe: SID = GID for GIDs 0..=228.
            for (g, s) in sids.iter_mut().enumerate().take(229) {
                *s = u16::try_from(g).unwrap_or(0);
            }
            return sids;
        }
        (1, false) => Some(&CFF_EXPERT_CHARSET),
        (2, false) => Some(&CFF_EXPERT_SUBSET_CHARSET),
        _ => None,
    };
    if let Some(table) = predefined {
        for (s, &t) in sids.iter_mut().zip(table) {
            *s = t;
        }
        return sids;
    }
    let Some(&format) = d.get(offset) else {
        return sids;
    };
    let mut pos = offset + 1;
    let mut gid = 1usize;
    match format {
        0 => {
            while gid < n {
                let Some(s) = u16_at(d, pos) else { break };
                sids[gid] = s;
                gid += 1;
                pos += 2;
            }
        }
        1 | 2 => {
            // Each range consumes at least 3 input bytes and fills at least one GID.
            while gid < n {
                let Some(first) = u16_at(d, pos) else { break };
                let left = if format == 1 {
                    d.get(pos + 2).map(|&b| usize::from(b))
                } else {
                    u16_at(d, pos + 2).map(usize::from)
                };
                let Some(left) = left else { break };
                pos += if format == 1 { 3 } else { 4 };
                for k in 0..=left {
                    if gid >= n {
                        break;
                    }
                    sids[gid] = u16::try_from(usize::from(first) + k).unwrap_or(0);
                    gid += 1;
                }
            }
        }
        _ => {}
    }
    sids
}

/// Parses a bare CFF font program (the first font of its FontSet).
pub(crate) fn parse(d: &[u8]) -> Option<Cff> {
    if d.len() < 4 || d[0] != 1 {
        return None;
    }
    let hdr = usize::from(d[2]);
    let (names_idx, pos) = Index::read(d, hdr)?;
    let (top_idx, pos) = Index::read(d, pos)?;
    // A broken String INDEX leaves only the standard strings.
    let strings = Index::read(d, pos).map(|(i, _)| i).unwrap_or_default();

    let top = parse_top_dict(top_idx.get(0)?);
    let (charstrings, _) = Index::read(d, top.charstrings?)?;
    let n = charstrings.len().min(crate::MAX_GLYPHS);
    let mut cff = Cff {
        num_glyphs: n as u32,
        font_name: names_idx
            .get(0)
            .and_then(|s| std::str::from_utf8(s).ok())
            .filter(|s| !s.is_empty() && s.len() <= crate::names::MAX_NAME_LEN)
            .map(Into::into),
        font_matrix: top.font_matrix,
        ..Cff::default()
    };
    let sids = read_charset(d, top.charset.unwrap_or(0), n, top.ros.is_some());

    if let Some((r, o, s)) = top.ros {
        let text = |sid| {
            sid_str(&strings, sid)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("")
                .into()
        };
        let mut by_cid: Vec<u16> = (0..n).filter_map(|g| u16::try_from(g).ok()).collect();
        by_cid.sort_by_key(|&g| (sids.get(usize::from(g)).copied().unwrap_or(0), g));
        cff.cid = Some(CidInfo {
            registry: text(r),
            ordering: text(o),
            supplement: s,
            gid_to_cid: sids,
            by_cid,
        });
        return Some(cff);
    }

    let mut names = NameTable::with_capacity(n);
    for (g, &sid) in sids.iter().enumerate() {
        // SID 0 past GID 0 means the charset did not cover the glyph.
        names.push_bytes(if g > 0 && sid == 0 {
            None
        } else {
            sid_str(&strings, sid)
        });
    }
    cff.names = names;

    match top.encoding.unwrap_or(0) {
        0 => cff.standard_encoding = true,
        1 => cff.encoding = Some(predefined_expert(&sids, &strings)),
        off => cff.encoding = custom_encoding(d, off, &sids, &strings, &cff.names),
    }
    Some(cff)
}

/// GID of a SID through a (SID, GID) list sorted by SID.
fn gid_of_sid(sorted: &[(u16, u16)], sid: u16) -> Option<u16> {
    let pos = sorted.partition_point(|&(s, _)| s < sid);
    sorted.get(pos).filter(|&&(s, _)| s == sid).map(|&(_, g)| g)
}

fn sid_index(sids: &[u16]) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = sids
        .iter()
        .enumerate()
        .filter_map(|(g, &s)| Some((s, u16::try_from(g).ok()?)))
        .collect();
    v.sort_unstable();
    v
}

fn predefined_expert(sids: &[u16], strings: &Index<'_>) -> (NameTable, Box<[u16; 256]>) {
    let by_sid = sid_index(sids);
    let mut names = NameTable::with_capacity(256);
    let mut gids = Box::new([0u16; 256]);
    for (code, &sid) in CFF_EXPERT_ENCODING.iter().enumerate() {
        if sid == 0 {
            names.push(None);
            continue;
        }
        names.push_bytes(sid_str(strings, sid));
        gids[code] = gid_of_sid(&by_sid, sid).unwrap_or(0);
    }
    (names, gids)
}

fn custom_encoding(
    d: &[u8],
    off: usize,
    sids: &[u16],
    strings: &Index<'_>,
    glyph_names: &NameTable,
) -> Option<(NameTable, Box<[u16; 256]>)> {
    let format = *d.get(off)?;
    let mut gids = Box::new([0u16; 256]);
    let n = sids.len();
    let mut pos = off + 1;
    match format & 0x7F {
        0 => {
            let count = usize::from(*d.get(pos)?);
            pos += 1;
            for (i, &code) in d.get(pos..)?.iter().take(count).enumerate() {
                if i + 1 < n {
                    gids[usize::from(code)] = u16::try_from(i + 1).unwrap_or(0);
                }
            }
            pos += count;
        }
        1 => {
            let ranges = usize::from(*d.get(pos)?);
            pos += 1;
            let mut gid = 1usize;
            for _ in 0..ranges {
                let (Some(&first), Some(&left)) = (d.get(pos), d.get(pos + 1)) else {
                    break;
                };
                pos += 2;
                for code in usize::from(first)..=usize::from(first) + usize::from(left) {
                    if code < 256 && gid < n {
                        gids[code] = u16::try_from(gid).unwrap_or(0);
                    }
                    gid += 1;
                }
            }
        }
        _ => return None,
    }
    let mut names = NameTable::with_capacity(256);
    let mut sup_names: [Option<&[u8]>; 256] = [None; 256];
    if format & 0x80 != 0 {
        let by_sid = sid_index(sids);
        let count = usize::from(*d.get(pos).unwrap_or(&0));
        pos += 1;
        for _ in 0..count {
            let (Some(&code), Some(sid)) = (d.get(pos), u16_at(d, pos + 1)) else {
                break;
            };
            pos += 3;
            sup_names[usize::from(code)] = sid_str(strings, sid);
            gids[usize::from(code)] = gid_of_sid(&by_sid, sid).unwrap_or(0);
        }
    }
    for (code, &g) in gids.iter().enumerate() {
        match sup_names[code] {
            Some(s) => names.push_bytes(Some(s)),
            None if g != 0 => names.push(glyph_names.get(usize::from(g))),
            None => names.push(None),
        }
    }
    Some((names, gids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_numbers() {
        // 1000 (247..250 form), -1000 (251..254), 28 i16, 29 i32, real -2.25, then op 17.
        let d = [
            0xFA, 0x7C, 0xFE, 0x7C, 28, 0x12, 0x34, 29, 0, 1, 0, 0, 30, 0xE2, 0xA2, 0x5F, 17,
        ];
        let mut seen = Vec::new();
        walk_dict(&d, |op, args| seen.push((op, args.to_vec())));
        assert_eq!(
            seen,
            vec![(17, vec![1000.0, -1000.0, 4660.0, 65536.0, -2.25])]
        );
    }

    #[test]
    fn real_with_exponent() {
        let d = [0x1A, 0x00, 0x1C, 0x3F]; // "1.001E-3"
        let mut pos = 0;
        let v = read_real(&d, &mut pos);
        assert!((v - 0.001001).abs() < 1e-12, "{v}");
        assert_eq!(pos, 4);
    }

    #[test]
    fn index_read_and_truncation() {
        // count 2, offSize 1, offsets 1,3,4, data "abc".
        let d = [0, 2, 1, 1, 3, 4, b'a', b'b', b'c', 0xEE];
        let (idx, end) = Index::read(&d, 0).unwrap();
        assert_eq!(end, 9);
        assert_eq!(idx.get(0), Some(&b"ab"[..]));
        assert_eq!(idx.get(1), Some(&b"c"[..]));
        assert_eq!(idx.get(2), None);
        let (idx, _) = Index::read(&d[..7], 0).unwrap();
        assert_eq!(idx.get(0), None);
        assert!(Index::read(&d[..4], 0).is_none());
    }

    /// An INDEX with 2-byte offsets.
    fn index(objs: &[&[u8]]) -> Vec<u8> {
        let mut v = (objs.len() as u16).to_be_bytes().to_vec();
        if objs.is_empty() {
            return v;
        }
        v.push(2);
        let mut off = 1u16;
        v.extend(off.to_be_bytes());
        for o in objs {
            off += o.len() as u16;
            v.extend(off.to_be_bytes());
        }
        objs.iter().for_each(|o| v.extend(*o));
        v
    }

    fn int(v: i32) -> Vec<u8> {
        let mut b = vec![29];
        b.extend(v.to_be_bytes());
        b
    }

    /// A one-font CFF; `charset` / `encoding` are a predefined id or custom bytes.
    fn build(
        extra: &[u8],
        strings: &[&[u8]],
        charset: Result<u8, &[u8]>,
        encoding: Result<u8, &[u8]>,
        glyphs: usize,
    ) -> Vec<u8> {
        let dict_len = 3 * 6 + extra.len();
        let head = 4 + index(&[b"T"]).len() + index(&[&vec![0; dict_len]]).len();
        let mut tail_at = head + index(strings).len() + 2;
        let mut tail: Vec<u8> = Vec::new();
        let mut place = |what: Result<u8, &[u8]>| match what {
            Ok(id) => i32::from(id),
            Err(bytes) => {
                let at = tail_at;
                tail.extend(bytes);
                tail_at += bytes.len();
                at as i32
            }
        };
        let (cs, enc) = (place(charset), place(encoding));
        let charstrings = tail_at as i32;
        let mut dict = Vec::new();
        dict.extend(int(cs));
        dict.push(15);
        dict.extend(int(enc));
        dict.push(16);
        dict.extend(int(charstrings));
        dict.push(17);
        dict.extend(extra);
        assert_eq!(dict.len(), dict_len);
        let mut out = vec![1, 0, 4, 2];
        out.extend(index(&[b"T"]));
        out.extend(index(&[&dict]));
        out.extend(index(strings));
        out.extend([0, 0]);
        out.extend(tail);
        let cs: Vec<&[u8]> = (0..glyphs).map(|_| &[14u8][..]).collect();
        out.extend(index(&cs));
        out
    }

    #[test]
    fn custom_encoding_with_supplements() {
        // Charset format 0: A, B, C, "myglyph" (SID 391).
        let charset = [0u8, 0, 34, 0, 35, 0, 36, 0x01, 0x87];
        // Format 1 | 0x80: one range 65..=67 -> GIDs 1..=3; supplements 200 -> SID 391,
        // 201 -> SID 34 (A).
        let encoding = [0x81u8, 1, 65, 2, 2, 200, 0x01, 0x87, 201, 0, 34];
        let d = build(&[], &[b"myglyph"], Err(&charset), Err(&encoding), 5);
        let c = parse(&d).unwrap();
        assert_eq!(c.num_glyphs, 5);
        assert_eq!(c.names.get(4), Some("myglyph"));
        assert_eq!(c.font_name.as_deref(), Some("T"));
        let (names, gids) = c.encoding.unwrap();
        assert_eq!((names.get(65), gids[65]), (Some("A"), 1));
        assert_eq!((names.get(67), gids[67]), (Some("C"), 3));
        assert_eq!((names.get(200), gids[200]), (Some("myglyph"), 4));
        assert_eq!((names.get(201), gids[201]), (Some("A"), 1));
        assert_eq!((names.get(68), gids[68]), (None, 0));
        assert!(!c.standard_encoding);
    }

    #[test]
    fn expert_encoding_and_charset() {
        let d = build(&[], &[], Ok(1), Ok(1), 4);
        let c = parse(&d).unwrap();
        let names: Vec<_> = (0..4).map(|g| c.names.get(g)).collect();
        assert_eq!(
            names,
            [
                Some(".notdef"),
                Some("space"),
                Some("exclamsmall"),
                Some("Hungarumlautsmall")
            ]
        );
        let (names, gids) = c.encoding.unwrap();
        assert_eq!((names.get(33), gids[33]), (Some("exclamsmall"), 2));
        assert_eq!((names.get(34), gids[34]), (Some("Hungarumlautsmall"), 3));
        // Encoded by Expert but not in this (subset) charset: a name without a glyph.
        assert_eq!((names.get(36), gids[36]), (Some("dollaroldstyle"), 0));
        assert_eq!(names.get(65), Some("asuperior"));
        assert_eq!(names.get(64), None);
    }

    #[test]
    fn isoadobe_standard_and_font_matrix() {
        // FontMatrix [0.0005 0 0 0.0005 0 0] as reals: 5E-4 is nibbles 5 C 4 F.
        let fm = [30, 0x5C, 0x4F, 139, 139, 30, 0x5C, 0x4F, 139, 139, 12, 7];
        let d = build(&fm, &[], Ok(0), Ok(0), 3);
        let c = parse(&d).unwrap();
        assert_eq!(c.names.get(2), Some("exclam"));
        assert!(c.standard_encoding && c.encoding.is_none());
        assert_eq!(c.font_matrix, Some([0.0005, 0.0, 0.0, 0.0005, 0.0, 0.0]));
    }

    #[test]
    fn broken_offsets_do_not_fail_the_font() {
        // Charset and encoding offsets past the end: no names past GID 0, no encoding.
        let mut d = build(&[], &[], Ok(0), Ok(0), 3);
        // Rewrite the first dict operand (the charset offset) to a huge value.
        let p = d.iter().position(|&b| b == 29).unwrap();
        d[p + 1..p + 5].copy_from_slice(&0x7FFF_FFFFi32.to_be_bytes());
        let c = parse(&d).unwrap();
        assert_eq!(c.num_glyphs, 3);
        assert_eq!(c.names.get(0), Some(".notdef"));
        assert_eq!(c.names.get(1), None);
    }

    #[test]
    fn charset_format1_and_predefined() {
        // format 1: first SID 100, nLeft 2; then first SID 391, nLeft 0.
        // Three padding bytes first: offsets 0..=2 name the predefined charsets.
        let d = [9u8, 9, 9, 1, 0, 100, 2, 1, 0x87, 0];
        let sids = read_charset(&d, 3, 6, false);
        assert_eq!(sids, vec![0, 100, 101, 102, 391, 0]);
        let iso = read_charset(&[], 0, 3, false);
        assert_eq!(iso, vec![0, 1, 2]);
        let expert = read_charset(&[], 1, 3, false);
        assert_eq!(expert, vec![0, 1, 229]);
    }
}
