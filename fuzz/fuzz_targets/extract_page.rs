//! The whole facade: `ndf_extract::extract` (text interpretation, fonts, layout), then the
//! plain-text and Markdown renderings. Small limits and deadline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndf_extract::{Code, Options};

fuzz_target!(|data: &[u8]| {
    let options = Options {
        limits: ndf_fuzz::limits(),
        ..Options::default()
    };
    // The facade catches panics and reports them as `internal`; libfuzzer-sys's panic hook
    // aborts first, and the asserts below catch anything reported as internal regardless.
    match ndf_extract::extract(data, &options) {
        Ok(doc) => {
            assert!(
                doc.pages.len() <= options.limits.max_pages as usize,
                "max_pages not enforced"
            );
            for d in doc
                .diagnostics
                .iter()
                .chain(doc.pages.iter().flat_map(|p| p.diagnostics.iter()))
            {
                assert_ne!(d.code, Code::Internal, "engine failure: {}", d.message);
            }
            for p in &doc.pages {
                let chars: usize = p
                    .blocks
                    .iter()
                    .flat_map(|b| &b.lines)
                    .flat_map(|l| &l.spans)
                    .map(|s| s.text.chars().count())
                    .sum();
                // Spaces between words are added by layout; allow for them.
                assert!(
                    chars <= 2 * options.limits.max_chars_per_page as usize + 1024,
                    "max_chars_per_page not enforced"
                );
            }
            let _ = ndf_extract::document_text(&doc);
            let _ = ndf_extract::document_markdown(&doc);
        }
        Err(e) => assert_ne!(e.code, Code::Internal, "engine failure: {}", e.message),
    }
});
