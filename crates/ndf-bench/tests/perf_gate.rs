//! scripts/perf-gate.sh never passes without measuring: a missing corpus folder or baseline
//! fails it, and so does a baseline measured with another compiler (rustc release or LLVM
//! version), before anything is built. The measuring run itself is the test command's
//! `bash scripts/perf-gate.sh`.
#![allow(clippy::disallowed_methods)] // reads a small trusted repository file

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ndf-perf-gate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `rustc -V` and the LLVM version of `rustc -vV`, as the gate reads them.
fn compiler() -> (String, String) {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let run = |arg: &str| {
        let out = Command::new(&rustc).arg(arg).output().expect("run rustc");
        assert!(out.status.success());
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let release = run("-V").trim_end().to_owned();
    let llvm = run("-vV")
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .expect("an LLVM version line")
        .to_owned();
    (release, llvm)
}

/// A baseline with these header values and the committed document list.
fn baseline(dir: &Path, rustc: Option<&str>, llvm: Option<&str>) -> PathBuf {
    let mut text = String::from("# Instruction-count baseline (test copy)\n");
    if let Some(r) = rustc {
        text.push_str(&format!("# rustc: {r}\n"));
    }
    if let Some(l) = llvm {
        text.push_str(&format!("# llvm: {l}\n"));
    }
    text.push_str("document\tIr\nsome.pdf\t1000\nTOTAL\t1000\n");
    let path = dir.join("baseline.tsv");
    std::fs::write(&path, text).unwrap();
    path
}

fn gate(baseline: &Path, corpus: &Path) -> Output {
    Command::new("bash")
        .arg(repo().join("scripts/perf-gate.sh"))
        .env("NDF_PERF_GATE_BASELINE", baseline)
        .env("NDF_CORPUS_DIR", corpus)
        // Never reached when the gate refuses early; a build here would be a failure to refuse.
        .env("CARGO_TARGET_DIR", baseline.with_file_name("target"))
        .output()
        .expect("run bash")
}

#[track_caller]
fn assert_fails_with(out: &Output, needle: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(needle),
        "no {needle:?} in stderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("SKIPPED") && !stdout.contains("passed"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("callgrind over"),
        "the gate measured before refusing:\n{stdout}"
    );
}

#[test]
fn a_missing_corpus_fails_the_gate() {
    let dir = scratch("no-corpus");
    let (rustc, llvm) = compiler();
    let base = baseline(&dir, Some(&rustc), Some(&llvm));
    let out = gate(&base, &dir.join("no-such-corpus"));
    assert_fails_with(&out, "perf gate: FAILED, no corpus folder at");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_baseline_fails_the_gate() {
    let dir = scratch("no-baseline");
    let out = gate(&dir.join("none.tsv"), &dir);
    assert_fails_with(&out, "perf gate: FAILED, no baseline at");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_baseline_of_another_rustc_release_fails_the_gate() {
    let dir = scratch("other-rustc");
    let (_, llvm) = compiler();
    let base = baseline(
        &dir,
        Some("rustc 1.0.0 (a28077b28 2015-05-13)"),
        Some(&llvm),
    );
    let out = gate(&base, &dir);
    assert_fails_with(
        &out,
        "the baseline was measured with 'rustc 1.0.0 (a28077b28 2015-05-13)'",
    );
    assert_fails_with(&out, "rerun with scripts/perf-gate.sh --update");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_baseline_of_another_llvm_or_an_unrecorded_one_fails_the_gate() {
    let dir = scratch("other-llvm");
    let (rustc, _) = compiler();
    let base = baseline(&dir, Some(&rustc), Some("1.0.0"));
    assert_fails_with(&gate(&base, &dir), "(LLVM 1.0.0)");
    let base = baseline(&dir, Some(&rustc), None);
    assert_fails_with(&gate(&base, &dir), "(LLVM unrecorded)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The committed baseline records the compiler it was measured with.
#[test]
fn the_committed_baseline_names_its_compiler() {
    let text = std::fs::read_to_string(repo().join("perf/baseline.tsv")).unwrap();
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::len);
    assert!(field("# rustc: rustc ").is_some_and(|n| n > 0), "{text}");
    assert!(field("# llvm: ").is_some_and(|n| n > 0), "{text}");
}
