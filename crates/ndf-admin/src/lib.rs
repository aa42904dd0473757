//! The admin listener's router: CPU profiles and heap statistics of the running process.
//!
//! Mount [`router`] on a listener of its own (loopback or a private network): nothing here is
//! authenticated, and a profile costs CPU while it runs.
//!
//! | Endpoint | Answer |
//! | --- | --- |
//! | `GET /debug/pprof/profile?seconds=N&frequency=F` | CPU profile in pprof format, **gzip-compressed protobuf** (as Go's `net/http/pprof` serves it), `application/octet-stream`, `Content-Disposition: attachment; filename="cpu.pb.gz"`. Read with `go tool pprof -http=: cpu.pb.gz` or `pprof`. |
//! | `GET /debug/pprof/flamegraph?seconds=N&frequency=F` | The same sampling drawn as an SVG flame graph (`image/svg+xml`); hover a frame for its sample count. |
//! | `GET /debug/heap` | JSON: allocator counters and process memory (below). |
//!
//! Profiles: `seconds` is 1..=`max_profile_seconds` (default 60; when absent, 30 or the
//! maximum if lower); `frequency` is the sampling rate in Hz, 1..=1000 (default 99). Sampling
//! is SIGPROF-based (the `pprof` crate) and covers every thread of the process. The request
//! answers when the time is up. One profile at a time per process: a request while one runs
//! gets 409 `profile_in_progress`. A bad parameter gets 400 `invalid_argument`. Errors are RFC
//! 9457 problem documents (`application/problem+json`) shaped like the public API's:
//! `{"type": "urn:neuraldocflow:problem:<code>", "title", "status", "detail", "code"}`.
//!
//! Heap document:
//!
//! ```json
//! {
//!   "counting_allocator": true,
//!   "allocator": {"current_bytes": 0, "peak_bytes": 0, "allocations": 0, "deallocations": 0,
//!                 "reallocations": 0, "total_allocated_bytes": 0},
//!   "process": {"vm_rss_bytes": 0, "vm_hwm_bytes": 0, "vm_data_bytes": 0, "vm_size_bytes": 0,
//!               "threads": 0}
//! }
//! ```
//!
//! `allocator` comes from `ndf_alloc::stats()` (byte counts are requested sizes); when the
//! binary did not install `ndf_alloc::CountingAllocator` as its global allocator,
//! `counting_allocator` is false and those counters are all zero. `process` is read from
//! `/proc/self/status` (VmRSS, VmHWM, VmData, VmSize in bytes, and the thread count); its
//! fields are null where that is unavailable (on systems other than Linux).

mod flamegraph;
mod heap;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

/// Default for [`AdminOptions::max_profile_seconds`].
pub const DEFAULT_MAX_PROFILE_SECONDS: u64 = 60;
/// Default for [`AdminOptions::default_frequency_hz`].
pub const DEFAULT_FREQUENCY_HZ: u32 = 99;
/// Highest sampling frequency accepted: the interval timer's resolution makes more pointless.
pub const MAX_FREQUENCY_HZ: u32 = 1000;
/// Length of a profile whose request names none (Go's default), unless the maximum is lower.
const DEFAULT_PROFILE_SECONDS: u64 = 30;
/// Libraries whose code the profiler does not unwind through: unwinding from a signal handler
/// inside them can deadlock (the pprof crate's advice).
const UNWIND_BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// Settings of the admin router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminOptions {
    /// Longest profile a request may ask for, in seconds (at least 1).
    pub max_profile_seconds: u64,
    /// Sampling frequency when a request names none, in Hz (1..=[`MAX_FREQUENCY_HZ`]).
    pub default_frequency_hz: u32,
}

impl Default for AdminOptions {
    fn default() -> Self {
        Self {
            max_profile_seconds: DEFAULT_MAX_PROFILE_SECONDS,
            default_frequency_hz: DEFAULT_FREQUENCY_HZ,
        }
    }
}

impl AdminOptions {
    /// Out-of-range settings pulled into range rather than refused: the router cannot fail.
    fn clamped(self) -> Self {
        Self {
            max_profile_seconds: self.max_profile_seconds.max(1),
            default_frequency_hz: self.default_frequency_hz.clamp(1, MAX_FREQUENCY_HZ),
        }
    }
}

/// The admin routes (see the crate documentation). Needs a Tokio runtime to serve.
pub fn router(options: AdminOptions) -> Router {
    Router::new()
        .route("/debug/pprof/profile", get(profile))
        .route("/debug/pprof/flamegraph", get(flamegraph))
        .route("/debug/heap", get(heap))
        .with_state(Arc::new(options.clamped()))
}

/// What the admin routes answer instead of a result.
#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("a CPU profile is already being taken; retry when it ends")]
    ProfileInProgress,
    #[error("the profiler failed: {0}")]
    Internal(String),
}

/// An RFC 9457 problem document, the shape the public API uses.
#[derive(Debug, Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'static str,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, title) = match &self {
            AdminError::InvalidArgument(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                "Invalid argument",
            ),
            AdminError::ProfileInProgress => (
                StatusCode::CONFLICT,
                "profile_in_progress",
                "A profile is already running",
            ),
            AdminError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        };
        let problem = Problem {
            kind: format!("urn:neuraldocflow:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            code,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            body,
        )
            .into_response()
    }
}

/// The query of both profile routes, as text so that bad values get our own 400.
#[derive(Debug, Deserialize)]
struct ProfileQuery {
    seconds: Option<String>,
    frequency: Option<String>,
}

/// A validated profile request.
#[derive(Debug, Clone, Copy)]
struct ProfileRequest {
    seconds: u64,
    frequency_hz: u32,
}

impl ProfileRequest {
    fn parse(
        options: &AdminOptions,
        query: Result<Query<ProfileQuery>, QueryRejection>,
    ) -> Result<Self, AdminError> {
        let Query(query) =
            query.map_err(|rejection| AdminError::InvalidArgument(rejection.body_text()))?;
        let max = options.max_profile_seconds;
        let seconds = match query.seconds.as_deref() {
            None => DEFAULT_PROFILE_SECONDS.min(max),
            Some(text) => parse_in_range("seconds", text, 1, max)?,
        };
        let frequency_hz = match query.frequency.as_deref() {
            None => options.default_frequency_hz,
            Some(text) => {
                let hz = parse_in_range("frequency", text, 1, u64::from(MAX_FREQUENCY_HZ))?;
                u32::try_from(hz).unwrap_or(MAX_FREQUENCY_HZ)
            }
        };
        Ok(Self {
            seconds,
            frequency_hz,
        })
    }
}

fn parse_in_range(name: &str, text: &str, min: u64, max: u64) -> Result<u64, AdminError> {
    let out_of_range = || {
        AdminError::InvalidArgument(format!(
            "`{name}` must be a whole number from {min} to {max}, not {:?}",
            text.chars().take(32).collect::<String>()
        ))
    };
    let value: u64 = text.trim().parse().map_err(|_| out_of_range())?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(out_of_range())
    }
}

/// Whether a profile is running in this process. Process-wide, not per router: the pprof
/// profiler and the SIGPROF timer it drives are process-wide too.
static PROFILE_RUNNING: AtomicBool = AtomicBool::new(false);

/// Holding this means the profiler is ours; dropping it (also when the request is abandoned)
/// frees it.
#[derive(Debug)]
struct ProfileSlot(());

impl ProfileSlot {
    fn acquire() -> Option<Self> {
        PROFILE_RUNNING
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Self(()))
    }
}

impl Drop for ProfileSlot {
    fn drop(&mut self) {
        PROFILE_RUNNING.store(false, Ordering::Release);
    }
}

/// Samples the process for the requested time and renders the report with `render` on a
/// blocking thread (symbolising stacks and rendering take CPU).
async fn take_profile<T, F>(request: ProfileRequest, render: F) -> Result<T, AdminError>
where
    F: FnOnce(&pprof::Report) -> Result<T, AdminError> + Send + 'static,
    T: Send + 'static,
{
    let slot = ProfileSlot::acquire().ok_or(AdminError::ProfileInProgress)?;
    let frequency = i32::try_from(request.frequency_hz).unwrap_or(DEFAULT_FREQUENCY_HZ as i32);
    // Starting may walk the loaded libraries and warm up the symboliser: off the runtime too.
    // The slot travels with the guard so that it stays taken while a profiler may be starting,
    // even if this request is abandoned meanwhile.
    let (slot, guard) = tokio::task::spawn_blocking(move || {
        pprof::ProfilerGuardBuilder::default()
            .frequency(frequency)
            .blocklist(UNWIND_BLOCKLIST)
            .build()
            .map(|guard| (slot, guard))
    })
    .await
    .map_err(|error| AdminError::Internal(error.to_string()))?
    .map_err(|error| match error {
        // Someone else in the process drives the pprof profiler.
        pprof::Error::Running => AdminError::ProfileInProgress,
        other => AdminError::Internal(other.to_string()),
    })?;
    tracing::info!(
        seconds = request.seconds,
        frequency_hz = request.frequency_hz,
        "CPU profile started"
    );
    tokio::time::sleep(Duration::from_secs(request.seconds)).await;
    tokio::task::spawn_blocking(move || {
        // The slot is released only once the profiler has stopped, even if the client left.
        let _slot = slot;
        let report = guard
            .report()
            .build()
            .map_err(|error| AdminError::Internal(error.to_string()));
        drop(guard);
        let report = report?;
        let samples: isize = report.data.values().sum();
        tracing::info!(samples, "CPU profile finished");
        render(&report)
    })
    .await
    .map_err(|error| AdminError::Internal(error.to_string()))?
}

async fn profile(
    State(options): State<Arc<AdminOptions>>,
    query: Result<Query<ProfileQuery>, QueryRejection>,
) -> Result<Response, AdminError> {
    let request = ProfileRequest::parse(&options, query)?;
    let body = take_profile(request, encode_pprof).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"cpu.pb.gz\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// The report as a gzip-compressed pprof protobuf.
fn encode_pprof(report: &pprof::Report) -> Result<Vec<u8>, AdminError> {
    use pprof::protos::Message as _;
    let profile = report
        .pprof()
        .map_err(|error| AdminError::Internal(error.to_string()))?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&profile.encode_to_vec())
        .and_then(|()| gzip.finish())
        .map_err(|error| AdminError::Internal(error.to_string()))
}

async fn flamegraph(
    State(options): State<Arc<AdminOptions>>,
    query: Result<Query<ProfileQuery>, QueryRejection>,
) -> Result<Response, AdminError> {
    let request = ProfileRequest::parse(&options, query)?;
    let svg = take_profile(request, move |report| {
        Ok(render_flamegraph(report, request))
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        svg,
    )
        .into_response())
}

fn render_flamegraph(report: &pprof::Report, request: ProfileRequest) -> String {
    let stacks = report.data.iter().map(|(frames, &count)| {
        // pprof lists frames leaf first, and inlined functions innermost first within a frame.
        let mut names = Vec::with_capacity(frames.frames.len() + 1);
        names.push(frames.thread_name_or_id());
        for frame in frames.frames.iter().rev() {
            for symbol in frame.iter().rev() {
                names.push(symbol.name());
            }
        }
        (names, u64::try_from(count).unwrap_or(0))
    });
    let title = format!(
        "CPU flame graph: {} s at {} Hz",
        request.seconds, request.frequency_hz
    );
    flamegraph::render_svg(stacks, &title)
}

async fn heap() -> Response {
    // Reading /proc is a (tiny) blocking file read.
    match tokio::task::spawn_blocking(heap::report).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(error) => AdminError::Internal(error.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: AdminOptions, query: &str) -> Result<ProfileRequest, AdminError> {
        let uri: axum::http::Uri = format!("/p?{query}")
            .parse()
            .map_err(|_| AdminError::Internal("test uri".to_owned()))?;
        ProfileRequest::parse(&options, Query::try_from_uri(&uri))
    }

    #[test]
    fn defaults_apply_when_the_query_names_nothing() {
        let request = parse(AdminOptions::default(), "").map_err(|e| e.to_string());
        assert!(matches!(
            request,
            Ok(ProfileRequest {
                seconds: 30,
                frequency_hz: 99
            })
        ));
        let short = AdminOptions {
            max_profile_seconds: 5,
            default_frequency_hz: 250,
        };
        assert!(matches!(
            parse(short, "other=1"),
            Ok(ProfileRequest {
                seconds: 5,
                frequency_hz: 250
            })
        ));
    }

    #[test]
    fn values_out_of_range_or_not_numbers_are_refused() {
        let options = AdminOptions::default();
        for query in [
            "seconds=0",
            "seconds=61",
            "seconds=-1",
            "seconds=1.5",
            "seconds=",
            "seconds=99999999999999999999999",
            "frequency=0",
            "frequency=1001",
            "frequency=fast",
        ] {
            assert!(
                matches!(parse(options, query), Err(AdminError::InvalidArgument(_))),
                "{query}"
            );
        }
        assert!(matches!(
            parse(options, "seconds=60&frequency=1000"),
            Ok(ProfileRequest {
                seconds: 60,
                frequency_hz: 1000
            })
        ));
    }

    #[test]
    fn options_are_pulled_into_range() {
        let clamped = AdminOptions {
            max_profile_seconds: 0,
            default_frequency_hz: 1_000_000,
        }
        .clamped();
        assert_eq!(clamped.max_profile_seconds, 1);
        assert_eq!(clamped.default_frequency_hz, MAX_FREQUENCY_HZ);
    }

    #[test]
    fn the_slot_is_exclusive_and_freed_on_drop() {
        let first = ProfileSlot::acquire();
        assert!(first.is_some());
        assert!(ProfileSlot::acquire().is_none());
        drop(first);
        let again = ProfileSlot::acquire();
        assert!(again.is_some());
    }
}
