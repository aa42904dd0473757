//! The scale-out job store: PostgreSQL shared by many stateless replicas.
//!
//! Claims (`lease`, `webhooks_due`) select their rows with `FOR UPDATE SKIP LOCKED` inside the
//! claiming `UPDATE`, so concurrent replicas never claim the same row and never wait on each
//! other; every other change is a single conditional `UPDATE` checked by lease token.
//!
//! Deletion and MVCC: a deleted or updated row stays in the table's files as a dead tuple, and
//! `VACUUM` makes its space reusable without zeroing it (measured: a deleted tuple at the
//! low end of its page survives `VACUUM` byte for byte). [`crate::JobStore::compact`]
//! therefore rewrites `ndf_jobs` with `VACUUM FULL` once per interval across all replicas
//! (`ndf_maintenance` records the last run): the new files hold live rows only and the old
//! ones are truncated at commit. The WAL and anything copied from it (archives, replicas,
//! base backups) keep deleted rows regardless; see docs/privacy.md.

use std::fmt;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::Row;
use sqlx::postgres::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use crate::error::{StoreError, db};
use crate::sql::{self, JobRow};
use crate::types::StoreOptions;
use crate::{migrate, redact_url};

/// [`crate::JobStore`] on PostgreSQL.
pub struct PgJobStore {
    pub(crate) pool: PgPool,
    pub(crate) max_webhook_attempts: u32,
    url: String,
    /// How the table rewrite connects (its own connection, with its own timeouts).
    maintenance: PgConnectOptions,
}

/// How long the table rewrite waits for its exclusive lock before giving up until the next
/// sweep (every statement on `ndf_jobs` queues behind it meanwhile).
const REWRITE_LOCK_TIMEOUT: &str = "5s";
/// Longest table rewrite; a bigger table is not rewritten (the error is logged).
const REWRITE_STATEMENT_TIMEOUT: &str = "600s";

impl fmt::Debug for PgJobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgJobStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn encode_id(id: uuid::Uuid) -> uuid::Uuid {
    id
}

impl PgJobStore {
    /// Connects a pool of `options.max_connections` to `postgres://…` and applies migrations
    /// (serialized across replicas by an advisory lock). The URL's `options` parameter can
    /// select a schema: `?options=-c%20search_path%3Dndf`.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let redacted = redact_url(url);
        // sqlx's parse errors may quote the URL: report our own, redacted, message instead.
        let connect = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Invalid(format!("bad PostgreSQL URL {redacted}").into()))?
            .application_name("ndf");
        // The migration connection may wait for another replica's advisory lock, but not
        // forever (and migrations may take a while on a big table).
        let migrate_connect = connect
            .clone()
            .options([("lock_timeout", "120s"), ("statement_timeout", "600s")]);
        let mut conn = sqlx::PgConnection::connect_with(&migrate_connect)
            .await
            .map_err(db)?;
        let migrated = migrate::run_postgres(&mut conn, migrate::POSTGRES).await;
        // Closing the connection also drops the advisory lock should migration have failed.
        let _ = conn.close().await;
        migrated?;
        // Every store statement is a short indexed one: bound them so a stuck lock or a sick
        // server surfaces as an error instead of a hung request.
        let maintenance = connect.clone().options([
            ("lock_timeout", REWRITE_LOCK_TIMEOUT),
            ("statement_timeout", REWRITE_STATEMENT_TIMEOUT),
        ]);
        let connect = connect.options([("lock_timeout", "10s"), ("statement_timeout", "30s")]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(db)?;
        Ok(Self {
            pool,
            max_webhook_attempts: options.max_webhook_attempts,
            url: redacted,
            maintenance,
        })
    }

    /// After a transaction that deleted or shredded job data: nothing can be done at once on
    /// PostgreSQL (dead tuples are removed by [`crate::JobStore::compact`]).
    #[allow(clippy::unused_async)] // same shape as SQLite's, called from the shared impl
    pub(crate) async fn scrub(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// [`crate::JobStore::compact`]: rewrites `ndf_jobs` with `VACUUM FULL` when no replica did
    /// in the last `rewrite_every_ms`. The run is claimed first (compare-and-set on
    /// `ndf_maintenance`), so one replica rewrites per interval; a rewrite that could not get
    /// its lock in time gives the claim back, so the next sweep tries again.
    pub(crate) async fn compact_files(
        &self,
        now: crate::Millis,
        rewrite_every_ms: i64,
    ) -> Result<bool, StoreError> {
        if rewrite_every_ms <= 0 {
            return Ok(false);
        }
        let last: i64 =
            sqlx::query_scalar("SELECT last_at FROM ndf_maintenance WHERE task = 'rewrite_jobs'")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        if now.saturating_sub(last) < rewrite_every_ms {
            return Ok(false);
        }
        let claimed = sqlx::query(
            "UPDATE ndf_maintenance SET last_at = $1 WHERE task = 'rewrite_jobs' AND last_at = $2",
        )
        .bind(now)
        .bind(last)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        if !claimed {
            return Ok(false);
        }
        let rewritten = async {
            let mut conn = PgConnection::connect_with(&self.maintenance).await?;
            // VACUUM runs outside a transaction block: the simple protocol, one statement.
            let done = sqlx::raw_sql("VACUUM (FULL) ndf_jobs")
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
            done
        }
        .await;
        match rewritten {
            Ok(_) => Ok(true),
            Err(e) => {
                let lock_timeout = matches!(
                    &e,
                    sqlx::Error::Database(d) if d.code().as_deref() == Some("55P03")
                );
                if lock_timeout {
                    // Busy table: give the claim back so the next sweep tries again.
                    let _ = sqlx::query(
                        "UPDATE ndf_maintenance SET last_at = $1 \
                         WHERE task = 'rewrite_jobs' AND last_at = $2",
                    )
                    .bind(last)
                    .bind(now)
                    .execute(&self.pool)
                    .await;
                }
                Err(db(e))
            }
        }
    }
}

impl JobRow for PgRow {
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
        self.try_get(col).map_err(db)
    }
}

crate::common::impl_job_store!(PgJobStore, encode_id, sql::LEASE_PG, sql::WEBHOOKS_DUE_PG);
