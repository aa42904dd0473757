//! Writing the audit log (`ndf_store::AuditLog`): who did what to which key, job or tenant,
//! and every refused credential. Records hold ids and names only, never keys, passwords or
//! document content. An append failure is logged and counted, never fails the request: the
//! action already happened and the log's own chain shows any gap.

use ndf_store::{AuditAction, AuditEvent};

use crate::AppState;
use crate::util::now_millis;

/// Append one event.
pub async fn record(state: &AppState, event: AuditEvent) {
    let action = event.action.as_str();
    if let Err(e) = state.audit.append(event, now_millis()).await {
        tracing::error!(action, error = %e, "writing the audit log failed");
        state
            .metrics
            .inc(crate::telemetry::Metric::Errors, &["audit_unavailable"]);
    }
}

/// A refused request: no key, a bad key, or a missing scope.
pub async fn record_auth_failure(state: &AppState, route: &str, code: &'static str) {
    record(
        state,
        AuditEvent::new("anonymous", AuditAction::AuthFailed, "denied")
            .detail(serde_json::json!({ "route": route, "code": code })),
    )
    .await;
}
