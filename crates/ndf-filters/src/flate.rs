//! FlateDecode: zlib (or, for damaged headers, raw deflate).
//!
//! Intact zlib streams — nearly all of them — are inflated whole by libdeflate: small outputs
//! into a reused per-thread buffer, then copied out at their exact size; large ones into a
//! buffer of their own, shrunk to fit. Measured on the dev corpus's real streams this is about
//! 1.15× faster than streaming through flate2 on zlib-rs (docs/performance/simd.md). libdeflate has no
//! partial output, so anything it rejects (truncated data, corruption, a bad checksum, a
//! missing or damaged header) is decoded again by the streaming zlib-rs path (flate2), which
//! keeps the decodable prefix: the fast path never changes a result.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};

use crate::FilterError;

/// Smallest first allocation; most streams are content streams of a few KB.
const MIN_INITIAL: usize = 4096;

/// Smallest first output buffer of the whole-stream path.
const WHOLE_MIN: usize = 64 << 10;

/// Size of the reused per-thread buffer: outputs that may be larger get a buffer of their own
/// (so a worker never keeps more than this after a large stream).
const SCRATCH: usize = 1 << 20;

thread_local! {
    /// libdeflate's decompressor (about 10 KB of tables) and the small-output buffer, reused.
    static WHOLE: RefCell<Option<(libdeflater::Decompressor, Vec<u8>)>> =
        const { RefCell::new(None) };
}

/// What the whole-buffer path concluded.
enum Whole {
    /// The complete, checksum-verified output.
    Done(Vec<u8>),
    /// More than `limit` bytes.
    TooLarge,
    /// Rejected (damaged or truncated): use the streaming path.
    Fallback,
}

/// Inflates an intact zlib stream with libdeflate, growing the buffer (doubling, at most to
/// `limit + 1`) when it is too small. Work is bounded by about twice the output limit (and
/// as much again in the streaming fallback for a stream that reaches the limit).
fn inflate_whole(data: &[u8], limit: usize) -> Whole {
    WHOLE.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return Whole::Fallback;
        };
        let (d, scratch) =
            slot.get_or_insert_with(|| (libdeflater::Decompressor::new(), Vec::new()));
        // One byte over the limit tells "exactly limit" from "more than limit".
        let cap_max = limit.saturating_add(1);
        let mut size = data.len().saturating_mul(4).max(WHOLE_MIN).min(cap_max);
        // A large buffer of its own, zeroed lazily by the allocator (calloc).
        let mut own: Vec<u8> = Vec::new();
        loop {
            let buf = if size <= SCRATCH {
                if scratch.len() < SCRATCH {
                    scratch.resize(SCRATCH, 0);
                }
                scratch.get_mut(..size)
            } else {
                // Free the smaller attempt before allocating the next one.
                drop(std::mem::take(&mut own));
                own = vec![0u8; size];
                Some(&mut own[..])
            };
            let Some(buf) = buf else {
                return Whole::Fallback;
            };
            match d.zlib_decompress(data, buf) {
                Ok(n) if n > limit => return Whole::TooLarge,
                Ok(n) if size <= SCRATCH => {
                    return Whole::Done(scratch.get(..n).unwrap_or_default().to_vec());
                }
                Ok(n) => {
                    own.truncate(n);
                    own.shrink_to_fit();
                    return Whole::Done(own);
                }
                Err(libdeflater::DecompressionError::InsufficientSpace) => {
                    // Not conclusive at the limit: libdeflate reads up to 8 zero bytes past
                    // the end of a truncated stream (a few KB of phantom output) before it
                    // gives up, so the streaming path decides between "too large" and
                    // "truncated, keep the prefix".
                    if size >= cap_max {
                        return Whole::Fallback;
                    }
                    size = size.saturating_mul(2).min(cap_max);
                }
                Err(libdeflater::DecompressionError::BadData) => return Whole::Fallback,
            }
        }
    })
}

/// How one inflate attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The deflate end-of-stream was reached (and, in zlib mode, the Adler-32 matched).
    Complete,
    /// The input ran out before the end of the stream.
    Truncated,
    /// Invalid data or a bad checksum.
    Error,
}

/// Inflates `input` into at most `limit` bytes. Returns the data and whether it was damaged.
pub(crate) fn inflate(input: &[u8], limit: usize) -> Result<(Vec<u8>, bool), FilterError> {
    if input.is_empty() {
        // Empty streams (zero-length content streams) are common and harmless.
        return Ok((Vec::new(), false));
    }
    let (ws, header_ok) = zlib_start(input);
    if header_ok {
        match inflate_whole(input.get(ws..).unwrap_or_default(), limit) {
            Whole::Done(out) => return Ok((out, false)),
            Whole::TooLarge => return Err(FilterError::LimitExceeded { limit }),
            Whole::Fallback => {}
        }
    }
    inflate_streaming(input, ws, header_ok, limit)
}

/// Where the zlib header would start and whether a valid one is there. Some producers put a
/// newline (or other white space) before the header; it is skipped only when a valid header
/// follows, because raw deflate may legitimately start with such a byte.
fn zlib_start(input: &[u8]) -> (usize, bool) {
    let ws = input
        .iter()
        .position(|&b| !crate::is_pdf_whitespace(b))
        .unwrap_or(input.len());
    (ws, valid_zlib_header(input.get(ws..).unwrap_or_default()))
}

/// The streaming path (flate2 on zlib-rs): keeps the decodable prefix of damaged streams.
fn inflate_streaming(
    input: &[u8],
    ws: usize,
    header_ok: bool,
    limit: usize,
) -> Result<(Vec<u8>, bool), FilterError> {
    // Attempts in order; the next one runs only if the previous produced no byte at all, so the
    // total work stays linear. A bad header is treated as absent (raw deflate from the first
    // byte), then as present-but-corrupt (raw deflate after two bytes).
    let attempts: [(bool, usize); 2] = if header_ok {
        [(true, ws), (false, ws)]
    } else {
        [(false, 0), (false, 2)]
    };
    let mut out = Vec::new();
    let mut end = End::Error;
    for (zlib, skip) in attempts {
        let Some(data) = input.get(skip..) else { break };
        out.clear();
        end = inflate_attempt(data, zlib, limit, &mut out)?;
        if end == End::Complete || !out.is_empty() {
            break;
        }
    }
    Ok((out, end != End::Complete || !header_ok))
}

/// RFC 1950 header: CM 8 (deflate), window at most 32 KB, check bits right, no preset dictionary.
fn valid_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
                && flg & 0x20 == 0
        }
        _ => false,
    }
}

/// One decompression run appending to `out` (which is empty on entry).
fn inflate_attempt(
    input: &[u8],
    zlib: bool,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<End, FilterError> {
    let mut d = Decompress::new(zlib);
    // One byte over the limit lets us tell "exactly max_out" from "more than max_out".
    let cap_max = limit.saturating_add(1);
    let initial = input.len().saturating_mul(4).max(MIN_INITIAL).min(cap_max);
    if out.capacity() < initial {
        out.reserve_exact(initial);
    }
    // Each pass either consumes input, produces output, grows the buffer (at most ~log2(limit)
    // times, bounded by cap_max), or ends the loop.
    loop {
        if out.len() >= out.capacity() {
            if out.capacity() >= cap_max {
                return Err(FilterError::LimitExceeded { limit });
            }
            let target = out.capacity().saturating_mul(2).min(cap_max);
            out.reserve_exact(target.saturating_sub(out.len()));
        }
        let in_before = d.total_in();
        let out_before = out.len();
        let consumed = usize::try_from(in_before).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        let res = d.decompress_vec(rest, out, FlushDecompress::Finish);
        if out.len() > limit {
            return Err(FilterError::LimitExceeded { limit });
        }
        match res {
            Ok(Status::StreamEnd) => return Ok(End::Complete),
            Ok(Status::Ok | Status::BufError) => {
                let progressed = d.total_in() != in_before || out.len() != out_before;
                let room = out.len() < out.capacity();
                if !progressed && room {
                    return Ok(End::Truncated);
                }
            }
            Err(_) => return Ok(End::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, ZlibEncoder};
    use std::io::Write;

    pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sample() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("BT /F1 12 Tf {} {} Td (x) Tj ET\n", i % 97, i % 13).into_bytes())
            .collect()
    }

    #[test]
    fn known_answer() {
        // zlib.compress(b"hello") from CPython.
        let z = [
            0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x06, 0x2c, 0x02, 0x15,
        ];
        assert_eq!(inflate(&z, 100).unwrap(), (b"hello".to_vec(), false));
    }

    #[test]
    fn round_trip_large() {
        let s = sample();
        let (d, damaged) = inflate(&zlib(&s), s.len()).unwrap();
        assert!(!damaged);
        assert_eq!(d, s);
    }

    #[test]
    fn exact_limit_is_fine_one_less_is_not() {
        let s = sample();
        let z = zlib(&s);
        assert_eq!(inflate(&z, s.len()).unwrap().0.len(), s.len());
        assert_eq!(
            inflate(&z, s.len() - 1),
            Err(FilterError::LimitExceeded { limit: s.len() - 1 })
        );
        assert_eq!(inflate(&zlib(b""), 0).unwrap(), (Vec::new(), false));
        assert_eq!(
            inflate(&zlib(b"a"), 0),
            Err(FilterError::LimitExceeded { limit: 0 })
        );
    }

    #[test]
    fn leading_whitespace() {
        let mut z = b"\r\n \n".to_vec();
        z.extend(zlib(b"content"));
        assert_eq!(inflate(&z, 100).unwrap(), (b"content".to_vec(), false));
    }

    #[test]
    fn missing_header_falls_back_to_raw() {
        let s = sample();
        let (d, damaged) = inflate(&raw(&s), s.len()).unwrap();
        assert_eq!(d, s);
        assert!(damaged);
    }

    #[test]
    fn corrupt_header_falls_back_to_raw_after_it() {
        let s = sample();
        let mut z = zlib(&s);
        z[0] = 0x00;
        z[1] = 0x00;
        let (d, damaged) = inflate(&z, s.len()).unwrap();
        assert_eq!(d, s);
        assert!(damaged);
    }

    #[test]
    fn bad_adler_keeps_data() {
        let s = sample();
        let mut z = zlib(&s);
        let n = z.len();
        z[n - 1] ^= 0xff;
        let (d, damaged) = inflate(&z, s.len()).unwrap();
        assert_eq!(d, s);
        assert!(damaged);
    }

    #[test]
    fn missing_adler_and_garbage_after_end() {
        let s = sample();
        let mut z = zlib(&s);
        z.truncate(z.len() - 4);
        let (d, damaged) = inflate(&z, s.len()).unwrap();
        assert_eq!(d, s);
        assert!(damaged);

        let mut z = zlib(&s);
        z.extend_from_slice(b"\r\nendstream garbage");
        assert_eq!(inflate(&z, s.len()).unwrap(), (s, false));
    }

    #[test]
    fn truncated_keeps_prefix() {
        let s = sample();
        let z = zlib(&s);
        let (d, damaged) = inflate(&z[..z.len() / 2], s.len()).unwrap();
        assert!(damaged);
        assert!(d.len() > 1000, "recovered {}", d.len());
        assert_eq!(&s[..d.len()], &d[..]);
    }

    #[test]
    fn error_midway_keeps_prefix() {
        let s = sample();
        let mut z = zlib(&s);
        let mid = z.len() / 2;
        for b in &mut z[mid..mid + 16] {
            *b = 0xff;
        }
        let (d, damaged) = inflate(&z, s.len()).unwrap();
        assert!(damaged);
        assert!(d.len() > 1000, "recovered {}", d.len());
        // Everything before the corruption point must be right.
        assert_eq!(&s[..1000], &d[..1000]);
    }

    #[test]
    fn garbage_gives_empty_damaged() {
        let (d, damaged) = inflate(b"this is not deflate at all", 1000).unwrap();
        assert!(damaged);
        assert!(d.len() <= 1000);
        assert_eq!(inflate(b"", 10).unwrap(), (Vec::new(), false));
        assert_eq!(inflate(b"\n", 10).unwrap(), (Vec::new(), true));
    }

    /// The streaming path alone, as before the whole-buffer path existed.
    fn streaming(input: &[u8], limit: usize) -> Result<(Vec<u8>, bool), FilterError> {
        if input.is_empty() {
            return Ok((Vec::new(), false));
        }
        let (ws, header_ok) = zlib_start(input);
        inflate_streaming(input, ws, header_ok, limit)
    }

    #[test]
    fn whole_buffer_path_agrees_with_streaming_on_damage() {
        let s = sample();
        let z = zlib(&s);
        // Every truncation point (strided), corrupted bytes, the checksum, limits around the
        // exact size, and a leading newline.
        for cut in (0..z.len()).step_by(97).chain(z.len() - 6..z.len()) {
            assert_eq!(
                inflate(&z[..cut], s.len()),
                streaming(&z[..cut], s.len()),
                "cut {cut}"
            );
        }
        for pos in (0..z.len()).step_by(53) {
            let mut d = z.clone();
            d[pos] ^= 0x5a;
            assert_eq!(
                inflate(&d, s.len()),
                streaming(&d, s.len()),
                "flip at {pos}"
            );
        }
        for limit in [0, 1, 4095, 65_536, s.len() - 1, s.len(), s.len() + 1] {
            assert_eq!(inflate(&z, limit), streaming(&z, limit), "limit {limit}");
        }
        let mut nl = b"\n".to_vec();
        nl.extend_from_slice(&z);
        assert_eq!(inflate(&nl, s.len()), streaming(&nl, s.len()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn whole_buffer_path_agrees_with_streaming(
            data in proptest::collection::vec(0u8..8, 0..3000),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            flip in proptest::option::of((proptest::prelude::any::<proptest::sample::Index>(), 1u8..=255)),
            limit in proptest::prop_oneof![0usize..200, 0usize..4000, proptest::strategy::Just(usize::MAX)],
        ) {
            let mut z = zlib(&data);
            if let Some((at, x)) = flip {
                let i = at.index(z.len());
                z[i] ^= x;
            }
            let n = cut.index(z.len() + 1);
            let z = &z[..n.max(z.len() * 3 / 4)];
            proptest::prop_assert_eq!(inflate(z, limit), streaming(z, limit));
        }
    }

    #[test]
    fn whole_buffer_path_grows_past_its_first_guess() {
        // 4 MB of a short repeated pattern compresses ~1000:1, far past the first buffer.
        let s: Vec<u8> = b"0 0 m 10 10 l S\n"
            .iter()
            .copied()
            .cycle()
            .take(4 << 20)
            .collect();
        let z = zlib(&s);
        assert_eq!(inflate(&z, s.len()).unwrap(), (s.clone(), false));
        assert_eq!(
            inflate(&z, s.len() - 1),
            Err(FilterError::LimitExceeded { limit: s.len() - 1 })
        );
        // And a small stream afterwards, with the grown buffer kept.
        assert_eq!(
            inflate(&zlib(b"q Q"), 10).unwrap(),
            (b"q Q".to_vec(), false)
        );
    }

    #[test]
    fn zero_bomb_stops_at_limit() {
        // 50 MB of zeros compress to ~50 KB; the decoder must stop at 1 MB.
        let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..50 {
            e.write_all(&chunk).unwrap();
        }
        let z = e.finish().unwrap();
        assert!(z.len() < 100_000);
        let t = std::time::Instant::now();
        assert_eq!(
            inflate(&z, 1 << 20),
            Err(FilterError::LimitExceeded { limit: 1 << 20 })
        );
        assert!(t.elapsed().as_secs() < 5);
    }
}
