//! `ndf`: the NeuralDocFlow command-line tool.
//!
//! Exit codes (also in README.md):
//! - 0: every input was extracted (pages may still carry diagnostics),
//! - 1: at least one input failed (its error is reported; the others were still processed),
//! - 2: invalid usage (unknown option, bad page range, unreadable file list).

mod batch;
mod deploy;
mod extract;
mod input;
mod operator;
mod security;
mod service;
mod smoke;
mod stats;

use std::process::ExitCode;

/// Counts heap bytes for the admin listener's `/debug/heap` (relaxed atomics on top of the
/// system allocator, which beat mimalloc here: docs/performance.md). Only `serve` and `worker`
/// report heap statistics; every other command stops counting first, which saves about 8% of
/// an extraction's CPU time.
#[global_allocator]
static ALLOCATOR: ndf_alloc::CountingAllocator = ndf_alloc::CountingAllocator;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ndf_extract::{Limits, Options, PageSelection};

#[derive(Parser, Debug)]
#[command(
    name = "ndf",
    version,
    about = "NeuralDocFlow: fast, safe PDF text and layout extraction"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Extract one or more documents to JSON, plain text or Markdown.
    Extract(extract::ExtractArgs),
    /// Extract many documents in parallel, with progress and a summary.
    Batch(batch::BatchArgs),
    /// Run the HTTP service (API and job workers) on the embedded store or PostgreSQL + S3.
    Serve(service::ServiceArgs),
    /// Run job workers without HTTP (scale-out replicas sharing PostgreSQL + S3).
    Worker(service::ServiceArgs),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(service::ConfigCommand),
    /// Print the OpenAPI 3.1 description of the HTTP API.
    Openapi,
    /// API keys and master keys.
    #[command(subcommand)]
    Keys(security::KeysCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(security::AuditCommand),
    /// Kubernetes: render an NdfCluster's objects, the CRD, the operator's install objects.
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// Kubernetes: run the NdfCluster operator (blue-green rollouts, autoscaling objects).
    Operator(operator::OperatorArgs),
    /// Check a running service from outside: a real extraction (and with `--job` a job round
    /// trip) of a built-in document; exit 0 when it works.
    Smoke(smoke::SmokeArgs),
    /// Internal: an isolated extraction worker process (started by `ndf serve`).
    #[command(name = "__extract-child", hide = true)]
    ExtractChild,
}

/// Output formats of `extract`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The versioned JSON document model.
    Json,
    /// Plain text in reading order.
    Text,
    /// Markdown with headings and lists.
    Markdown,
}

impl Format {
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Text => "txt",
            Format::Markdown => "md",
        }
    }
}

/// Options shared by `extract` and `batch`.
#[derive(Args, Debug, Clone)]
pub(crate) struct EngineArgs {
    /// Pages to extract, e.g. `1-3,7,10-` (1-based).
    #[arg(long, value_name = "RANGES")]
    pages: Option<String>,
    /// Password of encrypted documents (prefer the environment variable).
    #[arg(long, env = "NDF_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Leave out text drawn by annotations (form field values, stamps).
    #[arg(long)]
    no_annotations: bool,
    /// Keep hyphens at line ends instead of joining hyphenated words.
    #[arg(long)]
    no_dehyphenate: bool,
    /// Time budget per document in milliseconds (0 = none).
    #[arg(long, value_name = "MS", default_value_t = Limits::default().deadline_ms)]
    deadline_ms: u64,
    /// Largest input file in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_file_bytes)]
    max_file_bytes: u64,
    /// Largest decoded size of one stream in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_stream_bytes)]
    max_stream_bytes: u64,
    /// Largest total of decoded bytes per document (decompression-bomb guard).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_document_bytes)]
    max_document_bytes: u64,
    /// Most content operators executed per page.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_operators_per_page)]
    max_operators: u64,
    /// Extract the pages of a document of two or more pages on two threads. `auto` (the
    /// default): when fewer documents run at once than there are CPUs, so a spare CPU takes
    /// pages ahead (`ndf extract`, `ndf batch --jobs 1` on a multi-core machine). Output is the
    /// same either way.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ParallelPages::Auto)]
    parallel_pages: ParallelPages,
}

/// When one document may use a second thread.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParallelPages {
    Auto,
    On,
    Off,
}

impl EngineArgs {
    /// Engine options for `documents_at_once` documents extracted concurrently.
    pub(crate) fn options(&self, documents_at_once: usize) -> anyhow::Result<Options> {
        let parallel_pages = match self.parallel_pages {
            ParallelPages::On => true,
            ParallelPages::Off => false,
            // A spare CPU for the helper thread; none when every CPU already has a document.
            ParallelPages::Auto => {
                std::thread::available_parallelism().map_or(1, |n| n.get()) > documents_at_once
            }
        };
        let mut o = Options {
            parallel_pages,
            ..Options::default()
        };
        o.limits.deadline_ms = self.deadline_ms;
        o.limits.max_file_bytes = self.max_file_bytes;
        o.limits.max_stream_bytes = self.max_stream_bytes;
        o.limits.max_document_bytes = self.max_document_bytes;
        o.limits.max_operators_per_page = self.max_operators;
        o.password = self.password.clone().unwrap_or_default();
        o.annotations = !self.no_annotations;
        o.layout.dehyphenate = !self.no_dehyphenate;
        if let Some(p) = &self.pages {
            o.pages = Some(PageSelection::parse(p).map_err(|e| UsageError(e.message))?);
        }
        Ok(o)
    }
}

/// An error in how the tool was called (exit code 2). Its cause, when there is one, is
/// attached with `anyhow::Error::context` (the message then names what was given: `--set K=V`,
/// the configuration file), so the causes are printed after it.
#[derive(Debug)]
pub(crate) struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        ndf_alloc::stop_counting();
    }
    if matches!(
        cli.command,
        Command::Serve(_) | Command::Worker(_) | Command::Keys(_) | Command::Audit(_)
    ) {
        // The store's files (database, blobs, key files) are this user's only: 0600 / 0700.
        ndf_server::file_modes::private_umask();
    }
    let result = match cli.command {
        Command::Extract(args) => extract::run(&args),
        Command::Batch(args) => batch::run(&args),
        Command::Serve(args) => service::serve(&args),
        Command::Worker(args) => service::worker(&args),
        Command::Config(service::ConfigCommand::Print(args)) => service::config_print(&args),
        Command::Keys(cmd) => security::keys(cmd),
        Command::Audit(cmd) => security::audit(cmd),
        Command::Openapi => Ok(service::openapi()),
        Command::Deploy(cmd) => deploy::run(cmd),
        Command::Operator(args) => operator::run(&args),
        Command::Smoke(args) => smoke::run(&args),
        Command::ExtractChild => return ndf_pool::child::run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some();
            eprint_error(&format!("{e:#}"));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

#[allow(clippy::print_stderr)]
pub(crate) fn eprint_error(message: &str) {
    eprintln!("ndf: error: {message}");
}
