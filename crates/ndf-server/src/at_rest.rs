//! Encryption at rest (envelope encryption with `ndf-seal`): each job gets a random data key,
//! stored wrapped under the master key in the job's row; its input, its result and its
//! options (which may hold a document password) are sealed with it. Deleting the job row
//! destroys the only wrapped copy of the key, so its objects cannot be decrypted any more
//! (crypto-shredding), whatever copies of them survive.

use std::io::Read;
use std::path::Path;

use ndf_seal::{DataKey, KeyId, KeyRing, WrappedKey};
use ndf_store::JobId;

use crate::config::{Config, ConfigError};

/// The master keys of this replica.
pub struct AtRest {
    ring: KeyRing,
}

impl std::fmt::Debug for AtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtRest")
            .field("current", &self.ring.current_id().as_str())
            .finish_non_exhaustive()
    }
}

/// Why sealed data could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("encryption at rest: {0}")]
pub struct AtRestError(String);

fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    let f = std::fs::File::open(path).map_err(|e| ConfigError::file("master key file", path, e))?;
    let mut text = String::new();
    f.take(ndf_seal::MAX_KEY_FILE_BYTES as u64)
        .read_to_string(&mut text)
        .map_err(|e| ConfigError::file("master key file", path, e))?;
    Ok(text)
}

/// The embedded default's own master key: created once in `data_dir` (mode 0600).
fn embedded_key_file(config: &Config) -> Result<std::path::PathBuf, ConfigError> {
    let path = config.data_dir.join("master.key");
    if !path.exists() {
        let id = KeyId::new("k1").map_err(|e| ConfigError::unusable("master key id", e))?;
        let line = ndf_seal::generate_key_line(&id)
            .map_err(|e| ConfigError::unusable("generating a master key", e))?;
        // Another process creating it first is fine: its key is used.
        crate::util::create_secret_file_once(&path, format!("{}\n", &*line).as_bytes())
            .map_err(|e| ConfigError::file("master key file", &path, e))?;
    }
    Ok(path)
}

impl AtRest {
    /// The master keys from `master_key` (`NDF_MASTER_KEY`) or `master_key_file`; for the
    /// embedded store without either, a key file created in `data_dir`. `None` only when the
    /// configuration explicitly allows unencrypted storage.
    pub fn load(config: &Config) -> Result<Option<AtRest>, ConfigError> {
        let text = match (&config.master_key, &config.master_key_file) {
            (Some(k), None) => k.clone(),
            (None, Some(p)) => read_key_file(p)?,
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "set master_key or master_key_file, not both",
                ));
            }
            (None, None) if config.allow_unencrypted => return Ok(None),
            (None, None) if config.store.is_none() && config.blobs.is_none() => {
                read_key_file(&embedded_key_file(config)?)?
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    "storage outside data_dir needs a master key (master_key_file or \
                     NDF_MASTER_KEY; `ndf keys generate-master` prints one) or \
                     allow_unencrypted = true",
                ));
            }
        };
        let ring = KeyRing::parse(&text).map_err(|e| ConfigError::unusable("master key", e))?;
        Ok(Some(AtRest { ring }))
    }

    /// The key ring (for re-wrapping).
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// A new data key for a job and its wrapped form for the job's row.
    pub fn new_job_key(&self, id: JobId) -> Result<(DataKey, Vec<u8>), AtRestError> {
        let (key, wrapped) = self
            .ring
            .new_data_key(id.to_string().as_bytes())
            .map_err(|e| AtRestError(e.to_string()))?;
        Ok((key, wrapped.to_bytes()))
    }

    /// The data key of a job from its row.
    pub fn job_key(&self, id: JobId, wrapped: &[u8]) -> Result<DataKey, AtRestError> {
        let w = WrappedKey::from_bytes(wrapped).map_err(|e| AtRestError(e.to_string()))?;
        self.ring
            .unwrap_key(&w, id.to_string().as_bytes())
            .map_err(|e| AtRestError(e.to_string()))
    }

    /// The wrapped key re-wrapped under the current master key, if it is not already.
    pub fn rewrap(&self, id: JobId, wrapped: &[u8]) -> Result<Option<Vec<u8>>, AtRestError> {
        let w = WrappedKey::from_bytes(wrapped).map_err(|e| AtRestError(e.to_string()))?;
        if !self.ring.needs_rewrap(&w) {
            return Ok(None);
        }
        let w = self
            .ring
            .rewrap_key(&w, id.to_string().as_bytes())
            .map_err(|e| AtRestError(e.to_string()))?;
        Ok(Some(w.to_bytes()))
    }
}

/// Seal `data` stored under blob `key` (the key is the associated data: objects cannot be
/// moved between paths or jobs).
pub fn seal(key: &DataKey, blob_key: &str, data: &[u8]) -> Result<Vec<u8>, AtRestError> {
    ndf_seal::seal(key, blob_key.as_bytes(), data).map_err(|e| AtRestError(e.to_string()))
}

/// Open what [`seal`] wrote.
pub fn open(key: &DataKey, blob_key: &str, sealed: &[u8]) -> Result<Vec<u8>, AtRestError> {
    ndf_seal::open(key, blob_key.as_bytes(), sealed).map_err(|e| AtRestError(e.to_string()))
}

/// The job options as stored: `{"sealed": "<hex>"}` with the JSON sealed under the job's key.
pub fn seal_options(
    key: &DataKey,
    id: JobId,
    options: &serde_json::Value,
) -> Result<serde_json::Value, AtRestError> {
    let json = serde_json::to_vec(options).map_err(|e| AtRestError(e.to_string()))?;
    let sealed = seal(key, &format!("jobs/{id}/options"), &json)?;
    Ok(serde_json::json!({ "sealed": hex::encode(sealed) }))
}

/// The job options from their stored form (plain JSON when stored unencrypted).
pub fn open_options(
    key: Option<&DataKey>,
    id: JobId,
    stored: &serde_json::Value,
) -> Result<serde_json::Value, AtRestError> {
    let Some(sealed) = stored.get("sealed").and_then(|v| v.as_str()) else {
        return Ok(stored.clone());
    };
    let key = key.ok_or_else(|| AtRestError("sealed options without a data key".into()))?;
    let bytes = hex::decode(sealed).map_err(|e| AtRestError(e.to_string()))?;
    let json = open(key, &format!("jobs/{id}/options"), &bytes)?;
    serde_json::from_slice(&json).map_err(|e| AtRestError(e.to_string()))
}
