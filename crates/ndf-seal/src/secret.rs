//! 32-byte key material, randomness, and the hex/base64 codecs for the key ring text format.

use aes_gcm::{Aes256Gcm, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length in bytes of every key (master and data keys): AES-256.
pub(crate) const KEY_LEN: usize = 32;

/// Key material that is zeroed when dropped.
///
/// Boxed so moving the owner (into a map, out of a function) moves a pointer and never leaves a
/// stale copy of the bytes in a dead stack frame.
pub(crate) struct Secret(Box<[u8; KEY_LEN]>);

impl Secret {
    pub(crate) fn zeroed() -> Self {
        Self(Box::new([0; KEY_LEN]))
    }

    /// Fresh key material from the operating system's CSPRNG.
    pub(crate) fn random() -> Result<Self, String> {
        let mut secret = Self::zeroed();
        fill_random(secret.0.as_mut_slice())?;
        Ok(secret)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8; KEY_LEN] {
        &mut self.0
    }

    /// An all-zero key is what a forgotten placeholder looks like; it is never a real key.
    pub(crate) fn is_all_zero(&self) -> bool {
        self.0.iter().all(|&byte| byte == 0)
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.bytes().into())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Secret {}

/// Fills `buf` from the operating system's CSPRNG. The error is the OS error's text: it never
/// contains buffer contents.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|error| error.to_string())
}

/// `N` random bytes (nonces and key ids: not secret).
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], String> {
    let mut out = [0; N];
    fill_random(&mut out)?;
    Ok(out)
}

/// Decodes a 32-byte secret written as 64 hex digits or as 43/44 base64 characters
/// (standard or URL-safe alphabet, padding optional). `None` for anything else, including
/// non-canonical base64 (non-zero trailing bits), so one key has exactly one spelling per codec.
pub(crate) fn decode_secret(text: &str) -> Option<Secret> {
    let mut secret = Secret::zeroed();
    let decoded = match text.len() {
        64 => decode_hex(text.as_bytes(), secret.bytes_mut()),
        43 | 44 => decode_base64(text.as_bytes(), secret.bytes_mut()),
        _ => false,
    };
    decoded.then_some(secret)
}

fn decode_hex(text: &[u8], out: &mut [u8; KEY_LEN]) -> bool {
    if text.len() != 2 * KEY_LEN {
        return false;
    }
    for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let [high, low] = pair else { return false };
        let (Some(high), Some(low)) = (hex_value(*high), hex_value(*low)) else {
            return false;
        };
        *slot = (high << 4) | low;
    }
    true
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn decode_base64(text: &[u8], out: &mut [u8; KEY_LEN]) -> bool {
    let digits = match text {
        [digits @ .., b'='] if text.len() == 44 => digits,
        _ if text.len() == 43 => text,
        _ => return false,
    };
    let mut accumulator: u32 = 0;
    let mut pending_bits: u32 = 0;
    let mut written = 0usize;
    for &digit in digits {
        let Some(value) = base64_value(digit) else {
            return false;
        };
        accumulator = (accumulator << 6) | u32::from(value);
        pending_bits += 6;
        if pending_bits >= 8 {
            pending_bits -= 8;
            let Some(slot) = out.get_mut(written) else {
                return false;
            };
            // Truncation keeps exactly the 8 bits just completed.
            *slot = (accumulator >> pending_bits) as u8;
            written += 1;
            accumulator &= (1 << pending_bits) - 1;
        }
    }
    // 43 digits carry 258 bits: the 2 left over must be zero for the encoding to be canonical.
    let canonical = written == KEY_LEN && accumulator == 0;
    accumulator.zeroize();
    canonical
}

fn base64_value(digit: u8) -> Option<u8> {
    match digit {
        b'A'..=b'Z' => Some(digit - b'A'),
        b'a'..=b'z' => Some(digit - b'a' + 26),
        b'0'..=b'9' => Some(digit - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Lowercase hex, appended to `out` (which the caller reserves so it never reallocates and
/// strands a copy of a secret in freed memory).
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            if let Some(&digit) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(digit));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_spellings_decode_to_the_same_key() {
        let expected: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let mut hex = String::new();
        push_hex(&mut hex, &expected);
        let decoded = decode_secret(&hex).map(|s| *s.bytes());
        assert_eq!(decoded, Some(expected));
        assert_eq!(
            decode_secret(&hex.to_uppercase()).map(|s| *s.bytes()),
            Some(expected)
        );

        // Reference base64 of `expected`, computed independently (Python base64.b64encode).
        let b64 = "pYDvyjEce6aN6NcyGUSjjvXQPxpBrIv23ThnQqmU894=";
        assert_eq!(decode_secret(b64).map(|s| *s.bytes()), Some(expected));
        assert_eq!(
            decode_secret(&b64[..43]).map(|s| *s.bytes()),
            Some(expected)
        );
        let url_safe = b64.replace('+', "-").replace('/', "_");
        assert_eq!(decode_secret(&url_safe).map(|s| *s.bytes()), Some(expected));
    }

    #[test]
    fn malformed_secrets_are_rejected() {
        let hex = "00".repeat(31) + "0g";
        assert!(decode_secret(&hex).is_none());
        assert!(decode_secret(&"ab".repeat(31)).is_none());
        // Last digit 'B' leaves a non-zero bit in the 2 spare bits: not canonical.
        assert!(decode_secret(&("A".repeat(42) + "B")).is_none());
        assert!(decode_secret(&("A".repeat(42) + "B=")).is_none());
        // 'E' = 0b000100: the spare bits are zero, the last byte is 1.
        let last = decode_secret(&("A".repeat(42) + "E=")).map(|s| s.bytes()[31]);
        assert_eq!(last, Some(1));
        assert!(decode_secret(&("A".repeat(43) + "A")).is_none());
        assert!(decode_secret(&("A".repeat(42) + "*")).is_none());
        assert!(decode_secret("").is_none());
        assert!(decode_secret(&"é".repeat(22)).is_none());
    }
}
