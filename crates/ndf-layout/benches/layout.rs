//! Micro-benchmarks of the layout: characters -> words -> lines -> blocks in reading order
//! (`layout_page`), and the plain-text and Markdown renderings of the result.
//!
//! Inputs are generated (deterministic, no corpus needed), shaped like the pages that cost
//! most in the dev corpus: a two-column article page, a CJK page without spaces, and one large
//! page holding a dense grid of glyphs (a font specimen with tens of thousands of characters).
//! The `scale` group times the pathological sizes whose correctness tests/layout.rs checks
//! without a clock: 200,000 characters in two columns, 20,000 glyphs stacked on one spot plus
//! 20,000 one-glyph columns, and a page of 1,000,000 characters.
//!
//! ```text
//! cargo bench -p ndf-layout --bench layout                # full run
//! cargo bench -p ndf-layout --bench layout -- --quick     # a few seconds per benchmark
//! cargo bench -p ndf-layout --bench layout -- two_column  # one page shape
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndf_layout::{LayoutOptions, MarkdownRenderer, layout_page, render_text};
use ndf_model::{CharFlags, FontInfo, Rect, TextChar, TextPage};

/// A small deterministic generator (64-bit LCG), so pages are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
}

fn empty_page(width: f32, height: f32) -> TextPage {
    TextPage {
        number: 1,
        width,
        height,
        fonts: vec![
            FontInfo {
                name: "Body".into(),
                bold: false,
                italic: false,
                monospace: false,
            },
            FontInfo {
                name: "Heading".into(),
                bold: true,
                italic: false,
                monospace: false,
            },
        ],
        ..TextPage::default()
    }
}

/// One horizontal glyph with its baseline at `y` (top-left origin, y down).
fn glyph(page: &mut TextPage, text: &str, x: f32, y: f32, size: f32, advance: f32, font: u16) {
    page.push_char(
        text,
        TextChar {
            text_start: 0,
            text_len: 0,
            font,
            bbox: Rect {
                x0: x,
                y0: y - 0.8 * size,
                x1: x + advance,
                y1: y + 0.2 * size,
            },
            origin: (x, y),
            advance,
            size,
            dir: (1.0, 0.0),
            flags: CharFlags::default(),
            mcid: None,
        },
    );
}

/// A two-column article: a heading across both columns, then 2 x 58 justified lines of
/// 10-point words with space glyphs, some lines ending in a hyphen.
fn two_column_page() -> TextPage {
    let mut rng = Lcg(1);
    let mut page = empty_page(612.0, 792.0);
    let mut x = 72.0;
    for ch in "A Study of Generated Layouts".chars() {
        let mut buf = [0u8; 4];
        glyph(&mut page, ch.encode_utf8(&mut buf), x, 80.0, 18.0, 9.0, 1);
        x += 9.0;
    }
    let letters = b"etaoinshrdlucmfwypvbgkqjxz";
    for column in 0..2 {
        let left = 72.0 + column as f32 * 240.0;
        for line in 0..58 {
            let y = 120.0 + line as f32 * 11.5;
            let mut x = left;
            while x < left + 210.0 {
                let len = 2 + rng.below(8);
                for _ in 0..len {
                    let letter = letters[rng.below(letters.len() as u32) as usize];
                    let mut buf = [0u8; 4];
                    let text = char::from(letter).encode_utf8(&mut buf);
                    glyph(&mut page, text, x, y, 10.0, 5.0, 0);
                    x += 5.0;
                }
                glyph(&mut page, " ", x, y, 10.0, 2.5, 0);
                x += 2.5;
            }
            if line % 7 == 3 {
                glyph(&mut page, "-", x, y, 10.0, 3.3, 0);
            }
        }
    }
    page
}

/// A CJK page: 40 lines of 38 ideographs, no spaces, punctuation now and then.
fn cjk_page() -> TextPage {
    let mut rng = Lcg(2);
    let mut page = empty_page(595.0, 842.0);
    for line in 0..40 {
        let y = 90.0 + line as f32 * 17.0;
        for col in 0..38 {
            let c = if col % 13 == 12 {
                '\u{3002}'
            } else {
                char::from_u32(0x4E00 + rng.below(0x5000)).unwrap_or('\u{4E00}')
            };
            let mut buf = [0u8; 4];
            glyph(
                &mut page,
                c.encode_utf8(&mut buf),
                60.0 + col as f32 * 12.0,
                y,
                12.0,
                12.0,
                0,
            );
        }
    }
    page
}

/// A font-specimen page: a 128 x 160 grid of glyphs with a label per row.
fn dense_grid_page() -> TextPage {
    let mut page = empty_page(1200.0, 1700.0);
    for row in 0..160u32 {
        let y = 20.0 + row as f32 * 10.5;
        for (i, ch) in format!("{:04X}", row * 128).chars().enumerate() {
            let mut buf = [0u8; 4];
            glyph(
                &mut page,
                ch.encode_utf8(&mut buf),
                10.0 + i as f32 * 5.0,
                y,
                8.0,
                5.0,
                1,
            );
        }
        for col in 0..128u32 {
            let c = char::from_u32(0x3400 + row * 128 + col).unwrap_or('?');
            let mut buf = [0u8; 4];
            glyph(
                &mut page,
                c.encode_utf8(&mut buf),
                50.0 + col as f32 * 9.0,
                y,
                8.0,
                8.0,
                0,
            );
        }
    }
    page
}

/// Lines of `text` with 1-point glyphs advancing `advance`, `rows` lines per column.
fn text_columns(chars: usize, text: &str, size: f32, advance: f32, rows: usize) -> TextPage {
    let mut page = empty_page(20_000.0, 20_000.0);
    let (mut n, mut row) = (0, 0);
    while n < chars {
        let y = 5.0 + size * 1.2 * (row % rows) as f32;
        let mut x = 5.0 + (text.len() as f32 * advance + 10.0 * size) * (row / rows) as f32;
        for ch in text.chars() {
            let mut buf = [0u8; 4];
            glyph(&mut page, ch.encode_utf8(&mut buf), x, y, size, advance, 0);
            x += advance;
        }
        n += text.len();
        row += 1;
    }
    page
}

/// 20,000 glyphs on one spot and 20,000 one-glyph columns on nearly one baseline.
fn stacked_and_spread_page() -> TextPage {
    let mut page = empty_page(200_000.0, 1000.0);
    for i in 0..20_000 {
        glyph(
            &mut page,
            if i % 2 == 0 { "a" } else { "b" },
            100.0,
            100.0,
            10.0,
            5.0,
            0,
        );
    }
    for i in 0..20_000 {
        let y = 300.0 + (i % 7) as f32 * 0.01;
        glyph(&mut page, "c", 10.0 * i as f32, y, 10.0, 5.0, 0);
    }
    page
}

/// Layout of pages far larger than real ones (formerly wall-clock assertions in tests).
fn bench_scale(c: &mut Criterion) {
    let pages = [
        (
            "two_columns_200k",
            text_columns(
                200_000,
                "abcdefghij klmnopqrst uvwxyzabcd efghijklm",
                0.25,
                0.0125,
                2_500,
            ),
        ),
        ("stacked_and_spread", stacked_and_spread_page()),
        (
            "million_chars",
            text_columns(
                1_000_000,
                "lorem ipsum dolor sit amet consectetur adipiscing elit sed do",
                1.0,
                0.5,
                600,
            ),
        ),
    ];
    let options = LayoutOptions::default();
    let mut g = c.benchmark_group("scale");
    g.sample_size(10);
    for (name, page) in &pages {
        g.throughput(Throughput::Elements(page.chars.len() as u64));
        g.bench_function(*name, |b| b.iter(|| layout_page(black_box(page), &options)));
    }
    g.finish();
}

fn bench_layout(c: &mut Criterion) {
    let pages = [
        ("two_column", two_column_page()),
        ("cjk", cjk_page()),
        ("dense_grid", dense_grid_page()),
    ];
    let options = LayoutOptions::default();

    let mut g = c.benchmark_group("layout_page");
    for (name, page) in &pages {
        g.throughput(Throughput::Elements(page.chars.len() as u64));
        g.bench_function(*name, |b| b.iter(|| layout_page(black_box(page), &options)));
    }
    g.finish();

    let mut g = c.benchmark_group("render");
    for (name, page) in &pages {
        let laid_out = layout_page(page, &options);
        g.throughput(Throughput::Elements(page.chars.len() as u64));
        let mut out = String::new();
        g.bench_function(format!("text/{name}"), |b| {
            b.iter(|| {
                out.clear();
                render_text(black_box(&laid_out), &mut out);
                out.len()
            });
        });
        g.bench_function(format!("markdown/{name}"), |b| {
            b.iter(|| {
                out.clear();
                MarkdownRenderer::new().render_page(black_box(&laid_out), &mut out);
                out.len()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_layout, bench_scale);
criterion_main!(benches);
