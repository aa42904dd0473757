//! Drain without stopping (blue-green), with real processes over real sockets.
//!
//! - `embedded_drain_file_pauses_claims_and_lifting_it_resumes`: one `ndf serve` on SQLite + a
//!   directory with `drain_file`: the drain line keeps new jobs queued while the job in flight
//!   finishes; without the line they run.
//! - `embedded_sigusr1_drains_and_sigusr2_resumes`: the same by signal.
//! - `blue_green_switch_under_load_runs_every_job_exactly_once`: PostgreSQL + S3, two colours
//!   each of an API-only `ndf serve` and `ndf worker`s, as the operator runs them: a client
//!   submits 120 jobs to the active colour's API; mid-load green starts, the client switches to
//!   green's API, blue is drained through its drain files, then stopped with SIGTERM; every
//!   accepted job succeeds exactly once with its own result.
//!
//! Each document starts with the pool's test hook `%NDF-TEST-SLEEP <ms>` (the worker sleeps,
//! then extracts the PDF that follows), so jobs are in flight while the colours change.
#![allow(clippy::print_stderr)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Backend, Opts, Server, client, scratch, wait_job};

/// The line Kubernetes' downward API writes for the annotation `ndf.dev/drain: "true"`.
const DRAIN_LINE: &str = "ndf.dev/drain=\"true\"";
/// Other annotations of a pod, as the downward API writes them (one `key="value"` per line).
const OTHER_ANNOTATIONS: &str =
    "kubectl.kubernetes.io/restartedAt=\"2026-12-07T09:00:00Z\"\nndf.dev/color=\"blue\"\n";
/// Generous bound of every wait for something that must happen.
const WAIT: Duration = Duration::from_secs(60);
/// How long a drained replica is watched for a claim it must not make (many poll periods).
const QUIET: Duration = Duration::from_millis(1500);

/// A document that sleeps `ms` in its worker, then extracts to `text`.
fn slow_doc(ms: u64, text: &str) -> Vec<u8> {
    [
        format!("%NDF-TEST-SLEEP {ms}\n").as_bytes(),
        &ndf_testkit::text_doc(&[text]),
    ]
    .concat()
}

/// Write the drain file (atomically, as the kubelet swaps its downward-API files).
fn write_annotations(path: &Path, drain: bool) {
    let mut text = OTHER_ANNOTATIONS.to_owned();
    if drain {
        // CRLF on purpose: a trailing `\r` is accepted.
        text.push_str(DRAIN_LINE);
        text.push_str("\r\n");
    }
    text.push_str("zz.example/last=\"x\"\n");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the annotations");
    std::fs::rename(&tmp, path).expect("swap the annotations");
}

/// The value of an unlabelled series in a Prometheus text page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// One scrape of `url` (`/metrics` of the API or of an admin listener).
fn scrape(http: &reqwest::blocking::Client, url: &str) -> String {
    http.get(url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Scrape `url` until `ndf_draining` is `want`; the page that showed it.
fn wait_draining(http: &reqwest::blocking::Client, url: &str, want: f64, log: &str) -> String {
    let start = Instant::now();
    loop {
        let page = scrape(http, url);
        if metric(&page, "ndf_draining") == Some(want) {
            return page;
        }
        assert!(
            start.elapsed() < WAIT,
            "ndf_draining never became {want} at {url}; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn claims(page: &str) -> f64 {
    metric(page, "ndf_job_claims_total").expect("ndf_job_claims_total")
}

fn submit(http: &reqwest::blocking::Client, server: &Server, body: Vec<u8>) -> String {
    let r = http
        .post(server.url("/v1/jobs"))
        .header("content-type", "application/pdf")
        .body(body)
        .send()
        .expect("submit");
    assert_eq!(r.status(), 202, "{}", server.log_text());
    let v: serde_json::Value = r.json().expect("job view");
    v["id"].as_str().expect("id").to_owned()
}

fn job(http: &reqwest::blocking::Client, server: &Server, id: &str) -> serde_json::Value {
    http.get(server.url(&format!("/v1/jobs/{id}")))
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("GET job {id}: {e}"))
}

fn wait_state(http: &reqwest::blocking::Client, server: &Server, id: &str, state: &str) {
    let start = Instant::now();
    while job(http, server, id)["state"] != state {
        assert!(
            start.elapsed() < WAIT,
            "job {id} never {state}; log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn result_text(http: &reqwest::blocking::Client, server: &Server, id: &str) -> String {
    http.get(server.url(&format!("/v1/jobs/{id}/result?format=text")))
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("GET result of {id}: {e}"))
}

fn health(http: &reqwest::blocking::Client, url: &str) -> serde_json::Value {
    let r = http.get(url).send().expect("probe");
    assert_eq!(r.status(), 200, "{url}");
    r.json().expect("probe JSON")
}

/// The jobs stay queued while `server` is drained, and it claims nothing.
fn assert_nothing_claimed(
    http: &reqwest::blocking::Client,
    server: &Server,
    ids: &[String],
    claims_before: f64,
) {
    std::thread::sleep(QUIET);
    for id in ids {
        assert_eq!(
            job(http, server, id)["state"],
            "queued",
            "a drained replica ran {id}; log:\n{}",
            server.log_text()
        );
    }
    assert_eq!(
        claims(&scrape(http, &server.url("/metrics"))),
        claims_before,
        "a drained replica claimed a job"
    );
}

fn hooks(pairs: &[(&str, &str)]) -> Opts {
    let mut o = Opts::set(pairs);
    o.env
        .push((ndf_pool::TEST_HOOKS_ENV.to_owned(), "1".to_owned()));
    o
}

#[test]
fn embedded_drain_file_pauses_claims_and_lifting_it_resumes() {
    let dir = scratch("drain-file");
    let file = dir.join("annotations");
    let backend = support::embedded("drain_file");
    let mut opts = hooks(&[
        ("drain_file", &file.display().to_string()),
        ("drain_poll_ms", "100"),
        ("poll_interval_ms", "100"),
        ("job_concurrency", "2"),
    ]);
    opts.args.extend(["--workers".into(), "2".into()]);
    opts.env
        .push(("NDF_LOG".into(), "warn,ndf_server::drain=info".into()));
    // Missing at start: no drain.
    let mut server = Server::serve(&backend, opts);
    let http = client();
    let metrics = server.url("/metrics");
    let page = scrape(&http, &metrics);
    assert_eq!(metric(&page, "ndf_draining"), Some(0.0), "{page}");
    assert_eq!(health(&http, &server.url("/healthz"))["drained"], false);

    // A job in flight when the drain comes.
    let held = submit(&http, &server, slow_doc(2500, "held while draining"));
    wait_state(&http, &server, &held, "running");
    write_annotations(&file, true);
    let page = wait_draining(&http, &metrics, 1.0, &server.log_text());
    let at_drain = claims(&page);
    assert_eq!(at_drain, 1.0, "{page}");
    assert_eq!(health(&http, &server.url("/healthz"))["drained"], true);
    // Drained is still ready: it answers reads and takes submissions.
    let ready = health(&http, &server.url("/readyz"));
    assert_eq!(
        (&ready["status"], &ready["drained"]),
        (&"ready".into(), &true.into())
    );
    let queued: Vec<String> = (0..5)
        .map(|i| {
            submit(
                &http,
                &server,
                slow_doc(10, &format!("after the drain {i}")),
            )
        })
        .collect();
    // The job held finishes here, once, and is not handed back.
    let v = wait_job(&http, &server, &held, WAIT);
    assert_eq!(v["state"], "succeeded", "{v}");
    assert_eq!(v["attempts"], 1, "{v}");
    assert_eq!(
        result_text(&http, &server, &held).trim(),
        "held while draining"
    );
    assert_nothing_claimed(&http, &server, &queued, at_drain);

    // The line goes away: the queued jobs run.
    write_annotations(&file, false);
    wait_draining(&http, &metrics, 0.0, &server.log_text());
    assert_eq!(health(&http, &server.url("/healthz"))["drained"], false);
    for (i, id) in queued.iter().enumerate() {
        let v = wait_job(&http, &server, id, WAIT);
        assert_eq!(v["state"], "succeeded", "{v}");
        assert_eq!(
            result_text(&http, &server, id).trim(),
            format!("after the drain {i}")
        );
    }
    assert_eq!(claims(&scrape(&http, &metrics)), 6.0);
    // Every change was logged.
    let log = server.stdout_text();
    assert!(log.contains("drained: claiming no new jobs"), "{log}");
    assert!(log.contains("drain lifted: claiming jobs again"), "{log}");
    let status = server.terminate(WAIT).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
}

#[test]
fn embedded_sigusr1_drains_and_sigusr2_resumes() {
    let backend = support::embedded("drain_signal");
    let mut server = Server::serve(&backend, hooks(&[("poll_interval_ms", "100")]));
    let http = client();
    let metrics = server.url("/metrics");
    let pid = server.pid().expect("pid").to_string();
    let kill = |sig: &str| {
        let st = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(st.success());
    };
    kill("-USR1");
    let page = wait_draining(&http, &metrics, 1.0, &server.log_text());
    let id = submit(&http, &server, slow_doc(10, "after SIGUSR1"));
    assert_nothing_claimed(&http, &server, std::slice::from_ref(&id), claims(&page));
    kill("-USR2");
    wait_draining(&http, &metrics, 0.0, &server.log_text());
    let v = wait_job(&http, &server, &id, WAIT);
    assert_eq!(v["state"], "succeeded", "{v}");
    // SIGTERM still stops it cleanly.
    let status = server.terminate(WAIT).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
}

/// Jobs of the blue-green run.
const JOBS: usize = 120;
/// Pause of the client between two submissions.
const PACE: Duration = Duration::from_millis(50);
/// Green starts after this many accepted jobs, blue is drained after `DRAIN_AT`, stopped
/// (SIGTERM) after `STOP_AT`.
const GREEN_AT: usize = 30;
const DRAIN_AT: usize = 50;
const STOP_AT: usize = 70;

fn payload(i: usize) -> String {
    format!("Blue green job {i:03}")
}

/// Sleep of job 0, the first one blue takes: it is still running when blue is stopped, so it
/// is handed back and run again by green.
const LONG_MS: u64 = 12_000;

/// Job 0 takes [`LONG_MS`]; most others 200 ms; every seventh 2.5 s, longer than blue's
/// shutdown grace, so a blue worker stopped while it holds one hands it back.
fn bg_body(i: usize) -> Vec<u8> {
    let ms = match i {
        0 => LONG_MS,
        _ if i % 7 == 3 => 2500,
        _ => 200,
    };
    slow_doc(ms, &payload(i))
}

/// One `job attempt ended` log line of a worker.
#[derive(Debug)]
struct Attempt {
    job: String,
    outcome: String,
}

/// The job attempts in a worker's JSON log lines, and how many results it discarded because
/// the job was finished elsewhere (a duplicate execution).
fn attempts(stdout: &str) -> (Vec<Attempt>, usize) {
    let mut out = Vec::new();
    let mut discarded = 0;
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v["message"].as_str() {
            Some("job attempt ended") => out.push(Attempt {
                job: v["job_id"].as_str().expect("job_id").to_owned(),
                outcome: v["fields"]["outcome"].as_str().expect("outcome").to_owned(),
            }),
            Some(m) if m.contains("result discarded") => discarded += 1,
            _ => {}
        }
    }
    (out, discarded)
}

/// Rows of the job table, straight from PostgreSQL: (state, rows).
fn store_states(store: &str) -> BTreeMap<String, usize> {
    let out = std::process::Command::new("psql")
        .arg(store)
        .args([
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SELECT state, count(*) FROM ndf_jobs GROUP BY state",
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (s, n) = l.split_once('|')?;
            Some((s.to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

fn worker_opts(drain_file: &Path, grace_ms: &str) -> Opts {
    let mut o = hooks(&[
        ("drain_file", &drain_file.display().to_string()),
        ("drain_poll_ms", "100"),
        ("poll_interval_ms", "100"),
        ("admin_listen", "127.0.0.1:0"),
        ("shutdown_grace_ms", grace_ms),
    ]);
    o.args.extend(["--workers".into(), "2".into()]);
    o.env.push((
        "NDF_LOG".into(),
        "warn,ndf_server::jobs=info,ndf_server::drain=info".into(),
    ));
    o.env.push(("NDF_LOG_FORMAT".into(), "json".into()));
    o
}

#[test]
fn blue_green_switch_under_load_runs_every_job_exactly_once() {
    let Some(backend) = support::scaled("drain") else {
        return;
    };
    let Backend::Scaled { store, .. } = &backend else {
        unreachable!("scaled() gives a scale-out backend")
    };
    let dir = scratch("blue-green");
    let blue_files = [dir.join("blue-0"), dir.join("blue-1")];
    let green_files = [dir.join("green-0"), dir.join("green-1")];
    let (blue_api_file, green_api_file) = (dir.join("blue-api"), dir.join("green-api"));
    for f in blue_files.iter().chain(&green_files) {
        write_annotations(f, false);
    }
    write_annotations(&blue_api_file, false);
    write_annotations(&green_api_file, false);
    // The operator's shape: API pods do not consume jobs in scale-out, workers do.
    let api_opts = |file: &Path| {
        let mut o = Opts::set(&[
            ("drain_file", &file.display().to_string()),
            ("drain_poll_ms", "100"),
        ]);
        o.args.push("--no-jobs".into());
        o
    };
    let mut blue_api = Server::serve(&backend, api_opts(&blue_api_file));
    // Blue's grace is short: a job still held at SIGTERM is handed back, not waited for.
    let mut blue: Vec<Server> = blue_files
        .iter()
        .map(|f| Server::worker(&backend, worker_opts(f, "1000")))
        .collect();
    let http = client();
    for w in &blue {
        wait_draining(&http, &w.admin_url("/metrics"), 0.0, &w.log_text());
    }

    // The client: JOBS submissions at a steady pace to the active colour's API (the active
    // Service); each 202's job id by index, and which colour accepted it.
    let active = Arc::new(Mutex::new(("blue", blue_api.url("/v1/jobs"))));
    let by_api: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..JOBS).map(bg_body).collect());
    let accepted = Arc::new(AtomicUsize::new(0));
    let ids: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicBool::new(false));
    let client_thread = {
        let (bodies, accepted, ids, failed) = (
            bodies.clone(),
            accepted.clone(),
            ids.clone(),
            failed.clone(),
        );
        let (active, by_api) = (active.clone(), by_api.clone());
        std::thread::spawn(move || {
            let http = client();
            for (i, body) in bodies.iter().enumerate() {
                let (colour, url) = active.lock().expect("active").clone();
                let r = http
                    .post(&url)
                    .header("content-type", "application/pdf")
                    .header("idempotency-key", format!("bg-{i:03}"))
                    .body(body.clone())
                    .send();
                let id = match r {
                    Ok(r) if r.status() == 202 => r
                        .json::<serde_json::Value>()
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned)),
                    _ => None,
                };
                let Some(id) = id else {
                    failed.store(true, Ordering::SeqCst);
                    return;
                };
                ids.lock().expect("ids").push(id);
                *by_api.lock().expect("by api").entry(colour).or_default() += 1;
                accepted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(PACE);
            }
        })
    };
    let start = Instant::now();
    let wait_accepted = |n: usize| {
        while accepted.load(Ordering::SeqCst) < n {
            assert!(!failed.load(Ordering::SeqCst), "a submission was refused");
            assert!(start.elapsed() < WAIT * 4, "submissions stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };

    // Job 0 runs on blue (the only colour yet).
    wait_accepted(1);
    let first = ids.lock().expect("ids")[0].clone();
    wait_state(&http, &blue_api, &first, "running");
    let first_running = Instant::now();

    wait_accepted(GREEN_AT);
    let api = Server::serve(&backend, api_opts(&green_api_file));
    let green: Vec<Server> = green_files
        .iter()
        .map(|f| Server::worker(&backend, worker_opts(f, "30000")))
        .collect();
    for w in &green {
        wait_draining(&http, &w.admin_url("/metrics"), 0.0, &w.log_text());
    }

    wait_accepted(DRAIN_AT);
    // The switch: new submissions go to green's API; then blue is drained.
    *active.lock().expect("active") = ("green", api.url("/v1/jobs"));
    let drained_at = accepted.load(Ordering::SeqCst);
    for f in blue_files.iter().chain([&blue_api_file]) {
        write_annotations(f, true);
    }
    let page = wait_draining(&http, &blue_api.url("/metrics"), 1.0, &blue_api.log_text());
    assert_eq!(claims(&page), 0.0, "an API-only replica claimed a job");
    // Claims and leases of each blue worker once it reports itself drained.
    let at_drain: Vec<(f64, f64)> = blue
        .iter()
        .map(|w| {
            let page = wait_draining(&http, &w.admin_url("/metrics"), 1.0, &w.log_text());
            (
                claims(&page),
                metric(&page, "ndf_job_leases").expect("ndf_job_leases"),
            )
        })
        .collect();

    wait_accepted(STOP_AT);
    // Still running on blue (no other replica can lease a job whose lease is renewed), with
    // far more than blue's grace to go: blue must hand it back. (On a machine so slow that
    // most of its sleep is gone, the run only checks that it succeeds once.)
    let expect_hand_back = job(&http, &api, &first)["state"] == "running"
        && first_running.elapsed() < Duration::from_millis(LONG_MS / 2);
    let mut blue_claims = Vec::new();
    for (w, (drained_claims, _)) in blue.iter_mut().zip(&at_drain) {
        let page = scrape(&http, &w.admin_url("/metrics"));
        assert_eq!(
            claims(&page),
            *drained_claims,
            "a drained blue worker claimed a job; log:\n{}",
            w.stdout_text()
        );
        blue_claims.push(claims(&page));
        w.signal_term();
    }
    blue_api.signal_term();
    for w in blue.iter_mut().chain([&mut blue_api]) {
        let status = w.wait_exit(WAIT).expect("blue exits after SIGTERM");
        assert!(status.success(), "{status:?}\n{}", w.log_text());
    }

    client_thread.join().expect("the client panicked");
    assert!(!failed.load(Ordering::SeqCst), "a submission was refused");
    let ids = ids.lock().expect("ids").clone();
    assert_eq!(ids.len(), JOBS);

    // Every job final (green runs what is left).
    let mut finals: HashMap<String, serde_json::Value> = HashMap::new();
    for id in &ids {
        finals.insert(id.clone(), wait_job(&http, &api, id, WAIT * 2));
    }
    let green_logs: Vec<String> = green.iter().map(Server::stdout_text).collect();

    // ---- the store's view: one row per accepted job, each succeeded with its own result.
    let states = store_states(store);
    let rows: usize = states.values().sum();
    let mut lost = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if finals[id]["state"] != "succeeded" {
            lost.push(format!("{id}: {}", finals[id]));
            continue;
        }
        assert_eq!(result_text(&http, &api, id).trim(), payload(i), "job {i}");
    }

    // ---- the workers' view: every execution, by colour.
    let mut succeeded_by: HashMap<String, Vec<&'static str>> = HashMap::new();
    let mut outcomes: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    let mut discarded = 0;
    let mut blue_attempts = 0usize;
    let blue_logs: Vec<String> = blue.iter().map(Server::stdout_text).collect();
    for (colour, log) in blue_logs
        .iter()
        .map(|l| ("blue", l))
        .chain(green_logs.iter().map(|l| ("green", l)))
    {
        let (seen, d) = attempts(log);
        discarded += d;
        if colour == "blue" {
            blue_attempts += seen.len();
        }
        for a in seen {
            *outcomes.entry((colour, a.outcome.clone())).or_default() += 1;
            if a.outcome == "succeeded" {
                succeeded_by.entry(a.job).or_default().push(colour);
            }
        }
    }
    let duplicated: Vec<_> = succeeded_by.iter().filter(|(_, c)| c.len() > 1).collect();
    let handed_back: usize = outcomes
        .iter()
        .filter(|((_, o), _)| o == "handed_back")
        .map(|(_, n)| n)
        .sum();
    let by = |colour: &str| {
        succeeded_by
            .values()
            .filter(|c| c.len() == 1 && c[0] == colour)
            .count()
    };
    eprintln!(
        "blue-green on postgres+s3: {JOBS} jobs accepted, {} succeeded, {} lost, {} duplicated \
         ({discarded} results discarded), {handed_back} handed back; succeeded by blue {}, \
         by green {}; attempts by colour and outcome {outcomes:?}; blue drained after {drained_at} \
         accepted jobs holding {:?} leases, claims at drain {:?} = at SIGTERM {blue_claims:?}; \
         job 0 handed back as expected: {expect_hand_back}; accepted by API colour {:?}; \
         store rows {states:?}",
        JOBS - lost.len(),
        lost.len(),
        duplicated.len(),
        by("blue"),
        by("green"),
        at_drain.iter().map(|a| a.1).collect::<Vec<_>>(),
        at_drain.iter().map(|a| a.0).collect::<Vec<_>>(),
        by_api.lock().expect("by api"),
    );
    assert!(lost.is_empty(), "lost jobs:\n{}", lost.join("\n"));
    assert_eq!(rows, JOBS, "store rows {states:?}");
    assert_eq!(states.get("succeeded"), Some(&JOBS), "{states:?}");
    assert!(
        duplicated.is_empty(),
        "jobs run to success twice: {duplicated:?}"
    );
    assert_eq!(discarded, 0, "results discarded (a job ran twice)");
    // Every accepted job has exactly one successful execution in the workers' logs.
    for id in &ids {
        assert_eq!(
            succeeded_by.get(id).map(Vec::len),
            Some(1),
            "job {id}: successful executions {:?}",
            succeeded_by.get(id)
        );
    }
    // Every lease blue took is one logged attempt: nothing claimed unseen.
    assert_eq!(blue_attempts as f64, blue_claims.iter().sum::<f64>());
    if expect_hand_back {
        let blue_first: Vec<String> = blue_logs
            .iter()
            .flat_map(|l| attempts(l).0)
            .filter(|a| a.job == first)
            .map(|a| a.outcome)
            .collect();
        assert_eq!(blue_first, ["handed_back"], "job 0 on blue");
        assert_eq!(succeeded_by.get(&first), Some(&vec!["green"]), "job 0");
    }
    // The switch happened under load: blue ran jobs before it, green after.
    assert!(by("blue") > 0 && by("green") > 0, "{outcomes:?}");
    assert!(drained_at < JOBS);
    let by_api = by_api.lock().expect("by api");
    assert!(by_api["blue"] > 0 && by_api["green"] > 0, "{by_api:?}");
}
