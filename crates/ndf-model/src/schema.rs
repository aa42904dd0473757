//! The JSON Schema of [`Document`], generated from the Rust types so that it cannot drift from
//! what the serialiser writes. The committed copy is `schema/document.schema.json`.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::{Document, SCHEMA_VERSION};

/// `$id` of the schema: names the major version, which is what a reader depends on.
pub const SCHEMA_ID: &str = "urn:neuraldocflow:schema:document:1";

/// The JSON Schema (draft 2020-12) of [`Document`] as a JSON value, with objects' keys sorted.
///
/// It describes what is serialised (fields skipped when empty are optional, absent rather than
/// `null`), not everything the deserialiser would accept.
pub fn document_schema() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<Document>().to_value();
    tidy(&mut schema);
    if let Some(root) = schema.as_object_mut() {
        root.insert("$id".into(), SCHEMA_ID.into());
        root.insert("title".into(), "NeuralDocFlow document".into());
        root.insert(
            "description".into(),
            format!(
                "Output of `ndf extract --format json`, schema version {SCHEMA_VERSION}. \
                 Later minor versions only add optional properties and enum values (such as \
                 diagnostic codes), so readers should ignore what they do not know; a new major \
                 version may break readers."
            )
            .into(),
        );
        if let Some(version) = root
            .get_mut("properties")
            .and_then(|p| p.get_mut("schema_version"))
        {
            let major = SCHEMA_VERSION.split('.').next().unwrap_or(SCHEMA_VERSION);
            version["description"] = format!(
                "Schema version of the producer, \"major.minor\" (this schema: {SCHEMA_VERSION})."
            )
            .into();
            // The major is what a reader depends on; the minor only announces additions.
            version["pattern"] = format!("^{major}\\.[0-9]+$").into();
        }
    }
    sorted(schema)
}

/// [`document_schema`] pretty-printed with a trailing newline: the exact content of
/// `schema/document.schema.json`.
pub fn document_schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&document_schema()).unwrap_or_default();
    s.push('\n');
    s
}

/// Post-process what schemars derives:
/// - optional properties of the model are skipped when empty (`skip_serializing_if`), never
///   written as `null`, but schemars allows `null` for every `Option`: take it out;
/// - doc comments are hard-wrapped: join their lines, keep paragraph breaks.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            let required: Vec<String> = obj
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(props)) = obj.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    if !required.contains(name) {
                        strip_null_type(prop);
                    }
                }
            }
            if let Some(Value::String(d)) = obj.get_mut("description") {
                *d = unwrap_lines(d);
            }
            for child in obj.values_mut() {
                tidy(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|para| para.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn strip_null_type(prop: &mut Value) {
    let Some(obj) = prop.as_object_mut() else {
        return;
    };
    // `Option<T>` of a scalar: `"type": [T, "null"]`.
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            obj.insert("type".into(), only);
        }
    }
    // `Option<T>` of a referenced type: `"anyOf": [{"$ref": ...}, {"type": "null"}]`.
    if let Some(Value::Array(alts)) = obj.get_mut("anyOf") {
        alts.retain(|a| a.get("type").is_none_or(|t| t != "null"));
    }
}

/// Rebuild every object with its keys in sorted order, whatever map type serde_json was built
/// with (`preserve_order` may be enabled elsewhere in a build), so the file is stable.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(obj) => {
            let mut entries: Vec<(String, Value)> = obj.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
