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
        ("/v1/admin/keys", &["post", "get"]),
        ("/v1/admin/keys/{id}", &["delete"]),
        ("/v1/tenants/{id}/data", &["delete"]),
    ] {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*m)).is_some(),
                "{m} {path} missing"
            );
        }
    }
}

/// Every operation under /v1 names its security requirement (both ways of presenting a key,
/// declared as schemes) and the statuses authentication can answer; every error response is a
/// problem document.
#[test]
fn v1_operations_declare_security_and_problem_errors() {
    let doc: serde_json::Value =
        serde_json::from_str(&ndf_server::openapi::document_json()).expect("JSON");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["api_key"]["in"], "header", "{schemes}");
    assert_eq!(schemes["api_key"]["name"], "x-api-key", "{schemes}");
    let mut v1 = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        r["content"].get("application/problem+json").is_some(),
                        "{method} {path} {status} is not a problem document"
                    );
                }
            }
            if !path.starts_with("/v1/") {
                continue;
            }
            v1 += 1;
            let security = op["security"].to_string();
            assert!(
                security.contains("bearer") && security.contains("api_key"),
                "{method} {path}: security {security}"
            );
            for status in ["401", "403", "429", "500", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not list {status}"
                );
            }
        }
    }
    assert_eq!(v1, 10, "operations under /v1");
    // The admin schemas are described.
    for schema in [
        "NewKey",
        "KeyView",
        "CreatedKey",
        "KeyList",
        "TenantErasure",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing"
        );
    }
}
