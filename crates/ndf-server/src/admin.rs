//! The admin API (`admin` scope): API keys and erasing a tenant's data. Also what `ndf keys`
//! uses, so the CLI and the API create keys the same way.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ndf_store::{ApiKey, AuditAction, AuditEvent, KeyStore};
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Scope, generate_key, hash_key, valid_tenant};
use crate::problem::{ApiCode, ApiError};
use crate::state::AppState;
use crate::util::now_millis;

/// `POST /v1/admin/keys` body.
#[derive(Debug, Deserialize)]
pub struct NewKey {
    /// Tenant the key acts for.
    pub tenant: String,
    /// A name for people (1–128 characters).
    pub name: String,
    /// Scopes: `extract`, `jobs:read`, `jobs:write`, `admin`.
    pub scopes: Vec<String>,
}

/// A key as listed (never its secret or hash).
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    /// The key's record.
    #[serde(flatten)]
    pub view: KeyView,
    /// The key (`ndf_<id>_<secret>`): store it now, it cannot be shown again.
    pub key: String,
}

/// Validate and create a key; returns its record and the key to hand out once.
pub async fn create_key_record(
    keys: &dyn KeyStore,
    secret: Option<&[u8]>,
    new: &NewKey,
) -> Result<CreatedKey, ApiError> {
    let bad = |m: &str| ApiError::new(ApiCode::InvalidArgument, m);
    if !valid_tenant(&new.tenant) {
        return Err(bad("tenant must be 1-64 of a-z 0-9 - _"));
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(bad("name must be 1-128 printable characters"));
    }
    let mut scopes = Vec::new();
    for s in &new.scopes {
        let scope = Scope::parse(s)
            .ok_or_else(|| bad("scopes are extract, jobs:read, jobs:write and admin"))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() || new.scopes.len() > 8 {
        return Err(bad("give one to four scopes"));
    }
    let secret =
        secret.ok_or_else(|| bad("api_key_secret is not configured (NDF_API_KEY_SECRET)"))?;
    let (id, key) = generate_key()
        .ok_or_else(|| ApiError::new(ApiCode::Internal, "no randomness for a new key"))?;
    let record = ApiKey {
        id,
        tenant: new.tenant.clone(),
        name: name.to_owned(),
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
pub async fn create_key(
    State(s): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body.map_err(|e| ApiError::new(ApiCode::InvalidArgument, e.body_text()))?;
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
#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    /// Only this tenant's keys.
    pub tenant: Option<String>,
}

/// `GET /v1/admin/keys`: keys without secrets.
pub async fn list_keys(
    State(s): State<Arc<AppState>>,
    q: Result<Query<KeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ApiCode::InvalidArgument, e.body_text()))?;
    let keys = s.keys.list_keys(q.tenant.as_deref()).await?;
    let views: Vec<KeyView> = keys.iter().map(KeyView::from).collect();
    Ok(Json(serde_json::json!({ "keys": views })))
}

/// `DELETE /v1/admin/keys/{id}`: revoke (204; 404 if unknown or already revoked).
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
