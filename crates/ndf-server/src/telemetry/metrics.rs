//! Prometheus metrics: every name, type, help text and label schema is defined once, in
//! [`Metric`]. Label values are `&'static str`, so no request can mint a new series: the
//! cardinality of every family is fixed by the code (no job or document ids as labels).
//!
//! Rendered as the Prometheus text format 0.0.4, or as OpenMetrics 1.0 with exemplars (the
//! trace id of an observation) when the scraper asks for it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// Histogram buckets for durations: 1 ms to 30 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Histogram buckets for memory: 4 MiB to 1 GiB.
pub const MEMORY_BUCKETS: &[f64] = &[
    4_194_304.0,
    8_388_608.0,
    16_777_216.0,
    33_554_432.0,
    // 48 MiB: just under the 50 MB per-document budget the service is held to (issue 6), so
    // the histogram alone shows whether every document stayed within it.
    50_331_648.0,
    67_108_864.0,
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
    1_073_741_824.0,
];

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic; rendered with the `_total` suffix.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Cumulative buckets, sum and count.
    Histogram,
}

macro_rules! metrics {
    ($($variant:ident => ($name:literal, $kind:ident, [$($label:literal),*], $buckets:expr, $help:literal),)*) => {
        /// Every metric the service exports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Metric {
            $(
                #[doc = $help]
                $variant,
            )*
        }

        impl Metric {
            /// Every metric, in rendering order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// Family name (counters without their `_total` suffix).
            pub const fn name(self) -> &'static str {
                match self { $(Metric::$variant => $name,)* }
            }

            /// Its type.
            pub const fn kind(self) -> Kind {
                match self { $(Metric::$variant => Kind::$kind,)* }
            }

            /// Label names, in the order values are given.
            pub const fn labels(self) -> &'static [&'static str] {
                match self { $(Metric::$variant => &[$($label),*],)* }
            }

            /// Help text.
            pub const fn help(self) -> &'static str {
                match self { $(Metric::$variant => $help,)* }
            }

            /// Bucket upper bounds of a histogram (empty otherwise).
            pub const fn buckets(self) -> &'static [f64] {
                match self { $(Metric::$variant => $buckets,)* }
            }
        }
    };
}

const NONE: &[f64] = &[];

metrics! {
    HttpRequests => ("ndf_http_requests", Counter, ["route", "method", "status_class"], NONE,
        "HTTP requests answered, by route template, method and status class."),
    HttpRequestDuration => ("ndf_http_request_duration_seconds", Histogram, ["route", "method", "status_class"], DURATION_BUCKETS,
        "Time from request to the end of the response headers (streamed bodies excluded), by route, method and status class."),
    HttpRequestsInFlight => ("ndf_http_requests_in_flight", Gauge, [], NONE,
        "HTTP requests being handled now."),
    HttpConnections => ("ndf_http_connections", Gauge, [], NONE,
        "Open connections of the API listener."),
    HttpConnectionsRefused => ("ndf_http_connections_refused", Counter, [], NONE,
        "Connections of the API listener closed at once because max_connections were open."),
    HttpTimeouts => ("ndf_http_timeouts", Counter, ["phase"], NONE,
        "Connections or requests of the API listener cut by a timeout, by phase: header (TLS handshake or request headers), body (request body, answered 408), idle (no request in flight), write (the client stopped reading)."),
    TlsHandshakeFailures => ("ndf_tls_handshake_failures", Counter, ["reason"], NONE,
        "TLS handshakes of the API listener that failed, by reason: not_tls, incompatible (old version, no common cipher), malformed, client_certificate, alert_received, closed, timeout, other."),
    JobsCreated => ("ndf_jobs_created", Counter, [], NONE,
        "Jobs created by this replica (idempotent replays excluded)."),
    JobsFinished => ("ndf_jobs_finished", Counter, ["outcome"], NONE,
        "Jobs this replica finished, by outcome (succeeded, failed, cancelled)."),
    JobRetries => ("ndf_job_retries", Counter, [], NONE,
        "Job attempts on this replica that ended with the job back in the queue (worker lost, shutdown hand-back)."),
    Documents => ("ndf_documents", Counter, ["outcome"], NONE,
        "Documents extracted, by outcome (ok, partial: some pages failed, failed)."),
    Pages => ("ndf_pages", Counter, ["outcome"], NONE,
        "Pages extracted, by outcome (ok, failed)."),
    InputBytes => ("ndf_input_bytes", Counter, [], NONE,
        "Bytes of PDF input handed to extraction workers."),
    Errors => ("ndf_errors", Counter, ["code"], NONE,
        "Errors by stable code: API errors answered and per-page engine errors."),
    WorkerRestarts => ("ndf_worker_restarts", Counter, ["reason"], NONE,
        "Extraction worker processes replaced, by reason (lost: crashed or broke the protocol; killed: deadline, cancellation or shutdown; recycled)."),
    WebhookDeliveries => ("ndf_webhook_deliveries", Counter, ["outcome"], NONE,
        "Webhook delivery attempts, by outcome (delivered, retried, failed: gave up)."),
    DocumentDuration => ("ndf_document_duration_seconds", Histogram, [], DURATION_BUCKETS,
        "Time to extract one document, from submission to a worker to its last page."),
    StageDuration => ("ndf_stage_duration_seconds", Histogram, ["stage"], DURATION_BUCKETS,
        "Time per extraction stage as measured in the worker: open (per document); fonts, interpret, layout, render (per page)."),
    JobDuration => ("ndf_job_duration_seconds", Histogram, [], DURATION_BUCKETS,
        "Time one job attempt ran on this replica, from lease to outcome."),
    JobClaims => ("ndf_job_claims", Counter, [], NONE,
        "Job leases this replica acquired (one per attempt; a handed-back job leased again counts again); flat while the replica is drained."),
    Draining => ("ndf_draining", Gauge, [], NONE,
        "1 while this replica is drained (drain_file or SIGUSR1): it claims no new jobs and finishes those it holds; 0 otherwise."),
    JobQueueWait => ("ndf_job_queue_wait_seconds", Histogram, [], DURATION_BUCKETS,
        "Time jobs waited in the queue before this replica leased them."),
    DocumentPeakRss => ("ndf_document_peak_rss_bytes", Histogram, [], MEMORY_BUCKETS,
        "Peak resident memory of the worker process while it extracted one document."),
    ResultCacheHits => ("ndf_result_cache_hits", Counter, [], NONE,
        "Extractions answered from this replica's result cache (synchronous requests and jobs)."),
    ResultCacheMisses => ("ndf_result_cache_misses", Counter, [], NONE,
        "Cache lookups that found nothing, so the document was extracted (every request while the cache is off); password requests bypass the cache and are not counted."),
    ResultCacheEvictions => ("ndf_result_cache_evictions", Counter, [], NONE,
        "Result cache entries evicted (least recently used first) to stay within result_cache_bytes."),
    ResultCacheBytes => ("ndf_result_cache_bytes", Gauge, [], NONE,
        "Bytes of results held by this replica's result cache (never above ndf_result_cache_limit_bytes)."),
    ResultCacheEntries => ("ndf_result_cache_entries", Gauge, [], NONE,
        "Results held by this replica's result cache."),
    ResultCacheLimit => ("ndf_result_cache_limit_bytes", Gauge, [], NONE,
        "The result cache's budget (result_cache_bytes; 0 = off)."),
    Jobs => ("ndf_jobs", Gauge, ["state"], NONE,
        "Jobs in the shared store by state; every replica reports the same cluster-wide values (aggregate with max)."),
    JobsOldestQueuedAge => ("ndf_jobs_oldest_queued_age_seconds", Gauge, [], NONE,
        "Age of the oldest queued job in the shared store (0 when none); cluster-wide."),
    JobLeases => ("ndf_job_leases", Gauge, [], NONE,
        "Jobs leased by this replica now."),
    Workers => ("ndf_workers", Gauge, ["state"], NONE,
        "Extraction worker processes of this replica, by state (busy, idle)."),
    WorkerQueue => ("ndf_worker_queue", Gauge, [], NONE,
        "Extractions waiting for a free worker process."),
    WorkersResidentMemory => ("ndf_workers_resident_memory_bytes", Gauge, [], NONE,
        "Resident memory of this replica's extraction worker processes, summed."),
    MemoryLimit => ("ndf_memory_limit_bytes", Gauge, [], NONE,
        "Memory limit of this replica (configured, else its cgroup's); absent when unknown."),
    BuildInfo => ("ndf_build_info", Gauge, ["version"], NONE,
        "Always 1; the version of the running build."),
    ProcessCpu => ("process_cpu_seconds", Counter, [], NONE,
        "User and system CPU time of this process (worker processes excluded)."),
    ProcessResidentMemory => ("process_resident_memory_bytes", Gauge, [], NONE,
        "Resident memory of this process."),
    ProcessVirtualMemory => ("process_virtual_memory_bytes", Gauge, [], NONE,
        "Virtual memory of this process."),
    ProcessOpenFds => ("process_open_fds", Gauge, [], NONE,
        "Open file descriptors of this process."),
    ProcessMaxFds => ("process_max_fds", Gauge, [], NONE,
        "Soft limit on open file descriptors."),
    ProcessStartTime => ("process_start_time_seconds", Gauge, [], NONE,
        "Start time of this process, seconds since the Unix epoch."),
}

/// Up to three label values; unused slots are empty.
type LabelValues = [&'static str; 3];

/// An observation's link to a trace.
#[derive(Debug, Clone)]
struct Exemplar {
    trace_id: String,
    value: f64,
    unix_seconds: f64,
}

#[derive(Debug, Clone)]
enum Series {
    Scalar(f64),
    Histogram {
        /// Per bucket (not cumulative), plus one for +Inf.
        counts: Vec<u64>,
        sum: f64,
        count: u64,
        exemplars: Vec<Option<Exemplar>>,
    },
}

/// The live values of one process.
#[derive(Debug, Default)]
pub struct Registry {
    series: Mutex<BTreeMap<(Metric, LabelValues), Series>>,
}

fn label_values(metric: Metric, values: &[&'static str]) -> LabelValues {
    debug_assert_eq!(values.len(), metric.labels().len(), "{}", metric.name());
    let mut out = [""; 3];
    for (slot, v) in out.iter_mut().zip(values) {
        *slot = v;
    }
    out
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<(Metric, LabelValues), Series>) -> R) -> R {
        let mut map = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut map)
    }

    /// Create the series whose label values are known up front at zero, so rates and alerts
    /// see them from the first scrape rather than from the first event.
    pub fn declare_known_series(&self, error_codes: &[&'static str]) {
        let zero = |m: Metric, labels: &[&'static str]| self.add(m, labels, 0.0);
        zero(Metric::HttpRequestsInFlight, &[]);
        zero(Metric::HttpConnections, &[]);
        zero(Metric::HttpConnectionsRefused, &[]);
        for phase in crate::transport::TIMEOUT_PHASES {
            zero(Metric::HttpTimeouts, &[phase]);
        }
        for reason in crate::tls::FAILURE_REASONS {
            zero(Metric::TlsHandshakeFailures, &[reason]);
        }
        zero(Metric::JobsCreated, &[]);
        zero(Metric::JobRetries, &[]);
        zero(Metric::JobClaims, &[]);
        zero(Metric::Draining, &[]);
        zero(Metric::InputBytes, &[]);
        for o in ["succeeded", "failed", "cancelled"] {
            zero(Metric::JobsFinished, &[o]);
        }
        for o in ["ok", "partial", "failed"] {
            zero(Metric::Documents, &[o]);
        }
        for o in ["ok", "failed"] {
            zero(Metric::Pages, &[o]);
        }
        for o in ["delivered", "retried", "failed"] {
            zero(Metric::WebhookDeliveries, &[o]);
        }
        for c in error_codes {
            zero(Metric::Errors, &[c]);
        }
        let empty_histogram = |m: Metric, labels: &[&'static str]| {
            let key = (m, label_values(m, labels));
            let n = m.buckets().len() + 1;
            self.with(|map| {
                map.entry(key).or_insert_with(|| Series::Histogram {
                    counts: vec![0; n],
                    sum: 0.0,
                    count: 0,
                    exemplars: vec![None; n],
                });
            });
        };
        for stage in ["open", "fonts", "interpret", "layout", "render"] {
            empty_histogram(Metric::StageDuration, &[stage]);
        }
        for m in [
            Metric::DocumentDuration,
            Metric::JobDuration,
            Metric::JobQueueWait,
            Metric::DocumentPeakRss,
        ] {
            empty_histogram(m, &[]);
        }
    }

    /// Add to a counter (or a gauge).
    pub fn add(&self, metric: Metric, labels: &[&'static str], by: f64) {
        let key = (metric, label_values(metric, labels));
        self.with(|m| {
            if let Series::Scalar(v) = m.entry(key).or_insert(Series::Scalar(0.0)) {
                *v += by;
            }
        });
    }

    /// Add one to a counter.
    pub fn inc(&self, metric: Metric, labels: &[&'static str]) {
        self.add(metric, labels, 1.0);
    }

    /// Set a gauge.
    pub fn set(&self, metric: Metric, labels: &[&'static str], value: f64) {
        let key = (metric, label_values(metric, labels));
        self.with(|m| {
            m.insert(key, Series::Scalar(value));
        });
    }

    /// Remove a series (a gauge whose value became unknown).
    pub fn clear(&self, metric: Metric, labels: &[&'static str]) {
        let key = (metric, label_values(metric, labels));
        self.with(|m| {
            m.remove(&key);
        });
    }

    /// Record an observation of a histogram, with the trace id of the work it measured.
    pub fn observe(
        &self,
        metric: Metric,
        labels: &[&'static str],
        value: f64,
        trace_id: Option<&str>,
    ) {
        let buckets = metric.buckets();
        let key = (metric, label_values(metric, labels));
        let at = buckets
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(buckets.len());
        let exemplar = trace_id.map(|t| Exemplar {
            trace_id: t.to_owned(),
            value,
            unix_seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        });
        self.with(|m| {
            let series = m.entry(key).or_insert_with(|| Series::Histogram {
                counts: vec![0; buckets.len() + 1],
                sum: 0.0,
                count: 0,
                exemplars: vec![None; buckets.len() + 1],
            });
            if let Series::Histogram {
                counts,
                sum,
                count,
                exemplars,
            } = series
            {
                if let Some(c) = counts.get_mut(at) {
                    *c += 1;
                }
                *sum += value;
                *count += 1;
                if let (Some(slot), Some(e)) = (exemplars.get_mut(at), exemplar) {
                    *slot = Some(e);
                }
            }
        });
    }

    /// The value of a counter or gauge series (tests, the status page).
    pub fn value(&self, metric: Metric, labels: &[&'static str]) -> Option<f64> {
        let key = (metric, label_values(metric, labels));
        self.with(|m| match m.get(&key) {
            Some(Series::Scalar(v)) => Some(*v),
            _ => None,
        })
    }

    /// Sum of a counter over all its label values.
    pub fn total(&self, metric: Metric) -> f64 {
        self.with(|m| {
            m.range((metric, ["", "", ""])..)
                .take_while(|((mm, _), _)| *mm == metric)
                .map(|(_, s)| match s {
                    Series::Scalar(v) => *v,
                    Series::Histogram { count, .. } => *count as f64,
                })
                .sum()
        })
    }

    /// Cumulative bucket counts of a histogram summed over the series whose labels `keep`
    /// accepts: `(upper bounds, cumulative counts with +Inf last)`.
    pub fn histogram(
        &self,
        metric: Metric,
        keep: impl Fn(&[&'static str]) -> bool,
    ) -> (Vec<f64>, Vec<u64>) {
        let buckets = metric.buckets();
        let mut total = vec![0u64; buckets.len() + 1];
        self.with(|m| {
            for ((mm, labels), s) in m.range((metric, ["", "", ""])..) {
                if *mm != metric {
                    break;
                }
                if !keep(&labels[..metric.labels().len()]) {
                    continue;
                }
                if let Series::Histogram { counts, .. } = s {
                    for (t, c) in total.iter_mut().zip(counts) {
                        *t += c;
                    }
                }
            }
        });
        let mut acc = 0;
        for t in &mut total {
            acc += *t;
            *t = acc;
        }
        (buckets.to_vec(), total)
    }

    /// Render every series. `open_metrics` selects OpenMetrics 1.0 (with exemplars and the
    /// closing `# EOF`) instead of the Prometheus text format 0.0.4.
    pub fn render(&self, open_metrics: bool) -> String {
        let snapshot = self.with(|m| m.clone());
        let mut out = String::with_capacity(16 << 10);
        for &metric in Metric::ALL {
            let series: Vec<_> = snapshot
                .range((metric, ["", "", ""])..)
                .take_while(|((m, _), _)| *m == metric)
                .collect();
            if series.is_empty() {
                continue;
            }
            let family = match (metric.kind(), open_metrics) {
                (Kind::Counter, false) => format!("{}_total", metric.name()),
                _ => metric.name().to_owned(),
            };
            let kind = match metric.kind() {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {family} {}", metric.help());
            let _ = writeln!(out, "# TYPE {family} {kind}");
            for ((_, values), s) in series {
                let names = metric.labels();
                let labels = render_labels(names, values, None);
                match s {
                    Series::Scalar(v) => {
                        let suffix = if metric.kind() == Kind::Counter {
                            "_total"
                        } else {
                            ""
                        };
                        let _ = writeln!(out, "{}{suffix}{labels} {}", metric.name(), num(*v));
                    }
                    Series::Histogram {
                        counts,
                        sum,
                        count,
                        exemplars,
                    } => {
                        let mut cumulative = 0u64;
                        let bounds = metric.buckets().iter().map(|b| num(*b));
                        let bounds = bounds.chain(std::iter::once("+Inf".to_owned()));
                        for ((le, c), e) in bounds.zip(counts).zip(exemplars) {
                            cumulative += c;
                            let labels = render_labels(names, values, Some(&le));
                            let _ = write!(out, "{}_bucket{labels} {cumulative}", metric.name());
                            if let (true, Some(e)) = (open_metrics, e) {
                                let _ = write!(
                                    out,
                                    " # {{trace_id=\"{}\"}} {} {:.3}",
                                    e.trace_id,
                                    num(e.value),
                                    e.unix_seconds
                                );
                            }
                            out.push('\n');
                        }
                        let _ = writeln!(out, "{}_sum{labels} {}", metric.name(), num(*sum));
                        let _ = writeln!(out, "{}_count{labels} {count}", metric.name());
                    }
                }
            }
        }
        if open_metrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

fn render_labels(names: &[&str], values: &LabelValues, le: Option<&str>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Numbers as Prometheus writes them: integers without a fraction.
fn num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// Rank-based quantile from cumulative bucket counts, interpolated linearly within the bucket
/// (as PromQL's `histogram_quantile`). `None` without observations.
pub fn quantile(q: f64, bounds: &[f64], cumulative: &[u64]) -> Option<f64> {
    let total = *cumulative.last()?;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower_bound = 0.0;
    let mut lower_count = 0u64;
    for (i, &c) in cumulative.iter().enumerate() {
        let upper = match bounds.get(i) {
            Some(&b) => b,
            // Past the last finite bucket: the best known bound.
            None => return bounds.last().copied(),
        };
        if c as f64 >= rank {
            let in_bucket = (c - lower_count) as f64;
            if in_bucket <= 0.0 {
                return Some(upper);
            }
            return Some(
                lower_bound + (upper - lower_bound) * (rank - lower_count as f64) / in_bucket,
            );
        }
        lower_bound = upper;
        lower_count = c;
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case_with_units() {
        let mut seen = std::collections::HashSet::new();
        for m in Metric::ALL {
            assert!(seen.insert(m.name()), "duplicate {}", m.name());
            assert!(
                m.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                m.name()
            );
            assert!(!m.name().ends_with("_total"), "{}", m.name());
            assert!(m.labels().len() <= 3);
            assert_eq!(m.kind() == Kind::Histogram, !m.buckets().is_empty());
            assert!(m.buckets().windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn every_metric_is_in_the_catalogue_of_the_docs() {
        let docs = include_str!("../../../../docs/observability.md");
        for m in Metric::ALL {
            let name = match m.kind() {
                Kind::Counter => format!("`{}_total`", m.name()),
                _ => format!("`{}`", m.name()),
            };
            assert!(docs.contains(&name), "docs/observability.md lacks {name}");
        }
    }

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let r = Registry::new();
        r.inc(Metric::HttpRequests, &["/v1/extract", "POST", "2xx"]);
        r.inc(Metric::HttpRequests, &["/v1/extract", "POST", "2xx"]);
        r.set(Metric::Jobs, &["queued"], 3.0);
        r.observe(
            Metric::DocumentDuration,
            &[],
            0.004,
            Some("0af7651916cd43dd8448eb211c80319c"),
        );
        r.observe(Metric::DocumentDuration, &[], 42.0, None);
        let text = r.render(false);
        assert!(
            text.contains("# TYPE ndf_http_requests_total counter\n"),
            "{text}"
        );
        assert!(text.contains(
            "ndf_http_requests_total{route=\"/v1/extract\",method=\"POST\",status_class=\"2xx\"} 2\n"
        ));
        assert!(text.contains("ndf_jobs{state=\"queued\"} 3\n"));
        assert!(text.contains("ndf_document_duration_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("ndf_document_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("ndf_document_duration_seconds_bucket{le=\"30\"} 1\n"));
        assert!(text.contains("ndf_document_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("ndf_document_duration_seconds_count 2\n"));
        assert!(
            !text.contains("trace_id"),
            "no exemplars in the text format"
        );
        assert!(!text.contains("# EOF"));

        let om = r.render(true);
        assert!(om.contains("# TYPE ndf_http_requests counter\n"), "{om}");
        assert!(om.contains("ndf_http_requests_total{"));
        assert!(om.contains(
            "ndf_document_duration_seconds_bucket{le=\"0.005\"} 1 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\"} 0.004 "
        ));
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn quantiles_interpolate_like_promql() {
        let bounds = [0.1, 0.2, 0.4];
        // 10 in (0, 0.1], 10 in (0.1, 0.2], none above.
        let cumulative = [10, 20, 20, 20];
        assert_eq!(quantile(0.5, &bounds, &cumulative), Some(0.1));
        let p75 = quantile(0.75, &bounds, &cumulative).unwrap();
        assert!((p75 - 0.15).abs() < 1e-9, "{p75}");
        assert_eq!(quantile(0.5, &bounds, &[0, 0, 0, 0]), None);
        // Observations beyond the last bound: the last bound.
        assert_eq!(quantile(0.99, &bounds, &[0, 0, 0, 5]), Some(0.4));
    }

    #[test]
    fn totals_and_cumulative_histograms_by_label() {
        let r = Registry::new();
        r.inc(Metric::Documents, &["ok"]);
        r.add(Metric::Documents, &["failed"], 2.0);
        assert_eq!(r.total(Metric::Documents), 3.0);
        r.observe(Metric::StageDuration, &["open"], 0.002, None);
        r.observe(Metric::StageDuration, &["layout"], 0.2, None);
        let (_, all) = r.histogram(Metric::StageDuration, |_| true);
        assert_eq!(all.last(), Some(&2));
        let (_, open) = r.histogram(Metric::StageDuration, |l| l == ["open"]);
        assert_eq!(open.last(), Some(&1));
        assert_eq!(open.first(), Some(&0));
        assert_eq!(open.get(1), Some(&1));
    }
}
