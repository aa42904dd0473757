//! Real streams for the benchmarks, taken from the dev corpus (`../shared/corpus/dev` beside
//! the repository, or the folder in `NDF_CORPUS_DIR`). The PDFs are scanned with a crude
//! byte-level search (`stream` … `endstream`, dictionary text before it) so that the benchmark
//! does not depend on the parser it is meant to measure.

// Shared with the ndf-simd benchmark (`#[path]`), which uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndf_testkit::corpus::{MAX_FILE, read_bounded};

/// Every PDF of the corpus, sorted by name.
pub(crate) fn corpus_files() -> Vec<Vec<u8>> {
    let Some(dir) = ndf_testkit::corpus::dir() else {
        eprintln!(
            "dev corpus not found (../shared/corpus/dev or NDF_CORPUS_DIR): nothing to measure"
        );
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")));
    paths.sort();
    paths
        .iter()
        .filter_map(|p| read_bounded(p, MAX_FILE))
        .collect()
}

/// A raw stream body with the text of its dictionary.
pub(crate) struct RawStream<'a> {
    pub(crate) dict: &'a [u8],
    pub(crate) body: &'a [u8],
}

/// Every `stream` … `endstream` body of a file, with the dictionary text before it.
pub(crate) fn raw_streams(pdf: &[u8]) -> Vec<RawStream<'_>> {
    let mut out = Vec::new();
    let finder = memchr::memmem::Finder::new(b"endstream");
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&pdf[from..], b"stream") {
        let kw = from + i;
        from = kw + 6;
        // Skip the `stream` inside `endstream`.
        if kw >= 3 && &pdf[kw - 3..kw] == b"end" {
            continue;
        }
        let mut start = kw + 6;
        if pdf.get(start) == Some(&b'\r') {
            start += 1;
        }
        if pdf.get(start) == Some(&b'\n') {
            start += 1;
        } else if pdf.get(start - 1) != Some(&b'\r') {
            continue;
        }
        let Some(len) = finder.find(&pdf[start..]) else {
            break;
        };
        let mut end = start + len;
        while end > start && matches!(pdf[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        let dict_start = kw.saturating_sub(2048);
        let dict_text = &pdf[dict_start..kw];
        let dict = match memchr::memmem::rfind(dict_text, b"obj") {
            Some(p) => &dict_text[p..],
            None => dict_text,
        };
        out.push(RawStream {
            dict,
            body: &pdf[start..end],
        });
        from = start + len + 9;
    }
    out
}

/// Flate streams of the kinds the text engine decodes (content streams, object and xref
/// streams, fonts, CMaps): `/FlateDecode` without `/Image` in the dictionary, single filter.
pub(crate) fn flate_streams(files: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files {
        for s in raw_streams(f) {
            let d = s.dict;
            if memchr::memmem::find(d, b"/FlateDecode").is_none()
                || memchr::memmem::find(d, b"/Image").is_some()
                || memchr::memmem::find(d, b"/Encrypt").is_some()
                || memchr::memmem::find(d, b"/DCTDecode").is_some()
                || memchr::memmem::find(d, b"/ASCII").is_some()
            {
                continue;
            }
            out.push(s.body.to_vec());
        }
    }
    out
}

/// Criterion measurement of the calling thread's CPU time (from `/proc/thread-self/schedstat`,
/// in nanoseconds) instead of wall-clock time: on a shared, loaded machine the time a
/// benchmark spends waiting for a core is noise. Falls back to wall-clock time where the file
/// is missing.
pub(crate) struct CpuTime;

fn thread_cpu_ns() -> Option<u64> {
    let raw = read_bounded(Path::new("/proc/thread-self/schedstat"), 256)?;
    std::str::from_utf8(&raw)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn now_ns() -> u64 {
    thread_cpu_ns().unwrap_or_else(|| {
        let t0 = START.get_or_init(std::time::Instant::now);
        u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    })
}

static WALL: criterion::measurement::WallTime = criterion::measurement::WallTime;

impl criterion::measurement::Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        now_ns()
    }
    fn end(&self, i: u64) -> u64 {
        now_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        // Values are nanoseconds, like WallTime's.
        criterion::measurement::Measurement::formatter(&WALL)
    }
}
