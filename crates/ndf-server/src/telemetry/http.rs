//! The HTTP server span and request metrics of every request (OpenTelemetry HTTP semantic
//! conventions: span name `METHOD route`, `http.request.method`, `http.route`,
//! `http.response.status_code`, `url.path`, `url.scheme`, `network.protocol.version`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, Version};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::metrics::{Metric, Registry};
use super::trace;

/// Route templates used as the `route` label; anything else is `other`.
pub const ROUTES: &[&str] = &[
    "/v1/extract",
    "/v1/jobs",
    "/v1/jobs/{id}",
    "/v1/jobs/{id}/result",
    "/healthz",
    "/readyz",
    "/metrics",
    "/status",
    "/status.json",
    "/openapi.json",
];

/// The API's operations whose request counters exist from the start, at 0, for every status
/// class that means something to a rate: a series that appears only at its first request is
/// invisible to `rate()` until its second, so a fresh replica's first burst of errors would
/// not show (and a rollout analysis of a new colour could pass on it).
const API_OPERATIONS: &[(&str, &str)] = &[
    ("/v1/extract", "POST"),
    ("/v1/jobs", "POST"),
    ("/v1/jobs", "GET"),
    ("/v1/jobs/{id}", "GET"),
    ("/v1/jobs/{id}", "DELETE"),
    ("/v1/jobs/{id}/result", "GET"),
];

/// Start the API's request counters at 0 (see [`API_OPERATIONS`]).
pub fn init_request_series(metrics: &Registry) {
    for (route, method) in API_OPERATIONS {
        for class in ["2xx", "4xx", "5xx"] {
            metrics.add(Metric::HttpRequests, &[route, method, class], 0.0);
        }
    }
}

/// The request id header, taken from the client when well-formed, else generated.
pub const REQUEST_ID: &str = "x-request-id";

fn route_label(path: Option<&MatchedPath>) -> &'static str {
    path.and_then(|p| ROUTES.iter().find(|r| **r == p.as_str()))
        .copied()
        .unwrap_or("other")
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        _ => "OTHER",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// A client's request id if it is short and plain, so it cannot inject into logs.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// Decrements the in-flight gauge however the request ends (also when its future is dropped).
struct InFlight(Arc<Registry>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.add(Metric::HttpRequestsInFlight, &[], -1.0);
    }
}

/// Middleware: server span, request id, request count, duration and in-flight gauge.
pub async fn observe(State(metrics): State<Arc<Registry>>, req: Request, next: Next) -> Response {
    let route = route_label(req.extensions().get::<MatchedPath>());
    let method = method_label(req.method());
    let id = request_id(&req);
    let span = tracing::info_span!(
        "http",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        url.path = req.uri().path(),
        url.scheme = "http",
        network.protocol.version = protocol_version(req.version()),
        ndf.request.id = id.as_str(),
    );
    trace::set_parent(&span, trace::context_from_headers(req.headers()));
    metrics.add(Metric::HttpRequestsInFlight, &[], 1.0);
    let in_flight = InFlight(metrics.clone());
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    drop(in_flight);
    let status = res.status().as_u16();
    let class = status_class(status);
    span.record("http.response.status_code", u64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    metrics.inc(Metric::HttpRequests, &[route, method, class]);
    if let Some(crate::problem::ErrorCode(code)) = res.extensions().get() {
        metrics.inc(Metric::Errors, &[code]);
    }
    let trace_id = trace::trace_id(&span);
    let elapsed = started.elapsed();
    metrics.observe(
        Metric::HttpRequestDuration,
        &[route, method, class],
        elapsed.as_secs_f64(),
        trace_id.as_deref(),
    );
    // The access log line, in the request's span (trace id, request id).
    span.in_scope(|| {
        tracing::info!(
            method,
            route,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(999), "5xx");
        assert_eq!(method_label(&Method::PATCH), "OTHER");
        assert_eq!(route_label(None), "other");
    }

    #[test]
    fn api_request_counters_exist_before_the_first_request() {
        let r = Registry::new();
        init_request_series(&r);
        let text = r.render(false);
        for (route, method) in API_OPERATIONS {
            assert!(ROUTES.contains(route), "{route} is not a route label");
            for class in ["2xx", "4xx", "5xx"] {
                let line = format!(
                    "ndf_http_requests_total{{route=\"{route}\",method=\"{method}\",status_class=\"{class}\"}} 0\n"
                );
                assert!(text.contains(&line), "missing {line} in\n{text}");
            }
        }
    }
}
