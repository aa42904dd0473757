//! Micro-benchmarks of the PDF syntax layer: the lexer over a whole file, the content-stream
//! tokenizer over decoded page contents, and opening a document (header, xref, page tree)
//! plus decoding every page's content streams.
//!
//! Inputs: a generated 200-page document (always) and a few files of the dev corpus
//! (`../shared/corpus/dev` beside the repository, or the folder in `NDF_CORPUS_DIR`), skipped
//! with a message when the folder is absent.
//!
//! ```text
//! cargo bench -p ndf-pdf --bench syntax                # full run
//! cargo bench -p ndf-pdf --bench syntax -- --quick     # a few seconds per benchmark
//! cargo bench -p ndf-pdf --bench syntax -- lexer       # only the lexer group
//! ```
#![allow(clippy::print_stderr)] // the skip notice

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndf_pdf::content::ContentParser;
use ndf_pdf::lexer::{Lexer, Token};
use ndf_pdf::{Bump, OpenOptions, Pdf};

/// Corpus files measured when present: lexer-heavy (236 pages of pdfTeX output, object
/// streams), Flate-heavy (1.8 MB, 117 pages) and a broken xref repaired by scanning.
const CORPUS_FILES: [&str; 3] = [
    "debian-R-exts-792220.pdf",
    "sample-files-GeoTopo-komprimiert-20430e.pdf",
    "format-corpus-509284-35d80b.pdf",
];

/// A document of `pages` pages, each with an uncompressed content stream of 40 text lines,
/// with a classic xref table.
fn generated_pdf(pages: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let mut obj = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    // 1: catalog, 2: page tree, 3: font, then (page, contents) pairs.
    obj(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    obj(
        &mut out,
        format!(
            "<< /Type /Pages /Count {pages} /Kids [{}] >>",
            kids.join(" ")
        )
        .as_bytes(),
    );
    obj(
        &mut out,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    );
    for i in 0..pages {
        obj(
            &mut out,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .as_bytes(),
        );
        let mut content = String::from("BT /F1 10 Tf 12 TL 72 740 Td\n");
        for line in 0..40 {
            content.push_str(&format!(
                "[(Line) -250 ({line} of page {i}) 120 (: the quick brown fox jumps.)] TJ T*\n"
            ));
        }
        content.push_str("ET\n");
        let mut body = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        body.extend_from_slice(content.as_bytes());
        body.extend_from_slice(b"\nendstream");
        obj(&mut out, &body);
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
    );
    for o in &offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The inputs: (label, file bytes).
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![("generated-200p".to_string(), generated_pdf(200))];
    match ndf_testkit::corpus::dir() {
        Some(dir) => {
            for name in CORPUS_FILES {
                match ndf_testkit::corpus::read_bounded(
                    &dir.join(name),
                    ndf_testkit::corpus::MAX_FILE,
                ) {
                    Some(data) => v.push((name.trim_end_matches(".pdf").to_string(), data)),
                    None => eprintln!("corpus file {name} not readable: skipped"),
                }
            }
        }
        None => eprintln!(
            "dev corpus not found (../shared/corpus/dev or NDF_CORPUS_DIR): generated input only"
        ),
    }
    v
}

/// Tokens in `data`; bounded by one token per byte (every token consumes input).
fn count_tokens(data: &[u8]) -> usize {
    let mut lexer = Lexer::new(data);
    let mut n = 0;
    while n <= data.len() {
        if matches!(black_box(lexer.next_token()), Token::Eof) {
            break;
        }
        n += 1;
    }
    n
}

/// Decoded content streams of every page, concatenated (each stream ends a line).
fn page_contents(data: &[u8]) -> Vec<u8> {
    let arena = Bump::new();
    let mut out = Vec::new();
    let Ok(pdf) = Pdf::open(data, &arena, &OpenOptions::default()) else {
        return out;
    };
    for i in 0..pdf.page_count() {
        let Some(page) = pdf.page(i) else { continue };
        for s in pdf.page_contents(&page) {
            if let Ok(d) = pdf.decode_stream(s) {
                out.extend_from_slice(&d.data);
                out.push(b'\n');
            }
        }
    }
    out
}

/// Operators in a content stream.
fn count_ops(content: &[u8]) -> usize {
    let mut parser = ContentParser::new(content);
    let mut n = 0;
    while let Some(op) = parser.next_op() {
        black_box(&op);
        n += 1;
    }
    n
}

/// Open, walk the page tree and decode every page's content streams; returns decoded bytes.
fn open_and_decode(data: &[u8]) -> usize {
    let arena = Bump::new();
    let Ok(pdf) = Pdf::open(data, &arena, &OpenOptions::default()) else {
        return 0;
    };
    let mut bytes = 0;
    for i in 0..pdf.page_count() {
        let Some(page) = pdf.page(i) else { continue };
        for s in pdf.page_contents(&page) {
            if let Ok(d) = pdf.decode_stream(s) {
                bytes += d.data.len();
            }
        }
    }
    bytes
}

fn bench_syntax(c: &mut Criterion) {
    let inputs = inputs();

    let mut g = c.benchmark_group("lexer");
    for (name, data) in &inputs {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name.as_str(), |b| b.iter(|| count_tokens(black_box(data))));
    }
    g.finish();

    let mut g = c.benchmark_group("content_ops");
    for (name, data) in &inputs {
        let content = page_contents(data);
        if content.is_empty() {
            continue;
        }
        g.throughput(Throughput::Bytes(content.len() as u64));
        g.bench_function(name.as_str(), |b| b.iter(|| count_ops(black_box(&content))));
    }
    g.finish();

    let mut g = c.benchmark_group("open_and_decode");
    g.sample_size(20);
    for (name, data) in &inputs {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| open_and_decode(black_box(data)));
        });
    }
    g.finish();
}

criterion_group!(benches, bench_syntax);
criterion_main!(benches);
