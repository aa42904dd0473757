//! Real extraction output validated against the committed JSON Schema
//! (`schema/document.schema.json`, generated from `ndf-model`'s types): small PDFs written here by
//! hand, and every file of the dev corpus (`ndf_testkit::corpus`: required by the test command).

use std::io::Read;
use std::path::{Path, PathBuf};

use jsonschema::Validator;
use ndf_extract::{Code, Document, Options, Severity, extract};
use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Read at most `max` bytes of a file, failing when it is larger (the workspace forbids
/// unbounded reads).
fn read_bounded(path: &Path, max: u64) -> Vec<u8> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut data))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        data.len() as u64 <= max,
        "{} is larger than {max} bytes",
        path.display()
    );
    data
}

fn read_text(path: &Path) -> String {
    String::from_utf8(read_bounded(path, 1 << 20)).expect("UTF-8")
}

fn schema() -> Value {
    let path = repo_root().join("schema/document.schema.json");
    serde_json::from_str(&read_text(&path)).unwrap()
}

fn validator() -> Validator {
    jsonschema::draft202012::new(&schema()).expect("the committed schema compiles")
}

/// All validation errors of `instance`, one per line, with their JSON pointer.
fn errors(v: &Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The document as a reader sees it: serialised to text (as `ndf extract` prints it) and parsed.
fn as_json(doc: &Document) -> Value {
    serde_json::from_str(&serde_json::to_string(doc).unwrap()).unwrap()
}

fn assert_valid(v: &Validator, doc: &Document, what: &str) -> Value {
    let value = as_json(doc);
    let errs = errors(v, &value);
    assert!(
        errs.is_empty(),
        "{what}: output violates the schema:\n{}",
        errs.join("\n")
    );
    value
}

// ---------------------------------------------------------------------------------------------
// Minimal hand-written PDFs.

/// A stream object body.
fn stream(dict_extra: &str, data: &str) -> String {
    format!(
        "<< /Length {} {dict_extra} >>\nstream\n{data}\nendstream",
        data.len()
    )
}

/// A classic PDF file: `objects[i]` becomes object `i + 1`; object 1 must be the catalog.
/// Offsets in the cross-reference table are computed, so the file needs no repair.
fn pdf(objects: &[String], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        // Each entry is exactly 20 bytes.
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

const HELVETICA: &str =
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
const TWO_LINES: &str =
    "BT /F1 12 Tf 72 720 Td (Hello schema world) Tj 0 -16 Td (Second line of text) Tj ET";

/// One page (object 3) with Helvetica (object 4) and the given content stream (object 5).
fn one_page(
    page_extra: &str,
    content: String,
    catalog_extra: &str,
    more: &[String],
) -> Vec<String> {
    let mut objects = vec![
        format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>"),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] {page_extra} \
             /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
        ),
        HELVETICA.to_owned(),
        content,
    ];
    objects.extend_from_slice(more);
    objects
}

fn plain_pdf() -> Vec<u8> {
    pdf(&one_page("", stream("", TWO_LINES), "", &[]), "")
}

fn all_text(doc: &Document) -> Vec<String> {
    let mut lines = Vec::new();
    for page in &doc.pages {
        for block in &page.blocks {
            for line in &block.lines {
                lines.push(
                    line.spans
                        .iter()
                        .map(|s| s.text.as_str())
                        .collect::<String>(),
                );
            }
        }
    }
    lines
}

#[test]
fn committed_schema_is_a_valid_draft_2020_12_schema() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("schema/document.schema.json is not a valid JSON Schema: {e}");
    }
}

#[test]
fn two_line_pdf_output_is_valid() {
    let v = validator();
    let doc = extract(&plain_pdf(), &Options::default()).expect("the hand-written PDF opens");
    let value = assert_valid(&v, &doc, "two-line PDF");
    assert_eq!(
        all_text(&doc),
        ["Hello schema world", "Second line of text"]
    );
    let page = &value["pages"][0];
    assert_eq!(
        (page["width"].as_f64(), page["height"].as_f64()),
        (Some(612.0), Some(792.0))
    );
    // The first baseline is 72 pt from the top: the span box sits just above y = 72.
    let bbox = page["blocks"][0]["lines"][0]["spans"][0]["bbox"]
        .as_array()
        .unwrap();
    assert_eq!(bbox.len(), 4);
    assert_eq!(bbox[0].as_f64(), Some(72.0));
    let (y0, y1) = (bbox[1].as_f64().unwrap(), bbox[3].as_f64().unwrap());
    assert!(y0 < 72.0 && y1 > 72.0 && y1 < 80.0, "bbox {bbox:?}");
    assert_eq!(
        page["blocks"][0]["lines"][0]["spans"][0]["font"],
        "Helvetica"
    );
    assert!(
        page.get("diagnostics").is_none(),
        "no page diagnostics expected: {page}"
    );
}

#[test]
fn pdf_with_metadata_and_rotation_is_valid() {
    let info = "<< /Title (Schema test) /Author (NeuralDocFlow) /Producer (hand-written) \
                /CreationDate (D:20210304102030+01'00') >>"
        .to_owned();
    let objects = one_page(
        "/Rotate 90 /CropBox [0 0 600 780]",
        stream("", TWO_LINES),
        "/Lang (en-GB) /MarkInfo << /Marked true >>",
        &[info],
    );
    let v = validator();
    let doc = extract(&pdf(&objects, "/Info 6 0 R"), &Options::default()).unwrap();
    let value = assert_valid(&v, &doc, "PDF with metadata");
    let m = &doc.metadata;
    assert_eq!(m.page_count, 1);
    assert_eq!(m.pdf_version, "1.7");
    assert_eq!(m.title.as_deref(), Some("Schema test"));
    assert_eq!(m.author.as_deref(), Some("NeuralDocFlow"));
    assert_eq!(m.producer.as_deref(), Some("hand-written"));
    assert_eq!(m.created.as_deref(), Some("2021-03-04T10:20:30+01:00"));
    assert_eq!(m.language.as_deref(), Some("en-GB"));
    assert!(m.tagged && !m.encrypted);
    // Absent optional metadata is absent, not null.
    assert!(value["metadata"].get("subject").is_none());
    let page = &doc.pages[0];
    assert_eq!(page.rotation, 90);
    // Visible size: the crop box, turned by the rotation.
    assert_eq!((page.width, page.height), (780.0, 600.0));
}

#[test]
fn pdf_with_unknown_filter_reports_a_diagnostic_and_is_valid() {
    let objects = one_page("", stream("/Filter /NoSuchDecode", TWO_LINES), "", &[]);
    let v = validator();
    let doc = extract(&pdf(&objects, ""), &Options::default()).unwrap();
    let value = assert_valid(&v, &doc, "PDF with an unknown filter");
    let diags = &doc.pages[0].diagnostics;
    assert!(
        diags
            .iter()
            .any(|d| d.code == Code::StreamDamaged && d.page == Some(1)),
        "expected stream_damaged on page 1, got {diags:?}"
    );
    assert!(value["pages"][0]["diagnostics"].is_array());
}

#[test]
fn pdf_with_an_error_diagnostic_is_valid() {
    // A limit crossed on the page: the page is cut short with an error, the document still
    // extracts.
    let mut options = Options::default();
    options.limits.max_operators_per_page = 4;
    let v = validator();
    let doc = extract(&plain_pdf(), &options).unwrap();
    assert_valid(&v, &doc, "PDF with a page error");
    let diags = &doc.pages[0].diagnostics;
    assert!(
        diags
            .iter()
            .any(|d| d.code == Code::TooManyOperators && d.severity == Severity::Error),
        "expected a too_many_operators error, got {diags:?}"
    );
}

#[test]
fn pdf_with_styled_invisible_and_rotated_text_is_valid() {
    // Bold and monospace fonts, invisible text (rendering mode 3) and a line at 90 degrees:
    // exercises the optional span and line fields.
    let content = "BT /F1 12 Tf 72 720 Td (Plain text here) Tj ET \
                   BT /F2 12 Tf 72 680 Td (Bold text here) Tj ET \
                   BT /F3 10 Tf 72 640 Td (Mono text here) Tj ET \
                   BT 3 Tr /F1 12 Tf 72 600 Td (Hidden OCR text) Tj ET \
                   BT /F1 12 Tf 0 1 -1 0 300 200 Tm (Rotated text) Tj ET";
    let objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
         /Resources << /Font << /F1 4 0 R /F2 6 0 R /F3 7 0 R >> >> /Contents 5 0 R >>"
            .to_owned(),
        HELVETICA.to_owned(),
        stream("", content),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>".to_owned(),
    ];
    let v = validator();
    let doc = extract(&pdf(&objects, ""), &Options::default()).unwrap();
    let value = assert_valid(&v, &doc, "PDF with styled text");
    let spans: Vec<&Value> = value["pages"][0]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["lines"].as_array().unwrap())
        .flat_map(|l| l["spans"].as_array().unwrap())
        .collect();
    let span = |text: &str| -> &Value {
        spans
            .iter()
            .find(|s| s["text"].as_str().is_some_and(|t| t.contains(text)))
            .unwrap_or_else(|| panic!("no span with {text:?} in {spans:?}"))
    };
    assert_eq!(span("Bold")["bold"], true);
    assert_eq!(span("Mono")["monospace"], true);
    assert_eq!(span("Hidden")["invisible"], true);
    assert!(span("Plain").get("bold").is_none() && span("Plain").get("invisible").is_none());
    let angles: Vec<(String, Option<f64>)> = value["pages"][0]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["lines"].as_array().unwrap())
        .map(|l| {
            (
                l["spans"][0]["text"].as_str().unwrap().to_owned(),
                l.get("angle").and_then(Value::as_f64),
            )
        })
        .collect();
    assert!(
        angles.contains(&("Rotated text".to_owned(), Some(90.0))),
        "{angles:?}"
    );
    assert!(
        angles.contains(&("Plain text here".to_owned(), None)),
        "{angles:?}"
    );
}

/// The example in docs/output-format.md: a bold title and a hyphenated paragraph.
fn docs_example_pdf() -> Vec<u8> {
    let content = "BT /F2 18 Tf 72 720 Td (Quarterly report) Tj ET \
                   BT /F1 12 Tf 72 690 Td (Sales grew in every region. The new prod-) Tj \
                   0 -14 Td (uct line sold well.) Tj ET";
    let info = "<< /Title (Quarterly report) /Author (Jane Doe) /Producer (hand-written) \
                /CreationDate (D:20210304102030+01'00') >>";
    let objects = vec![
        "<< /Type /Catalog /Pages 2 0 R /Lang (en) >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
         /Resources << /Font << /F1 4 0 R /F2 6 0 R >> >> /Contents 5 0 R >>"
            .to_owned(),
        HELVETICA.to_owned(),
        stream("", content),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>".to_owned(),
        info.to_owned(),
    ];
    pdf(&objects, "/Info 7 0 R")
}

/// The fenced blocks of `lang` in docs/output-format.md, in order.
fn doc_blocks(lang: &str) -> Vec<String> {
    let path = repo_root().join("docs/output-format.md");
    let md = read_text(&path);
    let fence = format!("```{lang}\n");
    let mut blocks = Vec::new();
    let mut rest = md.as_str();
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```\n").expect("closed fence");
        blocks.push(body[..end].to_owned());
        rest = &body[end..];
    }
    blocks
}

#[test]
fn docs_example_is_real_output() {
    let doc = extract(&docs_example_pdf(), &Options::default()).unwrap();
    let v = validator();
    let actual = assert_valid(&v, &doc, "docs example");
    let json = doc_blocks("json");
    let documented: Value = serde_json::from_str(&json[0]).expect("the first json block parses");
    assert_eq!(
        documented,
        actual,
        "docs/output-format.md's example differs from the engine's output:\n{}",
        serde_json::to_string_pretty(&actual).unwrap()
    );
    let text = ndf_extract::document_text(&doc).replace('\x0c', "\\f\n");
    assert_eq!(doc_blocks("text")[0], text);
    // A fenced block cannot show the blank line that ends every Markdown paragraph.
    let markdown = ndf_extract::document_markdown(&doc);
    assert_eq!(
        doc_blocks("markdown")[0],
        format!("{}\n", markdown.trim_end())
    );
}

#[test]
fn corrupted_documents_are_rejected() {
    let v = validator();
    let doc = extract(&plain_pdf(), &Options::default()).unwrap();
    let good = as_json(&doc);
    assert!(errors(&v, &good).is_empty());

    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut bad = good.clone();
    bad["pages"][0]["blocks"][0]["lines"][0]["spans"][0]
        .as_object_mut()
        .unwrap()
        .remove("text");
    cases.push(("span without text", bad));
    let mut bad = good.clone();
    bad["pages"][0]["blocks"][0]["lines"][0]["spans"][0]["bbox"] = json!([1.0, 2.0, 3.0]);
    cases.push(("bbox with three numbers", bad));
    let mut bad = good.clone();
    bad["pages"][0]["blocks"][0]["bbox"] = json!(["1", 2, 3, 4]);
    cases.push(("bbox with a string", bad));
    let mut bad = good.clone();
    bad["pages"][0]["blocks"][0]["role"] = json!("sidebar");
    cases.push(("unknown block role", bad));
    let mut bad = good.clone();
    bad["diagnostics"] = json!([{ "code": "no_such_code", "severity": "error", "message": "x" }]);
    cases.push(("unknown diagnostic code", bad));
    let mut bad = good.clone();
    bad["metadata"]["title"] = Value::Null;
    cases.push(("null title", bad));
    let mut bad = good.clone();
    bad["pages"][0]["rotation"] = json!(45);
    cases.push(("rotation 45", bad));
    let mut bad = good.clone();
    bad["schema_version"] = json!("2.0");
    cases.push(("another major version", bad));
    let mut bad = good;
    bad.as_object_mut().unwrap().remove("metadata");
    cases.push(("no metadata", bad));

    for (what, bad) in cases {
        assert!(
            !v.is_valid(&bad),
            "the schema accepted a document with {what}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The dev corpus.

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_output_is_valid() {
    let Some(dir) = ndf_testkit::corpus::dir_for_test("corpus_output_is_valid") else {
        return;
    };
    let v = validator();
    let (mut checked, mut failed_to_open) = (0usize, 0usize);
    let mut failures = Vec::new();
    for path in corpus_files(&dir) {
        let data = read_bounded(&path, Options::default().limits.max_file_bytes);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // A document-level error yields no document, so there is nothing to validate.
        let Ok(doc) = extract(&data, &Options::default()) else {
            failed_to_open += 1;
            continue;
        };
        checked += 1;
        let errs = errors(&v, &as_json(&doc));
        if !errs.is_empty() {
            let shown: Vec<&str> = errs.iter().take(3).map(String::as_str).collect();
            failures.push(format!(
                "{name} ({} errors): {}",
                errs.len(),
                shown.join("; ")
            ));
        }
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "corpus_output_is_valid: {checked} documents validated, {failed_to_open} did not open"
        );
    }
    assert!(
        checked > 0,
        "no corpus document could be extracted from {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "output violating the schema:\n{}",
        failures.join("\n")
    );
}
