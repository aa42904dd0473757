//! [`AuditLog`] on SQLite and on PostgreSQL, over the `ndf_audit` table (migrations 2 and 5).
//!
//! Both open their database exactly as the job store does (same URL forms, options and
//! migrations) and keep a pool of their own. Appends read the head and insert the next record
//! inside one transaction that holds the log's write lock, so concurrent appenders (tasks,
//! replicas, processes) form one linear chain with dense `seq`. Each record is keyed with the
//! `audit_key` of the options; a failed append is counted and recorded by the next successful
//! one (an `audit_append_failed` record written in the same transaction, just before it).

use std::fmt;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};

use crate::audit::{self, AuditEvent, AuditKey, AuditLog, AuditRecord, PendingFailures};
use crate::error::{StoreError, db};
use crate::sql::JobRow;
use crate::types::{Millis, StoreOptions};
use crate::{PgJobStore, SqliteJobStore, redact_url};

macro_rules! audit_columns {
    () => {
        "seq, at, actor, action, tenant, target, outcome, detail, prev_hash, key_id, hash"
    };
}

const HEAD: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM ndf_audit ORDER BY seq DESC LIMIT 1"
);
const INSERT: &str = concat!(
    "INSERT INTO ndf_audit (",
    audit_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);
/// $1 from (inclusive), $2 to (exclusive), $3 after seq, $4 limit.
const RANGE: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM ndf_audit WHERE at >= $1 AND at < $2 AND seq > $3 ORDER BY seq LIMIT $4"
);
/// $1 first seq, $2 limit.
const ALL_FROM: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM ndf_audit WHERE seq >= $1 ORDER BY seq LIMIT $2"
);

/// Key of the PostgreSQL advisory lock serializing appends ("ndfaudt" in ASCII). Advisory
/// locks are per database: logs in different schemas of one database share it (harmless).
const PG_APPEND_LOCK: i64 = 0x006e_6466_6175_6474;

fn record_from_row<R: JobRow>(row: &R) -> Result<AuditRecord, StoreError> {
    let detail_text = row.text("detail")?;
    // Unparsable detail (only by tampering) is kept as its raw text, so the record still
    // exports and the verifier reports it as edited instead of stopping at it.
    let detail = match serde_json::from_str(&detail_text) {
        Ok(detail) => detail,
        Err(_) => serde_json::Value::String(detail_text),
    };
    Ok(AuditRecord {
        seq: row.i64("seq")?,
        at: row.i64("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        tenant: row.opt_text("tenant")?,
        target: row.opt_text("target")?,
        outcome: row.text("outcome")?,
        detail,
        prev_hash: row.text("prev_hash")?,
        key_id: row.opt_text("key_id")?,
        hash: row.text("hash")?,
    })
}

/// `(seq, at, hash)` of the head row, if any.
fn head_link<R: JobRow>(row: Option<R>) -> Result<Option<(i64, Millis, String)>, StoreError> {
    row.map(|row| Ok((row.i64("seq")?, row.i64("at")?, row.text("hash")?)))
        .transpose()
}

/// Implements the read side of [`AuditLog`] and `append` around the backend's
/// `append_locked(&self, pending, event, key, now)`.
macro_rules! impl_audit_log {
    ($log:ty) => {
        impl $log {
            async fn append_keyed(
                &self,
                event: AuditEvent,
                now: Millis,
            ) -> Result<AuditRecord, StoreError> {
                let key = self.key.as_ref().ok_or_else(audit::no_key)?;
                let checked = audit::check_event(event)?;
                let pending = self.failures.take();
                match self
                    .append_locked(pending.as_ref(), checked, key, now)
                    .await
                {
                    Ok(record) => Ok(record),
                    Err(e) => {
                        if let Some(pending) = pending {
                            self.failures.restore(pending);
                        }
                        Err(e)
                    }
                }
            }
        }

        #[async_trait]
        impl AuditLog for $log {
            async fn append(
                &self,
                event: AuditEvent,
                now: Millis,
            ) -> Result<AuditRecord, StoreError> {
                let action = event.action;
                let result = self.append_keyed(event, now).await;
                if result.is_err() {
                    self.failures.note(action, now);
                }
                result
            }

            async fn range(
                &self,
                from: Millis,
                to: Millis,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                sqlx::query(RANGE)
                    .bind(from)
                    .bind(to)
                    .bind(after_seq)
                    .bind(audit::page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .iter()
                    .map(record_from_row)
                    .collect()
            }

            async fn all_from(
                &self,
                from_seq: i64,
                limit: u32,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                sqlx::query(ALL_FROM)
                    .bind(from_seq)
                    .bind(audit::page_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .iter()
                    .map(record_from_row)
                    .collect()
            }

            async fn head(&self) -> Result<Option<AuditRecord>, StoreError> {
                sqlx::query(HEAD)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?
                    .as_ref()
                    .map(record_from_row)
                    .transpose()
            }
        }
    };
}

/// Inserts `record` in `tx` (the caller holds the append lock in it).
macro_rules! insert {
    ($tx:expr, $record:expr, $detail:expr) => {{
        let record = $record;
        sqlx::query(INSERT)
            .bind(record.seq)
            .bind(record.at)
            .bind(&record.actor)
            .bind(&record.action)
            .bind(record.tenant.as_deref())
            .bind(record.target.as_deref())
            .bind(&record.outcome)
            .bind($detail)
            .bind(&record.prev_hash)
            .bind(record.key_id.as_deref())
            .bind(&record.hash)
            .execute(&mut *$tx)
            .await
            .map_err(db)?;
    }};
}

/// Appends, after the head `link`, the record of earlier failed appends (if any) and then
/// `event`, in `tx`, and commits it; returns the event's record.
macro_rules! append_after {
    ($tx:expr, $link:expr, $pending:expr, $checked:expr, $key:expr, $now:expr) => {{
        let mut link = $link;
        if let Some(pending) = $pending {
            let checked = &pending.checked;
            let failed = audit::next_record(
                checked.event.clone(),
                &checked.detail_json,
                link,
                $now,
                $key,
            )?;
            insert!($tx, &failed, &checked.detail_json);
            link = Some((failed.seq, failed.at, failed.hash));
        }
        let audit::CheckedEvent { event, detail_json } = $checked;
        let record = audit::next_record(event, &detail_json, link, $now, $key)?;
        insert!($tx, &record, &detail_json);
        $tx.commit().await.map_err(db)?;
        Ok(record)
    }};
}

/// [`AuditLog`] on SQLite (the job store's file).
pub struct SqliteAuditLog {
    pool: SqlitePool,
    url: String,
    key: Option<AuditKey>,
    failures: PendingFailures,
}

impl fmt::Debug for SqliteAuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteAuditLog")
            .field("url", &self.url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl SqliteAuditLog {
    /// Opens `sqlite://PATH` like [`SqliteJobStore::open`] (creating it and applying
    /// migrations). `sqlite::memory:` gives a private database, not the job store's.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        Ok(Self::on(
            &SqliteJobStore::open(url, options).await?,
            url,
            options,
        ))
    }

    /// The audit log of an open job store's database, on the same pool.
    pub(crate) fn on(store: &SqliteJobStore, url: &str, options: &StoreOptions) -> Self {
        Self {
            pool: store.pool.clone(),
            url: redact_url(url),
            key: options.audit_key.clone(),
            failures: PendingFailures::default(),
        }
    }

    async fn append_locked(
        &self,
        pending: Option<&audit::PendingRecord>,
        checked: audit::CheckedEvent,
        key: &AuditKey,
        now: Millis,
    ) -> Result<AuditRecord, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // IMMEDIATE takes the database's write lock before the head is read: other appenders,
        // in this process or another, wait (busy_timeout) and then see this record.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let head: Option<SqliteRow> = sqlx::query(HEAD)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        append_after!(tx, head_link(head)?, pending, checked, key, now)
    }
}

impl_audit_log!(SqliteAuditLog);

/// [`AuditLog`] on PostgreSQL (the job store's database and schema).
pub struct PgAuditLog {
    pool: PgPool,
    url: String,
    key: Option<AuditKey>,
    failures: PendingFailures,
}

impl fmt::Debug for PgAuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgAuditLog")
            .field("url", &self.url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl PgAuditLog {
    /// Connects to `postgres://…` like [`PgJobStore::open`] (same pool options, statement
    /// timeouts and migrations).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        Ok(Self::on(
            &PgJobStore::open(url, options).await?,
            url,
            options,
        ))
    }

    /// The audit log of an open job store's database, on the same pool.
    pub(crate) fn on(store: &PgJobStore, url: &str, options: &StoreOptions) -> Self {
        Self {
            pool: store.pool.clone(),
            url: redact_url(url),
            key: options.audit_key.clone(),
            failures: PendingFailures::default(),
        }
    }

    async fn append_locked(
        &self,
        pending: Option<&audit::PendingRecord>,
        checked: audit::CheckedEvent,
        key: &AuditKey,
        now: Millis,
    ) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Held until commit or rollback; the head is read after it is granted (READ COMMITTED
        // takes a new snapshot per statement), so it is the last committed record.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_APPEND_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let head: Option<PgRow> = sqlx::query(HEAD)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        append_after!(tx, head_link(head)?, pending, checked, key, now)
    }
}

impl_audit_log!(PgAuditLog);
