//! `ndf_pdf::content::ContentParser` over arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Each operation consumes at least one byte, so the input bounds the count.
    let ops = ndf_fuzz::walk_content(data, usize::MAX);
    assert!(ops <= data.len(), "more operations than input bytes");
});
