//! PDF text strings (ISO 32000-2 §7.9.2.2): UTF-16BE or UTF-16LE with a byte-order mark,
//! UTF-8 with a BOM (PDF 2.0), otherwise PDFDocEncoding.

use ndf_fontdata::pdfdoc_to_char;

/// Decode a text string (Info values, `/ActualText`, outline titles) to Unicode.
pub fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes
        .iter()
        .map(|&b| pdfdoc_to_char(b).unwrap_or(if b < 0x20 { ' ' } else { '\u{FFFD}' }))
        .collect()
}

fn utf16(bytes: &[u8], read: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|c| read([c[0], c[1]]));
    let mut s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or('\u{FFFD}'))
        .collect();
    // Embedded language escapes (U+001B … U+001B) carry no text.
    while let Some(start) = s.find('\u{1B}') {
        let end = s[start + 1..]
            .find('\u{1B}')
            .map_or(s.len(), |e| start + 1 + e + 1);
        s.replace_range(start..end, "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_form() {
        assert_eq!(decode_text_string(b"\xFE\xFF\x00A\x20\xAC"), "A€");
        assert_eq!(decode_text_string(b"\xFF\xFEA\x00"), "A");
        assert_eq!(decode_text_string(b"\xEF\xBB\xBFcaf\xC3\xA9"), "café");
        assert_eq!(decode_text_string(b"caf\xE9 \x80"), "café •");
        assert_eq!(decode_text_string(b"\xFE\xFF\x00\x1Bja\x00\x1B\x00X"), "X");
        assert_eq!(decode_text_string(b"\xFE\xFF\xD8\x00"), "\u{FFFD}");
    }
}
