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
        assert_eq!((versions, mode.as_str()), (5, "wal"));
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
        for url in [
            "mysql://u:pw-Zq8Xv-UrlPassword@h/db",
            "sqlite://",
            "redis://x",
        ] {
            let err = ndf_store::open_job_store(url, &store_options())
                .await
                .unwrap_err();
            assert!(
                matches!(err, ndf_store::StoreError::Invalid(_)),
                "{url}: {err:?}"
            );
            assert!(!err.report().to_string().contains("Zq8Xv"), "{err}");
        }
        let err = ndf_store::open_job_store(
            "postgres://u:pw-Zq8Xv-UrlPassword@h:notaport/db",
            &store_options(),
        )
        .await
        .unwrap_err();
        assert!(!err.report().to_string().contains("Zq8Xv"), "{err}");
        for url in ["ftp://x", "s3://B", "file://"] {
            assert!(
                ndf_store::open_blob_store(url, &store_options())
                    .await
                    .is_err(),
                "{url}"
            );
        }
    }

    /// Every file of the database (`jobs.db`, `-wal`, `-shm`), concatenated.
    #[allow(clippy::disallowed_methods)] // small files of the test's own database
    fn database_files(dir: &std::path::Path) -> Vec<u8> {
        let mut all = Vec::new();
        for name in ["jobs.db", "jobs.db-wal", "jobs.db-shm"] {
            if let Ok(bytes) = std::fs::read(dir.join(name)) {
                all.extend(bytes);
            }
        }
        all
    }

    fn holds(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// A deleted job's data key, options, idempotency key and callback token leave every
    /// file of the database before `delete` returns (regression: they stayed in the WAL and
    /// then in free space of the database file, and with the master key a deleted job was
    /// decrypted). Needles: distinctive strings no page header, id or time can contain.
    #[tokio::test]
    async fn deleted_rows_leave_the_database_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        let store = ndf_store::open_job_store(&url, &store_options())
            .await
            .unwrap();
        let secret_job = |n: u32| {
            let mut spec = new_job(Some(&format!("IDEMKEY-{n}-Pq3Rt8Vw")), "s");
            spec.data_key = Some(format!("DATAKEY-{n}-7Hq2Lm9Zx4").into_bytes());
            spec.options = serde_json::json!({ "sealed": format!("OPTIONS-{n}-Mn4Bv7Cx") });
            spec.callback_url = Some(format!("https://hooks.example/cb?token=TOKEN-{n}-Wq5Er6Ty"));
            spec
        };
        let needles = |n: u32| {
            [
                format!("IDEMKEY-{n}-Pq3Rt8Vw"),
                format!("DATAKEY-{n}-7Hq2Lm9Zx4"),
                format!("OPTIONS-{n}-Mn4Bv7Cx"),
                format!("TOKEN-{n}-Wq5Er6Ty"),
            ]
        };
        // Job 1 lives through several row versions (lease, heartbeat, finish), then is deleted.
        let one = uuid::Uuid::now_v7();
        store.create(one, &secret_job(1), T0).await.unwrap();
        let lease = store.lease("w", T0 + 1, 60_000).await.unwrap().unwrap();
        store
            .heartbeat(&lease, T0 + 2, 60_000, 1, Some(3))
            .await
            .unwrap();
        let done = Outcome::Succeeded {
            pages_total: 3,
            result_bytes: 10,
        };
        assert!(store.finish(&lease, T0 + 3, done).await.unwrap());
        // Job 2 is cancelled and shredded (its row stays); job 3 goes in a batch delete.
        let two = uuid::Uuid::now_v7();
        store.create(two, &secret_job(2), T0 + 4).await.unwrap();
        let three = uuid::Uuid::now_v7();
        store.create(three, &secret_job(3), T0 + 5).await.unwrap();
        let before = database_files(dir.path());
        for n in 1..=3 {
            for needle in needles(n) {
                assert!(
                    holds(&before, &needle),
                    "the test finds {needle} while stored"
                );
            }
        }

        assert!(store.delete(one).await.unwrap());
        let files = database_files(dir.path());
        for needle in needles(1) {
            assert!(
                !holds(&files, &needle),
                "{needle} of a deleted job is still in the files"
            );
        }

        store.cancel(two, T0 + 6).await.unwrap();
        assert!(store.set_data_key(two, &[]).await.unwrap());
        let files = database_files(dir.path());
        let [_, key, options, _] = needles(2);
        for needle in [key, options] {
            assert!(
                !holds(&files, &needle),
                "{needle} of a shredded job is still in the files"
            );
        }

        assert_eq!(store.delete_many(&[three]).await.unwrap(), 1);
        let files = database_files(dir.path());
        for needle in needles(3) {
            assert!(
                !holds(&files, &needle),
                "{needle} of a batch-deleted job is still in the files"
            );
        }
        // Nothing is left pending for compaction.
        assert!(!store.compact(T0 + 7, 1).await.unwrap());
    }

    /// A reader holding the WAL past `busy_timeout` delays the truncation after a delete (the
    /// delete still succeeds); `compact` finishes it once the reader let go.
    #[tokio::test]
    async fn a_blocked_scrub_is_finished_by_compact() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        let store = ndf_store::open_job_store(&url, &store_options())
            .await
            .unwrap();
        let needle = "DATAKEY-blocked-7Hq2Lm9Zx4";
        let mut spec = new_job(None, "b");
        spec.data_key = Some(needle.as_bytes().to_vec());
        let id = uuid::Uuid::now_v7();
        store.create(id, &spec, T0).await.unwrap();
        // Another connection (another process, say) keeps a read transaction open.
        let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN; SELECT COUNT(*) FROM ndf_jobs;")
            .execute(&mut reader)
            .await
            .unwrap();
        assert!(store.delete(id).await.unwrap());
        assert!(
            holds(&database_files(dir.path()), needle),
            "the reader kept the WAL: the scrub could not finish"
        );
        assert!(!store.compact(T0, 0).await.unwrap(), "still held");
        sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
        assert!(store.compact(T0, 0).await.unwrap());
        assert!(!holds(&database_files(dir.path()), needle));
        assert!(!store.compact(T0, 0).await.unwrap(), "nothing pending");
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
        assert_eq!(versions, 5);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut admin)
            .await
            .unwrap();
        harness.drop_schema().await;
    }

    /// The files of the database a harness's URL points to (`base/<database oid>` under the
    /// server's data directory: the server runs on this machine for the tests), after a
    /// checkpoint, concatenated.
    #[allow(clippy::disallowed_methods)] // the test database's files, a few MiB
    async fn pg_database_files(admin: &mut sqlx::PgConnection) -> Vec<u8> {
        sqlx::raw_sql("CHECKPOINT")
            .execute(&mut *admin)
            .await
            .unwrap();
        let data_dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
            .fetch_one(&mut *admin)
            .await
            .unwrap();
        let oid: i64 = sqlx::query_scalar(
            "SELECT oid::bigint FROM pg_database WHERE datname = current_database()",
        )
        .fetch_one(&mut *admin)
        .await
        .unwrap();
        let dir = std::path::Path::new(&data_dir)
            .join("base")
            .join(oid.to_string());
        let mut all = Vec::new();
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL files under {} must be readable: {e}",
                dir.display()
            )
        });
        for entry in entries.flatten() {
            // A file may vanish (a dropped relation) between listing and reading.
            if let Ok(bytes) = std::fs::read(entry.path()) {
                all.extend(bytes);
            }
        }
        all
    }

    /// A deleted job stays in the table's files as a dead tuple (VACUUM would not zero it);
    /// `compact` rewrites the table so it leaves them, once per interval across replicas, and
    /// ANALYZE keeps no samples of the secret columns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rewrite_removes_deleted_rows_from_the_table_files() {
        use suite::jobs::{T0, new_job};
        let Some(harness) = pg_store().await else {
            return;
        };
        let mut admin = sqlx::PgConnection::connect(&harness.url).await.unwrap();
        // The files hold every schema of the shared test database: needles unique to this run
        // (its schema's name), so another run's rows cannot be mistaken for this one's.
        let run = &harness.schema;
        let needles = [
            format!("IDEMKEY-{run}-Pq3Rt8Vw"),
            format!("DATAKEY-{run}-7Hq2Lm9Zx4"),
            format!("OPTIONS-{run}-Mn4Bv7Cx"),
        ];
        let mut spec = new_job(Some(&needles[0]), "s");
        spec.data_key = Some(needles[1].clone().into_bytes());
        spec.options = serde_json::json!({ "sealed": needles[2] });
        let holds =
            |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
        let id = uuid::Uuid::now_v7();
        harness.store.create(id, &spec, T0).await.unwrap();
        let files = pg_database_files(&mut admin).await;
        for needle in &needles {
            assert!(
                holds(&files, needle),
                "the test finds {needle} while stored"
            );
        }
        // No statistics of the secret columns, even after ANALYZE.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ANALYZE {}.ndf_jobs",
            harness.schema
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        let sampled: Vec<String> = sqlx::query_scalar(
            "SELECT attname::text FROM pg_stats WHERE schemaname = $1 AND tablename = 'ndf_jobs' \
             AND attname IN ('data_key', 'options', 'callback_url', 'idempotency_key')",
        )
        .bind(&harness.schema)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(sampled.is_empty(), "statistics sample {sampled:?}");

        assert!(harness.store.delete(id).await.unwrap());
        // The first call claims the rewrite (never run in this schema) and does it.
        assert!(harness.store.compact(T0 + 1, 60_000).await.unwrap());
        let files = pg_database_files(&mut admin).await;
        for needle in &needles {
            assert!(
                !holds(&files, needle),
                "{needle} of a deleted job is still in the files"
            );
        }
        // Once per interval, whichever replica asks.
        assert!(!harness.store.compact(T0 + 2, 60_000).await.unwrap());
        assert!(
            !harness.store.compact(T0 + 60_000, 0).await.unwrap(),
            "0 = never"
        );
        assert!(harness.store.compact(T0 + 60_001, 60_000).await.unwrap());
        drop(admin);
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
        assert!(
            !err.report().to_string().contains("not-the-password"),
            "{err}"
        );
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
            !err.report()
                .to_string()
                .contains("definitely-not-the-secret"),
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

    /// A delete removes the directories it leaves empty, up to the root (regression: every
    /// deleted job left an empty `jobs/<id>/`); a missing key's empty leftover goes too.
    #[tokio::test]
    async fn deletes_remove_empty_directories() {
        let harness = dir_store().await;
        let root = harness.dir.path().join("blobs");
        for key in ["a/b/c.bin", "a/b/d.bin", "a/e.bin"] {
            harness
                .store
                .put(key, Bytes::from_static(b"x"))
                .await
                .unwrap();
        }
        harness.store.delete("a/b/c.bin").await.unwrap();
        assert!(root.join("a/b").is_dir(), "a/b still holds d.bin");
        harness.store.delete("a/b/d.bin").await.unwrap();
        assert!(!root.join("a/b").exists() && root.join("a").is_dir());
        harness.store.delete("a/e.bin").await.unwrap();
        assert!(!root.join("a").exists());
        assert!(
            root.is_dir() && root.join(".tmp").is_dir(),
            "the root stays"
        );
        std::fs::create_dir_all(root.join("jobs/left/over")).unwrap();
        harness
            .store
            .delete("jobs/left/over/input.pdf")
            .await
            .unwrap();
        assert!(!root.join("jobs").exists());
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [".tmp"]);
    }

    /// Stress: puts into directories that concurrent deletes keep emptying and pruning all
    /// succeed and read back, and nothing is left afterwards (the exact interleaving the retry
    /// covers is forced in `blob_fs::tests::a_directory_removed_under_a_put_is_created_again`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn puts_survive_concurrent_directory_removal() {
        let harness = dir_store().await;
        for round in 0..200 {
            let key = format!("jobs/j{}/input.pdf", round % 3);
            let store = Arc::clone(&harness.store);
            let put_key = key.clone();
            let put = tokio::spawn(async move {
                store
                    .put(&put_key, Bytes::from(format!("round {round}")))
                    .await
            });
            let store = Arc::clone(&harness.store);
            let other = format!("jobs/j{}/other.json", round % 3);
            let prune = tokio::spawn(async move { store.delete(&other).await });
            put.await.unwrap().unwrap();
            prune.await.unwrap().unwrap();
            assert_eq!(
                harness.store.get(&key).await.unwrap().as_deref(),
                Some(format!("round {round}").as_bytes()),
                "round {round}"
            );
            harness.store.delete(&key).await.unwrap();
        }
        assert!(!harness.dir.path().join("blobs/jobs").exists());
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
