//! Tenant isolation of job submission over real sockets against real `ndf serve` processes on
//! both backends:
//!
//! - `idempotency_keys_are_per_tenant`: two tenants using one `Idempotency-Key` (same body,
//!   other body, one claiming it first) each get their own job, and no answer to one tenant
//!   names a job of the other (regression: keys were global, so the second tenant got the
//!   first one's job, a 409 naming it, or blocked it).
//! - `queue_quota_is_per_tenant`: a tenant at `max_queued_jobs_per_tenant` gets 429 while
//!   another still gets 202, and the whole-queue 429 does not tell the queue's depth
//!   (regression: `max_queued_jobs` was the only bound, one tenant filled it for all, and the
//!   429 said how many jobs were queued).
//! - `storage_errors_answer_without_database_text`: a failing database gives 500 `internal`
//!   with a fixed message; the database's own error (table names, SQL) goes to the log only.

mod support;

use std::process::Command;

use support::{Opts, Server, backends, client, ndf};

/// `opts` with `--no-jobs`: nothing takes jobs off the queue.
fn no_jobs(mut opts: Opts) -> Opts {
    opts.args.push("--no-jobs".into());
    opts
}

/// A new API key of `tenant` with the job scopes (`ndf keys create`).
fn job_key(backend: &support::Backend, tenant: &str) -> String {
    let (ok, out, err) = ndf(
        backend,
        &[
            "keys",
            "create",
            "--tenant",
            tenant,
            "--name",
            "tenancy test",
            "--scope",
            "jobs:read",
            "--scope",
            "jobs:write",
        ],
    );
    assert!(ok, "ndf keys create: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("key JSON");
    assert_eq!(v["tenant"], tenant);
    v["key"].as_str().expect("the key").to_owned()
}

/// `POST /v1/jobs` as `key` with an optional Idempotency-Key: (status, body text).
fn submit(
    http: &reqwest::blocking::Client,
    server: &Server,
    key: &str,
    idempotency_key: Option<&str>,
    pdf: &[u8],
) -> (u16, String) {
    let mut req = http
        .post(server.url("/v1/jobs"))
        .bearer_auth(key)
        .header("content-type", "application/pdf")
        .body(pdf.to_vec());
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().expect("submit");
    (r.status().as_u16(), r.text().expect("body"))
}

fn id_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("job JSON");
    v["id"].as_str().expect("a job id").to_owned()
}

/// A 202 answer's job id; fails with the answer otherwise.
fn accepted(answer: (u16, String), what: &str) -> String {
    assert_eq!(answer.0, 202, "{what}: {}", answer.1);
    id_of(&answer.1)
}

#[test]
fn idempotency_keys_are_per_tenant() {
    for backend in backends("ten_idem") {
        let name = backend.name();
        let acme = job_key(&backend, "acme");
        let globex = job_key(&backend, "globex");
        let server = Server::serve(&backend, no_jobs(Opts::set(&[("workers", "1")])));
        let http = client();
        let first = ndf_testkit::text_doc(&["first body"]);
        let second = ndf_testkit::text_doc(&["second body"]);
        // Every answer to each tenant, to check afterwards that none names the other's jobs.
        let mut seen_by = [Vec::new(), Vec::new()];
        let mut send = |who: usize, key: &str, pdf: &[u8]| {
            let caller = if who == 0 { &acme } else { &globex };
            let answer = submit(&http, &server, caller, Some(key), pdf);
            seen_by[who].push(answer.1.clone());
            answer
        };

        // Same key, same body: each tenant its own job; repeating returns that tenant's job.
        let a1 = accepted(send(0, "shared-key-1", &first), name);
        let g1 = accepted(send(1, "shared-key-1", &first), name);
        assert_ne!(a1, g1, "[{name}] globex was handed acme's job");
        assert_eq!(accepted(send(0, "shared-key-1", &first), name), a1);
        assert_eq!(accepted(send(1, "shared-key-1", &first), name), g1);

        // Same key, another body: no 409 across tenants; a 409 names only the caller's job.
        let a2 = accepted(send(0, "shared-key-2", &first), name);
        let g2 = accepted(send(1, "shared-key-2", &second), name);
        assert_ne!(a2, g2);
        for (who, pdf, own) in [(0, &second, &a2), (1, &first, &g2)] {
            let (status, body) = send(who, "shared-key-2", pdf);
            assert_eq!(status, 409, "[{name}] {body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["code"], "idempotency_conflict");
            assert!(
                body.contains(own.as_str()),
                "[{name}] names the caller's job: {body}"
            );
        }

        // Claiming a key first does not take it from the other tenant.
        let g3 = accepted(send(1, "shared-key-3", &first), name);
        let a3 = accepted(send(0, "shared-key-3", &first), name);
        assert_ne!(a3, g3);
        for (key, own, other) in [(&acme, &a3, &g3), (&globex, &g3, &a3)] {
            let get = |id: &str| {
                http.get(server.url(&format!("/v1/jobs/{id}")))
                    .bearer_auth(key)
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            };
            assert_eq!(get(own), 200, "[{name}] the caller's job answers");
            assert_eq!(get(other), 404, "[{name}] the other tenant's job does not");
        }

        // No answer to one tenant names a job of the other.
        let acme_jobs = [&a1, &a2, &a3];
        let globex_jobs = [&g1, &g2, &g3];
        for (who, others) in [(0, globex_jobs), (1, acme_jobs)] {
            for answer in &seen_by[who] {
                for other in others {
                    assert!(
                        !answer.contains(other.as_str()),
                        "[{name}] an answer to one tenant names the other's job {other}: {answer}"
                    );
                }
            }
        }
        // Each tenant lists exactly its own three jobs.
        for (key, own) in [(&acme, acme_jobs), (&globex, globex_jobs)] {
            let v: serde_json::Value = http
                .get(server.url("/v1/jobs"))
                .bearer_auth(key)
                .send()
                .unwrap()
                .json()
                .unwrap();
            let mut listed: Vec<String> = v["jobs"]
                .as_array()
                .expect("jobs")
                .iter()
                .map(|j| j["id"].as_str().unwrap_or_default().to_owned())
                .collect();
            let mut want: Vec<String> = own.iter().map(|s| (*s).clone()).collect();
            listed.sort();
            want.sort();
            assert_eq!(listed, want, "[{name}]");
        }
    }
}

#[test]
fn queue_quota_is_per_tenant() {
    for backend in backends("ten_quota") {
        let name = backend.name();
        let acme = job_key(&backend, "acme");
        let globex = job_key(&backend, "globex");
        // Nothing takes jobs off the queue (`--no-jobs`): 2 per tenant, 3 in all.
        let server = Server::serve(
            &backend,
            no_jobs(Opts::set(&[
                ("workers", "1"),
                ("max_queued_jobs_per_tenant", "2"),
                ("max_queued_jobs", "3"),
            ])),
        );
        let http = client();
        let doc = |text: &str| ndf_testkit::text_doc(&[text]);
        for i in 0..2 {
            accepted(
                submit(&http, &server, &acme, None, &doc(&format!("acme {i}"))),
                name,
            );
        }
        // acme is at its quota: 429 with Retry-After, about acme's own jobs.
        let r = http
            .post(server.url("/v1/jobs"))
            .bearer_auth(&acme)
            .header("content-type", "application/pdf")
            .body(doc("acme over quota"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 429, "[{name}]");
        assert!(r.headers().contains_key("retry-after"), "[{name}]");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["code"], "queue_full", "[{name}] {v}");
        assert!(
            v["detail"].as_str().unwrap_or_default().contains("tenant"),
            "[{name}] {v}"
        );
        // globex is not blocked by acme.
        accepted(
            submit(&http, &server, &globex, None, &doc("globex 0")),
            &format!("[{name}] globex while acme is at its quota"),
        );
        // Now the whole queue (3) is full: 429, and the answer does not tell its depth.
        let r = http
            .post(server.url("/v1/jobs"))
            .bearer_auth(&globex)
            .header("content-type", "application/pdf")
            .body(doc("globex 1"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 429, "[{name}]");
        let body = r.text().unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "queue_full", "[{name}] {body}");
        assert!(
            !v["detail"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .any(|c| c.is_ascii_digit()),
            "[{name}] the 429 tells the depth of the queue: {body}"
        );
    }
}

/// Renames the job table under a running server, as a broken or half-migrated database would
/// look to it.
fn break_job_table(backend: &support::Backend) {
    match backend {
        support::Backend::Embedded { dir } => {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3, sys\n\
                     db = sqlite3.connect(sys.argv[1], timeout=30)\n\
                     db.execute('ALTER TABLE ndf_jobs RENAME TO ndf_jobs_moved')\n\
                     db.commit()\n",
                ])
                .arg(dir.join("ndf.db"))
                .output()
                .expect("python3");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        support::Backend::Scaled { store, .. } => {
            let out = Command::new("psql")
                .arg(store)
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
                .arg("ALTER TABLE ndf_jobs RENAME TO ndf_jobs_moved")
                .output()
                .expect("psql");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn storage_errors_answer_without_database_text() {
    for backend in backends("ten_500") {
        let name = backend.name();
        let key = job_key(&backend, "acme");
        let server = Server::serve(&backend, no_jobs(Opts::set(&[("workers", "1")])));
        let http = client();
        accepted(
            submit(
                &http,
                &server,
                &key,
                None,
                &ndf_testkit::text_doc(&["before"]),
            ),
            name,
        );
        break_job_table(&backend);
        let r = http
            .get(server.url("/v1/jobs"))
            .bearer_auth(&key)
            .send()
            .unwrap();
        assert_eq!(r.status(), 500, "[{name}]");
        let body = r.text().unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).expect("problem JSON");
        assert_eq!(v["code"], "internal", "[{name}] {body}");
        for leak in [
            "ndf_jobs",
            "no such table",
            "does not exist",
            "relation",
            "SELECT",
            "sqlite",
            "database error",
        ] {
            assert!(
                !body
                    .to_ascii_lowercase()
                    .contains(&leak.to_ascii_lowercase()),
                "[{name}] the 500 body quotes the database ({leak}): {body}"
            );
        }
        // The cause is in the log, whole.
        let start = std::time::Instant::now();
        loop {
            let log = format!("{}{}", server.stdout_text(), server.log_text());
            if log.contains("ndf_jobs") {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "[{name}] the log does not name the failing table:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
