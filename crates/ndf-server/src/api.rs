//! HTTP handlers of the public API. The OpenAPI document is generated from the annotations
//! here (`openapi::document`) and committed as docs/openapi.json.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use ndf_extract::{Document, MarkdownRenderer, PageSelection, render_text};
use ndf_pool::{Event, ExtractRequest, Format, PoolError, RequestOptions};
use ndf_store::{CreateOutcome, Job, JobId, JobState, NewJob};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::cache::{CACHE_HEADER, CacheKey, CachedResult, ResultBuilder};
use crate::problem::{ApiCode, ApiError, Problem};
use crate::state::AppState;
use crate::telemetry::observe::{ObservedExtraction, document_span};
use crate::telemetry::trace;
use crate::util::{now_millis, read_pdf_body, resolve_callback, rfc3339, sha256_hex};

/// Header carrying the password of an encrypted document.
pub const PASSWORD_HEADER: &str = "x-pdf-password";
/// Media type of the per-page stream.
pub const NDJSON: &str = "application/x-ndjson";

type Shared = State<Arc<AppState>>;
/// The caller (open mode: the `default` tenant with every scope).
type Caller = Option<Extension<Principal>>;

fn tenant_of(caller: &Caller) -> String {
    caller
        .as_ref()
        .map_or_else(|| crate::auth::OPEN_TENANT.to_owned(), |p| p.tenant.clone())
}

fn actor_of(caller: &Caller) -> String {
    caller
        .as_ref()
        .map_or_else(|| "open".to_owned(), |p| p.actor())
}

/// A job of the caller's tenant; another tenant's job is "no such job" (404, not 403).
async fn own_job(s: &AppState, caller: &Caller, id: JobId) -> Result<Job, ApiError> {
    s.jobs
        .get(id)
        .await?
        .filter(|j| j.tenant == tenant_of(caller))
        .ok_or_else(|| ApiError::new(ApiCode::NotFound, "no such job"))
}

/// The data key of a job whose data is sealed.
pub fn job_key(s: &AppState, job: &Job) -> Result<Option<ndf_seal::DataKey>, ApiError> {
    match (&s.at_rest, &job.data_key) {
        (Some(at_rest), Some(wrapped)) => at_rest
            .job_key(job.id, wrapped)
            .map(Some)
            .map_err(|e| ApiError::new(ApiCode::Internal, e.to_string())),
        (None, Some(_)) => Err(ApiError::new(
            ApiCode::Internal,
            "the job's data is encrypted but no master key is configured",
        )),
        (_, None) => Ok(None),
    }
}

/// Cancel a job, delete its objects and its row (with its data key): nothing of it can be
/// read or decrypted afterwards.
pub async fn erase_job(s: &AppState, id: JobId) -> Result<(), ApiError> {
    s.jobs.cancel(id, now_millis()).await?;
    s.cancel_local(id);
    s.blobs.delete(&AppState::input_key(id)).await?;
    s.blobs.delete(&AppState::result_key(id)).await?;
    s.jobs.delete(id).await?;
    Ok(())
}

/// Output format of a result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The versioned JSON document (schema/document.schema.json).
    #[default]
    Json,
    /// Plain text in reading order; a form feed after each page.
    Text,
    /// Markdown.
    Markdown,
}

impl OutputFormat {
    fn pool(self) -> Format {
        match self {
            OutputFormat::Json => Format::Json,
            OutputFormat::Text => Format::Text,
            OutputFormat::Markdown => Format::Markdown,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Text => "text",
            OutputFormat::Markdown => "markdown",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Json => "application/json",
            OutputFormat::Text => "text/plain; charset=utf-8",
            OutputFormat::Markdown => "text/markdown; charset=utf-8",
        }
    }
}

/// Query parameters of `POST /v1/extract`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExtractQuery {
    /// Output format (default `json`).
    #[serde(default)]
    pub format: Option<OutputFormat>,
    /// Pages to extract, e.g. `1-3,7,10-`.
    pub pages: Option<String>,
}

/// Query parameters of `POST /v1/jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Pages to extract, e.g. `1-3,7`.
    pub pages: Option<String>,
    /// Webhook called when the job finishes (host must be in the allow-list).
    pub callback_url: Option<String>,
}

/// A job as the API shows it (never the document password).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Job id (UUID v7, time-ordered).
    pub id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// Pages finished so far.
    pub pages_done: u32,
    /// Pages the job will produce, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages_total: Option<u32>,
    /// Attempts started (a worker that died counts).
    pub attempts: u32,
    /// Attempts allowed before the job fails for good.
    pub max_attempts: u32,
    /// Size of the input in bytes.
    pub input_bytes: u64,
    /// When the job was accepted (RFC 3339).
    pub created_at: String,
    /// When the first attempt started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the job reached its final state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// When the job, its input and its result will be deleted.
    pub expires_at: String,
    /// Why the job failed (or the last attempt's error while it is retried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobErrorView>,
    /// This job's URL.
    pub status_url: String,
    /// The result's URL (once succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    /// Webhook target, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// A job's error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobErrorView {
    /// Stable code (engine codes such as `encrypted`, or `worker_lost`, `deadline_exceeded`).
    pub code: String,
    /// Explanation.
    pub message: String,
}

impl JobView {
    /// The API view of a stored job.
    pub fn of(job: &Job) -> Self {
        let id = job.id.to_string();
        let state = state_name(job.state).to_owned();
        Self {
            status_url: format!("/v1/jobs/{id}"),
            result_url: (job.state == JobState::Succeeded).then(|| format!("/v1/jobs/{id}/result")),
            id,
            state,
            pages_done: job.pages_done,
            pages_total: job.pages_total,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            input_bytes: job.input_bytes,
            created_at: rfc3339(job.created_at),
            started_at: job.started_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
            expires_at: rfc3339(job.expires_at),
            error: job.error.as_ref().map(|e| JobErrorView {
                code: e.code.clone(),
                message: e.message.clone(),
            }),
            callback_url: job.callback_url.clone(),
        }
    }
}

/// Name of a state in the API.
pub fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
    }
}

fn parse_state(s: &str) -> Option<JobState> {
    Some(match s {
        "queued" => JobState::Queued,
        "running" => JobState::Running,
        "succeeded" => JobState::Succeeded,
        "failed" => JobState::Failed,
        "cancelled" => JobState::Cancelled,
        _ => return None,
    })
}

/// The password header, if any.
fn password(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(PASSWORD_HEADER) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            ApiError::new(
                ApiCode::InvalidArgument,
                "the password header must be visible ASCII",
            )
        }),
    }
}

fn check_pages(pages: &Option<String>) -> Result<(), ApiError> {
    if let Some(p) = pages {
        PageSelection::parse(p).map_err(|e| ApiError::new(ApiCode::InvalidArgument, e.message))?;
    }
    Ok(())
}

/// Query parameters, with a malformed query string answered by a 400 problem document.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::new(ApiCode::InvalidArgument, e.body_text()))
}

fn pool_error(e: PoolError) -> ApiError {
    match e {
        PoolError::Saturated => {
            ApiError::new(ApiCode::Overloaded, "every extraction worker is busy").retry_after(1)
        }
        PoolError::Extract { code, message } => ApiError::engine(code, message),
        PoolError::WorkerLost { detail } => ApiError::new(ApiCode::WorkerLost, detail),
        PoolError::DeadlineExceeded => ApiError::new(
            ApiCode::Timeout,
            "the extraction did not finish before the request's deadline",
        ),
        PoolError::Shutdown => {
            ApiError::new(ApiCode::Draining, "the service is shutting down").retry_after(1)
        }
        PoolError::Io(m) => ApiError::new(ApiCode::Internal, m),
    }
}

/// Synchronous extraction.
///
/// The body is the raw PDF (`Content-Type: application/pdf`) or a `multipart/form-data` field
/// named `file`. With `Accept: application/x-ndjson` the response streams one JSON line per
/// page as pages finish (`{"type":"page","number":N,"page":…}`, or `"text"` for text and
/// Markdown), then `{"type":"summary",…}`; an error after the first line arrives as
/// `{"type":"error","code":…,"message":…}`.
#[utoipa::path(
    post,
    path = "/v1/extract",
    params(ExtractQuery, ("x-pdf-password" = Option<String>, Header, description = "Password of an encrypted document")),
    request_body(content = Vec<u8>, description = "The PDF", content_type = "application/pdf"),
    responses(
        (status = 200, description = "The extracted document (JSON, text or Markdown; NDJSON stream on request)",
            headers(("x-ndf-cache" = String, description = "`hit` (answered from this replica's result cache), `miss` (extracted) or `bypass` (a password was given: never cached)"))),
        (status = 400, description = "Invalid option", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `extract` scope", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PDF", body = Problem, content_type = "application/problem+json"),
        (status = 421, description = "Open mode (no API key) and a Host other than localhost, 127.0.0.1 or [::1] (`misdirected_request`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The document cannot be extracted (encrypted, malformed, over a limit, crashed its worker)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded, draining or the key store unavailable; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "Deadline passed; the work was cancelled", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "extract"
)]
pub async fn extract(
    State(s): Shared,
    caller: Caller,
    q: Result<Query<ExtractQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match extract_inner(s, tenant_of(&caller), q, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// What the result cache said about a request.
pub(crate) enum CacheState {
    /// The result is stored: answer from it.
    Hit(Arc<CachedResult>),
    /// Extract; store the result under the key when there is one (none: the cache is off).
    Miss(Option<CacheKey>),
    /// Never cached (a password was given).
    Bypass,
}

impl CacheState {
    /// The key to store a fresh result under, if any.
    pub(crate) fn key(&self) -> Option<CacheKey> {
        match self {
            CacheState::Miss(k) => *k,
            _ => None,
        }
    }

    fn header(&self) -> (HeaderName, HeaderValue) {
        let v = match self {
            CacheState::Hit(_) => "hit",
            CacheState::Miss(_) => "miss",
            CacheState::Bypass => "bypass",
        };
        (
            HeaderName::from_static(CACHE_HEADER),
            HeaderValue::from_static(v),
        )
    }
}

/// Look a request up in the result cache (counting the hit or miss).
pub(crate) async fn cache_lookup(
    s: &AppState,
    data: &Bytes,
    tenant: &str,
    format: &str,
    options: &RequestOptions,
) -> CacheState {
    if options.password.is_some() {
        return CacheState::Bypass;
    }
    if !s.result_cache.enabled() {
        s.result_cache.count_miss();
        return CacheState::Miss(None);
    }
    let input = crate::cache::hash_input(data).await;
    match CacheKey::new(&input, tenant, format, options) {
        None => CacheState::Bypass,
        Some(key) => match s.result_cache.get(&key) {
            Some(entry) => CacheState::Hit(entry),
            None => CacheState::Miss(Some(key)),
        },
    }
}

/// The answer to a synchronous request from a stored result: the same bytes an extraction
/// gives, as one body or as the NDJSON lines.
fn cached_response(entry: &CachedResult, format: OutputFormat, streaming: bool) -> Response {
    let cache = (
        HeaderName::from_static(CACHE_HEADER),
        HeaderValue::from_static("hit"),
    );
    if streaming {
        let mut lines = Vec::with_capacity(entry.pages.len() + 1);
        for (number, body) in &entry.pages {
            lines.push(Ok::<_, std::io::Error>(page_line(*number, body, format)));
        }
        lines.push(Ok(summary_line(
            u32::try_from(entry.pages.len()).unwrap_or(u32::MAX),
            &entry.meta,
            &entry.diagnostics,
            entry.pages_expected,
        )));
        return (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(NDJSON)),
                cache,
            ],
            Body::from_stream(futures::stream::iter(lines)),
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            cache,
        ],
        entry.body.clone(),
    )
        .into_response()
}

async fn extract_inner(
    s: Arc<AppState>,
    tenant: String,
    q: ExtractQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if s.is_draining() {
        return Err(
            ApiError::new(ApiCode::Draining, "the service is shutting down").retry_after(1),
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(s.config.sync_timeout_ms);
    check_pages(&q.pages)?;
    let pw = password(&headers)?;
    let format = q.format.unwrap_or_default();
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|p| p.trim().starts_with(NDJSON)));
    let data = tokio::time::timeout_at(
        deadline,
        read_pdf_body(&headers, body, s.config.max_body_bytes),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ApiCode::Timeout,
            "the body did not arrive before the request's deadline",
        )
    })??;
    let mut options = s.request_options(q.pages, pw);
    // The engine's own deadline never outlives the request's.
    options.limits.deadline_ms = options
        .limits
        .deadline_ms
        .min(s.config.sync_timeout_ms)
        .max(1);
    let cache = cache_lookup(&s, &data, &tenant, format.name(), &options).await;
    if let CacheState::Hit(entry) = &cache {
        return Ok(cached_response(entry, format, streaming));
    }
    let request = ExtractRequest {
        format: format.pool(),
        options,
    };
    let input_bytes = data.len();
    let span = document_span(input_bytes, format.name());
    let started = std::time::Instant::now();
    let ex = s
        .pool
        .submit(data, request, deadline)
        .instrument(span.clone())
        .await
        .map_err(pool_error)?;
    let mut ex = ObservedExtraction::new(ex, s.metrics.clone(), span, input_bytes, started);

    // The first event decides the status: an engine error is a problem document, not a stream.
    let first = tokio::time::timeout_at(deadline, ex.next()).await;
    let (meta, pages) = match first {
        Err(_) => return Err(pool_error(PoolError::DeadlineExceeded)),
        Ok(None) => {
            return Err(ApiError::new(
                ApiCode::Internal,
                "the extraction ended without a result",
            ));
        }
        Ok(Some(Err(e))) => return Err(pool_error(e)),
        Ok(Some(Ok(Event::Metadata { json, pages, .. }))) => (json, pages),
        Ok(Some(Ok(_))) => return Err(ApiError::new(ApiCode::Internal, "unexpected first event")),
    };
    let json = format == OutputFormat::Json;
    let cache_key = cache.key();
    let cache_limit = cache_key.and_then(|_| s.result_cache.entry_limit());

    if streaming {
        // The lines go out as pages finish; a copy is gathered for the cache only while the
        // result stays small enough to be stored.
        let store = cache_key.zip(cache_limit).map(|(key, limit)| StreamStore {
            state: s.clone(),
            key,
            tenant,
            builder: ResultBuilder::new(json, &meta, pages, false, Some(limit)),
        });
        let stream = ndjson_lines(ex, meta, pages, format, deadline, store);
        return Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(NDJSON)),
                cache.header(),
            ],
            Body::from_stream(stream),
        )
            .into_response());
    }

    let mut out = ResultBuilder::new(json, &meta, pages, true, cache_limit);
    let diagnostics = loop {
        let ev = tokio::time::timeout_at(deadline, ex.next())
            .await
            .map_err(|_| pool_error(PoolError::DeadlineExceeded))?;
        match ev {
            Some(Ok(Event::Page {
                number,
                body,
                stages,
            })) => out.page(number, &body, stages.and_then(|st| st.error)),
            Some(Ok(Event::Done { diagnostics, .. })) => break diagnostics,
            Some(Ok(Event::Metadata { .. })) => {}
            Some(Err(e)) => return Err(pool_error(e)),
            None => {
                return Err(ApiError::new(
                    ApiCode::Internal,
                    "the extraction ended early",
                ));
            }
        }
    };
    let (body, entry) = out.finish(&diagnostics, &tenant);
    if let (Some(key), Some(entry)) = (cache_key, entry) {
        s.result_cache.insert(key, entry);
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            cache.header(),
        ],
        body,
    )
        .into_response())
}

/// Where a streamed result goes once complete: into the cache under `key`.
struct StreamStore {
    state: Arc<AppState>,
    key: CacheKey,
    tenant: String,
    builder: ResultBuilder,
}

/// One NDJSON page line.
fn page_line(number: u32, body: &[u8], format: OutputFormat) -> Bytes {
    let mut l = BytesMut::with_capacity(body.len() + 48);
    l.extend_from_slice(format!("{{\"type\":\"page\",\"number\":{number},").as_bytes());
    if format == OutputFormat::Json {
        l.extend_from_slice(b"\"page\":");
        l.extend_from_slice(body);
    } else {
        l.extend_from_slice(b"\"text\":");
        let text = String::from_utf8_lossy(body);
        l.extend_from_slice(serde_json::to_string(&text).unwrap_or_default().as_bytes());
    }
    l.extend_from_slice(b"}\n");
    l.freeze()
}

/// The NDJSON summary line after `count` pages.
fn summary_line(count: u32, meta: &[u8], diagnostics: &[u8], pages_expected: u32) -> Bytes {
    let mut l = BytesMut::new();
    l.extend_from_slice(
        format!(
            "{{\"type\":\"summary\",\"schema_version\":\"{}\",\"pages\":{count},\"metadata\":",
            ndf_extract::SCHEMA_VERSION
        )
        .as_bytes(),
    );
    l.extend_from_slice(meta);
    l.extend_from_slice(b",\"diagnostics\":");
    l.extend_from_slice(diagnostics);
    l.extend_from_slice(format!(",\"pages_expected\":{pages_expected}}}\n").as_bytes());
    l.freeze()
}

/// The NDJSON page stream of a synchronous extraction: a line per page, then a summary.
fn ndjson_lines(
    ex: ObservedExtraction,
    meta: Bytes,
    pages: u32,
    format: OutputFormat,
    deadline: tokio::time::Instant,
    store: Option<StreamStore>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct St {
        ex: ObservedExtraction,
        meta: Bytes,
        pages: u32,
        done: bool,
        count: u32,
        store: Option<StreamStore>,
    }
    futures::stream::unfold(
        St {
            ex,
            meta,
            pages,
            done: false,
            count: 0,
            store,
        },
        move |mut st| async move {
            if st.done {
                return None;
            }
            let line = match tokio::time::timeout_at(deadline, st.ex.next()).await {
                Err(_) => {
                    st.done = true;
                    error_line(
                        "timeout",
                        "the extraction did not finish before the request's deadline",
                    )
                }
                Ok(Some(Ok(Event::Page {
                    number,
                    body,
                    stages,
                }))) => {
                    st.count += 1;
                    if let Some(store) = &mut st.store {
                        store
                            .builder
                            .page(number, &body, stages.and_then(|s| s.error));
                        if !store.builder.active() {
                            st.store = None;
                        }
                    }
                    page_line(number, &body, format)
                }
                Ok(Some(Ok(Event::Done { diagnostics, .. }))) => {
                    st.done = true;
                    if let Some(store) = st.store.take() {
                        let (_, entry) = store.builder.finish(&diagnostics, &store.tenant);
                        if let Some(entry) = entry {
                            store.state.result_cache.insert(store.key, entry);
                        }
                    }
                    summary_line(st.count, &st.meta, &diagnostics, st.pages)
                }
                Ok(Some(Ok(Event::Metadata { .. }))) => Bytes::new(),
                Ok(Some(Err(e))) => {
                    st.done = true;
                    let api = pool_error(e);
                    error_line(api.code(), &api.problem().detail)
                }
                Ok(None) => {
                    st.done = true;
                    error_line("internal", "the extraction ended early")
                }
            };
            Some((Ok(line), st))
        },
    )
}

fn error_line(code: &str, message: &str) -> Bytes {
    let v = serde_json::json!({"type": "error", "code": code, "message": message});
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Submit a job.
///
/// The input is stored durably before `202 Accepted` is sent. With an `Idempotency-Key`
/// header, the same key and body return the same job; the same key with another body is `409`.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    params(JobQuery,
        ("x-pdf-password" = Option<String>, Header, description = "Password of an encrypted document"),
        ("idempotency-key" = Option<String>, Header, description = "Deduplicates retried submissions (1–255 visible characters)")),
    request_body(content = Vec<u8>, description = "The PDF", content_type = "application/pdf"),
    responses(
        (status = 202, description = "Accepted (or the existing job of this Idempotency-Key)", body = JobView),
        (status = 400, description = "Invalid option", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `jobs:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PDF", body = Problem, content_type = "application/problem+json"),
        (status = 421, description = "Open mode (no API key) and a Host other than localhost, 127.0.0.1 or [::1] (`misdirected_request`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many queued jobs (`queue_full`), over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Draining or storage unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "jobs"
)]
pub async fn create_job(
    State(s): Shared,
    caller: Caller,
    q: Result<Query<JobQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    match create_job_inner(s, caller, q, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn create_job_inner(
    s: Arc<AppState>,
    caller: Caller,
    q: JobQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if s.is_draining() {
        return Err(
            ApiError::new(ApiCode::Draining, "the service is shutting down").retry_after(1),
        );
    }
    check_pages(&q.pages)?;
    let pw = password(&headers)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().ok().filter(|k| {
                !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7F).contains(&b))
            });
            Some(
                k.ok_or_else(|| {
                    ApiError::new(
                        ApiCode::InvalidArgument,
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    )
                })?
                .to_owned(),
            )
        }
    };
    if let Some(url) = &q.callback_url {
        if s.config.webhook_secret.is_none() {
            return Err(ApiError::new(
                ApiCode::InvalidArgument,
                "callback_url needs webhook_secret configured on the server",
            ));
        }
        resolve_callback(url, &s.config.webhook_allow_hosts).await?;
    }
    let reservation = admission(&s, &tenant_of(&caller)).await?;
    let data = read_pdf_body(&headers, body, s.config.max_body_bytes).await?;
    let now = now_millis();
    let options = s.request_options(q.pages, pw);
    let id = uuid::Uuid::now_v7();
    let mut options = serde_json::to_value(&options)
        .map_err(|e| ApiError::new(ApiCode::Internal, e.to_string()))?;
    let body_sha256 = sha256_hex(&data);
    let input_bytes = data.len() as u64;
    // Sealed under the job's own data key: input and options (which may hold a password).
    let (data, data_key) = match &s.at_rest {
        Some(at_rest) => {
            let internal =
                |e: crate::at_rest::AtRestError| ApiError::new(ApiCode::Internal, e.to_string());
            let (key, wrapped) = at_rest.new_job_key(id).map_err(internal)?;
            options = crate::at_rest::seal_options(&key, id, &options).map_err(internal)?;
            let sealed =
                crate::at_rest::seal(&key, &AppState::input_key(id), &data).map_err(internal)?;
            (Bytes::from(sealed), Some(wrapped))
        }
        None => (data, None),
    };
    let new = NewJob {
        options,
        callback_url: q.callback_url,
        idempotency_key: key,
        body_sha256,
        input_bytes,
        max_attempts: s.config.max_attempts,
        expires_at: now.saturating_add(s.config.retention_ms as i64),
        // The request span's context: the job's spans join the request's trace.
        traceparent: trace::traceparent(&tracing::Span::current()).or_else(|| {
            headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }),
        tenant: tenant_of(&caller),
        data_key,
    };
    // Durable before 202: the input is stored first, then the job that points at it.
    s.blobs.put(&AppState::input_key(id), data).await?;
    let outcome = match s.jobs.create(id, &new, now).await {
        Ok(o) => o,
        Err(e) => {
            let _ = s.blobs.delete(&AppState::input_key(id)).await;
            return Err(e.into());
        }
    };
    let job = match outcome {
        CreateOutcome::Created(job) => {
            reservation.keep();
            s.metrics.inc(crate::telemetry::Metric::JobsCreated, &[]);
            crate::audit::record(
                &s,
                ndf_store::AuditEvent::new(
                    actor_of(&caller),
                    ndf_store::AuditAction::JobCreated,
                    "ok",
                )
                .tenant(&job.tenant)
                .target(format!("job:{}", job.id))
                .detail(serde_json::json!({ "input_bytes": job.input_bytes })),
            )
            .await;
            s.job_queued.notify_waiters();
            job
        }
        // The store looks keys up in the caller's tenant only; the check below keeps another
        // tenant's job out of any answer should that ever break.
        CreateOutcome::Existing(job) | CreateOutcome::Conflict(job) if job.tenant != new.tenant => {
            let _ = s.blobs.delete(&AppState::input_key(id)).await;
            return Err(ApiError::new(
                ApiCode::Internal,
                "the idempotency key resolved outside the caller's tenant",
            ));
        }
        CreateOutcome::Existing(job) => {
            let _ = s.blobs.delete(&AppState::input_key(id)).await;
            job
        }
        CreateOutcome::Conflict(job) => {
            let _ = s.blobs.delete(&AppState::input_key(id)).await;
            return Err(ApiError::new(
                ApiCode::IdempotencyConflict,
                format!(
                    "Idempotency-Key already used for job {} with a different body",
                    job.id
                ),
            ));
        }
    };
    let view = JobView::of(&job);
    let location =
        HeaderValue::from_str(&view.status_url).unwrap_or(HeaderValue::from_static("/v1/jobs"));
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// Reserve a place in the queue, or refuse with 429 when it is full.
///
/// Per tenant first: a tenant with `max_queued_jobs_per_tenant` queued or running jobs is
/// refused (counted in the store at each submission; concurrent submissions of one tenant can
/// overshoot by how many are in flight at once), so one tenant cannot fill the queue for all.
/// Then the whole queue, a safety net for the replica: the count comes from the store at most
/// once a second; in between, this replica's own reservations are added, so a burst cannot
/// overshoot `max_queued_jobs` (across replicas the bound is approximate by the jobs others
/// accepted within that second). Its 429 says nothing about the depth of the queue (other
/// tenants' jobs). The place is given back when the reservation is dropped without
/// [`Reservation::keep`] (no job was created).
async fn admission<'a>(s: &'a AppState, tenant: &str) -> Result<Reservation<'a>, ApiError> {
    let quota = s.config.max_queued_jobs_per_tenant;
    if quota > 0 && s.jobs.count_active(tenant, quota).await? >= quota {
        return Err(ApiError::new(
            ApiCode::QueueFull,
            format!(
                "this tenant already has {quota} queued or running jobs (max_queued_jobs_per_tenant)"
            ),
        )
        .retry_after(5));
    }
    let now = now_millis();
    if now - s.queued_seen_at.load(Ordering::Relaxed) > 1000 {
        let counts = s.jobs.counts(now).await?;
        s.queued_seen.store(counts.queued, Ordering::Relaxed);
        s.queued_seen_at.store(now, Ordering::Relaxed);
    }
    let reservation = Reservation { s, kept: false };
    let before = s.queued_seen.fetch_add(1, Ordering::Relaxed);
    if before >= s.config.max_queued_jobs {
        return Err(
            ApiError::new(ApiCode::QueueFull, "the service's job queue is full").retry_after(5),
        );
    }
    Ok(reservation)
}

/// A place in the queue held by a submission in progress.
struct Reservation<'a> {
    s: &'a AppState,
    kept: bool,
}

impl Reservation<'_> {
    /// The job was created: the place stays taken.
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.kept {
            let _ = self
                .s
                .queued_seen
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(1))
                });
        }
    }
}

fn parse_id(id: &str) -> Result<JobId, ApiError> {
    JobId::parse_str(id).map_err(|_| ApiError::new(ApiCode::NotFound, "no such job"))
}

/// A job's state and progress.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "The id is not valid UTF-8 after percent-decoding", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `jobs:read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 421, description = "Open mode (no API key) and a Host other than localhost, 127.0.0.1 or [::1] (`misdirected_request`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is unavailable (`store_unavailable`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "jobs"
)]
pub async fn get_job(
    State(s): Shared,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
    let job = own_job(&s, &caller, id).await?;
    Ok(Json(JobView::of(&job)))
}

/// Query parameters of `GET /v1/jobs/{id}/result`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultQuery {
    /// Output format (default `json`).
    pub format: Option<OutputFormat>,
}

/// A finished job's result.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/result",
    params(("id" = String, Path, description = "Job id"), ResultQuery),
    responses(
        (status = 200, description = "The extracted document in the requested format"),
        (status = 400, description = "Invalid format, or an id that is not valid UTF-8 after percent-decoding", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `jobs:read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has not finished (or failed: see its error)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The result was deleted or expired", body = Problem, content_type = "application/problem+json"),
        (status = 421, description = "Open mode (no API key) and a Host other than localhost, 127.0.0.1 or [::1] (`misdirected_request`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is unavailable (`store_unavailable`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "jobs"
)]
pub async fn get_result(
    State(s): Shared,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<ResultQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let id = parse_id(&id)?;
    let job = own_job(&s, &caller, id).await?;
    if job.state != JobState::Succeeded {
        return Err(ApiError::new(
            ApiCode::JobNotFinished,
            format!("the job is {}", state_name(job.state)),
        ));
    }
    let data = s
        .blobs
        .get(&AppState::result_key(id))
        .await?
        .ok_or_else(|| ApiError::new(ApiCode::ResultGone, "the result is no longer stored"))?;
    let data = match job_key(&s, &job)? {
        Some(key) => Bytes::from(
            crate::at_rest::open(&key, &AppState::result_key(id), &data)
                .map_err(|e| ApiError::new(ApiCode::Internal, e.to_string()))?,
        ),
        None => data,
    };
    crate::audit::record(
        &s,
        ndf_store::AuditEvent::new(actor_of(&caller), ndf_store::AuditAction::JobRead, "ok")
            .tenant(&job.tenant)
            .target(format!("job:{id}")),
    )
    .await;
    let format = q.format.unwrap_or_default();
    if format == OutputFormat::Json {
        return Ok(([(header::CONTENT_TYPE, format.content_type())], data).into_response());
    }
    // Text and Markdown are rendered from the stored JSON on a blocking thread.
    let rendered = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let doc: Document = serde_json::from_slice(&data).map_err(|e| e.to_string())?;
        let mut out = String::new();
        match format {
            OutputFormat::Markdown => {
                let mut md = MarkdownRenderer::new();
                for p in &doc.pages {
                    md.render_page(p, &mut out);
                }
            }
            _ => {
                for p in &doc.pages {
                    render_text(p, &mut out);
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::new(ApiCode::Internal, e.to_string()))?
    .map_err(|e| ApiError::new(ApiCode::Internal, format!("stored result unreadable: {e}")))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], rendered).into_response())
}

/// Query parameters of `GET /v1/jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs in this state.
    pub state: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// The jobs.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List jobs.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 400, description = "Invalid state, limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `jobs:read` scope", body = Problem, content_type = "application/problem+json"),
        (status = 421, description = "Open mode (no API key) and a Host other than localhost, 127.0.0.1 or [::1] (`misdirected_request`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is unavailable (`store_unavailable`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "jobs"
)]
pub async fn list_jobs(
    State(s): Shared,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<JobList>, ApiError> {
    let q = query(q)?;
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(v) => Some(parse_state(v).ok_or_else(|| {
            ApiError::new(ApiCode::InvalidArgument, format!("unknown state {v:?}"))
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ApiCode::InvalidArgument,
            "limit must be between 1 and 1000",
        ));
    }
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            JobId::parse_str(c)
                .map_err(|_| ApiError::new(ApiCode::InvalidArgument, "bad cursor"))?,
        ),
    };
    let jobs = s
        .jobs
        .list(&tenant_of(&caller), state, limit, cursor)
        .await?;
    let next_cursor = (jobs.len() as u32 == limit)
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    Ok(Json(JobList {
        jobs: jobs.iter().map(JobView::of).collect(),
        next_cursor,
    }))
}

/// Cancel and delete a job.
///
/// A queued or running job becomes `cancelled` (a running extraction is stopped: its worker
/// process is killed) and stays visible until retention removes it; a finished job is removed.
/// In both cases its input and result are deleted.
#[utoipa::path(
    delete,
    path = "/v1/jobs/{id}",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled; input and result deleted", body = JobView),
        (status = 204, description = "A finished job and its data were deleted"),
        (status = 400, description = "The id is not valid UTF-8 after percent-decoding", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No API key, or an unknown, malformed or revoked one", body = Problem, content_type = "application/problem+json",
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "The key lacks the `jobs:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 421, description = "Open mode (no API key) and a Host other than localhost, 127.0.0.1 or [::1] (`misdirected_request`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or tenant's request rate (`rate_limited`) or too many failed authentications from this source (`too_many_auth_failures`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A store is unavailable (`store_unavailable`); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    tag = "jobs"
)]
pub async fn delete_job(
    State(s): Shared,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let before = own_job(&s, &caller, id).await?;
    let deleted: Result<(Response, &'static str), ApiError> = async {
        let active = matches!(before.state, JobState::Queued | JobState::Running);
        let after = if active {
            s.jobs.cancel(id, now_millis()).await?
        } else {
            None
        };
        s.cancel_local(id);
        s.blobs.delete(&AppState::input_key(id)).await?;
        s.blobs.delete(&AppState::result_key(id)).await?;
        match after {
            Some(job) if job.state == JobState::Cancelled => {
                // The row stays visible as cancelled; its data key goes now (crypto-shredding).
                s.jobs.set_data_key(id, &[]).await?;
                let view = (StatusCode::OK, Json(JobView::of(&job))).into_response();
                Ok((view, "cancelled"))
            }
            _ => {
                s.jobs.delete(id).await?;
                Ok((StatusCode::NO_CONTENT.into_response(), "deleted"))
            }
        }
    }
    .await;
    // Recorded after the fact, with what happened: a deletion that failed is not "ok".
    let (outcome, detail) = match &deleted {
        Ok((_, result)) => ("ok", serde_json::json!({ "result": result })),
        Err(e) => ("failed", serde_json::json!({ "error": e.code() })),
    };
    crate::audit::record(
        &s,
        ndf_store::AuditEvent::new(
            actor_of(&caller),
            ndf_store::AuditAction::JobDeleted,
            outcome,
        )
        .tenant(&before.tenant)
        .target(format!("job:{id}"))
        .detail(detail),
    )
    .await;
    deleted.map(|(response, _)| response)
}

/// Liveness: the process answers.
///
/// `drained` tells whether it claims jobs: a drained replica is healthy (it finishes what it
/// holds and serves everything else).
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive; `drained` is true while the replica claims no new jobs (drain_file, SIGUSR1)")), tag = "ops")]
pub async fn healthz(State(s): Shared) -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "drained": s.claims.paused()}))
}

/// Readiness: stores reachable, not draining, not saturated.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "Not ready (draining, saturated or storage unreachable)", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "ops"
)]
pub async fn readyz(State(s): Shared) -> Result<Json<serde_json::Value>, ApiError> {
    if s.is_draining() {
        return Err(ApiError::new(
            ApiCode::Draining,
            "the service is shutting down",
        ));
    }
    let probe = Duration::from_secs(2);
    tokio::time::timeout(probe, s.jobs.ping())
        .await
        .map_err(|_| {
            ApiError::new(
                ApiCode::StoreUnavailable,
                "the job store did not answer in time",
            )
        })??;
    tokio::time::timeout(probe, s.blobs.ping())
        .await
        .map_err(|_| {
            ApiError::new(
                ApiCode::StoreUnavailable,
                "the blob store did not answer in time",
            )
        })??;
    let status = s.pool.status();
    // Saturated: no worker free and the waiting room full (with max_waiting 0, any free worker
    // still means ready).
    if status.busy >= status.workers && status.waiting >= s.config.max_waiting {
        return Err(
            ApiError::new(ApiCode::Overloaded, "extraction workers are saturated").retry_after(1),
        );
    }
    // Drained is still ready: a drained replica answers every request (reads of results,
    // submissions queued for the other colour); only its consumers stop claiming.
    Ok(Json(serde_json::json!({
        "status": "ready",
        "workers": status.workers,
        "busy": status.busy,
        "drained": s.claims.paused(),
    })))
}
