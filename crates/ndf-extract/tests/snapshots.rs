//! Snapshot tests (insta) of the JSON output for a handful of dev-corpus files, chosen to cover
//! different producers and features: a plain office document, Japanese, Hebrew (right to left),
//! an RC4-encrypted multi-column Japanese form, a table, and form fields drawn by annotations.
//!
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test`); a change in
//! these files is a change in what users get, so read the diff. Without the corpus folder
//! they say so and do not run, or fail under `NDF_REQUIRE_INPUTS=1`, which the test command
//! sets; a snapshot file missing from a present corpus always fails (`ndf_testkit::corpus`).
#![allow(clippy::disallowed_methods)] // reads trusted fixtures

use ndf_extract::{Options, document_text, extract};
use ndf_testkit::corpus;

/// `with_json`: also snapshot the JSON (kept for small documents; large ones would make every
/// layout change a wall of diff, so they snapshot their text only).
fn snapshot(name: &str, file: &str, with_json: bool) {
    let Some(path) = corpus::file_for_test(&format!("snapshot {name}"), file) else {
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
