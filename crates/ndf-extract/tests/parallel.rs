//! `Options::parallel_pages`: a helper thread opens the document a second time and extracts
//! pages ahead of the consumer. Output must be the one of a single thread, a failing page must
//! still fail alone, a document-wide limit must hold for both threads together, and a consumer
//! that stops early must not wait for the rest of the document. Every case runs under
//! `common::extract_bounded` or its own timeout, so a hang fails the test instead of blocking.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use ndf_extract::{Code, Extraction, Options, PARALLEL_MIN_PAGES, PageSelection};

fn serial() -> Options {
    options(30_000)
}

fn parallel() -> Options {
    Options {
        parallel_pages: true,
        ..serial()
    }
}

fn numbered_pages(n: usize) -> Vec<PageSpec> {
    (0..n)
        .map(|i| PageSpec::flate(&text_content(&format!("page number {}", i + 1))))
        .collect()
}

#[test]
fn many_pages_come_out_as_with_one_thread() {
    let data = doc(&numbered_pages(60));
    let one = extract_ok(data.clone(), serial());
    let two = extract_ok(data, parallel());
    assert_eq!(one, two);
    assert_eq!(two.pages.len(), 60);
    for (i, page) in two.pages.iter().enumerate() {
        assert_eq!(page.number as usize, i + 1, "pages out of order");
    }
    let text = ndf_extract::document_text(&two);
    assert!(text.contains("page number 1\n"));
    assert!(text.contains("page number 60\n"));
}

#[test]
fn a_page_selection_is_honoured() {
    let data = doc(&numbered_pages(40));
    let selection = || Some(PageSelection::parse("3-9,20,31-").expect("selection"));
    let one = extract_ok(
        data.clone(),
        Options {
            pages: selection(),
            ..serial()
        },
    );
    let two = extract_ok(
        data,
        Options {
            pages: selection(),
            ..parallel()
        },
    );
    assert_eq!(one, two);
    let numbers: Vec<u32> = two.pages.iter().map(|p| p.number).collect();
    let expected: Vec<u32> = (3..=9).chain([20]).chain(31..=40).collect();
    assert_eq!(numbers, expected);
}

#[test]
fn a_short_document_stays_on_one_thread_and_is_unchanged() {
    let data = doc(&numbered_pages(PARALLEL_MIN_PAGES - 1));
    assert_eq!(
        extract_ok(data.clone(), serial()),
        extract_ok(data, parallel())
    );
}

#[test]
fn a_malformed_page_fails_alone_whichever_thread_takes_it() {
    let mut pages = numbered_pages(30);
    // An operand stack overflow and an unterminated array on two pages.
    pages[4] = PageSpec::content(b"BT /F1 12 Tf 72 720 Td (five) Tj ET [[[[[[[[".to_vec());
    pages[17] = PageSpec::content(
        format!(
            "BT /F1 12 Tf {} 72 720 Td (eighteen) Tj ET",
            "1 ".repeat(200_000)
        )
        .into_bytes(),
    );
    // A content stream that does not decode.
    pages[23].stream_extra = "/Filter /FlateDecode".to_owned();
    pages[23].content = b"not flate at all".to_vec();
    let data = doc(&pages);
    let one = extract_ok(data.clone(), serial());
    let two = extract_ok(data, parallel());
    assert_eq!(one, two);
    assert_eq!(two.pages.len(), 30);
    let text = ndf_extract::document_text(&two);
    for n in [1, 4, 6, 17, 19, 23, 25, 30] {
        assert!(
            text.contains(&format!("page number {n}\n")),
            "page {n} lost its text"
        );
    }
    assert!(
        !two.pages[23].diagnostics.is_empty(),
        "the undecodable page should say so"
    );
}

#[test]
fn the_document_byte_limit_counts_both_threads() {
    // Each page decodes 200 KB; the document may decode 2 MB in all, so at most ten pages'
    // content fits whichever thread decodes it.
    let filler = "% filler\n".repeat(200_000 / 9);
    let pages: Vec<PageSpec> = (0..40)
        .map(|i| {
            let mut content = filler.clone().into_bytes();
            content.extend(text_content(&format!("page number {}", i + 1)));
            PageSpec::flate(&content)
        })
        .collect();
    let data = doc(&pages);
    let mut limited = parallel();
    limited.limits.max_document_bytes = 2_000_000;
    let two = extract_ok(data, limited);
    assert_eq!(two.pages.len(), 40, "every page is returned, failed or not");
    let over_limit = two
        .pages
        .iter()
        .filter(|p| {
            p.diagnostics
                .iter()
                .any(|d| d.code == Code::DocumentTooLarge)
        })
        .count();
    let with_text = two.pages.iter().filter(|p| !p.blocks.is_empty()).count();
    assert!(
        with_text <= 10,
        "{with_text} pages decoded although the document's limit allows ten"
    );
    assert!(
        over_limit >= 30,
        "only {over_limit} pages report the document limit"
    );
}

#[test]
fn a_consumer_that_stops_early_does_not_wait_for_the_rest() {
    let data = doc(&numbered_pages(400));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let first = Extraction::run(&data, &parallel(), |ex| ex.next_page().map(|p| p.number));
        let _ = tx.send(first);
    });
    // The helper stops after the page it is on; generous for a loaded debug build.
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(first) => assert_eq!(first.expect("opens"), Some(1)),
        Err(e) => panic!("the extraction did not come back after one page: {e}"),
    }
}

#[test]
fn a_document_that_fails_to_open_fails_the_same_way() {
    let data = b"%PDF-1.7\nnothing else".to_vec();
    let one = extract_bounded(data.clone(), serial()).map(|_| ());
    let two = extract_bounded(data, parallel()).map(|_| ());
    assert_eq!(one, two);
    assert!(two.is_err());
}
