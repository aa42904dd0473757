//! Durable job and blob storage for `ndf serve`.
//!
//! Two traits, two backends each:
//! - [`JobStore`]: SQLite in WAL mode (embedded default, `sqlite://PATH`) or PostgreSQL
//!   (`postgres://…`, shared by many stateless replicas).
//! - [`BlobStore`]: a local directory (`file://DIR`) or S3-compatible object storage
//!   (`s3://bucket/prefix`).
//! - [`AuditLog`]: the append-only, hash-chained audit log, in the job store's database
//!   (module [`audit`] documents the hash and the verifier).
//!
//! Guarantees: a job is created once per (tenant, idempotency key); a job is leased by one
//! worker at a time (lease token = fencing token) and finished at most once; a worker that dies
//! loses its lease when it expires and the job is retried, up to `max_attempts`; webhooks are
//! claimed per replica for a short time so that two replicas do not deliver the same
//! notification at once (delivery itself is at least once); a deleted job's bytes leave the
//! database's files (SQLite: before `delete` returns; PostgreSQL: at the next
//! [`JobStore::compact`] rewrite).
//!
//! All times are [`Millis`] supplied by the caller (`now`), never the database clock, so both
//! backends behave identically and tests are deterministic.

pub mod audit;
mod audit_store;
mod blob_fs;
mod blob_s3;
mod common;
mod error;
mod keys;
mod migrate;
mod redact;
mod sql;
mod store_pg;
mod store_sqlite;
mod types;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub use audit::{
    AnchorError, AuditAction, AuditEvent, AuditKey, AuditLog, AuditRecord, ChainHead, GENESIS_HASH,
    Problem, ProblemKind, Verifier, VerifyReport, anchor_token, parse_anchor, verify, verify_store,
};
pub use audit_store::{PgAuditLog, SqliteAuditLog};
pub use blob_fs::DirBlobStore;
pub use blob_s3::S3BlobStore;
pub use error::{BoxError, Detail, Report, StoreError};
pub use keys::{ApiKey, KeyStore};
pub use redact::redact_url;
pub use store_pg::PgJobStore;
pub use store_sqlite::SqliteJobStore;
pub use types::{
    CreateOutcome, Job, JobCounts, JobError, JobId, JobState, Lease, LeaseStatus, Millis, NewJob,
    Outcome, StoreOptions, WebhookState,
};

/// Longest idempotency key accepted by [`JobStore::create`], in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;
/// Longest callback URL accepted by [`JobStore::create`], in bytes.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;
/// Longest traceparent accepted by [`JobStore::create`], in bytes (W3C's is 55).
pub const MAX_TRACEPARENT_LEN: usize = 256;
/// Largest serialized `options` accepted by [`JobStore::create`], in bytes.
pub const MAX_OPTIONS_LEN: usize = 64 * 1024;
/// Longest lease/webhook owner name, in bytes.
pub const MAX_OWNER_LEN: usize = 256;
/// Error codes, error messages and webhook errors are cut to this many bytes when stored.
pub const MAX_ERROR_LEN: usize = 4096;
/// Longest blob key, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Longest segment of a blob key (a file name on the directory backend), in bytes.
pub const MAX_KEY_SEGMENT_LEN: usize = 255;
/// [`JobStore::list`] returns at most this many jobs per page.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// Durable job queue and job records. Object-safe: use as `Arc<dyn JobStore>` (`Debug` so that
/// state holding one can derive it; implementations print no secrets).
#[async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts a queued job, or resolves its idempotency key (unique per tenant: the key is
    /// looked up among `job.tenant`'s jobs only, so another tenant's job is never returned):
    /// `Existing` when the stored `body_sha256` matches, `Conflict` otherwise. Atomic under
    /// concurrency.
    async fn create(
        &self,
        id: JobId,
        job: &NewJob,
        now: Millis,
    ) -> Result<CreateOutcome, StoreError>;
    /// The job, or `None` when unknown.
    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError>;
    /// A tenant's jobs, newest first; `before` is a cursor (the last id of the previous page);
    /// `limit` is clamped to `1..=1000`.
    async fn list(
        &self,
        tenant: &str,
        state: Option<JobState>,
        limit: u32,
        before: Option<JobId>,
    ) -> Result<Vec<Job>, StoreError>;
    /// Claims the oldest queued job, or a running job whose lease expired (its worker died):
    /// increments attempts, sets it running with a new lease. A running job whose lease expired
    /// with `attempts >= max_attempts` is failed instead (its last error, or `worker_lost`).
    async fn lease(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
    ) -> Result<Option<Lease>, StoreError>;
    /// Extends the lease and records progress; tells whether the worker still holds the job.
    async fn heartbeat(
        &self,
        lease: &Lease,
        now: Millis,
        lease_ms: i64,
        pages_done: u32,
        pages_total: Option<u32>,
    ) -> Result<LeaseStatus, StoreError>;
    /// Finishes a held job exactly once: `false` (and nothing changed) when the lease is no
    /// longer held. A retryable failure with attempts left goes back to the queue.
    async fn finish(
        &self,
        lease: &Lease,
        now: Millis,
        outcome: Outcome,
    ) -> Result<bool, StoreError>;
    /// Gives a held job back to the queue without counting the attempt (graceful shutdown).
    async fn release(&self, lease: &Lease, now: Millis) -> Result<bool, StoreError>;
    /// queued/running → cancelled; returns the job (`None` if unknown). Finished jobs are
    /// returned unchanged.
    async fn cancel(&self, id: JobId, now: Millis) -> Result<Option<Job>, StoreError>;
    /// Removes the job record; `false` when it did not exist. Before it returns, the deleted
    /// bytes are gone from every file of an SQLite database (zeroed in place by
    /// `secure_delete`, and the WAL checkpointed and truncated; should a reader block the
    /// truncation, [`JobStore::compact`] finishes it); on PostgreSQL they stay in the table's
    /// files until [`JobStore::compact`] rewrites it (docs/privacy.md, "What deletion
    /// guarantees").
    async fn delete(&self, id: JobId) -> Result<bool, StoreError>;
    /// Removes job records (at most 1000 per call) in one transaction, with the same
    /// guarantee as [`JobStore::delete`]; returns how many existed.
    async fn delete_many(&self, ids: &[JobId]) -> Result<u64, StoreError>;
    /// A tenant's queued and running jobs, counted up to `at_most` (per-tenant quotas).
    async fn count_active(&self, tenant: &str, at_most: u64) -> Result<u64, StoreError>;
    /// Makes deleted job data leave the database's own files where deleting alone does not
    /// (run periodically, by the retention sweeper): SQLite finishes a WAL truncation that a
    /// reader blocked after a delete; PostgreSQL rewrites `ndf_jobs` (`VACUUM FULL`) when no
    /// replica did in the last `rewrite_every_ms` (0 = never). True when it did something.
    async fn compact(&self, now: Millis, rewrite_every_ms: i64) -> Result<bool, StoreError>;
    /// Ids of jobs with `expires_at <= now`, soonest expired first.
    async fn expired(&self, now: Millis, limit: u32) -> Result<Vec<JobId>, StoreError>;
    /// Finished jobs with a callback URL whose webhook is due, claimed for `claim_ms`.
    ///
    /// Claiming moves `webhook.next_attempt_at` to `now + claim_ms` in the same atomic
    /// statement that selects the jobs, so another replica sees them as not due until the claim
    /// lapses; [`JobStore::webhook_attempted`] then records the real next attempt. A replica
    /// that dies mid-delivery therefore delays the webhook by `claim_ms`, never drops it.
    async fn webhooks_due(
        &self,
        owner: &str,
        now: Millis,
        claim_ms: i64,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;
    /// Records a delivery attempt. `delivered = false` with `next_attempt_at = None` gives up.
    async fn webhook_attempted(
        &self,
        id: JobId,
        now: Millis,
        delivered: bool,
        next_attempt_at: Option<Millis>,
        error: Option<String>,
    ) -> Result<(), StoreError>;
    /// Jobs per state, for metrics and health.
    async fn counts(&self, now: Millis) -> Result<JobCounts, StoreError>;
    /// Ids of a tenant's jobs, oldest first, at most `limit` (for erasing a tenant).
    async fn tenant_job_ids(&self, tenant: &str, limit: u32) -> Result<Vec<JobId>, StoreError>;
    /// Jobs holding a wrapped data key, by id after `after` (for re-wrapping under a new
    /// master key).
    async fn keyed_jobs(
        &self,
        after: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<(JobId, Vec<u8>)>, StoreError>;
    /// Replace a job's wrapped data key (re-wrapped under the current master key). An empty
    /// `wrapped` shreds the job whose row stays (a cancelled job): its data key and its options
    /// are dropped, with the same guarantee as [`JobStore::delete`].
    async fn set_data_key(&self, id: JobId, wrapped: &[u8]) -> Result<bool, StoreError>;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opaque bytes by key (job inputs and results). Object-safe: use as `Arc<dyn BlobStore>`.
///
/// Keys: 1..=512 bytes of `A-Z a-z 0-9 . _ - /`, `/`-separated segments of 1..=255 bytes that
/// do not start with `.` (so no `..`, no hidden files, no absolute paths).
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores `data` under `key`, atomically replacing any previous value. Larger than
    /// `StoreOptions::max_blob_bytes` is refused.
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StoreError>;
    /// The value, or `None` when absent; a stored value over `max_blob_bytes` is an error.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// Removes the value; succeeds when it is already absent.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Checks that the storage answers (and, for S3, that the credentials are accepted).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opens a job store: `sqlite://PATH` (file, created with WAL, busy_timeout, foreign keys;
/// `sqlite::memory:` for a private in-memory database) or `postgres://…` (pool of
/// `options.max_connections`). Runs pending migrations.
pub async fn open_job_store(
    url: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn JobStore>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteJobStore::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgJobStore::open(url, options).await?))
    } else {
        Err(StoreError::Invalid(
            format!(
                "unsupported job store URL {} (expected sqlite://PATH or postgres://…)",
                redact_url(url)
            )
            .into(),
        ))
    }
}

/// The stores that live in one database: jobs, API keys and the audit log.
#[derive(Debug, Clone)]
pub struct Databases {
    /// Durable jobs.
    pub jobs: Arc<dyn JobStore>,
    /// API keys and rate counters.
    pub keys: Arc<dyn KeyStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
}

/// Opens the job store, key store and audit log of one database (same URL forms as
/// [`open_job_store`]) on one pool, running migrations once.
pub async fn open_databases(url: &str, options: &StoreOptions) -> Result<Databases, StoreError> {
    if url.starts_with("sqlite:") {
        let s = Arc::new(SqliteJobStore::open(url, options).await?);
        let audit = Arc::new(SqliteAuditLog::on(&s, url, options));
        Ok(Databases {
            jobs: s.clone(),
            keys: s,
            audit,
        })
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let s = Arc::new(PgJobStore::open(url, options).await?);
        let audit = Arc::new(PgAuditLog::on(&s, url, options));
        Ok(Databases {
            jobs: s.clone(),
            keys: s,
            audit,
        })
    } else {
        Err(StoreError::Invalid(
            format!(
                "unsupported job store URL {} (expected sqlite://PATH or postgres://…)",
                redact_url(url)
            )
            .into(),
        ))
    }
}

/// Opens the audit log in the database of a job store URL (same forms as [`open_job_store`];
/// runs pending migrations). Opening the job store and the audit log on one URL gives two
/// pools on one database, except `sqlite::memory:`, which is private to each.
pub async fn open_audit_log(
    url: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn AuditLog>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteAuditLog::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgAuditLog::open(url, options).await?))
    } else {
        Err(StoreError::Invalid(
            format!(
                "unsupported audit log URL {} (expected sqlite://PATH or postgres://…)",
                redact_url(url)
            )
            .into(),
        ))
    }
}

/// Opens a blob store: `file://DIR` (created if missing) or `s3://bucket/prefix` (endpoint,
/// region and credentials from `options`, falling back to the standard `AWS_*` environment
/// variables; plain-http endpoints only on loopback unless `options.s3_allow_http`).
pub async fn open_blob_store(
    url: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn BlobStore>, StoreError> {
    if let Some(dir) = url.strip_prefix("file://") {
        Ok(Arc::new(
            DirBlobStore::open(dir, options.max_blob_bytes).await?,
        ))
    } else if url.starts_with("s3://") {
        Ok(Arc::new(S3BlobStore::open(url, options)?))
    } else {
        Err(StoreError::Invalid(
            format!(
                "unsupported blob store URL {} (expected file://DIR or s3://bucket/prefix)",
                redact_url(url)
            )
            .into(),
        ))
    }
}

/// Refuses a blob larger than `max` bytes.
pub(crate) fn check_blob_size(len: u64, max: u64) -> Result<(), StoreError> {
    if len > max {
        Err(StoreError::Invalid(
            format!("blob of {len} bytes exceeds the {max}-byte limit").into(),
        ))
    } else {
        Ok(())
    }
}

/// Checks a blob key (see [`BlobStore`]).
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(StoreError::Invalid(
            format!(
                "blob key must be 1..={MAX_KEY_LEN} bytes, got {}",
                key.len()
            )
            .into(),
        ));
    }
    let charset_ok = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    // Every segment non-empty (no leading/trailing/double slash) and not starting with '.'
    // (no `.`/`..`, and the file backend's `.tmp` stays private).
    let segments_ok = key
        .split('/')
        .all(|s| !s.is_empty() && s.len() <= MAX_KEY_SEGMENT_LEN && !s.starts_with('.'));
    if charset_ok && segments_ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "blob key must be '/'-separated segments of 1..=255 bytes of [A-Za-z0-9._-], none starting with '.'"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let longest = [&"k".repeat(255)[..], &"k".repeat(255)[..]].join("/");
        for ok in ["a", "jobs/0190/input.pdf", "x-y_z.1", &longest] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "a/../b",
            "..",
            ".",
            "a/./b",
            "a//b",
            "a/",
            ".tmp/x",
            "a\\b",
            "a b",
            "a\0b",
            "é",
            &"k".repeat(MAX_KEY_LEN + 1),
            &"k".repeat(MAX_KEY_SEGMENT_LEN + 1),
        ] {
            assert!(
                matches!(validate_key(bad), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    proptest::proptest! {
        /// Arbitrary keys never panic, and every accepted key stays below the root.
        #[test]
        fn accepted_keys_stay_inside(key in "[a-z./_-]{0,40}|\\PC{0,40}") {
            if validate_key(&key).is_ok() {
                let joined = std::path::Path::new("/root").join(&key);
                proptest::prop_assert!(joined.starts_with("/root"));
                proptest::prop_assert!(joined.components().all(|c| matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::RootDir
                )));
                proptest::prop_assert!(
                    !key.starts_with('/') && !key.split('/').any(|s| s == ".." || s == ".")
                );
            }
        }

        /// Arbitrary strings never panic redact_url, and a URL's password never survives it.
        #[test]
        fn passwords_never_survive(
            junk in "\\PC{0,60}",
            user in "[a-z]{1,8}",
            password in "[A-Za-z0-9]{12,20}",
            host in "[a-z]{1,10}(:[0-9]{1,5})?",
            query in "(\\?[a-z]{1,5}=[a-z0-9]{0,5}(&[a-z]{1,5}=[a-z0-9]{0,5}){0,3})?",
        ) {
            let _ = redact_url(&junk);
            let url = format!("postgres://{user}:{password}@{host}/db{query}");
            let redacted = redact_url(&url);
            proptest::prop_assert!(!redacted.contains(&password), "{redacted}");
            proptest::prop_assert!(redacted.contains(&host));
        }
    }
}
