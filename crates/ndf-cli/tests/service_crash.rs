//! Crash safety of the job service: `ndf serve` processes are SIGKILLed and restarted at random
//! moments while 500 jobs are submitted and processed, and the client still sees every job
//! exactly once, succeeded, with its own text.
//!
//! - `two_replicas_on_postgres_and_s3_survive_random_kills`: two replicas share PostgreSQL + S3
//!   (skipped without `scripts/services.sh start`, unless `NDF_REQUIRE_SERVICES=1`).
//! - `embedded_server_survives_random_kills`: one replica on SQLite + a directory.
//!
//! The client behaves as a careful real one: a submission that got no answer (connection error,
//! timeout) or a 5xx is retried with the same `Idempotency-Key` and body, on the other replica
//! when there is one. Kills are bounded (8) and `max_attempts` is above kills + 1, so no job can
//! legitimately fail: any failure, duplicate or wrong result is a service bug.
//!
//! A one-page document extracts in about a millisecond, so 500 of them would be done before the
//! first kill. Each document therefore starts with the pool's test hook `%NDF-TEST-SLEEP 40`
//! (the worker sleeps 40 ms, then extracts the PDF that follows), which gives every job a
//! realistic duration and keeps jobs in flight whenever a replica dies.
#![allow(clippy::print_stderr)]

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Backend, Opts, Server};

/// Jobs per run.
const JOBS: usize = 500;
/// Most SIGKILLs per run.
const MAX_KILLS: u32 = 8;
/// Client threads submitting jobs.
const CLIENTS: usize = 8;
/// Pause of each client between two submissions, so that submitting takes about 4 s and
/// replicas die while submissions are in flight (retries must not duplicate jobs).
const SUBMIT_PACE: Duration = Duration::from_millis(60);
/// Everything (submission and processing) must finish within this.
const DEADLINE: Duration = Duration::from_secs(240);

/// The two cases restart processes on fixed ports and measure progress: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// SplitMix64: a tiny seeded PRNG, so a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The seed: `NDF_CRASH_SEED` to replay a run, else a fixed default.
fn seed(default: u64) -> u64 {
    std::env::var("NDF_CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

fn key(i: usize) -> String {
    format!("job-{i:04}")
}

fn payload(i: usize) -> String {
    format!("Job {i:04} payload")
}

/// Short lease so a killed replica's jobs come back quickly; attempts above the most kills a
/// job can suffer (each kill costs a job at most one attempt).
fn crash_opts() -> Opts {
    let mut o = Opts::set(&[
        ("lease_ms", "2000"),
        ("max_attempts", "12"),
        ("poll_interval_ms", "100"),
    ]);
    o.args.extend(["--workers".into(), "2".into()]);
    o.env
        .push((ndf_pool::TEST_HOOKS_ENV.to_owned(), "1".to_owned()));
    o
}

/// Job `i`'s body: the sleep hook, then a one-page PDF naming the job.
fn body(i: usize) -> Vec<u8> {
    [
        &b"%NDF-TEST-SLEEP 40\n"[..],
        &ndf_testkit::text_doc(&[&payload(i)]),
    ]
    .concat()
}

/// A client with short timeouts: a dead replica must not stall the run.
fn crash_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(4)
        .build()
        .expect("client")
}

#[derive(Debug, Default)]
struct KillStats {
    kills: u32,
    /// Kills while some job was not finished yet.
    kills_during_processing: u32,
    /// Milliseconds after the start of each kill.
    at_ms: Vec<u128>,
}

/// SIGKILLs a random replica every 0.3–1.5 s and restarts it on the same port, until `stop` or
/// [`MAX_KILLS`]; hands the servers back.
fn spawn_killer(
    mut servers: Vec<Server>,
    seed: u64,
    stop: Arc<AtomicBool>,
    all_finished: Arc<AtomicBool>,
    start: Instant,
) -> std::thread::JoinHandle<(Vec<Server>, KillStats)> {
    std::thread::spawn(move || {
        let mut rng = Rng(seed);
        let mut stats = KillStats::default();
        while stats.kills < MAX_KILLS {
            let wait = Duration::from_millis(rng.range(300, 1500));
            let until = Instant::now() + wait;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let i = (rng.next() % servers.len() as u64) as usize;
            let during = !all_finished.load(Ordering::SeqCst);
            servers[i].kill();
            stats.kills += 1;
            stats.kills_during_processing += u32::from(during);
            stats.at_ms.push(start.elapsed().as_millis());
            // Down for a little while, as a crashed process would be.
            std::thread::sleep(Duration::from_millis(rng.range(0, 300)));
            servers[i].start();
        }
        (servers, stats)
    })
}

/// What the client saw while submitting.
#[derive(Debug, Default)]
struct Submitted {
    /// Every job id any 202 answer named, per key.
    ids: BTreeMap<usize, HashSet<String>>,
    /// Submissions that had to be repeated.
    retries: u32,
    /// Of the failed tries: 5xx answers (the rest got no answer).
    server_errors: u32,
}

/// Submits jobs `i % CLIENTS == t` from each of [`CLIENTS`] threads, retrying with the same key
/// and body until a 202 arrives.
fn submit_all(bases: &[String], bodies: &Arc<Vec<Vec<u8>>>, start: Instant) -> Submitted {
    let out = Arc::new(Mutex::new(Submitted::default()));
    let mut threads = Vec::new();
    for t in 0..CLIENTS {
        let (bases, bodies, out) = (bases.to_vec(), bodies.clone(), out.clone());
        threads.push(std::thread::spawn(move || {
            let http = crash_client();
            for i in (t..JOBS).filter(|i| i % CLIENTS == t) {
                let mut attempt = 0usize;
                let id = loop {
                    assert!(
                        start.elapsed() < DEADLINE,
                        "submitting {} did not succeed in time",
                        key(i)
                    );
                    // Spread over the replicas; a retry goes to the next one.
                    let base = &bases[(i + attempt) % bases.len()];
                    let r = http
                        .post(format!("{base}/v1/jobs"))
                        .header("content-type", "application/pdf")
                        .header("idempotency-key", key(i))
                        .body(bodies[i].clone())
                        .send();
                    match r {
                        Ok(r) if r.status() == 202 => {
                            let v: serde_json::Value = r.json().expect("202 body is JSON");
                            break v["id"].as_str().expect("job id").to_owned();
                        }
                        Ok(r) if r.status().is_server_error() => {
                            out.lock().expect("lock").server_errors += 1;
                        }
                        Ok(r) => {
                            let status = r.status();
                            panic!(
                                "submitting {} answered {status}: {}",
                                key(i),
                                r.text().unwrap_or_default()
                            );
                        }
                        Err(_) => {}
                    }
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(50));
                };
                {
                    let mut o = out.lock().expect("lock");
                    o.retries += attempt as u32;
                    o.ids.entry(i).or_default().insert(id);
                }
                std::thread::sleep(SUBMIT_PACE);
            }
        }));
    }
    for t in threads {
        t.join().expect("a submitting client panicked");
    }
    Arc::try_unwrap(out)
        .expect("clients are done")
        .into_inner()
        .expect("lock")
}

/// Every job of the server group, paging through `GET /v1/jobs` (`None` when a page failed,
/// e.g. because its replica was just killed).
fn list_all(http: &reqwest::blocking::Client, base: &str) -> Option<Vec<serde_json::Value>> {
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{base}/v1/jobs?limit=128");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = http.get(url).send().ok()?;
        if !r.status().is_success() {
            return None;
        }
        let page: serde_json::Value = r.json().ok()?;
        jobs.extend(page["jobs"].as_array()?.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Some(jobs),
        }
    }
    panic!("more than 100 pages of jobs");
}

fn is_final(job: &serde_json::Value) -> bool {
    matches!(
        job["state"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

/// The whole scenario over `replicas` processes of one backend.
fn crash_run(backend: &Backend, replicas: usize, seed: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let servers: Vec<Server> = (0..replicas)
        .map(|_| Server::serve(backend, crash_opts()))
        .collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let logs: Vec<_> = servers.iter().map(|s| s.log.clone()).collect();
    let show_logs = || {
        logs.iter()
            .enumerate()
            .map(|(i, l)| {
                format!(
                    "--- replica {i} log:\n{}",
                    l.lock().map(|l| l.clone()).unwrap_or_default()
                )
            })
            .collect::<String>()
    };
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..JOBS).map(body).collect());

    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let all_finished = Arc::new(AtomicBool::new(false));
    let killer = spawn_killer(servers, seed, stop.clone(), all_finished.clone(), start);

    let submitted = submit_all(&bases, &bodies, start);
    let submitted_in = start.elapsed();

    // Poll the job list (any replica that answers) until every job is final.
    let http = crash_client();
    let mut polls = 0u32;
    let mut turn = 0usize;
    let last_seen = loop {
        turn += 1;
        let base = &bases[turn % bases.len()];
        polls += 1;
        if let Some(jobs) = list_all(&http, base)
            && jobs.len() >= JOBS
            && jobs.iter().all(is_final)
        {
            break jobs;
        }
        if start.elapsed() > DEADLINE {
            stop.store(true, Ordering::SeqCst);
            let states = list_all(&http, base).map(|jobs| {
                let mut by: BTreeMap<String, usize> = BTreeMap::new();
                for j in &jobs {
                    *by.entry(j["state"].as_str().unwrap_or("?").to_owned())
                        .or_default() += 1;
                }
                by
            });
            panic!(
                "{}: jobs not all final after {DEADLINE:?}; states {states:?}\n{}",
                backend.name(),
                show_logs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    all_finished.store(true, Ordering::SeqCst);
    let processed_in = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (servers, kills) = killer.join().expect("the killer thread panicked");

    // ---- the client's view, every replica up again.
    let base = &servers[0].base;
    // The list seen at the end of polling and a fresh one agree.
    let listed = list_all(&http, base).expect("listing after the run");
    assert_eq!(listed.len(), last_seen.len(), "the job count changed");
    assert_eq!(
        listed.len(),
        JOBS,
        "{}: GET /v1/jobs lists {} jobs for {JOBS} idempotency keys (duplicates or losses)",
        backend.name(),
        listed.len()
    );
    let listed_ids: HashSet<String> = listed
        .iter()
        .map(|j| j["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed_ids.len(), JOBS, "job ids are not distinct");
    assert_eq!(submitted.ids.len(), JOBS, "some keys were never accepted");
    let mut id_of: HashMap<usize, String> = HashMap::new();
    for (i, ids) in &submitted.ids {
        assert_eq!(
            ids.len(),
            1,
            "{}: key {} was answered with several jobs: {ids:?}",
            backend.name(),
            key(*i)
        );
        let id = ids.iter().next().expect("one id").clone();
        assert!(
            listed_ids.contains(&id),
            "job {id} of {} is not listed",
            key(*i)
        );
        id_of.insert(*i, id);
    }
    let distinct: HashSet<&String> = id_of.values().collect();
    assert_eq!(distinct.len(), JOBS, "two keys share a job");

    let mut retried = 0u32;
    let mut max_attempts_seen = 0u64;
    let mut failures = Vec::new();
    for i in 0..JOBS {
        let id = &id_of[&i];
        let job: serde_json::Value = http
            .get(format!("{base}/v1/jobs/{id}"))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET job {id}: {e}"));
        let attempts = job["attempts"].as_u64().expect("attempts");
        max_attempts_seen = max_attempts_seen.max(attempts);
        retried += u32::from(attempts > 1);
        if job["state"] != "succeeded" {
            failures.push(format!("{} ({id}): {job}", key(i)));
            continue;
        }
        let text = http
            .get(format!("{base}/v1/jobs/{id}/result?format=text"))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("GET result of {id}: {e}"));
        assert_eq!(
            text.trim(),
            payload(i),
            "{}: the result of {} is not its own text",
            backend.name(),
            key(i)
        );
    }
    assert!(
        failures.is_empty(),
        "{}: {} of {JOBS} jobs did not succeed:\n{}\n{}",
        backend.name(),
        failures.len(),
        failures.join("\n"),
        show_logs()
    );

    eprintln!(
        "{} x{replicas} (seed {seed}): {JOBS} jobs submitted in {:.1}s, all final in {:.1}s; \
         {} kills ({} while jobs were unfinished, {} while submitting) at {:?} ms; \
         {} submission retries ({} after a 5xx); \
         {retried} jobs needed more than one attempt (max {max_attempts_seen}); {} list polls",
        backend.name(),
        submitted_in.as_secs_f64(),
        processed_in.as_secs_f64(),
        kills.kills,
        kills.kills_during_processing,
        kills
            .at_ms
            .iter()
            .filter(|&&t| t < submitted_in.as_millis())
            .count(),
        kills.at_ms,
        submitted.retries,
        submitted.server_errors,
        polls,
    );
    // The run proves something only if replicas died while work was pending.
    assert!(
        kills.kills_during_processing >= 1,
        "no kill happened before the jobs finished ({:.1}s); the run proves nothing",
        processed_in.as_secs_f64()
    );
    assert!(
        max_attempts_seen <= u64::from(kills.kills) + 1,
        "a job took {max_attempts_seen} attempts with only {} kills",
        kills.kills
    );
}

#[test]
fn two_replicas_on_postgres_and_s3_survive_random_kills() {
    let Some(backend) = support::scaled("crash") else {
        return;
    };
    crash_run(&backend, 2, seed(0x5eed_0001));
}

#[test]
fn embedded_server_survives_random_kills() {
    crash_run(&support::embedded("crash"), 1, seed(0x5eed_0002));
}

/// The harness restarts a killed server on its port even if something holds that port for a
/// moment while the server is down (as another process's outgoing connection could, were the
/// port inside the kernel's ephemeral range: the harness's ports are outside it).
#[test]
fn a_restart_keeps_the_port_past_a_brief_holder() {
    let mut server = Server::serve(&support::embedded("restart_port"), Opts::default());
    let port: u16 = server
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let (lo, hi) = support::ephemeral_range();
    assert!(
        port < lo || port > hi,
        "{port} is in the ephemeral range {lo}-{hi}"
    );
    server.kill();
    let holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold the port");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        drop(holder);
    });
    server.start();
    release.join().expect("holder");
    assert_eq!(server.base, format!("http://127.0.0.1:{port}"));
    let r = support::client()
        .get(server.url("/healthz"))
        .send()
        .expect("healthz");
    assert_eq!(r.status(), 200, "{}", server.log_text());
}
