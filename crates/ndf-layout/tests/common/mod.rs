//! Builders for synthetic pages.
#![allow(dead_code, unreachable_pub)]

use ndf_model::{CharFlags, FontInfo, Page, Rect, TextChar, TextPage};

/// Builds a `TextPage` glyph by glyph; every glyph advances `adv_em` em (spaces 0.25 em).
pub struct PageBuilder {
    pub page: TextPage,
    pub adv_em: f32,
    pub font: u16,
    pub flags: CharFlags,
}

impl PageBuilder {
    pub fn new(number: u32) -> Self {
        let page = TextPage {
            number,
            width: 612.0,
            height: 792.0,
            fonts: vec![
                FontInfo {
                    name: "Body".into(),
                    bold: false,
                    italic: false,
                    monospace: false,
                },
                FontInfo {
                    name: "Bold".into(),
                    bold: true,
                    italic: false,
                    monospace: false,
                },
            ],
            ..TextPage::default()
        };
        Self {
            page,
            adv_em: 0.5,
            font: 0,
            flags: CharFlags::default(),
        }
    }

    /// Add one glyph with baseline direction `dir`; returns the advance used.
    pub fn glyph(&mut self, text: &str, x: f32, y: f32, size: f32, dir: (f32, f32), adv: f32) {
        let (c, s) = dir;
        // "Up" across the baseline in y-down page space.
        let (ux, uy) = (s, -c);
        let vertical = self.flags.contains(CharFlags::VERTICAL);
        let pts: [(f32, f32); 4] = if vertical {
            // Vertical glyph: advance goes down the progress direction (-s, c), centred.
            let (px, py) = (-s, c);
            let half = 0.5 * size;
            [
                (x - c * half, y - s * half),
                (x + c * half, y + s * half),
                (x - c * half + px * adv, y - s * half + py * adv),
                (x + c * half + px * adv, y + s * half + py * adv),
            ]
        } else {
            [
                (x - ux * 0.2 * size, y - uy * 0.2 * size),
                (x + c * adv - ux * 0.2 * size, y + s * adv - uy * 0.2 * size),
                (x + ux * 0.8 * size, y + uy * 0.8 * size),
                (x + c * adv + ux * 0.8 * size, y + s * adv + uy * 0.8 * size),
            ]
        };
        let x0 = pts.iter().map(|p| p.0).fold(f32::INFINITY, f32::min);
        let x1 = pts.iter().map(|p| p.0).fold(f32::NEG_INFINITY, f32::max);
        let y0 = pts.iter().map(|p| p.1).fold(f32::INFINITY, f32::min);
        let y1 = pts.iter().map(|p| p.1).fold(f32::NEG_INFINITY, f32::max);
        self.page.push_char(
            text,
            TextChar {
                text_start: 0,
                text_len: 0,
                font: self.font,
                bbox: Rect { x0, y0, x1, y1 },
                origin: (x, y),
                advance: adv,
                size,
                dir,
                flags: self.flags,
                mcid: None,
            },
        );
    }

    /// Draw `text` left to right from (x, y) along `dir`, one glyph per char, spaces as
    /// glyphs. Returns the end position along the direction.
    pub fn text_dir(
        &mut self,
        text: &str,
        x: f32,
        y: f32,
        size: f32,
        dir: (f32, f32),
    ) -> (f32, f32) {
        let (mut px, mut py) = (x, y);
        let vertical = self.flags.contains(CharFlags::VERTICAL);
        let (mx, my) = if vertical { (-dir.1, dir.0) } else { dir };
        for ch in text.chars() {
            let adv = if vertical {
                size
            } else if ch == ' ' {
                0.25 * size
            } else {
                self.adv_em * size
            };
            let mut buf = [0u8; 4];
            self.glyph(ch.encode_utf8(&mut buf), px, py, size, dir, adv);
            px += mx * adv;
            py += my * adv;
        }
        (px, py)
    }

    /// Horizontal text; returns the end x.
    pub fn text(&mut self, text: &str, x: f32, y: f32, size: f32) -> f32 {
        self.text_dir(text, x, y, size, (1.0, 0.0)).0
    }

    /// Horizontal words placed with explicit gaps (in em) and no space glyphs.
    pub fn words_with_gap(
        &mut self,
        words: &[&str],
        x: f32,
        y: f32,
        size: f32,
        gap_em: f32,
    ) -> f32 {
        let mut x = x;
        for w in words {
            x = self.text(w, x, y, size) + gap_em * size;
        }
        x
    }

    pub fn build(self) -> TextPage {
        self.page
    }
}

/// All text of a page: lines joined by '\n', blocks by "\n\n".
pub fn page_text(p: &Page) -> String {
    p.blocks
        .iter()
        .map(|b| {
            b.lines
                .iter()
                .map(|l| l.spans.iter().map(|s| s.text.as_str()).collect::<String>())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The lines of a page, in reading order.
pub fn lines(p: &Page) -> Vec<String> {
    p.blocks
        .iter()
        .flat_map(|b| {
            b.lines
                .iter()
                .map(|l| l.spans.iter().map(|s| s.text.as_str()).collect::<String>())
        })
        .collect()
}
