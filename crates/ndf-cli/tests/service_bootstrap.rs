//! Bootstrap API keys (`bootstrap_keys_file`) over real sockets, on both backends (embedded
//! SQLite + directory; PostgreSQL + S3 when `scripts/services.sh start` runs them):
//!
//! - `bootstrap_keys_let_a_fresh_store_serve_publicly_and_never_come_back_revoked`: `ndf serve`
//!   on `0.0.0.0` refuses to start on a store that never held a key; with a file of lines from
//!   `ndf keys generate` it starts, the declared key works for an admin call and a job, a request
//!   without a key gets 401 and the audit log has the key's creation by `bootstrap`; a restart
//!   with the same file creates no second key; a key revoked through the admin API stays
//!   revoked (401) after a restart with the same file, which the log says; a malformed line
//!   stops the start naming its line number, never the key.
//!
//! The listener binds `0.0.0.0`; the test connects to it on 127.0.0.1.

#![allow(clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Backend, Opts, Server, backends, client, ndf, restartable_port};

/// `ndf keys generate` (no store involved): the line.
fn generate(tenant: &str, name: &str, scopes: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(["keys", "generate", "--tenant", tenant, "--name", name]);
    for s in scopes {
        cmd.args(["--scope", s]);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run ndf");
    assert!(
        out.status.success(),
        "ndf keys generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(text.lines().count(), 1, "{text}");
    text.trim().to_owned()
}

/// The key (last field) of a line, its id and its secret part.
fn key_of(line: &str) -> (String, String, String) {
    let key = line.rsplit(' ').next().expect("key").to_owned();
    let mut parts = key.split('_').skip(1);
    let id = parts.next().expect("id").to_owned();
    let secret = parts.next().expect("secret").to_owned();
    assert_eq!((id.len(), secret.len()), (12, 64), "{key}");
    (key, id, secret)
}

/// The keys file, readable by its owner and group only (as a Secret volume with
/// defaultMode 0440).
fn write_keys(dir: &Path, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("bootstrap-keys");
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, text).expect("write keys file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).expect("chmod");
    path
}

/// Run `ndf serve ARGS…` (expected to refuse to start) for at most 60 s: (exited by itself with
/// success, stdout + stderr). A process still running after 60 s is killed and fails the test.
fn refused_start(backend: &Backend, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.arg("serve").args(args).args(backend.args());
    for (k, v) in backend.env() {
        cmd.env(k, v);
    }
    let mut child = cmd
        .env("NDF_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ndf");
    // Read both pipes on threads: a full pipe must not block the process.
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ndf serve {args:?} still runs after 60 s instead of refusing to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    (status.success(), text)
}

/// Poll a job with `key` until it finishes (up to 120 s).
fn wait_job(http: &reqwest::blocking::Client, base: &str, key: &str, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = http
            .get(format!("{base}/v1/jobs/{id}"))
            .bearer_auth(key)
            .send()
            .expect("job");
        assert_eq!(r.status(), 200, "job {id}");
        let v: Value = r.json().expect("job JSON");
        if matches!(
            v["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "job {id} did not finish: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The keys the store holds (`ndf keys list`).
fn listed(backend: &Backend) -> Vec<Value> {
    let (ok, out, err) = ndf(backend, &["keys", "list"]);
    assert!(ok, "ndf keys list: {err}");
    serde_json::from_str::<Vec<Value>>(&out).expect("key list JSON")
}

/// The `key_created` records of the audit log (`ndf audit export`).
fn key_created(backend: &Backend) -> Vec<Value> {
    let (ok, out, err) = ndf(backend, &["audit", "export"]);
    assert!(ok, "ndf audit export: {err}");
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["action"] == "key_created")
        .collect()
}

/// Wait up to 30 s for `needle` in the server's log lines after byte `from`.
fn wait_log(server: &Server, from: usize, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let out = server.stdout_text();
        if let Some(line) = out
            .get(from..)
            .and_then(|t| t.lines().find(|l| l.contains(needle)))
        {
            return line.to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {needle:?} in the log:\n{}",
            out.get(from..).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bootstrap_keys_let_a_fresh_store_serve_publicly_and_never_come_back_revoked() {
    for backend in backends("bootstrap") {
        let name = backend.name();
        let dir = support::scratch("bootstrap-keys");
        let port = restartable_port();
        let listen = format!("0.0.0.0:{port}");

        // (a) A store that never held a key, no file: refused (the existing rule).
        let (ok, text) = refused_start(&backend, &["--listen", &listen]);
        assert!(
            !ok && text.contains("refusing to serve") && text.contains("bootstrap_keys_file"),
            "[{name}] {text}"
        );

        let admin_line = generate("ops", "platform bootstrap", &["admin"]);
        let worker_line = generate("acme", "acme jobs", &["extract", "jobs:read", "jobs:write"]);
        assert!(
            admin_line.starts_with("ops admin platform bootstrap ndf_"),
            "{admin_line}"
        );
        let (admin, admin_id, admin_secret) = key_of(&admin_line);
        let (jobs, jobs_id, jobs_secret) = key_of(&worker_line);
        let file = write_keys(
            &dir,
            &format!("# keys of the platform team\n{admin_line}\n\n{worker_line}\n"),
        );
        let mut opts = Opts::set(&[
            ("workers", "1"),
            ("bootstrap_keys_file", &file.display().to_string()),
        ]);
        opts.env.push(("NDF_LOG".into(), "info".into()));
        opts.listen = Some(listen.clone());
        let mut server = Server::serve(&backend, opts);
        let base = format!("http://127.0.0.1:{port}");
        let http = client();
        assert!(
            wait_log(&server, 0, "bootstrap keys applied").contains("\"created\":2"),
            "[{name}] {}",
            server.stdout_text()
        );

        // Without a key: 401; the admin key lists both keys; the job key runs a job.
        let r = http.get(format!("{base}/v1/jobs")).send().unwrap();
        assert_eq!(r.status(), 401, "[{name}] no key");
        let r = http
            .get(format!("{base}/v1/admin/keys"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}] admin call");
        let keys: Value = r.json().unwrap();
        let mut ids: Vec<&str> = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let mut want = vec![admin_id.as_str(), jobs_id.as_str()];
        want.sort_unstable();
        assert_eq!(ids, want, "[{name}] {keys}");
        let pdf = ndf_testkit::text_doc(&["Bootstrap key job text"]);
        let r = http
            .post(format!("{base}/v1/jobs"))
            .bearer_auth(&jobs)
            .header("content-type", "application/pdf")
            .body(pdf)
            .send()
            .unwrap();
        assert_eq!(r.status(), 202, "[{name}] job submitted");
        let id = r.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let job = wait_job(&http, &base, &jobs, &id);
        assert_eq!(job["state"], "succeeded", "[{name}] {job}");
        let created = key_created(&backend);
        assert_eq!(created.len(), 2, "[{name}] {created:?}");
        for r in &created {
            assert_eq!(r["actor"], "bootstrap", "[{name}] {r}");
        }

        // (b) Restart with the same file: nothing created, the keys still work.
        let from = server.stdout_text().len();
        let status = server.terminate(Duration::from_secs(60)).expect("stops");
        assert!(status.success(), "[{name}] {status:?}");
        server.start();
        assert!(
            wait_log(&server, from, "bootstrap keys applied").contains("\"created\":0"),
            "[{name}] {}",
            server.stdout_text()
        );
        assert_eq!(listed(&backend).len(), 2, "[{name}] no duplicate key");
        assert_eq!(
            key_created(&backend).len(),
            2,
            "[{name}] no second creation"
        );
        let r = http
            .get(format!("{base}/v1/jobs/{id}"))
            .bearer_auth(&jobs)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}] the key works after a restart");

        // (c) Revoked through the admin API, restarted with the same file: stays revoked.
        let r = http
            .delete(format!("{base}/v1/admin/keys/{jobs_id}"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "[{name}] revoke: {}", r.status());
        let r = http
            .get(format!("{base}/v1/jobs"))
            .bearer_auth(&jobs)
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] revoked at once");
        let from = server.stdout_text().len();
        let status = server.terminate(Duration::from_secs(60)).expect("stops");
        assert!(status.success(), "[{name}] {status:?}");
        server.start();
        let line = wait_log(&server, from, "bootstrap key is revoked");
        assert!(line.contains(&jobs_id), "[{name}] {line}");
        let r = http
            .get(format!("{base}/v1/jobs"))
            .bearer_auth(&jobs)
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] still revoked after a restart");
        let revoked: Vec<Value> = listed(&backend)
            .into_iter()
            .filter(|k| k["id"] == jobs_id.as_str())
            .collect();
        assert_eq!(revoked.len(), 1, "[{name}] {revoked:?}");
        assert!(revoked[0]["revoked_at"].is_i64(), "[{name}] {revoked:?}");
        let r = http
            .get(format!("{base}/v1/admin/keys"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}] the other key still works");
        let status = server.terminate(Duration::from_secs(60)).expect("stops");
        assert!(status.success(), "[{name}] {status:?}");

        // (d) A malformed line: the start fails naming the line, never the key.
        let bad_line = format!("{}x", generate("ops", "broken", &["admin"]));
        let (_, _, bad_secret) = key_of(bad_line.trim_end_matches('x'));
        let bad_file = write_keys(&dir, &format!("{admin_line}\n# next\n{bad_line}\n"));
        let (ok, text) = refused_start(
            &backend,
            &[
                "--listen",
                &listen,
                "--set",
                &format!("bootstrap_keys_file={}", bad_file.display()),
            ],
        );
        assert!(!ok, "[{name}] started with a malformed line: {text}");
        assert!(
            text.contains("line 3") && text.contains("not an API key"),
            "[{name}] {text}"
        );
        for secret in [&bad_secret, &admin_secret, &jobs_secret] {
            assert!(
                !text.contains(secret.as_str()),
                "[{name}] a key leaked: {text}"
            );
        }
        for log in [server.stdout_text(), server.log_text()] {
            for secret in [&admin_secret, &jobs_secret] {
                assert!(!log.contains(secret.as_str()), "[{name}] a key in the log");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
