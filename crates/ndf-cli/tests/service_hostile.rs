//! Hostile documents against a running `ndf serve`: each fails its own job with a stable code,
//! its synchronous extraction ends within the request deadline, and meanwhile `/healthz`
//! answers promptly and ordinary jobs keep succeeding.
//!
//! - `hostile_documents_fail_cleanly_on_every_backend`: decompression bombs (one stream past
//!   `limits.max_stream_bytes`, a page past `limits.max_document_bytes`), a page-tree cycle
//!   without a reachable page, an operator flood past `limits.max_operators_per_page`, and a
//!   page built to run for ever within the operator limit (stopped by `limits.deadline_ms`).
//! - `worker_killing_documents_cost_only_their_worker`: with the pool's test hooks, documents
//!   that exhaust the worker's memory, abort it, panic it or hang it; the server process (same
//!   pid, bounded memory) keeps serving.
#![allow(clippy::print_stderr)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ndf_testkit::{FONT_RESOURCES, HELVETICA, PageSpec, PdfWriter, doc, flate_repeat, write_doc};
use support::{Opts, Server, backends, client, embedded, wait_job};

/// The cases measure latencies and share two CPU cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// How long one `/healthz` call may take before it counts as unanswered: a hang detector, not
/// a latency bound (a busy test machine may answer slowly; the latencies are printed).
const HEALTHZ_TIMEOUT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------------------ documents

/// One page whose content inflates to 1 GiB of zeros (about 1 MiB compressed) against a
/// 16 MiB `max_stream_bytes`. Built once: compressing 1 GiB takes a moment.
fn stream_bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut page = PageSpec::content(flate_repeat(0, 1 << 30));
        page.stream_extra = "/Filter /FlateDecode".to_owned();
        doc(&[page])
    })
}

/// One page whose three content streams inflate to 15 MiB of spaces each: every stream is
/// under `max_stream_bytes` (16 MiB), together they pass `max_document_bytes` (40 MiB).
fn document_bomb() -> Vec<u8> {
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.obj(2, "<< /Type /Pages /Kids [10 0 R] /Count 1 >>");
    w.obj(3, HELVETICA);
    w.obj(
        10,
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources {FONT_RESOURCES} /Contents [11 0 R 12 0 R 13 0 R] >>"
        ),
    );
    let spaces = flate_repeat(b' ', 15 << 20);
    for n in 11..=13 {
        w.stream(n, "/Filter /FlateDecode", &spaces);
    }
    w.finish(1, "")
}

/// The root's only kid is a node whose only kid is the root again; no page object exists.
fn page_tree_cycle() -> Vec<u8> {
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.obj(2, "<< /Type /Pages /Kids [4 0 R] /Count 1 >>");
    w.obj(3, HELVETICA);
    w.obj(4, "<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>");
    w.finish(1, "")
}

/// Six million operators (`q Q`, 12 MiB decoded) on one page.
fn operator_flood() -> Vec<u8> {
    doc(&[PageSpec::flate("q Q ".repeat(3_000_000).as_bytes())])
}

/// A page that would run for minutes with few operators: it draws form R, which draws form W
/// 10,000 times, and W's content inflates to 8 MiB of whitespace. Streams are decoded on every
/// use but charged to the document budget once, so only the deadline stops it.
fn endless_forms() -> Vec<u8> {
    let mut w = PdfWriter::new();
    let page = PageSpec {
        content: b"/R Do\n".to_vec(),
        resources: "<< /XObject << /R 100 0 R >> >>".to_owned(),
        ..PageSpec::content(Vec::new())
    };
    write_doc(&mut w, &[page], None);
    let form = "/Type /XObject /Subtype /Form /BBox [0 0 612 792]";
    w.stream(
        100,
        &format!("{form} /Resources << /XObject << /W 101 0 R >> >>"),
        "/W Do ".repeat(10_000).as_bytes(),
    );
    w.stream(
        101,
        &format!("{form} /Filter /FlateDecode"),
        &flate_repeat(b' ', 8 << 20),
    );
    w.finish(1, "")
}

/// A test-hook document: the marker, then a real PDF (so the 415 check passes).
fn hook(marker: &str) -> Vec<u8> {
    [
        format!("{marker}\n").into_bytes(),
        ndf_testkit::text_doc(&["never extracted"]),
    ]
    .concat()
}

fn normal_text(i: usize) -> String {
    format!("Normal job {i:03} text")
}

// ------------------------------------------------------------------------- observation

/// What the `/healthz` poller saw.
#[derive(Debug, Default)]
struct Health {
    calls: usize,
    failures: Vec<String>,
    max_latency: Duration,
    /// Server VmRSS (KiB) at the first sample and at its peak.
    rss_first_kib: Option<u64>,
    rss_peak_kib: Option<u64>,
}

/// `/proc/<pid>/status` (Linux only; a few KiB, read with a bound).
fn proc_status(pid: u32) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(format!("/proc/{pid}/status"))
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut bytes)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// `VmRSS` of a process in KiB.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    proc_status(pid)?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Alive and not a zombie (the harness reaps only on kill, so a crash leaves a zombie).
fn process_alive(pid: u32) -> bool {
    proc_status(pid).is_some_and(|s| {
        s.lines()
            .find(|l| l.starts_with("State:"))
            .is_some_and(|l| !l.contains('Z') && !l.contains("X (dead)"))
    })
}

/// Hits `/healthz` every 50 ms (and samples the server's RSS) until `stop`.
fn spawn_health_poller(
    base: String,
    pid: Option<u32>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Health> {
    std::thread::spawn(move || {
        let http = reqwest::blocking::Client::builder()
            .timeout(HEALTHZ_TIMEOUT)
            .build()
            .expect("client");
        let mut h = Health::default();
        while !stop.load(Ordering::SeqCst) {
            let t = Instant::now();
            let r = http.get(format!("{base}/healthz")).send();
            let took = t.elapsed();
            h.calls += 1;
            h.max_latency = h.max_latency.max(took);
            match r {
                Ok(r) if r.status() == 200 => {}
                Ok(r) => h
                    .failures
                    .push(format!("status {} after {took:?}", r.status())),
                Err(e) => h.failures.push(format!("{e} after {took:?}")),
            }
            if let Some(kib) = pid.and_then(vm_rss_kib) {
                h.rss_first_kib.get_or_insert(kib);
                h.rss_peak_kib = Some(h.rss_peak_kib.unwrap_or(0).max(kib));
            }
            std::thread::sleep(Duration::from_millis(50).saturating_sub(took));
        }
        h
    })
}

/// Submits a normal one-page job every 200 ms until `stop` (at least `min`), returning
/// `(index, job id)` pairs.
fn spawn_normal_jobs(
    base: String,
    min: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(usize, String)>> {
    std::thread::spawn(move || {
        let http = client();
        let mut ids = Vec::new();
        let mut i = 0usize;
        while (i < min || !stop.load(Ordering::SeqCst)) && i < 500 {
            let r = http
                .post(format!("{base}/v1/jobs"))
                .header("content-type", "application/pdf")
                .body(ndf_testkit::text_doc(&[&normal_text(i)]))
                .send()
                .expect("submitting a normal job");
            assert_eq!(r.status(), 202, "normal job {i}: {:?}", r.text());
            let v: serde_json::Value = r.json().expect("json");
            ids.push((i, v["id"].as_str().expect("id").to_owned()));
            i += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        ids
    })
}

fn submit(http: &reqwest::blocking::Client, server: &Server, name: &str, pdf: &[u8]) -> String {
    let r = http
        .post(server.url("/v1/jobs"))
        .header("content-type", "application/pdf")
        .body(pdf.to_vec())
        .send()
        .unwrap_or_else(|e| panic!("submitting {name}: {e}"));
    assert_eq!(r.status(), 202, "submitting {name}: {:?}", r.text());
    let v: serde_json::Value = r.json().expect("json");
    v["id"].as_str().expect("id").to_owned()
}

/// Codes of an extracted JSON document's diagnostics: every document-level one, and the
/// page-level ones of severity `error` (a page that lost content), as `page N: code`.
fn diagnostic_codes(doc: &serde_json::Value) -> Vec<String> {
    let mut codes = Vec::new();
    for d in doc["diagnostics"].as_array().into_iter().flatten() {
        if let Some(c) = d["code"].as_str() {
            codes.push(c.to_owned());
        }
    }
    for (i, p) in doc["pages"].as_array().into_iter().flatten().enumerate() {
        for d in p["diagnostics"].as_array().into_iter().flatten() {
            if d["severity"] == "error"
                && let Some(c) = d["code"].as_str()
            {
                codes.push(format!("page {}: {c}", i + 1));
            }
        }
    }
    codes
}

/// One hostile document and what must happen to it.
struct Case {
    name: &'static str,
    pdf: Vec<u8>,
    /// `error.code` of the failed job.
    job_code: &'static str,
    /// Attempts the job must have used (`None`: not checked).
    attempts: Option<u64>,
    /// The synchronous answer: a problem's `code`, or (status 200) a diagnostic as
    /// [`diagnostic_codes`] spells it (`page 1: code` for a page error).
    sync_code: &'static str,
}

/// How a synchronous extraction ended, for the report.
#[derive(Debug)]
struct SyncOutcome {
    name: &'static str,
    status: u16,
    /// Pages of a 200 document.
    pages: Option<usize>,
    codes: Vec<String>,
    took: Duration,
}

/// Runs every case as a job and once through `POST /v1/extract` while `/healthz` is polled
/// and normal jobs are submitted; reports what happened (stderr), then asserts everything.
fn run_cases(server: &Server, cases: Vec<Case>, sync_timeout: Duration, label: &str) {
    let http = client();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = spawn_health_poller(server.base.clone(), server.pid(), stop.clone());
    let normal = spawn_normal_jobs(server.base.clone(), 10, stop.clone());
    let started = Instant::now();

    let cases = Arc::new(cases);
    let jobs: Vec<String> = cases
        .iter()
        .map(|c| submit(&http, server, c.name, &c.pdf))
        .collect();

    // Synchronous extractions, one after another, concurrently with the jobs.
    let sync = {
        let (cases, base) = (cases.clone(), server.base.clone());
        std::thread::spawn(move || {
            let http = client();
            let mut out = Vec::new();
            for c in cases.iter() {
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/v1/extract"))
                    .header("content-type", "application/pdf")
                    .body(c.pdf.clone())
                    .send()
                    .unwrap_or_else(|e| panic!("sync extraction of {}: {e}", c.name));
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().unwrap_or_default();
                let codes = if status == 200 {
                    diagnostic_codes(&body)
                } else {
                    vec![body["code"].as_str().unwrap_or("<no code>").to_owned()]
                };
                out.push(SyncOutcome {
                    name: c.name,
                    status,
                    pages: body["pages"].as_array().map(Vec::len),
                    codes,
                    took: t.elapsed(),
                });
            }
            out
        })
    };

    let finished: Vec<serde_json::Value> = jobs
        .iter()
        .map(|id| wait_job(&http, server, id, Duration::from_secs(120)))
        .collect();
    let sync = sync.join().expect("sync thread panicked");
    stop.store(true, Ordering::SeqCst);
    let normal = normal.join().expect("normal-job thread panicked");
    let mut normal_ok = 0usize;
    for (i, id) in &normal {
        let job = wait_job(&http, server, id, Duration::from_secs(60));
        assert_eq!(
            job["state"],
            "succeeded",
            "{label}: normal job {i} beside hostile ones: {job}\n{}",
            server.log_text()
        );
        let text = http
            .get(server.url(&format!("/v1/jobs/{id}/result?format=text")))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.text())
            .expect("normal result");
        assert_eq!(text.trim(), normal_text(*i), "{label}: normal job {i}");
        normal_ok += 1;
    }
    let health = poller.join().expect("poller panicked");

    for (c, job) in cases.iter().zip(&finished) {
        eprintln!(
            "{label}: {}: job {} code {} after {} attempt(s)",
            c.name, job["state"], job["error"]["code"], job["attempts"]
        );
    }
    for s in &sync {
        eprintln!(
            "{label}: {}: sync {} ({:?} pages) {:?} in {:.2}s",
            s.name,
            s.status,
            s.pages,
            s.codes,
            s.took.as_secs_f64()
        );
    }
    eprintln!(
        "{label}: {} healthz calls, max latency {:?}, {} failures; {normal_ok} normal jobs succeeded; \
         server RSS {:?} -> peak {:?} KiB; {:.1}s",
        health.calls,
        health.max_latency,
        health.failures.len(),
        health.rss_first_kib,
        health.rss_peak_kib,
        started.elapsed().as_secs_f64()
    );

    for (c, job) in cases.iter().zip(&finished) {
        assert_eq!(
            job["state"], "failed",
            "{label}: hostile job {} should fail: {job}",
            c.name
        );
        assert_eq!(
            job["error"]["code"], c.job_code,
            "{label}: error code of {}: {job}",
            c.name
        );
        if let Some(n) = c.attempts {
            assert_eq!(job["attempts"], n, "{label}: attempts of {}: {job}", c.name);
        }
    }
    for (c, s) in cases.iter().zip(&sync) {
        assert!(
            s.took < sync_timeout + Duration::from_secs(5),
            "{label}: sync extraction of {} took {:?}, past sync_timeout_ms",
            c.name,
            s.took
        );
        assert!(
            s.codes.iter().any(|code| code == c.sync_code),
            "{label}: sync extraction of {}: status {} codes {:?}, expected {}",
            c.name,
            s.status,
            s.codes,
            c.sync_code
        );
        assert!(
            s.status == 200 || s.status >= 400,
            "{label}: sync status {}",
            s.status
        );
    }
    assert!(normal_ok >= 10, "{label}: only {normal_ok} normal jobs ran");
    assert!(
        health.calls >= 20,
        "{label}: the poller made only {} calls",
        health.calls
    );
    assert!(
        health.failures.is_empty(),
        "{label}: /healthz failed {} of {} times (timeout {HEALTHZ_TIMEOUT:?}): {:?}",
        health.failures.len(),
        health.calls,
        health.failures
    );
    if let (Some(first), Some(peak)) = (health.rss_first_kib, health.rss_peak_kib) {
        // The server only forwards bytes; documents live in the workers.
        assert!(
            peak.saturating_sub(first) < 256 << 10,
            "{label}: server RSS grew from {first} KiB to {peak} KiB"
        );
    }
}

// ---------------------------------------------------------------------------------- tests

#[test]
fn hostile_documents_fail_cleanly_on_every_backend() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sync_timeout = Duration::from_secs(20);
    for backend in backends("hostile") {
        let mut opts = Opts::set(&[
            ("limits.max_stream_bytes", &(16u64 << 20).to_string()),
            ("limits.max_document_bytes", &(40u64 << 20).to_string()),
            ("limits.max_operators_per_page", "1000000"),
            ("limits.deadline_ms", "3000"),
            ("sync_timeout_ms", &sync_timeout.as_millis().to_string()),
            ("max_attempts", "2"),
            ("lease_ms", "5000"),
            ("poll_interval_ms", "50"),
        ]);
        opts.args.extend(["--workers".into(), "2".into()]);
        let server = Server::serve(&backend, opts);
        let cases = vec![
            Case {
                name: "stream bomb (1 GiB over a 16 MiB max_stream_bytes)",
                pdf: stream_bomb().to_vec(),
                job_code: "stream_too_large",
                attempts: Some(1),
                sync_code: "page 1: stream_too_large",
            },
            Case {
                name: "document bomb (3 x 15 MiB over a 40 MiB max_document_bytes)",
                pdf: document_bomb(),
                job_code: "document_too_large",
                attempts: Some(1),
                sync_code: "page 1: document_too_large",
            },
            Case {
                name: "page-tree cycle without pages",
                pdf: page_tree_cycle(),
                job_code: "malformed",
                attempts: Some(1),
                sync_code: "malformed",
            },
            Case {
                name: "operator flood (6M over max_operators_per_page 1M)",
                pdf: operator_flood(),
                job_code: "too_many_operators",
                attempts: Some(1),
                sync_code: "page 1: too_many_operators",
            },
            Case {
                name: "endless forms (deadline_ms 3000)",
                pdf: endless_forms(),
                job_code: "deadline_exceeded",
                attempts: None,
                sync_code: "page 1: deadline_exceeded",
            },
        ];
        run_cases(&server, cases, sync_timeout, backend.name());
    }
}

#[test]
fn worker_killing_documents_cost_only_their_worker() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sync_timeout = Duration::from_secs(5);
    let mut opts = Opts::set(&[
        ("worker_memory_bytes", &(512u64 << 20).to_string()),
        ("limits.deadline_ms", "1000"),
        ("sync_timeout_ms", &sync_timeout.as_millis().to_string()),
        ("max_attempts", "2"),
        ("lease_ms", "5000"),
        ("poll_interval_ms", "50"),
    ]);
    opts.args.extend(["--workers".into(), "2".into()]);
    opts.env
        .push((ndf_pool::TEST_HOOKS_ENV.to_owned(), "1".to_owned()));
    let server = Server::serve(&embedded("killer"), opts);
    let pid = server.pid().expect("server pid");
    let cases = vec![
        Case {
            name: "OOM hook",
            pdf: hook("%NDF-TEST-OOM"),
            job_code: "worker_lost",
            attempts: Some(2),
            sync_code: "worker_lost",
        },
        Case {
            name: "abort hook",
            pdf: hook("%NDF-TEST-ABORT"),
            job_code: "worker_lost",
            attempts: Some(2),
            sync_code: "worker_lost",
        },
        Case {
            name: "panic hook",
            pdf: hook("%NDF-TEST-PANIC"),
            job_code: "worker_lost",
            attempts: Some(2),
            sync_code: "worker_lost",
        },
        Case {
            // The worker is killed 5 s after the engine deadline; the sync request gives up at
            // sync_timeout_ms.
            name: "hang hook",
            pdf: hook("%NDF-TEST-HANG"),
            job_code: "deadline_exceeded",
            attempts: Some(2),
            sync_code: "timeout",
        },
    ];
    run_cases(&server, cases, sync_timeout, "embedded+hooks");
    assert_eq!(server.pid(), Some(pid), "the server was restarted");
    assert!(process_alive(pid), "the server process died");
}
