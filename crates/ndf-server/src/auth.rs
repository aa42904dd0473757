//! Access control: API keys with scopes, tenants, and per-key / per-tenant rate limits.
//!
//! A key looks like `ndf_<id>_<secret>`: the id (12 hex digits) finds the record, the whole key
//! is checked against a keyed hash (HMAC-SHA256 under `api_key_secret`, which never sits in
//! the database), so neither a database dump nor a log line can yield a usable key. Keys are
//! looked up at most every [`CACHE_TTL`] per replica: a revocation through another replica
//! (or `ndf keys revoke`) takes effect within it; one through this replica's admin API at once
//! ([`Authenticator::evict`]).
//!
//! Modes ([`Mode`]), decided from the store and logged at start and at every change:
//! - **open**: the store has never held a key (revoked keys stay in `ndf_api_keys`) and the
//!   replica listens on loopback (or was told `--insecure-no-auth`): requests without a key act
//!   as tenant `default` with every scope but `admin`, and, on loopback, only for the Host names
//!   `localhost`, `127.0.0.0/8` and `[::1]` (421 otherwise: DNS rebinding);
//! - **keys**: a key is active: every API request needs one;
//! - **locked**: keys existed and all are revoked: every API request is refused (401) until
//!   `ndf keys create` makes one. Open mode never comes back once a key existed.
//!
//! Admin routes (`/v1/admin/*`, tenant erasure) need a key with the `admin` scope in every
//! mode; the first key comes from `ndf keys create`, which writes to the store directly.
//! Failed authentication is limited per source ([`crate::auth_limit`]).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use ndf_store::{ApiKey, KeyStore, Millis};
use tokio::sync::watch;

use crate::auth_limit::{Cidr, FailureLimits, FailureTracker, Source};
use crate::problem::{ApiCode, ApiError};
use crate::util::now_millis;

/// How long a key lookup (or the knowledge of which keys exist) is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// The tenant of requests in open mode.
pub const OPEN_TENANT: &str = "default";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `POST /v1/extract`.
    Extract,
    /// Reading jobs and results.
    JobsRead,
    /// Creating and deleting jobs.
    JobsWrite,
    /// Keys, tenants' data.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [
        Scope::Extract,
        Scope::JobsRead,
        Scope::JobsWrite,
        Scope::Admin,
    ];

    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Extract => "extract",
            Scope::JobsRead => "jobs:read",
            Scope::JobsWrite => "jobs:write",
            Scope::Admin => "admin",
        }
    }

    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

/// Who is calling: put in the request's extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant whose jobs this caller sees.
    pub tenant: String,
    /// The key's id (`None` in open mode).
    pub key_id: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// The caller of open mode: every scope but `admin`, which always needs a real key.
    fn open() -> Self {
        Principal {
            tenant: OPEN_TENANT.to_owned(),
            key_id: None,
            scopes: vec![Scope::Extract, Scope::JobsRead, Scope::JobsWrite],
        }
    }

    /// The actor name for the audit log: `key:<id>` or `open`.
    pub fn actor(&self) -> String {
        self.key_id
            .as_ref()
            .map_or_else(|| "open".to_owned(), |id| format!("key:{id}"))
    }
}

/// A tenant id: 1–64 of `[a-z0-9-_]`.
pub fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS generator; failure is fatal for key generation and reported as such.
    if getrandom::fill(&mut b).is_err() {
        b = [0u8; N];
    }
    b
}

/// A new key: `(id, the full key to hand out once)`. `None` if the OS has no randomness.
pub fn generate_key() -> Option<(String, String)> {
    let id = hex::encode(random_bytes::<6>());
    let secret = random_bytes::<32>();
    if secret.iter().all(|&b| b == 0) {
        return None;
    }
    Some((id.clone(), format!("ndf_{id}_{}", hex::encode(secret))))
}

/// The id part of a well-formed key.
pub fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("ndf_")?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == 12
        && secret.len() == 64
        && id
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_hexdigit());
    ok.then_some(id)
}

/// The keyed hash stored for a key.
pub fn hash_key(secret: &[u8], key: &str) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of two hashes.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// True for addresses only this machine can reach.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// How a replica treats requests without a key (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No key was ever created and this replica may serve without one.
    Open,
    /// A key is active: every API request needs one.
    Keys,
    /// No key is active and open mode is not allowed (keys existed, or the replica is not on
    /// loopback): every API request is refused until a key is created.
    Locked,
}

impl Mode {
    /// The stable name (logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::Keys => "keys",
            Mode::Locked => "locked",
        }
    }
}

/// What this replica knows about the store's keys.
#[derive(Debug, Default)]
struct ModeState {
    /// When the store was last asked (`None`: ask now).
    checked: Option<Instant>,
    /// The store has held a key at some time (never goes back to false in this process).
    ever: bool,
    /// A key is active.
    active: bool,
    /// The mode last logged.
    logged: Option<Mode>,
}

/// How an [`Authenticator`] is set up (from the configuration).
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Serve without keys while the store has never held one (loopback listener, or
    /// `--insecure-no-auth`).
    pub open_allowed: bool,
    /// In open mode, serve only loopback Host names (on loopback; off under
    /// `--insecure-no-auth`, where a gateway sets the Host).
    pub check_host: bool,
    /// Requests per minute per key (0 = unlimited).
    pub key_rate_per_minute: u64,
    /// Requests per minute per tenant (0 = unlimited).
    pub tenant_rate_per_minute: u64,
    /// Limits of failed authentication per source.
    pub failures: FailureLimits,
    /// Proxies whose `X-Forwarded-For` names the source.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            open_allowed: false,
            check_host: true,
            key_rate_per_minute: 0,
            tenant_rate_per_minute: 0,
            failures: FailureLimits::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Most entries of the key cache and of the set of verified key ids.
const MAX_CACHED_KEYS: usize = 10_000;

/// Looks keys up, caches them briefly, decides the mode, enforces rate limits and the limits
/// of failed authentication.
pub struct Authenticator {
    keys: Arc<dyn KeyStore>,
    secret: Option<Vec<u8>>,
    options: AuthOptions,
    cache: Mutex<HashMap<String, (Instant, Option<ApiKey>)>>,
    /// Bumped by [`Authenticator::evict`]: a lookup that started before does not cache.
    generation: AtomicU64,
    /// Ids of keys this replica verified: a source over its failure limit may still use them.
    verified: Mutex<HashSet<String>>,
    mode: Mutex<ModeState>,
    /// Failed authentication per source.
    pub failures: FailureTracker,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("options", &self.options)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ModeState {
    fn mode(&self, open_allowed: bool) -> Mode {
        if self.active {
            Mode::Keys
        } else if self.ever || !open_allowed {
            Mode::Locked
        } else {
            Mode::Open
        }
    }

    /// Log the mode if it changed since the last line.
    fn log(&mut self, mode: Mode, check_host: bool) {
        let previous = self.logged;
        if previous == Some(mode) {
            return;
        }
        self.logged = Some(mode);
        let from = previous.map_or("start", Mode::as_str);
        match (previous, mode) {
            (None, Mode::Open) if check_host => tracing::warn!(
                mode = mode.as_str(),
                from,
                "auth mode: open: no API key was ever created, so requests without a key act as \
                 tenant `default` (loopback Host names only; admin routes need a key from \
                 `ndf keys create`). Open mode ends for good when the first key is created"
            ),
            (None, Mode::Open) => tracing::warn!(
                mode = mode.as_str(),
                from,
                "auth mode: open (--insecure-no-auth): no API key was ever created, so requests \
                 without a key act as tenant `default`; the gateway in front must authenticate. \
                 Admin routes need a key from `ndf keys create`"
            ),
            (None, Mode::Keys) => {
                tracing::info!(mode = mode.as_str(), from, "auth mode: keys required");
            }
            (Some(_), Mode::Keys) => tracing::warn!(
                mode = mode.as_str(),
                from,
                "auth mode: keys required: an API key is active; requests without one get 401 \
                 (open mode does not come back)"
            ),
            (_, Mode::Locked) => tracing::error!(
                mode = mode.as_str(),
                from,
                "auth mode: locked: no API key is active (every key was revoked, or none exists \
                 on a replica that may not run open): every API request gets 401. To recover, \
                 create a key with `ndf keys create --tenant T --name N --scope admin`"
            ),
            (Some(_), Mode::Open) => tracing::error!(
                mode = mode.as_str(),
                from,
                "auth mode: open again: this cannot happen (keys are never forgotten)"
            ),
        }
    }
}

impl Authenticator {
    /// An authenticator over `keys`.
    pub fn new(keys: Arc<dyn KeyStore>, secret: Option<Vec<u8>>, options: AuthOptions) -> Self {
        let failures = FailureTracker::new(options.failures);
        Self {
            keys,
            secret,
            options,
            cache: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            verified: Mutex::new(HashSet::new()),
            mode: Mutex::new(ModeState::default()),
            failures,
        }
    }

    /// The mode now (the store is asked at most every [`CACHE_TTL`]); logs every change.
    pub async fn mode(&self) -> Result<Mode, ApiError> {
        {
            let m = lock(&self.mode);
            if let Some(at) = m.checked
                && at.elapsed() < CACHE_TTL
            {
                return Ok(m.mode(self.options.open_allowed));
            }
        }
        let ever = self.keys.key_count_ever().await? > 0;
        let active = self.keys.active_key_count().await? > 0;
        let mut m = lock(&self.mode);
        m.ever |= ever || active;
        m.active = active;
        m.checked = Some(Instant::now());
        let mode = m.mode(self.options.open_allowed);
        m.log(mode, self.options.check_host);
        Ok(mode)
    }

    /// Whether the store has ever held a key (cached; never false again once true).
    pub async fn keys_ever_existed(&self) -> Result<bool, ApiError> {
        self.mode().await?;
        Ok(lock(&self.mode).ever)
    }

    /// Forget what this replica cached about key `id` (after revoking it here): the next use
    /// looks it up again, and the mode is decided again.
    pub fn evict(&self, id: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        lock(&self.cache).remove(id);
        lock(&self.verified).remove(id);
        lock(&self.mode).checked = None;
    }

    /// Whether this replica verified key `id` (and has not evicted it since).
    pub fn verified(&self, id: &str) -> bool {
        lock(&self.verified).contains(id)
    }

    /// The source of a request for failure limits.
    pub fn source_of(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Source {
        crate::auth_limit::source_of(peer, headers, &self.options.trusted_proxies)
    }

    async fn lookup(&self, id: &str) -> Result<Option<ApiKey>, ApiError> {
        if let Some((at, v)) = lock(&self.cache).get(id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(v.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let v = self.keys.get_key(id).await?;
        let mut cache = lock(&self.cache);
        // A revocation on this replica while the store was asked: do not cache what may
        // predate it.
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(v);
        }
        // Bounded: unknown ids are cached too, so the map is swept when it grows.
        if cache.len() > MAX_CACHED_KEYS {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            if cache.len() > MAX_CACHED_KEYS {
                cache.clear();
            }
        }
        cache.insert(id.to_owned(), (Instant::now(), v.clone()));
        Ok(v)
    }

    /// The principal of a request's credentials, or why not.
    pub async fn principal(&self, presented: Option<&str>) -> Result<Principal, ApiError> {
        let unauthorized = |m: &str| ApiError::new(ApiCode::Unauthorized, m);
        let Some(key) = presented else {
            return match self.mode().await? {
                Mode::Open => Ok(Principal::open()),
                Mode::Keys => Err(unauthorized(
                    "this endpoint needs an API key: Authorization: Bearer ndf_…",
                )),
                Mode::Locked => Err(unauthorized(
                    "this endpoint needs an API key, and no key is active: an operator must \
                     create one (ndf keys create)",
                )),
            };
        };
        let id = key_id(key).ok_or_else(|| unauthorized("malformed API key"))?;
        let secret = self
            .secret
            .as_deref()
            .ok_or_else(|| unauthorized("API keys are not configured on this service"))?;
        let record = self
            .lookup(id)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| unauthorized("unknown or revoked API key"))?;
        if !same(&record.hash, &hash_key(secret, key)) {
            return Err(unauthorized("unknown or revoked API key"));
        }
        // A key works: keys exist (open mode is over on this replica at once).
        {
            let mut m = lock(&self.mode);
            m.ever = true;
            m.active = true;
            m.log(Mode::Keys, self.options.check_host);
        }
        {
            let mut verified = lock(&self.verified);
            if verified.len() >= MAX_CACHED_KEYS {
                verified.clear();
            }
            verified.insert(record.id.clone());
        }
        Ok(Principal {
            tenant: record.tenant.clone(),
            key_id: Some(record.id.clone()),
            scopes: record
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
        })
    }

    /// Count a request against the key's and the tenant's per-minute limits (shared by every
    /// replica through the store). Returns the seconds to wait when over a limit.
    pub async fn rate_limit(&self, p: &Principal, now: Millis) -> Result<Option<u64>, ApiError> {
        let Some(key) = &p.key_id else {
            return Ok(None);
        };
        let window = now - now.rem_euclid(60_000);
        let retry = (window + 60_000 - now).max(1_000) as u64 / 1000;
        for (bucket, limit) in [
            (format!("key:{key}"), self.options.key_rate_per_minute),
            (
                format!("tenant:{}", p.tenant),
                self.options.tenant_rate_per_minute,
            ),
        ] {
            if limit == 0 {
                continue;
            }
            let n = self
                .keys
                .count_hit(&bucket, window, window + 120_000)
                .await?;
            if n > limit {
                return Ok(Some(retry));
            }
        }
        Ok(None)
    }
}

/// The scope a route needs, or `None` for public operational routes.
fn required_scope(method: &Method, route: &str) -> Option<Scope> {
    match (method.as_str(), route) {
        (_, "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/status" | "/status.json") => {
            None
        }
        ("POST", "/v1/extract") => Some(Scope::Extract),
        ("POST" | "DELETE", "/v1/jobs" | "/v1/jobs/{id}") => Some(Scope::JobsWrite),
        (_, "/v1/jobs" | "/v1/jobs/{id}" | "/v1/jobs/{id}/result") => Some(Scope::JobsRead),
        _ => Some(Scope::Admin),
    }
}

/// The key of a request: `Authorization: Bearer KEY` (the scheme in any case, RFC 9110
/// §11.1), else `X-API-Key: KEY`.
fn presented_key(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim_start().split_once([' ', '\t'])?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Whether a request names this machine by a loopback name: `localhost`, an IPv4 loopback
/// address or `[::1]`, with any port (Host header, else the URI's authority for HTTP/2).
pub fn loopback_host(headers: &HeaderMap, uri: &Uri) -> bool {
    let authority = match headers.get(header::HOST) {
        Some(v) => v.to_str().ok(),
        None => uri.authority().map(|a| a.as_str()),
    };
    authority.is_some_and(authority_is_loopback)
}

fn authority_is_loopback(authority: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, tail)) = rest.split_once(']') else {
            return false;
        };
        let tail_ok = tail.is_empty() || tail.strip_prefix(':').is_some_and(port_ok);
        return tail_ok && host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if port_ok(p) => h,
        Some(_) => return false,
        None => authority,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuse a request: count the failure of `source` (one audit record per source and window,
/// see [`crate::auth_limit`]) and answer `e` (with `WWW-Authenticate` on 401).
async fn refuse(
    state: &crate::AppState,
    source: Source,
    actor: &str,
    route: &str,
    e: ApiError,
) -> Response {
    let strike = e.status() != axum::http::StatusCode::FORBIDDEN;
    crate::audit::record_auth_failure(state, source, actor, route, e.code(), strike).await;
    let unauthorized = e.status() == axum::http::StatusCode::UNAUTHORIZED;
    let mut res = e.into_response();
    if unauthorized {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    res
}

/// Middleware: refuse sources over their failure limit, authenticate, authorize the route's
/// scope (admin routes need a real key in every mode), check the Host in open mode, apply
/// rate limits, and leave the [`Principal`] in the request's extensions.
pub async fn authenticate(
    State(state): State<Arc<crate::AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(route) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        // Unknown paths answer 404 whoever asks.
        return next.run(req).await;
    };
    let Some(scope) = required_scope(req.method(), &route) else {
        return next.run(req).await;
    };
    let auth = &state.auth;
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let source = auth.source_of(peer, req.headers());
    let presented = presented_key(req.headers()).map(str::to_owned);
    // Over the limit: 429 before the store is asked, unless the key is one this replica
    // verified (a client behind the same address or gateway keeps working).
    if let Some(wait) = auth.failures.blocked(source, Instant::now())
        && !presented
            .as_deref()
            .and_then(key_id)
            .is_some_and(|id| auth.verified(id))
    {
        auth.failures.throttled(source);
        return ApiError::new(
            ApiCode::TooManyAuthFailures,
            "too many failed authentications from this address; retry later",
        )
        .retry_after(wait.as_secs() + 1)
        .into_response();
    }
    let principal = match auth.principal(presented.as_deref()).await {
        Ok(p) => p,
        Err(e) if e.status() == axum::http::StatusCode::UNAUTHORIZED => {
            return refuse(&state, source, "anonymous", &route, e).await;
        }
        Err(e) => return e.into_response(),
    };
    if principal.key_id.is_none() {
        // Open mode.
        if scope == Scope::Admin {
            let e = ApiError::new(
                ApiCode::Unauthorized,
                "admin routes need an API key with the admin scope in every mode: create the \
                 first one with `ndf keys create --scope admin`",
            );
            return refuse(&state, source, "anonymous", &route, e).await;
        }
        if auth.options.check_host && !loopback_host(req.headers(), req.uri()) {
            let e = ApiError::new(
                ApiCode::MisdirectedRequest,
                "without an API key this service answers only requests addressed to \
                 localhost, 127.0.0.1 or [::1]",
            );
            return refuse(&state, source, "anonymous", &route, e).await;
        }
    }
    if !principal.scopes.contains(&scope) {
        let e = ApiError::new(
            ApiCode::Forbidden,
            format!("this endpoint needs the {} scope", scope.as_str()),
        );
        return refuse(&state, source, &principal.actor(), &route, e).await;
    }
    match auth.rate_limit(&principal, now_millis()).await {
        Ok(None) => {}
        Ok(Some(wait)) => {
            return ApiError::new(
                ApiCode::RateLimited,
                "over the request rate of this key or tenant",
            )
            .retry_after(wait)
            .into_response();
        }
        Err(e) => return e.into_response(),
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Until `stop`: every second write the audit summaries of failure windows that closed, and
/// decide the mode again (every [`CACHE_TTL`]), so that each change is logged even without
/// traffic.
pub async fn run_watch(state: Arc<crate::AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        crate::audit::flush_auth_failures(&state, false).await;
        if let Err(e) = state.auth.mode().await {
            tracing::warn!(error = %e, "could not read the API keys' state");
        }
    }
}

/// Whether an address of the admin listener is allowed without `admin_listen_allow_public`:
/// loopback, or a private range (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), which is
/// returned as `Some(false)` (allowed, with a log line); `None` for every other address
/// (unspecified, public, link-local, multicast…).
pub fn admin_address_class(ip: IpAddr) -> Option<bool> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return Some(true);
    }
    let private = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    private.then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_an_id_and_hash_under_the_secret() {
        let (id, key) = generate_key().unwrap();
        assert_eq!(key_id(&key), Some(id.as_str()));
        assert_eq!(key.len(), 4 + 12 + 1 + 64);
        let h = hash_key(b"s1", &key);
        assert_eq!(h.len(), 64);
        assert_ne!(h, hash_key(b"s2", &key), "keyed");
        assert!(same(&h, &hash_key(b"s1", &key)));
        assert!(!same(&h, &hash_key(b"s1", "ndf_000000000000_x")));
        for bad in [
            "",
            "ndf_",
            "ndf_abc_def",
            &key[..key.len() - 1],
            &key.replace("ndf_", "xyz_"),
        ] {
            assert_eq!(key_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn routes_need_their_scopes() {
        assert_eq!(
            required_scope(&Method::POST, "/v1/extract"),
            Some(Scope::Extract)
        );
        assert_eq!(
            required_scope(&Method::POST, "/v1/jobs"),
            Some(Scope::JobsWrite)
        );
        assert_eq!(
            required_scope(&Method::DELETE, "/v1/jobs/{id}"),
            Some(Scope::JobsWrite)
        );
        assert_eq!(
            required_scope(&Method::GET, "/v1/jobs/{id}/result"),
            Some(Scope::JobsRead)
        );
        assert_eq!(
            required_scope(&Method::GET, "/v1/admin/keys"),
            Some(Scope::Admin)
        );
        assert_eq!(
            required_scope(&Method::DELETE, "/v1/tenants/{id}/data"),
            Some(Scope::Admin)
        );
        assert_eq!(required_scope(&Method::GET, "/healthz"), None);
        assert!(valid_tenant("acme-1") && !valid_tenant("Acme") && !valid_tenant(""));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let key = "ndf_0123456789ab_00";
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            for sep in [" ", "  ", "\t"] {
                let mut h = HeaderMap::new();
                h.insert(
                    header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("{scheme}{sep}{key}")).unwrap(),
                );
                assert_eq!(presented_key(&h), Some(key), "{scheme:?}{sep:?}");
            }
        }
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", HeaderValue::from_static(" k "));
        assert_eq!(presented_key(&h), Some("k"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearerx k"));
        assert_eq!(presented_key(&h), None);
    }

    #[test]
    fn open_mode_serves_only_loopback_host_names() {
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.:1",
            "127.0.0.1",
            "127.0.0.1:65535",
            "127.3.2.1:80",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(authority_is_loopback(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io:80",
            "10.0.0.1:80",
            "[::2]:80",
            "[::1",
            "[::1]x",
            "localhost:",
            "localhost:http",
            "0.0.0.0:80",
            "user@localhost",
        ] {
            assert!(!authority_is_loopback(bad), "{bad}");
        }
        let uri: Uri = "http://evil.example/v1/jobs".parse().unwrap();
        let mut h = HeaderMap::new();
        assert!(!loopback_host(&h, &uri), "HTTP/2 authority");
        let uri2: Uri = "http://[::1]:9/v1/jobs".parse().unwrap();
        assert!(loopback_host(&h, &uri2));
        h.insert(header::HOST, HeaderValue::from_static("evil.example"));
        assert!(!loopback_host(&h, &uri2), "the Host header decides");
        assert!(!loopback_host(
            &HeaderMap::new(),
            &"/v1/jobs".parse().unwrap()
        ));
    }

    #[test]
    fn open_mode_never_grants_admin_and_never_comes_back() {
        assert!(!Principal::open().scopes.contains(&Scope::Admin));
        let mut m = ModeState::default();
        assert_eq!(m.mode(true), Mode::Open);
        assert_eq!(m.mode(false), Mode::Locked, "off loopback: never open");
        m.ever = true;
        m.active = true;
        assert_eq!(m.mode(true), Mode::Keys);
        m.active = false;
        assert_eq!(m.mode(true), Mode::Locked, "every key revoked");
    }

    #[test]
    fn admin_listener_addresses_are_classified() {
        let class = |s: &str| admin_address_class(s.parse().unwrap());
        for lo in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(class(lo), Some(true), "{lo}");
        }
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "fd00::1",
            "fc12::1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(class(private), Some(false), "{private}");
        }
        for refused in [
            "0.0.0.0",
            "::",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "169.254.169.254",
            "fe80::1",
            "2001:db8::1",
            "224.0.0.1",
        ] {
            assert_eq!(class(refused), None, "{refused}");
        }
    }
}
