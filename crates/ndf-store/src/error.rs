//! Store errors, and their mapping from the database and object-store clients.

/// Why a store operation failed. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or is overloaded (connection, IO, pool timeout, lock
    /// timeout): retrying later may succeed. The server answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend rejected the credentials or the operation.
    #[error("store access denied: {0}")]
    Denied(String),
    /// A stored value cannot be read back (bad state name, negative size, unknown schema…).
    #[error("store data corrupt: {0}")]
    Corrupt(String),
    /// A uniqueness conflict (for example a job id that already exists).
    #[error("store conflict: {0}")]
    Conflict(String),
    /// A bad argument or URL (too long, bad key, unsupported scheme…).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// Any other backend failure.
    #[error("store error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Maps a sqlx error. sqlx does not put connection URLs into its errors; the caller maps URL
/// parse errors itself (with [`crate::redact_url`]).
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match err {
        E::Database(db) => {
            let msg = db.message().to_owned();
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if db.is_unique_violation() {
                return StoreError::Conflict(msg);
            }
            // SQLite: 5 BUSY, 6 LOCKED (and their extended codes: low byte), 13 FULL, 10 IOERR.
            // PostgreSQL: class 08 connection, 53 resources, 57 operator intervention,
            // 40001/40P01 serialization/deadlock, 55P03 lock timeout, 57014 statement timeout
            // (in class 57): all worth a retry.
            let sqlite_code = code.parse::<u32>().ok().map(|c| c & 0xff);
            let transient = matches!(sqlite_code, Some(5 | 6 | 10 | 13))
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code == "40001"
                || code == "40P01"
                || code == "55P03";
            if transient {
                StoreError::Unavailable(format!("{msg} ({code})"))
            } else if code.starts_with("28") || code == "42501" {
                StoreError::Denied(format!("{msg} ({code})"))
            } else {
                StoreError::Backend(format!("{msg} ({code})"))
            }
        }
        E::Io(_)
        | E::Tls(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::Protocol(_) => StoreError::Unavailable(err.to_string()),
        E::Configuration(_) => StoreError::Invalid(err.to_string()),
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. } => StoreError::Corrupt(err.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Maps an object_store error.
pub(crate) fn object(err: object_store::Error) -> StoreError {
    use object_store::Error as E;
    match err {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            StoreError::Denied(err.to_string())
        }
        E::InvalidPath { .. } => StoreError::Invalid(err.to_string()),
        E::AlreadyExists { .. } | E::Precondition { .. } => StoreError::Conflict(err.to_string()),
        E::Generic { .. } | E::JoinError { .. } => StoreError::Unavailable(err.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Maps a local-file IO error.
pub(crate) fn io(what: &str, err: &std::io::Error) -> StoreError {
    use std::io::ErrorKind as K;
    match err.kind() {
        K::PermissionDenied | K::ReadOnlyFilesystem => StoreError::Denied(format!("{what}: {err}")),
        _ => StoreError::Unavailable(format!("{what}: {err}")),
    }
}
