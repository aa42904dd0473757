//! The public HTTP API of `ndf serve` end to end, over real sockets against real server
//! processes: every endpoint and every status code of docs/api.md, on both backends (embedded
//! SQLite + directory; PostgreSQL + S3 when `scripts/services.sh start` ran) unless a case never
//! touches the stores.
//!
//! - `sync_extraction_formats_streaming_and_errors`: `POST /v1/extract` raw and multipart, JSON /
//!   text / Markdown, `pages=`, NDJSON streaming, 400 / 413 / 415 / 422 (encrypted), the ops
//!   endpoints (`/healthz`, `/readyz`, `/openapi.json` equal to docs/openapi.json, unknown path).
//! - `sync_extraction_overload_and_timeout_kill_the_worker`: 503 `overloaded` with Retry-After,
//!   504 `timeout` whose worker process is really killed and replaced.
//! - `jobs_lifecycle_results_idempotency_and_deletion`: 202 + Location, progress to succeeded,
//!   results in three formats, 404s, idempotency (same job / 409), failed jobs, 204 delete, 410.
//! - `queued_jobs_listing_paging_cancel_and_queue_full`: listing filters and cursor paging,
//!   409 `job_not_finished`, cancelling queued jobs (200), 400s, 204 for a cancelled job.
//! - `queue_full_refuses_jobs_with_retry_after`: 429 `queue_full`.
//! - `cancelling_a_running_job_kills_its_worker`: DELETE of a running job stops the work.
//! - `shutdown_drains_then_finishes_the_running_job_and_exits_zero`: SIGTERM behaviour.
//! - `webhooks_are_signed_and_retried`: delivery, HMAC signature checked independently, retry.
//! - `retention_removes_finished_jobs`: the sweeper deletes expired jobs and their data.
//! - `config_print_layers_sources_and_redacts_secrets`: `ndf config print`.
//! - Regression tests of bugs these tests found and that were fixed (see the `// Regression:`
//!   lines): `readyz_is_ready_*`, `query_string_errors_*`, `wrong_method_*`,
//!   `queue_limit_holds_*`, `problem_titles_*`, `far_oversized_bodies_*`.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use ndf_testkit::{FONT_RESOURCES, HELVETICA, PdfWriter, text_doc};
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use sha2::Sha256;
use support::{Backend, Opts, Server, backends, client, embedded, wait_job};

// ------------------------------------------------------------------------------ helpers

/// Three pages, one distinctive word each.
const WORDS: [&str; 3] = ["ALPHA", "BRAVO", "CHARLIE"];

fn three_pages() -> Vec<u8> {
    text_doc(&["ALPHA page one", "BRAVO page two", "CHARLIE page three"])
}

/// A document the worker sleeps on before extracting it (pool test hook; the server must run
/// with `NDF_POOL_TEST_HOOKS=1`).
fn sleepy_doc(ms: u64, text: &str) -> Vec<u8> {
    [
        format!("%NDF-TEST-SLEEP {ms}\n").into_bytes(),
        text_doc(&[text]),
    ]
    .concat()
}

/// A document the worker hangs on for an hour (pool test hook): only a kill stops it.
fn hanging_doc() -> Vec<u8> {
    [b"%NDF-TEST-HANG\n".to_vec(), text_doc(&["never extracted"])].concat()
}

/// A real document that keeps a worker busy for many seconds: 30 pages sharing one content
/// stream of 4 million `BT /F1 1 Tf ET` (16 M operators, no glyphs, ~0.6 s a page here), for a
/// server with [`SLOW_LIMITS`]. The first pages are instead quick ones showing `quick`.
fn slow_real_doc(quick: &[&str]) -> Vec<u8> {
    let content = ndf_testkit::flate(&b"BT /F1 1 Tf ET\n".repeat(4_000_000));
    let pages = 30;
    let mut w = PdfWriter::new();
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 10 + i)).collect();
    w.obj(
        2,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        ),
    );
    w.obj(3, HELVETICA);
    w.stream(4, "/Filter /FlateDecode", &content);
    for (i, text) in quick.iter().enumerate() {
        w.stream(100 + i as u32, "", &ndf_testkit::text_content(text));
    }
    for i in 0..pages {
        let contents = if (i as usize) < quick.len() {
            100 + i
        } else {
            4
        };
        w.obj(
            10 + i,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources {FONT_RESOURCES} /Contents {contents} 0 R >>"
            ),
        );
    }
    w.finish(1, "")
}

/// Engine limits under which [`slow_real_doc`] runs its pages to the end.
const SLOW_LIMITS: [(&str, &str); 2] = [
    ("limits.max_operators_per_page", "1000000000"),
    ("limits.max_document_bytes", "100000000000"),
];

/// A request body that sends its first 64 bytes, pauses, then sends the rest (chunked).
struct PausingBody {
    data: Vec<u8>,
    pos: usize,
    pause: Option<Duration>,
}

impl Read for PausingBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= 64
            && let Some(p) = self.pause.take()
        {
            std::thread::sleep(p);
        }
        let end = if self.pos < 64 {
            64.min(self.data.len())
        } else {
            self.data.len()
        };
        let n = (end - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Server options with the pool's test hooks enabled in the workers.
fn hooks(pairs: &[(&str, &str)]) -> Opts {
    let mut o = Opts::set(pairs);
    o.env
        .push((ndf_pool::TEST_HOOKS_ENV.to_owned(), "1".to_owned()));
    o
}

/// `Opts::set` plus plain arguments.
fn opts(args: &[&str], pairs: &[(&str, &str)]) -> Opts {
    let mut o = Opts::set(pairs);
    o.args.extend(args.iter().map(|a| (*a).to_owned()));
    o
}

fn post(http: &Client, server: &Server, path: &str, body: Vec<u8>) -> Response {
    http.post(server.url(path))
        .header("content-type", "application/pdf")
        .body(body)
        .send()
        .expect("request")
}

fn get(http: &Client, server: &Server, path: &str) -> Response {
    http.get(server.url(path)).send().expect("request")
}

fn delete(http: &Client, server: &Server, path: &str) -> Response {
    http.delete(server.url(path)).send().expect("request")
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A 200 answer's body, with the server log on failure.
fn ok_text(r: Response, server: &Server, ctx: &str) -> (Option<String>, String) {
    let status = r.status().as_u16();
    let ct = header(&r, "content-type");
    let text = r.text().expect("body");
    assert_eq!(
        status,
        200,
        "{ctx}: {text}\nserver log:\n{}",
        server.log_text()
    );
    (ct, text)
}

fn ok_json(r: Response, server: &Server, ctx: &str) -> Value {
    let (ct, text) = ok_text(r, server, ctx);
    assert_eq!(ct.as_deref(), Some("application/json"), "{ctx}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{ctx}: not JSON ({e}): {text}"))
}

/// Checks an error answer: its status, the problem media type and the five RFC 9457 members
/// (`type` naming `code`). Returns `Retry-After` and the body.
fn problem(r: Response, status: u16, code: &str, ctx: &str) -> (Option<String>, Value) {
    let got = r.status().as_u16();
    let ct = header(&r, "content-type");
    let retry = header(&r, "retry-after");
    let text = r.text().unwrap_or_default();
    assert_eq!(got, status, "{ctx}: status (body {text})");
    assert_eq!(
        ct.as_deref(),
        Some("application/problem+json"),
        "{ctx}: media type (body {text})"
    );
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{ctx}: problem body is not JSON ({e}): {text}"));
    assert_eq!(
        v["type"],
        format!("urn:neuraldocflow:problem:{code}"),
        "{ctx}: {v}"
    );
    assert_eq!(v["code"], code, "{ctx}: {v}");
    assert_eq!(v["status"], status, "{ctx}: {v}");
    assert!(
        v["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{ctx}: {v}"
    );
    assert!(
        v["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{ctx}: {v}"
    );
    (retry, v)
}

/// Like [`problem`] but reports instead of panicking (several known bugs in one test).
fn problem_mismatch(r: Response, status: u16, code: &str, ctx: &str) -> Option<String> {
    let got = r.status().as_u16();
    let ct = header(&r, "content-type");
    let text = r.text().unwrap_or_default();
    let v: Option<Value> = serde_json::from_str(&text).ok();
    let fine = got == status
        && ct.as_deref() == Some("application/problem+json")
        && v.as_ref().is_some_and(|v| {
            v["code"] == code
                && v["status"] == status
                && v["type"] == format!("urn:neuraldocflow:problem:{code}")
        });
    (!fine).then(|| format!("{ctx}: got {got} {ct:?} {text:?}"))
}

/// Retry-After as whole seconds (at least 1).
fn retry_seconds(retry: Option<String>, ctx: &str) -> u64 {
    let s = retry.unwrap_or_else(|| panic!("{ctx}: no Retry-After"));
    let n: u64 = s
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{ctx}: Retry-After {s:?}"));
    assert!(n >= 1, "{ctx}: Retry-After {n}");
    n
}

/// A `multipart/form-data` body with an unrelated field first and the PDF in `file`.
fn multipart(pdf: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ndf-test-boundary-4f1c9a";
    let mut b = Vec::new();
    b.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot the document\r\n")
            .as_bytes(),
    );
    b.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doc.pdf\"\r\nContent-Type: application/pdf\r\n\r\n")
            .as_bytes(),
    );
    b.extend_from_slice(pdf);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

/// Every `text` string under a JSON value (spans carry the text), space-separated.
fn texts(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("text", Value::String(s)) => {
                            out.push_str(s);
                            out.push(' ');
                        }
                        _ => walk(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    out
}

/// Page `i` of a JSON document holds exactly its own word of [`WORDS`].
fn assert_page_word(page: &Value, word: &str, ctx: &str) {
    let t = texts(page);
    for w in WORDS {
        assert_eq!(t.contains(w), w == word, "{ctx}: page text {t:?}");
    }
}

/// The words appear in this order in `text`.
fn assert_in_order(text: &str, words: &[&str], ctx: &str) {
    let mut at = 0;
    for w in words {
        let i = text[at..]
            .find(w)
            .unwrap_or_else(|| panic!("{ctx}: {w} missing or out of order in {text:?}"));
        at += i + w.len();
    }
}

fn ready(http: &Client, server: &Server) -> (u16, Value) {
    let r = get(http, server, "/readyz");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Poll `f` every 50 ms until it holds; panics after `timeout` with `what`.
fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small text file (at most `cap` bytes), `None` when unreadable or not UTF-8.
fn read_small(path: &str, cap: u64) -> Option<String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(cap)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// Live (not zombie) child processes of `pid`: a server's extraction workers.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Some(stat) = read_small(&format!("/proc/{child}/stat"), 4096) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid = f.next().and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) && state != "Z" && state != "X" {
            out.push(child);
        }
    }
    out.sort_unstable();
    out
}

fn alive(pid: u32) -> bool {
    read_small(&format!("/proc/{pid}/stat"), 4096).is_some_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, r)| !r.starts_with('Z') && !r.starts_with('X'))
    })
}

/// Submit a job; asserts 202 + Location and returns the view.
fn submit(http: &Client, server: &Server, query: &str, pdf: Vec<u8>, ctx: &str) -> Value {
    let r = post(http, server, &format!("/v1/jobs{query}"), pdf);
    accepted(r, server, ctx)
}

fn accepted(r: Response, server: &Server, ctx: &str) -> Value {
    let status = r.status().as_u16();
    let location = header(&r, "location");
    let text = r.text().expect("body");
    assert_eq!(
        status,
        202,
        "{ctx}: {text}\nserver log:\n{}",
        server.log_text()
    );
    let v: Value = serde_json::from_str(&text).expect("job view");
    let id = v["id"].as_str().expect("id");
    assert_eq!(
        location.as_deref(),
        Some(format!("/v1/jobs/{id}").as_str()),
        "{ctx}"
    );
    assert_eq!(v["status_url"], format!("/v1/jobs/{id}"), "{ctx}");
    v
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// Percent-encoding of a query value (everything but unreserved characters).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The blob directory of a job on the embedded backend.
fn job_blob_dir(backend: &Backend, id: &str) -> Option<PathBuf> {
    match backend {
        Backend::Embedded { dir } => Some(dir.join("blobs").join("jobs").join(id)),
        Backend::Scaled { .. } => None,
    }
}

/// Two pages (ALPHA, BRAVO), RC4-128 encrypted with the user password `secret`.
fn encrypted_doc() -> Vec<u8> {
    support::encrypted_doc_with(b"secret", &["ALPHA", "BRAVO"])
}

// ------------------------------------------------------------------- synchronous extraction

/// `POST /v1/extract` in every format and mode with its client errors, plus the ops endpoints.
/// Synchronous extraction never touches the stores, but `/readyz` and the job-side 413/415
/// checks do, so this runs on both backends.
#[test]
fn sync_extraction_formats_streaming_and_errors() {
    let committed = read_small(
        &format!("{}/../../docs/openapi.json", env!("CARGO_MANIFEST_DIR")),
        4 << 20,
    )
    .expect("docs/openapi.json");
    for backend in backends("api_extract") {
        let name = backend.name();
        let server = Server::serve(
            &backend,
            opts(&["--workers", "2"], &[("max_body_bytes", "20000")]),
        );
        let http = client();
        let pdf = three_pages();

        // JSON (the default): schema version, metadata, one page per page with its own text.
        let v = ok_json(
            post(&http, &server, "/v1/extract", pdf.clone()),
            &server,
            name,
        );
        assert_eq!(v["schema_version"], ndf_extract::SCHEMA_VERSION, "{name}");
        assert_eq!(v["metadata"]["page_count"], 3, "{name}");
        let pages = v["pages"].as_array().expect("pages");
        assert_eq!(pages.len(), 3, "{name}");
        for (p, w) in pages.iter().zip(WORDS) {
            assert_page_word(p, w, name);
        }
        assert!(v["diagnostics"].is_array(), "{name}");

        // Plain text: reading order, a form feed after each page.
        let (ct, text) = ok_text(
            post(&http, &server, "/v1/extract?format=text", pdf.clone()),
            &server,
            name,
        );
        assert_eq!(ct.as_deref(), Some("text/plain; charset=utf-8"), "{name}");
        assert_in_order(&text, &WORDS, name);
        assert_eq!(text.matches('\u{c}').count(), 3, "{name}: {text:?}");

        // Markdown.
        let (ct, md) = ok_text(
            post(&http, &server, "/v1/extract?format=markdown", pdf.clone()),
            &server,
            name,
        );
        assert_eq!(
            ct.as_deref(),
            Some("text/markdown; charset=utf-8"),
            "{name}"
        );
        assert_in_order(&md, &WORDS, name);

        // Multipart: the `file` field is the document, other fields are ignored.
        let (ct, body) = multipart(&pdf);
        let r = http
            .post(server.url("/v1/extract?format=text"))
            .header("content-type", ct)
            .body(body)
            .send()
            .expect("request");
        let (_, text) = ok_text(r, &server, name);
        assert_in_order(&text, &WORDS, name);
        assert!(!text.contains("not the document"), "{name}");

        // Page selection: only page 2, the metadata still counts all pages.
        let v = ok_json(
            post(&http, &server, "/v1/extract?pages=2", pdf.clone()),
            &server,
            name,
        );
        let pages = v["pages"].as_array().expect("pages");
        assert_eq!(pages.len(), 1, "{name}");
        assert_page_word(&pages[0], "BRAVO", name);
        assert_eq!(v["metadata"]["page_count"], 3, "{name}");

        // NDJSON: one page line per page in order, then the summary line, nothing else.
        let r = http
            .post(server.url("/v1/extract"))
            .header("content-type", "application/pdf")
            .header("accept", "application/x-ndjson")
            .body(pdf.clone())
            .send()
            .expect("request");
        let (ct, body) = ok_text(r, &server, name);
        assert_eq!(ct.as_deref(), Some("application/x-ndjson"), "{name}");
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON line"))
            .collect();
        assert_eq!(lines.len(), 4, "{name}: {body}");
        for (i, (line, w)) in lines.iter().zip(WORDS).enumerate() {
            assert_eq!(line["type"], "page", "{name}: {line}");
            assert_eq!(line["number"], i + 1, "{name}: {line}");
            assert_page_word(&line["page"], w, name);
        }
        let summary = &lines[3];
        assert_eq!(summary["type"], "summary", "{name}: {summary}");
        assert_eq!(summary["pages"], 3, "{name}");
        assert_eq!(summary["pages_expected"], 3, "{name}");
        assert_eq!(summary["schema_version"], ndf_extract::SCHEMA_VERSION);
        assert_eq!(summary["metadata"]["page_count"], 3, "{name}");

        // NDJSON in text with a selection: page lines carry `text`.
        let r = http
            .post(server.url("/v1/extract?format=text&pages=2-3"))
            .header("content-type", "application/pdf")
            .header("accept", "application/x-ndjson")
            .body(pdf.clone())
            .send()
            .expect("request");
        let (_, body) = ok_text(r, &server, name);
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON line"))
            .collect();
        let kinds: Vec<_> = lines.iter().map(|l| l["type"].clone()).collect();
        assert_eq!(kinds, ["page", "page", "summary"], "{name}: {body}");
        assert_eq!(lines[0]["number"], 2, "{name}");
        assert_eq!(lines[1]["number"], 3, "{name}");
        assert!(
            lines[0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("BRAVO")),
            "{name}"
        );
        assert!(
            lines[1]["text"]
                .as_str()
                .is_some_and(|t| t.contains("CHARLIE")),
            "{name}"
        );
        assert_eq!(lines[2]["pages"], 2, "{name}");

        // 400: a bad page selection; an empty body.
        for bad in ["0", "x-3", "3-1"] {
            let r = post(
                &http,
                &server,
                &format!("/v1/extract?pages={bad}"),
                pdf.clone(),
            );
            problem(r, 400, "invalid_argument", &format!("{name}: pages={bad}"));
        }
        problem(
            post(&http, &server, "/v1/extract", Vec::new()),
            400,
            "invalid_argument",
            &format!("{name}: empty body"),
        );

        // 413: over max_body_bytes, raw and multipart; jobs too.
        let mut big = pdf.clone();
        big.extend(std::iter::repeat_n(b'%', 30_000));
        problem(
            post(&http, &server, "/v1/extract", big.clone()),
            413,
            "payload_too_large",
            &format!("{name}: raw 413"),
        );
        let (ct, body) = multipart(&big);
        let r = http
            .post(server.url("/v1/extract"))
            .header("content-type", ct)
            .body(body)
            .send()
            .expect("request");
        problem(
            r,
            413,
            "payload_too_large",
            &format!("{name}: multipart 413"),
        );
        problem(
            post(&http, &server, "/v1/jobs", big),
            413,
            "payload_too_large",
            &format!("{name}: job 413"),
        );
        // 415: not a PDF.
        for path in ["/v1/extract", "/v1/jobs"] {
            problem(
                post(&http, &server, path, b"<html>hello</html>".to_vec()),
                415,
                "not_pdf",
                &format!("{name}: {path} 415"),
            );
        }

        // 422 `encrypted` without (or with a wrong) password; the right one opens it.
        let enc = encrypted_doc();
        problem(
            post(&http, &server, "/v1/extract", enc.clone()),
            422,
            "encrypted",
            &format!("{name}: no password"),
        );
        let r = http
            .post(server.url("/v1/extract"))
            .header("content-type", "application/pdf")
            .header("x-pdf-password", "guess")
            .body(enc.clone())
            .send()
            .expect("request");
        problem(r, 422, "encrypted", &format!("{name}: wrong password"));
        let r = http
            .post(server.url("/v1/extract"))
            .header("content-type", "application/pdf")
            .header("accept", "application/x-ndjson")
            .body(enc.clone())
            .send()
            .expect("request");
        problem(r, 422, "encrypted", &format!("{name}: no password, NDJSON"));
        let r = http
            .post(server.url("/v1/extract"))
            .header("content-type", "application/pdf")
            .header("x-pdf-password", "secret")
            .body(enc)
            .send()
            .expect("request");
        let v = ok_json(r, &server, name);
        assert_eq!(v["metadata"]["encrypted"], true, "{name}");
        let t = texts(&v["pages"]);
        assert!(t.contains("ALPHA") && t.contains("BRAVO"), "{name}: {t}");

        // Ops endpoints.
        let v = ok_json(get(&http, &server, "/healthz"), &server, name);
        assert_eq!(v["status"], "ok", "{name}");
        let (status, v) = ready(&http, &server);
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["status"], "ready", "{name}");
        assert_eq!(v["workers"], 2, "{name}: {v}");
        assert_eq!(v["busy"], 0, "{name}: {v}");
        let (ct, served) = ok_text(get(&http, &server, "/openapi.json"), &server, name);
        assert_eq!(ct.as_deref(), Some("application/json"), "{name}");
        assert!(
            served == committed,
            "{name}: GET /openapi.json differs from docs/openapi.json"
        );
        for path in ["/nope", "/v1/nope", "/v1/jobs/x/y/z"] {
            problem(
                get(&http, &server, path),
                404,
                "not_found",
                &format!("{name}: GET {path}"),
            );
        }
        problem(
            post(&http, &server, "/v2/extract", three_pages()),
            404,
            "not_found",
            &format!("{name}: POST /v2/extract"),
        );
    }
}

/// 503 `overloaded` and 504 `timeout`. Embedded only: synchronous extraction never touches the
/// stores, so the backend cannot change these answers.
#[test]
fn sync_extraction_overload_and_timeout_kill_the_worker() {
    let http = client();

    // One worker, nobody may wait: a second request while the first runs is refused at once.
    let backend = embedded("api_overload");
    let server = Server::serve(&backend, hooks(&[("workers", "1"), ("max_waiting", "0")]));
    let busy = {
        let (http, url) = (http.clone(), server.url("/v1/extract?format=text"));
        std::thread::spawn(move || {
            let start = Instant::now();
            let r = http
                .post(url)
                .header("content-type", "application/pdf")
                .body(sleepy_doc(4000, "slow but fine"))
                .send()
                .expect("request");
            (
                r.status().as_u16(),
                r.text().unwrap_or_default(),
                start.elapsed(),
            )
        })
    };
    // The slow request holds the only worker for 4 s once it got there: polled, not assumed
    // after a fixed sleep (readyz answers 503 once the worker is busy and nobody may wait).
    wait_until(
        Duration::from_secs(30),
        "the slow request holds the worker",
        || ready(&http, &server).0 == 503,
    );
    let r = post(&http, &server, "/v1/extract", three_pages());
    let (retry, _) = problem(r, 503, "overloaded", "second request");
    retry_seconds(retry, "overloaded");
    // Refused at once, not after waiting for the worker: the slow request is still running
    // (an order of events, not a wall-clock bound).
    assert!(
        !busy.is_finished(),
        "refused only after the worker was free"
    );
    let r = http
        .post(server.url("/v1/extract"))
        .header("content-type", "application/pdf")
        .header("accept", "application/x-ndjson")
        .body(three_pages())
        .send()
        .expect("request");
    let (retry, _) = problem(r, 503, "overloaded", "second request, streaming");
    retry_seconds(retry, "overloaded, streaming");
    let (status, text, took) = busy.join().expect("slow request");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("slow but fine"), "{text}");
    assert!(took >= Duration::from_millis(3900), "{took:?}");
    // The worker is free again.
    let (_, text) = ok_text(
        post(&http, &server, "/v1/extract?format=text", three_pages()),
        &server,
        "after the overload",
    );
    assert_in_order(&text, &WORDS, "after the overload");
    drop(server);

    // A deadline of 1.5 s and a document that hangs its worker: 504, and the worker is killed.
    let backend = embedded("api_timeout");
    let server = Server::serve(
        &backend,
        hooks(&[
            ("workers", "1"),
            ("sync_timeout_ms", "1500"),
            SLOW_LIMITS[0],
            SLOW_LIMITS[1],
        ]),
    );
    let (status, v) = ready(&http, &server);
    assert_eq!(
        (status, &v["workers"], &v["busy"]),
        (200, &1.into(), &0.into()),
        "{v}"
    );
    let pid = server.pid().expect("server pid");
    let before = children(pid);
    assert_eq!(before.len(), 1, "one worker process: {before:?}");
    let hung = before[0];
    let start = Instant::now();
    problem(
        post(&http, &server, "/v1/extract", hanging_doc()),
        504,
        "timeout",
        "hanging document",
    );
    let took = start.elapsed();
    // The 504 itself shows the deadline fired (the document hangs forever); the lower bound
    // that it did not fire early. No upper bound: a busy machine may answer late.
    assert!(
        took >= Duration::from_millis(1400),
        "504 before the 1.5 s deadline: {took:?}"
    );
    wait_until(Duration::from_secs(10), "the hung worker is killed", || {
        !alive(hung)
    });
    wait_until(
        Duration::from_secs(10),
        "readyz: busy 0 with a replacement worker",
        || {
            let (s, v) = ready(&http, &server);
            s == 200 && v["busy"] == 0 && v["workers"] == 1
        },
    );
    let after = children(pid);
    assert!(
        after.len() == 1 && after[0] != hung,
        "a new worker replaced {hung}: {after:?}"
    );
    let (_, text) = ok_text(
        post(&http, &server, "/v1/extract?format=text", three_pages()),
        &server,
        "after the timeout",
    );
    assert_in_order(&text, &WORDS, "after the timeout");

    // The deadline passes after the stream began: the page lines so far, then one error
    // line. The body pauses 700 ms: the request's deadline runs from the request's start, the
    // engine's own (equal) deadline from the extraction's start, so the service's comes first.
    // Six quick pages lead: the engine holds pages back for its 4-page running-text window.
    let worker = children(pid);
    assert_eq!(worker.len(), 1, "{worker:?}");
    let r = http
        .post(server.url("/v1/extract"))
        .header("content-type", "application/pdf")
        .header("accept", "application/x-ndjson")
        .body(reqwest::blocking::Body::new(PausingBody {
            data: slow_real_doc(&[
                "FIRST PAGE",
                "quick 2",
                "quick 3",
                "quick 4",
                "quick 5",
                "quick 6",
            ]),
            pos: 0,
            pause: Some(Duration::from_millis(700)),
        }))
        .send()
        .expect("request");
    let (ct, body) = ok_text(r, &server, "stream past its deadline");
    assert_eq!(ct.as_deref(), Some("application/x-ndjson"));
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    let (last, pages) = lines.split_last().expect("lines");
    assert_eq!(last["type"], "error", "{body}");
    assert_eq!(last["code"], "timeout", "{body}");
    assert!(last["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(!pages.is_empty() && pages.len() < 30, "{body}");
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p["type"], "page", "{body}");
        assert_eq!(p["number"], i + 1, "{body}");
    }
    assert!(texts(&pages[0]["page"]).contains("FIRST PAGE"), "{body}");
    wait_until(
        Duration::from_secs(10),
        "the streaming worker is killed",
        || !alive(worker[0]),
    );
    wait_until(Duration::from_secs(10), "readyz busy back to 0", || {
        let (s, v) = ready(&http, &server);
        s == 200 && v["busy"] == 0 && v["workers"] == 1
    });
}

// ------------------------------------------------------------------------------------ jobs

/// Submit, watch, fetch results, failures, idempotency, 404s, delete a finished job, 410.
#[test]
fn jobs_lifecycle_results_idempotency_and_deletion() {
    for backend in backends("api_jobs") {
        let name = backend.name();
        let server = Server::serve(
            &backend,
            opts(&["--workers", "2"], &[("poll_interval_ms", "50")]),
        );
        let http = client();
        let pdf = three_pages();

        // 202 with Location and the job view.
        let v = submit(&http, &server, "", pdf.clone(), name);
        let id = id_of(&v);
        assert_eq!(v["state"], "queued", "{name}: {v}");
        assert_eq!(v["input_bytes"], pdf.len(), "{name}");
        assert_eq!(v["attempts"], 0, "{name}: {v}");
        assert_eq!(v["max_attempts"], 3, "{name}");
        assert_eq!(v["pages_done"], 0, "{name}");
        assert!(v["created_at"].as_str().is_some_and(|s| s.ends_with('Z')));
        assert!(v["expires_at"].as_str().is_some_and(|s| s.ends_with('Z')));
        assert!(v.get("result_url").is_none(), "{name}: {v}");

        // Progress to succeeded.
        let done = wait_job(&http, &server, &id, Duration::from_secs(30));
        assert_eq!(done["state"], "succeeded", "{name}: {done}");
        assert_eq!(done["pages_done"], 3, "{name}: {done}");
        assert_eq!(done["pages_total"], 3, "{name}: {done}");
        assert_eq!(done["attempts"], 1, "{name}: {done}");
        assert_eq!(
            done["result_url"],
            format!("/v1/jobs/{id}/result"),
            "{name}"
        );
        assert!(done["started_at"].is_string() && done["finished_at"].is_string());
        assert!(done.get("error").is_none(), "{name}: {done}");
        let again = ok_json(
            get(&http, &server, &format!("/v1/jobs/{id}")),
            &server,
            name,
        );
        assert_eq!(again, done, "{name}: GET is stable once finished");

        // Results in the three formats.
        let r = ok_json(
            get(&http, &server, &format!("/v1/jobs/{id}/result")),
            &server,
            name,
        );
        assert_eq!(r["schema_version"], ndf_extract::SCHEMA_VERSION, "{name}");
        let pages = r["pages"].as_array().expect("pages");
        assert_eq!(pages.len(), 3, "{name}");
        for (p, w) in pages.iter().zip(WORDS) {
            assert_page_word(p, w, name);
        }
        let json2 = ok_json(
            get(&http, &server, &format!("/v1/jobs/{id}/result?format=json")),
            &server,
            name,
        );
        assert_eq!(json2, r, "{name}");
        let (ct, text) = ok_text(
            get(&http, &server, &format!("/v1/jobs/{id}/result?format=text")),
            &server,
            name,
        );
        assert_eq!(ct.as_deref(), Some("text/plain; charset=utf-8"), "{name}");
        assert_in_order(&text, &WORDS, name);
        assert_eq!(text.matches('\u{c}').count(), 3, "{name}: {text:?}");
        let (ct, md) = ok_text(
            get(
                &http,
                &server,
                &format!("/v1/jobs/{id}/result?format=markdown"),
            ),
            &server,
            name,
        );
        assert_eq!(
            ct.as_deref(),
            Some("text/markdown; charset=utf-8"),
            "{name}"
        );
        assert_in_order(&md, &WORDS, name);

        // A multipart submission with a page selection.
        let (ct, body) = multipart(&pdf);
        let r = http
            .post(server.url("/v1/jobs?pages=2"))
            .header("content-type", ct)
            .body(body)
            .send()
            .expect("request");
        let sel = id_of(&accepted(r, &server, name));
        let sel_done = wait_job(&http, &server, &sel, Duration::from_secs(30));
        assert_eq!(sel_done["state"], "succeeded", "{name}: {sel_done}");
        let r = ok_json(
            get(&http, &server, &format!("/v1/jobs/{sel}/result")),
            &server,
            name,
        );
        let pages = r["pages"].as_array().expect("pages");
        assert_eq!(pages.len(), 1, "{name}");
        assert_page_word(&pages[0], "BRAVO", name);

        // An encrypted document fails at once (no retries) without its password …
        let enc = submit(&http, &server, "", encrypted_doc(), name);
        let enc = wait_job(&http, &server, &id_of(&enc), Duration::from_secs(30));
        assert_eq!(enc["state"], "failed", "{name}: {enc}");
        assert_eq!(enc["error"]["code"], "encrypted", "{name}: {enc}");
        assert_eq!(enc["attempts"], 1, "{name}: {enc}");
        assert!(enc.get("result_url").is_none(), "{name}: {enc}");
        problem(
            get(&http, &server, &format!("/v1/jobs/{}/result", id_of(&enc))),
            409,
            "job_not_finished",
            &format!("{name}: result of a failed job"),
        );
        // … and succeeds with it; the view never shows the password.
        let r = http
            .post(server.url("/v1/jobs"))
            .header("content-type", "application/pdf")
            .header("x-pdf-password", "secret")
            .body(encrypted_doc())
            .send()
            .expect("request");
        let v = accepted(r, &server, name);
        assert!(!v.to_string().contains("secret"), "{name}: {v}");
        let ok = wait_job(&http, &server, &id_of(&v), Duration::from_secs(30));
        assert_eq!(ok["state"], "succeeded", "{name}: {ok}");

        // 404s: unknown and malformed ids.
        let unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
        for path in [
            format!("/v1/jobs/{unknown}"),
            format!("/v1/jobs/{unknown}/result"),
            "/v1/jobs/not-a-job-id".to_owned(),
            "/v1/jobs/not-a-job-id/result".to_owned(),
        ] {
            problem(
                get(&http, &server, &path),
                404,
                "not_found",
                &format!("{name}: GET {path}"),
            );
        }
        for path in [format!("/v1/jobs/{unknown}"), "/v1/jobs/123".to_owned()] {
            problem(
                delete(&http, &server, &path),
                404,
                "not_found",
                &format!("{name}: DELETE {path}"),
            );
        }

        // Idempotency: same key and body → the same job; same key, other body → 409.
        let key = support::unique("idem");
        let body_a = text_doc(&["idempotent A"]);
        let send = |body: Vec<u8>, key: &str| {
            http.post(server.url("/v1/jobs"))
                .header("content-type", "application/pdf")
                .header("idempotency-key", key)
                .body(body)
                .send()
                .expect("request")
        };
        let first = id_of(&accepted(send(body_a.clone(), &key), &server, name));
        let second = id_of(&accepted(send(body_a.clone(), &key), &server, name));
        assert_eq!(first, second, "{name}: same key and body, same job");
        let (_, p) = problem(
            send(text_doc(&["idempotent B"]), &key),
            409,
            "idempotency_conflict",
            &format!("{name}: same key, other body"),
        );
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains(&first)),
            "{name}: {p}"
        );
        let other = id_of(&accepted(
            send(body_a, &support::unique("idem")),
            &server,
            name,
        ));
        assert_ne!(other, first, "{name}: another key is another job");
        problem(
            send(three_pages(), "has a space"),
            400,
            "invalid_argument",
            &format!("{name}: bad idempotency key"),
        );

        // 400: bad pages; a callback on a server without a webhook secret.
        problem(
            post(&http, &server, "/v1/jobs?pages=0", pdf.clone()),
            400,
            "invalid_argument",
            &format!("{name}: job pages=0"),
        );
        problem(
            post(
                &http,
                &server,
                "/v1/jobs?callback_url=http://127.0.0.1:9/hook",
                pdf.clone(),
            ),
            400,
            "invalid_argument",
            &format!("{name}: callback without webhook_secret"),
        );

        // 410: a succeeded job whose stored result is gone (removed by hand: embedded only,
        // the S3 object is out of this test's reach).
        if let Some(dir) = job_blob_dir(&backend, &sel) {
            std::fs::remove_file(dir.join("result.json")).expect("stored result file");
            problem(
                get(&http, &server, &format!("/v1/jobs/{sel}/result")),
                410,
                "result_gone",
                &format!("{name}: result removed"),
            );
        }

        // DELETE a finished job: 204 without a body, then it is gone with its data.
        let blobs = job_blob_dir(&backend, &id);
        if let Some(dir) = &blobs {
            assert!(dir.join("result.json").exists(), "{name}: result stored");
        }
        let r = delete(&http, &server, &format!("/v1/jobs/{id}"));
        assert_eq!(r.status().as_u16(), 204, "{name}");
        assert!(
            r.text().expect("body").is_empty(),
            "{name}: 204 has no body"
        );
        problem(
            get(&http, &server, &format!("/v1/jobs/{id}")),
            404,
            "not_found",
            &format!("{name}: deleted job"),
        );
        problem(
            get(&http, &server, &format!("/v1/jobs/{id}/result")),
            404,
            "not_found",
            &format!("{name}: deleted job's result"),
        );
        problem(
            delete(&http, &server, &format!("/v1/jobs/{id}")),
            404,
            "not_found",
            &format!("{name}: deleted twice"),
        );
        if let Some(dir) = &blobs {
            assert!(
                !dir.join("result.json").exists() && !dir.join("input.pdf").exists(),
                "{name}: blobs of a deleted job remain in {}",
                dir.display()
            );
        }
    }
}

/// On a `--no-jobs` server jobs stay queued: list them, page through them, cancel them.
#[test]
fn queued_jobs_listing_paging_cancel_and_queue_full() {
    for backend in backends("api_queue") {
        let name = backend.name();
        let server = Server::serve(&backend, opts(&["--no-jobs"], &[]));
        let http = client();
        let list = |query: &str| -> Value {
            ok_json(
                get(&http, &server, &format!("/v1/jobs{query}")),
                &server,
                name,
            )
        };
        let ids_of = |v: &Value| -> Vec<String> {
            v["jobs"]
                .as_array()
                .expect("jobs")
                .iter()
                .map(id_of)
                .collect()
        };

        let empty = list("");
        assert_eq!(ids_of(&empty), Vec::<String>::new(), "{name}");
        assert!(empty.get("next_cursor").is_none(), "{name}: {empty}");

        let mut created = Vec::new();
        for i in 0..7 {
            let v = submit(
                &http,
                &server,
                "",
                text_doc(&[&format!("queued job {i}")]),
                name,
            );
            created.push(id_of(&v));
            // Ids are time-ordered at millisecond resolution: keep creations apart.
            std::thread::sleep(Duration::from_millis(3));
        }
        let newest_first: Vec<String> = created.iter().rev().cloned().collect();

        // Not finished yet.
        problem(
            get(&http, &server, &format!("/v1/jobs/{}/result", created[3])),
            409,
            "job_not_finished",
            &format!("{name}: queued result"),
        );

        // Paging: 3 + 3 + 1, newest first, no duplicates, the last page has no cursor.
        let p1 = list("?limit=3");
        let c1 = p1["next_cursor"].as_str().expect("cursor 1").to_owned();
        let p2 = list(&format!("?limit=3&cursor={c1}"));
        let c2 = p2["next_cursor"].as_str().expect("cursor 2").to_owned();
        let p3 = list(&format!("?limit=3&cursor={c2}"));
        assert!(p3.get("next_cursor").is_none(), "{name}: {p3}");
        let (a, b, c) = (ids_of(&p1), ids_of(&p2), ids_of(&p3));
        assert_eq!((a.len(), b.len(), c.len()), (3, 3, 1), "{name}");
        let all: Vec<String> = [a, b, c].concat();
        assert_eq!(
            all.iter().collect::<HashSet<_>>().len(),
            7,
            "{name}: duplicates"
        );
        assert_eq!(all, newest_first, "{name}: newest first");
        assert_eq!(ids_of(&list("")), newest_first, "{name}: default page");
        assert!(
            p1["jobs"]
                .as_array()
                .expect("jobs")
                .iter()
                .all(|j| j["state"] == "queued"),
            "{name}: {p1}"
        );

        // DELETE a queued job: 200 with the cancelled view; its input is deleted.
        let input = job_blob_dir(&backend, &created[0]).map(|d| d.join("input.pdf"));
        if let Some(p) = &input {
            assert!(p.exists(), "{name}: input stored at {}", p.display());
        }
        for id in &created[..2] {
            let v = ok_json(
                delete(&http, &server, &format!("/v1/jobs/{id}")),
                &server,
                name,
            );
            assert_eq!(v["id"], id.as_str(), "{name}");
            assert_eq!(v["state"], "cancelled", "{name}: {v}");
        }
        if let Some(p) = &input {
            assert!(!p.exists(), "{name}: input of a cancelled job remains");
        }
        let v = ok_json(
            get(&http, &server, &format!("/v1/jobs/{}", created[0])),
            &server,
            name,
        );
        assert_eq!(v["state"], "cancelled", "{name}: stays visible: {v}");
        problem(
            get(&http, &server, &format!("/v1/jobs/{}/result", created[0])),
            409,
            "job_not_finished",
            &format!("{name}: cancelled result"),
        );

        // State filters.
        let mut cancelled = ids_of(&list("?state=cancelled"));
        cancelled.sort();
        let mut expect: Vec<String> = created[..2].to_vec();
        expect.sort();
        assert_eq!(cancelled, expect, "{name}");
        assert_eq!(
            ids_of(&list("?state=queued")),
            newest_first[..5].to_vec(),
            "{name}"
        );
        let q1 = list("?state=queued&limit=2");
        let q2 = list(&format!(
            "?state=queued&limit=2&cursor={}",
            q1["next_cursor"].as_str().expect("cursor")
        ));
        let q3 = list(&format!(
            "?state=queued&limit=2&cursor={}",
            q2["next_cursor"].as_str().expect("cursor")
        ));
        assert!(q3.get("next_cursor").is_none(), "{name}: {q3}");
        assert_eq!(
            [ids_of(&q1), ids_of(&q2), ids_of(&q3)].concat(),
            newest_first[..5].to_vec(),
            "{name}: paging within a state"
        );
        assert!(ids_of(&list("?state=succeeded")).is_empty(), "{name}");
        assert!(
            ids_of(&list("?state=running&limit=1000")).is_empty(),
            "{name}"
        );

        // 400: bad state, limit, cursor.
        for q in [
            "?state=done",
            "?limit=0",
            "?limit=1001",
            "?cursor=not-a-cursor",
        ] {
            problem(
                get(&http, &server, &format!("/v1/jobs{q}")),
                400,
                "invalid_argument",
                &format!("{name}: GET /v1/jobs{q}"),
            );
        }

        // A cancelled job is final: DELETE removes it (204).
        let r = delete(&http, &server, &format!("/v1/jobs/{}", created[0]));
        assert_eq!(r.status().as_u16(), 204, "{name}");
        problem(
            get(&http, &server, &format!("/v1/jobs/{}", created[0])),
            404,
            "not_found",
            &format!("{name}: removed"),
        );
    }
}

/// 429 `queue_full` with Retry-After once `max_queued_jobs` jobs wait (`--no-jobs`: nothing
/// takes them).
#[test]
fn queue_full_refuses_jobs_with_retry_after() {
    for backend in backends("api_full") {
        let name = backend.name();
        let server = Server::serve(&backend, opts(&["--no-jobs"], &[("max_queued_jobs", "1")]));
        let http = client();
        submit(&http, &server, "", three_pages(), name);
        // Admission refreshes its queued count at most once a second: the second submission
        // comes after that (an immediate one is `queue_limit_holds_within_a_burst`).
        std::thread::sleep(Duration::from_millis(1100));
        for attempt in ["second", "third"] {
            let (retry, _) = problem(
                post(&http, &server, "/v1/jobs", text_doc(&[attempt])),
                429,
                "queue_full",
                &format!("{name}: {attempt} submission"),
            );
            retry_seconds(retry, "queue_full");
        }
        // Synchronous extraction is not limited by the job queue.
        ok_text(
            post(&http, &server, "/v1/extract?format=text", three_pages()),
            &server,
            name,
        );
    }
}

/// DELETE of a running job answers 200 `cancelled` and really stops the work: the worker
/// process running the document is killed, so the single worker serves the next request at
/// once although the document had many seconds of work left.
#[test]
fn cancelling_a_running_job_kills_its_worker() {
    let slow = slow_real_doc(&[]);
    for backend in backends("api_cancel") {
        let name = backend.name();
        let server = Server::serve(
            &backend,
            opts(
                &["--workers", "1"],
                &[("poll_interval_ms", "50"), SLOW_LIMITS[0], SLOW_LIMITS[1]],
            ),
        );
        let http = client();
        let pid = server.pid().expect("server pid");
        let v = submit(&http, &server, "", slow.clone(), name);
        let id = id_of(&v);
        wait_until(Duration::from_secs(20), "the slow job runs", || {
            let j: Value = get(&http, &server, &format!("/v1/jobs/{id}"))
                .json()
                .unwrap_or(Value::Null);
            j["state"] == "running"
        });
        wait_until(Duration::from_secs(10), "its worker is busy", || {
            ready(&http, &server).1["busy"] == 1
        });
        let workers = children(pid);
        assert_eq!(workers.len(), 1, "{name}: {workers:?}");
        let worker = workers[0];

        let v = ok_json(
            delete(&http, &server, &format!("/v1/jobs/{id}")),
            &server,
            name,
        );
        assert_eq!(v["state"], "cancelled", "{name}: {v}");
        wait_until(
            Duration::from_secs(10),
            "the cancelled job's worker is killed",
            || !alive(worker),
        );
        wait_until(Duration::from_secs(10), "readyz busy back to 0", || {
            let (s, v) = ready(&http, &server);
            s == 200 && v["busy"] == 0 && v["workers"] == 1
        });
        let (_, text) = ok_text(
            post(&http, &server, "/v1/extract?format=text", three_pages()),
            &server,
            name,
        );
        // The only worker served a request after the cancel (its replacement came up).
        assert_in_order(&text, &WORDS, name);
        // It stays cancelled (nothing finishes it later) and has no result.
        std::thread::sleep(Duration::from_millis(500));
        let j = ok_json(
            get(&http, &server, &format!("/v1/jobs/{id}")),
            &server,
            name,
        );
        assert_eq!(j["state"], "cancelled", "{name}: {j}");
        assert!(
            j["pages_done"].as_u64().is_some_and(|n| n < 30),
            "{name}: {j}"
        );
        problem(
            get(&http, &server, &format!("/v1/jobs/{id}/result")),
            409,
            "job_not_finished",
            &format!("{name}: cancelled result"),
        );
    }
}

// ------------------------------------------------------------------------------ shutdown

/// SIGTERM: `/readyz` and new work answer 503 `draining` during `shutdown_delay_ms`, the job
/// that was running finishes (succeeded), and the process exits 0.
#[test]
fn shutdown_drains_then_finishes_the_running_job_and_exits_zero() {
    for backend in backends("api_shutdown") {
        let name = backend.name();
        let mut server = Server::serve(
            &backend,
            hooks(&[
                ("workers", "2"),
                ("poll_interval_ms", "50"),
                // Long enough for the five probes below on a busy machine; the job and the
                // in-flight request outlast it, so they finish in the grace period.
                ("shutdown_delay_ms", "5000"),
                ("shutdown_grace_ms", "30000"),
            ]),
        );
        let http = client();
        let v = submit(
            &http,
            &server,
            "",
            sleepy_doc(7000, "finished while draining"),
            name,
        );
        let id = id_of(&v);
        wait_until(Duration::from_secs(20), "the job runs", || {
            let j: Value = get(&http, &server, &format!("/v1/jobs/{id}"))
                .json()
                .unwrap_or(Value::Null);
            j["state"] == "running"
        });

        // A synchronous request in flight at SIGTERM is answered too.
        let in_flight = {
            let (http, url) = (http.clone(), server.url("/v1/extract?format=text"));
            std::thread::spawn(move || {
                let r = http
                    .post(url)
                    .header("content-type", "application/pdf")
                    .body(sleepy_doc(6500, "answered while draining"))
                    .send()
                    .expect("request");
                (r.status().as_u16(), r.text().unwrap_or_default())
            })
        };
        wait_until(Duration::from_secs(10), "both workers busy", || {
            ready(&http, &server).1["busy"] == 2
        });

        server.signal_term();
        let signalled = Instant::now();
        wait_until(Duration::from_secs(4), "readyz reports draining", || {
            get(&http, &server, "/readyz").status() == 503
        });
        problem(
            get(&http, &server, "/readyz"),
            503,
            "draining",
            &format!("{name}: readyz while draining"),
        );
        let (retry, _) = problem(
            post(&http, &server, "/v1/extract", three_pages()),
            503,
            "draining",
            &format!("{name}: extract while draining"),
        );
        retry_seconds(retry, "draining");
        let (retry, _) = problem(
            post(&http, &server, "/v1/jobs", three_pages()),
            503,
            "draining",
            &format!("{name}: job while draining"),
        );
        retry_seconds(retry, "draining");
        // Still alive while draining.
        assert_eq!(get(&http, &server, "/healthz").status(), 200, "{name}");
        assert!(
            signalled.elapsed() < Duration::from_millis(5000),
            "{name}: the probes ran within the shutdown delay ({:?}); the test is too slow here",
            signalled.elapsed()
        );

        let log = server.log.clone();
        let status = server.wait_exit(Duration::from_secs(30));
        let log = log.lock().map(|l| l.clone()).unwrap_or_default();
        let status = status.unwrap_or_else(|| panic!("{name}: no exit within 30 s; log:\n{log}"));
        assert_eq!(status.code(), Some(0), "{name}: exit status; log:\n{log}");
        let (code, text) = in_flight.join().expect("in-flight request");
        assert_eq!(code, 200, "{name}: {text}\nlog:\n{log}");
        assert!(text.contains("answered while draining"), "{name}: {text}");

        // The running job finished before the exit: a server that processes no jobs sees it
        // succeeded with its result.
        let server = Server::serve(&backend, opts(&["--no-jobs"], &[]));
        let j = ok_json(
            get(&http, &server, &format!("/v1/jobs/{id}")),
            &server,
            name,
        );
        assert_eq!(j["state"], "succeeded", "{name}: {j}\nlog:\n{log}");
        let (_, text) = ok_text(
            get(&http, &server, &format!("/v1/jobs/{id}/result?format=text")),
            &server,
            name,
        );
        assert!(text.contains("finished while draining"), "{name}: {text}");
    }
}

// ------------------------------------------------------------------------------ webhooks

/// One request received by [`Receiver`].
#[derive(Debug, Clone)]
struct Delivery {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    at: Instant,
}

/// A webhook endpoint on loopback: answers the first request 500 and later ones 200.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(d) = read_request(&stream) else {
                    continue;
                };
                let n = {
                    let mut v = sink.lock().expect("deliveries");
                    v.push(d);
                    v.len()
                };
                let status = if n == 1 {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { port, got }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().expect("deliveries").clone()
    }
}

fn read_request(stream: &std::net::TcpStream) -> Option<Delivery> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Delivery {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

/// `sha256=` + hex HMAC-SHA256(secret, "<timestamp>.<body>"), computed here with the `hmac`
/// crate, independently of the service.
fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A job with a `callback_url` is POSTed, signed, to the receiver when it finishes; the first
/// delivery is answered 500 and retried after the 1 s backoff; a 200 ends the deliveries.
#[test]
fn webhooks_are_signed_and_retried() {
    const SECRET: &str = "s3cr3t";
    for backend in backends("api_hooks") {
        let name = backend.name();
        let receiver = Receiver::start();
        let port = receiver.port;
        let allow = format!("127.0.0.1:{port}");
        let server = Server::serve(
            &backend,
            opts(
                &[],
                &[
                    ("webhook_secret", SECRET),
                    ("webhook_allow_hosts", &allow),
                    ("poll_interval_ms", "50"),
                ],
            ),
        );
        let http = client();

        // Hosts outside the allow-list, other schemes and credentials are refused.
        for url in [
            format!("http://127.0.0.1:{}/hook", port.wrapping_add(1).max(1)),
            "http://hooks.example.test/hook".to_owned(),
            format!("ftp://127.0.0.1:{port}/hook"),
            format!("http://user:pw@127.0.0.1:{port}/hook"),
            "not a url".to_owned(),
        ] {
            let r = post(
                &http,
                &server,
                &format!("/v1/jobs?callback_url={}", percent(&url)),
                three_pages(),
            );
            problem(
                r,
                400,
                "invalid_argument",
                &format!("{name}: callback {url}"),
            );
        }
        assert!(receiver.deliveries().is_empty(), "{name}");

        let hook = format!("http://127.0.0.1:{port}/hook");
        let r = post(
            &http,
            &server,
            &format!("/v1/jobs?callback_url={}", percent(&hook)),
            three_pages(),
        );
        let v = accepted(r, &server, name);
        assert_eq!(v["callback_url"], hook.as_str(), "{name}");
        let id = id_of(&v);
        let done = wait_job(&http, &server, &id, Duration::from_secs(30));
        assert_eq!(done["state"], "succeeded", "{name}: {done}");

        wait_until(
            Duration::from_secs(20),
            "a failed delivery and its retry",
            || receiver.deliveries().len() >= 2,
        );
        let got = receiver.deliveries();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        for d in &got[..2] {
            assert_eq!(
                (d.method.as_str(), d.path.as_str()),
                ("POST", "/hook"),
                "{name}"
            );
            assert_eq!(
                d.headers.get("content-type").map(String::as_str),
                Some("application/json"),
                "{name}"
            );
            assert_eq!(d.headers.get("x-ndf-job-id"), Some(&id), "{name}");
            let ts = d.headers.get("x-ndf-timestamp").expect("timestamp");
            let ts_n: i64 = ts.parse().expect("numeric timestamp");
            assert!((ts_n - now).abs() < 300, "{name}: timestamp {ts} vs {now}");
            let sig = d.headers.get("x-ndf-signature").expect("signature");
            assert_eq!(
                sig,
                &expected_signature(SECRET, ts, &d.body),
                "{name}: signature"
            );
            assert_eq!(
                sig,
                &ndf_server::webhook::signature(SECRET, ts_n, &d.body),
                "{name}: the service's own signature function agrees"
            );
            assert_ne!(
                sig,
                &expected_signature("another secret", ts, &d.body),
                "{name}"
            );
            // The body is the finished job's view, as GET shows it.
            let body: Value = serde_json::from_slice(&d.body).expect("JSON body");
            assert_eq!(body, done, "{name}");
        }
        let gap = got[1].at.duration_since(got[0].at);
        assert!(
            gap >= Duration::from_millis(900),
            "{name}: retried after the 1 s backoff, not {gap:?}"
        );
        // The 200 ended the deliveries: no third within the next backoff (2 s) and a margin.
        std::thread::sleep(Duration::from_millis(2600));
        assert_eq!(receiver.deliveries().len(), 2, "{name}: delivered once");
    }
}

// ----------------------------------------------------------------------------- retention

/// Jobs expire `retention_ms` after submission; the sweeper removes them and their data.
/// (2 s rather than a few hundred ms so the test first sees the job finished.)
#[test]
fn retention_removes_finished_jobs() {
    for backend in backends("api_retention") {
        let name = backend.name();
        let server = Server::serve(
            &backend,
            opts(
                &[],
                &[
                    ("retention_ms", "2000"),
                    ("sweep_interval_ms", "200"),
                    ("poll_interval_ms", "50"),
                ],
            ),
        );
        let http = client();
        let v = submit(&http, &server, "", three_pages(), name);
        let id = id_of(&v);
        let done = wait_job(&http, &server, &id, Duration::from_secs(30));
        assert_eq!(done["state"], "succeeded", "{name}: {done}");
        ok_text(
            get(&http, &server, &format!("/v1/jobs/{id}/result")),
            &server,
            name,
        );
        let blobs = job_blob_dir(&backend, &id);
        wait_until(Duration::from_secs(15), "the job expires", || {
            get(&http, &server, &format!("/v1/jobs/{id}")).status() == 404
        });
        problem(
            get(&http, &server, &format!("/v1/jobs/{id}")),
            404,
            "not_found",
            &format!("{name}: expired job"),
        );
        problem(
            get(&http, &server, &format!("/v1/jobs/{id}/result")),
            404,
            "not_found",
            &format!("{name}: expired result"),
        );
        let listed = ok_json(get(&http, &server, "/v1/jobs"), &server, name);
        assert!(
            !listed.to_string().contains(&id),
            "{name}: listed after expiry: {listed}"
        );
        if let Some(dir) = blobs {
            assert!(
                !dir.join("result.json").exists() && !dir.join("input.pdf").exists(),
                "{name}: blobs remain in {}",
                dir.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------- config print

/// `ndf config print`: file < `NDF_*` environment < flags, secrets never shown. No server.
#[test]
fn config_print_layers_sources_and_redacts_secrets() {
    let dir = support::scratch("api_config");
    let file = support::write(
        &dir,
        "ndf.toml",
        b"workers = 3\nsync_timeout_ms = 1111\nmax_waiting = 5\nwebhook_secret = \"file-hook-secret-1\"\n\n[limits]\ndeadline_ms = 4444\n",
    );
    let secrets = [
        "file-hook-secret-1",
        "env-s3-secret-2",
        "pg-pass-3",
        "flag-hook-secret-4",
    ];
    let run = |args: &[&str], env: &[(&str, &str)]| -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
        cmd.args(["config", "print"]).args(args);
        // Only this test's configuration: no NDF_* from the caller's environment.
        for (k, _) in std::env::vars() {
            if k.starts_with("NDF_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().expect("run ndf config print");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        for s in secrets {
            assert!(
                !stdout.contains(s) && !stderr.contains(s),
                "secret {s} printed:\n{stdout}{stderr}"
            );
        }
        stdout
    };
    let has = |out: &str, line: &str| out.lines().any(|l| l.trim() == line);
    let file_arg = file.display().to_string();

    let out = run(
        &[
            "--config",
            &file_arg,
            "--workers",
            "9",
            "--store",
            "postgres://ndfuser:pg-pass-3@db.example:5432/ndf",
            "--set",
            "webhook_secret=flag-hook-secret-4",
            "--set",
            "limits.deadline_ms=5555",
        ],
        &[
            ("NDF_WORKERS", "7"),
            ("NDF_SYNC_TIMEOUT_MS", "2222"),
            ("NDF_S3_SECRET_ACCESS_KEY", "env-s3-secret-2"),
            ("NDF_LIMITS_MAX_PAGES", "77"),
        ],
    );
    assert!(
        has(&out, "workers = 9"),
        "a flag beats env and file:\n{out}"
    );
    assert!(
        has(&out, "sync_timeout_ms = 2222"),
        "env beats file:\n{out}"
    );
    assert!(
        has(&out, "max_waiting = 5"),
        "the file beats defaults:\n{out}"
    );
    assert!(has(&out, "max_queued_jobs = 100000"), "defaults:\n{out}");
    assert!(has(&out, "deadline_ms = 5555"), "--set limits.*:\n{out}");
    assert!(has(&out, "max_pages = 77"), "env limits:\n{out}");
    assert!(has(&out, "webhook_secret = \"***\""), "{out}");
    assert!(has(&out, "s3_secret_access_key = \"***\""), "{out}");
    let store = out
        .lines()
        .find(|l| l.trim_start().starts_with("store ="))
        .unwrap_or_else(|| panic!("no store line:\n{out}"));
    assert!(
        store.contains("ndfuser") && store.contains("db.example:5432/ndf"),
        "the URL stays recognisable: {store}"
    );

    // NDF_CONFIG names the file; the environment still beats it.
    let out = run(&[], &[("NDF_CONFIG", &file_arg), ("NDF_WORKERS", "7")]);
    assert!(has(&out, "workers = 7"), "{out}");
    assert!(has(&out, "sync_timeout_ms = 1111"), "{out}");
    assert!(has(&out, "deadline_ms = 4444"), "{out}");
    assert!(has(&out, "webhook_secret = \"***\""), "{out}");
}

// ----------------------------------------------------------------------------- known bugs

/// `/readyz` on an idle server with `max_waiting = 0` (no queueing, a common setting behind a
/// load balancer). Embedded only: the readiness rule does not depend on the backend.
#[test]
fn readyz_is_ready_when_idle_with_max_waiting_zero() {
    let server = Server::serve(
        &embedded("api_ready0"),
        Opts::set(&[("workers", "1"), ("max_waiting", "0")]),
    );
    let http = client();
    // The server works: an extraction succeeds.
    ok_text(
        post(&http, &server, "/v1/extract?format=text", three_pages()),
        &server,
        "idle server",
    );
    let (status, v) = ready(&http, &server);
    // Regression (fixed): crates/ndf-server/src/api.rs readyz compares `status.waiting >= max_waiting`, which
    // is always true for max_waiting = 0, so an idle server reports 503 `overloaded` for ever
    // and a load balancer never routes to it. It should be 200 while a worker is free.
    assert_eq!(status, 200, "idle server not ready: {v}");
}

/// Every error is a problem document (docs/api.md), including bad query strings. Embedded
/// only: query parsing does not depend on the backend.
#[test]
fn query_string_errors_are_problem_documents() {
    let server = Server::serve(&embedded("api_query"), Opts::default());
    let http = client();
    let mut wrong = Vec::new();
    // Regression (fixed): crates/ndf-server/src/api.rs uses axum's `Query` extractor directly; its rejection
    // is a text/plain 400 ("Failed to deserialize query string: …"), not an
    // application/problem+json `invalid_argument` document. Unknown format on extract:
    wrong.extend(problem_mismatch(
        post(&http, &server, "/v1/extract?format=docx", three_pages()),
        400,
        "invalid_argument",
        "POST /v1/extract?format=docx",
    ));
    let v = submit(&http, &server, "", three_pages(), "job");
    let id = id_of(&v);
    wait_job(&http, &server, &id, Duration::from_secs(30));
    // Regression: same cause, unknown result format:
    wrong.extend(problem_mismatch(
        get(&http, &server, &format!("/v1/jobs/{id}/result?format=pdf")),
        400,
        "invalid_argument",
        "GET /v1/jobs/{id}/result?format=pdf",
    ));
    // Regression: same cause, a non-numeric or negative limit:
    for q in ["limit=abc", "limit=-1"] {
        wrong.extend(problem_mismatch(
            get(&http, &server, &format!("/v1/jobs?{q}")),
            400,
            "invalid_argument",
            &format!("GET /v1/jobs?{q}"),
        ));
    }
    assert!(
        wrong.is_empty(),
        "not problem documents:\n{}",
        wrong.join("\n")
    );
}

/// A wrong method on a known path is an error like any other. Embedded only (routing).
#[test]
fn wrong_method_is_a_problem_document() {
    let server = Server::serve(&embedded("api_method"), Opts::default());
    let http = client();
    let r = http
        .put(server.url("/v1/jobs"))
        .body("x")
        .send()
        .expect("request");
    let allow = header(&r, "allow");
    // Regression (fixed): crates/ndf-server/src/lib.rs `router` has no method-not-allowed fallback: axum
    // answers 405 with an empty body instead of an application/problem+json document
    // (docs/api.md: "every error is an RFC 9457 problem document").
    let mismatch = problem_mismatch(r, 405, "method_not_allowed", "PUT /v1/jobs");
    assert!(allow.is_some(), "405 names the allowed methods");
    assert_eq!(mismatch, None);
}

/// `max_queued_jobs` bounds the queue even when submissions arrive faster than once a second.
/// Embedded only: admission is the same code for both backends.
#[test]
fn queue_limit_holds_within_a_burst() {
    let server = Server::serve(
        &embedded("api_burst"),
        opts(&["--no-jobs"], &[("max_queued_jobs", "1")]),
    );
    let http = client();
    submit(&http, &server, "", three_pages(), "first");
    let mut accepted_over_limit = 0;
    for i in 0..5 {
        let r = post(
            &http,
            &server,
            "/v1/jobs",
            text_doc(&[&format!("burst {i}")]),
        );
        if r.status() == 202 {
            accepted_over_limit += 1;
        }
    }
    let queued = ok_json(
        get(&http, &server, "/v1/jobs?state=queued"),
        &server,
        "list",
    );
    let queued = queued["jobs"].as_array().map_or(0, Vec::len);
    // Regression (fixed): crates/ndf-server/src/api.rs `admission` compares against a queued count cached for
    // up to a second and never counts the jobs this replica accepts meanwhile, so every
    // submission within that second passes: here 6 jobs queue with max_queued_jobs = 1 (a
    // client can queue thousands a second past the limit). It should refuse with 429.
    assert_eq!(
        (accepted_over_limit, queued),
        (0, 1),
        "submissions accepted past max_queued_jobs = 1, jobs queued"
    );
}

/// A problem type has one title (RFC 9457: the title does not change between occurrences).
/// Embedded only: error mapping does not depend on the backend.
#[test]
fn problem_titles_are_stable_per_type() {
    let server = Server::serve(&embedded("api_titles"), Opts::default());
    let http = client();
    let (_, from_api) = problem(
        post(&http, &server, "/v1/extract?pages=0", three_pages()),
        400,
        "invalid_argument",
        "pages=0 (checked by the API)",
    );
    let (_, from_engine) = problem(
        post(&http, &server, "/v1/extract?pages=5", three_pages()),
        400,
        "invalid_argument",
        "pages=5 of a 3-page document (checked by the engine)",
    );
    // Regression (fixed): crates/ndf-server/src/problem.rs `ApiError::engine` gives every engine code the
    // title "The document could not be extracted", also `invalid_argument` (and `not_pdf`,
    // `internal`), whose table title is "Invalid argument": one problem type, two titles.
    assert_eq!(from_engine["title"], from_api["title"]);
}

/// A body far over `max_body_bytes` is refused from its Content-Length before it is read; the
/// client must still receive the 413. Embedded only: HTTP handling, no store involved.
#[test]
fn far_oversized_bodies_get_a_413_not_a_broken_connection() {
    let server = Server::serve(
        &embedded("api_huge"),
        Opts::set(&[("max_body_bytes", "20000")]),
    );
    let http = client();
    let mut huge = three_pages();
    huge.extend(std::iter::repeat_n(b'%', 8 << 20));
    let mut outcomes = Vec::new();
    // Repeated: whether the answer or the reset reaches the client first is a race.
    for path in ["/v1/extract", "/v1/jobs"].repeat(10) {
        let r = http
            .post(server.url(path))
            .header("content-type", "application/pdf")
            .body(huge.clone())
            .send();
        outcomes.push(match r {
            Ok(r) => problem_mismatch(r, 413, "payload_too_large", path),
            Err(e) => Some(format!("{path}: no answer: {e:?}")),
        });
    }
    // Regression (fixed): crates/ndf-server/src/util.rs `read_pdf_body` answers 413 without reading the body
    // (Content-Length check) and `read_limited` stops reading at the limit; hyper then closes
    // the connection with most of the body unread, so a client still writing gets a broken
    // pipe / "connection closed before message completed" instead of the 413 (always at
    // 8 MiB, in about half the runs at 1 MiB). Drain (a bounded amount of) the rest of the
    // body before closing, or honour `Expect: 100-continue`, so the 413 reaches the client.
    let broken: Vec<String> = outcomes.into_iter().flatten().collect();
    assert!(
        broken.is_empty(),
        "{} of 20 oversized requests got no 413:\n{}",
        broken.len(),
        broken.join("\n")
    );
}
