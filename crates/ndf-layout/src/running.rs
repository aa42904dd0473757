//! Running headers and footers, detected across neighbouring pages in a streaming way.

use std::collections::VecDeque;

use ndf_model::{Block, BlockRole, Page};

use crate::unicode::hash_bytes;

/// Fraction of the page height, from the top or bottom edge, where running text may sit.
const EDGE_ZONE: f32 = 0.12;
/// Largest position difference (fraction of the page height) of repeated running text.
const Y_TOL: f32 = 0.02;
/// Running-text blocks are short.
const MAX_LINES: usize = 3;
const MAX_CHARS: usize = 200;
/// Most candidate blocks per page (bounds the pairwise comparison on hostile pages).
const MAX_CANDS: usize = 32;

#[derive(Debug, Clone)]
struct Cand {
    block: usize,
    top: bool,
    /// Hash of the text with digits normalised.
    key: u64,
    /// Value when the block is a lone number (a page number).
    number: Option<i64>,
    /// Centre across the page height, as a fraction of the height.
    y: f32,
    /// Horizontal extent, as fractions of the page width.
    x0: f32,
    x1: f32,
    hit: bool,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    page_number: u32,
    cands: Vec<Cand>,
}

/// Marks running headers and footers on a stream of pages.
///
/// A block near the top (bottom) edge whose text, with digits normalised, repeats at a similar
/// position on a page at most `window` pages away becomes [`BlockRole::Header`]
/// ([`BlockRole::Footer`]); so does a lone page number that follows the page sequence. Pages
/// come back in order, at most `window` pages after they were pushed; only the candidate
/// blocks of the last `window` returned pages are remembered.
#[derive(Debug)]
pub struct RunningTextMarker {
    window: usize,
    seq: u64,
    pending: VecDeque<(Page, Entry)>,
    history: VecDeque<Entry>,
}

impl RunningTextMarker {
    /// A marker comparing each page with up to `window` pages before and after it.
    pub fn new(window: usize) -> Self {
        Self {
            window,
            seq: 0,
            pending: VecDeque::new(),
            history: VecDeque::new(),
        }
    }

    /// Add the next page; returns the pages whose marking is now final, in order.
    pub fn push(&mut self, page: Page) -> Vec<Page> {
        let mut entry = Entry {
            seq: self.seq,
            page_number: page.number,
            cands: candidates(&page),
        };
        self.seq = self.seq.saturating_add(1);
        for c in &mut entry.cands {
            // Without neighbours a page number can still match its own page.
            if c.number == Some(i64::from(entry.page_number)) {
                c.hit = true;
            }
        }
        let window = self.window as u64;
        for other in self
            .history
            .iter_mut()
            .chain(self.pending.iter_mut().map(|(_, e)| e))
        {
            if entry.seq.saturating_sub(other.seq) <= window {
                match_entries(other, &mut entry);
            }
        }
        self.pending.push_back((page, entry));
        let mut out = Vec::new();
        while self.pending.len() > self.window {
            if let Some(p) = self.emit_front() {
                out.push(p);
            }
        }
        out
    }

    /// Return the remaining pages (their marking is final: no page follows).
    pub fn finish(mut self) -> Vec<Page> {
        let mut out = Vec::new();
        while let Some(p) = self.emit_front() {
            out.push(p);
        }
        out
    }

    fn emit_front(&mut self) -> Option<Page> {
        let (mut page, entry) = self.pending.pop_front()?;
        for c in &entry.cands {
            if c.hit
                && let Some(b) = page.blocks.get_mut(c.block)
            {
                b.role = if c.top {
                    BlockRole::Header
                } else {
                    BlockRole::Footer
                };
            }
        }
        self.history.push_back(entry);
        while self.history.len() > self.window {
            self.history.pop_front();
        }
        Some(page)
    }
}

fn block_text(b: &Block) -> String {
    let mut s = String::new();
    for (i, l) in b.lines.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        for sp in &l.spans {
            s.push_str(&sp.text);
        }
    }
    s
}

/// Lower-case text with every digit run replaced by `#` and white space collapsed.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_digit = false;
    let mut prev_space = true;
    for c in text.chars() {
        if c.is_numeric() {
            if !prev_digit {
                out.push('#');
            }
            prev_digit = true;
            prev_space = false;
            continue;
        }
        prev_digit = false;
        if c.is_whitespace() {
            if !prev_space {
                out.push(' ');
            }
            prev_space = true;
            continue;
        }
        prev_space = false;
        out.extend(c.to_lowercase());
    }
    let t = out.trim_end().len();
    out.truncate(t);
    out
}

/// A lone page number: digits or a roman numeral, optionally wrapped in dashes or "page".
fn lone_number(text: &str) -> Option<i64> {
    let t = text
        .trim()
        .trim_matches(|c: char| c == '-' || c == '–' || c == '—' || c.is_whitespace());
    let t = t
        .strip_prefix("Page")
        .or_else(|| t.strip_prefix("page"))
        .map_or(t, str::trim);
    if t.is_empty() || t.len() > 8 {
        return None;
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return t.parse().ok();
    }
    roman_value(t)
}

/// Value of a roman numeral (front-matter page numbers), all lower or all upper case.
fn roman_value(t: &str) -> Option<i64> {
    let lower = t.chars().all(|c| c.is_ascii_lowercase());
    let upper = t.chars().all(|c| c.is_ascii_uppercase());
    if !(lower || upper) {
        return None;
    }
    let digit = |c: char| match c.to_ascii_lowercase() {
        'i' => Some(1),
        'v' => Some(5),
        'x' => Some(10),
        'l' => Some(50),
        'c' => Some(100),
        _ => None,
    };
    let vals: Vec<i64> = t.chars().map(digit).collect::<Option<_>>()?;
    let mut total = 0i64;
    for (k, v) in vals.iter().enumerate() {
        if vals.get(k + 1).is_some_and(|n| n > v) {
            total -= v;
        } else {
            total += v;
        }
    }
    (total > 0).then_some(total)
}

fn candidates(page: &Page) -> Vec<Cand> {
    let (w, h) = (page.width, page.height);
    if !(w.is_finite() && h.is_finite() && w > 1.0 && h > 1.0) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, b) in page.blocks.iter().enumerate() {
        let top = b.bbox.y1 <= EDGE_ZONE * h;
        let bottom = b.bbox.y0 >= (1.0 - EDGE_ZONE) * h;
        if out.len() >= MAX_CANDS {
            break;
        }
        if !(top || bottom) || b.lines.len() > MAX_LINES {
            continue;
        }
        let text = block_text(b);
        if text.len() > MAX_CHARS || !text.chars().any(char::is_alphanumeric) {
            continue;
        }
        out.push(Cand {
            block: i,
            top,
            key: hash_bytes(normalise(&text).as_bytes()),
            number: lone_number(&text),
            y: (b.bbox.y0 + b.bbox.y1) * 0.5 / h,
            x0: b.bbox.x0 / w,
            x1: b.bbox.x1 / w,
            hit: false,
        });
    }
    out
}

/// Mark the candidates of `a` (earlier) and `b` (later) that repeat each other.
fn match_entries(a: &mut Entry, b: &mut Entry) {
    let dist = b.seq.saturating_sub(a.seq);
    for ca in &mut a.cands {
        for cb in &mut b.cands {
            if ca.top != cb.top || (ca.y - cb.y).abs() > Y_TOL {
                continue;
            }
            let same_text = ca.key == cb.key && ca.x0 < cb.x1 && cb.x0 < ca.x1;
            let in_sequence = match (ca.number, cb.number) {
                (Some(x), Some(y)) => {
                    i64::try_from(dist).is_ok_and(|d| y.checked_sub(x) == Some(d))
                }
                _ => false,
            };
            if same_text || in_sequence {
                ca.hit = true;
                cb.hit = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_digits_and_case() {
        assert_eq!(normalise("Chapter 12  Page 3"), "chapter # page #");
        assert_eq!(lone_number(" 17 "), Some(17));
        assert_eq!(lone_number("- 4 -"), Some(4));
        assert_eq!(lone_number("Page 9"), Some(9));
        assert_eq!(lone_number("4a"), None);
        assert_eq!(lone_number("iv"), Some(4));
        assert_eq!(lone_number("XII"), Some(12));
        assert_eq!(lone_number("Iv"), None);
        assert_eq!(lone_number("mix"), None);
    }
}
