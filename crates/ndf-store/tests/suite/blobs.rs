//! The BlobStore contract, run against every backend.

use std::sync::Arc;

use bytes::Bytes;
use ndf_store::{BlobStore, StoreError};

/// Deterministic pseudo-random bytes (xorshift), so corruption anywhere is detected.
pub(crate) fn pattern(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

pub(crate) async fn put_get_delete(store: Arc<dyn BlobStore>) {
    store.ping().await.unwrap();
    let key = "jobs/0190a1b2/input.pdf";
    assert_eq!(store.get(key).await.unwrap(), None);
    store
        .put(key, Bytes::from_static(b"%PDF-1.7 first"))
        .await
        .unwrap();
    assert_eq!(
        store.get(key).await.unwrap().as_deref(),
        Some(&b"%PDF-1.7 first"[..])
    );
    // Overwrite replaces the whole value (shorter than before).
    store.put(key, Bytes::from_static(b"second")).await.unwrap();
    assert_eq!(
        store.get(key).await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
    // Empty values are values.
    store.put("jobs/empty", Bytes::new()).await.unwrap();
    assert_eq!(
        store.get("jobs/empty").await.unwrap().as_deref(),
        Some(&b""[..])
    );
    // A prefix of other keys is not itself a value.
    assert_eq!(store.get("jobs").await.unwrap(), None);
    assert_eq!(store.get("jobs/0190a1b2").await.unwrap(), None);
    store.delete(key).await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), None);
    // Idempotent delete, also of something that never existed.
    store.delete(key).await.unwrap();
    store.delete("never/was").await.unwrap();
    assert_eq!(
        store.get("jobs/empty").await.unwrap().as_deref(),
        Some(&b""[..])
    );
}

pub(crate) async fn key_validation(store: Arc<dyn BlobStore>) {
    let long = "k/".repeat(ndf_store::MAX_KEY_LEN / 2) + "k";
    let long_segment = "k".repeat(ndf_store::MAX_KEY_SEGMENT_LEN + 1);
    for bad in [
        "",
        "/etc/passwd",
        "../escape",
        "a/../../b",
        "a//b",
        ".tmp/x",
        "a b",
        &long,
        &long_segment,
    ] {
        let data = Bytes::from_static(b"x");
        assert!(
            matches!(store.put(bad, data).await, Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
        assert!(
            matches!(store.get(bad).await, Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
        assert!(
            matches!(store.delete(bad).await, Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
    }
    // The longest keys accepted work on every backend (file names are at most 255 bytes).
    let max = ["k".repeat(255), "k".repeat(255)].join("/");
    store.put(&max, Bytes::from_static(b"ok")).await.unwrap();
    assert_eq!(store.get(&max).await.unwrap().as_deref(), Some(&b"ok"[..]));
}

pub(crate) async fn large_blob(store: Arc<dyn BlobStore>) {
    let data = pattern(8 * 1024 * 1024 + 3, 42);
    store.put("big/result.json", data.clone()).await.unwrap();
    let back = store.get("big/result.json").await.unwrap().expect("stored");
    assert_eq!(back.len(), data.len());
    assert!(back == data, "8 MiB blob came back different");
}

pub(crate) async fn concurrent_puts(store: Arc<dyn BlobStore>) {
    // Distinct keys in parallel, and several writers racing on one key.
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.put(&format!("many/{i}"), pattern(100_000, i)).await
        }));
    }
    for w in 0..6u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.put("shared/key", pattern(300_000, 1000 + w)).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for i in 0..16u64 {
        assert_eq!(
            store.get(&format!("many/{i}")).await.unwrap(),
            Some(pattern(100_000, i))
        );
    }
    // The race has one winner, and its value is whole.
    let winner = store.get("shared/key").await.unwrap().expect("stored");
    assert!(
        (0..6u64).any(|w| winner == pattern(300_000, 1000 + w)),
        "torn write on a shared key"
    );
}

/// Every blob-store test, by name.
macro_rules! for_each_blob_test {
    ($m:ident) => {
        $m!(put_get_delete, key_validation, large_blob, concurrent_puts);
    };
}
