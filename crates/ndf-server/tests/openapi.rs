//! The committed OpenAPI document (docs/openapi.json) must match the one generated from the
//! code. Regenerate with `NDF_UPDATE_OPENAPI=1 cargo test -p ndf-server --test openapi`.
#![allow(clippy::disallowed_methods)] // reads and writes the committed file

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = ndf_server::openapi::document_json();
    if std::env::var_os("NDF_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(0, |i| i + 1);
        panic!(
            "docs/openapi.json differs from the generated document (first difference at line {line}); \
             regenerate with NDF_UPDATE_OPENAPI=1 cargo test -p ndf-server --test openapi"
        );
    }
}

#[test]
fn openapi_is_3_1_and_lists_every_endpoint() {
    let doc: serde_json::Value =
        serde_json::from_str(&ndf_server::openapi::document_json()).expect("JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/v1/extract", &["post"][..]),
        ("/v1/jobs", &["post", "get"]),
        ("/v1/jobs/{id}", &["get", "delete"]),
        ("/v1/jobs/{id}/result", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ] {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*m)).is_some(),
                "{m} {path} missing"
            );
        }
    }
}
