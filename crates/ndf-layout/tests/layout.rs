//! Behaviour of the layout on small synthetic pages.

mod common;

use common::{PageBuilder, lines, page_text};
use ndf_layout::{LayoutOptions, layout_page, render_text};
use ndf_model::{CharFlags, Rect, TextChar, WritingDirection};

fn layout(b: PageBuilder) -> ndf_model::Page {
    layout_page(&b.build(), &LayoutOptions::default())
}

#[test]
fn one_line_with_space_glyphs() {
    let mut b = PageBuilder::new(1);
    b.text("Hello world", 72.0, 100.0, 10.0);
    let p = layout(b);
    assert_eq!(lines(&p), vec!["Hello world"]);
    assert_eq!(p.blocks[0].lines[0].dir, WritingDirection::Ltr);
    assert_eq!(p.blocks[0].lines[0].spans[0].font, "Body");
}

#[test]
fn word_gaps_without_space_glyphs() {
    // Gaps of 0.3 em are word spaces; 0.02 em (kerning) is not.
    let mut b = PageBuilder::new(1);
    b.words_with_gap(&["alpha", "beta", "gamma"], 72.0, 100.0, 10.0, 0.3);
    b.words_with_gap(&["ke", "rned"], 72.0, 120.0, 10.0, 0.02);
    let p = layout(b);
    assert_eq!(lines(&p), vec!["alpha beta gamma", "kerned"]);
}

#[test]
fn letter_spaced_heading_keeps_words() {
    // Every letter drawn separately 0.2 em apart; words 0.6 em apart.
    let mut b = PageBuilder::new(1);
    let mut x = 72.0;
    for (i, w) in ["TITLE", "PAGE"].iter().enumerate() {
        if i > 0 {
            x += 0.4 * 12.0;
        }
        for ch in w.chars() {
            x = b.text(&ch.to_string(), x, 100.0, 12.0) + 0.2 * 12.0;
        }
    }
    let p = layout(b);
    assert_eq!(lines(&p), vec!["TITLE PAGE"]);
}

#[test]
fn section_numbers_and_bullets_stay_with_their_text() {
    let mut b = PageBuilder::new(1);
    // "1." then a 1.5 em gap before the title; a bullet 2 em before its item.
    let x = b.text("1.", 72.0, 100.0, 12.0);
    b.text("INTRODUCTION", x + 18.0, 100.0, 12.0);
    let x = b.text("•", 72.0, 130.0, 10.0);
    b.text("first point of the list", x + 20.0, 130.0, 10.0);
    // A plain short word followed by a distant word is not joined.
    let x = b.text("it", 72.0, 160.0, 10.0);
    b.text("elsewhere", x + 20.0, 160.0, 10.0);
    let l = lines(&layout(b));
    assert!(l.contains(&"1. INTRODUCTION".to_string()), "{l:?}");
    assert!(
        l.contains(&"• first point of the list".to_string()),
        "{l:?}"
    );
    assert!(!l.iter().any(|x| x.starts_with("it ")), "{l:?}");
}

#[test]
fn two_columns_read_column_by_column() {
    let mut b = PageBuilder::new(1);
    b.adv_em = 0.45;
    for i in 0..6 {
        let y = 100.0 + 12.0 * i as f32;
        b.text(
            &format!("left column line {i} with a few more words"),
            72.0,
            y,
            10.0,
        );
        b.text(
            &format!("right column line {i} with a few more words"),
            320.0,
            y,
            10.0,
        );
    }
    // A full-width title above both columns.
    b.text("A title across the page", 150.0, 70.0, 14.0);
    let p = layout(b);
    let l = lines(&p);
    assert_eq!(l[0], "A title across the page");
    let left: Vec<_> = (0..6)
        .map(|i| format!("left column line {i} with a few more words"))
        .collect();
    let right: Vec<_> = (0..6)
        .map(|i| format!("right column line {i} with a few more words"))
        .collect();
    assert_eq!(&l[1..7], &left[..]);
    assert_eq!(&l[7..13], &right[..]);
}

#[test]
fn aligned_paragraph_gaps_do_not_interleave_columns() {
    let mut b = PageBuilder::new(1);
    b.adv_em = 0.45;
    let mut y = 100.0;
    for para in 0..2 {
        for i in 0..3 {
            b.text(
                &format!("left p{para} l{i} and some words to fill"),
                72.0,
                y,
                10.0,
            );
            b.text(
                &format!("right p{para} l{i} and some words to fill"),
                320.0,
                y,
                10.0,
            );
            y += 12.0;
        }
        y += 14.0; // paragraph gap at the same height in both columns
    }
    b.text(
        "a footer note spanning the whole width of the page, under both columns",
        72.0,
        400.0,
        10.0,
    );
    let p = layout(b);
    let l = lines(&p);
    let first_right = l.iter().position(|s| s.starts_with("right")).unwrap();
    assert!(
        l[..first_right].iter().all(|s| s.starts_with("left")),
        "{l:?}"
    );
    assert_eq!(
        l[first_right..first_right + 6]
            .iter()
            .filter(|s| s.starts_with("right"))
            .count(),
        6,
        "{l:?}"
    );
    assert_eq!(
        l.last().unwrap(),
        "a footer note spanning the whole width of the page, under both columns"
    );
}

#[test]
fn table_rows_stay_in_row_order() {
    let mut b = PageBuilder::new(1);
    for r in 0..4 {
        let y = 100.0 + 14.0 * r as f32;
        b.text(&format!("name{r}"), 72.0, y, 10.0);
        b.text(&format!("{r}0"), 250.0, y, 10.0);
        b.text(&format!("city{r}"), 400.0, y, 10.0);
    }
    let p = layout(b);
    let text = page_text(&p)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        text,
        "name0 00 city0 name1 10 city1 name2 20 city2 name3 30 city3"
    );
}

#[test]
fn hyphenated_paragraph_joins_words() {
    let mut b = PageBuilder::new(1);
    b.text("This is an exam-", 72.0, 100.0, 10.0);
    b.text("ple of a para-", 72.0, 112.0, 10.0);
    b.text("Graph and more", 72.0, 124.0, 10.0);
    let p = layout(b);
    assert_eq!(p.blocks.len(), 1);
    let ls = &p.blocks[0].lines;
    assert!(ls[0].hyphenated);
    assert!(!ls[1].hyphenated, "next line starts upper-case");
    let mut s = String::new();
    render_text(&p, &mut s);
    assert_eq!(s, "This is an example of a para-\nGraph and more\n\x0c");

    let mut b = PageBuilder::new(1);
    b.text("exam-", 72.0, 100.0, 10.0);
    b.text("ple", 72.0, 112.0, 10.0);
    let p = layout_page(&b.build(), &LayoutOptions { dehyphenate: false });
    assert!(!p.blocks[0].lines[0].hyphenated);
}

#[test]
fn soft_hyphen_is_removed_when_joining() {
    let mut b = PageBuilder::new(1);
    b.text("hyphen\u{AD}", 72.0, 100.0, 10.0);
    b.text("ation works", 72.0, 112.0, 10.0);
    let mut s = String::new();
    render_text(&layout(b), &mut s);
    assert_eq!(s, "hyphenation works\n\x0c");
}

#[test]
fn superscripts_and_subscripts_stay_in_their_line() {
    let mut b = PageBuilder::new(1);
    let x = b.text("E = mc", 72.0, 100.0, 10.0);
    let x = b.text("2", x, 96.5, 6.0);
    let x = b.text(" and H", x, 100.0, 10.0);
    let x = b.text("2", x, 102.0, 6.0);
    b.text("O here", x, 100.0, 10.0);
    // The next line, 12 pt below.
    b.text("second line", 72.0, 112.0, 10.0);
    let p = layout(b);
    let l = lines(&p);
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(l[0].starts_with("E = mc2 and H"), "{l:?}");
    assert_eq!(l[1], "second line");
}

#[test]
fn rotated_text_forms_lines_along_its_direction() {
    let mut b = PageBuilder::new(1);
    b.text("Horizontal body text", 72.0, 100.0, 10.0);
    // Rotated 90 degrees clockwise (reading downwards), two lines stacked right to left.
    b.text_dir("Down the page", 500.0, 200.0, 10.0, (0.0, 1.0));
    b.text_dir("second rotated", 488.0, 200.0, 10.0, (0.0, 1.0));
    // Upside down.
    b.text_dir("upside down", 300.0, 700.0, 10.0, (-1.0, 0.0));
    // 30 degrees counter-clockwise.
    let (c, s) = (30f32.to_radians().cos(), -(30f32.to_radians().sin()));
    b.text_dir("slanted words", 100.0, 600.0, 10.0, (c, s));
    let p = layout(b);
    let l = lines(&p);
    for want in [
        "Horizontal body text",
        "Down the page",
        "second rotated",
        "upside down",
        "slanted words",
    ] {
        assert!(l.iter().any(|x| x == want), "{want} not in {l:?}");
    }
    let down = l.iter().position(|x| x == "Down the page").unwrap();
    assert_eq!(l[down + 1], "second rotated");
    let slanted = p
        .blocks
        .iter()
        .flat_map(|b| &b.lines)
        .find(|l| l.spans[0].text.starts_with("slanted"))
        .unwrap();
    assert!((slanted.angle - 30.0).abs() < 0.6, "{}", slanted.angle);
}

#[test]
fn rtl_text_comes_out_in_logical_order() {
    // Hebrew "שלום עולם 2024" drawn in visual order, left to right: "2024 םלוע םולש".
    let mut b = PageBuilder::new(1);
    b.text("2024 םלוע םולש", 72.0, 100.0, 10.0);
    let p = layout(b);
    assert_eq!(lines(&p), vec!["שלום עולם 2024"]);
    assert_eq!(p.blocks[0].lines[0].dir, WritingDirection::Rtl);

    // The same drawn right to left glyph by glyph (decreasing x), as some producers do.
    let mut b = PageBuilder::new(1);
    let mut x = 300.0;
    for ch in "שלום עולם".chars() {
        let adv = if ch == ' ' { 2.5 } else { 5.0 };
        x -= adv;
        b.glyph(&ch.to_string(), x, 100.0, 10.0, (1.0, 0.0), adv);
    }
    assert_eq!(lines(&layout(b)), vec!["שלום עולם"]);

    // Latin inside an RTL line and Hebrew inside a Latin line keep their own order.
    let mut b = PageBuilder::new(1);
    b.text("PDF םע הדובע", 72.0, 100.0, 10.0);
    b.text("the word םולש means peace", 72.0, 130.0, 10.0);
    let p = layout(b);
    assert_eq!(lines(&p), vec!["עבודה עם PDF", "the word שלום means peace"]);
    assert_eq!(p.blocks[1].lines[0].dir, WritingDirection::Ltr);
}

#[test]
fn vertical_cjk_reads_top_to_bottom_right_to_left() {
    let mut b = PageBuilder::new(1);
    b.flags = CharFlags::VERTICAL;
    b.text_dir("縦書きの", 400.0, 100.0, 12.0, (1.0, 0.0));
    b.text_dir("文章です", 384.0, 100.0, 12.0, (1.0, 0.0));
    let p = layout(b);
    assert_eq!(lines(&p), vec!["縦書きの", "文章です"]);
    assert!(
        p.blocks
            .iter()
            .flat_map(|b| &b.lines)
            .all(|l| l.dir == WritingDirection::Ttb)
    );
}

#[test]
fn fake_bold_duplicates_are_dropped() {
    let mut b = PageBuilder::new(1);
    // Each glyph drawn twice, 0.3 pt apart (char by char), then a whole word drawn twice.
    let mut x = 72.0;
    for ch in "Bold".chars() {
        let s = ch.to_string();
        b.glyph(&s, x, 100.0, 10.0, (1.0, 0.0), 5.0);
        b.glyph(&s, x + 0.3, 100.0, 10.0, (1.0, 0.0), 5.0);
        x += 5.0;
    }
    b.text(" shadow", x, 100.0, 10.0);
    b.text(" shadow", x + 0.5, 100.4, 10.0);
    let p = layout(b);
    assert_eq!(lines(&p), vec!["Bold shadow"]);
}

#[test]
fn repeated_letters_are_not_duplicates() {
    let mut b = PageBuilder::new(1);
    b.adv_em = 0.28;
    b.text("iiii llll", 72.0, 100.0, 10.0);
    assert_eq!(lines(&layout(b)), vec!["iiii llll"]);
}

#[test]
fn invisible_text_is_kept_and_marked_clipped_dropped() {
    let mut b = PageBuilder::new(1);
    b.flags = CharFlags::INVISIBLE;
    b.text("ocr layer", 72.0, 100.0, 10.0);
    b.flags = CharFlags::CLIPPED;
    b.text("outside", 72.0, 200.0, 10.0);
    let p = layout(b);
    assert_eq!(lines(&p), vec!["ocr layer"]);
    assert!(p.blocks[0].lines[0].spans.iter().all(|s| s.invisible));
}

#[test]
fn spans_split_on_font_and_carry_spaces() {
    let mut b = PageBuilder::new(1);
    let x = b.text("plain ", 72.0, 100.0, 10.0);
    b.font = 1;
    let x = b.text("bold", x, 100.0, 10.0);
    b.font = 0;
    b.text(" again", x, 100.0, 10.0);
    let p = layout(b);
    let spans = &p.blocks[0].lines[0].spans;
    let texts: Vec<_> = spans.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, vec!["plain ", "bold ", "again"]);
    assert!(spans[1].bold && !spans[0].bold);
    assert_eq!(spans[1].font, "Bold");
    let l = &p.blocks[0].lines[0];
    assert!(l.bbox.x0 <= 72.0 && l.bbox.x1 >= 72.0 + 16.0 * 5.0 - 5.0);
}

#[test]
fn paragraphs_and_blocks_are_separated_in_text() {
    let mut b = PageBuilder::new(3);
    b.text("Heading", 72.0, 80.0, 18.0);
    b.text("first line of body", 72.0, 110.0, 10.0);
    b.text("second line of body", 72.0, 122.0, 10.0);
    let p = layout(b);
    let mut s = String::new();
    render_text(&p, &mut s);
    assert_eq!(
        s,
        "Heading\n\nfirst line of body\nsecond line of body\n\x0c"
    );
    assert_eq!(p.number, 3);
}

fn bad_char(origin: (f32, f32), size: f32, dir: (f32, f32), bbox: Rect) -> TextChar {
    TextChar {
        text_start: 0,
        text_len: 0,
        font: 99,
        bbox,
        origin,
        advance: f32::NAN,
        size,
        dir,
        flags: CharFlags(!32),
        mcid: Some(7),
    }
}

#[test]
fn pathological_coordinates_do_not_panic() {
    let mut b = PageBuilder::new(1);
    b.text("good text", 72.0, 100.0, 10.0);
    let r = Rect {
        x0: 0.0,
        y0: 0.0,
        x1: 1.0,
        y1: 1.0,
    };
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let cases = [
        bad_char((nan, 100.0), 10.0, (1.0, 0.0), r),
        bad_char((100.0, inf), 10.0, (1.0, 0.0), r),
        bad_char((1e30, -1e30), 10.0, (1.0, 0.0), r),
        bad_char(
            (100.0, 100.0),
            nan,
            (nan, nan),
            Rect {
                x0: nan,
                y0: inf,
                x1: -inf,
                y1: 0.0,
            },
        ),
        bad_char((100.0, 100.0), 1e38, (0.0, 0.0), r),
        bad_char((100.0, 100.0), -5.0, (1e-30, 0.0), r),
        bad_char(
            (100.0, 300.0),
            0.0,
            (1.0, 0.0),
            Rect {
                x0: 100.0,
                y0: 290.0,
                x1: 105.0,
                y1: 300.0,
            },
        ),
    ];
    for c in cases {
        b.page.push_char("x", c);
    }
    b.page
        .push_char("", bad_char((5.0, 5.0), 10.0, (1.0, 0.0), r));
    b.page
        .push_char("\0", bad_char((5.0, 5.0), 10.0, (1.0, 0.0), r));
    b.page.width = nan;
    let p = layout(b);
    let text = page_text(&p);
    assert!(text.contains("good text"), "{text}");
    assert_eq!(p.width, 0.0);
    let mut s = String::new();
    render_text(&p, &mut s);
    assert!(serde_json::to_string(&p).is_ok());
}

/// Its time is measured by the `stacked_and_spread` benchmark (benches/layout.rs); here only
/// that the layout completes with blocks (a quadratic regression shows as a test that runs for
/// minutes and in the benchmark, never as a flaky wall-clock assertion).
#[test]
fn many_lines_at_one_baseline_and_stacked_chars_stay_bounded() {
    // 20,000 glyphs on one spot and 20,000 one-glyph columns.
    let mut b = PageBuilder::new(1);
    for i in 0..20_000 {
        b.glyph(
            if i % 2 == 0 { "a" } else { "b" },
            100.0,
            100.0,
            10.0,
            (1.0, 0.0),
            5.0,
        );
    }
    for i in 0..20_000 {
        b.glyph(
            "c",
            10.0 * i as f32,
            300.0 + (i % 7) as f32 * 0.01,
            10.0,
            (1.0, 0.0),
            5.0,
        );
    }
    let p = layout(b);
    assert!(!p.blocks.is_empty());
}

/// Every word of a 200,000-character page comes out; its time is measured by the `large_page`
/// benchmark (benches/layout.rs), not asserted here.
#[test]
fn large_page_keeps_every_word() {
    // 200,000 characters in two columns of 40-character lines.
    let mut b = PageBuilder::new(1);
    b.adv_em = 0.05;
    let line = "abcdefghij klmnopqrst uvwxyzabcd efghijklm";
    for i in 0..2_500 {
        let y = 10.0 + 0.3 * i as f32;
        b.text(line, 10.0, y, 0.25);
        b.text(line, 20.0, y, 0.25);
    }
    let n = b.page.chars.len();
    let p = layout(b);
    let words: usize = lines(&p).iter().map(|l| l.split_whitespace().count()).sum();
    assert_eq!(words, 2 * 2_500 * 4, "{n} chars");
}
