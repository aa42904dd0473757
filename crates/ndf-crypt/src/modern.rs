//! Revisions 5 and 6: SHA-2 based password checks and AES-256 key unwrapping
//! (ISO 32000-2 §7.6.4.3.3-4, Algorithms 2.A and 2.B; R5 is Adobe extension level 3).

use crate::cipher::{BLOCK, aes_cbc_decrypt, aes_cbc_encrypt, aes256_ecb_decrypt_block};
use crate::password::MAX_UTF8_PASSWORD;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Algorithm 2.B stops after at most 64 + 224 rounds (the last byte of E is at most 255 and the
/// loop ends once it is <= round - 32); the cap only makes the bound explicit.
const MAX_ROUNDS: u32 = 288;

/// Longest `udata` (the 48-byte /U prefix).
const MAX_UDATA: usize = 48;

/// The password hash: plain SHA-256 for R5, Algorithm 2.B for R6.
/// `password` is at most 127 bytes and `udata` empty or 48 bytes; longer inputs are truncated.
pub(crate) fn hash(r: i64, password: &[u8], salt: &[u8], udata: &[u8]) -> [u8; 32] {
    let password = password.get(..MAX_UTF8_PASSWORD).unwrap_or(password);
    let udata = udata.get(..MAX_UDATA).unwrap_or(udata);
    let first: [u8; 32] = Sha256::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(udata)
        .finalize()
        .into();
    if r < 6 {
        return first;
    }
    hash_2b(first, password, udata)
}

/// Algorithm 2.B rounds, starting from K = SHA-256(password || salt || udata).
fn hash_2b(first: [u8; 32], password: &[u8], udata: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(&first);
    let mut klen = 32usize;
    // One buffer for K1 = 64 x (password || K || udata), reused across rounds: at most
    // 64 * (127 + 64 + 48) bytes.
    let mut buf: Vec<u8> = Vec::with_capacity(64 * (MAX_UTF8_PASSWORD + 64 + MAX_UDATA));
    for round in 1..=MAX_ROUNDS {
        let kk = k.get(..klen).unwrap_or(&k);
        buf.clear();
        for _ in 0..64 {
            buf.extend_from_slice(password);
            buf.extend_from_slice(kk);
            buf.extend_from_slice(udata);
        }
        let mut iv = [0u8; BLOCK];
        iv.copy_from_slice(&k[16..32]);
        // K1 is 64 copies, hence always a whole number of AES blocks.
        aes_cbc_encrypt(&k[..16], &iv, &mut buf);
        // The first 16 bytes of E as a big-endian number mod 3 equal their byte sum mod 3,
        // because 256 = 1 (mod 3).
        let m = buf.iter().take(16).fold(0u32, |acc, &b| acc + u32::from(b)) % 3;
        klen = match m {
            0 => {
                k[..32].copy_from_slice(&Sha256::digest(&buf));
                32
            }
            1 => {
                k[..48].copy_from_slice(&Sha384::digest(&buf));
                48
            }
            _ => {
                k.copy_from_slice(&Sha512::digest(&buf));
                64
            }
        };
        let last = u32::from(buf.last().copied().unwrap_or(0));
        if round >= 64 && last + 32 <= round {
            break;
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&k[..32]);
    out
}

/// The 48-byte /O or /U split into hash, validation salt and key salt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub(crate) all: &'a [u8; 48],
}

impl<'a> Entry<'a> {
    fn hash(&self) -> &'a [u8] {
        &self.all[..32]
    }
    fn validation_salt(&self) -> &'a [u8] {
        &self.all[32..40]
    }
    fn key_salt(&self) -> &'a [u8] {
        &self.all[40..48]
    }
}

/// Algorithm 2.A steps for one password: when `password` matches `entry` (with `udata` = the
/// 48-byte /U for the owner check, empty for the user check), the intermediate key that
/// unwraps /UE or /OE.
pub(crate) fn check(r: i64, password: &[u8], entry: Entry<'_>, udata: &[u8]) -> Option<[u8; 32]> {
    let h = hash(r, password, entry.validation_salt(), udata);
    if h != entry.hash() {
        return None;
    }
    Some(hash(r, password, entry.key_salt(), udata))
}

/// Unwraps the file key from /UE or /OE (AES-256-CBC, zero IV, no padding).
pub(crate) fn unwrap_key(intermediate: &[u8; 32], wrapped: &[u8; 32]) -> [u8; 32] {
    let mut key = *wrapped;
    aes_cbc_decrypt(intermediate, &[0; BLOCK], &mut key);
    key
}

/// Algorithm 13 (optional /Perms check): decrypts /Perms with the file key and checks the
/// "adb" marker and that the permission bits agree with /P.
pub(crate) fn perms_ok(file_key: &[u8; 32], perms: &[u8], p: u32) -> bool {
    let Some(block) = perms.first_chunk::<BLOCK>() else {
        return false;
    };
    let mut b = *block;
    aes256_ecb_decrypt_block(file_key, &mut b);
    &b[9..12] == b"adb" && b[..4] == p.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r5_hash_is_plain_sha256() {
        // SHA-256("abc") from FIPS 180-2.
        let h = hash(5, b"a", b"b", b"c");
        assert_eq!(
            h[..8],
            [0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea],
            "{h:02x?}"
        );
    }

    #[test]
    fn r6_hash_differs_and_is_deterministic() {
        let a = hash(6, b"pw", b"12345678", b"");
        let b = hash(6, b"pw", b"12345678", b"");
        assert_eq!(a, b);
        assert_ne!(a, hash(5, b"pw", b"12345678", b""));
        assert_ne!(a, hash(6, b"pW", b"12345678", b""));
        // Longest inputs stay within the buffer bound and do not panic.
        let _ = hash(6, &[0xAB; 300], &[1; 8], &[2; 100]);
    }
}
