//! Master keys, the key ring and its text format.

use std::{collections::BTreeMap, fmt, str::FromStr};

use zeroize::Zeroizing;

use crate::{
    error::{EntryProblem, KeyIdProblem, KeyRingError},
    secret::{KEY_LEN, Secret, decode_secret, push_hex},
};

/// Name of a master key: 1 to [`KeyId::MAX_LEN`] characters of `a-z`, `0-9` and `-`, not starting
/// with `-` (e.g. `2025-06`, `prod-k3`). Not secret: it is written into every wrapped key.
///
/// Because a secret is at least 43 characters long, no secret can pass for a key id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Longest accepted id, in bytes (= characters, as they are ASCII).
    pub const MAX_LEN: usize = 32;

    /// Validates `id`. The error never quotes the input.
    pub fn new(id: &str) -> Result<Self, KeyRingError> {
        Self::validate(id.as_bytes()).map_err(KeyRingError::InvalidKeyId)
    }

    pub(crate) fn validate(id: &[u8]) -> Result<Self, KeyIdProblem> {
        let first = id.first().ok_or(KeyIdProblem::Empty)?;
        if id.len() > Self::MAX_LEN {
            return Err(KeyIdProblem::TooLong);
        }
        if !id
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            return Err(KeyIdProblem::InvalidCharacter);
        }
        if *first == b'-' {
            return Err(KeyIdProblem::LeadingHyphen);
        }
        // Only ASCII bytes passed the checks above, so this conversion cannot fail.
        let id = std::str::from_utf8(id).map_err(|_| KeyIdProblem::InvalidCharacter)?;
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KeyId {
    type Err = KeyRingError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Self::new(id)
    }
}

/// A 256-bit master key (key-encryption key) and its id. The secret is zeroed on drop and never
/// printed.
pub struct MasterKey {
    id: KeyId,
    pub(crate) secret: Secret,
}

impl MasterKey {
    /// A master key from raw bytes (for callers that get keys from elsewhere than the text
    /// format). The bytes are copied into zeroize-on-drop storage; `secret` zeroes itself too.
    pub fn new(id: KeyId, secret: &Zeroizing<[u8; 32]>) -> Self {
        let mut stored = Secret::zeroed();
        stored.bytes_mut().copy_from_slice(secret.as_slice());
        Self { id, secret: stored }
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("secret", &format_args!("<redacted>"))
            .finish()
    }
}

/// The master keys this process knows and which of them wraps new data keys.
///
/// Invariant: `current` is a key of `keys`.
pub struct KeyRing {
    current: KeyId,
    keys: BTreeMap<KeyId, MasterKey>,
}

impl KeyRing {
    /// Parses the key ring text format:
    ///
    /// ```text
    /// # comment lines and blank lines are ignored
    /// 2024-11:<64 hex digits, or 43/44 base64 characters (standard or URL-safe)>
    /// 2025-06:<...>
    /// current=2025-06
    /// ```
    ///
    /// `current=` is optional; without it the LAST key entry is current.
    ///
    /// Entries are separated by newlines or `;` (so the whole ring fits in one environment
    /// variable: `a:<hex>;b:<hex>`). Spaces around entries and around the separators are
    /// ignored. Errors name the line and entry, never the text.
    pub fn parse(text: &str) -> Result<Self, KeyRingError> {
        let mut keys = BTreeMap::new();
        let mut last_key: Option<KeyId> = None;
        let mut explicit_current: Option<KeyId> = None;
        for (line_index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            for (entry_index, entry) in line.split(';').enumerate() {
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                let at = |problem| KeyRingError::Entry {
                    line: line_index + 1,
                    entry: entry_index + 1,
                    problem,
                };
                // A base64 secret may contain '=', but then the text before it contains ':'
                // and is not "current".
                if let Some((name, id)) = entry.split_once('=')
                    && name.trim() == "current"
                {
                    let id = KeyId::validate(id.trim().as_bytes())
                        .map_err(|p| at(EntryProblem::InvalidKeyId(p)))?;
                    if explicit_current.replace(id).is_some() {
                        return Err(at(EntryProblem::DuplicateCurrent));
                    }
                    continue;
                }
                let (id, secret) = entry
                    .split_once(':')
                    .ok_or(at(EntryProblem::MissingSeparator))?;
                let id = KeyId::validate(id.trim().as_bytes())
                    .map_err(|p| at(EntryProblem::InvalidKeyId(p)))?;
                let secret = decode_secret(secret.trim()).ok_or(at(EntryProblem::InvalidSecret))?;
                if secret.is_all_zero() {
                    return Err(at(EntryProblem::ZeroSecret));
                }
                if keys.contains_key(&id) {
                    return Err(at(EntryProblem::DuplicateKeyId));
                }
                last_key = Some(id.clone());
                keys.insert(id.clone(), MasterKey { id, secret });
            }
        }
        let current = explicit_current.or(last_key).ok_or(KeyRingError::Empty)?;
        if !keys.contains_key(&current) {
            return Err(KeyRingError::UnknownCurrent(current));
        }
        Ok(Self { current, keys })
    }

    /// A ring from already-built keys; `current` wraps new data keys.
    pub fn from_keys(
        keys: impl IntoIterator<Item = MasterKey>,
        current: &KeyId,
    ) -> Result<Self, KeyRingError> {
        let mut map = BTreeMap::new();
        for key in keys {
            if map.contains_key(&key.id) {
                return Err(KeyRingError::DuplicateKeyId(key.id.clone()));
            }
            map.insert(key.id.clone(), key);
        }
        if !map.contains_key(current) {
            return Err(KeyRingError::UnknownCurrent(current.clone()));
        }
        Ok(Self {
            current: current.clone(),
            keys: map,
        })
    }

    /// The id of the master key that wraps new data keys.
    pub fn current_id(&self) -> &KeyId {
        &self.current
    }

    /// Every key id in the ring, in sorted order.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    pub fn contains(&self, id: &KeyId) -> bool {
        self.keys.contains_key(id)
    }

    pub(crate) fn get(&self, id: &KeyId) -> Option<&MasterKey> {
        self.keys.get(id)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A new random master key as one key ring line, `<id>:<64 hex digits>`, for `ndf keys`-style
/// tooling. Append it to the key file (or variable) to make it the current key.
///
/// The line is the secret: the returned string zeroes itself on drop; do not log it.
pub fn generate_key_line(id: &KeyId) -> Result<Zeroizing<String>, KeyRingError> {
    let secret = Secret::random().map_err(KeyRingError::Random)?;
    // Reserved up front: growing the string would leave a copy of the secret in freed memory.
    let mut line = Zeroizing::new(String::with_capacity(id.as_str().len() + 1 + 2 * KEY_LEN));
    line.push_str(id.as_str());
    line.push(':');
    push_hex(&mut line, secret.bytes());
    Ok(line)
}
