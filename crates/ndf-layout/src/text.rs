//! Plain-text rendering of laid-out pages.

use ndf_model::{Line, Page};

/// Append the text of one line (its spans) to `out`.
pub(crate) fn push_line_text(line: &Line, out: &mut String) {
    for s in &line.spans {
        out.push_str(&s.text);
    }
}

/// Remove a trailing hyphen (and the spaces after it) from `out`, for a hyphenated line.
pub(crate) fn strip_hyphen(out: &mut String) {
    let t = out.trim_end().len();
    out.truncate(t);
    if out.ends_with('-') || out.ends_with('\u{AD}') {
        out.pop();
    }
}

/// Append the plain text of a finished page: blocks in reading order, one line per
/// [`Line`], a blank line between blocks, hyphenated line ends joined without the hyphen,
/// headers and footers included, and a form feed after the page.
pub fn render_text(page: &Page, out: &mut String) {
    for (bi, block) in page.blocks.iter().enumerate() {
        if bi > 0 {
            out.push('\n');
        }
        let n = block.lines.len();
        for (li, line) in block.lines.iter().enumerate() {
            push_line_text(line, out);
            if line.hyphenated && li + 1 < n {
                strip_hyphen(out);
            } else {
                let t = out.trim_end_matches(' ').len();
                out.truncate(t);
                out.push('\n');
            }
        }
    }
    out.push('\x0c');
}
