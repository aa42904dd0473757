//! Layout: positioned characters to words, lines and blocks in reading order; running
//! headers and footers across pages; plain-text and Markdown renderings.
//!
//! The pipeline of [`layout_page`] is designed after poppler's `TextOutputDev` (whose
//! `pdftotext` output is the quality reference), in O(n log n) of the characters:
//! 1. characters are validated, grouped by writing direction and projected into the frame of
//!    their direction; clipped characters and overprinted duplicates are dropped;
//! 2. consecutive characters form fragments; a gap wider than 0.1 em or a space character
//!    ends one;
//! 3. fragments chain along their baseline into line segments (superscripts and subscripts
//!    included), and segments stack into blocks by spacing, overlap and size;
//! 4. blocks are put in reading order by a recursive XY-cut (columns, strips, table rows);
//! 5. each line gets word spaces (gap ≥ 0.03 em between fragments), logical order for
//!    right-to-left text, spans of uniform style, and a de-hyphenation mark.

mod bidi;
mod blocks;
mod build;
mod lines;
mod markdown;
mod num;
mod prep;
mod running;
mod text;
mod unicode;

pub use markdown::MarkdownRenderer;
pub use running::RunningTextMarker;
pub use text::render_text;

use ndf_model::{Page, TextPage};

/// Options of [`layout_page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Mark lines ending in a hyphen that continues a word on the next line
    /// ([`ndf_model::Line::hyphenated`]); renderers then join the word.
    pub dehyphenate: bool,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        Self { dehyphenate: true }
    }
}

/// Lay out the characters of one page: words, lines and blocks in reading order.
///
/// Never panics; characters with non-finite or absurd coordinates or sizes are skipped.
pub fn layout_page(page: &TextPage, opts: &LayoutOptions) -> Page {
    build::layout(page, opts)
}
