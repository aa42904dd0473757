//! The append-only, hash-chained audit log: its record types, the hash, and the verifier.
//!
//! # What goes in
//! Key creation and revocation, authentication failures, job create/read/delete, tenant
//! erasure, master-key rotation, configuration changes and other admin actions, each as an
//! [`AuditEvent`]. **Nothing in the log may be secret**: callers pass ids and names (a key's id,
//! a tenant's name, a job id), never an API key, a password, a token or document text, in any
//! field including `detail`. The log is exported and read by auditors as it is.
//!
//! # The chain (for an external auditor)
//! Every record carries `prev_hash` (the `hash` of the record with `seq - 1`, or
//! [`GENESIS_HASH`], 64 `0` digits, for `seq` 1) and its own `hash`. Records are **keyed**:
//!
//! ```text
//! hash = lower-case hex of HMAC-SHA256(audit key, bytes(prev_hash) || utf8(canonical_json(body)))
//! ```
//!
//! - the audit key ([`AuditKey`]) is 32 bytes that never sit in the database: the service
//!   derives it as `HMAC-SHA256(api_key_secret, "ndf audit chain key v1")`;
//! - `bytes(prev_hash)` is the 32 bytes that the 64 hex digits of `prev_hash` spell;
//! - `body` is the record as a JSON object **without** its `hash` member, with exactly these
//!   ten members: `action`, `actor`, `at`, `detail`, `key_id`, `outcome`, `prev_hash`, `seq`,
//!   `target`, `tenant` (`target` and `tenant` are `null` when absent; `at` and `seq` are
//!   integers; `key_id` is [`AuditKey::id`], 16 hex digits naming the key without revealing it);
//! - `canonical_json` writes no whitespace, sorts the members of every object by key (UTF-8
//!   byte order, which is code point order), writes integers in plain decimal (floats never
//!   occur: they are refused on append), and escapes in strings only `"`, `\` and U+0000..U+001F
//!   (as `\b \t \n \f \r` or `\u00xx` with lower-case hex), leaving all other characters as
//!   UTF-8. This is exactly Python's
//!   `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
//!
//! So, in Python, with `r` one exported record (a dict) and `key` the 32 key bytes:
//! `body = {k: v for k, v in r.items() if k != "hash"}` and
//! `hmac.new(key, bytes.fromhex(r["prev_hash"]) + canonical(body).encode(), "sha256").hexdigest() == r["hash"]`.
//!
//! **Legacy records.** Records written before the chain was keyed (schema version 5) have no
//! `key_id` (the column is NULL and the exported object has no `key_id` member), nine members
//! in their body, and `hash = BLAKE3-256(bytes(prev_hash) || canonical_json(body))`. They stay
//! verifiable as the log's legacy prefix: once a keyed record follows them, its MAC covers
//! their last hash and with it (through the chain) every one of them. An unkeyed record after
//! a keyed one, or an unkeyed newest record, is reported ([`ProblemKind::Unkeyed`]).
//!
//! # What the verifier finds, and what it does not
//! [`verify`] and [`verify_store`] find any record whose contents were edited, any record
//! removed from the middle, records moved to another `seq`, records rewritten without the key
//! (recomputing the chain needs the key: an attacker with only database access cannot), and
//! records keyed with another key. Without an anchor they cannot see the newest records being
//! removed (the shorter chain is intact). An **anchor** ([`anchor_token`]: the head's `seq`
//! and `hash`, MACed with the key) kept outside the database closes that:
//! [`Verifier::expect_anchor`] reports a log that no longer reaches the anchored record
//! ([`ProblemKind::Truncated`]) or holds another record there ([`ProblemKind::AnchorMismatch`]),
//! and since the anchored record's hash covers every record before it, any rewrite before it.
//! What an anchor cannot show is what was removed after it was taken: keep anchors fresh.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StoreError;
use crate::types::Millis;

/// `prev_hash` of the first record (`seq` 1).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest [`AuditEvent::actor`], in bytes.
pub const MAX_AUDIT_ACTOR_LEN: usize = 256;
/// Longest [`AuditEvent::tenant`], in bytes.
pub const MAX_AUDIT_TENANT_LEN: usize = 256;
/// Longest [`AuditEvent::target`], in bytes.
pub const MAX_AUDIT_TARGET_LEN: usize = 512;
/// Largest [`AuditEvent::detail`] in its canonical JSON form, in bytes.
pub const MAX_AUDIT_DETAIL_LEN: usize = 8 * 1024;
/// Deepest nesting of [`AuditEvent::detail`] (the object itself is depth 1).
pub const MAX_AUDIT_DETAIL_DEPTH: usize = 8;
/// [`AuditLog::range`] and [`AuditLog::all_from`] return at most this many records per call.
pub const MAX_AUDIT_PAGE: u32 = 1000;
/// The outcomes an [`AuditEvent`] may have.
pub const AUDIT_OUTCOMES: [&str; 3] = ["ok", "denied", "failed"];
/// A [`VerifyReport`] lists at most this many problems (and counts the rest).
pub const MAX_REPORTED_PROBLEMS: usize = 1000;
/// A [`Verifier`] checks at most this many anchors.
pub const MAX_ANCHORS: usize = 64;
/// What an anchor token starts with (then `KEYID:SEQ:HASH:MAC`).
pub const ANCHOR_PREFIX: &str = "ndf-audit-anchor:1:";
/// What [`AuditKey::derive`] MACs under the configured secret.
const KEY_DERIVATION_LABEL: &[u8] = b"ndf audit chain key v1";
/// What [`AuditKey::id`] is the MAC of.
const KEY_ID_LABEL: &[u8] = b"ndf audit key id v1";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key of the audit chain: 32 bytes kept outside the database (see the module
/// documentation). `Debug` shows only its [`id`](AuditKey::id); the bytes are wiped on drop.
#[derive(Clone)]
pub struct AuditKey {
    bytes: zeroize::Zeroizing<[u8; 32]>,
    id: String,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// The key derived from a configured secret (the service's `api_key_secret`):
    /// `HMAC-SHA256(secret, "ndf audit chain key v1")`. Refuses an empty secret.
    pub fn derive(secret: &[u8]) -> Result<Self, StoreError> {
        if secret.is_empty() {
            return Err(StoreError::Invalid(
                "the audit key cannot be derived from an empty secret".into(),
            ));
        }
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
            .map_err(|e| StoreError::Invalid(format!("audit key: {e}").into()))?;
        mac.update(KEY_DERIVATION_LABEL);
        Ok(Self::from_bytes(mac.finalize().into_bytes().into()))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = zeroize::Zeroizing::new(bytes);
        let mut mac = hmac_with(&bytes);
        mac.update(KEY_ID_LABEL);
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        let id = to_hex(&digest[..8]);
        Self { bytes, id }
    }

    /// 16 hex digits naming this key (the first 8 bytes of `HMAC-SHA256(key, "ndf audit key
    /// id v1")`): stored with every keyed record, reveals nothing about the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn hmac(&self) -> HmacSha256 {
        hmac_with(&self.bytes)
    }
}

/// HMAC-SHA256 under a 32-byte key. HMAC pads keys shorter than the hash's 64-byte block with
/// zeros, so the key padded to one block is the same key, and building it cannot fail.
fn hmac_with(key: &[u8; 32]) -> HmacSha256 {
    let mut block = zeroize::Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(&(*block).into())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// How many recent records the verifier remembers to match links and find moved records: the
/// memory bound. A record moved farther than this from its place is reported as missing there
/// and as out of order where it is.
const VERIFY_WINDOW: usize = 4096;
/// How far from its `seq` the verifier looks for the `seq` a record was written with.
const SEARCH_DISTANCE: i64 = 16;

/// What happened. The strings ([`AuditAction::as_str`], also the serde form) are stable: they
/// are stored, hashed and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// An API key was created.
    KeyCreated,
    /// An API key was revoked.
    KeyRevoked,
    /// A request presented a missing, unknown, revoked or insufficient credential.
    AuthFailed,
    /// A job was submitted.
    JobCreated,
    /// A job's status or result was read.
    JobRead,
    /// A job (and its data) was deleted.
    JobDeleted,
    /// All data of a tenant was erased.
    TenantErased,
    /// The master key (encryption at rest) was rotated.
    MasterKeyRotated,
    /// The service configuration changed.
    ConfigChanged,
    /// Any other administrative action (described in `detail`).
    AdminAction,
    /// Events that could not be appended (the log was unavailable or refused them), recorded
    /// by the next append that succeeded: counts per action and the time span in `detail`.
    AuditAppendFailed,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 11] = [
        AuditAction::KeyCreated,
        AuditAction::KeyRevoked,
        AuditAction::AuthFailed,
        AuditAction::JobCreated,
        AuditAction::JobRead,
        AuditAction::JobDeleted,
        AuditAction::TenantErased,
        AuditAction::MasterKeyRotated,
        AuditAction::ConfigChanged,
        AuditAction::AdminAction,
        AuditAction::AuditAppendFailed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::KeyCreated => "key_created",
            AuditAction::KeyRevoked => "key_revoked",
            AuditAction::AuthFailed => "auth_failed",
            AuditAction::JobCreated => "job_created",
            AuditAction::JobRead => "job_read",
            AuditAction::JobDeleted => "job_deleted",
            AuditAction::TenantErased => "tenant_erased",
            AuditAction::MasterKeyRotated => "master_key_rotated",
            AuditAction::ConfigChanged => "config_changed",
            AuditAction::AdminAction => "admin_action",
            AuditAction::AuditAppendFailed => "audit_append_failed",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| StoreError::Invalid(format!("unknown audit action {s:?}").into()))
    }
}

/// One event to append. No field may hold a secret (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Who: a key id (`key:<id>`), `admin`, `cli`, `anonymous`, a client address… (1..=256 bytes).
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// The tenant concerned, if any (at most 256 bytes).
    pub tenant: Option<String>,
    /// The object acted on: a job id, a key id, a setting name… (at most 512 bytes).
    pub target: Option<String>,
    /// One of [`AUDIT_OUTCOMES`]: `ok`, `denied` or `failed`.
    pub outcome: String,
    /// A JSON object of further facts (strings, integers, booleans, nulls, arrays, objects; no
    /// floats; at most 8 KiB canonical and 8 levels deep). `{}` when there is nothing to add.
    pub detail: Value,
}

impl AuditEvent {
    /// An event with no tenant, no target and an empty `detail`.
    pub fn new(actor: impl Into<String>, action: AuditAction, outcome: &str) -> Self {
        Self {
            actor: actor.into(),
            action,
            tenant: None,
            target: None,
            outcome: outcome.to_owned(),
            detail: Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the target.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the detail object.
    #[must_use]
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// One stored record: the event's fields plus its place in the chain. Its serde form is the
/// export format (one JSON object per record; [`AuditRecord::to_canonical_json`] writes it
/// canonically).
///
/// `action` and `outcome` are kept as stored strings, so that records written by a newer
/// version, or tampered with, can still be read, exported and verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the chain: 1, 2, 3… without gaps.
    pub seq: i64,
    /// When it was appended (Unix ms). Never less than the previous record's `at`.
    pub at: Millis,
    /// See [`AuditEvent::actor`].
    pub actor: String,
    /// An [`AuditAction`] name.
    pub action: String,
    /// See [`AuditEvent::tenant`].
    pub tenant: Option<String>,
    /// See [`AuditEvent::target`].
    pub target: Option<String>,
    /// See [`AuditEvent::outcome`].
    pub outcome: String,
    /// See [`AuditEvent::detail`].
    pub detail: Value,
    /// `hash` of the record `seq - 1`; [`GENESIS_HASH`] for `seq` 1.
    pub prev_hash: String,
    /// The [`AuditKey::id`] of the key `hash` is a MAC under; `None` for a legacy record
    /// (BLAKE3, written before the chain was keyed), which exports without this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// This record's hash (see the module documentation).
    pub hash: String,
}

impl AuditRecord {
    /// The action, when it is one this version knows.
    pub fn parsed_action(&self) -> Option<AuditAction> {
        self.action.parse().ok()
    }

    /// The hash this record's contents call for (compare with [`AuditRecord::hash`]): the
    /// MAC under `key` for a keyed record (whatever its `key_id` says), BLAKE3 for a legacy
    /// one. Fails when `prev_hash` is not 64 hex digits or `detail` cannot be written
    /// canonically.
    pub fn compute_hash(&self, key: &AuditKey) -> Result<String, StoreError> {
        let body = BodyParts::new(self)?;
        body.hash(self.seq, key)
            .ok_or_else(|| StoreError::Corrupt("prev_hash is not 64 hex digits".into()))
    }

    /// The whole record, `hash` included, as one line of canonical JSON (the export format).
    pub fn to_canonical_json(&self) -> Result<String, StoreError> {
        let value = serde_json::to_value(self)
            .map_err(|e| StoreError::Invalid(format!("audit record: {e}").into()))?;
        let mut out = String::new();
        // The record object adds one level above its detail.
        write_canonical(&mut out, &value, MAX_AUDIT_DETAIL_DEPTH + 1)?;
        Ok(out)
    }
}

/// The append-only audit log. Object-safe: use as `Arc<dyn AuditLog>`.
///
/// Appends are serialized across tasks, pools and processes (SQLite: the write lock taken by
/// `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock), so `seq` is dense and
/// the chain linear. Nothing here updates or deletes records (and the tables refuse it).
#[async_trait]
pub trait AuditLog: Send + Sync + fmt::Debug + 'static {
    /// Appends `event` as the next record, keyed with the log's [`AuditKey`] (given in
    /// `StoreOptions::audit_key`), and returns it. `at` is `now`, or the previous record's `at`
    /// if that is later (a replica whose clock lags), so `at` never decreases with `seq` and a
    /// time range is a contiguous run of records. Refuses an invalid event (lengths, outcome,
    /// `detail` not a small float-free object) with `StoreError::Invalid`, and every event when
    /// the log has no key.
    ///
    /// A failed append is not lost silently: the log object counts it, and its next
    /// successful append first writes an [`AuditAction::AuditAppendFailed`] record (how many
    /// events, of which actions, between which times) in the same transaction.
    async fn append(&self, event: AuditEvent, now: Millis) -> Result<AuditRecord, StoreError>;
    /// Records with `from <= at < to` and `seq > after_seq`, in `seq` order, at most `limit`
    /// (clamped to `1..=MAX_AUDIT_PAGE`): pass the last `seq` of a page as `after_seq` to get
    /// the next one (`0` to start).
    async fn range(
        &self,
        from: Millis,
        to: Millis,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Records with `seq >= from_seq`, in `seq` order, at most `limit` (clamped to
    /// `1..=MAX_AUDIT_PAGE`).
    async fn all_from(&self, from_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// The record with the highest `seq`, or `None` when the log is empty.
    async fn head(&self) -> Result<Option<AuditRecord>, StoreError>;
}

/// An event checked and converted to its stored form.
#[derive(Debug)]
pub(crate) struct CheckedEvent {
    pub(crate) event: AuditEvent,
    pub(crate) detail_json: String,
}

fn check_len(what: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.len() > max {
        Err(StoreError::Invalid(
            format!(
                "audit {what} is {} bytes, at most {max} allowed",
                value.len()
            )
            .into(),
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn check_event(event: AuditEvent) -> Result<CheckedEvent, StoreError> {
    if event.actor.is_empty() {
        return Err(StoreError::Invalid("audit actor is empty".into()));
    }
    check_len("actor", &event.actor, MAX_AUDIT_ACTOR_LEN)?;
    check_len(
        "tenant",
        event.tenant.as_deref().unwrap_or(""),
        MAX_AUDIT_TENANT_LEN,
    )?;
    check_len(
        "target",
        event.target.as_deref().unwrap_or(""),
        MAX_AUDIT_TARGET_LEN,
    )?;
    if !AUDIT_OUTCOMES.contains(&event.outcome.as_str()) {
        return Err(StoreError::Invalid(
            format!("audit outcome must be one of {AUDIT_OUTCOMES:?}").into(),
        ));
    }
    if !event.detail.is_object() {
        return Err(StoreError::Invalid(
            "audit detail must be a JSON object".into(),
        ));
    }
    let mut detail_json = String::new();
    write_canonical(&mut detail_json, &event.detail, MAX_AUDIT_DETAIL_DEPTH)?;
    check_len("detail", &detail_json, MAX_AUDIT_DETAIL_LEN)?;
    Ok(CheckedEvent { event, detail_json })
}

/// Why appends fail when the log was opened without a key.
pub(crate) fn no_key() -> StoreError {
    StoreError::Invalid(
        "the audit log has no key (the service derives it from api_key_secret): nothing can be \
         appended"
            .into(),
    )
}

/// Events that could not be appended since the last successful append of this log object.
#[derive(Debug, Default)]
struct FailedAppends {
    events: u64,
    first_at: Millis,
    last_at: Millis,
    /// Per action name; at most one entry per [`AuditAction`].
    actions: BTreeMap<&'static str, u64>,
}

impl FailedAppends {
    fn note(&mut self, action: AuditAction, now: Millis) {
        if self.events == 0 {
            self.first_at = now;
        }
        self.events = self.events.saturating_add(1);
        self.last_at = self.last_at.max(now);
        let n = self.actions.entry(action.as_str()).or_insert(0);
        *n = n.saturating_add(1);
    }

    fn merge(&mut self, other: FailedAppends) {
        if other.events == 0 {
            return;
        }
        if self.events == 0 {
            *self = other;
            return;
        }
        self.events = self.events.saturating_add(other.events);
        self.first_at = self.first_at.min(other.first_at);
        self.last_at = self.last_at.max(other.last_at);
        for (action, n) in other.actions {
            let slot = self.actions.entry(action).or_insert(0);
            *slot = slot.saturating_add(n);
        }
    }

    /// The record of these failures.
    fn event(&self) -> AuditEvent {
        let actions: serde_json::Map<String, Value> = self
            .actions
            .iter()
            .map(|(action, n)| ((*action).to_owned(), Value::from(*n)))
            .collect();
        AuditEvent::new("ndf", AuditAction::AuditAppendFailed, "failed").detail(serde_json::json!({
            "events": self.events,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "actions": actions,
        }))
    }
}

/// The failed appends a log object has not recorded yet (in memory: a process that stops
/// before its next successful append leaves them only in its own logs and metrics).
#[derive(Debug, Default)]
pub(crate) struct PendingFailures(Mutex<FailedAppends>);

impl PendingFailures {
    /// Counts one event that was not appended.
    pub(crate) fn note(&self, action: AuditAction, now: Millis) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(action, now);
    }

    /// The record to append before the next event, if any failed (taken out: give it back
    /// with [`PendingFailures::restore`] when that append fails too).
    pub(crate) fn take(&self) -> Option<PendingRecord> {
        let failed = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        if failed.events == 0 {
            return None;
        }
        match check_event(failed.event()) {
            Ok(checked) => Some(PendingRecord { failed, checked }),
            // Cannot happen (small integers and action names); keep counting rather than lose.
            Err(_) => {
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .merge(failed);
                None
            }
        }
    }

    /// Puts back failures whose record could not be appended.
    pub(crate) fn restore(&self, pending: PendingRecord) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .merge(pending.failed);
    }
}

/// An `audit_append_failed` event ready to append, and the counts it records.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    failed: FailedAppends,
    pub(crate) checked: CheckedEvent,
}

/// The keyed record of `event` (whose canonical `detail` is `detail_json`) that follows `last`
/// (`(seq, at, hash)` of the current head, `None` when the log is empty).
pub(crate) fn next_record(
    event: AuditEvent,
    detail_json: &str,
    last: Option<(i64, Millis, String)>,
    now: Millis,
    key: &AuditKey,
) -> Result<AuditRecord, StoreError> {
    let (seq, at, prev_hash) = match last {
        None => (1, now, GENESIS_HASH.to_owned()),
        Some((seq, at, hash)) => {
            let seq = seq
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt("audit seq overflow".into()))?;
            (seq, now.max(at), hash)
        }
    };
    let mut record = AuditRecord {
        seq,
        at,
        actor: event.actor,
        action: event.action.as_str().to_owned(),
        tenant: event.tenant,
        target: event.target,
        outcome: event.outcome,
        detail: event.detail,
        prev_hash,
        key_id: Some(key.id().to_owned()),
        hash: String::new(),
    };
    record.hash =
        BodyParts::with_detail(&record, detail_json)
            .hash(seq, key)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                "the audit record {} has a hash that is not 64 hex digits; run the verifier",
                seq - 1
            ).into())
            })?;
    Ok(record)
}

/// Writes `value` as canonical JSON (see the module documentation); `depth` is how many levels
/// of arrays/objects may still be opened (bounds the recursion).
fn write_canonical(out: &mut String, value: &Value, depth: usize) -> Result<(), StoreError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                return Err(StoreError::Invalid(
                    "audit detail numbers must be integers".into(),
                ));
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            let depth = deeper(depth)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item, depth)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let depth = deeper(depth)?;
            // Sorted here, whatever order the map keeps (serde_json's preserve_order feature).
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_canonical(out, item, depth)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn deeper(depth: usize) -> Result<usize, StoreError> {
    depth.checked_sub(1).ok_or_else(|| {
        StoreError::Invalid(
            format!("audit detail is nested deeper than {MAX_AUDIT_DETAIL_DEPTH} levels").into(),
        )
    })
}

/// A JSON string with the escapes described in the module documentation.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The canonical body of a record split around its `seq`, so that the verifier can try other
/// `seq` values cheaply. Members in sorted order: action, actor, at, detail, key_id (keyed
/// records only), outcome, prev_hash, seq, target, tenant.
struct BodyParts {
    prev: Option<[u8; 32]>,
    keyed: bool,
    before_seq: String,
    after_seq: String,
}

impl BodyParts {
    fn new(record: &AuditRecord) -> Result<Self, StoreError> {
        let mut detail = String::new();
        write_canonical(&mut detail, &record.detail, MAX_AUDIT_DETAIL_DEPTH)?;
        Ok(Self::with_detail(record, &detail))
    }

    fn with_detail(record: &AuditRecord, detail_json: &str) -> Self {
        let mut before = String::with_capacity(detail_json.len() + 256);
        before.push_str("{\"action\":");
        write_string(&mut before, &record.action);
        before.push_str(",\"actor\":");
        write_string(&mut before, &record.actor);
        before.push_str(",\"at\":");
        before.push_str(&record.at.to_string());
        before.push_str(",\"detail\":");
        before.push_str(detail_json);
        if let Some(key_id) = &record.key_id {
            before.push_str(",\"key_id\":");
            write_string(&mut before, key_id);
        }
        before.push_str(",\"outcome\":");
        write_string(&mut before, &record.outcome);
        before.push_str(",\"prev_hash\":");
        write_string(&mut before, &record.prev_hash);
        before.push_str(",\"seq\":");
        let mut after = String::from(",\"target\":");
        write_opt_string(&mut after, record.target.as_deref());
        after.push_str(",\"tenant\":");
        write_opt_string(&mut after, record.tenant.as_deref());
        after.push('}');
        Self {
            prev: decode_hash(&record.prev_hash),
            keyed: record.key_id.is_some(),
            before_seq: before,
            after_seq: after,
        }
    }

    /// The hash of the body with `seq` (the MAC under `key` for a keyed record, BLAKE3 for a
    /// legacy one); `None` when `prev_hash` is not a hash.
    fn hash(&self, seq: i64, key: &AuditKey) -> Option<String> {
        let prev = self.prev.as_ref()?;
        let seq = seq.to_string();
        if self.keyed {
            let mut mac = key.hmac();
            mac.update(prev);
            mac.update(self.before_seq.as_bytes());
            mac.update(seq.as_bytes());
            mac.update(self.after_seq.as_bytes());
            Some(to_hex(&mac.finalize().into_bytes()))
        } else {
            let mut hasher = blake3::Hasher::new();
            hasher.update(prev);
            hasher.update(self.before_seq.as_bytes());
            hasher.update(seq.as_bytes());
            hasher.update(self.after_seq.as_bytes());
            Some(hasher.finalize().to_hex().to_string())
        }
    }
}

fn write_opt_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.push_str("null"),
    }
}

/// 64 lower-case hex digits → 32 bytes.
fn decode_hash(hex: &str) -> Option<[u8; 32]> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *slot = (digit(*hi)? << 4) | digit(*lo)?;
    }
    Some(out)
}

/// What is wrong with the log at some `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The record's contents no longer match its hash, or its hash is not the one the next
    /// record links to (the record was rewritten and its hash recomputed).
    Edited,
    /// No record of the chain holds this `seq`: it was removed.
    Missing,
    /// The record is intact but sits at another `seq` than it was written with (moved,
    /// swapped or renumbered), is a duplicate, or the records are not in `seq` order.
    Reordered,
    /// The chain does not start from [`GENESIS_HASH`] at `seq` 1 (or restarts later).
    BadGenesis,
    /// The record's `key_id` names another key than the verifier's: it was keyed with another
    /// key (another `api_key_secret`), or its `key_id` was changed.
    OtherKey,
    /// The record is unkeyed (legacy BLAKE3) but follows keyed records, or it is the newest
    /// record: unkeyed records are protected only by a keyed record after them.
    Unkeyed,
    /// The log ends before an anchored record: the newest records were removed.
    Truncated,
    /// The record at an anchored `seq` is not the anchored one (or there is none): it, or a
    /// record before it, was rewritten, removed or moved.
    AnchorMismatch,
}

/// One finding of the verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where: the stored `seq` of the record concerned, or the first missing `seq`.
    pub seq: i64,
    /// What.
    pub kind: ProblemKind,
    /// A sentence for people, naming the `seq`s involved.
    pub detail: String,
}

/// The last record of a verified chain: keep it elsewhere ([`anchor_token`]) to detect later
/// truncation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Its `seq`.
    pub seq: i64,
    /// Its `hash`.
    pub hash: String,
}

/// Why an anchor token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// Not of the form `ndf-audit-anchor:1:KEYID:SEQ:HASH:MAC`.
    #[error("not an audit anchor (expected ndf-audit-anchor:1:KEYID:SEQ:HASH:MAC)")]
    Malformed,
    /// Made with another audit key.
    #[error(
        "the anchor was made with audit key {anchor}, this configuration's key is {configured}"
    )]
    OtherKey {
        /// The anchor's key id.
        anchor: String,
        /// The verifier's key id.
        configured: String,
    },
    /// Its MAC does not match its contents.
    #[error("the anchor's MAC does not match its contents: it was altered")]
    BadMac,
}

/// The text an anchor's MAC covers.
fn anchor_body(key_id: &str, seq: i64, hash: &str) -> String {
    format!("{ANCHOR_PREFIX}{key_id}:{seq}:{hash}")
}

/// An anchor of `head`: `ndf-audit-anchor:1:KEYID:SEQ:HASH:MAC`, where MAC is the hex
/// HMAC-SHA256 under `key` of everything before it (without the last `:`). Keep it outside the
/// database and give it back to [`Verifier::expect_anchor`] (after [`parse_anchor`]).
pub fn anchor_token(head: &ChainHead, key: &AuditKey) -> String {
    let body = anchor_body(key.id(), head.seq, &head.hash);
    let mut mac = key.hmac();
    mac.update(body.as_bytes());
    format!("{body}:{}", to_hex(&mac.finalize().into_bytes()))
}

/// The head an anchor token holds, once its key id and MAC are checked (in constant time).
pub fn parse_anchor(token: &str, key: &AuditKey) -> Result<ChainHead, AnchorError> {
    let rest = token
        .trim()
        .strip_prefix(ANCHOR_PREFIX)
        .ok_or(AnchorError::Malformed)?;
    let mut parts = rest.split(':');
    let (Some(key_id), Some(seq), Some(hash), Some(mac), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AnchorError::Malformed);
    };
    let seq: i64 = seq.parse().map_err(|_| AnchorError::Malformed)?;
    if key_id.len() != 16 || decode_hash(hash).is_none() || seq < 1 {
        return Err(AnchorError::Malformed);
    }
    let mac = decode_hash(mac).ok_or(AnchorError::Malformed)?;
    if key_id != key.id() {
        return Err(AnchorError::OtherKey {
            anchor: key_id.to_owned(),
            configured: key.id().to_owned(),
        });
    }
    let mut expected = key.hmac();
    expected.update(anchor_body(key_id, seq, hash).as_bytes());
    expected
        .verify_slice(&mac)
        .map_err(|_| AnchorError::BadMac)?;
    Ok(ChainHead {
        seq,
        hash: hash.to_owned(),
    })
}

/// The verifier's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// How many records were read.
    pub records_checked: u64,
    /// What is wrong, in `seq` order; empty for an intact log. At most
    /// [`MAX_REPORTED_PROBLEMS`].
    pub problems: Vec<Problem>,
    /// Problems found beyond those listed.
    pub problems_not_listed: u64,
    /// The last record read (highest `seq`), `None` for an empty log.
    pub head: Option<ChainHead>,
    /// How many records were unkeyed (legacy, written before the chain was keyed).
    pub legacy_records: u64,
    /// How many anchors were checked.
    pub anchors_checked: u64,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.problems_not_listed == 0
    }
}

/// A record the verifier has placed in the chain.
#[derive(Debug)]
struct Placed {
    hash: String,
    stored_seq: i64,
    /// Already reported as edited (report each record once).
    reported: bool,
}

/// Consecutive records moved by the same distance, reported as one problem.
#[derive(Debug)]
struct MovedRun {
    first: i64,
    last: i64,
    shift: i64,
}

/// The streaming verifier: feed records in `seq` order with [`Verifier::push`], then
/// [`Verifier::finish`]. Memory stays bounded whatever the number of records.
///
/// Each record is placed at the `seq` it was written with: its own `seq` when its hash matches,
/// else the `seq` under which it matches (found from its `prev_hash`, from the previous record's
/// displacement, or within 16 of its `seq`): that is a moved record. A record matching under no
/// `seq` is edited. Then every placed record's `prev_hash` must be the `hash` of the record
/// placed just before it, and every `seq` from the start to the last record must be placed.
/// Keyed records must be keyed with the verifier's key; unkeyed (legacy) ones may only come
/// before every keyed one, and not be the newest.
#[derive(Debug)]
pub struct Verifier {
    key: AuditKey,
    records_checked: u64,
    problems: Vec<Problem>,
    problems_not_listed: u64,
    head: Option<ChainHead>,
    last_stored_seq: Option<i64>,
    /// Written seq → placed record, for the last `VERIFY_WINDOW` written seqs.
    placed: BTreeMap<i64, Placed>,
    /// `hash` → written seq, for the records in `placed`.
    by_hash: HashMap<String, i64>,
    /// Lowest written seq not yet placed or reported missing.
    next_unaccounted: i64,
    /// Written seq of a predecessor not seen yet → (`prev_hash` expected, stored seq of the
    /// record waiting for it).
    waiting: BTreeMap<i64, (String, i64)>,
    /// Displacement of the previous record (0 when in place).
    last_shift: i64,
    run: Option<MovedRun>,
    /// Unkeyed records seen.
    legacy_records: u64,
    /// A keyed record (with any key id) was seen.
    keyed_seen: bool,
    /// Anchored seq → (anchored hash, hash of the first record read at that seq).
    anchors: BTreeMap<i64, Vec<(String, Option<String>)>>,
    anchor_count: usize,
}

impl Verifier {
    /// A verifier of a whole log, from `seq` 1, with the chain's key.
    pub fn new(key: &AuditKey) -> Self {
        Self {
            key: key.clone(),
            records_checked: 0,
            problems: Vec::new(),
            problems_not_listed: 0,
            head: None,
            last_stored_seq: None,
            placed: BTreeMap::new(),
            by_hash: HashMap::new(),
            next_unaccounted: 1,
            waiting: BTreeMap::new(),
            last_shift: 0,
            run: None,
            legacy_records: 0,
            keyed_seen: false,
            anchors: BTreeMap::new(),
            anchor_count: 0,
        }
    }

    /// A verifier of the records after a trusted `anchor` (a [`ChainHead`] kept from an earlier
    /// verification, or the record before an exported range): the first record must be
    /// `anchor.seq + 1` and link to `anchor.hash`.
    pub fn after(anchor: &ChainHead, key: &AuditKey) -> Self {
        let mut verifier = Self::new(key);
        // The records before the anchor are vouched for by it (it was taken with the key).
        verifier.keyed_seen = true;
        verifier.next_unaccounted = anchor.seq.saturating_add(1);
        verifier.by_hash.insert(anchor.hash.clone(), anchor.seq);
        verifier.placed.insert(
            anchor.seq,
            Placed {
                hash: anchor.hash.clone(),
                stored_seq: anchor.seq,
                // Blamed (as edited) when the next record does not link to it: the store's
                // record at the anchor's seq is not the one that was anchored.
                reported: false,
            },
        );
        verifier
    }

    /// Also checks that the log still holds, at `anchor.seq`, the record whose hash is
    /// `anchor.hash` (an anchor from [`parse_anchor`]); call before pushing records. At most
    /// [`MAX_ANCHORS`]: returns `false` (and ignores the anchor) beyond.
    pub fn expect_anchor(&mut self, anchor: ChainHead) -> bool {
        if self.anchor_count >= MAX_ANCHORS {
            return false;
        }
        self.anchor_count += 1;
        self.anchors
            .entry(anchor.seq)
            .or_default()
            .push((anchor.hash, None));
        true
    }

    /// Checks the next record.
    pub fn push(&mut self, record: &AuditRecord) {
        self.records_checked = self.records_checked.saturating_add(1);
        if let Some(anchored) = self.anchors.get_mut(&record.seq) {
            for (_, found) in anchored.iter_mut().filter(|(_, found)| found.is_none()) {
                *found = Some(record.hash.clone());
            }
        }
        if let Some(previous) = self.last_stored_seq
            && record.seq <= previous
        {
            self.report(
                record.seq,
                ProblemKind::Reordered,
                format!("seq {} comes after seq {previous}", record.seq),
            );
        }
        self.last_stored_seq = Some(record.seq);
        if self.head.as_ref().is_none_or(|h| record.seq > h.seq) {
            self.head = Some(ChainHead {
                seq: record.seq,
                hash: record.hash.clone(),
            });
        }

        match &record.key_id {
            None => {
                self.legacy_records = self.legacy_records.saturating_add(1);
                if self.keyed_seen {
                    self.report(
                        record.seq,
                        ProblemKind::Unkeyed,
                        format!(
                            "record {} is unkeyed but comes after keyed records: it was written \
                             or rewritten without the key",
                            record.seq
                        ),
                    );
                }
            }
            Some(key_id) => {
                self.keyed_seen = true;
                if key_id != self.key.id() {
                    self.flush_run();
                    self.last_shift = 0;
                    self.report(
                        record.seq,
                        ProblemKind::OtherKey,
                        format!(
                            "record {} is keyed with audit key {key_id}, not with this \
                             configuration's key {}",
                            record.seq,
                            self.key.id()
                        ),
                    );
                    self.place(record.seq, record, true);
                    return;
                }
            }
        }

        let written = BodyParts::new(record)
            .ok()
            .and_then(|body| self.written_seq(record, &body));
        let Some(written) = written else {
            self.flush_run();
            self.last_shift = 0;
            self.report(
                record.seq,
                ProblemKind::Edited,
                format!(
                    "record {}: its contents do not match its hash (changed after it was written)",
                    record.seq
                ),
            );
            // Keep its place so that the next record's link is checked against its stored
            // hash: an edit that left the hash alone is then reported once, here.
            self.place(record.seq, record, true);
            return;
        };

        let shift = written.saturating_sub(record.seq);
        if shift == 0 {
            self.flush_run();
        } else {
            self.note_moved(record.seq, shift);
        }
        self.last_shift = shift;

        let mut reported = false;
        if written == 1 || record.prev_hash == GENESIS_HASH {
            if written != 1 || record.prev_hash != GENESIS_HASH {
                reported = true;
                self.report(
                    record.seq,
                    ProblemKind::BadGenesis,
                    format!(
                        "record {} (written as seq {written}) has prev_hash {}: only seq 1 links \
                         to the genesis hash",
                        record.seq, record.prev_hash
                    ),
                );
            }
        } else {
            self.check_link(written, record);
        }
        if self.placed.contains_key(&written) || written < self.next_unaccounted {
            self.report(
                record.seq,
                ProblemKind::Reordered,
                format!(
                    "record {} duplicates the record written as seq {written}, already seen",
                    record.seq
                ),
            );
            return;
        }
        self.place(written, record, reported);
    }

    /// The report. Records missing after the last one read are seen only against an anchor
    /// ([`Verifier::expect_anchor`]).
    pub fn finish(mut self) -> VerifyReport {
        self.flush_run();
        while let Some((written, placed)) = self.placed.pop_first() {
            self.account(written, &placed);
        }
        if !self.keyed_seen
            && self.legacy_records > 0
            && let Some(head) = &self.head
        {
            let seq = head.seq;
            self.report(
                seq,
                ProblemKind::Unkeyed,
                format!(
                    "the newest record (seq {seq}) and all {} records before it are unkeyed: \
                     nothing keyed vouches for them (before the chain was keyed they could be \
                     rewritten by anyone with write access); any keyed append seals them",
                    self.legacy_records
                ),
            );
        }
        let last = self.head.as_ref().map(|h| h.seq);
        let mut anchors_checked = 0u64;
        for (seq, anchored) in std::mem::take(&mut self.anchors) {
            for (hash, found) in anchored {
                anchors_checked = anchors_checked.saturating_add(1);
                match found {
                    Some(found) if found == hash => {}
                    Some(found) => self.report(
                        seq,
                        ProblemKind::AnchorMismatch,
                        format!(
                            "record {seq} has hash {found}, the anchor holds {hash}: it or a record \
                             before it was rewritten, removed or moved"
                        ),
                    ),
                    None if last.is_none_or(|last| seq > last) => {
                        let end = last.map_or_else(|| "is empty".to_owned(), |l| {
                            format!("ends at seq {l}")
                        });
                        self.report(
                            seq,
                            ProblemKind::Truncated,
                            format!(
                                "an anchor holds seq {seq} but the log {end}: the newest records \
                                 were removed"
                            ),
                        );
                    }
                    None => self.report(
                        seq,
                        ProblemKind::AnchorMismatch,
                        format!("no record has the anchored seq {seq}: it was removed or moved"),
                    ),
                }
            }
        }
        self.problems.sort_by_key(|p| (p.seq, p.kind));
        VerifyReport {
            records_checked: self.records_checked,
            problems: self.problems,
            problems_not_listed: self.problems_not_listed,
            head: self.head,
            legacy_records: self.legacy_records,
            anchors_checked,
        }
    }

    /// The seq the record was written with, if its hash matches under any likely one.
    fn written_seq(&self, record: &AuditRecord, body: &BodyParts) -> Option<i64> {
        let from_chain = if record.prev_hash == GENESIS_HASH {
            Some(1)
        } else {
            self.by_hash
                .get(&record.prev_hash)
                .and_then(|p| p.checked_add(1))
        };
        let from_shift = (self.last_shift != 0)
            .then(|| record.seq.checked_add(self.last_shift))
            .flatten();
        let nearby = (1..=SEARCH_DISTANCE)
            .flat_map(|d| [record.seq.checked_add(d), record.seq.checked_sub(d)])
            .flatten();
        [Some(record.seq), from_chain, from_shift]
            .into_iter()
            .flatten()
            .chain(nearby)
            .find(|&seq| body.hash(seq, &self.key).as_deref() == Some(record.hash.as_str()))
    }

    /// Checks that `record`, written as `written`, links to the record written before it, now
    /// or when that one shows up.
    fn check_link(&mut self, written: i64, record: &AuditRecord) {
        let predecessor = written.saturating_sub(1);
        if let Some(placed) = self.placed.get_mut(&predecessor) {
            if placed.hash != record.prev_hash && !placed.reported {
                placed.reported = true;
                let stored_seq = placed.stored_seq;
                self.report(
                    stored_seq,
                    ProblemKind::Edited,
                    format!(
                        "record {stored_seq}: its hash is not the prev_hash of the record after \
                         it (seq {}): it was rewritten and its hash recomputed",
                        record.seq
                    ),
                );
            }
        } else if predecessor >= self.next_unaccounted {
            // Not seen yet (moved later) or missing: settled when placed or accounted for.
            self.waiting
                .insert(predecessor, (record.prev_hash.clone(), record.seq));
            while self.waiting.len() > VERIFY_WINDOW {
                self.waiting.pop_first();
            }
        }
    }

    fn place(&mut self, written: i64, record: &AuditRecord, reported: bool) {
        if let Some((expected, waiter)) = self.waiting.remove(&written)
            && expected != record.hash
            && !reported
        {
            self.report(
                record.seq,
                ProblemKind::Edited,
                format!(
                    "record {}: its hash is not the prev_hash of the record written after it \
                     (seq {waiter}): it was rewritten and its hash recomputed",
                    record.seq
                ),
            );
        }
        if self.placed.contains_key(&written) {
            return;
        }
        self.by_hash.insert(record.hash.clone(), written);
        self.placed.insert(
            written,
            Placed {
                hash: record.hash.clone(),
                stored_seq: record.seq,
                reported,
            },
        );
        while self.placed.len() > VERIFY_WINDOW {
            if let Some((oldest, placed)) = self.placed.pop_first() {
                self.account(oldest, &placed);
            }
        }
    }

    /// Retires a record taken out of the window (the lowest written seq placed): every seq
    /// below it never placed is missing.
    fn account(&mut self, written: i64, placed: &Placed) {
        if self.by_hash.get(&placed.hash) == Some(&written) {
            self.by_hash.remove(&placed.hash);
        }
        if written > self.next_unaccounted {
            let (first, last) = (self.next_unaccounted, written - 1);
            let which = if first == last {
                format!("seq {first}")
            } else {
                format!("seqs {first}..={last}")
            };
            self.report(
                first,
                ProblemKind::Missing,
                format!("no record of the chain was written as {which}: removed"),
            );
        }
        self.next_unaccounted = self.next_unaccounted.max(written.saturating_add(1));
        // Links to predecessors now known missing were reported with them.
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() >= self.next_unaccounted {
                break;
            }
            entry.remove();
        }
    }

    fn note_moved(&mut self, stored_seq: i64, shift: i64) {
        if let Some(run) = &mut self.run
            && run.shift == shift
            && run.last.checked_add(1) == Some(stored_seq)
        {
            run.last = stored_seq;
            return;
        }
        self.flush_run();
        self.run = Some(MovedRun {
            first: stored_seq,
            last: stored_seq,
            shift,
        });
    }

    fn flush_run(&mut self) {
        let Some(run) = self.run.take() else { return };
        let detail = if run.first == run.last {
            format!(
                "record {} was written as seq {}",
                run.first,
                run.first.saturating_add(run.shift)
            )
        } else {
            format!(
                "records {}..={} were written as seqs {}..={}",
                run.first,
                run.last,
                run.first.saturating_add(run.shift),
                run.last.saturating_add(run.shift)
            )
        };
        self.report(run.first, ProblemKind::Reordered, detail);
    }

    fn report(&mut self, seq: i64, kind: ProblemKind, detail: String) {
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(Problem { seq, kind, detail });
        } else {
            self.problems_not_listed = self.problems_not_listed.saturating_add(1);
        }
    }
}

/// Verifies a whole log given in `seq` order (see [`Verifier`]).
pub fn verify(records: impl IntoIterator<Item = AuditRecord>, key: &AuditKey) -> VerifyReport {
    let mut verifier = Verifier::new(key);
    for record in records {
        verifier.push(&record);
    }
    verifier.finish()
}

/// Verifies everything in `log` with `verifier` (from [`Verifier::new`], with any anchors
/// added), reading it `page_size` records at a time (clamped to `1..=MAX_AUDIT_PAGE`).
pub async fn verify_store(
    log: &dyn AuditLog,
    mut verifier: Verifier,
    page_size: u32,
) -> Result<VerifyReport, StoreError> {
    // Tampered rows may hold any seq, zero and negative included.
    let mut from = i64::MIN;
    loop {
        let page = log.all_from(from, page_size).await?;
        let Some(last) = page.last().map(|r| r.seq) else {
            break;
        };
        for record in &page {
            verifier.push(record);
        }
        match last.checked_add(1) {
            // Each page starts after the previous one: the loop ends with the table.
            Some(next) if next > from => from = next,
            _ => break,
        }
    }
    Ok(verifier.finish())
}

pub(crate) fn page_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_AUDIT_PAGE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> AuditKey {
        AuditKey::from_bytes([7u8; 32])
    }

    /// Appends `n` events the way the stores do, `at` = 1000 * seq.
    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for i in 1..=n {
            let event = AuditEvent::new(format!("key:{i}"), AuditAction::JobRead, "ok")
                .tenant("acme")
                .target(format!("job-{i}"))
                .detail(json!({"n": i}));
            let last = records.last().map(|r| (r.seq, r.at, r.hash.clone()));
            let checked = check_event(event).unwrap();
            records.push(
                next_record(checked.event, &checked.detail_json, last, 1000 * i, &key()).unwrap(),
            );
        }
        records
    }

    fn report_legacy(records: &[AuditRecord]) -> u64 {
        verify(records.to_vec()).legacy_records
    }

    fn kinds(report: &VerifyReport) -> Vec<(i64, ProblemKind)> {
        report.problems.iter().map(|p| (p.seq, p.kind)).collect()
    }

    /// Recomputes a record's hash after an edit (what a careful forger would do).
    fn rehash(record: &mut AuditRecord) {
        record.hash = record.compute_hash(&key()).unwrap();
    }

    fn verify(records: Vec<AuditRecord>) -> VerifyReport {
        super::verify(records, &key())
    }

    /// The vector was computed independently with Python's `blake3` package (1.0):
    /// `blake3.blake3(bytes.fromhex("00"*32) + json.dumps(body, sort_keys=True,
    /// separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()` for this body.
    #[test]
    fn known_vector() {
        let record = AuditRecord {
            seq: 1,
            at: 1_700_000_000_123,
            actor: "key:k_01".into(),
            action: "key_created".into(),
            tenant: Some("acme".into()),
            target: None,
            outcome: "ok".into(),
            detail: json!({"zeta": [1, -2, true, null], "alpha": {"b": "é\"\\\n\u{1}", "a": 18446744073709551615u64}, "Z": "日本"}),
            prev_hash: GENESIS_HASH.into(),
            key_id: None,
            hash: String::new(),
        };
        let body = BodyParts::new(&record).unwrap();
        assert_eq!(
            format!("{}1{}", body.before_seq, body.after_seq),
            r#"{"action":"key_created","actor":"key:k_01","at":1700000000123,"detail":{"Z":"日本","alpha":{"a":18446744073709551615,"b":"é\"\\\n\u0001"},"zeta":[1,-2,true,null]},"outcome":"ok","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"target":null,"tenant":"acme"}"#
        );
        // A legacy record's hash needs no key: any key gives the same BLAKE3.
        assert_eq!(
            record.compute_hash(&key()).unwrap(),
            "ac6119fcbcad9b21bc84ca977b2bd338bbe5bdea2945679f1b0111d5ee8e8a9a"
        );
        // The second link: prev_hash bytes are part of the input.
        let second = AuditRecord {
            seq: 2,
            prev_hash: "ac6119fcbcad9b21bc84ca977b2bd338bbe5bdea2945679f1b0111d5ee8e8a9a".into(),
            detail: json!({}),
            ..record
        };
        assert_eq!(
            second.compute_hash(&AuditKey::from_bytes([1; 32])).unwrap(),
            "e119b9fa16a026c412681eb2b679b25e18f60d488f4eccb44822260ac65af9da"
        );
    }

    /// The keyed vectors were computed independently with Python's `hmac` and `hashlib`:
    /// `key = hmac.new(secret, b"ndf audit chain key v1", "sha256").digest()`, the key id the
    /// first 16 hex digits of `hmac.new(key, b"ndf audit key id v1", "sha256")`, and
    /// `hmac.new(key, bytes.fromhex(prev_hash) + canonical(body).encode(), "sha256")` for the
    /// ten-member body; the anchor is `hmac.new(key, b"ndf-audit-anchor:1:ID:2:H2", "sha256")`.
    #[test]
    fn known_keyed_vector() {
        let key = AuditKey::derive(b"an api_key_secret for tests").unwrap();
        assert_eq!(key.id(), "4e23bb599bf4852f");
        assert_eq!(
            format!("{key:?}"),
            "AuditKey { id: \"4e23bb599bf4852f\", .. }"
        );
        let record = AuditRecord {
            seq: 1,
            at: 1_700_000_000_123,
            actor: "key:k_01".into(),
            action: "key_created".into(),
            tenant: Some("acme".into()),
            target: None,
            outcome: "ok".into(),
            detail: json!({"zeta": [1, -2, true, null], "alpha": {"b": "é\"\\\n\u{1}", "a": 18446744073709551615u64}, "Z": "日本"}),
            prev_hash: GENESIS_HASH.into(),
            key_id: Some(key.id().into()),
            hash: String::new(),
        };
        let body = BodyParts::new(&record).unwrap();
        assert_eq!(
            format!("{}1{}", body.before_seq, body.after_seq),
            r#"{"action":"key_created","actor":"key:k_01","at":1700000000123,"detail":{"Z":"日本","alpha":{"a":18446744073709551615,"b":"é\"\\\n\u0001"},"zeta":[1,-2,true,null]},"key_id":"4e23bb599bf4852f","outcome":"ok","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"target":null,"tenant":"acme"}"#
        );
        let h1 = "50697270a6aa8f38e86089d9cf145f7c262d8fb22d9e34cd4c6ea71df49bdd00";
        assert_eq!(record.compute_hash(&key).unwrap(), h1);
        let second = AuditRecord {
            seq: 2,
            prev_hash: h1.into(),
            detail: json!({}),
            ..record
        };
        let h2 = "a9b5f650817e470b0e089d68ee0c80ba642008dbe2206322ceb7880cbcda2f11";
        assert_eq!(second.compute_hash(&key).unwrap(), h2);
        // Another key gives another MAC.
        assert_ne!(
            second.compute_hash(&AuditKey::from_bytes([0; 32])).unwrap(),
            h2
        );
        let head = ChainHead {
            seq: 2,
            hash: h2.into(),
        };
        let token = anchor_token(&head, &key);
        assert_eq!(
            token,
            "ndf-audit-anchor:1:4e23bb599bf4852f:2:a9b5f650817e470b0e089d68ee0c80ba642008dbe2206322ceb7880cbcda2f11:d0f1a7a5c8afd4a412c8402accd05df485e35140b158933180533e661ce5189a"
        );
        assert_eq!(parse_anchor(&token, &key), Ok(head));
    }

    #[test]
    fn anchors_are_checked() {
        let key = key();
        let head = ChainHead {
            seq: 41,
            hash: "ab".repeat(32),
        };
        let token = anchor_token(&head, &key);
        assert_eq!(
            parse_anchor(&format!("  {token}\n"), &key),
            Ok(head.clone())
        );
        // Another key: named, not just "bad".
        assert!(matches!(
            parse_anchor(&token, &AuditKey::from_bytes([8; 32])),
            Err(AnchorError::OtherKey { .. })
        ));
        // A lower seq or another hash with the old MAC.
        let lowered = token.replacen(":41:", ":40:", 1);
        assert_eq!(parse_anchor(&lowered, &key), Err(AnchorError::BadMac));
        let other_hash = token.replacen(&"ab".repeat(32), &"cd".repeat(32), 1);
        assert_eq!(parse_anchor(&other_hash, &key), Err(AnchorError::BadMac));
        for bad in [
            "",
            "ndf-audit-anchor:1:",
            &token[..token.len() - 1],
            &format!("{token}:x"),
            &token.replacen(":41:", ":-1:", 1),
            &token.replacen(":41:", ":x:", 1),
            &token.replacen("ndf-audit-anchor:1:", "ndf-audit-anchor:2:", 1),
        ] {
            assert_eq!(
                parse_anchor(bad, &key),
                Err(AnchorError::Malformed),
                "{bad}"
            );
        }
    }

    /// Records were removed and the chain recomputed without the key (unkeyed, as the
    /// verifier of an unkeyed chain could not tell): every recomputed record is reported.
    #[test]
    fn recomputed_without_the_key() {
        let mut records = chain(10);
        records.remove(4);
        let mut prev = GENESIS_HASH.to_owned();
        for (i, record) in records.iter_mut().enumerate() {
            record.seq = i as i64 + 1;
            record.key_id = None;
            record.prev_hash.clone_from(&prev);
            rehash(record);
            prev.clone_from(&record.hash);
        }
        let report = verify(records.clone());
        assert!(!report.is_clean());
        assert_eq!(kinds(&report), [(9, ProblemKind::Unkeyed)], "{report:?}");
        // Recomputed under a guessed key, with the right key id: every record is edited.
        let guessed = AuditKey::from_bytes([9; 32]);
        let mut prev = GENESIS_HASH.to_owned();
        for record in &mut records {
            record.key_id = Some(key().id().into());
            record.prev_hash.clone_from(&prev);
            record.hash = record.compute_hash(&guessed).unwrap();
            prev.clone_from(&record.hash);
        }
        let report = verify(records.clone());
        assert!(
            report.problems.len() >= 9
                && report
                    .problems
                    .iter()
                    .all(|p| p.kind == ProblemKind::Edited),
            "{report:?}"
        );
        // With the guessed key's own id they are records of another key.
        for record in &mut records {
            record.key_id = Some(guessed.id().into());
        }
        let report = verify(records);
        assert_eq!(report.problems.len(), 9, "{report:?}");
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.kind == ProblemKind::OtherKey)
        );
    }

    /// A legacy (unkeyed) prefix followed by keyed records verifies; unkeyed records after a
    /// keyed one do not; an all-legacy log is reported until a keyed record seals it.
    #[test]
    fn legacy_prefix() {
        let mut records = chain(8);
        let mut prev = GENESIS_HASH.to_owned();
        for record in &mut records[..5] {
            record.key_id = None;
            record.prev_hash.clone_from(&prev);
            rehash(record);
            prev.clone_from(&record.hash);
        }
        records[5].prev_hash.clone_from(&prev);
        let mut prev_keyed = records[4].hash.clone();
        for record in &mut records[5..] {
            record.prev_hash.clone_from(&prev_keyed);
            rehash(record);
            prev_keyed.clone_from(&record.hash);
        }
        let report = verify(records.clone());
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.legacy_records, 5);
        // Only the legacy prefix: not sealed.
        let report = verify(records[..5].to_vec());
        assert_eq!(kinds(&report), [(5, ProblemKind::Unkeyed)], "{report:?}");
        // Rewriting a legacy record (and every legacy hash after it) breaks the keyed link.
        let mut rewritten = records.clone();
        rewritten[1].actor = "someone-else".into();
        let mut prev = rewritten[0].hash.clone();
        for record in &mut rewritten[1..5] {
            record.prev_hash.clone_from(&prev);
            rehash(record);
            prev.clone_from(&record.hash);
        }
        assert_eq!(
            kinds(&verify(rewritten)),
            [(5, ProblemKind::Edited)],
            "the first keyed record no longer links to the rewritten prefix"
        );
        // A keyed record downgraded to an unkeyed one.
        let mut downgraded = records;
        downgraded[6].key_id = None;
        rehash(&mut downgraded[6]);
        let report = verify(downgraded);
        assert!(
            kinds(&report).contains(&(7, ProblemKind::Unkeyed)),
            "{report:?}"
        );
    }

    #[test]
    fn anchors_find_truncation_and_rewrites() {
        let records = chain(10);
        let anchor = ChainHead {
            seq: 10,
            hash: records[9].hash.clone(),
        };
        let with_anchor = |records: &[AuditRecord], anchor: &ChainHead| {
            let mut verifier = Verifier::new(&key());
            assert!(verifier.expect_anchor(anchor.clone()));
            for record in records {
                verifier.push(record);
            }
            verifier.finish()
        };
        let report = with_anchor(&records, &anchor);
        assert!(
            report.is_clean() && report.anchors_checked == 1,
            "{report:?}"
        );
        // The newest two removed: clean without the anchor, truncated with it.
        assert!(verify(records[..8].to_vec()).is_clean());
        let report = with_anchor(&records[..8], &anchor);
        assert_eq!(kinds(&report), [(10, ProblemKind::Truncated)], "{report:?}");
        assert_eq!(
            kinds(&with_anchor(&[], &anchor)),
            [(10, ProblemKind::Truncated)]
        );
        // Another record at the anchored seq.
        let other = ChainHead {
            seq: 10,
            hash: "ab".repeat(32),
        };
        assert_eq!(
            kinds(&with_anchor(&records, &other)),
            [(10, ProblemKind::AnchorMismatch)]
        );
        // A middle record removed and the rest renumbered: the anchored seq now holds the
        // wrong record (besides the chain's own findings).
        let mut renumbered = records.clone();
        renumbered.remove(3);
        for record in renumbered.iter_mut().skip(3) {
            record.seq -= 1;
        }
        let anchor9 = ChainHead {
            seq: 9,
            hash: records[8].hash.clone(),
        };
        let report = with_anchor(&renumbered, &anchor9);
        assert!(
            kinds(&report).contains(&(9, ProblemKind::AnchorMismatch)),
            "{report:?}"
        );
        let mut verifier = Verifier::new(&key());
        for _ in 0..MAX_ANCHORS {
            assert!(verifier.expect_anchor(anchor.clone()));
        }
        assert!(!verifier.expect_anchor(anchor));
    }

    #[test]
    fn failed_appends_are_summarised() {
        let pending = PendingFailures::default();
        assert!(pending.take().is_none());
        pending.note(AuditAction::JobDeleted, 2000);
        pending.note(AuditAction::JobRead, 1000);
        pending.note(AuditAction::JobDeleted, 3000);
        let taken = pending.take().unwrap();
        assert!(pending.take().is_none());
        assert_eq!(taken.checked.event.action, AuditAction::AuditAppendFailed);
        assert_eq!(taken.checked.event.outcome, "failed");
        assert_eq!(
            taken.checked.detail_json,
            r#"{"actions":{"job_deleted":2,"job_read":1},"events":3,"first_at":2000,"last_at":3000}"#
        );
        // Given back after a failed append, merged with newer failures.
        pending.note(AuditAction::KeyCreated, 500);
        pending.restore(taken);
        let again = pending.take().unwrap();
        assert_eq!(
            again.checked.detail_json,
            r#"{"actions":{"job_deleted":2,"job_read":1,"key_created":1},"events":4,"first_at":500,"last_at":3000}"#
        );
    }

    /// The split body used for hashing equals the generic canonical writer on the record.
    #[test]
    fn body_parts_match_canonical_json() {
        for record in chain(3) {
            let mut value = serde_json::to_value(&record).unwrap();
            value.as_object_mut().unwrap().remove("hash");
            let mut generic = String::new();
            write_canonical(&mut generic, &value, 10).unwrap();
            let body = BodyParts::new(&record).unwrap();
            assert_eq!(
                format!("{}{}{}", body.before_seq, record.seq, body.after_seq),
                generic
            );
            let line = record.to_canonical_json().unwrap();
            let back: AuditRecord = serde_json::from_str(&line).unwrap();
            assert_eq!(back, record);
        }
    }

    #[test]
    fn action_names_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>().ok(), Some(action));
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                format!("\"{}\"", action.as_str())
            );
        }
        assert!("nope".parse::<AuditAction>().is_err());
    }

    #[test]
    fn events_are_checked() {
        let ok = AuditEvent::new("admin", AuditAction::ConfigChanged, "ok");
        assert!(check_event(ok.clone()).is_ok());
        let bad = [
            AuditEvent::new("", AuditAction::JobRead, "ok"),
            AuditEvent::new(
                "a".repeat(MAX_AUDIT_ACTOR_LEN + 1),
                AuditAction::JobRead,
                "ok",
            ),
            AuditEvent::new("a", AuditAction::JobRead, "maybe"),
            ok.clone().tenant("t".repeat(MAX_AUDIT_TENANT_LEN + 1)),
            ok.clone().target("t".repeat(MAX_AUDIT_TARGET_LEN + 1)),
            ok.clone().detail(json!([1])),
            ok.clone().detail(json!({"ratio": 0.5})),
            ok.clone()
                .detail(json!({"s": "x".repeat(MAX_AUDIT_DETAIL_LEN)})),
            ok.clone()
                .detail(json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}})),
        ];
        for event in bad {
            assert!(
                matches!(check_event(event.clone()), Err(StoreError::Invalid(_))),
                "{event:?}"
            );
        }
        // Depth 8 (the object itself counts) is still accepted.
        let deep = ok.detail(json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}));
        assert!(check_event(deep).is_ok());
    }

    #[test]
    fn arbitrarily_deep_values_do_not_overflow() {
        // Deeper than serde_json's own parser allows (128): the check stops at 8 levels
        // without recursing further.
        let mut value = json!(1);
        for _ in 0..1000 {
            value = Value::Array(vec![value]);
        }
        let event =
            AuditEvent::new("a", AuditAction::AdminAction, "ok").detail(json!({"deep": value}));
        assert!(matches!(check_event(event), Err(StoreError::Invalid(_))));
    }

    fn append_to(last: Option<&AuditRecord>, now: Millis) -> Result<AuditRecord, StoreError> {
        let checked = check_event(AuditEvent::new("a", AuditAction::JobRead, "ok")).unwrap();
        let link = last.map(|r| (r.seq, r.at, r.hash.clone()));
        next_record(checked.event, &checked.detail_json, link, now, &key())
    }

    #[test]
    fn at_never_decreases_and_genesis() {
        let first = append_to(None, 500).unwrap();
        assert_eq!(
            (first.seq, first.at, first.prev_hash.as_str()),
            (1, 500, GENESIS_HASH)
        );
        let second = append_to(Some(&first), 400).unwrap();
        assert_eq!((second.seq, second.at), (2, 500));
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(second.compute_hash(&key()).unwrap(), second.hash);
        assert_eq!(second.key_id.as_deref(), Some(key().id()));
        // A head whose hash was destroyed cannot be chained to.
        let broken = AuditRecord {
            hash: "zz".into(),
            ..second
        };
        assert!(matches!(
            append_to(Some(&broken), 1),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn intact_chain_is_clean() {
        let report = verify(chain(50));
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.records_checked, 50);
        assert_eq!(report.head.map(|h| h.seq), Some(50));
        assert!(verify(Vec::new()).is_clean());
        assert_eq!(report_legacy(&chain(3)), 0);
    }

    #[test]
    fn edited_detail() {
        let mut records = chain(10);
        records[4].detail = json!({"n": 999});
        assert_eq!(kinds(&verify(records)), [(5, ProblemKind::Edited)]);
    }

    #[test]
    fn edited_and_rehashed_is_caught_by_the_next_link() {
        let mut records = chain(10);
        records[4].actor = "someone-else".into();
        rehash(&mut records[4]);
        assert_eq!(kinds(&verify(records)), [(5, ProblemKind::Edited)]);
    }

    #[test]
    fn edited_hash_column() {
        let mut records = chain(10);
        records[4].hash = "f".repeat(64);
        assert_eq!(kinds(&verify(records)), [(5, ProblemKind::Edited)]);
        let mut records = chain(10);
        records[4].prev_hash = "not hex".into();
        assert_eq!(kinds(&verify(records)), [(5, ProblemKind::Edited)]);
    }

    #[test]
    fn removed_records() {
        let mut records = chain(10);
        records.remove(3);
        assert_eq!(kinds(&verify(records)), [(4, ProblemKind::Missing)]);
        let mut records = chain(10);
        records.drain(0..2);
        let report = verify(records);
        assert_eq!(kinds(&report), [(1, ProblemKind::Missing)]);
        assert!(report.problems[0].detail.contains("1..=2"), "{report:?}");
    }

    #[test]
    fn removed_and_renumbered() {
        let mut records = chain(10);
        records.remove(3);
        for record in records.iter_mut().skip(3) {
            record.seq -= 1;
        }
        let report = verify(records);
        assert_eq!(
            kinds(&report),
            [(4, ProblemKind::Missing), (4, ProblemKind::Reordered)],
            "{report:?}"
        );
        assert!(report.problems[1].detail.contains("4..=9"), "{report:?}");
    }

    #[test]
    fn swapped_contents() {
        let mut records = chain(10);
        records.swap(4, 5);
        records[4].seq = 5;
        records[5].seq = 6;
        assert_eq!(
            kinds(&verify(records)),
            [(5, ProblemKind::Reordered), (6, ProblemKind::Reordered)]
        );
    }

    #[test]
    fn moved_far() {
        // Record 3 moved to the end, the others renumbered to close the gap.
        let mut records = chain(40);
        let moved = records.remove(2);
        records.push(moved);
        for (i, record) in records.iter_mut().enumerate() {
            record.seq = i as i64 + 1;
        }
        let report = verify(records);
        assert!(!report.is_clean());
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.kind == ProblemKind::Reordered || p.kind == ProblemKind::Missing),
            "{report:?}"
        );
    }

    #[test]
    fn out_of_seq_order_input() {
        let mut records = chain(5);
        records.swap(1, 2);
        let report = verify(records);
        assert!(
            kinds(&report).contains(&(2, ProblemKind::Reordered)),
            "{report:?}"
        );
        // A duplicated record.
        let mut records = chain(5);
        let copy = records[2].clone();
        records.insert(3, copy);
        let report = verify(records);
        assert!(kinds(&report).iter().all(|k| k.1 == ProblemKind::Reordered));
        assert!(!report.is_clean());
    }

    #[test]
    fn forged_genesis() {
        let mut records = chain(3);
        records[0].prev_hash = "ab".repeat(32);
        rehash(&mut records[0]);
        assert_eq!(kinds(&verify(records)), [(1, ProblemKind::BadGenesis)]);
    }

    #[test]
    fn resumes_after_an_anchor() {
        let records = chain(10);
        let anchor = ChainHead {
            seq: records[3].seq,
            hash: records[3].hash.clone(),
        };
        let mut verifier = Verifier::after(&anchor, &key());
        for record in &records[4..] {
            verifier.push(record);
        }
        assert!(verifier.finish().is_clean());
        let wrong = ChainHead {
            seq: 4,
            hash: "0".repeat(63) + "1",
        };
        let mut verifier = Verifier::after(&wrong, &key());
        for record in &records[4..] {
            verifier.push(record);
        }
        assert!(!verifier.finish().is_clean());
    }

    #[test]
    fn many_problems_are_bounded() {
        let mut records = chain(2500);
        for record in &mut records {
            record.actor = "x".into();
        }
        let report = verify(records);
        assert_eq!(report.problems.len(), MAX_REPORTED_PROBLEMS);
        assert_eq!(report.problems_not_listed, 1500);
    }

    proptest::proptest! {
        /// Arbitrary records never panic the verifier or the canonical writer.
        #[test]
        fn arbitrary_records_never_panic(
            seqs in proptest::collection::vec(-3i64..30, 0..30),
            text in "\\PC{0,12}",
        ) {
            let mut records = chain(12);
            for (i, seq) in seqs.iter().enumerate() {
                if let Some(record) = records.get_mut(i % 12) {
                    record.seq = *seq;
                    if i % 3 == 0 {
                        record.prev_hash.clone_from(&text);
                    }
                }
            }
            let _ = verify(records);
        }
    }
}
