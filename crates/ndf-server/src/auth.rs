//! Access control: API keys with scopes, tenants, and per-key / per-tenant rate limits.
//!
//! A key looks like `ndf_<id>_<secret>`: the id (12 hex digits) finds the record, the whole key
//! is checked against a keyed hash (HMAC-SHA256 under `api_key_secret`, which never sits in
//! the database), so neither a database dump nor a log line can yield a usable key. Keys are
//! looked up at most every [`CACHE_TTL`] per replica: a revocation takes effect within it.
//!
//! Modes: with keys in the store, every API request needs one. Without keys, a replica bound
//! to loopback runs open (one implicit tenant, every scope) and says so in its log; bound to
//! any other address it refuses to start unless told `--insecure-no-auth`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use ndf_store::{ApiKey, KeyStore, Millis};

use crate::problem::{ApiCode, ApiError};
use crate::util::now_millis;

/// How long a key lookup (or the knowledge that no keys exist) is trusted.
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
    fn open() -> Self {
        Principal {
            tenant: OPEN_TENANT.to_owned(),
            key_id: None,
            scopes: Scope::ALL.to_vec(),
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

/// Looks keys up, caches them briefly, enforces rate limits.
pub struct Authenticator {
    keys: Arc<dyn KeyStore>,
    secret: Option<Vec<u8>>,
    /// Run without keys (loopback, or `--insecure-no-auth`) while the store holds none.
    open_allowed: bool,
    key_rate_per_minute: u64,
    tenant_rate_per_minute: u64,
    cache: Mutex<HashMap<String, (Instant, Option<ApiKey>)>>,
    any_keys: Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("open_allowed", &self.open_allowed)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over `keys`.
    pub fn new(
        keys: Arc<dyn KeyStore>,
        secret: Option<Vec<u8>>,
        open_allowed: bool,
        key_rate_per_minute: u64,
        tenant_rate_per_minute: u64,
    ) -> Self {
        Self {
            keys,
            secret,
            open_allowed,
            key_rate_per_minute,
            tenant_rate_per_minute,
            cache: Mutex::new(HashMap::new()),
            any_keys: Mutex::new(None),
        }
    }

    /// Whether the store holds any active key (cached).
    pub async fn keys_exist(&self) -> Result<bool, ApiError> {
        if let Some((at, v)) = *self.any_keys.lock().unwrap_or_else(PoisonError::into_inner)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(v);
        }
        let v = self.keys.active_key_count().await? > 0;
        *self.any_keys.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), v));
        Ok(v)
    }

    async fn lookup(&self, id: &str) -> Result<Option<ApiKey>, ApiError> {
        if let Some((at, v)) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(v.clone());
        }
        let v = self.keys.get_key(id).await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded: unknown ids are cached too, so the map is swept when it grows.
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            if cache.len() > 10_000 {
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
            if self.open_allowed && !self.keys_exist().await? {
                return Ok(Principal::open());
            }
            return Err(unauthorized(
                "this endpoint needs an API key: Authorization: Bearer ndf_…",
            ));
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
            (format!("key:{key}"), self.key_rate_per_minute),
            (format!("tenant:{}", p.tenant), self.tenant_rate_per_minute),
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

fn presented_key(req: &Request) -> Option<&str> {
    let h = req.headers();
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Middleware: authenticate, authorize the route's scope, apply rate limits, and leave the
/// [`Principal`] in the request's extensions.
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
    let principal = match auth.principal(presented_key(&req)).await {
        Ok(p) => p,
        Err(e) => {
            crate::audit::record_auth_failure(&state, &route, e.code()).await;
            let mut res = e.into_response();
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return res;
        }
    };
    if !principal.scopes.contains(&scope) {
        crate::audit::record_auth_failure(&state, &route, "forbidden").await;
        return ApiError::new(
            ApiCode::Forbidden,
            format!("this endpoint needs the {} scope", scope.as_str()),
        )
        .into_response();
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
}
