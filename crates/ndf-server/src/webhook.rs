//! Webhook delivery: when a job with a `callback_url` finishes, POST its view to the URL,
//! signed with HMAC-SHA256 over `timestamp.body`, retried with exponential backoff. Delivery
//! state lives in the job store, so retries survive restarts and replicas do not deliver the
//! same webhook twice at once (the store hands due webhooks out under a short claim).

use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use tokio::sync::watch;
use tracing::Instrument;

use crate::api::JobView;
use crate::state::AppState;
use crate::telemetry::trace;
use crate::util::now_millis;

/// Header with the Unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-ndf-timestamp";
/// Header with `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "x-ndf-signature";

/// `sha256=<hex>` signature of a delivery.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; no signature rather than a panic.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delay before retry number `attempt` (1-based): 1 s, 2 s, 4 s … capped at 10 minutes.
pub fn backoff_ms(attempt: u32) -> i64 {
    1000i64
        .saturating_mul(1i64 << attempt.saturating_sub(1).min(20))
        .min(600_000)
}

/// Deliver due webhooks until `stop` turns true.
pub async fn run_dispatcher(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let Some(secret) = state.config.webhook_secret.clone() else {
        return;
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client unavailable; webhooks disabled");
            return;
        }
    };
    loop {
        if *stop.borrow() {
            return;
        }
        let due = state
            .jobs
            .webhooks_due(&state.owner, now_millis(), 30_000, 16)
            .await;
        let mut idle = true;
        match due {
            Ok(jobs) => {
                for job in jobs {
                    idle = false;
                    deliver(&state, &client, &secret, &job).await;
                }
            }
            Err(e) => tracing::warn!(error = %e.report(), "reading due webhooks failed"),
        }
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

async fn deliver(state: &AppState, client: &reqwest::Client, secret: &str, job: &ndf_store::Job) {
    let Some(url) = job.callback_url.as_deref() else {
        return;
    };
    // Checked again at delivery, after resolving the name (configuration may have changed,
    // and DNS may now point elsewhere); the connection then goes to the vetted address only.
    let pinned = match crate::util::resolve_callback(url, &state.config.webhook_allow_hosts).await {
        Ok(p) => p,
        Err(e) => {
            // DNS may recover: retried like a failed delivery.
            let attempt = job.webhook.attempts + 1;
            let next = (attempt < state.config.webhook_max_attempts)
                .then(|| now_millis() + backoff_ms(attempt));
            let outcome = if next.is_some() { "retried" } else { "failed" };
            state
                .metrics
                .inc(crate::telemetry::Metric::WebhookDeliveries, &[outcome]);
            record(state, job, false, next, Some(e.problem().detail)).await;
            return;
        }
    };
    let pinned_client;
    let client = match pinned {
        Some((host, addr)) => {
            pinned_client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .resolve(&host, addr)
                .build();
            match &pinned_client {
                Ok(c) => c,
                Err(_) => client,
            }
        }
        None => client,
    };
    let body = serde_json::to_vec(&JobView::of(job)).unwrap_or_default();
    let ts = now_millis() / 1000;
    let sig = signature(secret, ts, &body);
    let attempt = job.webhook.attempts + 1;
    // A client span in the job's trace; its context travels in `traceparent`.
    let span = tracing::info_span!(
        "webhook",
        otel.name = "POST webhook",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = "POST",
        http.response.status_code = tracing::field::Empty,
        ndf.job.id = %job.id,
        ndf.webhook.attempt = attempt,
    );
    trace::set_parent(
        &span,
        trace::context_from_traceparent(job.traceparent.as_deref()),
    );
    let mut headers = axum::http::HeaderMap::new();
    trace::inject(&span, &mut headers);
    let result = client
        .post(url)
        .headers(headers)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, sig)
        .header("x-ndf-job-id", job.id.to_string())
        .body(body)
        .send()
        .instrument(span.clone())
        .await;
    if let Ok(r) = &result {
        span.record("http.response.status_code", r.status().as_u16());
    }
    let (ok, error) = match result {
        Ok(r) if r.status().is_success() => (true, None),
        Ok(r) => (false, Some(format!("HTTP {}", r.status().as_u16()))),
        Err(e) => (false, Some(format!("request failed: {}", e.without_url()))),
    };
    let next = (!ok && attempt < state.config.webhook_max_attempts)
        .then(|| now_millis() + backoff_ms(attempt));
    let outcome = match (ok, next.is_some()) {
        (true, _) => "delivered",
        (false, true) => "retried",
        (false, false) => "failed",
    };
    if !ok {
        span.record("otel.status_code", "ERROR");
    }
    state
        .metrics
        .inc(crate::telemetry::Metric::WebhookDeliveries, &[outcome]);
    record(state, job, ok, next, error).await;
}

async fn record(
    state: &AppState,
    job: &ndf_store::Job,
    delivered: bool,
    next: Option<i64>,
    error: Option<String>,
) {
    if let Err(e) = state
        .jobs
        .webhook_attempted(job.id, now_millis(), delivered, next, error)
        .await
    {
        tracing::warn!(job = %job.id, error = %e.report(), "recording a webhook attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value computed independently with Python's hmac module:
        // hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            signature("key", 1_700_000_000, b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), 600_000);
    }
}
