//! The API listener's connections: an accept loop with a connection cap, TLS handshakes that
//! are logged and counted when refused, and HTTP/1.1 + HTTP/2 (hyper) with time limits on every
//! phase a client controls.
//!
//! - **Connection cap** (`max_connections`, at most three quarters of the descriptor limit):
//!   beyond it a new connection is accepted and closed at once (counted, logged at most
//!   [`LOG_BURST`] times per [`LOG_WINDOW`]), so the listener's backlog never fills with
//!   clients waiting for nothing and descriptors stay available for the open connections,
//!   the store and the workers.
//! - **Header clock** (`http_header_read_timeout_ms`): from the accept until the first request's
//!   headers are read (the TLS handshake included), and on a kept-alive HTTP/1.1 connection
//!   from the first byte of the next request. A slow-headers client (slowloris) is disconnected.
//! - **Body clock** (`http_body_read_timeout_ms`): from a request's headers until its body is
//!   read; a slower upload is answered 408 `request_timeout` and its connection closed.
//! - **Idle clock** (`http_idle_timeout_ms`): a connection with no request in flight, or whose
//!   writes have been blocked because the client stopped reading, is closed.
//! - **HTTP/2**: at most `http2_max_concurrent_streams` streams and
//!   `http2_max_header_list_bytes` of headers per request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Version, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::config::Config;
use crate::problem::{ApiCode, ApiError};
use crate::telemetry::{Metric, Registry};

/// Most log lines of one kind (refused connection, refused handshake) per [`LOG_WINDOW`]; the
/// rest are counted and reported with the next line.
pub const LOG_BURST: u32 = 10;
/// The window of [`LOG_BURST`].
pub const LOG_WINDOW: Duration = Duration::from_secs(60);

/// The connection limits of a listener (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Which listener (logs).
    pub listener: &'static str,
    /// TLS handshake and request headers.
    pub header: Duration,
    /// A request's body.
    pub body: Duration,
    /// No request in flight, or writes blocked.
    pub idle: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// HTTP/2 streams per connection.
    pub h2_max_streams: u32,
    /// HTTP/2 header list bytes.
    pub h2_max_header_list: u32,
}

impl Limits {
    /// The limits of `config`, with the connection cap lowered to three quarters of the
    /// descriptor limit `fd_limit` (when known), so connections cannot take the descriptors
    /// the store, the workers and the listener itself need.
    pub fn new(config: &Config, fd_limit: Option<u64>) -> Self {
        let by_fds = fd_limit.map_or(usize::MAX, |n| {
            usize::try_from(n / 4 * 3).unwrap_or(usize::MAX).max(1)
        });
        Limits {
            listener: "API",
            header: Duration::from_millis(config.http_header_read_timeout_ms),
            body: Duration::from_millis(config.http_body_read_timeout_ms),
            idle: Duration::from_millis(config.http_idle_timeout_ms),
            max_connections: config.max_connections.min(by_fds),
            h2_max_streams: config.http2_max_concurrent_streams,
            h2_max_header_list: config.http2_max_header_list_bytes,
        }
    }
}

/// Open connections at most on the admin listener: a few scrapers and an operator's profile
/// requests, never a crowd.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

impl Limits {
    /// The admin listener's limits: the API's clocks, and at most [`ADMIN_MAX_CONNECTIONS`]
    /// connections (its descriptors come out of the same process limit as the API's).
    pub fn admin(config: &Config) -> Self {
        Limits {
            listener: "admin",
            max_connections: ADMIN_MAX_CONNECTIONS,
            ..Limits::new(config, None)
        }
    }
}

/// Raise the soft limit on open descriptors to the hard limit and return the result (`None`
/// when it cannot be read). Logged either way: the connection cap depends on it.
pub fn raise_fd_limit() -> Option<u64> {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            let (soft, hard) = before.unwrap_or((now, now));
            if now > soft {
                tracing::info!(
                    from = soft,
                    to = now,
                    hard,
                    "raised the open-descriptor limit (RLIMIT_NOFILE) to the hard limit"
                );
            } else {
                tracing::info!(limit = now, hard, "open-descriptor limit (RLIMIT_NOFILE)");
            }
            Some(now)
        }
        Err(e) => {
            let soft = before.map(|(s, _)| s);
            tracing::warn!(error = %e, limit = ?soft, "cannot raise the open-descriptor limit (RLIMIT_NOFILE)");
            soft
        }
    }
}

/// Log lines of one kind, at most [`LOG_BURST`] per [`LOG_WINDOW`] (a window starts with
/// its first line).
#[derive(Debug, Default)]
pub struct LogLimiter {
    /// (start of the window, lines in it, lines suppressed since the last one written).
    state: Mutex<(Option<Instant>, u32, u64)>,
}

impl LogLimiter {
    /// `Some(suppressed since the last line)` when a line may be written now.
    pub fn allow(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (start, lines, suppressed) = &mut *s;
        if start.is_none_or(|t| t.elapsed() >= LOG_WINDOW) {
            *start = Some(Instant::now());
            *lines = 0;
        }
        if *lines < LOG_BURST {
            *lines += 1;
            Some(std::mem::take(suppressed))
        } else {
            *suppressed += 1;
            None
        }
    }
}

/// What the connections share.
struct Shared {
    app: Router,
    tls: Option<crate::tls::CurrentConfig>,
    limits: Limits,
    metrics: Arc<Registry>,
    builder: hyper_util::server::conn::auto::Builder<TokioExecutor>,
    refused_log: LogLimiter,
    handshake_log: LogLimiter,
}

/// Serve `app` on `listener` (over TLS when `tls` is set) until `shutdown` resolves, then
/// stop accepting, ask open connections to finish (HTTP/1.1: after the current response;
/// HTTP/2: GOAWAY) and wait for them. Dropping the returned future closes every connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<crate::tls::CurrentConfig>,
    limits: Limits,
    metrics: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The header clock is this module's (it must not run while a keep-alive connection is
    // merely idle, which hyper's own header timeout does).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_streams)
        .max_header_list_size(limits.h2_max_header_list);
    let shared = Arc::new(Shared {
        app,
        tls,
        limits,
        metrics,
        builder,
        refused_log: LogLimiter::default(),
        handshake_log: LogLimiter::default(),
    });
    tracing::info!(
        listener = limits.listener,
        max_connections = limits.max_connections,
        header_timeout_ms = limits.header.as_millis() as u64,
        body_timeout_ms = limits.body.as_millis() as u64,
        idle_timeout_ms = limits.idle.as_millis() as u64,
        "listener limits"
    );
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let accept_errors = LogLimiter::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!(panic = %crate::panic_message(e.into_panic().as_ref()), listener = limits.listener, "a connection task panicked");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        drop(stream);
                        shared.metrics.inc(Metric::HttpConnectionsRefused, &[]);
                        if let Some(suppressed) = shared.refused_log.allow() {
                            tracing::warn!(
                                %peer,
                                listener = limits.listener,
                                max_connections = limits.max_connections,
                                suppressed,
                                "connection refused: max_connections are open"
                            );
                        }
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, peer, shared.clone(), stop_rx.clone(), permit));
                }
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept:
                    // wait a little rather than spin.
                    if let Some(suppressed) = accept_errors.allow() {
                        tracing::warn!(error = %e, suppressed, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while let Some(done) = connections.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            tracing::error!(panic = %crate::panic_message(e.into_panic().as_ref()), listener = limits.listener, "a connection task panicked");
        }
    }
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Header,
    Idle,
    Write,
}

impl Expired {
    fn label(self) -> &'static str {
        match self {
            Expired::Header => "header",
            Expired::Idle => "idle",
            Expired::Write => "write",
        }
    }
}

/// Every `phase` label of [`Metric::HttpTimeouts`], for series that exist at zero.
pub const TIMEOUT_PHASES: &[&str] = &["header", "body", "idle", "write"];

#[derive(Debug)]
struct ClockState {
    in_flight: usize,
    /// HTTP/2: bytes while idle are pings and window updates, not a new request.
    h2: bool,
    /// Waiting for a request's headers since then.
    header_since: Option<Instant>,
    /// No request in flight since then.
    idle_since: Option<Instant>,
    /// A write has been blocked (the client does not read) since then.
    write_blocked_since: Option<Instant>,
}

/// The phase of one connection, as seen by its reads, writes and requests.
#[derive(Debug)]
struct Clock {
    state: Mutex<ClockState>,
    changed: Notify,
}

impl Clock {
    fn new() -> Self {
        Clock {
            state: Mutex::new(ClockState {
                in_flight: 0,
                h2: false,
                header_since: Some(Instant::now()),
                idle_since: None,
                write_blocked_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ClockState) -> bool) {
        let changed = f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        if changed {
            self.changed.notify_one();
        }
    }

    fn read_some(&self) {
        self.update(|s| {
            if s.in_flight == 0 && !s.h2 && s.header_since.is_none() {
                s.header_since = Some(Instant::now());
                s.idle_since = None;
                return true;
            }
            false
        });
    }

    fn write_blocked(&self, blocked: bool) {
        self.update(|s| match (blocked, s.write_blocked_since) {
            (true, None) => {
                s.write_blocked_since = Some(Instant::now());
                true
            }
            (false, Some(_)) => {
                s.write_blocked_since = None;
                true
            }
            _ => false,
        });
    }

    fn request_started(self: &Arc<Self>, version: Version) -> RequestGuard {
        self.update(|s| {
            s.in_flight += 1;
            s.h2 |= version == Version::HTTP_2;
            s.header_since = None;
            s.idle_since = None;
            true
        });
        RequestGuard(self.clone())
    }

    /// The next deadline and what it bounds.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Expired)> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = s.write_blocked_since {
            return Some((t + limits.idle, Expired::Write));
        }
        if s.in_flight > 0 {
            return None;
        }
        if let Some(t) = s.header_since {
            return Some((t + limits.header, Expired::Header));
        }
        s.idle_since.map(|t| (t + limits.idle, Expired::Idle))
    }
}

/// One request in flight on a connection; dropped when its response has been sent (or the
/// request was abandoned).
#[derive(Debug)]
struct RequestGuard(Arc<Clock>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Some(Instant::now());
            }
            true
        });
    }
}

/// Resolves when the connection overstayed one of its clocks.
async fn watchdog(clock: Arc<Clock>, limits: Limits) -> Expired {
    loop {
        let changed = clock.changed.notified();
        match clock.deadline(&limits) {
            None => changed.await,
            Some((at, why)) => {
                if at <= Instant::now() {
                    return why;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = changed => {}
                }
            }
        }
    }
}

/// The TCP stream, telling the clock about reads and blocked writes.
struct ClockedIo {
    inner: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for ClockedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read_some();
        }
        polled
    }
}

impl AsyncWrite for ClockedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.clock.write_blocked(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.clock.write_blocked(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One connection: TLS handshake (if any), then HTTP until the client leaves, a clock expires
/// or the listener stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let metrics = shared.metrics.clone();
    metrics.add(Metric::HttpConnections, &[], 1.0);
    let clock = Arc::new(Clock::new());
    let io = ClockedIo {
        inner: stream,
        clock: clock.clone(),
    };
    let mut dog = std::pin::pin!(watchdog(clock.clone(), shared.limits));
    match &shared.tls {
        None => serve_http(TokioIo::new(io), peer, &shared, &clock, dog, stop).await,
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.get());
            let handshake = tokio::select! {
                done = acceptor.accept(io) => done.map_err(|e| (tls_failure_reason(&e), Some(e))),
                _ = &mut dog => Err(("timeout", None)),
            };
            match handshake {
                Ok(tls_stream) => {
                    serve_http(TokioIo::new(tls_stream), peer, &shared, &clock, dog, stop).await;
                }
                Err((reason, error)) => {
                    metrics.inc(Metric::TlsHandshakeFailures, &[reason]);
                    if reason == "timeout" {
                        metrics.inc(Metric::HttpTimeouts, &["header"]);
                    }
                    if let Some(suppressed) = shared.handshake_log.allow() {
                        // The peer address and rustls's reason; rustls errors carry no key
                        // material.
                        let error = error.map_or_else(
                            || "no handshake within http_header_read_timeout_ms".to_owned(),
                            |e| e.to_string(),
                        );
                        tracing::warn!(%peer, reason, %error, suppressed, "TLS handshake refused");
                    }
                }
            }
        }
    }
    metrics.add(Metric::HttpConnections, &[], -1.0);
}

fn tls_failure_reason(e: &std::io::Error) -> &'static str {
    crate::tls::failure_reason(e)
}

async fn serve_http<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    clock: &Arc<Clock>,
    mut dog: Pin<&mut impl Future<Output = Expired>>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let shared = shared.clone();
        let clock = clock.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(req, peer, shared.clone(), clock.clone())
        })
    };
    let conn = shared.builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            why = &mut dog => {
                shared.metrics.inc(Metric::HttpTimeouts, &[why.label()]);
                tracing::debug!(%peer, phase = why.label(), "connection closed by its timeout");
                return;
            }
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// One request: the peer address in its extensions, its body under the body clock, a 408
/// when that expired, and its response body holding the request's place in the clock.
async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    clock: Arc<Clock>,
) -> Result<axum::response::Response, Infallible> {
    let guard = clock.request_started(req.version());
    let http1 = req.version() < Version::HTTP_2;
    let timed_out = Arc::new(AtomicBool::new(false));
    let body_limit = shared.limits.body;
    let flag = timed_out.clone();
    let mut req = req.map(move |b| Body::new(TimedBody::new(b, body_limit, flag)));
    req.extensions_mut().insert(ConnectInfo(peer));
    let Ok(mut response) = shared.app.clone().oneshot(req).await;
    if timed_out.load(Ordering::Relaxed) {
        shared.metrics.inc(Metric::HttpTimeouts, &["body"]);
        response = ApiError::new(
            ApiCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} ms",
                body_limit.as_millis()
            ),
        )
        .into_response();
        if http1 {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    Ok(response.map(|b| {
        Body::new(GuardedBody {
            inner: b,
            _guard: guard,
        })
    }))
}

/// The request body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// A request body that fails with [`BodyTimeout`] once its deadline passed.
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
    done: bool,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration, timed_out: Arc<AtomicBool>) -> Self {
        TimedBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            timed_out,
            done: false,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => {
                if self.deadline.as_mut().poll(cx).is_ready() {
                    self.done = true;
                    self.timed_out.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(BodyTimeout.into())))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request "in flight" until it is sent or dropped.
struct GuardedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
