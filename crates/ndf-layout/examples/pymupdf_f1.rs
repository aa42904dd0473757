//! Developer tool (not a test): lays out PyMuPDF's characters, dumped by
//! `tools/dump_chars.py`, and scores the text against `pdftotext` with the benchmark's token F1,
//! next to PyMuPDF's own text. It isolates the layout from our interpreter; the layout's
//! asserted corpus check is tests/corpus_f1.rs (characters from our own interpreter).
//!
//! ```text
//! python3 tools/dump_chars.py ../shared/corpus/dev /tmp/dumps      # needs pymupdf
//! cargo run -p ndf-layout --example pymupdf_f1 -- /tmp/dumps
//! ```
//!
//! `NDF_LAYOUT_OUT=DIR` also writes each file's text and Markdown to `DIR/<stem>.ndf.txt|md`;
//! `NDF_LAYOUT_SIM=1` adds the order-sensitive similarity; `NDF_LAYOUT_ONLY=substr` filters.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::path::Path;
use std::time::Instant;

use ndf_layout::{LayoutOptions, MarkdownRenderer, RunningTextMarker, layout_page, render_text};
use ndf_model::{CharFlags, FontInfo, Rect, TextChar, TextPage};
use ndf_testkit::score::{f1, sim, tokens};
use serde_json::Value;

/// Read at most 1 GiB of a file as (lossy) UTF-8.
fn read_text(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 30)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn num(v: &Value) -> f32 {
    v.as_f64().unwrap_or(0.0) as f32
}

fn page_from_json(p: &Value) -> TextPage {
    let mut page = TextPage {
        number: p["number"].as_u64().unwrap_or(0) as u32,
        width: num(&p["width"]),
        height: num(&p["height"]),
        rotation: p["rotation"].as_u64().unwrap_or(0) as u16,
        ..TextPage::default()
    };
    for f in p["fonts"].as_array().into_iter().flatten() {
        page.fonts.push(FontInfo {
            name: f[0].as_str().unwrap_or("").to_string(),
            bold: f[1].as_bool().unwrap_or(false),
            italic: f[2].as_bool().unwrap_or(false),
            monospace: f[3].as_bool().unwrap_or(false),
        });
    }
    for c in p["chars"].as_array().into_iter().flatten() {
        let text = c[0].as_str().unwrap_or("");
        page.push_char(
            text,
            TextChar {
                text_start: 0,
                text_len: 0,
                font: c[12].as_u64().unwrap_or(0) as u16,
                bbox: Rect {
                    x0: num(&c[1]),
                    y0: num(&c[2]),
                    x1: num(&c[3]),
                    y1: num(&c[4]),
                },
                origin: (num(&c[5]), num(&c[6])),
                advance: num(&c[7]),
                size: num(&c[8]),
                dir: (num(&c[9]), num(&c[10])),
                flags: CharFlags(c[11].as_u64().unwrap_or(0) as u8),
                mcid: None,
            },
        );
    }
    page
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: pymupdf_f1 DUMP_DIR   (dumps written by tools/dump_chars.py)");
        std::process::exit(2);
    };
    let out_dir = std::env::var("NDF_LAYOUT_OUT").ok();
    let want_sim = std::env::var("NDF_LAYOUT_SIM").is_ok();
    let only = std::env::var("NDF_LAYOUT_ONLY").ok();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("dump folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    let opts = LayoutOptions::default();
    let mut rows: Vec<(f64, f64, f64, f64, String)> = Vec::new();
    let mut layout_time = 0.0f64;
    let mut total_chars = 0usize;
    for path in entries {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        if only.as_ref().is_some_and(|o| !stem.contains(o.as_str())) {
            continue;
        }
        let Some(reference) = read_text(&Path::new(&dir).join(format!("{stem}.ref.txt"))) else {
            continue;
        };
        let rtoks = tokens(&reference);
        if rtoks.is_empty() {
            continue;
        }
        let data: Value =
            serde_json::from_str(&read_text(&path).expect("json")).expect("valid json");
        let mut text = String::new();
        let mut md = String::new();
        let mut mdr = MarkdownRenderer::new();
        let mut marker = RunningTextMarker::new(2);
        for p in data["pages"].as_array().into_iter().flatten() {
            let tp = page_from_json(p);
            total_chars += tp.chars.len();
            let t0 = Instant::now();
            let page = layout_page(&tp, &opts);
            layout_time += t0.elapsed().as_secs_f64();
            for done in marker.push(page) {
                render_text(&done, &mut text);
                mdr.render_page(&done, &mut md);
            }
        }
        for done in marker.finish() {
            render_text(&done, &mut text);
            mdr.render_page(&done, &mut md);
        }
        if let Some(o) = &out_dir {
            std::fs::write(Path::new(o).join(format!("{stem}.ndf.txt")), &text)
                .expect("write text");
            std::fs::write(Path::new(o).join(format!("{stem}.ndf.md")), &md)
                .expect("write markdown");
        }
        let mupdf =
            read_text(&Path::new(&dir).join(format!("{stem}.mupdf.txt"))).unwrap_or_default();
        let ctoks = tokens(&text);
        let mtoks = tokens(&mupdf);
        let ours = f1(&ctoks, &rtoks).unwrap_or(0.0);
        let theirs = f1(&mtoks, &rtoks).unwrap_or(0.0);
        let (s_ours, s_theirs) = if want_sim {
            (sim(&ctoks, &rtoks), sim(&mtoks, &rtoks))
        } else {
            (0.0, 0.0)
        };
        rows.push((ours, theirs, s_ours, s_theirs, stem));
    }
    if rows.is_empty() {
        eprintln!("no dumps with a reference in {dir}");
        std::process::exit(1);
    }
    if want_sim {
        rows.sort_by(|a, b| (a.2 - a.3).total_cmp(&(b.2 - b.3)));
    } else {
        rows.sort_by(|a, b| (a.0 - a.1).total_cmp(&(b.0 - b.1)));
    }
    println!("worst files (ours - pymupdf):");
    for r in rows.iter().take(40) {
        println!("  {:.3} {:.3} sim {:.3} {:.3}  {}", r.0, r.1, r.2, r.3, r.4);
    }
    let n = rows.len() as f64;
    let mean = |f: fn(&(f64, f64, f64, f64, String)) -> f64| rows.iter().map(f).sum::<f64>() / n;
    println!(
        "files {}: mean F1 ours {:.4}  pymupdf {:.4}; mean sim ours {:.4} pymupdf {:.4}; layout {:.2}s for {} chars",
        rows.len(),
        mean(|r| r.0),
        mean(|r| r.1),
        mean(|r| r.2),
        mean(|r| r.3),
        layout_time,
        total_chars
    );
}
