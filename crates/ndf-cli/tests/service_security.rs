//! Security of the service over real sockets against real `ndf serve` processes:
//!
//! - `tls_1_3_works_old_versions_are_refused_and_certificates_reload`: TLS 1.3 and 1.2
//!   handshakes succeed, TLS 1.0 / 1.1 are refused, a replaced certificate is served without a
//!   restart; mutual TLS refuses a client without a certificate.
//! - `webhooks_to_private_addresses_are_refused`: SSRF checks on `callback_url`, by literal
//!   address and after DNS resolution.
//!
//! Certificates are made by the `openssl` command (Debian package `openssl`, installed by the
//! test command); the TLS version checks use `openssl s_client` as an independent client.
#![allow(clippy::print_stderr, clippy::disallowed_methods)] // reads the certificates it wrote

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Opts, Server, client, embedded, tool, wait_job};

/// `openssl s_client` against the server with extra flags: (handshake ok, its output).
fn s_client(openssl: &Path, addr: &str, ca: &Path, flags: &[&str]) -> (bool, String) {
    let out = Command::new(openssl)
        .args(["s_client", "-connect", addr, "-CAfile"])
        .arg(ca)
        .args(["-verify_return_error", "-brief"])
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("CONNECTION ESTABLISHED"),
        text,
    )
}

#[test]
fn tls_1_3_works_old_versions_are_refused_and_certificates_reload() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = support::scratch("sec_tls_certs");
    support::make_certs(&openssl, &dir, "first.ndf.test");
    let cert = dir.join("server.pem").display().to_string();
    let key = dir.join("server.key").display().to_string();
    let server = Server::serve(
        &embedded("sec_tls"),
        Opts::set(&[
            ("workers", "1"),
            ("tls_cert_file", &cert),
            ("tls_key_file", &key),
        ]),
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let addr = server.base.trim_start_matches("https://").to_owned();
    let ca = dir.join("ca.pem");

    // An ordinary HTTPS client that trusts the test CA.
    let ca_pem = std::fs::read(&ca).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = http
        .get(server.url("/healthz"))
        .send()
        .expect("https request");
    assert_eq!(r.status(), 200);
    let r = http
        .post(server.url("/v1/extract?format=text"))
        .header("content-type", "application/pdf")
        .body(ndf_testkit::text_doc(&["over tls"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("over tls"));
    // Plain HTTP on the TLS port gets no answer.
    assert!(
        client()
            .get(server.url("/healthz").replace("https://", "http://"))
            .send()
            .is_err()
    );

    let (ok, text) = s_client(&openssl, &addr, &ca, &["-tls1_3"]);
    assert!(ok && text.contains("TLSv1.3"), "TLS 1.3 handshake: {text}");
    let (ok, text) = s_client(&openssl, &addr, &ca, &["-tls1_2"]);
    assert!(ok && text.contains("TLSv1.2"), "TLS 1.2 handshake: {text}");
    for old in ["-tls1_1", "-tls1"] {
        // Security level 0 so the refusal is the server's, not this client's own policy.
        let (ok, text) = s_client(
            &openssl,
            &addr,
            &ca,
            &[old, "-cipher", "DEFAULT@SECLEVEL=0"],
        );
        assert!(!ok, "{old} must be refused: {text}");
        // The refusal came from the server (a TLS alert), not from this client's own policy.
        assert!(text.contains("alert"), "{old}: {text}");
    }

    // A new certificate is served without a restart.
    let (_, before) = s_client(&openssl, &addr, &ca, &["-showcerts"]);
    assert!(before.contains("first.ndf.test"), "{before}");
    support::make_certs(&openssl, &dir, "second.ndf.test");
    let start = Instant::now();
    loop {
        let (ok, after) = s_client(&openssl, &addr, &ca, &["-showcerts"]);
        if ok && after.contains("second.ndf.test") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "certificate not reloaded: {after}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(server);

    // Mutual TLS: a client certificate signed by the configured CA is required.
    let server = Server::serve(
        &embedded("sec_mtls"),
        Opts::set(&[
            ("workers", "1"),
            ("tls_cert_file", &cert),
            ("tls_key_file", &key),
            ("tls_client_ca_file", &ca.display().to_string()),
        ]),
    );
    let addr = server.base.trim_start_matches("https://").to_owned();
    assert!(
        http.get(server.url("/healthz")).send().is_err(),
        "no client certificate"
    );
    let (ok, text) = s_client(
        &openssl,
        &addr,
        &ca,
        &["-cert", &cert, "-key", &key, "-tls1_3"],
    );
    assert!(ok, "a client certificate from the CA is accepted: {text}");
    let identity = [std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()].concat();
    let with_cert = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        with_cert
            .get(server.url("/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn webhooks_to_private_addresses_are_refused() {
    let server = Server::serve(
        &embedded("sec_ssrf"),
        Opts::set(&[("workers", "1"), ("webhook_secret", "0123456789abcdef0123")]),
    );
    let http = client();
    let submit = |callback: &str| {
        http.post(server.url(&format!(
            "/v1/jobs?callback_url={}",
            callback.replace(':', "%3A").replace('/', "%2F")
        )))
        .header("content-type", "application/pdf")
        .body(ndf_testkit::text_doc(&["hook"]))
        .send()
        .unwrap()
    };
    for private in [
        "https://10.0.0.7/hook",
        "https://127.0.0.1:8443/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        // A name that resolves to loopback: refused after DNS resolution.
        "https://localhost/hook",
        // Plain http to a public name: refused (https only unless allow-listed).
        "http://hooks.example.org/hook",
    ] {
        let r = submit(private);
        assert_eq!(r.status(), 400, "{private}");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["code"], "invalid_argument", "{private}: {v}");
    }
}

// ------------------------------------------------------------------ access control and limits

/// Run `ndf ARGS…` against a backend's store (no server); returns (status ok, stdout).
fn ndf(backend: &support::Backend, args: &[&str]) -> (bool, String, String) {
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

fn create_key(backend: &support::Backend, tenant: &str, scopes: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--tenant", tenant, "--name", "test key"];
    for s in scopes {
        args.extend(["--scope", s]);
    }
    let (ok, out, err) = ndf(backend, &args);
    assert!(ok, "ndf keys create: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("key JSON");
    assert_eq!(v["tenant"], tenant);
    v["key"].as_str().expect("the key").to_owned()
}

/// `status` of a request with an optional key, waiting up to 10 s for it (key lookups are
/// cached for 5 s per replica).
fn eventually_status(
    http: &reqwest::blocking::Client,
    make: &dyn Fn(&reqwest::blocking::Client) -> reqwest::blocking::RequestBuilder,
    want: u16,
) -> reqwest::blocking::Response {
    let start = Instant::now();
    loop {
        let r = make(http).send().unwrap();
        if r.status().as_u16() == want {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "wanted {want}, still {}",
            r.status()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn problem_code(r: reqwest::blocking::Response) -> String {
    let v: serde_json::Value = r.json().unwrap();
    v["code"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn keys_scopes_tenants_rate_and_size_limits() {
    for backend in support::backends("sec_auth") {
        let name = backend.name();
        let opts = Opts::set(&[
            ("workers", "1"),
            ("rate_limit_key_per_minute", "40"),
            ("rate_limit_tenant_per_minute", "0"),
            ("max_body_bytes", "20000"),
        ]);
        let server = Server::serve(&backend, opts.clone());
        let http = client();
        let pdf = ndf_testkit::text_doc(&["tenant data"]);
        // No keys yet: open on loopback.
        assert_eq!(
            http.get(server.url("/v1/jobs")).send().unwrap().status(),
            200,
            "[{name}]"
        );

        let admin = create_key(&backend, "acme", &["admin"]);
        let acme = create_key(&backend, "acme", &["extract", "jobs:read", "jobs:write"]);
        let globex = create_key(&backend, "globex", &["jobs:read", "jobs:write"]);
        let reader = create_key(&backend, "acme", &["jobs:read"]);

        // 401: no key (once the replica has seen that keys exist), bad or unknown keys.
        let r = eventually_status(&http, &|h| h.get(server.url("/v1/jobs")), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(problem_code(r), "unauthorized");
        for bad in [
            "nonsense",
            "ndf_000000000000_00",
            // The real key with its last digit changed (to another digit, whatever it was).
            &format!(
                "{}{}",
                &acme[..acme.len() - 1],
                if acme.ends_with('0') { '1' } else { '0' }
            ),
        ] {
            let r = http
                .get(server.url("/v1/jobs"))
                .bearer_auth(bad)
                .send()
                .unwrap();
            assert_eq!(r.status(), 401, "[{name}] {bad}");
        }
        // Health and metrics stay open for probes and scrapers.
        assert_eq!(
            http.get(server.url("/healthz")).send().unwrap().status(),
            200
        );

        // 403: the wrong scope.
        let r = http
            .post(server.url("/v1/jobs"))
            .bearer_auth(&reader)
            .header("content-type", "application/pdf")
            .body(pdf.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "[{name}]");
        assert_eq!(problem_code(r), "forbidden");
        let r = http
            .get(server.url("/v1/admin/keys"))
            .bearer_auth(&acme)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = http
            .post(server.url("/v1/extract"))
            .bearer_auth(&globex)
            .header("content-type", "application/pdf")
            .body(pdf.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);

        // Tenants: acme's job is invisible to globex (404, not 403), visible to acme's reader.
        let r = http
            .post(server.url("/v1/jobs"))
            .bearer_auth(&acme)
            .header("content-type", "application/pdf")
            .body(pdf.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 202, "[{name}]");
        let id = r.json::<serde_json::Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for path in [format!("/v1/jobs/{id}"), format!("/v1/jobs/{id}/result")] {
            let r = http
                .get(server.url(&path))
                .bearer_auth(&globex)
                .send()
                .unwrap();
            assert_eq!(r.status(), 404, "[{name}] {path}");
            assert_eq!(problem_code(r), "not_found");
        }
        let r = http
            .delete(server.url(&format!("/v1/jobs/{id}")))
            .bearer_auth(&globex)
            .send()
            .unwrap();
        assert_eq!(r.status(), 404);
        let list: serde_json::Value = http
            .get(server.url("/v1/jobs"))
            .bearer_auth(&globex)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(list["jobs"].as_array().unwrap().len(), 0, "[{name}] {list}");
        let r = http
            .get(server.url(&format!("/v1/jobs/{id}")))
            .bearer_auth(&reader)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);

        // 413 over the size limit, for an authenticated caller.
        let r = http
            .post(server.url("/v1/jobs"))
            .bearer_auth(&acme)
            .header("content-type", "application/pdf")
            .body(vec![b'%'; 30_000])
            .send()
            .unwrap();
        assert_eq!(r.status(), 413);

        // The admin API: create a key, see it listed without secrets, revoke it.
        let r = http
            .post(server.url("/v1/admin/keys"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"tenant": "initech", "name": "api-made", "scopes": ["jobs:read"]}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "[{name}]");
        let made: serde_json::Value = r.json().unwrap();
        let made_key = made["key"].as_str().unwrap().to_owned();
        let made_id = made["id"].as_str().unwrap().to_owned();
        let listed = http
            .get(server.url("/v1/admin/keys"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            listed.contains(&made_id) && !listed.contains(&made_key[17..]),
            "no secrets listed"
        );
        assert_eq!(
            http.get(server.url("/v1/jobs"))
                .bearer_auth(&made_key)
                .send()
                .unwrap()
                .status(),
            200
        );
        let r = http
            .delete(server.url(&format!("/v1/admin/keys/{made_id}")))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
        eventually_status(
            &http,
            &|h| h.get(server.url("/v1/jobs")).bearer_auth(&made_key),
            401,
        );

        // Erasing a tenant: its jobs and their data are gone; other tenants keep theirs.
        let r = http
            .post(server.url("/v1/jobs"))
            .bearer_auth(&globex)
            .header("content-type", "application/pdf")
            .body(pdf.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
        let kept = r.json::<serde_json::Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = http
            .delete(server.url("/v1/tenants/acme/data"))
            .bearer_auth(&acme)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "erasing needs the admin scope");
        let r = http
            .delete(server.url("/v1/tenants/acme/data"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}]");
        let erased: serde_json::Value = r.json().unwrap();
        assert_eq!(erased["jobs_erased"], 1, "[{name}] {erased}");
        assert_eq!(erased["complete"], true);
        let r = http
            .get(server.url(&format!("/v1/jobs/{id}")))
            .bearer_auth(&reader)
            .send()
            .unwrap();
        assert_eq!(r.status(), 404, "[{name}] erased");
        if let support::Backend::Embedded { dir } = &backend {
            assert!(!dir.join("blobs/jobs").join(&id).join("input.pdf").exists());
        }
        let r = http
            .get(server.url(&format!("/v1/jobs/{kept}")))
            .bearer_auth(&globex)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "[{name}] other tenants keep their jobs");

        // 429 over the key's rate, with Retry-After; on the scale-out backend the limit holds
        // across two replicas sharing the database.
        let limited = create_key(&backend, "umbrella", &["jobs:read"]);
        let second = match backend {
            support::Backend::Scaled { .. } => Some(Server::serve(&backend, opts.clone())),
            support::Backend::Embedded { .. } => None,
        };
        let replicas: Vec<&Server> = std::iter::once(&server).chain(second.as_ref()).collect();
        let mut statuses = Vec::new();
        for i in 0..41 {
            let s = replicas[i % replicas.len()];
            let r = eventually_status(
                &http,
                &|h| h.get(s.url("/v1/jobs")).bearer_auth(&limited),
                if i < 40 { 200 } else { 429 },
            );
            statuses.push(r.status().as_u16());
            if i == 40 {
                assert!(r.headers().contains_key("retry-after"), "[{name}]");
                assert_eq!(problem_code(r), "rate_limited");
            }
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            40,
            "[{name}]"
        );

        // Every one of those actions is on the audit log, and the chain verifies.
        let (ok, report, err) = ndf(&backend, &["audit", "verify"]);
        assert!(ok, "[{name}] ndf audit verify: {report}{err}");
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert!(report["records_checked"].as_u64().unwrap() > 10, "{report}");
        let (ok, export, _) = ndf(&backend, &["audit", "export"]);
        assert!(ok);
        for action in [
            "key_created",
            "key_revoked",
            "auth_failed",
            "job_created",
            "config_changed",
        ] {
            assert!(
                export.contains(&format!("\"action\":\"{action}\"")),
                "[{name}] {action} in\n{export}"
            );
        }
        for secret in [&admin, &acme, &globex, &made_key] {
            assert!(!export.contains(&secret[17..]), "no key in the audit log");
        }
    }
}

#[test]
fn non_loopback_without_keys_refuses_to_start() {
    let backend = embedded("sec_bind");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(["serve", "--listen", "0.0.0.0:0"])
        .args(backend.args());
    let out = cmd.stdin(Stdio::null()).output().expect("run ndf serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve") && err.contains("--insecure-no-auth"),
        "{err}"
    );
    // Explicitly told: it starts (and says so).
    let server = Server::serve(
        &backend,
        Opts {
            args: vec!["--set".into(), "insecure_no_auth=true".into()],
            env: Vec::new(),
            listen: Some("0.0.0.0:0".into()),
        },
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let r = client()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

// ------------------------------------------------------------------------ encryption at rest

/// Every file under `dir`, recursively (bounded).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten().take(100_000) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Text dump of every table of a PostgreSQL database.
fn pg_dump_text(url: &str) -> String {
    let mut all = String::new();
    for table in ["ndf_jobs", "ndf_audit", "ndf_api_keys"] {
        let out = Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("COPY (SELECT * FROM {table}) TO STDOUT"))
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    all
}

#[test]
fn stored_data_is_encrypted_and_deletion_shreds_it() {
    let marker = "QXZ-CONFIDENTIAL-4471";
    let password = "pw-QXZ-9931";
    for backend in support::backends("sec_rest") {
        let name = backend.name();
        let server = Server::serve(&backend, Opts::set(&[("workers", "1")]));
        let http = client();
        // A plain document and a password-protected one, both carrying the marker.
        let plain = ndf_testkit::text_doc(&[&format!("plain {marker}")]);
        assert!(
            contains(&plain, marker.as_bytes()),
            "the marker is visible in the PDF"
        );
        let locked =
            support::encrypted_doc_with(password.as_bytes(), &[&format!("locked {marker}")]);
        let mut ids = Vec::new();
        for (pdf, pw) in [(plain, None), (locked, Some(password))] {
            let mut req = http
                .post(server.url("/v1/jobs"))
                .header("content-type", "application/pdf")
                .body(pdf);
            if let Some(pw) = pw {
                req = req.header("x-pdf-password", pw);
            }
            let r = req.send().unwrap();
            assert_eq!(r.status(), 202);
            let id = r.json::<serde_json::Value>().unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let v = wait_job_done(&http, &server, &id);
            assert_eq!(v["state"], "succeeded", "[{name}] {v}");
            let text = http
                .get(server.url(&format!("/v1/jobs/{id}/result?format=text")))
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert!(
                text.contains(marker),
                "[{name}] the service reads its own data"
            );
            ids.push(id);
        }

        // The marker and the password are nowhere at rest.
        let (store_bytes, blob_bytes): (Vec<u8>, Vec<Vec<u8>>) = match &backend {
            support::Backend::Embedded { dir } => {
                let mut db = Vec::new();
                for f in files_under(dir).into_iter().filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("ndf.db"))
                }) {
                    db.extend(std::fs::read(f).unwrap());
                }
                let blobs = files_under(&dir.join("blobs"))
                    .into_iter()
                    .map(|f| std::fs::read(f).unwrap())
                    .collect();
                (db, blobs)
            }
            support::Backend::Scaled {
                store,
                blobs,
                s3_env,
            } => {
                let dump = pg_dump_text(store).into_bytes();
                let (rt, bucket) = support::s3_bucket(blobs, s3_env);
                let mut objects = Vec::new();
                for id in &ids {
                    for key in [
                        format!("jobs/{id}/input.pdf"),
                        format!("jobs/{id}/result.json"),
                    ] {
                        let data = rt
                            .block_on(bucket.get(&key))
                            .unwrap()
                            .expect("object stored");
                        objects.push(data.to_vec());
                    }
                }
                (dump, objects)
            }
        };
        assert!(
            store_bytes.len() > 1000 && blob_bytes.len() >= 4,
            "[{name}] read the data"
        );
        for needle in [marker, password] {
            assert!(
                !contains(&store_bytes, needle.as_bytes()),
                "[{name}] {needle} in the database"
            );
            for b in &blob_bytes {
                assert!(
                    !contains(b, needle.as_bytes()),
                    "[{name}] {needle} in a stored object"
                );
                assert!(b.starts_with(b"NDFS"), "[{name}] sealed object");
            }
        }

        // Deleting a job shreds it: a copy of its sealed input taken before (a backup) cannot
        // be opened with any data key still in the store.
        let id = &ids[0];
        let copy = read_object(&backend, &format!("jobs/{id}/input.pdf"));
        assert!(copy.starts_with(b"NDFS"));
        let r = http
            .delete(server.url(&format!("/v1/jobs/{id}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
        let (ok, out, err) = ndf(&backend, &["keys", "rotate-master"]);
        assert!(ok, "{err}");
        assert!(
            out.contains("of 1 data keys"),
            "[{name}] one job still holds a key: {out}"
        );
        drop(server);
    }
}

/// A stored object's raw bytes.
fn read_object(backend: &support::Backend, key: &str) -> Vec<u8> {
    match backend {
        support::Backend::Embedded { dir } => std::fs::read(dir.join("blobs").join(key)).unwrap(),
        support::Backend::Scaled { blobs, s3_env, .. } => {
            let (rt, bucket) = support::s3_bucket(blobs, s3_env);
            rt.block_on(bucket.get(key))
                .unwrap()
                .expect("object")
                .to_vec()
        }
    }
}

fn wait_job_done(http: &reqwest::blocking::Client, server: &Server, id: &str) -> serde_json::Value {
    wait_job(http, server, id, Duration::from_secs(120))
}

// ----------------------------------------------------------------------------- audit chain

/// Tamper with a copy of the embedded database through Python's sqlite3 (the audit table's
/// triggers that refuse UPDATE and DELETE are dropped first, as an attacker with file access
/// would), then run `ndf audit verify` on it.
fn verify_after(dir: &Path, name: &str, sql: &str) -> (bool, String) {
    let copy = support::scratch(name);
    // The secret the audit chain's key is derived from travels with the copy.
    for f in ["ndf.db", "ndf.db-wal", "ndf.db-shm", "api-key-secret"] {
        if dir.join(f).exists() {
            std::fs::copy(dir.join(f), copy.join(f)).unwrap();
        }
    }
    let script = "import sqlite3, sys\n\
         db = sqlite3.connect(sys.argv[1])\n\
         for (name,) in db.execute(\"SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ndf_audit'\").fetchall():\n    db.execute('DROP TRIGGER ' + name)\n\
         db.executescript(sys.argv[2])\n\
         db.commit()\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(copy.join("ndf.db"))
        .arg(sql)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&copy)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn audit_verify_detects_edited_deleted_and_reordered_records() {
    let backend = embedded("sec_audit");
    let support::Backend::Embedded { dir } = &backend else {
        unreachable!("embedded")
    };
    {
        let server = Server::serve(&backend, Opts::set(&[("workers", "1")]));
        let http = client();
        for _ in 0..3 {
            let r = http
                .post(server.url("/v1/jobs"))
                .header("content-type", "application/pdf")
                .body(ndf_testkit::text_doc(&["audited"]))
                .send()
                .unwrap();
            assert_eq!(r.status(), 202);
        }
        let (ok, _, err) = ndf(
            &backend,
            &[
                "keys", "create", "--tenant", "acme", "--name", "k", "--scope", "extract",
            ],
        );
        assert!(ok, "{err}");
        let mut server = server;
        server.terminate(Duration::from_secs(30));
    }
    let (ok, clean) = verify_after(dir, "sec_audit_clean", "SELECT 1;");
    assert!(ok, "an untouched log verifies: {clean}");
    let v: serde_json::Value = serde_json::from_str(&clean).unwrap();
    let n = v["records_checked"].as_u64().unwrap();
    assert!(n >= 5, "{clean}");

    let (ok, edited) = verify_after(
        dir,
        "sec_audit_edited",
        "UPDATE ndf_audit SET detail = '{\"input_bytes\":1}' WHERE seq = 3;",
    );
    assert!(!ok && edited.contains("edited"), "{edited}");
    let (ok, deleted) = verify_after(
        dir,
        "sec_audit_deleted",
        "DELETE FROM ndf_audit WHERE seq = 2;",
    );
    assert!(!ok && deleted.contains("missing"), "{deleted}");
    let (ok, reordered) = verify_after(
        dir,
        "sec_audit_reordered",
        "UPDATE ndf_audit SET seq = -1 WHERE seq = 2; UPDATE ndf_audit SET seq = 2 WHERE seq = 3; UPDATE ndf_audit SET seq = 3 WHERE seq = -1;",
    );
    assert!(!ok && reordered.contains("reordered"), "{reordered}");
}
