//! Assembly of the output model: spaces between fragments, bidi, spans, de-hyphenation.

use ndf_model::{
    Block, BlockRole, CharFlags, Line, Page, Rect, Span, TextChar, TextPage, WritingDirection,
};

use crate::LayoutOptions;
use crate::bidi;
use crate::blocks::{BLine, build_blocks, reading_order};
use crate::lines::{Frag, Frags, build_frags, build_segs, is_label};
use crate::num::round_i32;
use crate::prep::{Glyph, Group, Kind, Prepared, prepare};
use crate::unicode::{BidiClass, bidi_class, char_text, may_hold_rtl, mirror};

/// Marker for a word space in a line's unit sequence.
const SPACE: u32 = u32::MAX;
/// Inter-fragment gap (em) that reads as a word space (poppler's `maxCharSpacing`).
const SPACE_EM: f32 = 0.03;
/// With letter-spaced text (all fragments single characters): multiple of the smallest gap
/// and cap (em) of the word-space threshold (poppler's `maxWideCharSpacing*`).
const WIDE_MUL: f32 = 1.3;
const WIDE_CAP_EM: f32 = 0.4;

struct Ctx<'a> {
    page: &'a TextPage,
    prep: &'a Prepared,
    frags: &'a Frags,
    /// Some character of the page may be right-to-left (else no line is reordered).
    rtl_possible: bool,
}

impl Ctx<'_> {
    fn glyph(&self, gi: u32) -> Option<&Glyph> {
        self.prep.glyphs.get(gi as usize)
    }

    fn char_of(&self, g: &Glyph) -> Option<&TextChar> {
        self.page.chars.get(g.ci as usize)
    }

    fn text_of(&self, gi: u32) -> &str {
        self.glyph(gi)
            .and_then(|g| self.char_of(g))
            .map_or("", |c| char_text(self.page, c))
    }

    /// A usable box for a glyph: its own when finite, else one built from origin and size.
    fn rect_of(&self, g: &Glyph) -> Option<Rect> {
        let c = self.char_of(g)?;
        let b = c.bbox;
        if b.is_finite() && [b.x0, b.y0, b.x1, b.y1].iter().all(|v| v.abs() <= 1.0e6) {
            return Some(Rect::from_corners(b.x0, b.y0, b.x1, b.y1));
        }
        let (x, y) = c.origin;
        Some(Rect::from_corners(
            x,
            y - 0.8 * g.size,
            x + (g.p1 - g.p0).abs(),
            y + 0.2 * g.size,
        ))
    }
}

/// Lay out one page (see [`crate::layout_page`]).
pub(crate) fn layout(page: &TextPage, opts: &LayoutOptions) -> Page {
    let prep = prepare(page);
    let frags = build_frags(&prep.glyphs);
    let mut t = String::new();
    let text_of = |gi: u32| {
        prep.glyphs
            .get(gi as usize)
            .and_then(|g| page.chars.get(g.ci as usize))
            .map(|c| char_text(page, c))
    };
    let labels: Vec<bool> = frags
        .frags
        .iter()
        .map(|f| {
            let g = frags.glyphs(f);
            g.len() <= 12 && {
                // A label starts with '(' or ends with a digit, '.', ')' or a bullet: a
                // fragment ending in a letter (most words) is none, without assembling its text.
                let word = match (
                    g.first().and_then(|&i| text_of(i)),
                    g.last().and_then(|&i| text_of(i)),
                ) {
                    (Some(a), Some(b)) => {
                        !a.trim_start().starts_with('(')
                            && b.trim_end()
                                .chars()
                                .next_back()
                                .is_some_and(char::is_alphabetic)
                    }
                    _ => false,
                };
                !word && {
                    t.clear();
                    for &gi in g {
                        if let Some(x) = text_of(gi) {
                            t.push_str(x);
                        }
                    }
                    is_label(&t)
                }
            }
        })
        .collect();
    let mut segs = build_segs(&frags, prep.groups.len(), &labels);
    let blocks = build_blocks(&mut segs, &frags);
    drop(segs);
    let ctx = Ctx {
        page,
        prep: &prep,
        frags: &frags,
        rtl_possible: may_hold_rtl(&page.text),
    };
    let rtl_groups = rtl_groups(&ctx);
    let order = reading_order(&blocks, &prep.groups, &rtl_groups);

    let mut out_blocks = Vec::with_capacity(order.len());
    // Table cells of the current row, gathered into one block.
    let mut row: Option<(u16, Vec<&BLine>)> = None;
    for item in order {
        let Some(b) = blocks.get(item.block) else {
            continue;
        };
        match item.line {
            None => {
                if let Some((g, ls)) = row.take() {
                    out_blocks.extend(make_block(&ctx, g, &ls, false));
                }
                let ls: Vec<&BLine> = b.lines.iter().collect();
                out_blocks.extend(make_block(&ctx, b.grp, &ls, opts.dehyphenate));
            }
            Some(li) => {
                let Some(l) = b.lines.get(li) else { continue };
                if item.new_row
                    && let Some((g, ls)) = row.take()
                {
                    out_blocks.extend(make_block(&ctx, g, &ls, false));
                }
                row.get_or_insert_with(|| (b.grp, Vec::new())).1.push(l);
            }
        }
    }
    if let Some((g, ls)) = row.take() {
        out_blocks.extend(make_block(&ctx, g, &ls, false));
    }
    let fin = |v: f32| if v.is_finite() { v } else { 0.0 };
    Page {
        number: page.number,
        width: fin(page.width),
        height: fin(page.height),
        rotation: page.rotation,
        blocks: out_blocks,
        diagnostics: page.diagnostics.clone(),
    }
}

/// Per group: is it mostly right-to-left text?
fn rtl_groups(ctx: &Ctx<'_>) -> Vec<bool> {
    if !ctx.rtl_possible {
        // No R character: every group counts zero R glyphs.
        return vec![false; ctx.prep.groups.len()];
    }
    let mut counts = vec![(0u32, 0u32); ctx.prep.groups.len()];
    for (gi, g) in ctx.prep.glyphs.iter().enumerate() {
        let Ok(gi) = u32::try_from(gi) else { break };
        let Some(c) = ctx.text_of(gi).chars().next() else {
            continue;
        };
        if let Some(e) = counts.get_mut(usize::from(g.grp)) {
            match bidi_class(c) {
                BidiClass::R => e.0 = e.0.saturating_add(1),
                BidiClass::L => e.1 = e.1.saturating_add(1),
                _ => {}
            }
        }
    }
    counts.into_iter().map(|(r, l)| r > l).collect()
}

/// A block from lines; `dehyphenate` is off for table rows (cells are not running text).
fn make_block(ctx: &Ctx<'_>, grp: u16, src: &[&BLine], dehyphenate: bool) -> Option<Block> {
    let group = ctx.prep.groups.get(usize::from(grp)).copied()?;
    let mut lines: Vec<Line> = src
        .iter()
        .filter_map(|l| make_line(ctx, l, &group))
        .collect();
    if lines.is_empty() {
        return None;
    }
    if dehyphenate {
        for i in 1..lines.len() {
            let next_lower = first_char(&lines[i]).is_some_and(char::is_lowercase);
            if next_lower && ends_with_hyphen(&lines[i - 1]) {
                lines[i - 1].hyphenated = true;
            }
        }
    }
    let mut bbox = lines[0].bbox;
    for l in &lines[1..] {
        bbox = bbox.union(&l.bbox);
    }
    Some(Block {
        bbox,
        role: BlockRole::Body,
        lines,
    })
}

fn first_char(l: &Line) -> Option<char> {
    l.spans
        .iter()
        .flat_map(|s| s.text.chars())
        .find(|c| !c.is_whitespace())
}

/// The line's text ends with a hyphen (or soft hyphen) directly after a letter.
fn ends_with_hyphen(l: &Line) -> bool {
    let Some(last) = l.spans.iter().rev().find(|s| !s.text.trim_end().is_empty()) else {
        return false;
    };
    let mut it = last.text.trim_end().chars().rev();
    let h = it.next();
    let before = it.next().or_else(|| {
        // The hyphen may start its own span: look at the span before.
        let n = l.spans.len();
        l.spans
            .get(n.checked_sub(2)?)?
            .text
            .trim_end()
            .chars()
            .next_back()
    });
    matches!(h, Some('-' | '\u{AD}')) && before.is_some_and(char::is_alphabetic)
}

/// Units (glyph indices and word spaces) of a line, in visual order along the writing
/// direction, with poppler's word-space rule between fragments.
fn line_units(ctx: &Ctx<'_>, l: &BLine) -> Vec<u32> {
    // The line's fragments, walked without collecting them (this runs once per line).
    let frags = || {
        l.frags
            .iter()
            .filter_map(|&f| ctx.frags.frags.get(f as usize))
    };
    let Some(first) = frags().next() else {
        return Vec::new();
    };
    let em = first.size;
    let mut thr = SPACE_EM * em;
    if frags().nth(1).is_some() && frags().all(|f| f.n == 1) {
        // Letter-spaced text: word spaces are clearly wider than the letter gaps.
        let min_gap = frags()
            .zip(frags().skip(1))
            .map(|(a, b)| b.p0 - a.p1)
            .fold(f32::INFINITY, f32::min);
        if min_gap > 0.0 {
            thr = (WIDE_MUL * min_gap).min(WIDE_CAP_EM * em);
        }
    }
    let mut units = Vec::with_capacity(frags().map(|f| (f.g1 - f.g0) as usize + 1).sum());
    let mut prev: Option<&Frag> = None;
    for f in frags() {
        if let Some(p) = prev
            && f.p0 - p.p1 >= thr
        {
            units.push(SPACE);
        }
        units.extend_from_slice(ctx.frags.glyphs(f));
        prev = Some(f);
    }
    units
}

fn make_line(ctx: &Ctx<'_>, l: &BLine, group: &Group) -> Option<Line> {
    let mut units = line_units(ctx, l);
    if units.is_empty() {
        return None;
    }
    let mut dir = if group.vertical {
        WritingDirection::Ttb
    } else {
        WritingDirection::Ltr
    };
    let mut mirrored: Vec<bool> = Vec::new();
    // Without any right-to-left character `bidi::reorder` leaves every line unchanged.
    if !group.vertical && ctx.rtl_possible {
        // Clusters: a base glyph with its marks, or a space.
        let mut clusters: Vec<(usize, usize)> = Vec::with_capacity(units.len());
        let mut classes: Vec<BidiClass> = Vec::with_capacity(units.len());
        for (i, &u) in units.iter().enumerate() {
            let is_mark = u != SPACE && ctx.glyph(u).is_some_and(|g| g.kind == Kind::Mark);
            if is_mark && let Some(last) = clusters.last_mut() {
                last.1 = i + 1;
                continue;
            }
            clusters.push((i, i + 1));
            let class = if u == SPACE {
                BidiClass::N
            } else {
                let t = ctx.text_of(u);
                let mut cl = BidiClass::N;
                for ch in t.chars() {
                    let c = bidi_class(ch);
                    if c != BidiClass::N {
                        cl = c;
                        break;
                    }
                }
                cl
            };
            classes.push(class);
        }
        if let Some(r) = bidi::reorder(&mut units, &clusters, &classes) {
            if r.rtl {
                dir = WritingDirection::Rtl;
            }
            mirrored = r.mirrored;
        }
    }
    let spans = make_spans(ctx, &units, &mirrored);
    let mut bbox: Option<Rect> = None;
    for s in &spans {
        bbox = Some(bbox.map_or(s.bbox, |b| b.union(&s.bbox)));
    }
    Some(Line {
        bbox: bbox?,
        dir,
        angle: group.angle,
        hyphenated: false,
        spans,
    })
}

/// Split a line's units into spans of uniform font, size, flags and marked-content id.
fn make_spans(ctx: &Ctx<'_>, units: &[u32], mirrored: &[bool]) -> Vec<Span> {
    #[derive(PartialEq)]
    struct Key {
        font: u16,
        size_q: i32,
        invisible: bool,
        annotation: bool,
        mcid: Option<u32>,
    }
    let mut spans: Vec<Span> = Vec::new();
    let mut cur_key: Option<Key> = None;
    // (bits of the last size, its rounded half points).
    let mut last_size = (f32::NAN.to_bits(), 0);
    for (i, &u) in units.iter().enumerate() {
        if u == SPACE {
            if let Some(s) = spans.last_mut() {
                s.text.push(' ');
            }
            continue;
        }
        let Some(g) = ctx.glyph(u) else { continue };
        let Some(c) = ctx.char_of(g) else { continue };
        if g.size.to_bits() != last_size.0 {
            // Glyphs of a line mostly share one size: round it once.
            last_size = (g.size.to_bits(), round_i32(g.size * 2.0));
        }
        let key = Key {
            font: c.font,
            size_q: last_size.1,
            invisible: c.flags.contains(CharFlags::INVISIBLE),
            annotation: c.flags.contains(CharFlags::ANNOTATION),
            mcid: c.mcid,
        };
        let rect = ctx.rect_of(g);
        if cur_key.as_ref() != Some(&key) || spans.is_empty() {
            let font = ctx.page.fonts.get(usize::from(c.font));
            let size = (g.size * 100.0).round() / 100.0;
            spans.push(Span {
                bbox: rect.unwrap_or_default(),
                // Room for the rest of the line in one allocation (most lines are one span).
                text: String::with_capacity(units.len().saturating_sub(i).saturating_add(8)),
                font: font.map(|f| f.name.clone()).unwrap_or_default(),
                size,
                bold: font.is_some_and(|f| f.bold),
                italic: font.is_some_and(|f| f.italic),
                monospace: font.is_some_and(|f| f.monospace),
                invisible: key.invisible,
                annotation: key.annotation,
                mcid: key.mcid,
            });
            cur_key = Some(key);
        } else if let (Some(s), Some(r)) = (spans.last_mut(), rect) {
            s.bbox = s.bbox.union(&r);
        }
        let Some(s) = spans.last_mut() else { continue };
        let text = char_text(ctx.page, c);
        if mirrored.get(i).copied().unwrap_or(false) {
            s.text.extend(text.chars().map(mirror));
        } else if let [b] = text.as_bytes() {
            // One byte is one ASCII character: no copy call for the common glyph.
            s.text.push(char::from(*b));
        } else {
            s.text.push_str(text);
        }
    }
    spans
}
