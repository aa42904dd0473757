//! The API listener under hostile clients, the data directory's permissions, failures of
//! background tasks and configuration mistakes, over real sockets against real `ndf serve` /
//! `ndf worker` processes on both backends:
//!
//! - `slow_headers_are_cut_and_healthz_answers_throughout`: 50 clients sending one header byte
//!   per 200 ms are disconnected after `http_header_read_timeout_ms` while `/healthz` answers.
//! - `connection_cap_refuses_beyond_it_and_frees_after_the_header_timeout`: with
//!   `max_connections = 20`, connections beyond it are closed at once (counted), an open
//!   keep-alive connection keeps answering, and new connections answer again once the header
//!   clock closed the silent ones.
//! - `descriptor_limit_is_raised_and_caps_connections`: the soft `RLIMIT_NOFILE` is raised to
//!   the hard limit at start (and logged); with both at 512, 600 silent connections do not take
//!   `/healthz` down for good.
//! - `admin_listener_has_the_same_clocks_and_its_own_small_cap`: the admin listener cuts silent
//!   connections with the same header clock and refuses connections beyond 64.
//! - `slow_body_is_cut_with_408`: a body trickling in is answered 408 `request_timeout`.
//! - `http2_limits_are_advertised_and_enforced`: the SETTINGS frame carries
//!   `http2_max_concurrent_streams` and `http2_max_header_list_bytes`; larger headers get 431.
//! - `client_that_stops_reading_is_disconnected`: pipelined requests whose answers are never
//!   read: the connection is closed once its writes were blocked for `http_idle_timeout_ms`.
//! - `idle_keep_alive_is_bounded_by_its_own_clock`: an idle keep-alive connection outlives the
//!   header timeout and is closed after `http_idle_timeout_ms`.
//! - `refused_tls_handshakes_are_logged_and_counted`: plain HTTP and TLS 1.1 on the TLS port.
//! - `data_directory_is_private`: after a job, nothing under the data directory is open to
//!   group or others, an existing open directory included.
//! - `panicked_background_task_stops_the_replica`: `ndf serve` whose job consumers panic and
//!   `ndf worker` whose sweeper panics log the panic and exit non-zero.
//! - `failed_otlp_exporter_is_reported_truthfully`.
//! - `misspelt_configuration_is_an_error`: `--set`, `NDF_*` and file keys.
#![allow(clippy::print_stderr, clippy::disallowed_methods)] // reads small files it wrote

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Backend, Opts, Server, backends, client, embedded, tool, wait_job};

/// `host:port` of a server's API listener.
fn addr(base: &str) -> String {
    base.trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned()
}

/// A GET over an open HTTP/1.1 connection (kept alive): (status, body).
fn get_on(stream: &mut TcpStream, path: &str) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    read_response(stream).expect("a response on the kept-alive connection")
}

/// One HTTP/1.1 response with a Content-Length body: (status, body); `None` when the
/// connection closed first.
fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        assert!(head.len() < 64 << 10, "response head too long");
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).ok()?;
    Some((status, format!("{head}{}", String::from_utf8_lossy(&body))))
}

/// The value of one series in a Prometheus text scrape (`name{labels}` exactly), or 0.
fn metric(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// The JSON log lines a server printed so far.
fn log_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// How a slow client's connection ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The server closed it after this many trickled bytes.
    ClosedAfter(usize),
    /// The server answered.
    Answered(String),
    /// It was still open after every byte was sent.
    StillOpen,
}

/// Send `prefix`, then `trickle` one byte every 200 ms, watching for the server closing the
/// connection (or answering) in between.
fn trickle(addr: &str, prefix: &[u8], trickle: usize) -> Ended {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return Ended::ClosedAfter(0);
    };
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    if s.write_all(prefix).is_err() {
        return Ended::ClosedAfter(0);
    }
    let mut buf = [0u8; 4096];
    for sent in 0..trickle {
        match s.read(&mut buf) {
            Ok(0) => return Ended::ClosedAfter(sent),
            Ok(n) => return Ended::Answered(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Ended::ClosedAfter(sent),
        }
        if s.write_all(b"a").is_err() {
            return Ended::ClosedAfter(sent);
        }
    }
    Ended::StillOpen
}

/// Whether the server closes `stream` within 60 s without sending anything (end of stream
/// or a reset; not a read timeout).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut b = [0u8; 16];
    match stream.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Poll a new-connection `/healthz` until it answers 200 (up to `within`).
fn healthz_recovers(url: &str, within: Duration) -> bool {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < within {
        if http
            .get(url)
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

#[test]
fn slow_headers_are_cut_and_healthz_answers_throughout() {
    for backend in backends("transport_slowloris") {
        let server = Server::serve(
            &backend,
            Opts::set(&[("workers", "1"), ("http_header_read_timeout_ms", "1000")]),
        );
        let target = addr(&server.base);
        // 100 trickled bytes take 20 s; the header clock gives 1 s.
        let clients: Vec<_> = (0..50)
            .map(|_| {
                let target = target.clone();
                std::thread::spawn(move || {
                    trickle(
                        &target,
                        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                        100,
                    )
                })
            })
            .collect();
        let http = client();
        for _ in 0..15 {
            let r = http.get(server.url("/healthz")).send().expect("healthz");
            assert_eq!(
                r.status(),
                200,
                "{}: /healthz during the attack",
                backend.name()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        for c in clients {
            let ended = c.join().unwrap();
            assert!(
                matches!(ended, Ended::ClosedAfter(n) if n < 100),
                "{}: a slow-header client must be disconnected before its header is complete: {ended:?}",
                backend.name()
            );
        }
        let scrape = http
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            metric(&scrape, "ndf_http_timeouts_total{phase=\"header\"}") >= 50.0,
            "{}: {scrape}",
            backend.name()
        );
    }
}

#[test]
fn connection_cap_refuses_beyond_it_and_frees_after_the_header_timeout() {
    for backend in backends("transport_cap") {
        let server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("max_connections", "20"),
                // Long enough that the silent connections outlive the checks below even on a
                // loaded machine.
                ("http_header_read_timeout_ms", "20000"),
            ]),
        );
        let target = addr(&server.base);
        let mut kept = TcpStream::connect(&target).unwrap();
        assert_eq!(get_on(&mut kept, "/healthz").0, 200);
        // 30 silent connections: 19 fit beside `kept`, 11 are refused.
        let silent: Vec<TcpStream> = (0..30)
            .map(|_| TcpStream::connect(&target).unwrap())
            .collect();
        let start = Instant::now();
        let scrape = loop {
            let (_, scrape) = get_on(&mut kept, "/metrics");
            if metric(&scrape, "ndf_http_connections_refused_total") >= 11.0 {
                break scrape;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{}: connections beyond the cap were not refused:\n{scrape}",
                backend.name()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            metric(&scrape, "ndf_http_connections_refused_total"),
            11.0,
            "{}",
            backend.name()
        );
        assert_eq!(
            metric(&scrape, "ndf_http_connections"),
            20.0,
            "{}",
            backend.name()
        );
        // A new connection is closed at once while the cap is full ...
        assert!(
            client().get(server.url("/healthz")).send().is_err(),
            "{}: a connection beyond the cap must be refused",
            backend.name()
        );
        // ... an open one keeps working ...
        assert_eq!(get_on(&mut kept, "/healthz").0, 200, "{}", backend.name());
        // ... and the silent ones are closed by the header clock, which frees the cap.
        assert!(
            healthz_recovers(&server.url("/healthz"), Duration::from_secs(120)),
            "{}: /healthz did not answer again after the header timeout; log:\n{}",
            backend.name(),
            server.log_text()
        );
        for mut s in silent {
            assert!(
                closed_by_server(&mut s),
                "{}: a silent connection must be closed",
                backend.name()
            );
        }
    }
}

#[test]
fn admin_listener_has_the_same_clocks_and_its_own_small_cap() {
    for backend in backends("transport_admin") {
        let server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("admin_listen", "127.0.0.1:0"),
                ("http_header_read_timeout_ms", "20000"),
            ]),
        );
        let admin = addr(&server.admin_url(""));
        let mut kept = TcpStream::connect(&admin).unwrap();
        assert_eq!(get_on(&mut kept, "/healthz").0, 200, "{}", backend.name());
        // 70 silent connections: 63 fit beside `kept` under the admin cap of 64, 7 are
        // refused at once (closed without an answer).
        let mut silent: Vec<TcpStream> = (0..70)
            .map(|_| TcpStream::connect(&admin).unwrap())
            .collect();
        let start = Instant::now();
        loop {
            let (_, scrape) = get_on(&mut kept, "/metrics");
            if metric(&scrape, "ndf_http_connections_refused_total") >= 7.0 {
                assert_eq!(
                    metric(&scrape, "ndf_http_connections_refused_total"),
                    7.0,
                    "{}: {scrape}",
                    backend.name()
                );
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{}: connections beyond the admin listener's cap were not refused:\n{scrape}",
                backend.name()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The API listener is not affected by the admin listener's cap.
        assert_eq!(
            client()
                .get(server.url("/healthz"))
                .send()
                .unwrap()
                .status(),
            200,
            "{}",
            backend.name()
        );
        // The header clock closes every silent connection, those under the cap included.
        for s in &mut silent {
            assert!(
                closed_by_server(s),
                "{}: a silent admin connection must be closed",
                backend.name()
            );
        }
        assert!(
            healthz_recovers(&server.admin_url("/healthz"), Duration::from_secs(60)),
            "{}: the admin listener did not answer again; log:\n{}",
            backend.name(),
            server.log_text()
        );
    }
}

/// `ndf serve` started under `ulimit -Sn soft; ulimit -Hn hard`.
struct Limited {
    child: Child,
    base: String,
    out: Arc<Mutex<String>>,
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_with_nofile(backend: &Backend, soft: u64, hard: u64, sets: &[(&str, &str)]) -> Limited {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_ndf"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(backend.args());
    for (k, v) in sets {
        cmd.args(["--set", &format!("{k}={v}")]);
    }
    cmd.envs(backend.env())
        .env("NDF_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ndf under ulimit");
    let out = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut o = sink.lock().unwrap();
            if o.len() < (8 << 20) {
                o.push_str(&line);
                o.push('\n');
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("ndf: listening on ") {
                let _ = tx.send(Ok(a.trim().to_owned()));
            }
            log.push_str(&line);
            log.push('\n');
        }
        let _ = tx.send(Err(log));
    });
    let base = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(base)) => base,
        other => panic!("ndf serve under ulimit did not start: {other:?}"),
    };
    Limited { child, base, out }
}

/// (soft, hard) open-file limits of a process.
fn nofile(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (v[0], v[1])
}

#[test]
fn descriptor_limit_is_raised_and_caps_connections() {
    let (_, own_hard) = nofile(std::process::id());
    assert!(
        own_hard >= 4096,
        "the test needs a hard descriptor limit of at least 4096, not {own_hard}"
    );
    for backend in backends("transport_nofile") {
        // A soft limit below the hard one is raised at start, and the log says so.
        let server = serve_with_nofile(&backend, 512, 4096, &[("workers", "1")]);
        assert_eq!(
            nofile(server.child.id()),
            (4096, 4096),
            "{}",
            backend.name()
        );
        let out = server.out.lock().unwrap().clone();
        assert!(
            log_lines(&out).iter().any(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("raised the open-descriptor limit"))
                    && l["fields"]["from"] == 512
                    && l["fields"]["to"] == 4096
            }),
            "{}: no log line about the raised limit:\n{out}",
            backend.name()
        );
        drop(server);

        // Soft = hard = 512: the cap (three quarters of it) keeps descriptors for the rest,
        // and the header clock frees the cap again.
        let server = serve_with_nofile(
            &backend,
            512,
            512,
            &[("workers", "1"), ("http_header_read_timeout_ms", "3000")],
        );
        let target = addr(&server.base);
        let mut kept = TcpStream::connect(&target).unwrap();
        assert_eq!(get_on(&mut kept, "/healthz").0, 200);
        let silent: Vec<TcpStream> = (0..600)
            .filter_map(|_| TcpStream::connect(&target).ok())
            .collect();
        assert_eq!(silent.len(), 600, "the test could not open 600 connections");
        assert_eq!(get_on(&mut kept, "/healthz").0, 200, "{}", backend.name());
        let (_, scrape) = get_on(&mut kept, "/metrics");
        assert!(
            metric(&scrape, "ndf_http_connections") <= 384.0,
            "{}: {scrape}",
            backend.name()
        );
        assert!(
            healthz_recovers(&format!("{}/healthz", server.base), Duration::from_secs(60)),
            "{}: /healthz never answered a new connection again:\n{}",
            backend.name(),
            server.out.lock().unwrap()
        );
        drop(silent);
    }
}

#[test]
fn slow_body_is_cut_with_408() {
    for backend in backends("transport_body") {
        let server = Server::serve(
            &backend,
            Opts::set(&[("workers", "1"), ("http_body_read_timeout_ms", "1000")]),
        );
        // 100 body bytes trickled over 20 s, of the 1000 announced; the body clock gives 1 s.
        let ended = trickle(
            &addr(&server.base),
            b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/pdf\r\nContent-Length: 1000\r\n\r\n%PDF-1.4\n",
            100,
        );
        let Ended::Answered(answer) = ended else {
            panic!(
                "{}: a slow body must be answered 408: {ended:?}; log:\n{}",
                backend.name(),
                server.log_text()
            );
        };
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{}: {answer}",
            backend.name()
        );
        assert!(
            answer.contains("application/problem+json")
                && answer.contains("\"code\":\"request_timeout\""),
            "{}: {answer}",
            backend.name()
        );
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        let scrape = client()
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(
            metric(&scrape, "ndf_http_timeouts_total{phase=\"body\"}"),
            1.0,
            "{}",
            backend.name()
        );
    }
}

#[test]
fn idle_keep_alive_is_bounded_by_its_own_clock() {
    for backend in backends("transport_idle") {
        let server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("http_header_read_timeout_ms", "1000"),
                ("http_idle_timeout_ms", "15000"),
            ]),
        );
        let mut kept = TcpStream::connect(addr(&server.base)).unwrap();
        assert_eq!(get_on(&mut kept, "/healthz").0, 200);
        // Idle for three times the header timeout: still open (idle is not slow headers).
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(get_on(&mut kept, "/healthz").0, 200, "{}", backend.name());
        // Then the idle clock closes it.
        assert!(
            closed_by_server(&mut kept),
            "{}: the idle connection must be closed",
            backend.name()
        );
        let scrape = client()
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            metric(&scrape, "ndf_http_timeouts_total{phase=\"idle\"}") >= 1.0,
            "{scrape}"
        );
    }
}

#[test]
fn client_that_stops_reading_is_disconnected() {
    for backend in backends("transport_write") {
        let server = Server::serve(
            &backend,
            Opts::set(&[("workers", "1"), ("http_idle_timeout_ms", "1000")]),
        );
        // 400 pipelined requests for the 60 KB OpenAPI document (24 MB of answers, more than
        // loopback's socket buffers hold), none of which is read.
        let mut s = TcpStream::connect(addr(&server.base)).unwrap();
        let requests = "GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(400);
        s.write_all(requests.as_bytes()).unwrap();
        let http = client();
        let start = Instant::now();
        loop {
            let scrape = http
                .get(server.url("/metrics"))
                .send()
                .unwrap()
                .text()
                .unwrap();
            if metric(&scrape, "ndf_http_timeouts_total{phase=\"write\"}") >= 1.0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{}: a connection whose client does not read was not closed:\n{scrape}",
                backend.name()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // What was buffered can still be read, then the connection ends: not all 400 answers.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut answers = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let mut tail = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tail.extend_from_slice(&buf[..n]);
                    answers += tail.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
                    let keep = tail.len().saturating_sub(11);
                    tail.drain(..keep);
                }
            }
        }
        assert!(answers < 400, "{}: {answers} answers", backend.name());
    }
}

/// The SETTINGS a server sends first on an HTTP/2 connection (prior knowledge): (id, value).
fn h2_server_settings(target: &str) -> Vec<(u16, u32)> {
    let mut s = TcpStream::connect(target).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The client preface and an empty SETTINGS frame.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[3], 4, "the server's first frame is SETTINGS");
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    payload
        .chunks_exact(6)
        .map(|e| {
            (
                u16::from_be_bytes([e[0], e[1]]),
                u32::from_be_bytes([e[2], e[3], e[4], e[5]]),
            )
        })
        .collect()
}

#[test]
fn http2_limits_are_advertised_and_enforced() {
    let Some(curl) = tool("curl") else {
        return;
    };
    for backend in backends("transport_h2") {
        let server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("http2_max_concurrent_streams", "7"),
                ("http2_max_header_list_bytes", "4096"),
            ]),
        );
        let settings = h2_server_settings(&addr(&server.base));
        // SETTINGS_MAX_CONCURRENT_STREAMS (3) and SETTINGS_MAX_HEADER_LIST_SIZE (6).
        assert!(
            settings.contains(&(3, 7)),
            "{}: {settings:?}",
            backend.name()
        );
        assert!(
            settings.contains(&(6, 4096)),
            "{}: {settings:?}",
            backend.name()
        );
        let h2 = |extra: &[&str]| {
            let out = Command::new(&curl)
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_version} %{http_code}",
                ])
                .arg("--http2-prior-knowledge")
                .args(extra)
                .arg(server.url("/healthz"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(h2(&[]), "2 200", "{}", backend.name());
        let big = format!("X-Big: {}", "a".repeat(6000));
        assert_eq!(h2(&["-H", &big]), "2 431", "{}", backend.name());
    }
}

#[test]
fn refused_tls_handshakes_are_logged_and_counted() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = support::scratch("transport_tls_certs");
    support::make_certs(&openssl, &dir, "127.0.0.1");
    let cert = dir.join("server.pem").display().to_string();
    let key = dir.join("server.key").display().to_string();
    let ca_pem = std::fs::read(dir.join("ca.pem")).unwrap();
    let https = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for backend in backends("transport_tls") {
        let server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("tls_cert_file", &cert),
                ("tls_key_file", &key),
            ]),
        );
        let target = addr(&server.base);
        // Plain HTTP on the TLS port, 30 times: every one counted, at most LOG_BURST logged.
        for _ in 0..30 {
            let mut s = TcpStream::connect(&target).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            assert!(
                !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
                "plain HTTP must not be served on the TLS port"
            );
        }
        // TLS 1.1 (security level 0, so the refusal is the server's).
        let out = Command::new(&openssl)
            .args(["s_client", "-connect", &target, "-tls1_1", "-cipher"])
            .args(["DEFAULT@SECLEVEL=0", "-brief"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("CONNECTION ESTABLISHED"), "{text}");
        let scrape = https
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(
            metric(
                &scrape,
                "ndf_tls_handshake_failures_total{reason=\"not_tls\"}"
            ),
            30.0,
            "{}: {scrape}",
            backend.name()
        );
        assert_eq!(
            metric(
                &scrape,
                "ndf_tls_handshake_failures_total{reason=\"incompatible\"}"
            ),
            1.0,
            "{}: {scrape}",
            backend.name()
        );
        // The log: peer address and reason, rate-limited (the TLS 1.1 refusal came after
        // the burst was used up, so it is reported as suppressed, not lost).
        let start = Instant::now();
        let refused = loop {
            let lines: Vec<Value> = log_lines(&server.stdout_text())
                .into_iter()
                .filter(|l| l["message"] == "TLS handshake refused")
                .collect();
            if lines.len() >= 10 || start.elapsed() > Duration::from_secs(10) {
                break lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(
            refused.len(),
            10,
            "{}: LOG_BURST lines per minute: {refused:?}",
            backend.name()
        );
        for l in &refused {
            assert_eq!(l["level"], "WARN", "{l}");
            assert_eq!(l["fields"]["reason"], "not_tls", "{l}");
            assert!(
                l["fields"]["peer"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("127.0.0.1:")),
                "{l}"
            );
            assert!(
                l["fields"]["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{l}"
            );
        }
    }
}

/// Walk `root` without following links: (entries seen, entries open to group or others).
fn open_entries(root: &Path) -> (usize, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = pending.pop() {
        let meta = std::fs::symlink_metadata(&d).unwrap();
        seen += 1;
        if meta.permissions().mode() & 0o077 != 0 {
            open.push(format!("{} {:o}", d.display(), meta.permissions().mode()));
        }
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()));
        }
    }
    (seen, open)
}

#[test]
fn data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let backend = embedded("transport_modes");
    let Backend::Embedded { dir } = &backend else {
        unreachable!()
    };
    // A data directory from before: open to everyone, with an old blob in it.
    std::fs::create_dir_all(dir.join("blobs/legacy")).unwrap();
    std::fs::write(dir.join("blobs/legacy/old.bin"), b"old").unwrap();
    for (p, mode) in [
        (dir.clone(), 0o755),
        (dir.join("blobs"), 0o755),
        (dir.join("blobs/legacy"), 0o755),
        (dir.join("blobs/legacy/old.bin"), 0o644),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let server = Server::serve(&backend, Opts::set(&[("workers", "1")]));
    let http = client();
    let r = http
        .post(server.url("/v1/jobs"))
        .header("content-type", "application/pdf")
        .header("idempotency-key", "transport-modes-1")
        .body(ndf_testkit::text_doc(&["private data directory"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = wait_job(&http, &server, &id, Duration::from_secs(60));
    assert_eq!(job["state"], "succeeded", "{job}");
    let r = http
        .post(server.url("/v1/extract?format=text"))
        .header("content-type", "application/pdf")
        .body(ndf_testkit::text_doc(&["sync"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // A store command of the CLI beside the server.
    let out = Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args(["keys", "list"])
        .args(backend.args())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (seen, open) = open_entries(dir);
    assert!(seen > 6, "the walk saw the store's files");
    assert!(
        open.is_empty(),
        "open to group or others:\n{}",
        open.join("\n")
    );
    // A data directory created by a store command of the CLI (before any server ran).
    let fresh = support::scratch("transport_modes_cli").join("fresh");
    let out = Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args(["keys", "create", "--tenant", "t1", "--name", "modes"])
        .args(["--scope", "extract", "--data-dir"])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (seen, open) = open_entries(&fresh);
    assert!(seen > 2, "the walk saw the store's files");
    assert!(
        open.is_empty(),
        "open to group or others after `ndf keys create`:\n{}",
        open.join("\n")
    );
    assert!(
        log_lines(&server.stdout_text()).iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("readable by other users"))),
        "the start-up did not log the change:\n{}",
        server.stdout_text()
    );
}

#[test]
fn panicked_background_task_stops_the_replica() {
    for backend in backends("transport_panic") {
        let check = |server: &mut Server, task: &str| {
            let status = server.wait_exit(Duration::from_secs(90));
            let out = server.stdout_text();
            let status = status.unwrap_or_else(|| {
                panic!(
                    "{}: the replica kept running without its {task}:\n{out}",
                    backend.name()
                )
            });
            assert!(
                !status.success(),
                "{}: exit status {status:?}",
                backend.name()
            );
            assert!(
                log_lines(&out).iter().any(|l| l["level"] == "ERROR"
                    && l["fields"]["task"] == task
                    && l["fields"]["reason"].as_str().is_some_and(
                        |r| r.contains(&format!("test hook: {task} panics on purpose"))
                    )),
                "{}: no error line naming the {task} and its panic:\n{out}",
                backend.name()
            );
            assert!(
                server
                    .log_text()
                    .contains(&format!("background task {task} panicked")),
                "{}: {}",
                backend.name(),
                server.log_text()
            );
        };
        let mut serve = Server::serve(
            &backend,
            Opts {
                args: vec!["--set".into(), "workers=1".into()],
                env: vec![("NDF_TEST_PANIC_TASK".into(), "job consumer".into())],
                ..Opts::default()
            },
        );
        check(&mut serve, "job consumer");
        let mut worker = Server::worker(
            &backend,
            Opts {
                args: vec!["--set".into(), "workers=1".into()],
                env: vec![("NDF_TEST_PANIC_TASK".into(), "retention sweeper".into())],
                ..Opts::default()
            },
        );
        check(&mut worker, "retention sweeper");
    }
}

#[test]
fn failed_otlp_exporter_is_reported_truthfully() {
    for backend in backends("transport_otlp") {
        let server = Server::serve(
            &backend,
            Opts {
                args: vec!["--set".into(), "workers=1".into()],
                env: vec![
                    ("NDF_LOG".into(), "info".into()),
                    // Not a URI: the exporter cannot be built.
                    (
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(),
                        "http://bad host:4318/v1/traces".into(),
                    ),
                ],
                ..Opts::default()
            },
        );
        assert_eq!(
            client()
                .get(server.url("/healthz"))
                .send()
                .unwrap()
                .status(),
            200
        );
        let out = server.stdout_text();
        let lines = log_lines(&out);
        assert!(
            !lines
                .iter()
                .any(|l| l["message"] == "exporting traces over OTLP/HTTP"),
            "{}: claims export:\n{out}",
            backend.name()
        );
        assert!(
            lines.iter().any(|l| l["level"] == "ERROR"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("traces are NOT exported"))
                && l["fields"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("bad host"))),
            "{}: no line saying traces are not exported, with the cause:\n{out}",
            backend.name()
        );
    }
}

/// `ndf config print` with these arguments and only these `NDF_*` variables:
/// (exit code, stdout, stderr).
fn config_print(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(["config", "print"]).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("NDF_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn misspelt_configuration_is_an_error() {
    let (code, _, err) = config_print(&["--set", "max_atempts=5"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("max_atempts") && err.contains("did you mean \"max_attempts\""),
        "{err}"
    );
    let (code, _, err) = config_print(&[], &[("NDF_MAX_ATEMPTS", "5")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("NDF_MAX_ATEMPTS") && err.contains("NDF_MAX_ATTEMPTS"),
        "{err}"
    );
    // The cause of a bad value is kept.
    let (code, _, err) = config_print(&["--set", "workers=many"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid digit"), "{err}");
    // The file: unknown keys at the top and in [limits].
    let dir = support::scratch("transport_config");
    for (text, needle) in [
        ("max_atempts = 5\n", "max_atempts"),
        ("[limits]\ndedline_ms = 5\n", "limits.dedline_ms"),
    ] {
        let file = support::write(&dir, "ndf.toml", text.as_bytes());
        let (code, _, err) = config_print(&["--config", &file.display().to_string()], &[]);
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
    }
    // Variables of ndf's tools and tests are not configuration.
    let (code, out, err) = config_print(
        &["--set", "max_attempts=5"],
        &[
            ("NDF_PASSWORD", "x"),
            ("NDF_LOG", "warn"),
            ("NDF_TEST_ANYTHING", "x"),
            ("NDF_REQUIRE_SERVICES", "1"),
            ("NDF_POOL_TEST_HOOKS", "1"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.trim() == "max_attempts = 5"), "{out}");
    // `ndf serve` refuses a misspelt key before starting.
    let out = Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args(["serve", "--listen", "127.0.0.1:0", "--set", "max_atempts=5"])
        .args(["--data-dir", &dir.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_attempts"));
}
