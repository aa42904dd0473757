//! Visual-to-logical reordering of horizontal lines holding right-to-left text.
//!
//! A simplified Unicode bidi algorithm: strong classes, neutrals resolved from their strong
//! neighbours, digits kept left to right, at most two embedding levels. PDF content draws
//! glyphs in visual order, so the reordering runs on the visual sequence.

use crate::unicode::BidiClass;

/// Result of reordering one line.
#[derive(Debug, Default)]
pub(crate) struct Reordered {
    /// The line's main direction is right to left.
    pub rtl: bool,
    /// Per unit (after reordering): the unit lies in a right-to-left run (mirror brackets).
    pub mirrored: Vec<bool>,
}

/// Reorder `units` (each a cluster of one base glyph and its marks, or a space, given by
/// `clusters` as `(start, end)` ranges into `units`) from visual to logical order.
/// `class` gives each cluster's class. Returns `None` when the line has no RTL text (it is
/// left unchanged).
pub(crate) fn reorder(
    units: &mut Vec<u32>,
    clusters: &[(usize, usize)],
    class: &[BidiClass],
) -> Option<Reordered> {
    if !class.contains(&BidiClass::R) || clusters.len() != class.len() {
        return None;
    }
    let r = class.iter().filter(|c| **c == BidiClass::R).count();
    let l = class.iter().filter(|c| **c == BidiClass::L).count();
    let rtl = r > l;
    let base_dir = if rtl { BidiClass::R } else { BidiClass::L };
    let n = class.len();

    // Strong direction in effect for each cluster from the left and from the right; digits
    // take the direction of the strong text before them.
    let mut resolved = class.to_vec();
    let mut prev = base_dir;
    let mut from_left = vec![base_dir; n];
    for i in 0..n {
        match class[i] {
            BidiClass::L | BidiClass::R => prev = class[i],
            _ => {}
        }
        from_left[i] = prev;
    }
    let mut next = base_dir;
    let mut from_right = vec![base_dir; n];
    for i in (0..n).rev() {
        match class[i] {
            BidiClass::L | BidiClass::R => next = class[i],
            BidiClass::Num => next = BidiClass::R,
            BidiClass::N => {}
        }
        from_right[i] = next;
    }
    for i in 0..n {
        if class[i] == BidiClass::N {
            // A neutral's left neighbour: a digit acts as R for neutrals (UBA N1).
            let left = if i > 0 && class[i - 1] == BidiClass::Num {
                BidiClass::R
            } else {
                from_left[i]
            };
            resolved[i] = if left == from_right[i] {
                left
            } else {
                base_dir
            };
        }
    }
    // Embedding levels: 0/1 for an LTR line, 1/2 for an RTL line.
    let levels: Vec<u8> = (0..n)
        .map(|i| match (resolved[i], rtl) {
            (BidiClass::R, _) => 1,
            (BidiClass::L, false) => 0,
            (BidiClass::L, true) => 2,
            (BidiClass::Num, true) => 2,
            (BidiClass::Num, false) => {
                if from_left[i] == BidiClass::R {
                    2
                } else {
                    0
                }
            }
            (BidiClass::N, _) => u8::from(rtl),
        })
        .collect();

    // Rule L2 on clusters: reverse runs at level >= 2, then runs at level >= 1.
    let mut order: Vec<usize> = (0..n).collect();
    for min in [2u8, 1u8] {
        let mut i = 0;
        while i < n {
            if levels[order[i]] >= min {
                let mut j = i;
                while j < n && levels[order[j]] >= min {
                    j += 1;
                }
                order[i..j].reverse();
                i = j;
            } else {
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(units.len());
    let mut mirrored = Vec::with_capacity(units.len());
    for &ci in &order {
        let (s, e) = clusters[ci];
        let odd = levels[ci] % 2 == 1;
        for &u in units.get(s..e).unwrap_or(&[]) {
            out.push(u);
            mirrored.push(odd);
        }
    }
    *units = out;
    Some(Reordered { rtl, mirrored })
}

#[cfg(test)]
mod tests {
    use super::*;
    use BidiClass::{L, N, Num, R};

    fn run(classes: &[BidiClass]) -> (Vec<u32>, bool) {
        let mut units: Vec<u32> = (0..classes.len() as u32).collect();
        let clusters: Vec<(usize, usize)> = (0..classes.len()).map(|i| (i, i + 1)).collect();
        let r = reorder(&mut units, &clusters, classes);
        (units, r.is_some_and(|r| r.rtl))
    }

    #[test]
    fn pure_rtl_is_reversed() {
        assert_eq!(run(&[R, R, N, R, R]), (vec![4, 3, 2, 1, 0], true));
    }

    #[test]
    fn digits_keep_their_order_in_rtl() {
        // visual: "12 ba" (a drawn right-most) -> logical "a b 12"
        assert_eq!(run(&[Num, Num, N, R, R]), (vec![4, 3, 2, 0, 1], true));
    }

    #[test]
    fn rtl_run_inside_ltr_line() {
        // visual "ab ED fg": the Hebrew run reads right to left.
        let (u, rtl) = run(&[L, L, N, R, R, N, L, L]);
        assert!(!rtl);
        assert_eq!(u, vec![0, 1, 2, 4, 3, 5, 6, 7]);
    }

    #[test]
    fn latin_run_inside_rtl_line() {
        let (u, rtl) = run(&[R, R, N, L, L, N, R, R, R]);
        assert!(rtl);
        assert_eq!(u, vec![8, 7, 6, 5, 3, 4, 2, 1, 0]);
    }

    #[test]
    fn ltr_line_untouched() {
        let mut units = vec![0, 1, 2];
        assert!(reorder(&mut units, &[(0, 1), (1, 2), (2, 3)], &[L, N, L]).is_none());
        assert_eq!(units, vec![0, 1, 2]);
    }
}
