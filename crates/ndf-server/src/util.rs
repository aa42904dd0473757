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

/// Hex SHA-256 of a body (idempotency checks).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Check a webhook URL against the allow-list: `http`/`https` only, host (or host:port)
/// listed exactly, or matching a `*.domain` entry.
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
        return bad("only http and https callbacks are allowed");
    }
    if url.len() > 2048 {
        return bad("longer than 2048 characters");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("credentials in the URL are not allowed");
    }
    let Some(host) = parsed.host_str() else {
        return bad("no host");
    };
    let host = host.to_ascii_lowercase();
    let with_port = parsed.port().map(|p| format!("{host}:{p}"));
    let allowed = allow.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        if let Some(suffix) = a.strip_prefix("*.") {
            host.ends_with(&format!(".{suffix}"))
        } else {
            a == host || with_port.as_deref() == Some(a.as_str())
        }
    });
    if !allowed {
        return bad("host is not in the webhook allow-list (webhook_allow_hosts)");
    }
    Ok(())
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
        assert!(check_callback("http://127.0.0.1:9999/hook", &allow).is_ok());
        assert!(check_callback("http://127.0.0.1:8000/hook", &allow).is_err());
        assert!(check_callback("https://corp.test.evil.test/", &allow).is_err());
        assert!(check_callback("ftp://hooks.example.test/", &allow).is_err());
        assert!(check_callback("https://user:pw@hooks.example.test/", &allow).is_err());
        assert!(check_callback("https://hooks.example.test/", &[]).is_err());
    }
}
