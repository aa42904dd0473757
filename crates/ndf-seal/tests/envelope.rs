//! Sealing, wrapping, rotation and tampering, through the public API only.

use ndf_seal::{
    Blob, KeyId, KeyRing, SEAL_OVERHEAD, SealError, WrappedKey, open, seal, sealed_data_key_id,
};

const HEX_A: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const HEX_B: &str = "5f5e5d5c5b5a595857565554535251504f4e4d4c4b4a49484746454443424140";

fn ring(text: &str) -> KeyRing {
    KeyRing::parse(text).unwrap()
}

fn ring_a() -> KeyRing {
    ring(&format!("a:{HEX_A}"))
}

#[test]
fn round_trips_empty_small_and_large_objects() {
    let ring = ring_a();
    let (key, _) = ring.new_data_key(b"job-1").unwrap();
    let large: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 % 251) as u8).collect();
    for plaintext in [&b""[..], b"x", b"%PDF-1.7\n...", &large] {
        let sealed = seal(&key, b"jobs/job-1/input.pdf", plaintext).unwrap();
        assert_eq!(sealed.len(), plaintext.len() + SEAL_OVERHEAD);
        assert_eq!(sealed.get(..4), Some(&b"NDFS"[..]));
        assert_eq!(sealed_data_key_id(&sealed).unwrap(), key.id());
        assert_eq!(
            open(&key, b"jobs/job-1/input.pdf", &sealed).unwrap(),
            plaintext
        );
    }
}

#[test]
fn sealing_twice_gives_different_ciphertexts() {
    let ring = ring_a();
    let (key, _) = ring.new_data_key(b"job-1").unwrap();
    let first = seal(&key, b"o", b"same plaintext").unwrap();
    let second = seal(&key, b"o", b"same plaintext").unwrap();
    assert_ne!(first, second, "nonces must be fresh");
}

#[test]
fn wrapped_key_round_trips_through_bytes() {
    let ring = ring_a();
    let (key, wrapped) = ring.new_data_key(b"job-1").unwrap();
    let bytes = wrapped.to_bytes();
    assert_eq!(bytes.len(), 82 + 1);
    assert_eq!(bytes.get(..6), Some(&b"NDFK\x01\x01"[..]));
    let parsed = WrappedKey::from_bytes(&bytes).unwrap();
    assert_eq!(parsed, wrapped);
    assert_eq!(parsed.master_id().as_str(), "a");
    assert_eq!(parsed.data_key_id(), key.id());
    let unwrapped = ring.unwrap_key(&parsed, b"job-1").unwrap();
    let sealed = seal(&key, b"o", b"data").unwrap();
    assert_eq!(open(&unwrapped, b"o", &sealed).unwrap(), b"data");
}

#[test]
fn wrong_aad_fails_authentication() {
    let ring = ring_a();
    let (key, _) = ring.new_data_key(b"job-1").unwrap();
    let sealed = seal(&key, b"jobs/job-1/input.pdf", b"data").unwrap();
    for aad in [&b"jobs/job-1/result.json"[..], b"jobs/job-2/input.pdf", b""] {
        assert!(matches!(
            open(&key, aad, &sealed),
            Err(SealError::Authentication(Blob::SealedObject))
        ));
    }
}

#[test]
fn another_jobs_data_key_cannot_open_even_with_a_forged_header() {
    let ring = ring_a();
    let (key_1, _) = ring.new_data_key(b"job-1").unwrap();
    let (key_2, _) = ring.new_data_key(b"job-2").unwrap();
    let sealed = seal(&key_1, b"o", b"data").unwrap();
    match open(&key_2, b"o", &sealed) {
        Err(SealError::WrongDataKey { needed, given }) => {
            assert_eq!((needed, given), (key_1.id(), key_2.id()));
        }
        other => panic!("expected WrongDataKey, got {other:?}"),
    }
    // Rewriting the header's key id gets past the id check, not past GCM.
    let mut forged = sealed.clone();
    forged.splice(5..21, key_2.id().as_bytes().iter().copied());
    assert!(matches!(
        open(&key_2, b"o", &forged),
        Err(SealError::Authentication(Blob::SealedObject))
    ));
}

#[test]
fn wrapped_keys_cannot_move_between_jobs() {
    let ring = ring_a();
    let (_, wrapped_1) = ring.new_data_key(b"job-1").unwrap();
    for context in [&b"job-2"[..], b"job-1 ", b""] {
        assert!(matches!(
            ring.unwrap_key(&wrapped_1, context),
            Err(SealError::Authentication(Blob::WrappedKey))
        ));
        assert!(matches!(
            ring.rewrap_key(&wrapped_1, context),
            Err(SealError::Authentication(Blob::WrappedKey))
        ));
    }
}

#[test]
fn wrong_master_key_fails() {
    let (_, wrapped) = ring_a().new_data_key(b"job-1").unwrap();
    // Same id, other secret: the ring believes it has the key.
    let impostor = ring(&format!("a:{HEX_B}"));
    assert!(matches!(
        impostor.unwrap_key(&wrapped, b"job-1"),
        Err(SealError::Authentication(Blob::WrappedKey))
    ));
    let other = ring(&format!("b:{HEX_B}"));
    match other.unwrap_key(&wrapped, b"job-1") {
        Err(SealError::UnknownMasterKey(id)) => assert_eq!(id.as_str(), "a"),
        result => panic!("expected UnknownMasterKey, got {result:?}"),
    }
}

#[test]
fn relabelling_the_master_key_id_fails() {
    let both = ring(&format!("a:{HEX_A}\nb:{HEX_B}\ncurrent=a"));
    let (_, wrapped) = both.new_data_key(b"job-1").unwrap();
    let mut bytes = wrapped.to_bytes();
    assert_eq!(bytes.get(6), Some(&b'a'));
    if let Some(id) = bytes.get_mut(6) {
        *id = b'b';
    }
    let relabelled = WrappedKey::from_bytes(&bytes).unwrap();
    assert_eq!(relabelled.master_id().as_str(), "b");
    assert!(matches!(
        both.unwrap_key(&relabelled, b"job-1"),
        Err(SealError::Authentication(Blob::WrappedKey))
    ));
}

#[test]
fn every_truncation_and_every_bit_flip_is_rejected() {
    let ring = ring_a();
    let (key, wrapped) = ring.new_data_key(b"job-1").unwrap();
    let sealed = seal(&key, b"o", b"short plaintext").unwrap();
    for len in 0..sealed.len() {
        assert!(
            open(&key, b"o", &sealed[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for bit in 0..sealed.len() * 8 {
        let mut flipped = sealed.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(open(&key, b"o", &flipped).is_err(), "bit {bit}");
    }

    let bytes = wrapped.to_bytes();
    for len in 0..bytes.len() {
        assert!(
            WrappedKey::from_bytes(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let unwrapped =
            WrappedKey::from_bytes(&flipped).and_then(|parsed| ring.unwrap_key(&parsed, b"job-1"));
        assert!(unwrapped.is_err(), "bit {bit}");
    }
}

#[test]
fn header_errors_are_specific() {
    let ring = ring_a();
    let (key, wrapped) = ring.new_data_key(b"job-1").unwrap();
    let sealed = seal(&key, b"o", b"data").unwrap();

    let mut bad_version = sealed.clone();
    bad_version[4] = 2;
    assert!(matches!(
        open(&key, b"o", &bad_version),
        Err(SealError::UnsupportedVersion {
            blob: Blob::SealedObject,
            version: 2
        })
    ));
    assert!(matches!(
        open(&key, b"o", b"%PDF-1.7 plain, never sealed"),
        Err(SealError::BadMagic(Blob::SealedObject))
    ));
    assert!(matches!(
        open(&key, b"o", &sealed[..SEAL_OVERHEAD - 1]),
        Err(SealError::Truncated(Blob::SealedObject))
    ));
    // A wrapped key is not a sealed object and vice versa.
    assert!(matches!(
        open(&key, b"o", &wrapped.to_bytes()),
        Err(SealError::BadMagic(Blob::SealedObject))
    ));
    assert!(matches!(
        WrappedKey::from_bytes(&sealed),
        Err(SealError::BadMagic(Blob::WrappedKey))
    ));

    let mut trailing = wrapped.to_bytes();
    trailing.push(0);
    assert!(matches!(
        WrappedKey::from_bytes(&trailing),
        Err(SealError::TrailingBytes {
            blob: Blob::WrappedKey,
            count: 1
        })
    ));
    let mut bad_id = wrapped.to_bytes();
    bad_id[6] = b'A';
    assert!(matches!(
        WrappedKey::from_bytes(&bad_id),
        Err(SealError::MalformedMasterKeyId)
    ));
}

#[test]
fn rotation_keeps_old_keys_readable_and_rewrap_moves_them_to_the_current_key() {
    let ring_a = ring_a();
    let (key_old, wrapped_old) = ring_a.new_data_key(b"job-old").unwrap();
    let sealed_old = seal(&key_old, b"jobs/job-old/input.pdf", b"old document").unwrap();

    let ring_ab = ring(&format!("a:{HEX_A}\nb:{HEX_B}"));
    assert_eq!(ring_ab.current_id().as_str(), "b");

    // New data keys go under B.
    let (_, wrapped_new) = ring_ab.new_data_key(b"job-new").unwrap();
    assert_eq!(wrapped_new.master_id().as_str(), "b");
    assert!(!ring_ab.needs_rewrap(&wrapped_new));

    // Old ones still unwrap.
    assert!(ring_ab.needs_rewrap(&wrapped_old));
    let key = ring_ab.unwrap_key(&wrapped_old, b"job-old").unwrap();
    assert_eq!(
        open(&key, b"jobs/job-old/input.pdf", &sealed_old).unwrap(),
        b"old document"
    );

    // Rewrap moves A -> B; the data key (and so the sealed object) is unchanged.
    let rewrapped = ring_ab.rewrap_key(&wrapped_old, b"job-old").unwrap();
    assert_eq!(rewrapped.master_id().as_str(), "b");
    assert_eq!(rewrapped.data_key_id(), wrapped_old.data_key_id());
    assert!(!ring_ab.needs_rewrap(&rewrapped));
    // Already current: no-op.
    assert_eq!(
        ring_ab.rewrap_key(&rewrapped, b"job-old").unwrap(),
        rewrapped
    );

    // A ring with only B opens it; A is no longer needed.
    let ring_b = ring(&format!("b:{HEX_B}"));
    let stored = WrappedKey::from_bytes(&rewrapped.to_bytes()).unwrap();
    let key = ring_b.unwrap_key(&stored, b"job-old").unwrap();
    assert_eq!(
        open(&key, b"jobs/job-old/input.pdf", &sealed_old).unwrap(),
        b"old document"
    );
    assert!(matches!(
        ring_b.unwrap_key(&wrapped_old, b"job-old"),
        Err(SealError::UnknownMasterKey(_))
    ));
}

#[test]
fn explicit_current_keeps_new_keys_under_the_old_master_during_rollout() {
    let ring = ring(&format!("a:{HEX_A}\nb:{HEX_B}\ncurrent=a"));
    let (_, wrapped) = ring.new_data_key(b"job-1").unwrap();
    assert_eq!(wrapped.master_id().as_str(), "a");
    assert_eq!(ring.current_id(), &KeyId::new("a").unwrap());
}

/// Every spelling of a secret a formatter or an error might contain.
fn spellings(hex: &str) -> Vec<String> {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut all = vec![
        hex.to_owned(),
        hex.to_uppercase(),
        format!("{bytes:?}"),
        // Any 8 consecutive hex digits would already be a leak.
        hex[..8].to_owned(),
        hex[hex.len() - 8..].to_owned(),
    ];
    all.push(base64(&bytes));
    all
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(word >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[test]
fn nothing_printable_contains_a_master_secret() {
    let ring = ring(&format!("a:{HEX_A}\nb:{HEX_B}"));
    let (key, wrapped) = ring.new_data_key(b"job-1").unwrap();
    let sealed = seal(&key, b"o", b"data").unwrap();
    let errors: Vec<String> = [
        open(&key, b"wrong", &sealed).unwrap_err(),
        ring.unwrap_key(&wrapped, b"job-2").unwrap_err(),
        WrappedKey::from_bytes(&sealed).unwrap_err(),
    ]
    .iter()
    .flat_map(|e| [e.to_string(), format!("{e:?}")])
    .collect();
    let mut printed = vec![
        format!("{ring:?}"),
        format!("{ring:#?}"),
        format!("{key:?}"),
        format!("{wrapped:?}"),
        format!("{}", key.id()),
        format!("{:?}", key.id()),
    ];
    printed.extend(errors);
    for hex in [HEX_A, HEX_B] {
        for spelling in spellings(hex) {
            for text in &printed {
                assert!(!text.contains(&spelling), "{text} contains {spelling}");
            }
        }
    }
    assert_eq!(
        format!("{ring:?}"),
        r#"KeyRing { current: KeyId("b"), keys: [KeyId("a"), KeyId("b")] }"#
    );
}

#[test]
fn base64_helper_matches_a_known_vector() {
    // RFC 4648 test vector, so the leak test above searches for the right spelling.
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b"fo"), "Zm8");
}
