//! Developer tool: open PDFs and report pages, repair status and decoded content sizes.
//! `cargo run -p ndf-pdf --example pdfstat -- FILE...`
#![allow(clippy::disallowed_methods)] // developer tools and tests read trusted files
#![allow(clippy::print_stdout)]

use ndf_pdf::{Bump, OpenOptions, Pdf};

fn main() {
    for path in std::env::args().skip(1) {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                println!("{path}: read error {e}");
                continue;
            }
        };
        let arena = Bump::new();
        let t = std::time::Instant::now();
        match Pdf::open(&data, &arena, &OpenOptions::default()) {
            Ok(pdf) => {
                let mut content = 0usize;
                let mut damaged = 0;
                for i in 0..pdf.page_count() {
                    let page = pdf.page(i).unwrap();
                    for s in pdf.page_contents(&page) {
                        match pdf.decode_stream(s) {
                            Ok(d) => {
                                content += d.data.len();
                                damaged += usize::from(d.damaged);
                                if d.damaged && std::env::var_os("VERBOSE").is_some() {
                                    println!(
                                        "  damaged {:?} {:?} raw={}",
                                        s.id,
                                        s.dict,
                                        s.raw.len()
                                    );
                                }
                            }
                            Err(_) => damaged += 1,
                        }
                    }
                }
                println!(
                    "{path}: v{} pages={} repaired={} enc={:?} content={} damaged={} diags={} {:?}",
                    pdf.version(),
                    pdf.page_count(),
                    pdf.was_repaired(),
                    pdf.encryption(),
                    content,
                    damaged,
                    pdf.diagnostics().len(),
                    t.elapsed()
                );
            }
            Err(e) => println!("{path}: ERROR {e}"),
        }
    }
}
