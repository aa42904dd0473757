//! PDF stream filters (Flate and Brotli with predictors, LZW, ASCII85, ASCIIHex, RunLength)
//! with output limits; image filters recognised.
//!
//! Every decoder takes hostile bytes and a hard output bound `max_out`: it never panics, works in
//! time linear in input plus output, never holds much more than `max_out` bytes, and reports
//! crossing the bound as [`FilterError::LimitExceeded`] rather than silently truncating. Damaged
//! input is decoded as far as possible (like MuPDF and pdf.js do) and flagged with
//! [`Decoded::damaged`].

mod ascii85;
mod asciihex;
mod brotli;
mod flate;
mod lzw;
mod predictor;
#[cfg(test)]
mod proptests;
mod runlength;

/// A filter named in a stream's /Filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `/FlateDecode` (`/Fl`): zlib/deflate.
    Flate,
    /// `/BrotliDecode`: Brotli (RFC 7932), the PDF Association's extension for PDF 2.0.
    Brotli,
    /// `/LZWDecode` (`/LZW`).
    Lzw,
    /// `/ASCII85Decode` (`/A85`).
    Ascii85,
    /// `/ASCIIHexDecode` (`/AHx`).
    AsciiHex,
    /// `/RunLengthDecode` (`/RL`).
    RunLength,
    /// `/DCTDecode` (`/DCT`): JPEG, not decoded here.
    Dct,
    /// `/JPXDecode`: JPEG 2000, not decoded here.
    Jpx,
    /// `/JBIG2Decode`: not decoded here.
    Jbig2,
    /// `/CCITTFaxDecode` (`/CCF`): not decoded here.
    Ccitt,
    /// `/Crypt`: handled by the security layer, not here.
    Crypt,
}

impl Filter {
    /// Full names and the inline-image abbreviations (Fl, LZW, A85, AHx, RL, DCT, CCF), given
    /// without the leading `/`; None for unknown.
    pub fn from_name(name: &[u8]) -> Option<Filter> {
        Some(match name {
            b"FlateDecode" | b"Fl" => Filter::Flate,
            b"BrotliDecode" => Filter::Brotli,
            b"LZWDecode" | b"LZW" => Filter::Lzw,
            b"ASCII85Decode" | b"A85" => Filter::Ascii85,
            b"ASCIIHexDecode" | b"AHx" => Filter::AsciiHex,
            b"RunLengthDecode" | b"RL" => Filter::RunLength,
            b"DCTDecode" | b"DCT" => Filter::Dct,
            b"JPXDecode" => Filter::Jpx,
            b"JBIG2Decode" => Filter::Jbig2,
            b"CCITTFaxDecode" | b"CCF" => Filter::Ccitt,
            b"Crypt" => Filter::Crypt,
            _ => return None,
        })
    }

    /// Dct, Jpx, Jbig2, Ccitt: recognised, never decoded by this crate.
    pub fn is_image(self) -> bool {
        matches!(
            self,
            Filter::Dct | Filter::Jpx | Filter::Jbig2 | Filter::Ccitt
        )
    }

    /// The full PDF name (without `/`).
    pub fn name(self) -> &'static str {
        match self {
            Filter::Flate => "FlateDecode",
            Filter::Brotli => "BrotliDecode",
            Filter::Lzw => "LZWDecode",
            Filter::Ascii85 => "ASCII85Decode",
            Filter::AsciiHex => "ASCIIHexDecode",
            Filter::RunLength => "RunLengthDecode",
            Filter::Dct => "DCTDecode",
            Filter::Jpx => "JPXDecode",
            Filter::Jbig2 => "JBIG2Decode",
            Filter::Ccitt => "CCITTFaxDecode",
            Filter::Crypt => "Crypt",
        }
    }
}

/// /DecodeParms values (defaults per the PDF spec: Predictor 1, Colors 1, BitsPerComponent 8,
/// Columns 1, EarlyChange 1). Values are taken raw from the file; validation happens in
/// [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeParms {
    /// `/Predictor`: 1 none, 2 TIFF, 10..=15 PNG; other values leave the data unchanged.
    pub predictor: i64,
    /// `/Colors`: components per sample, 1..=32.
    pub colors: i64,
    /// `/BitsPerComponent`: 1, 2, 4, 8 or 16.
    pub bits_per_component: i64,
    /// `/Columns`: samples per row.
    pub columns: i64,
    /// `/EarlyChange` (LZW only): 0 or 1; any non-zero value counts as 1.
    pub early_change: i64,
}

impl Default for DecodeParms {
    fn default() -> Self {
        Self {
            predictor: 1,
            colors: 1,
            bits_per_component: 8,
            columns: 1,
            early_change: 1,
        }
    }
}

/// Output of one filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The decoded bytes (at most `max_out`).
    pub data: Vec<u8>,
    /// true when the input was damaged (bad checksum, truncated, invalid code) and `data` holds
    /// what could be recovered. A merely missing end-of-data marker (`~>`, `>`, LZW EOD,
    /// RunLength 128) is not damage.
    pub damaged: bool,
}

/// Why [`decode`] produced nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Output would exceed `max_out` bytes.
    #[error("decoded stream exceeds the limit of {limit} bytes")]
    LimitExceeded {
        /// The `max_out` that was hit.
        limit: usize,
    },
    /// Image filters and Crypt are not decoded here.
    #[error("filter {} is not decoded by ndf-filters", .0.name())]
    Unsupported(Filter),
    /// Invalid parameters (e.g. predictor with absurd Columns*Colors*bpc) — nothing decoded.
    #[error("invalid /DecodeParms: {0}")]
    InvalidParms(&'static str),
}

/// Decode `input` with one filter, then apply the predictor (Flate, Brotli and LZW only). Never
/// returns more than `max_out` bytes; hitting the limit is an error, not a truncation.
pub fn decode(
    filter: Filter,
    input: &[u8],
    parms: &DecodeParms,
    max_out: usize,
) -> Result<Decoded, FilterError> {
    let (data, damaged) = match filter {
        Filter::Flate | Filter::Brotli | Filter::Lzw => {
            // Validate first: bad parameters must not cost a decompression.
            let pred = predictor::Predictor::plan(parms)?;
            let raw_limit = pred.raw_limit(max_out);
            let raw = match filter {
                Filter::Flate => flate::inflate(input, raw_limit),
                Filter::Brotli => brotli::decode(input, raw_limit),
                _ => lzw::decode(input, parms.early_change != 0, raw_limit),
            };
            // The raw limit is an internal detail; report the caller's.
            let (mut data, mut damaged) = raw.map_err(|e| match e {
                FilterError::LimitExceeded { .. } => FilterError::LimitExceeded { limit: max_out },
                other => other,
            })?;
            damaged |= pred.apply(&mut data);
            if data.len() > max_out {
                return Err(FilterError::LimitExceeded { limit: max_out });
            }
            (data, damaged)
        }
        Filter::Ascii85 => ascii85::decode(input, max_out)?,
        Filter::AsciiHex => asciihex::decode(input, max_out)?,
        Filter::RunLength => runlength::decode(input, max_out)?,
        Filter::Dct | Filter::Jpx | Filter::Jbig2 | Filter::Ccitt | Filter::Crypt => {
            return Err(FilterError::Unsupported(filter));
        }
    };
    Ok(Decoded { data, damaged })
}

/// Makes room for `additional` more bytes without letting the capacity pass `limit` (Vec's own
/// doubling could reserve up to twice the limit). Errors when `len + additional > limit`.
fn reserve_bounded(out: &mut Vec<u8>, additional: usize, limit: usize) -> Result<(), FilterError> {
    let needed = out
        .len()
        .checked_add(additional)
        .filter(|&n| n <= limit)
        .ok_or(FilterError::LimitExceeded { limit })?;
    if needed > out.capacity() {
        let target = out
            .capacity()
            .saturating_mul(2)
            .max(needed)
            .max(256)
            .min(limit);
        out.reserve_exact(target.saturating_sub(out.len()));
    }
    Ok(())
}

/// PDF white-space characters (ISO 32000-1, 7.2.2).
fn is_pdf_whitespace(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_abbreviations() {
        let cases: &[(&[u8], Filter)] = &[
            (b"FlateDecode", Filter::Flate),
            (b"BrotliDecode", Filter::Brotli),
            (b"Fl", Filter::Flate),
            (b"LZWDecode", Filter::Lzw),
            (b"LZW", Filter::Lzw),
            (b"ASCII85Decode", Filter::Ascii85),
            (b"A85", Filter::Ascii85),
            (b"ASCIIHexDecode", Filter::AsciiHex),
            (b"AHx", Filter::AsciiHex),
            (b"RunLengthDecode", Filter::RunLength),
            (b"RL", Filter::RunLength),
            (b"DCTDecode", Filter::Dct),
            (b"DCT", Filter::Dct),
            (b"JPXDecode", Filter::Jpx),
            (b"JBIG2Decode", Filter::Jbig2),
            (b"CCITTFaxDecode", Filter::Ccitt),
            (b"CCF", Filter::Ccitt),
            (b"Crypt", Filter::Crypt),
        ];
        for &(name, f) in cases {
            assert_eq!(Filter::from_name(name), Some(f));
        }
        assert_eq!(Filter::from_name(b"flatedecode"), None);
        assert_eq!(Filter::from_name(b"/FlateDecode"), None);
        assert_eq!(Filter::from_name(b""), None);
        for f in [Filter::Dct, Filter::Jpx, Filter::Jbig2, Filter::Ccitt] {
            assert!(f.is_image());
            assert_eq!(Filter::from_name(f.name().as_bytes()), Some(f));
        }
        assert!(!Filter::Crypt.is_image());
        assert!(!Filter::Flate.is_image());
    }

    #[test]
    fn defaults() {
        let p = DecodeParms::default();
        assert_eq!(
            (
                p.predictor,
                p.colors,
                p.bits_per_component,
                p.columns,
                p.early_change
            ),
            (1, 1, 8, 1, 1)
        );
    }

    #[test]
    fn unsupported_filters() {
        for f in [
            Filter::Dct,
            Filter::Jpx,
            Filter::Jbig2,
            Filter::Ccitt,
            Filter::Crypt,
        ] {
            assert_eq!(
                decode(f, b"abc", &DecodeParms::default(), 100),
                Err(FilterError::Unsupported(f))
            );
        }
    }

    #[test]
    fn invalid_parms_before_decoding() {
        let p = DecodeParms {
            predictor: 12,
            columns: 1 << 40,
            ..DecodeParms::default()
        };
        assert!(matches!(
            decode(Filter::Flate, b"", &p, 100),
            Err(FilterError::InvalidParms(_))
        ));
        // The predictor is ignored by the ASCII filters.
        assert_eq!(
            decode(Filter::AsciiHex, b"41>", &p, 100).unwrap().data,
            b"A"
        );
    }

    #[test]
    fn reserve_bounded_never_passes_limit() {
        let mut v = Vec::new();
        reserve_bounded(&mut v, 10, 300).unwrap();
        assert!(v.capacity() >= 10 && v.capacity() <= 300);
        v.resize(300, 0);
        assert_eq!(
            reserve_bounded(&mut v, 1, 300),
            Err(FilterError::LimitExceeded { limit: 300 })
        );
        assert_eq!(
            reserve_bounded(&mut v, usize::MAX, usize::MAX),
            Err(FilterError::LimitExceeded { limit: usize::MAX })
        );
    }
}
