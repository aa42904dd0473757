//! Developer tool: naive text of PDFs straight from the interpreter (no real layout), to check
//! fonts and positions independently of ndf-layout. `cargo run -p ndf-text --example rawtext -- FILE`
#![allow(clippy::disallowed_methods)] // developer tools and tests read trusted files
#![allow(clippy::print_stdout, clippy::print_stderr)]

use ndf_pdf::{Bump, OpenOptions, Pdf};
use ndf_text::{FontCache, PageOptions, extract_page};

fn main() {
    let path = std::env::args().nth(1).expect("file");
    let data = std::fs::read(&path).expect("read");
    let arena = Bump::new();
    let pdf = match Pdf::open(&data, &arena, &OpenOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut fonts = FontCache::new();
    let verbose = std::env::var_os("VERBOSE").is_some();
    for i in 0..pdf.page_count() {
        let page = extract_page(&pdf, i, &mut fonts, &PageOptions::default());
        if verbose {
            for d in &page.diagnostics {
                eprintln!("page {}: {:?} {}", page.number, d.code, d.message);
            }
        }
        // Sort by rounded baseline then x; break lines on baseline changes, words on gaps.
        let mut idx: Vec<usize> = (0..page.chars.len()).collect();
        idx.sort_by(|&a, &b| {
            let (ca, cb) = (&page.chars[a], &page.chars[b]);
            let ya = (ca.origin.1 / (ca.size.max(1.0) * 0.5)).round();
            let yb = (cb.origin.1 / (cb.size.max(1.0) * 0.5)).round();
            ya.partial_cmp(&yb)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(
                    ca.origin
                        .0
                        .partial_cmp(&cb.origin.0)
                        .unwrap_or(std::cmp::Ordering::Equal),
                )
        });
        let mut out = String::new();
        let mut prev: Option<&ndf_model::TextChar> = None;
        for &k in &idx {
            let c = &page.chars[k];
            if let Some(p) = prev {
                let same_line = (c.origin.1 - p.origin.1).abs() < p.size.max(1.0) * 0.4;
                if !same_line {
                    out.push('\n');
                } else if c.bbox.x0 - p.bbox.x1 > p.size * 0.15 {
                    out.push(' ');
                }
            }
            out.push_str(page.char_text(c));
            prev = Some(c);
        }
        println!("{out}\x0c");
    }
}
