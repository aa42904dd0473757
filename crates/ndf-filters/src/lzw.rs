//! LZWDecode: 9..=12-bit codes, MSB first, clear 256, EOD 257, optional early change.

use crate::{FilterError, reserve_bounded};

const CLEAR: u16 = 256;
const EOD: u16 = 257;
const FIRST_FREE: u16 = 258;
const TABLE_SIZE: usize = 4096;

/// One dictionary string, stored as (prefix code, last byte) so the table is fixed-size.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    prefix: u16,
    last: u8,
    first: u8,
    /// Length of the whole string, 1..=4096.
    len: u16,
}

/// Decodes LZW into at most `limit` bytes; returns the data and whether an invalid code was
/// met (decoding stops there). Running out of input without EOD is not damage.
pub(crate) fn decode(
    input: &[u8],
    early_change: bool,
    limit: usize,
) -> Result<(Vec<u8>, bool), FilterError> {
    let mut table = vec![Entry::default(); TABLE_SIZE];
    for (i, e) in table.iter_mut().take(256).enumerate() {
        let b = i as u8;
        *e = Entry {
            prefix: 0,
            last: b,
            first: b,
            len: 1,
        };
    }
    let early = u16::from(early_change);
    let mut out = Vec::with_capacity(input.len().saturating_mul(3).min(limit));
    let mut next = FIRST_FREE;
    let mut width = 9u32;
    let mut prev: Option<u16> = None;
    // Bit reader: `acc` holds `nbits` unread bits (fewer than 20 at any time).
    let mut acc = 0u32;
    let mut nbits = 0u32;
    let mut bytes = input.iter();
    let mut damaged = false;
    'codes: loop {
        while nbits < width {
            let Some(&b) = bytes.next() else {
                break 'codes;
            };
            acc = (acc << 8) | u32::from(b);
            nbits += 8;
        }
        nbits -= width;
        let code = ((acc >> nbits) & ((1 << width) - 1)) as u16;
        acc &= (1 << nbits) - 1;

        if code == CLEAR {
            next = FIRST_FREE;
            width = 9;
            prev = None;
            continue;
        }
        if code == EOD {
            break;
        }
        let Some(p) = prev else {
            // First code after a clear: must be a literal.
            if code > 255 {
                damaged = true;
                break;
            }
            reserve_bounded(&mut out, 1, limit)?;
            out.push(code as u8);
            prev = Some(code);
            continue;
        };
        let full = usize::from(next) >= TABLE_SIZE;
        let first = if code < next {
            emit(&table, code, &mut out, limit)?;
            table[usize::from(code)].first
        } else if code == next && !full {
            // KwKwK: the string being defined is prev + first(prev).
            emit(&table, p, &mut out, limit)?;
            let f = table[usize::from(p)].first;
            reserve_bounded(&mut out, 1, limit)?;
            out.push(f);
            f
        } else {
            damaged = true;
            break;
        };
        if !full {
            let pe = table[usize::from(p)];
            table[usize::from(next)] = Entry {
                prefix: p,
                last: first,
                first: pe.first,
                len: pe.len + 1,
            };
            next += 1;
            if next + early >= (1 << width) && width < 12 {
                width += 1;
            }
        }
        prev = Some(code);
    }
    Ok((out, damaged))
}

/// Appends the string for `code` (which is < next, so well-formed) by walking its prefix chain
/// backwards into freshly reserved space.
fn emit(table: &[Entry], code: u16, out: &mut Vec<u8>, limit: usize) -> Result<(), FilterError> {
    let Some(&e) = table.get(usize::from(code)) else {
        return Ok(());
    };
    if e.len == 1 {
        reserve_bounded(out, 1, limit)?;
        out.push(e.last);
        return Ok(());
    }
    let len = usize::from(e.len);
    reserve_bounded(out, len, limit)?;
    let start = out.len();
    out.resize(start + len, 0);
    let mut c = code;
    // Each step moves to a strictly shorter string, so the chain has exactly `len` links.
    for slot in out[start..].iter_mut().rev() {
        let Some(e) = table.get(usize::from(c)) else {
            break;
        };
        *slot = e.last;
        c = e.prefix;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Minimal LZW encoder (MSB-first, clear at start, EOD at end, resets when the table fills).
    pub(crate) fn encode(data: &[u8], early_change: bool) -> Vec<u8> {
        let early = u32::from(early_change);
        let mut out = Vec::new();
        let mut acc = 0u64;
        let mut nbits = 0u32;
        let mut put = |code: u32, width: u32, out: &mut Vec<u8>| {
            acc = (acc << width) | u64::from(code);
            nbits += width;
            while nbits >= 8 {
                nbits -= 8;
                out.push((acc >> nbits) as u8);
            }
        };
        let mut dict: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut next = 258u32;
        let mut width = 9u32;
        put(256, width, &mut out);
        let mut cur: Vec<u8> = Vec::new();
        let code_of = |s: &[u8], dict: &HashMap<Vec<u8>, u32>| {
            if s.len() == 1 {
                u32::from(s[0])
            } else {
                dict[s]
            }
        };
        for &b in data {
            let mut ext = cur.clone();
            ext.push(b);
            if cur.is_empty() || ext.len() == 1 || dict.contains_key(&ext) {
                cur = ext;
                continue;
            }
            put(code_of(&cur, &dict), width, &mut out);
            dict.insert(ext, next);
            next += 1;
            // The decoder learns each entry one code after us.
            if next - 1 + early >= (1 << width) && width < 12 {
                width += 1;
            }
            if next >= 4094 {
                put(256, width, &mut out);
                dict.clear();
                next = 258;
                width = 9;
            }
            cur = vec![b];
        }
        if !cur.is_empty() {
            put(code_of(&cur, &dict), width, &mut out);
            next += 1;
            // The decoder learns each entry one code after us.
            if next - 1 + early >= (1 << width) && width < 12 {
                width += 1;
            }
        }
        put(257, width, &mut out);
        if nbits > 0 {
            out.push((acc << (8 - nbits)) as u8);
        }
        out
    }

    #[test]
    fn known_answer_spec_example() {
        // ISO 32000-1, 7.4.4.2: "-----A---B" encodes to codes 256 45 258 258 65 259 66 257,
        // i.e. the bytes 80 0B 60 50 22 0C 0C 85 01.
        let enc = [0x80, 0x0b, 0x60, 0x50, 0x22, 0x0c, 0x0c, 0x85, 0x01];
        assert_eq!(
            decode(&enc, true, 100).unwrap(),
            (b"-----A---B".to_vec(), false)
        );
        assert_eq!(encode(b"-----A---B", true), enc);
    }

    #[test]
    fn round_trip_both_early_change_values_and_resets() {
        let data: Vec<u8> = (0..60_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8)
            .collect();
        for early in [false, true] {
            let enc = encode(&data, early);
            let (d, damaged) = decode(&enc, early, data.len()).unwrap();
            assert!(!damaged);
            assert_eq!(d, data);
        }
        // Wrong early change gets garbage or damage, never a panic.
        let enc = encode(&data, true);
        let r = decode(&enc, false, data.len()).unwrap();
        assert_ne!(r.0, data);
    }

    #[test]
    fn limit() {
        let data = vec![b'x'; 10_000];
        let enc = encode(&data, true);
        assert_eq!(decode(&enc, true, 10_000).unwrap().0, data);
        assert_eq!(
            decode(&enc, true, 9_999),
            Err(FilterError::LimitExceeded { limit: 9_999 })
        );
    }

    #[test]
    fn invalid_code_keeps_prefix() {
        // Clear, 'A' (65), then code 300 (> next = 258): invalid.
        let mut bits = Vec::new();
        let mut acc = 0u64;
        for c in [256u64, 65, 300] {
            acc = (acc << 9) | c;
        }
        acc <<= 5; // pad 27 bits to 32
        bits.extend_from_slice(&(acc as u32).to_be_bytes());
        assert_eq!(decode(&bits, true, 100).unwrap(), (b"A".to_vec(), true));
        // A first code that is not a literal.
        let enc = [0x81, 0x00]; // 9 bits: 1_0000_0010 = 258
        assert_eq!(decode(&enc, true, 100).unwrap(), (Vec::new(), true));
    }

    #[test]
    fn missing_clear_and_eod_tolerated() {
        // Codes 65 66 without clear or EOD (9 bits each): 0_0100_0001 0_0100_0010.
        let enc = [0x20, 0x90, 0x80];
        assert_eq!(decode(&enc, true, 100).unwrap(), (b"AB".to_vec(), false));
        assert_eq!(decode(b"", true, 100).unwrap(), (Vec::new(), false));
    }
}
