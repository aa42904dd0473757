//! The committed `schema/document.schema.json` must be exactly what the Rust types generate.
//! `NDF_UPDATE_SCHEMA=1 cargo test -p ndf-model --test schema_drift` rewrites it.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndf_model::{
    Block, BlockRole, Code, Diagnostic, Document, Line, Metadata, Page, Rect, SCHEMA_VERSION, Span,
    WritingDirection, document_schema, document_schema_json,
};
use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/document.schema.json")
}

/// Read a text file of at most 1 MiB (the workspace forbids unbounded reads).
fn read_text(path: &Path) -> std::io::Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)?
        .take(1 << 20)
        .read_to_string(&mut s)?;
    Ok(s)
}

#[test]
fn committed_schema_matches_the_rust_types() {
    let generated = document_schema_json();
    let path = committed_path();
    if std::env::var_os("NDF_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = read_text(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nGenerate it with: NDF_UPDATE_SCHEMA=1 cargo test -p ndf-model --test schema_drift",
            path.display()
        )
    });
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "{} is out of date with the Rust output types (first difference at line {}:\n  committed: {:?}\n  generated: {:?}).\n\
             If the model change is intended, regenerate it with\n  NDF_UPDATE_SCHEMA=1 cargo test -p ndf-model --test schema_drift\n\
             then update docs/output-format.md and, for a breaking change, SCHEMA_VERSION.",
            path.display(),
            first + 1,
            committed.lines().nth(first).unwrap_or("<end of file>"),
            generated.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn generation_is_deterministic_and_well_formed() {
    let a = document_schema_json();
    assert_eq!(a, document_schema_json());
    assert!(a.ends_with("}\n") && !a.ends_with("\n\n"));
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    // The `$id` names the major version (a literal, so check it follows SCHEMA_VERSION).
    let major = SCHEMA_VERSION.split('.').next().unwrap();
    assert_eq!(
        v["$id"],
        format!("urn:neuraldocflow:schema:document:{major}")
    );
    assert_eq!(v["$id"], ndf_model::SCHEMA_ID);
    assert!(v["description"].as_str().unwrap().contains(SCHEMA_VERSION));
    assert_eq!(v["properties"]["schema_version"]["type"], "string");
}

fn def<'a>(schema: &'a Value, name: &str) -> &'a Value {
    &schema["$defs"][name]
}

fn required(obj: &Value) -> Vec<&str> {
    let mut r: Vec<&str> = obj["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    r.sort_unstable();
    r
}

#[test]
fn skipped_fields_are_optional_and_never_null() {
    let s = document_schema();
    assert_eq!(required(def(&s, "Span")), ["bbox", "font", "size", "text"]);
    assert_eq!(required(def(&s, "Line")), ["bbox", "dir", "spans"]);
    assert_eq!(
        required(def(&s, "Page")),
        ["blocks", "height", "number", "rotation", "width"]
    );
    assert_eq!(
        required(def(&s, "Diagnostic")),
        ["code", "message", "severity"]
    );
    assert_eq!(
        required(def(&s, "Metadata")),
        [
            "encrypted",
            "linearized",
            "page_count",
            "pdf_version",
            "tagged"
        ]
    );
    assert_eq!(
        required(&s),
        ["diagnostics", "metadata", "pages", "schema_version"]
    );
    // Options are skipped when `None`, so `null` never appears in the output.
    assert!(!serde_json::to_string(&s).unwrap().contains("\"null\""));
    assert_eq!(def(&s, "Metadata")["properties"]["title"]["type"], "string");
    assert_eq!(def(&s, "Span")["properties"]["mcid"]["type"], "integer");
}

#[test]
fn rect_is_an_array_of_four_numbers() {
    let s = document_schema();
    let rect = def(&s, "Rect");
    assert_eq!(rect["type"], "array");
    assert_eq!(rect["items"]["type"], "number");
    assert_eq!(
        (rect["minItems"].as_u64(), rect["maxItems"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        def(&s, "Span")["properties"]["bbox"]["$ref"],
        "#/$defs/Rect"
    );
}

#[test]
fn enums_list_exactly_the_serialised_strings() {
    let s = document_schema();
    let consts = |name: &str| -> Vec<String> {
        def(&s, name)["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["const"].as_str().unwrap().to_owned())
            .collect()
    };
    let codes: Vec<String> = Code::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(consts("Code"), codes);
    assert_eq!(consts("Severity"), ["warning", "error"]);
    assert_eq!(consts("BlockRole"), ["body", "header", "footer"]);
    assert_eq!(consts("WritingDirection"), ["ltr", "rtl", "ttb"]);
}

/// Check `value` against `schema` for what this schema uses: `$ref`, `type`, `properties`,
/// `required`, `items`, `minItems`/`maxItems`, `oneOf` of consts, `enum`, `pattern` (only the
/// version one). Returns the first problem. A stand-in for a full validator so this crate's tests
/// stay light; `ndf-extract`'s tests use a real one.
fn check(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/$defs/").unwrap();
        check(root, &root["$defs"][name], value, at)?;
    }
    if let Some(t) = schema["type"].as_str() {
        let ok = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            other => return Err(format!("{at}: unexpected schema type {other}")),
        };
        if !ok {
            return Err(format!("{at}: {value} is not {t}"));
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        let obj = value.as_object().unwrap();
        for key in obj.keys() {
            let sub = props
                .get(key)
                .ok_or_else(|| format!("{at}: unknown property {key}"))?;
            check(root, sub, &obj[key], &format!("{at}.{key}"))?;
        }
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap();
            if !obj.contains_key(key) {
                return Err(format!("{at}: missing required {key}"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if schema["minItems"].as_u64().is_some_and(|m| len < m)
            || schema["maxItems"].as_u64().is_some_and(|m| len > m)
        {
            return Err(format!("{at}: {len} items"));
        }
        if schema.get("items").is_some() {
            for (i, item) in items.iter().enumerate() {
                check(root, &schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
    }
    if let Some(alts) = schema["oneOf"].as_array()
        && !alts.iter().any(|a| a["const"] == *value)
    {
        return Err(format!("{at}: {value} is none of the listed values"));
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        return Err(format!("{at}: {value} is not in the enum"));
    }
    Ok(())
}

fn full_document() -> Document {
    let r = Rect {
        x0: 72.0,
        y0: 90.123,
        x1: 200.0,
        y1: 102.0,
    };
    Document {
        schema_version: SCHEMA_VERSION.to_owned(),
        metadata: Metadata {
            page_count: 2,
            pdf_version: "1.7".into(),
            title: Some("T".into()),
            author: Some("A".into()),
            subject: Some("S".into()),
            keywords: Some("K".into()),
            creator: Some("C".into()),
            producer: Some("P".into()),
            created: Some("2021-03-04T10:20:30+01:00".into()),
            modified: Some("2021-03-04T10:20:30Z".into()),
            language: Some("en".into()),
            encrypted: true,
            encryption: Some("AES-128".into()),
            tagged: true,
            linearized: true,
        },
        pages: vec![Page {
            number: 1,
            width: 612.0,
            height: 792.0,
            rotation: 90,
            blocks: vec![Block {
                bbox: r,
                role: BlockRole::Footer,
                lines: vec![Line {
                    bbox: r,
                    dir: WritingDirection::Rtl,
                    angle: 12.5,
                    hyphenated: true,
                    spans: vec![Span {
                        bbox: r,
                        text: "x-".into(),
                        font: "Helvetica".into(),
                        size: 12.0,
                        bold: true,
                        italic: true,
                        monospace: true,
                        invisible: true,
                        annotation: true,
                        mcid: Some(3),
                    }],
                }],
            }],
            diagnostics: vec![Diagnostic::error(Code::PageFailed, "m").on_page(1)],
        }],
        diagnostics: vec![Diagnostic::warning(Code::XrefRepaired, "m")],
    }
}

#[test]
fn serialised_documents_fit_the_schema() {
    let schema = document_schema();
    let full = full_document();
    let mut minimal = full.clone();
    minimal.metadata = Metadata {
        pdf_version: "1.4".into(),
        ..Metadata::default()
    };
    let line = &mut minimal.pages[0].blocks[0].lines[0];
    line.angle = 0.0;
    line.hyphenated = false;
    line.spans[0] = Span {
        bbox: Rect::default(),
        text: String::new(),
        font: String::new(),
        size: 1.0,
        bold: false,
        italic: false,
        monospace: false,
        invisible: false,
        annotation: false,
        mcid: None,
    };
    minimal.pages[0].diagnostics.clear();
    for doc in [&full, &minimal] {
        let value = serde_json::to_value(doc).unwrap();
        check(&schema, &schema, &value, "$").unwrap();
    }
    // The full document exercises every property the schema lists.
    let span = serde_json::to_value(&full.pages[0].blocks[0].lines[0].spans[0]).unwrap();
    let listed = def(&schema, "Span")["properties"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(span.as_object().unwrap().len(), listed);
    let meta = serde_json::to_value(&full.metadata).unwrap();
    let listed = def(&schema, "Metadata")["properties"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(meta.as_object().unwrap().len(), listed);
}

#[test]
fn the_stand_in_validator_rejects_broken_documents() {
    let schema = document_schema();
    let good = serde_json::to_value(full_document()).unwrap();
    let mut cases = Vec::new();
    let mut v = good.clone();
    v["pages"][0]["blocks"][0]["lines"][0]["spans"][0]
        .as_object_mut()
        .unwrap()
        .remove("text");
    cases.push(("span without text", v));
    let mut v = good.clone();
    v["pages"][0]["blocks"][0]["bbox"] = serde_json::json!([1, 2, 3]);
    cases.push(("bbox of three numbers", v));
    let mut v = good.clone();
    v["diagnostics"][0]["code"] = "no_such_code".into();
    cases.push(("unknown code", v));
    let mut v = good.clone();
    v["pages"][0]["rotation"] = 45.into();
    cases.push(("rotation 45", v));
    let mut v = good;
    v["metadata"]["title"] = Value::Null;
    cases.push(("null title", v));
    for (what, v) in cases {
        assert!(
            check(&schema, &schema, &v, "$").is_err(),
            "{what} was accepted"
        );
    }
}
