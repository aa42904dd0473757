//! The data directory belongs to the service's user alone: the SQLite database (with its
//! `-wal` and `-shm` files), the blobs and their temporary files, and the key files hold
//! callback URLs with their tokens, idempotency keys, the audit log and sealed documents.
//!
//! - [`private_umask`]: the process creates files 0600 and directories 0700 (umask 077),
//!   whoever creates them (SQLite, the blob store, the key files).
//! - [`make_private`]: a data directory created by an older version (or by hand) is closed at
//!   start: the directory 0700 and everything under it without group or other bits.

use std::path::{Path, PathBuf};

/// Most entries [`make_private`] examines under one directory per start. The directory itself
/// is closed first, so entries beyond the bound are unreachable for other users anyway.
pub const MAX_ENTRIES: u64 = 1_000_000;

/// Set the process's umask to 077 (files 0600, directories 0700); returns the previous mask.
pub fn private_umask() -> u32 {
    let previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    previous.as_raw_mode()
}

/// What [`make_private`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tightened {
    /// Entries examined (the root included).
    pub examined: u64,
    /// Entries whose mode lost its group and other bits.
    pub changed: u64,
    /// Whether [`MAX_ENTRIES`] stopped the walk.
    pub truncated: bool,
}

fn tighten(path: &Path, meta: &std::fs::Metadata, out: &mut Tightened) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    out.examined += 1;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        out.changed += 1;
    }
    Ok(())
}

/// Remove the group and other bits of `root` (a directory or a file) and, when `tree` and
/// `root` is a directory, of everything under it, without following symbolic links; at most
/// [`MAX_ENTRIES`] entries. A missing `root` is not an error.
pub fn make_private(root: &Path, tree: bool) -> std::io::Result<Tightened> {
    let mut out = Tightened::default();
    let meta = match std::fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(out);
    }
    tighten(root, &meta, &mut out)?;
    if !tree || !meta.is_dir() {
        return Ok(out);
    }
    let mut pending: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            if out.examined >= MAX_ENTRIES {
                out.truncated = true;
                return Ok(out);
            }
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.file_type().is_symlink() {
                continue;
            }
            tighten(&entry.path(), &meta, &mut out)?;
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(out)
}

/// [`make_private`] with a log line when something was changed or could not be.
pub fn make_private_logged(root: &Path, tree: bool) {
    match make_private(root, tree) {
        Ok(t) if t.changed > 0 || t.truncated => tracing::warn!(
            path = %root.display(),
            changed = t.changed,
            examined = t.examined,
            truncated = t.truncated,
            "the data directory was readable by other users: removed group and other permissions"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(
            path = %root.display(),
            error = %e,
            "cannot restrict the permissions of the data directory"
        ),
    }
}

/// The local paths of a configuration's storage that must be private, each with whether its
/// whole tree is the store's: the data directory itself and the store's own entries in it
/// (the SQLite files, the key files, the blob tree) — never other files a user keeps there —,
/// a `sqlite://` database elsewhere (with its `-wal`, `-shm` and `-journal` files) and a
/// `file://` blob directory elsewhere.
pub fn storage_paths(config: &crate::Config) -> Vec<(PathBuf, bool)> {
    let mut paths = Vec::new();
    let sqlite = |db: &str, paths: &mut Vec<(PathBuf, bool)>| {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            paths.push((PathBuf::from(format!("{db}{suffix}")), false));
        }
    };
    if config.store.is_none() || config.blobs.is_none() {
        let dir = &config.data_dir;
        paths.push((dir.clone(), false));
        for key_file in ["master.key", "api-key-secret"] {
            paths.push((dir.join(key_file), false));
        }
    }
    let store = config.store_url();
    if let Some(db) = store
        .strip_prefix("sqlite://")
        .map(|p| p.split('?').next().unwrap_or(p))
        .filter(|p| !p.is_empty() && !p.starts_with(':'))
    {
        sqlite(db, &mut paths);
    }
    let blobs = config.blobs_url();
    if let Some(dir) = blobs.strip_prefix("file://").filter(|p| !p.is_empty()) {
        paths.push((PathBuf::from(dir), true));
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn open_trees_are_closed_and_links_are_not_followed() {
        let root = std::env::temp_dir().join(format!("ndf-file-modes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let outside = root.with_extension("outside");
        std::fs::create_dir_all(root.join("blobs/ab")).unwrap();
        std::fs::write(root.join("ndf.db"), b"x").unwrap();
        std::fs::write(root.join("blobs/ab/blob"), b"x").unwrap();
        std::fs::write(&outside, b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let set = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        set(&root, 0o755);
        set(&root.join("blobs"), 0o775);
        set(&root.join("blobs/ab"), 0o700);
        set(&root.join("ndf.db"), 0o644);
        set(&root.join("blobs/ab/blob"), 0o666);
        set(&outside, 0o644);
        // Not the tree: only the directory itself.
        std::fs::write(root.join("user-file"), b"x").unwrap();
        set(&root.join("user-file"), 0o644);
        assert_eq!(make_private(&root, false).unwrap().changed, 1);
        assert_eq!(
            std::fs::metadata(root.join("user-file"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644
        );
        std::fs::remove_file(root.join("user-file")).unwrap();
        set(&root, 0o755);
        let t = make_private(&root, true).unwrap();
        assert_eq!(t.changed, 4, "{t:?}");
        assert!(!t.truncated);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("blobs")), 0o700);
        assert_eq!(mode(&root.join("ndf.db")), 0o600);
        assert_eq!(mode(&root.join("blobs/ab/blob")), 0o600);
        assert_eq!(mode(&outside), 0o644, "the link's target is not touched");
        assert_eq!(make_private(&root, true).unwrap().changed, 0);
        assert_eq!(
            make_private(&root.join("missing"), true).unwrap(),
            Tightened::default()
        );
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_file(&outside);
    }
}
