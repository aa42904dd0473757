//! The JobStore contract, run against every backend.

use std::collections::HashSet;
use std::sync::Arc;

use ndf_store::{
    CreateOutcome, JobError, JobId, JobState, JobStore, Lease, LeaseStatus, Millis, NewJob,
    Outcome, StoreError,
};
use uuid::Uuid;

/// A fixed "now" (2023-11-14): tests control time explicitly.
pub(crate) const T0: Millis = 1_700_000_000_000;
const MIN: i64 = 60_000;

pub(crate) fn new_job(key: Option<&str>, body: &str) -> NewJob {
    NewJob {
        options: serde_json::json!({"format": "json", "password": "hunter2", "pages": [1, 2]}),
        callback_url: None,
        idempotency_key: key.map(str::to_owned),
        body_sha256: format!("sha-{body}"),
        input_bytes: 1234,
        max_attempts: 3,
        expires_at: T0 + 24 * 60 * MIN,
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        tenant: "default".into(),
        data_key: Some(b"wrapped data key".to_vec()),
    }
}

fn id() -> JobId {
    Uuid::now_v7()
}

async fn create(store: &Arc<dyn JobStore>, job: &NewJob, now: Millis) -> ndf_store::Job {
    match store.create(id(), job, now).await.expect("create") {
        CreateOutcome::Created(job) => job,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn lease(store: &Arc<dyn JobStore>, owner: &str, now: Millis) -> Lease {
    store
        .lease(owner, now, MIN)
        .await
        .expect("lease")
        .expect("a job to lease")
}

fn failure(code: &str, retryable: bool) -> Outcome {
    Outcome::Failed {
        error: JobError {
            code: code.into(),
            message: format!("{code} happened"),
        },
        retryable,
    }
}

fn success() -> Outcome {
    Outcome::Succeeded {
        pages_total: 7,
        result_bytes: 4096,
    }
}

pub(crate) async fn create_get_list(store: Arc<dyn JobStore>) {
    let mut spec = new_job(Some("k1"), "a");
    spec.callback_url = Some("https://hooks.example/cb?token=tok-Qz7vWx-CallbackSecret".into());
    let id1 = id();
    let created = match store.create(id1, &spec, T0).await.unwrap() {
        CreateOutcome::Created(job) => job,
        other => panic!("{other:?}"),
    };
    assert_eq!(created.id, id1);
    assert_eq!(created.state, JobState::Queued);
    assert_eq!(created.options, spec.options);
    assert_eq!(created.callback_url, spec.callback_url);
    assert_eq!(created.idempotency_key.as_deref(), Some("k1"));
    assert_eq!(created.body_sha256, "sha-a");
    assert_eq!(created.input_bytes, 1234);
    assert_eq!((created.attempts, created.max_attempts), (0, 3));
    assert_eq!((created.pages_done, created.pages_total), (0, None));
    assert_eq!((created.created_at, created.updated_at), (T0, T0));
    assert_eq!(created.expires_at, spec.expires_at);
    assert_eq!(created.traceparent, spec.traceparent);
    assert!(created.error.is_none() && created.started_at.is_none());
    assert!(created.lease_owner.is_none() && created.lease_expires_at.is_none());
    assert_eq!(created.webhook, ndf_store::WebhookState::default());
    // Debug never shows the document password nor the callback token (needles no random id,
    // time or hex digest can contain: both have letters outside 0-9a-f).
    let debug = format!("{created:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("tok-Qz7vWx-CallbackSecret"),
        "{debug}"
    );

    let fetched = store.get(id1).await.unwrap().expect("stored");
    assert_eq!(
        serde_json::to_value(&fetched).unwrap(),
        serde_json::to_value(&created).unwrap()
    );
    assert!(store.get(id()).await.unwrap().is_none());

    // max_attempts 0 is stored as 1: a job always gets its first attempt.
    let mut zero = new_job(None, "z");
    zero.max_attempts = 0;
    let mut ids = vec![id1, create(&store, &zero, T0 + 1).await.id];
    assert_eq!(store.get(ids[1]).await.unwrap().unwrap().max_attempts, 1);
    for i in 2..5 {
        ids.push(create(&store, &new_job(None, "b"), T0 + i).await.id);
    }
    // Newest first, paged by cursor.
    let page1 = store.list("default", None, 2, None).await.unwrap();
    assert_eq!(
        page1.iter().map(|j| j.id).collect::<Vec<_>>(),
        [ids[4], ids[3]]
    );
    let page2 = store.list("default", None, 2, Some(ids[3])).await.unwrap();
    assert_eq!(
        page2.iter().map(|j| j.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    let page3 = store.list("default", None, 2, Some(ids[1])).await.unwrap();
    assert_eq!(page3.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[0]]);
    assert!(
        store
            .list("default", None, 2, Some(ids[0]))
            .await
            .unwrap()
            .is_empty()
    );
    // Limits are clamped to 1..=1000.
    assert_eq!(store.list("default", None, 0, None).await.unwrap().len(), 1);
    assert_eq!(
        store
            .list("default", None, u32::MAX, None)
            .await
            .unwrap()
            .len(),
        5
    );
    // State filter, with and without cursor.
    let leased = lease(&store, "w", T0 + 10).await;
    assert_eq!(leased.job.id, ids[0]);
    let running = store
        .list("default", Some(JobState::Running), 10, None)
        .await
        .unwrap();
    assert_eq!(running.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[0]]);
    let queued = store
        .list("default", Some(JobState::Queued), 10, Some(ids[3]))
        .await
        .unwrap();
    assert_eq!(
        queued.iter().map(|j| j.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    assert!(
        store
            .list("default", Some(JobState::Failed), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn idempotency(store: Arc<dyn JobStore>) {
    let first = create(&store, &new_job(Some("key-1"), "body"), T0).await;
    match store
        .create(id(), &new_job(Some("key-1"), "body"), T0 + 5)
        .await
        .unwrap()
    {
        CreateOutcome::Existing(job) => assert_eq!(job.id, first.id),
        other => panic!("expected Existing, got {other:?}"),
    }
    match store
        .create(id(), &new_job(Some("key-1"), "other"), T0 + 6)
        .await
        .unwrap()
    {
        CreateOutcome::Conflict(job) => {
            assert_eq!(job.id, first.id);
            assert_eq!(job.body_sha256, "sha-body");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Other keys and keyless jobs are independent.
    create(&store, &new_job(Some("key-2"), "body"), T0).await;
    create(&store, &new_job(None, "body"), T0).await;
    create(&store, &new_job(None, "body"), T0).await;
    assert_eq!(
        store.list("default", None, 100, None).await.unwrap().len(),
        4
    );
    // Reusing a job id is a store conflict, not a silent overwrite.
    let err = store
        .create(first.id, &new_job(None, "x"), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // After the keyed job is deleted, the key is free again.
    assert!(store.delete(first.id).await.unwrap());
    let again = create(&store, &new_job(Some("key-1"), "other"), T0 + 9).await;
    assert_ne!(again.id, first.id);
    // Bounded inputs.
    let long_key = "k".repeat(ndf_store::MAX_IDEMPOTENCY_KEY_LEN + 1);
    let err = store
        .create(id(), &new_job(Some(&long_key), "b"), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let mut big = new_job(None, "b");
    big.options = serde_json::json!({ "x": "y".repeat(ndf_store::MAX_OPTIONS_LEN) });
    assert!(matches!(
        store.create(id(), &big, T0).await,
        Err(StoreError::Invalid(_))
    ));
    let mut huge = new_job(None, "b");
    huge.input_bytes = u64::MAX;
    assert!(matches!(
        store.create(id(), &huge, T0).await,
        Err(StoreError::Invalid(_))
    ));
}

pub(crate) async fn idempotency_race(store: Arc<dyn JobStore>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(
                async move { store.create(id(), &new_job(Some("race"), "same"), T0).await },
            )
        })
        .collect();
    let (mut created, mut existing) = (0, 0);
    let mut ids = HashSet::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            CreateOutcome::Created(job) => {
                created += 1;
                ids.insert(job.id);
            }
            CreateOutcome::Existing(job) => {
                existing += 1;
                ids.insert(job.id);
            }
            CreateOutcome::Conflict(job) => panic!("conflict on an identical body: {job:?}"),
        }
    }
    assert_eq!((created, existing, ids.len()), (1, 19, 1));
    assert_eq!(
        store.list("default", None, 100, None).await.unwrap().len(),
        1
    );
}

pub(crate) async fn lease_order(store: Arc<dyn JobStore>) {
    assert!(store.lease("w", T0, MIN).await.unwrap().is_none());
    // Created out of id order: the queue follows created_at.
    let c = id();
    let a = id();
    let b = id();
    store.create(a, &new_job(None, "a"), T0).await.unwrap();
    store.create(b, &new_job(None, "b"), T0 + 1).await.unwrap();
    store.create(c, &new_job(None, "c"), T0 + 2).await.unwrap();
    let first = lease(&store, "worker-1", T0 + 100).await;
    assert_eq!(first.job.id, a);
    assert_eq!(first.job.state, JobState::Running);
    assert_eq!(first.job.attempts, 1);
    assert_eq!(first.job.lease_owner.as_deref(), Some("worker-1"));
    assert_eq!(first.job.lease_expires_at, Some(T0 + 100 + MIN));
    assert_eq!(first.job.started_at, Some(T0 + 100));
    assert_eq!(first.job.updated_at, T0 + 100);
    assert_eq!(lease(&store, "worker-1", T0 + 101).await.job.id, b);
    assert_eq!(lease(&store, "worker-2", T0 + 102).await.job.id, c);
    assert!(
        store
            .lease("worker-2", T0 + 103, MIN)
            .await
            .unwrap()
            .is_none()
    );
    // The stored job matches what the lease returned.
    let stored = store.get(a).await.unwrap().unwrap();
    assert_eq!(stored.lease_owner.as_deref(), Some("worker-1"));
    assert_eq!(stored.attempts, 1);
    assert!(matches!(
        store.lease("", T0, MIN).await,
        Err(StoreError::Invalid(_))
    ));
}

pub(crate) async fn concurrent_leasing(store: Arc<dyn JobStore>) {
    let mut all = HashSet::new();
    for i in 0..100 {
        all.insert(create(&store, &new_job(None, "x"), T0 + i).await.id);
    }
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let owner = format!("worker-{w}");
                let mut got = Vec::new();
                // Bounded: never more polls than jobs plus one.
                for _ in 0..=100 {
                    let Some(lease) = store.lease(&owner, T0 + 1000, MIN).await.unwrap() else {
                        break;
                    };
                    assert_eq!(lease.job.attempts, 1, "leased twice: {:?}", lease.job.id);
                    assert!(store.finish(&lease, T0 + 1001, success()).await.unwrap());
                    got.push(lease.job.id);
                }
                got
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for worker in workers {
        for job in worker.await.unwrap() {
            total += 1;
            assert!(seen.insert(job), "job {job} leased by two workers");
        }
    }
    assert_eq!(total, 100);
    assert_eq!(seen, all);
    let counts = store.counts(T0 + 2000).await.unwrap();
    assert_eq!(
        (counts.succeeded, counts.queued, counts.running),
        (100, 0, 0)
    );
}

pub(crate) async fn heartbeat(store: Arc<dyn JobStore>) {
    let job = create(&store, &new_job(None, "h"), T0).await;
    let held = lease(&store, "w1", T0 + 10).await;
    assert_eq!(
        store
            .heartbeat(&held, T0 + 20, MIN, 3, Some(9))
            .await
            .unwrap(),
        LeaseStatus::Held
    );
    let stored = store.get(job.id).await.unwrap().unwrap();
    assert_eq!((stored.pages_done, stored.pages_total), (3, Some(9)));
    assert_eq!(stored.lease_expires_at, Some(T0 + 20 + MIN));
    assert_eq!(stored.updated_at, T0 + 20);
    // pages_total None keeps the known total.
    assert_eq!(
        store.heartbeat(&held, T0 + 30, MIN, 4, None).await.unwrap(),
        LeaseStatus::Held
    );
    let stored = store.get(job.id).await.unwrap().unwrap();
    assert_eq!((stored.pages_done, stored.pages_total), (4, Some(9)));
    // A heartbeat after the lease lapsed, before anyone took the job, still holds it.
    assert_eq!(
        store
            .heartbeat(&held, T0 + 30 + 2 * MIN, MIN, 5, None)
            .await
            .unwrap(),
        LeaseStatus::Held
    );
    // A forged token is not the holder.
    let forged = Lease {
        job: held.job.clone(),
        token: Uuid::now_v7(),
    };
    assert_eq!(
        store
            .heartbeat(&forged, T0 + 40, MIN, 1, None)
            .await
            .unwrap(),
        LeaseStatus::Lost
    );
    // Cancelled while running.
    store.cancel(job.id, T0 + 50).await.unwrap();
    assert_eq!(
        store.heartbeat(&held, T0 + 60, MIN, 6, None).await.unwrap(),
        LeaseStatus::Cancelled
    );
    assert_eq!(
        store
            .heartbeat(&forged, T0 + 60, MIN, 6, None)
            .await
            .unwrap(),
        LeaseStatus::Lost
    );
    // Deleted.
    store.delete(job.id).await.unwrap();
    assert_eq!(
        store.heartbeat(&held, T0 + 70, MIN, 6, None).await.unwrap(),
        LeaseStatus::Lost
    );
}

pub(crate) async fn lease_expiry(store: Arc<dyn JobStore>) {
    let job = create(&store, &new_job(None, "e"), T0).await;
    let a = store.lease("A", T0, 1000).await.unwrap().unwrap();
    // Not expired yet: nothing to lease.
    assert!(store.lease("B", T0 + 999, 1000).await.unwrap().is_none());
    let counts = store.counts(T0 + 999).await.unwrap();
    assert_eq!((counts.running, counts.lease_expired), (1, 0));
    assert_eq!(store.counts(T0 + 1000).await.unwrap().lease_expired, 1);
    // Expired: B takes it over, attempts + 1, new token.
    let b = store.lease("B", T0 + 1000, 1000).await.unwrap().unwrap();
    assert_eq!(b.job.id, job.id);
    assert_eq!(b.job.attempts, 2);
    assert_eq!(b.job.lease_owner.as_deref(), Some("B"));
    assert_ne!(a.token, b.token);
    // A (slow, not dead) has lost it: its heartbeat, finish and release change nothing.
    assert_eq!(
        store.heartbeat(&a, T0 + 1001, 1000, 9, None).await.unwrap(),
        LeaseStatus::Lost
    );
    assert!(!store.finish(&a, T0 + 1002, success()).await.unwrap());
    assert!(!store.release(&a, T0 + 1002).await.unwrap());
    assert_eq!(
        store
            .get(job.id)
            .await
            .unwrap()
            .unwrap()
            .lease_owner
            .as_deref(),
        Some("B")
    );
    assert!(store.finish(&b, T0 + 1003, success()).await.unwrap());
    assert_eq!(
        store.get(job.id).await.unwrap().unwrap().state,
        JobState::Succeeded
    );
}

pub(crate) async fn poison_job(store: Arc<dyn JobStore>) {
    let mut spec = new_job(None, "poison");
    spec.max_attempts = 2;
    spec.callback_url = Some("https://hooks.example/done".into());
    let job = create(&store, &spec, T0).await;
    let l1 = store.lease("w1", T0, 1000).await.unwrap().unwrap();
    assert_eq!(l1.job.attempts, 1);
    // Worker 1 dies; worker 2 takes the job over on its last allowed attempt and dies too.
    let l2 = store.lease("w2", T0 + 1000, 1000).await.unwrap().unwrap();
    assert_eq!((l2.job.id, l2.job.attempts), (job.id, 2));
    // No third attempt: the job fails with worker_lost instead of looping forever.
    assert!(store.lease("w3", T0 + 2000, 1000).await.unwrap().is_none());
    let failed = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.attempts, 2);
    assert_eq!(
        failed.error.as_ref().map(|e| e.code.as_str()),
        Some("worker_lost")
    );
    assert_eq!(failed.finished_at, Some(T0 + 2000));
    assert!(failed.lease_owner.is_none() && failed.lease_expires_at.is_none());
    assert_eq!(failed.webhook.next_attempt_at, Some(T0 + 2000));
    assert!(!store.finish(&l2, T0 + 2001, success()).await.unwrap());
    assert_eq!(
        store
            .heartbeat(&l2, T0 + 2001, 1000, 1, None)
            .await
            .unwrap(),
        LeaseStatus::Lost
    );

    // A job whose earlier attempt failed retryably keeps that error when its worker is lost.
    let mut spec = new_job(None, "poison2");
    spec.max_attempts = 2;
    let job = create(&store, &spec, T0 + 3000).await;
    let l1 = store.lease("w1", T0 + 3000, 1000).await.unwrap().unwrap();
    assert!(
        store
            .finish(&l1, T0 + 3001, failure("timeout", true))
            .await
            .unwrap()
    );
    let l2 = store.lease("w1", T0 + 3002, 1000).await.unwrap().unwrap();
    assert_eq!((l2.job.id, l2.job.attempts), (job.id, 2));
    assert!(store.lease("w1", T0 + 5000, 1000).await.unwrap().is_none());
    let failed = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.map(|e| e.code), Some("timeout".into()));
    assert_eq!(
        failed.webhook.next_attempt_at, None,
        "no callback, no webhook"
    );
}

pub(crate) async fn finish_once(store: Arc<dyn JobStore>) {
    let mut spec = new_job(None, "f");
    spec.callback_url = Some("https://hooks.example/f".into());
    let job = create(&store, &spec, T0).await;
    let held = lease(&store, "w", T0 + 1).await;
    store.heartbeat(&held, T0 + 2, MIN, 3, None).await.unwrap();
    assert!(store.finish(&held, T0 + 5, success()).await.unwrap());
    let done = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!((done.pages_done, done.pages_total), (7, Some(7)));
    assert_eq!(done.result_bytes, Some(4096));
    assert_eq!(done.finished_at, Some(T0 + 5));
    assert!(done.error.is_none());
    assert!(done.lease_owner.is_none() && done.lease_expires_at.is_none());
    assert_eq!(done.webhook.next_attempt_at, Some(T0 + 5));
    // Second finish (either outcome) is refused and changes nothing.
    assert!(!store.finish(&held, T0 + 6, success()).await.unwrap());
    assert!(
        !store
            .finish(&held, T0 + 6, failure("late", false))
            .await
            .unwrap()
    );
    assert!(!store.release(&held, T0 + 6).await.unwrap());
    let after = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(after.state, JobState::Succeeded);
    assert_eq!(after.updated_at, T0 + 5);
    assert_eq!(
        store.heartbeat(&held, T0 + 7, MIN, 1, None).await.unwrap(),
        LeaseStatus::Lost
    );
    // Finished jobs are never leased again.
    assert!(
        store
            .lease("w", T0 + 10 * MIN, MIN)
            .await
            .unwrap()
            .is_none()
    );
}

pub(crate) async fn retryable_failure(store: Arc<dyn JobStore>) {
    let mut spec = new_job(None, "r");
    spec.callback_url = Some("https://hooks.example/r".into());
    let job = create(&store, &spec, T0).await;
    let l1 = lease(&store, "w", T0 + 1).await;
    store.heartbeat(&l1, T0 + 2, MIN, 2, Some(5)).await.unwrap();
    assert!(
        store
            .finish(&l1, T0 + 3, failure("io", true))
            .await
            .unwrap()
    );
    let queued = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(queued.state, JobState::Queued);
    assert_eq!(queued.attempts, 1);
    assert_eq!(queued.pages_done, 0);
    assert_eq!(queued.error.as_ref().map(|e| e.code.as_str()), Some("io"));
    assert!(queued.finished_at.is_none() && queued.lease_owner.is_none());
    assert_eq!(
        queued.webhook.next_attempt_at, None,
        "not finished: no webhook yet"
    );
    // Attempt 2 fails for good (non-retryable) although attempts are left.
    let l2 = lease(&store, "w", T0 + 4).await;
    assert_eq!(l2.job.attempts, 2);
    assert!(
        !store.finish(&l1, T0 + 5, success()).await.unwrap(),
        "old lease is dead"
    );
    assert!(
        store
            .finish(&l2, T0 + 5, failure("bad_pdf", false))
            .await
            .unwrap()
    );
    let failed = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.error,
        Some(JobError {
            code: "bad_pdf".into(),
            message: "bad_pdf happened".into()
        })
    );
    assert_eq!(failed.finished_at, Some(T0 + 5));
    assert_eq!(failed.webhook.next_attempt_at, Some(T0 + 5));

    // Retryable, but out of attempts: failed.
    let mut spec = new_job(None, "r2");
    spec.max_attempts = 1;
    let job = create(&store, &spec, T0 + 10).await;
    let l = lease(&store, "w", T0 + 11).await;
    assert!(
        store
            .finish(&l, T0 + 12, failure("io", true))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get(job.id).await.unwrap().unwrap().state,
        JobState::Failed
    );

    // Oversized error text is cut, not rejected.
    let job = create(&store, &new_job(None, "r3"), T0 + 20).await;
    let l = lease(&store, "w", T0 + 21).await;
    let long = Outcome::Failed {
        error: JobError {
            code: "long".into(),
            message: "é".repeat(ndf_store::MAX_ERROR_LEN),
        },
        retryable: false,
    };
    assert!(store.finish(&l, T0 + 22, long).await.unwrap());
    let stored = store.get(job.id).await.unwrap().unwrap();
    let message = stored.error.unwrap().message;
    assert!(message.len() <= ndf_store::MAX_ERROR_LEN && message.starts_with('é'));
}

pub(crate) async fn release(store: Arc<dyn JobStore>) {
    let job = create(&store, &new_job(None, "rel"), T0).await;
    let l1 = lease(&store, "w", T0 + 1).await;
    assert_eq!(l1.job.attempts, 1);
    assert!(store.release(&l1, T0 + 2).await.unwrap());
    let queued = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(queued.state, JobState::Queued);
    assert_eq!(queued.attempts, 0, "a release does not count the attempt");
    assert!(queued.lease_owner.is_none() && queued.lease_expires_at.is_none());
    assert!(!store.release(&l1, T0 + 3).await.unwrap(), "released once");
    assert!(!store.finish(&l1, T0 + 3, success()).await.unwrap());
    let l2 = lease(&store, "w2", T0 + 4).await;
    assert_eq!((l2.job.id, l2.job.attempts), (job.id, 1));
    assert_eq!(
        store.heartbeat(&l1, T0 + 5, MIN, 0, None).await.unwrap(),
        LeaseStatus::Lost
    );
}

pub(crate) async fn cancel(store: Arc<dyn JobStore>) {
    // Queued → cancelled, never leased.
    let mut spec = new_job(None, "c");
    spec.callback_url = Some("https://hooks.example/c".into());
    let queued = create(&store, &spec, T0).await;
    let cancelled = store.cancel(queued.id, T0 + 1).await.unwrap().unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.finished_at, Some(T0 + 1));
    assert_eq!(cancelled.webhook.next_attempt_at, Some(T0 + 1));
    assert!(store.lease("w", T0 + 2, MIN).await.unwrap().is_none());

    // Running → cancelled; the worker learns it at its heartbeat and cannot finish it.
    let running = create(&store, &new_job(None, "c2"), T0 + 3).await;
    let held = lease(&store, "w", T0 + 4).await;
    let cancelled = store.cancel(running.id, T0 + 5).await.unwrap().unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(cancelled.lease_owner.is_none());
    assert_eq!(
        store.heartbeat(&held, T0 + 6, MIN, 1, None).await.unwrap(),
        LeaseStatus::Cancelled
    );
    assert!(!store.finish(&held, T0 + 7, success()).await.unwrap());
    assert!(!store.release(&held, T0 + 7).await.unwrap());
    assert_eq!(
        store.get(running.id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    // Cancelling again returns it unchanged.
    let again = store.cancel(running.id, T0 + 99).await.unwrap().unwrap();
    assert_eq!(
        (again.state, again.finished_at),
        (JobState::Cancelled, Some(T0 + 5))
    );

    // Finished → unchanged.
    let done = create(&store, &new_job(None, "c3"), T0 + 8).await;
    let held = lease(&store, "w", T0 + 9).await;
    assert!(store.finish(&held, T0 + 10, success()).await.unwrap());
    let unchanged = store.cancel(done.id, T0 + 11).await.unwrap().unwrap();
    assert_eq!(unchanged.state, JobState::Succeeded);
    assert_eq!(unchanged.finished_at, Some(T0 + 10));

    assert!(store.cancel(id(), T0).await.unwrap().is_none());
}

pub(crate) async fn delete(store: Arc<dyn JobStore>) {
    let job = create(&store, &new_job(Some("del"), "d"), T0).await;
    assert!(store.delete(job.id).await.unwrap());
    assert!(!store.delete(job.id).await.unwrap());
    assert!(store.get(job.id).await.unwrap().is_none());
    assert!(
        store
            .list("default", None, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.delete(id()).await.unwrap());
}

pub(crate) async fn expired(store: Arc<dyn JobStore>) {
    let mut ids = Vec::new();
    for (i, expires) in [T0 + 30, T0 + 10, T0 + 20, T0 + 1000]
        .into_iter()
        .enumerate()
    {
        let mut spec = new_job(None, "x");
        spec.expires_at = expires;
        ids.push(create(&store, &spec, T0 + i as i64).await.id);
    }
    assert!(store.expired(T0 + 9, 100).await.unwrap().is_empty());
    assert_eq!(store.expired(T0 + 20, 100).await.unwrap(), [ids[1], ids[2]]);
    assert_eq!(store.expired(T0 + 30, 2).await.unwrap(), [ids[1], ids[2]]);
    assert_eq!(
        store.expired(T0 + 30, 100).await.unwrap(),
        [ids[1], ids[2], ids[0]]
    );
    // A limit of 0 still makes progress (clamped to 1).
    assert_eq!(store.expired(T0 + 5000, 0).await.unwrap(), [ids[1]]);
    for id in &ids[..3] {
        assert!(store.delete(*id).await.unwrap());
    }
    assert!(store.expired(T0 + 999, 100).await.unwrap().is_empty());
}

/// The harness opens stores with `max_webhook_attempts = 3`.
pub(crate) async fn webhooks(store: Arc<dyn JobStore>) {
    let mut spec = new_job(None, "wh");
    spec.callback_url = Some("https://hooks.example/wh".into());
    let job = create(&store, &spec, T0).await;
    // Not finished yet: nothing due; keyless-callback jobs never are.
    let plain = create(&store, &new_job(None, "plain"), T0).await;
    assert!(
        store
            .webhooks_due("A", T0 + 1, MIN, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let held = lease(&store, "w", T0 + 1).await;
    assert_eq!(held.job.id, job.id);
    assert!(store.finish(&held, T0 + 2, success()).await.unwrap());
    let held = lease(&store, "w", T0 + 3).await;
    assert_eq!(held.job.id, plain.id);
    assert!(store.finish(&held, T0 + 3, success()).await.unwrap());
    // Due from the finish time on; A claims it, B (another replica) does not get it.
    assert!(
        store
            .webhooks_due("A", T0 + 1, MIN, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.webhooks_due("A", T0 + 5, 1000, 10).await.unwrap();
    assert_eq!(due.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
    assert_eq!(due[0].state, JobState::Succeeded);
    assert_eq!(due[0].webhook.next_attempt_at, Some(T0 + 5 + 1000));
    assert!(
        store
            .webhooks_due("B", T0 + 6, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A died without reporting: after the claim lapses, B gets it.
    let due = store.webhooks_due("B", T0 + 1005, 1000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    // B's attempt fails; retry in 10 s.
    store
        .webhook_attempted(
            job.id,
            T0 + 1010,
            false,
            Some(T0 + 11_010),
            Some("HTTP 503".into()),
        )
        .await
        .unwrap();
    let stored = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(stored.webhook.attempts, 1);
    assert_eq!(stored.webhook.next_attempt_at, Some(T0 + 11_010));
    assert_eq!(stored.webhook.last_error.as_deref(), Some("HTTP 503"));
    assert!(stored.webhook.delivered_at.is_none());
    assert!(
        store
            .webhooks_due("A", T0 + 11_009, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .webhooks_due("A", T0 + 11_010, 1000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .webhook_attempted(job.id, T0 + 11_020, true, None, None)
        .await
        .unwrap();
    let stored = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(stored.webhook.attempts, 2);
    assert_eq!(stored.webhook.delivered_at, Some(T0 + 11_020));
    assert!(stored.webhook.next_attempt_at.is_none() && stored.webhook.last_error.is_none());
    assert!(
        store
            .webhooks_due("A", T0 + 10 * MIN, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Giving up: next_attempt_at None.
    let mut spec = new_job(None, "wh2");
    spec.callback_url = Some("https://hooks.example/wh2".into());
    let job2 = create(&store, &spec, T0 + 20).await;
    let held = lease(&store, "w", T0 + 21).await;
    assert!(
        store
            .finish(&held, T0 + 22, failure("bad", false))
            .await
            .unwrap()
    );
    assert_eq!(
        store.webhooks_due("A", T0 + 23, 10, 10).await.unwrap()[0].id,
        job2.id
    );
    store
        .webhook_attempted(job2.id, T0 + 24, false, None, Some("gone".into()))
        .await
        .unwrap();
    assert!(
        store
            .webhooks_due("A", T0 + 10 * MIN, 10, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The attempt cap (3 in the harness) stops deliveries even if a retry time is given.
    let mut spec = new_job(None, "wh3");
    spec.callback_url = Some("https://hooks.example/wh3".into());
    let job3 = create(&store, &spec, T0 + 30).await;
    let held = lease(&store, "w", T0 + 31).await;
    assert!(store.finish(&held, T0 + 32, success()).await.unwrap());
    let mut now = T0 + 40;
    for _ in 0..3 {
        assert_eq!(store.webhooks_due("A", now, 10, 10).await.unwrap().len(), 1);
        store
            .webhook_attempted(job3.id, now, false, Some(now + 1), Some("x".into()))
            .await
            .unwrap();
        now += 100;
    }
    assert!(
        store
            .webhooks_due("A", now, 10, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get(job3.id).await.unwrap().unwrap().webhook.attempts,
        3
    );
    // Unknown id: nothing to record, no error.
    store
        .webhook_attempted(id(), now, true, None, None)
        .await
        .unwrap();
}

pub(crate) async fn webhooks_race(store: Arc<dyn JobStore>) {
    let mut all = HashSet::new();
    for i in 0..20 {
        let mut spec = new_job(None, "race");
        spec.callback_url = Some(format!("https://hooks.example/{i}"));
        all.insert(create(&store, &spec, T0).await.id);
    }
    for _ in 0..20 {
        let held = lease(&store, "w", T0 + 1).await;
        assert!(store.finish(&held, T0 + 2, success()).await.unwrap());
    }
    let claimers: Vec<_> = (0..4)
        .map(|r| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let owner = format!("replica-{r}");
                let mut got = Vec::new();
                for _ in 0..20 {
                    let due = store.webhooks_due(&owner, T0 + 10, MIN, 3).await.unwrap();
                    if due.is_empty() {
                        break;
                    }
                    got.extend(due.into_iter().map(|j| j.id));
                }
                got
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            assert!(seen.insert(id), "webhook {id} claimed twice");
        }
    }
    assert_eq!(seen, all);
}

pub(crate) async fn counts(store: Arc<dyn JobStore>) {
    let empty = store.counts(T0).await.unwrap();
    assert_eq!(empty, ndf_store::JobCounts::default());
    for i in 0..6 {
        create(&store, &new_job(None, "n"), T0 + i).await;
    }
    let l1 = lease(&store, "w", T0 + 10).await; // job 0 → succeeded
    assert!(store.finish(&l1, T0 + 11, success()).await.unwrap());
    let l2 = lease(&store, "w", T0 + 12).await; // job 1 → failed
    assert!(
        store
            .finish(&l2, T0 + 13, failure("x", false))
            .await
            .unwrap()
    );
    let l3 = lease(&store, "w", T0 + 14).await; // job 2 → cancelled
    store.cancel(l3.job.id, T0 + 15).await.unwrap();
    let _l4 = lease(&store, "w", T0 + 16).await; // job 3 → running
    let counts = store.counts(T0 + 20).await.unwrap();
    assert_eq!(
        counts,
        ndf_store::JobCounts {
            queued: 2,
            running: 1,
            succeeded: 1,
            failed: 1,
            cancelled: 1,
            oldest_queued_at: Some(T0 + 4),
            lease_expired: 0,
        }
    );
    assert_eq!(store.counts(T0 + 16 + MIN).await.unwrap().lease_expired, 1);
    store.ping().await.unwrap();
}

/// Idempotency keys belong to a tenant: another tenant's job with the same key is never
/// returned, never conflicts and never blocks (regression: keys were globally unique, so
/// tenant B got tenant A's job for A's key).
pub(crate) async fn idempotency_per_tenant(store: Arc<dyn JobStore>) {
    let of = |tenant: &str, key: &str, body: &str| {
        let mut job = new_job(Some(key), body);
        job.tenant = tenant.into();
        job
    };
    // Same key, same body: each tenant gets its own job.
    let a1 = create(&store, &of("acme", "shared-key-1", "same"), T0).await;
    let g1 = match store
        .create(id(), &of("globex", "shared-key-1", "same"), T0 + 1)
        .await
        .unwrap()
    {
        CreateOutcome::Created(job) => job,
        other => panic!("globex reusing acme's key must get its own job, got {other:?}"),
    };
    assert_ne!(g1.id, a1.id);
    assert_eq!(g1.tenant, "globex");
    for (tenant, own) in [("acme", a1.id), ("globex", g1.id)] {
        match store
            .create(id(), &of(tenant, "shared-key-1", "same"), T0 + 2)
            .await
            .unwrap()
        {
            CreateOutcome::Existing(job) => {
                assert_eq!((job.id, job.tenant.as_str()), (own, tenant));
            }
            other => panic!("{tenant}: expected its own Existing job, got {other:?}"),
        }
    }
    // Same key, another body: a conflict only with the tenant's own job.
    let a2 = create(&store, &of("acme", "shared-key-2", "first"), T0 + 3).await;
    let g2 = create(&store, &of("globex", "shared-key-2", "second"), T0 + 4).await;
    for (tenant, body, own) in [("acme", "second", a2.id), ("globex", "first", g2.id)] {
        match store
            .create(id(), &of(tenant, "shared-key-2", body), T0 + 5)
            .await
            .unwrap()
        {
            CreateOutcome::Conflict(job) => {
                assert_eq!((job.id, job.tenant.as_str()), (own, tenant));
            }
            other => panic!("{tenant}: expected a conflict with its own job, got {other:?}"),
        }
    }
    // Claiming a key first does not take it from another tenant.
    let g3 = create(&store, &of("globex", "shared-key-3", "x"), T0 + 6).await;
    let a3 = create(&store, &of("acme", "shared-key-3", "x"), T0 + 7).await;
    assert_ne!(a3.id, g3.id);
    let ids = |jobs: Vec<ndf_store::Job>| jobs.iter().map(|j| j.id).collect::<HashSet<_>>();
    assert_eq!(
        ids(store.list("acme", None, 100, None).await.unwrap()),
        HashSet::from([a1.id, a2.id, a3.id])
    );
    assert_eq!(
        ids(store.list("globex", None, 100, None).await.unwrap()),
        HashSet::from([g1.id, g2.id, g3.id])
    );
    // Racing submissions of two tenants with one key: one job per tenant.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            let job = of(
                if i % 2 == 0 { "acme" } else { "globex" },
                "race-key",
                "same",
            );
            tokio::spawn(async move { store.create(id(), &job, T0 + 8).await })
        })
        .collect();
    let mut per_tenant: std::collections::HashMap<String, HashSet<JobId>> = Default::default();
    for task in tasks {
        let job = match task.await.unwrap().unwrap() {
            CreateOutcome::Created(job) | CreateOutcome::Existing(job) => job,
            CreateOutcome::Conflict(job) => panic!("conflict on an identical body: {job:?}"),
        };
        per_tenant
            .entry(job.tenant.clone())
            .or_default()
            .insert(job.id);
    }
    assert_eq!(per_tenant.len(), 2);
    assert!(
        per_tenant.values().all(|ids| ids.len() == 1),
        "{per_tenant:?}"
    );
}

/// A tenant's queued and running jobs, counted up to a bound (per-tenant queue quotas).
pub(crate) async fn count_active(store: Arc<dyn JobStore>) {
    let of = |tenant: &str| {
        let mut job = new_job(None, "q");
        job.tenant = tenant.into();
        job
    };
    assert_eq!(store.count_active("acme", 100).await.unwrap(), 0);
    let mut acme = Vec::new();
    for i in 0..4 {
        acme.push(create(&store, &of("acme"), T0 + i).await.id);
    }
    create(&store, &of("globex"), T0 + 10).await;
    // The oldest two acme jobs: one finishes, one keeps running.
    let done = lease(&store, "w", T0 + 20).await;
    assert_eq!(done.job.id, acme[0]);
    assert!(store.finish(&done, T0 + 21, success()).await.unwrap());
    let running = lease(&store, "w", T0 + 22).await;
    assert_eq!(running.job.id, acme[1]);
    assert_eq!(store.count_active("acme", 100).await.unwrap(), 3);
    assert_eq!(store.count_active("acme", 2).await.unwrap(), 2, "bounded");
    assert_eq!(store.count_active("globex", 100).await.unwrap(), 1);
    assert_eq!(store.count_active("nobody", 100).await.unwrap(), 0);
    store.cancel(acme[2], T0 + 23).await.unwrap();
    assert_eq!(store.count_active("acme", 100).await.unwrap(), 2);
}

/// An empty data key shreds a job whose row stays: the key and the options (sealed under it,
/// or holding a password when stored plain) go.
pub(crate) async fn shred(store: Arc<dyn JobStore>) {
    let job = create(&store, &new_job(None, "s"), T0).await;
    let cancelled = store.cancel(job.id, T0 + 1).await.unwrap().unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(store.set_data_key(job.id, &[]).await.unwrap());
    let shredded = store.get(job.id).await.unwrap().unwrap();
    assert_eq!(shredded.state, JobState::Cancelled);
    assert!(shredded.data_key.is_none());
    assert_eq!(shredded.options, serde_json::json!({}));
    assert!(store.keyed_jobs(None, 10).await.unwrap().is_empty());
    assert!(!store.set_data_key(id(), &[]).await.unwrap());
}

/// Batch deletes (the retention sweep), and compaction with nothing to do.
pub(crate) async fn delete_many(store: Arc<dyn JobStore>) {
    let a = create(&store, &new_job(Some("many-a"), "a"), T0).await.id;
    let b = create(&store, &new_job(None, "b"), T0 + 1).await.id;
    let c = create(&store, &new_job(None, "c"), T0 + 2).await.id;
    assert_eq!(store.delete_many(&[]).await.unwrap(), 0);
    assert_eq!(store.delete_many(&[a, b, id()]).await.unwrap(), 2);
    assert!(store.get(a).await.unwrap().is_none() && store.get(b).await.unwrap().is_none());
    assert!(store.get(c).await.unwrap().is_some());
    // The key of a deleted job is free again.
    create(&store, &new_job(Some("many-a"), "other"), T0 + 3).await;
    let too_many: Vec<JobId> = (0..1001).map(|_| id()).collect();
    assert!(matches!(
        store.delete_many(&too_many).await,
        Err(StoreError::Invalid(_))
    ));
    // Compaction switched off (PostgreSQL) or nothing pending (SQLite): nothing to do.
    assert!(!store.compact(T0 + 10, 0).await.unwrap());
}

/// Every job-store test, by name (used by the harness macro).
/// Tenants see only their jobs; data keys are stored, listed for rotation and replaced; API
/// keys and shared counters.
pub(crate) async fn tenants_keys_and_counters(
    store: Arc<dyn JobStore>,
    keys: Arc<dyn ndf_store::KeyStore>,
) {
    let mut a = new_job(None, "a");
    a.tenant = "acme".into();
    let mut b = new_job(None, "b");
    b.tenant = "globex".into();
    b.data_key = None;
    let ja = create(&store, &a, T0).await;
    let jb = create(&store, &b, T0 + 1).await;
    assert_eq!(ja.tenant, "acme");
    assert_eq!(ja.data_key.as_deref(), Some(&b"wrapped data key"[..]));
    let only = |jobs: Vec<ndf_store::Job>| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        only(store.list("acme", None, 10, None).await.unwrap()),
        [ja.id]
    );
    assert_eq!(
        only(store.list("globex", None, 10, None).await.unwrap()),
        [jb.id]
    );
    assert!(
        store
            .list("default", None, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.tenant_job_ids("acme", 10).await.unwrap(), [ja.id]);
    // Rotation: only jobs with a data key, paged by id; the key can be replaced.
    let keyed = store.keyed_jobs(None, 10).await.unwrap();
    assert_eq!(keyed, [(ja.id, b"wrapped data key".to_vec())]);
    assert!(store.keyed_jobs(Some(ja.id), 10).await.unwrap().is_empty());
    assert!(store.set_data_key(ja.id, b"rewrapped").await.unwrap());
    assert_eq!(
        store.get(ja.id).await.unwrap().unwrap().data_key.as_deref(),
        Some(&b"rewrapped"[..])
    );
    // Deleting the job deletes its data key with it (crypto-shredding).
    assert!(store.delete(ja.id).await.unwrap());
    assert!(store.keyed_jobs(None, 10).await.unwrap().is_empty());

    // API keys.
    assert_eq!(keys.active_key_count().await.unwrap(), 0);
    assert_eq!(keys.key_count_ever().await.unwrap(), 0);
    let key = ndf_store::ApiKey {
        id: "0123456789ab".into(),
        tenant: "acme".into(),
        name: "ci".into(),
        hash: "ff".repeat(32),
        scopes: vec!["extract".into(), "jobs:read".into()],
        created_at: T0,
        revoked_at: None,
    };
    keys.create_key(&key).await.unwrap();
    assert!(keys.create_key(&key).await.is_err(), "ids are unique");
    assert_eq!(
        keys.get_key("0123456789ab").await.unwrap().as_ref(),
        Some(&key)
    );
    assert!(keys.get_key("missing").await.unwrap().is_none());
    assert_eq!(
        keys.list_keys(Some("acme")).await.unwrap(),
        std::slice::from_ref(&key)
    );
    assert!(keys.list_keys(Some("globex")).await.unwrap().is_empty());
    assert_eq!(keys.active_key_count().await.unwrap(), 1);
    assert!(keys.revoke_key("0123456789ab", T0 + 5).await.unwrap());
    assert!(
        !keys.revoke_key("0123456789ab", T0 + 6).await.unwrap(),
        "once"
    );
    assert_eq!(
        keys.get_key("0123456789ab")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(T0 + 5)
    );
    assert_eq!(keys.active_key_count().await.unwrap(), 0);
    // Revoked keys stay: the store remembers that keys were required.
    assert_eq!(keys.key_count_ever().await.unwrap(), 1);

    // Counters: atomic increments per (bucket, window), shared by concurrent callers.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let keys = keys.clone();
        tasks.push(tokio::spawn(async move {
            keys.count_hit("key:x", T0, T0 + 120_000).await.unwrap()
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<u64>>());
    assert_eq!(
        keys.count_hit("key:x", T0 + 60_000, T0 + 180_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(keys.count_hit("key:y", T0, T0 + 120_000).await.unwrap(), 1);
    assert_eq!(keys.purge_counters(T0 + 150_000).await.unwrap(), 2);
    assert_eq!(
        keys.count_hit("key:x", T0, T0 + 120_000).await.unwrap(),
        1,
        "purged"
    );
}

macro_rules! for_each_job_test {
    ($m:ident) => {
        $m!(
            create_get_list,
            idempotency,
            idempotency_race,
            lease_order,
            concurrent_leasing,
            heartbeat,
            lease_expiry,
            poison_job,
            finish_once,
            retryable_failure,
            release,
            cancel,
            delete,
            expired,
            webhooks,
            webhooks_race,
            counts,
            idempotency_per_tenant,
            count_active,
            shred,
            delete_many
        );
    };
}
