//! `/BrotliDecode` end to end (the PDF Association's extension for PDF 2.0): content streams
//! compressed with Brotli give their text, with predictors and in filter chains, under the same
//! limits as Flate. Fixtures are generated here (ndf-testkit's writer and Brotli compressor).

mod common;

use common::*;
use ndf_extract::{Code, Options, Severity};

fn opts() -> Options {
    options(5_000)
}

fn brotli_page(content: &[u8]) -> PageSpec {
    PageSpec {
        stream_extra: "/Filter /BrotliDecode".to_owned(),
        ..PageSpec::content(brotli(content))
    }
}

#[test]
fn brotli_content_stream_gives_its_text() {
    let data = doc(&[
        brotli_page(&text_content("BROTLI ENCODED TEXT")),
        PageSpec::flate(&text_content("FLATE ENCODED TEXT")),
    ]);
    let doc = extract_ok(data, opts());
    assert_page_intact(&doc, 0, "BROTLI ENCODED TEXT");
    assert_page_intact(&doc, 1, "FLATE ENCODED TEXT");
    assert!(all_codes(&doc).is_empty(), "{:?}", all_codes(&doc));
}

#[test]
fn brotli_in_a_filter_chain_and_with_a_png_predictor() {
    // ASCIIHex over Brotli.
    let hex: String = brotli(&text_content("CHAINED"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let chained = PageSpec {
        stream_extra: "/Filter [/ASCIIHexDecode /BrotliDecode]".to_owned(),
        ..PageSpec::content(format!("{hex}>").into_bytes())
    };
    // PNG "Up" predictor (tag 2) with rows of 8 bytes: each row minus the row above.
    let content = text_content("PREDICTED");
    let mut rows = content.clone();
    rows.resize(content.len().div_ceil(8) * 8, b' ');
    let mut pre = Vec::new();
    for (i, row) in rows.chunks(8).enumerate() {
        pre.push(2);
        for (j, &b) in row.iter().enumerate() {
            let up = if i == 0 { 0 } else { rows[(i - 1) * 8 + j] };
            pre.push(b.wrapping_sub(up));
        }
    }
    let predicted = PageSpec {
        stream_extra: "/Filter /BrotliDecode /DecodeParms << /Predictor 12 /Columns 8 >>"
            .to_owned(),
        ..PageSpec::content(brotli(&pre))
    };
    let doc = extract_ok(doc(&[chained, predicted]), opts());
    assert_page_intact(&doc, 0, "CHAINED");
    assert_page_intact(&doc, 1, "PREDICTED");
}

#[test]
fn brotli_bomb_fails_its_page_only() {
    // 1 GiB of spaces in a few KB: stopped at max_stream_bytes (64 MiB), that page alone.
    let bomb = PageSpec {
        stream_extra: "/Filter /BrotliDecode".to_owned(),
        ..PageSpec::content(brotli_repeat(b' ', 1 << 30))
    };
    let doc = extract_ok(doc(&[bomb, PageSpec::text("BRAVO")]), opts());
    assert!(
        doc.pages[0]
            .diagnostics
            .iter()
            .any(|d| d.code == Code::StreamTooLarge && d.severity == Severity::Error),
        "{:?}",
        doc.pages[0].diagnostics
    );
    assert_page_intact(&doc, 1, "BRAVO");
    assert_no_deadline(&doc);
}

#[test]
fn truncated_brotli_keeps_the_readable_text() {
    let mut content = text_content("FIRST LINE");
    for i in 0..200 {
        content
            .extend_from_slice(format!("BT /F1 12 Tf 72 {} Td (L{i}) Tj ET\n", 700 - i).as_bytes());
    }
    let mut enc = brotli(&content);
    enc.truncate(enc.len() * 3 / 4);
    let page = PageSpec {
        stream_extra: "/Filter /BrotliDecode".to_owned(),
        ..PageSpec::content(enc)
    };
    let doc = extract_ok(doc(&[page]), opts());
    assert!(page_text(&doc.pages[0]).contains("FIRST LINE"));
    assert!(page_codes(&doc.pages[0]).contains(&Code::StreamDamaged));
}
