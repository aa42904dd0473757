//! The predefined CMaps, decoded on first use from `data/cmaps.bin` (written
//! by `tools/generate.py`, whose docstring specifies the format).

use std::sync::{Arc, OnceLock};

use crate::paint::paint;
use crate::parse::coalesce;
use crate::{CMap, CidRange, CodeKind, Codespace, MAX_DEPTH};

static CMAPS_BIN: &[u8] = include_bytes!("../data/cmaps.bin");

const MAGIC: &[u8] = b"NDFCMAP1";

/// Registry and ordering of each collection code used in the data.
const COLLECTIONS: [&str; 4] = ["Japan1", "GB1", "CNS1", "Korea1"];

/// One CMap of the index: header fields and its undecoded body.
#[derive(Debug)]
struct Entry {
    name: &'static str,
    vertical: bool,
    kind: CodeKind,
    collection: Option<&'static str>,
    base: Option<usize>,
    body: &'static [u8],
    slot: OnceLock<Arc<CMap>>,
}

/// Little cursor over trusted-but-checked data: every read is bounds-checked.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn svarint(&mut self) -> Option<i64> {
        let v = self.varint()?;
        let mag = (v >> 1) as i64;
        Some(if v & 1 == 0 { mag } else { -mag - 1 })
    }

    pub(crate) const fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    pub(crate) fn usize(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }
}

/// Reads one group of `(gap, count - 1[, value delta])` records into ranges
/// starting `lo..` at value `val..`; `with_values` false gives value 0.
pub(crate) fn read_records(
    r: &mut Reader<'_>,
    with_values: bool,
    out: &mut Vec<CidRange>,
) -> Option<()> {
    let n = r.usize()?;
    let mut prev_end: u64 = 0;
    let mut prev_val_end: i64 = 0;
    for _ in 0..n {
        let lo = prev_end.checked_add(r.varint()?)?;
        let count = r.varint()?.checked_add(1)?;
        let hi = lo.checked_add(count - 1)?;
        let val = if with_values {
            let v = prev_val_end.checked_add(r.svarint()?)?;
            prev_val_end = v.checked_add(i64::try_from(count).ok()?)?;
            u32::try_from(v).ok()?
        } else {
            0
        };
        out.push(CidRange {
            lo: u32::try_from(lo).ok()?,
            hi: u32::try_from(hi).ok()?,
            cid: val,
        });
        prev_end = hi + 1;
    }
    Some(())
}

fn index() -> &'static [Entry] {
    static INDEX: OnceLock<Vec<Entry>> = OnceLock::new();
    INDEX.get_or_init(|| read_index(CMAPS_BIN).unwrap_or_default())
}

fn read_index(data: &'static [u8]) -> Option<Vec<Entry>> {
    let mut r = Reader::new(data);
    if r.bytes(MAGIC.len())? != MAGIC {
        return None;
    }
    let n = r.usize()?;
    let mut out = Vec::with_capacity(n.min(1024));
    for i in 0..n {
        let name_len = r.usize()?;
        let name = std::str::from_utf8(r.bytes(name_len)?).ok()?;
        let flags = r.u8()?;
        let collection = COLLECTIONS.get(usize::from(r.u8()?)).copied();
        let base = r.usize()?.checked_sub(1).filter(|&b| b < i);
        let body_len = r.usize()?;
        let body = r.bytes(body_len)?;
        let kind = match (flags >> 1) & 7 {
            1 => CodeKind::Ucs2,
            2 => CodeKind::Utf16,
            3 => CodeKind::Utf32,
            4 => CodeKind::Utf8,
            _ => CodeKind::Raw,
        };
        out.push(Entry {
            name,
            vertical: flags & 1 == 1,
            kind,
            collection,
            base,
            body,
            slot: OnceLock::new(),
        });
    }
    Some(out)
}

/// The names of all predefined CMaps (Identity-H/V first).
pub fn predefined_names() -> impl Iterator<Item = &'static str> {
    ["Identity-H", "Identity-V"]
        .into_iter()
        .chain(index().iter().map(|e| e.name))
}

pub(crate) fn get(name: &str) -> Option<Arc<CMap>> {
    static IDENTITY: [OnceLock<Arc<CMap>>; 2] = [OnceLock::new(), OnceLock::new()];
    match name {
        "Identity-H" => {
            return Some(
                IDENTITY[0]
                    .get_or_init(|| Arc::new(CMap::identity(false)))
                    .clone(),
            );
        }
        "Identity-V" => {
            return Some(
                IDENTITY[1]
                    .get_or_init(|| Arc::new(CMap::identity(true)))
                    .clone(),
            );
        }
        _ => {}
    }
    let idx = index().iter().position(|e| e.name == name)?;
    Some(load(idx, 0))
}

fn load(idx: usize, depth: u8) -> Arc<CMap> {
    let Some(e) = index().get(idx) else {
        return Arc::new(CMap::empty());
    };
    e.slot
        .get_or_init(|| Arc::new(build(idx, e, depth)))
        .clone()
}

fn unicode_codespace(kind: CodeKind) -> Vec<Codespace> {
    let cs = |len: u8, lo: [u8; 4], hi: [u8; 4]| Codespace { len, lo, hi };
    match kind {
        CodeKind::Raw => Vec::new(),
        CodeKind::Ucs2 => vec![
            cs(2, [0, 0, 0, 0], [0xD7, 0xFF, 0, 0]),
            cs(2, [0xE0, 0, 0, 0], [0xFF, 0xFF, 0, 0]),
        ],
        CodeKind::Utf16 => vec![
            cs(2, [0, 0, 0, 0], [0xD7, 0xFF, 0, 0]),
            cs(4, [0xD8, 0, 0xDC, 0], [0xDB, 0xFF, 0xDF, 0xFF]),
            cs(2, [0xE0, 0, 0, 0], [0xFF, 0xFF, 0, 0]),
        ],
        CodeKind::Utf32 => vec![cs(4, [0, 0, 0, 0], [0, 0x10, 0xFF, 0xFF])],
        CodeKind::Utf8 => vec![
            cs(1, [0, 0, 0, 0], [0x7F, 0, 0, 0]),
            cs(2, [0xC0, 0x80, 0, 0], [0xDF, 0xBF, 0, 0]),
            cs(3, [0xE0, 0x80, 0x80, 0], [0xEF, 0xBF, 0xBF, 0]),
            cs(4, [0xF0, 0x80, 0x80, 0x80], [0xF7, 0xBF, 0xBF, 0xBF]),
        ],
    }
}

/// Decodes one CMap; on malformed data the result is empty rather than a panic.
fn build(idx: usize, e: &Entry, depth: u8) -> CMap {
    let mut m = CMap::empty();
    m.name = Some(e.name.into());
    m.vertical = e.vertical;
    m.kind = e.kind;
    if let Some(c) = e.collection {
        m.registry = Some(b"Adobe".as_slice().into());
        m.ordering = Some(c.as_bytes().into());
    }
    // The base is decoded first (its index is lower, so no cycle is possible).
    let base = e
        .base
        .filter(|&b| b < idx && depth < MAX_DEPTH)
        .map(|b| load(b, depth + 1));
    let Some((codespace, groups)) = decode_body(e.body, base.as_deref()) else {
        return m;
    };
    let codespace = if e.kind == CodeKind::Raw {
        codespace
    } else {
        unicode_codespace(e.kind)
    };
    m.set_codespace(codespace);
    for (i, g) in groups.into_iter().enumerate() {
        if !g.is_empty() {
            m.mapped_lens |= 1 << i;
        }
        if let Some(slot) = m.cids.get_mut(i) {
            *slot = g;
        }
    }
    m
}

type Groups = [Vec<CidRange>; 4];

fn decode_body(body: &[u8], base: Option<&CMap>) -> Option<(Vec<Codespace>, Groups)> {
    let mut r = Reader::new(body);
    let n = usize::from(r.u8()?);
    let mut codespace = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u8()?;
        let n = usize::from(len);
        if !(1..=4).contains(&n) {
            return None;
        }
        let mut lo = [0u8; 4];
        let mut hi = [0u8; 4];
        lo.get_mut(..n)?.copy_from_slice(r.bytes(n)?);
        hi.get_mut(..n)?.copy_from_slice(r.bytes(n)?);
        codespace.push(Codespace { len, lo, hi });
    }
    let mut groups: Groups = Default::default();
    for g in &mut groups {
        read_records(&mut r, true, g)?;
    }
    let mut removals: Groups = Default::default();
    for g in &mut removals {
        read_records(&mut r, false, g)?;
    }
    if !r.at_end() {
        return None;
    }
    let Some(base) = base else {
        return Some((codespace, groups));
    };
    // Overlay: base ranges, then removals (marked), then this map's ranges.
    let mut merged: Groups = Default::default();
    for (i, out) in merged.iter_mut().enumerate() {
        let mut layers: Vec<Layer> = Vec::new();
        let base_ranges = base.cids.get(i).map(Vec::as_slice).unwrap_or_default();
        layers.extend(base_ranges.iter().map(|&r| Layer(r, false)));
        layers.extend(removals[i].iter().map(|&r| Layer(r, true)));
        layers.extend(groups[i].iter().map(|&r| Layer(r, false)));
        let kept: Vec<CidRange> = paint(&layers)
            .into_iter()
            .filter(|l| !l.1)
            .map(|l| l.0)
            .collect();
        *out = coalesce(kept);
    }
    Some((codespace, merged))
}

/// A range of an overlay; `true` marks a removal.
#[derive(Debug, Clone, Copy)]
struct Layer(CidRange, bool);

impl crate::paint::Span for Layer {
    fn lo(&self) -> u32 {
        self.0.lo
    }
    fn hi(&self) -> u32 {
        self.0.hi
    }
    fn restrict(&self, lo: u32, hi: u32) -> Option<Self> {
        Some(Layer(self.0.restrict(lo, hi)?, self.1))
    }
}

#[cfg(test)]
pub(crate) fn all_decode_cleanly() -> bool {
    let idx = index();
    !idx.is_empty()
        && idx.iter().enumerate().all(|(i, e)| {
            let base = e.base.map(|b| load(b, 0));
            e.base.is_none_or(|b| b < i) && decode_body(e.body, base.as_deref()).is_some()
        })
}
