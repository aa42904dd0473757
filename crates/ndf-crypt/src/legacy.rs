//! Revisions 2-4: MD5 and RC4 based key derivation and password checks
//! (ISO 32000-2 §7.6.4.3.2-3, Algorithms 2, 3, 4, 5, 6, 7).

use crate::cipher::{md5, rc4_apply};
use crate::password::{PAD, pad32};
use md5::{Digest, Md5};

/// The inputs of Algorithm 2 that do not depend on the password.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Legacy<'a> {
    /// Revision, 2..=4.
    pub(crate) r: i64,
    /// File key length in bytes, 5..=16.
    pub(crate) n: usize,
    pub(crate) o: &'a [u8; 32],
    pub(crate) u: &'a [u8; 32],
    /// /P as its 32-bit pattern.
    pub(crate) p: u32,
    pub(crate) id0: &'a [u8],
    pub(crate) encrypt_metadata: bool,
}

impl Legacy<'_> {
    /// Algorithm 2: the file key for a (user) password, `n` bytes in a 16-byte array.
    pub(crate) fn file_key(&self, password: &[u8]) -> [u8; 16] {
        let n = self.n.min(16);
        let mut h = Md5::new();
        h.update(pad32(password));
        h.update(self.o);
        h.update(self.p.to_le_bytes());
        h.update(self.id0);
        if self.r >= 4 && !self.encrypt_metadata {
            h.update([0xFF; 4]);
        }
        let mut key: [u8; 16] = h.finalize().into();
        if self.r >= 3 {
            for _ in 0..50 {
                key = md5(&[key.get(..n).unwrap_or(&key)]);
            }
        }
        key
    }

    /// Algorithms 4 and 5: the /U value a file key produces (R2: all 32 bytes meaningful;
    /// R3+: only the first 16).
    pub(crate) fn compute_u(&self, key: &[u8]) -> [u8; 32] {
        if self.r == 2 {
            let mut u = PAD;
            rc4_apply(key, &mut u);
            return u;
        }
        let mut h = md5(&[&PAD, self.id0]);
        rc4_apply(key, &mut h);
        xor_rounds(key, &mut h, 1..=19);
        let mut u = [0u8; 32];
        u[..16].copy_from_slice(&h);
        u
    }

    /// Algorithm 6: the file key when `password` is the user password.
    pub(crate) fn authenticate_user(&self, password: &[u8]) -> Option<[u8; 16]> {
        let key = self.file_key(password);
        let k = key.get(..self.n)?;
        let u = self.compute_u(k);
        let cmp = if self.r == 2 { 32 } else { 16 };
        (u.get(..cmp)? == self.u.get(..cmp)?).then_some(key)
    }

    /// Algorithm 3 steps a-d: the RC4 key derived from the owner password.
    pub(crate) fn owner_rc4_key(&self, owner_password: &[u8]) -> [u8; 16] {
        let mut h = md5(&[&pad32(owner_password)]);
        if self.r >= 3 {
            for _ in 0..50 {
                h = md5(&[&h]);
            }
        }
        h
    }

    /// Algorithm 7 first half: recovers the (padded) user password from /O.
    pub(crate) fn user_password_from_owner(&self, owner_password: &[u8]) -> [u8; 32] {
        let key = self.owner_rc4_key(owner_password);
        let k = key.get(..self.n).unwrap_or(&key);
        let mut buf = *self.o;
        if self.r == 2 {
            rc4_apply(k, &mut buf);
        } else {
            xor_rounds(k, &mut buf, (0..=19).rev());
        }
        buf
    }
}

/// Applies RC4 with `key XOR i` for each `i` in `rounds` (Algorithms 3, 5 and 7).
pub(crate) fn xor_rounds(key: &[u8], data: &mut [u8], rounds: impl Iterator<Item = u8>) {
    let mut k = [0u8; 16];
    let n = key.len().min(16);
    for i in rounds {
        for (d, s) in k.iter_mut().zip(key) {
            *d = s ^ i;
        }
        rc4_apply(k.get(..n).unwrap_or(&k), data);
    }
}
