//! Authentication of the service over real sockets on both backends (embedded SQLite +
//! directory; PostgreSQL + S3 when `scripts/services.sh start` runs them):
//!
//! - `open_mode_is_loopback_only_never_admin_and_never_returns_after_keys_existed`: open mode
//!   only while the store never held a key; no admin route or tenant erasure without a real
//!   admin key; loopback Host names only (421 otherwise, DNS rebinding); revoking every key
//!   locks the API (401), also after a restart; every change of mode is logged.
//! - `insecure_no_auth_never_serves_admin_routes`: behind a gateway nobody mints the first key.
//! - `admin_listener_refuses_unspecified_and_public_addresses`: `admin_listen=0.0.0.0:0`
//!   refuses to start without `admin_listen_allow_public`, and starts with it.
//! - `failed_authentication_is_limited_per_source_and_aggregated`: 500 bad keys from one
//!   address add at most a few audit records (first failure + summary, all counted), the
//!   address then gets 429 with Retry-After, valid keys keep working; the per-window cap folds
//!   many sources into one record.
//! - `revocation_here_is_immediate_and_the_bearer_scheme_is_case_insensitive`.

#![allow(clippy::print_stderr)]

mod support;

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Backend, Opts, Server, backends, client, ndf};

/// `ndf keys create`: (id, key).
fn create_key(backend: &Backend, tenant: &str, scopes: &[&str]) -> (String, String) {
    let mut args = vec!["keys", "create", "--tenant", tenant, "--name", "auth test"];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let (ok, out, err) = ndf(backend, &args);
    assert!(ok, "ndf keys create: {err}");
    let v: Value = serde_json::from_str(&out).expect("key JSON");
    (
        v["id"].as_str().expect("id").to_owned(),
        v["key"].as_str().expect("key").to_owned(),
    )
}

/// The `auth_failed` records of the audit log (`ndf audit export`).
fn auth_failed(backend: &Backend) -> Vec<Value> {
    let (ok, out, err) = ndf(backend, &["audit", "export"]);
    assert!(ok, "ndf audit export: {err}");
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["action"] == "auth_failed")
        .collect()
}

/// Records of one source, and the refusals they count (`failures` + `throttled`).
fn of_source<'a>(records: &'a [Value], source: &str) -> (Vec<&'a Value>, u64) {
    let mine: Vec<&Value> = records
        .iter()
        .filter(|r| r["detail"]["source"] == source)
        .collect();
    let counted = mine
        .iter()
        .map(|r| {
            r["detail"]["failures"].as_u64().expect("failures")
                + r["detail"]["throttled"].as_u64().expect("throttled")
        })
        .sum();
    (mine, counted)
}

fn code(r: reqwest::blocking::Response) -> String {
    let v: Value = r.json().expect("problem JSON");
    v["code"].as_str().unwrap_or_default().to_owned()
}

/// Wait up to 30 s for a log line (JSON, on stdout) after byte `from` whose message starts
/// with `needle`; returns the line.
fn wait_log(server: &Server, from: usize, needle: &str) -> Value {
    let start = Instant::now();
    loop {
        let out = server.stdout_text();
        let found = out.get(from..).and_then(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["message"].as_str().is_some_and(|m| m.starts_with(needle)))
        });
        if let Some(line) = found {
            return line;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {needle:?} in the log:\n{}",
            out.get(from..).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn info_log(pairs: &[(&str, &str)]) -> Opts {
    let mut o = Opts::set(pairs);
    o.env.push(("NDF_LOG".into(), "info".into()));
    o
}

fn port(server: &Server) -> String {
    server.base.rsplit(':').next().expect("port").to_owned()
}

#[test]
fn open_mode_is_loopback_only_never_admin_and_never_returns_after_keys_existed() {
    for backend in backends("auth_open") {
        let name = backend.name();
        let mut server = Server::serve(&backend, info_log(&[("workers", "1")]));
        let http = client();
        let port = port(&server);
        assert_eq!(
            wait_log(&server, 0, "auth mode: open")["level"],
            "WARN",
            "[{name}]"
        );
        assert_eq!(
            http.get(server.url("/v1/jobs")).send().unwrap().status(),
            200,
            "[{name}] open on loopback"
        );

        // No admin route and no tenant erasure without a real admin key, even in open mode.
        let r = http.get(server.url("/v1/admin/keys")).send().unwrap();
        assert_eq!(r.status(), 401, "[{name}] list keys");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = http
            .post(server.url("/v1/admin/keys"))
            .json(&serde_json::json!({"tenant": "victim", "name": "backdoor", "scopes": ["admin"]}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] mint a key");
        assert_eq!(code(r), "unauthorized");
        let r = http
            .delete(server.url("/v1/tenants/default/data"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] erase a tenant");

        // DNS rebinding: a page of another origin that resolves to 127.0.0.1 sends its own
        // Host name; open mode answers only loopback names.
        for host in [format!("rebind.example:{port}"), "example.com".to_owned()] {
            let r = http
                .get(server.url("/v1/jobs"))
                .header("host", &host)
                .send()
                .unwrap();
            assert_eq!(r.status(), 421, "[{name}] Host {host}");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
            assert_eq!(code(r), "misdirected_request");
        }
        for host in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ] {
            let r = http
                .get(server.url("/v1/jobs"))
                .header("host", &host)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "[{name}] Host {host}");
        }

        // The first key (from the CLI, straight to the store) ends open mode: once this
        // replica has seen it work, at once.
        let (admin_id, admin) = create_key(&backend, "acme", &["admin"]);
        let (user_id, user) = create_key(&backend, "acme", &["jobs:read"]);
        let before = server.stdout_text().len();
        let r = http
            .get(server.url("/v1/jobs"))
            .bearer_auth(&user)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}]");
        assert_eq!(
            http.get(server.url("/v1/jobs")).send().unwrap().status(),
            401,
            "[{name}] keys exist"
        );
        wait_log(&server, before, "auth mode: keys required");
        let r = http
            .get(server.url("/v1/admin/keys"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}] a real admin key works");

        // Revoking every key locks the API instead of reopening it.
        let before = server.stdout_text().len();
        for id in [&user_id, &admin_id] {
            let r = http
                .delete(server.url(&format!("/v1/admin/keys/{id}")))
                .bearer_auth(&admin)
                .send()
                .unwrap();
            assert_eq!(r.status(), 204, "[{name}] revoke {id}");
        }
        let line = wait_log(&server, before, "auth mode: locked");
        assert_eq!(line["level"], "ERROR", "[{name}] {line}");
        assert!(
            line["message"]
                .as_str()
                .is_some_and(|m| m.contains("ndf keys create")),
            "[{name}] the log says how to recover: {line}"
        );
        for path in ["/v1/jobs", "/v1/admin/keys"] {
            let r = http.get(server.url(path)).send().unwrap();
            assert_eq!(r.status(), 401, "[{name}] {path} locked");
        }
        // Also after a restart (the old rule decided by active keys: open again).
        let before = server.stdout_text().len();
        server.kill();
        server.start();
        let line = wait_log(&server, before, "auth mode: locked");
        assert_eq!(line["level"], "ERROR", "[{name}] after a restart: {line}");
        let r = http.get(server.url("/v1/jobs")).send().unwrap();
        assert_eq!(r.status(), 401, "[{name}] locked after a restart");
        assert!(
            code(r) == "unauthorized",
            "[{name}] locked answers unauthorized"
        );
        let r = http
            .post(server.url("/v1/admin/keys"))
            .json(&serde_json::json!({"tenant": "victim", "name": "backdoor", "scopes": ["admin"]}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] no backdoor after a restart");

        // Recovery, as the log says: `ndf keys create`.
        let before = server.stdout_text().len();
        let (_, fresh) = create_key(&backend, "acme", &["jobs:read"]);
        let r = http
            .get(server.url("/v1/jobs"))
            .bearer_auth(&fresh)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}] a new key works");
        wait_log(&server, before, "auth mode: keys required");
        assert_eq!(
            http.get(server.url("/v1/jobs")).send().unwrap().status(),
            401,
            "[{name}] still no open mode"
        );
    }
}

#[test]
fn insecure_no_auth_never_serves_admin_routes() {
    for backend in backends("auth_insecure") {
        let name = backend.name();
        let mut opts = Opts::set(&[("workers", "1"), ("insecure_no_auth", "true")]);
        opts.listen = Some("0.0.0.0:0".into());
        let server = Server::serve(&backend, opts);
        let http = client();
        let base = format!("http://127.0.0.1:{}", port(&server));
        // Any client behind the gateway could mint the first key and lock the gateway out.
        let r = http
            .post(format!("{base}/v1/admin/keys"))
            .json(&serde_json::json!({"tenant": "acme", "name": "lockout", "scopes": ["admin"]}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] no key minted without a key");
        let r = http
            .delete(format!("{base}/v1/tenants/default/data"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] no erasure without a key");
        // The gateway sets the Host to its own name: not checked under --insecure-no-auth.
        let r = http
            .get(format!("{base}/v1/jobs"))
            .header("host", "api.gateway.example")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}] jobs behind the gateway");
        let (ok, listed, _) = ndf(&backend, &["keys", "list"]);
        assert!(ok);
        assert!(!listed.contains("lockout"), "[{name}] {listed}");
    }
}

/// Run `ndf ARGS…` (a server that should refuse to start) for at most 60 s: (exited by
/// itself with success, stderr). A process still running after 60 s is killed and reported
/// as `None`.
fn refuses(backend: &Backend, args: &[&str]) -> Option<(bool, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(args).args(backend.args());
    for (k, v) in backend.env() {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ndf");
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return Some((status.success(), err));
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn admin_listener_refuses_unspecified_and_public_addresses() {
    for backend in backends("auth_admin") {
        let name = backend.name();
        for args in [
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--set",
                "admin_listen=0.0.0.0:0",
            ][..],
            &["worker", "--set", "admin_listen=[::]:0"][..],
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--set",
                "admin_listen=8.8.8.8:0",
            ][..],
        ] {
            let outcome = refuses(&backend, args);
            let Some((ok, err)) = outcome else {
                panic!("[{name}] {args:?} started instead of refusing");
            };
            assert!(!ok, "[{name}] {args:?}");
            assert!(
                err.contains("refusing admin_listen") && err.contains("admin_listen_allow_public"),
                "[{name}] {args:?}: {err}"
            );
        }
        // Forced: it starts, and the admin listener answers on every address.
        let server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("admin_listen", "0.0.0.0:0"),
                ("admin_listen_allow_public", "true"),
            ]),
        );
        let admin = server.admin_url("");
        let admin_port = admin.rsplit(':').next().expect("admin port");
        let r = client()
            .get(format!("http://127.0.0.1:{admin_port}/healthz"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}]");
    }
}

/// A client whose requests come from `ip` (any 127.0.0.0/8 address works on loopback).
fn client_from(ip: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .local_address(ip.parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

/// A well-formed key that no store holds (`i` makes each one different).
fn unknown_key(i: u64) -> String {
    format!("ndf_{:012x}_{}", 0xbad0_0000_u64 + i, "5".repeat(64))
}

#[test]
fn failed_authentication_is_limited_per_source_and_aggregated() {
    const N: u64 = 500;
    const LIMIT: u64 = 20;
    for backend in backends("auth_fail") {
        let name = backend.name();
        let mut server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("auth_failure_limit", "20"),
                ("auth_failure_window_ms", "600000"),
            ]),
        );
        let (_, key) = create_key(&backend, "acme", &["jobs:read"]);
        let good = client_from("127.0.0.1");
        let attacker = client_from("127.0.0.2");
        let ok = |c: &reqwest::blocking::Client| {
            c.get(server.url("/v1/jobs"))
                .bearer_auth(&key)
                .send()
                .unwrap()
                .status()
        };
        assert_eq!(ok(&good), 200, "[{name}]");
        assert!(auth_failed(&backend).is_empty(), "[{name}] clean start");

        let mut statuses = Vec::new();
        for i in 0..N {
            let r = attacker
                .get(server.url("/v1/jobs"))
                .bearer_auth(unknown_key(i))
                .send()
                .unwrap();
            let status = r.status().as_u16();
            if status == 429 {
                let wait: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=601).contains(&wait), "[{name}] Retry-After {wait}");
                assert_eq!(code(r), "too_many_auth_failures");
            }
            statuses.push(status);
            if i % 100 == 99 {
                assert_eq!(ok(&good), 200, "[{name}] valid keys work meanwhile");
            }
        }
        let first = usize::try_from(LIMIT).unwrap();
        assert!(
            statuses[..first].iter().all(|s| *s == 401),
            "[{name}] {:?}",
            &statuses[..first]
        );
        assert!(
            statuses[first..].iter().all(|s| *s == 429),
            "[{name}] after the limit: 429"
        );
        // Without a key too; a key this replica verified still works from that address.
        let r = attacker.get(server.url("/v1/jobs")).send().unwrap();
        assert_eq!(r.status(), 429, "[{name}]");
        assert_eq!(
            ok(&attacker),
            200,
            "[{name}] verified key from a blocked address"
        );

        // The audit log grew by one record, not 501.
        let records = auth_failed(&backend);
        let (mine, _) = of_source(&records, "127.0.0.2");
        assert_eq!(mine.len(), 1, "[{name}] {records:?}");
        assert_eq!(records.len(), 1, "[{name}] {records:?}");
        // On shutdown the window's summary holds the count of the rest.
        assert!(server.terminate(Duration::from_secs(60)).is_some());
        let records = auth_failed(&backend);
        let (mine, counted) = of_source(&records, "127.0.0.2");
        assert_eq!(
            mine.len(),
            2,
            "[{name}] first failure + summary: {records:?}"
        );
        assert_eq!(
            counted,
            N + 1,
            "[{name}] every refusal counted: {records:?}"
        );

        // The per-window cap: 20 sources, one failure each, at most 3 records + one record
        // for what the cap left out.
        server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("auth_failure_audit_max", "3"),
                ("auth_failure_window_ms", "600000"),
            ]),
        );
        for i in 10..30 {
            let r = client_from(&format!("127.0.0.{i}"))
                .get(server.url("/v1/jobs"))
                .bearer_auth(unknown_key(1_000 + i))
                .send()
                .unwrap();
            assert_eq!(r.status(), 401, "[{name}]");
        }
        let before = records.len();
        assert_eq!(auth_failed(&backend).len(), before + 3, "[{name}] the cap");
        assert!(server.terminate(Duration::from_secs(60)).is_some());
        let after = auth_failed(&backend);
        let added = &after[before..];
        assert_eq!(added.len(), 4, "[{name}] {added:?}");
        let counted: u64 = added
            .iter()
            .map(|r| r["detail"]["failures"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, 20, "[{name}] nothing lost: {added:?}");
        assert_eq!(added[3]["detail"]["source"], "*", "[{name}] {added:?}");
        assert_eq!(added[3]["detail"]["records_folded"], 17, "[{name}]");
    }
}

#[test]
fn revocation_here_is_immediate_and_the_bearer_scheme_is_case_insensitive() {
    for backend in backends("auth_revoke") {
        let name = backend.name();
        // Keys before the start: the replica requires them from its first request.
        let (_, admin) = create_key(&backend, "acme", &["admin"]);
        let (user_id, user) = create_key(&backend, "acme", &["jobs:read"]);
        let server = Server::serve(&backend, Opts::set(&[("workers", "1")]));
        let http = client();
        assert_eq!(
            http.get(server.url("/v1/jobs")).send().unwrap().status(),
            401,
            "[{name}] keys required"
        );
        // RFC 9110 §11.1: the scheme is case-insensitive.
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let r = http
                .get(server.url("/v1/jobs"))
                .header("authorization", format!("{scheme} {user}"))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "[{name}] {scheme}");
        }
        // The key is now cached by this replica; revoking it here takes effect at once.
        let r = http
            .delete(server.url(&format!("/v1/admin/keys/{user_id}")))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "[{name}]");
        let r = http
            .get(server.url("/v1/jobs"))
            .bearer_auth(&user)
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "[{name}] revoked here: refused at once");
    }
}
