//! Reading inputs: bounded file reads and expansion of directories and file lists.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndf_extract::{Code, ExtractError};

/// Most entries one `--files-from` list or directory walk may yield.
const MAX_INPUTS: usize = 10_000_000;
/// Deepest directory recursion.
const MAX_DIR_DEPTH: usize = 64;

/// Read a whole file, refusing files larger than `max` bytes (checked before reading and
/// enforced while reading, in case the file grows).
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ExtractError> {
    let io = |e: std::io::Error| {
        ExtractError::new(Code::Io, format!("cannot read {}: {e}", path.display()))
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > max {
        return Err(ExtractError::new(
            Code::FileTooLarge,
            format!("the file has {len} bytes, the limit is {max}"),
        ));
    }
    let mut data = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > max {
        return Err(ExtractError::new(
            Code::FileTooLarge,
            format!("the file is larger than the limit of {max} bytes"),
        ));
    }
    Ok(data)
}

/// Read standard input, refusing more than `max` bytes.
pub(crate) fn read_stdin_bounded(max: u64) -> Result<Vec<u8>, ExtractError> {
    let mut data = Vec::new();
    std::io::stdin()
        .lock()
        .take(max + 1)
        .read_to_end(&mut data)
        .map_err(|e| ExtractError::new(Code::Io, format!("cannot read standard input: {e}")))?;
    if data.len() as u64 > max {
        return Err(ExtractError::new(
            Code::FileTooLarge,
            format!("the input is larger than the limit of {max} bytes"),
        ));
    }
    Ok(data)
}

/// Expand command-line paths: files as given, directories recursively to their `*.pdf` files
/// (sorted, so runs are reproducible).
pub(crate) fn expand(paths: &[PathBuf], out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for p in paths {
        if p.is_dir() {
            walk(p, 0, out)?;
        } else {
            push(out, p.clone())?;
        }
    }
    Ok(())
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if depth > MAX_DIR_DEPTH {
        anyhow::bail!(
            "directories nest deeper than {MAX_DIR_DEPTH} levels under {}",
            dir.display()
        );
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, depth + 1, out)?;
        } else if e.extension().is_some_and(|x| x.eq_ignore_ascii_case("pdf")) {
            push(out, e)?;
        }
    }
    Ok(())
}

fn push(out: &mut Vec<PathBuf>, p: PathBuf) -> anyhow::Result<()> {
    if out.len() >= MAX_INPUTS {
        anyhow::bail!("more than {MAX_INPUTS} inputs");
    }
    out.push(p);
    Ok(())
}

/// Paths listed one per line in `list` (blank lines skipped; `-` reads standard input).
pub(crate) fn files_from(list: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let text = if list.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().take(1 << 30).read_to_string(&mut s)?;
        s
    } else {
        let bytes = read_bounded(list, 1 << 30).map_err(|e| crate::UsageError(e.message))?;
        String::from_utf8(bytes)
            .map_err(|_| crate::UsageError(format!("{} is not UTF-8 text", list.display())))?
    };
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if !line.trim().is_empty() {
            push(out, PathBuf::from(line))?;
        }
    }
    Ok(())
}
