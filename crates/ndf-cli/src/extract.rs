//! `ndf extract`: documents to JSON, text or Markdown, streamed page by page.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use ndf_extract::{
    Document, ExtractError, Extraction, MarkdownRenderer, Options, SCHEMA_VERSION, render_text,
};

use crate::{EngineArgs, Format, eprint_error, input};

#[derive(Args, Debug)]
pub(crate) struct ExtractArgs {
    /// PDF files to extract (`-` reads standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write to this file (one input) or directory (several inputs) instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Indent JSON output (builds the whole document in memory first).
    #[arg(long)]
    pretty: bool,
    /// Print one JSON line of statistics to standard error at the end: documents, pages,
    /// failures, milliseconds and the process's peak resident memory.
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Per-document counts reported to callers.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    pub pages: u32,
}

pub(crate) fn run(args: &ExtractArgs) -> anyhow::Result<ExitCode> {
    let options = args.engine.options(1)?;
    let several = args.files.len() > 1;
    let out_dir = match (&args.output, several) {
        (Some(dir), true) => {
            std::fs::create_dir_all(dir)?;
            Some(dir.clone())
        }
        _ => None,
    };
    let mut failed = false;
    let mut failures = 0usize;
    let mut pages = 0u64;
    let started = std::time::Instant::now();
    let stdout = std::io::stdout();
    for (i, path) in args.files.iter().enumerate() {
        let result = match (&out_dir, &args.output) {
            (Some(dir), _) => {
                let name = output_name(path, i, args.format);
                let mut w = BufWriter::new(File::create(dir.join(name))?);
                let r = extract_file(path, &options, args.format, args.pretty, &mut w);
                w.flush()?;
                r
            }
            (None, Some(file)) => {
                let mut w = BufWriter::new(File::create(file)?);
                let r = extract_file(path, &options, args.format, args.pretty, &mut w);
                w.flush()?;
                r
            }
            (None, None) => {
                let mut w = BufWriter::new(stdout.lock());
                let r = extract_file(path, &options, args.format, args.pretty, &mut w);
                if r.is_ok() && several && args.format == Format::Json {
                    // Several JSON documents on standard output: one per line.
                    w.write_all(b"\n").map_err(io_error)?;
                }
                r.and_then(|written| w.flush().map(|()| written).map_err(io_error))
            }
        };
        match result {
            Ok(w) => pages += u64::from(w.pages),
            Err(e) => {
                if e.message == BROKEN_PIPE {
                    break;
                }
                failed = true;
                failures += 1;
                eprint_error(&format!("{}: {e}", path.display()));
            }
        }
    }
    if args.stats {
        let line = serde_json::json!({
            "documents": args.files.len(),
            "failed": failures,
            "pages": pages,
            "ms": (started.elapsed().as_secs_f64() * 1000.0).round(),
            "peak_rss_bytes": crate::stats::peak_rss_bytes(),
        });
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{line}");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `<stem>.<ext>`, made unique by the input's position.
pub(crate) fn output_name(path: &Path, index: usize, format: Format) -> String {
    let stem = path.file_stem().map_or_else(
        || format!("document-{index}"),
        |s| s.to_string_lossy().into_owned(),
    );
    format!("{stem}.{}", format.extension())
}

/// Extract one file into `w`.
pub(crate) fn extract_file(
    path: &Path,
    options: &Options,
    format: Format,
    pretty: bool,
    w: &mut dyn Write,
) -> Result<Written, ExtractError> {
    let data = if path.as_os_str() == "-" {
        input::read_stdin_bounded(options.limits.max_file_bytes)?
    } else {
        input::read_bounded(path, options.limits.max_file_bytes)?
    };
    write_document(&data, options, format, pretty, w)
}

/// The message of the error for a closed output pipe (`ndf extract … | head`): not a failure of
/// the tool, so `run` stops quietly.
pub(crate) const BROKEN_PIPE: &str = "output closed";

fn io_error(e: std::io::Error) -> ExtractError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return ExtractError::new(ndf_extract::Code::Io, BROKEN_PIPE);
    }
    ExtractError::new(ndf_extract::Code::Io, format!("cannot write output: {e}"))
}

/// Extract `data` and write it in `format`, one page at a time (except pretty JSON).
pub(crate) fn write_document(
    data: &[u8],
    options: &Options,
    format: Format,
    pretty: bool,
    w: &mut dyn Write,
) -> Result<Written, ExtractError> {
    Extraction::run(data, options, |ex| -> Result<Written, ExtractError> {
        let mut written = Written::default();
        match format {
            Format::Json if pretty => {
                let mut pages = Vec::new();
                while let Some(p) = ex.next_page() {
                    pages.push(p);
                }
                written.pages = pages.len() as u32;
                let doc = Document {
                    schema_version: SCHEMA_VERSION.to_owned(),
                    metadata: ex.metadata().clone(),
                    pages,
                    diagnostics: ex.diagnostics(),
                };
                serde_json::to_writer_pretty(&mut *w, &doc).map_err(|e| io_error(e.into()))?;
                w.write_all(b"\n").map_err(io_error)?;
            }
            Format::Json => {
                // The same field order as `Document`, streamed.
                write!(w, "{{\"schema_version\":\"{SCHEMA_VERSION}\",\"metadata\":")
                    .map_err(io_error)?;
                serde_json::to_writer(&mut *w, ex.metadata()).map_err(|e| io_error(e.into()))?;
                w.write_all(b",\"pages\":[").map_err(io_error)?;
                while let Some(p) = ex.next_page() {
                    if written.pages > 0 {
                        w.write_all(b",").map_err(io_error)?;
                    }
                    serde_json::to_writer(&mut *w, &p).map_err(|e| io_error(e.into()))?;
                    written.pages += 1;
                }
                w.write_all(b"],\"diagnostics\":").map_err(io_error)?;
                serde_json::to_writer(&mut *w, &ex.diagnostics())
                    .map_err(|e| io_error(e.into()))?;
                w.write_all(b"}").map_err(io_error)?;
                if !pretty {
                    w.write_all(b"\n").map_err(io_error)?;
                }
            }
            Format::Text => {
                let mut buf = String::new();
                while let Some(p) = ex.next_page() {
                    buf.clear();
                    render_text(&p, &mut buf);
                    w.write_all(buf.as_bytes()).map_err(io_error)?;
                    written.pages += 1;
                }
            }
            Format::Markdown => {
                let mut md = MarkdownRenderer::new();
                let mut buf = String::new();
                while let Some(p) = ex.next_page() {
                    buf.clear();
                    md.render_page(&p, &mut buf);
                    w.write_all(buf.as_bytes()).map_err(io_error)?;
                    written.pages += 1;
                }
            }
        }
        Ok(written)
    })?
}
