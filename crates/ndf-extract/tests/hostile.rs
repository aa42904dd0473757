//! Hostile inputs, generated here (no binary fixtures): each case asserts the specific outcome
//! (a typed error, or pages with a specific diagnostic while the other pages keep their text)
//! and that the extraction came back by itself under a deadline (`common::extract_bounded`
//! fails the test on a hang instead of blocking the suite).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use ndf_extract::{Code, Extraction, Limits, Options, PageSelection, Severity};

/// The deadline every ordinary case runs under: the product's default, far above what any case
/// needs, so `assert_no_deadline` tells "stopped by a limit" from "stopped by the clock"
/// without depending on how busy the machine is (a case only the clock stops fails it too,
/// after 30 s).
const DEADLINE_MS: u64 = 30_000;

fn opts() -> Options {
    options(DEADLINE_MS)
}

fn opts_with(f: impl FnOnce(&mut Limits)) -> Options {
    let mut o = opts();
    f(&mut o.limits);
    o
}

/// Asserts the page carries a diagnostic with `code` (of the given severity).
#[track_caller]
fn assert_page_has(doc: &ndf_extract::Document, index: usize, code: Code, severity: Severity) {
    let page = &doc.pages[index];
    assert!(
        page.diagnostics
            .iter()
            .any(|d| d.code == code && d.severity == severity),
        "page {} should have {severity:?} {code}, got {:?}",
        index + 1,
        page.diagnostics
    );
}

#[track_caller]
fn assert_doc_has(doc: &ndf_extract::Document, code: Code) {
    assert!(
        doc_codes(doc).contains(&code),
        "document should have {code}, got {:?}",
        doc.diagnostics
    );
}

// ------------------------------------------------------------------------------------- xref

#[test]
fn xref_prev_pointing_at_itself() {
    let mut w = PdfWriter::new();
    write_doc(
        &mut w,
        &[PageSpec::text("ALPHA"), PageSpec::text("BRAVO")],
        None,
    );
    let size = w.size();
    let x = w.xref_table(None);
    w.trailer(&format!("/Size {size} /Root 1 0 R /Prev {x}"), x);
    let doc = extract_ok(w.buf, opts());
    assert_eq!(doc.pages.len(), 2);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_intact(&doc, 1, "BRAVO");
    // The self-loop is simply not followed twice: nothing needed repair.
    assert!(
        !doc_codes(&doc).contains(&Code::XrefRepaired),
        "{:?}",
        doc.diagnostics
    );
    assert_no_deadline(&doc);
}

#[test]
fn xref_prev_loop_between_two_sections() {
    // Section A (the original) and section B (an incremental update replacing page 1's
    // content) point at each other through /Prev.
    let mut w = PdfWriter::new();
    write_doc(
        &mut w,
        &[PageSpec::text("OLDTEXT"), PageSpec::text("BRAVO")],
        None,
    );
    let size = w.size();
    let a = w.xref_table(None);
    let placeholder = "/Prev 0000000000";
    w.trailer(&format!("/Size {size} /Root 1 0 R {placeholder}"), a);
    w.stream(page_num(0) + 1, "", &text_content("NEWTEXT"));
    let b = w.xref_table(Some(&[page_num(0) + 1]));
    w.trailer(&format!("/Size {size} /Root 1 0 R /Prev {a}"), b);
    // Patch A's /Prev to point at B (same width, so no offset moves).
    let at = find(&w.buf, placeholder.as_bytes()).unwrap();
    let patched = format!("/Prev {b:010}");
    w.buf[at..at + patched.len()].copy_from_slice(patched.as_bytes());

    let doc = extract_ok(w.buf, opts());
    assert_eq!(doc.pages.len(), 2);
    // The newest section wins.
    assert_page_intact(&doc, 0, "NEWTEXT");
    assert!(!page_text(&doc.pages[0]).contains("OLDTEXT"));
    assert_page_intact(&doc, 1, "BRAVO");
    assert!(
        !doc_codes(&doc).contains(&Code::XrefRepaired),
        "{:?}",
        doc.diagnostics
    );
    assert_no_deadline(&doc);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn object_stream_containing_itself() {
    // Catalog, page tree and font live in object stream 7, whose own header lists object 7
    // (itself) first, and the xref stream says object 7 is inside object stream 7.
    let body = [
        (7u32, "<< /Type /ObjStm >>"),
        (1, "<< /Type /Catalog /Pages 2 0 R >>"),
        (2, "<< /Type /Pages /Kids [10 0 R] /Count 1 >>"),
        (3, HELVETICA),
    ];
    let mut header = String::new();
    let mut objects = String::new();
    for (n, b) in body {
        header.push_str(&format!("{n} {} ", objects.len()));
        objects.push_str(b);
        objects.push('\n');
    }
    let data = format!("{header}\n{objects}");
    let first = header.len() + 1;
    let mut w = PdfWriter::new();
    w.stream(
        7,
        &format!("/Type /ObjStm /N 4 /First {first}"),
        data.as_bytes(),
    );
    write_leaves(&mut w, &[PageSpec::text("OBJSTMTEXT")], 2);
    let entries = [
        XEntry::Free,
        XEntry::InStream {
            stream: 7,
            index: 1,
        },
        XEntry::InStream {
            stream: 7,
            index: 2,
        },
        XEntry::InStream {
            stream: 7,
            index: 3,
        },
        XEntry::Free,
        XEntry::Free,
        XEntry::Free,
        XEntry::InStream {
            stream: 7,
            index: 0,
        },
        XEntry::Offset(w.len()),
        XEntry::Free,
        XEntry::Offset(w.offsets[&10]),
        XEntry::Offset(w.offsets[&11]),
    ];
    w.xref_stream(8, [1, 4, 2], None, 0, &entries, "/Size 12 /Root 1 0 R");

    let doc = extract_ok(w.buf, opts());
    assert_eq!(doc.pages.len(), 1);
    assert_page_intact(&doc, 0, "OBJSTMTEXT");
    // Object 7 cannot be read through itself; the scan finds it in the file.
    assert_doc_has(&doc, Code::XrefRepaired);
    assert_no_deadline(&doc);
}

#[test]
fn xref_stream_with_absurd_widths() {
    for declared in [
        "[1 99999999999 2]",
        "[1 4000000000 2]",
        "[-5 -4 -2]",
        "[0 0 0]",
        "[9 9 9]",
        "[1 4]",
        "(W)",
    ] {
        let mut w = PdfWriter::new();
        write_doc(
            &mut w,
            &[PageSpec::text("ALPHA"), PageSpec::text("BRAVO")],
            None,
        );
        let offsets = w.offsets.clone();
        let xref_num = 20;
        let mut entries = vec![XEntry::Free; xref_num as usize + 1];
        for (n, off) in offsets {
            entries[n as usize] = XEntry::Offset(off);
        }
        entries[xref_num as usize] = XEntry::Offset(w.len());
        w.xref_stream(
            xref_num,
            [1, 4, 2],
            Some(declared),
            0,
            &entries,
            "/Size 21 /Root 1 0 R",
        );
        let doc = extract_ok(w.buf, opts());
        assert_eq!(doc.pages.len(), 2, "/W {declared}");
        assert_page_intact(&doc, 0, "ALPHA");
        assert_page_intact(&doc, 1, "BRAVO");
        assert_doc_has(&doc, Code::XrefRepaired);
        assert_no_deadline(&doc);
    }
}

// ------------------------------------------------------------------------------- page tree

#[test]
fn page_tree_cycle_back_to_an_ancestor() {
    // 2 (root) -> [4, page A]; 4 -> [2 (the root again), page B].
    let pages = [PageSpec::text("ALPHA"), PageSpec::text("BRAVO")];
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.obj(
        2,
        format!(
            "<< /Type /Pages /Kids [4 0 R {} 0 R] /Count 2 >>",
            page_num(0)
        ),
    );
    w.obj(3, HELVETICA);
    w.obj(
        4,
        format!(
            "<< /Type /Pages /Parent 2 0 R /Kids [2 0 R {} 0 R] /Count 1 >>",
            page_num(1)
        ),
    );
    write_leaves(&mut w, &pages, 2);
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_eq!(doc.pages.len(), 2);
    assert_page_intact(&doc, 0, "BRAVO");
    assert_page_intact(&doc, 1, "ALPHA");
    assert_doc_has(&doc, Code::Malformed);
    assert_no_deadline(&doc);
}

#[test]
fn page_tree_node_that_is_its_own_kid() {
    let pages = [PageSpec::text("ALPHA")];
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.obj(
        2,
        format!(
            "<< /Type /Pages /Kids [2 0 R {} 0 R 2 0 R] /Count 3 >>",
            page_num(0)
        ),
    );
    w.obj(3, HELVETICA);
    write_leaves(&mut w, &pages, 2);
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_eq!(doc.pages.len(), 1);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_has(&doc, Code::Malformed);
}

#[test]
fn page_listed_two_hundred_thousand_times() {
    let pages = [PageSpec::text("ALPHA")];
    let kids = format!("{} 0 R ", page_num(0)).repeat(200_000);
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    w.obj(
        2,
        format!("<< /Type /Pages /Kids [{kids}] /Count 200000 >>"),
    );
    w.obj(3, HELVETICA);
    write_leaves(&mut w, &pages, 2);
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_eq!(doc.pages.len(), 1);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_has(&doc, Code::Malformed);
    // Repeated diagnostics are capped, not one per repetition.
    assert!(
        doc.diagnostics.len() <= 256,
        "{} diagnostics",
        doc.diagnostics.len()
    );
    assert_no_deadline(&doc);
}

#[test]
fn page_tree_deeper_than_max_nesting() {
    // 300 nested /Pages nodes (objects 100..400) above a single page; max_nesting is 256.
    let pages = [PageSpec::text("ALPHA")];
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 100 0 R >>");
    w.obj(3, HELVETICA);
    write_leaves(&mut w, &pages, 399);
    for n in 100..400u32 {
        let kid = if n == 399 { page_num(0) } else { n + 1 };
        w.obj(n, format!("<< /Type /Pages /Kids [{kid} 0 R] /Count 1 >>"));
    }
    // A limit on one branch of the tree, not on the document: the branch is left out (with an
    // error), and the page it hid is then found by scanning the file.
    let doc = extract_ok(w.finish(1, ""), opts());
    assert!(
        doc.diagnostics
            .iter()
            .any(|d| d.code == Code::NestingTooDeep && d.severity == Severity::Error),
        "{:?}",
        doc.diagnostics
    );
    assert_eq!(doc.pages.len(), 1);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_no_deadline(&doc);
}

#[test]
fn page_count_that_lies() {
    for count in ["1000000000", "-5", "99999999999999999999", "(many)"] {
        let pages = [PageSpec::text("ALPHA"), PageSpec::text("BRAVO")];
        let mut w = PdfWriter::new();
        w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
        w.obj(
            2,
            format!(
                "<< /Type /Pages /Kids [{} 0 R {} 0 R] /Count {count} >>",
                page_num(0),
                page_num(1)
            ),
        );
        w.obj(3, HELVETICA);
        write_leaves(&mut w, &pages, 2);
        let doc = extract_ok(w.finish(1, ""), opts());
        assert_eq!(doc.pages.len(), 2, "/Count {count}");
        assert_eq!(doc.metadata.page_count, 2, "/Count {count}");
        assert_page_intact(&doc, 0, "ALPHA");
        assert_page_intact(&doc, 1, "BRAVO");
        assert_no_deadline(&doc);
    }
}

#[test]
fn ten_thousand_pages_over_max_pages() {
    let pages: Vec<PageSpec> = (0..10_000)
        .map(|i| PageSpec::text(&format!("PAGE{i}")))
        .collect();
    let data = doc(&pages);
    extract_err(
        data.clone(),
        opts_with(|l| l.max_pages = 100),
        Code::TooManyPages,
    );
    // The same document within the limit opens; two pages of it are extracted.
    let mut o = opts();
    o.pages = Some(PageSelection::parse("1,10000").unwrap());
    let d = extract_ok(data, o);
    assert_eq!(d.metadata.page_count, 10_000);
    assert_eq!(d.pages.len(), 2);
    assert_page_intact(&d, 0, "PAGE0");
    assert_page_intact(&d, 1, "PAGE9999");
}

// --------------------------------------------------------------------------------- nesting

const DEEP: usize = 100_000;

#[test]
fn deeply_nested_arrays_in_the_info_dictionary() {
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[PageSpec::text("ALPHA")], None);
    w.obj(5, format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP)));
    let doc = extract_ok(w.finish(1, "/Info 5 0 R"), opts());
    assert_page_intact(&doc, 0, "ALPHA");
    assert_doc_has(&doc, Code::NestingTooDeep);
    assert_no_deadline(&doc);
}

#[test]
fn deeply_nested_dictionaries_in_an_annotation() {
    let mut page = PageSpec::text("ALPHA");
    page.page_extra = "/Annots [5 0 R]".to_owned();
    let mut w = PdfWriter::new();
    write_doc(&mut w, &[page, PageSpec::text("BRAVO")], None);
    w.obj(5, format!("{}{}", "<< /A ".repeat(DEEP), ">>".repeat(DEEP)));
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_intact(&doc, 1, "BRAVO");
    assert_doc_has(&doc, Code::NestingTooDeep);
    assert_no_deadline(&doc);
}

#[test]
fn deeply_nested_arrays_in_a_content_stream() {
    let mut content = text_content("ALPHA");
    content.extend_from_slice("[".repeat(DEEP).as_bytes());
    content.extend_from_slice("]".repeat(DEEP).as_bytes());
    content.extend_from_slice(b" pop\n");
    content.extend_from_slice(&text_content("OMEGA"));
    let doc = extract_ok(
        doc(&[PageSpec::flate(&content), PageSpec::text("BRAVO")]),
        opts(),
    );
    let text = page_text(&doc.pages[0]);
    assert!(text.contains("ALPHA") && text.contains("OMEGA"), "{text:?}");
    assert_page_has(&doc, 0, Code::ContentMalformed, Severity::Warning);
    assert_page_intact(&doc, 1, "BRAVO");
    assert_no_deadline(&doc);
}

// ------------------------------------------------------------------------------ truncation

/// Three pages with Flate-compressed contents; the layout is standard (page objects before
/// their contents, the xref last).
fn three_flate_pages() -> PdfWriter {
    let mut w = PdfWriter::new();
    let pages = [
        PageSpec::flate(&text_content("ALPHA")),
        PageSpec::flate(&text_content("BRAVO")),
        PageSpec::flate(&text_content("CHARLIE")),
    ];
    write_doc(&mut w, &pages, None);
    w
}

#[test]
fn truncated_inside_the_xref_table() {
    let w = three_flate_pages();
    let mut full = w.clone();
    let x = full.xref_table(None);
    let mut bytes = full.buf;
    bytes.truncate(x + 60);
    let doc = extract_ok(bytes, opts());
    assert_eq!(doc.pages.len(), 3);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_intact(&doc, 1, "BRAVO");
    assert_page_intact(&doc, 2, "CHARLIE");
    assert_doc_has(&doc, Code::XrefRepaired);
}

#[test]
fn truncated_inside_the_trailer() {
    let bytes = three_flate_pages().finish(1, "");
    let at = find(&bytes, b"trailer").unwrap() + 12;
    let doc = extract_ok(bytes[..at].to_vec(), opts());
    assert_eq!(doc.pages.len(), 3);
    assert_page_intact(&doc, 2, "CHARLIE");
    assert_doc_has(&doc, Code::XrefRepaired);
}

#[test]
fn truncated_inside_the_last_content_stream() {
    let w = three_flate_pages();
    let start = w.offsets[&(page_num(2) + 1)];
    // Past the dictionary and into the compressed bytes.
    let data_at = start + find(&w.buf[start..], b"stream\n").unwrap() + 7;
    let bytes = w.buf[..data_at + 12].to_vec();
    let doc = extract_ok(bytes, opts());
    assert_eq!(doc.pages.len(), 3);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_intact(&doc, 1, "BRAVO");
    assert_page_has(&doc, 2, Code::StreamDamaged, Severity::Warning);
    assert!(!page_text(&doc.pages[2]).contains("CHARLIE"));
    assert_doc_has(&doc, Code::XrefRepaired);
}

#[test]
fn truncated_inside_a_middle_content_stream() {
    let w = three_flate_pages();
    let start = w.offsets[&(page_num(1) + 1)];
    let data_at = start + find(&w.buf[start..], b"stream\n").unwrap() + 7;
    let bytes = w.buf[..data_at + 12].to_vec();
    let doc = extract_ok(bytes, opts());
    // Page 3's objects are gone; pages 1 and 2 remain.
    assert_eq!(doc.pages.len(), 2);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_has(&doc, 1, Code::StreamDamaged, Severity::Warning);
}

#[test]
fn truncated_at_every_point() {
    // Cut the file everywhere (every 5th byte) and check the promise: either a typed error or
    // every page whose objects were completely written still has its text.
    let w = three_flate_pages();
    let ends: BTreeMap<u32, usize> = w
        .offsets
        .iter()
        .map(|(&n, &o)| (n, o + find(&w.buf[o..], b"endobj").unwrap() + 6))
        .collect();
    let full = w.finish(1, "");
    let complete = |cut: usize, i: usize| {
        [1, 2, 3, page_num(i), page_num(i) + 1]
            .iter()
            .all(|n| ends[n] <= cut)
    };
    for cut in (0..=full.len()).step_by(5) {
        let r = extract_bounded(full[..cut].to_vec(), opts());
        match r {
            Err(e) => {
                assert!(
                    matches!(e.code, Code::NotPdf | Code::Malformed),
                    "cut at {cut}: {e}"
                );
                assert!(
                    !complete(cut, 0),
                    "cut at {cut}: page 1 was complete yet {e}"
                );
            }
            Ok(doc) => {
                let text: String = doc.pages.iter().map(page_text).collect();
                for (i, word) in ["ALPHA", "BRAVO", "CHARLIE"].iter().enumerate() {
                    if complete(cut, i) {
                        assert!(
                            text.contains(word),
                            "cut at {cut}: {word} missing from {text:?}"
                        );
                    }
                }
                assert_no_deadline(&doc);
            }
        }
    }
}

// ---------------------------------------------------------------------------- bad /Length

fn lying_length(length: &str) -> ndf_extract::Document {
    let mut w = PdfWriter::new();
    let pages = [
        PageSpec::text("ALPHA"),
        PageSpec::text("PLACEHOLDER"),
        PageSpec::text("CHARLIE"),
    ];
    write_doc(&mut w, &pages, None);
    // Rewrite page 2's content stream with the lying /Length (a later object of the same
    // number replaces it in the xref, which `finish` writes from the latest offsets).
    w.stream_raw_dict(
        page_num(1) + 1,
        &format!("/Length {length}"),
        &text_content("BRAVO"),
    );
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_eq!(doc.pages.len(), 3);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_intact(&doc, 2, "CHARLIE");
    assert!(!page_text(&doc.pages[1]).contains("PLACEHOLDER"));
    assert_no_deadline(&doc);
    doc
}

#[test]
fn huge_stream_length() {
    let doc = lying_length("999999999999");
    assert_page_intact(&doc, 1, "BRAVO");
}

#[test]
fn negative_stream_length() {
    let doc = lying_length("-40");
    assert_page_intact(&doc, 1, "BRAVO");
}

#[test]
fn stream_length_referring_to_the_stream_itself() {
    let doc = lying_length(&format!("{} 0 R", page_num(1) + 1));
    assert_page_intact(&doc, 1, "BRAVO");
}

#[test]
fn stream_length_referring_to_a_huge_number() {
    let mut w = PdfWriter::new();
    write_doc(
        &mut w,
        &[PageSpec::text("ALPHA"), PageSpec::text("PLACEHOLDER")],
        None,
    );
    w.obj(5, "18446744073709551615");
    w.stream_raw_dict(page_num(1) + 1, "/Length 5 0 R", &text_content("BRAVO"));
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_intact(&doc, 1, "BRAVO");
}

// --------------------------------------------------------------------- decompression bombs

/// Runs `body` in a fresh copy of this test binary, so the process-wide peak RSS it measures
/// belongs to this case alone (tests in one process run in parallel and share `VmHWM`).
fn in_fresh_process(name: &str, body: impl FnOnce()) {
    const CHILD: &str = "NDF_HOSTILE_CHILD";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child run of {name} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the peak RSS grew by less than `bound` bytes since `before` (both read from
/// `/proc/self/status`, which Linux always has: without it the bound cannot be checked, and the
/// test fails rather than pass unchecked).
#[track_caller]
fn assert_rss_growth_below(before: Option<u64>, bound: u64) {
    let (Some(before), Some(after)) = (before, peak_rss()) else {
        panic!("no VmHWM in /proc/self/status: the memory bound cannot be checked");
    };
    let grew = after.saturating_sub(before);
    assert!(
        grew < bound,
        "peak RSS grew by {} MiB, bound {} MiB",
        grew >> 20,
        bound >> 20
    );
}

#[test]
fn flate_bomb_over_max_stream_bytes() {
    in_fresh_process("flate_bomb_over_max_stream_bytes", || {
        // 256 MiB of zeros compress to about 256 KiB.
        let bomb = flate_repeat(0, 256 << 20);
        let mut bomb_page = PageSpec::content(bomb);
        bomb_page.stream_extra = "/Filter /FlateDecode".to_owned();
        let data = doc(&[
            PageSpec::text("ALPHA"),
            bomb_page,
            PageSpec::text("CHARLIE"),
        ]);
        let limit: u64 = 16 << 20;
        let o = opts_with(|l| l.max_stream_bytes = limit);
        let before = peak_rss();
        let doc = extract_ok(data, o);
        // Bound: the decoder holds at most the per-stream limit (its output vector never
        // reserves past it); twice the limit leaves room for allocator slack.
        assert_rss_growth_below(before, 2 * limit);
        assert_page_intact(&doc, 0, "ALPHA");
        assert_page_has(&doc, 1, Code::StreamTooLarge, Severity::Error);
        assert_page_intact(&doc, 2, "CHARLIE");
        assert_no_deadline(&doc);
    });
}

#[test]
fn flate_bombs_over_max_document_bytes() {
    in_fresh_process("flate_bombs_over_max_document_bytes", || {
        // Four pages, each inflating to 10 MiB (text, then spaces); the document may decode
        // 24 MiB: pages 1-2 fit, page 3 trips the budget, page 4 is refused.
        let words = ["ALPHA", "BRAVO", "CHARLIE", "DELTA"];
        let pages: Vec<PageSpec> = words
            .iter()
            .map(|w| {
                let mut content = text_content(w);
                content.resize(10 << 20, b' ');
                PageSpec::flate(&content)
            })
            .collect();
        let data = doc(&pages);
        let limit: u64 = 24 << 20;
        let o = opts_with(|l| l.max_document_bytes = limit);
        let before = peak_rss();
        let doc = extract_ok(data, o);
        // Bound: at most one page's decoded content (and its copy) is alive at a time, all
        // within the document limit; twice the limit covers allocator slack.
        assert_rss_growth_below(before, 2 * limit);
        assert_page_intact(&doc, 0, "ALPHA");
        assert_page_intact(&doc, 1, "BRAVO");
        assert_page_has(&doc, 2, Code::DocumentTooLarge, Severity::Error);
        assert_page_has(&doc, 3, Code::DocumentTooLarge, Severity::Error);
        assert!(page_text(&doc.pages[3]).trim().is_empty());
    });
}

// ------------------------------------------------------------------------------ Form XObjects

fn form(num: u32, content: &[u8], xobjects: &str, w: &mut PdfWriter) {
    let dict = format!(
        "/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> /XObject << {xobjects} >> >>"
    );
    w.stream(num, &dict, content);
}

fn page_with_forms(text: &str, draw: &str, xobjects: &str) -> PageSpec {
    let mut content = text_content(text);
    content.extend_from_slice(draw.as_bytes());
    let mut p = PageSpec::content(content);
    p.resources = format!("<< /Font << /F1 3 0 R >> /XObject << {xobjects} >> >>");
    p
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn form_xobject_drawing_itself() {
    let mut w = PdfWriter::new();
    let pages = [
        page_with_forms("ALPHA", " /Fm1 Do\n", "/Fm1 5 0 R"),
        PageSpec::text("BRAVO"),
    ];
    write_doc(&mut w, &pages, None);
    let mut c = b"BT /F1 12 Tf 72 500 Td (FORMSELF) Tj ET\n".to_vec();
    c.extend_from_slice(b"/Fm1 Do\n");
    form(5, &c, "/Fm1 5 0 R", &mut w);
    let doc = extract_ok(w.finish(1, ""), opts());
    let text = page_text(&doc.pages[0]);
    assert!(text.contains("ALPHA"), "{text:?}");
    assert_eq!(count(&text, "FORMSELF"), 1, "{text:?}");
    assert_page_has(&doc, 0, Code::ContentMalformed, Severity::Warning);
    assert_page_intact(&doc, 1, "BRAVO");
    assert_no_deadline(&doc);
}

#[test]
fn two_form_xobjects_drawing_each_other() {
    let mut w = PdfWriter::new();
    let pages = [
        page_with_forms("ALPHA", " /Fm1 Do\n", "/Fm1 5 0 R"),
        PageSpec::text("BRAVO"),
    ];
    write_doc(&mut w, &pages, None);
    form(
        5,
        b"BT /F1 12 Tf 72 500 Td (FORMONE) Tj ET /Fm2 Do\n",
        "/Fm2 6 0 R",
        &mut w,
    );
    form(
        6,
        b"BT /F1 12 Tf 72 400 Td (FORMTWO) Tj ET /Fm1 Do\n",
        "/Fm1 5 0 R",
        &mut w,
    );
    let doc = extract_ok(w.finish(1, ""), opts());
    let text = page_text(&doc.pages[0]);
    assert_eq!(count(&text, "FORMONE"), 1, "{text:?}");
    assert_eq!(count(&text, "FORMTWO"), 1, "{text:?}");
    assert_page_has(&doc, 0, Code::ContentMalformed, Severity::Warning);
    assert_page_intact(&doc, 1, "BRAVO");
    assert_no_deadline(&doc);
}

#[test]
fn form_xobject_chain_deeper_than_max_xobject_depth() {
    // Forms 100..=139 each draw the next: 40 levels, limit 16.
    let mut w = PdfWriter::new();
    write_doc(
        &mut w,
        &[
            page_with_forms("ALPHA", " /X Do\n", "/X 100 0 R"),
            PageSpec::text("BRAVO"),
        ],
        None,
    );
    for n in 100..140u32 {
        // One line per level, top to bottom.
        let content = format!(
            "BT /F1 12 Tf 72 {} Td (L{n}) Tj ET /X Do\n",
            700 - (n - 100) * 15
        );
        form(n, content.as_bytes(), &format!("/X {} 0 R", n + 1), &mut w);
    }
    let doc = extract_ok(w.finish(1, ""), opts());
    let text = page_text(&doc.pages[0]);
    assert!(text.contains("L100") && text.contains("L115"), "{text:?}");
    assert!(!text.contains("L116"), "{text:?}");
    assert_page_has(&doc, 0, Code::NestingTooDeep, Severity::Warning);
    assert_page_intact(&doc, 1, "BRAVO");
}

#[test]
fn form_xobject_fan_out_is_bounded_by_operators() {
    // "Billion laughs": each of 9 forms draws the next one 10 times: 10^9 operators in all.
    let mut w = PdfWriter::new();
    write_doc(
        &mut w,
        &[
            page_with_forms("ALPHA", " /X Do\n", "/X 100 0 R"),
            PageSpec::text("BRAVO"),
        ],
        None,
    );
    for n in 100..109u32 {
        form(
            n,
            "/X Do ".repeat(10).as_bytes(),
            &format!("/X {} 0 R", n + 1),
            &mut w,
        );
    }
    form(109, b"0 0 m 1 1 l S\n", "", &mut w);
    let doc = extract_ok(
        w.finish(1, ""),
        opts_with(|l| l.max_operators_per_page = 100_000),
    );
    assert_page_has(&doc, 0, Code::TooManyOperators, Severity::Error);
    assert!(page_text(&doc.pages[0]).contains("ALPHA"));
    assert_page_intact(&doc, 1, "BRAVO");
    assert_no_deadline(&doc);
}

// ------------------------------------------------------------------------ endless content

#[test]
fn endless_content_stream() {
    // 3,000,000 operators ("q Q" 1.5 million times) against a limit of 100,000.
    let mut content = text_content("BRAVO");
    content.extend_from_slice("q Q ".repeat(1_500_000).as_bytes());
    let pages = [
        PageSpec::text("ALPHA"),
        PageSpec::flate(&content),
        PageSpec::text("CHARLIE"),
    ];
    let doc = extract_ok(
        doc(&pages),
        opts_with(|l| l.max_operators_per_page = 100_000),
    );
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_has(&doc, 1, Code::TooManyOperators, Severity::Error);
    assert_page_intact(&doc, 2, "CHARLIE");
    assert_no_deadline(&doc);
}

// ----------------------------------------------------------------------------------- fonts

#[test]
fn font_with_a_huge_widths_array() {
    let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /FirstChar 0 /LastChar 255 /Widths 5 0 R >>";
    let mut w = PdfWriter::new();
    write_doc_with_font(
        &mut w,
        &[PageSpec::text("MMMMM"), PageSpec::text("BRAVO")],
        None,
        font,
    );
    // One million entries; the font only has 256 codes. Every width is 500 units.
    w.obj(5, format!("[{}]", "500 ".repeat(1_000_000)));
    let doc = extract_ok(w.finish(1, ""), opts());
    assert_page_intact(&doc, 0, "MMMMM");
    assert_page_intact(&doc, 1, "BRAVO");
    // The widths that apply were read: five glyphs of 500/1000 em at 12 pt are 30 pt wide
    // (Helvetica's own M is 833 units, which would give 50 pt).
    let span = &doc.pages[0].blocks[0].lines[0].spans[0];
    let width = span.bbox.x1 - span.bbox.x0;
    assert!((width - 30.0).abs() < 1.0, "span width {width}");
    assert_no_deadline(&doc);
}

#[test]
fn to_unicode_bfrange_over_the_whole_code_space() {
    let font = "<< /Type /Font /Subtype /Type0 /BaseFont /Whole /Encoding /Identity-H /DescendantFonts [4 0 R] /ToUnicode 5 0 R >>";
    // 2-byte codes over the whole code space mapped onto themselves (and a range with 4-byte
    // codes outside the code space, which must not matter).
    let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
        /CMapName /Whole def /CMapType 2 def\n\
        1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
        2 beginbfrange <0000> <FFFF> <0000> <00000000> <FFFFFFFF> <0000> endbfrange\n\
        endcmap CMapName currentdict /CMap defineresource pop end end\n";
    let mut w = PdfWriter::new();
    let mut page = PageSpec::content(
        b"BT /F2 12 Tf 72 720 Td <00480049002100570048004F004C0045> Tj ET\n".to_vec(),
    );
    page.resources = "<< /Font << /F2 6 0 R >> >>".to_owned();
    write_doc(&mut w, &[page, PageSpec::text("BRAVO")], None);
    w.obj(6, font);
    w.obj(
        4,
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Whole /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 >>",
    );
    w.stream(5, "", cmap);
    let doc = extract_ok(w.finish(1, ""), opts());
    assert!(
        page_text(&doc.pages[0]).contains("HI!WHOLE"),
        "{:?}",
        page_text(&doc.pages[0])
    );
    assert_page_intact(&doc, 1, "BRAVO");
    assert_no_deadline(&doc);
}

// -------------------------------------------------------------------------- time and size

#[test]
fn one_millisecond_deadline_on_a_large_document() {
    let content = text_content("SOME TEXT ON THIS PAGE").repeat(50);
    let pages: Vec<PageSpec> = (0..3_000)
        .map(|_| PageSpec::content(content.clone()))
        .collect();
    let data = doc(&pages);
    match extract_bounded(data.clone(), options(1)) {
        Err(e) => assert_eq!(e.code, Code::DeadlineExceeded, "{e}"),
        Ok(doc) => {
            // Every page is accounted for; the ones after the deadline say so.
            assert_eq!(doc.pages.len(), 3_000);
            assert!(all_codes(&doc).contains(&Code::DeadlineExceeded));
            assert_eq!(page_codes(&doc.pages[2_999]), vec![Code::DeadlineExceeded]);
        }
    }
    // Streaming stops being expensive after the deadline too.
    let o = options(1);
    let r = Extraction::run(&data, &o, |ex| {
        let mut n = 0;
        let mut expired = 0;
        while let Some(p) = ex.next_page() {
            n += 1;
            expired += usize::from(page_codes(&p).contains(&Code::DeadlineExceeded));
        }
        (n, expired)
    });
    match r {
        Err(e) => assert_eq!(e.code, Code::DeadlineExceeded, "{e}"),
        Ok((n, expired)) => {
            assert_eq!(n, 3_000);
            assert!(expired > 0);
        }
    }
}

#[test]
fn deadline_passing_inside_a_page() {
    // Opening is instant; page 2 would run 10^9 operators (nested form fan-out, operator
    // limit lifted), so the deadline stops it, and page 3 is refused without being read.
    let mut w = PdfWriter::new();
    let pages = [
        PageSpec::text("ALPHA"),
        page_with_forms("BRAVO", " /X Do\n", "/X 100 0 R"),
        PageSpec::text("CHARLIE"),
    ];
    write_doc(&mut w, &pages, None);
    for n in 100..109u32 {
        form(
            n,
            "/X Do ".repeat(10).as_bytes(),
            &format!("/X {} 0 R", n + 1),
            &mut w,
        );
    }
    form(109, b"0 0 m 1 1 l S\n", "", &mut w);
    let mut o = options(1_000);
    o.limits.max_operators_per_page = u64::MAX;
    let doc = extract_ok(w.finish(1, ""), o);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_has(&doc, 1, Code::DeadlineExceeded, Severity::Error);
    assert_eq!(page_codes(&doc.pages[2]), vec![Code::DeadlineExceeded]);
    assert!(page_text(&doc.pages[2]).trim().is_empty());
}

// ----------------------------------------------------------------------- not a (usable) PDF

#[test]
fn garbage_bytes_are_not_pdf() {
    let mut noise = Noise::new(0x5eed);
    let mut bytes = noise.bytes(64 << 10);
    // Keep the garbage free of anything PDF-like.
    for w in 0..bytes.len().saturating_sub(2) {
        if &bytes[w..w + 3] == b"obj" || &bytes[w..w + 3] == b"%PD" {
            bytes[w] = b'x';
        }
    }
    extract_err(bytes, opts(), Code::NotPdf);
    extract_err(Vec::new(), opts(), Code::NotPdf);
    extract_err(b"%PDF".to_vec(), opts(), Code::NotPdf);
}

#[test]
fn header_followed_by_garbage_is_malformed() {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend(
        Noise::new(7)
            .bytes(4096)
            .into_iter()
            .map(|b| if b == b'j' { b'k' } else { b }),
    );
    extract_err(bytes, opts(), Code::Malformed);
}

// -------------------------------------------------------------------------------- encryption

mod rc4_writer {
    //! The writer side of the standard security handler, R3 / RC4-128 (Algorithms 2, 3, 5 and
    //! the per-object key of Algorithm 1), adapted from ndf-crypt's tests.
    use md5::{Digest, Md5};

    const PAD: [u8; 32] = [
        0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01,
        0x08, 0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53,
        0x69, 0x7A,
    ];
    pub(super) const ID0: [u8; 16] = *b"hostile-test-id!";
    pub(super) const P: i32 = -3904;

    fn md5(parts: &[&[u8]]) -> [u8; 16] {
        let mut h = Md5::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    fn pad32(pw: &[u8]) -> Vec<u8> {
        let n = pw.len().min(32);
        let mut out = pw[..n].to_vec();
        out.extend_from_slice(&PAD[..32 - n]);
        out
    }

    pub(super) fn rc4(key: &[u8], data: &mut [u8]) {
        let mut s: [u8; 256] = core::array::from_fn(|i| i as u8);
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
            s.swap(i, usize::from(j));
        }
        let (mut i, mut j) = (0u8, 0u8);
        for b in data {
            i = i.wrapping_add(1);
            j = j.wrapping_add(s[usize::from(i)]);
            s.swap(usize::from(i), usize::from(j));
            *b ^= s[usize::from(s[usize::from(i)].wrapping_add(s[usize::from(j)]))];
        }
    }

    fn rounds(key: &[u8], data: &mut [u8]) {
        for i in 1..=19u8 {
            let k: Vec<u8> = key.iter().map(|b| b ^ i).collect();
            rc4(&k, data);
        }
    }

    /// (/O, /U, file key) for a 128-bit R3 handler.
    pub(super) fn make(user: &[u8], owner: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let n = 16;
        let mut h = md5(&[&pad32(owner)]);
        for _ in 0..50 {
            h = md5(&[&h]);
        }
        let mut o = pad32(user);
        rc4(&h[..n], &mut o);
        rounds(&h[..n], &mut o);
        let mut key = md5(&[&pad32(user), &o, &P.to_le_bytes(), &ID0]);
        for _ in 0..50 {
            key = md5(&[&key[..n]]);
        }
        let key = key[..n].to_vec();
        let mut u = md5(&[&PAD, &ID0]).to_vec();
        rc4(&key, &mut u);
        rounds(&key, &mut u);
        u.extend_from_slice(&[0xA5; 16]);
        (o, u, key)
    }

    /// Encrypt a stream of object `num` (generation 0).
    pub(super) fn encrypt(key: &[u8], num: u32, plain: &[u8]) -> Vec<u8> {
        let h = md5(&[key, &num.to_le_bytes()[..3], &[0, 0]]);
        let mut out = plain.to_vec();
        rc4(&h[..(key.len() + 5).min(16)], &mut out);
        out
    }

    pub(super) fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02X}")).collect()
    }
}

fn encrypted_doc() -> Vec<u8> {
    let (o, u, key) = rc4_writer::make(b"secret", b"owner");
    let pages = [PageSpec::text("ALPHA"), PageSpec::text("BRAVO")];
    let encrypted: Vec<PageSpec> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| PageSpec::content(rc4_writer::encrypt(&key, page_num(i) + 1, &p.content)))
        .collect();
    let mut w = PdfWriter::new();
    write_doc(&mut w, &encrypted, None);
    w.obj(
        5,
        format!(
            "<< /Filter /Standard /V 2 /R 3 /Length 128 /P {} /O <{}> /U <{}> >>",
            rc4_writer::P,
            rc4_writer::hex(&o),
            rc4_writer::hex(&u)
        ),
    );
    let id = rc4_writer::hex(&rc4_writer::ID0);
    w.finish(1, &format!("/Encrypt 5 0 R /ID [<{id}> <{id}>]"))
}

#[test]
fn encrypted_with_a_wrong_password() {
    let data = encrypted_doc();
    let mut right = opts();
    right.password = "secret".to_owned();
    let doc = extract_ok(data.clone(), right);
    // The fixture really is encrypted and readable with its password.
    assert!(doc.metadata.encrypted);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_intact(&doc, 1, "BRAVO");
    let mut wrong = opts();
    wrong.password = "guess".to_owned();
    extract_err(data.clone(), wrong, Code::Encrypted);
    extract_err(data, opts(), Code::Encrypted);
}

// ------------------------------------------------------------------ a bad page fails alone

#[test]
fn garbage_content_fails_only_its_page() {
    let garbage = b"]]]] >> } { ] >> 0.0.0.0 ]\xff\xfe\x00 }} >>\n".to_vec();
    let pages = [
        PageSpec::text("ALPHA"),
        PageSpec::content(garbage),
        PageSpec::text("CHARLIE"),
    ];
    let doc = extract_ok(doc(&pages), opts());
    assert_eq!(doc.pages.len(), 3);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_has(&doc, 1, Code::ContentMalformed, Severity::Warning);
    assert!(page_text(&doc.pages[1]).trim().is_empty());
    assert_page_intact(&doc, 2, "CHARLIE");
}

#[test]
fn corrupt_flate_content_fails_only_its_page() {
    let mut broken = PageSpec::content(Noise::new(3).bytes(200));
    broken.stream_extra = "/Filter /FlateDecode".to_owned();
    let pages = [PageSpec::text("ALPHA"), broken, PageSpec::text("CHARLIE")];
    let doc = extract_ok(doc(&pages), opts());
    assert_eq!(doc.pages.len(), 3);
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_has(&doc, 1, Code::StreamDamaged, Severity::Warning);
    assert_page_intact(&doc, 2, "CHARLIE");
}

#[test]
fn unknown_filter_fails_only_its_page() {
    let mut odd = PageSpec::text("BRAVO");
    odd.stream_extra = "/Filter /NoSuchDecode".to_owned();
    let pages = [PageSpec::text("ALPHA"), odd, PageSpec::text("CHARLIE")];
    let doc = extract_ok(doc(&pages), opts());
    assert_page_intact(&doc, 0, "ALPHA");
    assert_page_has(&doc, 1, Code::StreamDamaged, Severity::Warning);
    assert_page_intact(&doc, 2, "CHARLIE");
}
