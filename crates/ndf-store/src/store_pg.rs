//! The scale-out job store: PostgreSQL shared by many stateless replicas.
//!
//! Claims (`lease`, `webhooks_due`) select their rows with `FOR UPDATE SKIP LOCKED` inside the
//! claiming `UPDATE`, so concurrent replicas never claim the same row and never wait on each
//! other; every other change is a single conditional `UPDATE` checked by lease token.

use std::fmt;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::Row;
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
}

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
            .map_err(|_| StoreError::Invalid(format!("bad PostgreSQL URL {redacted}")))?
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
        })
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
