//! What isolation costs per document: a one-page PDF extracted to text in process
//! (`ndf_extract`) and through the pool of worker processes (request framing, pipe copies both
//! ways, the worker's round trip, the events back). The difference of the two is the pool's
//! overhead that ARCHITECTURE.md quotes.
//!
//! The pool's worker program is this bench binary itself: started with `NDF_POOL_CHILD=1` it
//! serves as a worker (`ndf_pool::child::run`) instead of benchmarking. Two workers, never
//! recycled (the service's default recycles one every 1,000 documents: a negligible share).
//!
//! ```text
//! cargo bench -p ndf-pool --bench overhead                # full run
//! cargo bench -p ndf-pool --bench overhead -- --quick     # a few seconds per benchmark
//! ```

use std::ffi::OsString;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use ndf_extract::Options;
use ndf_pool::{Event, ExtractRequest, Format, Pool, PoolConfig, RequestOptions};

/// Set in the workers' environment: run as a worker, not as the benchmark.
const CHILD_ENV: &str = "NDF_POOL_CHILD";

fn pool_config() -> PoolConfig {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let mut config = PoolConfig::new(exe, Vec::<OsString>::new());
    config.env = vec![(CHILD_ENV.into(), "1".into())];
    config.workers = 2;
    config.recycle_after = 0;
    config
}

/// In process: extract and render the one page as text.
fn in_process(pdf: &[u8], options: &Options) -> String {
    let doc = ndf_extract::extract(pdf, options).expect("the document extracts");
    let mut text = String::new();
    ndf_extract::render_text(&doc.pages[0], &mut text);
    text
}

/// Through the pool: submit, then read every event up to `Done`; the text of the pages.
async fn through_pool(pool: &Pool, pdf: Bytes) -> String {
    let request = ExtractRequest {
        format: Format::Text,
        options: RequestOptions::default(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut ex = pool
        .submit(pdf, request, deadline)
        .await
        .expect("a worker takes the document");
    let mut text = String::new();
    while let Some(event) = ex.next().await {
        match event.expect("the document extracts") {
            Event::Page { body, .. } => {
                text.push_str(std::str::from_utf8(&body).expect("UTF-8 text"));
            }
            Event::Metadata { .. } => {}
            Event::Done { .. } => break,
        }
    }
    text
}

fn one_page_document(c: &mut Criterion) {
    let pdf = ndf_testkit::text_doc(&["A small one-page document for the overhead measurement."]);
    let options = Options::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let pool = runtime.block_on(async { Pool::new(pool_config()).expect("the pool starts") });
    let bytes = Bytes::from(pdf.clone());
    // Both sides must produce the same text, or the comparison means nothing.
    let expected = in_process(&pdf, &options);
    assert_eq!(
        runtime.block_on(through_pool(&pool, bytes.clone())),
        expected,
        "the pool and in-process extraction disagree"
    );

    let mut group = c.benchmark_group("one_page_document");
    group.bench_function("in_process", |b| {
        b.iter(|| in_process(black_box(&pdf), &options));
    });
    // One `block_on` per batch, as a request handler awaits the pool inside the runtime.
    group.bench_function("through_pool", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(through_pool(&pool, black_box(bytes.clone())).await);
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    runtime.block_on(pool.shutdown(Duration::from_secs(5)));
}

criterion_group!(benches, one_page_document);

// `criterion_main!` with the worker entry in front.
fn main() -> ExitCode {
    if std::env::var_os(CHILD_ENV).is_some_and(|v| v == "1") {
        return ndf_pool::child::run();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    ExitCode::SUCCESS
}
