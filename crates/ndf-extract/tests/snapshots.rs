//! Snapshot tests (insta) of the JSON output for a handful of dev-corpus files, chosen to cover
//! different producers and features: a plain office document, Japanese, Hebrew (right to left),
//! an RC4-encrypted multi-column Japanese form, a table, and form fields drawn by annotations.
//!
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test`); a change in
//! these files is a change in what users get, so read the diff. Skips when the corpus is absent.
#![allow(clippy::print_stderr, clippy::disallowed_methods)] // reads trusted fixtures

use std::path::{Path, PathBuf};

use ndf_extract::{Options, document_text, extract};

fn corpus_file(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("NDF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dev")
        });
    let p = dir.join(name);
    p.is_file().then_some(p)
}

/// `with_json`: also snapshot the JSON (kept for small documents; large ones would make every
/// layout change a wall of diff, so they snapshot their text only).
fn snapshot(name: &str, file: &str, with_json: bool) {
    let Some(path) = corpus_file(file) else {
        eprintln!("skipping snapshot {name}: corpus file {file} not found");
        return;
    };
    let data = std::fs::read(&path).expect("read");
    let doc = extract(&data, &Options::default()).expect("extract");
    if with_json {
        let json = serde_json::to_string_pretty(&doc).expect("json");
        insta::assert_snapshot!(format!("{name}.json"), json);
    }
    insta::assert_snapshot!(format!("{name}.txt"), document_text(&doc));
}

#[test]
fn office_document() {
    snapshot(
        "libreoffice_trivial",
        "sample-files-002-trivial-libre-office-wri-fc67ce.pdf",
        true,
    );
}

#[test]
fn japanese() {
    snapshot("xetex_japanese", "debian-example-japanese-da1b10.pdf", true);
}

#[test]
fn hebrew_right_to_left() {
    snapshot("word_hebrew", "pdfjs-issue11656-73a430.pdf", true);
}

#[test]
fn encrypted_multicolumn_japanese() {
    snapshot("rc4_kampo", "pdfminer-kampo-7c2dca.pdf", false);
}

#[test]
fn table() {
    snapshot(
        "senate_table",
        "pdfplumber-senate-expenditures-16921f.pdf",
        false,
    );
}

#[test]
fn form_fields() {
    snapshot("qpdf_form_fields", "qpdf-fields-two-pages-359810.pdf", true);
}
