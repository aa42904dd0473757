//! The PDF standard security handler, revisions 2 to 6 (RC4 40-128 bit, AES-128, AES-256):
//! password authentication and decryption of strings and streams (ISO 32000-2 §7.6).
//!
//! The caller (ndf-pdf) extracts the /Encrypt dictionary values and the trailer /ID into
//! [`EncryptParams`]; [`Decryptor::open`] authenticates a password and yields a [`Decryptor`]
//! that decrypts each object's strings and streams. Nothing here panics on hostile values.

mod cipher;
mod legacy;
mod modern;
mod password;

use cipher::{aes_decrypt_object, md5, rc4_apply};

/// How one class of objects (streams or strings) is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptMethod {
    /// Not encrypted (the `/Identity` crypt filter).
    Identity,
    /// RC4 with a per-object key (V 1-2, or crypt filter /CFM /V2).
    Rc4,
    /// AES-128-CBC with a per-object key (/CFM /AESV2).
    AesV2,
    /// AES-256-CBC with the file key (/CFM /AESV3).
    AesV3,
}

/// Values of the /Encrypt dictionary and the trailer /ID, already extracted by the caller.
///
/// The caller resolves /CF /StmF /StrF into the two methods (V 1-2: Rc4; V4: per crypt filter
/// /CFM V2 or AESV2; V5: AESV3; "Identity" names).
#[derive(Debug, Clone)]
pub struct EncryptParams<'a> {
    /// /Filter; must be `b"Standard"`.
    pub filter: &'a [u8],
    /// /V (algorithm); informational, the revision decides the algorithms.
    pub v: i64,
    /// /R (revision), 2..=6.
    pub r: i64,
    /// /Length, default 40; for V4 the crypt filter's /Length, in bits or bytes (normalised).
    pub length_bits: i64,
    /// /O.
    pub o: &'a [u8],
    /// /U.
    pub u: &'a [u8],
    /// /OE (R5-6).
    pub oe: Option<&'a [u8]>,
    /// /UE (R5-6).
    pub ue: Option<&'a [u8]>,
    /// /Perms (R5-6), checked when present but never required to match.
    pub perms: Option<&'a [u8]>,
    /// /P as written (its low 32 bits are used, so both signed and unsigned forms work).
    pub p: i64,
    /// /EncryptMetadata, default true.
    pub encrypt_metadata: bool,
    /// Method for streams (/StmF).
    pub stream_method: CryptMethod,
    /// Method for strings (/StrF).
    pub string_method: CryptMethod,
    /// First element of the trailer /ID (may be empty).
    pub id0: &'a [u8],
}

/// Why a document could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// Neither the user nor the owner password matched.
    #[error("the password does not open the document")]
    WrongPassword,
    /// Not the standard handler, an unknown revision or malformed /Encrypt values.
    #[error("unsupported encryption: {0}")]
    Unsupported(String),
}

/// An authenticated file key plus the per-class methods: decrypts strings and streams.
#[derive(Clone)]
pub struct Decryptor {
    key: [u8; 32],
    /// Bytes of `key` in use: 5..=16 for R2-4, 32 for R5-6.
    key_len: usize,
    stream_method: CryptMethod,
    string_method: CryptMethod,
    encrypt_metadata: bool,
    owner: bool,
    perms_ok: Option<bool>,
}

impl std::fmt::Debug for Decryptor {
    // The file key is deliberately left out so it never ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("cipher", &self.description())
            .field("stream_method", &self.stream_method)
            .field("string_method", &self.string_method)
            .field("encrypt_metadata", &self.encrypt_metadata)
            .field("owner", &self.owner)
            .field("perms_ok", &self.perms_ok)
            .finish_non_exhaustive()
    }
}

/// Upper bound for a /Length value before it is called absurd (bits).
const MAX_LENGTH_BITS: i64 = 4096;

/// File key length in bytes for R2-4.
fn legacy_key_len(params: &EncryptParams<'_>) -> Result<usize, CryptError> {
    let aes =
        params.stream_method == CryptMethod::AesV2 || params.string_method == CryptMethod::AesV2;
    if aes {
        // AES-128 needs a 16-byte key whatever /Length says (often absent or in bytes for V4).
        return Ok(16);
    }
    if params.r == 2 {
        return Ok(5);
    }
    let bits = match params.length_bits {
        // V4 crypt filters often give the length in bytes.
        b @ 1..=16 => b * 8,
        b @ 17..=MAX_LENGTH_BITS => b,
        b => return Err(CryptError::Unsupported(format!("key length {b}"))),
    };
    // Clamp to what RC4 in PDF allows; a non-multiple of 8 rounds down.
    Ok(usize::try_from(bits.clamp(40, 128) / 8).unwrap_or(5))
}

fn malformed_ou() -> CryptError {
    CryptError::Unsupported("malformed /O or /U".into())
}

impl Decryptor {
    /// Authenticate `password` (UTF-8 as typed by the user; empty = the default empty user
    /// password) first as the user password, then as the owner password.
    pub fn open(params: &EncryptParams<'_>, password: &[u8]) -> Result<Decryptor, CryptError> {
        if params.filter != b"Standard" {
            let shown = params.filter.get(..40).unwrap_or(params.filter);
            return Err(CryptError::Unsupported(format!(
                "security handler /{}",
                String::from_utf8_lossy(shown)
            )));
        }
        match params.r {
            2..=4 => Self::open_legacy(params, password),
            5 | 6 => Self::open_modern(params, password),
            r => Err(CryptError::Unsupported(format!("revision {r}"))),
        }
    }

    fn open_legacy(params: &EncryptParams<'_>, password: &[u8]) -> Result<Decryptor, CryptError> {
        if params.stream_method == CryptMethod::AesV3 || params.string_method == CryptMethod::AesV3
        {
            return Err(CryptError::Unsupported(
                "AESV3 crypt filter with revision below 5".into(),
            ));
        }
        let n = legacy_key_len(params)?;
        let o = params.o.first_chunk::<32>().ok_or_else(malformed_ou)?;
        let u = params.u.first_chunk::<32>().ok_or_else(malformed_ou)?;
        let lp = legacy::Legacy {
            r: params.r,
            n,
            o,
            u,
            // The low 32 bits, whether /P was written signed or unsigned.
            p: params.p as u32,
            id0: params.id0,
            encrypt_metadata: params.encrypt_metadata,
        };
        // Writers encoded passwords as PDFDocEncoding (the spec) or as raw UTF-8: try both.
        let converted = password::to_pdfdoc(password);
        let first: &[u8] = converted.as_deref().unwrap_or(password);
        let candidates: &[&[u8]] = if first == password {
            &[password]
        } else {
            &[first, password]
        };
        let found = candidates
            .iter()
            .find_map(|c| lp.authenticate_user(c).map(|k| (k, false)))
            .or_else(|| {
                candidates.iter().find_map(|c| {
                    let user = lp.user_password_from_owner(c);
                    lp.authenticate_user(&user).map(|k| (k, true))
                })
            });
        let Some((k, owner)) = found else {
            return Err(CryptError::WrongPassword);
        };
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(&k);
        Ok(Decryptor {
            key,
            key_len: n,
            stream_method: params.stream_method,
            string_method: params.string_method,
            encrypt_metadata: params.encrypt_metadata,
            owner,
            perms_ok: None,
        })
    }

    fn open_modern(params: &EncryptParams<'_>, password: &[u8]) -> Result<Decryptor, CryptError> {
        let o = params.o.first_chunk::<48>().ok_or_else(malformed_ou)?;
        let u = params.u.first_chunk::<48>().ok_or_else(malformed_ou)?;
        let pw = password::utf8_127(password);
        let (intermediate, wrapped, owner) =
            if let Some(ik) = modern::check(params.r, pw, modern::Entry { all: u }, &[]) {
                (ik, params.ue, false)
            } else if let Some(ik) = modern::check(params.r, pw, modern::Entry { all: o }, u) {
                (ik, params.oe, true)
            } else {
                return Err(CryptError::WrongPassword);
            };
        let wrapped = wrapped
            .and_then(|w| w.first_chunk::<32>())
            .ok_or_else(|| CryptError::Unsupported("missing or short /UE or /OE".into()))?;
        let key = modern::unwrap_key(&intermediate, wrapped);
        let perms_ok = params
            .perms
            .map(|perms| modern::perms_ok(&key, perms, params.p as u32));
        Ok(Decryptor {
            key,
            key_len: 32,
            stream_method: params.stream_method,
            string_method: params.string_method,
            encrypt_metadata: params.encrypt_metadata,
            owner,
            perms_ok,
        })
    }

    /// Algorithm 1: the per-object key, `min(n + 5, 16)` bytes of a 16-byte array.
    fn object_key(&self, obj: u32, generation: u16, aes: bool) -> ([u8; 16], usize) {
        let file_key = self.key.get(..self.key_len).unwrap_or(&self.key);
        let obj = obj.to_le_bytes();
        let salt: &[u8] = if aes { b"sAlT" } else { b"" };
        let h = md5(&[file_key, &obj[..3], &generation.to_le_bytes(), salt]);
        (h, (self.key_len + 5).min(16))
    }

    fn decrypt(&self, method: CryptMethod, obj: u32, generation: u16, data: &[u8]) -> Vec<u8> {
        match method {
            CryptMethod::Identity => data.to_vec(),
            CryptMethod::Rc4 => {
                let (k, n) = self.object_key(obj, generation, false);
                let mut out = data.to_vec();
                rc4_apply(k.get(..n).unwrap_or(&k), &mut out);
                out
            }
            CryptMethod::AesV2 => {
                let (k, _) = self.object_key(obj, generation, true);
                // AES-128 always takes the full 16 bytes; open() guarantees n = 16 here.
                aes_decrypt_object(&k, data)
            }
            CryptMethod::AesV3 => aes_decrypt_object(&self.key, data),
        }
    }

    /// Decrypts a string of object `obj` generation `generation`.
    pub fn decrypt_string(&self, obj: u32, generation: u16, data: &[u8]) -> Vec<u8> {
        self.decrypt(self.string_method, obj, generation, data)
    }

    /// Decrypts the raw data of stream object `obj` generation `generation` (before its filters).
    pub fn decrypt_stream(&self, obj: u32, generation: u16, data: &[u8]) -> Vec<u8> {
        self.decrypt(self.stream_method, obj, generation, data)
    }

    /// "RC4-40", "RC4-128" (RC4-<bits> for other key lengths), "AES-128", "AES-256", or
    /// "Identity" when neither streams nor strings are encrypted.
    pub fn description(&self) -> String {
        let method = if self.stream_method == CryptMethod::Identity {
            self.string_method
        } else {
            self.stream_method
        };
        match method {
            CryptMethod::Identity => "Identity".into(),
            CryptMethod::Rc4 => format!("RC4-{}", self.key_len * 8),
            CryptMethod::AesV2 => "AES-128".into(),
            CryptMethod::AesV3 => "AES-256".into(),
        }
    }

    /// True when the password matched the owner password (not the user password).
    pub fn owner_authenticated(&self) -> bool {
        self.owner
    }

    /// Method for streams.
    pub fn stream_method(&self) -> CryptMethod {
        self.stream_method
    }

    /// Method for strings.
    pub fn string_method(&self) -> CryptMethod {
        self.string_method
    }

    /// /EncryptMetadata: when false the caller leaves /Metadata streams undecrypted.
    pub fn encrypt_metadata(&self) -> bool {
        self.encrypt_metadata
    }

    /// R5-6 only: whether /Perms decrypted to a consistent value (`None` when absent or for
    /// R2-4). A mismatch does not prevent opening; it hints at a tampered /P.
    pub fn perms_verified(&self) -> Option<bool> {
        self.perms_ok
    }
}

#[cfg(test)]
mod tests;
