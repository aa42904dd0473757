//! Crypto-shredding that holds, against real `ndf serve` processes on both backends, checked
//! on the raw files of the database and by trying to decrypt a copy taken before deletion:
//!
//! `deleted_jobs_cannot_be_decrypted_from_the_database_files` submits a password-protected
//! document (its text carries a marker) with an `Idempotency-Key`, and a second job that stays.
//! Before deleting the first, it saves a copy of its sealed input (a backup of the blob store)
//! and of the raw database files (a backup of the database), and checks that, with the master
//! key, the copy decrypts from what those files hold (so the search below can find keys).
//! After `DELETE` answered 204 it checks what docs/privacy.md promises:
//!
//! - SQLite (`ndf.db`, `-wal`, `-shm`): at once, the job's wrapped data key, its sealed options
//!   and its idempotency key are in none of the files, and no wrapped key found in them opens
//!   the saved input with the master key (regression: the WAL and later free pages kept the
//!   key, and deleted jobs were decrypted with `data_dir/master.key`).
//! - PostgreSQL (the database's relation files under `base/<oid>`, after `CHECKPOINT`): within
//!   `vacuum_full_interval_ms` + `sweep_interval_ms` (here 1 s + 0.2 s; the test waits up to
//!   60 s) the same holds. `pg_wal` is not promised: it keeps deleted rows until its segments
//!   are recycled.
//!
//! Then, for the copies nobody can scrub (the saved database files, PostgreSQL's WAL, any
//! backup), the way out: a new master key is added, `ndf keys rotate-master` re-wraps the
//! live keys, the old master key is removed from the ring (destroyed); the live job's result
//! still reads, and no wrapped key in the saved or current files opens the saved input with
//! any key left.
#![allow(clippy::disallowed_methods)] // reads the database files and objects the test wrote

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ndf_seal::{KeyRing, WrappedKey};
use support::{Backend, Opts, Server, client, wait_job};

/// The raw files of a backend's database: (files the deletion guarantee covers, files it does
/// not — PostgreSQL's WAL).
fn database_files(backend: &Backend) -> (Vec<u8>, Vec<u8>) {
    match backend {
        Backend::Embedded { dir } => {
            let mut covered = Vec::new();
            for name in ["ndf.db", "ndf.db-wal", "ndf.db-shm"] {
                if let Ok(bytes) = std::fs::read(dir.join(name)) {
                    covered.extend(bytes);
                }
            }
            (covered, Vec::new())
        }
        Backend::Scaled { store, .. } => {
            // Flush shared buffers first, so the files show what the database holds.
            psql(store, "CHECKPOINT");
            let data_dir = psql(store, "SELECT current_setting('data_directory')");
            let oid = psql(
                store,
                "SELECT oid FROM pg_database WHERE datname = current_database()",
            );
            let data_dir = PathBuf::from(data_dir.trim());
            let relations = read_dir_files(&data_dir.join("base").join(oid.trim()));
            let wal = read_dir_files(&data_dir.join("pg_wal"));
            (relations, wal)
        }
    }
}

/// Every regular file directly in `dir`, concatenated (the test server runs on this machine:
/// its files must be readable, or the test fails).
fn read_dir_files(dir: &Path) -> Vec<u8> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} must be readable by the test: {e}", dir.display()));
    let mut all = Vec::new();
    for entry in entries.flatten().take(100_000) {
        // A relation file may be unlinked between listing and reading.
        if entry.file_type().is_ok_and(|t| t.is_file())
            && let Ok(bytes) = std::fs::read(entry.path())
        {
            all.extend(bytes);
        }
    }
    all
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every well-formed wrapped data key (`NDFK` v1) in `bytes`.
fn wrapped_keys(bytes: &[u8]) -> Vec<Vec<u8>> {
    // magic, version, id length, id, data key id (16), nonce (12), key (32), tag (16).
    const FIXED: usize = 4 + 1 + 1 + 16 + 12 + 32 + 16;
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = bytes
        .get(at..)
        .and_then(|rest| rest.windows(5).position(|w| w == b"NDFK\x01"))
    {
        let start = at + pos;
        if let Some(&id_len) = bytes.get(start + 5)
            && let Some(candidate) = bytes.get(start..start + FIXED + usize::from(id_len))
            && WrappedKey::from_bytes(candidate).is_ok()
            && !found.iter().any(|f: &Vec<u8>| f == candidate)
        {
            found.push(candidate.to_vec());
        }
        at = start + 1;
    }
    found
}

/// Whether any of `keys`, unwrapped with `ring` for job `id`, opens its sealed input `sealed`.
fn opens(ring: &KeyRing, id: &str, keys: &[Vec<u8>], sealed: &[u8]) -> bool {
    let aad = format!("jobs/{id}/input.pdf");
    keys.iter().any(|bytes| {
        WrappedKey::from_bytes(bytes)
            .ok()
            .and_then(|w| ring.unwrap_key(&w, id.as_bytes()).ok())
            .is_some_and(|key| ndf_seal::open(&key, aad.as_bytes(), sealed).is_ok())
    })
}

/// The wrapped key of the data key that sealed `sealed` (same data key id), among `keys`.
fn key_of(sealed: &[u8], keys: &[Vec<u8>]) -> Option<Vec<u8>> {
    let id = ndf_seal::sealed_data_key_id(sealed).ok()?;
    keys.iter()
        .find(|k| WrappedKey::from_bytes(k).is_ok_and(|w| w.data_key_id() == id))
        .cloned()
}

/// How sealed options of the data key that sealed `sealed` start in the job row: hex of the
/// `NDFS` header (magic, version, data key id).
fn sealed_options_prefix(sealed: &[u8]) -> Vec<u8> {
    let header = sealed.get(..21).expect("a sealed object header");
    header
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes()
}

/// A stored object's raw bytes.
fn read_object(backend: &Backend, key: &str) -> Vec<u8> {
    match backend {
        Backend::Embedded { dir } => std::fs::read(dir.join("blobs").join(key)).unwrap(),
        Backend::Scaled { blobs, s3_env, .. } => {
            let (rt, bucket) = support::s3_bucket(blobs, s3_env);
            rt.block_on(bucket.get(key))
                .unwrap()
                .expect("object")
                .to_vec()
        }
    }
}

/// The master key ring the backend's servers use now.
fn current_ring(backend: &Backend) -> String {
    match backend {
        Backend::Embedded { dir } => std::fs::read_to_string(dir.join("master.key")).unwrap(),
        Backend::Scaled { .. } => support::TEST_MASTER_KEY.to_owned(),
    }
}

/// Options that make the backend's processes use `ring` as master key ring.
fn with_ring(backend: &Backend, ring: &str, mut opts: Opts) -> Opts {
    match backend {
        Backend::Embedded { dir } => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let path = dir.join("master.key");
            let _ = std::fs::remove_file(&path);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            f.write_all(ring.as_bytes()).unwrap();
        }
        Backend::Scaled { .. } => opts.env.push(("NDF_MASTER_KEY".into(), ring.to_owned())),
    }
    opts
}

/// `ndf ARGS…` on the backend's store with `extra` environment: stdout.
fn ndf(backend: &Backend, extra: &[(String, String)], args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndf"));
    cmd.args(args).args(backend.args());
    for (k, v) in backend.env().into_iter().chain(extra.iter().cloned()) {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run ndf");
    assert!(
        out.status.success(),
        "ndf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn submit(
    http: &reqwest::blocking::Client,
    server: &Server,
    pdf: Vec<u8>,
    password: Option<&str>,
    idempotency_key: Option<&str>,
) -> String {
    let mut req = http
        .post(server.url("/v1/jobs"))
        .header("content-type", "application/pdf")
        .body(pdf);
    if let Some(pw) = password {
        req = req.header("x-pdf-password", pw);
    }
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = wait_job(http, server, &id, Duration::from_secs(120));
    assert_eq!(v["state"], "succeeded", "{v}");
    id
}

fn result_text(http: &reqwest::blocking::Client, server: &Server, id: &str) -> String {
    let r = http
        .get(server.url(&format!("/v1/jobs/{id}/result?format=text")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().unwrap()
}

#[test]
fn deleted_jobs_cannot_be_decrypted_from_the_database_files() {
    let marker = "SHRED-MARKER-Vq8Lz3";
    let password = "pw-SHRED-Kx71Tz";
    let idempotency_key = "idem-SHRED-Rw5Yp2";
    for backend in support::backends("shred") {
        let name = backend.name();
        let opts = || {
            Opts::set(&[
                ("workers", "1"),
                ("sweep_interval_ms", "200"),
                ("vacuum_full_interval_ms", "1000"),
            ])
        };
        let mut server = Server::serve(&backend, opts());
        let http = client();
        let kept = submit(
            &http,
            &server,
            ndf_testkit::text_doc(&["a job that stays"]),
            None,
            None,
        );
        let locked =
            support::encrypted_doc_with(password.as_bytes(), &[&format!("locked {marker}")]);
        let gone = submit(
            &http,
            &server,
            locked,
            Some(password),
            Some(idempotency_key),
        );
        assert!(result_text(&http, &server, &gone).contains(marker));

        // Backups taken before the deletion: the sealed input, and the database files.
        let saved_input = read_object(&backend, &format!("jobs/{gone}/input.pdf"));
        assert!(saved_input.starts_with(b"NDFS"), "[{name}] sealed at rest");
        let (saved_db, saved_wal) = database_files(&backend);
        let old_ring_text = current_ring(&backend);
        let old_ring = KeyRing::parse(&old_ring_text).unwrap();
        let saved_keys = wrapped_keys(&saved_db);
        let gone_key = key_of(&saved_input, &saved_keys).unwrap_or_else(|| {
            panic!("[{name}] the test finds the job's wrapped key while stored")
        });
        let options_prefix = sealed_options_prefix(&saved_input);
        assert!(
            opens(&old_ring, &gone, &saved_keys, &saved_input),
            "[{name}] with the master key, the backup decrypts from the saved database files"
        );
        for needle in [&options_prefix[..], idempotency_key.as_bytes()] {
            assert!(
                contains(&saved_db, needle),
                "[{name}] the test finds {} while stored",
                String::from_utf8_lossy(needle)
            );
        }

        let r = http
            .delete(server.url(&format!("/v1/jobs/{gone}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "[{name}]");

        // What the guarantee covers: nothing of the job, and nothing that decrypts it.
        let start = Instant::now();
        loop {
            let (covered, _) = database_files(&backend);
            let left: Vec<&str> = [
                ("the wrapped data key", contains(&covered, &gone_key)),
                ("the sealed options", contains(&covered, &options_prefix)),
                (
                    "the idempotency key",
                    contains(&covered, idempotency_key.as_bytes()),
                ),
                (
                    "a key that decrypts the input",
                    opens(&old_ring, &gone, &wrapped_keys(&covered), &saved_input),
                ),
            ]
            .into_iter()
            .filter_map(|(what, found)| found.then_some(what))
            .collect();
            if left.is_empty() {
                break;
            }
            // SQLite promises it when the 204 arrives; PostgreSQL after its next rewrite.
            assert!(
                matches!(backend, Backend::Scaled { .. })
                    && start.elapsed() < Duration::from_secs(60),
                "[{name}] after the 204, the database files still hold {left:?}; log:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }

        // Master-key rotation for what cannot be scrubbed: saved files, WAL, backups.
        let generated = Command::new(env!("CARGO_BIN_EXE_ndf"))
            .args(["keys", "generate-master", "--id", "rot2"])
            .output()
            .expect("ndf keys generate-master");
        assert!(generated.status.success());
        let new_line = String::from_utf8_lossy(&generated.stdout).into_owned();
        let both = format!("{}\n{}\n", old_ring_text.trim(), new_line.trim());
        drop(server);
        let rotate_env = match &backend {
            Backend::Embedded { .. } => Vec::new(),
            Backend::Scaled { .. } => vec![("NDF_MASTER_KEY".to_owned(), both.clone())],
        };
        let _ = with_ring(&backend, &both, opts());
        let out = ndf(&backend, &rotate_env, &["keys", "rotate-master"]);
        assert!(out.contains("1 of 1 data keys"), "[{name}] {out}");
        // The old master key is destroyed: the ring holds only the new one.
        let new_ring_text = format!("{}\n", new_line.trim());
        server = Server::serve(&backend, with_ring(&backend, &new_ring_text, opts()));
        assert!(
            result_text(&http, &server, &kept).contains("a job that stays"),
            "[{name}] live data reads under the new master key"
        );
        let new_ring = KeyRing::parse(&new_ring_text).unwrap();
        let (now_db, now_wal) = database_files(&backend);
        let mut every_key = wrapped_keys(&saved_db);
        for bytes in [&saved_wal, &now_db, &now_wal] {
            every_key.extend(wrapped_keys(bytes));
        }
        let kept_input = read_object(&backend, &format!("jobs/{kept}/input.pdf"));
        assert!(
            opens(&new_ring, &kept, &every_key, &kept_input),
            "[{name}] the search finds the live job's re-wrapped key"
        );
        assert!(
            !opens(&new_ring, &gone, &every_key, &saved_input),
            "[{name}] a deleted job's backup decrypts after the old master key was destroyed"
        );
        drop(server);
    }
}
