//! `/metrics` (Prometheus), `/status.json` and `/status` (the live status board: one
//! self-contained HTML page, no external assets).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::watch;

use crate::AppState;
use crate::telemetry::metrics::quantile;
use crate::telemetry::{Metric, process};
use crate::util::now_millis;

/// How often the status board samples the counters, and how many samples it keeps.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
const SAMPLES_KEPT: usize = 61;

/// Counters at one instant, for rates over the last minute.
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    documents: f64,
    pages: f64,
    api_requests: f64,
    api_errors: f64,
    /// Cumulative latency buckets of successful `/v1/extract` requests.
    extract_latency: Vec<u64>,
    /// Cumulative buckets of per-document peak RSS.
    peak_rss: Vec<u64>,
}

/// The last minute of samples.
#[derive(Debug, Default)]
pub struct Samples(Mutex<VecDeque<Sample>>);

fn is_api(labels: &[&str]) -> bool {
    labels.first().is_some_and(|r| r.starts_with("/v1/"))
}

fn sample(s: &AppState) -> Sample {
    let m = &s.metrics;
    let (_, extract_latency) = m.histogram(Metric::HttpRequestDuration, |l| {
        l.first() == Some(&"/v1/extract") && l.get(2) == Some(&"2xx")
    });
    let (_, peak_rss) = m.histogram(Metric::DocumentPeakRss, |_| true);
    let (_, api) = m.histogram(Metric::HttpRequestDuration, is_api);
    let (_, api_errors) = m.histogram(Metric::HttpRequestDuration, |l| {
        is_api(l) && l.get(2) == Some(&"5xx")
    });
    Sample {
        at: Instant::now(),
        documents: m.total(Metric::Documents),
        pages: m.total(Metric::Pages),
        api_requests: api.last().copied().unwrap_or(0) as f64,
        api_errors: api_errors.last().copied().unwrap_or(0) as f64,
        extract_latency,
        peak_rss,
    }
}

/// Sample every second until `stop`.
pub(crate) async fn run_sampler(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let s = sample(&state);
        let mut ring = state
            .samples
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if ring.len() >= SAMPLES_KEPT {
            ring.pop_front();
        }
        ring.push_back(s);
    }
}

/// Store-wide job counts, read at most once a second per replica.
async fn job_counts(s: &AppState) -> Option<ndf_store::JobCounts> {
    let now = now_millis();
    let mut cache = s.counts_cache.lock().await;
    if let Some((at, c)) = cache.as_ref()
        && now.saturating_sub(*at) < 1_000
    {
        return Some(c.clone());
    }
    let counts = tokio::time::timeout(Duration::from_secs(2), s.jobs.counts(now))
        .await
        .ok()?
        .ok()?;
    *cache = Some((now, counts.clone()));
    Some(counts)
}

/// Bring the gauges up to date.
async fn refresh(s: &AppState) {
    let m = &s.metrics;
    process::refresh(m, s.started_unix);
    let pool = s.pool.status();
    m.set(Metric::Workers, &["busy"], pool.busy as f64);
    m.set(
        Metric::Workers,
        &["idle"],
        pool.workers.saturating_sub(pool.busy) as f64,
    );
    m.set(Metric::WorkerQueue, &[], pool.waiting as f64);
    m.set(Metric::WorkerRestarts, &["lost"], pool.workers_lost as f64);
    m.set(Metric::WorkerRestarts, &["killed"], pool.killed as f64);
    m.set(Metric::WorkerRestarts, &["recycled"], pool.recycled as f64);
    let workers_rss: u64 = s
        .pool
        .worker_pids()
        .into_iter()
        .filter_map(process::rss_bytes)
        .sum();
    m.set(Metric::WorkersResidentMemory, &[], workers_rss as f64);
    let limit = match s.config.memory_limit_bytes {
        0 => process::cgroup_memory_limit(),
        n => Some(n),
    };
    match limit {
        Some(l) => m.set(Metric::MemoryLimit, &[], l as f64),
        None => m.clear(Metric::MemoryLimit, &[]),
    }
    let leases = s.running.lock().map(|r| r.len()).unwrap_or(0);
    m.set(Metric::JobLeases, &[], leases as f64);
    if let Some(c) = job_counts(s).await {
        for (state, n) in [
            ("queued", c.queued),
            ("running", c.running),
            ("succeeded", c.succeeded),
            ("failed", c.failed),
            ("cancelled", c.cancelled),
        ] {
            m.set(Metric::Jobs, &[state], n as f64);
        }
        let age = c.oldest_queued_at.map_or(0.0, |t| {
            now_millis().saturating_sub(t).max(0) as f64 / 1000.0
        });
        m.set(Metric::JobsOldestQueuedAge, &[], age);
    }
}

/// Prometheus metrics: the text format 0.0.4, or OpenMetrics 1.0 with exemplars (trace ids)
/// when the scraper accepts `application/openmetrics-text`. Catalogue in docs/observability.md.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Metrics", content_type = "text/plain; version=0.0.4")),
    tag = "ops"
)]
pub async fn metrics(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    refresh(&s).await;
    let open_metrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let body = s.metrics.render(open_metrics);
    let content_type = if open_metrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// What the status board shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Build version.
    pub version: &'static str,
    /// Seconds since this replica started.
    pub uptime_seconds: f64,
    /// Seconds the rates below cover (up to 60).
    pub window_seconds: f64,
    /// Documents finished per minute over the window.
    pub documents_per_minute: f64,
    /// Pages finished per minute over the window.
    pub pages_per_minute: f64,
    /// API requests per second over the window.
    pub requests_per_second: f64,
    /// Fraction of API requests answered 5xx over the window (0 without requests).
    pub error_rate: f64,
    /// P50 latency of successful `/v1/extract` over the window, ms (null without requests).
    pub extract_p50_ms: Option<f64>,
    /// P99 latency of successful `/v1/extract` over the window, ms.
    pub extract_p99_ms: Option<f64>,
    /// Jobs queued (store-wide).
    pub queued: Option<u64>,
    /// Jobs running (store-wide).
    pub running: Option<u64>,
    /// Age of the oldest queued job, seconds.
    pub oldest_queued_age_seconds: Option<f64>,
    /// Jobs failed (store-wide, retained).
    pub failed: Option<u64>,
    /// Busy worker processes of this replica.
    pub workers_busy: usize,
    /// Worker processes of this replica.
    pub workers: usize,
    /// Extractions waiting for a worker.
    pub waiting: usize,
    /// Resident memory of this process.
    pub rss_bytes: Option<u64>,
    /// Resident memory of the worker processes.
    pub workers_rss_bytes: u64,
    /// Median peak RSS of a worker per document over the window.
    pub document_peak_rss_p50_bytes: Option<f64>,
    /// P99 of the same.
    pub document_peak_rss_p99_bytes: Option<f64>,
    /// Documents extracted since start: ok, partial, failed.
    pub documents_ok: u64,
    /// Documents with some failed pages.
    pub documents_partial: u64,
    /// Documents that failed.
    pub documents_failed: u64,
}

fn delta(new: &[u64], old: &[u64]) -> Vec<u64> {
    new.iter()
        .zip(old.iter().chain(std::iter::repeat(&0)))
        .map(|(n, o)| n.saturating_sub(*o))
        .collect()
}

async fn build_summary(s: &AppState) -> Summary {
    refresh(s).await;
    let m = &s.metrics;
    let now = sample(s);
    // The oldest sample in the window, or an empty one at start-up.
    let then = {
        let ring = s.samples.0.lock().unwrap_or_else(PoisonError::into_inner);
        ring.front().cloned()
    };
    let uptime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        - s.started_unix;
    let (window, then) = match then {
        Some(t) => (now.at.duration_since(t.at).as_secs_f64(), t),
        None => (
            uptime,
            Sample {
                at: now.at,
                documents: 0.0,
                pages: 0.0,
                api_requests: 0.0,
                api_errors: 0.0,
                extract_latency: Vec::new(),
                peak_rss: Vec::new(),
            },
        ),
    };
    let per = |x: f64, unit: f64| if window > 0.0 { x / window * unit } else { 0.0 };
    let requests = now.api_requests - then.api_requests;
    let errors = now.api_errors - then.api_errors;
    let latency = delta(&now.extract_latency, &then.extract_latency);
    let bounds = Metric::HttpRequestDuration.buckets();
    let rss = delta(&now.peak_rss, &then.peak_rss);
    let rss_bounds = Metric::DocumentPeakRss.buckets();
    let counts = job_counts(s).await;
    let pool = s.pool.status();
    let value = |metric, labels: &[&'static str]| m.value(metric, labels).unwrap_or(0.0) as u64;
    Summary {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: uptime,
        window_seconds: window,
        documents_per_minute: per(now.documents - then.documents, 60.0),
        pages_per_minute: per(now.pages - then.pages, 60.0),
        requests_per_second: per(requests, 1.0),
        error_rate: if requests > 0.0 {
            errors / requests
        } else {
            0.0
        },
        extract_p50_ms: quantile(0.5, bounds, &latency).map(|v| v * 1000.0),
        extract_p99_ms: quantile(0.99, bounds, &latency).map(|v| v * 1000.0),
        queued: counts.as_ref().map(|c| c.queued),
        running: counts.as_ref().map(|c| c.running),
        oldest_queued_age_seconds: m.value(Metric::JobsOldestQueuedAge, &[]),
        failed: counts.as_ref().map(|c| c.failed),
        workers_busy: pool.busy,
        workers: pool.workers,
        waiting: pool.waiting,
        rss_bytes: m
            .value(Metric::ProcessResidentMemory, &[])
            .map(|v| v as u64),
        workers_rss_bytes: value(Metric::WorkersResidentMemory, &[]),
        document_peak_rss_p50_bytes: quantile(0.5, rss_bounds, &rss),
        document_peak_rss_p99_bytes: quantile(0.99, rss_bounds, &rss),
        documents_ok: value(Metric::Documents, &["ok"]),
        documents_partial: value(Metric::Documents, &["partial"]),
        documents_failed: value(Metric::Documents, &["failed"]),
    }
}

/// The figures of the status board: throughput, latency, errors and memory per document over
/// the last minute of this replica, and the store-wide queue.
#[utoipa::path(
    get,
    path = "/status.json",
    responses((status = 200, description = "Live figures", body = Summary)),
    tag = "ops"
)]
pub async fn summary(State(s): State<Arc<AppState>>) -> Response {
    axum::Json(build_summary(&s).await).into_response()
}

/// The status board: one self-contained HTML page (no external assets) showing the figures of
/// `/status.json`, refreshed every two seconds by its inline script.
#[utoipa::path(
    get,
    path = "/status",
    responses((status = 200, description = "HTML page", content_type = "text/html")),
    tag = "ops"
)]
pub async fn page(State(s): State<Arc<AppState>>) -> Response {
    let summary = build_summary(&s).await;
    let json = serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into());
    // The JSON is embedded in a <script>: `<` escaped so no value can close the element.
    let json = json.replace('<', "\\u003c");
    let html = STATUS_HTML.replace("/*SUMMARY*/null", &json);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

const STATUS_HTML: &str = include_str!("status.html");
