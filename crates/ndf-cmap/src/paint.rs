//! Turns mapping ranges given in definition order into sorted, disjoint ranges
//! where a later definition wins over an earlier one on overlapping codes.
//!
//! A sweep over range boundaries with a max-heap of the definitions active at
//! each point: O(n log n), at most 2n - 1 output pieces.

use std::collections::BinaryHeap;

/// A mapping range over codes `lo..=hi`.
pub(crate) trait Span: Copy {
    fn lo(&self) -> u32;
    fn hi(&self) -> u32;
    /// The same mapping restricted to `lo..=hi` (a sub-range of this one);
    /// `None` when the restriction cannot be represented.
    fn restrict(&self, lo: u32, hi: u32) -> Option<Self>;
}

/// Sorted, disjoint pieces; later items of `items` win.
pub(crate) fn paint<T: Span>(items: &[T]) -> Vec<T> {
    let valid = |t: &T| t.lo() <= t.hi();
    // Fast path: already sorted and disjoint (the usual case).
    if items.iter().all(valid) && items.windows(2).all(|w| w[0].hi() < w[1].lo()) {
        return items.to_vec();
    }
    // (position, is_start, index); ends sit at hi + 1, so positions are u64.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(items.len().saturating_mul(2));
    for (i, t) in items.iter().enumerate() {
        if valid(t) {
            events.push((u64::from(t.lo()), true, i));
            events.push((u64::from(t.hi()) + 1, false, i));
        }
    }
    events.sort_unstable();
    let mut ended = vec![false; items.len()];
    let mut heap: BinaryHeap<usize> = BinaryHeap::new();
    let mut out: Vec<T> = Vec::new();
    let mut last_winner: Option<usize> = None;
    let mut cur: u64 = 0;
    let mut k = 0;
    while let Some(&(pos, _, _)) = events.get(k) {
        if pos > cur {
            while heap
                .peek()
                .is_some_and(|&t| ended.get(t).copied().unwrap_or(true))
            {
                heap.pop();
            }
            if let Some(&w) = heap.peek() {
                let lo = u32::try_from(cur).unwrap_or(u32::MAX);
                let hi = u32::try_from(pos - 1).unwrap_or(u32::MAX);
                let extend = last_winner == Some(w)
                    && out.last().is_some_and(|p| u64::from(p.hi()) + 1 == cur);
                if extend {
                    if let Some(prev) = out.pop() {
                        let merged = items.get(w).and_then(|t| t.restrict(prev.lo(), hi));
                        out.extend(merged.or(Some(prev)));
                    }
                } else if let Some(piece) = items.get(w).and_then(|t| t.restrict(lo, hi)) {
                    out.push(piece);
                    last_winner = Some(w);
                } else {
                    last_winner = None;
                }
            } else {
                last_winner = None;
            }
        }
        while let Some(&(p, start, i)) = events.get(k) {
            if p != pos {
                break;
            }
            if start {
                heap.push(i);
            } else if let Some(e) = ended.get_mut(i) {
                *e = true;
            }
            k += 1;
        }
        cur = pos;
    }
    out
}

/// Index of the piece of sorted, disjoint `ranges` containing `code`.
#[inline]
pub(crate) fn find<T: Span>(ranges: &[T], code: u32) -> Option<&T> {
    let idx = ranges.partition_point(|r| r.lo() <= code);
    let r = ranges.get(idx.checked_sub(1)?)?;
    (code <= r.hi()).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct R(u32, u32, u32); // lo, hi, tag

    impl Span for R {
        fn lo(&self) -> u32 {
            self.0
        }
        fn hi(&self) -> u32 {
            self.1
        }
        fn restrict(&self, lo: u32, hi: u32) -> Option<Self> {
            Some(R(lo, hi, self.2))
        }
    }

    #[test]
    fn later_wins() {
        let out = paint(&[R(0, 10, 1), R(3, 4, 2), R(9, 20, 3), R(30, 30, 4)]);
        assert_eq!(
            out,
            vec![
                R(0, 2, 1),
                R(3, 4, 2),
                R(5, 8, 1),
                R(9, 20, 3),
                R(30, 30, 4)
            ]
        );
        assert_eq!(find(&out, 4), Some(&R(3, 4, 2)));
        assert_eq!(find(&out, 25), None);
        assert_eq!(find(&out, 0), Some(&R(0, 2, 1)));
    }

    #[test]
    fn extremes_and_inverted() {
        let out = paint(&[R(5, 1, 9), R(0, u32::MAX, 1), R(u32::MAX, u32::MAX, 2)]);
        assert_eq!(out, vec![R(0, u32::MAX - 1, 1), R(u32::MAX, u32::MAX, 2)]);
    }

    #[test]
    fn earlier_resumes_after_later() {
        let out = paint(&[R(0, 9, 1), R(2, 3, 2), R(2, 3, 1)]);
        // The third item is index 2 and wins over index 1.
        assert_eq!(out, vec![R(0, 1, 1), R(2, 3, 1), R(4, 9, 1)]);
    }
}
