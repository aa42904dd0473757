//! One extraction, observed: a pool [`Extraction`] whose events also become the document's
//! span tree (open, pages, stages) and its metrics. Synchronous requests and jobs both read
//! their events through this, so the two paths cannot measure differently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ndf_pool::{Event, Extraction, PoolError};
use tracing::Instrument;

use super::metrics::{Metric, Registry};
use super::trace;

/// Stable code of a pool error, as in the API's error table.
pub fn pool_error_code(e: &PoolError) -> &'static str {
    match e {
        PoolError::Extract { code, .. } => code.as_str(),
        PoolError::WorkerLost { .. } => "worker_lost",
        PoolError::DeadlineExceeded => "timeout",
        PoolError::Saturated => "overloaded",
        PoolError::Shutdown => "draining",
        PoolError::Io(_) => "internal",
    }
}

/// The document span: open it before submitting to the pool so worker wait time is inside.
pub fn document_span(input_bytes: usize, format: &'static str) -> tracing::Span {
    tracing::info_span!(
        "document",
        otel.name = "document",
        ndf.document.bytes = input_bytes as u64,
        ndf.document.format = format,
        ndf.document.pages = tracing::field::Empty,
        ndf.document.pages_failed = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// A pool extraction that records what it sees.
#[derive(Debug)]
pub struct ObservedExtraction {
    inner: Extraction,
    metrics: Arc<Registry>,
    span: tracing::Span,
    started: Instant,
    pages_ok: u32,
    pages_failed: u32,
    finished: bool,
}

impl ObservedExtraction {
    /// Observe `inner`, submitted at `started` under `span` (see [`document_span`]).
    pub fn new(
        inner: Extraction,
        metrics: Arc<Registry>,
        span: tracing::Span,
        input_bytes: usize,
        started: Instant,
    ) -> Self {
        metrics.add(Metric::InputBytes, &[], input_bytes as f64);
        Self {
            inner,
            metrics,
            span,
            started,
            pages_ok: 0,
            pages_failed: 0,
            finished: false,
        }
    }

    /// The document span.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The next event, as [`Extraction::next`].
    pub async fn next(&mut self) -> Option<Result<Event, PoolError>> {
        let ev = self.inner.next().instrument(self.span.clone()).await;
        match &ev {
            Some(Ok(Event::Metadata { pages, open, .. })) => {
                self.span.record("ndf.document.pages", u64::from(*pages));
                if let Some(open) = open {
                    self.stage("open", open.nanos);
                    trace::open_span(&self.span, open);
                }
            }
            Some(Ok(Event::Page { number, stages, .. })) => {
                let error = stages.as_ref().and_then(|s| s.error).map(|c| c.as_str());
                if let Some(code) = error {
                    self.pages_failed += 1;
                    self.metrics.inc(Metric::Pages, &["failed"]);
                    self.metrics.inc(Metric::Errors, &[code]);
                } else {
                    self.pages_ok += 1;
                    self.metrics.inc(Metric::Pages, &["ok"]);
                }
                if let Some(s) = stages {
                    self.stage("fonts", s.fonts_nanos);
                    self.stage("interpret", s.interpret_nanos);
                    self.stage("layout", s.layout_nanos);
                    self.stage("render", s.render_nanos);
                    trace::page_spans(&self.span, *number, s, error);
                }
            }
            Some(Ok(Event::Done { resources, .. })) => {
                if let Some(bytes) = resources.and_then(|r| r.peak_rss_bytes) {
                    let trace_id = trace::trace_id(&self.span);
                    self.metrics.observe(
                        Metric::DocumentPeakRss,
                        &[],
                        bytes as f64,
                        trace_id.as_deref(),
                    );
                }
                let outcome = match (self.pages_ok, self.pages_failed) {
                    (_, 0) => "ok",
                    (0, _) => "failed",
                    _ => "partial",
                };
                if outcome == "failed" {
                    self.fail("page_failed");
                }
                self.finish(outcome);
            }
            Some(Err(e)) => {
                // Counted as an error where it is answered: the HTTP response or the job.
                self.fail(pool_error_code(e));
                self.finish("failed");
            }
            None => {}
        }
        ev
    }

    fn stage(&self, stage: &'static str, nanos: u64) {
        self.metrics.observe(
            Metric::StageDuration,
            &[stage],
            Duration::from_nanos(nanos).as_secs_f64(),
            None,
        );
    }

    fn fail(&self, code: &'static str) {
        self.span.record("error.type", code);
        self.span.record("otel.status_code", "ERROR");
    }

    fn finish(&mut self, outcome: &'static str) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.span
            .record("ndf.document.pages_failed", u64::from(self.pages_failed));
        self.metrics.inc(Metric::Documents, &[outcome]);
        let trace_id = trace::trace_id(&self.span);
        self.metrics.observe(
            Metric::DocumentDuration,
            &[],
            self.started.elapsed().as_secs_f64(),
            trace_id.as_deref(),
        );
    }
}

impl Drop for ObservedExtraction {
    fn drop(&mut self) {
        if !self.finished {
            // Abandoned: deadline, cancellation, client gone or shutdown.
            self.fail("cancelled");
            self.finish("failed");
        }
    }
}
