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

/// `sha256=<hex>` signature of a delivery (what receivers recompute). Empty only if HMAC
/// refused the key, which it never does for HMAC-SHA256; deliveries use [`signed_body`],
/// which fails instead.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    try_signature(secret, timestamp, body).unwrap_or_default()
}

/// `sha256=<hex>` signature of a delivery, or `None` if HMAC refused the key.
fn try_signature(secret: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Why a webhook was not sent: the attempt counts as a failed delivery (recorded, retried
/// with backoff), never as an unsigned, empty or unpinned request.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The job's view could not be serialised.
    #[error("the job view cannot be serialised: {0}")]
    Serialise(#[source] serde_json::Error),
    /// The body could not be signed.
    #[error("the webhook body cannot be signed")]
    Sign,
    /// No client that connects only to the vetted address could be built.
    #[error("no HTTP client pinned to the vetted address: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The JSON body of a delivery and its signature; an error rather than an empty or unsigned
/// body.
pub fn signed_body<T: serde::Serialize>(
    secret: &str,
    timestamp: i64,
    view: &T,
) -> Result<(Vec<u8>, String), DeliveryError> {
    let body = serde_json::to_vec(view).map_err(DeliveryError::Serialise)?;
    let sig = try_signature(secret, timestamp, &body).ok_or(DeliveryError::Sign)?;
    Ok((body, sig))
}

/// The client of one delivery: the shared one when the URL's host is an IP address (checked
/// already, nothing to resolve), else one built by `build` that connects only to the vetted
/// address. If that cannot be built the delivery fails: falling back to the shared client
/// would resolve the name again, past the check (DNS rebinding).
fn delivery_client<E>(
    shared: &reqwest::Client,
    pinned: Option<(String, std::net::SocketAddr)>,
    build: impl FnOnce(&str, std::net::SocketAddr) -> Result<reqwest::Client, E>,
) -> Result<reqwest::Client, DeliveryError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match pinned {
        None => Ok(shared.clone()),
        Some((host, addr)) => build(&host, addr).map_err(|e| DeliveryError::Client(Box::new(e))),
    }
}

/// A client that resolves `host` to `addr` only.
fn pinned_client(host: &str, addr: std::net::SocketAddr) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .resolve(host, addr)
        .build()
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
            failed_before_sending(state, job, e.problem().detail).await;
            return;
        }
    };
    let ts = now_millis() / 1000;
    let prepared = delivery_client(client, pinned, pinned_client).and_then(|client| {
        signed_body(secret, ts, &JobView::of(job)).map(|(body, sig)| (client, body, sig))
    });
    let (client, body, sig) = match prepared {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "webhook not sent");
            failed_before_sending(state, job, e.to_string()).await;
            return;
        }
    };
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

/// An attempt that failed before a request was sent: counted, recorded and retried (with
/// backoff, up to `webhook_max_attempts`) like a delivery the receiver refused.
async fn failed_before_sending(state: &AppState, job: &ndf_store::Job, detail: String) {
    let attempt = job.webhook.attempts + 1;
    let next =
        (attempt < state.config.webhook_max_attempts).then(|| now_millis() + backoff_ms(attempt));
    let outcome = if next.is_some() { "retried" } else { "failed" };
    state
        .metrics
        .inc(crate::telemetry::Metric::WebhookDeliveries, &[outcome]);
    record(state, job, false, next, Some(detail)).await;
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

    /// A value whose serialisation fails.
    struct Unserialisable;

    impl serde::Serialize for Unserialisable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }

    #[test]
    fn a_body_that_cannot_be_serialised_is_an_error_not_an_empty_signed_body() {
        // Regression: the view's serialisation error became an empty body, signed and sent.
        let e = signed_body("key", 1_700_000_000, &Unserialisable).unwrap_err();
        assert!(matches!(e, DeliveryError::Serialise(_)), "{e}");
        let (body, sig) = signed_body("key", 1_700_000_000, &serde_json::json!({})).unwrap();
        assert_eq!(body, b"{}");
        assert_eq!(sig, signature("key", 1_700_000_000, b"{}"));
    }

    #[test]
    fn a_pinned_client_that_cannot_be_built_fails_the_delivery() {
        // Regression: when building the client pinned to the vetted address failed, delivery
        // went out through the shared client, which resolves the name again.
        let shared = reqwest::Client::new();
        let addr: std::net::SocketAddr = "93.184.215.14:443".parse().unwrap();
        let failed = delivery_client(
            &shared,
            Some(("hooks.example.org".to_owned(), addr)),
            |_, _| Err(std::io::Error::other("no TLS backend")),
        );
        assert!(
            matches!(failed, Err(DeliveryError::Client(_))),
            "{failed:?}"
        );
        let mut asked = None;
        let built = delivery_client(
            &shared,
            Some(("hooks.example.org".to_owned(), addr)),
            |h, a| {
                asked = Some((h.to_owned(), a));
                pinned_client(h, a)
            },
        );
        assert!(built.is_ok());
        assert_eq!(asked, Some(("hooks.example.org".to_owned(), addr)));
        // An IP literal (already checked, nothing to resolve) uses the shared client.
        let literal = delivery_client(
            &shared,
            None,
            |_, _| -> Result<reqwest::Client, std::io::Error> {
                panic!("no pinned client for an IP literal")
            },
        );
        assert!(literal.is_ok());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), 600_000);
    }
}
