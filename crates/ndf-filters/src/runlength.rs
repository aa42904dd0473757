//! RunLengthDecode: length byte 0..=127 copies that many + 1 literal bytes, 129..=255 repeats
//! the next byte 257 - length times, 128 ends the data.

use crate::{FilterError, reserve_bounded};

/// Decodes RunLength into at most `limit` bytes; returns the data and whether a run was cut
/// short by the end of input.
pub(crate) fn decode(input: &[u8], limit: usize) -> Result<(Vec<u8>, bool), FilterError> {
    let mut out = Vec::with_capacity(input.len().saturating_mul(2).min(limit));
    let mut rest = input;
    let mut damaged = false;
    while let Some((&len, tail)) = rest.split_first() {
        rest = tail;
        match len {
            0..=127 => {
                let want = usize::from(len) + 1;
                let take = want.min(rest.len());
                let (lit, tail) = rest.split_at(take);
                reserve_bounded(&mut out, take, limit)?;
                out.extend_from_slice(lit);
                rest = tail;
                if take < want {
                    damaged = true;
                    break;
                }
            }
            128 => break,
            _ => {
                let Some((&b, tail)) = rest.split_first() else {
                    damaged = true;
                    break;
                };
                rest = tail;
                let n = 257 - usize::from(len);
                reserve_bounded(&mut out, n, limit)?;
                out.resize(out.len() + n, b);
            }
        }
    }
    Ok((out, damaged))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reference encoder: repeats of 2+ become runs, everything else literals; ends with 128.
    pub(crate) fn encode(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            let mut run = 1;
            while i + run < data.len() && data[i + run] == b && run < 128 {
                run += 1;
            }
            if run >= 2 {
                out.push((257 - run) as u8);
                out.push(b);
                i += run;
            } else {
                let start = i;
                while i < data.len()
                    && i - start < 128
                    && !(i + 1 < data.len() && data[i + 1] == data[i])
                {
                    i += 1;
                }
                if i == start {
                    i += 1;
                }
                out.push((i - start - 1) as u8);
                out.extend_from_slice(&data[start..i]);
            }
        }
        out.push(128);
        out
    }

    #[test]
    fn known_answers() {
        // Literal "ABC", 4 x 'z', literal "!", EOD, trailing junk ignored.
        let enc = [2, b'A', b'B', b'C', 253, b'z', 0, b'!', 128, 5, 5];
        assert_eq!(decode(&enc, 100).unwrap(), (b"ABCzzzz!".to_vec(), false));
        assert_eq!(decode(&[129, 7], 200).unwrap(), (vec![7; 128], false));
        assert_eq!(decode(&[], 200).unwrap(), (Vec::new(), false));
        // Missing EOD is fine.
        assert_eq!(decode(&[1, 9, 9], 10).unwrap(), (vec![9, 9], false));
        assert_eq!(
            encode(b"ABCzzzz!"),
            [2, b'A', b'B', b'C', 253, b'z', 0, b'!', 128]
        );
    }

    #[test]
    fn truncated() {
        assert_eq!(decode(&[4, 1, 2], 10).unwrap(), (vec![1, 2], true));
        assert_eq!(decode(&[0, 1, 200], 10).unwrap(), (vec![1], true));
    }

    #[test]
    fn limit() {
        assert_eq!(decode(&[129, 7], 128).unwrap().0.len(), 128);
        assert_eq!(
            decode(&[129, 7], 127),
            Err(FilterError::LimitExceeded { limit: 127 })
        );
        assert_eq!(
            decode(&[2, 1, 2, 3], 2),
            Err(FilterError::LimitExceeded { limit: 2 })
        );
    }
}
