//! Data keys and their wrapping under master keys.

use std::fmt;

use aes_gcm::{AeadInOut, Aes256Gcm, aead};

use crate::{
    KeyId, KeyRing, MasterKey,
    error::{Blob, SealError},
    secret::{KEY_LEN, Secret, push_hex, random_array},
};

pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

const WRAP_MAGIC: [u8; 4] = *b"NDFK";
const WRAP_VERSION: u8 = 1;

/// Public, random identifier of a data key (16 bytes), assigned when the key is generated.
///
/// It lets a sealed object name the key it needs without revealing anything about the key: it is
/// random, not derived from the key bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataKeyId([u8; 16]);

impl DataKeyId {
    pub const LEN: usize = 16;

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// 32 lowercase hex digits.
impl fmt::Display for DataKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = String::with_capacity(2 * Self::LEN);
        push_hex(&mut hex, &self.0);
        f.write_str(&hex)
    }
}

impl fmt::Debug for DataKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKeyId({self})")
    }
}

/// A per-job AES-256 data key. Zeroed on drop, never printed, never exported: the only way to
/// get one is [`KeyRing::new_data_key`] or [`KeyRing::unwrap_key`].
pub struct DataKey {
    id: DataKeyId,
    pub(crate) secret: Secret,
}

impl DataKey {
    pub fn id(&self) -> DataKeyId {
        self.id
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("secret", &format_args!("<redacted>"))
            .finish()
    }
}

/// A data key encrypted under a master key: safe to store (in the database, apart from the
/// objects it seals). Destroying every copy of it destroys the data (crypto-shredding).
///
/// Byte format: see the crate documentation.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    master_id: KeyId,
    data_key_id: DataKeyId,
    nonce: [u8; NONCE_LEN],
    ciphertext: [u8; KEY_LEN],
    tag: [u8; TAG_LEN],
}

impl WrappedKey {
    /// Fixed part of the encoding: everything except the master key id.
    const FIXED_LEN: usize = 4 + 1 + 1 + DataKeyId::LEN + NONCE_LEN + KEY_LEN + TAG_LEN;

    /// The master key this data key is wrapped under.
    pub fn master_id(&self) -> &KeyId {
        &self.master_id
    }

    /// The id of the data key inside (also written in the header of every object it seals).
    pub fn data_key_id(&self) -> DataKeyId {
        self.data_key_id
    }

    /// The self-describing, versioned encoding (83 to 114 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::FIXED_LEN + self.master_id.as_str().len());
        out.extend_from_slice(&wrap_header(&self.master_id, self.data_key_id));
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out.extend_from_slice(&self.tag);
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes) output. Checks the structure only; authenticity is
    /// checked by [`KeyRing::unwrap_key`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let truncated = || SealError::Truncated(Blob::WrappedKey);
        let (magic, rest) = bytes.split_first_chunk::<4>().ok_or_else(truncated)?;
        if *magic != WRAP_MAGIC {
            return Err(SealError::BadMagic(Blob::WrappedKey));
        }
        let (&version, rest) = rest.split_first().ok_or_else(truncated)?;
        if version != WRAP_VERSION {
            return Err(SealError::UnsupportedVersion {
                blob: Blob::WrappedKey,
                version,
            });
        }
        let (&id_len, rest) = rest.split_first().ok_or_else(truncated)?;
        let (id, rest) = rest
            .split_at_checked(usize::from(id_len))
            .ok_or_else(truncated)?;
        let master_id = KeyId::validate(id).map_err(|_| SealError::MalformedMasterKeyId)?;
        let (data_key_id, rest) = rest.split_first_chunk::<16>().ok_or_else(truncated)?;
        let (nonce, rest) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(truncated)?;
        let (ciphertext, rest) = rest.split_first_chunk::<KEY_LEN>().ok_or_else(truncated)?;
        let (tag, rest) = rest.split_first_chunk::<TAG_LEN>().ok_or_else(truncated)?;
        if !rest.is_empty() {
            return Err(SealError::TrailingBytes {
                blob: Blob::WrappedKey,
                count: rest.len(),
            });
        }
        Ok(Self {
            master_id,
            data_key_id: DataKeyId(*data_key_id),
            nonce: *nonce,
            ciphertext: *ciphertext,
            tag: *tag,
        })
    }
}

/// Shows ids only: the ciphertext is not secret, but it is noise in logs.
impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("master_id", &self.master_id)
            .field("data_key_id", &self.data_key_id)
            .finish_non_exhaustive()
    }
}

/// magic, version, id length, master id, data key id. `KeyId::MAX_LEN` fits the length byte.
fn wrap_header(master_id: &KeyId, data_key_id: DataKeyId) -> Vec<u8> {
    let id = master_id.as_str().as_bytes();
    let mut header = Vec::with_capacity(4 + 1 + 1 + id.len() + DataKeyId::LEN);
    header.extend_from_slice(&WRAP_MAGIC);
    header.push(WRAP_VERSION);
    header.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    header.extend_from_slice(id);
    header.extend_from_slice(&data_key_id.0);
    header
}

/// The header is self-delimiting (length-prefixed id, fixed-size rest), so appending the
/// caller's context cannot make two different (header, context) pairs collide.
fn wrap_aad(master_id: &KeyId, data_key_id: DataKeyId, context: &[u8]) -> Vec<u8> {
    let mut aad = wrap_header(master_id, data_key_id);
    aad.extend_from_slice(context);
    aad
}

fn wrap(master: &MasterKey, key: &DataKey, context: &[u8]) -> Result<WrappedKey, SealError> {
    let nonce = random_array::<NONCE_LEN>().map_err(SealError::Random)?;
    let aad = wrap_aad(master.id(), key.id, context);
    let mut ciphertext = *key.secret.bytes();
    let tag = master
        .secret
        .cipher()
        .encrypt_inout_detached(&nonce.into(), &aad, ciphertext.as_mut_slice().into())
        .map_err(|_| SealError::TooLarge)?;
    Ok(WrappedKey {
        master_id: master.id().clone(),
        data_key_id: key.id,
        nonce,
        ciphertext,
        tag: tag.into(),
    })
}

impl KeyRing {
    /// A fresh random data key for one job, and its wrapping under the current master key.
    ///
    /// `context` names what the key belongs to (e.g. the job id); the same bytes must be given to
    /// [`unwrap_key`](Self::unwrap_key), so a wrapped key moved to another job's row fails.
    pub fn new_data_key(&self, context: &[u8]) -> Result<(DataKey, WrappedKey), SealError> {
        let id = DataKeyId(random_array().map_err(SealError::Random)?);
        let secret = Secret::random().map_err(SealError::Random)?;
        let key = DataKey { id, secret };
        let wrapped = wrap(self.current_key()?, &key, context)?;
        Ok((key, wrapped))
    }

    /// Decrypts a wrapped data key with whichever master key it names.
    pub fn unwrap_key(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, SealError> {
        let master = self
            .get(&wrapped.master_id)
            .ok_or_else(|| SealError::UnknownMasterKey(wrapped.master_id.clone()))?;
        let aad = wrap_aad(&wrapped.master_id, wrapped.data_key_id, context);
        let mut secret = Secret::zeroed();
        secret.bytes_mut().copy_from_slice(&wrapped.ciphertext);
        let tag: &aead::Tag<Aes256Gcm> = (&wrapped.tag).into();
        master
            .secret
            .cipher()
            .decrypt_inout_detached(
                (&wrapped.nonce).into(),
                &aad,
                secret.bytes_mut().as_mut_slice().into(),
                tag,
            )
            .map_err(|_| SealError::Authentication(Blob::WrappedKey))?;
        Ok(DataKey {
            id: wrapped.data_key_id,
            secret,
        })
    }

    /// Re-encrypts a wrapped data key under the current master key (rotation). The data key and
    /// its id do not change, so objects sealed under it stay readable.
    ///
    /// Always authenticates `wrapped` against `context` first; if it is already under the
    /// current master key the result equals the input (see [`needs_rewrap`](Self::needs_rewrap)
    /// to skip the database write).
    pub fn rewrap_key(
        &self,
        wrapped: &WrappedKey,
        context: &[u8],
    ) -> Result<WrappedKey, SealError> {
        let key = self.unwrap_key(wrapped, context)?;
        if !self.needs_rewrap(wrapped) {
            return Ok(wrapped.clone());
        }
        wrap(self.current_key()?, &key, context)
    }

    /// Whether `wrapped` is under another master key than the current one.
    pub fn needs_rewrap(&self, wrapped: &WrappedKey) -> bool {
        wrapped.master_id != *self.current_id()
    }

    fn current_key(&self) -> Result<&MasterKey, SealError> {
        // Present by the KeyRing invariant; an error rather than a panic all the same.
        self.get(self.current_id())
            .ok_or_else(|| SealError::UnknownMasterKey(self.current_id().clone()))
    }
}
