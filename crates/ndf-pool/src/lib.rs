//! Isolated extraction: a pool of pre-forked worker processes.
//!
//! `ndf serve` must survive any hostile document: a document that trips a limit, panics,
//! aborts or allocates without bound fails its own job only. So the engine runs in child
//! processes (the `ndf` binary itself, hidden subcommand `__extract-child`, which calls
//! [`child::run`]), as Apache Tika does:
//!
//! - each child caps its own address space (`RLIMIT_AS`) before serving;
//! - the parent kills a child whose document passes its deadline, whose [`Extraction`] is
//!   dropped (cancelled), or whose output breaks the protocol; a dead child is replaced;
//! - a child is recycled after [`PoolConfig::recycle_after`] documents;
//! - typed engine errors (`not_pdf`, `encrypted`, limits…) come back as
//!   [`PoolError::Extract`] and do not cost the worker.
//!
//! # Protocol
//!
//! Binary frames on the child's stdin/stdout: `[kind: u8][len: u32 LE][payload: len bytes]`.
//!
//! - Child → parent, once at start: the handshake magic. The parent ignores up to 64 KiB of
//!   bytes before it (a test harness may print first).
//! - Parent → child, per document: `Q` (JSON `{format, options}`, at most 1 MiB), then `D`
//!   (the PDF, at most `options.limits.max_file_bytes`).
//! - Child → parent, per document: `M` (`[pages: u32 LE]` + metadata JSON), one `P` per page in
//!   order (`[number: u32 LE]` + page JSON, text or Markdown), then `F` (diagnostics JSON); or
//!   at any point `E` (JSON `{code, message}`): the document failed, the child is ready for the
//!   next one. A response frame is at most 256 MiB.
//! - A malformed frame in either direction ends the child: it exits, or the parent kills it.
//!   The child writes nothing else to stdout; its stderr is inherited.
//!
//! # Test hooks (test builds only)
//!
//! Only in a build with the cargo feature `test-hooks` (enabled by the dev-dependencies of this
//! crate and of ndf-cli, so only when tests are built: a `cargo build --release` has no hook code,
//! which scripts/check-no-test-hooks.sh checks) and only when the child's environment has
//! `NDF_POOL_TEST_HOOKS=1`, a document starting with one of these markers makes the child
//! misbehave on purpose, so tests can prove isolation even though the engine bounds its own
//! loops and memory:
//!
//! - `%NDF-TEST-OOM`: allocate without bound (needs a memory limit; the allocation failure
//!   aborts the child);
//! - `%NDF-TEST-HANG`: sleep "forever" (an hour);
//! - `%NDF-TEST-PANIC`: panic outside the engine's panic isolation;
//! - `%NDF-TEST-ABORT`: abort the process;
//! - `%NDF-TEST-SLEEP <ms>\n<document>`: sleep, then extract the rest of the bytes normally.

pub mod child;
mod pool;
mod protocol;

use std::ffi::OsString;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use pool::{Extraction, Pool, PoolStatus};

/// Environment variable read by [`child::run`]: the child's address-space cap in bytes
/// (0 = none). Set by the pool from [`PoolConfig::memory_limit_bytes`].
pub const MEMORY_LIMIT_ENV: &str = "NDF_CHILD_MEMORY_LIMIT";

/// Environment variable that enables the test hooks in the child when set to `1`, in a build
/// with the `test-hooks` feature; ignored otherwise.
pub const TEST_HOOKS_ENV: &str = "NDF_POOL_TEST_HOOKS";

/// The output format of page bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Each page body is the JSON of an `ndf_model::Page`.
    Json,
    /// Each page body is its plain text (`render_text`, form feed included).
    Text,
    /// Each page body is its Markdown; the renderer keeps its state across one document.
    Markdown,
}

/// Engine options of one request.
#[derive(Clone, Serialize, Deserialize)]
pub struct RequestOptions {
    /// Page selection such as `1-3,7,10-` (all pages when `None`).
    pub pages: Option<String>,
    /// Password of an encrypted document (the empty user password when `None`).
    pub password: Option<String>,
    /// Include text drawn by annotations.
    pub annotations: bool,
    /// Join words hyphenated across line ends.
    pub dehyphenate: bool,
    /// Engine limits; `max_file_bytes` also bounds the request frame.
    pub limits: ndf_model::Limits,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            pages: None,
            password: None,
            annotations: true,
            dehyphenate: true,
            limits: ndf_model::Limits::default(),
        }
    }
}

impl std::fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never log a password.
        f.debug_struct("RequestOptions")
            .field("pages", &self.pages)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("annotations", &self.annotations)
            .field("dehyphenate", &self.dehyphenate)
            .field("limits", &self.limits)
            .finish()
    }
}

/// One document's request: output format and engine options.
#[derive(Debug, Clone)]
pub struct ExtractRequest {
    /// Format of the page bodies.
    pub format: Format,
    /// Engine options.
    pub options: RequestOptions,
}

/// A stretch of wall-clock time measured in a worker process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Start, in nanoseconds since the Unix epoch.
    pub started_unix_nanos: u64,
    /// Length in nanoseconds.
    pub nanos: u64,
}

/// Where one page's time went in the worker process (nanoseconds). The stages ran in this
/// order, except that fonts load on first use during interpretation: `interpret` excludes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageStages {
    /// Start of work on the page, in nanoseconds since the Unix epoch.
    pub started_unix_nanos: u64,
    /// Loading fonts first used on this page.
    pub fonts_nanos: u64,
    /// Interpreting the content stream.
    pub interpret_nanos: u64,
    /// Words, lines, blocks, reading order.
    pub layout_nanos: u64,
    /// Rendering the page into the output format (JSON, text or Markdown).
    pub render_nanos: u64,
    /// Code of the page's first error diagnostic when the page failed.
    #[serde(default)]
    pub error: Option<ndf_model::Code>,
}

/// Resources one document took in its worker process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentResources {
    /// Peak resident memory of the worker during the document (Linux; `None` elsewhere).
    pub peak_rss_bytes: Option<u64>,
}

/// What a running [`Extraction`] yields, in this order: `Metadata`, `Page`…, `Done`.
#[derive(Debug, Clone)]
pub enum Event {
    /// After the document opened: serde_json of `ndf_model::Metadata` and how many pages will
    /// follow.
    Metadata {
        /// Metadata JSON.
        json: bytes::Bytes,
        /// Number of `Page` events that follow.
        pages: u32,
        /// How long opening the document took, as the worker measured it.
        open: Option<Timing>,
    },
    /// One finished page, in order: JSON of `ndf_model::Page` (`Format::Json`) or its rendered
    /// text/Markdown.
    Page {
        /// 1-based page number in the document.
        number: u32,
        /// The page body, forwarded as the child wrote it.
        body: bytes::Bytes,
        /// Its stage timings, as the worker measured them.
        stages: Option<PageStages>,
    },
    /// The end: JSON array of document-level `ndf_model::Diagnostic`.
    Done {
        /// Diagnostics JSON.
        diagnostics: bytes::Bytes,
        /// What the document cost the worker.
        resources: Option<DocumentResources>,
    },
}

/// Why a document was not (fully) extracted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    /// No worker free and the wait queue is full (HTTP 429/503).
    #[error("all workers are busy and the wait queue is full")]
    Saturated,
    /// The document failed with a typed engine error (not_pdf, encrypted, invalid_argument,
    /// limits…).
    #[error("{code}: {message}")]
    Extract {
        /// Stable code.
        code: ndf_model::Code,
        /// Detail without document content.
        message: String,
    },
    /// The worker process died (memory cap, crash, stack overflow, abort) or broke the
    /// protocol: the document is blamed, the pool replaces the worker.
    #[error("the worker process was lost: {detail}")]
    WorkerLost {
        /// What happened (exit status or protocol error).
        detail: String,
    },
    /// The deadline passed (waiting or running); a running worker was killed.
    #[error("the deadline passed")]
    DeadlineExceeded,
    /// The pool is shutting down.
    #[error("the pool is shutting down")]
    Shutdown,
    /// The pool could not start a worker process, or its configuration is invalid (no tokio
    /// runtime, no workers).
    #[error("worker pool: {0}")]
    Io(String),
}

impl From<ndf_extract::ExtractError> for PoolError {
    fn from(e: ndf_extract::ExtractError) -> Self {
        PoolError::Extract {
            code: e.code,
            message: e.message,
        }
    }
}

/// How to start and run the workers.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The worker program (normally `std::env::current_exe()`, the `ndf` binary).
    pub program: PathBuf,
    /// Its arguments (normally `["__extract-child"]`).
    pub args: Vec<OsString>,
    /// Extra environment variables for the workers.
    pub env: Vec<(OsString, OsString)>,
    /// Number of worker processes (1 to 1024).
    pub workers: usize,
    /// Address-space cap of each worker in bytes (0 = none).
    pub memory_limit_bytes: u64,
    /// Replace a worker after this many documents (0 = never).
    pub recycle_after: u32,
    /// Most submissions waiting for a free worker; more are `Saturated`.
    pub max_waiting: usize,
}

impl PoolConfig {
    /// A configuration with defaults: 2 workers, 2 GiB cap, recycled every 1,000 documents, up
    /// to 64 waiting.
    pub fn new(program: impl Into<PathBuf>, args: Vec<OsString>) -> Self {
        Self {
            program: program.into(),
            args,
            env: Vec::new(),
            workers: 2,
            memory_limit_bytes: 2 << 30,
            recycle_after: 1_000,
            max_waiting: 64,
        }
    }
}
