//! BrotliDecode: the PDF Association's extension for PDF 2.0 (`/Filter /BrotliDecode`, with the
//! same optional predictor parameters as FlateDecode).
//!
//! Decoded by `brotli-decompressor` (pure Rust, no `unsafe` in its default build) driven in
//! streaming mode into an output buffer that grows by doubling up to `limit + 1` bytes: output
//! past the limit is [`FilterError::LimitExceeded`], never a truncation, and a bomb stops after
//! at most `limit + 1` bytes of work. The decoder's own memory is its ring buffer, at most the
//! stream's window: the decoder runs in strict mode (RFC 7932, windows up to 16 MiB; the
//! "large window" extension, up to 1 GiB, is refused as damage). Damaged or truncated input
//! keeps the decoded prefix and is flagged damaged, as for Flate.

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};

use crate::FilterError;

/// Smallest first output buffer.
const MIN_INITIAL: usize = 4096;

/// Decodes Brotli `input` into at most `limit` bytes. Returns the data and whether it was
/// damaged (invalid or truncated); bytes after the end of the Brotli stream are ignored.
pub(crate) fn decode(input: &[u8], limit: usize) -> Result<(Vec<u8>, bool), FilterError> {
    if input.is_empty() {
        // An empty stream decodes to nothing, as for Flate.
        return Ok((Vec::new(), false));
    }
    // One byte over the limit tells "exactly limit" from "more than limit".
    let cap_max = limit.saturating_add(1);
    let initial = input.len().saturating_mul(4).max(MIN_INITIAL).min(cap_max);
    let mut out = vec![0u8; initial];
    let mut state = BrotliState::new_strict(
        StandardAlloc::default(),
        StandardAlloc::default(),
        StandardAlloc::default(),
    );
    let (mut in_offset, mut out_offset, mut total_out) = (0usize, 0usize, 0usize);
    // Each call decodes until it needs more output (the buffer then doubles, at most
    // ~log2(limit) times before the limit is hit), more input (there is none: truncated), or
    // the stream ends or fails. So the loop runs O(log limit) times.
    loop {
        let mut available_in = input.len().saturating_sub(in_offset);
        let mut available_out = out.len().saturating_sub(out_offset);
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut in_offset,
            input,
            &mut available_out,
            &mut out_offset,
            &mut out,
            &mut total_out,
            &mut state,
        );
        if out_offset > limit {
            return Err(FilterError::LimitExceeded { limit });
        }
        match result {
            BrotliResult::ResultSuccess => {
                out.truncate(out_offset);
                return Ok((out, false));
            }
            BrotliResult::NeedsMoreOutput => {
                if out.len() >= cap_max {
                    return Err(FilterError::LimitExceeded { limit });
                }
                let target = out.len().saturating_mul(2).min(cap_max);
                out.resize(target, 0);
            }
            BrotliResult::NeedsMoreInput | BrotliResult::ResultFailure => {
                out.truncate(out_offset);
                return Ok((out, true));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn compress(data: &[u8], quality: u32, lgwin: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, quality, lgwin);
            w.write_all(data).unwrap();
        }
        out
    }

    fn sample() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| {
                format!("BT /F1 12 Tf {} {} Td (x{i}) Tj ET\n", i % 97, i % 13).into_bytes()
            })
            .collect()
    }

    #[test]
    fn known_answer() {
        // brotli.compress(b"hello") from Google's Python module.
        let b = [0x0b, 0x02, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x03];
        assert_eq!(decode(&b, 100).unwrap(), (b"hello".to_vec(), false));
    }

    #[test]
    fn round_trip_at_several_qualities_and_windows() {
        let s = sample();
        for (q, w) in [(0, 10), (5, 16), (11, 22), (11, 24)] {
            let c = compress(&s, q, w);
            assert!(c.len() < s.len() / 3, "q{q} w{w}: {} bytes", c.len());
            assert_eq!(
                decode(&c, s.len()).unwrap(),
                (s.clone(), false),
                "q{q} w{w}"
            );
        }
        assert_eq!(
            decode(&compress(b"", 11, 22), 0).unwrap(),
            (Vec::new(), false)
        );
        assert_eq!(decode(b"", 0).unwrap(), (Vec::new(), false));
    }

    #[test]
    fn exact_limit_is_fine_one_less_is_not() {
        let s = sample();
        let c = compress(&s, 9, 22);
        assert_eq!(decode(&c, s.len()).unwrap().0.len(), s.len());
        assert_eq!(
            decode(&c, s.len() - 1),
            Err(FilterError::LimitExceeded { limit: s.len() - 1 })
        );
        assert_eq!(
            decode(&compress(b"a", 9, 22), 0),
            Err(FilterError::LimitExceeded { limit: 0 })
        );
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        // 256 MiB of zeros compress to a few hundred bytes; decoding must stop at 1 MiB
        // without producing (or allocating) the rest.
        let mut c = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut c, 1 << 16, 5, 24);
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..256 {
                w.write_all(&chunk).unwrap();
            }
        }
        assert!(c.len() < 100_000, "{} bytes", c.len());
        assert_eq!(
            decode(&c, 1 << 20),
            Err(FilterError::LimitExceeded { limit: 1 << 20 })
        );
    }

    #[test]
    fn truncated_keeps_prefix() {
        let s = sample();
        let c = compress(&s, 9, 22);
        let (d, damaged) = decode(&c[..c.len() / 2], s.len()).unwrap();
        assert!(damaged);
        assert!(!d.is_empty() && d.len() < s.len(), "recovered {}", d.len());
        assert_eq!(&s[..d.len()], &d[..]);
    }

    #[test]
    fn damaged_input_keeps_what_decodes_and_never_passes_the_limit() {
        let s = sample();
        let c = compress(&s, 9, 22);
        for pos in (0..c.len()).step_by(37) {
            let mut d = c.clone();
            d[pos] ^= 0x5a;
            match decode(&d, s.len()) {
                Ok((out, _)) => assert!(out.len() <= s.len()),
                Err(e) => assert_eq!(e, FilterError::LimitExceeded { limit: s.len() }),
            }
        }
        let (d, damaged) = decode(b"this is not brotli at all", 1000).unwrap();
        assert!(damaged);
        assert!(d.len() <= 1000);
    }

    #[test]
    fn trailing_bytes_after_the_stream_are_ignored() {
        let mut c = compress(b"content", 9, 22);
        c.extend_from_slice(b"\r\n");
        assert_eq!(decode(&c, 100).unwrap(), (b"content".to_vec(), false));
    }

    #[test]
    fn large_window_streams_are_refused_as_damage() {
        // A large-window stream (WBITS 30, a 1 GiB window) is not RFC 7932 Brotli.
        let mut c = Vec::new();
        {
            let params = brotli::enc::BrotliEncoderParams {
                large_window: true,
                lgwin: 30,
                ..Default::default()
            };
            let mut w = brotli::CompressorWriter::with_params(&mut c, 4096, &params);
            w.write_all(&sample()).unwrap();
        }
        let (d, damaged) = decode(&c, 1 << 20).unwrap();
        assert!(damaged);
        assert!(d.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_input_never_panics_or_passes_the_limit(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            limit in 0usize..100_000,
        ) {
            match decode(&data, limit) {
                Ok((out, _)) => proptest::prop_assert!(out.len() <= limit),
                Err(e) => proptest::prop_assert_eq!(e, FilterError::LimitExceeded { limit }),
            }
        }

        #[test]
        fn round_trips(data in proptest::collection::vec(0u8..8, 0..5000), q in 0u32..=11) {
            let c = compress(&data, q, 22);
            proptest::prop_assert_eq!(decode(&c, data.len()).unwrap(), (data, false));
        }
    }
}
