//! The SIMD kernels against the scalar path on the dev corpus's real data, in the same run:
//! today the hex kernel inside the ASCIIHexDecode filter, over the corpus's ASCIIHexDecode
//! streams.
//!
//! ```text
//! cargo bench -p ndf-simd --bench kernels
//! ```
//!
//! Each group measures the same work twice, with `ndf_simd::set_force_scalar(true)` and at the
//! detected level. Times are the benchmark thread's CPU time. Without the corpus
//! (`../shared/corpus/dev` beside the repository, or `NDF_CORPUS_DIR`) nothing is measured.
#![allow(clippy::print_stderr, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndf_filters::{DecodeParms, Filter, decode};

#[path = "../../ndf-filters/benches/corpus/mod.rs"]
mod corpus;

/// Raw bodies of the corpus's streams whose dictionary names `filter`.
fn streams_with(files: &[Vec<u8>], filter: &[u8]) -> Vec<Vec<u8>> {
    files
        .iter()
        .flat_map(|f| corpus::raw_streams(f))
        .filter(|s| memchr::memmem::find(s.dict, filter).is_some())
        .map(|s| s.body.to_vec())
        .collect()
}

/// One group: `work` over `inputs` with the scalar path forced, then at the detected level.
fn pair(
    c: &mut Criterion<corpus::CpuTime>,
    name: &str,
    inputs: &[Vec<u8>],
    work: fn(&[u8]) -> usize,
) {
    if inputs.is_empty() {
        eprintln!("{name}: no input in the corpus");
        return;
    }
    let bytes: u64 = inputs.iter().map(|x| x.len() as u64).sum();
    eprintln!("{name}: {} inputs, {bytes} bytes", inputs.len());
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(bytes));
    for scalar in [true, false] {
        ndf_simd::set_force_scalar(scalar);
        let label = ndf_simd::level().name();
        g.bench_function(label, |b| {
            ndf_simd::set_force_scalar(scalar);
            b.iter(|| inputs.iter().map(|x| work(black_box(x))).sum::<usize>());
        });
    }
    ndf_simd::set_force_scalar(false);
    g.finish();
}

fn bench_kernels(c: &mut Criterion<corpus::CpuTime>) {
    let files = corpus::corpus_files();
    let asciihex = streams_with(&files, b"/ASCIIHexDecode");
    pair(c, "asciihex_streams", &asciihex, |s| {
        decode(Filter::AsciiHex, s, &DecodeParms::default(), 1 << 28).map_or(0, |d| d.data.len())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(corpus::CpuTime);
    targets = bench_kernels
}
criterion_main!(benches);
