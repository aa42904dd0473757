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
