//! SQL shared by both backends (SQLite accepts PostgreSQL's `$N` parameters), the statements
//! that differ, and the row → [`Job`] mapping.
//!
//! Every state change is one conditional `UPDATE … WHERE <expected state and token>`: the
//! database's row lock (PostgreSQL) or its single writer (SQLite) makes each one atomic, so no
//! transaction is ever held across an await on anything but the database.

use crate::error::{Detail, StoreError};
use crate::types::{Job, JobError, JobState, WebhookState};

/// Every column of a job row, in `RETURNING`/`SELECT` lists.
macro_rules! job_columns {
    () => {
        "id, state, options, callback_url, idempotency_key, body_sha256, input_bytes, attempts, \
         max_attempts, pages_done, pages_total, result_bytes, error_code, error_message, \
         created_at, updated_at, started_at, finished_at, expires_at, lease_owner, \
         lease_expires_at, lease_token, traceparent, webhook_attempts, webhook_next_attempt_at, \
         webhook_delivered_at, webhook_last_error, tenant, data_key"
    };
}

/// Lease candidates: queued jobs, and running jobs whose lease expired with attempts left.
/// The redundant `state IN (…)` term lets both databases use the partial queue index, whose
/// order also serves the `ORDER BY … LIMIT 1` (no sort of the whole queue).
macro_rules! lease_candidates {
    ($table:literal) => {
        concat!(
            "SELECT id FROM ",
            $table,
            " WHERE state IN ('queued', 'running') \
           AND (state = 'queued' OR (lease_expires_at <= $2 AND attempts < max_attempts)) \
             ORDER BY created_at, id LIMIT 1"
        )
    };
}

/// Claims a lease candidate. $1 owner, $2 now, $3 lease expiry, $4 token.
macro_rules! lease_update {
    ($candidates:expr) => {
        concat!(
            "UPDATE ndf_jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_expires_at = $3, lease_token = $4, started_at = COALESCE(started_at, $2), \
             updated_at = $2 \
             WHERE id = (",
            $candidates,
            ") RETURNING ",
            job_columns!()
        )
    };
}

/// SQLite: one statement takes the single write lock before reading, so the candidate cannot
/// be claimed twice (across tasks and across processes sharing the file). Without statistics
/// its planner would prefer the (state, id) index plus a sort: name the queue index.
pub(crate) const LEASE_SQLITE: &str =
    lease_update!(lease_candidates!("ndf_jobs INDEXED BY ndf_jobs_queue"));
/// PostgreSQL: concurrent replicas skip rows another transaction is claiming.
pub(crate) const LEASE_PG: &str = lease_update!(concat!(
    lease_candidates!("ndf_jobs"),
    " FOR UPDATE SKIP LOCKED"
));

/// Fails running jobs whose lease expired after their last allowed attempt (a document that
/// kills its worker must not loop forever). $1 now.
pub(crate) const FAIL_POISONED: &str = "UPDATE ndf_jobs SET state = 'failed', \
     error_code = COALESCE(error_code, 'worker_lost'), \
     error_message = COALESCE(error_message, 'the worker stopped responding on the last allowed attempt'), \
     finished_at = $1, updated_at = $1, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL, \
     webhook_next_attempt_at = CASE WHEN callback_url IS NULL THEN NULL ELSE $1 END \
     WHERE state = 'running' AND lease_expires_at <= $1 AND attempts >= max_attempts";

/// $1 id, $2 options, $3 callback_url, $4 idempotency_key, $5 body_sha256, $6 input_bytes,
/// $7 max_attempts, $8 now, $9 expires_at, $10 traceparent, $11 tenant, $12 data_key.
/// Idempotency keys are unique per tenant (migration 4): another tenant's key never conflicts.
pub(crate) const INSERT: &str = concat!(
    "INSERT INTO ndf_jobs (id, state, options, callback_url, idempotency_key, body_sha256, \
     input_bytes, attempts, max_attempts, pages_done, created_at, updated_at, expires_at, \
     traceparent, webhook_attempts, tenant, data_key) \
     VALUES ($1, 'queued', $2, $3, $4, $5, $6, 0, $7, 0, $8, $8, $9, $10, 0, $11, $12) \
     ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING ",
    job_columns!()
);

pub(crate) const GET: &str = concat!("SELECT ", job_columns!(), " FROM ndf_jobs WHERE id = $1");
/// $1 tenant, $2 idempotency key: the job holding a key, looked up in the caller's tenant only.
pub(crate) const GET_BY_KEY: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM ndf_jobs WHERE tenant = $1 AND idempotency_key = $2"
);

/// $1 tenant, $2 most to count: a tenant's queued and running jobs (per-tenant quota), through
/// the (tenant, state, id) index and never more than $2 of them.
pub(crate) const COUNT_ACTIVE: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM ndf_jobs \
     WHERE tenant = $1 AND state IN ('queued', 'running') LIMIT $2) AS active";

/// list() variants (separate statements so each gets a good plan); $1 tenant, limit last.
pub(crate) const LIST: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM ndf_jobs WHERE tenant = $1 ORDER BY id DESC LIMIT $2"
);
pub(crate) const LIST_BEFORE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM ndf_jobs WHERE tenant = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
);
pub(crate) const LIST_STATE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM ndf_jobs WHERE tenant = $1 AND state = $2 ORDER BY id DESC LIMIT $3"
);
pub(crate) const LIST_STATE_BEFORE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM ndf_jobs WHERE tenant = $1 AND state = $2 AND id < $3 ORDER BY id DESC LIMIT $4"
);

/// $1 tenant, $2 limit: ids of a tenant's jobs (erasure).
pub(crate) const TENANT_JOB_IDS: &str =
    "SELECT id FROM ndf_jobs WHERE tenant = $1 ORDER BY id LIMIT $2";
/// $1 after id (or the nil id), $2 limit: jobs holding a data key (master-key rotation).
pub(crate) const KEYED_JOBS: &str = "SELECT id, data_key FROM ndf_jobs \
     WHERE data_key IS NOT NULL AND id > $1 ORDER BY id LIMIT $2";
/// $1 id, $2 the re-wrapped data key.
pub(crate) const SET_DATA_KEY: &str = "UPDATE ndf_jobs SET data_key = $2 WHERE id = $1";
/// $1 id: crypto-shredding of a job whose row stays (a cancelled job): its data key and its
/// options (sealed under that key, or plain with a password when stored unencrypted) go.
pub(crate) const SHRED: &str = "UPDATE ndf_jobs SET data_key = NULL, options = '{}' WHERE id = $1";

/// $1 id, $2 token, $3 now, $4 lease expiry, $5 pages_done, $6 pages_total.
pub(crate) const HEARTBEAT: &str = "UPDATE ndf_jobs SET lease_expires_at = $4, pages_done = $5, \
     pages_total = COALESCE($6, pages_total), updated_at = $3 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state";

pub(crate) const LEASE_STATE: &str = "SELECT state, lease_token FROM ndf_jobs WHERE id = $1";

/// $1 id, $2 token, $3 now, $4 pages_total, $5 result_bytes.
pub(crate) const FINISH_OK: &str = "UPDATE ndf_jobs SET state = 'succeeded', pages_total = $4, \
     pages_done = $4, result_bytes = $5, error_code = NULL, error_message = NULL, \
     finished_at = $3, updated_at = $3, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL, \
     webhook_next_attempt_at = CASE WHEN callback_url IS NULL THEN NULL ELSE $3 END \
     WHERE id = $1 AND lease_token = $2 AND state = 'running'";

/// $1 id, $2 token, $3 now, $4 code, $5 message, $6 retryable. SET expressions see the row as
/// it was, so `attempts < max_attempts` decides requeue vs. final failure in one statement.
pub(crate) const FINISH_ERR: &str = "UPDATE ndf_jobs SET \
     state = CASE WHEN $6 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
     finished_at = CASE WHEN $6 AND attempts < max_attempts THEN NULL ELSE $3 END, \
     pages_done = CASE WHEN $6 AND attempts < max_attempts THEN 0 ELSE pages_done END, \
     webhook_next_attempt_at = CASE WHEN ($6 AND attempts < max_attempts) OR callback_url IS NULL \
         THEN NULL ELSE $3 END, \
     error_code = $4, error_message = $5, updated_at = $3, \
     lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL \
     WHERE id = $1 AND lease_token = $2 AND state = 'running'";

/// $1 id, $2 token, $3 now.
pub(crate) const RELEASE: &str = "UPDATE ndf_jobs SET state = 'queued', \
     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, pages_done = 0, \
     updated_at = $3, lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL \
     WHERE id = $1 AND lease_token = $2 AND state = 'running'";

/// $1 id, $2 now. Keeps lease_token so the worker's next heartbeat reports Cancelled.
pub(crate) const CANCEL: &str = concat!(
    "UPDATE ndf_jobs SET state = 'cancelled', finished_at = $2, updated_at = $2, \
     lease_owner = NULL, lease_expires_at = NULL, \
     webhook_next_attempt_at = CASE WHEN callback_url IS NULL THEN NULL ELSE $2 END \
     WHERE id = $1 AND state IN ('queued', 'running') RETURNING ",
    job_columns!()
);

pub(crate) const DELETE: &str = "DELETE FROM ndf_jobs WHERE id = $1";

/// $1 now, $2 limit.
pub(crate) const EXPIRED: &str =
    "SELECT id FROM ndf_jobs WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2";

/// Due webhooks, found through the partial index of pending ones (finished jobs kept for
/// retention are never scanned).
macro_rules! webhook_candidates {
    ($table:literal) => {
        concat!(
            "SELECT id FROM ",
            $table,
            " WHERE webhook_next_attempt_at <= $1 AND webhook_delivered_at IS NULL \
           AND callback_url IS NOT NULL AND state IN ('succeeded', 'failed', 'cancelled') \
           AND webhook_attempts < $4 \
             ORDER BY webhook_next_attempt_at, id LIMIT $5"
        )
    };
}

/// Claims due webhooks by pushing their due time to the end of the claim. $1 now, $2 owner,
/// $3 claim end, $4 max attempts, $5 limit.
macro_rules! webhook_claim {
    ($candidates:expr) => {
        concat!(
            "UPDATE ndf_jobs SET webhook_next_attempt_at = $3, webhook_owner = $2 WHERE id IN (",
            $candidates,
            ") RETURNING ",
            job_columns!()
        )
    };
}

pub(crate) const WEBHOOKS_DUE_SQLITE: &str = webhook_claim!(webhook_candidates!(
    "ndf_jobs INDEXED BY ndf_jobs_webhook_due"
));
pub(crate) const WEBHOOKS_DUE_PG: &str = webhook_claim!(concat!(
    webhook_candidates!("ndf_jobs"),
    " FOR UPDATE SKIP LOCKED"
));

/// $1 id, $2 now, $3 delivered, $4 next attempt, $5 error.
pub(crate) const WEBHOOK_ATTEMPTED: &str = "UPDATE ndf_jobs SET \
     webhook_attempts = webhook_attempts + 1, \
     webhook_delivered_at = CASE WHEN $3 THEN $2 ELSE webhook_delivered_at END, \
     webhook_next_attempt_at = CASE WHEN $3 THEN NULL ELSE $4 END, \
     webhook_last_error = $5, webhook_owner = NULL \
     WHERE id = $1";

pub(crate) const COUNTS: &str =
    "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM ndf_jobs GROUP BY state";
/// $1 now.
pub(crate) const COUNT_LEASE_EXPIRED: &str = "SELECT COUNT(*) FROM ndf_jobs \
     WHERE state = 'running' AND lease_expires_at <= $1";

/// Typed column access, implemented by each backend's row type (ids are `uuid` in PostgreSQL
/// and hyphenated text in SQLite).
pub(crate) trait JobRow {
    fn i64(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn opt_uuid(&self, col: &str) -> Result<Option<uuid::Uuid>, StoreError>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn uuid(&self, col: &str) -> Result<uuid::Uuid, StoreError> {
        self.opt_uuid(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is NULL").into()))
    }
}

fn corrupt(col: &str, value: i64) -> StoreError {
    StoreError::Corrupt(format!("column {col} holds out-of-range value {value}").into())
}

fn u32_col<R: JobRow>(row: &R, col: &str) -> Result<u32, StoreError> {
    let v = row.i64(col)?;
    u32::try_from(v).map_err(|_| corrupt(col, v))
}

fn opt_u32_col<R: JobRow>(row: &R, col: &str) -> Result<Option<u32>, StoreError> {
    row.opt_i64(col)?
        .map(|v| u32::try_from(v).map_err(|_| corrupt(col, v)))
        .transpose()
}

fn u64_col<R: JobRow>(row: &R, col: &str) -> Result<u64, StoreError> {
    let v = row.i64(col)?;
    u64::try_from(v).map_err(|_| corrupt(col, v))
}

pub(crate) fn parse_state(s: &str) -> Result<JobState, StoreError> {
    s.parse().map_err(|e: String| StoreError::Corrupt(e.into()))
}

/// Reads a whole job row.
pub(crate) fn job_from_row<R: JobRow>(row: &R) -> Result<Job, StoreError> {
    let options_text = row.text("options")?;
    let options = serde_json::from_str(&options_text)
        .map_err(|e| StoreError::Corrupt(Detail::caused_by("job options are not JSON", e)))?;
    let error = match (row.opt_text("error_code")?, row.opt_text("error_message")?) {
        (None, None) => None,
        (code, message) => Some(JobError {
            code: code.unwrap_or_default(),
            message: message.unwrap_or_default(),
        }),
    };
    let result_bytes = row
        .opt_i64("result_bytes")?
        .map(|v| u64::try_from(v).map_err(|_| corrupt("result_bytes", v)))
        .transpose()?;
    Ok(Job {
        id: row.uuid("id")?,
        state: parse_state(&row.text("state")?)?,
        options,
        callback_url: row.opt_text("callback_url")?,
        idempotency_key: row.opt_text("idempotency_key")?,
        body_sha256: row.text("body_sha256")?,
        input_bytes: u64_col(row, "input_bytes")?,
        attempts: u32_col(row, "attempts")?,
        max_attempts: u32_col(row, "max_attempts")?,
        pages_done: u32_col(row, "pages_done")?,
        pages_total: opt_u32_col(row, "pages_total")?,
        result_bytes,
        error,
        created_at: row.i64("created_at")?,
        updated_at: row.i64("updated_at")?,
        started_at: row.opt_i64("started_at")?,
        finished_at: row.opt_i64("finished_at")?,
        expires_at: row.i64("expires_at")?,
        lease_owner: row.opt_text("lease_owner")?,
        lease_expires_at: row.opt_i64("lease_expires_at")?,
        traceparent: row.opt_text("traceparent")?,
        tenant: row.text("tenant")?,
        data_key: row.opt_bytes("data_key")?,
        webhook: WebhookState {
            attempts: u32_col(row, "webhook_attempts")?,
            next_attempt_at: row.opt_i64("webhook_next_attempt_at")?,
            delivered_at: row.opt_i64("webhook_delivered_at")?,
            last_error: row.opt_text("webhook_last_error")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_assembled() {
        assert!(LEASE_PG.ends_with("lease_token, traceparent, webhook_attempts, webhook_next_attempt_at, webhook_delivered_at, webhook_last_error, tenant, data_key"));
        assert!(LEASE_PG.contains("LIMIT 1 FOR UPDATE SKIP LOCKED)"));
        assert!(!LEASE_SQLITE.contains("SKIP LOCKED"));
        assert!(WEBHOOKS_DUE_PG.contains("LIMIT $5 FOR UPDATE SKIP LOCKED)"));
        assert!(
            INSERT.contains("ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING id, state")
        );
    }
}
