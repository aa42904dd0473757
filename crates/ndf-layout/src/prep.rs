//! Character preparation: validation, direction groups, page-frame projection and removal of
//! overprinted duplicates.

use ndf_model::{CharFlags, TextPage};

use crate::num::{floor_i64, round_i64};
use crate::unicode::{char_text, hash_bytes, is_mark_text, is_space_text};

/// Coordinates beyond this (points) are treated as garbage: the char is skipped.
const MAX_COORD: f32 = 1.0e6;
/// Largest plausible font size in points.
const MAX_SIZE: f32 = 1.0e4;
/// Smallest usable font size in points.
const MIN_SIZE: f32 = 0.05;
/// Largest distance (em) between copies of a duplicated glyph.
const MAX_DUP_EM: f32 = 0.15;
/// Number of angle bins (one per degree).
const ANGLE_BINS: usize = 360;

/// What a glyph is for word building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An ordinary character.
    Normal,
    /// White space: a word separator, not kept as text.
    Space,
    /// A combining mark that belongs to the preceding character.
    Mark,
}

/// A validated character projected into the frame of its direction group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Glyph {
    /// Index of the character in `TextPage::chars`.
    pub ci: u32,
    /// Direction group.
    pub grp: u16,
    /// Space, mark or ordinary.
    pub kind: Kind,
    /// Start along the writing direction.
    pub p0: f32,
    /// End along the writing direction.
    pub p1: f32,
    /// Baseline position across the writing direction (grows "down" the lines).
    pub base: f32,
    /// Font size (em) in points.
    pub size: f32,
}

/// Characters sharing one writing direction: lines are built in this group's own frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    /// Unit vector of the writing (progress) direction in page space.
    pub ux: f32,
    /// See `ux`.
    pub uy: f32,
    /// Vertical writing mode (CJK top-to-bottom).
    pub vertical: bool,
    /// Counter-clockwise angle of the glyph baseline, degrees, for the output.
    pub angle: f32,
    /// Number of glyphs in the group.
    pub count: u32,
}

impl Group {
    /// Project a page point to (along, across) coordinates of this frame.
    pub(crate) fn project(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.ux + y * self.uy, -x * self.uy + y * self.ux)
    }
}

/// The prepared glyphs of a page, in content order, plus their groups.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub glyphs: Vec<Glyph>,
    pub groups: Vec<Group>,
}

fn finite_in_range(v: f32) -> bool {
    v.is_finite() && v.abs() <= MAX_COORD
}

/// Unit vectors for exact axis bins, so ordinary text uses an exact frame.
fn bin_vector(bin: usize) -> (f32, f32) {
    match bin {
        0 => (1.0, 0.0),
        90 => (0.0, 1.0),
        180 => (-1.0, 0.0),
        270 => (0.0, -1.0),
        _ => {
            let a = (bin as f32).to_radians();
            (a.cos(), a.sin())
        }
    }
}

/// The one-degree bin of a direction; exact for the four axis directions (no trigonometry
/// for ordinary text).
fn angle_bin(px: f32, py: f32) -> usize {
    if py == 0.0 {
        return if px < 0.0 { 180 } else { 0 };
    }
    if px == 0.0 {
        return if py < 0.0 { 270 } else { 90 };
    }
    let deg = py.atan2(px).to_degrees();
    if deg.is_finite() {
        (deg.round() as i32).rem_euclid(ANGLE_BINS as i32) as usize
    } else {
        0
    }
}

/// Drop glyphs drawn again on top of an earlier identical one (same text, direction and
/// size, origin within a fraction of the glyph): fake bold, shadows, repeated layers.
///
/// Sort-based rather than hashed, so memory is walked sequentially on million-glyph pages:
/// glyphs are keyed by (text, group, size, baseline band) and sorted along the line; a
/// duplicate is then within a few entries of the glyph it repeats.
fn remove_duplicates(page: &TextPage, glyphs: &mut Vec<Glyph>) {
    // One u128 per glyph: key hash, then position along the line, then glyph index. Sorting
    // plain integers is about twice as fast as a tuple with a float comparator, and this sort
    // is the largest single cost of layout.
    let mut keys: Vec<u128> = Vec::with_capacity(glyphs.len());
    for (i, g) in glyphs.iter().enumerate() {
        let Ok(i) = u32::try_from(i) else { break };
        if g.kind == Kind::Space {
            continue;
        }
        let Some(c) = page.chars.get(g.ci as usize) else {
            continue;
        };
        let size_q = round_i64(g.size * 4.0);
        // Baseline bands one em high: overprinted copies share the baseline (or nearly).
        let band = floor_i64(g.base / g.size.max(MIN_SIZE));
        let mut h = hash_bytes(char_text(page, c).as_bytes());
        h = (h ^ u64::from(g.grp)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h = (h ^ size_q as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        h = (h ^ band as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
        keys.push(pack_key(h, g.p0, i));
    }
    sort_keys(&mut keys);
    // Runs of the same key whose positions chain within the tolerance are copies of one
    // glyph: keep the one drawn first.
    let mut dup = vec![false; glyphs.len()];
    let mut any_dup = false;
    let mut k = 0;
    while k < keys.len() {
        let (key, p0, first) = unpack_key(keys[k]);
        // Most glyphs have no copy: decide that from the sorted keys alone (no random access).
        let next_same = keys.get(k + 1).is_some_and(|&n| unpack_key(n).0 == key);
        let Some(g) = glyphs.get(first as usize).filter(|_| next_same) else {
            k += 1;
            continue;
        };
        let size = g.size;
        let candidate = keys
            .get(k + 1)
            .is_some_and(|&n| unpack_key(n).1 - p0 < MAX_DUP_EM * size);
        if !candidate {
            k += 1;
            continue;
        }
        let text = page.chars.get(g.ci as usize).map(|c| char_text(page, c));
        let w = g.p1 - g.p0;
        let tol_p = if w > 0.0 {
            (MAX_DUP_EM * g.size).min(0.5 * w)
        } else {
            0.1 * g.size
        };
        let (mut last_p, mut keep) = (p0, first);
        let mut end = k + 1;
        while let Some(&other) = keys.get(end) {
            let (okey, op, oi) = unpack_key(other);
            let Some(o) = glyphs.get(oi as usize) else {
                break;
            };
            let same = okey == key
                && op - last_p < tol_p
                && (o.base - g.base).abs() < 0.2 * g.size
                && (o.size - g.size).abs() <= 0.05 * g.size
                && page.chars.get(o.ci as usize).map(|c| char_text(page, c)) == text;
            if !same {
                break;
            }
            last_p = op;
            keep = keep.min(oi);
            end += 1;
        }
        for &packed in keys.get(k..end).unwrap_or(&[]) {
            let i = unpack_key(packed).2;
            if i != keep
                && let Some(d) = dup.get_mut(i as usize)
            {
                *d = true;
                any_dup = true;
            }
        }
        k = end;
    }
    if !any_dup {
        // Most pages have no copy: no pass over the glyphs.
        return;
    }
    let mut n = 0;
    glyphs.retain(|_| {
        let keep = !dup.get(n).copied().unwrap_or(false);
        n += 1;
        keep
    });
}

/// Sort packed keys: one counting pass on the top bits of the hash spreads them into about
/// `n / 2` buckets, then each (small) bucket is sorted. Keys are distinct (they hold the glyph
/// index), so the result is exactly that of a plain sort, at a fraction of the comparisons.
fn sort_keys(keys: &mut Vec<u128>) {
    let n = keys.len();
    if n < 256 || u32::try_from(n).is_err() {
        keys.sort_unstable();
        return;
    }
    // log2(n) - 1 bits: two keys per bucket on average; 2^8..2^16 buckets.
    let bits = (usize::BITS - n.leading_zeros())
        .saturating_sub(2)
        .clamp(8, 16);
    let shift = 128 - bits;
    let mut starts = vec![0u32; (1usize << bits) + 1];
    for &k in keys.iter() {
        if let Some(c) = starts.get_mut((k >> shift) as usize + 1) {
            *c += 1;
        }
    }
    let mut sum = 0u32;
    for c in &mut starts {
        sum += *c;
        *c = sum;
    }
    // `starts[b]` is now the start of bucket b; advance it while scattering.
    let mut out = vec![0u128; n];
    let mut next = starts.clone();
    for &k in keys.iter() {
        if let Some(p) = next.get_mut((k >> shift) as usize)
            && let Some(slot) = out.get_mut(*p as usize)
        {
            *slot = k;
            *p += 1;
        }
    }
    for w in starts.windows(2) {
        if let [a, b] = *w
            && b - a > 1
            && let Some(bucket) = out.get_mut(a as usize..b as usize)
        {
            bucket.sort_unstable();
        }
    }
    *keys = out;
}

/// `f32::total_cmp` order as unsigned integers: flip all bits of negatives, the sign of the rest.
pub(crate) fn ordered_bits(v: f32) -> u32 {
    let b = v.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn from_ordered_bits(b: u32) -> f32 {
    f32::from_bits(if b & 0x8000_0000 != 0 {
        b & 0x7FFF_FFFF
    } else {
        !b
    })
}

fn pack_key(hash: u64, p0: f32, index: u32) -> u128 {
    (u128::from(hash) << 64) | (u128::from(ordered_bits(p0)) << 32) | u128::from(index)
}

/// (hash, position along the line, glyph index) of a packed key.
fn unpack_key(k: u128) -> (u64, f32, u32) {
    (
        (k >> 64) as u64,
        from_ordered_bits((k >> 32) as u32),
        k as u32,
    )
}

/// Add the group of a new direction; its id, or `None` when there are too many.
/// Out of line and cold: a page has a handful of directions, and the per-character loop
/// keeps its registers without this code.
#[cold]
#[inline(never)]
fn new_group(groups: &mut Vec<Group>, bin: usize, vertical: bool, dx: f32, dy: f32) -> Option<u16> {
    let (ux, uy) = bin_vector(bin);
    // Output angle: counter-clockwise baseline rotation (page y grows downwards).
    let mut angle = (-dy).atan2(dx).to_degrees();
    angle = (angle * 100.0).round() / 100.0;
    if angle.abs() < 0.5 || !angle.is_finite() {
        angle = 0.0;
    }
    let id = u16::try_from(groups.len()).ok()?;
    groups.push(Group {
        ux,
        uy,
        vertical,
        angle,
        count: 0,
    });
    Some(id)
}

/// Validate, classify and project the characters of a page; drop clipped characters and
/// exact duplicates drawn on top of each other (fake bold, shadows).
pub(crate) fn prepare(page: &TextPage) -> Prepared {
    let mut out = Prepared::default();
    // Group index per (angle bin, vertical); u16::MAX = none yet.
    let mut group_of = [[u16::MAX; 2]; ANGLE_BINS];
    let cap = page.chars.len().min(1 << 22);
    out.glyphs.reserve(cap);

    for (ci, c) in page.chars.iter().enumerate() {
        let Ok(ci) = u32::try_from(ci) else { break };
        if c.flags.contains(CharFlags::CLIPPED) {
            continue;
        }
        let text = char_text(page, c);
        if text.is_empty() || text.chars().all(|ch| ch == '\0') {
            continue;
        }
        let (ox, oy) = c.origin;
        if !finite_in_range(ox) || !finite_in_range(oy) {
            continue;
        }
        let b = c.bbox;
        let bbox_ok = [b.x0, b.y0, b.x1, b.y1].iter().all(|v| finite_in_range(*v));
        let (bw, bh) = if bbox_ok {
            ((b.x1 - b.x0).abs(), (b.y1 - b.y0).abs())
        } else {
            (0.0, 0.0)
        };

        // Writing direction: the baseline direction, turned a quarter clockwise for vertical
        // writing (glyphs advance down the page).
        let (mut dx, mut dy) = c.dir;
        let norm = (dx * dx + dy * dy).sqrt();
        if norm.is_finite() && norm > 1e-6 {
            dx /= norm;
            dy /= norm;
        } else {
            dx = 1.0;
            dy = 0.0;
        }
        let vertical = c.flags.contains(CharFlags::VERTICAL);
        let (px, py) = if vertical { (-dy, dx) } else { (dx, dy) };

        let mut size = c.size;
        if !(size.is_finite() && (MIN_SIZE..=MAX_SIZE).contains(&size)) {
            // Fall back on the glyph box across the writing direction.
            size = bw * py.abs() + bh * px.abs();
            if vertical {
                size = bw * px.abs() + bh * py.abs();
            }
            if !(size.is_finite() && (MIN_SIZE..=MAX_SIZE).contains(&size)) {
                continue;
            }
        }

        let bin = angle_bin(px, py);
        let slot = &mut group_of[bin.min(ANGLE_BINS - 1)][usize::from(vertical)];
        if *slot == u16::MAX {
            let Some(id) = new_group(&mut out.groups, bin, vertical, dx, dy) else {
                continue;
            };
            *slot = id;
        }
        let grp = *slot;
        let Some(g) = out.groups.get(usize::from(grp)).copied() else {
            continue;
        };

        let (p, s) = g.project(ox, oy);
        let adv = c.advance.abs();
        let mut w = if adv.is_finite() && adv <= 50.0 * size {
            adv
        } else {
            bw * g.ux.abs() + bh * g.uy.abs()
        };
        if !w.is_finite() || w > 50.0 * size {
            w = 0.0;
        }
        let base = if vertical && bbox_ok {
            // The centre line of the column: independent of where the interpreter puts a
            // vertical glyph's origin.
            g.project((b.x0 + b.x1) * 0.5, (b.y0 + b.y1) * 0.5).1
        } else {
            s
        };
        let kind = if is_space_text(text) {
            Kind::Space
        } else if is_mark_text(text) {
            Kind::Mark
        } else {
            Kind::Normal
        };

        out.glyphs.push(Glyph {
            ci,
            grp,
            kind,
            p0: p,
            p1: p + w,
            base,
            size,
        });
    }
    remove_duplicates(page, &mut out.glyphs);
    for g in &out.glyphs {
        if let Some(gr) = out.groups.get_mut(usize::from(g.grp)) {
            gr.count = gr.count.saturating_add(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{from_ordered_bits, ordered_bits, pack_key, sort_keys, unpack_key};

    #[test]
    fn bucketed_sort_is_a_plain_sort() {
        // Few distinct hashes (long runs in one bucket) and many, around the size threshold.
        let mut state = 0x1234_5678_9abc_def0u64;
        for (n, distinct) in [
            (10usize, 3u64),
            (255, 7),
            (256, 5),
            (3000, 40),
            (3000, 1 << 40),
            (70_000, 900),
        ] {
            let mut keys: Vec<u128> = (0..n)
                .map(|i| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    let h = (state >> 20) % distinct;
                    let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    pack_key(h, (state >> 40) as f32 * 0.01 - 50.0, i as u32)
                })
                .collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            sort_keys(&mut keys);
            assert_eq!(keys, expected, "n = {n}");
        }
    }

    #[test]
    fn packed_keys_sort_like_the_tuples_they_hold() {
        let values = [
            f32::NEG_INFINITY,
            -1.0e6,
            -1.5,
            -0.0,
            0.0,
            1.0e-30,
            0.5,
            3.25,
            1.0e6,
            f32::INFINITY,
        ];
        for a in values {
            assert_eq!(from_ordered_bits(ordered_bits(a)).to_bits(), a.to_bits());
            for b in values {
                assert_eq!(
                    ordered_bits(a).cmp(&ordered_bits(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
                for (ha, hb) in [(1u64, 1u64), (1, 2), (u64::MAX, 0)] {
                    let (ka, kb) = (pack_key(ha, a, 7), pack_key(hb, b, 3));
                    let expected = ha.cmp(&hb).then(a.total_cmp(&b)).then(7u32.cmp(&3));
                    assert_eq!(ka.cmp(&kb), expected);
                    assert_eq!(unpack_key(ka).0, ha);
                    assert_eq!(unpack_key(ka).2, 7);
                }
            }
        }
    }
}
