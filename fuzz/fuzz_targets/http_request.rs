//! The API's request parsing with arbitrary bytes: page selections, webhook callback URLs,
//! query strings, the TOML configuration and its `NDF_*` environment layer, URL redaction, the
//! request body reader (raw PDF and `multipart/form-data`), API-key and tenant syntax. The
//! first byte picks the parser; see `fuzz/README.md` for the layout of each mode.
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ndf_extract::PageSelection;
use ndf_server::api::{ExtractQuery, JobQuery};
use ndf_server::auth::{hash_key, key_id, valid_tenant};
use ndf_server::config::Config;
use ndf_server::util::{check_callback, looks_like_pdf, read_pdf_body};

/// The runtime the body reader runs on: one current-thread runtime for the whole process
/// (building one per input would dominate the run time).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the tokio runtime: {e}"))
    })
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Mode 0: `PageSelection::parse`, and what a parsed selection promises.
fn pages(spec: &str) {
    let Ok(sel) = PageSelection::parse(spec) else {
        return;
    };
    let resolved = sel.resolve(300);
    assert!(
        resolved.windows(2).all(|w| w[0] < w[1]),
        "pages out of order"
    );
    for &i in &resolved {
        assert!(
            i < 300 && sel.contains(i as u32 + 1),
            "resolved an unselected page"
        );
    }
    assert!(!sel.contains(0), "page 0 selected (pages are 1-based)");
}

/// Mode 1: `check_callback`. First line: comma-separated allow-list; the rest: the URL.
fn callback(input: &str) {
    let (allow, url) = input.split_once('\n').unwrap_or(("", input));
    let allow: Vec<String> = allow.split(',').map(str::to_owned).collect();
    if check_callback(url, &allow).is_ok() {
        accepted_callback(url);
    }
    // Without an allow-list, at most https to a name or a public address passes (names are
    // resolved and checked again at delivery).
    if check_callback(url, &[]).is_ok() {
        let parsed = accepted_callback(url);
        assert_eq!(parsed.scheme(), "https", "plain http accepted: {url:?}");
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = ip {
            let v4 = match ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(v6) => {
                    assert!(
                        !v6.is_loopback() && !v6.is_unspecified(),
                        "loopback accepted: {url:?}"
                    );
                    v6.to_ipv4_mapped()
                }
            };
            if let Some(v4) = v4 {
                assert!(
                    !v4.is_loopback()
                        && !v4.is_private()
                        && !v4.is_link_local()
                        && !v4.is_unspecified(),
                    "private address accepted: {url:?}"
                );
            }
        }
    }
}

/// What every accepted callback is: a URL (as the webhook sender parses it, WHATWG rules) with
/// an http(s) scheme, a host, no credentials and at most 2048 bytes.
fn accepted_callback(url: &str) -> url::Url {
    assert!(url.len() <= 2048, "accepted a callback URL over 2048 bytes");
    let parsed = match url::Url::parse(url) {
        Ok(p) => p,
        Err(e) => panic!("accepted a callback that is not a URL ({e}): {url:?}"),
    };
    assert!(
        matches!(parsed.scheme(), "http" | "https"),
        "accepted a callback that is not http(s): {url:?}"
    );
    assert!(
        parsed.username().is_empty() && parsed.password().is_none(),
        "accepted a callback with credentials: {url:?}"
    );
    assert!(
        parsed.host_str().is_some(),
        "accepted a callback without a host: {url:?}"
    );
    parsed
}

/// Mode 2: `Config::from_toml`, then validation and the redacted rendering.
fn config_toml(input: &str) {
    if let Ok(c) = Config::from_toml(input) {
        check_config(&c);
    }
}

/// Mode 3: `Config::apply_env` over `KEY=VALUE` lines (keys get the `NDF_` prefix when they
/// lack it, so most lines reach `Config::set`).
fn config_env(input: &str) {
    let vars = input.lines().take(64).map(|l| {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        let k = if k.starts_with("NDF_") {
            k.to_owned()
        } else {
            format!("NDF_{k}")
        };
        (k, v.to_owned())
    });
    let mut c = Config::default();
    if c.apply_env(vars).is_ok() {
        check_config(&c);
    }
}

fn check_config(c: &Config) {
    let _ = c.validate();
    let _ = c.worker_count();
    let _ = c.store_url();
    let _ = c.blobs_url();
    let shown = c.to_redacted_toml();
    // Either a rendering that parses back with the secrets hidden, or the explicit comment the
    // renderer falls back to (TOML integers stop at i64::MAX; the environment accepts u64).
    if shown.starts_with("# cannot render configuration") {
        return;
    }
    let back = match Config::from_toml(&shown) {
        Ok(b) => b,
        Err(e) => panic!("the redacted configuration does not parse back: {e}\n{shown}"),
    };
    // Every secret-named key (webhook_secret, s3_secret_access_key, api_key_secret,
    // master_key, ...) that is set shows as `***`, whatever fields the configuration grows.
    // (JSON values: TOML tables stop at i64, the configuration has u64 fields.)
    let (Ok(serde_json::Value::Object(set)), Ok(serde_json::Value::Object(shown))) =
        (serde_json::to_value(c), serde_json::to_value(&back))
    else {
        panic!("the configuration is not a JSON object");
    };
    for (name, value) in &set {
        let secret = name.contains("secret") || name == "master_key";
        if secret && value.is_string() {
            assert_eq!(
                shown.get(name).and_then(serde_json::Value::as_str),
                Some("***"),
                "{name} shown by to_redacted_toml"
            );
        }
    }
}

/// Mode 4: `redact_url` on a URL with a known password: it must never come back. The input is
/// `scheme NUL user NUL host-and-rest`; user and host exclude the characters that end an
/// authority (`/ ? # @`), so the password is a userinfo password by any URL parser's reading.
fn redact(input: &str) {
    const PW: &str = "Pw-9f3a!";
    let _ = ndf_store::redact_url(input);
    let mut parts = input.splitn(3, '\0');
    let (Some(scheme), Some(user), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let clean = |s: &str| !s.contains(['/', '?', '#', '@', ':']) && !s.contains(PW);
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    if !clean(scheme) || !clean(user) || !clean(host) || tail.contains(PW) {
        return;
    }
    let url = format!("{scheme}://{user}:{PW}@{host}{tail}");
    let shown = ndf_store::redact_url(&url);
    assert!(!shown.contains(PW), "password shown: {url:?} -> {shown:?}");
}

/// Mode 5: the query strings of `POST /v1/extract` and `POST /v1/jobs` as axum parses them,
/// then the checks the handlers run on the values.
fn query(input: &[u8]) {
    let mut uri = b"/v1/jobs?".to_vec();
    uri.extend_from_slice(input);
    let Ok(uri) = Uri::try_from(uri) else {
        return;
    };
    if let Ok(Query(q)) = Query::<ExtractQuery>::try_from_uri(&uri)
        && let Some(p) = &q.pages
    {
        pages(p);
    }
    if let Ok(Query(q)) = Query::<JobQuery>::try_from_uri(&uri) {
        if let Some(p) = &q.pages {
            pages(p);
        }
        if let Some(url) = &q.callback_url {
            let allow = vec!["hooks.example.test".to_owned(), "*.corp.test".to_owned()];
            let _ = check_callback(url, &allow);
        }
    }
}

const BOUNDARY: &str = "XyZ";
const LIMITS: [u64; 4] = [16, 300, 4096, 1 << 20];

/// Mode 6: `read_pdf_body`. Header bytes `[content type, flags, limit, chunk size]`, then the
/// body. Content type (low 3 bits): 0 `application/pdf`, 1 multipart with boundary `XyZ`,
/// 2 the same in odd case with a quoted boundary, 3 none, 4 the first body line as the
/// header value, 5 multipart without a boundary. Flags: bit 0 a truthful `Content-Length`,
/// bit 1 a huge one, bit 2 `Expect: 100-continue`.
fn body(input: &[u8]) {
    let Some(([kind, flags, limit, chunk], rest)) =
        input.split_first_chunk::<4>().map(|(h, r)| (*h, r))
    else {
        return;
    };
    let mut headers = HeaderMap::new();
    let mut payload = rest;
    let content_type: Option<Vec<u8>> = match kind & 7 {
        0 => Some(b"application/pdf".to_vec()),
        1 => Some(format!("multipart/form-data; boundary={BOUNDARY}").into_bytes()),
        2 => Some(
            format!("MultiPart/Form-Data; charset=utf-8; Boundary=\"{BOUNDARY}\"").into_bytes(),
        ),
        4 => {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            payload = rest.get(end + 1..).unwrap_or(&[]);
            rest.get(..end).map(<[u8]>::to_vec)
        }
        5 => Some(b"multipart/form-data".to_vec()),
        _ => None,
    };
    if let Some(v) = content_type.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if flags & 1 != 0 {
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(payload.len() as u64),
        );
    }
    if flags & 2 != 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(u64::MAX - 1));
    }
    if flags & 4 != 0 {
        headers.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
    }
    let limit = LIMITS[usize::from(limit) % LIMITS.len()];
    // The body arrives in chunks of 1..=256 bytes, as a network stream would deliver it.
    let chunk = usize::from(chunk).max(1);
    let chunks: Vec<Result<Bytes, std::io::Error>> = payload
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures::stream::iter(chunks);
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let result = runtime().block_on(read_pdf_body(&headers, Body::from_stream(stream), limit));
    if let Ok(data) = result {
        assert!(!data.is_empty(), "accepted an empty document");
        assert!(
            data.len() as u64 <= limit,
            "accepted {} bytes over the limit {limit}",
            data.len()
        );
        assert!(
            looks_like_pdf(&data),
            "accepted a body without a PDF header"
        );
        if !multipart {
            assert_eq!(&data[..], payload, "a raw body came back altered");
        }
    }
}

/// Mode 7: API-key and tenant syntax: `auth::key_id` (the lookup id of a presented key),
/// `auth::valid_tenant` (tenant ids become parts of storage keys), `auth::hash_key`.
fn api_key(input: &str) {
    if let Some(id) = key_id(input) {
        assert!(
            id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "key id {id:?} accepted"
        );
        assert_eq!(input.len(), 4 + 12 + 1 + 64, "key {input:?} accepted");
    }
    if valid_tenant(input) {
        assert!(
            !input.is_empty()
                && input.len() <= 64
                && !input.contains(['/', '\\', '.', ':', '\0'])
                && !input.chars().any(char::is_whitespace),
            "tenant {input:?} accepted"
        );
    }
    let hash = hash_key(input.as_bytes(), input);
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "key hash {hash:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 8 {
        0 => pages(&text(rest)),
        1 => callback(&text(rest)),
        2 => config_toml(&text(rest)),
        3 => config_env(&text(rest)),
        4 => redact(&text(rest)),
        5 => query(rest),
        6 => body(rest),
        _ => api_key(&text(rest)),
    }
});
