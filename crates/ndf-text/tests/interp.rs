//! The content interpreter, operator by operator, against positions computed by hand.
//!
//! Every page is 612 × 792 points (unless cropped or rotated); the visible page has a top-left
//! origin, so a baseline at user-space y = 700 lands at page y = 92. Font `/F1` is a simple
//! font whose every glyph is 500/1000 em wide (so 5 points at size 10) with the default
//! ascent 0.8 and descent -0.2 em; the values compared below are exact in binary floating
//! point, so they are compared exactly. Fixtures are generated with ndf-testkit's writer.

use ndf_model::{CharFlags, Code, Limits, Rect, Severity, TextChar, TextPage};
use ndf_pdf::{Bump, OpenOptions, Pdf};
use ndf_testkit::{PageSpec, PdfWriter, write_doc_with_font};
use ndf_text::{FontCache, PageOptions, extract_page};

/// `/F1`: glyphs 32..=126 all 500 units wide, WinAnsi encoding, no descriptor.
fn test_font() -> String {
    format!(
        "<< /Type /Font /Subtype /Type1 /BaseFont /TestSans /FirstChar 32 /LastChar 126 /Widths [{}] /Encoding /WinAnsiEncoding >>",
        "500 ".repeat(95)
    )
}

/// Resources with `/F1` and the given extra entries.
fn resources(extra: &str) -> String {
    format!("<< /Font << /F1 3 0 R >> {extra} >>")
}

fn page(content: &str) -> PageSpec {
    PageSpec {
        resources: resources(""),
        ..PageSpec::content(content.as_bytes().to_vec())
    }
}

/// A document of `pages` (objects 1–3 and 10.., see ndf-testkit) plus the objects `extra`
/// writes (numbers 4–9 and 100 and up are free).
fn document(pages: &[PageSpec], extra: impl FnOnce(&mut PdfWriter)) -> Vec<u8> {
    let mut w = PdfWriter::new();
    write_doc_with_font(&mut w, pages, None, &test_font());
    extra(&mut w);
    w.finish(1, "")
}

/// Interpret every page under `limits`.
fn interpret_with(data: &[u8], limits: Limits) -> Vec<TextPage> {
    let arena = Bump::new();
    let options = OpenOptions {
        limits,
        password: String::new(),
    };
    let pdf = Pdf::open(data, &arena, &options).expect("the fixture opens");
    let mut fonts = FontCache::new();
    (0..pdf.page_count())
        .map(|i| extract_page(&pdf, i, &mut fonts, &PageOptions::default()))
        .collect()
}

fn interpret(data: &[u8]) -> Vec<TextPage> {
    interpret_with(data, Limits::default())
}

/// The single page of a one-page document with `content`.
fn one(content: &str) -> TextPage {
    interpret(&document(&[page(content)], |_| {})).remove(0)
}

fn text(p: &TextPage) -> String {
    p.chars.iter().map(|c| p.char_text(c)).collect()
}

fn origins(p: &TextPage) -> Vec<(f32, f32)> {
    p.chars.iter().map(|c| c.origin).collect()
}

fn xs(p: &TextPage) -> Vec<f32> {
    p.chars.iter().map(|c| c.origin.0).collect()
}

#[track_caller]
fn char_at<'p>(p: &'p TextPage, i: usize, expect: &str) -> &'p TextChar {
    let c = &p.chars[i];
    assert_eq!(p.char_text(c), expect, "char {i} of {:?}", text(p));
    c
}

#[track_caller]
fn has_diag(p: &TextPage, code: Code, severity: Severity) -> bool {
    p.diagnostics
        .iter()
        .any(|d| d.code == code && d.severity == severity && d.page == Some(p.number))
}

// ------------------------------------------------------------------------- text positioning

#[test]
fn td_and_tj_place_glyphs_by_their_widths() {
    let p = one("BT /F1 10 Tf 100 700 Td (AB) Tj ET");
    assert_eq!(text(&p), "AB");
    assert_eq!((p.width, p.height, p.rotation), (612.0, 792.0, 0));
    let a = char_at(&p, 0, "A");
    assert_eq!(a.origin, (100.0, 92.0));
    assert_eq!(a.advance, 5.0);
    assert_eq!(a.size, 10.0);
    assert_eq!(a.dir, (1.0, 0.0));
    // Ascent 8 above and descent 2 below the baseline, 5 wide.
    assert_eq!(
        a.bbox,
        Rect {
            x0: 100.0,
            y0: 84.0,
            x1: 105.0,
            y1: 94.0
        }
    );
    assert_eq!(a.flags, CharFlags::default());
    assert_eq!(a.mcid, None);
    assert_eq!(char_at(&p, 1, "B").origin, (105.0, 92.0));
    assert_eq!(p.fonts[usize::from(a.font)].name, "TestSans");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
}

#[test]
fn character_and_word_spacing() {
    // Tc after every glyph, Tw after the space (code 32) only; a glyph's own advance excludes
    // both.
    let p = one("BT /F1 10 Tf 2 Tc 3 Tw 100 700 Td (A B) Tj ET");
    assert_eq!(text(&p), "A B");
    assert_eq!(xs(&p), vec![100.0, 107.0, 117.0]);
    assert!(p.chars.iter().all(|c| c.advance == 5.0));
}

#[test]
fn horizontal_scaling_scales_widths_and_spacing() {
    // Tz 50: glyph width 2.5; advance (5 + Tc 1) × 0.5 = 3.
    let p = one("BT /F1 10 Tf 50 Tz 1 Tc 100 700 Td (AB) Tj ET");
    assert_eq!(xs(&p), vec![100.0, 103.0]);
    let a = char_at(&p, 0, "A");
    assert_eq!(a.advance, 2.5);
    assert_eq!((a.bbox.x0, a.bbox.x1), (100.0, 102.5));
    // The size is the em's height: unchanged by horizontal scaling.
    assert_eq!(a.size, 10.0);
}

#[test]
fn text_rise_moves_the_baseline_up() {
    let p = one("BT /F1 10 Tf 5 Ts 100 700 Td (A) Tj ET");
    let a = char_at(&p, 0, "A");
    assert_eq!(a.origin, (100.0, 87.0));
    assert_eq!(
        a.bbox,
        Rect {
            x0: 100.0,
            y0: 79.0,
            x1: 105.0,
            y1: 89.0
        }
    );
}

#[test]
fn leading_and_the_next_line_operators() {
    // T* and ' move by -TL from the start of the line; " also sets Tw and Tc; TD sets TL.
    let p = one(concat!(
        "BT /F1 10 Tf 14 TL 100 700 Td (A) Tj T* (B) Tj (C) ' 1 2 (D) \" (E F) Tj ",
        "0 -20 TD (G) Tj T* (H) Tj ET"
    ));
    assert_eq!(text(&p), "ABCDE FGH");
    assert_eq!(
        origins(&p),
        vec![
            (100.0, 92.0),
            (100.0, 106.0),
            (100.0, 120.0),
            (100.0, 134.0),
            // After D (5 + Tc 2): E; the space adds Tw 1 as well.
            (107.0, 134.0),
            (114.0, 134.0),
            (122.0, 134.0),
            // TD 0 -20 from the line start (100, 658), then T* with TL = 20.
            (100.0, 154.0),
            (100.0, 174.0),
        ]
    );
}

#[test]
fn tj_numbers_kern_in_thousandths_of_the_size() {
    // -500 moves right by 5, 250 left by 2.5.
    let p = one("BT /F1 10 Tf 100 700 Td [(A) -500 (B) 250 (C)] TJ ET");
    assert_eq!(text(&p), "ABC");
    assert_eq!(xs(&p), vec![100.0, 110.0, 112.5]);
    // Scaled by Tz: -1000 at size 10 and 50% is 5.
    let p = one("BT /F1 10 Tf 50 Tz 100 700 Td [(A) -1000 (B)] TJ ET");
    assert_eq!(xs(&p), vec![100.0, 107.5]);
}

#[test]
fn text_matrix_and_ctm_compose() {
    // Tm scales by 2 and moves to (100, 100); cm moves by (50, 50): the glyph lands at
    // (150, 150) in user space, is 10 wide and 20 tall.
    let p = one("1 0 0 1 50 50 cm BT /F1 10 Tf 2 0 0 2 100 100 Tm (AB) Tj ET");
    let a = char_at(&p, 0, "A");
    assert_eq!(a.origin, (150.0, 642.0));
    assert_eq!(a.advance, 10.0);
    assert_eq!(a.size, 20.0);
    assert_eq!(char_at(&p, 1, "B").origin, (160.0, 642.0));

    // A later cm applies before the earlier ones: (0, 0) → +10 → ×2 = (20, 20).
    let p = one("2 0 0 2 0 0 cm 1 0 0 1 10 10 cm BT /F1 10 Tf (A) Tj ET");
    assert_eq!(char_at(&p, 0, "A").origin, (20.0, 772.0));

    // Tm rotated a quarter turn counter-clockwise: the text runs up the page.
    let p = one("BT /F1 10 Tf 0 1 -1 0 300 300 Tm (AB) Tj ET");
    let a = char_at(&p, 0, "A");
    assert_eq!(a.origin, (300.0, 492.0));
    assert_eq!(a.dir, (0.0, -1.0));
    assert_eq!(a.size, 10.0);
    assert_eq!(char_at(&p, 1, "B").origin, (300.0, 487.0));

    // Td after Tm moves within the text matrix's space (scaled).
    let p = one("BT /F1 10 Tf 2 0 0 2 100 100 Tm 10 0 Td (A) Tj ET");
    assert_eq!(char_at(&p, 0, "A").origin, (120.0, 692.0));
}

// ---------------------------------------------------------------------- graphics state stack

#[test]
fn q_and_q_restore_the_ctm_and_text_state() {
    let p = one(concat!(
        "q 1 0 0 1 100 0 cm Q BT /F1 10 Tf 10 700 Td (A) Tj ET ",
        // Tc belongs to the graphics state: restored by Q.
        "BT /F1 10 Tf q 5 Tc Q 100 600 Td (BC) Tj ET"
    ));
    assert_eq!(
        origins(&p),
        vec![(10.0, 92.0), (100.0, 192.0), (105.0, 192.0)]
    );
}

#[test]
fn unbalanced_q_is_ignored() {
    let p = one("Q Q Q BT /F1 10 Tf 10 700 Td (A) Tj ET Q");
    assert_eq!(origins(&p), vec![(10.0, 92.0)]);
}

#[test]
fn saves_past_the_stack_limit_stay_balanced() {
    // 1 + 1100 saves: past the 1024 kept, the extra ones are counted, so the 1100 restores
    // bring back the state after the cm (translated by 10), and one more the identity.
    let content = format!(
        "q 1 0 0 1 10 0 cm {} {} BT /F1 10 Tf 10 700 Td (A) Tj ET Q BT /F1 10 Tf 10 600 Td (B) Tj ET",
        "q ".repeat(1100),
        "Q ".repeat(1100)
    );
    let p = one(&content);
    assert_eq!(origins(&p), vec![(20.0, 92.0), (10.0, 192.0)]);
}

// ---------------------------------------------------------------------------- Form XObjects

fn form_dict(matrix: &str, xobjects: &str) -> String {
    format!(
        "/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Matrix [{matrix}] /Resources {}",
        resources(&format!("/XObject << {xobjects} >>"))
    )
}

#[test]
fn form_xobject_applies_its_matrix_and_the_ctm_and_restores_the_state() {
    let content = "q 1 0 0 1 0 -100 cm /X1 Do Q BT /F1 10 Tf 10 700 Td (P) Tj ET";
    let mut spec = page(content);
    spec.resources = resources("/XObject << /X1 4 0 R >>");
    let data = document(&[spec], |w| {
        // The form sets Tc without q/Q: it must not leak out of the form.
        w.stream(
            4,
            &form_dict("1 0 0 1 100 0", ""),
            b"3 Tc BT /F1 10 Tf 10 700 Td (F) Tj ET",
        );
    });
    let p = interpret(&data).remove(0);
    assert_eq!(text(&p), "FP");
    // (10, 700) → form matrix (110, 700) → cm (110, 600).
    assert_eq!(origins(&p), vec![(110.0, 192.0), (10.0, 92.0)]);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
}

#[test]
fn form_xobjects_nest_at_most_max_xobject_depth() {
    // Forms 100..=119 each show one letter and draw the next: 16 levels are drawn.
    let mut spec = page("/X Do");
    spec.resources = resources("/XObject << /X 100 0 R >>");
    let data = document(&[spec], |w| {
        for k in 100..120u32 {
            let letter = char::from(b'A' + (k - 100) as u8);
            let y = 700 - (k - 100) * 10;
            w.stream(
                k,
                &form_dict("1 0 0 1 0 0", &format!("/X {} 0 R", k + 1)),
                format!("BT /F1 10 Tf 10 {y} Td ({letter}) Tj ET /X Do").as_bytes(),
            );
        }
    });
    let p = interpret(&data).remove(0);
    assert_eq!(text(&p), "ABCDEFGHIJKLMNOP");
    assert!(has_diag(&p, Code::NestingTooDeep, Severity::Warning));
    // Shallower limits cut earlier.
    let p = interpret_with(
        &data,
        Limits {
            max_xobject_depth: 3,
            ..Limits::default()
        },
    )
    .remove(0);
    assert_eq!(text(&p), "ABC");
}

#[test]
fn form_xobject_cycles_are_cut() {
    // 4 draws itself; 5 and 6 draw each other. Each is drawn once.
    let mut spec = page("/S Do /M Do");
    spec.resources = resources("/XObject << /S 4 0 R /M 5 0 R >>");
    let data = document(&[spec], |w| {
        w.stream(
            4,
            &form_dict("1 0 0 1 0 0", "/S 4 0 R"),
            b"BT /F1 10 Tf 10 700 Td (S) Tj ET /S Do",
        );
        w.stream(
            5,
            &form_dict("1 0 0 1 0 0", "/N 6 0 R"),
            b"BT /F1 10 Tf 10 600 Td (M) Tj ET /N Do",
        );
        w.stream(
            6,
            &form_dict("1 0 0 1 0 0", "/N 5 0 R"),
            b"BT /F1 10 Tf 10 500 Td (N) Tj ET /N Do",
        );
    });
    let p = interpret(&data).remove(0);
    assert_eq!(text(&p), "SMN");
    assert!(has_diag(&p, Code::ContentMalformed, Severity::Warning));
}

// --------------------------------------------------------------------------- marked content

#[test]
fn actual_text_replaces_the_glyphs_of_its_sequence() {
    let p = one(
        "/Span << /ActualText (fi) >> BDC BT /F1 10 Tf 100 700 Td (XY) Tj ET EMC BT /F1 10 Tf 100 600 Td (Z) Tj ET",
    );
    assert_eq!(text(&p), "fiZ");
    assert_eq!(p.chars.len(), 2);
    let fi = char_at(&p, 0, "fi");
    assert!(fi.flags.contains(CharFlags::ACTUAL_TEXT));
    // The replacement covers both glyphs.
    assert_eq!(fi.origin, (100.0, 92.0));
    assert_eq!(fi.advance, 10.0);
    assert_eq!((fi.bbox.x0, fi.bbox.x1), (100.0, 110.0));
    assert!(!char_at(&p, 1, "Z").flags.contains(CharFlags::ACTUAL_TEXT));

    // UTF-16BE with a byte order mark.
    let p = one("/Span << /ActualText <FEFF00660066> >> BDC BT /F1 10 Tf 100 700 Td (Q) Tj ET EMC");
    assert_eq!(text(&p), "ff");
}

#[test]
fn mcids_come_from_the_innermost_sequence_and_named_properties() {
    let mut spec = page(concat!(
        "/P << /MCID 1 >> BDC /Span << /MCID 2 >> BDC BT /F1 10 Tf 100 700 Td (A) Tj ET EMC ",
        "BT /F1 10 Tf 100 600 Td (B) Tj ET EMC ",
        "BT /F1 10 Tf 100 500 Td (C) Tj ET ",
        "/P /MC0 BDC BT /F1 10 Tf 100 400 Td (D) Tj ET EMC ",
        // Unbalanced EMCs are ignored.
        "EMC EMC BT /F1 10 Tf 100 300 Td (E) Tj ET"
    ));
    spec.resources = resources("/Properties << /MC0 << /MCID 9 >> >>");
    let p = interpret(&document(&[spec], |_| {})).remove(0);
    assert_eq!(text(&p), "ABCDE");
    let mcids: Vec<Option<u32>> = p.chars.iter().map(|c| c.mcid).collect();
    assert_eq!(mcids, vec![Some(2), Some(1), None, Some(9), None]);
}

#[test]
fn invisible_render_modes_are_kept_and_flagged() {
    let p = one("BT /F1 10 Tf 100 700 Td 3 Tr (A) Tj 7 Tr (B) Tj 0 Tr (C) Tj 1 Tr (D) Tj ET");
    assert_eq!(text(&p), "ABCD");
    let invisible: Vec<bool> = p
        .chars
        .iter()
        .map(|c| c.flags.contains(CharFlags::INVISIBLE))
        .collect();
    assert_eq!(invisible, vec![true, true, false, false]);
}

// ----------------------------------------------------------------- rotation and the crop box

fn rotated(rotate: i32) -> TextPage {
    let mut spec = page("BT /F1 10 Tf 100 700 Td (AB) Tj ET");
    spec.page_extra = format!("/Rotate {rotate}");
    interpret(&document(&[spec], |_| {})).remove(0)
}

#[test]
fn page_rotation_turns_the_visible_page() {
    // 90° clockwise: user (x, y) → (y, x) on a 792 × 612 page; the text runs down.
    let p = rotated(90);
    assert_eq!((p.width, p.height, p.rotation), (792.0, 612.0, 90));
    assert_eq!(origins(&p), vec![(700.0, 100.0), (700.0, 105.0)]);
    assert_eq!(p.chars[0].dir, (0.0, 1.0));

    // 180°: (x, y) → (612 - x, y); the text runs right to left.
    let p = rotated(180);
    assert_eq!((p.width, p.height, p.rotation), (612.0, 792.0, 180));
    assert_eq!(origins(&p), vec![(512.0, 700.0), (507.0, 700.0)]);
    assert_eq!(p.chars[0].dir, (-1.0, 0.0));

    // 270° (and -90°): (x, y) → (792 - y, 612 - x); the text runs up.
    for r in [270, -90] {
        let p = rotated(r);
        assert_eq!((p.width, p.height, p.rotation), (792.0, 612.0, 270), "{r}");
        assert_eq!(origins(&p), vec![(92.0, 512.0), (92.0, 507.0)], "{r}");
        assert_eq!(p.chars[0].dir, (0.0, -1.0), "{r}");
    }
}

#[test]
fn the_crop_box_is_the_visible_page_and_text_outside_it_is_dropped() {
    let mut spec = page(concat!(
        "BT /F1 10 Tf 150 250 Td (A) Tj ",
        // Outside the crop box (but on the media box): dropped.
        "1 0 0 1 20 20 Tm (B) Tj ",
        // Off the media box altogether: dropped.
        "1 0 0 1 700 250 Tm (C) Tj ET"
    ));
    spec.page_extra = "/CropBox [100 100 300 300]".to_owned();
    let p = interpret(&document(&[spec], |_| {})).remove(0);
    assert_eq!((p.width, p.height), (200.0, 200.0));
    assert_eq!(text(&p), "A");
    assert_eq!(p.chars[0].origin, (50.0, 50.0));

    // Without a crop box, text beyond the media box is dropped too.
    let p = one("BT /F1 10 Tf 700 700 Td (X) Tj -650 0 Td (Y) Tj ET");
    assert_eq!(text(&p), "Y");
    assert_eq!(p.chars[0].origin, (50.0, 92.0));
}

// ----------------------------------------------------------------------- vertical writing

#[test]
fn vertical_writing_advances_down_the_page() {
    let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CMapName /T-UCS def /CMapType 2 def\n1 begincodespacerange <0000> <FFFF> endcodespacerange\n2 beginbfchar <0001> <0041> <0002> <0042> endbfchar\nendcmap CMapName currentdict /CMap defineresource pop end end\n";
    let mut spec = page(concat!(
        "BT /F2 10 Tf 100 700 Td <00010002> Tj ET ",
        // A TJ number moves down as well: 500 adds half the size.
        "BT /F2 10 Tf 200 700 Td [<0001> 500 <0002>] TJ ET"
    ));
    spec.resources = "<< /Font << /F1 3 0 R /F2 5 0 R >> >>".to_owned();
    let data = document(&[spec], |w| {
        w.obj(
            5,
            "<< /Type /Font /Subtype /Type0 /BaseFont /TestCJK /Encoding /Identity-V /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        );
        w.obj(
            6,
            "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /TestCJK /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        );
        w.stream(7, "", cmap);
    });
    let p = interpret(&data).remove(0);
    assert_eq!(text(&p), "ABAB");
    let a = char_at(&p, 0, "A");
    assert!(a.flags.contains(CharFlags::VERTICAL));
    assert_eq!(a.origin, (100.0, 92.0));
    assert_eq!(a.advance, 10.0);
    // Centred on the baseline position, one em wide and one advance tall, hanging down.
    assert_eq!(
        a.bbox,
        Rect {
            x0: 95.0,
            y0: 92.0,
            x1: 105.0,
            y1: 102.0
        }
    );
    assert_eq!(char_at(&p, 1, "B").origin, (100.0, 102.0));
    assert_eq!(p.chars[2].origin, (200.0, 92.0));
    assert_eq!(p.chars[3].origin, (200.0, 107.0));
}

// ------------------------------------------------------------------------------ page limits

#[test]
fn the_operator_limit_fails_only_its_page() {
    let busy = format!("BT /F1 10 Tf 100 700 Td {} ET", "(A) Tj ".repeat(30));
    let data = document(
        &[page(&busy), page("BT /F1 10 Tf 100 700 Td (OK) Tj ET")],
        |_| {},
    );
    let pages = interpret_with(
        &data,
        Limits {
            max_operators_per_page: 20,
            ..Limits::default()
        },
    );
    // BT, Tf, Td and then 17 Tj run; the 21st operator stops the page.
    assert_eq!(text(&pages[0]), "A".repeat(17));
    assert!(has_diag(&pages[0], Code::TooManyOperators, Severity::Error));
    assert_eq!(text(&pages[1]), "OK");
    assert!(
        pages[1].diagnostics.is_empty(),
        "{:?}",
        pages[1].diagnostics
    );
}

#[test]
fn operators_in_form_xobjects_count_towards_the_page() {
    let mut spec = page("/X Do /X Do /X Do");
    spec.resources = resources("/XObject << /X 4 0 R >>");
    let data = document(&[spec, page("BT /F1 10 Tf 100 700 Td (OK) Tj ET")], |w| {
        w.stream(
            4,
            &form_dict("1 0 0 1 0 0", ""),
            format!("BT /F1 10 Tf 100 700 Td {} ET", "(F) Tj ".repeat(10)).as_bytes(),
        );
    });
    let pages = interpret_with(
        &data,
        Limits {
            max_operators_per_page: 30,
            ..Limits::default()
        },
    );
    // Do (1) and the form's 14 (BT Tf Td, 10 Tj, ET) twice make 30: the third Do is the 31st
    // operator and stops the page.
    assert_eq!(text(&pages[0]), "F".repeat(20));
    assert!(has_diag(&pages[0], Code::TooManyOperators, Severity::Error));
    assert_eq!(text(&pages[1]), "OK");
}

#[test]
fn the_character_limit_fails_only_its_page() {
    let data = document(
        &[
            page("BT /F1 10 Tf 100 700 Td (ABCDEFGHIJ) Tj (KLM) Tj ET"),
            page("BT /F1 10 Tf 100 700 Td (OK) Tj ET"),
        ],
        |_| {},
    );
    let pages = interpret_with(
        &data,
        Limits {
            max_chars_per_page: 5,
            ..Limits::default()
        },
    );
    assert_eq!(text(&pages[0]), "ABCDE");
    assert!(has_diag(&pages[0], Code::TooManyChars, Severity::Error));
    assert_eq!(text(&pages[1]), "OK");
    assert!(
        pages[1].diagnostics.is_empty(),
        "{:?}",
        pages[1].diagnostics
    );
}
