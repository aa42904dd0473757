//! Bounded decoding of sfnt `cmap` subtables into sorted runs.
//!
//! ttf-parser's `Subtable::codepoints` walks every code point of every range with no bound
//! (a hostile format 12 group can span 2^32 codes), and its lookups borrow the font bytes,
//! which `FontProgram` does not keep. So the subtables are decoded here into owned runs with
//! an explicit work budget.

/// Most runs kept for one subtable (12 bytes each).
pub(crate) const MAX_RUNS: usize = 1 << 17;
/// Most per-code steps spent decoding the subtables of one font (hostile overlapping ranges,
/// or many records pointing at costly subtables, stop here). A full BMP format 4 glyph array
/// costs 65,536.
pub(crate) const WORK_BUDGET: u32 = 1 << 21;
/// Highest Unicode scalar value.
const MAX_CODE: u32 = 0x10_FFFF;

/// `len` codes from `start` map to glyphs `gid..` (or all to `gid` when `constant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: u32,
    pub(crate) len: u32,
    pub(crate) gid: u16,
    pub(crate) constant: bool,
}

impl Run {
    fn gid_at(&self, code: u32) -> Option<u16> {
        let off = code.checked_sub(self.start)?;
        if off >= self.len {
            return None;
        }
        if self.constant {
            return Some(self.gid);
        }
        u16::try_from(u32::from(self.gid) + off).ok()
    }
}

/// A decoded subtable: runs sorted by start code.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    runs: Vec<Run>,
}

impl Runs {
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Glyph of a code: O(log runs).
    pub(crate) fn lookup(&self, code: u32) -> Option<u16> {
        let pos = self.runs.partition_point(|r| r.start <= code);
        let run = self.runs.get(pos.checked_sub(1)?)?;
        run.gid_at(code).filter(|&g| g != 0)
    }
}

/// Accumulates (code, gid) pairs and ranges, merging consecutive ones into runs.
struct Builder<'b> {
    runs: Vec<Run>,
    gid_bound: u32,
    budget: &'b mut u32,
}

impl Builder<'_> {
    /// Spends one unit of work; false once the budget is gone.
    fn spend(&mut self) -> bool {
        if *self.budget == 0 {
            return false;
        }
        *self.budget -= 1;
        true
    }

    fn full(&self) -> bool {
        self.runs.len() >= MAX_RUNS || *self.budget == 0
    }

    fn pair(&mut self, code: u32, gid: u32) {
        if gid == 0 || gid >= self.gid_bound || code > MAX_CODE {
            return;
        }
        let Ok(gid16) = u16::try_from(gid) else {
            return;
        };
        if let Some(last) = self.runs.last_mut()
            && !last.constant
            && last.start.checked_add(last.len) == Some(code)
            && u32::from(last.gid).checked_add(last.len) == Some(gid)
        {
            last.len += 1;
            return;
        }
        if self.runs.len() < MAX_RUNS {
            self.runs.push(Run {
                start: code,
                len: 1,
                gid: gid16,
                constant: false,
            });
        }
    }

    /// Codes `start..=end` map to `gid..` (sequential) or all to `gid` (constant).
    fn range(&mut self, start: u32, end: u32, gid: u32, constant: bool) {
        if !self.spend() || start > end || start > MAX_CODE || gid >= self.gid_bound {
            return;
        }
        let end = end.min(MAX_CODE);
        let mut len = end - start + 1;
        if constant {
            if gid == 0 {
                return;
            }
        } else {
            // Keep only the part whose glyphs exist; a leading gid 0 (missing) is skipped.
            len = len.min(self.gid_bound - gid);
            if gid == 0 {
                if len <= 1 {
                    return;
                }
                self.range(start + 1, start + len - 1, 1, false);
                return;
            }
        }
        let Ok(gid16) = u16::try_from(gid) else {
            return;
        };
        if self.runs.len() < MAX_RUNS {
            self.runs.push(Run {
                start,
                len,
                gid: gid16,
                constant,
            });
        }
    }

    fn finish(mut self) -> Runs {
        self.runs.sort_by_key(|r| r.start);
        Runs { runs: self.runs }
    }
}

fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    let b = d.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// An encoding record of the `cmap` header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) platform: u16,
    pub(crate) encoding: u16,
    pub(crate) offset: u32,
}

/// The encoding records of a `cmap` table (as many as fit in the data).
pub(crate) fn records(cmap: &[u8]) -> impl Iterator<Item = Record> + '_ {
    let n = u16_at(cmap, 2).unwrap_or(0);
    (0..usize::from(n)).map_while(move |i| {
        let off = 4 + i * 8;
        Some(Record {
            platform: u16_at(cmap, off)?,
            encoding: u16_at(cmap, off + 2)?,
            offset: u32_at(cmap, off + 4)?,
        })
    })
}

/// Decodes the subtable at `offset` of `cmap`; glyphs `>= gid_bound` and glyph 0 are dropped.
/// Unsupported formats (8, 14) and broken data give no or partial runs. Work is taken from
/// `budget`, shared by all subtables of a font.
pub(crate) fn decode(cmap: &[u8], offset: u32, gid_bound: u32, budget: &mut u32) -> Runs {
    let mut b = Builder {
        runs: Vec::new(),
        gid_bound: gid_bound.min(crate::MAX_GLYPHS as u32),
        budget,
    };
    if let Some(d) = cmap.get(offset as usize..) {
        match u16_at(d, 0) {
            Some(0) => format0(d, &mut b),
            Some(2) => format2(d, &mut b),
            Some(4) => format4(d, &mut b),
            Some(6) => format6(d, &mut b),
            Some(10) => format10(d, &mut b),
            Some(12) => format12(d, &mut b, false),
            Some(13) => format12(d, &mut b, true),
            _ => {}
        }
    }
    b.finish()
}

fn format0(d: &[u8], b: &mut Builder<'_>) {
    let glyphs = d.get(6..).unwrap_or_default();
    for (code, &g) in (0u32..256).zip(glyphs) {
        b.pair(code, g.into());
    }
}

/// High-byte mapping: one-byte codes use subheader 0, two-byte codes `hi << 8 | lo` the
/// subheader their high byte names. At most 256 x 256 steps.
fn format2(d: &[u8], b: &mut Builder<'_>) {
    const KEYS: usize = 6;
    const SUBHEADERS: usize = KEYS + 512;
    for hi in 0u16..256 {
        let Some(key) = u16_at(d, KEYS + usize::from(hi) * 2) else {
            return;
        };
        let sh = SUBHEADERS + usize::from(key / 8) * 8;
        let (Some(first), Some(count), Some(delta), Some(ro)) = (
            u16_at(d, sh),
            u16_at(d, sh + 2),
            u16_at(d, sh + 4),
            u16_at(d, sh + 6),
        ) else {
            continue;
        };
        // The glyph of `first` sits `ro` bytes past the idRangeOffset field itself.
        let base = sh + 6 + usize::from(ro);
        let glyph = |idx: u16| {
            u16_at(d, base + usize::from(idx) * 2)
                .filter(|&g| g != 0)
                .map(|g| u32::from(g.wrapping_add(delta)))
        };
        if key == 0 {
            if let Some(idx) = hi.checked_sub(first).filter(|&i| i < count)
                && let Some(g) = glyph(idx)
            {
                b.pair(hi.into(), g);
            }
            continue;
        }
        for idx in 0..count.min(256) {
            let lo = u32::from(first) + u32::from(idx);
            if lo > 0xFF || !b.spend() {
                break;
            }
            if let Some(g) = glyph(idx) {
                b.pair(u32::from(hi) << 8 | lo, g);
            }
        }
    }
}

fn format4(d: &[u8], b: &mut Builder<'_>) {
    let seg_count = usize::from(u16_at(d, 6).unwrap_or(0) / 2);
    let ends = 14;
    let starts = ends + seg_count * 2 + 2;
    let deltas = starts + seg_count * 2;
    let range_offs = deltas + seg_count * 2;
    for i in 0..seg_count {
        if b.full() {
            return;
        }
        let (Some(end), Some(start), Some(delta), Some(ro)) = (
            u16_at(d, ends + i * 2),
            u16_at(d, starts + i * 2),
            u16_at(d, deltas + i * 2),
            u16_at(d, range_offs + i * 2),
        ) else {
            return;
        };
        if start > end || (start == 0xFFFF && end == 0xFFFF) {
            continue;
        }
        if ro == 0 {
            // gid = code + delta (mod 65536): one or two sequential ranges (split at the wrap).
            let first = start.wrapping_add(delta);
            let span = u32::from(end - start);
            let until_wrap = 0xFFFF - u32::from(first);
            if span <= until_wrap {
                b.range(start.into(), end.into(), first.into(), false);
            } else {
                let mid = u32::from(start) + until_wrap;
                b.range(start.into(), mid, first.into(), false);
                b.range(mid + 1, end.into(), 0, false);
            }
        } else if ro != 0xFFFF {
            // Glyph array: &idRangeOffset[i] + idRangeOffset + 2 * (code - start).
            let base = range_offs + i * 2 + usize::from(ro);
            for code in start..=end {
                if !b.spend() {
                    return;
                }
                let pos = base + usize::from(code - start) * 2;
                let Some(g) = u16_at(d, pos) else { break };
                if g != 0 {
                    b.pair(code.into(), u32::from(g.wrapping_add(delta)));
                }
            }
        }
    }
}

fn format6(d: &[u8], b: &mut Builder<'_>) {
    let (Some(first), Some(count)) = (u16_at(d, 6), u16_at(d, 8)) else {
        return;
    };
    for i in 0..count {
        let Some(g) = u16_at(d, 10 + usize::from(i) * 2) else {
            return;
        };
        b.pair(u32::from(first) + u32::from(i), g.into());
    }
}

fn format10(d: &[u8], b: &mut Builder<'_>) {
    let (Some(first), Some(count)) = (u32_at(d, 12), u32_at(d, 16)) else {
        return;
    };
    for i in 0..count {
        if !b.spend() {
            return;
        }
        let Some(g) = (i as usize)
            .checked_mul(2)
            .and_then(|o| u16_at(d, o.checked_add(20)?))
        else {
            return;
        };
        let Some(code) = first.checked_add(i) else {
            return;
        };
        b.pair(code, g.into());
    }
}

fn format12(d: &[u8], b: &mut Builder<'_>, constant: bool) {
    let n = u32_at(d, 12).unwrap_or(0);
    for i in 0..n as usize {
        if b.full() {
            return;
        }
        let Some(off) = i.checked_mul(12).and_then(|o| o.checked_add(16)) else {
            return;
        };
        let (Some(start), Some(end), Some(gid)) = (
            u32_at(d, off),
            u32_at(d, off.saturating_add(4)),
            u32_at(d, off.saturating_add(8)),
        ) else {
            return;
        };
        b.range(start, end, gid, constant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be16(v: &[u16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn format4_delta_and_array() {
        // Segments: 0x20..=0x22 delta -0x1F (gids 1..=3); 0x41..=0x42 via glyph array [7, 0];
        // and the 0xFFFF terminator.
        let seg = 3u16;
        let mut d = be16(&[4, 0, 0, seg * 2, 0, 0, 0]);
        d.extend(be16(&[0x22, 0x42, 0xFFFF])); // ends
        d.extend(be16(&[0])); // pad
        d.extend(be16(&[0x20, 0x41, 0xFFFF])); // starts
        d.extend(be16(&[0u16.wrapping_sub(0x1F), 0, 1])); // deltas
        // idRangeOffset of segment 1 points 4 bytes on (past its own slot and segment 2's).
        d.extend(be16(&[0, 4, 0]));
        d.extend(be16(&[7, 0]));
        let runs = decode(&d, 0, 100, &mut WORK_BUDGET.clone());
        assert_eq!(runs.lookup(0x20), Some(1));
        assert_eq!(runs.lookup(0x22), Some(3));
        assert_eq!(runs.lookup(0x23), None);
        assert_eq!(runs.lookup(0x41), Some(7));
        assert_eq!(runs.lookup(0x42), None);
        // Glyphs beyond the bound are dropped.
        let runs = decode(&d, 0, 3, &mut WORK_BUDGET.clone());
        assert_eq!(runs.lookup(0x21), Some(2));
        assert_eq!(runs.lookup(0x22), None);
        assert_eq!(runs.lookup(0x41), None);
    }

    #[test]
    fn budget_is_shared_and_stops_work() {
        // One segment 0x00..=0xFF through a glyph array whose only non-zero entry is last.
        let mut d = be16(&[4, 0, 0, 4, 0, 0, 0]);
        d.extend(be16(&[0xFF, 0xFFFF, 0, 0, 0xFFFF, 0, 1, 4, 0]));
        let mut glyphs = vec![0u16; 256];
        glyphs[255] = 9;
        d.extend(be16(&glyphs));
        let mut budget = WORK_BUDGET;
        assert_eq!(decode(&d, 0, 100, &mut budget).lookup(0xFF), Some(9));
        assert_eq!(budget, WORK_BUDGET - 256);
        let mut budget = 100;
        assert_eq!(decode(&d, 0, 100, &mut budget).lookup(0xFF), None);
        assert_eq!(budget, 0);
        assert!(decode(&d, 0, 100, &mut budget).is_empty());
    }

    #[test]
    fn format12_hostile_ranges_are_bounded() {
        let mut d = be16(&[12, 0]);
        d.extend(0u32.to_be_bytes()); // length
        d.extend(0u32.to_be_bytes()); // language
        let groups = 5000u32;
        d.extend(groups.to_be_bytes());
        for _ in 0..groups {
            d.extend(0u32.to_be_bytes());
            d.extend(u32::MAX.to_be_bytes());
            d.extend(1u32.to_be_bytes());
        }
        let runs = decode(&d, 0, 10, &mut WORK_BUDGET.clone());
        assert_eq!(runs.runs().len(), 5000);
        assert!(runs.runs().iter().all(|r| r.len == 9));
        assert_eq!(runs.lookup(0), Some(1));
        assert_eq!(runs.lookup(8), Some(9));
        assert_eq!(runs.lookup(9), None);
    }

    #[test]
    fn format13_constant() {
        let mut d = be16(&[13, 0]);
        d.extend(0u32.to_be_bytes());
        d.extend(0u32.to_be_bytes());
        d.extend(1u32.to_be_bytes());
        d.extend(0x100u32.to_be_bytes());
        d.extend(0x10FFFFu32.to_be_bytes());
        d.extend(5u32.to_be_bytes());
        let runs = decode(&d, 0, 10, &mut WORK_BUDGET.clone());
        assert_eq!(runs.lookup(0xFF), None);
        assert_eq!(runs.lookup(0x100), Some(5));
        assert_eq!(runs.lookup(0x10FFFF), Some(5));
    }
}
