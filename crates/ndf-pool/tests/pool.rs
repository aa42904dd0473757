//! The pool end to end, with this test binary as the worker program (`child_entry` below).
#![allow(clippy::print_stdout)]

use std::ffi::OsString;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ndf_extract::{Code, Options};
use ndf_pool::{
    Event, ExtractRequest, Extraction, Format, Pool, PoolConfig, PoolError, RequestOptions,
};
use tokio::time::Instant;

/// The worker program: this binary re-run with `child_entry` as its only test (ignored in a
/// normal run, where it would pass without doing anything; every other test here fails when
/// the workers it starts fail).
#[test]
#[ignore = "the pool's worker program: run by the other tests as a child process"]
fn child_entry() {
    if std::env::var_os("NDF_POOL_CHILD").is_some_and(|v| v == "1") {
        let code = ndf_pool::child::run();
        #[allow(clippy::exit)]
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
}

const MEMORY_LIMIT: u64 = 1 << 30;

fn config(workers: usize) -> PoolConfig {
    let exe = std::env::current_exe().unwrap();
    PoolConfig {
        program: exe,
        args: [
            "child_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]
        .into_iter()
        .map(OsString::from)
        .collect(),
        env: vec![
            ("NDF_POOL_CHILD".into(), "1".into()),
            ("NDF_POOL_TEST_HOOKS".into(), "1".into()),
        ],
        workers,
        memory_limit_bytes: MEMORY_LIMIT,
        recycle_after: 0,
        max_waiting: 16,
    }
}

fn request(format: Format) -> ExtractRequest {
    ExtractRequest {
        format,
        options: RequestOptions::default(),
    }
}

fn in_secs(s: u64) -> Instant {
    Instant::now() + Duration::from_secs(s)
}

fn hook(marker: &str) -> Bytes {
    Bytes::from(format!("{marker}\n"))
}

fn slow_doc(ms: u64, text: &str) -> Bytes {
    let mut v = format!("%NDF-TEST-SLEEP {ms}\n").into_bytes();
    v.extend(ndf_testkit::text_doc(&[text]));
    Bytes::from(v)
}

#[derive(Debug)]
struct Collected {
    metadata: Bytes,
    pages: Vec<(u32, Bytes)>,
    diagnostics: Bytes,
}

impl Collected {
    fn text(&self) -> String {
        let mut s = String::new();
        for (_, body) in &self.pages {
            s.push_str(std::str::from_utf8(body).unwrap());
        }
        s
    }
}

async fn collect(mut ex: Extraction) -> Result<Collected, PoolError> {
    let mut metadata = None;
    let mut pages = Vec::new();
    loop {
        match ex
            .next()
            .await
            .expect("an event or an error before the end")?
        {
            Event::Metadata {
                json,
                pages: n,
                open,
            } => {
                assert!(metadata.is_none(), "one metadata event");
                assert!(
                    open.is_some_and(|t| t.started_unix_nanos > 0),
                    "open timing"
                );
                pages.reserve(n as usize);
                metadata = Some((json, n));
            }
            Event::Page {
                number,
                body,
                stages,
            } => {
                let stages = stages.expect("page stage timings");
                assert!(stages.interpret_nanos > 0 && stages.render_nanos > 0);
                pages.push((number, body));
            }
            Event::Done {
                diagnostics,
                resources,
            } => {
                assert!(resources.is_some(), "document resources");
                let (metadata, n) = metadata.expect("metadata before done");
                assert_eq!(n as usize, pages.len(), "announced page count");
                assert!(ex.next().await.is_none(), "nothing after done");
                return Ok(Collected {
                    metadata,
                    pages,
                    diagnostics,
                });
            }
        }
    }
}

async fn run(pool: &Pool, pdf: Bytes, format: Format) -> Result<Collected, PoolError> {
    collect(pool.submit(pdf, request(format), in_secs(60)).await?).await
}

/// In-process reference: the text of each page.
fn expected_text(pdf: &[u8]) -> String {
    ndf_extract::document_text(&ndf_extract::extract(pdf, &Options::default()).unwrap())
}

fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Poll `cond` every 10 ms for up to 10 s.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

fn rss_bytes() -> u64 {
    use std::io::Read;
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .unwrap()
        .take(64 << 10)
        .read_to_string(&mut status)
        .unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn formats_match_in_process_extraction() {
    block_on(async {
        let pool = Pool::new(config(1)).unwrap();
        let pdf = ndf_testkit::text_doc(&["alpha page", "beta page", "gamma page"]);
        let doc = ndf_extract::extract(&pdf, &Options::default()).unwrap();
        let bytes = Bytes::from(pdf.clone());

        let text = run(&pool, bytes.clone(), Format::Text).await.unwrap();
        assert_eq!(text.text(), ndf_extract::document_text(&doc));
        assert_eq!(
            text.pages.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let meta: ndf_model::Metadata = serde_json::from_slice(&text.metadata).unwrap();
        assert_eq!(meta, doc.metadata);
        let diags: Vec<ndf_model::Diagnostic> = serde_json::from_slice(&text.diagnostics).unwrap();
        assert_eq!(diags, doc.diagnostics);

        let json = run(&pool, bytes.clone(), Format::Json).await.unwrap();
        // Byte for byte what in-process serialisation gives.
        assert_eq!(json.pages.len(), doc.pages.len());
        for ((_, body), page) in json.pages.iter().zip(&doc.pages) {
            assert_eq!(&body[..], &serde_json::to_vec(page).unwrap()[..]);
            let back: ndf_model::Page = serde_json::from_slice(body).unwrap();
            assert_eq!(back.number, page.number);
        }

        let md = run(&pool, bytes.clone(), Format::Markdown).await.unwrap();
        assert_eq!(md.text(), ndf_extract::document_markdown(&doc));

        // Options reach the engine: a page selection.
        let mut req = request(Format::Text);
        req.options.pages = Some("2".into());
        let one = collect(pool.submit(bytes, req, in_secs(60)).await.unwrap())
            .await
            .unwrap();
        assert_eq!(one.pages.len(), 1);
        assert_eq!(one.pages[0].0, 2);
        assert!(one.text().contains("beta page"), "{:?}", one.text());
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn typed_engine_errors_keep_the_worker() {
    block_on(async {
        let pool = Pool::new(config(1)).unwrap();
        let ex = pool
            .submit(
                Bytes::from_static(b"hello, not a pdf"),
                request(Format::Text),
                in_secs(60),
            )
            .await
            .unwrap();
        let pid = ex.worker_pid();
        match collect(ex).await {
            Err(PoolError::Extract { code, .. }) => assert_eq!(code, Code::NotPdf),
            other => panic!("expected not_pdf, got {other:?}"),
        }
        // A selection matching no page: rejected by the engine inside the worker.
        let pdf = Bytes::from(ndf_testkit::text_doc(&["only page"]));
        let mut req = request(Format::Text);
        req.options.pages = Some("5".into());
        let ex = pool.submit(pdf.clone(), req, in_secs(60)).await.unwrap();
        assert_eq!(ex.worker_pid(), pid);
        match collect(ex).await {
            Err(PoolError::Extract { code, .. }) => assert_eq!(code, Code::InvalidArgument),
            other => panic!("expected invalid_argument, got {other:?}"),
        }
        // Rejected before reaching a worker.
        let mut req = request(Format::Text);
        req.options.pages = Some("0".into());
        match pool.submit(pdf.clone(), req, in_secs(60)).await {
            Err(PoolError::Extract { code, .. }) => assert_eq!(code, Code::InvalidArgument),
            other => panic!("expected invalid_argument, got {other:?}"),
        }
        let mut req = request(Format::Text);
        req.options.limits.max_file_bytes = 10;
        match pool.submit(pdf.clone(), req, in_secs(60)).await {
            Err(PoolError::Extract { code, .. }) => assert_eq!(code, Code::FileTooLarge),
            other => panic!("expected file_too_large, got {other:?}"),
        }
        // The same worker still serves.
        let ex = pool
            .submit(pdf.clone(), request(Format::Text), in_secs(60))
            .await
            .unwrap();
        assert_eq!(ex.worker_pid(), pid);
        assert_eq!(collect(ex).await.unwrap().text(), expected_text(&pdf));
        let s = pool.status();
        assert_eq!(
            (s.workers_lost, s.killed, s.spawned, s.documents_done),
            (0, 0, 1, 3)
        );
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn a_worker_that_dies_mid_document_is_replaced() {
    block_on(async {
        let pool = Pool::new(config(1)).unwrap();
        let pdf = Bytes::from(ndf_testkit::text_doc(&["after the crash"]));
        let mut pids = Vec::new();
        for marker in ["%NDF-TEST-ABORT", "%NDF-TEST-PANIC"] {
            let ex = pool
                .submit(hook(marker), request(Format::Text), in_secs(60))
                .await
                .unwrap();
            pids.push(ex.worker_pid());
            match collect(ex).await {
                Err(PoolError::WorkerLost { detail }) => {
                    if marker == "%NDF-TEST-ABORT" {
                        assert!(detail.contains("SIGABRT"), "{detail}");
                    }
                }
                other => panic!("{marker}: expected WorkerLost, got {other:?}"),
            }
            assert!(!pid_exists(*pids.last().unwrap()), "{marker}: reaped");
            // The next document succeeds on a fresh worker.
            let ex = pool
                .submit(pdf.clone(), request(Format::Text), in_secs(60))
                .await
                .unwrap();
            assert!(!pids.contains(&ex.worker_pid()), "a new worker");
            assert_eq!(collect(ex).await.unwrap().text(), expected_text(&pdf));
        }
        let s = pool.status();
        assert_eq!((s.workers_lost, s.spawned, s.workers), (2, 3, 1));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn deadline_kills_the_worker() {
    block_on(async {
        let pool = Pool::new(config(1)).unwrap();
        let started = Instant::now();
        let ex = pool
            .submit(
                hook("%NDF-TEST-HANG"),
                request(Format::Text),
                started + Duration::from_millis(300),
            )
            .await
            .unwrap();
        let pid = ex.worker_pid();
        assert!(pid_exists(pid));
        match collect(ex).await {
            Err(PoolError::DeadlineExceeded) => {}
            other => panic!("expected DeadlineExceeded, got {other:?}"),
        }
        // Not before the deadline; no upper bound (the error itself shows the deadline fired on
        // a document that hangs forever, and a busy machine may report it late).
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        // Killed and reaped before the error was reported.
        assert!(!pid_exists(pid), "the hung worker is gone");
        let s = pool.status();
        assert_eq!((s.killed, s.spawned, s.workers, s.busy), (1, 2, 1, 0));
        let pdf = Bytes::from(ndf_testkit::text_doc(&["on time"]));
        let r = run(&pool, pdf.clone(), Format::Text).await.unwrap();
        assert_eq!(r.text(), expected_text(&pdf));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn deadline_also_bounds_waiting() {
    block_on(async {
        let pool = Pool::new(config(1)).unwrap();
        let busy = pool
            .submit(hook("%NDF-TEST-HANG"), request(Format::Text), in_secs(60))
            .await
            .unwrap();
        let started = Instant::now();
        let pdf = Bytes::from(ndf_testkit::text_doc(&["never runs"]));
        let r = pool
            .submit(
                pdf,
                request(Format::Text),
                started + Duration::from_millis(200),
            )
            .await;
        assert!(matches!(r, Err(PoolError::DeadlineExceeded)), "{r:?}");
        assert_eq!(pool.status().waiting, 0);
        drop(busy);
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn cancellation_kills_only_that_worker() {
    block_on(async {
        let pool = Pool::new(config(2)).unwrap();
        let hung = pool
            .submit(hook("%NDF-TEST-HANG"), request(Format::Text), in_secs(60))
            .await
            .unwrap();
        let slow = pool
            .submit(
                slow_doc(500, "still running"),
                request(Format::Text),
                in_secs(60),
            )
            .await
            .unwrap();
        let (hung_pid, slow_pid) = (hung.worker_pid(), slow.worker_pid());
        assert_ne!(hung_pid, slow_pid);
        // Let the hung worker start on its document, then cancel.
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(hung);
        assert!(
            eventually(|| !pid_exists(hung_pid)).await,
            "the cancelled worker is killed"
        );
        let r = collect(slow).await.unwrap();
        assert!(r.text().contains("still running"), "{:?}", r.text());
        assert!(pid_exists(slow_pid), "the other worker lives on");
        let s = pool.status();
        assert_eq!((s.killed, s.workers_lost), (1, 0));
        assert!(eventually(|| pool.status().workers == 2).await, "replaced");
        // The replacement and the untouched worker both serve.
        let pdf = Bytes::from(ndf_testkit::text_doc(&["x"]));
        let (a, b) = tokio::join!(
            run(&pool, pdf.clone(), Format::Text),
            run(&pool, pdf.clone(), Format::Text)
        );
        assert_eq!(a.unwrap().text(), expected_text(&pdf));
        assert_eq!(b.unwrap().text(), expected_text(&pdf));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn memory_cap_stops_an_unbounded_allocation() {
    block_on(async {
        let pool = Pool::new(config(1)).unwrap();
        let before = rss_bytes();
        let ex = pool
            .submit(hook("%NDF-TEST-OOM"), request(Format::Text), in_secs(60))
            .await
            .unwrap();
        let pid = ex.worker_pid();
        match collect(ex).await {
            Err(PoolError::WorkerLost { detail }) => {
                // Rust aborts on allocation failure.
                assert!(detail.contains("SIGABRT"), "{detail}");
            }
            other => panic!("expected WorkerLost, got {other:?}"),
        }
        assert!(!pid_exists(pid));
        let grown = rss_bytes().saturating_sub(before);
        // The child touched up to MEMORY_LIMIT; the parent did not.
        assert!(grown < MEMORY_LIMIT / 4, "parent grew by {grown} bytes");
        let pdf = Bytes::from(ndf_testkit::text_doc(&["after oom"]));
        let r = run(&pool, pdf.clone(), Format::Text).await.unwrap();
        assert_eq!(r.text(), expected_text(&pdf));
        assert_eq!(pool.status().workers_lost, 1);
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn saturation_with_two_workers_and_one_waiting() {
    block_on(async {
        let mut cfg = config(2);
        cfg.max_waiting = 1;
        let pool = Pool::new(cfg).unwrap();
        let a = pool
            .submit(hook("%NDF-TEST-HANG"), request(Format::Text), in_secs(60))
            .await
            .unwrap();
        let b = pool
            .submit(hook("%NDF-TEST-HANG"), request(Format::Text), in_secs(60))
            .await
            .unwrap();
        let pdf = Bytes::from(ndf_testkit::text_doc(&["third"]));
        let third = tokio::spawn({
            let pool = pool.clone();
            let pdf = pdf.clone();
            async move { run(&pool, pdf, Format::Text).await }
        });
        assert!(
            eventually(|| pool.status().waiting == 1).await,
            "the third waits"
        );
        let fourth = pool
            .submit(pdf.clone(), request(Format::Text), in_secs(60))
            .await;
        assert!(matches!(fourth, Err(PoolError::Saturated)), "{fourth:?}");
        let s = pool.status();
        assert_eq!((s.busy, s.waiting), (2, 1));
        // Freeing a worker lets the waiting one through.
        drop(a);
        let r = third.await.unwrap().unwrap();
        assert_eq!(r.text(), expected_text(&pdf));
        drop(b);
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn workers_are_recycled_after_n_documents() {
    block_on(async {
        let mut cfg = config(1);
        cfg.recycle_after = 3;
        let pool = Pool::new(cfg).unwrap();
        let pdf = Bytes::from(ndf_testkit::text_doc(&["recycle me"]));
        let mut pids = Vec::new();
        for _ in 0..7 {
            let ex = pool
                .submit(pdf.clone(), request(Format::Text), in_secs(60))
                .await
                .unwrap();
            pids.push(ex.worker_pid());
            assert_eq!(collect(ex).await.unwrap().text(), expected_text(&pdf));
        }
        assert!(pids[0..3].iter().all(|&p| p == pids[0]), "{pids:?}");
        assert!(pids[3..6].iter().all(|&p| p == pids[3]), "{pids:?}");
        assert!(pids[0] != pids[3] && pids[3] != pids[6] && pids[0] != pids[6]);
        let s = pool.status();
        assert_eq!((s.recycled, s.spawned, s.documents_done), (2, 3, 7));
        assert_eq!((s.workers_lost, s.killed), (0, 0));
        // Retired workers exit on their own once their input closes.
        assert!(eventually(|| !pid_exists(pids[0]) && !pid_exists(pids[3])).await);
        assert!(eventually(|| pool.status().workers == 1).await);
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn shutdown_waits_for_grace_then_kills() {
    block_on(async {
        let pool = Pool::new(config(2)).unwrap();
        let slow = pool
            .submit(
                slow_doc(300, "finishes in grace"),
                request(Format::Text),
                in_secs(60),
            )
            .await
            .unwrap();
        let hung = pool
            .submit(hook("%NDF-TEST-HANG"), request(Format::Text), in_secs(60))
            .await
            .unwrap();
        let pids = [slow.worker_pid(), hung.worker_pid()];
        let slow = tokio::spawn(collect(slow));
        let hung = tokio::spawn(collect(hung));
        // A grace far longer than the slow document's 300 ms, so it finishes in time on a busy
        // machine; the hung one is killed when the grace ends.
        let started = Instant::now();
        pool.shutdown(Duration::from_secs(5)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(5), "waited the grace: {took:?}");
        let r = slow.await.unwrap().unwrap();
        assert!(r.text().contains("finishes in grace"));
        assert!(matches!(hung.await.unwrap(), Err(PoolError::Shutdown)));
        let late = pool
            .submit(Bytes::from_static(b"x"), request(Format::Text), in_secs(60))
            .await;
        assert!(matches!(late, Err(PoolError::Shutdown)), "{late:?}");
        // shutdown returns once every worker process is gone.
        assert!(!pid_exists(pids[1]), "the hung worker was killed");
        assert!(!pid_exists(pids[0]), "the finished worker exited");
        assert_eq!(pool.status().workers, 0);
        assert_eq!(pool.status().killed, 1);
    });
}

#[test]
fn shutdown_without_work_is_quick() {
    block_on(async {
        let pool = Pool::new(config(2)).unwrap();
        // Idle workers are not waited for: shutdown returns long before a grace of an hour
        // (a hang detector of 60 s, not a latency bound).
        let done = tokio::time::timeout(
            Duration::from_secs(60),
            pool.shutdown(Duration::from_secs(3600)),
        )
        .await;
        assert!(done.is_ok(), "shutdown without work waited for the grace");
        assert_eq!(pool.status().workers, 0);
    });
}

#[test]
fn many_documents_through_two_workers() {
    block_on(async {
        let pool = Pool::new(config(2)).unwrap();
        let docs: Vec<(Bytes, String)> = (0..200)
            .map(|i| {
                let text = format!("document number {i} says hello");
                let pdf = ndf_testkit::text_doc(&[&text]);
                let expected = expected_text(&pdf);
                assert!(expected.contains(&text), "{expected:?}");
                (Bytes::from(pdf), expected)
            })
            .collect();
        // 8 concurrent submitters: 2 running, up to 6 waiting (max_waiting is 16).
        let started = Instant::now();
        let mut tasks = Vec::new();
        for lane in 0..8 {
            let pool = pool.clone();
            let mine: Vec<_> = docs.iter().skip(lane).step_by(8).cloned().collect();
            tasks.push(tokio::spawn(async move {
                for (pdf, expected) in mine {
                    let r = run(&pool, pdf, Format::Text).await.unwrap();
                    assert_eq!(r.text(), expected);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        println!(
            "200 one-page documents through 2 workers, 8 submitters: {:?}",
            started.elapsed()
        );
        let s = pool.status();
        assert_eq!(s.documents_done, 200);
        assert_eq!((s.spawned, s.workers_lost, s.killed), (2, 0, 0));
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn bad_program_and_config_are_errors() {
    block_on(async {
        let mut cfg = config(1);
        cfg.program = "/nonexistent/ndf-worker".into();
        assert!(matches!(Pool::new(cfg), Err(PoolError::Io(_))));
        assert!(matches!(Pool::new(config(0)), Err(PoolError::Io(_))));
    });
    // Outside a runtime: an error, not a panic.
    assert!(matches!(Pool::new(config(1)), Err(PoolError::Io(_))));
}

#[test]
fn a_worker_that_never_handshakes_is_lost() {
    block_on(async {
        // `true` exits at once without a handshake.
        let mut cfg = config(1);
        cfg.program = "true".into();
        cfg.args.clear();
        let pool = Pool::new(cfg).unwrap();
        let r = run(&pool, Bytes::from_static(b"%PDF"), Format::Text).await;
        assert!(matches!(r, Err(PoolError::WorkerLost { .. })), "{r:?}");
        assert_eq!(pool.status().workers_lost, 1);
        pool.shutdown(Duration::from_secs(5)).await;
    });
}

/// Many small documents in a row through the same two workers: each answer is the text
/// in-process extraction gives (no state carried from one document to the next). What this
/// costs per document compared to in-process extraction is measured by the benchmark
/// `cargo bench -p ndf-pool --bench overhead`, not here.
#[test]
fn sequential_small_documents_match_in_process() {
    const N: usize = 300;
    let pdf = ndf_testkit::text_doc(&["A small one-page document for the overhead measurement."]);
    let expected = expected_text(&pdf);
    block_on(async {
        let pool = Pool::new(config(2)).unwrap();
        let pdf = Bytes::from(pdf);
        for i in 0..N {
            let r = run(&pool, pdf.clone(), Format::Text).await.unwrap();
            assert_eq!(r.text(), expected, "document {i}");
        }
        pool.shutdown(Duration::from_secs(5)).await;
    });
}
