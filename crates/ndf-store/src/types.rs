//! The records stored and the values exchanged with [`crate::JobStore`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::redact::redact_url;

/// A job's id: a UUIDv7, so ids sort by creation time.
pub type JobId = uuid::Uuid;

/// Milliseconds since the Unix epoch (UTC): the only time type stored (portable across both
/// databases).
pub type Millis = i64;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled by the client.
    Cancelled,
}

impl JobState {
    /// All states, in life order.
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled: the job will not change state again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

/// What a client submitted.
///
/// `options` is opaque JSON owned by the server; it may hold a document password, so `Debug`
/// prints neither it nor the callback URL's credentials.
#[derive(Clone, Serialize, Deserialize)]
pub struct NewJob {
    /// Extraction options (opaque; may contain secrets).
    pub options: serde_json::Value,
    /// Where to POST the result notification.
    pub callback_url: Option<String>,
    /// Client-chosen key that makes resubmission idempotent.
    pub idempotency_key: Option<String>,
    /// Hex SHA-256 of the request body, for idempotency conflicts.
    pub body_sha256: String,
    /// Size of the uploaded document.
    pub input_bytes: u64,
    /// How many times a worker may start the job (at least 1 is stored).
    pub max_attempts: u32,
    /// When the job and its blobs may be swept.
    pub expires_at: Millis,
    /// W3C traceparent of the submitting request (the job's spans continue its trace).
    pub traceparent: Option<String>,
    /// The tenant the job belongs to.
    pub tenant: String,
    /// The job's data key wrapped under a master key (encryption at rest); deleting the job
    /// deletes it.
    pub data_key: Option<Vec<u8>>,
}

impl fmt::Debug for NewJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJob")
            .field("options", &"<redacted>")
            .field(
                "callback_url",
                &self.callback_url.as_deref().map(redact_url),
            )
            .field("idempotency_key", &self.idempotency_key)
            .field("body_sha256", &self.body_sha256)
            .field("input_bytes", &self.input_bytes)
            .field("max_attempts", &self.max_attempts)
            .field("expires_at", &self.expires_at)
            .field("traceparent", &self.traceparent)
            .field("tenant", &self.tenant)
            .field("data_key", &self.data_key.as_ref().map(|_| "<wrapped>"))
            .finish()
    }
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Stable machine-readable code (`worker_lost`, `password_required`, …).
    pub code: String,
    /// Human-readable detail.
    pub message: String,
}

/// Webhook delivery progress of a finished job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookState {
    /// Delivery attempts made.
    pub attempts: u32,
    /// When the next attempt (or the end of the current claim) is due; `None` when delivered,
    /// given up, or there is nothing to deliver yet.
    pub next_attempt_at: Option<Millis>,
    /// When it was delivered.
    pub delivered_at: Option<Millis>,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// A stored job. `Debug` omits `options` (it may hold a document password).
#[derive(Clone, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Extraction options (opaque; may contain secrets).
    pub options: serde_json::Value,
    /// Where to POST the result notification.
    pub callback_url: Option<String>,
    /// Client-chosen idempotency key.
    pub idempotency_key: Option<String>,
    /// Hex SHA-256 of the request body.
    pub body_sha256: String,
    /// Size of the uploaded document.
    pub input_bytes: u64,
    /// Times a worker started it.
    pub attempts: u32,
    /// Most starts allowed.
    pub max_attempts: u32,
    /// Pages extracted so far (last heartbeat).
    pub pages_done: u32,
    /// Page count, once known.
    pub pages_total: Option<u32>,
    /// Size of the stored result.
    pub result_bytes: Option<u64>,
    /// Last error (also kept while a retryable failure waits in the queue).
    pub error: Option<JobError>,
    /// When it was created.
    pub created_at: Millis,
    /// When its state or progress last changed.
    pub updated_at: Millis,
    /// When a worker first started it.
    pub started_at: Option<Millis>,
    /// When it finished.
    pub finished_at: Option<Millis>,
    /// When it and its blobs may be swept.
    pub expires_at: Millis,
    /// The worker holding the lease.
    pub lease_owner: Option<String>,
    /// When the lease lapses unless renewed.
    pub lease_expires_at: Option<Millis>,
    /// W3C traceparent of the submitting request.
    pub traceparent: Option<String>,
    /// The tenant the job belongs to.
    pub tenant: String,
    /// The job's wrapped data key, if its data is encrypted.
    pub data_key: Option<Vec<u8>>,
    /// Webhook delivery progress.
    pub webhook: WebhookState,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("options", &"<redacted>")
            .field(
                "callback_url",
                &self.callback_url.as_deref().map(redact_url),
            )
            .field("idempotency_key", &self.idempotency_key)
            .field("body_sha256", &self.body_sha256)
            .field("input_bytes", &self.input_bytes)
            .field("attempts", &self.attempts)
            .field("max_attempts", &self.max_attempts)
            .field("pages_done", &self.pages_done)
            .field("pages_total", &self.pages_total)
            .field("result_bytes", &self.result_bytes)
            .field("error", &self.error)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("started_at", &self.started_at)
            .field("finished_at", &self.finished_at)
            .field("expires_at", &self.expires_at)
            .field("lease_owner", &self.lease_owner)
            .field("lease_expires_at", &self.lease_expires_at)
            .field("traceparent", &self.traceparent)
            .field("tenant", &self.tenant)
            .field("data_key", &self.data_key.as_ref().map(|_| "<wrapped>"))
            .field("webhook", &self.webhook)
            .finish()
    }
}

/// Result of [`crate::JobStore::create`].
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// A new job was queued.
    Created(Job),
    /// Same idempotency key, same body hash: the earlier job.
    Existing(Job),
    /// Same idempotency key, different body: the earlier job (the caller answers 409).
    Conflict(Job),
}

impl CreateOutcome {
    /// The job, whichever the outcome.
    pub fn job(&self) -> &Job {
        match self {
            CreateOutcome::Created(job)
            | CreateOutcome::Existing(job)
            | CreateOutcome::Conflict(job) => job,
        }
    }
}

/// A lease on a job: proof of ownership for heartbeat/finish/release.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The job as leased (state running, attempts already incremented).
    pub job: Job,
    /// Fencing token: only the holder of the current token may change the job.
    pub token: uuid::Uuid,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// The worker still holds the job; the lease was extended.
    Held,
    /// Expired and taken by another worker, finished elsewhere, or deleted.
    Lost,
    /// The client cancelled the job: stop working on it.
    Cancelled,
}

/// How a leased job ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The result is stored.
    Succeeded {
        /// Page count.
        pages_total: u32,
        /// Size of the stored result.
        result_bytes: u64,
    },
    /// The job failed.
    Failed {
        /// Why.
        error: JobError,
        /// `true` sends the job back to the queue while `attempts < max_attempts`.
        retryable: bool,
    },
}

/// Jobs per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    /// Waiting for a worker.
    pub queued: u64,
    /// Leased (including leases that expired but were not yet reclaimed).
    pub running: u64,
    /// Finished with a result.
    pub succeeded: u64,
    /// Finished with an error.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Creation time of the oldest queued job (queue latency).
    pub oldest_queued_at: Option<Millis>,
    /// Running jobs whose lease expired at `now` (their worker is probably gone).
    pub lease_expired: u64,
}

/// Connection settings for [`crate::open_job_store`] and [`crate::open_blob_store`].
/// `Debug` redacts the S3 secret.
#[derive(Clone)]
pub struct StoreOptions {
    /// PostgreSQL pool size (SQLite uses at most 8: it has one writer anyway).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// How many webhook deliveries are attempted per job before [`crate::JobStore::webhooks_due`]
    /// stops returning it.
    pub max_webhook_attempts: u32,
    /// S3 endpoint (`https://…`; `http://` only on loopback unless `s3_allow_http`); AWS when
    /// `None` and `AWS_ENDPOINT` is unset.
    pub s3_endpoint: Option<String>,
    /// S3 region (else `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`).
    pub s3_region: Option<String>,
    /// S3 access key id (else `AWS_ACCESS_KEY_ID`).
    pub s3_access_key_id: Option<String>,
    /// S3 secret (else `AWS_SECRET_ACCESS_KEY`).
    pub s3_secret_access_key: Option<String>,
    /// Allows a plain-http S3 endpoint that is not on loopback (e.g. an in-cluster MinIO).
    pub s3_allow_http: bool,
    /// Largest blob accepted by `put` and returned by `get` (a bigger stored object is an
    /// error, not an out-of-memory). The server's own upload limits are lower.
    pub max_blob_bytes: u64,
    /// The key of the audit chain (kept outside the database; `Debug` shows only its id).
    /// Without it the audit log refuses appends.
    pub audit_key: Option<crate::audit::AuditKey>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            max_webhook_attempts: 10,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            max_blob_bytes: 1 << 30,
            audit_key: None,
        }
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_webhook_attempts", &self.max_webhook_attempts)
            .field("s3_endpoint", &self.s3_endpoint.as_deref().map(redact_url))
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &self.s3_secret_access_key.as_ref().map(|_| "***"),
            )
            .field("s3_allow_http", &self.s3_allow_http)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("audit_key", &self.audit_key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
            assert_eq!(
                serde_json::to_string(&state).ok(),
                Some(format!("\"{}\"", state.as_str()))
            );
        }
        assert!("Queued".parse::<JobState>().is_err());
        assert!(JobState::Cancelled.is_finished() && !JobState::Running.is_finished());
    }

    #[test]
    fn debug_hides_secrets() {
        let job = NewJob {
            options: serde_json::json!({"password": "hunter2"}),
            callback_url: Some(
                "https://u:pw-Zq8Xv-UrlPassword@example.com/cb?token=tok-Qz7vWx-CallbackSecret"
                    .into(),
            ),
            idempotency_key: None,
            body_sha256: "00".into(),
            input_bytes: 1,
            max_attempts: 3,
            expires_at: 0,
            traceparent: None,
            tenant: "default".into(),
            data_key: None,
        };
        let text = format!("{job:?}");
        // Distinctive needles: no digest, id or time in the output can contain them.
        for secret in [
            "hunter2",
            "pw-Zq8Xv-UrlPassword",
            "tok-Qz7vWx-CallbackSecret",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let opts = StoreOptions {
            s3_secret_access_key: Some("s3cr3t".into()),
            ..StoreOptions::default()
        };
        assert!(!format!("{opts:?}").contains("s3cr3t"));
    }
}
