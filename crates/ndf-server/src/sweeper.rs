//! Retention: jobs past `expires_at` lose their input, their result and their record; and the
//! job store's files are compacted so that deleted records leave them (`JobStore::compact`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;
use crate::util::now_millis;

/// Sweep expired jobs and compact the job store every `sweep_interval_ms` until `stop` turns
/// true.
pub(crate) async fn run_sweeper(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(state.config.sweep_interval_ms.max(100));
    let rewrite_every = i64::try_from(state.config.vacuum_full_interval_ms).unwrap_or(i64::MAX);
    loop {
        match sweep_once(&state).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "retention sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.report(), "retention sweep failed"),
        }
        match state.jobs.compact(now_millis(), rewrite_every).await {
            Ok(true) => tracing::info!("job store compacted: deleted records left its files"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e.report(), "compacting the job store failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Delete up to 500 expired jobs with their blobs; returns how many went.
pub(crate) async fn sweep_once(state: &AppState) -> Result<usize, ndf_store::StoreError> {
    let ids = state.jobs.expired(now_millis(), 500).await?;
    for id in &ids {
        state.cancel_local(*id);
        // Blobs first: a record without blobs is harmless, blobs without a record would leak.
        state.blobs.delete(&AppState::input_key(*id)).await?;
        state.blobs.delete(&AppState::result_key(*id)).await?;
    }
    // One transaction, and one scrub of the database's files, for the whole batch.
    let n = state.jobs.delete_many(&ids).await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
