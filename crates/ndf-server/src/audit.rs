//! Writing the audit log (`ndf_store::AuditLog`): who did what to which key, job or tenant,
//! and every refused credential. Records hold ids and names only, never keys, passwords or
//! document content. An append failure is logged and counted (`ndf_errors_total{kind=
//! "audit_unavailable"}`), never fails the request: the action already happened; the store
//! records the failure in the chain with its next successful append (`audit_append_failed`).
//!
//! The chain is keyed ([`chain_key`], derived from `api_key_secret`, never in the database)
//! and its head is anchored outside the database: [`run_anchor`] logs it at start, every
//! `audit_anchor_interval_ms` when it changed, and at shutdown.

use std::sync::Arc;
use std::time::Duration;

use ndf_store::{AuditAction, AuditEvent, AuditKey, ChainHead};
use tokio::sync::watch;

use crate::auth_limit::Source;
use crate::config::{Config, ConfigError};
use crate::util::now_millis;
use crate::{AppState, ServerError};

/// The key of the audit chain: `HMAC-SHA256(api_key_secret, "ndf audit chain key v1")`
/// (`ndf_store::AuditKey::derive`). On the embedded store without a configured secret that is
/// the secret in `data_dir/api-key-secret`, created on first start; an external store needs
/// `api_key_secret` configured.
pub fn chain_key(config: &Config) -> Result<AuditKey, ServerError> {
    let secret = crate::api_key_secret(config)?.ok_or_else(|| {
        ConfigError::invalid(
            "the audit log is keyed with a key derived from api_key_secret: set api_key_secret \
             (NDF_API_KEY_SECRET) for a store other than the embedded one",
        )
    })?;
    Ok(AuditKey::derive(&secret)?)
}

/// The chain's key for tools that must not create a secret (`ndf audit verify`): `None`
/// when `api_key_secret` is not configured and (embedded store) `data_dir/api-key-secret` does
/// not exist.
pub fn existing_chain_key(config: &Config) -> Result<Option<AuditKey>, ServerError> {
    let secret_exists = config.api_key_secret.is_some()
        || (config.store.is_none() && config.data_dir.join("api-key-secret").is_file());
    if secret_exists {
        chain_key(config).map(Some)
    } else {
        Ok(None)
    }
}

/// Logs the audit log's head as an anchor (`ndf-audit-anchor:1:…`, see
/// `ndf_store::anchor_token`) at start, then every `audit_anchor_interval_ms` if the head
/// changed, and once more when `stop` turns true. Log lines leave the host (collectors): an
/// anchor there lets `ndf audit verify --anchor` find records removed from the database later.
pub async fn run_anchor(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let key = match chain_key(&state.config) {
        Ok(key) => Some(key),
        Err(e) => {
            tracing::error!(error = %e, "the audit key is unavailable: no audit anchors");
            None
        }
    };
    let mut last: Option<ChainHead> = None;
    let every = Duration::from_millis(state.config.audit_anchor_interval_ms);
    loop {
        if let Some(key) = &key {
            log_anchor(&state, key, &mut last).await;
        }
        if *stop.borrow() {
            return;
        }
        if every.is_zero() || key.is_none() {
            // Sender dropped or stop: either way this is the last round.
            let _ = stop.changed().await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
        if stop.has_changed().is_err() {
            return;
        }
    }
}

/// Logs the head's anchor if it differs from `last`.
async fn log_anchor(state: &AppState, key: &AuditKey, last: &mut Option<ChainHead>) {
    match state.audit.head().await {
        Ok(Some(head)) => {
            let head = ChainHead {
                seq: head.seq,
                hash: head.hash,
            };
            if last.as_ref() != Some(&head) {
                let anchor = ndf_store::anchor_token(&head, key);
                tracing::info!(
                    target: "ndf::audit",
                    seq = head.seq,
                    anchor = %anchor,
                    "audit log head: keep this anchor for `ndf audit verify --anchor`"
                );
                *last = Some(head);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e.report(), "reading the audit log's head failed"),
    }
}

/// Append one event.
pub async fn record(state: &AppState, event: AuditEvent) {
    let action = event.action.as_str();
    if let Err(e) = state.audit.append(event, now_millis()).await {
        tracing::error!(action, error = %e.report(), "writing the audit log failed");
        state
            .metrics
            .inc(crate::telemetry::Metric::Errors, &["audit_unavailable"]);
    }
}

/// A refused request (no key, a bad key, a missing scope, a Host open mode does not serve)
/// from `source`. Aggregated ([`crate::auth_limit`]): only the first refusal of a source in
/// each window is written now (within the per-window cap); the others are counted into the
/// window's summary, written by [`flush_auth_failures`]. `strike`: it counts toward the
/// source's limit (not 403s: the key was valid).
pub async fn record_auth_failure(
    state: &AppState,
    source: Source,
    actor: &str,
    route: &str,
    code: &'static str,
    strike: bool,
) {
    if !state
        .auth
        .failures
        .failure(source, std::time::Instant::now(), strike)
    {
        return;
    }
    record(
        state,
        AuditEvent::new(actor, AuditAction::AuthFailed, "denied").detail(serde_json::json!({
            "source": source.to_string(),
            "route": route,
            "code": code,
            "failures": 1,
            "throttled": 0,
        })),
    )
    .await;
}

/// Write the summaries of failure windows that closed (all of them when `all`, at shutdown):
/// one `auth_failed` record per source and window with the number of further refusals
/// (`failures`) and of 429 answers (`throttled`), and one record per window for what the cap
/// left out (`source: "*"`, `records_folded`).
pub async fn flush_auth_failures(state: &AppState, all: bool) {
    let window_ms = u64::try_from(state.auth.failures.limits().window.as_millis()).unwrap_or(0);
    for s in state.auth.failures.take(std::time::Instant::now(), all) {
        let detail = match s.source {
            Some(source) => serde_json::json!({
                "source": source.to_string(),
                "summary": true,
                "window_ms": window_ms,
                "failures": s.failures,
                "throttled": s.throttled,
            }),
            None => serde_json::json!({
                "source": "*",
                "summary": true,
                "window_ms": window_ms,
                "failures": s.failures,
                "throttled": s.throttled,
                "records_folded": s.folded,
            }),
        };
        record(
            state,
            AuditEvent::new("anonymous", AuditAction::AuthFailed, "denied").detail(detail),
        )
        .await;
    }
}
