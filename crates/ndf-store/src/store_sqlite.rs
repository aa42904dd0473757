//! The embedded job store: one SQLite file in WAL mode.
//!
//! Every write is a single statement; SQLite takes its one write lock before the statement
//! reads anything, and `busy_timeout` makes other connections (and other processes sharing
//! the file) wait for it instead of failing. So a lease claim cannot hand one job to two
//! workers.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};

use crate::error::{StoreError, db};
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
        .ok_or_else(|| StoreError::Invalid(format!("not an sqlite URL: {}", redact_url(url))))?;
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
                        .map_err(|e| crate::error::io("creating the database directory", &e))?;
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
                let migrated = migrate::run_sqlite(&mut conn, migrate::SQLITE).await;
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
            path,
        })
    }
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
            uuid::Uuid::parse_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("column {col} is not a UUID: {e}")))
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
}
