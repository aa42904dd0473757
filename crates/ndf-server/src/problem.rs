//! The one error table of the HTTP API: every error is an RFC 9457 problem document
//! (`application/problem+json`) with a stable `code`, mapped to one HTTP status here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ndf_model::Code;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:neuraldocflow:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, stable summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence (never document content or secrets).
    pub detail: String,
    /// Stable machine-readable code (see the table in docs/api.md).
    pub code: String,
}

/// An API error: a row of the table plus this occurrence's detail.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    retry_after: Option<u64>,
}

/// The rows of the table that are not engine codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCode {
    /// 400 `invalid_argument`: a bad query parameter, header or option.
    InvalidArgument,
    /// 401 `unauthorized`: no API key, or a key that is unknown or revoked.
    Unauthorized,
    /// 403 `forbidden`: the key lacks the scope this endpoint needs.
    Forbidden,
    /// 404 `not_found`: no such job (or another tenant's).
    NotFound,
    /// 405 `method_not_allowed`: the path exists but not with this method.
    MethodNotAllowed,
    /// 408 `request_timeout`: the request did not arrive in time (its body within
    /// `http_body_read_timeout_ms`).
    RequestTimeout,
    /// 409 `idempotency_conflict`: the Idempotency-Key was used with a different body.
    IdempotencyConflict,
    /// 409 `job_not_finished`: the result of a queued or running job was asked for.
    JobNotFinished,
    /// 410 `result_gone`: the job finished but its result was deleted or expired.
    ResultGone,
    /// 413 `payload_too_large`: the body exceeds `max_body_bytes`.
    PayloadTooLarge,
    /// 415 `not_pdf`: the body is not a PDF.
    NotPdf,
    /// 415 `unsupported_media_type`: a JSON endpoint got another content type.
    UnsupportedMediaType,
    /// 409 `profile_in_progress`: the admin listener is already taking a CPU profile.
    ProfileInProgress,
    /// 429 `queue_full`: too many queued jobs; retry later.
    QueueFull,
    /// 429 `rate_limited`: the key or its tenant is over its request rate; see Retry-After.
    RateLimited,
    /// 429 `too_many_auth_failures`: this source failed authentication too often; see
    /// Retry-After.
    TooManyAuthFailures,
    /// 421 `misdirected_request`: open mode serves only `localhost`, `127.0.0.1` and `[::1]`
    /// Host names (DNS rebinding).
    MisdirectedRequest,
    /// 503 `overloaded`: every extraction worker is busy and the wait queue is full.
    Overloaded,
    /// 503 `draining`: the replica is shutting down.
    Draining,
    /// 503 `store_unavailable`: the job or blob store cannot be reached.
    StoreUnavailable,
    /// 504 `timeout`: the request's deadline passed; its work was cancelled.
    Timeout,
    /// 422 `worker_lost`: the extraction worker died on this document (memory cap, crash).
    WorkerLost,
    /// 500 `internal`: a bug.
    Internal,
}

impl ApiCode {
    /// Every row, for documentation and tests.
    pub const ALL: &'static [ApiCode] = &[
        ApiCode::InvalidArgument,
        ApiCode::Unauthorized,
        ApiCode::Forbidden,
        ApiCode::NotFound,
        ApiCode::MethodNotAllowed,
        ApiCode::RequestTimeout,
        ApiCode::IdempotencyConflict,
        ApiCode::JobNotFinished,
        ApiCode::ResultGone,
        ApiCode::PayloadTooLarge,
        ApiCode::NotPdf,
        ApiCode::UnsupportedMediaType,
        ApiCode::ProfileInProgress,
        ApiCode::QueueFull,
        ApiCode::RateLimited,
        ApiCode::TooManyAuthFailures,
        ApiCode::MisdirectedRequest,
        ApiCode::Overloaded,
        ApiCode::Draining,
        ApiCode::StoreUnavailable,
        ApiCode::Timeout,
        ApiCode::WorkerLost,
        ApiCode::Internal,
    ];

    /// (status, code, title).
    pub const fn row(self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiCode::InvalidArgument => (
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                "Invalid argument",
            ),
            ApiCode::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid API key",
            ),
            ApiCode::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "The API key lacks the scope this endpoint needs",
            ),
            ApiCode::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiCode::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            ApiCode::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request did not arrive in time",
            ),
            ApiCode::IdempotencyConflict => (
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "Idempotency key reused with another body",
            ),
            ApiCode::JobNotFinished => (
                StatusCode::CONFLICT,
                "job_not_finished",
                "The job has not finished",
            ),
            ApiCode::ResultGone => (
                StatusCode::GONE,
                "result_gone",
                "The result is no longer available",
            ),
            ApiCode::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Body too large",
            ),
            ApiCode::NotPdf => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_pdf", "Not a PDF"),
            ApiCode::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported content type",
            ),
            ApiCode::ProfileInProgress => (
                StatusCode::CONFLICT,
                "profile_in_progress",
                "A profile is already running",
            ),
            ApiCode::QueueFull => (
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                "Too many queued jobs",
            ),
            ApiCode::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests for this key or tenant",
            ),
            ApiCode::TooManyAuthFailures => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_auth_failures",
                "Too many failed authentications from this source",
            ),
            ApiCode::MisdirectedRequest => (
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                "This Host is not served without an API key",
            ),
            ApiCode::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "All extraction workers are busy",
            ),
            ApiCode::Draining => (
                StatusCode::SERVICE_UNAVAILABLE,
                "draining",
                "The service is shutting down",
            ),
            ApiCode::StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "Storage unavailable",
            ),
            ApiCode::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "The request's deadline passed",
            ),
            ApiCode::WorkerLost => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "worker_lost",
                "The document crashed its extraction worker",
            ),
            ApiCode::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

/// Status of an engine error code returned for a document.
pub const fn engine_status(code: Code) -> StatusCode {
    match code {
        Code::NotPdf => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Io | Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // The document itself cannot be extracted as asked: encrypted, malformed, over a limit.
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl ApiError {
    /// An error of the table with this occurrence's detail.
    pub fn new(code: ApiCode, detail: impl Into<String>) -> Self {
        let (status, code, title) = code.row();
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// An engine error (the document's stable code, e.g. `encrypted`). Codes both tables share
    /// keep the API table's title.
    pub fn engine(code: Code, detail: impl Into<String>) -> Self {
        match code {
            Code::InvalidArgument => return ApiError::new(ApiCode::InvalidArgument, detail),
            Code::NotPdf => return ApiError::new(ApiCode::NotPdf, detail),
            Code::Internal => return ApiError::new(ApiCode::Internal, detail),
            _ => {}
        }
        Self {
            status: engine_status(code),
            code: code.as_str(),
            title: "The document could not be extracted",
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// Ask the client to retry after `seconds` (429 and 503).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:neuraldocflow:problem:{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

/// A storage failure: the answer carries only its stable code and a fixed message (a database
/// error may quote tables, columns or SQL); the whole error chain goes to the log.
impl From<ndf_store::StoreError> for ApiError {
    fn from(e: ndf_store::StoreError) -> Self {
        if e.is_transient() {
            tracing::warn!(error = %e.report(), "storage unavailable");
            ApiError::new(
                ApiCode::StoreUnavailable,
                "storage is unavailable; retry later",
            )
            .retry_after(1)
        } else {
            tracing::error!(error = %e.report(), "storage error");
            ApiError::new(ApiCode::Internal, "internal storage error")
        }
    }
}

/// The `'static` form of a stable error code (engine codes, API codes and the job-only codes),
/// or `other` for a string that is none of them: metric labels stay a closed set.
pub fn static_code(code: &str) -> &'static str {
    all_codes()
        .into_iter()
        .find(|c| *c == code)
        .unwrap_or("other")
}

/// Codes only failed jobs carry, beside the engine and API codes.
const JOB_CODES: [&str; 4] = [
    "input_missing",
    "worker_lost",
    "deadline_exceeded",
    "cancelled",
];

/// Every stable code: engine codes, API codes, job-only codes.
pub fn all_codes() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    v.extend(ApiCode::ALL.iter().map(|c| c.row().1));
    v.extend(JOB_CODES);
    v.sort_unstable();
    v.dedup();
    v
}

/// Response extension naming the error a response carries, for the request metrics.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.extensions_mut().insert(ErrorCode(self.code));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    /// A JSON body axum could not take: over the body limit (413), not `application/json`
    /// (415), or not the expected JSON (400).
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        let code = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiCode::UnsupportedMediaType,
            _ => ApiCode::InvalidArgument,
        };
        ApiError::new(code, e.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::new(ApiCode::InvalidArgument, e.body_text())
    }
}

/// The row of an error response built outside this table (an extractor's rejection, a
/// fallback, a layer): the status's own row where there is one, else `invalid_argument` for
/// other client errors and `internal` for other server errors.
pub fn code_for_status(status: StatusCode) -> ApiCode {
    match status {
        StatusCode::BAD_REQUEST => ApiCode::InvalidArgument,
        StatusCode::UNAUTHORIZED => ApiCode::Unauthorized,
        StatusCode::FORBIDDEN => ApiCode::Forbidden,
        StatusCode::NOT_FOUND => ApiCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiCode::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ApiCode::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => ApiCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiCode::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ApiCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ApiCode::Overloaded,
        StatusCode::GATEWAY_TIMEOUT => ApiCode::Timeout,
        s if s.is_client_error() => ApiCode::InvalidArgument,
        _ => ApiCode::Internal,
    }
}

/// Most bytes of a plain-text error body kept as the problem's detail.
const MAX_DETAIL_BYTES: usize = 4096;

/// Headers of an error response that survive its rewriting into a problem document.
const KEPT_HEADERS: [header::HeaderName; 3] =
    [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE];

fn is_problem(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

/// An error response as a problem document: unchanged if it is one, else rebuilt from the
/// table ([`code_for_status`]) with a plain-text body (an axum rejection's message, at most
/// [`MAX_DETAIL_BYTES`]) as the detail. `Allow`, `Retry-After` and `WWW-Authenticate` are kept.
pub async fn as_problem(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(res.headers()) {
        return res;
    }
    let (parts, body) = res.into_parts();
    let plain_text = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let text = if plain_text {
        let read = axum::body::to_bytes(body, MAX_DETAIL_BYTES);
        match tokio::time::timeout(std::time::Duration::from_secs(1), read).await {
            Ok(Ok(b)) => String::from_utf8_lossy(&b).trim().to_owned(),
            _ => String::new(),
        }
    } else {
        String::new()
    };
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut out = ApiError::new(code_for_status(status), detail).into_response();
    for name in KEPT_HEADERS {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Middleware around every route of the API and of the admin listener: a panic is a 500
/// `internal` problem document (logged, the connection kept), and every other error response
/// becomes a problem document ([`as_problem`]). A 413 over HTTP/1 says `Connection: close`:
/// the rest of the refused body may still be on its way, so the client must not send its next
/// request on this connection.
pub async fn problem_responses(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use futures::FutureExt;
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(res) => {
            let mut res = as_problem(res).await;
            if http1 && res.status() == StatusCode::PAYLOAD_TOO_LARGE {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %message, "a request handler panicked");
            ApiError::new(ApiCode::Internal, "the request failed unexpectedly").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_do_not_collide_with_engine_codes() {
        let mut seen = std::collections::HashSet::new();
        for c in ApiCode::ALL {
            let (_, code, _) = c.row();
            assert!(seen.insert(code), "duplicate {code}");
        }
        for c in Code::ALL {
            // `not_pdf`, `invalid_argument` and `internal` mean the same thing in both tables.
            if seen.contains(c.as_str()) {
                assert!(
                    matches!(c, Code::NotPdf | Code::InvalidArgument | Code::Internal),
                    "{c}"
                );
            }
        }
    }

    /// A router with the API's error handling around routes that fail in each way.
    fn failing_router() -> axum::Router {
        use axum::routing::{get, post};
        async fn takes_json(
            body: Result<axum::Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
        ) -> Result<&'static str, ApiError> {
            let _json = body?;
            Ok("ok")
        }
        axum::Router::new()
            .route("/panic", get(|| async { panic!("deliberate") as &str }))
            .route(
                "/plain",
                get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }),
            )
            .route("/empty", get(|| async { StatusCode::BAD_GATEWAY }))
            .route("/slow", get(|| async { StatusCode::REQUEST_TIMEOUT }))
            .route("/json", post(takes_json))
            .route("/ok", get(|| async { (StatusCode::OK, "fine") }))
            .route(
                "/path/{id}",
                get(|axum::extract::Path(id): axum::extract::Path<String>| async move { id }),
            )
            .layer(axum::middleware::from_fn(problem_responses))
    }

    async fn call(
        router: axum::Router,
        req: axum::http::Request<axum::body::Body>,
    ) -> (StatusCode, Option<String>, serde_json::Value) {
        use tower::ServiceExt;
        let res = router.oneshot(req).await.unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            ct,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    fn get(uri: &str) -> axum::http::Request<axum::body::Body> {
        axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn every_error_response_becomes_a_problem_document() {
        let json = |ct: &str, body: &'static str| {
            axum::http::Request::post("/json")
                .header(header::CONTENT_TYPE, ct)
                .body(axum::body::Body::from(body))
                .unwrap()
        };
        let cases = [
            (get("/panic"), 500, "internal"),
            (get("/plain"), 400, "invalid_argument"),
            (get("/empty"), 500, "internal"),
            (get("/slow"), 408, "request_timeout"),
            (get("/path/%FF"), 400, "invalid_argument"),
            (json("application/json", "{\"a\":"), 400, "invalid_argument"),
            (json("text/plain", "{}"), 415, "unsupported_media_type"),
        ];
        for (req, status, code) in cases {
            let what = req.uri().to_string();
            let (s, ct, body) = call(failing_router(), req).await;
            assert_eq!(s.as_u16(), status, "{what}: {body}");
            assert_eq!(ct.as_deref(), Some("application/problem+json"), "{what}");
            assert_eq!(body["code"], code, "{what}: {body}");
            assert_eq!(body["status"], status, "{what}: {body}");
        }
        // The plain-text body of a rejection survives as the detail.
        let (_, _, body) = call(failing_router(), get("/plain")).await;
        assert_eq!(body["detail"], "short and stout");
        // Successes pass untouched.
        let (s, ct, _) = call(failing_router(), get("/ok")).await;
        assert_eq!(
            (s, ct.as_deref()),
            (StatusCode::OK, Some("text/plain; charset=utf-8"))
        );
    }

    /// docs/api.md's error table has a row for every code of this table, with its status.
    #[test]
    fn api_md_lists_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
        let doc = crate::util::read_small_file(&path, 1 << 20).unwrap();
        for c in ApiCode::ALL {
            let (status, code, _) = c.row();
            let listed = doc.lines().any(|l| {
                l.starts_with(&format!("| {} | ", status.as_u16()))
                    && l.contains(&format!("`{code}`"))
            });
            assert!(
                listed,
                "docs/api.md has no `| {} | `{code}`` row",
                status.as_u16()
            );
        }
    }

    #[test]
    fn statuses_without_a_row_map_into_the_table() {
        for s in 400..600u16 {
            let status = StatusCode::from_u16(s).unwrap();
            let (row_status, _, _) = code_for_status(status).row();
            if status.is_client_error() {
                assert!(row_status.is_client_error(), "{s} -> {row_status}");
            } else {
                assert!(row_status.is_server_error(), "{s} -> {row_status}");
            }
        }
    }

    #[test]
    fn problem_documents_carry_type_status_and_code() {
        let p = ApiError::new(ApiCode::QueueFull, "100000 jobs queued")
            .retry_after(5)
            .problem();
        assert_eq!(p.status, 429);
        assert_eq!(p.code, "queue_full");
        assert_eq!(p.kind, "urn:neuraldocflow:problem:queue_full");
        let e = ApiError::engine(Code::Encrypted, "needs a password");
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code(), "encrypted");
    }
}
