//! Validation shared by both job stores, and the macro that implements [`crate::JobStore`] for
//! each of them over the shared SQL in [`crate::sql`].

use crate::error::{Detail, StoreError};
use crate::types::{Millis, NewJob};
use crate::{
    MAX_CALLBACK_URL_LEN, MAX_ERROR_LEN, MAX_IDEMPOTENCY_KEY_LEN, MAX_LIST_LIMIT, MAX_OPTIONS_LEN,
    MAX_OWNER_LEN, MAX_TRACEPARENT_LEN,
};

/// A [`NewJob`] checked and converted to its stored form.
pub(crate) struct Insert {
    pub(crate) options: String,
    pub(crate) input_bytes: i64,
    pub(crate) max_attempts: i64,
}

fn too_long(what: &str, len: usize, max: usize) -> StoreError {
    StoreError::Invalid(format!("{what} is {len} bytes, at most {max} allowed").into())
}

fn check_len(what: &str, value: Option<&str>, max: usize) -> Result<(), StoreError> {
    match value {
        Some(v) if v.len() > max => Err(too_long(what, v.len(), max)),
        _ => Ok(()),
    }
}

pub(crate) fn check_new_job(job: &NewJob) -> Result<Insert, StoreError> {
    check_len(
        "idempotency_key",
        job.idempotency_key.as_deref(),
        MAX_IDEMPOTENCY_KEY_LEN,
    )?;
    check_len(
        "callback_url",
        job.callback_url.as_deref(),
        MAX_CALLBACK_URL_LEN,
    )?;
    check_len(
        "traceparent",
        job.traceparent.as_deref(),
        MAX_TRACEPARENT_LEN,
    )?;
    check_len("body_sha256", Some(&job.body_sha256), 128)?;
    let options = serde_json::to_string(&job.options)
        .map_err(|e| StoreError::Invalid(Detail::caused_by("job options do not serialize", e)))?;
    if options.len() > MAX_OPTIONS_LEN {
        return Err(too_long("options", options.len(), MAX_OPTIONS_LEN));
    }
    let input_bytes = i64::try_from(job.input_bytes)
        .map_err(|_| StoreError::Invalid("input_bytes is out of range".into()))?;
    Ok(Insert {
        options,
        input_bytes,
        // A job is always allowed its first attempt.
        max_attempts: i64::from(job.max_attempts.max(1)),
    })
}

pub(crate) fn check_owner(owner: &str) -> Result<(), StoreError> {
    if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
        return Err(StoreError::Invalid(
            format!("owner must be 1..={MAX_OWNER_LEN} bytes").into(),
        ));
    }
    Ok(())
}

/// Most jobs [`crate::JobStore::delete_many`] deletes in one call.
pub(crate) const MAX_DELETE_BATCH: usize = 1000;

/// `now + ms`, saturating (a huge lease simply never expires).
pub(crate) fn after(now: Millis, ms: i64) -> Millis {
    now.saturating_add(ms.max(0))
}

pub(crate) fn list_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_LIST_LIMIT))
}

/// Cuts `s` to at most [`MAX_ERROR_LEN`] bytes on a character boundary.
pub(crate) fn truncate(s: &str) -> &str {
    if s.len() <= MAX_ERROR_LEN {
        return s;
    }
    let mut end = MAX_ERROR_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Implements [`crate::JobStore`] for a store type with a `pool` field and two inherent
/// methods: `scrub()`, run after every transaction that deleted or shredded job data, and
/// `compact_files(now, rewrite_every_ms)` behind [`crate::JobStore::compact`].
///
/// `$enc` turns a UUID into the backend's bound id type; `$lease` and `$webhooks` are the
/// backend's claim statements (the only SQL that differs).
macro_rules! impl_job_store {
    ($store:ty, $enc:path, $lease:expr, $webhooks:expr) => {
        #[async_trait::async_trait]
        impl crate::JobStore for $store {
            async fn create(
                &self,
                id: crate::JobId,
                job: &crate::NewJob,
                now: crate::Millis,
            ) -> Result<crate::CreateOutcome, crate::StoreError> {
                use crate::CreateOutcome;
                let insert = crate::common::check_new_job(job)?;
                // The insert and the lookup are separate statements: if the job holding the key
                // is deleted in between, the insert is simply tried again (bounded).
                for _ in 0..3 {
                    let row = sqlx::query(crate::sql::INSERT)
                        .bind($enc(id))
                        .bind(&insert.options)
                        .bind(job.callback_url.as_deref())
                        .bind(job.idempotency_key.as_deref())
                        .bind(&job.body_sha256)
                        .bind(insert.input_bytes)
                        .bind(insert.max_attempts)
                        .bind(now)
                        .bind(job.expires_at)
                        .bind(job.traceparent.as_deref())
                        .bind(&job.tenant)
                        .bind(job.data_key.as_deref())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| {
                            // The only other unique key (tenant, idempotency_key) is handled by
                            // ON CONFLICT: a violation here is a reused job id.
                            let reused_id = matches!(
                                &e,
                                sqlx::Error::Database(d) if d.is_unique_violation()
                            );
                            if reused_id {
                                crate::StoreError::Conflict(crate::Detail::caused_by(
                                    format!("job {id} already exists"),
                                    e,
                                ))
                            } else {
                                crate::error::db(e)
                            }
                        })?;
                    if let Some(row) = row {
                        return Ok(CreateOutcome::Created(crate::sql::job_from_row(&row)?));
                    }
                    let Some(key) = job.idempotency_key.as_deref() else {
                        return Err(crate::StoreError::Backend(
                            "insert without idempotency key returned no row".into(),
                        ));
                    };
                    // Keys are unique per tenant: only the caller's tenant's job can hold it.
                    let existing = sqlx::query(crate::sql::GET_BY_KEY)
                        .bind(&job.tenant)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(crate::error::db)?;
                    if let Some(row) = existing {
                        let existing = crate::sql::job_from_row(&row)?;
                        return Ok(if existing.body_sha256 == job.body_sha256 {
                            CreateOutcome::Existing(existing)
                        } else {
                            CreateOutcome::Conflict(existing)
                        });
                    }
                }
                Err(crate::StoreError::Unavailable(
                    "idempotency key kept changing hands; retry".into(),
                ))
            }

            async fn get(&self, id: crate::JobId) -> Result<Option<crate::Job>, crate::StoreError> {
                sqlx::query(crate::sql::GET)
                    .bind($enc(id))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::error::db)?
                    .map(|row| crate::sql::job_from_row(&row))
                    .transpose()
            }

            async fn list(
                &self,
                tenant: &str,
                state: Option<crate::JobState>,
                limit: u32,
                before: Option<crate::JobId>,
            ) -> Result<Vec<crate::Job>, crate::StoreError> {
                use crate::sql;
                let limit = crate::common::list_limit(limit);
                let query = match (state, before) {
                    (None, None) => sqlx::query(sql::LIST).bind(tenant).bind(limit),
                    (None, Some(before)) => sqlx::query(sql::LIST_BEFORE)
                        .bind(tenant)
                        .bind($enc(before))
                        .bind(limit),
                    (Some(state), None) => sqlx::query(sql::LIST_STATE)
                        .bind(tenant)
                        .bind(state.as_str())
                        .bind(limit),
                    (Some(state), Some(before)) => sqlx::query(sql::LIST_STATE_BEFORE)
                        .bind(tenant)
                        .bind(state.as_str())
                        .bind($enc(before))
                        .bind(limit),
                };
                query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::error::db)?
                    .iter()
                    .map(sql::job_from_row)
                    .collect()
            }

            async fn lease(
                &self,
                owner: &str,
                now: crate::Millis,
                lease_ms: i64,
            ) -> Result<Option<crate::Lease>, crate::StoreError> {
                crate::common::check_owner(owner)?;
                // Poisoned jobs are never lease candidates (attempts < max_attempts), so
                // failing them first is only about finishing them promptly.
                sqlx::query(crate::sql::FAIL_POISONED)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                let token = uuid::Uuid::now_v7();
                let row = sqlx::query($lease)
                    .bind(owner)
                    .bind(now)
                    .bind(crate::common::after(now, lease_ms))
                    .bind($enc(token))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                match row {
                    Some(row) => Ok(Some(crate::Lease {
                        job: crate::sql::job_from_row(&row)?,
                        token,
                    })),
                    None => Ok(None),
                }
            }

            async fn heartbeat(
                &self,
                lease: &crate::Lease,
                now: crate::Millis,
                lease_ms: i64,
                pages_done: u32,
                pages_total: Option<u32>,
            ) -> Result<crate::LeaseStatus, crate::StoreError> {
                use sqlx::Row;
                let updated = sqlx::query(crate::sql::HEARTBEAT)
                    .bind($enc(lease.job.id))
                    .bind($enc(lease.token))
                    .bind(now)
                    .bind(crate::common::after(now, lease_ms))
                    .bind(i64::from(pages_done))
                    .bind(pages_total.map(i64::from))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                if updated.is_some() {
                    return Ok(crate::LeaseStatus::Held);
                }
                let row = sqlx::query(crate::sql::LEASE_STATE)
                    .bind($enc(lease.job.id))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                let Some(row) = row else {
                    return Ok(crate::LeaseStatus::Lost);
                };
                let state: String = row.try_get("state").map_err(crate::error::db)?;
                let token = crate::sql::JobRow::opt_uuid(&row, "lease_token")?;
                // A cancel keeps the token: only the worker cancelled under sees Cancelled.
                if crate::sql::parse_state(&state)? == crate::JobState::Cancelled
                    && token == Some(lease.token)
                {
                    Ok(crate::LeaseStatus::Cancelled)
                } else {
                    Ok(crate::LeaseStatus::Lost)
                }
            }

            async fn finish(
                &self,
                lease: &crate::Lease,
                now: crate::Millis,
                outcome: crate::Outcome,
            ) -> Result<bool, crate::StoreError> {
                let done = match outcome {
                    crate::Outcome::Succeeded {
                        pages_total,
                        result_bytes,
                    } => {
                        let result_bytes = i64::try_from(result_bytes).map_err(|_| {
                            crate::StoreError::Invalid("result_bytes is out of range".into())
                        })?;
                        sqlx::query(crate::sql::FINISH_OK)
                            .bind($enc(lease.job.id))
                            .bind($enc(lease.token))
                            .bind(now)
                            .bind(i64::from(pages_total))
                            .bind(result_bytes)
                            .execute(&self.pool)
                            .await
                    }
                    crate::Outcome::Failed { error, retryable } => {
                        sqlx::query(crate::sql::FINISH_ERR)
                            .bind($enc(lease.job.id))
                            .bind($enc(lease.token))
                            .bind(now)
                            .bind(crate::common::truncate(&error.code))
                            .bind(crate::common::truncate(&error.message))
                            .bind(retryable)
                            .execute(&self.pool)
                            .await
                    }
                }
                .map_err(crate::error::db)?;
                Ok(done.rows_affected() == 1)
            }

            async fn release(
                &self,
                lease: &crate::Lease,
                now: crate::Millis,
            ) -> Result<bool, crate::StoreError> {
                let done = sqlx::query(crate::sql::RELEASE)
                    .bind($enc(lease.job.id))
                    .bind($enc(lease.token))
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                Ok(done.rows_affected() == 1)
            }

            async fn cancel(
                &self,
                id: crate::JobId,
                now: crate::Millis,
            ) -> Result<Option<crate::Job>, crate::StoreError> {
                let row = sqlx::query(crate::sql::CANCEL)
                    .bind($enc(id))
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                match row {
                    Some(row) => Ok(Some(crate::sql::job_from_row(&row)?)),
                    None => self.get(id).await,
                }
            }

            async fn delete(&self, id: crate::JobId) -> Result<bool, crate::StoreError> {
                Ok(self.delete_many(&[id]).await? > 0)
            }

            async fn delete_many(&self, ids: &[crate::JobId]) -> Result<u64, crate::StoreError> {
                if ids.len() > crate::common::MAX_DELETE_BATCH {
                    return Err(crate::StoreError::Invalid(
                        format!(
                            "at most {} jobs are deleted at once",
                            crate::common::MAX_DELETE_BATCH
                        )
                        .into(),
                    ));
                }
                if ids.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.pool.begin().await.map_err(crate::error::db)?;
                let mut deleted = 0;
                for id in ids {
                    deleted += sqlx::query(crate::sql::DELETE)
                        .bind($enc(*id))
                        .execute(&mut *tx)
                        .await
                        .map_err(crate::error::db)?
                        .rows_affected();
                }
                tx.commit().await.map_err(crate::error::db)?;
                // The rows are gone; now the bytes (an error here leaves the scrub pending for
                // compact(), and the caller learns of it).
                self.scrub().await?;
                Ok(deleted)
            }

            async fn count_active(
                &self,
                tenant: &str,
                at_most: u64,
            ) -> Result<u64, crate::StoreError> {
                use sqlx::Row;
                let n: i64 = sqlx::query(crate::sql::COUNT_ACTIVE)
                    .bind(tenant)
                    .bind(i64::try_from(at_most).unwrap_or(i64::MAX))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(crate::error::db)?
                    .try_get(0)
                    .map_err(crate::error::db)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn compact(
                &self,
                now: crate::Millis,
                rewrite_every_ms: i64,
            ) -> Result<bool, crate::StoreError> {
                self.compact_files(now, rewrite_every_ms).await
            }

            async fn expired(
                &self,
                now: crate::Millis,
                limit: u32,
            ) -> Result<Vec<crate::JobId>, crate::StoreError> {
                sqlx::query(crate::sql::EXPIRED)
                    .bind(now)
                    .bind(crate::common::list_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::error::db)?
                    .iter()
                    .map(|row| crate::sql::JobRow::uuid(row, "id"))
                    .collect()
            }

            async fn webhooks_due(
                &self,
                owner: &str,
                now: crate::Millis,
                claim_ms: i64,
                limit: u32,
            ) -> Result<Vec<crate::Job>, crate::StoreError> {
                crate::common::check_owner(owner)?;
                let rows = sqlx::query($webhooks)
                    .bind(now)
                    .bind(owner)
                    .bind(crate::common::after(now, claim_ms.max(1)))
                    .bind(i64::from(self.max_webhook_attempts))
                    .bind(crate::common::list_limit(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                let mut jobs = rows
                    .iter()
                    .map(crate::sql::job_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                // RETURNING has no order: oldest finished first.
                jobs.sort_by_key(|job| (job.finished_at, job.id));
                Ok(jobs)
            }

            async fn webhook_attempted(
                &self,
                id: crate::JobId,
                now: crate::Millis,
                delivered: bool,
                next_attempt_at: Option<crate::Millis>,
                error: Option<String>,
            ) -> Result<(), crate::StoreError> {
                sqlx::query(crate::sql::WEBHOOK_ATTEMPTED)
                    .bind($enc(id))
                    .bind(now)
                    .bind(delivered)
                    .bind(next_attempt_at)
                    .bind(error.as_deref().map(crate::common::truncate))
                    .execute(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                Ok(())
            }

            async fn counts(
                &self,
                now: crate::Millis,
            ) -> Result<crate::JobCounts, crate::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(crate::sql::COUNTS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                let mut counts = crate::JobCounts::default();
                for row in &rows {
                    let state: String = row.try_get("state").map_err(crate::error::db)?;
                    let n: i64 = row.try_get("n").map_err(crate::error::db)?;
                    let n = u64::try_from(n).unwrap_or(0);
                    match crate::sql::parse_state(&state)? {
                        crate::JobState::Queued => {
                            counts.queued = n;
                            counts.oldest_queued_at =
                                row.try_get("oldest").map_err(crate::error::db)?;
                        }
                        crate::JobState::Running => counts.running = n,
                        crate::JobState::Succeeded => counts.succeeded = n,
                        crate::JobState::Failed => counts.failed = n,
                        crate::JobState::Cancelled => counts.cancelled = n,
                    }
                }
                let expired: i64 = sqlx::query(crate::sql::COUNT_LEASE_EXPIRED)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(crate::error::db)?
                    .try_get(0)
                    .map_err(crate::error::db)?;
                counts.lease_expired = u64::try_from(expired).unwrap_or(0);
                Ok(counts)
            }

            async fn tenant_job_ids(
                &self,
                tenant: &str,
                limit: u32,
            ) -> Result<Vec<crate::JobId>, crate::StoreError> {
                use crate::sql::JobRow as _;
                sqlx::query(crate::sql::TENANT_JOB_IDS)
                    .bind(tenant)
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::error::db)?
                    .iter()
                    .map(|r| r.uuid("id"))
                    .collect()
            }

            async fn keyed_jobs(
                &self,
                after: Option<crate::JobId>,
                limit: u32,
            ) -> Result<Vec<(crate::JobId, Vec<u8>)>, crate::StoreError> {
                use crate::sql::JobRow as _;
                sqlx::query(crate::sql::KEYED_JOBS)
                    .bind($enc(after.unwrap_or_else(uuid::Uuid::nil)))
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::error::db)?
                    .iter()
                    .map(|r| Ok((r.uuid("id")?, r.opt_bytes("data_key")?.unwrap_or_default())))
                    .collect()
            }

            async fn set_data_key(
                &self,
                id: crate::JobId,
                wrapped: &[u8],
            ) -> Result<bool, crate::StoreError> {
                if wrapped.is_empty() {
                    // Shredding: key and options go, then the bytes (as for a delete).
                    let done = sqlx::query(crate::sql::SHRED)
                        .bind($enc(id))
                        .execute(&self.pool)
                        .await
                        .map_err(crate::error::db)?;
                    self.scrub().await?;
                    return Ok(done.rows_affected() > 0);
                }
                let done = sqlx::query(crate::sql::SET_DATA_KEY)
                    .bind($enc(id))
                    .bind(wrapped)
                    .execute(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                Ok(done.rows_affected() > 0)
            }

            async fn ping(&self) -> Result<(), crate::StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(crate::error::db)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_job_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundary() {
        let s = "é".repeat(MAX_ERROR_LEN);
        let t = truncate(&s);
        assert!(t.len() <= MAX_ERROR_LEN && t.len() >= MAX_ERROR_LEN - 1);
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn limits_and_times() {
        assert_eq!(list_limit(0), 1);
        assert_eq!(list_limit(5000), 1000);
        assert_eq!(after(i64::MAX - 1, 10), i64::MAX);
        assert_eq!(after(100, -5), 100);
        assert!(check_owner("").is_err() && check_owner("w1").is_ok());
    }
}
