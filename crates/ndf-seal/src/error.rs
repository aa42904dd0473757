//! Typed errors. None of them carries key material or the text a key was parsed from: key ring
//! problems are reported by position (line, entry), never by quoting the offending text.

use std::{fmt, io, path::PathBuf};

use crate::{DataKeyId, KeyId};

/// Which binary format an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blob {
    /// Output of [`seal`](crate::seal).
    SealedObject,
    /// Output of [`WrappedKey::to_bytes`](crate::WrappedKey::to_bytes).
    WrappedKey,
}

impl fmt::Display for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SealedObject => "sealed object",
            Self::WrappedKey => "wrapped key",
        })
    }
}

/// Failure of a sealing, opening, wrapping or unwrapping operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Shorter than its format's fixed parts.
    #[error("{0} is truncated")]
    Truncated(Blob),
    /// A wrapped key has bytes after its fixed-length end.
    #[error("{blob} has {count} unexpected trailing bytes")]
    TrailingBytes { blob: Blob, count: usize },
    /// Does not start with the format's magic bytes.
    #[error("not a {0}: wrong magic bytes")]
    BadMagic(Blob),
    /// A format version this build cannot read.
    #[error("{blob} format version {version} is not supported")]
    UnsupportedVersion { blob: Blob, version: u8 },
    /// The master key id inside a wrapped key is not a valid [`KeyId`].
    #[error("wrapped key names a malformed master key id")]
    MalformedMasterKeyId,
    /// The wrapped key was made under a master key this ring does not hold.
    #[error("master key `{0}` is not in the key ring")]
    UnknownMasterKey(KeyId),
    /// The sealed object's header names another data key than the one supplied.
    #[error("sealed object needs data key {needed}, but data key {given} was supplied")]
    WrongDataKey { needed: DataKeyId, given: DataKeyId },
    /// The AES-GCM tag did not verify: wrong key, wrong AAD/context, or altered bytes.
    #[error("{0} failed authentication (wrong key, wrong AAD or context, or altered bytes)")]
    Authentication(Blob),
    /// Plaintext beyond AES-GCM's limit (64 GiB) or a length that overflows `usize`.
    #[error("plaintext too large for AES-256-GCM")]
    TooLarge,
    /// The operating system's random number generator failed.
    #[error("system random number generator failed: {0}")]
    Random(String),
}

/// Why a master key id was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyIdProblem {
    #[error("key id is empty")]
    Empty,
    #[error("key id is longer than {} characters", KeyId::MAX_LEN)]
    TooLong,
    #[error("key id may only contain a-z, 0-9 and '-'")]
    InvalidCharacter,
    #[error("key id must start with a letter or digit")]
    LeadingHyphen,
}

/// What is wrong with one entry of the key ring text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("expected `<key-id>:<secret>` or `current=<key-id>`")]
    MissingSeparator,
    #[error("{0}")]
    InvalidKeyId(KeyIdProblem),
    #[error("secret must be 32 bytes written as 64 hex digits or 43/44 base64 characters")]
    InvalidSecret,
    #[error("secret is all zeros (a placeholder, not a key)")]
    ZeroSecret,
    #[error("key id defined twice")]
    DuplicateKeyId,
    #[error("`current=` given twice")]
    DuplicateCurrent,
}

/// Failure to build or load a [`KeyRing`](crate::KeyRing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The text holds no key.
    #[error("key ring holds no key")]
    Empty,
    /// One entry of the text is malformed (1-based positions; the text itself is not quoted).
    #[error("key ring line {line}, entry {entry}: {problem}")]
    Entry {
        line: usize,
        entry: usize,
        problem: EntryProblem,
    },
    /// [`KeyId::new`] rejected an id.
    #[error("{0}")]
    InvalidKeyId(KeyIdProblem),
    /// Two keys given to [`KeyRing::from_keys`](crate::KeyRing::from_keys) share an id.
    #[error("key id `{0}` appears twice")]
    DuplicateKeyId(KeyId),
    /// The designated current key is not among the keys.
    #[error("current key `{0}` is not in the key ring")]
    UnknownCurrent(KeyId),
    /// Neither the environment variable nor a key file is set.
    #[error("no master key configured: set ${var} or a key file")]
    NotConfigured { var: String },
    /// Both the environment variable and a key file are set.
    #[error("both ${var} and a key file are set; configure exactly one")]
    Ambiguous { var: String },
    /// The environment variable is not UTF-8.
    #[error("${var} is not valid UTF-8")]
    EnvNotUtf8 { var: String },
    /// The key file is not UTF-8.
    #[error("key file {path} is not valid UTF-8")]
    FileNotUtf8 { path: PathBuf },
    /// The key file could not be read.
    #[error("cannot read key file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The key file exceeds the size bound.
    #[error("key file {path} is larger than {max} bytes")]
    FileTooLarge { path: PathBuf, max: usize },
    /// The operating system's random number generator failed.
    #[error("system random number generator failed: {0}")]
    Random(String),
}
