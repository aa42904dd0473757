//! Harness of the service tests: real `ndf serve` / `ndf worker` processes on loopback over
//! either backend, an HTTP client, and helpers to wait for jobs.
//!
//! Backends: the embedded default (SQLite + a directory, always) and the scale-out one
//! (PostgreSQL + S3) when `scripts/services.sh start` exported `NDF_TEST_POSTGRES_URL` and
//! `NDF_TEST_S3_*`. Each scale-out server group gets its own database and S3 prefix, so tests
//! running in parallel never see each other's jobs. Without those variables the scale-out cases
//! are skipped with a message, or fail when `NDF_REQUIRE_SERVICES=1` (the test command sets it).
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a server group keeps its jobs and blobs.
#[derive(Debug, Clone)]
pub enum Backend {
    /// SQLite + directory under `dir`.
    Embedded { dir: PathBuf },
    /// PostgreSQL database + S3 prefix (one set per group).
    Scaled {
        store: String,
        blobs: String,
        s3_env: Vec<(String, String)>,
    },
}

impl Backend {
    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded { .. } => "embedded",
            Backend::Scaled { .. } => "postgres+s3",
        }
    }

    /// The store flags of this backend (for `ndf` subcommands run beside a server).
    pub fn args(&self) -> Vec<String> {
        match self {
            Backend::Embedded { dir } => vec!["--data-dir".into(), dir.display().to_string()],
            Backend::Scaled { store, blobs, .. } => vec![
                "--store".into(),
                store.clone(),
                "--blobs".into(),
                blobs.clone(),
            ],
        }
    }

    /// The environment of this backend (S3 settings, keys).
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Backend::Embedded { .. } => Vec::new(),
            Backend::Scaled { s3_env, .. } => s3_env.clone(),
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for this process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("ndf-svc-{name}")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A fresh embedded backend.
pub fn embedded(name: &str) -> Backend {
    Backend::Embedded { dir: scratch(name) }
}

/// A fresh scale-out backend (own database, own S3 prefix), or `None` when the services are not
/// running (after printing why; panics instead when `NDF_REQUIRE_SERVICES=1`).
pub fn scaled(name: &str) -> Option<Backend> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(pg), Some(s3), Some(endpoint), Some(key), Some(secret)) = (
        var("NDF_TEST_POSTGRES_URL"),
        var("NDF_TEST_S3_URL"),
        var("NDF_TEST_S3_ENDPOINT"),
        var("NDF_TEST_S3_ACCESS_KEY_ID"),
        var("NDF_TEST_S3_SECRET_ACCESS_KEY"),
    ) else {
        if std::env::var("NDF_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!(
                "NDF_REQUIRE_SERVICES=1 but NDF_TEST_POSTGRES_URL / NDF_TEST_S3_* are not set (run scripts/services.sh start)"
            );
        }
        eprintln!(
            "skipping the postgres+s3 backend: run `scripts/services.sh start` and source target/services/env"
        );
        return None;
    };
    let db = unique(&format!("ndf_{name}")).to_ascii_lowercase();
    let out = Command::new("psql")
        .arg(&pg)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE DATABASE {db}"),
        ])
        .output()
        .expect("psql (postgresql-client) is needed for the postgres+s3 tests");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Same server and credentials, another database.
    let base = pg.rsplit_once('/').map_or(pg.as_str(), |(b, _)| b);
    let store = format!("{base}/{db}");
    let blobs = format!("{}/{db}", s3.trim_end_matches('/'));
    let region = var("NDF_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".into());
    Some(Backend::Scaled {
        store,
        blobs,
        s3_env: vec![
            ("NDF_S3_ENDPOINT".into(), endpoint),
            ("NDF_S3_ACCESS_KEY_ID".into(), key),
            ("NDF_S3_SECRET_ACCESS_KEY".into(), secret),
            ("NDF_S3_REGION".into(), region),
            // Scale-out storage needs its master key and key-hash secret from configuration.
            ("NDF_MASTER_KEY".into(), TEST_MASTER_KEY.into()),
            ("NDF_API_KEY_SECRET".into(), TEST_API_KEY_SECRET.into()),
        ],
    })
}

/// The master key ring of the scale-out test servers (a test fixture, not a secret).
pub const TEST_MASTER_KEY: &str =
    "test1:8a1f0c3e5b7d9f21436587a9cbedf0123456789abcdef0123456789abcdef012";
/// The API-key hash secret of the scale-out test servers.
pub const TEST_API_KEY_SECRET: &str = "scale-out-test-api-key-secret";

/// Every backend available here: embedded always, postgres+s3 when its services run.
pub fn backends(name: &str) -> Vec<Backend> {
    let mut v = vec![embedded(name)];
    v.extend(scaled(name));
    v
}

/// A running `ndf serve` (or `ndf worker`) process.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (empty for workers).
    pub base: String,
    /// What it printed on stderr so far (shown when a test fails).
    pub log: Arc<Mutex<String>>,
    /// What it printed on stdout so far (its log lines).
    pub out: Arc<Mutex<String>>,
    /// `http://ADDR` of its admin listener once it printed one.
    admin: Arc<Mutex<Option<String>>>,
    backend: Backend,
    args: Vec<String>,
    env: Vec<(String, String)>,
    worker: bool,
    listen: String,
    /// The harness chose `listen` ([`restartable_port`]); it may choose another until the
    /// first start succeeds.
    port_chosen: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("base", &self.base)
            .field("backend", &self.backend.name())
            .finish()
    }
}

/// Options of a test server: extra flags (e.g. `--set max_attempts=2`) and environment.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// `host:port` to listen on (default: a free loopback port outside the kernel's ephemeral
    /// range, see [`restartable_port`]; a restart keeps the port).
    pub listen: Option<String>,
}

impl Opts {
    /// `--set key=value` for each pair.
    pub fn set(pairs: &[(&str, &str)]) -> Self {
        let mut o = Opts::default();
        for (k, v) in pairs {
            o.args.push("--set".into());
            o.args.push(format!("{k}={v}"));
        }
        o
    }
}

impl Server {
    /// Start `ndf serve` and wait until it listens.
    pub fn serve(backend: &Backend, opts: Opts) -> Server {
        Self::spawn(backend, opts, false)
    }

    /// Start `ndf worker` (no HTTP).
    pub fn worker(backend: &Backend, opts: Opts) -> Server {
        Self::spawn(backend, opts, true)
    }

    fn spawn(backend: &Backend, opts: Opts, worker: bool) -> Server {
        let port_chosen = opts.listen.is_none() && !worker;
        let listen = match opts.listen {
            Some(l) => l,
            None if worker => String::new(),
            None => format!("127.0.0.1:{}", restartable_port()),
        };
        let mut s = Server {
            child: None,
            base: String::new(),
            log: Arc::new(Mutex::new(String::new())),
            out: Arc::new(Mutex::new(String::new())),
            admin: Arc::new(Mutex::new(None)),
            backend: backend.clone(),
            args: opts.args,
            env: opts.env,
            worker,
            listen,
            port_chosen,
        };
        s.start();
        s
    }

    /// (Re)start the process with the same configuration (and the same port once known).
    ///
    /// A start refused because the address is in use is tried again, a bounded number of
    /// times: on another port chosen by the harness before the first start succeeded, else
    /// on the same port (crash tests restart on the same address on purpose) after a pause.
    /// Harness-chosen ports lie outside the kernel's ephemeral range, so no outgoing
    /// connection can take one while its server is down; what remains is a short-lived
    /// holder, which the pauses outlast.
    pub fn start(&mut self) {
        const TRIES: u32 = 40;
        const PAUSE: Duration = Duration::from_millis(250);
        for attempt in 1..=TRIES {
            match self.try_start() {
                Ok(()) => {
                    self.port_chosen = false;
                    return;
                }
                Err(log) if attempt < TRIES && log.contains(ADDR_IN_USE) => {
                    eprintln!(
                        "ndf {} could not bind {} (attempt {attempt} of {TRIES}): trying again",
                        if self.worker { "worker" } else { "serve" },
                        self.listen
                    );
                    if self.port_chosen {
                        self.listen = format!("127.0.0.1:{}", restartable_port());
                    } else {
                        std::thread::sleep(PAUSE);
                    }
                }
                Err(log) => panic!("ndf serve did not start listening; its log:\n{log}"),
            }
        }
    }

    /// One start: `Err` with this start's log when the process ended before listening.
    fn try_start(&mut self) -> Result<(), String> {
        let log_from = self.log_text().len();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
        cmd.arg(if self.worker { "worker" } else { "serve" });
        if !self.worker {
            cmd.args(["--listen", &self.listen]);
        }
        cmd.args(self.backend.args()).args(&self.args);
        for (k, v) in self.backend.env().into_iter().chain(self.env.clone()) {
            cmd.env(k, v);
        }
        if !self.env.iter().any(|(k, _)| k == "NDF_LOG") {
            cmd.env(
                "NDF_LOG",
                std::env::var("NDF_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ndf");
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let out = self.out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut o) = out.lock()
                    && o.len() < (16 << 20)
                {
                    o.push_str(&line);
                    o.push('\n');
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let log = self.log.clone();
        let admin = self.admin.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("ndf: listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
                if let Some(addr) = line.strip_prefix("ndf: admin listening on ")
                    && let Ok(mut a) = admin.lock()
                {
                    *a = Some(addr.trim().to_owned());
                }
                if let Ok(mut l) = log.lock()
                    && l.len() < (4 << 20)
                {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        self.child = Some(child);
        if self.worker {
            return Ok(());
        }
        let started = Instant::now();
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => break addr,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    if started.elapsed() < Duration::from_secs(60) => {}
                Err(_) => {
                    self.kill();
                    return Err(self
                        .log_text()
                        .get(log_from..)
                        .unwrap_or_default()
                        .to_owned());
                }
            }
            // Ended before listening (e.g. the address is in use): its log is complete once
            // the reader saw the end of stderr, which the channel's disconnection tells.
            if let Some(c) = self.child.as_mut()
                && matches!(c.try_wait(), Ok(Some(_)))
            {
                if let Ok(addr) = rx.recv_timeout(Duration::from_secs(5)) {
                    break addr;
                }
                self.kill();
                return Err(self
                    .log_text()
                    .get(log_from..)
                    .unwrap_or_default()
                    .to_owned());
            }
        };
        self.base = addr.clone();
        // Keep the port across restarts (crash tests restart on the same address).
        self.listen = addr.trim_start_matches("http://").to_owned();
        Ok(())
    }

    /// Kill with SIGKILL (no chance to clean up) and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send SIGTERM and wait for the exit status (up to `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if start.elapsed() > timeout {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Everything printed on stdout so far (the log lines).
    pub fn stdout_text(&self) -> String {
        self.out.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// `admin base + path`, waiting up to 30 s for the admin listener to come up.
    pub fn admin_url(&self, path: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(a) = self.admin.lock().ok().and_then(|a| a.clone()) {
                return format!("{a}{path}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no admin listener; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How `ndf serve` reports a listen address that is taken (`std::io::ErrorKind::AddrInUse`).
const ADDR_IN_USE: &str = "Address already in use";

/// Ports [`restartable_port`] handed out in this process: never the same one twice.
static PORTS_GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`; Linux's
/// default when unreadable): outgoing connections take their local port from it.
pub fn ephemeral_range() -> (u16, u16) {
    use std::io::Read;
    let mut text = String::new();
    let _ = std::fs::File::open("/proc/sys/net/ipv4/ip_local_port_range")
        .and_then(|f| f.take(64).read_to_string(&mut text));
    let mut parts = text.split_whitespace();
    match (
        parts.next().and_then(|p| p.parse().ok()),
        parts.next().and_then(|p| p.parse().ok()),
    ) {
        (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
        _ => (32768, 60999),
    }
}

/// A free loopback port outside the kernel's ephemeral range (the larger of 16384..lo and
/// hi+1..=65535), never handed out before in this process, starting at a place drawn from the
/// process id and the clock so that test processes running at once rarely meet. A server
/// killed and restarted on it cannot find it taken by some process's outgoing connection,
/// as it could with a port the kernel chose (`:0`).
pub fn restartable_port() -> u16 {
    let (lo, hi) = ephemeral_range();
    let below = u32::from(lo).saturating_sub(16384);
    let above = 65535 - u32::from(hi);
    let (first, span) = if below >= above {
        (16384, below)
    } else {
        (u32::from(hi) + 1, above)
    };
    assert!(span >= 256, "no port range outside the ephemeral {lo}-{hi}");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let mut x = u64::from(std::process::id()) << 32 | u64::from(nanos);
    let mut given = PORTS_GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..span {
        // SplitMix64 steps: a spread of candidates.
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let port = u16::try_from(u64::from(first) + z % u64::from(span)).expect("a port");
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {first}..{}", first + span)
}

/// A blocking HTTP client with a generous timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// Poll `GET /v1/jobs/{id}` until the job is finished (or `timeout`), returning its JSON.
pub fn wait_job(
    http: &reqwest::blocking::Client,
    server: &Server,
    id: &str,
    timeout: Duration,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(server.url(&format!("/v1/jobs/{id}"))).send()
            && r.status().is_success()
            && let Ok(v) = r.json::<serde_json::Value>()
            && matches!(
                v["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "job {id} did not finish within {timeout:?}; server log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Write bytes to a file in `dir`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

impl Server {
    /// Send SIGTERM without waiting (to watch the server while it drains); pair with
    /// [`Server::wait_exit`].
    pub fn signal_term(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
    }

    /// Wait up to `timeout` for the process to exit by itself and return its status; on
    /// timeout kill it and return `None`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if start.elapsed() > timeout {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

mod rc4_writer {
    //! The writer side of the standard security handler, R3 / RC4-128 (Algorithms 2, 3, 5 and
    //! the per-object key of Algorithm 1), copied from ndf-extract's hostile tests.
    use md5::{Digest, Md5};

    const PAD: [u8; 32] = [
        0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01,
        0x08, 0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53,
        0x69, 0x7A,
    ];
    pub(super) const ID0: [u8; 16] = *b"service-test-id!";
    pub(super) const P: i32 = -3904;

    fn md5(parts: &[&[u8]]) -> [u8; 16] {
        let mut h = Md5::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    fn pad32(pw: &[u8]) -> Vec<u8> {
        let n = pw.len().min(32);
        let mut out = pw[..n].to_vec();
        out.extend_from_slice(&PAD[..32 - n]);
        out
    }

    pub(super) fn rc4(key: &[u8], data: &mut [u8]) {
        let mut s: [u8; 256] = core::array::from_fn(|i| i as u8);
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
            s.swap(i, usize::from(j));
        }
        let (mut i, mut j) = (0u8, 0u8);
        for b in data {
            i = i.wrapping_add(1);
            j = j.wrapping_add(s[usize::from(i)]);
            s.swap(usize::from(i), usize::from(j));
            *b ^= s[usize::from(s[usize::from(i)].wrapping_add(s[usize::from(j)]))];
        }
    }

    fn rounds(key: &[u8], data: &mut [u8]) {
        for i in 1..=19u8 {
            let k: Vec<u8> = key.iter().map(|b| b ^ i).collect();
            rc4(&k, data);
        }
    }

    /// (/O, /U, file key) for a 128-bit R3 handler.
    pub(super) fn make(user: &[u8], owner: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let n = 16;
        let mut h = md5(&[&pad32(owner)]);
        for _ in 0..50 {
            h = md5(&[&h]);
        }
        let mut o = pad32(user);
        rc4(&h[..n], &mut o);
        rounds(&h[..n], &mut o);
        let mut key = md5(&[&pad32(user), &o, &P.to_le_bytes(), &ID0]);
        for _ in 0..50 {
            key = md5(&[&key[..n]]);
        }
        let key = key[..n].to_vec();
        let mut u = md5(&[&PAD, &ID0]).to_vec();
        rc4(&key, &mut u);
        rounds(&key, &mut u);
        u.extend_from_slice(&[0xA5; 16]);
        (o, u, key)
    }

    /// Encrypt a stream of object `num` (generation 0).
    pub(super) fn encrypt(key: &[u8], num: u32, plain: &[u8]) -> Vec<u8> {
        let h = md5(&[key, &num.to_le_bytes()[..3], &[0, 0]]);
        let mut out = plain.to_vec();
        rc4(&h[..(key.len() + 5).min(16)], &mut out);
        out
    }

    pub(super) fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02X}")).collect()
    }
}

/// A document with one page per text, RC4-128 encrypted with the user password `password`.
pub fn encrypted_doc_with(password: &[u8], texts: &[&str]) -> Vec<u8> {
    use ndf_testkit::{PageSpec, PdfWriter, page_num, write_doc};
    let (o, u, key) = rc4_writer::make(password, b"owner");
    let pages: Vec<PageSpec> = texts.iter().map(|t| PageSpec::text(t)).collect();
    let encrypted: Vec<PageSpec> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| PageSpec::content(rc4_writer::encrypt(&key, page_num(i) + 1, &p.content)))
        .collect();
    let mut w = PdfWriter::new();
    write_doc(&mut w, &encrypted, None);
    w.obj(
        5,
        format!(
            "<< /Filter /Standard /V 2 /R 3 /Length 128 /P {} /O <{}> /U <{}> >>",
            rc4_writer::P,
            rc4_writer::hex(&o),
            rc4_writer::hex(&u)
        ),
    );
    let id = rc4_writer::hex(&rc4_writer::ID0);
    w.finish(1, &format!("/Encrypt 5 0 R /ID [<{id}> <{id}>]"))
}

/// A program on PATH, or `None` after a message that the calling test did not run; panics
/// when `NDF_REQUIRE_INPUTS=1` (the test command sets it and installs every tool the tests use:
/// `ndf_testkit::corpus::tool`).
#[track_caller]
pub fn tool(name: &str) -> Option<PathBuf> {
    let thread = std::thread::current();
    ndf_testkit::corpus::tool(thread.name().unwrap_or("this test"), name)
}

/// The S3 bucket of a scale-out backend, opened as its servers open it.
pub fn s3_bucket(
    blobs: &str,
    s3_env: &[(String, String)],
) -> (
    tokio::runtime::Runtime,
    std::sync::Arc<dyn ndf_store::BlobStore>,
) {
    let env = |k: &str| s3_env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let options = ndf_store::StoreOptions {
        s3_endpoint: env("NDF_S3_ENDPOINT"),
        s3_region: env("NDF_S3_REGION"),
        s3_access_key_id: env("NDF_S3_ACCESS_KEY_ID"),
        s3_secret_access_key: env("NDF_S3_SECRET_ACCESS_KEY"),
        ..ndf_store::StoreOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bucket = rt
        .block_on(ndf_store::open_blob_store(blobs, &options))
        .expect("open the bucket");
    (rt, bucket)
}

/// Run `ndf ARGS…` against a backend's store (no server): (success, stdout, stderr).
pub fn ndf(backend: &Backend, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(args).args(backend.args());
    for (k, v) in backend.env() {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run ndf");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed.
pub fn run_ok(cmd: &mut Command) {
    let out = cmd.stdin(Stdio::null()).output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`, `ca.key`; made once per `dir`, kept when present) and a server certificate
/// for 127.0.0.1 signed by it with `cn` as its subject (`server.pem`, `server.key`, usable for
/// server and client authentication). A second call replaces the server's files by rename, as
/// a certificate manager would.
pub fn make_certs(openssl: &Path, dir: &Path, cn: &str) {
    let p = |n: &str| dir.join(n).display().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    if !dir.join("ca.pem").exists() {
        run_ok(
            Command::new(openssl)
                .args(["req", "-x509"])
                .args(ec)
                .args(["-days", "2", "-subj", "/CN=ndf test CA"])
                .args(["-keyout", &p("ca.key"), "-out", &p("ca.pem")]),
        );
    }
    run_ok(
        Command::new(openssl)
            .arg("req")
            .args(ec)
            .args(["-subj", &format!("/CN={cn}")])
            .args(["-keyout", &p("server.key.new"), "-out", &p("server.csr")]),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    run_ok(Command::new(openssl).args([
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("server.pem.new"),
    ]));
    std::fs::rename(dir.join("server.key.new"), dir.join("server.key")).unwrap();
    std::fs::rename(dir.join("server.pem.new"), dir.join("server.pem")).unwrap();
}
