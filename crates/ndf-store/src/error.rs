//! Store errors, and their mapping from the database and object-store clients.
//!
//! Every variant carries a [`Detail`]: a message that never holds credentials, and the error
//! of the client underneath (sqlx, object_store, the file system) as the error's `source()`,
//! so that a log can print the whole chain ([`StoreError::report`]) while an API answer shows
//! only the class of the failure.

use std::error::Error;
use std::fmt;

/// The error underneath a [`StoreError`].
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What a [`StoreError`] says: a message without secrets, and the error that caused it (the
/// `source()` of the [`StoreError`]), if any.
pub struct Detail {
    message: String,
    source: Option<BoxError>,
}

impl Detail {
    /// A message with no underlying error.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A message and the error that caused it.
    pub fn caused_by(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The message (without the causes).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for Detail {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Detail {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Detail");
        d.field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

/// Why a store operation failed. Messages never contain credentials; the client error
/// underneath is the `source()`.
#[derive(Debug)]
pub enum StoreError {
    /// The backend cannot be reached or is overloaded (connection, IO, pool timeout, lock
    /// timeout): retrying later may succeed. The server answers 503.
    Unavailable(Detail),
    /// The backend rejected the credentials or the operation.
    Denied(Detail),
    /// A stored value cannot be read back (bad state name, negative size, unknown schema…).
    Corrupt(Detail),
    /// A uniqueness conflict (for example a job id that already exists).
    Conflict(Detail),
    /// A bad argument or URL (too long, bad key, unsupported scheme…).
    Invalid(Detail),
    /// Any other backend failure.
    Backend(Detail),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// The message and cause of this error, whatever its class.
    pub fn detail(&self) -> &Detail {
        match self {
            StoreError::Unavailable(d)
            | StoreError::Denied(d)
            | StoreError::Corrupt(d)
            | StoreError::Conflict(d)
            | StoreError::Invalid(d)
            | StoreError::Backend(d) => d,
        }
    }

    /// The error and all its causes on one line (`a: b: c`), for logs. Never meant for API
    /// answers: a cause may quote the database (table names, SQL).
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }

    fn class(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "store unavailable",
            StoreError::Denied(_) => "store access denied",
            StoreError::Corrupt(_) => "store data corrupt",
            StoreError::Conflict(_) => "store conflict",
            StoreError::Invalid(_) => "invalid store request",
            StoreError::Backend(_) => "store error",
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class(), self.detail().message)
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.detail()
            .source
            .as_deref()
            .map(|e| e as &(dyn Error + 'static))
    }
}

/// A [`StoreError`] with its causes, displayed on one line (see [`StoreError::report`]).
#[derive(Debug)]
pub struct Report<'a>(&'a StoreError);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        // Bounded: a (buggy) cyclic chain must not loop forever.
        for _ in 0..16 {
            let Some(cause) = next else { break };
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

/// Maps a sqlx error, keeping it as the source. sqlx does not put connection URLs into its
/// errors; the caller maps URL parse errors itself (with [`crate::redact_url`]).
pub(crate) fn db(err: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match &err {
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if db.is_unique_violation() {
                return StoreError::Conflict(Detail::caused_by(
                    format!("uniqueness violated ({code})"),
                    err,
                ));
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
            let detail = Detail::caused_by(format!("database error {code}"), err);
            if transient {
                StoreError::Unavailable(detail)
            } else if code.starts_with("28") || code == "42501" {
                StoreError::Denied(detail)
            } else {
                StoreError::Backend(detail)
            }
        }
        E::Io(_) | E::Tls(_) | E::Protocol(_) => {
            StoreError::Unavailable(Detail::caused_by("database connection failed", err))
        }
        E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
            StoreError::Unavailable(Detail::caused_by("database pool unavailable", err))
        }
        E::Configuration(_) => {
            StoreError::Invalid(Detail::caused_by("database configuration", err))
        }
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. } => {
            StoreError::Corrupt(Detail::caused_by("a database row does not decode", err))
        }
        _ => StoreError::Backend(Detail::caused_by("database client error", err)),
    }
}

/// Maps an object_store error, keeping it as the source.
pub(crate) fn object(err: object_store::Error) -> StoreError {
    use object_store::Error as E;
    match &err {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            StoreError::Denied(Detail::caused_by("object storage refused access", err))
        }
        E::InvalidPath { .. } => StoreError::Invalid(Detail::caused_by("invalid object path", err)),
        E::AlreadyExists { .. } | E::Precondition { .. } => {
            StoreError::Conflict(Detail::caused_by("object storage conflict", err))
        }
        E::Generic { .. } | E::JoinError { .. } => {
            StoreError::Unavailable(Detail::caused_by("object storage unavailable", err))
        }
        _ => StoreError::Backend(Detail::caused_by("object storage error", err)),
    }
}

/// Maps a local-file IO error (`what` was being done), keeping it as the source.
pub(crate) fn io(what: &str, err: std::io::Error) -> StoreError {
    use std::io::ErrorKind as K;
    match err.kind() {
        K::PermissionDenied | K::ReadOnlyFilesystem => {
            StoreError::Denied(Detail::caused_by(what, err))
        }
        _ => StoreError::Unavailable(Detail::caused_by(what, err)),
    }
}

/// Maps the failure of a blocking task (a panic or a cancelled runtime), keeping it as the
/// source.
pub(crate) fn join(what: &str, err: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(Detail::caused_by(what, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_kept_and_reported() {
        let e = io("reading blob", std::io::Error::other("disk on fire"));
        assert!(e.is_transient());
        assert_eq!(e.to_string(), "store unavailable: reading blob");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("disk on fire")
        );
        assert_eq!(
            e.report().to_string(),
            "store unavailable: reading blob: disk on fire"
        );
        let e = StoreError::Invalid("bad key".into());
        assert!(e.source().is_none() && !e.is_transient());
        assert_eq!(e.report().to_string(), "invalid store request: bad key");
        assert_eq!(e.detail().message(), "bad key");
    }
}
