//! The crate's only IO: reading the key ring from an environment variable or a file.

use std::{fs::File, io::Read, path::Path};

use zeroize::Zeroizing;

use crate::{KeyRing, error::KeyRingError};

/// Upper bound on a key file: about 600 keys, far more than rotation ever keeps.
pub const MAX_KEY_FILE_BYTES: usize = 64 * 1024;

/// Signals interrupting a read are retried, but not forever.
const MAX_INTERRUPTIONS: u32 = 100;

impl KeyRing {
    /// Loads the key ring (text format of [`KeyRing::parse`]) from the environment variable
    /// `var_name` or from `file`; exactly one of the two must be set (an empty variable counts
    /// as unset), so a stale leftover source is never silently preferred.
    ///
    /// The file is read with a size bound into memory that is zeroed afterwards. Prefer the
    /// file: an environment variable stays readable in the process environment (and in
    /// `/proc/<pid>/environ`) for the life of the process. Errors name the variable or the path,
    /// never the content.
    pub fn from_env_or_file(var_name: &str, file: Option<&Path>) -> Result<Self, KeyRingError> {
        let env_value = std::env::var_os(var_name)
            .map(|value| Zeroizing::new(value.into_encoded_bytes()))
            .filter(|value| !value.is_empty());
        let var = || var_name.to_owned();
        match (env_value, file) {
            (Some(_), Some(_)) => Err(KeyRingError::Ambiguous { var: var() }),
            (None, None) => Err(KeyRingError::NotConfigured { var: var() }),
            (Some(value), None) => {
                let text = std::str::from_utf8(&value)
                    .map_err(|_| KeyRingError::EnvNotUtf8 { var: var() })?;
                Self::parse(text)
            }
            (None, Some(path)) => {
                let content = read_bounded(path)?;
                let text =
                    std::str::from_utf8(&content).map_err(|_| KeyRingError::FileNotUtf8 {
                        path: path.to_owned(),
                    })?;
                Self::parse(text)
            }
        }
    }
}

/// Reads at most [`MAX_KEY_FILE_BYTES`] into a buffer allocated once at full size, so it is
/// never reallocated (which would leave copies of the keys in freed memory) and is zeroed on drop.
fn read_bounded(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyRingError> {
    let read_error = |source| KeyRingError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    // One spare byte tells "exactly at the limit" from "over it".
    let mut buffer = Zeroizing::new(vec![0u8; MAX_KEY_FILE_BYTES + 1]);
    let mut filled = 0;
    let mut interruptions = 0;
    // Each successful iteration adds at least one byte and interruptions are capped, so this
    // runs at most MAX_KEY_FILE_BYTES + 1 + MAX_INTERRUPTIONS times.
    loop {
        let Some(free) = buffer.get_mut(filled..).filter(|free| !free.is_empty()) else {
            return Err(KeyRingError::FileTooLarge {
                path: path.to_owned(),
                max: MAX_KEY_FILE_BYTES,
            });
        };
        match file.read(free) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error)
                if error.kind() == std::io::ErrorKind::Interrupted
                    && interruptions < MAX_INTERRUPTIONS =>
            {
                interruptions += 1;
            }
            Err(error) => return Err(read_error(error)),
        }
    }
    // Truncating keeps the allocation (and Zeroizing clears all of its capacity on drop).
    buffer.truncate(filled);
    Ok(buffer)
}
