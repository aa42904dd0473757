//! Developer tool: dump the characters of one page. `chars FILE PAGE [FILTER]`
#![allow(clippy::print_stdout)]

use ndf_pdf::{Bump, OpenOptions, Pdf};
use ndf_text::{FontCache, PageOptions, extract_page};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("file");
    let page: usize = args.next().and_then(|p| p.parse().ok()).unwrap_or(1);
    let filter = args.next();
    #[allow(clippy::disallowed_methods)] // developer tool on trusted files
    let data = std::fs::read(&path).expect("read");
    let arena = Bump::new();
    let pdf = Pdf::open(&data, &arena, &OpenOptions::default()).expect("open");
    let mut fonts = FontCache::new();
    let p = extract_page(&pdf, page - 1, &mut fonts, &PageOptions::default());
    println!(
        "page {} {}x{} rot {} chars {}",
        p.number,
        p.width,
        p.height,
        p.rotation,
        p.chars.len()
    );
    for (i, f) in p.fonts.iter().enumerate() {
        println!("font {i}: {f:?}");
    }
    let text: String = p.chars.iter().map(|c| p.char_text(c)).collect();
    let range = match &filter {
        Some(f) => {
            // Find the first char index whose running text contains the filter.
            let mut acc = String::new();
            let mut start = 0;
            for (i, c) in p.chars.iter().enumerate() {
                acc.push_str(p.char_text(c));
                if acc.ends_with(f.as_str()) {
                    start = i.saturating_sub(f.chars().count() + 5);
                    break;
                }
            }
            start..(start + f.chars().count() + 40).min(p.chars.len())
        }
        None => 0..p.chars.len(),
    };
    let _ = text;
    for c in &p.chars[range] {
        println!(
            "{:?} x0={:.2} x1={:.2} y0={:.2} y1={:.2} o=({:.2},{:.2}) adv={:.2} size={:.2} dir=({:.2},{:.2}) font={} flags={}",
            p.char_text(c),
            c.bbox.x0,
            c.bbox.x1,
            c.bbox.y0,
            c.bbox.y1,
            c.origin.0,
            c.origin.1,
            c.advance,
            c.size,
            c.dir.0,
            c.dir.1,
            c.font,
            c.flags.0
        );
    }
    for d in &p.diagnostics {
        println!("diag {:?} {}", d.code, d.message);
    }
}
