//! The parent side: pre-forked workers, admission, deadlines, cancellation, recycling.

use std::ffi::{OsStr, OsString};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, watch};
use tokio::time::{Instant, timeout, timeout_at};

use crate::protocol::{
    self, DOCUMENT, DONE, ERROR, MAX_REQUEST_JSON, MAX_TIMINGS_JSON, METADATA, PAGE, REQUEST,
    ReadError, TIMINGS, WireError, WireRequest, WireTimings, split_u32,
};
use crate::{DocumentResources, Event, ExtractRequest, MEMORY_LIMIT_ENV, PoolConfig, PoolError};

/// Events buffered between a worker and its consumer: enough to overlap reading the next page
/// with sending the last, few enough to bound the parent's memory per extraction.
const EVENT_BUFFER: usize = 2;

/// Most workers one pool may run.
const MAX_WORKERS: usize = 1024;

/// How long a worker whose output ended may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// How long a recycled worker may take to exit after its stdin closes.
const RETIRE_GRACE: Duration = Duration::from_secs(2);

/// How long `shutdown` waits for killed workers to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// A snapshot of the pool's state and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    /// Worker processes alive (idle or busy).
    pub workers: usize,
    /// Extractions running.
    pub busy: usize,
    /// Submissions waiting for a free worker.
    pub waiting: usize,
    /// Documents finished by a worker (success or typed engine error).
    pub documents_done: u64,
    /// Workers that died or broke the protocol mid-document.
    pub workers_lost: u64,
    /// Workers retired after `recycle_after` documents.
    pub recycled: u64,
    /// Workers killed for a deadline, a cancellation or shutdown.
    pub killed: u64,
    /// Worker processes started, replacements included.
    pub spawned: u64,
}

/// Counters shared with worker handles (which must not keep the pool alive).
#[derive(Debug, Default)]
struct Counters {
    alive: AtomicUsize,
    busy: AtomicUsize,
    waiting: AtomicUsize,
    done: AtomicU64,
    lost: AtomicU64,
    recycled: AtomicU64,
    killed: AtomicU64,
    spawned: AtomicU64,
    /// Process ids of the live workers (for memory accounting).
    pids: Mutex<Vec<u32>>,
    /// Signalled whenever a worker process is gone.
    exited: Notify,
}

/// A pool of worker processes. Cloning gives another handle to the same pool.
///
/// Needs a tokio runtime with IO and time enabled. Dropping the last handle kills the idle
/// workers; call [`Pool::shutdown`] to stop gracefully.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("program", &self.inner.config.program)
            .field("status", &self.status())
            .finish()
    }
}

struct Inner {
    config: PoolConfig,
    /// Ready (or still starting) workers.
    idle: Mutex<Vec<Worker>>,
    /// One permit per worker slot; waiting for one is waiting for a worker (FIFO).
    slots: Arc<Semaphore>,
    counters: Arc<Counters>,
    closing: AtomicBool,
    /// Set to true when shutdown's grace is over: running extractions kill their workers.
    stop: watch::Sender<bool>,
    /// Signalled whenever an extraction ends.
    finished: Notify,
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pid: u32,
    /// The handshake was read.
    ready: bool,
    documents: u32,
    _alive: AliveToken,
}

/// Counts a worker process as alive until its handle (and so its process) is gone.
struct AliveToken(Arc<Counters>, u32);

impl AliveToken {
    fn new(counters: &Arc<Counters>, pid: u32) -> Self {
        counters.alive.fetch_add(1, Ordering::SeqCst);
        counters
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(pid);
        AliveToken(Arc::clone(counters), pid)
    }
}

impl Drop for AliveToken {
    fn drop(&mut self) {
        self.0
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|&p| p != self.1);
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
        self.0.exited.notify_waiters();
    }
}

/// Counts a submission as waiting while it waits.
struct WaitingToken<'a>(&'a Counters);

impl Drop for WaitingToken<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running extraction. Dropping it before `Done` cancels the document: its worker is killed
/// (the work really stops) and replaced.
#[derive(Debug)]
pub struct Extraction {
    events: mpsc::Receiver<Event>,
    outcome: Arc<Mutex<Option<PoolError>>>,
    pid: u32,
    finished: bool,
}

impl Extraction {
    /// Next event; `None` after `Done` or after an error was returned.
    pub async fn next(&mut self) -> Option<Result<Event, PoolError>> {
        if self.finished {
            return None;
        }
        match self.events.recv().await {
            Some(event) => {
                self.finished = matches!(event, Event::Done { .. });
                Some(Ok(event))
            }
            None => {
                self.finished = true;
                let outcome = self
                    .outcome
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                Some(Err(outcome.unwrap_or_else(|| PoolError::WorkerLost {
                    detail: "the extraction ended without a result".into(),
                })))
            }
        }
    }

    /// Process id of the worker running this document (for logs and tests).
    pub fn worker_pid(&self) -> u32 {
        self.pid
    }
}

impl Pool {
    /// Start `config.workers` worker processes. Must be called inside a tokio runtime.
    pub fn new(config: PoolConfig) -> Result<Pool, PoolError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(PoolError::Io(
                "Pool::new must be called inside a tokio runtime".into(),
            ));
        }
        if config.workers == 0 || config.workers > MAX_WORKERS {
            return Err(PoolError::Io(format!(
                "workers must be between 1 and {MAX_WORKERS}"
            )));
        }
        let counters = Arc::new(Counters::default());
        let mut idle = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            // On error the workers started so far are killed as `idle` drops.
            idle.push(spawn_worker(&config, &counters).map_err(|e| PoolError::Io(e.to_string()))?);
        }
        let (stop, _) = watch::channel(false);
        Ok(Pool {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(config.workers)),
                config,
                idle: Mutex::new(idle),
                counters,
                closing: AtomicBool::new(false),
                stop,
                finished: Notify::new(),
            }),
        })
    }

    /// Queue a document; waits for a free worker (bounded by `max_waiting`, else
    /// `Saturated`); the deadline covers waiting and running.
    ///
    /// Requests that cannot succeed (file over `max_file_bytes`, invalid page selection) fail
    /// here with [`PoolError::Extract`] without using a worker.
    pub async fn submit(
        &self,
        pdf: Bytes,
        request: ExtractRequest,
        deadline: Instant,
    ) -> Result<Extraction, PoolError> {
        let inner = &self.inner;
        if inner.closing.load(Ordering::SeqCst) {
            return Err(PoolError::Shutdown);
        }
        let limits = &request.options.limits;
        let len = u32::try_from(pdf.len())
            .ok()
            .filter(|&l| u64::from(l) <= limits.max_file_bytes)
            .ok_or_else(|| PoolError::Extract {
                code: ndf_model::Code::FileTooLarge,
                message: format!(
                    "the file has {} bytes; the limit is {}",
                    pdf.len(),
                    limits.max_file_bytes
                ),
            })?;
        if let Some(p) = &request.options.pages {
            ndf_extract::PageSelection::parse(p)?;
        }
        let json = serde_json::to_vec(&WireRequest {
            format: request.format,
            options: request.options,
        })
        .map_err(|e| PoolError::Io(e.to_string()))?;
        let json_len = u32::try_from(json.len())
            .ok()
            .filter(|&l| l <= MAX_REQUEST_JSON)
            .ok_or_else(|| PoolError::Extract {
                code: ndf_model::Code::InvalidArgument,
                message: "the request options are too large".into(),
            })?;
        // The request frame and the document frame's header, written before the PDF itself.
        let mut head = Vec::with_capacity(json.len() + 2 * protocol::HEADER_LEN);
        head.extend_from_slice(&protocol::header(REQUEST, json_len));
        head.extend_from_slice(&json);
        head.extend_from_slice(&protocol::header(DOCUMENT, len));

        if Instant::now() >= deadline {
            return Err(PoolError::DeadlineExceeded);
        }
        let permit = inner.acquire(deadline).await?;
        if inner.closing.load(Ordering::SeqCst) {
            return Err(PoolError::Shutdown);
        }
        let worker = match inner.take_idle() {
            Some(w) => w,
            // A slot whose replacement could not be started earlier: try again now.
            None => spawn_worker(&inner.config, &inner.counters)
                .map_err(|e| PoolError::Io(e.to_string()))?,
        };
        inner.counters.busy.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let outcome = Arc::new(Mutex::new(None));
        let pid = worker.pid;
        let job = Job {
            head,
            pdf,
            deadline,
        };
        tokio::spawn(drive(
            Arc::clone(inner),
            worker,
            permit,
            job,
            tx,
            Arc::clone(&outcome),
        ));
        Ok(Extraction {
            events: rx,
            outcome,
            pid,
            finished: false,
        })
    }

    /// A snapshot of the pool's state and counters.
    pub fn status(&self) -> PoolStatus {
        let c = &self.inner.counters;
        PoolStatus {
            workers: c.alive.load(Ordering::SeqCst),
            busy: c.busy.load(Ordering::SeqCst),
            waiting: c.waiting.load(Ordering::SeqCst),
            documents_done: c.done.load(Ordering::SeqCst),
            workers_lost: c.lost.load(Ordering::SeqCst),
            recycled: c.recycled.load(Ordering::SeqCst),
            killed: c.killed.load(Ordering::SeqCst),
            spawned: c.spawned.load(Ordering::SeqCst),
        }
    }

    /// Process ids of the live worker processes.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.inner
            .counters
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop taking work; wait up to `grace` for running extractions, then kill the rest.
    /// Waiting submissions and those still running after `grace` get [`PoolError::Shutdown`].
    /// Returns when every worker process has exited.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::SeqCst);
        inner.slots.close();
        if !inner.wait_all_finished(Instant::now() + grace).await {
            inner.stop.send_replace(true);
            inner.wait_all_finished(Instant::now() + KILL_WAIT).await;
        }
        let idle = std::mem::take(&mut *inner.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for mut w in idle {
            let _ = kill(&mut w).await;
        }
        // Workers retired during the grace period exit on their own (or are killed) in the
        // background: wait for them too.
        let until = Instant::now() + KILL_WAIT;
        loop {
            let exited = inner.counters.exited.notified();
            if inner.counters.alive.load(Ordering::SeqCst) == 0
                || timeout_at(until, exited).await.is_err()
            {
                break;
            }
        }
    }
}

impl Inner {
    async fn acquire(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, PoolError> {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(p) => return Ok(p),
            Err(TryAcquireError::Closed) => return Err(PoolError::Shutdown),
            Err(TryAcquireError::NoPermits) => {}
        }
        let max = self.config.max_waiting;
        self.counters
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                (w < max).then_some(w + 1)
            })
            .map_err(|_| PoolError::Saturated)?;
        let _waiting = WaitingToken(&self.counters);
        match timeout_at(deadline, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(PoolError::Shutdown),
            Err(_) => Err(PoolError::DeadlineExceeded),
        }
    }

    fn take_idle(&self) -> Option<Worker> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// Put a worker back, or retire it when the pool is closing.
    fn put_idle(&self, worker: Worker) {
        if self.closing.load(Ordering::SeqCst) {
            retire(worker);
        } else {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(worker);
        }
    }

    /// Start a worker for a slot whose worker is gone (unless closing). If that fails the
    /// slot stays empty and the next submission tries again.
    fn replace(&self) {
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(w) = spawn_worker(&self.config, &self.counters) {
            self.put_idle(w);
        }
    }

    /// Wait until no extraction runs or `until` passes; true when none runs.
    async fn wait_all_finished(&self, until: Instant) -> bool {
        loop {
            let notified = self.finished.notified();
            if self.counters.busy.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if timeout_at(until, notified).await.is_err() {
                return self.counters.busy.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// glibc's malloc settings for the workers: hand freed memory back to the system once 1 MiB
/// sits unused at the top of the heap, and serve blocks of 1 MiB or more with their own
/// mappings. With glibc's defaults a worker keeps the high-water mark of the largest document
/// it has seen: under load one reached 64 MB, and some documents' peaks (the worker's whole
/// RSS while it held them) went past the 64 MiB histogram bucket. With these settings every
/// document's peak stayed within 48 MiB and an idle worker within 13–16 MB, for about 5% less
/// throughput (docs/performance.md). 4 MiB thresholds kept throughput but let documents reach
/// the 64 MiB bucket. Ignored by other C libraries.
const WORKER_GLIBC_TUNABLES: &str =
    "glibc.malloc.trim_threshold=1048576:glibc.malloc.mmap_threshold=1048576";

/// The `GLIBC_TUNABLES` a worker gets, unless the operator set their own (in the service's
/// environment or the pool's extra environment): theirs win. An empty value counts as unset.
fn worker_glibc_tunables(
    inherited: Option<&OsStr>,
    extra_env: &[(OsString, OsString)],
) -> Option<&'static str> {
    let set_by_operator = inherited.is_some_and(|v| !v.is_empty())
        || extra_env.iter().any(|(k, _)| k == "GLIBC_TUNABLES");
    (!set_by_operator).then_some(WORKER_GLIBC_TUNABLES)
}

fn spawn_worker(config: &PoolConfig, counters: &Arc<Counters>) -> std::io::Result<Worker> {
    let mut cmd = Command::new(&config.program);
    if let Some(tunables) =
        worker_glibc_tunables(std::env::var_os("GLIBC_TUNABLES").as_deref(), &config.env)
    {
        cmd.env("GLIBC_TUNABLES", tunables);
    }
    cmd.args(&config.args)
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .env(MEMORY_LIMIT_ENV, config.memory_limit_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let missing = || std::io::Error::other("the worker's pipes are missing");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let pid = child.id().unwrap_or(0);
    let alive = AliveToken::new(counters, pid);
    counters.spawned.fetch_add(1, Ordering::SeqCst);
    Ok(Worker {
        child,
        stdin: Some(stdin),
        stdout: BufReader::with_capacity(64 << 10, stdout),
        pid,
        ready: false,
        documents: 0,
        _alive: alive,
    })
}

/// Kill a worker and reap it (so its pid is gone when this returns).
async fn kill(worker: &mut Worker) -> std::io::Result<std::process::ExitStatus> {
    worker.stdin = None;
    let _ = worker.child.start_kill();
    worker.child.wait().await
}

/// Let an idle worker exit on its own (stdin closes), killing it if it lingers.
fn retire(mut worker: Worker) {
    worker.stdin = None;
    tokio::spawn(async move {
        if timeout(RETIRE_GRACE, worker.child.wait()).await.is_err() {
            let _ = kill(&mut worker).await;
        }
    });
}

/// What the driver sends.
struct Job {
    /// Request frame plus the document frame's header.
    head: Vec<u8>,
    pdf: Bytes,
    deadline: Instant,
}

/// How a document ended on the worker's side.
enum Finished {
    Done(Bytes, Option<DocumentResources>),
    Failed(WireError),
}

/// Why a document did not finish.
enum Fail {
    /// The worker died or broke the protocol; `eof` when its output just ended.
    Lost {
        detail: String,
        eof: bool,
    },
    Deadline,
    Cancelled,
    Shutdown,
}

impl From<ReadError> for Fail {
    fn from(e: ReadError) -> Self {
        Fail::Lost {
            eof: matches!(e, ReadError::Eof),
            detail: e.to_string(),
        }
    }
}

/// Run one document on `worker` and settle the worker afterwards.
async fn drive(
    inner: Arc<Inner>,
    mut worker: Worker,
    permit: OwnedSemaphorePermit,
    job: Job,
    tx: mpsc::Sender<Event>,
    outcome: Arc<Mutex<Option<PoolError>>>,
) {
    let mut stop = inner.stop.subscribe();
    let result = tokio::select! {
        r = timeout_at(job.deadline, run_document(&mut worker, &job, &tx)) => {
            r.unwrap_or(Err(Fail::Deadline))
        }
        () = tx.closed() => Err(Fail::Cancelled),
        () = stopped(&mut stop) => Err(Fail::Shutdown),
    };
    drop(job);
    let c = &inner.counters;
    let (error, done) = match result {
        Ok(finished) => {
            c.done.fetch_add(1, Ordering::SeqCst);
            worker.documents = worker.documents.saturating_add(1);
            let recycle_after = inner.config.recycle_after;
            if recycle_after > 0 && worker.documents >= recycle_after {
                c.recycled.fetch_add(1, Ordering::SeqCst);
                retire(worker);
                inner.replace();
            } else {
                inner.put_idle(worker);
            }
            match finished {
                Finished::Done(diagnostics, resources) => (None, Some((diagnostics, resources))),
                Finished::Failed(e) => (
                    Some(PoolError::Extract {
                        code: e.code,
                        message: e.message,
                    }),
                    None,
                ),
            }
        }
        Err(Fail::Lost { detail, eof }) => {
            let detail = bury(&mut worker, detail, eof).await;
            drop(worker);
            c.lost.fetch_add(1, Ordering::SeqCst);
            inner.replace();
            (Some(PoolError::WorkerLost { detail }), None)
        }
        Err(fail) => {
            let _ = kill(&mut worker).await;
            drop(worker);
            c.killed.fetch_add(1, Ordering::SeqCst);
            inner.replace();
            let error = match fail {
                Fail::Shutdown => Some(PoolError::Shutdown),
                Fail::Deadline => Some(PoolError::DeadlineExceeded),
                _ => None,
            };
            (error, None)
        }
    };
    // The worker (or its replacement) is back before the slot frees, so the next submission
    // finds it.
    drop(permit);
    c.busy.fetch_sub(1, Ordering::SeqCst);
    inner.finished.notify_waiters();
    if let Some((diagnostics, resources)) = done {
        let _ = tx
            .send(Event::Done {
                diagnostics,
                resources,
            })
            .await;
    } else {
        *outcome.lock().unwrap_or_else(PoisonError::into_inner) = error;
    }
}

/// Resolves once shutdown's grace is over.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the pool is gone, which cannot happen while a driver holds it.
    let _ = stop.wait_for(|s| *s).await.is_ok();
}

/// The exit status of a lost worker, killing it if it does not exit by itself.
async fn bury(worker: &mut Worker, detail: String, eof: bool) -> String {
    worker.stdin = None;
    if eof {
        // The worker is most likely dying: give it a moment so the status tells why.
        if let Ok(Ok(status)) = timeout(EXIT_GRACE, worker.child.wait()).await {
            return format!("{detail}; worker exited: {status}");
        }
    }
    match kill(worker).await {
        Ok(status) => format!("{detail}; worker killed ({status})"),
        Err(e) => format!("{detail}; worker killed ({e})"),
    }
}

async fn run_document(
    worker: &mut Worker,
    job: &Job,
    tx: &mpsc::Sender<Event>,
) -> Result<Finished, Fail> {
    if !worker.ready {
        protocol::read_handshake(&mut worker.stdout).await?;
        worker.ready = true;
    }
    let lost = |e: std::io::Error| Fail::Lost {
        detail: format!("cannot send the document: {e}"),
        eof: true,
    };
    let stdin = worker.stdin.as_mut().ok_or(Fail::Lost {
        detail: "the worker's input is closed".into(),
        eof: false,
    })?;
    stdin.write_all(&job.head).await.map_err(lost)?;
    // The only copy of the PDF: straight from the caller's buffer into the pipe.
    stdin.write_all(&job.pdf).await.map_err(lost)?;
    stdin.flush().await.map_err(lost)?;

    let protocol_error = |m: String| Fail::Lost {
        detail: format!("protocol error: {m}"),
        eof: false,
    };
    let mut announced: Option<u32> = None;
    let mut sent = 0u32;
    // Timings describe the frame right after them.
    let mut timings: Option<WireTimings> = None;
    loop {
        let (kind, payload) = protocol::read_frame(&mut worker.stdout).await?;
        match (kind, announced) {
            (TIMINGS, _) if timings.is_none() && payload.len() <= MAX_TIMINGS_JSON => {
                timings = Some(
                    serde_json::from_slice(&payload)
                        .map_err(|e| protocol_error(format!("invalid timings frame: {e}")))?,
                );
            }
            (METADATA, None) => {
                let (pages, json) = split_u32(&payload)
                    .ok_or_else(|| protocol_error("short metadata frame".into()))?;
                announced = Some(pages);
                let open = match timings.take() {
                    Some(WireTimings::Open(t)) => Some(t),
                    _ => None,
                };
                tx.send(Event::Metadata { json, pages, open })
                    .await
                    .map_err(|_| Fail::Cancelled)?;
            }
            (PAGE, Some(pages)) if sent < pages => {
                let (number, body) =
                    split_u32(&payload).ok_or_else(|| protocol_error("short page frame".into()))?;
                sent += 1;
                let stages = match timings.take() {
                    Some(WireTimings::Page(t)) => Some(t),
                    _ => None,
                };
                tx.send(Event::Page {
                    number,
                    body,
                    stages,
                })
                .await
                .map_err(|_| Fail::Cancelled)?;
            }
            (DONE, Some(_)) => {
                let resources = match timings.take() {
                    Some(WireTimings::Done(r)) => Some(r),
                    _ => None,
                };
                return Ok(Finished::Done(payload, resources));
            }
            (ERROR, _) => {
                let e: WireError = serde_json::from_slice(&payload)
                    .map_err(|e| protocol_error(format!("invalid error frame: {e}")))?;
                return Ok(Finished::Failed(e));
            }
            _ => {
                return Err(protocol_error(format!("unexpected frame kind {kind:#04x}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_malloc_tunables_unless_the_operator_set_some() {
        assert_eq!(
            worker_glibc_tunables(None, &[]),
            Some(WORKER_GLIBC_TUNABLES)
        );
        let theirs = OsStr::new("glibc.malloc.arena_max=2");
        assert_eq!(worker_glibc_tunables(Some(theirs), &[]), None);
        let extra = [(OsString::from("GLIBC_TUNABLES"), OsString::from("x"))];
        assert_eq!(worker_glibc_tunables(None, &extra), None);
        assert_eq!(
            worker_glibc_tunables(Some(OsStr::new("")), &[]),
            Some(WORKER_GLIBC_TUNABLES)
        );
        let unrelated = [(OsString::from("RUST_LOG"), OsString::from("info"))];
        assert_eq!(
            worker_glibc_tunables(None, &unrelated),
            Some(WORKER_GLIBC_TUNABLES)
        );
    }
}
