//! Runs of hexadecimal digit pairs (ASCIIHexDecode, `<hex>` strings).
//!
//! [`decode_run`] decodes only the easy part — a prefix made entirely of hex digits — and leaves
//! white space, junk, odd final digits and end markers to the caller's scalar loop, which knows
//! each format's rules. Every level gives the same result: it consumes the longest even-length
//! prefix of hex digits (capped by `max_bytes`) and appends one byte per pair.

use crate::{Level, usable};

/// Not a hexadecimal digit in [`HEX_VALUE`].
pub const NOT_HEX: u8 = 0xff;

/// The value of each byte as a hexadecimal digit (`0`-`9`, `a`-`f`, `A`-`F`), [`NOT_HEX`]
/// otherwise. A `const` so other tables can start from it at compile time.
pub const HEX_VALUE: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes the longest even-length prefix of `input` made of hex digits, at most
/// `2 * max_bytes` digits, appending one byte per digit pair to `out`. Returns the number of
/// input bytes consumed (even). Uses the current [`level`](crate::level).
#[inline]
pub fn decode_run(input: &[u8], out: &mut Vec<u8>, max_bytes: usize) -> usize {
    decode_run_at(crate::level(), input, out, max_bytes)
}

/// [`decode_run`] at a given level (capped at what the CPU supports).
pub fn decode_run_at(level: Level, input: &[u8], out: &mut Vec<u8>, max_bytes: usize) -> usize {
    let n = input.len().min(max_bytes.saturating_mul(2));
    let input = input.get(..n).unwrap_or(input);
    match usable(level) {
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => match crate::Avx2::detect() {
            Some(cpu) => x86::run_avx2(cpu, input, out),
            None => x86::run_sse2(input, out),
        },
        #[cfg(target_arch = "x86_64")]
        Level::Sse2 => x86::run_sse2(input, out),
        _ => run_scalar(input, out),
    }
}

/// The portable path: one pair at a time.
fn run_scalar(input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut i = 0;
    while let (Some(&h), Some(&l)) = (input.get(i), input.get(i + 1)) {
        let (h, l) = (HEX_VALUE[usize::from(h)], HEX_VALUE[usize::from(l)]);
        if (h | l) > 15 {
            break;
        }
        out.push(h << 4 | l);
        i += 2;
    }
    i
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_add_epi8, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64,
        _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_packus_epi16,
        _mm_set1_epi8, _mm_set1_epi16, _mm_slli_epi16, _mm_srli_epi16, _mm_storeu_si128,
        _mm_sub_epi8, _mm256_add_epi8, _mm256_and_si256, _mm256_castsi256_si128, _mm256_cmpeq_epi8,
        _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_packus_epi16, _mm256_permute4x64_epi64, _mm256_set1_epi8, _mm256_set1_epi16,
        _mm256_slli_epi16, _mm256_srli_epi16, _mm256_sub_epi8,
    };

    /// Nibble values of 16 bytes and the mask of those that are hex digits.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn classify16(v: __m128i) -> (__m128i, u32) {
        let x = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let is_digit = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x);
        let y = _mm_sub_epi8(
            _mm_or_si128(v, _mm_set1_epi8(0x20)),
            _mm_set1_epi8(b'a' as i8),
        );
        let is_alpha = _mm_cmpeq_epi8(_mm_min_epu8(y, _mm_set1_epi8(5)), y);
        let vals = _mm_or_si128(
            _mm_and_si128(is_digit, x),
            _mm_and_si128(is_alpha, _mm_add_epi8(y, _mm_set1_epi8(10))),
        );
        let mask = _mm_movemask_epi8(_mm_or_si128(is_digit, is_alpha)) as u32 & 0xffff;
        (vals, mask)
    }

    /// 16 nibbles to 8 bytes (in the low half).
    #[target_feature(enable = "sse2")]
    #[inline]
    fn pack16(vals: __m128i) -> __m128i {
        let hi = _mm_slli_epi16(_mm_and_si128(vals, _mm_set1_epi16(0x00ff)), 4);
        let lo = _mm_srli_epi16(vals, 8);
        _mm_packus_epi16(_mm_or_si128(hi, lo), _mm_or_si128(hi, lo))
    }

    pub(super) fn run_sse2(input: &[u8], out: &mut Vec<u8>) -> usize {
        #[allow(unsafe_code)]
        // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
        unsafe {
            run_sse2_impl(input, out)
        }
    }

    /// SSE2 (the x86-64 baseline): 16 digits per step.
    #[target_feature(enable = "sse2")]
    #[allow(unsafe_code)]
    fn run_sse2_impl(input: &[u8], out: &mut Vec<u8>) -> usize {
        out.reserve(input.len() / 2);
        let mut i = 0;
        while let Some(block) = input.get(i..i + 16) {
            // SAFETY: `block` is 16 readable bytes; `loadu` has no alignment requirement.
            let v = unsafe { _mm_loadu_si128(block.as_ptr().cast()) };
            let (vals, mask) = classify16(v);
            let bytes = (_mm_cvtsi128_si64(pack16(vals)) as u64).to_le_bytes();
            if mask == 0xffff {
                out.extend_from_slice(&bytes);
                i += 16;
            } else {
                let k = (mask.trailing_ones() & !1) as usize;
                out.extend_from_slice(bytes.get(..k / 2).unwrap_or_default());
                return i + k;
            }
        }
        i + super::run_scalar(input.get(i..).unwrap_or_default(), out)
    }

    pub(super) fn run_avx2(_cpu: crate::Avx2, input: &[u8], out: &mut Vec<u8>) -> usize {
        if input.len() < 32 {
            return run_sse2(input, out);
        }
        #[allow(unsafe_code)]
        // SAFETY: the `Avx2` token exists only when `is_x86_feature_detected!("avx2")` said
        // the CPU has AVX2 (`Avx2::detect`).
        unsafe {
            run_avx2_impl(input, out)
        }
    }

    /// AVX2: 32 digits per step.
    #[target_feature(enable = "avx2")]
    #[allow(unsafe_code)]
    fn run_avx2_impl(input: &[u8], out: &mut Vec<u8>) -> usize {
        out.reserve(input.len() / 2);
        let mut i = 0;
        let mut buf = [0u8; 16];
        while let Some(block) = input.get(i..i + 32) {
            // SAFETY: `block` is 32 readable bytes; `loadu` has no alignment requirement.
            let v = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
            let x = _mm256_sub_epi8(v, _mm256_set1_epi8(b'0' as i8));
            let is_digit = _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi8(9)), x);
            let y = _mm256_sub_epi8(
                _mm256_or_si256(v, _mm256_set1_epi8(0x20)),
                _mm256_set1_epi8(b'a' as i8),
            );
            let is_alpha = _mm256_cmpeq_epi8(_mm256_min_epu8(y, _mm256_set1_epi8(5)), y);
            let vals = _mm256_or_si256(
                _mm256_and_si256(is_digit, x),
                _mm256_and_si256(is_alpha, _mm256_add_epi8(y, _mm256_set1_epi8(10))),
            );
            let mask = _mm256_movemask_epi8(_mm256_or_si256(is_digit, is_alpha)) as u32;
            let hi = _mm256_slli_epi16(_mm256_and_si256(vals, _mm256_set1_epi16(0x00ff)), 4);
            let lo = _mm256_srli_epi16(vals, 8);
            let both = _mm256_or_si256(hi, lo);
            // packus works per 128-bit lane: bytes 0-7 and 16-23 hold the results; gather them.
            let packed: __m256i =
                _mm256_permute4x64_epi64::<0b00_00_10_00>(_mm256_packus_epi16(both, both));
            // SAFETY: `buf` is 16 writable bytes; `storeu` has no alignment requirement.
            unsafe { _mm_storeu_si128(buf.as_mut_ptr().cast(), _mm256_castsi256_si128(packed)) };
            if mask == u32::MAX {
                out.extend_from_slice(&buf);
                i += 32;
            } else {
                let k = (mask.trailing_ones() & !1) as usize;
                out.extend_from_slice(buf.get(..k / 2).unwrap_or_default());
                return i + k;
            }
        }
        i + run_sse2_impl(input.get(i..).unwrap_or_default(), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(input: &[u8], max: usize) -> Vec<(usize, Vec<u8>)> {
        crate::supported_levels()
            .into_iter()
            .map(|l| {
                let mut out = vec![7u8];
                let n = decode_run_at(l, input, &mut out, max);
                (n, out)
            })
            .collect()
    }

    fn assert_agree(input: &[u8], max: usize) {
        let results = all(input, max);
        let first = &results[0];
        for r in &results {
            assert_eq!(
                r,
                first,
                "input {:?} max {max}",
                String::from_utf8_lossy(input)
            );
        }
        // The scalar answer is the specification: the longest even digit prefix.
        let digits = input
            .iter()
            .take_while(|&&b| HEX_VALUE[usize::from(b)] != NOT_HEX)
            .count();
        let want = (digits & !1).min(max.saturating_mul(2));
        assert_eq!(first.0, want);
        assert_eq!(first.1.len(), 1 + want / 2);
    }

    #[test]
    fn table() {
        for b in 0..=255u8 {
            let v = HEX_VALUE[usize::from(b)];
            let want = (b as char).to_digit(16).map_or(NOT_HEX, |d| d as u8);
            assert_eq!(v, want, "{b}");
        }
    }

    #[test]
    fn known_answers() {
        for l in crate::supported_levels() {
            let mut out = Vec::new();
            let s = b"48656c6C6F20576f726c6421212121aabbccddeeff0011223344556677889900AaBbCcDd";
            let n = decode_run_at(l, s, &mut out, usize::MAX);
            assert_eq!(n, s.len(), "{l:?}");
            assert_eq!(&out[..6], b"Hello ");
            let mut out = Vec::new();
            assert_eq!(
                decode_run_at(l, b"0123456789abcdef0123456789ABCDEFx", &mut out, 3),
                6
            );
            assert_eq!(out, [0x01, 0x23, 0x45]);
        }
    }

    #[test]
    fn every_stop_position_and_length() {
        // All lengths 0..=200, with a single non-digit (or none) at every position.
        let base: Vec<u8> = b"0123456789abcdefABCDEF"
            .iter()
            .copied()
            .cycle()
            .take(200)
            .collect();
        for len in 0..=200 {
            assert_agree(&base[..len], usize::MAX);
            for stop in 0..len {
                for bad in [b' ', b'>', b'g', b'G', 0u8, 0xff, b'/', b':', b'@', b'`'] {
                    let mut v = base[..len].to_vec();
                    v[stop] = bad;
                    assert_agree(&v, usize::MAX);
                }
            }
            for max in [0, 1, 7, 8, 15, 16, 17, 50] {
                assert_agree(&base[..len], max);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn paths_agree_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..=200),
                                       max in prop_oneof![Just(usize::MAX), 0usize..120]) {
            assert_agree(&data, max);
        }

        #[test]
        fn paths_agree_on_mostly_hex(
            data in proptest::collection::vec(
                prop_oneof![
                    20 => proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
                    1 => proptest::sample::select(b" \n\r\t\x0c\0>gG~".to_vec()),
                    1 => any::<u8>(),
                ],
                0..=200,
            ),
            max in prop_oneof![Just(usize::MAX), 0usize..120],
        ) {
            assert_agree(&data, max);
        }
    }
}
