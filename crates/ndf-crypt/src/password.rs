//! Password byte preparation for the two handler families.

/// The 32-byte padding string of ISO 32000-2 §7.6.4.3.2 (Algorithm 2 step a).
pub(crate) const PAD: [u8; 32] = [
    0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
    0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A,
];

/// R5/R6 passwords are at most 127 UTF-8 bytes.
pub(crate) const MAX_UTF8_PASSWORD: usize = 127;

/// Pads or truncates `pw` to 32 bytes with [`PAD`] (R2-R4).
pub(crate) fn pad32(pw: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // pw[..n] followed by the first 32 - n bytes of PAD.
    for (d, s) in out.iter_mut().zip(pw.iter().chain(PAD.iter())) {
        *d = *s;
    }
    out
}

/// PDFDocEncoding codes 0x18..=0x1F and 0x80..=0xA0 whose Unicode values differ from Latin-1.
/// A linear scan is fine: it runs once per char of a typed password.
const PDFDOC_SPECIAL: [(char, u8); 40] = [
    ('\u{02D8}', 0x18),
    ('\u{02C7}', 0x19),
    ('\u{02C6}', 0x1A),
    ('\u{02D9}', 0x1B),
    ('\u{02DD}', 0x1C),
    ('\u{02DB}', 0x1D),
    ('\u{02DA}', 0x1E),
    ('\u{02DC}', 0x1F),
    ('\u{2022}', 0x80),
    ('\u{2020}', 0x81),
    ('\u{2021}', 0x82),
    ('\u{2026}', 0x83),
    ('\u{2014}', 0x84),
    ('\u{2013}', 0x85),
    ('\u{0192}', 0x86),
    ('\u{2044}', 0x87),
    ('\u{2039}', 0x88),
    ('\u{203A}', 0x89),
    ('\u{2212}', 0x8A),
    ('\u{2030}', 0x8B),
    ('\u{201E}', 0x8C),
    ('\u{201C}', 0x8D),
    ('\u{201D}', 0x8E),
    ('\u{2018}', 0x8F),
    ('\u{2019}', 0x90),
    ('\u{201A}', 0x91),
    ('\u{2122}', 0x92),
    ('\u{FB01}', 0x93),
    ('\u{FB02}', 0x94),
    ('\u{0141}', 0x95),
    ('\u{0152}', 0x96),
    ('\u{0160}', 0x97),
    ('\u{0178}', 0x98),
    ('\u{017D}', 0x99),
    ('\u{0131}', 0x9A),
    ('\u{0142}', 0x9B),
    ('\u{0153}', 0x9C),
    ('\u{0161}', 0x9D),
    ('\u{017E}', 0x9E),
    ('\u{20AC}', 0xA0),
];

/// Maps a typed (UTF-8) password to the PDFDocEncoding / Latin-1 bytes R2-R4 writers used.
/// Returns `None` when the input is not UTF-8 or some char has no single-byte code, in which
/// case the caller uses the raw bytes.
pub(crate) fn to_pdfdoc(pw: &[u8]) -> Option<Vec<u8>> {
    let s = core::str::from_utf8(pw).ok()?;
    if s.is_ascii() {
        return Some(pw.to_vec());
    }
    let mut out = Vec::with_capacity(pw.len());
    for c in s.chars() {
        let code = u32::from(c);
        let b = if let Some(&(_, b)) = PDFDOC_SPECIAL.iter().find(|&&(k, _)| k == c) {
            b
        } else {
            // Latin-1 covers the remaining single-byte codes (ASCII and U+00A1..=U+00FF map to
            // themselves in PDFDocEncoding; C1 controls fall back to their Latin-1 byte).
            u8::try_from(code).ok()?
        };
        out.push(b);
    }
    Some(out)
}

/// R5/R6 password bytes: UTF-8 truncated to 127 bytes. SASLprep (RFC 4013) is approximated by
/// pass-through: it only changes passwords with unusual code points (non-ASCII spaces,
/// compatibility forms), which real-world writers rarely produce.
pub(crate) fn utf8_127(pw: &[u8]) -> &[u8] {
    pw.get(..MAX_UTF8_PASSWORD).unwrap_or(pw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_and_truncate() {
        assert_eq!(pad32(b""), PAD);
        let p = pad32(b"abc");
        assert_eq!(&p[..3], b"abc");
        assert_eq!(&p[3..], &PAD[..29]);
        let long = [b'x'; 40];
        assert_eq!(pad32(&long), [b'x'; 32]);
    }

    #[test]
    fn pdfdoc_conversion() {
        assert_eq!(to_pdfdoc(b"plain").as_deref(), Some(&b"plain"[..]));
        assert_eq!(
            to_pdfdoc("caf\u{e9}".as_bytes()).as_deref(),
            Some(&b"caf\xe9"[..])
        );
        assert_eq!(
            to_pdfdoc("\u{20AC}\u{2022}".as_bytes()).as_deref(),
            Some(&b"\xa0\x80"[..])
        );
        assert_eq!(to_pdfdoc("\u{4e2d}".as_bytes()), None);
        assert_eq!(to_pdfdoc(b"\xff\xfe"), None);
    }

    #[test]
    fn utf8_truncation() {
        assert_eq!(utf8_127(&[b'a'; 200]).len(), 127);
        assert_eq!(utf8_127(b"ab"), b"ab");
    }
}
