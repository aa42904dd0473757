//! Helpers of the hostile-input tests: the PDF writer of `ndf-testkit` plus bounded extraction
//! (a hang fails the test instead of blocking the suite) and assertions on the outcome.

#![allow(dead_code, unreachable_pub)]

use std::sync::mpsc;
use std::time::Duration;

use ndf_extract::{Document, ExtractError, Options, Page};
use ndf_model::{Code, Limits};

pub use ndf_testkit::*;

/// Default limits with a deadline: every hostile case must come back by itself.
pub fn options(deadline_ms: u64) -> Options {
    Options {
        limits: Limits {
            deadline_ms,
            ..Limits::default()
        },
        ..Options::default()
    }
}

/// How long past its own deadline a case may take before the test calls it a hang. Generous:
/// debug builds on a loaded two-core machine; the engine's deadline is the real bound.
const GRACE: Duration = Duration::from_secs(60);

/// Runs `ndf_extract::extract` on a worker thread and fails the test if it does not return
/// within the configured deadline plus [`GRACE`] (a hang), instead of blocking the suite.
pub fn extract_bounded(data: Vec<u8>, options: Options) -> Result<Document, ExtractError> {
    let wait = Duration::from_millis(options.limits.deadline_ms) + GRACE;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(ndf_extract::extract(&data, &options));
    });
    match rx.recv_timeout(wait) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("extraction did not return within {wait:?}: a hang")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("extraction thread died (panic escaped the engine)")
        }
    }
}

/// `extract_bounded` that must succeed.
pub fn extract_ok(data: Vec<u8>, options: Options) -> Document {
    match extract_bounded(data, options) {
        Ok(d) => d,
        Err(e) => panic!("expected a document, got error {e}"),
    }
}

/// `extract_bounded` that must fail with `code`.
pub fn extract_err(data: Vec<u8>, options: Options, code: Code) -> ExtractError {
    match extract_bounded(data, options) {
        Ok(d) => panic!(
            "expected error {code}, got a document of {} pages with diagnostics {:?}",
            d.pages.len(),
            all_codes(&d)
        ),
        Err(e) => {
            assert_eq!(e.code, code, "unexpected error: {e}");
            e
        }
    }
}

/// Plain text of one page.
pub fn page_text(page: &Page) -> String {
    let mut s = String::new();
    ndf_extract::render_text(page, &mut s);
    s
}

/// Codes of a page's diagnostics.
pub fn page_codes(page: &Page) -> Vec<Code> {
    page.diagnostics.iter().map(|d| d.code).collect()
}

/// Codes of the document-level diagnostics.
pub fn doc_codes(doc: &Document) -> Vec<Code> {
    doc.diagnostics.iter().map(|d| d.code).collect()
}

/// Every code anywhere in the document (document level first, then pages in order).
pub fn all_codes(doc: &Document) -> Vec<Code> {
    let mut v = doc_codes(doc);
    for p in &doc.pages {
        v.extend(page_codes(p));
    }
    v
}

/// Asserts page `index` shows `text` and carries no error diagnostic.
#[track_caller]
pub fn assert_page_intact(doc: &Document, index: usize, text: &str) {
    let page = &doc.pages[index];
    let got = page_text(page);
    assert!(
        got.contains(text),
        "page {} should show {text:?}, got {got:?}",
        index + 1
    );
    let errors: Vec<_> = page
        .diagnostics
        .iter()
        .filter(|d| d.severity == ndf_model::Severity::Error)
        .collect();
    assert!(
        errors.is_empty(),
        "page {} should have no errors, got {errors:?}",
        index + 1
    );
}

/// Asserts the run finished inside its deadline: the engine reports a passed deadline as
/// `deadline_exceeded`, so its absence means the case was handled in time.
#[track_caller]
pub fn assert_no_deadline(doc: &Document) {
    assert!(
        !all_codes(doc).contains(&Code::DeadlineExceeded),
        "the deadline passed: {:?}",
        all_codes(doc)
    );
}

/// Peak resident set size of this process (`VmHWM`), in bytes; `None` without `/proc`.
pub fn peak_rss() -> Option<u64> {
    use std::io::Read;
    // Bounded read (the workspace disallows unbounded `read_to_string`); the file is ~1.5 KiB.
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .ok()?
        .take(64 << 10)
        .read_to_string(&mut status)
        .ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A deterministic byte generator (xorshift64*), for garbage without a `rand` dependency.
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
}
