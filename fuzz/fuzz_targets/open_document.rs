//! `ndf_pdf::Pdf::open`, then every page: its attributes, its content streams decoded and
//! tokenized.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndf_pdf::{Bump, OpenOptions, Pdf};

fuzz_target!(|data: &[u8]| {
    let arena = Bump::new();
    let options = OpenOptions {
        limits: ndf_fuzz::limits(),
        password: String::new(),
    };
    let Ok(pdf) = Pdf::open(data, &arena, &options) else {
        return;
    };
    let _ = pdf.version();
    let _ = pdf.catalog();
    let _ = pdf.info();
    let _ = pdf.is_linearized();
    let _ = pdf.encryption();
    assert!(
        pdf.page_count() <= options.limits.max_pages as usize,
        "max_pages not enforced"
    );
    for i in 0..pdf.page_count() {
        if pdf.budget().check().is_err() {
            break;
        }
        let Some(page) = pdf.page(i) else { continue };
        let _ = pdf.get_dict(page.resources, b"Font");
        for stream in pdf.page_contents(&page) {
            let Ok(decoded) = pdf.decode_stream(stream) else {
                continue;
            };
            assert!(
                decoded.data.len() as u64
                    <= options.limits.max_stream_bytes.max(stream.raw.len() as u64),
                "a decoded stream exceeds max_stream_bytes"
            );
            ndf_fuzz::walk_content(&decoded.data, 100_000);
        }
    }
    let _ = pdf.diagnostics();
    assert!(
        pdf.budget().decoded_bytes() <= options.limits.max_document_bytes
            || pdf.budget().tripped().is_some(),
        "max_document_bytes exceeded without tripping the budget"
    );
});
