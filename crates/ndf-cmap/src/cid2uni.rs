//! CID -> Unicode for Adobe's CJK character collections, from
//! `data/cid2uni.bin` (format in `tools/generate.py`). Each collection is
//! expanded on first use into a dense table indexed by CID (O(1) lookups;
//! at most ~120 KB per collection).

use std::sync::OnceLock;

use crate::CidRange;
use crate::predefined::Reader;

static CID2UNI_BIN: &[u8] = include_bytes!("../data/cid2uni.bin");

const MAGIC: &[u8] = b"NDFC2U01";
/// Largest table accepted from the data (CIDs stop near 65535 by design).
const MAX_SIZE: usize = 1 << 17;

#[derive(Debug)]
struct Collection {
    name: &'static str,
    size: usize,
    records: &'static [u8],
    table: OnceLock<Box<[u32]>>,
}

fn index() -> &'static [Collection] {
    static INDEX: OnceLock<Vec<Collection>> = OnceLock::new();
    INDEX.get_or_init(|| read_index(CID2UNI_BIN).unwrap_or_default())
}

fn read_index(data: &'static [u8]) -> Option<Vec<Collection>> {
    let mut r = Reader::new(data);
    if r.bytes(MAGIC.len())? != MAGIC {
        return None;
    }
    let n = r.usize()?;
    let mut out = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        let name_len = r.usize()?;
        let name = std::str::from_utf8(r.bytes(name_len)?).ok()?;
        let size = r.usize()?.min(MAX_SIZE);
        // Find the end of the records by reading them once.
        let start = r.pos();
        let mut scratch = Vec::new();
        crate::predefined::read_records(&mut r, true, &mut scratch)?;
        let end = r.pos();
        out.push(Collection {
            name,
            size,
            records: data.get(start..end)?,
            table: OnceLock::new(),
        });
    }
    Some(out)
}

fn build(c: &Collection) -> Box<[u32]> {
    let mut table = vec![0u32; c.size].into_boxed_slice();
    let mut ranges: Vec<CidRange> = Vec::new();
    if crate::predefined::read_records(&mut Reader::new(c.records), true, &mut ranges).is_none() {
        return table;
    }
    for r in ranges {
        for cid in r.lo..=r.hi {
            let cp = r.cid.saturating_add(cid - r.lo);
            match table.get_mut(cid as usize) {
                Some(slot) => *slot = cp,
                None => break,
            }
        }
    }
    table
}

/// CID -> Unicode for a character collection, by `/CIDSystemInfo` Registry and
/// Ordering (`b"Adobe"`, `b"Japan1"`; also GB1, CNS1, Korea1; ASCII case is
/// ignored). Appends the character to `out`; false when the collection is
/// unknown or the CID unmapped.
pub fn cid_to_unicode(registry: &[u8], ordering: &[u8], cid: u32, out: &mut String) -> bool {
    if !registry.eq_ignore_ascii_case(b"Adobe") {
        return false;
    }
    let Some(c) = index()
        .iter()
        .find(|c| ordering.eq_ignore_ascii_case(c.name.as_bytes()))
    else {
        return false;
    };
    let table = c.table.get_or_init(|| build(c));
    match table.get(cid as usize).copied().and_then(char::from_u32) {
        Some(ch) if ch != '\0' => {
            out.push(ch);
            true
        }
        _ => false,
    }
}
