//! The result cache of `ndf serve` over real sockets (crates/ndf-server/src/cache.rs):
//!
//! - `repeats_hit_with_identical_bytes_per_tenant_and_options` (both backends): the same
//!   document twice is a hit with the same body (JSON, text, NDJSON stream); other options,
//!   another tenant and a password miss or bypass; jobs complete from the cache and fill it;
//!   the counters say exactly that.
//! - `a_tiny_budget_evicts_and_never_exceeds_it`: evictions are counted and the bytes gauge
//!   never passes the budget; the least recently used result is the one gone.
//! - `a_disabled_cache_always_misses`.
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Backend, Opts, Server, backends, client, embedded};

/// A key for `tenant` with the scopes these tests use.
fn create_key(backend: &Backend, tenant: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(["keys", "create", "--tenant", tenant, "--name", "cache test"])
        .args([
            "--scope",
            "extract",
            "--scope",
            "jobs:read",
            "--scope",
            "jobs:write",
        ])
        .args(backend.args());
    for (k, v) in backend.env() {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run ndf keys");
    assert!(
        out.status.success(),
        "ndf keys create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    v["key"].as_str().expect("the key").to_owned()
}

/// One synchronous extraction: (x-ndf-cache, body).
fn extract(
    http: &reqwest::blocking::Client,
    server: &Server,
    key: Option<&str>,
    query: &str,
    pdf: &[u8],
    extra: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let mut req = http
        .post(server.url(&format!("/v1/extract{query}")))
        .header("content-type", "application/pdf")
        .body(pdf.to_vec());
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let r = req.send().expect("request");
    assert_eq!(r.status(), 200, "{query}: {}", server.log_text());
    let cache = r
        .headers()
        .get("x-ndf-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)")
        .to_owned();
    (cache, r.bytes().expect("body").to_vec())
}

/// The value of one series of `/metrics`.
fn metric(http: &reqwest::blocking::Client, server: &Server, series: &str) -> f64 {
    let text = http
        .get(server.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .parse()
        .expect("a number")
}

fn hits(http: &reqwest::blocking::Client, server: &Server) -> (f64, f64) {
    (
        metric(http, server, "ndf_result_cache_hits_total"),
        metric(http, server, "ndf_result_cache_misses_total"),
    )
}

/// Submit a job and return its result (JSON document) once it succeeded.
fn job_result(
    http: &reqwest::blocking::Client,
    server: &Server,
    key: &str,
    pdf: &[u8],
    name: &str,
) -> Vec<u8> {
    let r = http
        .post(server.url("/v1/jobs"))
        .bearer_auth(key)
        .header("content-type", "application/pdf")
        .body(pdf.to_vec())
        .send()
        .expect("submit");
    assert_eq!(r.status(), 202, "[{name}] {}", server.log_text());
    let v: serde_json::Value = r.json().expect("job view");
    let id = v["id"].as_str().expect("id").to_owned();
    let start = std::time::Instant::now();
    let done = loop {
        let v: serde_json::Value = http
            .get(server.url(&format!("/v1/jobs/{id}")))
            .bearer_auth(key)
            .send()
            .and_then(|r| r.json())
            .unwrap_or(serde_json::Value::Null);
        if matches!(
            v["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            break v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "[{name}] job {id} did not finish: {v}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done["state"], "succeeded", "[{name}] {done}");
    let r = http
        .get(server.url(&format!("/v1/jobs/{id}/result")))
        .bearer_auth(key)
        .send()
        .expect("result");
    assert_eq!(r.status(), 200, "[{name}]");
    r.bytes().expect("result body").to_vec()
}

#[test]
fn repeats_hit_with_identical_bytes_per_tenant_and_options() {
    for backend in backends("cache_hits") {
        let name = backend.name();
        let acme = create_key(&backend, "acme");
        let globex = create_key(&backend, "globex");
        let server = Server::serve(
            &backend,
            Opts::set(&[("workers", "1"), ("poll_interval_ms", "50")]),
        );
        let http = client();
        let a = Some(acme.as_str());
        let pdf = ndf_testkit::text_doc(&["cached alpha", "cached beta", "cached gamma"]);
        assert_eq!(hits(&http, &server), (0.0, 0.0), "[{name}] zero at start");

        // JSON: a miss, then a hit with the same bytes; only the miss is a document.
        let (c1, first) = extract(&http, &server, a, "", &pdf, &[]);
        let (c2, second) = extract(&http, &server, a, "", &pdf, &[]);
        assert_eq!((c1.as_str(), c2.as_str()), ("miss", "hit"), "[{name}]");
        assert_eq!(first, second, "[{name}] a hit answers the same bytes");
        let doc: serde_json::Value = serde_json::from_slice(&second).expect("JSON document");
        assert_eq!(doc["pages"].as_array().map(Vec::len), Some(3), "[{name}]");
        assert_eq!(hits(&http, &server), (1.0, 1.0), "[{name}]");
        assert_eq!(
            metric(&http, &server, "ndf_documents_total{outcome=\"ok\"}"),
            1.0,
            "[{name}] the hit did not reach a worker"
        );
        assert_eq!(metric(&http, &server, "ndf_result_cache_entries"), 1.0);
        let bytes = metric(&http, &server, "ndf_result_cache_bytes");
        assert!(bytes > first.len() as f64, "[{name}] {bytes}");

        // Other options miss: another format, another page selection.
        let (c, text) = extract(&http, &server, a, "?format=text", &pdf, &[]);
        assert_eq!(c, "miss", "[{name}] format");
        let (c, text_again) = extract(&http, &server, a, "?format=text", &pdf, &[]);
        assert_eq!((c.as_str(), &text_again), ("hit", &text), "[{name}]");
        assert!(String::from_utf8_lossy(&text).contains("cached beta"));
        let (c, _) = extract(&http, &server, a, "?pages=2", &pdf, &[]);
        assert_eq!(c, "miss", "[{name}] page selection");
        // Another tenant never sees acme's entries.
        let (c, theirs) = extract(&http, &server, Some(&globex), "", &pdf, &[]);
        assert_eq!(c, "miss", "[{name}] other tenant");
        assert_eq!(theirs, first, "[{name}] same document, same answer");
        let (c, _) = extract(&http, &server, Some(&globex), "", &pdf, &[]);
        assert_eq!(c, "hit", "[{name}] its own entry");
        assert_eq!(hits(&http, &server), (3.0, 4.0), "[{name}]");

        // NDJSON: the first stream fills the cache, the second (and the plain body) hit, and a
        // stream from the cache has exactly the lines of an extraction.
        let streamed = ndf_testkit::text_doc(&["streamed one", "streamed two"]);
        let ndjson = [("accept", "application/x-ndjson")];
        let (c1, s1) = extract(&http, &server, a, "", &streamed, &ndjson);
        let (c2, s2) = extract(&http, &server, a, "", &streamed, &ndjson);
        assert_eq!((c1.as_str(), c2.as_str()), ("miss", "hit"), "[{name}]");
        assert_eq!(s1, s2, "[{name}] streamed lines from the cache");
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&s2)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 3, "[{name}] two pages and the summary");
        assert_eq!(lines[2]["type"], "summary");
        let (c, whole) = extract(&http, &server, a, "", &streamed, &[]);
        assert_eq!(
            c, "hit",
            "[{name}] the streamed result answers a plain request"
        );
        let doc: serde_json::Value = serde_json::from_slice(&whole).expect("JSON document");
        assert_eq!(doc["pages"][1], lines[1]["page"], "[{name}]");
        // An entry made by a plain request answers a stream too.
        let (c, streamed_hit) = extract(&http, &server, a, "", &pdf, &ndjson);
        assert_eq!(c, "hit", "[{name}]");
        let summary = String::from_utf8_lossy(&streamed_hit)
            .lines()
            .last()
            .map(str::to_owned)
            .unwrap_or_default();
        assert!(summary.contains("\"pages\":3"), "[{name}] {summary}");

        // A password bypasses the cache: no lookup, no entry, not counted.
        let before = hits(&http, &server);
        let enc = support::encrypted_doc_with(b"open sesame", &["secret text"]);
        for _ in 0..2 {
            let (c, body) = extract(
                &http,
                &server,
                a,
                "?format=text",
                &enc,
                &[("x-pdf-password", "open sesame")],
            );
            assert_eq!(c, "bypass", "[{name}]");
            assert!(String::from_utf8_lossy(&body).contains("secret text"));
        }
        assert_eq!(hits(&http, &server), before, "[{name}]");

        // Jobs: a job of a document acme already extracted completes from the cache with the
        // same document; a new job's result fills the cache for synchronous requests.
        let before = hits(&http, &server);
        let result = job_result(&http, &server, &acme, &pdf, name);
        assert_eq!(
            result, first,
            "[{name}] the job's result is the cached document"
        );
        assert_eq!(hits(&http, &server).0, before.0 + 1.0, "[{name}] job hit");
        let fresh = ndf_testkit::text_doc(&["job first"]);
        let from_job = job_result(&http, &server, &acme, &fresh, name);
        let (c, sync) = extract(&http, &server, a, "", &fresh, &[]);
        assert_eq!(c, "hit", "[{name}] filled by the job");
        assert_eq!(sync, from_job, "[{name}]");
        let (c, _) = extract(&http, &server, Some(&globex), "", &fresh, &[]);
        assert_eq!(c, "miss", "[{name}] not for another tenant");
    }
}

#[test]
fn a_tiny_budget_evicts_and_never_exceeds_it() {
    let budget = 16_384.0;
    let backend = embedded("cache_evict");
    let server = Server::serve(
        &backend,
        Opts::set(&[("workers", "1"), ("result_cache_bytes", "16384")]),
    );
    let http = client();
    assert_eq!(
        metric(&http, &server, "ndf_result_cache_limit_bytes"),
        budget
    );
    let doc = |i: usize| ndf_testkit::text_doc(&[&format!("document number {i}")]);
    let (c, _) = extract(&http, &server, None, "?format=text", &doc(0), &[]);
    assert_eq!(c, "miss");
    let one = metric(&http, &server, "ndf_result_cache_bytes");
    assert!(
        one > 0.0 && one <= budget / 8.0,
        "one entry is stored: {one}"
    );
    // Enough documents to fill the budget twice over.
    let n = (2.0 * budget / one) as usize + 2;
    for i in 1..n {
        let (c, _) = extract(&http, &server, None, "?format=text", &doc(i), &[]);
        assert_eq!(c, "miss", "document {i}");
        let bytes = metric(&http, &server, "ndf_result_cache_bytes");
        assert!(bytes <= budget, "{bytes} bytes after document {i}");
    }
    let evictions = metric(&http, &server, "ndf_result_cache_evictions_total");
    let entries = metric(&http, &server, "ndf_result_cache_entries");
    // Every document was new: each one not held any more was evicted.
    assert_eq!(evictions, n as f64 - entries, "{entries} entries");
    assert!(entries >= 2.0 && evictions > 0.0, "{entries} entries");
    // The oldest result was evicted, the newest is still there.
    let (c, _) = extract(&http, &server, None, "?format=text", &doc(n - 1), &[]);
    assert_eq!(c, "hit");
    let (c, _) = extract(&http, &server, None, "?format=text", &doc(0), &[]);
    assert_eq!(c, "miss");
    // A result larger than an eighth of the budget is not stored.
    let long: Vec<String> = (0..40)
        .map(|i| format!("a rather long line of page text, number {i}, to make the result big"))
        .collect();
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    let big = ndf_testkit::text_doc(&refs);
    let (_, body) = extract(&http, &server, None, "", &big, &[]);
    assert!(body.len() as f64 > budget / 8.0, "{}", body.len());
    let (c, _) = extract(&http, &server, None, "", &big, &[]);
    assert_eq!(c, "miss", "too large to cache");
    assert!(metric(&http, &server, "ndf_result_cache_bytes") <= budget);
}

#[test]
fn a_disabled_cache_always_misses() {
    let backend = embedded("cache_off");
    let server = Server::serve(
        &backend,
        Opts::set(&[("workers", "1"), ("result_cache_bytes", "0")]),
    );
    let http = client();
    let pdf = ndf_testkit::text_doc(&["never cached"]);
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let (c, body) = extract(&http, &server, None, "", &pdf, &[]);
        assert_eq!(c, "miss");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(hits(&http, &server), (0.0, 3.0));
    assert_eq!(
        metric(&http, &server, "ndf_documents_total{outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(metric(&http, &server, "ndf_result_cache_entries"), 0.0);
    assert_eq!(metric(&http, &server, "ndf_result_cache_bytes"), 0.0);
    assert_eq!(metric(&http, &server, "ndf_result_cache_limit_bytes"), 0.0);
}
