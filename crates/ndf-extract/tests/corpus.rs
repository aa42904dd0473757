//! Every file of the dev corpus (`../shared/corpus/dev`, or `NDF_CORPUS_DIR`): no panic, no
//! file past its deadline, text wherever poppler's `pdftotext` finds text, and a mean token F1
//! against `pdftotext` that may not regress below the floor measured when this test was written.
//!
//! Without the corpus folder or `pdftotext` (Debian's poppler-utils, which the test command
//! installs) the tests say so and do not run, or fail under `NDF_REQUIRE_INPUTS=1`, which the
//! test command sets (`ndf_testkit::corpus`).
#![allow(clippy::print_stderr, clippy::disallowed_methods)] // reads trusted fixtures, reports progress

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use ndf_extract::{Code, Options, document_text, extract};
use ndf_testkit::corpus;
use ndf_testkit::score::{f1, tokens};

/// Mean F1 against pdftotext over referenced files must stay at or above this. PyMuPDF scores
/// 0.952 on this corpus (../shared/bench/results-dev.md) and the floor is PyMuPDF's
/// minus 0.01 = 0.942; ndf measured 0.962 when this floor was set, so 0.955 catches a
/// regression long before the product promise is at risk.
const MEAN_F1_FLOOR: f64 = 0.955;

fn pdftotext(tool: &Path, path: &Path) -> Option<String> {
    let out = Command::new(tool)
        .args(["-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

struct FileResult {
    name: String,
    problem: Option<String>,
    f1: Option<f64>,
}

fn check_file(path: &Path, pdftotext_tool: &Path) -> FileResult {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data = std::fs::read(path).expect("read corpus file");
    let result = extract(&data, &Options::default());
    let reference = pdftotext(pdftotext_tool, path)
        .map(|t| tokens(&t))
        .filter(|t| !t.is_empty());
    let mut problem = None;
    let mut ours = Vec::new();
    match &result {
        Ok(doc) => {
            let mut diags = doc.diagnostics.clone();
            for p in &doc.pages {
                diags.extend(p.diagnostics.iter().cloned());
            }
            if let Some(d) = diags
                .iter()
                .find(|d| matches!(d.code, Code::Internal | Code::DeadlineExceeded))
            {
                problem = Some(format!("{}: {}", d.code, d.message));
            }
            ours = tokens(&document_text(doc));
        }
        Err(e) => {
            if matches!(e.code, Code::Internal | Code::DeadlineExceeded) {
                problem = Some(e.to_string());
            } else if reference.is_some() {
                problem = Some(format!("pdftotext reads it but we fail: {e}"));
            }
        }
    }
    if problem.is_none() && reference.is_some() && ours.is_empty() {
        problem = Some("pdftotext finds text, we find none".into());
    }
    let f1 = reference.as_ref().map(|r| f1(&ours, r).unwrap_or(0.0));
    FileResult { name, problem, f1 }
}

#[test]
fn corpus_extracts_without_panics_timeouts_or_missing_text() {
    const TEST: &str = "corpus_extracts_without_panics_timeouts_or_missing_text";
    let Some(dir) = corpus::dir_for_test(TEST) else {
        return;
    };
    let Some(pdftotext_tool) = corpus::tool(TEST, "pdftotext") else {
        return;
    };
    let files = corpus::pdfs(&dir);
    let queue = Mutex::new(files.iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(4)
        {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some(path) = next else { return };
                    let r = check_file(path, &pdftotext_tool);
                    results.lock().unwrap().push(r);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let problems: Vec<String> = results
        .iter()
        .filter_map(|r| r.problem.as_ref().map(|p| format!("{}: {p}", r.name)))
        .collect();
    let scored: Vec<f64> = results.iter().filter_map(|r| r.f1).collect();
    // pdftotext finds text in most of the corpus; far fewer scored files means the reference
    // itself is broken, and a mean over a handful of files would prove nothing.
    assert!(
        scored.len() * 2 >= results.len(),
        "only {} of {} files have a pdftotext reference",
        scored.len(),
        results.len()
    );
    let mean = scored.iter().sum::<f64>() / scored.len() as f64;
    eprintln!(
        "corpus: {} files, {} scored against pdftotext, mean F1 {mean:.4}",
        results.len(),
        scored.len()
    );
    let mut low: Vec<&FileResult> = results
        .iter()
        .filter(|r| r.f1.is_some_and(|f| f < 0.8))
        .collect();
    low.sort_by(|a, b| a.f1.partial_cmp(&b.f1).unwrap_or(std::cmp::Ordering::Equal));
    for r in low.iter().take(15) {
        eprintln!("  low F1 {:.3} {}", r.f1.unwrap_or(0.0), r.name);
    }
    assert!(
        mean >= MEAN_F1_FLOOR,
        "mean F1 {mean:.4} fell below the floor {MEAN_F1_FLOOR}"
    );
    assert!(
        problems.is_empty(),
        "{} corpus files failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn corpus_encryption_matches_the_manifest() {
    let Some(dir) = corpus::dir_for_test("corpus_encryption_matches_the_manifest") else {
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("manifest.csv")).expect("manifest.csv");
    let mut header: Vec<&str> = Vec::new();
    let mut checked = 0;
    for line in manifest.lines() {
        let cols: Vec<&str> = line.split(',').collect();
        if header.is_empty() {
            header = cols;
            continue;
        }
        let col = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| cols.get(i))
                .copied()
        };
        let (Some(file), Some(enc)) = (col("file"), col("encrypted")) else {
            continue;
        };
        if enc == "no" {
            continue;
        }
        let data = std::fs::read(dir.join(file)).expect("read");
        let result = extract(&data, &Options::default());
        if enc.contains("user password") {
            let e = result.expect_err(file);
            assert_eq!(e.code, Code::Encrypted, "{file}");
        } else {
            let doc = result.unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(doc.metadata.encrypted, "{file}");
            let cipher = doc.metadata.encryption.clone().unwrap_or_default();
            assert_eq!(cipher, enc, "{file}: cipher");
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected encrypted files in the manifest, found {checked}"
    );
}

/// Extracting pages on a helper thread (`Options::parallel_pages`) is an optimisation only:
/// every corpus document comes out identical, diagnostics and failures included.
#[test]
fn corpus_parallel_pages_give_identical_documents() {
    let Some(dir) = corpus::dir_for_test("corpus_parallel_pages_give_identical_documents") else {
        return;
    };
    let serial = Options::default();
    let parallel = Options {
        parallel_pages: true,
        ..Options::default()
    };
    let mut compared_pages = 0usize;
    for path in corpus::pdfs(&dir) {
        let data = std::fs::read(&path).expect("corpus file");
        let a = extract(&data, &serial);
        let b = extract(&data, &parallel);
        if let Ok(doc) = &a {
            compared_pages += doc.pages.len();
        }
        assert!(
            a == b,
            "{}: parallel pages changed the output",
            path.display()
        );
    }
    assert!(compared_pages > 0, "no pages compared");
    eprintln!("parallel pages: {compared_pages} pages identical");
}
