//! Envelope encryption for data at rest: every stored object (job input, job result) is sealed
//! with AES-256-GCM under a per-job random **data key**; the data key is stored apart from the
//! objects, **wrapped** (AES-256-GCM again) under a **master key** named by a [`KeyId`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ndf_seal::{KeyId, KeyRing, WrappedKey, generate_key_line, open, seal};
//!
//! let ring = KeyRing::parse(&generate_key_line(&KeyId::new("k1")?)?)?;
//! // Job creation: one data key per job; the wrapped key goes to the database row of the job.
//! let (data_key, wrapped) = ring.new_data_key(b"job-42")?;
//! let row: Vec<u8> = wrapped.to_bytes();
//! let object = seal(&data_key, b"jobs/job-42/input.pdf", b"%PDF-1.7 ...")?;
//! // Later, maybe on another replica:
//! let data_key = ring.unwrap_key(&WrappedKey::from_bytes(&row)?, b"job-42")?;
//! assert_eq!(open(&data_key, b"jobs/job-42/input.pdf", &object)?, b"%PDF-1.7 ...");
//! # Ok(())
//! # }
//! ```
//!
//! # Threat model
//!
//! Protected: everything at rest. An attacker who reads the object store (bucket, disks,
//! snapshots, backups) and the database (including its backups) but not the master key learns
//! nothing about inputs, results or data keys beyond their sizes, the ids in the headers and the
//! access pattern; and cannot alter, truncate, or move an object to another path or job, or a
//! wrapped key to another job, without [`open`] / [`KeyRing::unwrap_key`] failing. The master
//! key lives only in the key file or environment variable of the running service, which must
//! therefore never be stored next to the data or its backups.
//!
//! Not protected: a compromised running replica. It holds the master keys and unwraps data keys
//! on demand, so an attacker with code execution or memory access in the service (or read access
//! to its key file or environment) can decrypt everything the master keys cover. Zeroizing key
//! buffers only shortens the time secrets sit in memory; it is no defence against such an
//! attacker. Also out of scope: object sizes and names, which stay visible, and availability (an
//! attacker with write access can delete objects or keys).
//!
//! # Formats (version 1)
//!
//! Sealed object ([`seal`]), `n` = plaintext length, total `n + 49` ([`SEAL_OVERHEAD`]):
//!
//! | offset   | bytes | field                                              |
//! |----------|-------|----------------------------------------------------|
//! | 0        | 4     | magic `NDFS`                                       |
//! | 4        | 1     | format version, `1`                                |
//! | 5        | 16    | [`DataKeyId`] of the data key (random, not the key)|
//! | 21       | 12    | random 96-bit nonce                                |
//! | 33       | n     | AES-256-GCM ciphertext                             |
//! | 33 + n   | 16    | GCM tag                                            |
//!
//! GCM associated data: bytes 0..21 (the header) followed by the caller's AAD (e.g.
//! `jobs/<id>/input.pdf`). The caller's AAD is authenticated, not stored.
//!
//! Wrapped data key ([`WrappedKey::to_bytes`]), `L` = master key id length (1 to 32), total
//! `82 + L`:
//!
//! | offset   | bytes | field                                     |
//! |----------|-------|-------------------------------------------|
//! | 0        | 4     | magic `NDFK`                              |
//! | 4        | 1     | format version, `1`                       |
//! | 5        | 1     | `L`                                       |
//! | 6        | L     | master [`KeyId`], ASCII `[a-z0-9-]`       |
//! | 6 + L    | 16    | [`DataKeyId`]                             |
//! | 22 + L   | 12    | random 96-bit nonce                       |
//! | 34 + L   | 32    | data key encrypted under the master key   |
//! | 66 + L   | 16    | GCM tag                                   |
//!
//! GCM associated data: bytes `0..22 + L` followed by the caller's context (e.g. the job id).
//! Both headers are self-delimiting, so header ‖ AAD never collides for different inputs; the
//! magics differ, so neither format can be passed off as the other.
//!
//! # Nonces
//!
//! Nonces are random. With 96-bit random nonces NIST SP 800-38D bounds a key to 2^32
//! encryptions (nonce collision probability below 2^-32). A data key seals a handful of objects
//! (one job's input and results), and a master key wraps one data key per job plus rewraps, so
//! the bound is reached only after billions of jobs under one master key: rotate long before.
//!
//! # Rotation
//!
//! The ring holds every master key still needed to unwrap; the current one wraps new data keys.
//!
//! 1. Create a key with [`generate_key_line`] and add it to the key ring of every replica
//!    with `current=<old id>`: replicas can then all unwrap under it before any uses it.
//! 2. Switch `current=` to the new id (or drop the line: the last key entry is current). New
//!    jobs' data keys are wrapped under it; old wrapped keys still unwrap with the old key.
//! 3. Re-wrap stored keys: for each row where [`KeyRing::needs_rewrap`], store
//!    [`KeyRing::rewrap_key`]'s result. Only the 82 to 114 byte wrapped keys change; sealed
//!    objects are not touched (their data keys do not change).
//! 4. When no row names the old key, remove it from the ring and destroy it.
//!
//! # Crypto-shredding
//!
//! A sealed object contains only the data key's id, which is random and unrelated to the key
//! bytes, never the key. The data key exists only inside its [`WrappedKey`] (one database row
//! per job) and, transiently, in the memory of a replica using it; this crate offers no way to
//! export it. Deleting a job's row therefore makes its objects undecryptable wherever copies of
//! them live (bucket versions, backups), with no need to find and erase them: AES-256-GCM
//! without the key reveals nothing. Two copies of the wrapped key outlive the row: database
//! backups, until they expire, and any data key a replica still caches (callers must drop cached
//! keys on deletion). Retiring the master key (rotation steps 3-4) shreds the backup copies too.
//!
//! # Key ring text
//!
//! See [`KeyRing::parse`]; [`KeyRing::from_env_or_file`] is the only function doing IO. Key
//! material is zeroed on drop, and no `Debug`, `Display` or error of this crate includes it.

#![forbid(unsafe_code)]

mod error;
mod keyring;
mod load;
mod object;
mod secret;
mod wrap;

pub use error::{Blob, EntryProblem, KeyIdProblem, KeyRingError, SealError};
pub use keyring::{KeyId, KeyRing, MasterKey, generate_key_line};
pub use load::MAX_KEY_FILE_BYTES;
pub use object::{SEAL_OVERHEAD, open, seal, sealed_data_key_id};
pub use wrap::{DataKey, DataKeyId, WrappedKey};

#[cfg(test)]
mod tests;
