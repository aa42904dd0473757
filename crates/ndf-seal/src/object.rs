//! Sealing and opening objects under a data key.

use aes_gcm::{AeadInOut, Aes256Gcm, aead};

use crate::{
    DataKey, DataKeyId,
    error::{Blob, SealError},
    secret::random_array,
    wrap::{NONCE_LEN, TAG_LEN},
};

const OBJECT_MAGIC: [u8; 4] = *b"NDFS";
const OBJECT_VERSION: u8 = 1;
/// magic, version, data key id: authenticated as part of the AAD.
const HEADER_LEN: usize = 4 + 1 + DataKeyId::LEN;

/// Bytes a sealed object adds to its plaintext (header, nonce, tag): 49.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Encrypts `plaintext` under `key` with AES-256-GCM and a fresh random 96-bit nonce.
///
/// `aad` names the object (e.g. `jobs/<id>/input.pdf`); [`open`] needs the same bytes, so an
/// object copied to another path or another job does not open. It is authenticated, not stored.
pub fn seal(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let nonce = random_array::<NONCE_LEN>().map_err(SealError::Random)?;
    let header = object_header(key.id());
    let capacity = SEAL_OVERHEAD
        .checked_add(plaintext.len())
        .ok_or(SealError::TooLarge)?;
    let mut sealed = Vec::with_capacity(capacity);
    sealed.extend_from_slice(&header);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(plaintext);
    let (_, body) = sealed
        .split_at_mut_checked(HEADER_LEN + NONCE_LEN)
        .ok_or(SealError::TooLarge)?;
    let tag = key
        .secret
        .cipher()
        .encrypt_inout_detached(&nonce.into(), &object_aad(&header, aad), body.into())
        .map_err(|_| SealError::TooLarge)?;
    sealed.extend_from_slice(&tag);
    Ok(sealed)
}

/// Decrypts and authenticates the output of [`seal`]. Any change to the bytes, another key or
/// another `aad` gives an error, never a panic and never unauthenticated plaintext.
pub fn open(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    let parts = SealedParts::parse(sealed)?;
    if parts.data_key_id != key.id() {
        return Err(SealError::WrongDataKey {
            needed: parts.data_key_id,
            given: key.id(),
        });
    }
    let mut plaintext = parts.ciphertext.to_vec();
    let tag: &aead::Tag<Aes256Gcm> = parts.tag.into();
    key.secret
        .cipher()
        .decrypt_inout_detached(
            parts.nonce.into(),
            &object_aad(parts.header, aad),
            plaintext.as_mut_slice().into(),
            tag,
        )
        .map_err(|_| SealError::Authentication(Blob::SealedObject))?;
    Ok(plaintext)
}

/// The id of the data key a sealed object needs, read from its header (not authenticated until
/// [`open`]).
pub fn sealed_data_key_id(sealed: &[u8]) -> Result<DataKeyId, SealError> {
    SealedParts::parse(sealed).map(|parts| parts.data_key_id)
}

fn object_header(data_key_id: DataKeyId) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    let (magic, rest) = header.split_at_mut(4);
    magic.copy_from_slice(&OBJECT_MAGIC);
    let (version, id) = rest.split_at_mut(1);
    version.copy_from_slice(&[OBJECT_VERSION]);
    id.copy_from_slice(data_key_id.as_bytes());
    header
}

/// The header has a fixed length, so header ‖ caller AAD is unambiguous.
fn object_aad(header: &[u8; HEADER_LEN], aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(HEADER_LEN + aad.len());
    full.extend_from_slice(header);
    full.extend_from_slice(aad);
    full
}

struct SealedParts<'a> {
    header: &'a [u8; HEADER_LEN],
    data_key_id: DataKeyId,
    nonce: &'a [u8; NONCE_LEN],
    ciphertext: &'a [u8],
    tag: &'a [u8; TAG_LEN],
}

impl<'a> SealedParts<'a> {
    fn parse(sealed: &'a [u8]) -> Result<Self, SealError> {
        let truncated = || SealError::Truncated(Blob::SealedObject);
        let (magic, rest) = sealed.split_first_chunk::<4>().ok_or_else(truncated)?;
        if *magic != OBJECT_MAGIC {
            return Err(SealError::BadMagic(Blob::SealedObject));
        }
        let (&version, _) = rest.split_first().ok_or_else(truncated)?;
        if version != OBJECT_VERSION {
            return Err(SealError::UnsupportedVersion {
                blob: Blob::SealedObject,
                version,
            });
        }
        let (header, rest) = sealed
            .split_first_chunk::<HEADER_LEN>()
            .ok_or_else(truncated)?;
        let (_, data_key_id) = header
            .split_last_chunk::<{ DataKeyId::LEN }>()
            .ok_or_else(truncated)?;
        let (nonce, rest) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(truncated)?;
        let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(truncated)?;
        Ok(Self {
            header,
            data_key_id: DataKeyId::from_bytes(*data_key_id),
            nonce,
            ciphertext,
            tag,
        })
    }
}
