//! Thin, panic-free wrappers over the RustCrypto primitives the handler needs.

use aes::cipher::{
    BlockCipherDecrypt, BlockModeDecrypt, BlockModeEncrypt, InOutBuf, KeyInit, KeyIvInit,
    StreamCipher,
};
use md5::{Digest, Md5};

/// AES block size in bytes.
pub(crate) const BLOCK: usize = 16;

/// RC4 with a 1..=256-byte key, applied in place. A key of another length
/// (impossible from this crate's own callers) leaves the data unchanged.
pub(crate) fn rc4_apply(key: &[u8], data: &mut [u8]) {
    if let Ok(mut c) = rc4::Rc4::new_from_slice(key) {
        c.apply_keystream(data);
    }
}

/// MD5 of the concatenation of `parts`.
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// AES-CBC decryption in place without padding handling; `buf` should be a whole number of
/// blocks (a trailing partial block is left untouched). Key length selects AES-128 or AES-256;
/// any other length leaves `buf` unchanged.
pub(crate) fn aes_cbc_decrypt(key: &[u8], iv: &[u8; BLOCK], buf: &mut [u8]) {
    let (blocks, _tail) = InOutBuf::from(buf).into_chunks();
    match key.len() {
        16 => {
            if let Ok(mut d) = cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv) {
                d.decrypt_blocks_inout(blocks);
            }
        }
        32 => {
            if let Ok(mut d) = cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv) {
                d.decrypt_blocks_inout(blocks);
            }
        }
        _ => {}
    }
}

/// AES-CBC encryption in place without padding (used by Algorithm 2.B and by the tests);
/// same key-length rules as [`aes_cbc_decrypt`].
pub(crate) fn aes_cbc_encrypt(key: &[u8], iv: &[u8; BLOCK], buf: &mut [u8]) {
    let (blocks, _tail) = InOutBuf::from(buf).into_chunks();
    match key.len() {
        16 => {
            if let Ok(mut e) = cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv) {
                e.encrypt_blocks_inout(blocks);
            }
        }
        32 => {
            if let Ok(mut e) = cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv) {
                e.encrypt_blocks_inout(blocks);
            }
        }
        _ => {}
    }
}

/// AES-256 decryption of one block in ECB mode (the R6 /Perms entry).
pub(crate) fn aes256_ecb_decrypt_block(key: &[u8; 32], block: &mut [u8; BLOCK]) {
    if let Ok(c) = aes::Aes256::new_from_slice(key) {
        let mut b = aes::Block::from(*block);
        c.decrypt_block(&mut b);
        *block = b.into();
    }
}

/// Strips PKCS#7 padding when it is well formed (1..=16 equal bytes of that value);
/// otherwise returns the input untouched, since some writers omit or mangle it.
pub(crate) fn strip_pkcs7(data: &mut Vec<u8>) {
    let Some(&last) = data.last() else { return };
    let n = usize::from(last);
    if n == 0 || n > BLOCK || n > data.len() {
        return;
    }
    let start = data.len() - n;
    if data
        .get(start..)
        .is_some_and(|pad| pad.iter().all(|&b| b == last))
    {
        data.truncate(start);
    }
}

/// Decrypts a PDF AES string or stream: 16-byte IV followed by CBC blocks, PKCS#7 padded.
/// Short or ragged input never panics: only whole blocks after the IV are decrypted.
pub(crate) fn aes_decrypt_object(key: &[u8], data: &[u8]) -> Vec<u8> {
    let Some((iv, body)) = data.split_first_chunk::<BLOCK>() else {
        return Vec::new();
    };
    let whole = body.len() - body.len() % BLOCK;
    let Some(body) = body.get(..whole) else {
        return Vec::new();
    };
    let mut out = body.to_vec();
    aes_cbc_decrypt(key, iv, &mut out);
    strip_pkcs7(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc4_known_answer() {
        // Classic test vector: RC4("Key", "Plaintext") = BBF316E8D940AF0AD3.
        let mut d = *b"Plaintext";
        rc4_apply(b"Key", &mut d);
        assert_eq!(d, [0xBB, 0xF3, 0x16, 0xE8, 0xD9, 0x40, 0xAF, 0x0A, 0xD3]);
    }

    #[test]
    fn md5_known_answer() {
        assert_eq!(
            md5(&[b"a", b"bc"]),
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
    }

    #[test]
    fn aes128_cbc_known_answer() {
        // NIST SP 800-38A F.2.1/F.2.2 CBC-AES128, first block.
        let key = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let plain = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a,
        ];
        let cipher = [
            0x76, 0x49, 0xab, 0xac, 0x81, 0x19, 0xb2, 0x46, 0xce, 0xe9, 0x8e, 0x9b, 0x12, 0xe9,
            0x19, 0x7d,
        ];
        let mut b = plain;
        aes_cbc_encrypt(&key, &iv, &mut b);
        assert_eq!(b, cipher);
        aes_cbc_decrypt(&key, &iv, &mut b);
        assert_eq!(b, plain);
    }

    #[test]
    fn pkcs7_only_when_valid() {
        let mut v = vec![1, 2, 3, 3, 3];
        strip_pkcs7(&mut v);
        assert_eq!(v, [1, 2]);
        let mut v = vec![1, 2, 4, 3, 3];
        strip_pkcs7(&mut v);
        assert_eq!(v, [1, 2, 4, 3, 3]);
        let mut v = vec![1, 2, 0];
        strip_pkcs7(&mut v);
        assert_eq!(v, [1, 2, 0]);
        let mut v = vec![17; 17];
        strip_pkcs7(&mut v);
        assert_eq!(v.len(), 17);
        let mut v = vec![16; 16];
        strip_pkcs7(&mut v);
        assert!(v.is_empty());
        let mut v = vec![5, 5];
        strip_pkcs7(&mut v);
        assert_eq!(v, [5, 5]);
    }

    #[test]
    fn aes_object_short_and_ragged() {
        let key = [7u8; 16];
        assert!(aes_decrypt_object(&key, &[]).is_empty());
        assert!(aes_decrypt_object(&key, &[1; 15]).is_empty());
        assert!(aes_decrypt_object(&key, &[1; 16]).is_empty());
        assert!(aes_decrypt_object(&key, &[1; 31]).is_empty());
        // 16 IV + 16 block + 5 stray bytes: one block decrypted, tail ignored.
        let out = aes_decrypt_object(&key, &[1; 37]);
        assert!(out.len() <= 16);
        let full = aes_decrypt_object(&key, &[1; 32]);
        assert_eq!(out, full);
    }
}
