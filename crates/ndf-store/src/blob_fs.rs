//! Blobs as files under one local directory.
//!
//! A put writes `DIR/.tmp/<uuid>`, fsyncs it, renames it over `DIR/<key>` and fsyncs the
//! directory: readers see the old or the new value, never a torn one, and a crash leaves at
//! most a stray temp file (swept on open once it is an hour old). Keys are validated, so no
//! path escapes `DIR`.
//!
//! A delete also removes the directories it leaves empty, up to (not including) `DIR`: a
//! deleted job leaves no `jobs/<id>/` behind. Race-safe with concurrent puts: a directory is
//! only removed while empty (`rmdir` refuses otherwise), and a put whose directory vanished
//! between creating it and renaming into it creates it again (bounded retries).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{StoreError, io, join};
use crate::{BlobStore, validate_key};

const TMP_DIR: &str = ".tmp";
/// Temp files older than this are leftovers of a crash (a put takes far less).
const STALE_TMP: Duration = Duration::from_secs(3600);
/// Bound on the startup sweep of leftovers.
const MAX_SWEEP: usize = 10_000;
/// A put retries this often when a concurrent delete removes its (then empty) directory.
const MAX_PUT_RETRIES: usize = 8;

/// [`BlobStore`] on a local directory.
#[derive(Debug, Clone)]
pub struct DirBlobStore {
    root: Arc<PathBuf>,
    max_bytes: u64,
}

impl DirBlobStore {
    /// Opens `dir`, creating it (and its temp directory) if missing. Blobs over `max_bytes`
    /// are refused.
    pub async fn open(dir: &str, max_bytes: u64) -> Result<Self, StoreError> {
        if dir.is_empty() {
            return Err(StoreError::Invalid("file:// URL has no directory".into()));
        }
        let root = PathBuf::from(dir);
        let tmp = root.join(TMP_DIR);
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            std::fs::create_dir_all(&tmp).map_err(|e| io("creating the blob directory", e))?;
            sweep_stale(&tmp);
            Ok(())
        })
        .await
        .map_err(|e| join("blob open task", e))??;
        Ok(Self {
            root: Arc::new(root),
            max_bytes,
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

/// Removes temp files left by crashed puts (best effort: errors are ignored).
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.take(MAX_SWEEP).flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TMP);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Reads a whole file of at most `max` bytes; `None` when there is no such file.
fn get_blocking(path: &Path, max: u64) -> Result<Option<Bytes>, StoreError> {
    use std::io::ErrorKind as K;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        // A directory (a prefix of other keys) is not a blob either.
        Err(e) if matches!(e.kind(), K::NotFound | K::NotADirectory) => return Ok(None),
        Err(e) => return Err(io("reading blob", e)),
    };
    let meta = file.metadata().map_err(|e| io("reading blob", e))?;
    if meta.is_dir() {
        return Ok(None);
    }
    crate::check_blob_size(meta.len(), max)?;
    // The length may change under us (another replica's rename replaces the path, not this
    // open file, but be safe): read at most max + 1 bytes.
    let capacity = usize::try_from(meta.len()).unwrap_or(0);
    let mut data = Vec::with_capacity(capacity);
    file.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| io("reading blob", e))?;
    crate::check_blob_size(data.len() as u64, max)?;
    Ok(Some(Bytes::from(data)))
}

fn put_blocking(root: &Path, path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let parent = path
        .parent()
        .ok_or_else(|| StoreError::Invalid("blob key has no parent directory".into()))?;
    let tmp = root
        .join(TMP_DIR)
        .join(uuid::Uuid::now_v7().simple().to_string());
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        rename_into(&tmp, parent, path)?;
        // Make the rename itself durable (the directory cannot vanish now: it is not empty).
        std::fs::File::open(parent)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing blob", e));
    }
    Ok(())
}

/// Creates `parent` and renames `tmp` to `path` inside it; a concurrent delete may remove the
/// directory (or one of its parents) while it is still empty, which shows as `NotFound`:
/// create it again, a bounded number of times.
fn rename_into(tmp: &Path, parent: &Path, path: &Path) -> std::io::Result<()> {
    rename_into_racing(tmp, parent, path, || {})
}

/// [`rename_into`] with `between` run after creating the directory and before the rename (where
/// a concurrent delete can remove it; the tests remove it there).
fn rename_into_racing(
    tmp: &Path,
    parent: &Path,
    path: &Path,
    mut between: impl FnMut(),
) -> std::io::Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let done = std::fs::create_dir_all(parent).and_then(|()| {
            between();
            std::fs::rename(tmp, path)
        });
        match done {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < MAX_PUT_RETRIES => {}
            other => return other,
        }
    }
}

/// Removes the directories above `path` that are empty, deepest first, stopping below `root`
/// or at the first one that is not empty (or already gone, or not removable).
async fn prune_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    // Bounded by the key's segments (a key has at most 256 of them).
    for _ in 0..=crate::MAX_KEY_LEN / 2 {
        let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) else {
            return;
        };
        // rmdir fails on a directory that is not empty: a concurrent put keeps its directory.
        if tokio::fs::remove_dir(d).await.is_err() {
            return;
        }
        dir = d.parent();
    }
}

#[async_trait]
impl BlobStore for DirBlobStore {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        let path = self.path(key)?;
        crate::check_blob_size(data.len() as u64, self.max_bytes)?;
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || put_blocking(&root, &path, &data))
            .await
            .map_err(|e| join("blob write task", e))?
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = self.path(key)?;
        let max = self.max_bytes;
        tokio::task::spawn_blocking(move || get_blocking(&path, max))
            .await
            .map_err(|e| join("blob read task", e))?
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match tokio::fs::symlink_metadata(&path).await {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => {}
            // Already gone: its directory may still be an empty leftover.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                prune_empty_parents(&self.root, &path).await;
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(()),
            Err(e) => return Err(io("deleting blob", e)),
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            // Another replica deleted it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("deleting blob", e)),
        }
        prune_empty_parents(&self.root, &path).await;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let meta = tokio::fs::metadata(self.root.join(TMP_DIR))
            .await
            .map_err(|e| io("blob directory", e))?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "blob temp directory is not a directory".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A put whose directory a concurrent delete removes (empty) between its creation and the
    /// rename creates it again; when that happens more often than the retries allow, the put
    /// fails instead of looping.
    #[test]
    #[allow(clippy::disallowed_methods)] // reads back the 4-byte file it wrote
    fn a_directory_removed_under_a_put_is_created_again() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join("tmp-file");
        let parent = root.path().join("jobs/j");
        let path = parent.join("input.pdf");
        std::fs::write(&tmp, b"data").unwrap();
        let mut removed = 0;
        rename_into_racing(&tmp, &parent, &path, || {
            if removed < 2 {
                std::fs::remove_dir(&parent).unwrap();
                removed += 1;
            }
        })
        .unwrap();
        assert_eq!(removed, 2);
        assert_eq!(std::fs::read(&path).unwrap(), b"data");

        std::fs::write(&tmp, b"more").unwrap();
        let other = root.path().join("jobs/k");
        let err = rename_into_racing(&tmp, &other, &other.join("input.pdf"), || {
            std::fs::remove_dir(&other).unwrap();
        })
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
