//! Helpers shared by the fuzz targets: the limits they run under, filter parameters taken from
//! the input, and the content-stream walk several targets use.
//!
//! Every target asserts the engine's own contracts (bounded output, progress, no caught
//! panics) so a broken promise is a crash, not only a panic.

use ndf_filters::{DecodeParms, Filter};
use ndf_model::Limits;
use ndf_pdf::content::{ContentParser, MAX_OPERANDS, Operand, name_bytes, string_bytes};

/// Limits small enough that one input runs in milliseconds, with a deadline well under the
/// `-timeout` run.sh passes to libFuzzer (so only a real hang is reported as a timeout).
pub fn limits() -> Limits {
    Limits {
        max_objects: 200_000,
        max_stream_bytes: 8 << 20,
        max_document_bytes: 32 << 20,
        max_operators_per_page: 200_000,
        max_chars_per_page: 100_000,
        max_pages: 200,
        deadline_ms: 2_000,
        ..Limits::default()
    }
}

/// Most bytes one filter target lets a decoder produce.
pub const FILTER_MAX_OUT: usize = 4 << 20;

/// Length of the parameter header filter targets read before the data.
pub const PARMS_HEADER: usize = 6;

/// Filter parameters from the first [`PARMS_HEADER`] bytes, raw so invalid values are tried
/// too: `[predictor, colors, bits, columns lo, columns hi, flags]`; flags bit 0 is
/// `/EarlyChange`, bit 7 negates `/Columns`, bit 6 makes `/Colors` huge.
pub fn parms_and_data(input: &[u8]) -> (DecodeParms, &[u8]) {
    let Some((h, data)) = input.split_first_chunk::<PARMS_HEADER>() else {
        return (DecodeParms::default(), input);
    };
    let mut columns = i64::from(u16::from_le_bytes([h[3], h[4]]));
    if h[5] & 0x80 != 0 {
        columns = -columns;
    }
    let colors = if h[5] & 0x40 != 0 {
        i64::MAX
    } else {
        i64::from(h[1])
    };
    let parms = DecodeParms {
        predictor: i64::from(h[0]),
        colors,
        bits_per_component: i64::from(h[2]),
        columns,
        early_change: i64::from(h[5] & 1),
    };
    (parms, data)
}

/// Decode with `filter` and check the output bound.
pub fn fuzz_filter(filter: Filter, input: &[u8]) {
    let (parms, data) = parms_and_data(input);
    match ndf_filters::decode(filter, data, &parms, FILTER_MAX_OUT) {
        Ok(d) => assert!(
            d.data.len() <= FILTER_MAX_OUT,
            "decoder returned more than max_out"
        ),
        Err(ndf_filters::FilterError::Unsupported(f)) => panic!("{f:?} reported unsupported"),
        Err(_) => {}
    }
    // A tiny bound must hold as well (exercises every limit check).
    if let Ok(d) = ndf_filters::decode(filter, data, &parms, 17) {
        assert!(d.data.len() <= 17, "decoder returned more than max_out");
    }
}

/// Tokenize `content` completely, touching every operand the way the interpreter does, and
/// check the parser's contracts. Returns the number of operations.
pub fn walk_content(content: &[u8], max_ops: usize) -> usize {
    let mut parser = ContentParser::new(content);
    let mut ops = 0usize;
    let mut last = 0usize;
    while let Some(op) = parser.next_op() {
        // BI carries exactly its image dictionary.
        let cap = if op.op == b"BI" { 1 } else { MAX_OPERANDS };
        assert!(op.operands.len() <= cap, "too many operands kept");
        assert!(!op.op.is_empty(), "empty operator");
        for &o in op.operands {
            touch(&op, o, 0);
        }
        let _ = op.numbers::<6>();
        let _ = op.arg_from_end(0);
        let _ = op.arg_from_end(usize::MAX - 1);
        ops += 1;
        if ops >= max_ops {
            break;
        }
        let pos = parser.pos();
        assert!(
            pos > last || pos == content.len(),
            "the content parser made no progress"
        );
        assert!(pos <= content.len(), "the content parser ran past the end");
        last = pos;
    }
    ops
}

fn touch(op: &ndf_pdf::content::Operation<'_, '_>, o: Operand<'_>, depth: u32) {
    match o {
        Operand::Name(n) => {
            let _ = name_bytes(n);
        }
        Operand::LitString(_) | Operand::HexString(_) => {
            let _ = string_bytes(o);
        }
        Operand::Array { .. } if depth < 64 => {
            for &item in op.array(o) {
                touch(op, item, depth + 1);
            }
        }
        Operand::Dict { .. } => {
            let _ = op.dict_get(o, b"MCID");
            let _ = op.dict_get(o, b"ActualText");
        }
        _ => {
            let _ = o.as_f64();
            let _ = o.as_i64();
        }
    }
}
