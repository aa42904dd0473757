//! Property tests: arbitrary characters never make the layout panic or lose bounds.

use ndf_layout::{LayoutOptions, MarkdownRenderer, RunningTextMarker, layout_page, render_text};
use ndf_model::{CharFlags, FontInfo, Rect, TextChar, TextPage};
use proptest::prelude::*;

fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -1000.0f32..1000.0,
        1 => prop::num::f32::ANY,
        1 => Just(0.0f32),
    ]
}

fn any_char() -> impl Strategy<Value = (String, TextChar)> {
    (
        prop_oneof![
            Just("a".to_string()),
            Just(" ".to_string()),
            Just("-".to_string()),
            Just("ש".to_string()),
            Just("\u{301}".to_string()),
            Just("中".to_string()),
            "\\PC{0,3}"
        ],
        (any_f32(), any_f32(), any_f32(), any_f32()),
        (any_f32(), any_f32()),
        any_f32(),
        prop_oneof![3 => 1.0f32..30.0, 1 => any_f32()],
        prop_oneof![3 => Just((1.0f32, 0.0f32)), 1 => (any_f32(), any_f32())],
        any::<u8>(),
        0u16..4,
    )
        .prop_map(
            |(text, (x0, y0, x1, y1), origin, advance, size, dir, flags, font)| {
                (
                    text,
                    TextChar {
                        text_start: 0,
                        text_len: 0,
                        font,
                        bbox: Rect { x0, y0, x1, y1 },
                        origin,
                        advance,
                        size,
                        dir,
                        flags: CharFlags(flags),
                        mcid: None,
                    },
                )
            },
        )
}

fn any_page() -> impl Strategy<Value = TextPage> {
    (
        prop::collection::vec(any_char(), 0..200),
        any_f32(),
        any_f32(),
    )
        .prop_map(|(chars, w, h)| {
            let mut p = TextPage {
                number: 1,
                width: w,
                height: h,
                fonts: vec![FontInfo {
                    name: "F".into(),
                    bold: true,
                    italic: false,
                    monospace: false,
                }],
                ..TextPage::default()
            };
            for (t, c) in chars {
                p.push_char(&t, c);
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn layout_never_panics_and_keeps_text_bounded(page in any_page()) {
        let out = layout_page(&page, &LayoutOptions::default());
        let in_chars = page.text.chars().count();
        let mut text = String::new();
        render_text(&out, &mut text);
        prop_assert!(text.ends_with('\x0c'));
        let mut words = 0usize;
        for b in &out.blocks {
            prop_assert!(!b.lines.is_empty());
            for l in &b.lines {
                prop_assert!(!l.spans.is_empty());
                for s in &l.spans {
                    words += s.text.chars().filter(|c| *c != ' ').count();
                }
            }
        }
        // Layout never invents characters (spaces aside).
        prop_assert!(words <= in_chars);
        let mut md = MarkdownRenderer::new();
        let mut m = String::new();
        md.render_page(&out, &mut m);
        prop_assert!(serde_json::to_string(&out).is_ok());
    }

    #[test]
    fn marker_returns_every_page_in_order(pages in prop::collection::vec(any_page(), 0..6), window in 0usize..4) {
        let mut m = RunningTextMarker::new(window);
        let mut numbers = Vec::new();
        for (i, p) in pages.iter().enumerate() {
            let mut lp = layout_page(p, &LayoutOptions::default());
            lp.number = i as u32 + 1;
            let out = m.push(lp);
            let returned = numbers.len() + out.len();
            prop_assert!(returned <= i + 1 && i + 1 - returned <= window);
            numbers.extend(out.iter().map(|p| p.number));
        }
        numbers.extend(m.finish().iter().map(|p| p.number));
        prop_assert_eq!(numbers, (1..=pages.len() as u32).collect::<Vec<_>>());
    }
}
