//! Arbitrary and mutated bytes never panic, and never open or unwrap.

use ndf_seal::{DataKey, KeyRing, WrappedKey, open, seal};
use proptest::prelude::*;

const RING: &str = "a:a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

fn fixture() -> (KeyRing, DataKey, WrappedKey) {
    let ring = KeyRing::parse(RING).unwrap();
    let (key, wrapped) = ring.new_data_key(b"job-1").unwrap();
    (ring, key, wrapped)
}

/// A valid object header for `key` followed by `tail`, so the bytes reach GCM.
fn with_valid_header(key: &DataKey, tail: &[u8]) -> Vec<u8> {
    let mut bytes = b"NDFS\x01".to_vec();
    bytes.extend_from_slice(key.id().as_bytes());
    bytes.extend_from_slice(tail);
    bytes
}

proptest! {
    #[test]
    fn open_rejects_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (_, key, _) = fixture();
        prop_assert!(open(&key, b"o", &bytes).is_err());
        prop_assert!(open(&key, b"o", &with_valid_header(&key, &bytes)).is_err());
    }

    #[test]
    fn round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (_, key, _) = fixture();
        let sealed = seal(&key, &aad, &plaintext).unwrap();
        prop_assert_eq!(open(&key, &aad, &sealed).unwrap(), plaintext);
    }

    #[test]
    fn mutated_objects_are_rejected(
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        position in any::<prop::sample::Index>(),
        xor in 1u8..,
        cut in any::<prop::sample::Index>(),
    ) {
        let (_, key, _) = fixture();
        let sealed = seal(&key, b"o", &plaintext).unwrap();
        let mut mutated = sealed.clone();
        let index = position.index(mutated.len());
        mutated[index] ^= xor;
        prop_assert!(open(&key, b"o", &mutated).is_err());
        let truncated = &sealed[..cut.index(sealed.len())];
        prop_assert!(open(&key, b"o", truncated).is_err());
    }

    #[test]
    fn wrapped_key_parsing_is_total_and_canonical(
        bytes in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        let (ring, _, _) = fixture();
        // Also a prefix that passes magic, version and a valid id, to reach the later fields.
        let mut prefixed = b"NDFK\x01\x01a".to_vec();
        prefixed.extend_from_slice(&bytes);
        for candidate in [&bytes, &prefixed] {
            if let Ok(parsed) = WrappedKey::from_bytes(candidate) {
                prop_assert_eq!(&parsed.to_bytes(), candidate);
                prop_assert!(ring.unwrap_key(&parsed, b"job-1").is_err());
            }
        }
    }

    #[test]
    fn mutated_wrapped_keys_are_rejected(
        position in any::<prop::sample::Index>(),
        xor in 1u8..,
        context in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let (ring, _, wrapped) = fixture();
        let mut bytes = wrapped.to_bytes();
        let index = position.index(bytes.len());
        bytes[index] ^= xor;
        let unwrapped = WrappedKey::from_bytes(&bytes)
            .and_then(|parsed| ring.unwrap_key(&parsed, b"job-1"));
        prop_assert!(unwrapped.is_err());
        if context != b"job-1" {
            prop_assert!(ring.unwrap_key(&wrapped, &context).is_err());
        }
    }
}
