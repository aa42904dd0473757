//! The dev corpus and the external programs tests use: where they are, how to read corpus files
//! with a bound, and what a test does when one is missing.
//!
//! Inputs from outside the repository (the dev corpus `../shared/corpus/dev` and programs such
//! as `pdftotext`, `promtool` or `chromium`) may be missing on a contributor's machine. A test
//! that needs one asks through [`dir_for_test`], [`file_for_test`] or [`tool`]: when the input
//! is there it runs; when it is missing, the test says so on stderr and returns, unless
//! `NDF_REQUIRE_INPUTS=1` (the test command, scripts/test.sh, sets it), in which case it fails.
//! So `cargo test` stays usable without `../shared`, and the test command never passes a test
//! that did not run.
//!
//! The corpus folder is `NDF_CORPUS_DIR` when set, else `../shared/corpus/dev` beside the
//! repository. A corpus folder that exists but holds no PDF is a broken setup and always fails.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest corpus file read (the dev corpus's files are a few MB).
pub const MAX_FILE: u64 = 64 << 20;

/// The switch that turns every "input missing" skip into a failure.
pub const REQUIRE_VAR: &str = "NDF_REQUIRE_INPUTS";

/// The variable naming another corpus folder.
pub const DIR_VAR: &str = "NDF_CORPUS_DIR";

/// True when `NDF_REQUIRE_INPUTS=1`: tests must fail rather than skip on a missing input.
pub fn inputs_required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Where the corpus is looked for: `NDF_CORPUS_DIR`, else `../shared/corpus/dev` beside the
/// repository (whether or not it exists).
pub fn location() -> PathBuf {
    match std::env::var_os(DIR_VAR) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/dev"),
    }
}

/// The corpus folder, or `None` when it is not there (for benchmarks, which then say so and
/// measure what they can; tests use [`dir_for_test`]).
pub fn dir() -> Option<PathBuf> {
    let dir = location();
    dir.is_dir().then_some(dir)
}

/// A test's input is missing: `None` after saying so on stderr, or a panic naming `what` when
/// `NDF_REQUIRE_INPUTS=1`.
#[track_caller]
pub fn missing<T>(test: &str, what: &str) -> Option<T> {
    assert!(
        !inputs_required(),
        "{test}: {what}, and {REQUIRE_VAR}=1 requires every test to run \
         (the test command installs the tools; the corpus is ../shared/corpus/dev or {DIR_VAR})"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{test}: NOT RUN, {what} (set {REQUIRE_VAR}=1 to make this a failure)");
    }
    None
}

/// The corpus folder for the test `test`, or `None` after a message (see [`missing`]). Panics
/// when the folder exists but holds no PDF.
#[track_caller]
pub fn dir_for_test(test: &str) -> Option<PathBuf> {
    let dir = location();
    if !dir.is_dir() {
        return missing(
            test,
            &format!(
                "no corpus folder at {} (set {DIR_VAR} to use another one)",
                dir.display()
            ),
        );
    }
    assert!(
        !pdfs(&dir).is_empty(),
        "{test}: the corpus folder {} holds no PDF",
        dir.display()
    );
    Some(dir)
}

/// The corpus file `name` for the test `test`, or `None` after a message when the corpus folder
/// is missing (see [`missing`]). Panics when the folder is there but the file is not.
#[track_caller]
pub fn file_for_test(test: &str, name: &str) -> Option<PathBuf> {
    let dir = dir_for_test(test)?;
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{test}: {name} is not in the corpus folder {}",
        dir.display()
    );
    Some(path)
}

/// The PDFs of a folder (files ending in `.pdf`), sorted by name.
pub fn pdfs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "pdf"))
        .collect();
    v.sort();
    v
}

/// The program `name` on `PATH`, or `None` after a message naming `test` (see [`missing`]).
#[track_caller]
pub fn tool(test: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None => missing(test, &format!("{name} is not installed")),
    }
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
