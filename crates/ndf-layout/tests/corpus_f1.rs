//! The layout on real pages: every page of the dev corpus is interpreted by our own interpreter
//! (`ndf-text`), laid out, rendered as text and scored against poppler's `pdftotext` with the
//! benchmark's token F1 (`ndf_testkit::score`).
//!
//! Asserted: the mean F1 over the files pdftotext finds text in stays at or above a floor set
//! just below the value measured when it was written, and per file the layout neither loses nor
//! invents text: every file whose pages carry characters renders some text, and no character
//! comes out more often than it went in (clipped characters aside, which the layout drops; a
//! bracket and its mirror image count as one, as right-to-left lines mirror them).
//!
//! Without the corpus folder or `pdftotext` the test says so and does not run, or fails under
//! `NDF_REQUIRE_INPUTS=1`, which the test command sets (`ndf_testkit::corpus`). Comparing the
//! layout on PyMuPDF's characters instead (a developer tool): `examples/pymupdf_f1.rs`.
#![allow(clippy::print_stderr)] // the report

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ndf_layout::{LayoutOptions, RunningTextMarker, layout_page, render_text};
use ndf_model::CharFlags;
use ndf_pdf::{Bump, OpenOptions, Pdf};
use ndf_testkit::corpus;
use ndf_testkit::score::{f1, tokens};
use ndf_text::{FontCache, PageOptions, extract_page};

/// Mean token F1 against pdftotext must stay at or above this. Measured 0.9618 over 232 files
/// when it was set; the floor leaves room for deliberate trade-offs, not for a regression.
const MEAN_F1_FLOOR: f64 = 0.955;

/// One file's outcome.
struct Scored {
    name: String,
    /// Non-blank characters given to the layout (clipped ones excepted, which the layout drops
    /// by design; invisible ones count: they are the text layer of scans).
    visible_chars: usize,
    /// Non-blank characters of the rendered text.
    rendered_chars: usize,
    /// Characters rendered more often than they were given, with the excess.
    invented: Vec<(char, usize)>,
    /// F1 against pdftotext, when pdftotext finds text.
    f1: Option<f64>,
}

fn pdftotext(tool: &Path, path: &Path) -> Option<String> {
    let out = Command::new(tool)
        .args(["-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Right-to-left lines show a bracket as its mirror image (`(` for `)`), so the two of a pair
/// count as one character.
fn fold_mirrored(c: char) -> char {
    match c {
        ')' => '(',
        ']' => '[',
        '}' => '{',
        '>' => '<',
        '»' => '«',
        '›' => '‹',
        _ => c,
    }
}

/// Interprets, lays out and renders every page of one file (as `ndf extract` does, without its
/// parallelism and limits bookkeeping): the non-blank characters given to the layout, by
/// count, and the rendered text; `None` when the file does not open.
fn lay_out_file(data: &[u8]) -> Option<(BTreeMap<char, usize>, String)> {
    let arena = Bump::new();
    let pdf = Pdf::open(data, &arena, &OpenOptions::default()).ok()?;
    let mut fonts = FontCache::new();
    let page_options = PageOptions::default();
    let layout = LayoutOptions::default();
    let mut marker = RunningTextMarker::new(2);
    let (mut given, mut text) = (BTreeMap::new(), String::new());
    for index in 0..pdf.page_count() {
        let page = extract_page(&pdf, index, &mut fonts, &page_options);
        for c in page
            .chars
            .iter()
            .filter(|c| !c.flags.contains(CharFlags::CLIPPED))
        {
            for ch in page.char_text(c).chars().filter(|c| !c.is_whitespace()) {
                *given.entry(fold_mirrored(ch)).or_insert(0) += 1;
            }
        }
        for done in marker.push(layout_page(&page, &layout)) {
            render_text(&done, &mut text);
        }
    }
    for done in marker.finish() {
        render_text(&done, &mut text);
    }
    Some((given, text))
}

fn score_file(path: &Path, pdftotext_tool: &Path) -> Option<Scored> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let data = corpus::read_bounded(path, corpus::MAX_FILE)?;
    let (given, text) = lay_out_file(&data)?;
    let reference = pdftotext(pdftotext_tool, path)
        .map(|t| tokens(&t))
        .filter(|t| !t.is_empty());
    let f1 = reference.map(|r| f1(&tokens(&text), &r).unwrap_or(0.0));
    let mut rendered: BTreeMap<char, usize> = BTreeMap::new();
    for ch in text.chars().filter(|c| !c.is_whitespace()) {
        *rendered.entry(fold_mirrored(ch)).or_insert(0) += 1;
    }
    let invented = rendered
        .iter()
        .filter_map(|(ch, &n)| {
            let had = given.get(ch).copied().unwrap_or(0);
            n.checked_sub(had).filter(|&d| d > 0).map(|d| (*ch, d))
        })
        .collect();
    Some(Scored {
        name,
        visible_chars: given.values().sum(),
        rendered_chars: rendered.values().sum(),
        invented,
        f1,
    })
}

#[test]
fn corpus_layout_scores_against_pdftotext_and_keeps_the_text() {
    const TEST: &str = "corpus_layout_scores_against_pdftotext_and_keeps_the_text";
    let Some(dir) = corpus::dir_for_test(TEST) else {
        return;
    };
    let Some(pdftotext_tool) = corpus::tool(TEST, "pdftotext") else {
        return;
    };
    let files = corpus::pdfs(&dir);
    let results: Vec<Scored> = files
        .iter()
        .filter_map(|p| score_file(p, &pdftotext_tool))
        .collect();
    let mut problems = Vec::new();
    for r in &results {
        if r.visible_chars > 0 && r.rendered_chars == 0 {
            problems.push(format!(
                "{}: {} visible characters, no text rendered",
                r.name, r.visible_chars
            ));
        }
        if !r.invented.is_empty() {
            problems.push(format!(
                "{}: characters rendered more often than given (character, excess): {:?}",
                r.name,
                &r.invented[..r.invented.len().min(10)]
            ));
        }
    }
    let scored: Vec<(f64, &str)> = results
        .iter()
        .filter_map(|r| r.f1.map(|f| (f, r.name.as_str())))
        .collect();
    assert!(
        scored.len() * 2 >= files.len(),
        "only {} of {} files opened and have a pdftotext reference",
        scored.len(),
        files.len()
    );
    let mean = scored.iter().map(|s| s.0).sum::<f64>() / scored.len() as f64;
    eprintln!(
        "layout over {} files ({} opened), {} scored against pdftotext: mean F1 {mean:.4}",
        files.len(),
        results.len(),
        scored.len()
    );
    let mut low = scored.clone();
    low.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    for (f, name) in low.iter().take(10) {
        eprintln!("  F1 {f:.3} {name}");
    }
    assert!(
        mean >= MEAN_F1_FLOOR,
        "mean F1 {mean:.4} fell below the floor {MEAN_F1_FLOOR}"
    );
    assert!(
        problems.is_empty(),
        "{} files:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
