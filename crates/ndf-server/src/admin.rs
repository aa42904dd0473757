//! The admin API (`admin` scope): API keys and erasing a tenant's data. Also what `ndf keys`
//! uses, so the CLI and the API create keys the same way.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ndf_store::{ApiKey, AuditAction, AuditEvent, KeyStore};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Principal, Scope, generate_key, hash_key, valid_tenant};
use crate::problem::{ApiCode, ApiError, Problem};
use crate::state::AppState;
use crate::util::now_millis;

/// `POST /v1/admin/keys` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewKey {
    /// Tenant the key acts for.
    pub tenant: String,
    /// A name for people (1–128 characters).
    pub name: String,
    /// Scopes: `extract`, `jobs:read`, `jobs:write`, `admin`.
    #[schema(example = json!(["extract", "jobs:read"]))]
    pub scopes: Vec<String>,
}

/// A key as listed (never its secret or hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Public id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Revocation time, Unix ms.
    pub revoked_at: Option<i64>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        KeyView {
            id: k.id.clone(),
            tenant: k.tenant.clone(),
            name: k.name.clone(),
            scopes: k.scopes.clone(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A created key: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's record.
    #[serde(flatten)]
    pub view: KeyView,
    /// The key (`ndf_<id>_<secret>`): store it now, it cannot be shown again.
    pub key: String,
}

/// Check the tenant, name and scopes of a new key (the API, `ndf keys create`, `ndf keys
/// generate` and the bootstrap keys file): the trimmed name and the scopes without repeats.
pub fn check_new_key(
    tenant: &str,
    name: &str,
    scopes: &[String],
) -> Result<(String, Vec<Scope>), &'static str> {
    if !valid_tenant(tenant) {
        return Err("tenant must be 1-64 of a-z 0-9 - _");
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err("name must be 1-128 printable characters");
    }
    let mut out = Vec::new();
    for s in scopes {
        let scope = Scope::parse(s).ok_or("scopes are extract, jobs:read, jobs:write and admin")?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.is_empty() || scopes.len() > 8 {
        return Err("give one to four scopes");
    }
    Ok((name.to_owned(), out))
}

/// Validate and create a key; returns its record and the key to hand out once.
pub async fn create_key_record(
    keys: &dyn KeyStore,
    secret: Option<&[u8]>,
    new: &NewKey,
) -> Result<CreatedKey, ApiError> {
    let bad = |m: &str| ApiError::new(ApiCode::InvalidArgument, m);
    let (name, scopes) = check_new_key(&new.tenant, &new.name, &new.scopes).map_err(bad)?;
    let secret =
        secret.ok_or_else(|| bad("api_key_secret is not configured (NDF_API_KEY_SECRET)"))?;
    let (id, key) = generate_key()
        .ok_or_else(|| ApiError::new(ApiCode::Internal, "no randomness for a new key"))?;
    let record = ApiKey {
        id,
        tenant: new.tenant.clone(),
        name,
        hash: hash_key(secret, &key),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: now_millis(),
        revoked_at: None,
    };
    keys.create_key(&record).await?;
    Ok(CreatedKey {
        view: KeyView::from(&record),
        key,
    })
}

/// `POST /v1/admin/keys`: create a key (201, the key shown once).
#[utoipa::path(
    post,
    path = "/v1/admin/keys",
    summary = "Create an API key",
    description = "Creates a key for a tenant with the given scopes. The answer holds the key itself, the only time it is shown. Needs the `admin` scope.",
    request_body(content = NewKey, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = CreatedKey),
        (status = 400, description = "Invalid tenant, name or scopes, malformed JSON, or no api_key_secret configured", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one (also in open mode: admin routes always need a key)", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body did not arrive in time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The JSON body is over 2 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error (no randomness, unreadable key secret)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The key store is unavailable (`store_unavailable`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "admin"
)]
pub async fn create_key(
    State(s): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body.map_err(ApiError::from)?;
    let secret = crate::api_key_secret(&s.config)
        .map_err(|e| ApiError::new(ApiCode::Internal, e.to_string()))?;
    let created = create_key_record(s.keys.as_ref(), secret.as_deref(), &new).await?;
    crate::audit::record(
        &s,
        AuditEvent::new(p.actor(), AuditAction::KeyCreated, "ok")
            .tenant(&created.view.tenant)
            .target(format!("key:{}", created.view.id))
            .detail(
                serde_json::json!({ "name": created.view.name, "scopes": created.view.scopes }),
            ),
    )
    .await;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /v1/admin/keys?tenant=` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// Only this tenant's keys.
    pub tenant: Option<String>,
}

/// `GET /v1/admin/keys` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The keys, revoked ones included.
    pub keys: Vec<KeyView>,
}

/// `DELETE /v1/tenants/{id}/data` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantErasure {
    /// The tenant.
    pub tenant: String,
    /// Jobs deleted with their inputs, results and data keys by this call.
    pub jobs_erased: u64,
    /// False when the call stopped at its bound (1,000,000 jobs): call again.
    pub complete: bool,
}

/// `GET /v1/admin/keys`: keys without secrets.
#[utoipa::path(
    get,
    path = "/v1/admin/keys",
    summary = "List API keys",
    description = "Every key (of one tenant with `tenant=`), revoked ones included; never a key's secret or hash. Needs the `admin` scope.",
    params(KeyQuery),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 400, description = "Invalid query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one (also in open mode: admin routes always need a key)", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The key store is unavailable (`store_unavailable`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "admin"
)]
pub async fn list_keys(
    State(s): State<Arc<AppState>>,
    q: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<KeyList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ApiCode::InvalidArgument, e.body_text()))?;
    let keys = s.keys.list_keys(q.tenant.as_deref()).await?;
    Ok(Json(KeyList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

/// `DELETE /v1/admin/keys/{id}`: revoke (204; 404 if unknown or already revoked).
#[utoipa::path(
    delete,
    path = "/v1/admin/keys/{id}",
    summary = "Revoke an API key",
    description = "The key stops working at once on this replica and within 5 s on every other one. Needs the `admin` scope.",
    params(("id" = String, Path, description = "The key's public id (the part after `ndf_`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not valid UTF-8 after percent-decoding", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one (also in open mode: admin routes always need a key)", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such active key (unknown or already revoked)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The key store is unavailable (`store_unavailable`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "admin"
)]
pub async fn revoke_key(
    State(s): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = s.keys.get_key(&id).await?;
    if !s.keys.revoke_key(&id, now_millis()).await? {
        return Err(ApiError::new(ApiCode::NotFound, "no such active key"));
    }
    // This replica stops accepting it at once (others within auth::CACHE_TTL).
    s.auth.evict(&id);
    let mut event =
        AuditEvent::new(p.actor(), AuditAction::KeyRevoked, "ok").target(format!("key:{id}"));
    if let Some(k) = key {
        event = event.tenant(k.tenant);
    }
    crate::audit::record(&s, event).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}/data",
    summary = "Erase a tenant's data",
    description = "Cancels and deletes every job of the tenant with its inputs, results and data keys, and this replica's cached results of the tenant. Bounded per call: `complete` is false when jobs remain (call again). Needs the `admin` scope.",
    params(("id" = String, Path, description = "Tenant id (1-64 of a-z 0-9 - _)")),
    responses(
        (status = 200, description = "Erased (`complete` says whether any job remains)", body = TenantErasure),
        (status = 400, description = "Not a tenant id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one (also in open mode: admin routes always need a key)", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `admin` scope", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error; the erasure stopped midway (what was erased stays erased; call again)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is unavailable (`store_unavailable`); the erasure stopped midway, call again; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "admin"
)]
/// `DELETE /v1/tenants/{id}/data`: cancel and delete every job of a tenant with its inputs,
/// results and data keys.
pub async fn erase_tenant(
    State(s): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    Path(tenant): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !valid_tenant(&tenant) {
        return Err(ApiError::new(ApiCode::InvalidArgument, "not a tenant id"));
    }
    let mut erased = 0u64;
    // Bounded: at most 1,000 batches of 1,000 per call; the answer says whether more remain.
    let mut complete = false;
    let erasing: Result<(), ApiError> = async {
        for _ in 0..1_000 {
            let ids = s.jobs.tenant_job_ids(&tenant, 1_000).await?;
            if ids.is_empty() {
                complete = true;
                break;
            }
            for id in ids {
                crate::api::erase_job(&s, id).await?;
                erased += 1;
            }
        }
        Ok(())
    }
    .await;
    // Cached results are the tenant's data too (this replica's; others age theirs out).
    s.result_cache.purge_tenant(&tenant);
    // Recorded whatever happened: an erasure that failed midway says how far it got.
    let (outcome, detail) = match &erasing {
        Ok(()) => (
            "ok",
            serde_json::json!({ "jobs_erased": erased, "complete": complete }),
        ),
        Err(e) => (
            "failed",
            serde_json::json!({ "jobs_erased": erased, "complete": false, "error": e.code() }),
        ),
    };
    crate::audit::record(
        &s,
        AuditEvent::new(p.actor(), AuditAction::TenantErased, outcome)
            .tenant(&tenant)
            .detail(detail),
    )
    .await;
    erasing?;
    Ok(Json(
        serde_json::json!({ "tenant": tenant, "jobs_erased": erased, "complete": complete }),
    ))
}
