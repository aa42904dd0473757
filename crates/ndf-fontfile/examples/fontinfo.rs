//! Prints what `FontProgram` reads from font files: `cargo run --example fontinfo -- FILE...`.
//! The kind the PDF would claim comes from the extension (.pfa/.pfb Type 1, .ttf, .otf,
//! .cff/.cid bare CFF).
#![allow(clippy::disallowed_methods)] // developer tools and tests read trusted files
#![allow(clippy::print_stdout)]

use ndf_fontfile::{FontFileKind, FontProgram, sniff};

fn main() {
    for path in std::env::args().skip(1) {
        let Ok(data) = std::fs::read(&path) else {
            println!("{path}: unreadable");
            continue;
        };
        let kind = match path.rsplit('.').next() {
            Some("pfa" | "pfb" | "t1") => FontFileKind::Type1,
            Some("otf") => FontFileKind::OpenType,
            Some("cff" | "cid") => FontFileKind::Cff,
            _ => FontFileKind::TrueType,
        };
        match FontProgram::parse(kind, &data) {
            Err(e) => println!("{path}: {e}"),
            Ok(p) => {
                println!("{path}: sniff {:?}, {p:?}", sniff(&data));
                let names: Vec<String> = (0..p.num_glyphs().min(12))
                    .map(|g| {
                        format!(
                            "{g}={:?}/{:?}",
                            p.glyph_name(g as u16),
                            p.unicode_of_glyph(g as u16)
                        )
                    })
                    .collect();
                println!("  glyphs: {}", names.join(" "));
                let enc: Vec<String> = (0..=255u8)
                    .filter_map(|c| Some(format!("{c}={}", p.builtin_glyph_name(c)?)))
                    .take(12)
                    .collect();
                println!("  encoding: {}", enc.join(" "));
                if let Some(ros) = p.cid_system_info() {
                    println!("  ROS: {ros:?}");
                }
            }
        }
    }
}
