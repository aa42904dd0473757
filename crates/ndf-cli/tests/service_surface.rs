//! The service's outer surface over real sockets, on both backends (embedded SQLite + directory
//! and PostgreSQL + S3):
//!
//! - `callbacks_to_embedded_loopback_forms_are_refused_at_submission`: a `callback_url` whose
//!   host is an IPv6 form of a loopback or private IPv4 address (IPv4-compatible `::a.b.c.d`,
//!   6to4 `2002::/16`, IPv4-translated, NAT64, Teredo) is refused with 400 when the job is
//!   submitted, and no job is created; a public address is accepted.
//! - `every_error_is_a_problem_document`: a list of bad requests (malformed JSON, bad query, bad
//!   path id, wrong method, oversize body, wrong content type, unknown path, missing key, on the
//!   API and on the admin listener) each gets `application/problem+json` with a parseable body
//!   whose `code` is the expected row of the error table and whose `status` is the response's.
//! - `admin_answers_match_the_openapi_schemas`: the admin endpoints answer what
//!   docs/openapi.json says (their properties and statuses).
#![allow(clippy::print_stderr)]

mod support;

use ndf_testkit::text_doc;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use support::{Backend, Opts, Server, backends, client, ndf};

/// The webhook secret of the test servers (a fixture, not a secret).
const HOOK_SECRET: &str = "surface-test-webhook-secret";

/// A new API key of `tenant` with `scopes`, created before the server starts.
fn create_key(backend: &Backend, tenant: &str, scopes: &[&str]) -> String {
    let mut args = vec![
        "keys",
        "create",
        "--tenant",
        tenant,
        "--name",
        "surface test",
    ];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let (ok, out, err) = ndf(backend, &args);
    assert!(ok, "ndf keys create: {err}");
    let v: Value = serde_json::from_str(&out).expect("key JSON");
    v["key"].as_str().expect("the key").to_owned()
}

const ALL_SCOPES: [&str; 4] = ["extract", "jobs:read", "jobs:write", "admin"];

/// `s` percent-encoded for a query value.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Status, content type and JSON body (Null when not JSON) of a response.
fn parts(r: Response) -> (u16, String, Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, ct, json)
}

/// Why a response is not the expected problem document, if it is not.
fn problem_mismatch(r: Response, status: u16, code: &str) -> Option<String> {
    let (got, ct, body) = parts(r);
    let ok = got == status
        && ct.starts_with("application/problem+json")
        && body["code"] == code
        && body["status"] == status
        && body["type"] == format!("urn:neuraldocflow:problem:{code}")
        && body["title"].is_string()
        && body["detail"].is_string();
    (!ok).then(|| format!("{got} {ct:?} {body} (wanted {status} `{code}`)"))
}

#[test]
fn callbacks_to_embedded_loopback_forms_are_refused_at_submission() {
    for backend in backends("surface_ssrf") {
        let name = backend.name();
        let key = create_key(&backend, "acme", &ALL_SCOPES);
        // No consumers: an accepted job stays queued, so nothing is ever delivered.
        let server = Server::serve(
            &backend,
            Opts {
                args: vec![
                    "--no-jobs".into(),
                    "--set".into(),
                    format!("webhook_secret={HOOK_SECRET}"),
                ],
                ..Opts::default()
            },
        );
        let http = client();
        let submit = |url: &str| {
            http.post(server.url(&format!("/v1/jobs?callback_url={}", percent(url))))
                .bearer_auth(&key)
                .header(CONTENT_TYPE, "application/pdf")
                .body(text_doc(&["callback target check"]))
                .send()
                .expect("request")
        };
        let mut accepted = Vec::new();
        // Regression: IPv4-compatible (`::127.0.0.1`) and 6to4 (`2002:7f00:1::`, the 6to4
        // prefix of 127.0.0.1) forms of loopback passed the SSRF filter and were accepted.
        for url in [
            "https://[::127.0.0.1]/",
            "https://[2002:7f00:1::]/",
            "https://[::169.254.169.254]/latest/meta-data",
            "https://[2002:a9fe:a9fe::1]/latest/meta-data",
            "https://[::ffff:0:7f00:1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[64:ff9b:1::808:808]/",
            "https://[2001:0:808:808::80ff:fffe]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::1]/",
        ] {
            if let Some(why) = problem_mismatch(submit(url), 400, "invalid_argument") {
                accepted.push(format!("{url}: {why}"));
            }
        }
        assert!(
            accepted.is_empty(),
            "[{name}] callbacks to non-public addresses not refused at submission:\n{}",
            accepted.join("\n")
        );
        let listed = http
            .get(server.url("/v1/jobs"))
            .bearer_auth(&key)
            .send()
            .expect("list");
        let (status, _, v) = parts(listed);
        assert_eq!(status, 200, "[{name}] {v}");
        assert_eq!(
            v["jobs"].as_array().map(Vec::len),
            Some(0),
            "[{name}] a refused submission created a job: {v}"
        );
        // A public address is accepted (the job stays queued: no consumer, no delivery).
        let (status, _, v) = parts(submit("https://[2606:4700:4700::1111]/hook"));
        assert_eq!(status, 202, "[{name}] public callback refused: {v}");
        assert_eq!(v["callback_url"], "https://[2606:4700:4700::1111]/hook");
    }
}

/// One bad request and the problem document it must get.
struct Case {
    what: &'static str,
    request: Box<dyn Fn(&Client) -> RequestBuilder>,
    status: u16,
    code: &'static str,
}

fn case(
    what: &'static str,
    status: u16,
    code: &'static str,
    request: impl Fn(&Client) -> RequestBuilder + 'static,
) -> Case {
    Case {
        what,
        request: Box::new(request),
        status,
        code,
    }
}

#[test]
fn every_error_is_a_problem_document() {
    for backend in backends("surface_problem") {
        let name = backend.name();
        let key = create_key(&backend, "acme", &ALL_SCOPES);
        let reader = create_key(&backend, "acme", &["jobs:read"]);
        let server = Server::serve(
            &backend,
            Opts::set(&[("max_body_bytes", "4096"), ("admin_listen", "127.0.0.1:0")]),
        );
        let api = |path: &str| server.url(path);
        let admin = |path: &str| server.admin_url(path);
        let (k, r) = (key.clone(), reader.clone());
        let auth = move |b: RequestBuilder| b.bearer_auth(&k);
        let a = auth.clone();
        let json = move |c: &Client, url: &str, ct: &'static str, body: Vec<u8>| {
            a(c.post(url)).header(CONTENT_TYPE, ct).body(body)
        };
        let u = |s: String| s;
        let cases = vec![
            // Malformed and mistyped JSON bodies.
            case("malformed JSON", 400, "invalid_argument", {
                let (json, url) = (json.clone(), u(api("/v1/admin/keys")));
                move |c| json(c, &url, "application/json", b"{\"tenant\":".to_vec())
            }),
            case("JSON of the wrong shape", 400, "invalid_argument", {
                let (json, url) = (json.clone(), u(api("/v1/admin/keys")));
                move |c| {
                    json(
                        c,
                        &url,
                        "application/json",
                        b"{\"tenant\":\"acme\"}".to_vec(),
                    )
                }
            }),
            // Wrong content type: a JSON endpoint, and the PDF endpoints.
            case(
                "JSON endpoint, text/plain body",
                415,
                "unsupported_media_type",
                {
                    let (json, url) = (json.clone(), u(api("/v1/admin/keys")));
                    move |c| json(c, &url, "text/plain", b"{}".to_vec())
                },
            ),
            case("extract, an HTML body", 415, "not_pdf", {
                let (json, url) = (json.clone(), u(api("/v1/extract")));
                move |c| {
                    json(
                        c,
                        &url,
                        "text/html",
                        b"<html><body>hi</body></html>".to_vec(),
                    )
                }
            }),
            // Oversize bodies: the JSON limit (2 MiB) and max_body_bytes (4096 here).
            case("JSON body over 2 MiB", 413, "payload_too_large", {
                let (json, url) = (json.clone(), u(api("/v1/admin/keys")));
                move |c| {
                    let mut body = b"{\"tenant\":\"".to_vec();
                    body.resize(3 << 20, b'a');
                    json(c, &url, "application/json", body)
                }
            }),
            case("PDF over max_body_bytes", 413, "payload_too_large", {
                let (json, url) = (json.clone(), u(api("/v1/extract")));
                move |c| {
                    let mut body = b"%PDF-1.7\n".to_vec();
                    body.resize(64 << 10, b' ');
                    json(c, &url, "application/pdf", body)
                }
            }),
            // Bad query strings and headers.
            case("non-numeric limit", 400, "invalid_argument", {
                let (auth, url) = (auth.clone(), u(api("/v1/jobs?limit=abc")));
                move |c| auth(c.get(&url))
            }),
            case("unknown format", 400, "invalid_argument", {
                let (json, url) = (json.clone(), u(api("/v1/extract?format=docx")));
                move |c| json(c, &url, "application/pdf", text_doc(&["x"]))
            }),
            case("repeated admin query field", 400, "invalid_argument", {
                let (auth, url) = (auth.clone(), u(api("/v1/admin/keys?tenant=a&tenant=b")));
                move |c| auth(c.get(&url))
            }),
            case("password header not ASCII", 400, "invalid_argument", {
                let (json, url) = (json.clone(), u(api("/v1/extract")));
                move |c| {
                    json(c, &url, "application/pdf", text_doc(&["x"])).header(
                        "x-pdf-password",
                        HeaderValue::from_bytes(b"p\xe4ss").expect("obs-text header"),
                    )
                }
            }),
            // Bad path ids: not valid UTF-8 once percent-decoded, and not a job id.
            case("job id not UTF-8", 400, "invalid_argument", {
                let (auth, url) = (auth.clone(), u(api("/v1/jobs/%FF")));
                move |c| auth(c.get(&url))
            }),
            case("result of an id not UTF-8", 400, "invalid_argument", {
                let (auth, url) = (auth.clone(), u(api("/v1/jobs/%C3%28/result")));
                move |c| auth(c.get(&url))
            }),
            case("key id not UTF-8", 400, "invalid_argument", {
                let (auth, url) = (auth.clone(), u(api("/v1/admin/keys/%FF")));
                move |c| auth(c.delete(&url))
            }),
            case("tenant id not UTF-8", 400, "invalid_argument", {
                let (auth, url) = (auth.clone(), u(api("/v1/tenants/%FF/data")));
                move |c| auth(c.delete(&url))
            }),
            case("not a job id", 404, "not_found", {
                let (auth, url) = (auth.clone(), u(api("/v1/jobs/not-a-job")));
                move |c| auth(c.get(&url))
            }),
            case("unknown key id", 404, "not_found", {
                let (auth, url) = (auth.clone(), u(api("/v1/admin/keys/000000000000")));
                move |c| auth(c.delete(&url))
            }),
            // Wrong methods, on the job routes and on the admin routes.
            case("PUT /v1/jobs", 405, "method_not_allowed", {
                let (auth, url) = (auth.clone(), u(api("/v1/jobs")));
                move |c| auth(c.put(&url)).body("x")
            }),
            case("PUT /v1/admin/keys", 405, "method_not_allowed", {
                let (auth, url) = (auth.clone(), u(api("/v1/admin/keys")));
                move |c| auth(c.put(&url)).body("x")
            }),
            case("GET /v1/admin/keys/{id}", 405, "method_not_allowed", {
                let (auth, url) = (auth.clone(), u(api("/v1/admin/keys/abc")));
                move |c| auth(c.get(&url))
            }),
            case("PATCH /v1/tenants/{id}/data", 405, "method_not_allowed", {
                let (auth, url) = (auth.clone(), u(api("/v1/tenants/acme/data")));
                move |c| auth(c.patch(&url)).body("x")
            }),
            // Unknown paths.
            case("GET unknown path", 404, "not_found", {
                let url = u(api("/v2/nothing-here"));
                move |c| c.get(&url)
            }),
            case("POST unknown path", 404, "not_found", {
                let url = u(api("/v1/admin/nothing-here"));
                move |c| c.post(&url).body("x")
            }),
            // Authentication and scopes.
            case("no key", 401, "unauthorized", {
                let url = u(api("/v1/jobs"));
                move |c| c.get(&url)
            }),
            case("a key without the admin scope", 403, "forbidden", {
                let url = u(api("/v1/admin/keys"));
                let r = r.clone();
                move |c| c.get(&url).bearer_auth(&r)
            }),
            // The admin listener.
            case("admin listener, unknown path", 404, "not_found", {
                let url = u(admin("/debug/nothing-here"));
                move |c| c.get(&url)
            }),
            case("admin listener, wrong method", 405, "method_not_allowed", {
                let url = u(admin("/debug/heap"));
                move |c| c.post(&url).body("x")
            }),
            case("admin listener, bad query", 400, "invalid_argument", {
                let url = u(admin("/debug/pprof/profile?seconds=abc"));
                move |c| c.get(&url)
            }),
        ];
        let http = client();
        let mut wrong = Vec::new();
        for c in &cases {
            match (c.request)(&http).send() {
                Ok(r) => {
                    if let Some(why) = problem_mismatch(r, c.status, c.code) {
                        wrong.push(format!("{}: {why}", c.what));
                    }
                }
                Err(e) => wrong.push(format!("{}: no answer: {e:?}", c.what)),
            }
        }
        // Regression: the admin routes were registered after the 405 fallback (axum applies it
        // to earlier routes only) and the admin listener had no fallbacks: empty 405 and 404
        // answers; a path id that is not UTF-8 got axum's text/plain 400; a JSON body of the
        // wrong content type or size was a 400 instead of 415 and 413.
        assert!(
            wrong.is_empty(),
            "[{name}] not the expected problem documents:\n{}",
            wrong.join("\n")
        );
    }
}

/// The committed OpenAPI document.
fn openapi() -> Value {
    use std::io::Read;
    let path = format!("{}/../../docs/openapi.json", env!("CARGO_MANIFEST_DIR"));
    let mut text = String::new();
    std::fs::File::open(path)
        .expect("docs/openapi.json")
        .take(16 << 20)
        .read_to_string(&mut text)
        .expect("docs/openapi.json is UTF-8");
    serde_json::from_str(&text).expect("JSON")
}

/// The property names of a schema (following `$ref` and `allOf`).
fn properties(doc: &Value, schema: &Value) -> Vec<String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return properties(doc, &doc["components"]["schemas"][name]);
    }
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(properties(doc, part));
    }
    names.sort();
    names
}

/// The schema an operation declares for a status.
fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let r = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(r.is_object(), "{method} {path} does not declare {status}");
    &r["content"]["application/json"]["schema"]
}

/// The keys of a JSON object, sorted.
fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn admin_answers_match_the_openapi_schemas() {
    let doc = openapi();
    for backend in backends("surface_openapi") {
        let name = backend.name();
        let key = create_key(&backend, "ops", &["admin"]);
        let server = Server::serve(&backend, Opts::default());
        let http = client();
        // Create: 201 with the CreatedKey schema.
        let r = http
            .post(server.url("/v1/admin/keys"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"tenant": "acme", "name": "from the API", "scopes": ["extract"]}))
            .send()
            .expect("create");
        let (status, _, created) = parts(r);
        assert_eq!(status, 201, "[{name}] {created}");
        let schema = response_schema(&doc, "/v1/admin/keys", "post", 201);
        assert_eq!(
            keys_of(&created),
            properties(&doc, schema),
            "[{name}] {created}"
        );
        // List: 200 with KeyList of KeyView.
        let r = http
            .get(server.url("/v1/admin/keys?tenant=acme"))
            .bearer_auth(&key)
            .send()
            .expect("list");
        let (status, _, list) = parts(r);
        assert_eq!(status, 200, "[{name}] {list}");
        let schema = response_schema(&doc, "/v1/admin/keys", "get", 200);
        assert_eq!(keys_of(&list), properties(&doc, schema), "[{name}] {list}");
        let view = &list["keys"][0];
        assert_eq!(
            keys_of(view),
            properties(&doc, &doc["components"]["schemas"]["KeyView"]),
            "[{name}] {view}"
        );
        // Revoke: 204, then 404.
        let id = created["id"].as_str().expect("id");
        for want in [204, 404] {
            let r = http
                .delete(server.url(&format!("/v1/admin/keys/{id}")))
                .bearer_auth(&key)
                .send()
                .expect("revoke");
            assert_eq!(r.status().as_u16(), want, "[{name}] revoke");
            assert!(
                doc["paths"]["/v1/admin/keys/{id}"]["delete"]["responses"][want.to_string()]
                    .is_object(),
                "[{name}] {want} not declared"
            );
        }
        // Erase a tenant: 200 with TenantErasure.
        let r = http
            .delete(server.url("/v1/tenants/acme/data"))
            .bearer_auth(&key)
            .send()
            .expect("erase");
        let (status, _, erased) = parts(r);
        assert_eq!(status, 200, "[{name}] {erased}");
        let schema = response_schema(&doc, "/v1/tenants/{id}/data", "delete", 200);
        assert_eq!(
            keys_of(&erased),
            properties(&doc, schema),
            "[{name}] {erased}"
        );
        // Without a key: 401 as declared.
        let r = http
            .get(server.url("/v1/admin/keys"))
            .send()
            .expect("anonymous");
        assert_eq!(r.status().as_u16(), 401, "[{name}]");
    }
}
