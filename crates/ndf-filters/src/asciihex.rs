//! ASCIIHexDecode: pairs of hex digits, white space ignored, `>` ends, odd last digit padded.

use crate::FilterError;

const WS: u8 = 0xfe;
const BAD: u8 = ndf_simd::hex::NOT_HEX;

/// Digit values (the SIMD kernel's table), WS for PDF white space, BAD otherwise.
static TABLE: [u8; 256] = {
    let mut t = ndf_simd::hex::HEX_VALUE;
    t[0] = WS;
    t[b'\t' as usize] = WS;
    t[b'\n' as usize] = WS;
    t[0x0c] = WS;
    t[b'\r' as usize] = WS;
    t[b' ' as usize] = WS;
    t
};

/// After a digit run shorter than this, the vector kernel is not tried again for as many bytes:
/// hex interleaved with white space (`41 42 43`) stays on the plain loop.
const RUN_BACKOFF: usize = 32;

/// Decodes ASCIIHex into at most `limit` bytes; invalid characters are skipped (like pdf.js)
/// and flag the result as damaged.
pub(crate) fn decode(input: &[u8], limit: usize) -> Result<(Vec<u8>, bool), FilterError> {
    decode_with(input, limit, true)
}

/// `simd == false` is the plain loop alone, the specification the kernel is tested against.
pub(crate) fn decode_with(
    input: &[u8],
    limit: usize,
    simd: bool,
) -> Result<(Vec<u8>, bool), FilterError> {
    // Two digits per byte, plus a possible padded odd digit.
    let mut out = Vec::with_capacity((input.len() / 2 + 1).min(limit));
    let mut damaged = false;
    let mut high: Option<u8> = None;
    let mut i = 0;
    let mut simd_from = if simd { 0 } else { usize::MAX };
    loop {
        if high.is_none() && i >= simd_from {
            // Runs of digit pairs go through the SIMD kernel (same result as the loop below).
            let rest = input.get(i..).unwrap_or_default();
            let room = limit.saturating_sub(out.len());
            let n = ndf_simd::hex::decode_run(rest, &mut out, room);
            i += n;
            if n < RUN_BACKOFF {
                simd_from = i + RUN_BACKOFF;
            }
        }
        let Some(&b) = input.get(i) else { break };
        i += 1;
        let v = TABLE[usize::from(b)];
        if v < 16 {
            match high.take() {
                None => high = Some(v),
                Some(h) => {
                    if out.len() >= limit {
                        return Err(FilterError::LimitExceeded { limit });
                    }
                    out.push(h << 4 | v);
                }
            }
        } else if b == b'>' {
            break;
        } else if v == BAD {
            damaged = true;
        }
    }
    if let Some(h) = high {
        if out.len() >= limit {
            return Err(FilterError::LimitExceeded { limit });
        }
        out.push(h << 4);
    }
    Ok((out, damaged))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn encode(data: &[u8]) -> Vec<u8> {
        let mut out: Vec<u8> = data
            .iter()
            .flat_map(|b| format!("{b:02X}").into_bytes())
            .collect();
        out.push(b'>');
        out
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            decode(b"48656c6C6F>", 100).unwrap(),
            (b"Hello".to_vec(), false)
        );
        assert_eq!(
            decode(b" 4 8\n65\r\n6c\t6c 6f\x0c>ignored", 100).unwrap(),
            (b"Hello".to_vec(), false)
        );
        assert_eq!(
            decode(b"901FA>", 100).unwrap(),
            (vec![0x90, 0x1f, 0xa0], false)
        );
        assert_eq!(
            decode(b"901FA", 100).unwrap(),
            (vec![0x90, 0x1f, 0xa0], false)
        );
        assert_eq!(decode(b">", 100).unwrap(), (Vec::new(), false));
        assert_eq!(encode(b"Hi"), b"4869>");
    }

    #[test]
    fn invalid_skipped_and_flagged() {
        assert_eq!(decode(b"4x1g>", 100).unwrap(), (b"A".to_vec(), true));
    }

    #[test]
    fn limit() {
        assert_eq!(decode(b"414243", 3).unwrap().0, b"ABC");
        assert_eq!(
            decode(b"414243", 2),
            Err(FilterError::LimitExceeded { limit: 2 })
        );
        assert_eq!(
            decode(b"41424", 2),
            Err(FilterError::LimitExceeded { limit: 2 })
        );
    }
}
