//! The result cache: extraction results addressed by content, kept in this replica's memory,
//! bounded in bytes, least recently used first out.
//!
//! **Key.** BLAKE3 (derive-key mode, a context string of its own) over, each length-prefixed:
//! the engine version and output schema version; the tenant; the output format; the engine
//! options that can change the output (page selection, annotations, de-hyphenation and every
//! limit except the deadline); and the BLAKE3 hash of the input bytes. Two requests share an
//! entry only when all of these are equal.
//!
//! - The **tenant** is in the key so that one tenant cannot learn, by timing its own request,
//!   that another tenant recently extracted the same document: a tenant only ever hits entries
//!   its own requests created.
//! - A request with a **password** bypasses the cache (no lookup, no insert). Keying on the
//!   password instead (a keyed hash of it) would work, but leaving it out of the key would let
//!   anyone with the bytes and a wrong password read a document someone opened with the right
//!   one; bypassing is the simpler safe rule and encrypted documents are rare.
//! - The **deadline** is left out of the key because results that reached it are never stored
//!   (see below), so it cannot change a stored result; this lets jobs (service deadline) and
//!   synchronous requests (`sync_timeout_ms`) share entries.
//!
//! **What is stored.** Only complete, successful extractions whose output is a function of the
//! key: a document that failed (any engine error, worker lost, deadline, overload) is never
//! stored, not even deterministic input errors such as `not_pdf` (they are cheap to answer
//! again, and an error cache would be one more thing to reason about), and neither is a result
//! in which a page or the document reports `deadline_exceeded`, `internal` or `io` (those depend
//! on timing or luck, not on the input). Results larger than 1/[`MAX_ENTRY_FRACTION`] of the
//! budget are not stored either, so one document cannot flush the cache.
//!
//! **Bound.** The size of an entry is the bytes of its stored result (response body, metadata,
//! diagnostics) plus a fixed overhead per page and per entry; inserting evicts least recently
//! used entries until the total is within `result_cache_bytes`. The structure is a hash map and
//! a recency index behind one `std::sync::Mutex`, held only for map updates (no IO, no hashing
//! of inputs, no rendering under it). Each replica has its own cache; replicas behind a load
//! balancer do not share entries.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use ndf_model::Code;
use ndf_pool::RequestOptions;

use crate::telemetry::{Metric, Registry};

/// Entries larger than `budget / MAX_ENTRY_FRACTION` bytes are not stored.
pub const MAX_ENTRY_FRACTION: u64 = 8;
/// Response header telling whether a synchronous extraction came from the cache: `hit`,
/// `miss` (extracted; also whenever the cache is off) or `bypass` (a password was given).
pub const CACHE_HEADER: &str = "x-ndf-cache";
/// Inputs at least this large are hashed on a blocking thread, not on the async runtime.
const HASH_INLINE_MAX: usize = 256 << 10;
/// Accounted per stored page (its number and slice handle) and per entry (map, index, Arc).
const PAGE_OVERHEAD: u64 = 48;
const ENTRY_OVERHEAD: u64 = 256;
/// Key derivation context (BLAKE3 derive-key mode): never shared with another use of BLAKE3.
const KEY_CONTEXT: &str = "ndf-server 2026-12 result cache key v1";

/// The content address of one extraction result.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to tell keys apart in a debugger; the key is no secret anyway.
        write!(f, "CacheKey({}…)", hex::encode(&self.0[..6]))
    }
}

/// BLAKE3 of an input document; large inputs are hashed on a blocking thread.
pub async fn hash_input(data: &Bytes) -> blake3::Hash {
    if data.len() < HASH_INLINE_MAX {
        return blake3::hash(data);
    }
    let owned = data.clone();
    match tokio::task::spawn_blocking(move || blake3::hash(&owned)).await {
        Ok(h) => h,
        // The blocking pool is shutting down: hash here rather than not at all.
        Err(_) => blake3::hash(data),
    }
}

impl CacheKey {
    /// The key of extracting the input hashed as `input` for `tenant` in `format` with
    /// `options`; `None` when the request must bypass the cache (a password was given).
    pub fn new(
        input: &blake3::Hash,
        tenant: &str,
        format: &str,
        options: &RequestOptions,
    ) -> Option<Self> {
        if options.password.is_some() {
            return None;
        }
        let mut canonical = options.clone();
        canonical.limits.deadline_ms = 0;
        let options_json = serde_json::to_vec(&canonical).ok()?;
        let mut h = blake3::Hasher::new_derive_key(KEY_CONTEXT);
        for field in [
            env!("CARGO_PKG_VERSION").as_bytes(),
            ndf_extract::SCHEMA_VERSION.as_bytes(),
            tenant.as_bytes(),
            format.as_bytes(),
            &options_json,
            input.as_bytes(),
        ] {
            h.update(&(field.len() as u64).to_le_bytes());
            h.update(field);
        }
        Some(Self(*h.finalize().as_bytes()))
    }
}

/// A stored extraction: the complete response body and the parts the NDJSON stream and jobs
/// are rebuilt from. Immutable and shared: a hit clones handles, never bytes.
pub struct CachedResult {
    /// The synchronous response body: the JSON document, or the pages' text / Markdown.
    pub body: Bytes,
    /// Metadata JSON (`ndf_model::Metadata`).
    pub meta: Bytes,
    /// Page number and body of each page, in order (slices of `body`).
    pub pages: Vec<(u32, Bytes)>,
    /// Document-level diagnostics JSON.
    pub diagnostics: Bytes,
    /// Pages the document announced (`pages_expected` of the NDJSON summary).
    pub pages_expected: u32,
    /// Hash of the tenant that produced it (for [`ResultCache::purge_tenant`]).
    tenant: [u8; 16],
}

impl std::fmt::Debug for CachedResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the document's content.
        f.debug_struct("CachedResult")
            .field("body_bytes", &self.body.len())
            .field("pages", &self.pages.len())
            .finish_non_exhaustive()
    }
}

impl CachedResult {
    /// Bytes this entry is accounted for.
    pub fn size(&self) -> u64 {
        (self.body.len() + self.meta.len() + self.diagnostics.len()) as u64
            + PAGE_OVERHEAD * self.pages.len() as u64
            + ENTRY_OVERHEAD
    }
}

fn tenant_tag(tenant: &str) -> [u8; 16] {
    let h = blake3::hash(tenant.as_bytes());
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&h.as_bytes()[..16]);
    tag
}

/// Codes whose presence makes a result depend on timing or luck rather than on the input.
fn nondeterministic(code: Code) -> bool {
    matches!(code, Code::DeadlineExceeded | Code::Internal | Code::Io)
}

/// The same codes as they appear in JSON (quoted, so document text, whose quotes are
/// escaped, never matches).
const NONDETERMINISTIC_JSON: [&[u8]; 3] = [b"\"deadline_exceeded\"", b"\"internal\"", b"\"io\""];

fn mentions_nondeterministic(json: &[u8]) -> bool {
    NONDETERMINISTIC_JSON
        .iter()
        .any(|needle| memchr::memmem::find(json, needle).is_some())
}

/// Assembles an extraction's output as its events arrive: the synchronous response body (the
/// same bytes the service always answered) and, when it qualifies, a cache entry.
#[derive(Debug)]
pub struct ResultBuilder {
    json: bool,
    out: BytesMut,
    meta: Bytes,
    pages_expected: u32,
    pages: Vec<(u32, Range<usize>)>,
    /// Largest entry the cache takes (`None`: no entry is wanted).
    cache_limit: Option<u64>,
    /// Build the body whatever its size (the non-streaming response needs it).
    keep_body: bool,
    /// Still a candidate for the cache.
    cacheable: bool,
}

impl ResultBuilder {
    /// Start with the document's metadata. `json` selects the JSON document framing (else the
    /// pages are concatenated); `keep_body` builds the body even when it cannot be cached;
    /// `cache_limit` is the largest entry the cache takes, `None` when nothing is to be
    /// cached.
    pub fn new(
        json: bool,
        meta: &Bytes,
        pages_expected: u32,
        keep_body: bool,
        cache_limit: Option<u64>,
    ) -> Self {
        let mut out = BytesMut::new();
        if json {
            out.extend_from_slice(b"{\"schema_version\":\"");
            out.extend_from_slice(ndf_extract::SCHEMA_VERSION.as_bytes());
            out.extend_from_slice(b"\",\"metadata\":");
            out.extend_from_slice(meta);
            out.extend_from_slice(b",\"pages\":[");
        }
        let cacheable = cache_limit.is_some();
        Self {
            json,
            out,
            meta: meta.clone(),
            pages_expected,
            pages: Vec::new(),
            cache_limit,
            keep_body,
            cacheable,
        }
    }

    /// True while the builder still does something (builds a body or a cache entry).
    pub fn active(&self) -> bool {
        self.keep_body || self.cacheable
    }

    /// Add the next page; `error` is its first error code as the worker reported it.
    pub fn page(&mut self, number: u32, body: &[u8], error: Option<Code>) {
        if error.is_some_and(nondeterministic) {
            self.give_up_caching();
        }
        if !self.active() {
            return;
        }
        if self.json && !self.pages.is_empty() {
            self.out.extend_from_slice(b",");
        }
        let start = self.out.len();
        self.out.extend_from_slice(body);
        self.pages.push((number, start..self.out.len()));
        if let Some(limit) = self.cache_limit
            && self.out.len() as u64 + PAGE_OVERHEAD * self.pages.len() as u64 > limit
        {
            self.give_up_caching();
        }
    }

    fn give_up_caching(&mut self) {
        self.cacheable = false;
        if !self.keep_body {
            // A streamed response: nothing else needs what was gathered.
            self.out = BytesMut::new();
            self.pages = Vec::new();
        }
    }

    /// The end: the response body and, when the result qualifies (complete, deterministic,
    /// small enough), the entry to store for `tenant`.
    pub fn finish(mut self, diagnostics: &Bytes, tenant: &str) -> (Bytes, Option<CachedResult>) {
        if self.json {
            self.out.extend_from_slice(b"],\"diagnostics\":");
            self.out.extend_from_slice(diagnostics);
            self.out.extend_from_slice(b"}");
        }
        let mut cacheable = self.cacheable && !mentions_nondeterministic(diagnostics);
        if cacheable && self.json {
            // Pages report only their first error code to the service: look at them all.
            cacheable = !mentions_nondeterministic(&self.out);
        }
        let entry_size = (self.out.len() + self.meta.len() + diagnostics.len()) as u64
            + PAGE_OVERHEAD * self.pages.len() as u64
            + ENTRY_OVERHEAD;
        if !cacheable || self.cache_limit.is_none_or(|limit| entry_size > limit) {
            return (self.out.freeze(), None);
        }
        // Stored for a while: no spare capacity, and no views into the worker's frame buffers.
        let body = if self.out.capacity() > self.out.len() + self.out.len() / 8 {
            Bytes::copy_from_slice(&self.out)
        } else {
            self.out.freeze()
        };
        let pages = self
            .pages
            .into_iter()
            .map(|(n, r)| (n, body.slice(r)))
            .collect();
        let entry = CachedResult {
            body: body.clone(),
            meta: Bytes::copy_from_slice(&self.meta),
            pages,
            diagnostics: Bytes::copy_from_slice(diagnostics),
            pages_expected: self.pages_expected,
            tenant: tenant_tag(tenant),
        };
        (body, Some(entry))
    }
}

struct Slot {
    entry: Arc<CachedResult>,
    size: u64,
    /// Position in the recency index.
    tick: u64,
}

#[derive(Default)]
struct Lru {
    map: HashMap<CacheKey, Slot>,
    /// Recency: oldest tick first.
    order: BTreeMap<u64, CacheKey>,
    next_tick: u64,
    bytes: u64,
}

impl Lru {
    fn touch(&mut self, key: CacheKey) -> Option<Arc<CachedResult>> {
        let tick = self.next_tick;
        let slot = self.map.get_mut(&key)?;
        self.order.remove(&slot.tick);
        slot.tick = tick;
        self.order.insert(tick, key);
        self.next_tick += 1;
        Some(slot.entry.clone())
    }

    fn remove(&mut self, key: &CacheKey) -> bool {
        match self.map.remove(key) {
            Some(slot) => {
                self.order.remove(&slot.tick);
                self.bytes = self.bytes.saturating_sub(slot.size);
                true
            }
            None => false,
        }
    }

    fn pop_oldest(&mut self) -> bool {
        match self.order.pop_first() {
            Some((_, key)) => {
                if let Some(slot) = self.map.remove(&key) {
                    self.bytes = self.bytes.saturating_sub(slot.size);
                }
                true
            }
            None => false,
        }
    }
}

/// This replica's result cache (see the module documentation).
pub struct ResultCache {
    budget: u64,
    inner: Mutex<Lru>,
    metrics: Arc<Registry>,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (entries, bytes) = self.usage();
        f.debug_struct("ResultCache")
            .field("budget", &self.budget)
            .field("entries", &entries)
            .field("bytes", &bytes)
            .finish()
    }
}

impl ResultCache {
    /// A cache of at most `budget` bytes (0: off) reporting to `metrics`.
    pub fn new(budget: u64, metrics: Arc<Registry>) -> Self {
        // Every series exists from the first scrape, at zero.
        for counter in [
            Metric::ResultCacheHits,
            Metric::ResultCacheMisses,
            Metric::ResultCacheEvictions,
        ] {
            metrics.add(counter, &[], 0.0);
        }
        metrics.set(Metric::ResultCacheLimit, &[], budget as f64);
        metrics.set(Metric::ResultCacheBytes, &[], 0.0);
        metrics.set(Metric::ResultCacheEntries, &[], 0.0);
        Self {
            budget,
            inner: Mutex::new(Lru::default()),
            metrics,
        }
    }

    /// False when configured off (`result_cache_bytes = 0`).
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// Largest entry stored, in bytes (0 when off).
    pub fn max_entry_bytes(&self) -> u64 {
        self.budget / MAX_ENTRY_FRACTION
    }

    /// Largest entry stored, or `None` when the cache is off.
    pub fn entry_limit(&self) -> Option<u64> {
        self.enabled().then(|| self.max_entry_bytes())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // The map stays consistent even if a holder panicked (no code under the lock panics).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn gauges(&self, lru: &Lru) {
        self.metrics
            .set(Metric::ResultCacheBytes, &[], lru.bytes as f64);
        self.metrics
            .set(Metric::ResultCacheEntries, &[], lru.map.len() as f64);
    }

    /// The entry of `key`, counted as a hit or a miss. With the cache off (`key` irrelevant)
    /// every lookup is a miss.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedResult>> {
        let found = if self.enabled() {
            self.lock().touch(*key)
        } else {
            None
        };
        let metric = if found.is_some() {
            Metric::ResultCacheHits
        } else {
            Metric::ResultCacheMisses
        };
        self.metrics.inc(metric, &[]);
        found
    }

    /// Count a miss without a lookup (the cache is off).
    pub fn count_miss(&self) {
        self.metrics.inc(Metric::ResultCacheMisses, &[]);
    }

    /// Store `entry` under `key`, evicting least recently used entries to stay within the
    /// budget. Returns false (nothing stored) when the cache is off or the entry is too large.
    pub fn insert(&self, key: CacheKey, entry: CachedResult) -> bool {
        let size = entry.size();
        if !self.enabled() || size > self.max_entry_bytes() {
            return false;
        }
        let entry = Arc::new(entry);
        let mut evicted = 0u64;
        {
            let mut lru = self.lock();
            lru.remove(&key);
            // Bounded: each round removes one of the finitely many entries.
            while lru.bytes.saturating_add(size) > self.budget && lru.pop_oldest() {
                evicted += 1;
            }
            let tick = lru.next_tick;
            lru.next_tick += 1;
            lru.order.insert(tick, key);
            lru.map.insert(key, Slot { entry, size, tick });
            lru.bytes = lru.bytes.saturating_add(size);
            // Under the lock, so the gauges are never set out of order.
            self.gauges(&lru);
        }
        if evicted > 0 {
            self.metrics
                .add(Metric::ResultCacheEvictions, &[], evicted as f64);
        }
        true
    }

    /// Drop every entry a tenant's requests created (when its data is erased). Returns how
    /// many were dropped.
    pub fn purge_tenant(&self, tenant: &str) -> usize {
        let tag = tenant_tag(tenant);
        let mut lru = self.lock();
        let keys: Vec<CacheKey> = lru
            .map
            .iter()
            .filter(|(_, s)| s.entry.tenant == tag)
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            lru.remove(k);
        }
        self.gauges(&lru);
        keys.len()
    }

    /// (entries, bytes) now.
    pub fn usage(&self) -> (usize, u64) {
        let lru = self.lock();
        (lru.map.len(), lru.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Arc<Registry> {
        Arc::new(Registry::new())
    }

    fn key(n: u8) -> CacheKey {
        CacheKey([n; 32])
    }

    /// A JSON result with `pages` pages of `page_bytes` bytes each.
    fn entry(pages: u32, page_bytes: usize, tenant: &str) -> CachedResult {
        let meta = Bytes::from_static(b"{\"title\":null}");
        let mut b = ResultBuilder::new(true, &meta, pages, true, Some(u64::MAX));
        for n in 1..=pages {
            let body = format!("{{\"number\":{n},\"text\":\"{}\"}}", "x".repeat(page_bytes));
            b.page(n, body.as_bytes(), None);
        }
        b.finish(&Bytes::from_static(b"[]"), tenant)
            .1
            .expect("cacheable")
    }

    fn value(m: &Registry, metric: Metric) -> f64 {
        m.value(metric, &[]).unwrap_or(-1.0)
    }

    #[test]
    fn key_covers_everything_that_changes_the_result() {
        let input = blake3::hash(b"%PDF-1.7 one");
        let base = RequestOptions::default();
        let k = |input: &blake3::Hash, tenant: &str, format: &str, o: &RequestOptions| {
            CacheKey::new(input, tenant, format, o).expect("no password")
        };
        let k0 = k(&input, "acme", "json", &base);
        assert_eq!(k0, k(&input, "acme", "json", &base), "deterministic");
        let mut distinct = vec![
            k(&blake3::hash(b"%PDF-1.7 two"), "acme", "json", &base),
            k(&input, "globex", "json", &base),
            k(&input, "acme", "text", &base),
        ];
        let variants: [fn(&mut RequestOptions); 5] = [
            |o| o.pages = Some("1".into()),
            |o| o.annotations = false,
            |o| o.dehyphenate = false,
            |o| o.limits.max_chars_per_page = 10,
            |o| o.limits.max_pages = 1,
        ];
        for change in variants {
            let mut o = base.clone();
            change(&mut o);
            distinct.push(k(&input, "acme", "json", &o));
        }
        for (i, d) in distinct.iter().enumerate() {
            assert_ne!(*d, k0, "variant {i} must change the key");
        }
        // Field boundaries are unambiguous: moving a byte between tenant and format differs.
        assert_ne!(
            k(&input, "ab", "c", &base),
            k(&input, "a", "bc", &base),
            "length-prefixed fields"
        );
        // The deadline does not change a stored result (results that hit it are not stored).
        let mut o = base.clone();
        o.limits.deadline_ms = 1;
        assert_eq!(k(&input, "acme", "json", &o), k0);
        // A password bypasses the cache.
        let mut o = base;
        o.password = Some("secret".into());
        assert!(CacheKey::new(&input, "acme", "json", &o).is_none());
    }

    #[test]
    fn builder_produces_the_service_json_document() {
        let meta = Bytes::from_static(b"{\"title\":\"T\"}");
        let mut b = ResultBuilder::new(true, &meta, 2, true, Some(1 << 20));
        b.page(1, b"{\"number\":1}", None);
        b.page(2, b"{\"number\":2}", None);
        let (body, entry) = b.finish(&Bytes::from_static(b"[]"), "t");
        let want = format!(
            "{{\"schema_version\":\"{}\",\"metadata\":{{\"title\":\"T\"}},\"pages\":[{{\"number\":1}},{{\"number\":2}}],\"diagnostics\":[]}}",
            ndf_extract::SCHEMA_VERSION
        );
        assert_eq!(body, want.as_bytes());
        let entry = entry.expect("cacheable");
        assert_eq!(entry.body, body);
        assert_eq!(entry.pages.len(), 2);
        assert_eq!(entry.pages[1], (2, Bytes::from_static(b"{\"number\":2}")));
        assert_eq!(entry.meta, meta);
        assert_eq!(entry.pages_expected, 2);
        // Text: pages concatenated, still addressable one by one.
        let mut b = ResultBuilder::new(false, &meta, 2, true, Some(1 << 20));
        b.page(1, b"one\x0c", None);
        b.page(2, b"two\x0c", None);
        let (body, entry) = b.finish(&Bytes::from_static(b"[]"), "t");
        assert_eq!(body, &b"one\x0ctwo\x0c"[..]);
        assert_eq!(entry.expect("cacheable").pages[0].1, &b"one\x0c"[..]);
    }

    #[test]
    fn nondeterministic_results_are_not_cacheable() {
        let meta = Bytes::from_static(b"{}");
        let empty = Bytes::from_static(b"[]");
        // A page that hit the deadline (reported by the worker).
        let mut b = ResultBuilder::new(false, &meta, 1, true, Some(1 << 20));
        b.page(1, b"partial", Some(Code::DeadlineExceeded));
        let (body, entry) = b.finish(&empty, "t");
        assert_eq!(body, &b"partial"[..], "the response is still whole");
        assert!(entry.is_none());
        // A deterministic page error is fine.
        let mut b = ResultBuilder::new(false, &meta, 1, true, Some(1 << 20));
        b.page(1, b"", Some(Code::ContentMalformed));
        assert!(b.finish(&empty, "t").1.is_some());
        // The deadline as a later diagnostic of a JSON page, or of the document.
        let mut b = ResultBuilder::new(true, &meta, 1, true, Some(1 << 20));
        b.page(
            1,
            br#"{"diagnostics":[{"code":"font_damaged"},{"code":"deadline_exceeded"}]}"#,
            Some(Code::FontDamaged),
        );
        assert!(b.finish(&empty, "t").1.is_none());
        let b = ResultBuilder::new(true, &meta, 0, true, Some(1 << 20));
        let diags = Bytes::from_static(br#"[{"code":"internal","severity":"error"}]"#);
        assert!(b.finish(&diags, "t").1.is_none());
        // Document text that merely mentions the code (escaped quotes) does not count.
        let mut b = ResultBuilder::new(true, &meta, 1, true, Some(1 << 20));
        b.page(1, br#"{"text":"say \"deadline_exceeded\" twice"}"#, None);
        assert!(b.finish(&empty, "t").1.is_some());
    }

    #[test]
    fn streaming_builder_lets_go_of_large_results() {
        let meta = Bytes::from_static(b"{}");
        let mut b = ResultBuilder::new(true, &meta, 3, false, Some(1000));
        b.page(1, &[b'a'; 600], None);
        assert!(b.active());
        b.page(2, &[b'b'; 600], None);
        assert!(!b.active(), "over the entry limit: nothing kept");
        assert!(b.out.is_empty() && b.pages.is_empty());
        b.page(3, &[b'c'; 10], None);
        assert!(b.finish(&Bytes::new(), "t").1.is_none());
        // The non-streaming body is whole even when too large to cache.
        let mut b = ResultBuilder::new(false, &meta, 2, true, Some(1000));
        b.page(1, &[b'a'; 600], None);
        b.page(2, &[b'b'; 600], None);
        let (body, entry) = b.finish(&Bytes::new(), "t");
        assert_eq!(body.len(), 1200);
        assert!(entry.is_none());
    }

    #[test]
    fn hits_misses_and_lru_eviction_within_the_budget() {
        let m = registry();
        let one = entry(2, 100, "t").size();
        // Room for exactly 8 entries; each is at most 1/8 of the budget.
        let cache = ResultCache::new(one * 8, m.clone());
        assert!(cache.get(&key(1)).is_none());
        for n in 1..=8 {
            assert!(cache.insert(key(n), entry(2, 100, "t")));
        }
        assert_eq!(cache.usage(), (8, one * 8));
        assert!(cache.get(&key(1)).is_some(), "1 is now the most recent");
        assert!(cache.insert(key(9), entry(2, 100, "t")));
        assert!(
            cache.get(&key(2)).is_none(),
            "2 was the least recently used"
        );
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(9)).is_some());
        assert_eq!(value(&m, Metric::ResultCacheHits), 3.0);
        assert_eq!(value(&m, Metric::ResultCacheMisses), 2.0);
        assert_eq!(value(&m, Metric::ResultCacheEvictions), 1.0);
        assert_eq!(value(&m, Metric::ResultCacheEntries), 8.0);
        assert_eq!(value(&m, Metric::ResultCacheBytes), (one * 8) as f64);
        assert_eq!(value(&m, Metric::ResultCacheLimit), (one * 8) as f64);
        // Re-inserting a key replaces it without double counting.
        assert!(cache.insert(key(9), entry(2, 100, "t")));
        assert_eq!(cache.usage(), (8, one * 8));
    }

    #[test]
    fn oversized_entries_and_a_disabled_cache_store_nothing() {
        let m = registry();
        let cache = ResultCache::new(8 * 1024, m.clone());
        assert!(
            !cache.insert(key(1), entry(1, 2000, "t")),
            "over 1/8 of the budget"
        );
        assert!(cache.insert(key(2), entry(1, 100, "t")));
        let off = ResultCache::new(0, m.clone());
        assert!(!off.enabled() && off.entry_limit().is_none());
        assert!(!off.insert(key(3), entry(1, 10, "t")));
        assert!(off.get(&key(3)).is_none());
        assert_eq!(off.usage(), (0, 0));
    }

    #[test]
    fn bytes_never_exceed_the_budget_under_churn() {
        let m = registry();
        let budget = 20_000;
        let cache = ResultCache::new(budget, m.clone());
        let mut evictions = 0.0;
        for i in 0..500u32 {
            let size = (i * 37 % 1500) as usize;
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            cache.insert(CacheKey(k), entry(1 + i % 3, size / 3, "t"));
            let (_, bytes) = cache.usage();
            assert!(bytes <= budget, "{bytes} > {budget}");
            assert!(value(&m, Metric::ResultCacheBytes) <= budget as f64);
            let e = value(&m, Metric::ResultCacheEvictions);
            assert!(e >= evictions);
            evictions = e;
        }
        assert!(evictions > 100.0, "{evictions}");
    }

    #[test]
    fn concurrent_use_is_consistent() {
        let m = registry();
        let cache = Arc::new(ResultCache::new(64 * 1024, m.clone()));
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let cache = cache.clone();
                s.spawn(move || {
                    for i in 0..200u8 {
                        let k = key(i % 50);
                        if cache.get(&k).is_none() {
                            cache.insert(k, entry(1, 50 + usize::from(t), "t"));
                        }
                    }
                });
            }
        });
        let (entries, bytes) = cache.usage();
        assert!(entries <= 50 && bytes <= 64 * 1024);
        assert_eq!(
            value(&m, Metric::ResultCacheHits) + value(&m, Metric::ResultCacheMisses),
            800.0
        );
        assert_eq!(value(&m, Metric::ResultCacheEntries), entries as f64);
        assert_eq!(value(&m, Metric::ResultCacheBytes), bytes as f64);
    }

    #[test]
    fn purging_a_tenant_keeps_the_others() {
        let cache = ResultCache::new(1 << 20, registry());
        cache.insert(key(1), entry(1, 10, "acme"));
        cache.insert(key(2), entry(1, 10, "globex"));
        cache.insert(key(3), entry(1, 10, "acme"));
        assert_eq!(cache.purge_tenant("acme"), 2);
        assert!(cache.get(&key(2)).is_some());
        assert!(cache.get(&key(1)).is_none() && cache.get(&key(3)).is_none());
        assert_eq!(cache.usage().0, 1);
    }
}
