//! One contract suite (tests/suite) run against SQLite + a local directory (always) and
//! PostgreSQL + S3 when NDF_TEST_POSTGRES_URL / NDF_TEST_S3_* are set (scripts/services.sh
//! start writes them). Without them those tests skip with a message, or fail when
//! NDF_REQUIRE_SERVICES=1.
#![allow(clippy::print_stderr, clippy::print_stdout)]

#[macro_use]
mod suite;

use std::sync::Arc;

use ndf_store::{BlobStore, JobStore, StoreOptions};
use sqlx::Connection;

fn store_options() -> StoreOptions {
    StoreOptions {
        max_connections: 5,
        max_webhook_attempts: 3,
        ..StoreOptions::default()
    }
}

/// The value of `var`, or `None` (skip) when unset; panics when services are required.
fn service_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("NDF_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!(
                    "NDF_REQUIRE_SERVICES=1 but {var} is not set: run `scripts/services.sh start` \
                     and `. target/services/env` first"
                );
            }
            eprintln!("skipped: {var} is not set (scripts/services.sh start provides it)");
            None
        }
    }
}

struct SqliteHarness {
    store: Arc<dyn JobStore>,
    keys: Arc<dyn ndf_store::KeyStore>,
    _dir: tempfile::TempDir,
}

async fn sqlite_store() -> SqliteHarness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let ndf_store::Databases {
        jobs: store, keys, ..
    } = ndf_store::open_databases(&url, &store_options())
        .await
        .unwrap();
    SqliteHarness {
        store,
        keys,
        _dir: dir,
    }
}

/// A job store in a fresh PostgreSQL schema of its own (tests run in parallel).
struct PgHarness {
    store: Arc<dyn JobStore>,
    keys: Arc<dyn ndf_store::KeyStore>,
    url: String,
    schema: String,
}

fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

async fn pg_store() -> Option<PgHarness> {
    let url = service_env("NDF_TEST_POSTGRES_URL")?;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let ndf_store::Databases {
        jobs: store, keys, ..
    } = ndf_store::open_databases(&with_search_path(&url, &schema), &store_options())
        .await
        .unwrap();
    Some(PgHarness {
        store,
        keys,
        url,
        schema,
    })
}

impl PgHarness {
    async fn drop_schema(self) {
        drop(self.store);
        drop(self.keys);
        let mut admin = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.schema
        )))
        .execute(&mut admin)
        .await
        .unwrap();
    }
}

struct DirHarness {
    store: Arc<dyn BlobStore>,
    dir: tempfile::TempDir,
}

async fn dir_store() -> DirHarness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("blobs").display());
    let store = ndf_store::open_blob_store(&url, &store_options())
        .await
        .unwrap();
    DirHarness { store, dir }
}

fn s3_options(secret: Option<String>) -> Option<(String, StoreOptions)> {
    let url = service_env("NDF_TEST_S3_URL")?;
    let options = StoreOptions {
        s3_endpoint: Some(service_env("NDF_TEST_S3_ENDPOINT")?),
        s3_region: std::env::var("NDF_TEST_S3_REGION").ok(),
        s3_access_key_id: Some(service_env("NDF_TEST_S3_ACCESS_KEY_ID")?),
        s3_secret_access_key: Some(match secret {
            Some(s) => s,
            None => service_env("NDF_TEST_S3_SECRET_ACCESS_KEY")?,
        }),
        ..store_options()
    };
    // A prefix of its own per test: tests run in parallel on one bucket.
    let url = format!(
        "{}/{}",
        url.trim_end_matches('/'),
        uuid::Uuid::now_v7().simple()
    );
    Some((url, options))
}

async fn s3_store() -> Option<Arc<dyn BlobStore>> {
    let (url, options) = s3_options(None)?;
    Some(ndf_store::open_blob_store(&url, &options).await.unwrap())
}

macro_rules! sqlite_job_tests {
    ($($name:ident),*) => {
        mod sqlite_jobs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let harness = super::sqlite_store().await;
                    super::suite::jobs::$name(harness.store.clone()).await;
                }
            )*
        }
    };
}

macro_rules! postgres_job_tests {
    ($($name:ident),*) => {
        mod postgres_jobs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(harness) = super::pg_store().await else { return };
                    super::suite::jobs::$name(harness.store.clone()).await;
                    harness.drop_schema().await;
                }
            )*
        }
    };
}

macro_rules! dir_blob_tests {
    ($($name:ident),*) => {
        mod dir_blobs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let harness = super::dir_store().await;
                    super::suite::blobs::$name(harness.store.clone()).await;
                    // No temp file is left behind by successful puts.
                    let tmp = harness.dir.path().join("blobs/.tmp");
                    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
                }
            )*
        }
    };
}

macro_rules! s3_blob_tests {
    ($($name:ident),*) => {
        mod s3_blobs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(store) = super::s3_store().await else { return };
                    super::suite::blobs::$name(store).await;
                }
            )*
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_tenants_keys_and_counters() {
    let h = sqlite_store().await;
    suite::jobs::tenants_keys_and_counters(h.store.clone(), h.keys.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_tenants_keys_and_counters() {
    let Some(h) = pg_store().await else { return };
    suite::jobs::tenants_keys_and_counters(h.store.clone(), h.keys.clone()).await;
    h.drop_schema().await;
}

for_each_job_test!(sqlite_job_tests);
for_each_job_test!(postgres_job_tests);
for_each_blob_test!(dir_blob_tests);
for_each_blob_test!(s3_blob_tests);

/// Backend-specific checks beyond the shared contract.
mod sqlite_extra {
    use super::*;
    use ndf_store::{CreateOutcome, JobState, Outcome};
    use suite::jobs::{T0, new_job};

    #[tokio::test]
    async fn reopen_keeps_jobs_and_migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        // The parent directory is created on open.
        let url = format!("sqlite://{}", dir.path().join("sub/dir/jobs.db").display());
        let id = uuid::Uuid::now_v7();
        {
            let store = ndf_store::open_job_store(&url, &store_options())
                .await
                .unwrap();
            store.create(id, &new_job(None, "a"), T0).await.unwrap();
        }
        let store = ndf_store::open_job_store(&url, &store_options())
            .await
            .unwrap();
        assert_eq!(
            store.get(id).await.unwrap().unwrap().state,
            JobState::Queued
        );
        let mut conn = sqlx::SqliteConnection::connect(&format!(
            "sqlite://{}",
            dir.path().join("sub/dir/jobs.db").display()
        ))
        .await
        .unwrap();
        let (versions, mode): (i64, String) = (
            sqlx::query_scalar("SELECT COUNT(*) FROM ndf_schema_migrations")
                .fetch_one(&mut conn)
                .await
                .unwrap(),
            sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut conn)
                .await
                .unwrap(),
        );
        assert_eq!((versions, mode.as_str()), (3, "wal"));
    }

    #[tokio::test]
    async fn edited_migration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let url = format!("sqlite://{}", path.display());
        drop(
            ndf_store::open_job_store(&url, &store_options())
                .await
                .unwrap(),
        );
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE ndf_schema_migrations SET checksum = 'edited'")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let err = ndf_store::open_job_store(&url, &store_options())
            .await
            .unwrap_err();
        assert!(matches!(err, ndf_store::StoreError::Corrupt(_)), "{err:?}");
    }

    #[tokio::test]
    async fn memory_store_works() {
        let store = ndf_store::open_job_store("sqlite::memory:", &store_options())
            .await
            .unwrap();
        let id = uuid::Uuid::now_v7();
        assert!(matches!(
            store.create(id, &new_job(None, "m"), T0).await.unwrap(),
            CreateOutcome::Created(_)
        ));
        let lease = store.lease("w", T0, 1000).await.unwrap().unwrap();
        let outcome = Outcome::Succeeded {
            pages_total: 1,
            result_bytes: 1,
        };
        assert!(store.finish(&lease, T0 + 1, outcome).await.unwrap());
        assert_eq!(store.counts(T0).await.unwrap().succeeded, 1);
    }

    #[tokio::test]
    async fn bad_urls_are_rejected_without_secrets() {
        for url in ["mysql://u:pw@h/db", "sqlite://", "redis://x"] {
            let err = ndf_store::open_job_store(url, &store_options())
                .await
                .unwrap_err();
            assert!(
                matches!(err, ndf_store::StoreError::Invalid(_)),
                "{url}: {err:?}"
            );
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
        let err = ndf_store::open_job_store("postgres://u:pw@h:notaport/db", &store_options())
            .await
            .unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        for url in ["ftp://x", "s3://B", "file://"] {
            assert!(
                ndf_store::open_blob_store(url, &store_options())
                    .await
                    .is_err(),
                "{url}"
            );
        }
    }

    /// Two OS processes lease from one SQLite file: every job is leased exactly once.
    /// The children are this test binary, re-run on `child_lease_worker`.
    #[tokio::test]
    async fn two_processes_lease_each_job_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shared.db").display());
        let store = ndf_store::open_job_store(&url, &store_options())
            .await
            .unwrap();
        let mut all = std::collections::HashSet::new();
        for i in 0..200 {
            let id = uuid::Uuid::now_v7();
            store.create(id, &new_job(None, "p"), T0 + i).await.unwrap();
            all.insert(id.to_string());
        }
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..2)
            .map(|n| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "sqlite_extra::child_lease_worker",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env("NDF_STORE_CHILD_DB", &url)
                    .env("NDF_STORE_CHILD_NAME", format!("child-{n}"))
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut per_child = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "child failed");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let ids: Vec<String> = text
                .lines()
                // libtest may print "test … " on the same line first.
                .filter_map(|l| l.split_once("LEASED ").map(|(_, id)| id.trim().to_owned()))
                .collect();
            per_child.push(ids.len());
            for id in ids {
                assert!(seen.insert(id.clone()), "job {id} leased by both processes");
            }
        }
        let missing = all.difference(&seen).count();
        assert_eq!(
            (seen.len(), missing),
            (200, 0),
            "leased per child: {per_child:?}"
        );
        assert_eq!(store.counts(T0).await.unwrap().succeeded, 200);
    }

    /// Helper of `two_processes_lease_each_job_once`: does nothing unless run as its child.
    #[tokio::test]
    async fn child_lease_worker() {
        let Ok(url) = std::env::var("NDF_STORE_CHILD_DB") else {
            return;
        };
        let name = std::env::var("NDF_STORE_CHILD_NAME").unwrap();
        let store = ndf_store::open_job_store(&url, &store_options())
            .await
            .unwrap();
        for _ in 0..=200 {
            let Some(lease) = store.lease(&name, T0 + 1000, 60_000).await.unwrap() else {
                break;
            };
            assert_eq!(lease.job.attempts, 1);
            let outcome = Outcome::Succeeded {
                pages_total: 1,
                result_bytes: 1,
            };
            assert!(store.finish(&lease, T0 + 1001, outcome).await.unwrap());
            println!("LEASED {}", lease.job.id);
        }
    }
}

mod postgres_extra {
    use super::*;

    /// Replicas starting together: the advisory lock lets exactly one apply each migration.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_opens_migrate_once() {
        let Some(harness) = pg_store().await else {
            return;
        };
        // pg_store already migrated its schema; use a second, fresh one for the race.
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&harness.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = with_search_path(&harness.url, &schema);
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { ndf_store::open_job_store(&url, &store_options()).await })
            })
            .collect();
        for open in opens {
            let store = open.await.unwrap().unwrap();
            store.ping().await.unwrap();
        }
        let versions: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {schema}.ndf_schema_migrations"
        )))
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert_eq!(versions, 3);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut admin)
            .await
            .unwrap();
        harness.drop_schema().await;
    }

    #[tokio::test]
    async fn wrong_password_is_denied_and_redacted() {
        let Some(url) = service_env("NDF_TEST_POSTGRES_URL") else {
            return;
        };
        // Replace the password (between the first ':' after the scheme and '@').
        let (scheme, rest) = url.split_once("://").unwrap();
        let (userinfo, host) = rest.split_once('@').unwrap();
        let user = userinfo.split(':').next().unwrap();
        let bad = format!("{scheme}://{user}:not-the-password@{host}");
        let err = ndf_store::open_job_store(&bad, &store_options())
            .await
            .unwrap_err();
        assert!(matches!(err, ndf_store::StoreError::Denied(_)), "{err:?}");
        assert!(!err.to_string().contains("not-the-password"), "{err}");
    }
}

mod s3_extra {
    use super::*;
    use bytes::Bytes;

    /// SeaweedFS checks signatures: a wrong secret must fail, not silently succeed.
    #[tokio::test]
    async fn wrong_secret_is_denied() {
        let Some((url, options)) = s3_options(Some("definitely-not-the-secret".into())) else {
            return;
        };
        let store = ndf_store::open_blob_store(&url, &options).await.unwrap();
        let err = store.put("k", Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(err, ndf_store::StoreError::Denied(_)), "{err:?}");
        assert!(
            !err.to_string().contains("definitely-not-the-secret"),
            "{err}"
        );
        assert!(store.ping().await.is_err());
        assert!(store.get("k").await.is_err());
    }

    #[tokio::test]
    async fn size_limit_on_put_and_get() {
        let Some((url, options)) = s3_options(None) else {
            return;
        };
        let roomy = ndf_store::open_blob_store(&url, &options).await.unwrap();
        roomy
            .put("big", Bytes::from_static(b"0123456789a"))
            .await
            .unwrap();
        let tight_options = StoreOptions {
            max_blob_bytes: 10,
            ..options
        };
        let tight = ndf_store::open_blob_store(&url, &tight_options)
            .await
            .unwrap();
        let err = tight
            .put("k", Bytes::from_static(b"0123456789a"))
            .await
            .unwrap_err();
        assert!(matches!(err, ndf_store::StoreError::Invalid(_)), "{err:?}");
        let err = tight.get("big").await.unwrap_err();
        assert!(matches!(err, ndf_store::StoreError::Invalid(_)), "{err:?}");
        tight
            .put("k", Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        assert_eq!(tight.get("k").await.unwrap().unwrap().len(), 10);
    }

    #[tokio::test]
    async fn missing_bucket_fails_ping() {
        let Some((url, options)) = s3_options(None) else {
            return;
        };
        let good = ndf_store::open_blob_store(&url, &options).await.unwrap();
        good.ping().await.unwrap();
        let store = ndf_store::open_blob_store("s3://ndf-no-such-bucket/x", &options)
            .await
            .unwrap();
        assert!(store.ping().await.is_err());
    }
}

/// The directory backend's on-disk layout and safety.
mod dir_extra {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn files_land_under_the_root_and_stale_temps_are_swept() {
        let harness = dir_store().await;
        harness
            .store
            .put("a/b/c.bin", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        let root = harness.dir.path().join("blobs");
        assert_eq!(std::fs::metadata(root.join("a/b/c.bin")).unwrap().len(), 3);
        // A leftover from a crashed put, an hour and more old, is removed on the next open.
        let stale = root.join(".tmp/leftover");
        std::fs::write(&stale, b"partial").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let fresh = root.join(".tmp/in-progress");
        std::fs::write(&fresh, b"partial").unwrap();
        let url = format!("file://{}", root.display());
        ndf_store::open_blob_store(&url, &store_options())
            .await
            .unwrap();
        assert!(!stale.exists() && fresh.exists());
    }

    #[tokio::test]
    async fn size_limit_on_put_and_get() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let options = StoreOptions {
            max_blob_bytes: 10,
            ..store_options()
        };
        let store = ndf_store::open_blob_store(&url, &options).await.unwrap();
        let err = store
            .put("k", Bytes::from_static(b"0123456789a"))
            .await
            .unwrap_err();
        assert!(matches!(err, ndf_store::StoreError::Invalid(_)), "{err:?}");
        store
            .put("k", Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        // A file that grew behind the store's back is refused, not read into memory.
        std::fs::write(dir.path().join("big"), [0u8; 11]).unwrap();
        let err = store.get("big").await.unwrap_err();
        assert!(matches!(err, ndf_store::StoreError::Invalid(_)), "{err:?}");
        assert_eq!(store.get("k").await.unwrap().unwrap().len(), 10);
    }
}
