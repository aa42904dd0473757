//! Job consumers: lease a job, extract it in an isolated worker process while heartbeating,
//! store the result, finish the job exactly once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ndf_pool::{Event, ExtractRequest, Format, PoolError, RequestOptions};
use ndf_store::{JobError, Lease, LeaseStatus, Outcome};
use tokio::sync::watch;

use crate::api::CacheState;
use crate::cache::ResultBuilder;
use crate::state::AppState;
use crate::telemetry::Metric;
use crate::telemetry::observe::{ObservedExtraction, document_span};
use crate::telemetry::trace;
use crate::util::now_millis;
use tracing::Instrument;

/// One job consumer: leases jobs until `stop` turns true, then finishes (or, when `grace`
/// fires, hands back) its current job. The replica runs one task per consumer and watches
/// each (a panicked consumer stops the replica instead of silently lowering its capacity).
pub(crate) async fn consumer(
    state: Arc<AppState>,
    index: usize,
    mut stop: watch::Receiver<bool>,
    grace: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(state.config.poll_interval_ms.max(10));
    // Spread the first polls of the consumers a little.
    tokio::time::sleep(Duration::from_millis((index as u64 * 37) % 200)).await;
    loop {
        if *stop.borrow() {
            return;
        }
        // Drained (drain_file, SIGUSR1): lease nothing until resumed or stopped. The permit
        // is held across the lease call, so a drain reported done has no lease under way.
        let Some(permit) = state.claims.permit().await else {
            tokio::select! {
                () = state.claims.resumed() => {}
                _ = stop.changed() => {}
            }
            continue;
        };
        let lease = state
            .jobs
            .lease(&state.owner, now_millis(), state.config.lease_ms as i64)
            .await;
        if matches!(lease, Ok(Some(_))) {
            state.metrics.inc(Metric::JobClaims, &[]);
        }
        drop(permit);
        match lease {
            Ok(Some(lease)) => process(&state, lease, grace.clone()).await,
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = state.job_queued.notified() => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.report(), "leasing a job failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(poll * 4) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

/// Work on one leased job, in a span that continues the submitting request's trace.
async fn process(state: &Arc<AppState>, lease: Lease, grace: watch::Receiver<bool>) {
    let span = tracing::info_span!(
        "job",
        otel.name = "job",
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        ndf.job.id = %lease.job.id,
        ndf.job.attempt = lease.job.attempts,
        ndf.job.input_bytes = lease.job.input_bytes,
        ndf.job.outcome = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
    );
    trace::set_parent(
        &span,
        trace::context_from_traceparent(lease.job.traceparent.as_deref()),
    );
    process_in_span(state, lease, grace, &span)
        .instrument(span.clone())
        .await;
}

async fn process_in_span(
    state: &Arc<AppState>,
    lease: Lease,
    mut grace: watch::Receiver<bool>,
    span: &tracing::Span,
) {
    let id = lease.job.id;
    let m = &state.metrics;
    if lease.job.attempts <= 1 {
        let waited = now_millis().saturating_sub(lease.job.created_at).max(0) as f64 / 1000.0;
        m.observe(Metric::JobQueueWait, &[], waited, None);
    }
    let started = std::time::Instant::now();
    let mut cancelled = state.track(id);
    let result = run_job(state, &lease, &mut cancelled, &mut grace).await;
    state.untrack(id);
    m.observe(
        Metric::JobDuration,
        &[],
        started.elapsed().as_secs_f64(),
        trace::trace_id(span).as_deref(),
    );
    let outcome_name = match &result {
        JobRun::Finished(Outcome::Succeeded { .. }) => "succeeded",
        JobRun::Finished(Outcome::Failed { error, retryable }) => {
            let code = crate::problem::static_code(&error.code);
            span.record("error.type", code);
            span.record("otel.status_code", "ERROR");
            if *retryable && lease.job.attempts < lease.job.max_attempts {
                m.inc(Metric::JobRetries, &[]);
                "retried"
            } else {
                m.inc(Metric::Errors, &[code]);
                "failed"
            }
        }
        JobRun::Stopped => {
            if *cancelled.borrow() {
                "cancelled"
            } else {
                "stopped"
            }
        }
        JobRun::HandBack => {
            m.inc(Metric::JobRetries, &[]);
            "handed_back"
        }
    };
    span.record("ndf.job.outcome", outcome_name);
    tracing::info!(
        outcome = outcome_name,
        attempt = lease.job.attempts,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "job attempt ended"
    );
    match result {
        JobRun::Finished(outcome) => match state.jobs.finish(&lease, now_millis(), outcome).await {
            Ok(true) => {
                if matches!(outcome_name, "succeeded" | "failed") {
                    m.inc(Metric::JobsFinished, &[outcome_name]);
                }
            }
            Ok(false) => {
                tracing::info!(job = %id, "job finished elsewhere or cancelled; result discarded");
            }
            Err(e) => {
                tracing::warn!(job = %id, error = %e.report(), "recording the job's outcome failed; its lease will expire and it will be retried");
            }
        },
        JobRun::Stopped => {
            if outcome_name == "cancelled" {
                m.inc(Metric::JobsFinished, &["cancelled"]);
            }
        }
        JobRun::HandBack => {
            if let Err(e) = state.jobs.release(&lease, now_millis()).await {
                tracing::warn!(job = %id, error = %e.report(), "handing the job back failed; its lease will expire");
            }
        }
    }
}

enum JobRun {
    Finished(Outcome),
    /// Cancelled or lost: nothing to record.
    Stopped,
    /// Shutdown grace ran out.
    HandBack,
}

fn failed(code: &str, message: impl Into<String>, retryable: bool) -> JobRun {
    JobRun::Finished(Outcome::Failed {
        error: JobError {
            code: code.to_owned(),
            message: message.into(),
        },
        retryable,
    })
}

async fn run_job(
    state: &Arc<AppState>,
    lease: &Lease,
    cancelled: &mut watch::Receiver<bool>,
    grace: &mut watch::Receiver<bool>,
) -> JobRun {
    let job = &lease.job;
    let id = job.id;
    let key = match crate::api::job_key(state, job) {
        Ok(k) => k,
        Err(e) => return failed("internal", e.problem().detail, false),
    };
    let input = match state.blobs.get(&AppState::input_key(id)).await {
        Ok(Some(d)) => match &key {
            Some(k) => match crate::at_rest::open(k, &AppState::input_key(id), &d) {
                Ok(plain) => bytes::Bytes::from(plain),
                Err(e) => return failed("internal", e.to_string(), false),
            },
            None => d,
        },
        Ok(None) => {
            return failed(
                "input_missing",
                "the job's input is no longer stored",
                false,
            );
        }
        Err(e) => return failed("store_unavailable", e.to_string(), true),
    };
    let options = match crate::at_rest::open_options(key.as_ref(), id, &job.options) {
        Ok(o) => o,
        Err(e) => return failed("internal", e.to_string(), false),
    };
    let options: RequestOptions = match serde_json::from_value(options) {
        Ok(o) => o,
        Err(e) => {
            return failed(
                "invalid_argument",
                format!("stored options unreadable: {e}"),
                false,
            );
        }
    };
    // A document this tenant already extracted with these options: its stored result.
    let cache = crate::api::cache_lookup(state, &input, &job.tenant, "json", &options).await;
    if let CacheState::Hit(entry) = &cache {
        tracing::info!(job = %id, "answered from the result cache");
        let pages: Vec<&[u8]> = entry.pages.iter().map(|(_, p)| p.as_ref()).collect();
        if let Some(failure) = verdict(&pages) {
            return failure;
        }
        return store_result(state, id, key.as_ref(), entry.body.clone(), pages.len()).await;
    }
    let cache_key = cache.key();
    let cache_limit = cache_key.and_then(|_| state.result_cache.entry_limit());
    // The engine stops itself at its deadline; the pool kills the worker a little later if not.
    let engine_ms = options.limits.deadline_ms.max(1);
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(engine_ms.saturating_add(5_000));
    let request = ExtractRequest {
        format: Format::Json,
        options,
    };
    let input_bytes = input.len();
    let span = document_span(input_bytes, "json");
    let started = std::time::Instant::now();
    let ex = loop {
        match state
            .pool
            .submit(input.clone(), request.clone(), deadline)
            .instrument(span.clone())
            .await
        {
            Ok(ex) => break ex,
            Err(PoolError::Saturated) => {
                // Shared with synchronous requests: wait for a free worker.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if *grace.borrow() {
                    return JobRun::HandBack;
                }
            }
            Err(PoolError::Shutdown) => return JobRun::HandBack,
            Err(e) => return pool_failure(e),
        }
    };
    let mut ex = ObservedExtraction::new(ex, state.metrics.clone(), span, input_bytes, started);

    let heartbeat_every = Duration::from_millis((state.config.lease_ms / 3).clamp(200, 2_000));
    let mut next_beat = tokio::time::Instant::now() + heartbeat_every;
    let mut out: Option<ResultBuilder> = None;
    let mut pages_done = 0u32;
    let mut pages_total: Option<u32> = None;
    // A job whose every page failed has no usable result: it fails with the first page's code.
    let mut first_page_error: Option<(String, String)> = None;
    let mut pages_ok = 0u32;
    let diagnostics = loop {
        let ev = tokio::select! {
            ev = ex.next() => ev,
            _ = tokio::time::sleep_until(next_beat) => {
                next_beat = tokio::time::Instant::now() + heartbeat_every;
                match state.jobs.heartbeat(lease, now_millis(), state.config.lease_ms as i64, pages_done, pages_total).await {
                    Ok(LeaseStatus::Held) => continue,
                    // Dropping `ex` kills the worker: the work really stops.
                    Ok(LeaseStatus::Cancelled | LeaseStatus::Lost) => return JobRun::Stopped,
                    Err(e) => {
                        tracing::warn!(job = %id, error = %e.report(), "heartbeat failed");
                        continue;
                    }
                }
            }
            _ = cancelled.changed() => return JobRun::Stopped,
            _ = grace.changed() => {
                if *grace.borrow() { return JobRun::HandBack; }
                continue;
            }
        };
        match ev {
            Some(Ok(Event::Metadata { json, pages, .. })) => {
                pages_total = Some(pages);
                out = Some(ResultBuilder::new(true, &json, pages, true, cache_limit));
            }
            Some(Ok(Event::Page {
                number,
                body,
                stages,
            })) => {
                let Some(out) = out.as_mut() else {
                    return failed("internal", "a page came before the metadata", true);
                };
                // Once one page succeeded the job cannot fail by the every-page rule: stop looking.
                if pages_ok == 0 {
                    match page_error(&body) {
                        Some(e) => {
                            first_page_error.get_or_insert(e);
                        }
                        None => pages_ok += 1,
                    }
                }
                out.page(number, &body, stages.and_then(|s| s.error));
                pages_done += 1;
            }
            Some(Ok(Event::Done { diagnostics, .. })) => break diagnostics,
            Some(Err(e)) => return pool_failure(e),
            None => return failed("internal", "the extraction ended early", true),
        }
    };
    let Some(out) = out else {
        return failed("internal", "the extraction ended without metadata", true);
    };
    let (body, entry) = out.finish(&diagnostics, &job.tenant);
    // The extraction as such is stored even if the job fails below: a later job applies the
    // same rules to it, a synchronous request answers it as it would have anyway.
    if let (Some(k), Some(entry)) = (cache_key, entry) {
        state.result_cache.insert(k, entry);
    }
    if pages_done == 0 {
        return failed("malformed", "the document has no pages to extract", false);
    }
    if pages_ok == 0
        && let Some((code, message)) = first_page_error
    {
        return failed(
            &code,
            format!("every page failed; page 1: {message}"),
            false,
        );
    }
    store_result(state, id, key.as_ref(), body, pages_done as usize).await
}

/// Why a job whose extraction finished fails anyway: no pages, or every page failed (then with
/// the first page's code). The rule of the consumer loop above, for a stored result.
fn verdict(pages: &[&[u8]]) -> Option<JobRun> {
    if pages.is_empty() {
        return Some(failed(
            "malformed",
            "the document has no pages to extract",
            false,
        ));
    }
    let mut first_page_error = None;
    for p in pages {
        match page_error(p) {
            // One page succeeded: the job succeeds.
            None => return None,
            Some(e) => {
                first_page_error.get_or_insert(e);
            }
        }
    }
    first_page_error.map(|(code, message)| {
        failed(
            &code,
            format!("every page failed; page 1: {message}"),
            false,
        )
    })
}

/// Seal (when data is encrypted at rest) and store a job's result document; the job succeeds.
async fn store_result(
    state: &Arc<AppState>,
    id: ndf_store::JobId,
    key: Option<&ndf_seal::DataKey>,
    out: Bytes,
    pages: usize,
) -> JobRun {
    // The size of the document, not of its sealed form.
    let bytes = out.len() as u64;
    let result = match key {
        Some(k) => match crate::at_rest::seal(k, &AppState::result_key(id), &out) {
            Ok(sealed) => Bytes::from(sealed),
            Err(e) => return failed("internal", e.to_string(), false),
        },
        None => out,
    };
    // Idempotent: the key is fixed per job, so a retried attempt overwrites the same object.
    if let Err(e) = state.blobs.put(&AppState::result_key(id), result).await {
        return failed(
            "store_unavailable",
            format!("storing the result failed: {e}"),
            true,
        );
    }
    JobRun::Finished(Outcome::Succeeded {
        pages_total: u32::try_from(pages).unwrap_or(u32::MAX),
        result_bytes: bytes,
    })
}

/// The first error diagnostic of a page (JSON of `ndf_model::Page`), if any.
fn page_error(page_json: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct PageDiagnostics {
        #[serde(default)]
        diagnostics: Vec<ndf_model::Diagnostic>,
    }
    let p: PageDiagnostics = serde_json::from_slice(page_json).ok()?;
    p.diagnostics
        .into_iter()
        .find(|d| d.severity == ndf_model::Severity::Error)
        .map(|d| (d.code.as_str().to_owned(), d.message))
}

fn pool_failure(e: PoolError) -> JobRun {
    match e {
        // The document's own fault: retrying gives the same answer.
        PoolError::Extract { code, message } => failed(code.as_str(), message, false),
        // A crash or a hang may be the worker's bad luck; retry until max_attempts (then the
        // job fails with this error: a poison document never loops forever).
        PoolError::WorkerLost { detail } => failed("worker_lost", detail, true),
        PoolError::DeadlineExceeded => failed(
            "deadline_exceeded",
            "the document did not finish before its deadline",
            true,
        ),
        PoolError::Saturated | PoolError::Shutdown => JobRun::HandBack,
        PoolError::Io(m) => failed("internal", m, true),
    }
}
