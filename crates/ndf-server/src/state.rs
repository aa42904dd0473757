//! Shared state of one replica.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ndf_pool::{Pool, RequestOptions};
use ndf_store::{BlobStore, JobId, JobStore};
use tokio::sync::{Notify, watch};

use crate::config::Config;

/// Everything handlers, consumers, the webhook dispatcher and the sweeper share.
pub struct AppState {
    /// The effective configuration.
    pub config: Config,
    /// Durable job records.
    pub jobs: Arc<dyn JobStore>,
    /// Inputs and results.
    pub blobs: Arc<dyn BlobStore>,
    /// Isolated extraction workers.
    pub pool: Pool,
    /// Name of this replica in leases (`host-pid-random`).
    pub owner: String,
    /// Set on SIGTERM: refuse new work, report not ready.
    pub draining: AtomicBool,
    /// Whether job consumers may claim jobs now (drain: `drain_file`, SIGUSR1); separate from
    /// `draining`, which is the shutdown.
    pub claims: crate::drain::Claims,
    /// Wakes idle job consumers when this replica queues a job.
    pub job_queued: Notify,
    /// Cancellation of jobs running in this replica (the cross-replica path is the heartbeat).
    pub running: Mutex<HashMap<JobId, watch::Sender<bool>>>,
    /// Queued-job count as last seen, and when (milliseconds), for cheap admission checks.
    pub queued_seen: AtomicU64,
    /// When `queued_seen` was refreshed.
    pub queued_seen_at: std::sync::atomic::AtomicI64,
    /// This replica's metrics.
    pub metrics: Arc<crate::telemetry::Registry>,
    /// Start of this process, seconds since the Unix epoch.
    pub started_unix: f64,
    /// API keys and shared rate counters.
    pub keys: Arc<dyn ndf_store::KeyStore>,
    /// The tamper-evident audit log.
    pub audit: Arc<dyn ndf_store::AuditLog>,
    /// Authentication, authorization and rate limits.
    pub auth: crate::auth::Authenticator,
    /// Master keys for encryption at rest (`None` only with `allow_unencrypted`).
    pub at_rest: Option<crate::at_rest::AtRest>,
    /// The status board's last minute of counter samples.
    pub samples: crate::status::Samples,
    /// Extraction results by content address (`result_cache_bytes`; see `cache.rs`).
    pub result_cache: crate::cache::ResultCache,
    /// Store-wide job counts as last read for `/metrics` and `/status`, and when (ms).
    pub counts_cache: tokio::sync::Mutex<Option<(i64, ndf_store::JobCounts)>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Engine options for a document, from the service limits and the request's choices.
    pub fn request_options(
        &self,
        pages: Option<String>,
        password: Option<String>,
    ) -> RequestOptions {
        RequestOptions {
            pages,
            password,
            annotations: true,
            dehyphenate: true,
            limits: self.config.limits.clone(),
        }
    }

    /// Register a job running here; the receiver turns true when it is cancelled.
    pub fn track(&self, id: JobId) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        if let Ok(mut m) = self.running.lock() {
            m.insert(id, tx);
        }
        rx
    }

    /// Forget a job that stopped running here.
    pub fn untrack(&self, id: JobId) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(&id);
        }
    }

    /// Cancel a job if it runs in this replica.
    pub fn cancel_local(&self, id: JobId) {
        if let Ok(m) = self.running.lock()
            && let Some(tx) = m.get(&id)
        {
            let _ = tx.send(true);
        }
    }

    /// Blob key of a job's input.
    pub fn input_key(id: JobId) -> String {
        format!("jobs/{id}/input.pdf")
    }

    /// Blob key of a job's result (the JSON document).
    pub fn result_key(id: JobId) -> String {
        format!("jobs/{id}/result.json")
    }
}
