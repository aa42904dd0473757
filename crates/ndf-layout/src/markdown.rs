//! Markdown rendering of laid-out pages.

use std::collections::BTreeMap;

use ndf_model::{Block, BlockRole, Page};

use crate::text::{push_line_text, strip_hyphen};

/// Size bins are half points.
fn size_bin(size: f32) -> u32 {
    if size.is_finite() && size > 0.0 {
        (size * 2.0).round().min(1.0e6) as u32
    } else {
        0
    }
}

/// Ratio over the body size from which a block is a heading.
const HEADING_RATIO: f32 = 1.15;
/// Longest heading, in characters.
const MAX_HEADING_CHARS: usize = 200;
/// Longest bold single-line block taken as a heading.
const MAX_BOLD_HEADING_CHARS: usize = 80;

/// Renders pages as Markdown: headings from font-size ranks relative to the body size,
/// bullet and numbered lists, paragraphs joined into single lines; running headers and
/// footers are omitted.
///
/// The body size is the most common character size among the pages rendered so far
/// (including the current one), so a document renders consistently as it streams.
#[derive(Debug, Default)]
pub struct MarkdownRenderer {
    /// Characters seen per size bin.
    sizes: BTreeMap<u32, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Bullet,
    /// A numbered item with its number.
    Numbered(u32),
    /// A letter or roman item, e.g. `a)` or `(iv)`: kept as text after a bullet.
    Lettered,
}

impl MarkdownRenderer {
    /// A renderer with no size statistics yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append the Markdown of one page.
    pub fn render_page(&mut self, page: &Page, out: &mut String) {
        for b in page.blocks.iter().filter(|b| b.role == BlockRole::Body) {
            for l in &b.lines {
                for s in &l.spans {
                    let n = s.text.chars().filter(|c| !c.is_whitespace()).count() as u64;
                    let e = self.sizes.entry(size_bin(s.size)).or_insert(0);
                    *e = e.saturating_add(n);
                }
            }
        }
        let body = self.body_bin();
        // Heading sizes seen so far, largest first.
        let heading_bins: Vec<u32> = self
            .sizes
            .iter()
            .rev()
            .filter(|(b, n)| **n > 0 && (**b as f32) >= body as f32 * HEADING_RATIO && **b > body)
            .map(|(b, _)| *b)
            .collect();
        for b in page.blocks.iter().filter(|b| b.role == BlockRole::Body) {
            render_block(b, body, &heading_bins, out);
        }
    }

    fn body_bin(&self) -> u32 {
        let mut best = (0u64, 20u32);
        for (&bin, &n) in &self.sizes {
            if n > best.0 {
                best = (n, bin);
            }
        }
        best.1
    }
}

fn dominant_bin(b: &Block) -> (u32, usize, bool) {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    let mut total = 0usize;
    let mut all_bold = true;
    for l in &b.lines {
        for s in &l.spans {
            let n = s.text.chars().filter(|c| !c.is_whitespace()).count();
            if n > 0 && !s.bold {
                all_bold = false;
            }
            *counts.entry(size_bin(s.size)).or_insert(0) += n;
            total += n;
        }
    }
    let bin = counts
        .iter()
        .max_by_key(|(b, n)| (**n, **b))
        .map_or(0, |(b, _)| *b);
    (bin, total, all_bold)
}

fn render_block(b: &Block, body: u32, heading_bins: &[u32], out: &mut String) {
    let (bin, chars, all_bold) = dominant_bin(b);
    if chars == 0 {
        return;
    }
    let heading = if (bin as f32) >= body as f32 * HEADING_RATIO
        && bin > body
        && b.lines.len() <= 3
        && chars <= MAX_HEADING_CHARS
    {
        let rank = heading_bins.iter().position(|&h| h == bin).unwrap_or(2);
        Some(rank.saturating_add(1).min(3))
    } else if all_bold && b.lines.len() == 1 && chars <= MAX_BOLD_HEADING_CHARS && bin >= body {
        let mut t = String::new();
        if let Some(l) = b.lines.first() {
            push_line_text(l, &mut t);
        }
        let t = t.trim_end();
        let sentence = t.ends_with(['.', ',', ';']);
        (!sentence && t.chars().any(char::is_alphabetic)).then_some(3)
    } else {
        None
    };
    // Table-of-contents entries (dot leaders) are not headings.
    let heading = heading.filter(|_| {
        !b.lines.iter().any(|l| {
            l.spans
                .iter()
                .any(|s| s.text.contains(". . .") || s.text.contains("...."))
        })
    });
    if let Some(level) = heading {
        let text = join_lines(b, 0, b.lines.len());
        if !text.is_empty() {
            out.push_str(&"#".repeat(level));
            out.push(' ');
            // After the heading marker only inline specials matter ("1." is no list here).
            push_escaped_inline(&text, out);
            out.push_str("\n\n");
        }
        return;
    }

    // Split the block into a leading paragraph and list items.
    let mut starts: Vec<(usize, Option<(ListKind, usize)>)> = Vec::new();
    for (i, l) in b.lines.iter().enumerate() {
        let mut t = String::new();
        push_line_text(l, &mut t);
        let m = list_marker(&t);
        if i == 0 || m.is_some() {
            starts.push((i, m));
        }
    }
    let mut wrote_list = false;
    for (k, &(start, marker)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(b.lines.len(), |s| s.0);
        let text = join_lines(b, start, end);
        match marker {
            None => {
                if !text.is_empty() {
                    if wrote_list {
                        out.push('\n');
                        wrote_list = false;
                    }
                    push_escaped(&text, out);
                    out.push_str("\n\n");
                }
            }
            Some((kind, len)) => {
                let body_text = text.get(len..).unwrap_or("").trim_start();
                match kind {
                    ListKind::Bullet => out.push_str("- "),
                    ListKind::Numbered(n) => {
                        out.push_str(&n.to_string());
                        out.push_str(". ");
                    }
                    ListKind::Lettered => {
                        out.push_str("- ");
                        push_escaped(text.get(..len).unwrap_or("").trim_end(), out);
                        out.push(' ');
                    }
                }
                push_escaped_inline(body_text, out);
                out.push('\n');
                wrote_list = true;
            }
        }
    }
    if wrote_list {
        out.push('\n');
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF | 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

/// Lines `start..end` of a block joined into one line: hyphenated line ends joined without
/// the hyphen, other line breaks as a space (none between CJK characters).
fn join_lines(b: &Block, start: usize, end: usize) -> String {
    let mut s = String::new();
    let mut joined_hyphen = false;
    for (i, l) in b.lines.iter().enumerate().take(end).skip(start) {
        if i > start && !joined_hyphen {
            let t = s.trim_end().len();
            s.truncate(t);
            let mut next = String::new();
            push_line_text(l, &mut next);
            let a = s.chars().next_back();
            let c = next.trim_start().chars().next();
            let both_cjk = a.is_some_and(is_cjk) && c.is_some_and(is_cjk);
            if !s.is_empty() && !both_cjk {
                s.push(' ');
            }
            s.push_str(next.trim_start());
        } else {
            let mut next = String::new();
            push_line_text(l, &mut next);
            s.push_str(if joined_hyphen {
                next.trim_start()
            } else {
                &next
            });
        }
        joined_hyphen = l.hyphenated && i + 1 < end;
        if joined_hyphen {
            strip_hyphen(&mut s);
        }
    }
    s.trim().to_string()
}

/// A list marker at the start of a line: its kind and byte length.
fn list_marker(line: &str) -> Option<(ListKind, usize)> {
    let t = line.trim_start();
    let lead = line.len() - t.len();
    let mut chars = t.char_indices();
    let (_, c0) = chars.next()?;
    let after = |i: usize| t.get(i..).and_then(|r| r.chars().next());
    let c0_len = c0.len_utf8();
    match c0 {
        '•' | '◦' | '▪' | '▫' | '‣' | '∙' | '●' | '○' | '■' | '□' | '➢' | '►' | '\u{F0B7}'
        | '\u{F0A7}' | '\u{F076}' | '\u{F0D8}' => {
            return (t.len() > c0_len).then_some((ListKind::Bullet, lead + c0_len));
        }
        '-' | '*' | '–' | '—' | '+' => {
            return (after(c0_len) == Some(' ') && t.len() > c0_len + 1)
                .then_some((ListKind::Bullet, lead + c0_len));
        }
        _ => {}
    }
    // "12." / "12)" / "(a)" / "a)" / "iv." followed by a space.
    let (open, body_start) = if c0 == '(' { (true, 1) } else { (false, 0) };
    let rest = t.get(body_start..)?;
    let tok_len = rest.find(['.', ')'])?;
    if tok_len == 0 || tok_len > 5 {
        return None;
    }
    let tok = rest.get(..tok_len)?;
    let close = rest.get(tok_len..)?.chars().next()?;
    if open && close != ')' {
        return None;
    }
    let marker_len = body_start + tok_len + 1;
    if after(marker_len) != Some(' ') || t.len() <= marker_len + 1 {
        return None;
    }
    if tok.chars().all(|c| c.is_ascii_digit()) && tok.len() <= 3 && !open {
        return Some((ListKind::Numbered(tok.parse().ok()?), lead + marker_len));
    }
    let letter = tok.len() == 1 && tok.chars().all(|c| c.is_ascii_lowercase());
    let roman = tok.chars().all(|c| matches!(c, 'i' | 'v' | 'x'));
    if letter || roman || (open && tok.chars().all(|c| c.is_ascii_digit())) {
        return Some((ListKind::Lettered, lead + marker_len));
    }
    None
}

/// Escape text that starts a Markdown line: block-level markers and inline specials.
fn push_escaped(text: &str, out: &mut String) {
    let t = text;
    let first = t.chars().next();
    let needs = match first {
        Some('#' | '>' | '=' | '|') => true,
        Some('-' | '+') => t
            .chars()
            .nth(1)
            .is_none_or(|c| c == ' ' || c == '-' || c == '+'),
        Some(c) if c.is_ascii_digit() => {
            let digits = t.chars().take_while(char::is_ascii_digit).count();
            let mut rest = t.chars().skip(digits);
            matches!(rest.next(), Some('.' | ')')) && rest.next().is_none_or(|c| c == ' ')
        }
        _ => false,
    };
    if needs {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        // Escape the punctuation that makes the marker: "1\." or "\#".
        let split = if digits > 0 { digits } else { 0 };
        let (a, b) = t.split_at(t.char_indices().nth(split).map_or(t.len(), |(i, _)| i));
        push_escaped_inline(a, out);
        out.push('\\');
        push_escaped_inline(b, out);
    } else {
        push_escaped_inline(t, out);
    }
}

/// Escape inline Markdown specials where they could change meaning.
fn push_escaped_inline(text: &str, out: &mut String) {
    let mut prev: Option<char> = None;
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        let esc = match c {
            '\\' | '`' | '*' | '[' | ']' | '<' => true,
            // Intra-word underscores never emphasise; only those at a word boundary can.
            '_' => {
                let before = prev.is_some_and(char::is_alphanumeric);
                let after = it.peek().is_some_and(|n| n.is_alphanumeric());
                !(before && after)
            }
            _ => false,
        };
        if esc {
            out.push('\\');
        }
        out.push(c);
        prev = Some(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(list_marker("• item"), Some((ListKind::Bullet, 3)));
        assert_eq!(list_marker("- item"), Some((ListKind::Bullet, 1)));
        assert_eq!(list_marker("-item"), None);
        assert_eq!(list_marker("12. item"), Some((ListKind::Numbered(12), 3)));
        assert_eq!(list_marker("3) item"), Some((ListKind::Numbered(3), 2)));
        assert_eq!(list_marker("a) item"), Some((ListKind::Lettered, 2)));
        assert_eq!(list_marker("(iv) item"), Some((ListKind::Lettered, 4)));
        assert_eq!(list_marker("1.5 million"), None);
        assert_eq!(list_marker("Dr. Smith"), None);
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        push_escaped("# not a heading *x* [a] snake_case _y_", &mut s);
        assert_eq!(s, "\\# not a heading \\*x\\* \\[a\\] snake_case \\_y\\_");
        let mut s = String::new();
        push_escaped("1. not a list", &mut s);
        assert_eq!(s, "1\\. not a list");
        let mut s = String::new();
        push_escaped("- not a list", &mut s);
        assert_eq!(s, "\\- not a list");
    }
}
