//! The `ndf` binary over real processes: output formats, page selection, exit codes, batch
//! ordering and the ndjson contract read by ../shared/bench/peers.py, and peak memory.
#![allow(clippy::print_stderr, clippy::disallowed_methods)] // reads files the test itself wrote

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndf_testkit::{PageSpec, doc, text_doc};

fn ndf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ndf"))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ndf-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write fixture");
    p
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run ndf")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn extract_text_json_and_markdown() {
    let dir = scratch("formats");
    let pdf = write(
        &dir,
        "two.pdf",
        &text_doc(&["Hello first page", "Second page here"]),
    );

    let o = run(ndf().args(["extract"]).arg(&pdf));
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert!(
        text.contains("Hello first page") && text.contains("Second page here"),
        "{text}"
    );
    assert_eq!(
        text.matches('\x0c').count(),
        2,
        "a form feed after each page"
    );

    let o = run(ndf().args(["extract", "--format", "json"]).arg(&pdf));
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["schema_version"], "1.0");
    assert_eq!(v["metadata"]["page_count"], 2);
    assert_eq!(v["pages"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["pages"][1]["number"], 2);

    let o = run(ndf()
        .args(["extract", "--format", "json", "--pages", "2"])
        .arg(&pdf));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["pages"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["pages"][0]["number"], 2);

    let o = run(ndf()
        .args(["extract", "-"])
        .stdin(std::fs::File::open(&pdf).expect("open")));
    assert!(
        o.status.success() && stdout(&o).contains("Second page here"),
        "standard input"
    );

    let out = dir.join("out.md");
    let o = run(ndf()
        .args(["extract", "--format", "markdown", "-o"])
        .arg(&out)
        .arg(&pdf));
    assert!(o.status.success());
    let md = std::fs::read_to_string(&out).expect("markdown written");
    assert!(md.contains("Hello first page"), "{md}");
}

#[test]
fn exit_codes_and_errors_name_the_file_and_code() {
    let dir = scratch("exit");
    let good = write(&dir, "good.pdf", &text_doc(&["fine"]));
    let bad = write(&dir, "bad.pdf", b"this is not a pdf at all");

    let o = run(ndf().args(["extract"]).arg(&good).arg(&bad));
    assert_eq!(o.status.code(), Some(1), "one input failed");
    assert!(
        stdout(&o).contains("fine"),
        "the good file is still extracted"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.pdf") && err.contains("not_pdf"), "{err}");

    let o = run(ndf().args(["extract", "--pages", "3-1"]).arg(&good));
    assert_eq!(o.status.code(), Some(2), "bad page range is a usage error");

    let o = run(ndf().args(["extract", "--pages", "5"]).arg(&good));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a selection outside the document fails that file"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid_argument"));

    let o = run(ndf().args(["extract", "--no-such-flag"]).arg(&good));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn batch_ndjson_keeps_input_order_and_reports_failures() {
    let dir = scratch("batch");
    let mut list = String::new();
    for i in 0..12 {
        let p = if i == 5 {
            write(&dir, &format!("f{i:02}.pdf"), b"%PDF-1.4 garbage")
        } else {
            write(
                &dir,
                &format!("f{i:02}.pdf"),
                &text_doc(&[&format!("Document number {i}")]),
            )
        };
        list.push_str(&format!("{}\n", p.display()));
    }
    let list_file = write(&dir, "list.txt", list.as_bytes());
    let o = run(ndf()
        .args(["batch", "--jobs", "3", "--format", "ndjson", "--files-from"])
        .arg(&list_file));
    assert_eq!(o.status.code(), Some(1), "one file failed");
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 12);
    for (i, v) in lines.iter().enumerate() {
        assert!(
            v["file"]
                .as_str()
                .is_some_and(|f| f.ends_with(&format!("f{i:02}.pdf"))),
            "input order: {v}"
        );
        assert!(v["ms"].as_f64().is_some_and(|ms| ms >= 0.0));
        if i == 5 {
            assert_eq!(v["ok"], false);
            assert!(v["error"]["code"].as_str().is_some(), "{v}");
        } else {
            assert_eq!(v["ok"], true);
            assert_eq!(v["pages"], 1);
            assert!(
                v["text"]
                    .as_str()
                    .is_some_and(|t| t.contains(&format!("Document number {i}")))
            );
        }
    }
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains("12 documents (11 ok, 1 failed)"),
        "{summary}"
    );
}

#[test]
fn batch_writes_one_file_per_document() {
    let dir = scratch("batch-out");
    let input = dir.join("in");
    std::fs::create_dir_all(input.join("sub")).expect("dirs");
    write(&input, "a.pdf", &text_doc(&["alpha"]));
    write(&input.join("sub"), "b.pdf", &text_doc(&["beta"]));
    write(&input, "c.pdf", b"not a pdf");
    let out = dir.join("out");
    let o = run(ndf()
        .args(["batch", "--format", "text", "--out"])
        .arg(&out)
        .arg(&input));
    assert_eq!(o.status.code(), Some(1), "c.pdf fails: {o:?}");
    assert!(
        !out.join("c.txt").exists(),
        "no output file for a failed document"
    );
    assert!(
        std::fs::read_to_string(out.join("a.txt"))
            .expect("a.txt")
            .contains("alpha")
    );
    assert!(
        std::fs::read_to_string(out.join("b.txt"))
            .expect("b.txt")
            .contains("beta")
    );
}

/// Peak resident memory of `ndf extract` as the process itself reports it (`--stats`, from the
/// kernel's VmHWM).
fn peak_rss_of(args: &[&str], pdf: &Path) -> u64 {
    let o = run(ndf()
        .args(args)
        .arg("--stats")
        .args(["-o", "/dev/null"])
        .arg(pdf));
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err.lines().last().expect("stats line");
    let v: serde_json::Value = serde_json::from_str(line).expect("stats JSON");
    v["peak_rss_bytes"].as_u64().unwrap_or(0)
}

const RSS_LIMIT: u64 = 100 << 20;

#[test]
fn peak_memory_stays_under_100_mb_for_a_1000_page_document() {
    let dir = scratch("rss");
    let line: String = "a line of a generated page with a number of ordinary words on it".into();
    let pages: Vec<PageSpec> = (0..1000)
        .map(|i| {
            let mut content = String::from("BT /F1 10 Tf 12 TL 36 760 Td\n");
            for l in 0..50 {
                content.push_str(&format!("(Page {i} line {l}: {line}) '\n"));
            }
            content.push_str("ET\n");
            PageSpec::flate(content.as_bytes())
        })
        .collect();
    let pdf = write(&dir, "thousand.pdf", &doc(&pages));
    for format in ["json", "text"] {
        let rss = peak_rss_of(&["extract", "--format", format], &pdf);
        eprintln!(
            "1000-page document, {format}: peak RSS {:.1} MiB",
            rss as f64 / 1048576.0
        );
        assert!(rss > 0 && rss < RSS_LIMIT, "{format}: peak RSS {rss} bytes");
    }
}

#[test]
fn peak_memory_stays_under_100_mb_for_the_largest_corpus_file() {
    let Some(corpus) = ndf_testkit::corpus::dir_for_test(
        "peak_memory_stays_under_100_mb_for_the_largest_corpus_file",
    ) else {
        return;
    };
    let entries = std::fs::read_dir(&corpus).expect("corpus folder");
    let largest = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pdf"))
        .max_by_key(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .map(|e| e.path())
        .expect("a PDF in the corpus");
    let rss = peak_rss_of(&["extract", "--format", "json"], &largest);
    eprintln!(
        "{}: peak RSS {:.1} MiB",
        largest.display(),
        rss as f64 / 1048576.0
    );
    assert!(rss > 0 && rss < RSS_LIMIT, "peak RSS {rss} bytes");
}
