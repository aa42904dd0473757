//! The audit chain of real `ndf serve` processes on both backends (embedded SQLite + directory,
//! PostgreSQL + S3), tampered with through the database's own SQL (Python's sqlite3, psql)
//! after dropping the append-only triggers, as an attacker with write access to the database
//! (but not the service's `api_key_secret`) would:
//!
//! - `tampering_and_truncation_are_reported`: records removed and the chain recomputed without
//!   the key, or under a guessed key, are reported by `ndf audit verify`; deleting the newest
//!   records is invisible without an anchor and reported against the anchor the service logged.
//! - `failed_appends_deletions_and_erasures_are_recorded`: an append the database refused is
//!   recorded by the next one (`audit_append_failed`); a job deletion that fails is recorded
//!   as `failed`, never `ok`; a tenant erasure that fails midway is recorded with its counts.
//! - `export_streams_everything_and_survives_a_closed_pipe`: `ndf audit export` has no hidden
//!   cap and ends with exit 0 when its reader goes away (`| head -1`), without a panic; `ndf
//!   audit verify` exits 0 / 1 / 2 / 3 as documented.
#![allow(clippy::print_stderr)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ndf_store::{AuditKey, AuditRecord};
use support::{Backend, Opts, Server, client};

/// `ndf ARGS…` against a backend's store (no server), with extra environment.
fn ndf(backend: &Backend, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(args).args(backend.args());
    for (k, v) in backend.env() {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run ndf")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn create_key(backend: &Backend, tenant: &str, scopes: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--tenant", tenant, "--name", "audit test"];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let out = ndf(backend, &args);
    assert!(
        out.status.success(),
        "ndf keys create: {}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    v["key"].as_str().expect("the key").to_owned()
}

/// Runs `sql` (one or more statements) in the backend's database, outside the service.
fn sql(backend: &Backend, sql: &str) {
    let out = match backend {
        Backend::Embedded { dir } => {
            let python = support::tool("python3").expect("python3 is needed for this test");
            let script = "import sqlite3, sys\n\
                 db = sqlite3.connect(sys.argv[1], timeout=30)\n\
                 db.executescript(sys.argv[2])\n\
                 db.commit()\n";
            Command::new(python)
                .args(["-c", script])
                .arg(dir.join("ndf.db"))
                .arg(sql)
                .output()
                .expect("python3")
        }
        Backend::Scaled { store, .. } => Command::new("psql")
            .arg(store)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .expect("psql"),
    };
    assert!(
        out.status.success(),
        "{sql}\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// What an attacker with DDL rights does first.
fn drop_guards(backend: &Backend) {
    sql(
        backend,
        match backend {
            Backend::Embedded { .. } => {
                "DROP TRIGGER ndf_audit_no_update; DROP TRIGGER ndf_audit_no_delete;"
            }
            Backend::Scaled { .. } => {
                "DROP TRIGGER ndf_audit_no_change ON ndf_audit; \
                 DROP TRIGGER ndf_audit_no_truncate ON ndf_audit;"
            }
        },
    );
}

/// A trigger named `name` that makes `event` (`INSERT`, `DELETE`) on `table` fail when `when`
/// (an SQL condition on `NEW`/`OLD`) holds.
fn refuse(backend: &Backend, name: &str, event: &str, table: &str, when: &str) {
    let statement = match backend {
        Backend::Embedded { .. } => format!(
            "CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {when} \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        ),
        Backend::Scaled { .. } => {
            let row = if event == "DELETE" { "OLD" } else { "NEW" };
            format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF {when} THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN {row}; \
                 END $$; CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW \
                 EXECUTE FUNCTION {name}();"
            )
        }
    };
    sql(backend, &statement);
}

fn allow(backend: &Backend, name: &str, table: &str) {
    sql(
        backend,
        &match backend {
            Backend::Embedded { .. } => format!("DROP TRIGGER {name};"),
            Backend::Scaled { .. } => {
                format!("DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}();")
            }
        },
    );
}

/// Every record, through `ndf audit export`.
fn export(backend: &Backend) -> Vec<AuditRecord> {
    let out = ndf(backend, &["audit", "export"]);
    assert!(out.status.success(), "export: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `ndf audit verify ARGS…`: (exit code, report, stderr).
fn verify(backend: &Backend, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut all = vec!["audit", "verify"];
    all.extend_from_slice(args);
    let out = ndf(backend, &all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), report, text(&out.stderr))
}

fn problem_kinds(report: &serde_json::Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| p["kind"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn sql_text(value: Option<&str>) -> String {
    value.map_or_else(
        || "NULL".to_owned(),
        |v| format!("'{}'", v.replace('\'', "''")),
    )
}

/// Replaces the whole table with `records`, as they are.
fn rewrite_log(backend: &Backend, records: &[AuditRecord]) {
    let mut statements = String::from("DELETE FROM ndf_audit;");
    for r in records {
        statements.push_str(&format!(
            "INSERT INTO ndf_audit (seq, at, actor, action, tenant, target, outcome, detail, \
             prev_hash, key_id, hash) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
            r.seq,
            r.at,
            sql_text(Some(&r.actor)),
            sql_text(Some(&r.action)),
            sql_text(r.tenant.as_deref()),
            sql_text(r.target.as_deref()),
            sql_text(Some(&r.outcome)),
            sql_text(Some(&r.detail.to_string())),
            sql_text(Some(&r.prev_hash)),
            sql_text(r.key_id.as_deref()),
            sql_text(Some(&r.hash)),
        ));
    }
    sql(backend, &statements);
}

/// The anchors (`ndf-audit-anchor:1:…`) in a log text, in order.
fn anchors_in(log: &str) -> Vec<String> {
    const PREFIX: &str = "ndf-audit-anchor:1:";
    let mut found = Vec::new();
    let mut rest = log;
    while let Some(i) = rest.find(PREFIX) {
        let tail = &rest[i + PREFIX.len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_hexdigit() || c == ':'))
            .unwrap_or(tail.len());
        found.push(format!("{PREFIX}{}", &tail[..end]));
        rest = &tail[end..];
    }
    found
}

fn anchor_seq(anchor: &str) -> i64 {
    anchor
        .split(':')
        .nth(3)
        .and_then(|s| s.parse().ok())
        .expect("anchor seq")
}

/// Submits a one-page job as `key` and waits until it is finished.
fn finished_job(http: &reqwest::blocking::Client, server: &Server, key: &str) -> String {
    let r = http
        .post(server.url("/v1/jobs"))
        .bearer_auth(key)
        .header("content-type", "application/pdf")
        .body(ndf_testkit::text_doc(&["audited page"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202, "{}", server.log_text());
    let v: serde_json::Value = r.json().unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let v: serde_json::Value = http
            .get(server.url(&format!("/v1/jobs/{id}")))
            .bearer_auth(key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if v["state"] == "succeeded" {
            return id;
        }
        assert!(
            !matches!(v["state"].as_str(), Some("failed" | "cancelled")),
            "{v}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "job {id} did not finish: {v}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server logging at info (anchors are info lines), anchoring every `interval_ms`.
fn info_log(interval_ms: &str) -> Opts {
    let mut opts = Opts::set(&[("workers", "1"), ("audit_anchor_interval_ms", interval_ms)]);
    opts.env.push(("NDF_LOG".into(), "info".into()));
    opts
}

/// Waits (up to 30 s) until `server` logged an anchor of `seq` or later; returns them all.
fn wait_anchor(server: &Server, seq: i64) -> Vec<String> {
    let start = Instant::now();
    loop {
        let anchors = anchors_in(&server.stdout_text());
        if anchors.iter().any(|a| anchor_seq(a) >= seq) {
            return anchors;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no anchor of seq {seq} logged: {anchors:?}\n{}",
            server.stdout_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tampering_and_truncation_are_reported() {
    for backend in support::backends("audit_tamper") {
        let name = backend.name();
        let key = create_key(&backend, "acme", &["extract", "jobs:read", "jobs:write"]);
        // Anchors only at start and at shutdown.
        let mut server = Server::serve(&backend, info_log("0"));
        // At start: the head is the service's start record (after the key's, seq 1).
        let at_start = wait_anchor(&server, 2);
        assert_eq!(
            at_start.iter().map(|a| anchor_seq(a)).collect::<Vec<_>>(),
            [2]
        );
        let http = client();
        let id = finished_job(&http, &server, &key);
        let r = http
            .get(server.url(&format!("/v1/jobs/{id}/result")))
            .bearer_auth(&key)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = http
            .delete(server.url(&format!("/v1/jobs/{id}")))
            .bearer_auth(&key)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
        // At shutdown: the head after the deletion (seq 5: key, start, created, read,
        // deleted), logged before the process exits.
        server.terminate(Duration::from_secs(30));
        let logged = wait_anchor(&server, 5);
        let anchor = logged.last().expect("an anchor").clone();

        let records = export(&backend);
        assert!(records.len() >= 5, "{name}: {records:?}");
        assert!(
            records.iter().all(|r| r.key_id.is_some()),
            "{name}: every record is keyed: {records:?}"
        );
        let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
        for action in ["key_created", "job_created", "job_read", "job_deleted"] {
            assert!(actions.contains(&action), "{name}: {actions:?}");
        }
        let (code, report, err) = verify(&backend, &[]);
        assert_eq!(code, 0, "{name}: {report}\n{err}");
        let fresh = report["anchor"].as_str().expect("verify prints an anchor");
        assert_eq!(anchor_seq(fresh), records.last().unwrap().seq);
        let (code, report, err) = verify(&backend, &["--anchor", &anchor, "--anchor", fresh]);
        assert_eq!(code, 0, "{name}: {report}\n{err}");
        assert_eq!(report["anchors_checked"], 2, "{name}: {report}");

        // The newest records removed: a valid shorter chain without the anchor...
        drop_guards(&backend);
        let cut = anchor_seq(&anchor);
        assert!(cut >= 2, "{name}: {anchor}");
        sql(
            &backend,
            &format!("DELETE FROM ndf_audit WHERE seq >= {cut}"),
        );
        let (code, report, err) = verify(&backend, &[]);
        assert_eq!(
            code, 0,
            "{name}: the limit without an anchor: {report}\n{err}"
        );
        // ...and truncation against the service's anchor.
        let (code, report, err) = verify(&backend, &["--anchor", &anchor]);
        assert_eq!(code, 1, "{name}: {report}\n{err}");
        assert_eq!(problem_kinds(&report), ["truncated"], "{name}: {report}");
        assert!(report["anchor"].is_null(), "{name}: no anchor of a bad log");

        // The red team's attack: a record removed, the rest renumbered, the chain recomputed
        // without the key.
        let mut forged = records.clone();
        forged.remove(1);
        let unused = AuditKey::from_bytes([0; 32]);
        let mut prev = ndf_store::GENESIS_HASH.to_owned();
        for (i, record) in forged.iter_mut().enumerate() {
            record.seq = i64::try_from(i).unwrap() + 1;
            record.prev_hash.clone_from(&prev);
            record.key_id = None;
            record.hash = record.compute_hash(&unused).unwrap();
            prev.clone_from(&record.hash);
        }
        rewrite_log(&backend, &forged);
        let (code, report, err) = verify(&backend, &[]);
        assert_eq!(code, 1, "{name}: {report}\n{err}");
        assert_eq!(problem_kinds(&report), ["unkeyed"], "{name}: {report}");
        let (code, report, _) = verify(&backend, &["--anchor", fresh]);
        assert_eq!(code, 1, "{name}: {report}");
        assert!(
            problem_kinds(&report).contains(&"truncated".to_owned()),
            "{name}: {report}"
        );
        // The same with keyed-looking records under a guessed key.
        let guessed = AuditKey::derive(b"a guess at the api_key_secret").unwrap();
        let mut prev = ndf_store::GENESIS_HASH.to_owned();
        let key_id = records[0].key_id.clone();
        for record in &mut forged {
            record.prev_hash.clone_from(&prev);
            record.key_id.clone_from(&key_id);
            record.hash = record.compute_hash(&guessed).unwrap();
            prev.clone_from(&record.hash);
        }
        rewrite_log(&backend, &forged);
        let (code, report, err) = verify(&backend, &[]);
        assert_eq!(code, 1, "{name}: {report}\n{err}");
        let kinds = problem_kinds(&report);
        assert_eq!(kinds.len(), forged.len(), "{name}: {report}");
        assert!(kinds.iter().all(|k| k == "edited"), "{name}: {report}");
        // Put back exactly what was there: clean again (the checks are not just noise).
        rewrite_log(&backend, &records);
        let (code, report, err) = verify(&backend, &["--anchor", &anchor, "--anchor", fresh]);
        assert_eq!(code, 0, "{name}: {report}\n{err}");
    }
}

#[test]
fn failed_appends_deletions_and_erasures_are_recorded() {
    for backend in support::backends("audit_outcomes") {
        let name = backend.name();
        let key = create_key(&backend, "acme", &["extract", "jobs:read", "jobs:write"]);
        let admin = create_key(&backend, "ops", &["admin"]);
        let server = Server::serve(&backend, info_log("100"));
        // The start anchor (two keys, then the start record), before any request: the anchor
        // task runs beside the listener, so a request sent earlier could be in its head.
        let at_start = wait_anchor(&server, 3);
        assert_eq!(anchor_seq(&at_start[0]), 3, "{name}: {at_start:?}");
        let http = client();
        let first = finished_job(&http, &server, &key);
        let second = finished_job(&http, &server, &key);

        // The database refuses the job_read record: the read still succeeds.
        refuse(
            &backend,
            "refuse_reads",
            "INSERT",
            "ndf_audit",
            "NEW.action = 'job_read'",
        );
        for _ in 0..2 {
            let r = http
                .get(server.url(&format!("/v1/jobs/{first}/result")))
                .bearer_auth(&key)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{name}");
        }
        allow(&backend, "refuse_reads", "ndf_audit");

        // The database refuses to delete the job rows: the deletion fails.
        refuse(
            &backend,
            "refuse_deletes",
            "DELETE",
            "ndf_jobs",
            "OLD.tenant = 'acme'",
        );
        let r = http
            .delete(server.url(&format!("/v1/jobs/{first}")))
            .bearer_auth(&key)
            .send()
            .unwrap();
        assert!(!r.status().is_success(), "{name}: {}", r.status());
        let r = http
            .delete(server.url("/v1/tenants/acme/data"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert!(!r.status().is_success(), "{name}: {}", r.status());

        let records = export(&backend);
        let failed: Vec<&AuditRecord> = records
            .iter()
            .filter(|r| r.action == "audit_append_failed")
            .collect();
        assert_eq!(failed.len(), 1, "{name}: {records:?}");
        assert_eq!(failed[0].outcome, "failed");
        assert_eq!(failed[0].detail["events"], 2, "{name}: {:?}", failed[0]);
        assert_eq!(failed[0].detail["actions"]["job_read"], 2, "{name}");
        let target = format!("job:{first}");
        let deletions: Vec<&AuditRecord> = records
            .iter()
            .filter(|r| r.action == "job_deleted" && r.target.as_deref() == Some(&target))
            .collect();
        assert_eq!(deletions.len(), 1, "{name}: {records:?}");
        assert_eq!(deletions[0].outcome, "failed", "{name}: {:?}", deletions[0]);
        assert!(deletions[0].detail["error"].is_string(), "{name}");
        let erasures: Vec<&AuditRecord> = records
            .iter()
            .filter(|r| r.action == "tenant_erased")
            .collect();
        assert_eq!(erasures.len(), 1, "{name}: {records:?}");
        assert_eq!(erasures[0].outcome, "failed", "{name}: {:?}", erasures[0]);
        assert_eq!(erasures[0].tenant.as_deref(), Some("acme"));
        assert_eq!(erasures[0].detail["jobs_erased"], 0, "{name}");
        assert_eq!(erasures[0].detail["complete"], false, "{name}");

        // Allowed again: the deletion and the erasure succeed and say so.
        allow(&backend, "refuse_deletes", "ndf_jobs");
        let r = http
            .delete(server.url(&format!("/v1/jobs/{second}")))
            .bearer_auth(&key)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "{name}");
        let r = http
            .delete(server.url("/v1/tenants/acme/data"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let records = export(&backend);
        let ok_deletion = records.iter().any(|r| {
            r.action == "job_deleted"
                && r.outcome == "ok"
                && r.target.as_deref() == Some(&format!("job:{second}"))
        });
        assert!(ok_deletion, "{name}: {records:?}");
        let ok_erasure = records
            .iter()
            .find(|r| r.action == "tenant_erased" && r.outcome == "ok");
        let ok_erasure = ok_erasure.unwrap_or_else(|| panic!("{name}: {records:?}"));
        assert_eq!(ok_erasure.detail["complete"], true, "{name}");
        let (code, report, err) = verify(&backend, &[]);
        assert_eq!(code, 0, "{name}: {report}\n{err}");
        // While it runs, the service anchors the head as it changes (every 100 ms here).
        let head = records.last().map(|r| r.seq).unwrap_or_default();
        let anchors = wait_anchor(&server, head);
        // The start anchor still first and, the server still running, a periodic one of the
        // head.
        assert_eq!(anchors[0], at_start[0], "{name}: {anchors:?}");
        assert!(
            anchors.iter().any(|a| anchor_seq(a) == head),
            "{name}: {anchors:?}"
        );
        let (code, report, err) = verify(&backend, &["--anchor", anchors.last().unwrap()]);
        assert_eq!(code, 0, "{name}: {report}\n{err}");
        drop(server);
    }
}

#[test]
fn export_streams_everything_and_survives_a_closed_pipe() {
    for backend in support::backends("audit_export") {
        let name = backend.name();
        create_key(&backend, "acme", &["extract"]);
        // Ten thousand and one records more (written directly: the export does not verify),
        // each with a detail large enough that the output outgrows any pipe buffer.
        let pad = "p".repeat(200);
        let fill = match backend {
            Backend::Embedded { .. } => format!(
                "WITH RECURSIVE n(x) AS (SELECT 1000000 UNION ALL SELECT x + 1 FROM n \
                 WHERE x < 1010000) INSERT INTO ndf_audit (seq, at, actor, action, outcome, \
                 detail, prev_hash, hash) SELECT x, x, 'filler', 'admin_action', 'ok', \
                 '{{\"pad\":\"{pad}\"}}', '{z}', '{z}' FROM n;",
                z = "0".repeat(64)
            ),
            Backend::Scaled { .. } => format!(
                "INSERT INTO ndf_audit (seq, at, actor, action, outcome, detail, prev_hash, \
                 hash) SELECT x, x, 'filler', 'admin_action', 'ok', '{{\"pad\":\"{pad}\"}}', \
                 '{z}', '{z}' FROM generate_series(1000000, 1010000) AS x;",
                z = "0".repeat(64)
            ),
        };
        sql(&backend, &fill);

        // Every record, one query per record: far more pages than any cap would allow.
        let out = ndf(&backend, &["audit", "export", "--page-size", "1"]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let lines = text(&out.stdout).lines().count();
        assert_eq!(lines, 10_002, "{name}");
        let err = text(&out.stderr);
        let head_anchor = anchors_in(&err);
        assert_eq!(head_anchor.len(), 1, "{name}: the head's anchor: {err}");
        // `ndf-audit-anchor:1:KEYID:…`: the id of this configuration's audit key.
        let configured_id = head_anchor[0]
            .strip_prefix("ndf-audit-anchor:1:")
            .and_then(|rest| rest.split(':').next())
            .unwrap()
            .to_owned();

        // `ndf audit export | head -1`.
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
        cmd.args(["audit", "export"]).args(backend.args());
        for (k, v) in backend.env() {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ndf");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        assert!(first.starts_with('{'), "{name}: {first}");
        // The reader is gone (dropped above); the writer must end quietly.
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert!(out.status.success(), "{name}: {:?} {err}", out.status);
        assert!(!err.contains("panicked"), "{name}: {err}");

        // verify: 1 for the forged filler, 2 for a bad anchor or no key, 3 when unreadable.
        let (code, report, err) = verify(&backend, &[]);
        assert_eq!(code, 1, "{name}: {report}\n{err}");
        let (code, _, err) = verify(&backend, &["--anchor", "ndf-audit-anchor:1:nonsense"]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains("anchor"), "{name}: {err}");
        let other = AuditKey::derive(b"another api_key_secret").unwrap();
        assert_ne!(other.id(), configured_id, "{name}");
        let other_key = ndf_store::anchor_token(
            &ndf_store::ChainHead {
                seq: 1,
                hash: "0".repeat(64),
            },
            &other,
        );
        let (code, _, err) = verify(&backend, &["--anchor", &other_key]);
        assert_eq!(code, 2, "{name}: {err}");
        assert_eq!(
            err.trim_end(),
            format!(
                "ndf: error: anchor from --anchor: the anchor was made with audit key {}, \
                 this configuration's key is {configured_id}",
                other.id()
            ),
            "{name}"
        );
        let out = match &backend {
            Backend::Embedded { dir } => {
                let secret = dir.join("api-key-secret");
                let aside = dir.join("api-key-secret.aside");
                std::fs::rename(&secret, &aside).unwrap();
                let out = ndf(&backend, &["audit", "verify"]);
                std::fs::rename(&aside, &secret).unwrap();
                out
            }
            Backend::Scaled { store, blobs, .. } => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
                cmd.args(["audit", "verify", "--store", store, "--blobs", blobs]);
                for (k, v) in backend.env() {
                    if k != "NDF_API_KEY_SECRET" {
                        cmd.env(k, v);
                    }
                }
                cmd.env_remove("NDF_API_KEY_SECRET");
                cmd.stdin(Stdio::null()).output().unwrap()
            }
        };
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("no audit key"), "{name}");
    }
    // A database that cannot be reached (nothing listens on port 1).
    let out = Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args([
            "audit",
            "verify",
            "--store",
            "postgres://ndf@127.0.0.1:1/none",
        ])
        .env(
            "NDF_API_KEY_SECRET",
            "a secret of sixteen characters or more",
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[test]
fn an_external_store_without_api_key_secret_refuses_to_start() {
    let Some(Backend::Scaled {
        store,
        blobs,
        s3_env,
    }) = support::scaled("audit_nokey")
    else {
        // `scaled` panics instead when NDF_REQUIRE_SERVICES=1 (the test command).
        return;
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--store",
        &store,
        "--blobs",
        &blobs,
    ]);
    for (k, v) in &s3_env {
        if k != "NDF_API_KEY_SECRET" {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("NDF_API_KEY_SECRET");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ndf");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ndf serve without api_key_secret did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = text(&child.wait_with_output().unwrap().stderr);
    assert!(!status.success(), "{err}");
    assert!(err.contains("api_key_secret"), "{err}");
}
