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

/// True for addresses anyone on the internet could serve. Webhooks to anything else are
/// server-side request forgery unless allow-listed.
///
/// IPv4: not "this network" (0/8), private (10/8, 172.16/12, 192.168/16), shared (CGNAT,
/// 100.64/10), loopback, link-local, IETF protocol assignments (192.0.0/24), documentation,
/// the deprecated 6to4 relay anycast (192.88.99/24), benchmarking (198.18/15), multicast,
/// reserved (240/4) or broadcast.
///
/// IPv6: an address that carries an IPv4 address in a form that can lead to it is exactly as
/// public as that IPv4 address (see [`embedded_ipv4`]: IPv4-mapped, IPv4-compatible,
/// IPv4-translated, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo `2001::/32`, ISATAP
/// interface identifiers). Any other address is public only inside global unicast `2000::/3`
/// and outside its special-purpose blocks (`2001::/23` IETF protocol assignments,
/// `2001:db8::/32` and `3fff::/20` documentation). That refuses loopback, unspecified, the
/// local-use NAT64 prefix `64:ff9b:1::/48` (where the IPv4 address sits depends on the
/// operator), discard-only `100::/64`, SRv6 `5f00::/16`, unique-local, link-local,
/// site-local and multicast addresses, and everything not allocated.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => is_public_v4(v4),
        std::net::IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

/// The IPv4 addresses an IPv6 address leads to, for the forms that embed one:
///
/// - IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` (deprecated; `::` and `::1`
///   are its `0.0.0.0` and `0.0.0.1`), IPv4-translated `::ffff:0:a.b.c.d`;
/// - NAT64 with the well-known prefix `64:ff9b::a.b.c.d`;
/// - 6to4 `2002:AABB:CCDD::/48` (the site's IPv4 address in bits 16-47);
/// - Teredo `2001:0:SSSS:SSSS:…:CCCC:CCCC`: the server's address and the client's (stored
///   inverted in the last 32 bits);
/// - ISATAP interface identifiers `…:0:5efe:a.b.c.d` and `…:200:5efe:a.b.c.d` (under any
///   prefix but the ones above, whose last 64 bits mean something else).
///
/// Empty for every other address. Prefixes an operator chooses (6rd, a network-specific NAT64
/// prefix) cannot be recognised from the address alone.
pub fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Vec<std::net::Ipv4Addr> {
    let mut v = prefix_embedding(v6).unwrap_or_default();
    v.extend(isatap(v6));
    v
}

/// The IPv4 addresses of the forms whose prefix says they embed one (all but ISATAP), or
/// `None` when the address is none of them.
fn prefix_embedding(v6: std::net::Ipv6Addr) -> Option<Vec<std::net::Ipv4Addr>> {
    use std::net::Ipv4Addr;
    let s = v6.segments();
    let o = v6.octets();
    let at = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    let zero = |r: std::ops::Range<usize>| s[r].iter().all(|&x| x == 0);
    let compatible_or_mapped = zero(0..5) && (s[5] == 0 || s[5] == 0xffff);
    let translated = zero(0..4) && s[4] == 0xffff && s[5] == 0;
    let nat64 = s[0] == 0x0064 && s[1] == 0xff9b && zero(2..6);
    if compatible_or_mapped || translated || nat64 {
        Some(vec![at(12)])
    } else if s[0] == 0x2002 {
        Some(vec![at(2)])
    } else if s[0] == 0x2001 && s[1] == 0 {
        Some(vec![at(4), Ipv4Addr::from(!u32::from(at(12)))])
    } else {
        None
    }
}

/// The IPv4 address of an ISATAP interface identifier (`0:5efe` or `200:5efe`, with or
/// without the group bit), except under the prefixes whose last 64 bits mean something else.
fn isatap(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let whole_address_form = prefix_embedding(v6).is_some() && s[0] != 0x2002;
    (!whole_address_form && s[4] & 0xfcff == 0 && s[5] == 0x5efe)
        .then(|| std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]))
}

fn is_public_v6(v6: std::net::Ipv6Addr) -> bool {
    if isatap(v6).is_some_and(|v4| !is_public_v4(v4)) {
        return false;
    }
    if let Some(embedded) = prefix_embedding(v6) {
        return embedded.into_iter().all(is_public_v4);
    }
    let s = v6.segments();
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x0200)
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        && (s[0] & 0xfff0) != 0x3ff0
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

    /// Every IPv4 range [`is_public_ip`] refuses, as (first address, prefix length).
    const NON_PUBLIC_V4: &[(&str, u8)] = &[
        ("0.0.0.0", 8),
        ("10.0.0.0", 8),
        ("100.64.0.0", 10),
        ("127.0.0.0", 8),
        ("169.254.0.0", 16),
        ("172.16.0.0", 12),
        ("192.0.0.0", 24),
        ("192.0.2.0", 24),
        ("192.88.99.0", 24),
        ("192.168.0.0", 16),
        ("198.18.0.0", 15),
        ("198.51.100.0", 24),
        ("203.0.113.0", 24),
        ("224.0.0.0", 4),
        ("240.0.0.0", 4),
    ];

    fn in_range(ip: std::net::Ipv4Addr, (base, len): (&str, u8)) -> bool {
        let base: std::net::Ipv4Addr = base.parse().unwrap();
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        u32::from(ip) & mask == u32::from(base) & mask
    }

    fn v4_public_by_table(ip: std::net::Ipv4Addr) -> bool {
        !NON_PUBLIC_V4.iter().any(|r| in_range(ip, *r))
    }

    /// Every form [`embedded_ipv4`] knows, with `v4` embedded; the rest of the bits from `noise`.
    fn embeddings(v4: std::net::Ipv4Addr, noise: u128) -> Vec<std::net::Ipv6Addr> {
        let x = u128::from(u32::from(v4));
        let low64 = noise & u128::from(u64::MAX);
        let subnet = (noise >> 64) & 0xffff;
        let mut v = vec![
            x,                                                    // ::a.b.c.d
            (0xffff << 32) | x,                                   // ::ffff:a.b.c.d
            (0xffff << 48) | x,                                   // ::ffff:0:a.b.c.d
            (0x0064_ff9b << 96) | x,                              // 64:ff9b::a.b.c.d
            (0x2002 << 112) | (x << 80) | (subnet << 64) | low64, // 6to4
            // ISATAP under a global prefix and under a 6to4 prefix of a public address.
            (0x2a00_1450 << 96) | (subnet << 64) | (0x5efe << 32) | x,
            (0x2a00_1450 << 96) | (0x0200_5efe << 32) | x,
            (0x2002_0808_0808 << 80) | (0x0200_5efe << 32) | x,
        ];
        // Teredo with v4 as the server (client public) and as the client (server public).
        let public = u128::from(u32::from(std::net::Ipv4Addr::new(8, 8, 8, 8)));
        let port_flags = (noise >> 96) & 0xffff_ffff;
        v.push((0x2001_0000 << 96) | (x << 64) | (port_flags << 32) | (!public & 0xffff_ffff));
        v.push((0x2001_0000 << 96) | (public << 64) | (port_flags << 32) | (!x & 0xffff_ffff));
        v.into_iter().map(std::net::Ipv6Addr::from).collect()
    }

    #[test]
    fn embedded_forms_of_non_public_addresses_are_not_public() {
        let public = |s: &str| is_public_ip(s.parse().unwrap());
        // Regression: IPv4-compatible and 6to4 forms of loopback and private addresses were
        // accepted.
        for private in [
            "::127.0.0.1",
            "::10.0.0.1",
            "::169.254.169.254",
            "2002:7f00:1::",
            "2002:7f00:1::1",
            "2002:a00:1:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:101::",
            // IPv4-mapped, -translated, NAT64 (well-known and local-use prefixes).
            "::ffff:127.0.0.1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::8.8.8.8",
            "64:ff9b:1:ffff::1",
            "64:ff9b:0:1::1",
            // Teredo: a private server, or a client whose (inverted) address is loopback.
            "2001:0:a00:1::1",
            "2001:0:808:808:0:0:80ff:fffe",
            // ISATAP identifiers of private addresses under a global prefix.
            "2a00:1450:4001:81c::5efe:a00:1",
            "2a00:1450:4001:81c:200:5efe:7f00:1",
            // The rest of the special-purpose and unallocated space.
            "100::1",
            "5f00::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "2001:db8::1",
            "3fff::1",
            "fec0::1",
            "ff02::1",
            "4000::1",
            "::2:1",
            "1::1",
        ] {
            assert!(!public(private), "{private} counted as public");
        }
        for p in [
            "::8.8.8.8",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            // Teredo: public server 8.8.8.8, public client 1.2.3.4 (inverted: fefd:fcfb).
            "2001:0:808:808::fefd:fcfb",
            "2a00:1450:4001:81c::200e",
            "2a00:1450:4001:81c::5efe:808:808",
            "2620:4f:8000::1",
        ] {
            assert!(public(p), "{p} counted as not public");
        }
        // Literal hosts in callback URLs: the forms of the finding, refused at submission.
        for url in [
            "https://[::127.0.0.1]/",
            "https://[2002:7f00:1::]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[::ffff:0:7f00:1]/",
            "https://0x7f.1/hook",
            "https://2130706433/hook",
        ] {
            assert!(check_callback(url, &[]).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn embedded_ipv4_finds_each_form() {
        let v4 = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        let e = |s: &str| embedded_ipv4(s.parse().unwrap());
        assert_eq!(e("::127.0.0.1"), [v4("127.0.0.1")]);
        assert_eq!(e("::ffff:10.1.2.3"), [v4("10.1.2.3")]);
        assert_eq!(e("2002:c000:204::1"), [v4("192.0.2.4")]);
        assert_eq!(
            e("2001:0:4136:e378:8000:63bf:3fff:fdd2"),
            [v4("65.54.227.120"), v4("192.0.2.45")],
            "the Teredo example of RFC 4380"
        );
        assert_eq!(e("fe80::5efe:c000:201"), [v4("192.0.2.1")]);
        assert!(e("2606:4700::1111").is_empty());
    }

    proptest::proptest! {
        /// Any IPv4 address: the classifier agrees with the table, and every embedded form of
        /// a non-public address is non-public.
        #[test]
        fn embeddings_are_classified_by_their_ipv4_address(raw in proptest::prelude::any::<u32>(), noise in proptest::prelude::any::<u128>()) {
            let v4 = std::net::Ipv4Addr::from(raw);
            proptest::prop_assert_eq!(is_public_ip(v4.into()), v4_public_by_table(v4));
            for v6 in embeddings(v4, noise) {
                proptest::prop_assert!(embedded_ipv4(v6).contains(&v4), "{} in {}", v4, v6);
                if !v4_public_by_table(v4) {
                    proptest::prop_assert!(!is_public_ip(v6.into()), "{} (embeds {}) counted as public", v6, v4);
                }
            }
        }

        /// Addresses from the non-public ranges themselves, and their embeddings.
        #[test]
        fn non_public_ranges_stay_non_public(range in 0..NON_PUBLIC_V4.len(), host in proptest::prelude::any::<u32>(), noise in proptest::prelude::any::<u128>()) {
            let (base, len) = NON_PUBLIC_V4[range];
            let base = u32::from(base.parse::<std::net::Ipv4Addr>().unwrap());
            let host_mask = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            let v4 = std::net::Ipv4Addr::from(base | (host & host_mask));
            proptest::prop_assert!(!is_public_ip(v4.into()), "{}", v4);
            for v6 in embeddings(v4, noise) {
                proptest::prop_assert!(!is_public_ip(v6.into()), "{} (embeds {})", v6, v4);
            }
        }

        /// Outside global unicast 2000::/3 nothing is public but the IPv4-embedding forms.
        #[test]
        fn outside_global_unicast_only_embeddings_can_be_public(raw in proptest::prelude::any::<u128>()) {
            let v6 = std::net::Ipv6Addr::from(raw);
            if v6.segments()[0] & 0xe000 != 0x2000 && embedded_ipv4(v6).is_empty() {
                proptest::prop_assert!(!is_public_ip(v6.into()), "{}", v6);
            }
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
