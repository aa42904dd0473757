//! Running headers/footers and the text and Markdown renderings.

mod common;

use common::PageBuilder;
use ndf_layout::{LayoutOptions, MarkdownRenderer, RunningTextMarker, layout_page, render_text};
use ndf_model::{BlockRole, Page};

fn page_with_running_text(n: u32, header: bool) -> Page {
    let mut b = PageBuilder::new(n);
    if header {
        b.text("Annual Report 2024 - Chapter 3", 72.0, 40.0, 9.0);
    }
    b.text(
        &format!("Body text of page {n} that changes"),
        72.0,
        300.0 + n as f32 * 3.0,
        10.0,
    );
    b.text(&format!("{}", n + 10), 300.0, 760.0, 9.0);
    layout_page(&b.build(), &LayoutOptions::default())
}

fn roles(p: &Page) -> Vec<(String, BlockRole)> {
    p.blocks
        .iter()
        .map(|b| {
            (
                b.lines[0]
                    .spans
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<String>(),
                b.role,
            )
        })
        .collect()
}

#[test]
fn running_headers_and_page_numbers_are_marked() {
    let mut m = RunningTextMarker::new(2);
    let mut out = Vec::new();
    for n in 1..=5 {
        let done = m.push(page_with_running_text(n, true));
        // Pages come back at most `window` pages late, in order.
        assert!(out.len() + done.len() + 2 >= n as usize);
        out.extend(done);
    }
    out.extend(m.finish());
    assert_eq!(
        out.iter().map(|p| p.number).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    for p in &out {
        let r = roles(p);
        assert!(
            r.contains(&("Annual Report 2024 - Chapter 3".into(), BlockRole::Header)),
            "{r:?}"
        );
        assert!(
            r.contains(&(format!("{}", p.number + 10), BlockRole::Footer)),
            "{r:?}"
        );
        assert!(
            r.iter()
                .any(|(t, role)| t.starts_with("Body text") && *role == BlockRole::Body),
            "{r:?}"
        );
    }
}

#[test]
fn a_single_page_keeps_its_body_roles() {
    let mut m = RunningTextMarker::new(3);
    assert!(m.push(page_with_running_text(1, true)).is_empty());
    let out = m.finish();
    assert_eq!(out.len(), 1);
    // Nothing repeats: the header is body text; "11" is not page 1.
    assert!(out[0].blocks.iter().all(|b| b.role == BlockRole::Body));

    // A lone number equal to the page number is a footer even alone.
    let mut b = PageBuilder::new(7);
    b.text("Some body", 72.0, 300.0, 10.0);
    b.text("7", 300.0, 760.0, 9.0);
    let mut m = RunningTextMarker::new(0);
    let out = m.push(layout_page(&b.build(), &LayoutOptions::default()));
    assert_eq!(out.len(), 1);
    assert_eq!(roles(&out[0])[1], ("7".to_string(), BlockRole::Footer));
}

#[test]
fn roman_page_numbers_follow_the_sequence() {
    let mut m = RunningTextMarker::new(1);
    let mut out = Vec::new();
    for (n, r) in [(5u32, "i"), (6, "ii"), (7, "iii")] {
        let mut b = PageBuilder::new(n);
        b.text(
            &format!("Front matter text {n}"),
            72.0,
            300.0 + n as f32 * 9.0,
            10.0,
        );
        b.text(r, 300.0, 760.0, 9.0);
        out.extend(m.push(layout_page(&b.build(), &LayoutOptions::default())));
    }
    out.extend(m.finish());
    for p in &out {
        assert_eq!(p.blocks[1].role, BlockRole::Footer, "{:?}", roles(p));
        assert_eq!(p.blocks[0].role, BlockRole::Body);
    }
}

#[test]
fn window_zero_passes_pages_through() {
    let mut m = RunningTextMarker::new(0);
    for n in 1..=3 {
        let out = m.push(page_with_running_text(n, false));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].number, n);
    }
    assert!(m.finish().is_empty());
}

#[test]
fn text_rendering_includes_running_text_and_form_feeds() {
    let mut m = RunningTextMarker::new(1);
    let mut pages = Vec::new();
    for n in 1..=2 {
        pages.extend(m.push(page_with_running_text(n, true)));
    }
    pages.extend(m.finish());
    let mut s = String::new();
    for p in &pages {
        render_text(p, &mut s);
    }
    assert_eq!(
        s,
        "Annual Report 2024 - Chapter 3\n\nBody text of page 1 that changes\n\n11\n\x0c\
         Annual Report 2024 - Chapter 3\n\nBody text of page 2 that changes\n\n12\n\x0c"
    );
}

#[test]
fn markdown_headings_lists_paragraphs() {
    let mut b = PageBuilder::new(1);
    b.text("Running head", 72.0, 40.0, 9.0);
    b.text("Big Title", 72.0, 100.0, 24.0);
    b.text("Section one", 72.0, 140.0, 16.0);
    b.text("This is a para-", 72.0, 170.0, 10.0);
    b.text("graph with *stars* and", 72.0, 182.0, 10.0);
    b.text("two lines.", 72.0, 194.0, 10.0);
    b.text("• first item", 72.0, 230.0, 10.0);
    b.text("• second item that", 72.0, 242.0, 10.0);
    b.text("wraps", 84.0, 254.0, 10.0);
    b.text("2. numbered", 72.0, 290.0, 10.0);
    b.text("3. next", 72.0, 302.0, 10.0);
    b.font = 1;
    b.text("Bold Label", 72.0, 340.0, 10.0);
    b.font = 0;
    b.text("# not a heading and more body text here", 72.0, 370.0, 10.0);
    let mut page = layout_page(&b.build(), &LayoutOptions::default());
    page.blocks[0].role = BlockRole::Header;
    let mut md = MarkdownRenderer::new();
    let mut s = String::new();
    md.render_page(&page, &mut s);
    assert_eq!(
        s,
        "# Big Title\n\n## Section one\n\nThis is a paragraph with \\*stars\\* and two lines.\n\n\
         - first item\n- second item that wraps\n\n2. numbered\n3. next\n\n### Bold Label\n\n\
         \\# not a heading and more body text here\n\n"
    );
}

#[test]
fn markdown_body_size_accumulates_over_pages() {
    // Page 1 is all 14 pt; page 2 has much 10 pt text: 14 pt becomes a heading size.
    let mut md = MarkdownRenderer::new();
    let mut b = PageBuilder::new(1);
    b.text("Only line", 72.0, 100.0, 14.0);
    let mut s = String::new();
    md.render_page(&layout_page(&b.build(), &LayoutOptions::default()), &mut s);
    assert_eq!(s, "Only line\n\n");
    let mut b = PageBuilder::new(2);
    b.text("Heading", 72.0, 100.0, 14.0);
    for i in 0..5 {
        b.text(
            "plenty of ordinary body text on this line",
            72.0,
            130.0 + 12.0 * i as f32,
            10.0,
        );
    }
    let mut s = String::new();
    md.render_page(&layout_page(&b.build(), &LayoutOptions::default()), &mut s);
    assert!(s.starts_with("# Heading\n\n"), "{s}");
}
