//! ASCII85Decode: base-85 groups of five `!`..`u` characters, `z` for four zero bytes, `~>` end.

use crate::{FilterError, is_pdf_whitespace, reserve_bounded};

/// Decodes ASCII85 into at most `limit` bytes; returns the data and whether the input was
/// damaged (invalid character, `z` inside a group, a lone final character, a group over
/// 2^32 - 1). Decoding stops at `~` or at an invalid character.
pub(crate) fn decode(input: &[u8], limit: usize) -> Result<(Vec<u8>, bool), FilterError> {
    let start = input
        .iter()
        .position(|&b| !is_pdf_whitespace(b))
        .unwrap_or(input.len());
    let mut rest = input.get(start..).unwrap_or_default();
    if let Some(r) = rest.strip_prefix(b"<~") {
        rest = r;
    }
    let mut out = Vec::with_capacity((rest.len() / 5 * 4 + 4).min(limit));
    let mut damaged = false;
    let mut acc = 0u64;
    let mut count = 0usize;
    for &b in rest {
        match b {
            b'!'..=b'u' => {
                acc = acc * 85 + u64::from(b - b'!');
                count += 1;
                if count == 5 {
                    damaged |= acc > u64::from(u32::MAX);
                    reserve_bounded(&mut out, 4, limit)?;
                    out.extend_from_slice(&(acc as u32).to_be_bytes());
                    acc = 0;
                    count = 0;
                }
            }
            b'z' if count == 0 => {
                reserve_bounded(&mut out, 4, limit)?;
                out.extend_from_slice(&[0; 4]);
            }
            b'~' => break,
            _ if is_pdf_whitespace(b) => {}
            _ => {
                damaged = true;
                break;
            }
        }
    }
    match count {
        0 => {}
        1 => damaged = true, // one character cannot encode a byte
        _ => {
            // Pad with the highest digit so the kept bytes round correctly.
            for _ in count..5 {
                acc = acc * 85 + 84;
            }
            damaged |= acc > u64::from(u32::MAX);
            let bytes = (acc as u32).to_be_bytes();
            let keep = &bytes[..count - 1];
            reserve_bounded(&mut out, keep.len(), limit)?;
            out.extend_from_slice(keep);
        }
    }
    Ok((out, damaged))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reference encoder (with `z` and `~>`).
    pub(crate) fn encode(data: &[u8]) -> Vec<u8> {
        let mut out = b"<~".to_vec();
        for chunk in data.chunks(4) {
            let mut buf = [0u8; 4];
            buf[..chunk.len()].copy_from_slice(chunk);
            let mut v = u32::from_be_bytes(buf);
            if chunk.len() == 4 && v == 0 {
                out.push(b'z');
                continue;
            }
            let mut digits = [0u8; 5];
            for d in digits.iter_mut().rev() {
                *d = (v % 85) as u8 + b'!';
                v /= 85;
            }
            out.extend_from_slice(&digits[..chunk.len() + 1]);
        }
        out.extend_from_slice(b"~>");
        out
    }

    const MAN: &[u8] = b"Man is distinguished";
    const MAN85: &[u8] = b"9jqo^BlbD-BleB1DJ+*+F(f,q";

    #[test]
    fn known_answers() {
        assert_eq!(decode(MAN85, 100).unwrap(), (MAN.to_vec(), false));
        assert_eq!(encode(MAN), [b"<~", MAN85, b"~>"].concat());
        // "Man " / "sure" from the Wikipedia example, with wrapping and markers.
        assert_eq!(
            decode(b"  <~9jq\no^\r\nF*2M7~>", 100).unwrap(),
            (b"Man sure".to_vec(), false)
        );
        assert_eq!(decode(b"z~>", 100).unwrap(), (vec![0; 4], false));
        assert_eq!(decode(b"s8W-!~>", 100).unwrap(), (vec![0xff; 4], false));
        assert_eq!(decode(b"", 100).unwrap(), (Vec::new(), false));
        assert_eq!(decode(b"<~~>", 100).unwrap(), (Vec::new(), false));
    }

    #[test]
    fn partial_groups() {
        // From Python base64.a85encode: "." -> "/c", ".." -> "/hR", "..." -> "/hSa".
        assert_eq!(decode(b"/c~>", 10).unwrap(), (b".".to_vec(), false));
        assert_eq!(decode(b"/hR~>", 10).unwrap(), (b"..".to_vec(), false));
        assert_eq!(decode(b"/hSa~>", 10).unwrap(), (b"...".to_vec(), false));
        for n in 1..=3 {
            let data = vec![0xffu8; n];
            assert_eq!(decode(&encode(&data), 10).unwrap(), (data, false));
        }
        // Missing "~>" is fine.
        assert_eq!(decode(b"/hSa", 10).unwrap(), (b"...".to_vec(), false));
    }

    #[test]
    fn damage() {
        // Lone final character.
        assert_eq!(decode(b"9jqo^B~>", 10).unwrap(), (b"Man ".to_vec(), true));
        // Invalid character stops decoding.
        assert_eq!(
            decode(b"9jqo^{BlbD-", 10).unwrap(),
            (b"Man ".to_vec(), true)
        );
        // 'z' inside a group.
        assert_eq!(decode(b"9jqo^Bz", 10).unwrap(), (b"Man ".to_vec(), true));
        // Group value over 2^32 - 1.
        assert!(decode(b"uuuuu", 10).unwrap().1);
    }

    #[test]
    fn limit() {
        assert_eq!(
            decode(b"zzz", 11),
            Err(FilterError::LimitExceeded { limit: 11 })
        );
        assert_eq!(decode(b"zzz", 12).unwrap().0.len(), 12);
        assert_eq!(
            decode(MAN85, 19),
            Err(FilterError::LimitExceeded { limit: 19 })
        );
    }
}
