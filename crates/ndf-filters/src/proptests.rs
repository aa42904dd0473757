//! Property tests across all filters: round trips and "never panic, never exceed max_out".

use proptest::prelude::*;

use crate::{DecodeParms, Filter, FilterError, decode};

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// PNG-encodes `data` as rows of `row_len` bytes, each with the given tag (0..=2 only).
fn png_encode(data: &[u8], row_len: usize, bpp: usize, tags: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (r, row) in data.chunks(row_len).enumerate() {
        let tag = tags[r % tags.len()];
        out.push(tag);
        for i in 0..row.len() {
            let pred = match tag {
                1 if i >= bpp => row[i - bpp],
                2 if r > 0 => data[(r - 1) * row_len + i],
                _ => 0,
            };
            out.push(row[i].wrapping_sub(pred));
        }
    }
    out
}

/// TIFF-encodes 8-bit data.
fn tiff8_encode(data: &[u8], row_len: usize, colors: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    for row in out.chunks_mut(row_len) {
        for i in (colors..row.len()).rev() {
            row[i] = row[i].wrapping_sub(row[i - colors]);
        }
    }
    out
}

fn any_filter() -> impl Strategy<Value = Filter> {
    prop_oneof![
        Just(Filter::Flate),
        Just(Filter::Brotli),
        Just(Filter::Lzw),
        Just(Filter::Ascii85),
        Just(Filter::AsciiHex),
        Just(Filter::RunLength),
    ]
}

fn any_parms() -> impl Strategy<Value = DecodeParms> {
    let small_or_any = |lo: i64, hi: i64| prop_oneof![4 => lo..=hi, 1 => any::<i64>()];
    (
        prop_oneof![Just(1i64), Just(2), 10i64..=15, any::<i64>(), -2i64..20],
        small_or_any(-1, 34),
        prop_oneof![
            Just(1i64),
            Just(2),
            Just(4),
            Just(8),
            Just(16),
            any::<i64>()
        ],
        small_or_any(-1, 70),
        small_or_any(-1, 2),
    )
        .prop_map(
            |(predictor, colors, bits_per_component, columns, early_change)| DecodeParms {
                predictor,
                colors,
                bits_per_component,
                columns,
                early_change,
            },
        )
}

/// Inputs that look a bit like each filter's format, so decoders get past the first byte.
fn plausible_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|d| zlib(&d)),
        (prop::collection::vec(any::<u8>(), 0..300), any::<usize>(), any::<u8>()).prop_map(
            |(d, at, b)| {
                let mut z = zlib(&d);
                let n = z.len();
                z[at % n] ^= b;
                z
            }
        ),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|d| crate::lzw::tests::encode(&d, true)),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|d| crate::brotli::tests::compress(&d, 5, 16)),
        (prop::collection::vec(any::<u8>(), 0..300), any::<usize>(), any::<u8>()).prop_map(
            |(d, at, b)| {
                let mut z = crate::brotli::tests::compress(&d, 5, 16);
                let n = z.len();
                z[at % n] ^= b;
                z
            }
        ),
        prop::collection::vec(prop::sample::select(b"!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvz~ \n".to_vec()), 0..400),
        prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF> \nxz".to_vec()), 0..400),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_never_exceeds(
        filter in any_filter(),
        input in plausible_input(),
        parms in any_parms(),
        max_out in prop_oneof![0usize..64, 0usize..5000],
    ) {
        match decode(filter, &input, &parms, max_out) {
            Ok(d) => prop_assert!(d.data.len() <= max_out),
            Err(FilterError::LimitExceeded { limit }) => prop_assert_eq!(limit, max_out),
            Err(FilterError::InvalidParms(_)) => {
                prop_assert!(matches!(filter, Filter::Flate | Filter::Brotli | Filter::Lzw));
            }
            Err(FilterError::Unsupported(_)) => prop_assert!(false, "unsupported"),
        }
    }

    #[test]
    fn limit_is_exact(filter in any_filter(), data in prop::collection::vec(any::<u8>(), 1..400)) {
        let enc = match filter {
            Filter::Flate => zlib(&data),
            Filter::Brotli => crate::brotli::tests::compress(&data, 9, 22),
            Filter::Lzw => crate::lzw::tests::encode(&data, true),
            Filter::Ascii85 => crate::ascii85::tests::encode(&data),
            Filter::AsciiHex => crate::asciihex::tests::encode(&data),
            _ => crate::runlength::tests::encode(&data),
        };
        let p = DecodeParms::default();
        prop_assert_eq!(&decode(filter, &enc, &p, data.len()).unwrap().data, &data);
        prop_assert_eq!(
            decode(filter, &enc, &p, data.len() - 1),
            Err(FilterError::LimitExceeded { limit: data.len() - 1 })
        );
    }

    #[test]
    fn round_trip_flate(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let d = decode(Filter::Flate, &zlib(&data), &DecodeParms::default(), usize::MAX).unwrap();
        prop_assert_eq!(d, crate::Decoded { data, damaged: false });
    }

    #[test]
    fn round_trip_lzw(data in prop::collection::vec(0u8..8, 0..20_000), early in any::<bool>()) {
        let p = DecodeParms { early_change: i64::from(early), ..DecodeParms::default() };
        let enc = crate::lzw::tests::encode(&data, early);
        let d = decode(Filter::Lzw, &enc, &p, data.len()).unwrap();
        prop_assert_eq!(d, crate::Decoded { data, damaged: false });
    }

    #[test]
    fn round_trip_ascii(data in prop::collection::vec(any::<u8>(), 0..500)) {
        let p = DecodeParms::default();
        for (f, enc) in [
            (Filter::Ascii85, crate::ascii85::tests::encode(&data)),
            (Filter::AsciiHex, crate::asciihex::tests::encode(&data)),
        ] {
            let d = decode(f, &enc, &p, data.len()).unwrap();
            prop_assert_eq!(d, crate::Decoded { data: data.clone(), damaged: false });
        }
    }

    #[test]
    fn round_trip_runlength(data in prop::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..1000)) {
        let enc = crate::runlength::tests::encode(&data);
        let d = decode(Filter::RunLength, &enc, &DecodeParms::default(), data.len()).unwrap();
        prop_assert_eq!(d, crate::Decoded { data, damaged: false });
    }

    #[test]
    fn round_trip_png_predictor(
        data in prop::collection::vec(any::<u8>(), 0..1000),
        colors in 1i64..=4,
        bpc in prop::sample::select(vec![1i64, 2, 4, 8, 16]),
        columns in 1i64..=20,
        tags in prop::collection::vec(0u8..=2, 1..5),
        codec in 0u8..3,
    ) {
        let row_len = usize::try_from((colors * bpc * columns + 7) / 8).unwrap();
        let bpp = usize::try_from((colors * bpc + 7) / 8).unwrap();
        let p = DecodeParms { predictor: 12, colors, bits_per_component: bpc, columns, early_change: 1 };
        let pre = png_encode(&data, row_len, bpp, &tags);
        let (f, enc) = match codec {
            0 => (Filter::Lzw, crate::lzw::tests::encode(&pre, true)),
            1 => (Filter::Brotli, crate::brotli::tests::compress(&pre, 5, 16)),
            _ => (Filter::Flate, zlib(&pre)),
        };
        let d = decode(f, &enc, &p, data.len()).unwrap();
        prop_assert_eq!(d, crate::Decoded { data, damaged: false });
    }

    #[test]
    fn round_trip_tiff8(
        data in prop::collection::vec(any::<u8>(), 0..1000),
        colors in 1i64..=4,
        columns in 1i64..=20,
    ) {
        let row_len = usize::try_from(colors * columns).unwrap();
        let p = DecodeParms { predictor: 2, colors, bits_per_component: 8, columns, early_change: 1 };
        let enc = zlib(&tiff8_encode(&data, row_len, usize::try_from(colors).unwrap()));
        let d = decode(Filter::Flate, &enc, &p, data.len()).unwrap();
        prop_assert_eq!(d, crate::Decoded { data, damaged: false });
    }
}

#[test]
fn flate_png_exact_limit_counts_predicted_bytes() {
    // 10 rows of 4 bytes: 50 bytes inflated, 40 after the predictor; max_out 40 must pass.
    let data: Vec<u8> = (0..40).collect();
    let enc = zlib(&png_encode(&data, 4, 1, &[2]));
    let p = DecodeParms {
        predictor: 15,
        columns: 4,
        ..DecodeParms::default()
    };
    assert_eq!(decode(Filter::Flate, &enc, &p, 40).unwrap().data, data);
    assert_eq!(
        decode(Filter::Flate, &enc, &p, 39),
        Err(FilterError::LimitExceeded { limit: 39 })
    );
}

#[test]
fn public_zero_bomb_with_predictor() {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..50 {
        e.write_all(&chunk).unwrap();
    }
    let z = e.finish().unwrap();
    for predictor in [1, 2, 12] {
        let p = DecodeParms {
            predictor,
            columns: 100,
            ..DecodeParms::default()
        };
        assert_eq!(
            decode(Filter::Flate, &z, &p, 1 << 20),
            Err(FilterError::LimitExceeded { limit: 1 << 20 })
        );
    }
}

/// Inputs for the ASCIIHex filter: mostly valid characters, with white space, junk and end
/// markers sprinkled anywhere (all lengths up to 300, so every tail length is covered).
fn ascii_filter_input(alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            30 => prop::sample::select(alphabet),
            3 => prop::sample::select(b" \n\r\t\x0c\0".to_vec()),
            1 => prop::sample::select(b"z~>gG<".to_vec()),
            1 => any::<u8>(),
        ],
        0..=300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The SIMD-assisted ASCIIHex decoder equals the plain loop: data, damage and limits.
    #[test]
    fn asciihex_simd_matches_scalar(
        input in prop_oneof![
            ascii_filter_input(b"0123456789abcdefABCDEF"),
            prop::collection::vec(any::<u8>(), 0..=200),
        ],
        limit in prop_oneof![Just(usize::MAX), 0usize..160],
    ) {
        prop_assert_eq!(
            crate::asciihex::decode_with(&input, limit, true),
            crate::asciihex::decode_with(&input, limit, false)
        );
    }
}

/// Long runs with a single disturbance at every position: the kernel's block boundaries.
#[test]
fn asciihex_simd_matches_scalar_at_every_position() {
    let hex: Vec<u8> = b"0123456789abcdefABCDEF"
        .iter()
        .copied()
        .cycle()
        .take(200)
        .collect();
    for len in 0..=200 {
        for pos in 0..=len {
            for bad in [b' ', b'\n', b'>', b'g', b'z', 0xff] {
                let mut h = hex[..len].to_vec();
                if pos < len {
                    h[pos] = bad;
                } else {
                    h.push(bad);
                }
                for limit in [usize::MAX, len / 3] {
                    assert_eq!(
                        crate::asciihex::decode_with(&h, limit, true),
                        crate::asciihex::decode_with(&h, limit, false),
                        "len {len} pos {pos} bad {bad} limit {limit}"
                    );
                }
            }
        }
    }
}
