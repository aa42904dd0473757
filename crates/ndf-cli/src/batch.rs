//! `ndf batch`: many documents in parallel, in input order, with progress and a summary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndf_extract::{Code, ExtractError, Options};
use serde::Serialize;

use crate::extract::{output_name, write_document};
use crate::{EngineArgs, Format, UsageError, input};

/// Output formats of `batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BatchFormat {
    /// One JSON document per input file.
    Json,
    /// One plain-text file per input.
    Text,
    /// One Markdown file per input.
    Markdown,
    /// One JSON line per input on standard output (or in OUT/results.ndjson), in input order:
    /// `file`, `ok`, `ms`, `pages`, `text`, and `error` {`code`, `message`} on failure.
    Ndjson,
}

#[derive(Args, Debug)]
pub(crate) struct BatchArgs {
    /// PDF files or directories (searched recursively for *.pdf).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Read more input paths from this file, one per line (`-` for standard input).
    #[arg(long, value_name = "LIST")]
    files_from: Option<PathBuf>,
    /// Output directory (required except for `--format ndjson`, which then prints to standard output).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Documents extracted in parallel (default: the number of CPUs). With fewer documents at
    /// once than CPUs, a document of two or more pages also uses a second thread (see
    /// `--parallel-pages`).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BatchFormat::Text)]
    format: BatchFormat,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// One line of `--format ndjson` (field names read by ../shared/bench/peers.py).
#[derive(Serialize)]
struct Record<'a> {
    file: &'a str,
    ok: bool,
    ms: f64,
    pages: u32,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorRecord>,
}

#[derive(Serialize)]
struct ErrorRecord {
    code: Code,
    message: String,
}

/// What a worker hands back for one input.
struct Outcome {
    index: usize,
    ms: f64,
    pages: u32,
    text: String,
    error: Option<ExtractError>,
}

pub(crate) fn run(args: &BatchArgs) -> anyhow::Result<ExitCode> {
    let mut inputs = Vec::new();
    input::expand(&args.paths, &mut inputs)?;
    if let Some(list) = &args.files_from {
        input::files_from(list, &mut inputs)?;
    }
    if inputs.is_empty() {
        return Err(
            UsageError("no input files (give PATH arguments or --files-from)".into()).into(),
        );
    }
    if args.out.is_none() && args.format != BatchFormat::Ndjson {
        return Err(UsageError("--out DIR is required unless --format ndjson".into()).into());
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)?;
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let options = args.engine.options(jobs.min(inputs.len()))?;
    let names = unique_names(&inputs, args.format);

    let progress = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(inputs.len() as u64), ProgressDrawTarget::hidden())
    } else {
        let bar = ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} docs  {per_sec}  {msg}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    };

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    // Workers may run at most `window` documents ahead of the writer, bounding memory.
    let window = jobs * 4;
    let written = Mutex::new(0usize);
    let advanced = Condvar::new();
    let (tx, rx) = mpsc::channel::<Outcome>();
    let mut summary = Summary::default();
    let mut ndjson_out: Box<dyn Write> = match (&args.format, &args.out) {
        (BatchFormat::Ndjson, Some(dir)) => {
            Box::new(BufWriter::new(File::create(dir.join("results.ndjson"))?))
        }
        _ => Box::new(BufWriter::new(std::io::stdout().lock())),
    };

    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (inputs, names, options, next, written, advanced) =
                (&inputs, &names, &options, &next, &written, &advanced);
            let (format, out) = (args.format, args.out.as_ref());
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= inputs.len() {
                        return;
                    }
                    {
                        let mut w = written
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        while index >= *w + window {
                            w = advanced
                                .wait(w)
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                        }
                    }
                    let outcome =
                        process(index, &inputs[index], &names[index], options, format, out);
                    if tx.send(outcome).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, Outcome> = BTreeMap::new();
        let mut emitted = 0usize;
        for outcome in rx {
            pending.insert(outcome.index, outcome);
            while let Some(o) = pending.remove(&emitted) {
                let file = inputs[o.index].to_string_lossy();
                summary.add(&o, &file);
                progress.inc(1);
                progress.set_message(format!(
                    "{} pages  {} errors",
                    summary.pages, summary.failed
                ));
                if args.format == BatchFormat::Ndjson {
                    let rec = Record {
                        file: &file,
                        ok: o.error.is_none(),
                        ms: (o.ms * 1000.0).round() / 1000.0,
                        pages: o.pages,
                        text: &o.text,
                        error: o.error.as_ref().map(|e| ErrorRecord {
                            code: e.code,
                            message: e.message.clone(),
                        }),
                    };
                    serde_json::to_writer(&mut ndjson_out, &rec)?;
                    ndjson_out.write_all(b"\n")?;
                    // Keep line-by-line consumers (the benchmark harness) fed.
                    ndjson_out.flush()?;
                }
                emitted += 1;
                *written
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = emitted;
                advanced.notify_all();
            }
        }
        Ok(())
    })?;
    ndjson_out.flush()?;
    progress.finish_and_clear();
    if !args.quiet {
        summary.print(started.elapsed(), inputs.len());
    }
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Output file names, unique within the batch (a repeated stem gets the input's position).
fn unique_names(inputs: &[PathBuf], format: BatchFormat) -> Vec<String> {
    let fmt = match format {
        BatchFormat::Json | BatchFormat::Ndjson => Format::Json,
        BatchFormat::Text => Format::Text,
        BatchFormat::Markdown => Format::Markdown,
    };
    let mut seen = HashSet::new();
    inputs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = output_name(p, i, fmt);
            if seen.insert(name.clone()) {
                name
            } else {
                let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
                let unique = format!("{stem}-{i}.{}", fmt.extension());
                seen.insert(unique.clone());
                unique
            }
        })
        .collect()
}

fn process(
    index: usize,
    path: &Path,
    name: &str,
    options: &Options,
    format: BatchFormat,
    out: Option<&PathBuf>,
) -> Outcome {
    let start = Instant::now();
    let result = (|| -> Result<(u32, String), ExtractError> {
        let data = input::read_bounded(path, options.limits.max_file_bytes)?;
        match format {
            BatchFormat::Ndjson => {
                let mut buf = Vec::new();
                let w = write_document(&data, options, Format::Text, false, &mut buf)?;
                Ok((w.pages, String::from_utf8(buf).unwrap_or_default()))
            }
            other => {
                let fmt = match other {
                    BatchFormat::Json => Format::Json,
                    BatchFormat::Markdown => Format::Markdown,
                    _ => Format::Text,
                };
                let Some(dir) = out else {
                    return Ok((0, String::new()));
                };
                let io = |e: std::io::Error| {
                    ExtractError::new(Code::Io, format!("cannot write output: {e}"))
                };
                let path = dir.join(name);
                let mut w = BufWriter::new(File::create(&path).map_err(io)?);
                let result = write_document(&data, options, fmt, false, &mut w)
                    .and_then(|written| w.flush().map(|()| written).map_err(io));
                if result.is_err() {
                    // No half-written output for a failed document.
                    drop(w);
                    let _ = std::fs::remove_file(&path);
                }
                Ok((result?.pages, String::new()))
            }
        }
    })();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok((pages, text)) => Outcome {
            index,
            ms,
            pages,
            text,
            error: None,
        },
        Err(e) => Outcome {
            index,
            ms,
            pages: 0,
            text: String::new(),
            error: Some(e),
        },
    }
}

#[derive(Default)]
struct Summary {
    ok: usize,
    failed: usize,
    pages: u64,
    busy_ms: f64,
    by_code: HashMap<Code, usize>,
    failures: Vec<String>,
}

impl Summary {
    fn add(&mut self, o: &Outcome, file: &str) {
        self.pages += u64::from(o.pages);
        self.busy_ms += o.ms;
        match &o.error {
            None => self.ok += 1,
            Some(e) => {
                self.failed += 1;
                *self.by_code.entry(e.code).or_default() += 1;
                if self.failures.len() < 20 {
                    self.failures.push(format!("  {file}: {e}"));
                }
            }
        }
    }

    #[allow(clippy::print_stderr)]
    fn print(&self, elapsed: Duration, total: usize) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "batch: {total} documents ({} ok, {} failed), {} pages in {:.2} s: {:.1} documents/s, {:.1} pages/s",
            self.ok,
            self.failed,
            self.pages,
            secs,
            total as f64 / secs,
            self.pages as f64 / secs
        );
        if let Some(rss) = crate::stats::peak_rss_bytes() {
            eprintln!(
                "peak resident memory: {:.1} MiB",
                rss as f64 / (1024.0 * 1024.0)
            );
        }
        if self.failed > 0 {
            let mut codes: Vec<_> = self.by_code.iter().collect();
            codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.as_str().cmp(b.0.as_str())));
            let list: Vec<String> = codes.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
            eprintln!("failures by code: {}", list.join(", "));
            for f in &self.failures {
                eprintln!("{f}");
            }
            if self.failed > self.failures.len() {
                eprintln!("  … and {} more", self.failed - self.failures.len());
            }
        }
    }
}
