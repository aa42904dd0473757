use crate::{Diagnostic, Rect};

/// Per-character flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct CharFlags(pub u8);

impl CharFlags {
    /// Drawn with text rendering mode 3 (invisible), e.g. an OCR layer. Kept and flagged.
    pub const INVISIBLE: CharFlags = CharFlags(1);
    /// Set in vertical writing mode (Identity-V and other `-V` CMaps).
    pub const VERTICAL: CharFlags = CharFlags(2);
    /// The text comes from a marked-content `/ActualText` replacing the glyphs underneath.
    pub const ACTUAL_TEXT: CharFlags = CharFlags(4);
    /// The glyph had no Unicode mapping; `text` is U+FFFD.
    pub const UNMAPPED: CharFlags = CharFlags(8);
    /// Drawn by an annotation appearance (form field value, stamp, free text).
    pub const ANNOTATION: CharFlags = CharFlags(16);
    /// Lies (mostly) outside the page's crop box.
    pub const CLIPPED: CharFlags = CharFlags(32);

    /// True when every flag of `other` is set.
    pub const fn contains(self, other: CharFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Set the flags of `other`.
    pub fn insert(&mut self, other: CharFlags) {
        self.0 |= other.0;
    }
}

impl std::ops::BitOr for CharFlags {
    type Output = CharFlags;
    fn bitor(self, rhs: CharFlags) -> CharFlags {
        CharFlags(self.0 | rhs.0)
    }
}

/// One positioned character (usually one glyph) as produced by text interpretation.
///
/// Coordinates are in points in the page's visible space: the crop box, rotated by the page's
/// `/Rotate`, with the origin at the top-left corner and y growing downwards.
#[derive(Debug, Clone, PartialEq)]
pub struct TextChar {
    /// Byte offset of this character's text in [`TextPage::text`].
    pub text_start: u32,
    /// Byte length of this character's text (0 for a glyph with no text at all).
    pub text_len: u16,
    /// Index of the font in [`TextPage::fonts`].
    pub font: u16,
    /// Glyph box: advance along the baseline, font ascent to descent across it.
    pub bbox: Rect,
    /// Start of the glyph on its baseline.
    pub origin: (f32, f32),
    /// Advance width along the writing direction, in points.
    pub advance: f32,
    /// Effective font size in points (font size scaled by the text and graphics matrices).
    pub size: f32,
    /// Direction of the baseline as a unit vector `(cos, sin)` in top-left page space:
    /// `(1, 0)` is ordinary left-to-right horizontal text.
    pub dir: (f32, f32),
    /// Flags.
    pub flags: CharFlags,
    /// Marked-content identifier of the innermost tagged sequence, if any.
    pub mcid: Option<u32>,
}

/// A font as the layout and the output see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FontInfo {
    /// PostScript name without the subset prefix (`ABCDEF+`).
    pub name: String,
    /// Bold, from the descriptor's weight/flags or the name.
    pub bold: bool,
    /// Italic, from the descriptor's angle/flags or the name.
    pub italic: bool,
    /// Fixed pitch.
    pub monospace: bool,
}

/// All characters of one page in content order, with the page's geometry.
#[derive(Debug, Clone, Default)]
pub struct TextPage {
    /// 1-based page number.
    pub number: u32,
    /// Visible width in points (after rotation).
    pub width: f32,
    /// Visible height in points (after rotation).
    pub height: f32,
    /// The page's `/Rotate`, normalised to 0, 90, 180 or 270.
    pub rotation: u16,
    /// Text of all characters, concatenated; each [`TextChar`] points into it.
    pub text: String,
    /// Characters in content-stream order.
    pub chars: Vec<TextChar>,
    /// Fonts referenced by [`TextChar::font`].
    pub fonts: Vec<FontInfo>,
    /// Problems met while interpreting this page.
    pub diagnostics: Vec<Diagnostic>,
}

impl TextPage {
    /// The text of one character.
    pub fn char_text(&self, c: &TextChar) -> &str {
        let start = c.text_start as usize;
        self.text
            .get(start..start + c.text_len as usize)
            .unwrap_or("")
    }

    /// Append a character whose text is `text`.
    pub fn push_char(&mut self, text: &str, mut c: TextChar) {
        let start = self.text.len();
        // A character's text is short (one glyph's Unicode, or one ActualText run); cap it so the
        // length always fits the u16 and a hostile ActualText cannot bloat one character.
        let mut end = text.len().min(u16::MAX as usize);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&text[..end]);
        c.text_start = start as u32;
        c.text_len = end as u16;
        self.chars.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> TextChar {
        TextChar {
            text_start: 0,
            text_len: 0,
            font: 0,
            bbox: Rect::default(),
            origin: (0.0, 0.0),
            advance: 0.0,
            size: 10.0,
            dir: (1.0, 0.0),
            flags: CharFlags::default(),
            mcid: None,
        }
    }

    #[test]
    fn push_char_records_text_ranges() {
        let mut page = TextPage::default();
        page.push_char("ﬁ", blank());
        page.push_char("x", blank());
        assert_eq!(page.char_text(&page.chars[0]), "ﬁ");
        assert_eq!(page.char_text(&page.chars[1]), "x");
    }

    #[test]
    fn push_char_caps_long_text_on_a_char_boundary() {
        let mut page = TextPage::default();
        let long = "é".repeat(40_000);
        page.push_char(&long, blank());
        let t = page.char_text(&page.chars[0]);
        assert!(t.len() <= u16::MAX as usize && t.chars().all(|c| c == 'é'));
    }
}
