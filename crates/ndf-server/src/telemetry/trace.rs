//! W3C trace context in and out, and spans for work measured in worker processes.
//!
//! Extraction runs in separate worker processes that export nothing themselves: they report
//! wall-clock stage timings over the pool protocol, and this replica turns them into spans
//! with those exact start and end times under the document span. So one trace holds the
//! request, the job, the document, its pages and their stages however many processes ran them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ndf_pool::{PageStages, Timing};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct Single<'a>(Option<&'a str>);

impl Extractor for Single<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key == "traceparent" { self.0 } else { None }
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The remote parent in a request's `traceparent`/`tracestate` headers (empty if none or bad).
pub fn context_from_headers(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// The remote parent in a stored `traceparent` string.
pub fn context_from_traceparent(traceparent: Option<&str>) -> Context {
    TraceContextPropagator::new().extract(&Single(traceparent))
}

/// The `traceparent` of a span, if it has a valid context.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut headers = HeaderMap::new();
    inject(span, &mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Add `traceparent` (and `tracestate`) of `span` to outgoing headers.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
    }
}

/// Hex trace id of a span (for exemplars and diagnostics), if valid and sampled.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let s = cx.span();
    let sc = s.span_context();
    (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id().to_string())
}

/// Attach a remote parent to a span not yet entered.
pub fn set_parent(span: &tracing::Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only once the span was entered; callers set the parent first.
        let _ = span.set_parent(parent);
    }
}

fn at(unix_nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nanos)
}

/// A finished span under `parent` with the times a worker process measured.
fn child_span(
    parent: &Context,
    name: &'static str,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<KeyValue>,
    error: Option<&'static str>,
) -> Context {
    let tracer = opentelemetry::global::tracer("ndf");
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_start_time(start)
        .with_attributes(attributes)
        .start_with_context(&tracer, parent);
    if let Some(code) = error {
        span.set_attribute(KeyValue::new("error.type", code));
        span.set_status(Status::error(code));
    }
    let cx = parent.with_span(span);
    cx.span().end_with_timestamp(end);
    cx
}

/// The `open` stage of a document (header, cross-reference table, decryption, page tree).
pub fn open_span(document: &tracing::Span, open: &Timing) {
    let parent = document.context();
    if !parent.span().span_context().is_sampled() {
        return;
    }
    let start = at(open.started_unix_nanos);
    child_span(
        &parent,
        "open",
        start,
        start + Duration::from_nanos(open.nanos),
        vec![KeyValue::new("ndf.stage", "open")],
        None,
    );
}

/// A page span with its stages (fonts, interpret, layout, render) laid end to end. Fonts load
/// on first use during interpretation; their time is shown first, then the rest of it.
pub fn page_spans(
    document: &tracing::Span,
    number: u32,
    stages: &PageStages,
    error: Option<&'static str>,
) {
    let parent = document.context();
    if !parent.span().span_context().is_sampled() {
        return;
    }
    let start = at(stages.started_unix_nanos);
    let parts: [(&'static str, u64); 4] = [
        ("fonts", stages.fonts_nanos),
        ("interpret", stages.interpret_nanos),
        ("layout", stages.layout_nanos),
        ("render", stages.render_nanos),
    ];
    let total: u64 = parts.iter().map(|(_, n)| *n).fold(0, u64::saturating_add);
    let end = start + Duration::from_nanos(total);
    let mut attributes = vec![KeyValue::new("ndf.page.number", i64::from(number))];
    attributes.push(KeyValue::new(
        "ndf.page.status",
        if error.is_some() { "failed" } else { "ok" },
    ));
    let page = child_span(&parent, "page", start, end, attributes, error);
    let mut t = start;
    for (stage, nanos) in parts {
        let next = t + Duration::from_nanos(nanos);
        child_span(
            &page,
            stage,
            t,
            next,
            vec![KeyValue::new("ndf.stage", stage)],
            None,
        );
        t = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_through_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        let cx = context_from_headers(&headers);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let stored = context_from_traceparent(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ));
        assert_eq!(stored.span().span_context().span_id(), sc.span_id());
        assert!(!context_from_traceparent(Some("garbage")).has_active_span());
        assert!(!context_from_traceparent(None).has_active_span());
    }
}
