//! Failed authentication, per source: a bounded in-memory table of each replica that
//! (1) refuses a source with 429 once it has had `auth_failure_limit` failures (401) in
//! `auth_failure_window_ms`, before its requests reach the key store, and (2) aggregates the
//! `auth_failed` audit records: the first failure of a source in a window is written, the
//! rest of that window (failures and 429s) are counted and written as one summary when the
//! window closes, and at most `auth_failure_audit_max` such records are written per window
//! (further ones are folded into one record per window). Every failure is counted in some
//! record: the sum of `failures` and `throttled` over the records is the number of refused
//! requests.
//!
//! The source is the peer address (IPv6 by /64, IPv4-mapped addresses as IPv4), or, when the
//! peer is one of `trusted_proxies`, the right-most address of `X-Forwarded-For` that is not.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// Limits of failed authentication (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct FailureLimits {
    /// Failures (401) per window before a source gets 429; 0 = never.
    pub limit: u32,
    /// The window of the limit and of the aggregation.
    pub window: Duration,
    /// Most audit records written per window (first failures and summaries).
    pub audit_max: u32,
    /// Most sources tracked at once; further sources share the [`Source::Other`] bucket.
    pub max_sources: usize,
}

impl Default for FailureLimits {
    fn default() -> Self {
        Self {
            limit: 20,
            window: Duration::from_secs(60),
            audit_max: 100,
            max_sources: 10_000,
        }
    }
}

/// Where a request came from, as far as failure limits are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address, or an IPv6 /64 (host bits zero).
    Ip(IpAddr),
    /// No peer address was known (requests not served from a socket).
    Unknown,
    /// Every source beyond `max_sources` while the table is full.
    Other,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Ip(IpAddr::V6(ip)) => write!(f, "{ip}/64"),
            Source::Ip(ip) => write!(f, "{ip}"),
            Source::Unknown => f.write_str("unknown"),
            Source::Other => f.write_str("other"),
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Source {
    /// The source of an address: IPv4 as is, IPv6 by its /64.
    pub fn of(ip: IpAddr) -> Source {
        match canonical(ip) {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                Source::Ip(IpAddr::V6(Ipv6Addr::new(
                    s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                )))
            }
            v4 => Source::Ip(v4),
        }
    }
}

/// An address range of `trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// `ADDR` or `ADDR/BITS` (IPv4 or IPv6).
pub fn parse_cidr(text: &str) -> Option<Cidr> {
    let text = text.trim();
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let net = canonical(addr.parse::<IpAddr>().ok()?);
    let max = if net.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some(Cidr { net, bits })
}

/// Most `X-Forwarded-For` entries looked at.
const MAX_FORWARDED_HOPS: usize = 64;

/// The source of a request from `peer` with `headers`, trusting `X-Forwarded-For` only from
/// `trusted` proxies: the right-most entry that is not itself a trusted proxy. An entry that
/// is not an IP address ends the walk at the last trusted hop.
pub fn source_of(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> Source {
    let Some(peer) = peer else {
        return Source::Unknown;
    };
    let mut ip = canonical(peer.ip());
    if trusted.is_empty() || !trusted.iter().any(|c| c.contains(ip)) {
        return Source::of(ip);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev().take(MAX_FORWARDED_HOPS) {
        let Ok(addr) = hop.parse::<IpAddr>() else {
            break;
        };
        ip = canonical(addr);
        if !trusted.iter().any(|c| c.contains(ip)) {
            break;
        }
    }
    Source::of(ip)
}

/// Failures of one source in its current window.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: Instant,
    /// Failures counting toward the limit (401).
    strikes: u32,
    /// Failures not written individually (for the summary).
    unreported: u64,
    /// Requests answered 429 (for the summary).
    throttled: u64,
}

/// One audit record to write for failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The source; `None` for the record that holds what the per-window cap left out.
    pub source: Option<Source>,
    /// Refused requests (401/403/421) counted here.
    pub failures: u64,
    /// Requests answered 429 counted here.
    pub throttled: u64,
    /// Records folded into this one (only for `source: None`).
    pub folded: u64,
}

#[derive(Debug)]
struct Inner {
    sources: HashMap<Source, Entry>,
    /// Start of the current cap window.
    cap_start: Option<Instant>,
    /// Records admitted in the current cap window.
    written: u32,
    /// What the cap left out in the current cap window.
    capped: Summary,
    /// Summaries of closed windows, not yet admitted by the cap.
    pending: Vec<Summary>,
    /// Records of closed cap windows, ready to write.
    ready: Vec<Summary>,
}

/// The per-replica table of failed authentication. Bounded: at most `max_sources` entries
/// plus the [`Source::Other`] bucket, and the pending summaries of at most as many windows.
#[derive(Debug)]
pub struct FailureTracker {
    limits: FailureLimits,
    inner: Mutex<Inner>,
}

fn empty_capped() -> Summary {
    Summary {
        source: None,
        failures: 0,
        throttled: 0,
        folded: 0,
    }
}

impl FailureTracker {
    /// An empty table.
    pub fn new(limits: FailureLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner {
                sources: HashMap::new(),
                cap_start: None,
                written: 0,
                capped: empty_capped(),
                pending: Vec::new(),
                ready: Vec::new(),
            }),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> FailureLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn closed(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.start) >= self.limits.window
    }

    /// How long `source` must wait, if it is over the limit now. Does not count anything.
    pub fn blocked(&self, source: Source, now: Instant) -> Option<Duration> {
        if self.limits.limit == 0 {
            return None;
        }
        let inner = self.lock();
        let e = inner.sources.get(&source)?;
        (e.strikes >= self.limits.limit && !self.closed(e, now))
            .then(|| (e.start + self.limits.window).saturating_duration_since(now))
    }

    /// Count a request of `source` answered 429 (written in the window's summary).
    pub fn throttled(&self, source: Source) {
        let mut inner = self.lock();
        if let Some(e) = inner.sources.get_mut(&source) {
            e.throttled += 1;
        }
    }

    /// Count a refused request of `source` (`strike`: it counts toward the limit). True when
    /// it is the first of the source's window and the cap admits it: write one record now;
    /// otherwise it is counted for a summary.
    pub fn failure(&self, source: Source, now: Instant, strike: bool) -> bool {
        let window = self.limits.window;
        let max = self.limits.max_sources;
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut source = source;
        let fresh = match inner.sources.get(&source) {
            Some(e) if !self.closed(e, now) => false,
            Some(_) => true,
            None => {
                if inner.sources.len() >= max {
                    // Full: close finished windows first, then share the overflow bucket.
                    let closed: Vec<Source> = inner
                        .sources
                        .iter()
                        .filter(|(_, e)| now.saturating_duration_since(e.start) >= window)
                        .map(|(s, _)| *s)
                        .collect();
                    for s in closed {
                        if let Some(e) = inner.sources.remove(&s) {
                            push_summary(&mut inner.pending, s, &e);
                        }
                    }
                    if inner.sources.len() >= max {
                        source = Source::Other;
                    }
                }
                inner
                    .sources
                    .get(&source)
                    .is_none_or(|e| self.closed(e, now))
            }
        };
        if fresh {
            if let Some(old) = inner.sources.remove(&source) {
                push_summary(&mut inner.pending, source, &old);
            }
            inner.sources.insert(
                source,
                Entry {
                    start: now,
                    strikes: 0,
                    unreported: 0,
                    throttled: 0,
                },
            );
        }
        let Some(e) = inner.sources.get_mut(&source) else {
            return false;
        };
        if strike {
            e.strikes = e.strikes.saturating_add(1);
        }
        if !fresh {
            e.unreported += 1;
            return false;
        }
        self.roll_cap(inner, now);
        if inner.written < self.limits.audit_max {
            inner.written += 1;
            true
        } else {
            inner.capped.failures += 1;
            inner.capped.folded += 1;
            false
        }
    }

    /// Close the cap window if it is over: what it left out becomes one ready record.
    fn roll_cap(&self, inner: &mut Inner, now: Instant) {
        match inner.cap_start {
            Some(start) if now.saturating_duration_since(start) < self.limits.window => {}
            _ => {
                let capped = std::mem::replace(&mut inner.capped, empty_capped());
                if capped.folded > 0 {
                    inner.ready.push(capped);
                }
                inner.cap_start = Some(now);
                inner.written = 0;
            }
        }
    }

    /// The records to write now: summaries of windows that closed (of every window when
    /// `all`, at shutdown), within the cap, and the records of what the cap left out in
    /// windows that closed.
    pub fn take(&self, now: Instant, all: bool) -> Vec<Summary> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let closed: Vec<Source> = inner
            .sources
            .iter()
            .filter(|(_, e)| all || self.closed(e, now))
            .map(|(s, _)| *s)
            .collect();
        for s in closed {
            if let Some(e) = inner.sources.remove(&s) {
                push_summary(&mut inner.pending, s, &e);
            }
        }
        self.roll_cap(inner, now);
        let mut out = Vec::new();
        for s in std::mem::take(&mut inner.pending) {
            if inner.written < self.limits.audit_max {
                inner.written += 1;
                out.push(s);
            } else {
                inner.capped.failures += s.failures;
                inner.capped.throttled += s.throttled;
                inner.capped.folded += 1;
            }
        }
        out.append(&mut inner.ready);
        if all {
            let capped = std::mem::replace(&mut inner.capped, empty_capped());
            if capped.folded > 0 {
                out.push(capped);
            }
        }
        out
    }
}

fn push_summary(pending: &mut Vec<Summary>, source: Source, e: &Entry) {
    if e.unreported > 0 || e.throttled > 0 {
        pending.push(Summary {
            source: Some(source),
            failures: e.unreported,
            throttled: e.throttled,
            folded: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn limits(limit: u32, audit_max: u32, max_sources: usize) -> FailureLimits {
        FailureLimits {
            limit,
            window: Duration::from_secs(60),
            audit_max,
            max_sources,
        }
    }

    fn ip(s: &str) -> Source {
        Source::of(s.parse().unwrap())
    }

    /// Sum of failures + throttled over records, plus one per first-failure record.
    fn total(records: usize, summaries: &[Summary]) -> u64 {
        records as u64
            + summaries
                .iter()
                .map(|s| s.failures + s.throttled)
                .sum::<u64>()
    }

    #[test]
    fn a_source_is_blocked_after_its_limit_and_summarised_once() {
        let t = FailureTracker::new(limits(3, 100, 100));
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let mut records = 0;
        for i in 0..3 {
            assert_eq!(t.blocked(a, t0), None, "{i}");
            records += usize::from(t.failure(a, t0, true));
        }
        assert_eq!(records, 1, "one record for the window's first failure");
        let wait = t.blocked(a, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        for _ in 0..100 {
            t.throttled(a);
        }
        // Another source is not affected; 403s (no strike) never block.
        let b = ip("192.0.2.2");
        for _ in 0..10 {
            records += usize::from(t.failure(b, t0, false));
        }
        assert_eq!(t.blocked(b, t0), None);
        assert!(t.take(t0 + Duration::from_secs(59), false).is_empty());
        let later = t0 + Duration::from_secs(60);
        assert_eq!(t.blocked(a, later), None, "the window closed");
        let s = t.take(later, false);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(total(records, &s), 3 + 100 + 10);
        let sa = s.iter().find(|x| x.source == Some(a)).unwrap();
        assert_eq!((sa.failures, sa.throttled), (2, 100));
        assert!(t.take(later, true).is_empty(), "written once");
    }

    #[test]
    fn records_per_window_are_capped_and_the_rest_folded_into_one() {
        let t = FailureTracker::new(limits(0, 5, 1_000));
        let t0 = Instant::now();
        let mut records = 0;
        for i in 0..50u8 {
            let s = ip(&format!("198.51.100.{i}"));
            records += usize::from(t.failure(s, t0, true));
            records += usize::from(t.failure(s, t0, true));
        }
        assert_eq!(records, 5, "the cap");
        let s = t.take(t0 + Duration::from_secs(61), false);
        // Five summaries of the closed source windows fit the new cap window; 45 are folded.
        let folded: Vec<_> = s.iter().filter(|x| x.source.is_none()).collect();
        assert_eq!(folded.len(), 1, "{s:?}");
        assert_eq!(folded[0].folded, 45, "{s:?}");
        let s2 = t.take(t0 + Duration::from_secs(200), true);
        let all: Vec<Summary> = s.into_iter().chain(s2).collect();
        assert!(all.len() <= 5 + 2, "{all:?}");
        assert_eq!(total(records, &all), 100, "nothing lost: {all:?}");
    }

    #[test]
    fn the_table_is_bounded_and_overflow_shares_a_bucket() {
        let t = FailureTracker::new(limits(2, 1_000, 3));
        let t0 = Instant::now();
        for i in 0..3u8 {
            t.failure(ip(&format!("203.0.113.{i}")), t0, true);
        }
        let late = ip("203.0.113.200");
        t.failure(late, t0, true);
        t.failure(ip("203.0.113.201"), t0, true);
        assert!(t.blocked(Source::Other, t0).is_some(), "shared bucket");
        assert_eq!(t.blocked(late, t0), None, "not tracked by itself");
        assert_eq!(t.lock().sources.len(), 4, "three sources and the bucket");
    }

    #[test]
    fn ipv6_sources_are_their_slash_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(ip("2001:db8:1:2:3:4:5:6"), ip("2001:db8:1:2::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.7"), ip("192.0.2.7"));
        assert_eq!(ip("2001:db8:1:2::9").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn forwarded_for_is_trusted_only_from_trusted_proxies() {
        let trusted = vec![
            parse_cidr("10.0.0.0/8").unwrap(),
            parse_cidr("192.0.2.5").unwrap(),
        ];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.1, 10.1.2.3"),
        );
        let peer = |s: &str| Some(SocketAddr::new(s.parse().unwrap(), 1234));
        // From a trusted proxy: the right-most untrusted hop (the left one may be forged).
        assert_eq!(
            source_of(peer("10.9.9.9"), &h, &trusted),
            ip("198.51.100.1")
        );
        // From anyone else: the peer.
        assert_eq!(
            source_of(peer("198.51.100.77"), &h, &trusted),
            ip("198.51.100.77")
        );
        assert_eq!(source_of(peer("10.9.9.9"), &h, &[]), ip("10.9.9.9"));
        // Garbage ends the walk at the last trusted hop.
        h.insert("x-forwarded-for", HeaderValue::from_static("nonsense"));
        assert_eq!(source_of(peer("192.0.2.5"), &h, &trusted), ip("192.0.2.5"));
        assert_eq!(source_of(None, &h, &trusted), Source::Unknown);
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(parse_cidr(bad).is_none(), "{bad}");
        }
        assert!(
            parse_cidr("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!(
            parse_cidr("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
