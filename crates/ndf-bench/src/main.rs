//! `ndf-corpus-bench`: extracts the plain text of many PDFs with the engine alone (no service,
//! no output files) and prints what it cost: time, pages, heap allocations per page and the
//! heap peak. Used to profile (`perf record`, callgrind), by the instruction-count gate
//! (`scripts/perf-gate.sh`) and for quick before/after comparisons while optimising.
//!
//! ```text
//! ndf-corpus-bench [--repeat N] [--per-file] [--no-deadline] [--files-from LIST] [PDF or DIR]...
//! ```
//!
//! Timing covers extraction and text rendering of each document already in memory (the files
//! are read before the clock starts), so the figure is the engine's, not the disk's.
//!
//! Each document is extracted by one call of [`gate_extract_document`], a function kept out of
//! line so that callgrind can count exactly it (`--toggle-collect`): that is how
//! `scripts/perf-gate.sh` counts a document's instructions without start-up, file reading or
//! printing. `--no-deadline` switches off the per-document deadline, which a run under valgrind
//! (tens of times slower) could otherwise hit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use ndf_extract::{Extraction, Options, render_text};

/// Counts allocations so the summary can report allocations per page.
#[global_allocator]
static ALLOCATOR: ndf_alloc::CountingAllocator = ndf_alloc::CountingAllocator;

/// Files larger than this are skipped (the engine's own default limit is larger; the bench
/// keeps whole inputs in memory at once).
const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Largest `--files-from` list read.
const MAX_LIST_BYTES: u64 = 64 << 20;

/// The whole file, refused when it is longer than `max` bytes (it may grow after `metadata`).
fn read_at_most(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut data = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if data.len() as u64 > max {
        bail!("{} is over {max} bytes", path.display());
    }
    Ok(data)
}

struct Args {
    repeat: usize,
    per_file: bool,
    parallel_pages: bool,
    no_deadline: bool,
    inputs: Vec<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        repeat: 1,
        per_file: false,
        parallel_pages: false,
        no_deadline: false,
        inputs: Vec::new(),
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--repeat") => {
                let n = it.next().context("--repeat needs a number")?;
                args.repeat = n
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .filter(|&n| (1..=10_000).contains(&n))
                    .context("--repeat takes a number from 1 to 10000")?;
            }
            Some("--per-file") => args.per_file = true,
            Some("--parallel-pages") => args.parallel_pages = true,
            Some("--no-deadline") => args.no_deadline = true,
            Some("--files-from") => {
                let list = it.next().context("--files-from needs a file")?;
                let bytes = read_at_most(Path::new(&list), MAX_LIST_BYTES)?;
                let text = String::from_utf8_lossy(&bytes);
                args.inputs.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(PathBuf::from),
                );
            }
            Some("-h" | "--help") => {
                bail!(
                    "usage: ndf-corpus-bench [--repeat N] [--per-file] [--no-deadline] [--files-from LIST] [PDF or DIR]..."
                )
            }
            _ => {
                let path = PathBuf::from(arg);
                if path.is_dir() {
                    let mut found: Vec<PathBuf> = std::fs::read_dir(&path)?
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")))
                        .collect();
                    found.sort();
                    args.inputs.extend(found);
                } else {
                    args.inputs.push(path);
                }
            }
        }
    }
    if args.inputs.is_empty() {
        bail!("no input: give PDF files, folders of PDFs or --files-from LIST");
    }
    Ok(args)
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let mut documents = Vec::with_capacity(args.inputs.len());
    for path in &args.inputs {
        let len = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if len > MAX_INPUT_BYTES {
            println!("skipped (over {MAX_INPUT_BYTES} bytes): {}", path.display());
            continue;
        }
        let data = read_at_most(path, MAX_INPUT_BYTES)?;
        documents.push((path, data));
    }

    let mut options = Options {
        parallel_pages: args.parallel_pages,
        ..Options::default()
    };
    if args.no_deadline {
        options.limits.deadline_ms = 0;
    }
    if args.parallel_pages {
        // Counting is one set of atomics that every allocation of both threads updates. With
        // it, two-thread runs took 36% more CPU than one thread; `ndf batch` (which does not
        // count) took 17% more on the same build.
        ndf_alloc::stop_counting();
    }
    let before = ndf_alloc::stats();
    let started = Instant::now();
    let (mut pages, mut failed, mut text_bytes) = (0u64, 0u64, 0u64);
    let mut text = String::new();
    for _ in 0..args.repeat {
        for (path, data) in &documents {
            let doc_started = Instant::now();
            match gate_extract_document(data, &options, &mut text) {
                Ok((n, bytes)) => {
                    pages += n;
                    text_bytes += bytes;
                }
                Err(_) => failed += 1,
            }
            if args.per_file {
                println!(
                    "{:10.3} ms  {}",
                    doc_started.elapsed().as_secs_f64() * 1000.0,
                    path.display()
                );
            }
        }
    }
    let elapsed = started.elapsed();
    let after = ndf_alloc::stats();
    let allocations = after.allocations - before.allocations;
    let allocated = after.total_allocated_bytes - before.total_allocated_bytes;
    let per_page = |v: u64| {
        if pages == 0 {
            0.0
        } else {
            v as f64 / pages as f64
        }
    };
    println!("documents       {}", documents.len() * args.repeat);
    println!("failed          {failed}");
    println!("pages           {pages}");
    println!("text bytes      {text_bytes}");
    println!("total ms        {:.1}", elapsed.as_secs_f64() * 1000.0);
    println!(
        "pages/s         {:.0}",
        pages as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if ndf_alloc::is_counting_enabled() {
        println!("allocations     {allocations}");
        println!("allocs/page     {:.1}", per_page(allocations));
        println!("alloc bytes/page {:.0}", per_page(allocated));
        println!("heap peak MB    {:.1}", after.peak_bytes as f64 / 1e6);
    } else {
        println!("allocations     not counted (--parallel-pages)");
    }
    Ok(())
}

/// Extracts one document and renders each page's plain text into `text` (reused): returns the
/// pages and text bytes. Out of line and with a unique name: the instruction-count gate tells
/// callgrind to count only inside this function.
#[inline(never)]
fn gate_extract_document(
    data: &[u8],
    options: &Options,
    text: &mut String,
) -> Result<(u64, u64), ndf_extract::ExtractError> {
    Extraction::run(data, options, |ex| render_pages(ex, text))
}

/// The pages of an open extraction, rendered one after the other.
fn render_pages(ex: &mut Extraction<'_>, text: &mut String) -> (u64, u64) {
    let (mut pages, mut bytes) = (0u64, 0u64);
    while let Some(page) = ex.next_page() {
        text.clear();
        render_text(&page, text);
        bytes += text.len() as u64;
        pages += 1;
    }
    (pages, bytes)
}
