//! The worker side: serve extraction requests on stdin/stdout, one document at a time.
//!
//! The `ndf` binary calls [`run`] from its hidden `__extract-child` subcommand. The child
//! streams one frame per finished page and keeps only the current page in memory (plus the
//! engine's running-header look-ahead).

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use ndf_extract::{Code, ExtractError, Extraction, MarkdownRenderer, Options, PageSelection};

use crate::protocol::{
    DOCUMENT, DONE, ERROR, HEADER_LEN, MAGIC, MAX_REQUEST_JSON, MAX_RESPONSE_FRAME, METADATA, PAGE,
    REQUEST, TIMINGS, WireError, WireRequest, WireTimings, header, parse_header,
};
use crate::{DocumentResources, PageStages, Timing};
use crate::{Format, MEMORY_LIMIT_ENV, RequestOptions};

/// Serve requests on stdin/stdout until stdin closes. Sets `RLIMIT_AS` from env
/// `NDF_CHILD_MEMORY_LIMIT` (bytes, 0 = none) first. Returns the process exit code: success
/// when stdin closed between documents, 2 on a protocol or output error, 3 when the memory
/// limit could not be set (the worker refuses to serve uncapped).
pub fn run() -> ExitCode {
    if let Err(e) = apply_memory_limit() {
        let _ = writeln!(io::stderr(), "ndf worker: cannot set the memory limit: {e}");
        return ExitCode::from(3);
    }
    let hooks = hooks_enabled();
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut input = stdin.lock();
    // Through the process's own stdout handle, so anything a harness buffered there before
    // (libtest's "running 1 test") is flushed ahead of the handshake, never inside a frame.
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    match serve(&mut input, &mut out, hooks) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "ndf worker: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether this worker misbehaves on the test hooks' documents: only when built with the
/// `test-hooks` feature (tests) and its environment has `NDF_POOL_TEST_HOOKS=1`. A build without
/// the feature has no hook code at all and ignores the variable.
#[cfg(feature = "test-hooks")]
fn hooks_enabled() -> bool {
    std::env::var_os(crate::TEST_HOOKS_ENV).is_some_and(|v| v == "1")
}

#[cfg(not(feature = "test-hooks"))]
fn hooks_enabled() -> bool {
    false
}

/// Why the child stops serving.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChildError {
    /// Reading the request or writing the response failed (the parent is gone).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The parent sent something that is not a valid request.
    #[error("protocol error: {0}")]
    Protocol(String),
}

fn protocol(m: impl Into<String>) -> ChildError {
    ChildError::Protocol(m.into())
}

fn apply_memory_limit() -> Result<(), String> {
    let Some(v) = std::env::var_os(MEMORY_LIMIT_ENV) else {
        return Ok(());
    };
    let limit: u64 = v
        .to_str()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("{MEMORY_LIMIT_ENV} is not a number of bytes"))?;
    if limit == 0 {
        return Ok(());
    }
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::AS).map_err(|e| e.to_string())?;
    let limit = limit.min(hard);
    // Soft and hard: the engine cannot raise it back.
    rlimit::setrlimit(rlimit::Resource::AS, limit, limit).map_err(|e| e.to_string())
}

/// Reusable buffers of one child.
#[derive(Default)]
struct Scratch {
    json: Vec<u8>,
    text: String,
}

/// The request loop: handshake, then documents until `input` ends between two requests.
pub(crate) fn serve(
    input: &mut impl Read,
    out: &mut impl Write,
    hooks: bool,
) -> Result<(), ChildError> {
    out.write_all(MAGIC)?;
    out.flush()?;
    let mut scratch = Scratch::default();
    loop {
        let Some((kind, len)) = read_header(input)? else {
            return Ok(());
        };
        if kind != REQUEST {
            return Err(protocol(format!(
                "expected a request frame, got kind {kind:#04x}"
            )));
        }
        if len > MAX_REQUEST_JSON {
            return Err(protocol(format!("request of {len} bytes")));
        }
        let json = read_payload(input, len)?;
        let request: WireRequest =
            serde_json::from_slice(&json).map_err(|e| protocol(format!("invalid request: {e}")))?;
        let (kind, len) =
            read_header(input)?.ok_or_else(|| protocol("input ended before the document"))?;
        if kind != DOCUMENT {
            return Err(protocol(format!(
                "expected a document frame, got kind {kind:#04x}"
            )));
        }
        if u64::from(len) > request.options.limits.max_file_bytes {
            return Err(protocol(format!(
                "document of {len} bytes exceeds max_file_bytes"
            )));
        }
        let pdf = read_payload(input, len)?;
        #[cfg(feature = "test-hooks")]
        let pdf = if hooks { hooks::apply(&pdf) } else { &pdf[..] };
        #[cfg(not(feature = "test-hooks"))]
        let pdf = {
            let _ = hooks;
            &pdf[..]
        };
        extract_document(pdf, &request, out, &mut scratch)?;
    }
}

/// A frame header, or `None` when the input ends cleanly before it.
fn read_header(input: &mut impl Read) -> Result<Option<(u8, u32)>, ChildError> {
    let mut h = [0u8; HEADER_LEN];
    let mut got = 0usize;
    while let Some(rest) = h.get_mut(got..).filter(|r| !r.is_empty()) {
        match input.read(rest) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(protocol("input ended inside a frame header")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(parse_header(h)))
}

fn read_payload(input: &mut impl Read, len: u32) -> Result<Vec<u8>, ChildError> {
    let len = len as usize;
    let mut v = Vec::new();
    // Fails cleanly under the memory cap instead of aborting.
    v.try_reserve_exact(len)
        .map_err(|_| protocol(format!("cannot allocate a frame of {len} bytes")))?;
    input.take(len as u64).read_to_end(&mut v)?;
    if v.len() != len {
        return Err(protocol("input ended inside a frame"));
    }
    Ok(v)
}

fn write_frame(
    out: &mut impl Write,
    kind: u8,
    prefix: &[u8],
    body: &[u8],
) -> Result<(), ChildError> {
    let len = u32::try_from(prefix.len().saturating_add(body.len()))
        .ok()
        .filter(|&l| l <= MAX_RESPONSE_FRAME)
        .ok_or_else(|| protocol("response frame too large"))?;
    out.write_all(&header(kind, len))?;
    out.write_all(prefix)?;
    out.write_all(body)?;
    // Each frame goes out at once: the parent streams pages as they finish.
    out.flush()?;
    Ok(())
}

fn write_timings(out: &mut impl Write, timings: &WireTimings) -> Result<(), ChildError> {
    let body = serde_json::to_vec(timings).map_err(|e| protocol(e.to_string()))?;
    write_frame(out, TIMINGS, &[], &body)
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, nanos)
}

/// Peak memory of one document: the kernel's high-water mark, reset before each document.
mod resources {
    use std::io::Read;

    /// Reset the peak-RSS mark (Linux ≥ 4.0 `clear_refs` value 5); best effort.
    pub(super) fn reset_peak() {
        #[cfg(target_os = "linux")]
        {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .open("/proc/self/clear_refs")
                .and_then(|mut f| std::io::Write::write_all(&mut f, b"5"));
        }
    }

    /// `VmHWM` of this process in bytes.
    pub(super) fn peak_rss_bytes() -> Option<u64> {
        let f = std::fs::File::open("/proc/self/status").ok()?;
        let mut text = String::new();
        // The file is a few KiB; the bound keeps a strange /proc from costing anything.
        f.take(64 << 10).read_to_string(&mut text).ok()?;
        let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kib.checked_mul(1024)
    }
}

fn write_error(out: &mut impl Write, code: Code, message: &str) -> Result<(), ChildError> {
    let body = serde_json::to_vec(&WireError {
        code,
        message: message.to_owned(),
    })
    .map_err(|e| protocol(e.to_string()))?;
    write_frame(out, ERROR, &[], &body)
}

fn engine_options(o: &RequestOptions) -> Result<Options, ExtractError> {
    let mut options = Options {
        limits: o.limits.clone(),
        password: o.password.clone().unwrap_or_default(),
        annotations: o.annotations,
        ..Options::default()
    };
    options.layout.dehyphenate = o.dehyphenate;
    if let Some(p) = &o.pages {
        options.pages = Some(PageSelection::parse(p)?);
    }
    Ok(options)
}

/// What stopped a document early inside the engine callback.
enum Stop {
    /// The output could not be written: the child must exit.
    Fatal(ChildError),
    /// A page's output cannot be framed: the document fails, the child goes on.
    Document(Code, String),
}

fn extract_document(
    pdf: &[u8],
    request: &WireRequest,
    out: &mut impl Write,
    scratch: &mut Scratch,
) -> Result<(), ChildError> {
    let options = match engine_options(&request.options) {
        Ok(o) => o,
        Err(e) => return write_error(out, e.code, &e.message),
    };
    resources::reset_peak();
    let open_started = std::time::Instant::now();
    let open_started_unix = unix_nanos();
    let result = Extraction::run(pdf, &options, |ex| -> Result<(), Stop> {
        let fatal = Stop::Fatal;
        let encode = |e: serde_json::Error| Stop::Document(Code::Internal, e.to_string());
        let open = Timing {
            started_unix_nanos: open_started_unix,
            nanos: nanos(open_started.elapsed()),
        };
        write_timings(out, &WireTimings::Open(open)).map_err(fatal)?;
        let pages = u32::try_from(ex.selected_count()).unwrap_or(u32::MAX);
        scratch.json.clear();
        serde_json::to_writer(&mut scratch.json, ex.metadata()).map_err(encode)?;
        write_frame(out, METADATA, &pages.to_le_bytes(), &scratch.json).map_err(fatal)?;
        let mut markdown = MarkdownRenderer::new();
        while let Some(page) = ex.next_page() {
            let render_started = std::time::Instant::now();
            let body: &[u8] = match request.format {
                Format::Json => {
                    scratch.json.clear();
                    serde_json::to_writer(&mut scratch.json, &page).map_err(encode)?;
                    &scratch.json
                }
                Format::Text => {
                    scratch.text.clear();
                    ndf_extract::render_text(&page, &mut scratch.text);
                    scratch.text.as_bytes()
                }
                Format::Markdown => {
                    scratch.text.clear();
                    markdown.render_page(&page, &mut scratch.text);
                    scratch.text.as_bytes()
                }
            };
            if body.len() > (MAX_RESPONSE_FRAME as usize).saturating_sub(4) {
                return Err(Stop::Document(
                    Code::Internal,
                    format!(
                        "page {} produced more output than a frame holds",
                        page.number
                    ),
                ));
            }
            let t = ex.take_timings(page.number).unwrap_or_default();
            let stages = PageStages {
                started_unix_nanos: t.started_unix_nanos,
                fonts_nanos: nanos(t.fonts),
                interpret_nanos: nanos(t.interpret),
                layout_nanos: nanos(t.layout),
                render_nanos: nanos(render_started.elapsed()),
                error: page
                    .diagnostics
                    .iter()
                    .find(|d| d.severity == ndf_model::Severity::Error)
                    .map(|d| d.code),
            };
            write_timings(out, &WireTimings::Page(stages)).map_err(fatal)?;
            write_frame(out, PAGE, &page.number.to_le_bytes(), body).map_err(fatal)?;
        }
        scratch.json.clear();
        serde_json::to_writer(&mut scratch.json, &ex.diagnostics()).map_err(encode)?;
        let done = DocumentResources {
            peak_rss_bytes: resources::peak_rss_bytes(),
        };
        write_timings(out, &WireTimings::Done(done)).map_err(fatal)?;
        write_frame(out, DONE, &[], &scratch.json).map_err(fatal)
    });
    // Keep the buffers of ordinary documents, not those of a freak one.
    if scratch.json.capacity() > 16 << 20 {
        scratch.json = Vec::new();
    }
    if scratch.text.capacity() > 16 << 20 {
        scratch.text = String::new();
    }
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Stop::Fatal(e))) => Err(e),
        Ok(Err(Stop::Document(code, message))) => write_error(out, code, &message),
        Err(e) => write_error(out, e.code, &e.message),
    }
}

/// Deliberate misbehaviour for the isolation tests: compiled only with the `test-hooks`
/// feature, active only with `NDF_POOL_TEST_HOOKS=1`.
#[cfg(feature = "test-hooks")]
mod hooks {
    use std::time::Duration;

    /// Part of the panic hook's message: a build without the feature does not contain this
    /// text (scripts/check-no-test-hooks.sh looks for it in the release binary).
    pub(super) const MARKER: &str = "NDF-POOL-TEST-HOOKS-COMPILED-IN";

    /// Misbehave as the document asks, or return the bytes to extract.
    pub(super) fn apply(pdf: &[u8]) -> &[u8] {
        if pdf.starts_with(b"%NDF-TEST-OOM") {
            allocate_without_bound();
        } else if pdf.starts_with(b"%NDF-TEST-HANG") {
            // An hour is "forever" for any test; a bound keeps the loop finite.
            for _ in 0..36_000 {
                std::thread::sleep(Duration::from_millis(100));
            }
        } else if pdf.starts_with(b"%NDF-TEST-PANIC") {
            panic!("{MARKER}: test hook: panic outside the engine");
        } else if pdf.starts_with(b"%NDF-TEST-ABORT") {
            std::process::abort();
        } else if let Some(rest) = pdf.strip_prefix(b"%NDF-TEST-SLEEP ") {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let ms: u64 = std::str::from_utf8(rest.get(..end).unwrap_or_default())
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms.min(60_000)));
            return rest.get(end.saturating_add(1)..).unwrap_or_default();
        }
        pdf
    }

    fn allocate_without_bound() {
        // Without a cap this would take the machine's memory: refuse (the document then fails
        // as not_pdf).
        let capped =
            rlimit::getrlimit(rlimit::Resource::AS).is_ok_and(|(soft, _)| soft != rlimit::INFINITY);
        if !capped {
            return;
        }
        let mut hog: Vec<Vec<u8>> = Vec::new();
        // 64 GiB in 16 MiB chunks, touched: far beyond any cap, so the allocation fails and
        // the process aborts.
        for _ in 0..4096 {
            hog.push(vec![1u8; 16 << 20]);
            std::hint::black_box(&hog);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{self, split_u32};
    use bytes::Bytes;

    fn request_frames(format: Format, options: RequestOptions, pdf: &[u8]) -> Vec<u8> {
        let json = serde_json::to_vec(&WireRequest { format, options }).unwrap();
        let mut v = header(REQUEST, json.len() as u32).to_vec();
        v.extend_from_slice(&json);
        v.extend_from_slice(&header(DOCUMENT, pdf.len() as u32));
        v.extend_from_slice(pdf);
        v
    }

    /// Parse the child's output into frames, after the magic.
    /// The frames of `out` without the timings frames.
    fn frames(out: &[u8]) -> Vec<(u8, Bytes)> {
        let mut v = all_frames(out);
        v.retain(|(k, _)| *k != TIMINGS);
        v
    }

    fn all_frames(out: &[u8]) -> Vec<(u8, Bytes)> {
        let rest = out.strip_prefix(MAGIC).expect("handshake first");
        let mut r = rest;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut v = Vec::new();
        while !r.is_empty() {
            v.push(rt.block_on(protocol::read_frame(&mut r)).unwrap());
        }
        v
    }

    #[test]
    fn serves_documents_in_order_and_keeps_going() {
        let pdf = ndf_testkit::text_doc(&["first page", "second page"]);
        let mut input = request_frames(Format::Text, RequestOptions::default(), &pdf);
        input.extend(request_frames(
            Format::Json,
            RequestOptions::default(),
            b"not a pdf",
        ));
        input.extend(request_frames(
            Format::Json,
            RequestOptions {
                pages: Some("2".into()),
                ..RequestOptions::default()
            },
            &pdf,
        ));
        let mut out = Vec::new();
        serve(&mut &input[..], &mut out, false).unwrap();
        let f = frames(&out);
        let kinds: Vec<u8> = f.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![METADATA, PAGE, PAGE, DONE, ERROR, METADATA, PAGE, DONE]
        );
        let (pages, meta) = split_u32(&f[0].1).unwrap();
        assert_eq!(pages, 2);
        let meta: ndf_model::Metadata = serde_json::from_slice(&meta).unwrap();
        assert_eq!(meta.page_count, 2);
        let (n, body) = split_u32(&f[1].1).unwrap();
        assert_eq!(n, 1);
        let text = std::str::from_utf8(&body).unwrap();
        assert!(text.contains("first page"), "{text:?}");
        let err: WireError = serde_json::from_slice(&f[4].1).unwrap();
        assert_eq!(err.code, Code::NotPdf);
        let (n, body) = split_u32(&f[6].1).unwrap();
        assert_eq!(n, 2);
        let page: ndf_model::Page = serde_json::from_slice(&body).unwrap();
        assert_eq!(page.number, 2);
        let diags: Vec<ndf_model::Diagnostic> = serde_json::from_slice(&f[7].1).unwrap();
        assert!(diags.is_empty(), "{diags:?}");
    }

    #[test]
    fn timings_precede_metadata_pages_and_done() {
        let pdf = ndf_testkit::text_doc(&["first page", "second page"]);
        let input = request_frames(Format::Json, RequestOptions::default(), &pdf);
        let mut out = Vec::new();
        serve(&mut &input[..], &mut out, false).unwrap();
        let f = all_frames(&out);
        let kinds: Vec<u8> = f.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![
                TIMINGS, METADATA, TIMINGS, PAGE, TIMINGS, PAGE, TIMINGS, DONE
            ]
        );
        let timings: Vec<WireTimings> = f
            .iter()
            .filter(|(k, _)| *k == TIMINGS)
            .map(|(_, p)| serde_json::from_slice(p).unwrap())
            .collect();
        let now = unix_nanos();
        match timings[0] {
            WireTimings::Open(t) => {
                assert!(t.started_unix_nanos > 0 && t.started_unix_nanos <= now);
                assert!(t.nanos > 0);
            }
            other => panic!("open timing first, got {other:?}"),
        }
        for t in &timings[1..3] {
            match t {
                WireTimings::Page(p) => {
                    assert!(p.started_unix_nanos >= open_start(&timings[0]));
                    assert!(p.interpret_nanos > 0 && p.layout_nanos > 0 && p.render_nanos > 0);
                }
                other => panic!("page timings, got {other:?}"),
            }
        }
        match timings[3] {
            WireTimings::Done(r) => {
                if cfg!(target_os = "linux") {
                    assert!(r.peak_rss_bytes.is_some_and(|b| b > 1 << 20), "{r:?}");
                }
            }
            other => panic!("resources last, got {other:?}"),
        }
    }

    fn open_start(t: &WireTimings) -> u64 {
        match t {
            WireTimings::Open(t) => t.started_unix_nanos,
            _ => u64::MAX,
        }
    }

    #[test]
    fn bad_page_selection_is_a_typed_error() {
        let pdf = ndf_testkit::text_doc(&["only"]);
        let input = request_frames(
            Format::Text,
            RequestOptions {
                pages: Some("0-".into()),
                ..RequestOptions::default()
            },
            &pdf,
        );
        let mut out = Vec::new();
        serve(&mut &input[..], &mut out, false).unwrap();
        let f = frames(&out);
        assert_eq!(f.len(), 1);
        let err: WireError = serde_json::from_slice(&f[0].1).unwrap();
        assert_eq!(err.code, Code::InvalidArgument);
    }

    #[test]
    fn malformed_requests_stop_the_child() {
        let pdf = ndf_testkit::text_doc(&["x"]);
        let good = request_frames(Format::Text, RequestOptions::default(), &pdf);
        let small = RequestOptions {
            limits: ndf_model::Limits {
                max_file_bytes: 10,
                ..Default::default()
            },
            ..RequestOptions::default()
        };
        let cases: Vec<Vec<u8>> = vec![
            header(DOCUMENT, 0).to_vec(), // document before request
            header(REQUEST, MAX_REQUEST_JSON + 1).to_vec(), // oversized request
            [&header(REQUEST, 4)[..], b"{no}"].concat(), // invalid JSON
            good[..good.len() - 1].to_vec(), // truncated document
            good[..3].to_vec(),           // truncated header
            request_frames(Format::Text, small, &pdf), // document over max_file_bytes
        ];
        for (i, input) in cases.iter().enumerate() {
            let mut out = Vec::new();
            let r = serve(&mut &input[..], &mut out, false);
            assert!(matches!(r, Err(ChildError::Protocol(_))), "case {i}: {r:?}");
            assert_eq!(out, MAGIC, "case {i}: nothing but the handshake");
        }
    }

    #[test]
    fn markdown_keeps_state_across_pages() {
        let pdf = ndf_testkit::text_doc(&["alpha", "beta", "gamma"]);
        let input = request_frames(Format::Markdown, RequestOptions::default(), &pdf);
        let mut out = Vec::new();
        serve(&mut &input[..], &mut out, false).unwrap();
        let mut md = Vec::new();
        for (kind, payload) in frames(&out) {
            if kind == PAGE {
                md.extend_from_slice(&split_u32(&payload).unwrap().1);
            }
        }
        let doc = ndf_extract::extract(&pdf, &Options::default()).unwrap();
        assert_eq!(
            String::from_utf8(md).unwrap(),
            ndf_extract::document_markdown(&doc)
        );
    }

    #[cfg(feature = "test-hooks")]
    #[test]
    fn sleep_hook_extracts_the_rest() {
        let pdf = ndf_testkit::text_doc(&["after sleep"]);
        let doc = [&b"%NDF-TEST-SLEEP 1\n"[..], &pdf].concat();
        assert_eq!(hooks::apply(&doc), &pdf[..]);
        assert_eq!(hooks::apply(&pdf), &pdf[..]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut out = Vec::new();
            let _ = serve(&mut &bytes[..], &mut out, false);
            proptest::prop_assert!(out.starts_with(MAGIC));
        }
    }
}
