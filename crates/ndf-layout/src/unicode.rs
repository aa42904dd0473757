//! Small Unicode classifications the layout needs, without a Unicode-table dependency.

use ndf_model::{TextChar, TextPage};

/// Bidirectional character class, reduced to what line reordering needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BidiClass {
    /// Strong left-to-right (Latin, Greek, Cyrillic, CJK, ...).
    L,
    /// Strong right-to-left (Hebrew, Arabic, Syriac, Thaana, N'Ko, ...).
    R,
    /// A digit (European or Arabic-Indic): kept in left-to-right order inside RTL text.
    Num,
    /// Neutral or weak: spaces, punctuation, symbols, marks.
    N,
}

/// True when the text consists only of white space (a word separator).
pub(crate) fn is_space_text(s: &str) -> bool {
    !s.is_empty() && s.chars().all(char::is_whitespace)
}

/// True for combining marks (general category Mn/Me in the common scripts) that attach to the
/// preceding base character.
#[inline]
pub(crate) fn is_mark(c: char) -> bool {
    // Inlined quick answer for the common characters; the table stays out of line.
    (c as u32) >= 0x0300 && is_mark_table(c)
}

fn is_mark_table(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F
        | 0x0483..=0x0489
        | 0x0591..=0x05BD
        | 0x05BF
        | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5
        | 0x05C7
        | 0x0610..=0x061A
        | 0x064B..=0x065F
        | 0x0670
        | 0x06D6..=0x06DC
        | 0x06DF..=0x06E4
        | 0x06E7..=0x06E8
        | 0x06EA..=0x06ED
        | 0x0711
        | 0x0730..=0x074A
        | 0x0900..=0x0903
        | 0x093A..=0x093C
        | 0x093E..=0x094F
        | 0x0951..=0x0957
        | 0x0962..=0x0963
        | 0x0E31
        | 0x0E34..=0x0E3A
        | 0x0E47..=0x0E4E
        | 0x0EB1
        | 0x0EB4..=0x0EBC
        | 0x0EC8..=0x0ECD
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x20D0..=0x20FF
        | 0x302A..=0x302F
        | 0x3099..=0x309A
        | 0xFE00..=0xFE0F
        | 0xFE20..=0xFE2F)
}

/// True when every character of a non-empty text is a combining mark.
pub(crate) fn is_mark_text(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_mark)
}

/// Code points of the right-to-left scripts' blocks: the only ones of class R.
fn in_rtl_blocks(u: u32) -> bool {
    matches!(u, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFE | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
}

/// False when no character of the text can be of class R: then no line needs reordering.
/// Most pages hold no byte from U+0590 up (UTF-8 lead byte 0xD6), so this is one quick scan.
pub(crate) fn may_hold_rtl(text: &str) -> bool {
    text.bytes().any(|b| b >= 0xD6) && text.chars().any(|c| in_rtl_blocks(c as u32))
}

/// The reduced bidi class of a character.
pub(crate) fn bidi_class(c: char) -> BidiClass {
    let u = c as u32;
    if c.is_ascii_digit() || (0x0660..=0x0669).contains(&u) || (0x06F0..=0x06F9).contains(&u) {
        return BidiClass::Num;
    }
    if is_mark(c) {
        return BidiClass::N;
    }
    if in_rtl_blocks(u) {
        // Unassigned or punctuation code points of these blocks count as R too: harmless here.
        return BidiClass::R;
    }
    if c.is_alphabetic() || c.is_numeric() {
        return BidiClass::L;
    }
    BidiClass::N
}

/// The mirrored form of a paired bracket, for characters inside right-to-left runs.
pub(crate) fn mirror(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        '‹' => '›',
        '›' => '‹',
        _ => c,
    }
}

/// The text of one character: [`TextPage::char_text`], inlined (it is called for every glyph
/// several times and is not inlined across the crate boundary).
#[inline]
pub(crate) fn char_text<'a>(page: &'a TextPage, c: &TextChar) -> &'a str {
    let start = c.text_start as usize;
    page.text
        .get(start..start.saturating_add(usize::from(c.text_len)))
        .unwrap_or("")
}

/// A fast, non-cryptographic 64-bit hash of bytes (FNV-1a), used for duplicate-glyph keys.
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(bidi_class('a'), BidiClass::L);
        assert_eq!(bidi_class('中'), BidiClass::L);
        assert_eq!(bidi_class('ש'), BidiClass::R);
        assert_eq!(bidi_class('ب'), BidiClass::R);
        assert_eq!(bidi_class('7'), BidiClass::Num);
        assert_eq!(bidi_class('٣'), BidiClass::Num);
        assert_eq!(bidi_class(' '), BidiClass::N);
        assert_eq!(bidi_class('.'), BidiClass::N);
        assert!(is_space_text(" \u{a0}"));
        assert!(!is_space_text(""));
        assert!(!is_space_text("a "));
        assert!(is_mark_text("\u{301}"));
        assert!(is_mark_text("\u{64e}"));
        assert!(!is_mark_text("e\u{301}"));
        assert_eq!(mirror('('), ')');
        assert_ne!(hash_bytes(b"a"), hash_bytes(b"b"));
    }
}
