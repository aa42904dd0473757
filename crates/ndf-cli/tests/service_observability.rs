//! Observability end to end, over real sockets against real `ndf serve` / `ndf worker`
//! processes:
//!
//! - `one_job_is_one_trace_across_processes`: an OTLP/HTTP receiver on loopback decodes the
//!   protobuf spans both processes export; one job submitted with a `traceparent` yields one
//!   trace request → job → document → page → stage (API replica and a separate `ndf worker`),
//!   with the expected attributes. The same run checks the log lines (JSON, trace ids of
//!   exported spans, request and job ids) and that no log line holds document text or the
//!   document's password.
//! - `sync_extraction_metrics_and_trace`: the sync path's spans, `/metrics` values after known
//!   work, OpenMetrics exemplars, `promtool check metrics` on the live scrape, and every metric
//!   the Grafana dashboard queries is exported.
//! - `prometheus_pages_when_the_instance_dies`: a real Prometheus scrapes `ndf serve` with the
//!   repository's rules; every dashboard query runs; after the service stops, the instance-down
//!   alert fires through Prometheus' HTTP API within 60 s.
//! - `status_page_renders_in_headless_chromium`: `/status` loaded by Debian's chromium shows
//!   the figures of the work done.
//! - `admin_listener_is_off_by_default_and_profiles_when_on`.
//!
//! Prometheus, promtool and chromium come from Debian packages the test command installs; without
//! them these cases skip with a message, or fail when `NDF_REQUIRE_SERVICES=1`.

#![allow(clippy::print_stderr)] // skip messages and the measured alert delay

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::Value;
use support::{Opts, Server, backends, client, embedded, tool, wait_job};

/// The client's own span: every trace below must continue it.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn traceparent(trace: &str) -> String {
    format!("00-{trace}-{CLIENT_SPAN}-01")
}

/// A file of the repository, at most 4 MiB.
fn read_repo_file(path: &Path) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    f.take(4 << 20).read_to_end(&mut out).unwrap();
    out
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ------------------------------------------------------------------------- OTLP receiver

/// One received span, flattened.
#[derive(Debug, Clone)]
struct SpanRec {
    trace: String,
    id: String,
    parent: String,
    name: String,
    kind: i32,
    start: u64,
    end: u64,
    status: i32,
    attrs: HashMap<String, String>,
    resource: HashMap<String, String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn flatten(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// An OTLP/HTTP (protobuf) trace receiver on loopback.
struct Receiver {
    endpoint: String,
    spans: Arc<Mutex<Vec<SpanRec>>>,
    bad: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let bad = Arc::new(Mutex::new(Vec::new()));
        let (s, b) = (spans.clone(), bad.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let (s, b) = (s.clone(), b.clone());
                std::thread::spawn(move || serve_connection(conn, &s, &b));
            }
        });
        Receiver {
            endpoint,
            spans,
            bad,
        }
    }

    fn spans(&self) -> Vec<SpanRec> {
        let bad = self.bad.lock().unwrap().clone();
        assert!(bad.is_empty(), "bad OTLP requests: {bad:?}");
        self.spans.lock().unwrap().clone()
    }

    /// Wait until `done` holds for the spans of `trace` (exports are batched).
    fn wait_trace(&self, trace: &str, done: impl Fn(&[SpanRec]) -> bool) -> Vec<SpanRec> {
        let start = Instant::now();
        loop {
            let t: Vec<SpanRec> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace == trace)
                .collect();
            if done(&t) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "trace {trace} incomplete after 60 s: {:#?}",
                t.iter()
                    .map(|s| (&s.name, &s.id, &s.parent))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// HTTP/1.1 keep-alive: requests until the exporter closes the connection.
fn serve_connection(conn: TcpStream, spans: &Mutex<Vec<SpanRec>>, bad: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut writer = conn;
    for _ in 0..100_000 {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        let mut content_type = String::new();
        let mut encoding = String::new();
        for _ in 0..100 {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "content-type" => content_type = v.trim().to_owned(),
                    "content-encoding" => encoding = v.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length.min(64 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if !request_line.starts_with("POST /v1/traces ")
            || content_type != "application/x-protobuf"
            || !encoding.is_empty()
        {
            bad.lock().unwrap().push(format!(
                "{} {content_type} {encoding}",
                request_line.trim_end()
            ));
        } else {
            match ExportTraceServiceRequest::decode(&body[..]) {
                Ok(req) => {
                    let mut out = spans.lock().unwrap();
                    for rs in req.resource_spans {
                        let resource =
                            flatten(&rs.resource.map(|r| r.attributes).unwrap_or_default());
                        for ss in rs.scope_spans {
                            for sp in ss.spans {
                                out.push(SpanRec {
                                    trace: hex(&sp.trace_id),
                                    id: hex(&sp.span_id),
                                    parent: hex(&sp.parent_span_id),
                                    name: sp.name.clone(),
                                    kind: sp.kind,
                                    start: sp.start_time_unix_nano,
                                    end: sp.end_time_unix_nano,
                                    status: sp.status.as_ref().map_or(0, |s| s.code),
                                    attrs: flatten(&sp.attributes),
                                    resource: resource.clone(),
                                });
                            }
                        }
                    }
                }
                Err(e) => bad.lock().unwrap().push(format!("undecodable: {e}")),
            }
        }
        let ok =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(ok).is_err() {
            return;
        }
    }
}

/// OTLP export to `receiver` with short batching delays, JSON logs at debug level.
fn telemetry_env(receiver: &Receiver) -> Vec<(String, String)> {
    vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            receiver.endpoint.clone(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ("OTEL_TRACES_SAMPLER".into(), "parentbased_always_on".into()),
        ("NDF_LOG_FORMAT".into(), "json".into()),
    ]
}

fn by_id(spans: &[SpanRec]) -> HashMap<&str, &SpanRec> {
    spans.iter().map(|s| (s.id.as_str(), s)).collect()
}

fn children<'a>(spans: &'a [SpanRec], parent: &SpanRec, name: &str) -> Vec<&'a SpanRec> {
    spans
        .iter()
        .filter(|s| s.parent == parent.id && s.name == name)
        .collect()
}

fn one<'a>(spans: &'a [SpanRec], name: &str) -> &'a SpanRec {
    let v: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(v.len(), 1, "one {name:?} span, got {v:#?}");
    v[0]
}

/// Checks the document → page → stage part of a trace; returns the page count.
fn check_document_subtree(spans: &[SpanRec], document: &SpanRec, pages: usize, format: &str) {
    assert_eq!(document.attrs["ndf.document.format"], format);
    assert_eq!(document.attrs["ndf.document.pages"], pages.to_string());
    assert!(document.attrs["ndf.document.bytes"].parse::<u64>().unwrap() > 100);
    let open = children(spans, document, "open");
    assert_eq!(open.len(), 1, "one open stage");
    assert!(open[0].start >= document.start && open[0].end <= document.end);
    let page_spans = children(spans, document, "page");
    assert_eq!(page_spans.len(), pages, "one span per page");
    let mut numbers: Vec<u32> = page_spans
        .iter()
        .map(|p| p.attrs["ndf.page.number"].parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=pages as u32).collect::<Vec<_>>());
    for page in page_spans {
        assert_eq!(page.attrs["ndf.page.status"], "ok");
        assert!(page.start >= document.start && page.end <= document.end);
        let mut at = page.start;
        for stage in ["fonts", "interpret", "layout", "render"] {
            let s = children(spans, page, stage);
            assert_eq!(s.len(), 1, "one {stage} stage under page {:?}", page.attrs);
            assert_eq!(s[0].attrs["ndf.stage"], stage);
            assert_eq!(s[0].start, at, "stages laid end to end");
            at = s[0].end;
        }
        assert_eq!(at, page.end, "the stages fill the page span");
    }
}

/// Every stdout line is one JSON object with the fields of docs/observability.md.
fn log_lines(server: &Server) -> Vec<Value> {
    server
        .stdout_text()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"));
            for k in ["timestamp", "level", "target", "message"] {
                assert!(v[k].is_string(), "log line without {k}: {l}");
            }
            assert!(
                v["timestamp"].as_str().unwrap().ends_with('Z'),
                "UTC timestamp: {l}"
            );
            v
        })
        .collect()
}

/// A three-page document whose text carries `marker`.
fn marked_doc(marker: &str) -> Vec<u8> {
    ndf_testkit::text_doc(&[&format!("first {marker} page"), "second page", "third page"])
}

// ------------------------------------------------------------------------------ the tests

#[test]
fn one_job_is_one_trace_across_processes() {
    for backend in backends("obs_trace") {
        let name = backend.name();
        let receiver = Receiver::start();
        let env = telemetry_env(&receiver);
        // Debug level everywhere: the strictest test of what may reach a log line.
        let mut env_debug = env.clone();
        env_debug.push(("NDF_LOG".into(), "debug".into()));
        let opts = |args: &[&str]| Opts {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env_debug.clone(),
            listen: None,
        };
        let api = Server::serve(&backend, opts(&["--no-jobs", "--workers", "1"]));
        let worker = Server::worker(&backend, opts(&["--workers", "1"]));
        let http = client();

        // A plain job, and an encrypted one whose text holds a marker and whose password is
        // secret: neither may appear in any log line.
        let marker = "ZQXMARKER7731";
        let password = "pw-ZQX-5150";
        let submit = |pdf: Vec<u8>, trace: &str, pw: Option<&str>| -> String {
            let mut req = http
                .post(api.url("/v1/jobs"))
                .header("content-type", "application/pdf")
                .header("traceparent", traceparent(trace))
                .header("x-request-id", format!("req-{trace}"));
            if let Some(pw) = pw {
                req = req.header("x-pdf-password", pw);
            }
            let r = req.body(pdf).send().expect("submit");
            assert_eq!(r.status(), 202, "[{name}] {}", api.log_text());
            r.json::<Value>().unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let id = submit(marked_doc(marker), CLIENT_TRACE, None);
        let secret_trace = "5bf92f3577b34da6a3ce929d0e0e4737";
        let secret_id = submit(
            support::encrypted_doc_with(password.as_bytes(), &[&format!("SECRET {marker}")]),
            secret_trace,
            Some(password),
        );
        for job in [&id, &secret_id] {
            let v = wait_job(&http, &api, job, Duration::from_secs(120));
            assert_eq!(
                v["state"],
                "succeeded",
                "[{name}] {v}\n{}",
                worker.log_text()
            );
        }
        // The encrypted document really was decrypted: its marker is in the result.
        let result = http
            .get(api.url(&format!("/v1/jobs/{secret_id}/result?format=text")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(result.contains(marker), "[{name}] {result}");

        let spans = receiver.wait_trace(CLIENT_TRACE, |t| {
            t.iter().filter(|s| s.name == "render").count() >= 3
                && t.iter().any(|s| s.name == "job")
                && t.iter().any(|s| s.name == "POST /v1/jobs")
        });
        // request → job → document → page → stage, nothing else, no orphan.
        let ids = by_id(&spans);
        for s in &spans {
            assert!(
                s.parent == CLIENT_SPAN || ids.contains_key(s.parent.as_str()),
                "[{name}] orphan span {s:#?}"
            );
        }
        let request = one(&spans, "POST /v1/jobs");
        assert_eq!(request.parent, CLIENT_SPAN, "continues the client's trace");
        assert_eq!(request.kind, 2, "server span");
        assert_eq!(request.attrs["http.request.method"], "POST");
        assert_eq!(request.attrs["http.route"], "/v1/jobs");
        assert_eq!(request.attrs["http.response.status_code"], "202");
        assert_eq!(
            request.attrs["ndf.request.id"],
            format!("req-{CLIENT_TRACE}")
        );
        assert_eq!(request.resource["service.name"], "ndf");
        assert_eq!(
            request.resource["service.version"],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(request.resource["ndf.component"], "serve");

        let job = one(&spans, "job");
        assert_eq!(
            job.parent, request.id,
            "[{name}] the job continues the request"
        );
        assert_eq!(job.kind, 5, "consumer span");
        assert_eq!(
            job.resource["ndf.component"], "worker",
            "ran in the worker process"
        );
        assert_eq!(job.attrs["ndf.job.id"], id);
        assert_eq!(job.attrs["ndf.job.outcome"], "succeeded");
        assert_eq!(job.attrs["ndf.job.attempt"], "1");
        assert_eq!((request.status, job.status), (0, 0), "no error status");

        let documents = children(&spans, job, "document");
        assert_eq!(documents.len(), 1);
        check_document_subtree(&spans, documents[0], 3, "json");
        // Nothing but these spans in the trace: 1 request, 1 job, 1 document, 1 open,
        // 3 pages, 12 stages.
        assert_eq!(
            spans.len(),
            19,
            "[{name}] {:#?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );

        // The encrypted job is its own trace, with the same shape.
        // Spans are exported in batches as they end: the job span ends after its render span
        // and may come in a later batch, so wait for both (seen failing when waiting for the
        // render span alone).
        let secret = receiver.wait_trace(secret_trace, |t| {
            t.iter().any(|s| s.name == "render") && t.iter().any(|s| s.name == "job")
        });
        let secret_job = one(&secret, "job");
        assert_eq!(secret_job.attrs["ndf.job.outcome"], "succeeded");

        // Logs: JSON lines; the request's and the job's lines carry the exported trace ids
        // and the request / job ids.
        let api_logs = log_lines(&api);
        let worker_logs = log_lines(&worker);
        let request_line = api_logs
            .iter()
            .find(|l| l["message"] == "request" && l["request_id"] == format!("req-{CLIENT_TRACE}"))
            .unwrap_or_else(|| panic!("[{name}] no request log line:\n{}", api.stdout_text()));
        assert_eq!(request_line["trace_id"], CLIENT_TRACE);
        assert_eq!(request_line["span_id"], request.id.as_str());
        assert_eq!(request_line["fields"]["status"], 202);
        let job_line = worker_logs
            .iter()
            .find(|l| l["message"] == "job attempt ended" && l["job_id"] == id.as_str())
            .unwrap_or_else(|| panic!("[{name}] no job log line:\n{}", worker.stdout_text()));
        assert_eq!(job_line["trace_id"], CLIENT_TRACE);
        assert_eq!(job_line["span_id"], job.id.as_str());
        assert_eq!(job_line["fields"]["outcome"], "succeeded");
        // Every trace id in a log line belongs to exported spans (the last batch may still be
        // on its way).
        let logged: HashSet<String> = api_logs
            .iter()
            .chain(&worker_logs)
            .filter_map(|l| l["trace_id"].as_str().map(str::to_owned))
            .collect();
        assert!(logged.len() >= 3, "[{name}] {logged:?}");
        let start = Instant::now();
        loop {
            let exported: HashSet<String> =
                receiver.spans().iter().map(|s| s.trace.clone()).collect();
            let missing: Vec<_> = logged.difference(&exported).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "[{name}] log lines with trace ids never exported: {missing:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let everything = [
            api.stdout_text(),
            api.log_text(),
            worker.stdout_text(),
            worker.log_text(),
        ]
        .concat();
        assert!(everything.len() > 1000, "[{name}] the processes logged");
        assert!(
            !everything.contains(marker),
            "[{name}] document text reached a log"
        );
        assert!(
            !everything.contains(password),
            "[{name}] the password reached a log"
        );
    }
}

#[test]
fn sync_extraction_metrics_and_trace() {
    let backend = embedded("obs_metrics");
    let receiver = Receiver::start();
    // Three identical requests must each be extracted: no result cache.
    let mut o = Opts::set(&[
        ("memory_limit_bytes", "8589934592"),
        ("result_cache_bytes", "0"),
    ]);
    o.args.extend(["--workers".to_owned(), "2".to_owned()]);
    o.env = telemetry_env(&receiver);
    let server = Server::serve(&backend, o);
    let http = client();
    let trace = "6bf92f3577b34da6a3ce929d0e0e4738";
    for i in 0..3 {
        let mut req = http
            .post(server.url("/v1/extract?format=text"))
            .header("content-type", "application/pdf")
            .body(marked_doc("metrics"));
        // The traced request last: each bucket keeps its latest exemplar.
        if i == 2 {
            req = req.header("traceparent", traceparent(trace));
        }
        let r = req.send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers().get("x-request-id").is_some(),
            "a request id is returned"
        );
    }
    // A client error: counted by code.
    let r = http
        .post(server.url("/v1/extract"))
        .header("content-type", "application/pdf")
        .body("not a pdf at all")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);

    // The sync path's trace: request → document → open / page → stages, in one process.
    let spans = receiver.wait_trace(trace, |t| {
        t.iter().filter(|s| s.name == "render").count() >= 3
    });
    let request = one(&spans, "POST /v1/extract");
    assert_eq!(request.parent, CLIENT_SPAN);
    assert_eq!(request.attrs["http.response.status_code"], "200");
    let documents = children(&spans, request, "document");
    assert_eq!(documents.len(), 1);
    check_document_subtree(&spans, documents[0], 3, "text");

    // Metrics after exactly this work.
    let text = http
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("ndf_documents_total{outcome=\"ok\"}"), 3.0);
    assert_eq!(value("ndf_pages_total{outcome=\"ok\"}"), 9.0);
    assert_eq!(value("ndf_errors_total{code=\"not_pdf\"}"), 1.0);
    assert_eq!(
        value(
            "ndf_http_requests_total{route=\"/v1/extract\",method=\"POST\",status_class=\"2xx\"}"
        ),
        3.0
    );
    assert_eq!(
        value(
            "ndf_http_requests_total{route=\"/v1/extract\",method=\"POST\",status_class=\"4xx\"}"
        ),
        1.0
    );
    for stage in ["fonts", "interpret", "layout", "render"] {
        assert_eq!(
            value(&format!(
                "ndf_stage_duration_seconds_count{{stage=\"{stage}\"}}"
            )),
            9.0,
            "{stage}"
        );
    }
    assert_eq!(
        value("ndf_stage_duration_seconds_count{stage=\"open\"}"),
        3.0
    );
    assert_eq!(value("ndf_document_peak_rss_bytes_count"), 3.0);
    assert!(value("ndf_document_peak_rss_bytes_sum") > 3.0 * 1_048_576.0);
    assert_eq!(
        value("ndf_workers{state=\"idle\"}") + value("ndf_workers{state=\"busy\"}"),
        2.0
    );
    assert!(value("ndf_workers_resident_memory_bytes") > 1_048_576.0);
    assert_eq!(value("ndf_memory_limit_bytes"), 8_589_934_592.0);
    assert!(value("process_resident_memory_bytes") > 1_048_576.0);
    assert!(value("process_open_fds") > 3.0);
    assert_eq!(value("ndf_build_info{version=\"0.1.0\"}"), 1.0);
    assert_eq!(value("ndf_jobs{state=\"queued\"}"), 0.0);
    // No job or document ids as labels: every label value comes from a closed set.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !l.contains(trace) && l.len() < 200,
            "unbounded label in {l}"
        );
    }
    // OpenMetrics when asked: exemplars carry the trace id of the traced request.
    let om = http
        .get(server.url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .unwrap();
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let om = om.text().unwrap();
    assert!(om.ends_with("# EOF\n"));
    assert!(
        om.lines().any(|l| l
            .starts_with("ndf_http_request_duration_seconds_bucket{route=\"/v1/extract\"")
            && l.contains(&format!("# {{trace_id=\"{trace}\"}}"))),
        "exemplar with the request's trace id:\n{om}"
    );

    // promtool's linter is clean on the live scrape.
    if let Some(promtool) = tool("promtool") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Every metric the dashboard and the alerting rules use is exported.
    let families: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let used = metrics_used_by_dashboards();
    assert!(used.len() > 15, "{used:?}");
    for m in &used {
        assert!(
            families.contains(m.as_str()),
            "the dashboard queries {m}, which /metrics does not export"
        );
    }
}

/// Metric names in the Grafana dashboards' queries, suffixes of histograms stripped
/// (recording rules, which contain ':', are not metrics of the service).
fn metrics_used_by_dashboards() -> HashSet<String> {
    let dir = repo_root().join("deploy/grafana");
    let mut out = HashSet::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/grafana") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let dashboard: Value = serde_json::from_slice(&read_repo_file(&path)).unwrap();
        let mut exprs = Vec::new();
        collect_exprs(&dashboard, &mut exprs);
        assert!(!exprs.is_empty(), "{} has queries", path.display());
        for e in exprs {
            for name in metric_names(&e) {
                out.insert(name);
            }
        }
    }
    out
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "expr"
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_owned());
                } else {
                    collect_exprs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// `ndf_*` and `process_*` identifiers of a PromQL expression (not part of a `a:b:c` name).
fn metric_names(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
        if is_ident(bytes[i]) && (i == 0 || !is_ident(bytes[i - 1])) {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            if (word.starts_with("ndf_") || word.starts_with("process_")) && !word.contains(':') {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .unwrap_or(word);
                out.push(base.to_owned());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Percent-encoding of a query-string value.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A free loopback port. Another process may take it before the caller binds it: callers
/// retry with a new one (`prometheus_pages_when_the_instance_dies`).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get_json(http: &reqwest::blocking::Client, url: &str) -> Value {
    http.get(url).send().unwrap().json().unwrap()
}

#[test]
fn prometheus_pages_when_the_instance_dies() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let backend = embedded("obs_prometheus");
    let mut server = Server::serve(&backend, Opts::set(&[("workers", "1")]));
    let target = server.base.trim_start_matches("http://").to_owned();
    let dir = support::scratch("obs_prometheus_tsdb");
    let rules = repo_root().join("deploy/prometheus/rules");
    let config = format!(
        "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\n  external_labels:\n    cluster: test\n\
         rule_files:\n  - {}/*.yml\n\
         scrape_configs:\n  - job_name: ndf\n    scrape_interval: 2s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n",
        rules.display()
    );
    let config_path = support::write(&dir, "prometheus.yml", config.as_bytes());
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // The port comes from `free_port`, so another process may take it first: then Prometheus
    // exits at once, and it is started again on another port (at most 5 times).
    let mut started = None;
    for _ in 0..5 {
        let port = free_port();
        let mut guard = KillOnDrop(
            Command::new(&prometheus)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus"),
        );
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        let until = Instant::now() + Duration::from_secs(60);
        let up = loop {
            if guard.0.try_wait().ok().flatten().is_some() {
                break false;
            }
            if client().get(&ready).send().is_ok_and(|r| r.status() == 200) {
                break true;
            }
            assert!(Instant::now() < until, "prometheus not ready in 60 s");
            std::thread::sleep(Duration::from_millis(100));
        };
        if up {
            started = Some((guard, port));
            break;
        }
    }
    let (_guard, port) = started.expect("prometheus did not start on any of 5 ports");
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let http = client();

    // Scraped and healthy, with every rule loaded and evaluating without error.
    let start = Instant::now();
    loop {
        if let Ok(r) = http
            .get(format!(
                "{api}/query?query={}",
                percent_encode("up{job=\"ndf\"}")
            ))
            .send()
            && let Ok(v) = r.json::<Value>()
            && v["data"]["result"][0]["value"][1] == "1"
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "prometheus never scraped ndf"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Some traffic so the SLI series exist.
    for _ in 0..3 {
        let r = http
            .post(server.url("/v1/extract"))
            .header("content-type", "application/pdf")
            .body(marked_doc("prom"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Every rule evaluated at least once (health leaves "unknown"), polled rather than assumed
    // after a fixed sleep, and none failed.
    let start = Instant::now();
    let rules = loop {
        let rules = get_json(&http, &format!("{api}/rules"));
        let evaluated = rules["data"]["groups"].as_array().is_some_and(|groups| {
            groups.iter().all(|g| {
                g["rules"]
                    .as_array()
                    .is_some_and(|r| r.iter().all(|r| r["health"] != "unknown"))
            })
        });
        if evaluated {
            break rules;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "rules not evaluated in 60 s: {rules}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let groups = rules["data"]["groups"].as_array().expect("rule groups");
    let mut names = Vec::new();
    for g in groups {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(r["health"], "ok", "rule failed to evaluate: {r}");
            names.push(r["name"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(names.iter().any(|n| n == "NdfInstanceDown"), "{names:?}");
    // Every dashboard query is valid PromQL to a real Prometheus.
    let dashboard: Value = serde_json::from_slice(&read_repo_file(
        &repo_root().join("deploy/grafana/ndf-service.json"),
    ))
    .unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    for e in &exprs {
        // Grafana's built-in variables, as Grafana would substitute them.
        let q = e
            .replace("$__rate_interval", "1m")
            .replace("$__range", "1h");
        let r = http
            .get(format!("{api}/query?query={}", percent_encode(&q)))
            .send()
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "dashboard query rejected: {e}\n{}",
            r.text().unwrap_or_default()
        );
    }

    // The outage: the process is gone.
    server.kill();
    let stopped = Instant::now();
    loop {
        let alerts = get_json(&http, &format!("{api}/alerts"));
        let firing = alerts["data"]["alerts"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["labels"]["alertname"] == "NdfInstanceDown" && x["state"] == "firing")
        });
        if firing {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(60),
            "NdfInstanceDown not firing 60 s after the service stopped: {alerts}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "NdfInstanceDown fired {:.1} s after the service stopped",
        stopped.elapsed().as_secs_f64()
    );
}

/// The DOM of a page after its scripts ran a while, as headless chromium sees it.
fn chromium_dom(chromium: &Path, url: &str) -> String {
    let profile = support::scratch("obs_chromium_profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=7000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text of the element with `id` in serialized HTML.
fn element_text(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in\n{dom}"));
    let rest = &dom[at..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap() + open;
    rest[open..close].trim().to_owned()
}

#[test]
fn status_page_renders_in_headless_chromium() {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let backend = embedded("obs_status");
    // Four identical documents, each counted as extracted: no result cache.
    let server = Server::serve(
        &backend,
        Opts::set(&[("workers", "2"), ("result_cache_bytes", "0")]),
    );
    let http = client();
    for _ in 0..4 {
        let r = http
            .post(server.url("/v1/extract?format=markdown"))
            .header("content-type", "application/pdf")
            .body(marked_doc("status"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // A document that cannot be opened is a failed document (422, not an availability error).
    let r = http
        .post(server.url("/v1/extract"))
        .header("content-type", "application/pdf")
        .body("%PDF-1.7\nnothing that parses\n%%EOF\n")
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);

    let page = http.get(server.url("/status")).send().unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().unwrap();
    for external in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(external),
            "the page loads nothing external ({external})"
        );
    }

    let dom = chromium_dom(&chromium, &server.url("/status"));
    // The script ran (rendered at least twice: the embedded figures, then a poll).
    let rendered: u32 = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the page's script did not run:\n{dom}"));
    assert!(rendered >= 2, "{rendered}");
    assert_eq!(element_text(&dom, "documents-ok"), "4", "{dom}");
    assert_eq!(
        element_text(&dom, "documents-failed"),
        "1",
        "the broken document"
    );
    assert_eq!(element_text(&dom, "documents-partial"), "0");
    assert_eq!(element_text(&dom, "error-rate"), "0.00%");
    assert_eq!(element_text(&dom, "queued"), "0");
    assert_eq!(element_text(&dom, "workers"), "2");
    let p99: f64 = element_text(&dom, "p99").parse().expect("a P99 in ms");
    assert!(p99 > 0.0 && p99 < 30_000.0, "{p99}");
    let per_doc: f64 = element_text(&dom, "doc-rss-p99")
        .parse()
        .expect("memory per document");
    assert!(per_doc > 1.0 && per_doc < 1024.0, "{per_doc} MiB");
    let throughput: f64 = element_text(&dom, "documents-per-minute").parse().unwrap();
    assert!(throughput > 0.0, "{throughput}");
    assert_eq!(element_text(&dom, "version"), env!("CARGO_PKG_VERSION"));
}

#[test]
fn admin_listener_is_off_by_default_and_profiles_when_on() {
    let backend = embedded("obs_admin");
    let plain = Server::serve(&backend, Opts::set(&[("workers", "1")]));
    let http = client();
    assert_eq!(
        http.get(plain.url("/healthz")).send().unwrap().status(),
        200
    );
    assert!(
        !plain.log_text().contains("admin listening"),
        "off by default"
    );
    // Profiling is not reachable on the public listener.
    assert_eq!(
        http.get(plain.url("/debug/pprof/profile?seconds=1"))
            .send()
            .unwrap()
            .status(),
        404
    );
    drop(plain);

    let backend = embedded("obs_admin_on");
    let server = Server::serve(
        &backend,
        Opts::set(&[("workers", "1"), ("admin_listen", "127.0.0.1:0")]),
    );
    let heap = get_json(&http, &server.admin_url("/debug/heap"));
    assert_eq!(heap["counting_allocator"], true, "{heap}");
    assert!(heap["allocator"]["current_bytes"].as_u64().unwrap() > 0);
    assert!(heap["process"]["vm_rss_bytes"].as_u64().unwrap() > 1_048_576);
    let metrics = http
        .get(server.admin_url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("ndf_build_info{version="), "{metrics}");
    let profile = http
        .get(server.admin_url("/debug/pprof/profile?seconds=1"))
        .send()
        .unwrap();
    assert_eq!(profile.status(), 200);
    let bytes = profile.bytes().unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip-compressed pprof");
    let svg = http
        .get(server.admin_url("/debug/pprof/flamegraph?seconds=1"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    let bad = http
        .get(server.admin_url("/debug/pprof/profile?seconds=0"))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
}
