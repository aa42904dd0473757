//! Traces, metrics and logs of a replica.
//!
//! - [`init`] installs the `tracing` subscriber: the log layer (JSON lines on stdout, or a
//!   human format on a TTY) and the OpenTelemetry layer, exporting over OTLP/HTTP (protobuf)
//!   when the standard `OTEL_EXPORTER_OTLP_*` variables ask for it. The returned
//!   [`TelemetryGuard`] flushes the last batch of spans at exit.
//! - [`metrics`]: the metric catalogue and registry behind `/metrics`.
//! - [`trace`]: W3C trace-context propagation (requests, stored jobs, webhooks) and the spans
//!   of work measured inside extraction worker processes.
//! - [`observe`]: one place that turns a pool extraction's events into spans and metrics.

pub mod http;
mod logs;
pub mod metrics;
pub mod observe;
pub mod process;
pub mod trace;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{FilterExt as _, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use metrics::{Metric, Registry};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// `NDF_LOG_FORMAT` (`json` or `text`) if set, else human-readable on a terminal and JSON
    /// otherwise.
    pub fn from_env() -> Self {
        match std::env::var("NDF_LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            Ok("text") => LogFormat::Text,
            _ if std::io::IsTerminal::is_terminal(&std::io::stdout()) => LogFormat::Text,
            _ => LogFormat::Json,
        }
    }
}

/// Keeps the trace pipeline alive; [`TelemetryGuard::shutdown`] (or drop) flushes it.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    /// Where spans go, for the start-up log line: `None` when nothing is exported (no
    /// endpoint, or the exporter could not be built).
    pub exporting_to: Option<String>,
    /// Why spans are not exported although an endpoint was configured.
    pub export_error: Option<String>,
}

impl TelemetryGuard {
    /// Export the spans still buffered and stop the exporter.
    pub fn shutdown(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "flushing the last spans failed");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Where OTLP spans should go per the standard environment, or `None` to export nothing.
fn otlp_endpoint() -> Option<String> {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    if disabled {
        return None;
    }
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

/// Install logging and tracing for this process. `component` (`serve`, `worker`) becomes the
/// `ndf.component` resource attribute. Level from `NDF_LOG`, else `RUST_LOG`, else `info`.
pub fn init(component: &'static str) -> TelemetryGuard {
    let filter = std::env::var("NDF_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let endpoint = otlp_endpoint();
    let mut resource = opentelemetry_sdk::Resource::builder();
    // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win when set (read by the builder).
    let named_by_env = std::env::var_os("OTEL_SERVICE_NAME").is_some()
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    if !named_by_env {
        resource = resource.with_service_name("ndf");
    }
    let resource = resource
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("ndf.component", component),
        ])
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let mut export_error = None;
    let mut exporting_to = None;
    if let Some(endpoint) = endpoint {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => {
                builder = builder.with_batch_exporter(exporter);
                exporting_to = Some(endpoint);
            }
            Err(e) => export_error = Some(crate::error_chain(&e)),
        }
    }
    // Without an exporter spans still get ids: logs, webhooks and stored jobs carry them.
    let provider = builder.build();
    let tracer = provider.tracer("ndf");
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    // The service's own spans exist whatever the log level: traces and the ids in log lines
    // must not depend on NDF_LOG. Events reach only the log layer, filtered by NDF_LOG.
    let service_spans = || {
        filter_fn(|m| {
            m.is_span() && m.target().starts_with("ndf") && *m.level() <= tracing::Level::INFO
        })
    };
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_filter(service_spans());
    let log_filter = EnvFilter::new(filter).or(service_spans());
    let registry = tracing_subscriber::registry()
        .with(otel)
        .with(logs::SpanFieldsLayer.with_filter(service_spans()));
    let installed = match LogFormat::from_env() {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(logs::JsonFormat)
                    .with_writer(std::io::stdout)
                    .with_filter(log_filter),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stdout)
                    .with_ansi(true)
                    .with_filter(log_filter),
            )
            .try_init(),
    };
    if installed.is_err() {
        // Already installed (tests calling twice): keep the first.
        return TelemetryGuard {
            provider: None,
            exporting_to: None,
            export_error: None,
        };
    }
    TelemetryGuard {
        exporting_to,
        export_error,
        provider: Some(provider),
    }
}
