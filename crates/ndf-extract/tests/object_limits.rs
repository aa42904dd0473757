//! A bad object must not fail a document (issue 12): a limit crossed by one object (nesting,
//! the memory one object may materialise, one stream's decoded size, an object number past
//! `max_objects`, a chain of objects each needing the next) fails that object alone. It reads
//! as `null` (or loses only its too deeply nested values), the document gets a diagnostic, and a
//! page that uses the object says so in its own diagnostics; the other pages are untouched.
//! Only document-wide budgets fail the document: the file's size and the number of objects a
//! repair scan finds (the last tests here), the decoded bytes of the whole document, the
//! deadline and the number of pages (hostile.rs).
//!
//! Every fixture is generated here with ndf-testkit's writer.

mod common;

use common::*;
use ndf_extract::{Code, Document, Limits, Options, Severity};

const DEADLINE_MS: u64 = 5_000;

/// Far deeper than `max_nesting` (256).
const DEEP: usize = 10_000;

fn opts() -> Options {
    options(DEADLINE_MS)
}

fn opts_with(f: impl FnOnce(&mut Limits)) -> Options {
    let mut o = opts();
    f(&mut o.limits);
    o
}

fn nested_arrays() -> String {
    format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP))
}

#[track_caller]
fn assert_doc_diag(doc: &Document, code: Code, needle: &str) {
    assert!(
        doc.diagnostics
            .iter()
            .any(|d| d.code == code && d.message.contains(needle)),
        "the document should report {code} ({needle:?}), got {:?}",
        doc.diagnostics
    );
}

#[track_caller]
fn assert_page_diag(doc: &Document, index: usize, code: Code, severity: Severity, needle: &str) {
    let page = &doc.pages[index];
    assert!(
        page.diagnostics
            .iter()
            .any(|d| d.code == code && d.severity == severity && d.message.contains(needle)),
        "page {} should report {severity:?} {code} ({needle:?}), got {:?}",
        index + 1,
        page.diagnostics
    );
}

#[test]
fn unused_object_nested_ten_thousand_deep_next_to_a_normal_page() {
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[PageSpec::text("ALPHA")], None);
    w.obj(5, nested_arrays());
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_eq!(doc.pages.len(), 1);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_no_deadline(&doc);
}

#[test]
fn deeply_nested_value_in_the_trailer() {
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[PageSpec::text("ALPHA")], None);
    let data = w.finish(1, &format!("/Junk {}", nested_arrays()));
    let doc = extract_ok(data, opts());
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_diag(&doc, Code::NestingTooDeep, "the trailer");
}

#[test]
fn deeply_nested_value_in_the_catalog() {
    // A structure tree written inline in the catalog is where real files nest deepest.
    let pages = [PageSpec::text("ALPHA")];
    let mut w = PdfWriter::new();
    w.obj(
        1,
        format!(
            "<< /Type /Catalog /StructTreeRoot << /K {} >> /Pages 2 0 R >>",
            "<< /K [".repeat(DEEP)
        ),
    );
    w.obj(
        2,
        format!("<< /Type /Pages /Kids [{} 0 R] /Count 1 >>", page_num(0)),
    );
    w.obj(3, HELVETICA);
    write_leaves(&mut w, &pages, 2);
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_eq!(doc.pages.len(), 1);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_diag(&doc, Code::NestingTooDeep, "object 1:");
}

#[test]
fn deeply_nested_value_in_a_page_dictionary_keeps_the_page() {
    let mut first = PageSpec::text("ALPHA");
    first.page_extra = format!("/PieceInfo {}", nested_arrays());
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[first, PageSpec::text("BRAVO")], None);
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_eq!(doc.pages.len(), 2, "no page may go missing");
    assert!(page_text(&doc.pages[0]).contains("ALPHA"));
    assert_page_diag(
        &doc,
        0,
        Code::NestingTooDeep,
        Severity::Warning,
        &format!("object {} used by this page", page_num(0)),
    );
    assert_page_intact(&doc, 1, "BRAVO");
    assert!(doc.pages[1].diagnostics.is_empty());
}

#[test]
fn deeply_nested_value_in_page_resources_is_reported_on_that_page() {
    let mut first = PageSpec::text("ALPHA");
    first.resources = "5 0 R".to_owned();
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[first, PageSpec::text("BRAVO")], None);
    w.obj(
        5,
        format!(
            "<< /Font << /F1 3 0 R >> /Properties {} >>",
            nested_arrays()
        ),
    );
    let doc = extract_ok(w.finish(1, ""), opts());
    // The fonts next to the deep value are still read: the text keeps its font.
    assert!(page_text(&doc.pages[0]).contains("ALPHA"));
    assert!(!page_codes(&doc.pages[0]).contains(&Code::FontDamaged));
    assert_page_diag(
        &doc,
        0,
        Code::NestingTooDeep,
        Severity::Warning,
        "object 5 used by this page",
    );
    assert_page_intact(&doc, 1, "BRAVO");
    assert_doc_diag(&doc, Code::NestingTooDeep, "object 5:");
}

#[test]
fn page_resources_too_large_to_read_fail_that_page_only() {
    // The resources object materialises more than one object may (the per-stream limit): it
    // reads as null, the page that uses it carries an error, the other page is intact.
    let mut first = PageSpec::text("ALPHA");
    first.resources = "5 0 R".to_owned();
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[first, PageSpec::text("BRAVO")], None);
    w.obj(
        5,
        format!("<< /Font << /F1 3 0 R >> /X [{}] >>", "0 ".repeat(100_000)),
    );
    let doc = extract_ok(w.finish(1, ""), opts_with(|l| l.max_stream_bytes = 100_000));
    assert_eq!(doc.pages.len(), 2);
    assert_page_diag(
        &doc,
        0,
        Code::StreamTooLarge,
        Severity::Error,
        "object 5 used by this page",
    );
    assert_page_intact(&doc, 1, "BRAVO");
    assert_doc_diag(&doc, Code::StreamTooLarge, "object 5:");
    assert!(!doc_codes(&doc).contains(&Code::DocumentTooLarge));
}

#[test]
fn font_too_large_to_read_fails_only_the_text_that_uses_it() {
    // The font dictionary (object 3) is over the per-object limit; the second page uses a font
    // of its own and is intact.
    let mut second = PageSpec::text("BRAVO");
    second.resources = "<< /Font << /F1 6 0 R >> >>".to_owned();
    let mut w = PdfWriter::new();
    write_doc_with_font(
        &mut w,
        &[PageSpec::text("ALPHA"), second],
        None,
        &format!(
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Junk [{}] >>",
            "0 ".repeat(100_000)
        ),
    );
    w.obj(6, HELVETICA);
    let doc = extract_ok(w.finish(1, ""), opts_with(|l| l.max_stream_bytes = 100_000));
    assert_page_diag(
        &doc,
        0,
        Code::StreamTooLarge,
        Severity::Error,
        "object 3 used by this page",
    );
    assert_page_intact(&doc, 1, "BRAVO");
}

#[test]
fn huge_unused_stream_is_never_decoded() {
    // 1 GiB of zeros behind Flate, referenced by nothing: the document does not notice it.
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[PageSpec::text("ALPHA")], None);
    w.stream(5, "/Filter /FlateDecode", &flate_repeat(0, 1 << 30));
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_page_intact(&doc, 0, "ALPHA");
    assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
}

#[test]
fn huge_stream_used_by_one_page_fails_that_page_only() {
    let bomb = PageSpec {
        stream_extra: "/Filter /FlateDecode".to_owned(),
        ..PageSpec::content(flate_repeat(b' ', 80 << 20))
    };
    let doc = extract_ok(doc(&[bomb, PageSpec::text("BRAVO")]), opts());
    assert_page_diag(&doc, 0, Code::StreamTooLarge, Severity::Error, "");
    assert_page_intact(&doc, 1, "BRAVO");
}

#[test]
fn object_number_past_max_objects_reads_as_null() {
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[PageSpec::text("ALPHA")], None);
    w.obj(5_000_000, "(unused)");
    let doc = extract_ok(w.finish(1, ""), opts_with(|l| l.max_objects = 1_000_000));
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_diag(&doc, Code::TooManyObjects, "1000000");
}

#[test]
fn cross_reference_stream_over_the_stream_limit_is_repaired() {
    // The only xref is a Flate stream decoding to more than max_stream_bytes: the file is read
    // by scanning instead of being refused.
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[PageSpec::text("ALPHA")], None);
    let size = w.size();
    let mut rows = Vec::new();
    for n in 0..size {
        let (kind, field) = match w.offsets.get(&n) {
            Some(&off) => (1u8, off as u32),
            None => (0u8, 0u32),
        };
        rows.push(kind);
        rows.extend_from_slice(&field.to_be_bytes());
        rows.push(0);
    }
    // Padding rows past /Size (ignored by /Index) make the decoded stream large.
    rows.resize(rows.len() + 4096, 0);
    let at = w.len();
    w.stream(
        size,
        &format!(
            "/Type /XRef /W [1 4 1] /Index [0 {size}] /Size {} /Root 1 0 R /Filter /FlateDecode",
            size + 1
        ),
        &flate(&rows),
    );
    w.raw(format!("startxref\n{at}\n%%EOF\n"));
    let doc = extract_ok(w.buf, opts_with(|l| l.max_stream_bytes = 2048));
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_diag(&doc, Code::StreamTooLarge, "cross-reference stream");
    assert!(doc_codes(&doc).contains(&Code::XrefRepaired));
}

#[test]
fn chain_of_objects_each_needing_the_next_is_cut() {
    // The content stream's /Length is a stream whose /Length is the next stream's …: past the
    // load depth the chain reads as null and the content is found by its endstream.
    let mut page = PageSpec::text("ALPHA");
    page.stream_extra = String::new();
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.obj(
        2,
        format!("<< /Type /Pages /Kids [{} 0 R] /Count 1 >>", page_num(0)),
    );
    w.obj(3, HELVETICA);
    let n = page_num(0);
    w.obj(
        n,
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources {FONT_RESOURCES} /Contents {} 0 R >>",
            n + 1
        ),
    );
    w.stream_raw_dict(n + 1, "/Length 100 0 R", &page.content);
    for k in 100..200u32 {
        w.stream_raw_dict(k, &format!("/Length {} 0 R", k + 1), b"x");
    }
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_diag(&doc, Code::NestingTooDeep, "needed while loading");
}

#[test]
fn object_stream_over_the_stream_limit_fails_the_objects_in_it() {
    // Font object 3 lives in Flate object stream 7, which decodes past max_stream_bytes; the
    // page using that font says so, the page with a font of its own is intact.
    let mut objects = format!("3 0\n{HELVETICA}\n");
    objects.push_str(&" ".repeat(8192));
    let first = "3 0\n".len();
    let mut second = PageSpec::text("BRAVO");
    second.resources = "<< /Font << /F1 6 0 R >> >>".to_owned();
    let pages = [PageSpec::text("ALPHA"), second];
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.obj(
        2,
        format!(
            "<< /Type /Pages /Kids [{} 0 R {} 0 R] /Count 2 >>",
            page_num(0),
            page_num(1)
        ),
    );
    w.obj(6, HELVETICA);
    w.stream(
        7,
        &format!("/Type /ObjStm /N 1 /First {first} /Filter /FlateDecode"),
        &flate(objects.as_bytes()),
    );
    write_leaves(&mut w, &pages, 2);
    let mut entries = vec![XEntry::Free; 15];
    for (n, off) in &w.offsets {
        entries[*n as usize] = XEntry::Offset(*off);
    }
    entries[3] = XEntry::InStream {
        stream: 7,
        index: 0,
    };
    entries[14] = XEntry::Offset(w.len());
    // Object 14: the xref stream itself (pages are 10–13).
    w.xref_stream(14, [1, 4, 2], None, 0, &entries, "/Size 15 /Root 1 0 R");
    let doc = extract_ok(w.buf, opts_with(|l| l.max_stream_bytes = 4096));
    assert_page_diag(
        &doc,
        0,
        Code::StreamTooLarge,
        Severity::Error,
        "stored in object stream 7",
    );
    assert_page_intact(&doc, 1, "BRAVO");
    assert_doc_diag(&doc, Code::StreamTooLarge, "object 7:");
    assert!(!doc_codes(&doc).contains(&Code::XrefRepaired));
}

// ------------------------------------------------------------- what still fails the document

#[test]
fn a_file_over_max_file_bytes_fails_the_document() {
    let data = text_doc(&["ALPHA"]);
    let len = data.len() as u64;
    extract_err(
        data.clone(),
        opts_with(|l| l.max_file_bytes = len - 1),
        Code::FileTooLarge,
    );
    assert_page_intact(
        &extract_ok(data, opts_with(|l| l.max_file_bytes = len)),
        0,
        "ALPHA",
    );
}

#[test]
fn a_repair_scan_finding_more_objects_than_max_objects_fails_the_document() {
    // No usable xref: the scan counts object headers, a document-wide count.
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[PageSpec::text("ALPHA")], None);
    for n in 100..200u32 {
        w.obj(n, "null");
    }
    w.raw("trailer\n<< /Root 1 0 R >>\n%%EOF\n");
    extract_err(
        w.buf.clone(),
        opts_with(|l| l.max_objects = 50),
        Code::TooManyObjects,
    );
    let doc = extract_ok(w.buf, opts_with(|l| l.max_objects = 1000));
    assert_page_intact(&doc, 0, "ALPHA");
}
