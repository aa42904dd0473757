//! Small helpers: clock, RFC 3339 formatting, body reading, PDF sniffing, webhook URL checks.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;

use crate::problem::{ApiCode, ApiError};

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-11-28T20:12:34.567Z` from milliseconds since the epoch (UTC).
pub fn rfc3339(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Most bytes of an over-limit body read and thrown away before answering 413, so a client
/// still sending sees the answer instead of a reset connection; beyond this the connection is
/// closed.
const MAX_DRAIN: u64 = 64 << 20;
/// Longest time spent draining an over-limit body.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
/// Room for multipart framing and small fields around the file.
const MULTIPART_OVERHEAD: u64 = 64 << 10;

/// Read a request body of at most `limit` bytes: the raw body for `application/pdf` (or any
/// non-multipart type), the field `file` of a `multipart/form-data` body.
pub async fn read_pdf_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let multipart = content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data");
    let wire_limit = if multipart {
        limit.saturating_add(MULTIPART_OVERHEAD)
    } else {
        limit
    };
    if let Some(len) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > wire_limit
    {
        let expects_continue = headers
            .get(axum::http::header::EXPECT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        // A client waiting for `100 Continue` has sent nothing yet: answer at once. Otherwise
        // read (a bounded amount of) what it is sending so it gets to see the 413.
        if !expects_continue && len <= wire_limit.saturating_add(MAX_DRAIN) {
            drain(body.into_data_stream()).await;
        }
        return Err(too_large(limit));
    }
    let raw = read_limited(body, wire_limit, limit).await?;
    let data = if multipart {
        let boundary = multer_boundary(&content_type).ok_or_else(|| {
            ApiError::new(
                ApiCode::InvalidArgument,
                "multipart body without a boundary",
            )
        })?;
        multipart_file(raw, boundary, limit).await?
    } else {
        raw
    };
    if data.is_empty() {
        return Err(ApiError::new(
            ApiCode::InvalidArgument,
            "the request has no document",
        ));
    }
    if !looks_like_pdf(&data) {
        return Err(ApiError::new(
            ApiCode::NotPdf,
            "the body does not start with a PDF header (%PDF-)",
        ));
    }
    Ok(data)
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ApiCode::PayloadTooLarge,
        format!("the document exceeds {limit} bytes"),
    )
}

/// Read and discard up to [`MAX_DRAIN`] bytes for at most [`DRAIN_TIME`].
async fn drain(mut stream: axum::body::BodyDataStream) {
    let work = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > MAX_DRAIN {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, work).await;
}

/// Collect a body; past `wire_limit` answer 413 (after draining a bounded rest).
async fn read_limited(body: Body, wire_limit: u64, limit: u64) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ApiCode::InvalidArgument,
                format!("cannot read the body: {e}"),
            )
        })?;
        if buf.len() as u64 + chunk.len() as u64 > wire_limit {
            drop(buf);
            drain(stream).await;
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn multer_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The `file` field of a multipart body already in memory (other fields are ignored).
async fn multipart_file(raw: Bytes, boundary: String, limit: u64) -> Result<Bytes, ApiError> {
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().for_field("file", limit));
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(raw) });
    let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
    let classify = |e: multer::Error| match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            too_large(limit)
        }
        other => ApiError::new(
            ApiCode::InvalidArgument,
            format!("bad multipart body: {other}"),
        ),
    };
    while let Some(field) = mp.next_field().await.map_err(classify)? {
        if field.name() == Some("file") {
            return field.bytes().await.map_err(classify);
        }
    }
    Err(ApiError::new(
        ApiCode::InvalidArgument,
        "the multipart body has no `file` field",
    ))
}

/// `%PDF-` within the first KiB (junk before the header is common and tolerated).
pub fn looks_like_pdf(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    head.windows(5).any(|w| w == b"%PDF-")
}

/// Create `path` with `contents` readable by its owner only (0600), unless it exists: the
/// embedded store's own secrets. Another process creating it first is not an error.
pub fn create_secret_file_once(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => std::io::Write::write_all(&mut f, contents),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A small text file, at most `max` bytes.
pub fn read_small_file(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Hex SHA-256 of a body (idempotency checks) or any bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Whether `host` (and port) is in the webhook allow-list (`host`, `host:port` or `*.domain`).
fn allow_listed(parsed: &reqwest::Url, allow: &[String]) -> bool {
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let with_port = parsed.port().map(|p| format!("{host}:{p}"));
    allow.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        if let Some(suffix) = a.strip_prefix("*.") {
            host.ends_with(&format!(".{suffix}"))
        } else {
            a == host || with_port.as_deref() == Some(a.as_str())
        }
    })
}

/// True for addresses anyone on the internet could serve: not loopback, private, link-local,
/// shared (CGNAT), unspecified, multicast, broadcast, documentation or IPv4-mapped forms of
/// those. Webhooks to anything else are server-side request forgery unless allow-listed.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0064 && s[1] == 0xff9b))
        }
    }
}

/// Check a callback URL when a job is submitted: http(s), no credentials, at most 2048
/// characters; `https` and a public address unless its host is allow-listed. A host given as
/// an IP address is checked here; names are resolved and checked by [`resolve_callback`].
pub fn check_callback(url: &str, allow: &[String]) -> Result<(), ApiError> {
    let bad = |m: &str| {
        Err(ApiError::new(
            ApiCode::InvalidArgument,
            format!("callback_url: {m}"),
        ))
    };
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return bad("not a URL");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return bad("only https callbacks are allowed");
    }
    if url.len() > 2048 {
        return bad("longer than 2048 characters");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("credentials in the URL are not allowed");
    }
    if parsed.host_str().is_none() {
        return bad("no host");
    }
    if allow_listed(&parsed, allow) {
        return Ok(());
    }
    if parsed.scheme() != "https" {
        return bad("only https callbacks are allowed (or an allow-listed host)");
    }
    let literal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if literal.is_some_and(|ip| !is_public_ip(ip)) {
        return bad("private, loopback and link-local addresses are not allowed");
    }
    Ok(())
}

/// Resolve a callback's host (at submission and again at each delivery, against DNS
/// rebinding) and return the address to connect to: the first resolved address when the host
/// is allow-listed, else only if every address is public. `None` means "connect as usual"
/// (an IP literal already checked).
pub async fn resolve_callback(
    url: &str,
    allow: &[String],
) -> Result<Option<(String, std::net::SocketAddr)>, ApiError> {
    check_callback(url, allow)?;
    let bad = |m: String| ApiError::new(ApiCode::InvalidArgument, format!("callback_url: {m}"));
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("not a URL".into()))?;
    let Some(url::Host::Domain(host)) = parsed.host() else {
        return Ok(None);
    };
    let host = host.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<std::net::SocketAddr> =
        match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
            Ok(Ok(a)) => a.take(32).collect(),
            _ => return Err(bad(format!("cannot resolve {host}"))),
        };
    let Some(first) = addrs.first().copied() else {
        return Err(bad(format!("{host} has no address")));
    };
    if !allow_listed(&parsed, allow) && addrs.iter().any(|a| !is_public_ip(a.ip())) {
        return Err(bad(format!(
            "{host} resolves to a private, loopback or link-local address"
        )));
    }
    Ok(Some((host, first)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_798_000_000_123), "2026-12-23T04:26:40.123Z");
    }

    #[test]
    fn pdf_sniffing() {
        assert!(looks_like_pdf(b"%PDF-1.7\n"));
        assert!(looks_like_pdf(b"junk\n%PDF-1.4"));
        assert!(!looks_like_pdf(b"<html>"));
    }

    #[test]
    fn callbacks_follow_the_allow_list() {
        let allow = vec![
            "hooks.example.test".to_owned(),
            "*.corp.test".to_owned(),
            "127.0.0.1:9999".to_owned(),
        ];
        assert!(check_callback("https://hooks.example.test/x", &allow).is_ok());
        assert!(check_callback("https://a.b.corp.test/x", &allow).is_ok());
        // Allow-listed: http and a loopback address are accepted.
        assert!(check_callback("http://127.0.0.1:9999/hook", &allow).is_ok());
        // Not allow-listed: https only, and never a private address literal.
        assert!(check_callback("http://127.0.0.1:8000/hook", &allow).is_err());
        assert!(check_callback("https://127.0.0.1:8000/hook", &allow).is_err());
        assert!(check_callback("https://10.1.2.3/hook", &[]).is_err());
        assert!(check_callback("https://[::1]/hook", &[]).is_err());
        assert!(check_callback("https://[::ffff:192.168.0.1]/hook", &[]).is_err());
        assert!(check_callback("https://169.254.169.254/latest/meta-data", &[]).is_err());
        assert!(check_callback("http://hooks.example.org/", &[]).is_err());
        assert!(check_callback("https://hooks.example.org/", &[]).is_ok());
        assert!(check_callback("https://93.184.215.14/hook", &[]).is_ok());
        assert!(check_callback("ftp://hooks.example.test/", &allow).is_err());
        assert!(check_callback("https://user:pw@hooks.example.test/", &allow).is_err());
    }

    #[test]
    fn public_addresses() {
        let public = |s: &str| is_public_ip(s.parse().unwrap());
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(!public(private), "{private}");
        }
        for p in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(p), "{p}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        // `localhost` resolves to loopback: refused unless allow-listed.
        let e = resolve_callback("https://localhost/hook", &[])
            .await
            .unwrap_err();
        assert!(e.problem().detail.contains("resolves to a private"), "{e}");
        let ok = resolve_callback("https://localhost:8443/hook", &["localhost".to_owned()])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ok.0, "localhost");
        assert!(ok.1.ip().is_loopback() && ok.1.port() == 8443);
    }
}
