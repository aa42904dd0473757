//! Smoke test of the harness: a server starts on each backend and extracts a document.
mod support;

use support::{Opts, Server, backends, client};

#[test]
fn serves_on_every_backend() {
    for backend in backends("smoke") {
        let server = Server::serve(&backend, Opts::default());
        let http = client();
        let pdf = ndf_testkit::text_doc(&["Smoke test page"]);
        let r = http
            .post(server.url("/v1/extract?format=text"))
            .header("content-type", "application/pdf")
            .body(pdf)
            .send()
            .expect("request");
        assert_eq!(r.status(), 200, "{}: {}", backend.name(), server.log_text());
        assert!(r.text().expect("body").contains("Smoke test page"));
    }
}

/// `ndf smoke` (the helm test hook and the release pipeline's check) against a real service on
/// each backend, over TLS with keys from a bootstrap keys file: it passes with a key that may
/// extract and run jobs (read as a bootstrap line or a bare key), and fails with exit 1 and the
/// service's answer without a key, with a key lacking `jobs:write`, with an untrusted
/// certificate and against a closed port; a URL that is not http(s) is a usage error (2).
#[test]
fn ndf_smoke_passes_against_a_working_service_and_fails_otherwise() {
    let Some(openssl) = support::tool("openssl") else {
        return;
    };
    let dir = support::scratch("smoke_command");
    support::make_certs(&openssl, &dir, "127.0.0.1");
    let ca = dir.join("ca.pem").display().to_string();
    let line = |scopes: &[&str]| {
        let mut args = vec![
            "keys",
            "generate",
            "--tenant",
            "smoke",
            "--name",
            "smoke test",
        ];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let (ok, out, err) = smoke(&args);
        assert!(ok, "ndf keys generate: {err}");
        out.trim().to_owned()
    };
    let full = line(&["extract", "jobs:write", "jobs:read"]);
    let extract_only = line(&["extract"]);
    let keys = support::write(
        &dir,
        "bootstrap-keys",
        format!("# smoke keys\n{full}\n{extract_only}\n").as_bytes(),
    );
    let bare = support::write(
        &dir,
        "bare-key",
        format!("{}\n", full.rsplit(' ').next().expect("key")).as_bytes(),
    );
    let limited = support::write(&dir, "limited-key", extract_only.as_bytes());
    for f in [&keys, &bare, &limited] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let path = |p: &std::path::Path| p.display().to_string();

    for backend in backends("smoke_command") {
        let name = backend.name();
        let server = Server::serve(
            &backend,
            Opts::set(&[
                ("workers", "1"),
                ("bootstrap_keys_file", &path(&keys)),
                ("tls_cert_file", &path(&dir.join("server.pem"))),
                ("tls_key_file", &path(&dir.join("server.key"))),
            ]),
        );
        let url = format!(
            "https://{}",
            server
                .base
                .trim_start_matches("http://")
                .trim_start_matches("https://")
        );
        let run = |extra: &[&str]| {
            let mut args = vec!["smoke", "--url", &url, "--timeout-secs", "60"];
            args.extend_from_slice(extra);
            smoke(&args)
        };

        let (ok, out, err) = run(&["--api-key-file", &path(&keys), "--ca-file", &ca, "--job"]);
        assert!(ok, "[{name}] {out}{err}\n{}", server.log_text());
        assert!(out.contains("extract: 200"), "[{name}] {out}");
        assert!(
            out.contains("succeeded, result read, deleted"),
            "[{name}] {out}"
        );
        let (ok, out, err) = run(&["--api-key-file", &path(&bare), "--ca-file", &ca]);
        assert!(
            ok && out.contains("smoke test passed"),
            "[{name}] {out}{err}"
        );

        let (ok, _, err) = run(&["--ca-file", &ca]);
        assert!(
            !ok && err.contains("expected 200, got 401"),
            "[{name}] no key: {err}"
        );
        let (ok, out, err) = run(&["--api-key-file", &path(&limited), "--ca-file", &ca, "--job"]);
        assert!(
            out.contains("extract: 200"),
            "[{name}] extract-only key: {out}{err}"
        );
        assert!(
            !ok && err.contains("expected 202, got 403"),
            "[{name}] {err}"
        );
        let (ok, _, err) = run(&["--api-key-file", &path(&keys)]);
        assert!(
            !ok && err.contains("no answer from"),
            "[{name}] untrusted certificate: {err}"
        );
        // No secret in any message.
        assert!(
            !err.contains(full.rsplit(' ').next().unwrap()),
            "[{name}] {err}"
        );
    }

    // A port nobody serves HTTP on (refused, or a timeout should another process take it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let closed = format!("http://127.0.0.1:{port}");
    let (ok, _, err) = smoke(&["smoke", "--url", &closed, "--timeout-secs", "10"]);
    assert!(
        !ok && err.contains("POST /v1/extract: no answer"),
        "closed port: {err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args(["smoke", "--url", "ftp://127.0.0.1/"])
        .output()
        .expect("run ndf");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ndf ARGS…`: (success, stdout, stderr).
fn smoke(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ndf");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
