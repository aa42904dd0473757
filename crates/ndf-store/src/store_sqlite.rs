//! The embedded job store: one SQLite file in WAL mode.
//!
//! Every write is a single statement; SQLite takes its one write lock before the statement
//! reads anything, and `busy_timeout` makes other connections (and other processes sharing
//! the file) wait for it instead of failing. So a lease claim cannot hand one job to two
//! workers.
//!
//! Deletion destroys the bytes, not only the rows: every connection runs with
//! `secure_delete = ON` (SQLite zeroes deleted content in the page, in the database file and
//! in the WAL frame that carries the page), and after each transaction that deleted or
//! shredded job data the WAL is checkpointed and truncated to zero bytes
//! (`wal_checkpoint(TRUNCATE)`), so no older page image holding a deleted data key, sealed
//! options or idempotency key survives in `-wal`. A database created before this (schema
//! version 4) is rewritten once with `VACUUM` on open, which drops its old free pages.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};

use crate::error::{Detail, StoreError, db};
use crate::sql::{self, JobRow};
use crate::types::StoreOptions;
use crate::{migrate, redact_url};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite has one writer: more connections only help concurrent readers.
const MAX_POOL: u32 = 8;

/// [`crate::JobStore`] on SQLite.
pub struct SqliteJobStore {
    pub(crate) pool: SqlitePool,
    pub(crate) max_webhook_attempts: u32,
    path: PathBuf,
    /// A file (not `:memory:`): it has a WAL to scrub.
    on_disk: bool,
    /// Deleted data may still sit in the WAL: a scrub is due (set by deletes, cleared by a
    /// complete `wal_checkpoint(TRUNCATE)`).
    scrub_pending: AtomicBool,
    /// One scrub at a time; concurrent deletes share the next one.
    scrub_lock: tokio::sync::Mutex<()>,
}

impl fmt::Debug for SqliteJobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteJobStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Where an `sqlite:` URL points.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Memory,
    File(PathBuf),
}

fn parse_url(url: &str) -> Result<Target, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            StoreError::Invalid(format!("not an sqlite URL: {}", redact_url(url)).into())
        })?;
    match rest {
        ":memory:" => Ok(Target::Memory),
        "" => Err(StoreError::Invalid("sqlite URL has no path".into())),
        // Query parameters (sqlx's ?mode=…) are not supported: the store sets its own options.
        p if p.contains('?') => Err(StoreError::Invalid(
            "sqlite URL must be sqlite://PATH without parameters".into(),
        )),
        p => Ok(Target::File(PathBuf::from(p))),
    }
}

fn encode_id(id: uuid::Uuid) -> String {
    // Lower-case hyphenated: byte order equals UUID order, so `id < $cursor` works on TEXT.
    id.hyphenated().to_string()
}

impl SqliteJobStore {
    /// Opens (creating if missing) the database at `sqlite://PATH` and applies migrations.
    /// `sqlite::memory:` gives a private in-memory database (one connection, for tests).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let target = parse_url(url)?;
        let base = |o: SqliteConnectOptions| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(BUSY_TIMEOUT)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Deleted content is overwritten with zeros (rows, free blocks, free pages).
                .pragma("secure_delete", "ON")
        };
        let pool_options = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
        let (pool, path) = match target {
            Target::Memory => {
                // An in-memory database lives as long as its connection: keep exactly one.
                let connect = base(SqliteConnectOptions::from_str("sqlite::memory:").map_err(db)?);
                let pool = pool_options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(connect)
                    .await
                    .map_err(db)?;
                let mut conn = pool.acquire().await.map_err(db)?;
                migrate::run_sqlite(&mut conn, migrate::SQLITE).await?;
                drop(conn);
                (pool, PathBuf::from(":memory:"))
            }
            Target::File(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| crate::error::io("creating the database directory", e))?;
                }
                let connect = base(
                    SqliteConnectOptions::new()
                        .filename(&path)
                        .create_if_missing(true),
                );
                // Migrate on a connection of its own, closed before the pool opens.
                let mut conn = sqlx::SqliteConnection::connect_with(&connect)
                    .await
                    .map_err(db)?;
                let mut migrated = migrate::run_sqlite(&mut conn, migrate::SQLITE).await;
                if migrated.is_ok() {
                    migrated = secure_vacuum_once(&mut conn).await;
                }
                let _ = conn.close().await;
                migrated?;
                let pool = pool_options
                    .max_connections(options.max_connections.clamp(1, MAX_POOL))
                    .connect_with(connect)
                    .await
                    .map_err(db)?;
                (pool, path)
            }
        };
        Ok(Self {
            pool,
            max_webhook_attempts: options.max_webhook_attempts,
            on_disk: path.as_os_str() != ":memory:",
            path,
            scrub_pending: AtomicBool::new(false),
            scrub_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// After a transaction that deleted or shredded job data: checkpoint the WAL into the
    /// database file (where `secure_delete` already zeroed the data) and truncate it, so no
    /// older page image in `-wal` keeps the data. Should a reader hold the WAL past
    /// `busy_timeout`, the scrub stays pending and [`crate::JobStore::compact`] retries it.
    pub(crate) async fn scrub(&self) -> Result<(), StoreError> {
        if !self.on_disk {
            return Ok(());
        }
        self.scrub_pending.store(true, Ordering::SeqCst);
        self.scrub_if_pending().await.map(|_| ())
    }

    /// Runs a pending scrub; true when one ran to completion.
    async fn scrub_if_pending(&self) -> Result<bool, StoreError> {
        let _one_at_a_time = self.scrub_lock.lock().await;
        // A checkpoint that started after our delete committed covers it: if another caller
        // cleared the flag after we set it, its checkpoint did.
        if !self.scrub_pending.swap(false, Ordering::SeqCst) {
            return Ok(false);
        }
        let done = checkpoint_truncate(&self.pool).await;
        if !matches!(done, Ok(true)) {
            self.scrub_pending.store(true, Ordering::SeqCst);
        }
        done
    }

    /// [`crate::JobStore::compact`]: a scrub that a reader blocked is retried; there is no
    /// table rewrite to do (`secure_delete` already zeroes in place).
    pub(crate) async fn compact_files(
        &self,
        _now: crate::Millis,
        _rewrite_every_ms: i64,
    ) -> Result<bool, StoreError> {
        if !self.on_disk || !self.scrub_pending.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.scrub_if_pending().await
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: true when the whole WAL was copied into the database
/// and truncated to zero bytes; false when a reader or writer kept it busy past
/// `busy_timeout`.
async fn checkpoint_truncate<'e, E>(executor: E) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(executor)
        .await
        .map_err(db)?;
    let busy: i64 = row.try_get(0).map_err(db)?;
    Ok(busy == 0)
}

/// Rewrites a database once (`VACUUM`, then a WAL truncation) while the `secure_vacuum` task
/// of migration 4 has never run: a database from before `secure_delete` keeps the rows it
/// deleted back then in its free pages, which VACUUM drops. Retried on every open until it
/// completes.
async fn secure_vacuum_once(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT last_at FROM ndf_maintenance WHERE task = 'secure_vacuum'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    if last != Some(0) {
        return Ok(());
    }
    sqlx::raw_sql("VACUUM")
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    sqlx::query("UPDATE ndf_maintenance SET last_at = $1 WHERE task = 'secure_vacuum'")
        .bind(migrate::now_millis().max(1))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if !checkpoint_truncate(&mut *conn).await? {
        return Err(StoreError::Unavailable(
            "the database is busy: its write-ahead log could not be truncated after VACUUM".into(),
        ));
    }
    Ok(())
}

impl JobRow for SqliteRow {
    fn i64(&self, col: &str) -> Result<i64, StoreError> {
        self.try_get(col).map_err(db)
    }
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(col).map_err(db)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.try_get(col).map_err(db)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get(col).map_err(db)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(col).map_err(db)
    }
    fn opt_uuid(&self, col: &str) -> Result<Option<uuid::Uuid>, StoreError> {
        let text: Option<String> = self.try_get(col).map_err(db)?;
        text.map(|t| {
            uuid::Uuid::parse_str(&t).map_err(|e| {
                StoreError::Corrupt(Detail::caused_by(format!("column {col} is not a UUID"), e))
            })
        })
        .transpose()
    }
}

crate::common::impl_job_store!(
    SqliteJobStore,
    encode_id,
    sql::LEASE_SQLITE,
    sql::WEBHOOKS_DUE_SQLITE
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("sqlite:///var/lib/ndf/jobs.db").ok(),
            Some(Target::File(PathBuf::from("/var/lib/ndf/jobs.db")))
        );
        assert_eq!(
            parse_url("sqlite://data/jobs.db").ok(),
            Some(Target::File(PathBuf::from("data/jobs.db")))
        );
        assert_eq!(parse_url("sqlite::memory:").ok(), Some(Target::Memory));
        assert!(parse_url("sqlite://").is_err());
        assert!(parse_url("sqlite://x.db?mode=ro").is_err());
        assert!(parse_url("postgres://x").is_err());
    }

    #[test]
    fn ids_sort_as_text() {
        let a = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_000a);
        let b = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00a0);
        assert!(a < b && encode_id(a) < encode_id(b));
    }

    /// The claim statements must use the partial indexes, or every poll would scan all
    /// finished jobs kept for retention.
    #[tokio::test]
    async fn claims_use_their_indexes() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        migrate::run_sqlite(&mut conn, migrate::SQLITE)
            .await
            .unwrap();
        let cases = [
            (sql::LEASE_SQLITE, "ndf_jobs_queue"),
            (sql::WEBHOOKS_DUE_SQLITE, "ndf_jobs_webhook_due"),
            (sql::FAIL_POISONED, "ndf_jobs_state_id"),
            (sql::EXPIRED, "ndf_jobs_expires_at"),
            (sql::LIST_STATE_BEFORE, "ndf_jobs_tenant_state_id"),
            (sql::LIST_BEFORE, "ndf_jobs_tenant_id"),
            (sql::COUNT_ACTIVE, "ndf_jobs_tenant_state_id"),
            (sql::GET_BY_KEY, "ndf_jobs_tenant_idempotency_key"),
        ];
        for (statement, index) in cases {
            let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {statement}"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
            assert!(
                plan.iter().any(|line| line.contains(index)),
                "{index} unused by {statement}: {plan:?}"
            );
            assert!(
                !plan
                    .iter()
                    .any(|line| line.starts_with("SCAN ndf_jobs") && !line.contains("INDEX")),
                "full scan in {statement}: {plan:?}"
            );
        }
    }
    /// A database from before `secure_delete` (schema 3) keeps deleted rows in free space;
    /// opening it with this version rewrites it once, and they are gone.
    #[tokio::test]
    #[allow(clippy::disallowed_methods)] // reads the small database files it wrote
    async fn old_databases_are_rewritten_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let url = format!("sqlite://{}", path.display());
        let files = || {
            let mut all = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(b) = std::fs::read(format!("{}{suffix}", path.display())) {
                    all.extend(b);
                }
            }
            all
        };
        let needle = b"DATAKEY-old-7Hq2Lm9Zx4";
        let holds = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        {
            let old = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let mut conn = sqlx::SqliteConnection::connect_with(&old).await.unwrap();
            migrate::run_sqlite(&mut conn, &migrate::SQLITE[..3])
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO ndf_jobs (id, state, options, body_sha256, input_bytes, max_attempts, \
                 created_at, updated_at, expires_at, data_key) \
                 VALUES ('x', 'queued', '{}', 'sha', 1, 1, 0, 0, 0, $1)",
            )
            .bind(&needle[..])
            .execute(&mut conn)
            .await
            .unwrap();
            sqlx::query("DELETE FROM ndf_jobs")
                .execute(&mut conn)
                .await
                .unwrap();
            assert!(checkpoint_truncate(&mut conn).await.unwrap());
            conn.close().await.unwrap();
        }
        assert!(
            holds(&files()),
            "without secure_delete the deleted row stays in the file"
        );
        let store = SqliteJobStore::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        assert!(!holds(&files()), "the upgrade rewrote the database");
        let last: i64 =
            sqlx::query_scalar("SELECT last_at FROM ndf_maintenance WHERE task = 'secure_vacuum'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert!(last > 0, "done once, not on every open");
    }
}
