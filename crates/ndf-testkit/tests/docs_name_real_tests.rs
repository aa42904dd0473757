//! Tidy test: every test that docs/security.md and docs/privacy.md name as the proof of a claim
//! exists. A claim whose test was renamed or deleted would otherwise go on naming a proof that
//! no longer runs.
//!
//! A reference is a backticked Rust path of at least two segments, `file_or_module::name`,
//! `module::tests::name` or `module::tests` (a whole test module), optionally abbreviated with a
//! trailing `…` (a prefix of the name). It resolves when a `.rs` file under `crates/` whose path
//! contains the first segment (a file stem, a folder, or a `mod` declared in the file) defines
//! `fn name` (or a `mod name`). Paths that are not code (a lint, a log target) are listed in
//! [`NOT_CODE`].
#![allow(clippy::print_stderr, clippy::disallowed_methods)] // reads the repository's own files

use std::path::{Path, PathBuf};

/// Backticked paths in the documents that name something other than a function or module.
const NOT_CODE: &[&str] = &[
    "clippy::undocumented_unsafe_blocks", // a lint
    "ndf::audit",                         // a log target
];

const DOCS: &[&str] = &["docs/security.md", "docs/privacy.md"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The backticked spans of `text` that look like a Rust path of two or more segments.
fn references(text: &str) -> Vec<String> {
    let is_ident = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            let path = span.strip_suffix('…').unwrap_or(span);
            let segments: Vec<&str> = path.split("::").collect();
            segments.len() >= 2 && segments.iter().all(|s| is_ident(s))
        })
        .map(str::to_owned)
        .collect()
}

/// Whether `source` defines a function or module called `name` (or, with `prefix`, whose
/// name starts with it).
fn defines(source: &str, name: &str, prefix: bool) -> bool {
    ["fn ", "mod "].iter().any(|kw| {
        source.match_indices(kw).any(|(i, _)| {
            let after = &source[i + kw.len()..];
            let ident: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if prefix {
                ident.starts_with(name)
            } else {
                ident == name
            }
        })
    })
}

/// Whether `path` (relative to the repository) or `source` places it under `segment`.
fn under(path: &Path, source: &str, segment: &str) -> bool {
    path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c == segment || c.strip_suffix(".rs") == Some(segment)
    }) || source.contains(&format!("mod {segment}"))
}

#[test]
fn every_named_test_exists() {
    let root = repo();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    let sources: Vec<(PathBuf, String)> = files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            Some((p.strip_prefix(&root).ok()?.to_path_buf(), text))
        })
        .collect();
    assert!(
        sources.len() > 100,
        "found only {} Rust files under crates/",
        sources.len()
    );
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in DOCS {
        let text = std::fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
        for reference in references(&text) {
            if NOT_CODE.contains(&reference.as_str()) {
                continue;
            }
            let prefix = reference.ends_with('…');
            let path = reference.trim_end_matches('…');
            let segments: Vec<&str> = path.split("::").collect();
            let (first, last) = (segments[0], segments[segments.len() - 1]);
            let found = sources
                .iter()
                .any(|(p, src)| under(p, src, first) && defines(src, last, prefix));
            checked += 1;
            if !found {
                missing.push(format!("{doc}: `{reference}`"));
            }
        }
    }
    assert!(
        checked >= 50,
        "only {checked} references found: the parser is broken"
    );
    assert!(
        missing.is_empty(),
        "these references name no function or module under crates/ (renamed or deleted tests?):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_checker_tells_real_from_missing() {
    let text =
        "proved by `service_x::a_test` and `m::tests` and `keys_…` but not `Foo::bar` or `x`";
    assert_eq!(
        references(text),
        vec!["service_x::a_test", "m::tests"],
        "`keys_…` has one segment, `Foo::bar` is not lower case"
    );
    let src = "mod tests {\n    #[test]\n    fn a_test_of_things() {}\n}\n";
    assert!(defines(src, "a_test_of_things", false));
    assert!(defines(src, "a_test", true));
    assert!(!defines(src, "a_test", false));
    assert!(defines(src, "tests", false));
    assert!(under(
        Path::new("crates/ndf-cli/tests/service_x.rs"),
        "",
        "service_x"
    ));
    assert!(under(
        Path::new("crates/ndf-store/src/lib.rs"),
        "mod sqlite_extra {",
        "sqlite_extra"
    ));
    assert!(!under(
        Path::new("crates/ndf-store/src/lib.rs"),
        "",
        "service_x"
    ));
}
