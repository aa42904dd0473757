//! The frame format shared by the pool and its children (see the crate docs).

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt};

use crate::{Format, RequestOptions};

/// The child's first bytes on stdout. Unlikely in any text a harness prints before it.
pub(crate) const MAGIC: &[u8] = b"\x00\x7fNDF-POOL-CHILD-1\n";

/// Most bytes the parent skips before the magic.
pub(crate) const MAX_PREAMBLE: usize = 64 << 10;

/// Length of a frame header: kind and little-endian `u32` length.
pub(crate) const HEADER_LEN: usize = 5;

/// Parent → child: the request JSON.
pub(crate) const REQUEST: u8 = b'Q';
/// Parent → child: the PDF bytes.
pub(crate) const DOCUMENT: u8 = b'D';
/// Child → parent: page count and metadata JSON.
pub(crate) const METADATA: u8 = b'M';
/// Child → parent: page number and body.
pub(crate) const PAGE: u8 = b'P';
/// Child → parent: the document is finished; diagnostics JSON.
pub(crate) const DONE: u8 = b'F';
/// Child → parent: the document failed with a typed error.
pub(crate) const ERROR: u8 = b'E';
/// Child → parent: timings of the frame that follows (JSON [`WireTimings`]).
pub(crate) const TIMINGS: u8 = b'T';
/// Largest timings frame.
pub(crate) const MAX_TIMINGS_JSON: usize = 4 << 10;

/// Largest request JSON.
pub(crate) const MAX_REQUEST_JSON: u32 = 1 << 20;
/// Largest child → parent frame.
pub(crate) const MAX_RESPONSE_FRAME: u32 = 256 << 20;

/// Frames at most this large are read with one exact allocation; larger ones grow as the
/// bytes arrive so a lying length cannot make the parent allocate up front.
const EXACT_ALLOC: usize = 1 << 20;

/// The `Q` payload.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireRequest {
    pub(crate) format: Format,
    pub(crate) options: RequestOptions,
}

/// The `T` payload: measurements about the frame that follows it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireTimings {
    /// Before `M`: opening the document (header, xref, trailer, decryption, page tree).
    Open(crate::Timing),
    /// Before `P`: the stages of that page.
    Page(crate::PageStages),
    /// Before `F`: resources the document took.
    Done(crate::DocumentResources),
}

/// The `E` payload.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireError {
    pub(crate) code: ndf_model::Code,
    pub(crate) message: String,
}

/// A frame header.
pub(crate) fn header(kind: u8, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_le_bytes();
    [kind, l[0], l[1], l[2], l[3]]
}

/// Kind and length of a header.
pub(crate) fn parse_header(h: [u8; HEADER_LEN]) -> (u8, u32) {
    let [kind, a, b, c, d] = h;
    (kind, u32::from_le_bytes([a, b, c, d]))
}

/// The little-endian `u32` that starts a payload and the rest of it.
pub(crate) fn split_u32(payload: &Bytes) -> Option<(u32, Bytes)> {
    let head: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    Some((u32::from_le_bytes(head), payload.slice(4..)))
}

/// Why reading from a child failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The stream ended (the child died or closed stdout).
    Eof,
    /// Bytes that are not a valid frame.
    Protocol(String),
    /// Any other read error.
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Eof => f.write_str("the worker closed its output"),
            ReadError::Protocol(m) => write!(f, "protocol error: {m}"),
            ReadError::Io(e) => write!(f, "cannot read from the worker: {e}"),
        }
    }
}

fn io(e: std::io::Error) -> ReadError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ReadError::Eof
    } else {
        ReadError::Io(e)
    }
}

/// Skip to just after the magic; at most [`MAX_PREAMBLE`] bytes may come before it.
pub(crate) async fn read_handshake<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<(), ReadError> {
    // Bytes of MAGIC matched so far. MAGIC's first byte occurs nowhere else in it, so after a
    // mismatch a match can only restart at the current byte (no KMP table needed).
    let mut matched = 0usize;
    let mut seen = 0usize;
    loop {
        let buf = r.fill_buf().await.map_err(io)?;
        if buf.is_empty() {
            return Err(ReadError::Eof);
        }
        let mut used = 0usize;
        for &b in buf {
            used += 1;
            seen = seen.saturating_add(1);
            if MAGIC.get(matched) == Some(&b) {
                matched += 1;
                if matched == MAGIC.len() {
                    r.consume(used);
                    return Ok(());
                }
            } else {
                matched = usize::from(MAGIC.first() == Some(&b));
            }
            if seen > MAX_PREAMBLE + MAGIC.len() {
                return Err(ReadError::Protocol(
                    "no handshake in the worker's first output".into(),
                ));
            }
        }
        r.consume(used);
    }
}

/// Read one child → parent frame. Unknown kinds and oversized lengths are protocol errors.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<(u8, Bytes), ReadError> {
    let mut h = [0u8; HEADER_LEN];
    r.read_exact(&mut h).await.map_err(io)?;
    let (kind, len) = parse_header(h);
    if !matches!(kind, METADATA | PAGE | DONE | ERROR | TIMINGS) {
        return Err(ReadError::Protocol(format!(
            "unknown frame kind {kind:#04x}"
        )));
    }
    if len > MAX_RESPONSE_FRAME {
        return Err(ReadError::Protocol(format!("frame of {len} bytes")));
    }
    let len = len as usize;
    let mut buf = BytesMut::with_capacity(len.min(EXACT_ALLOC));
    while buf.len() < len {
        if buf.len() == buf.capacity() {
            // Grow by doubling, never past the announced length.
            let want = buf.len().max(EXACT_ALLOC).min(len - buf.len());
            buf.reserve(want);
        }
        let room = len - buf.len();
        let n = r.read_buf(&mut (&mut buf).limit(room)).await.map_err(io)?;
        if n == 0 {
            return Err(ReadError::Eof);
        }
    }
    Ok((kind, buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = header(kind, payload.len() as u32).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn magic_first_byte_is_unique() {
        // read_handshake's restart rule relies on it.
        assert_eq!(MAGIC.iter().filter(|&&b| b == MAGIC[0]).count(), 1);
    }

    #[test]
    fn header_round_trip() {
        let h = header(PAGE, 0x0102_0304);
        assert_eq!(h, [b'P', 4, 3, 2, 1]);
        assert_eq!(parse_header(h), (PAGE, 0x0102_0304));
    }

    #[test]
    fn handshake_skips_preamble() {
        let mut input = b"running 1 test\ntest child_entry ... ".to_vec();
        input.extend_from_slice(b"\x00\x00\x7f"); // a false start
        input.extend_from_slice(MAGIC);
        input.extend_from_slice(&frame(DONE, b"[]"));
        let mut r = tokio::io::BufReader::with_capacity(7, &input[..]);
        block_on(async {
            read_handshake(&mut r).await.unwrap();
            let (kind, payload) = read_frame(&mut r).await.unwrap();
            assert_eq!(kind, DONE);
            assert_eq!(&payload[..], b"[]");
        });
    }

    #[test]
    fn handshake_gives_up_after_preamble_bound() {
        let mut input = vec![b'x'; MAX_PREAMBLE + 10];
        input.extend_from_slice(MAGIC);
        let mut r = tokio::io::BufReader::new(&input[..]);
        let e = block_on(read_handshake(&mut r)).unwrap_err();
        assert!(matches!(e, ReadError::Protocol(_)), "{e}");
        let mut empty = tokio::io::BufReader::new(&b"junk"[..]);
        assert!(matches!(
            block_on(read_handshake(&mut empty)),
            Err(ReadError::Eof)
        ));
    }

    #[test]
    fn frames_are_bounded_and_typed() {
        let big = header(PAGE, MAX_RESPONSE_FRAME + 1);
        assert!(matches!(
            block_on(read_frame(&mut &big[..])),
            Err(ReadError::Protocol(_))
        ));
        let unknown = frame(b'Z', b"");
        assert!(matches!(
            block_on(read_frame(&mut &unknown[..])),
            Err(ReadError::Protocol(_))
        ));
        // A lying length: announces 200 MiB, sends 3 bytes. No 200 MiB allocation, just Eof.
        let mut lying = header(PAGE, 200 << 20).to_vec();
        lying.extend_from_slice(b"abc");
        assert!(matches!(
            block_on(read_frame(&mut &lying[..])),
            Err(ReadError::Eof)
        ));
        let truncated = &header(PAGE, 1)[..3];
        assert!(matches!(
            block_on(read_frame(&mut &truncated[..])),
            Err(ReadError::Eof)
        ));
    }

    #[test]
    fn large_frame_is_read_whole() {
        let payload: Vec<u8> = (0..(3 * EXACT_ALLOC + 17)).map(|i| i as u8).collect();
        let input = frame(PAGE, &payload);
        let (kind, got) = block_on(read_frame(&mut &input[..])).unwrap();
        assert_eq!(kind, PAGE);
        assert_eq!(&got[..], &payload[..]);
    }

    #[test]
    fn split_u32_needs_four_bytes() {
        assert!(split_u32(&Bytes::from_static(b"abc")).is_none());
        let (n, rest) = split_u32(&Bytes::from_static(b"\x07\0\0\0xyz")).unwrap();
        assert_eq!((n, &rest[..]), (7, &b"xyz"[..]));
    }

    proptest! {
        #[test]
        fn parent_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            block_on(async {
                let mut r = tokio::io::BufReader::new(&bytes[..]);
                if read_handshake(&mut r).await.is_ok() {
                    for _ in 0..bytes.len() {
                        if read_frame(&mut r).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }

        #[test]
        fn frames_round_trip(kind in prop::sample::select(vec![METADATA, PAGE, DONE, ERROR]),
                             payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let input = frame(kind, &payload);
            let (k, got) = block_on(read_frame(&mut &input[..])).unwrap();
            prop_assert_eq!(k, kind);
            prop_assert_eq!(&got[..], &payload[..]);
        }
    }
}
