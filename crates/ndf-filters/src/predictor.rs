//! Predictors (/DecodeParms /Predictor) applied after Flate and LZW: TIFF 2 and PNG 10..=15.
//!
//! Both work in place: PNG output rows are one byte shorter than input rows, so each decoded row
//! can be written over the already-consumed part of the buffer.

use crate::{DecodeParms, FilterError};

/// Most components per sample (MuPDF's FZ_MAX_COLORS).
const MAX_COLORS: i64 = 32;
/// Longest row accepted, in bytes.
const MAX_ROW_BYTES: i64 = 1 << 24;

/// Row geometry of a predicted stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Components per sample.
    colors: usize,
    /// Bits per component: 1, 2, 4, 8 or 16.
    bpc: usize,
    /// Samples per row.
    columns: usize,
    /// Bytes per row (without the PNG tag byte).
    row_len: usize,
    /// Bytes per pixel, at least 1 (the PNG "left" distance).
    bpp: usize,
}

/// What to do after decompression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Predictor {
    /// Predictor 1 or an unknown value: data unchanged.
    None,
    /// TIFF predictor 2.
    Tiff(Layout),
    /// PNG predictors 10..=15 (the per-row tag byte decides).
    Png(Layout),
}

impl Predictor {
    /// Validates `parms` for the predictor they name.
    pub(crate) fn plan(parms: &DecodeParms) -> Result<Predictor, FilterError> {
        let png = match parms.predictor {
            2 => false,
            10..=15 => true,
            // 1 and unknown values: unchanged, like MuPDF.
            _ => return Ok(Predictor::None),
        };
        if !(1..=MAX_COLORS).contains(&parms.colors) {
            return Err(FilterError::InvalidParms("/Colors must be 1..=32"));
        }
        if !matches!(parms.bits_per_component, 1 | 2 | 4 | 8 | 16) {
            return Err(FilterError::InvalidParms(
                "/BitsPerComponent must be 1, 2, 4, 8 or 16",
            ));
        }
        if parms.columns < 1 {
            return Err(FilterError::InvalidParms("/Columns must be positive"));
        }
        let pixel_bits = parms.colors * parms.bits_per_component; // at most 512
        let row_len = parms
            .columns
            .checked_mul(pixel_bits)
            .and_then(|bits| bits.checked_add(7))
            .map(|bits| bits / 8)
            .filter(|&n| n <= MAX_ROW_BYTES)
            .ok_or(FilterError::InvalidParms(
                "/Columns * /Colors * /BitsPerComponent too large",
            ))?;
        // All values are now small positive numbers, so the conversions cannot fail.
        let to_usize = |v: i64| usize::try_from(v).unwrap_or(1);
        let layout = Layout {
            colors: to_usize(parms.colors),
            bpc: to_usize(parms.bits_per_component),
            columns: to_usize(parms.columns),
            row_len: to_usize(row_len),
            bpp: to_usize((pixel_bits + 7) / 8),
        };
        Ok(if png {
            Predictor::Png(layout)
        } else {
            Predictor::Tiff(layout)
        })
    }

    /// Largest decompressed size that can still predict to at most `max_out` bytes: PNG rows
    /// carry one extra tag byte each.
    pub(crate) fn raw_limit(&self, max_out: usize) -> usize {
        match self {
            Predictor::Png(l) => max_out.saturating_add(max_out / l.row_len + 1),
            Predictor::None | Predictor::Tiff(_) => max_out,
        }
    }

    /// Applies the predictor in place. Returns true when a row had an unknown PNG tag (decoded as
    /// None, as MuPDF does).
    pub(crate) fn apply(&self, data: &mut Vec<u8>) -> bool {
        match self {
            Predictor::None => false,
            Predictor::Tiff(l) => {
                tiff(data, l);
                false
            }
            Predictor::Png(l) => png(data, l.row_len, l.bpp),
        }
    }
}

/// TIFF predictor 2: each component is a delta from the same component of the pixel to its
/// left, within a row. A short last row is decoded as far as it goes.
fn tiff(data: &mut [u8], l: &Layout) {
    for row in data.chunks_mut(l.row_len) {
        match l.bpc {
            8 => {
                for i in l.colors..row.len() {
                    row[i] = row[i].wrapping_add(row[i - l.colors]);
                }
            }
            16 => {
                let samples = row.len() / 2;
                for s in l.colors..samples {
                    let p = 2 * (s - l.colors);
                    let c = 2 * s;
                    let left = u16::from_be_bytes([row[p], row[p + 1]]);
                    let cur = u16::from_be_bytes([row[c], row[c + 1]]);
                    let [hi, lo] = cur.wrapping_add(left).to_be_bytes();
                    row[c] = hi;
                    row[c + 1] = lo;
                }
            }
            bpc => {
                // 1, 2 or 4 bits: samples never straddle a byte.
                let mask = (1u8 << bpc) - 1;
                let samples = (l.colors * l.columns).min(row.len() * 8 / bpc);
                let get = |row: &[u8], s: usize| {
                    let bit = s * bpc;
                    (row[bit / 8] >> (8 - bpc - bit % 8)) & mask
                };
                for s in l.colors..samples {
                    let v = get(row, s).wrapping_add(get(row, s - l.colors)) & mask;
                    let bit = s * bpc;
                    let shift = 8 - bpc - bit % 8;
                    let byte = &mut row[bit / 8];
                    *byte = (*byte & !(mask << shift)) | (v << shift);
                }
            }
        }
    }
}

/// PNG predictors: every row starts with a tag byte (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth).
/// Decodes in place and truncates; a short last row is kept. Returns true on an unknown tag.
fn png(data: &mut Vec<u8>, row_len: usize, bpp: usize) -> bool {
    let n = data.len();
    let mut damaged = false;
    let mut src = 0; // start of the next input row (its tag byte)
    let mut dst = 0; // end of the decoded output so far; always <= src
    while src < n {
        let tag = data[src];
        let body = src + 1;
        let len = row_len.min(n - body);
        data.copy_within(body..body + len, dst);
        let (done, rest) = data.split_at_mut(dst);
        let cur = &mut rest[..len];
        // All rows before the last are full, so the previous row is the last row_len bytes.
        let prev = done.len().checked_sub(row_len).map(|p| &done[p..p + len]);
        match (tag, prev) {
            (0, _) | (2, None) => {}
            (1, _) | (4, None) => sub(cur, bpp),
            (2, Some(prev)) => up(cur, prev),
            (3, prev) => average(cur, prev, bpp),
            (4, Some(prev)) => paeth(cur, prev, bpp),
            _ => damaged = true,
        }
        dst += len;
        src = body.saturating_add(row_len);
    }
    data.truncate(dst);
    damaged
}

fn sub(cur: &mut [u8], bpp: usize) {
    for i in bpp..cur.len() {
        cur[i] = cur[i].wrapping_add(cur[i - bpp]);
    }
}

fn up(cur: &mut [u8], prev: &[u8]) {
    for (c, p) in cur.iter_mut().zip(prev) {
        *c = c.wrapping_add(*p);
    }
}

/// Average of left and up; on the first row up is 0.
fn average(cur: &mut [u8], prev: Option<&[u8]>, bpp: usize) {
    let first = bpp.min(cur.len());
    match prev {
        Some(prev) => {
            for (c, p) in cur[..first].iter_mut().zip(prev) {
                *c = c.wrapping_add(p / 2);
            }
            for i in first..cur.len().min(prev.len()) {
                let avg = (u16::from(cur[i - bpp]) + u16::from(prev[i])) / 2;
                cur[i] = cur[i].wrapping_add(avg as u8);
            }
        }
        None => {
            for i in first..cur.len() {
                cur[i] = cur[i].wrapping_add(cur[i - bpp] / 2);
            }
        }
    }
}

/// Paeth with a previous row (on the first row it reduces to Sub).
fn paeth(cur: &mut [u8], prev: &[u8], bpp: usize) {
    let first = bpp.min(cur.len());
    // Left and upper-left are 0 for the first pixel, so Paeth picks up.
    up(&mut cur[..first], prev);
    for i in first..cur.len().min(prev.len()) {
        let a = i16::from(cur[i - bpp]);
        let b = i16::from(prev[i]);
        let c = i16::from(prev[i - bpp]);
        let p = a + b - c;
        let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
        let pred = if pa <= pb && pa <= pc {
            a
        } else if pb <= pc {
            b
        } else {
            c
        };
        cur[i] = cur[i].wrapping_add(pred as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parms(predictor: i64, colors: i64, bpc: i64, columns: i64) -> DecodeParms {
        DecodeParms {
            predictor,
            colors,
            bits_per_component: bpc,
            columns,
            early_change: 1,
        }
    }

    fn run(p: &DecodeParms, data: &[u8]) -> (Vec<u8>, bool) {
        let mut v = data.to_vec();
        let damaged = Predictor::plan(p).unwrap().apply(&mut v);
        (v, damaged)
    }

    #[test]
    fn png_each_filter_type() {
        let p = parms(12, 1, 8, 4);
        // Row 0 None, row 1 Sub, row 2 Up, row 3 Average, row 4 Paeth, row 5 unknown tag 7.
        let input = [
            0, 10, 20, 30, 40, //
            1, 1, 1, 1, 1, //
            2, 1, 2, 3, 4, //
            3, 10, 10, 10, 10, //
            4, 1, 0, 0, 0, //
            7, 9, 9, 9, 9,
        ];
        let (out, damaged) = run(&p, &input);
        assert!(damaged);
        // Sub: running sum 1,2,3,4. Up: 2,4,6,8.
        // Average: 10+(0+2)/2=11, 10+(11+4)/2=17, 10+(17+6)/2=21, 10+(21+8)/2=24.
        // Paeth row 4: x0 = 1 + up(11) = 12; x1: a=12,b=17,c=11 -> p=18 -> b=17 -> 17;
        //   x2: a=17,b=21,c=17 -> p=21 -> b -> 21; x3: a=21,b=24,c=21 -> p=24 -> b -> 24.
        assert_eq!(&out[..12], &[10, 20, 30, 40, 1, 2, 3, 4, 2, 4, 6, 8]);
        assert_eq!(&out[12..16], &[11, 17, 21, 24]);
        assert_eq!(&out[16..20], &[12, 17, 21, 24]);
        assert_eq!(&out[20..], &[9, 9, 9, 9]);
    }

    #[test]
    fn png_first_row_variants() {
        let p = parms(15, 1, 8, 3);
        assert_eq!(run(&p, &[2, 5, 6, 7]).0, [5, 6, 7]); // Up on row 0 = None
        assert_eq!(run(&p, &[3, 4, 6, 8]).0, [4, 8, 12]); // Average: left/2
        assert_eq!(run(&p, &[4, 4, 6, 8]).0, [4, 10, 18]); // Paeth = Sub
    }

    #[test]
    fn png_multibyte_pixels_and_wrap() {
        // RGB, 2 columns: Sub uses the byte 3 positions back.
        let p = parms(11, 3, 8, 2);
        let (out, _) = run(&p, &[1, 200, 100, 50, 100, 200, 250]);
        assert_eq!(out, [200, 100, 50, 44, 44, 44]);
        // 16-bit gray: bpp 2.
        let p = parms(10, 1, 16, 2);
        assert_eq!(run(&p, &[1, 1, 2, 3, 4]).0, [1, 2, 4, 6]);
        // 1-bit: bpp rounds up to 1, 10 columns -> 2 bytes per row.
        let p = parms(10, 1, 1, 10);
        assert_eq!(run(&p, &[1, 1, 2, 2, 1, 2]).0, [1, 3, 2, 5]);
    }

    #[test]
    fn png_short_last_row_kept() {
        let p = parms(12, 1, 8, 4);
        let (out, damaged) = run(&p, &[0, 1, 2, 3, 4, 2, 1, 1]);
        assert!(!damaged);
        assert_eq!(out, [1, 2, 3, 4, 2, 3]);
        // A lone tag byte at the end adds nothing.
        assert_eq!(run(&p, &[0, 1, 2, 3, 4, 2]).0, [1, 2, 3, 4]);
        assert_eq!(run(&p, &[]).0, Vec::<u8>::new());
    }

    #[test]
    fn tiff_8bit() {
        let p = parms(2, 3, 8, 3);
        let (out, damaged) = run(&p, &[10, 20, 30, 1, 2, 3, 255, 0, 1, 5, 5, 5, 1, 1]);
        assert!(!damaged);
        // Row 1 is short (5 bytes): second pixel is partial.
        assert_eq!(out, [10, 20, 30, 11, 22, 33, 10, 22, 34, 5, 5, 5, 6, 6]);
    }

    #[test]
    fn tiff_16bit() {
        let p = parms(2, 1, 16, 3);
        let (out, _) = run(&p, &[0x01, 0x00, 0x00, 0xff, 0xff, 0x02]);
        // 0x0100, +0x00ff = 0x01ff, +0xff02 = 0x0101 (wraps).
        assert_eq!(out, [0x01, 0x00, 0x01, 0xff, 0x01, 0x01]);
    }

    #[test]
    fn tiff_sub_byte() {
        // 1 bpc, 10 columns, 1 colour: XOR running along the row; padding bits untouched.
        let p = parms(2, 1, 1, 10);
        let (out, _) = run(&p, &[0b1000_0000, 0b0000_0001]);
        assert_eq!(out, [0b1111_1111, 0b1100_0001]);
        // 2 bpc, 2 colours, 2 columns: one byte per row.
        let p = parms(2, 2, 2, 2);
        let (out, _) = run(&p, &[0b01_10_11_11]);
        // c0: 1, 1+3=0; c1: 2, 2+3=1.
        assert_eq!(out, [0b01_10_00_01]);
        // 4 bpc, 1 colour, 4 columns: 2 bytes per row, two rows.
        let p = parms(2, 1, 4, 4);
        let (out, _) = run(&p, &[0x12, 0x34, 0xf1, 0x11]);
        assert_eq!(out, [0x13, 0x6a, 0xf0, 0x12]);
    }

    #[test]
    fn unknown_and_none_unchanged() {
        for pred in [1, 0, -5, 3, 9, 16, i64::MAX] {
            let p = parms(pred, 0, 7, -1);
            assert_eq!(run(&p, &[1, 2, 3]).0, [1, 2, 3]);
        }
    }

    #[test]
    fn invalid_parms() {
        for p in [
            parms(12, 0, 8, 1),
            parms(12, 33, 8, 1),
            parms(12, 1, 3, 1),
            parms(2, 1, 32, 1),
            parms(12, 1, 8, 0),
            parms(12, 1, 8, -3),
            parms(12, 32, 16, i64::MAX),
            parms(2, 1, 8, (1 << 24) + 1),
        ] {
            assert!(matches!(
                Predictor::plan(&p),
                Err(FilterError::InvalidParms(_))
            ));
        }
        assert!(Predictor::plan(&parms(12, 1, 8, 1 << 24)).is_ok());
    }

    #[test]
    fn raw_limit_allows_tag_bytes() {
        let pred = Predictor::plan(&parms(12, 1, 8, 4)).unwrap();
        assert_eq!(pred.raw_limit(8), 8 + 3);
        assert_eq!(pred.raw_limit(usize::MAX), usize::MAX);
    }
}
