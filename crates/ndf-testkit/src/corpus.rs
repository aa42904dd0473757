//! The dev corpus for benchmarks: where it is and how to read its files with a bound.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest corpus file read (the dev corpus's files are a few MB).
pub const MAX_FILE: u64 = 64 << 20;

/// The corpus folder: `NDF_CORPUS_DIR`, else `../shared/corpus/dev` beside the repository;
/// `None` when it is not there (callers then say so and measure nothing).
pub fn dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NDF_CORPUS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dev"),
    };
    dir.is_dir().then_some(dir)
}

/// At most `max` bytes of a file; `None` when it cannot be read.
pub fn read_bounded(path: &Path, max: u64) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(max)
        .read_to_end(&mut data)
        .ok()?;
    Some(data)
}
