//! Blocks (paragraph-like groups of lines) and their reading order.

use crate::lines::{Frags, Seg};
use crate::prep::{Group, ordered_bits};

/// Deepest recursion of the XY-cut; below it blocks are simply sorted top-down.
const MAX_DEPTH: u32 = 48;
/// Tables have short cells: at most this many characters per line on average.
const TABLE_MAX_CHARS_PER_LINE: u64 = 25;
/// Most open blocks considered for each new line (bounded work on pathological pages).
const MAX_OPEN: usize = 256;

/// A line of a block under construction: segments sharing a baseline.
#[derive(Debug, Clone)]
pub(crate) struct BLine {
    pub base: f32,
    pub size: f32,
    pub p0: f32,
    pub p1: f32,
    /// Number of characters.
    pub chars: u32,
    /// Fragment indices, sorted along the writing direction once the block is complete.
    pub frags: Vec<u32>,
}

/// A block in the frame of its direction group.
#[derive(Debug, Clone)]
pub(crate) struct BBlock {
    pub grp: u16,
    pub lines: Vec<BLine>,
    pub p0: f32,
    pub p1: f32,
    pub size: f32,
    /// Smallest baseline distance seen between consecutive lines.
    pitch: Option<f32>,
    chars: u32,
    dead: bool,
}

impl BBlock {
    fn last(&self) -> Option<&BLine> {
        self.lines.last()
    }

    /// Top edge across the writing direction.
    fn s0(&self, vertical: bool) -> f32 {
        let a = if vertical { 0.5 } else { 0.8 };
        self.lines
            .iter()
            .map(|l| l.base - a * l.size)
            .fold(f32::INFINITY, f32::min)
    }

    /// Bottom edge across the writing direction.
    fn s1(&self, vertical: bool) -> f32 {
        let a = if vertical { 0.5 } else { 0.25 };
        self.lines
            .iter()
            .map(|l| l.base + a * l.size)
            .fold(f32::NEG_INFINITY, f32::max)
    }
}

fn similar_size(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol * a.max(b)
}

/// Group the segments of every direction group into blocks.
/// Consumes the segments' fragment lists (each segment is placed once).
pub(crate) fn build_blocks(segs: &mut [Seg], frags: &Frags) -> Vec<BBlock> {
    let mut order: Vec<u32> = (0..segs.len())
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    order.sort_unstable_by(|&a, &b| {
        let (sa, sb) = (&segs[a as usize], &segs[b as usize]);
        sa.grp
            .cmp(&sb.grp)
            .then(sa.base.total_cmp(&sb.base))
            .then(sa.p0.total_cmp(&sb.p0))
    });
    let mut blocks: Vec<BBlock> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut cur_grp = u16::MAX;
    for &si in &order {
        let Some(seg) = segs.get_mut(si as usize) else {
            continue;
        };
        if seg.grp != cur_grp {
            open.clear();
            cur_grp = seg.grp;
        }
        let size = seg.size;
        // Close blocks that are too far above to continue.
        open.retain(|&b| {
            blocks.get(b).is_some_and(|bl| {
                bl.last()
                    .is_some_and(|l| l.base >= seg.base - 3.0 * bl.size.max(size))
            })
        });
        if open.len() > MAX_OPEN {
            let excess = open.len() - MAX_OPEN;
            open.drain(..excess);
        }

        // (1) The same visual line, continued past a wide gap inside a block's extent
        // (a justified line with a wide space, a wide table row inside a paragraph).
        let mut placed = false;
        for &b in &open {
            let Some(bl) = blocks.get_mut(b) else {
                continue;
            };
            if bl.lines.len() < 2 {
                continue;
            }
            let (bp0, bp1, bsize) = (bl.p0, bl.p1, bl.size);
            let Some(l) = bl.lines.last_mut() else {
                continue;
            };
            let small = l.size.min(size);
            if (seg.base - l.base).abs() <= 0.3 * small
                && similar_size(l.size, size, 0.3)
                && seg.p0 < bp1 + 0.5 * bsize
                && seg.p1 > bp0 - 0.5 * bsize
                && (seg.p0 >= l.p1 - 0.1 * small || seg.p1 <= l.p0 + 0.1 * small)
            {
                l.p0 = l.p0.min(seg.p0);
                l.p1 = l.p1.max(seg.p1);
                l.frags.extend_from_slice(&seg.frags);
                l.chars = l.chars.saturating_add(seg.chars);
                bl.p0 = bl.p0.min(seg.p0);
                bl.p1 = bl.p1.max(seg.p1);
                bl.chars = bl.chars.saturating_add(seg.chars);
                placed = true;
                break;
            }
        }
        if placed {
            continue;
        }

        // (2) The next line of a block just above that overlaps it horizontally.
        let mut best: Option<(f32, usize)> = None;
        for &b in &open {
            let Some(bl) = blocks.get(b) else { continue };
            let Some(l) = bl.last() else { continue };
            let dy = seg.base - l.base;
            if dy <= 0.4 * size.min(bl.size) || !similar_size(bl.size, size, 0.1) {
                continue;
            }
            let limit = match bl.pitch {
                Some(p) => (p * 1.3 + 0.2 * size).min(2.5 * size),
                None => 1.8 * size,
            };
            if dy > limit || seg.p0 >= bl.p1 || seg.p1 <= bl.p0 {
                continue;
            }
            if best.is_none_or(|(d, _)| dy < d) {
                best = Some((dy, b));
            }
        }
        // A paragraph break inside a column: the previous line stopped well short of the
        // block's right edge and this one starts indented.
        let para_break = best.and_then(|(_, b)| blocks.get(b)).is_some_and(|bl| {
            bl.lines.len() >= 2
                && bl.last().is_some_and(|l| l.p1 < bl.p1 - 2.0 * size)
                && seg.p0 > bl.p0 + 0.8 * size
                && seg.p0 < bl.p0 + 4.0 * size
        });
        if let Some((dy, b)) = best.filter(|_| !para_break)
            && let Some(bl) = blocks.get_mut(b)
        {
            bl.pitch = Some(bl.pitch.map_or(dy, |p| p.min(dy)));
            bl.p0 = bl.p0.min(seg.p0);
            bl.p1 = bl.p1.max(seg.p1);
            bl.chars = bl.chars.saturating_add(seg.chars);
            bl.lines.push(BLine {
                base: seg.base,
                size,
                p0: seg.p0,
                p1: seg.p1,
                chars: seg.chars,
                frags: std::mem::take(&mut seg.frags),
            });
            continue;
        }

        // (3) A new block.
        open.push(blocks.len());
        blocks.push(BBlock {
            grp: seg.grp,
            lines: vec![BLine {
                base: seg.base,
                size,
                p0: seg.p0,
                p1: seg.p1,
                chars: seg.chars,
                frags: std::mem::take(&mut seg.frags),
            }],
            p0: seg.p0,
            p1: seg.p1,
            size,
            pitch: None,
            chars: seg.chars,
            dead: false,
        });
    }

    merge_stray_pieces(&mut blocks);
    blocks.retain(|b| !b.dead);
    // `total_cmp` order of the fragments' starts as integers: the same comparisons, so the
    // same (unstable) permutation, without two float transforms per comparison.
    let starts: Vec<u32> = frags.frags.iter().map(|f| ordered_bits(f.p0)).collect();
    let start = |i: u32| starts.get(i as usize).copied().unwrap_or(0);
    for b in &mut blocks {
        for l in &mut b.lines {
            l.frags.sort_unstable_by_key(|&x| start(x));
        }
    }
    blocks
}

/// Single-line blocks lying inside a larger block on one of its lines (a piece of a line cut
/// off by a wide space before the block had grown wide enough) rejoin that line.
fn merge_stray_pieces(blocks: &mut [BBlock]) {
    // (group, base, block, line) of every line of a multi-line block, sorted.
    let mut index: Vec<(u16, f32, usize, usize)> = Vec::new();
    for (bi, b) in blocks.iter().enumerate() {
        if b.lines.len() >= 2 {
            for (li, l) in b.lines.iter().enumerate() {
                index.push((b.grp, l.base, bi, li));
            }
        }
    }
    if index.is_empty() {
        return;
    }
    index.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    for yi in 0..blocks.len() {
        let Some(y) = blocks.get(yi) else { continue };
        if y.lines.len() != 1 {
            continue;
        }
        let Some(yl) = y.lines.first() else { continue };
        let (grp, base, size, p0, p1) = (y.grp, yl.base, yl.size, yl.p0, yl.p1);
        let tol = 0.3 * size;
        let start = index.partition_point(|e| e.0 < grp || (e.0 == grp && e.1 < base - tol));
        let mut target: Option<(usize, usize)> = None;
        for e in index.iter().skip(start).take(16) {
            if e.0 != grp || e.1 > base + tol {
                break;
            }
            let Some(x) = blocks.get(e.2) else { continue };
            let Some(xl) = x.lines.get(e.3) else { continue };
            if e.2 != yi
                && !x.dead
                && similar_size(xl.size, size, 0.3)
                && p0 >= x.p0 - 0.5 * x.size
                && p1 <= x.p1 + 0.5 * x.size
                && (p0 >= xl.p1 - 0.1 * size || p1 <= xl.p0 + 0.1 * size)
            {
                target = Some((e.2, e.3));
                break;
            }
        }
        if let Some((xb, xli)) = target {
            let frags = blocks.get_mut(yi).map(|y| {
                y.dead = true;
                std::mem::take(&mut y.lines)
            });
            if let (Some(mut lines), Some(x)) = (frags, blocks.get_mut(xb))
                && let (Some(xl), Some(yl)) = (x.lines.get_mut(xli), lines.pop())
            {
                xl.p0 = xl.p0.min(yl.p0);
                xl.p1 = xl.p1.max(yl.p1);
                xl.frags.extend(yl.frags);
                xl.chars = xl.chars.saturating_add(yl.chars);
            }
        }
    }
}

/// Frame rectangle of a block used by the reading-order cut.
#[derive(Debug, Clone, Copy)]
struct R {
    p0: f32,
    p1: f32,
    s0: f32,
    s1: f32,
    size: f32,
}

/// One unit of the reading order: a whole block, or one line of a block that is output as
/// part of a table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    pub block: usize,
    /// `None` for the whole block, else the index of a single line.
    pub line: Option<usize>,
    /// A table line that starts a new output block (a new row).
    pub new_row: bool,
}

struct Cut<'a> {
    blocks: &'a [BBlock],
    rects: Vec<R>,
    rtl: bool,
}

/// Put the blocks in reading order: groups by decreasing size, then an XY-cut inside each.
/// `rtl_groups[g]` is true when group `g` is mostly right-to-left text (columns run
/// right to left).
pub(crate) fn reading_order(blocks: &[BBlock], groups: &[Group], rtl_groups: &[bool]) -> Vec<Item> {
    let mut gorder: Vec<usize> = (0..groups.len()).collect();
    gorder.sort_by(|&a, &b| groups[b].count.cmp(&groups[a].count).then(a.cmp(&b)));
    let rects: Vec<R> = blocks
        .iter()
        .map(|b| {
            let vertical = groups.get(usize::from(b.grp)).is_some_and(|g| g.vertical);
            R {
                p0: b.p0,
                p1: b.p1,
                s0: b.s0(vertical),
                s1: b.s1(vertical),
                size: b.size,
            }
        })
        .collect();
    let mut cut = Cut {
        blocks,
        rects,
        rtl: false,
    };
    let mut out = Vec::with_capacity(blocks.len());
    for g in gorder {
        let ids: Vec<usize> = blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| usize::from(b.grp) == g)
            .map(|(i, _)| i)
            .collect();
        cut.rtl = rtl_groups.get(g).copied().unwrap_or(false);
        cut.xy_cut(ids, 0, &mut out);
    }
    out
}

fn whole(block: usize) -> Item {
    Item {
        block,
        line: None,
        new_row: false,
    }
}

impl Cut<'_> {
    fn sort_top_down(&self, ids: &mut [usize]) {
        let r = &self.rects;
        ids.sort_by(|&a, &b| {
            r[a].s0
                .total_cmp(&r[b].s0)
                .then(r[a].p0.total_cmp(&r[b].p0))
        });
    }

    /// Split `ids` at gaps of the projection on the writing direction (columns), in order.
    fn split_columns(&self, ids: &[usize], min_gap: f32) -> Vec<Vec<usize>> {
        let r = &self.rects;
        let mut v: Vec<usize> = ids.to_vec();
        v.sort_by(|&a, &b| r[a].p0.total_cmp(&r[b].p0));
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut cur: Vec<usize> = Vec::new();
        let mut end = f32::NEG_INFINITY;
        for i in v {
            if !cur.is_empty() && r[i].p0 > end + min_gap {
                out.push(std::mem::take(&mut cur));
            }
            end = end.max(r[i].p1);
            cur.push(i);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    /// Split `ids` at gaps of the projection across the writing direction (strips), top-down.
    fn split_strips(&self, ids: &[usize]) -> Vec<Vec<usize>> {
        let r = &self.rects;
        let mut v: Vec<usize> = ids.to_vec();
        v.sort_by(|&a, &b| r[a].s0.total_cmp(&r[b].s0));
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut cur: Vec<usize> = Vec::new();
        let mut end = f32::NEG_INFINITY;
        for i in v {
            if !cur.is_empty() && r[i].s0 > end {
                out.push(std::mem::take(&mut cur));
            }
            end = end.max(r[i].s1);
            cur.push(i);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    /// Column gutters (free intervals along the writing direction) inside a set of blocks.
    fn gutters(&self, ids: &[usize], min_gap: f32) -> Vec<(f32, f32)> {
        let mut v: Vec<(f32, f32)> = ids
            .iter()
            .map(|&i| (self.rects[i].p0, self.rects[i].p1))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out = Vec::new();
        let mut end = f32::NEG_INFINITY;
        for (a, b) in v {
            if end.is_finite() && a > end + min_gap && out.len() < 64 {
                out.push((end, a));
            }
            end = end.max(b);
        }
        out
    }

    /// Lines of `cols` (with their column index): baseline, size, chars, column.
    fn col_lines(&self, cols: &[Vec<usize>]) -> Vec<(f32, f32, u32, usize)> {
        let mut all = Vec::new();
        for (ci, c) in cols.iter().enumerate() {
            for &b in c {
                if let Some(bl) = self.blocks.get(b) {
                    all.extend(bl.lines.iter().map(|l| (l.base, l.size, l.chars, ci)));
                }
            }
        }
        all
    }

    /// Columns of short cells whose baselines line up across columns: a table.
    fn is_table(&self, cols: &[Vec<usize>]) -> bool {
        if cols.len() < 2 {
            return false;
        }
        let mut all = self.col_lines(cols);
        let n = all.len();
        if !(6..=20_000).contains(&n) {
            return false;
        }
        let chars: u64 = all.iter().map(|l| u64::from(l.2)).sum();
        if chars > TABLE_MAX_CHARS_PER_LINE * n as u64 {
            return false;
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut aligned = 0usize;
        for (k, e) in all.iter().enumerate() {
            let tol = 0.3 * e.1;
            let near = |o: &(f32, f32, u32, usize)| o.3 != e.3 && (o.0 - e.0).abs() <= tol;
            let before = all.get(..k).unwrap_or(&[]).iter().rev().take(8).any(near);
            let after = all.get(k + 1..).unwrap_or(&[]).iter().take(8).any(near);
            if before || after {
                aligned += 1;
            }
        }
        aligned * 10 >= n * 7
    }

    /// Columns whose blocks start side by side (a table with multi-line cells, a form, a
    /// side-by-side comparison), unlike text columns whose paragraphs start independently.
    fn is_block_table(&self, cols: &[Vec<usize>]) -> bool {
        if cols.iter().map(Vec::len).sum::<usize>() > 20_000 {
            return false;
        }
        let first_bases = |c: &[usize]| -> Vec<(f32, f32)> {
            let mut v: Vec<(f32, f32)> = c
                .iter()
                .filter_map(|&b| self.blocks.get(b).and_then(|bl| bl.lines.first()))
                .map(|l| (l.base, l.size))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        // The two largest columns (narrow pieces such as a centred page number between
        // them do not count) whose block starts mostly pair up.
        let mut by_len: Vec<&Vec<usize>> = cols.iter().collect();
        by_len.sort_by_key(|c| std::cmp::Reverse(c.len()));
        let (Some(x), Some(y)) = (by_len.first(), by_len.get(1)) else {
            return false;
        };
        {
            let (a, b) = (first_bases(x), first_bases(y));
            let (small, big) = if a.len() <= b.len() {
                (&a, &b)
            } else {
                (&b, &a)
            };
            if small.len() < 4 {
                return false;
            }
            let aligned = small
                .iter()
                .filter(|(base, size)| {
                    let k = big.partition_point(|o| o.0 < base - 0.3 * size);
                    big.get(k).is_some_and(|o| (o.0 - base).abs() <= 0.3 * size)
                })
                .count();
            aligned >= 4 && aligned * 2 >= small.len()
        }
    }

    /// Blocks in rows: by first baseline, then along the writing direction.
    fn block_row_order(&self, mut ids: Vec<usize>, out: &mut Vec<Item>) {
        let base0 = |b: usize| {
            self.blocks
                .get(b)
                .and_then(|bl| bl.lines.first())
                .map_or(0.0, |l| l.base)
        };
        ids.sort_by(|&a, &b| base0(a).total_cmp(&base0(b)));
        let mut row: Vec<usize> = Vec::new();
        let mut row_base = f32::NEG_INFINITY;
        let flush = |row: &mut Vec<usize>, out: &mut Vec<Item>| {
            row.sort_by(|&a, &b| self.rects[a].p0.total_cmp(&self.rects[b].p0));
            if self.rtl {
                row.reverse();
            }
            out.extend(row.drain(..).map(whole));
        };
        for b in ids {
            let (base, size) = (base0(b), self.rects[b].size);
            if !row.is_empty() && base - row_base > 0.4 * size {
                flush(&mut row, out);
            }
            if row.is_empty() {
                row_base = base;
            }
            row.push(b);
        }
        flush(&mut row, out);
    }

    /// Output table lines row by row; each row becomes one block of cells.
    fn row_order(&self, cols: &[Vec<usize>], out: &mut Vec<Item>) {
        let mut v: Vec<(f32, f32, f32, usize, usize)> = Vec::new();
        for c in cols {
            for &b in c {
                if let Some(bl) = self.blocks.get(b) {
                    v.extend(
                        bl.lines
                            .iter()
                            .enumerate()
                            .map(|(li, l)| (l.base, l.p0, l.size, b, li)),
                    );
                }
            }
        }
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut row: Vec<(f32, f32, f32, usize, usize)> = Vec::new();
        let flush = |row: &mut Vec<(f32, f32, f32, usize, usize)>, out: &mut Vec<Item>| {
            row.sort_by(|a, b| a.1.total_cmp(&b.1));
            if self.rtl {
                row.reverse();
            }
            for (k, e) in row.drain(..).enumerate() {
                out.push(Item {
                    block: e.3,
                    line: Some(e.4),
                    new_row: k == 0,
                });
            }
        };
        let mut row_base = f32::NEG_INFINITY;
        for e in v {
            if !row.is_empty() && e.0 - row_base > 0.4 * e.2 {
                flush(&mut row, out);
            }
            if row.is_empty() {
                row_base = e.0;
            }
            row.push(e);
        }
        flush(&mut row, out);
    }

    /// Recursive XY-cut: columns first (left to right, or right to left for RTL text), else
    /// horizontal strips, re-merging consecutive strips that share a column gutter so that
    /// paragraph gaps which happen to line up do not interleave two columns.
    fn xy_cut(&self, mut ids: Vec<usize>, depth: u32, out: &mut Vec<Item>) {
        if ids.len() <= 1 {
            out.extend(ids.into_iter().map(whole));
            return;
        }
        if depth >= MAX_DEPTH {
            self.sort_top_down(&mut ids);
            out.extend(ids.into_iter().map(whole));
            return;
        }
        let mut sizes: Vec<f32> = ids.iter().map(|&i| self.rects[i].size).collect();
        let mid = sizes.len() / 2;
        sizes.select_nth_unstable_by(mid, f32::total_cmp);
        let med = sizes.get(mid).copied().unwrap_or(10.0);
        let min_gap = 0.3 * med;

        let mut cols = self.split_columns(&ids, min_gap);
        if cols.len() > 1 {
            if self.is_table(&cols) {
                self.row_order(&cols, out);
                return;
            }
            if self.is_block_table(&cols) {
                self.block_row_order(ids, out);
                return;
            }
            if self.rtl {
                cols.reverse();
            }
            for c in cols {
                self.xy_cut(c, depth + 1, out);
            }
            return;
        }
        let strips = self.split_strips(&ids);
        if strips.len() <= 1 {
            self.sort_top_down(&mut ids);
            out.extend(ids.into_iter().map(whole));
            return;
        }
        let mut i = 0;
        while let Some(first) = strips.get(i) {
            let mut group = first.clone();
            let mut gut = self.gutters(first, min_gap);
            let mut j = i + 1;
            while let Some(next) = strips.get(j) {
                if gut.is_empty() {
                    break;
                }
                let inter = intersect(&gut, &self.gutters(next, min_gap), min_gap);
                if inter.is_empty() {
                    break;
                }
                gut = inter;
                group.extend_from_slice(next);
                j += 1;
            }
            self.xy_cut(group, depth + 1, out);
            i = j;
        }
    }
}

fn intersect(a: &[(f32, f32)], b: &[(f32, f32)], min_gap: f32) -> Vec<(f32, f32)> {
    let mut out = Vec::new();
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let (lo, hi) = (a0.max(b0), a1.min(b1));
            if hi - lo > min_gap {
                out.push((lo, hi));
            }
        }
    }
    out
}
