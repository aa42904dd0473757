//! Words (fragments of characters drawn contiguously) and lines (fragments sharing a baseline).

use std::collections::BTreeSet;

use crate::num::round_i64;
use crate::prep::{Glyph, Kind, ordered_bits};

/// A gap wider than this (em) between consecutively drawn characters starts a new fragment
/// (poppler's `minWordBreakSpace`): such a gap reads as a word space.
const WORD_BREAK_EM: f32 = 0.1;
/// Characters overlapping the previous one by more than this (em) start a new fragment.
const OVERLAP_BREAK_EM: f32 = 0.2;
/// Widest gap (em) bridged when chaining fragments into one line segment; wider gaps are
/// column gutters or table cells (lines are re-joined across them inside a block).
pub(crate) const LINE_GAP_EM: f32 = 0.8;
/// Widest gap (em) between a lone list or section marker and the text it introduces.
const LABEL_GAP_EM: f32 = 3.0;
/// Smallest size ratio of a superscript or subscript to its line's text.
const MIN_SCRIPT_RATIO: f32 = 0.4;
/// Largest overlap (em) of a fragment with the end of the segment it continues.
const OVERLAP_JOIN_EM: f32 = 0.7;
/// Most active lines examined per fragment (bounded work on dense pages).
const MAX_CANDIDATES: usize = 48;

/// A run of characters drawn one after the other with no word gap between them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frag {
    /// Direction group.
    pub grp: u16,
    /// Range into `Frags::ids`.
    pub g0: u32,
    /// End of the range into `Frags::ids`.
    pub g1: u32,
    /// Start along the writing direction.
    pub p0: f32,
    /// End along the writing direction.
    pub p1: f32,
    /// Baseline of the first character.
    pub base: f32,
    /// Font size of the first character.
    pub size: f32,
    /// Number of base characters (marks excluded).
    pub n: u32,
}

/// All fragments of a page and the glyph indices they cover.
#[derive(Debug, Default)]
pub(crate) struct Frags {
    pub frags: Vec<Frag>,
    /// Glyph indices (into the prepared glyphs), fragment after fragment.
    pub ids: Vec<u32>,
}

impl Frags {
    /// Glyph indices of one fragment.
    pub(crate) fn glyphs(&self, f: &Frag) -> &[u32] {
        self.ids.get(f.g0 as usize..f.g1 as usize).unwrap_or(&[])
    }
}

/// Split the content-ordered glyphs into fragments (poppler's `TextPage::addChar` rules).
pub(crate) fn build_frags(glyphs: &[Glyph]) -> Frags {
    let mut out = Frags {
        frags: Vec::new(),
        ids: Vec::with_capacity(glyphs.len()),
    };
    let mut cur: Option<Frag> = None;
    for (gi, g) in glyphs.iter().enumerate() {
        let Ok(gi) = u32::try_from(gi) else { break };
        if g.kind == Kind::Space {
            // A space glyph only ends the fragment: whether a word space appears is decided
            // from the gap, like poppler (a zero-width space glyph adds none).
            if let Some(f) = cur.take() {
                out.frags.push(f);
            }
            continue;
        }
        if let Some(f) = cur.as_mut() {
            let em = f.size;
            if g.kind == Kind::Mark
                && g.grp == f.grp
                && g.p0 >= f.p0 - 0.5 * em
                && g.p0 <= f.p1 + 0.3 * em
                && (g.base - f.base).abs() <= 0.8 * em
            {
                // A combining mark stays with its base character wherever it is drawn.
                out.ids.push(gi);
                f.g1 = f.g1.saturating_add(1);
                continue;
            }
            let sp = g.p0 - f.p1;
            let base_tol = (0.05 * em).clamp(0.5f32.min(0.2 * em), 0.2 * em);
            if g.grp == f.grp
                && sp >= -OVERLAP_BREAK_EM * em
                && sp <= WORD_BREAK_EM * em
                && (g.base - f.base).abs() <= base_tol
                && (g.size - f.size).abs() <= 0.02 * em
            {
                out.ids.push(gi);
                f.g1 = f.g1.saturating_add(1);
                f.p0 = f.p0.min(g.p0);
                f.p1 = f.p1.max(g.p1);
                f.n = f.n.saturating_add(1);
                continue;
            }
            if let Some(f) = cur.take() {
                out.frags.push(f);
            }
        }
        let Ok(g0) = u32::try_from(out.ids.len()) else {
            break;
        };
        out.ids.push(gi);
        cur = Some(Frag {
            grp: g.grp,
            g0,
            g1: g0.saturating_add(1),
            p0: g.p0,
            p1: g.p1.max(g.p0),
            base: g.base,
            size: g.size,
            n: 1,
        });
    }
    if let Some(f) = cur.take() {
        out.frags.push(f);
    }
    out
}

/// A piece of a text line: fragments of one direction group chained along a baseline.
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    pub grp: u16,
    pub p0: f32,
    pub p1: f32,
    /// Baseline of the dominant (largest) fragment.
    pub base: f32,
    /// Size of the dominant fragment.
    pub size: f32,
    /// Baseline of the last full-size fragment (lets slightly wavy baselines chain).
    last_base: f32,
    /// Number of characters.
    pub chars: u32,
    /// Fragment indices, in order along the writing direction.
    pub frags: Vec<u32>,
}

fn base_key(b: f32) -> i64 {
    // Baselines are bounded by the coordinate limit, so this never saturates in practice.
    round_i64(b * 64.0)
}

/// How well fragment `f` continues segment `s` (lower is better), if at all. `label` tells
/// that the segment is a lone list or section marker ("1.2", "•", "(a)").
fn match_score(s: &Seg, f: &Frag, label: bool) -> Option<f32> {
    let gap = f.p0 - s.p1;
    let max_gap = if label { LABEL_GAP_EM } else { LINE_GAP_EM };
    if gap > max_gap * s.size.max(f.size) {
        return None;
    }
    let d = f.base - s.base;
    let ok = if f.size < 0.85 * s.size {
        // Superscript or subscript of the segment's text (not much smaller than it: tiny
        // text over large text is a separate layer).
        f.size >= MIN_SCRIPT_RATIO * s.size && (-0.6 * s.size..=0.4 * s.size).contains(&d)
    } else if s.size < 0.85 * f.size {
        // The segment so far is a superscript/subscript (or small text) of `f`.
        s.size >= MIN_SCRIPT_RATIO * f.size && (-0.4 * f.size..=0.6 * f.size).contains(&d)
    } else {
        let small = s.size.min(f.size);
        (f.base - s.last_base).abs() <= 0.3 * small && d.abs() <= 0.5 * small
    };
    if !ok {
        return None;
    }
    let big = s.size.max(f.size);
    if gap < -OVERLAP_JOIN_EM * big && (f.p1 - f.p0 > OVERLAP_JOIN_EM * big || f.n > 1) {
        // Text drawn over the segment's own text (an overlay, stacked labels) is a separate
        // line; only a lone narrow glyph (a spacing accent) may sit on top of it.
        return None;
    }
    // Prefer the nearest baseline, a segment that ends where `f` starts, and the same size.
    let mut score = d.abs() / big + (-gap).max(0.0) / big;
    if s.size > 0.0 && f.size > 0.0 {
        score += (f.size / s.size).ln().abs();
    }
    Some(score)
}

/// True for the text of a list or section marker: a bullet, "1.", "2.3.1", "(a)", "iv.".
pub(crate) fn is_label(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || t.len() > 12 {
        return false;
    }
    let mut chars = t.chars();
    let first = chars.next().unwrap_or(' ');
    if chars.as_str().is_empty() {
        return matches!(
            first,
            '•' | '◦'
                | '▪'
                | '▫'
                | '‣'
                | '∙'
                | '·'
                | '●'
                | '○'
                | '■'
                | '□'
                | '–'
                | '—'
                | '-'
                | '*'
                | '➢'
                | '►'
                | '\u{F0B7}'
                | '\u{F0A7}'
        ) || first.is_ascii_digit();
    }
    let inner = t.trim_start_matches('(').trim_end_matches(['.', ')']);
    if inner.is_empty() || inner.len() == t.len() && !t.starts_with('(') {
        // No closing '.' or ')': only a dotted number like "1.2" qualifies.
        return t
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()));
    }
    let dotted = inner
        .split('.')
        .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()));
    let letter = inner.len() == 1 && inner.chars().all(|c| c.is_ascii_alphabetic());
    let roman = inner.len() <= 5
        && inner
            .chars()
            .all(|c| matches!(c, 'i' | 'v' | 'x' | 'I' | 'V' | 'X'));
    dotted || letter || roman
}

/// Chain fragments into line segments, per direction group. Each fragment is examined in
/// order along its writing direction against the still-open segments whose baseline is near.
pub(crate) fn build_segs(frags: &Frags, ngroups: usize, labels: &[bool]) -> Vec<Seg> {
    let mut by_group: Vec<Vec<u32>> = vec![Vec::new(); ngroups];
    for (i, f) in frags.frags.iter().enumerate() {
        if let (Some(v), Ok(i)) = (by_group.get_mut(usize::from(f.grp)), u32::try_from(i)) {
            v.push(i);
        }
    }
    let mut segs: Vec<Seg> = Vec::new();
    let mut expired: Vec<(i64, u32)> = Vec::new();
    // Order by (p0, base) under `total_cmp`, compared as one precomputed integer per
    // fragment: the same comparisons as two float compares, so the same (unstable) permutation.
    let order_keys: Vec<u64> = frags
        .frags
        .iter()
        .map(|f| (u64::from(ordered_bits(f.p0)) << 32) | u64::from(ordered_bits(f.base)))
        .collect();
    for (grp, list) in by_group.iter_mut().enumerate() {
        let Ok(grp) = u16::try_from(grp) else { break };
        list.sort_unstable_by(|&a, &b| {
            let ka = order_keys.get(a as usize).copied().unwrap_or(0);
            let kb = order_keys.get(b as usize).copied().unwrap_or(0);
            ka.cmp(&kb)
        });
        let mut active: BTreeSet<(i64, u32)> = BTreeSet::new();
        for &fi in list.iter() {
            let Some(f) = frags.frags.get(fi as usize) else {
                continue;
            };
            let win = 1.2 * f.size;
            let lo = base_key(f.base - win);
            let hi = base_key(f.base + win);
            let mut best: Option<(f32, u32)> = None;
            expired.clear();
            for &(k, sid) in active.range((lo, 0)..=(hi, u32::MAX)).take(MAX_CANDIDATES) {
                let Some(s) = segs.get(sid as usize) else {
                    continue;
                };
                if s.p1 + LABEL_GAP_EM * s.size < f.p0 {
                    // Fragments come in increasing start order: this segment can take no more.
                    expired.push((k, sid));
                    continue;
                }
                let label = s.frags.len() == 1
                    && s.frags
                        .first()
                        .is_some_and(|&x| labels.get(x as usize).copied().unwrap_or(false));
                if let Some(sc) = match_score(s, f, label)
                    && best.is_none_or(|(b, _)| sc < b)
                {
                    best = Some((sc, sid));
                }
            }
            for e in &expired {
                active.remove(e);
            }
            match best.and_then(|(_, sid)| segs.get_mut(sid as usize).map(|s| (sid, s))) {
                Some((sid, s)) => {
                    s.frags.push(fi);
                    s.p1 = s.p1.max(f.p1);
                    s.p0 = s.p0.min(f.p0);
                    s.chars = s.chars.saturating_add(f.n);
                    if f.size > 1.15 * s.size {
                        // A larger fragment becomes the reference baseline.
                        active.remove(&(base_key(s.base), sid));
                        s.base = f.base;
                        s.size = f.size;
                        s.last_base = f.base;
                        active.insert((base_key(s.base), sid));
                    } else if f.size >= 0.85 * s.size {
                        s.last_base = f.base;
                    }
                }
                None => {
                    let Ok(sid) = u32::try_from(segs.len()) else {
                        break;
                    };
                    segs.push(Seg {
                        grp,
                        p0: f.p0,
                        p1: f.p1,
                        base: f.base,
                        size: f.size,
                        last_base: f.base,
                        chars: f.n,
                        frags: {
                            // Room for a few fragments: most segments grow beyond one.
                            let mut v = Vec::with_capacity(4);
                            v.push(fi);
                            v
                        },
                    });
                    active.insert((base_key(f.base), sid));
                }
            }
        }
    }
    segs
}

#[cfg(test)]
mod tests {
    use super::is_label;

    #[test]
    fn labels() {
        for t in [
            "1.", "1.1", "2.3.1", "(a)", "a)", "iv.", "IV.", "•", "-", "3", "12)", "(12)",
        ] {
            assert!(is_label(t), "{t}");
        }
        for t in ["it.", "the", "1.5x", "word", "", "Fig.", "(see", "abc)"] {
            assert!(!is_label(t), "{t}");
        }
    }
}
