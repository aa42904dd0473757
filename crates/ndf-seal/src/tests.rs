//! Tests that need the key bytes, which the public API never exposes.

use crate::{KeyRing, open, seal, secret::push_hex};

const RING: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn contains_window(haystack: &[u8], needle: &[u8], window: usize) -> bool {
    needle
        .windows(window)
        .any(|piece| haystack.windows(window).any(|candidate| candidate == piece))
}

/// Every spelling of `bytes` a formatter might produce.
fn renderings(bytes: &[u8]) -> Vec<String> {
    let mut hex = String::new();
    push_hex(&mut hex, bytes);
    vec![hex.clone(), hex.to_uppercase(), format!("{bytes:?}")]
}

#[test]
fn sealed_objects_and_wrapped_keys_hold_neither_the_plaintext_nor_the_data_key() {
    let ring = KeyRing::parse(RING).unwrap();
    let (data_key, wrapped) = ring.new_data_key(b"job-1").unwrap();
    let key_bytes = *data_key.secret.bytes();
    let plaintext: Vec<u8> = b"%PDF-1.7 confidential contract text "
        .iter()
        .copied()
        .cycle()
        .take(4096)
        .collect();
    let sealed = seal(&data_key, b"jobs/job-1/input.pdf", &plaintext).unwrap();

    // 8-byte windows: a chance match in a few KiB of random output has probability ~2^-40.
    assert!(!contains_window(&sealed, &plaintext, 8));
    assert!(!contains_window(&sealed, &key_bytes, 8));
    let wrapped_bytes = wrapped.to_bytes();
    assert!(!contains_window(&wrapped_bytes, &key_bytes, 8));
    let master = ring.get(ring.current_id()).unwrap().secret.bytes();
    assert!(!contains_window(&wrapped_bytes, master, 8));
    assert!(!contains_window(&sealed, master, 8));

    // The same key comes back out of the wrapped form, and opens the object.
    let unwrapped = ring.unwrap_key(&wrapped, b"job-1").unwrap();
    assert_eq!(unwrapped.secret.bytes(), &key_bytes);
    assert_eq!(
        open(&unwrapped, b"jobs/job-1/input.pdf", &sealed).unwrap(),
        plaintext
    );
}

#[test]
fn formatting_a_data_key_or_master_key_never_shows_its_bytes() {
    let ring = KeyRing::parse(RING).unwrap();
    let (data_key, _) = ring.new_data_key(b"job-1").unwrap();
    let master = ring.get(ring.current_id()).unwrap();
    let printed = [
        format!("{data_key:?}"),
        format!("{data_key:#?}"),
        format!("{master:?}"),
        format!("{master:#?}"),
        format!("{ring:?}"),
    ];
    let secrets = [*data_key.secret.bytes(), *master.secret.bytes()];
    for text in &printed {
        assert!(
            text.contains("redacted") || text.starts_with("KeyRing"),
            "{text}"
        );
        for secret in &secrets {
            for rendering in renderings(secret) {
                assert!(!text.contains(&rendering), "{text}");
            }
        }
    }
}

#[test]
fn new_data_keys_are_distinct() {
    let ring = KeyRing::parse(RING).unwrap();
    let (first, _) = ring.new_data_key(b"job-1").unwrap();
    let (second, _) = ring.new_data_key(b"job-1").unwrap();
    assert_ne!(first.secret.bytes(), second.secret.bytes());
    assert_ne!(first.id(), second.id());
    assert!(!first.secret.is_all_zero());
}
