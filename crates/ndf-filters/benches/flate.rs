//! FlateDecode on the dev corpus's real streams: the crate's decoder (libdeflate whole-buffer,
//! streaming fallback) against the implementations it replaced or was measured against, in
//! the same run.
//!
//! ```text
//! cargo bench -p ndf-filters --bench flate
//! ```
//!
//! Streams: every `/FlateDecode` stream of the corpus that is not an image, not encrypted and
//! inflates completely — nearly the same bytes the engine inflates over the corpus (content
//! streams, object and xref streams, fonts, CMaps). Without the corpus nothing is measured.
//! Times are the benchmark thread's CPU time (see `corpus::CpuTime`), not wall-clock time.
#![allow(clippy::print_stderr, missing_docs)]

use std::cell::RefCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Decompress, FlushDecompress, Status};
use ndf_filters::{DecodeParms, Filter, decode};

mod corpus;

const LIMIT: usize = 1 << 28;

fn skip_ws(input: &[u8]) -> &[u8] {
    let ws = input
        .iter()
        .position(|&b| !matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .unwrap_or(input.len());
    &input[ws..]
}

/// Streams into a growing Vec through flate2 (zlib-rs), one `Decompress` per stream or a
/// reused one: the decoder before this change (`reuse == false`) and its cheapest variant.
fn flate2_streaming(input: &[u8], reuse: bool) -> Option<Vec<u8>> {
    thread_local! {
        static D: RefCell<Decompress> = RefCell::new(Decompress::new(true));
    }
    let data = skip_ws(input);
    let run = |d: &mut Decompress| -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let cap_max = LIMIT + 1;
        out.reserve_exact(data.len().saturating_mul(4).max(4096).min(cap_max));
        loop {
            if out.len() >= out.capacity() {
                if out.capacity() >= cap_max {
                    return None;
                }
                let target = out.capacity().saturating_mul(2).min(cap_max);
                out.reserve_exact(target - out.len());
            }
            let before = (d.total_in(), out.len());
            let rest = &data[d.total_in() as usize..];
            match d.decompress_vec(rest, &mut out, FlushDecompress::Finish) {
                Ok(Status::StreamEnd) => return Some(out),
                Ok(_) if before == (d.total_in(), out.len()) && out.len() < out.capacity() => {
                    return None;
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    };
    if reuse {
        D.with(|d| {
            let mut d = d.borrow_mut();
            d.reset(true);
            run(&mut d)
        })
    } else {
        run(&mut Decompress::new(true))
    }
}

/// zlib-rs called directly, whole buffer (`decompress_slice`) into a reused buffer that grows
/// by doubling, then copied out.
fn zlib_rs_whole(input: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static S: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let data = skip_ws(input);
    S.with(|s| {
        let scratch = &mut *s.borrow_mut();
        let mut size = (data.len() * 4).max(64 << 10).max(scratch.len());
        loop {
            if scratch.len() < size {
                scratch.resize(size, 0);
            }
            let config = zlib_rs::InflateConfig::default();
            let (out, rc) = zlib_rs::decompress_slice(&mut scratch[..size], data, config);
            match rc {
                zlib_rs::ReturnCode::Ok => return Some(out.to_vec()),
                zlib_rs::ReturnCode::BufError if size <= LIMIT => size *= 2,
                _ => return None,
            }
        }
    })
}

fn crate_decode(input: &[u8]) -> Option<Vec<u8>> {
    decode(Filter::Flate, input, &DecodeParms::default(), LIMIT)
        .ok()
        .map(|d| d.data)
}

fn bench_flate(c: &mut Criterion<corpus::CpuTime>) {
    let files = corpus::corpus_files();
    let mut streams = corpus::flate_streams(&files);
    streams.retain(|s| crate_decode(s).is_some_and(|d| Some(d) == flate2_streaming(s, false)));
    if streams.is_empty() {
        return;
    }
    let out_bytes: usize = streams
        .iter()
        .filter_map(|s| crate_decode(s))
        .map(|d| d.len())
        .sum();
    let in_bytes: usize = streams.iter().map(Vec::len).sum();
    eprintln!(
        "{} Flate streams from {} files: {in_bytes} bytes in, {out_bytes} bytes out",
        streams.len(),
        files.len()
    );
    // Streams libdeflate rejects take the streaming fallback (damaged: bad checksum, etc.).
    let mut d = libdeflater::Decompressor::new();
    let mut buf = vec![0u8; 64 << 20];
    let rejected = streams
        .iter()
        .filter(|s| d.zlib_decompress(skip_ws(s), &mut buf).is_err())
        .count();
    eprintln!("{rejected} of them rejected by libdeflate (streaming fallback)");
    let mut g = c.benchmark_group("flate_corpus");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(out_bytes as u64));
    type Variant = (&'static str, fn(&[u8]) -> Option<Vec<u8>>);
    let variants: [Variant; 4] = [
        ("flate2 streaming, new state (before)", |s| {
            flate2_streaming(s, false)
        }),
        ("flate2 streaming, reused state", |s| {
            flate2_streaming(s, true)
        }),
        ("zlib-rs decompress_slice", zlib_rs_whole),
        ("ndf_filters::decode (libdeflate)", crate_decode),
    ];
    for (name, f) in variants {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0;
                for s in &streams {
                    n += f(black_box(s)).map_or(0, |v| v.len());
                }
                n
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(corpus::CpuTime);
    targets = bench_flate
}
criterion_main!(benches);
