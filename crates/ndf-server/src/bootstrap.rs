//! Bootstrap API keys (`bootstrap_keys_file`): keys a platform declares, typically a
//! Kubernetes Secret mounted as a file, so a fresh store can serve on a non-loopback address
//! without anybody running `ndf keys create` against it first.
//!
//! The file holds one key per line, `TENANT SCOPE[,SCOPE…] NAME… KEY` (the name may hold
//! spaces; the key is the last field), blank lines and `#` comments ignored; `ndf keys
//! generate` prints such a line. At start `ndf serve` reads it (before deciding whether it may
//! listen) and, per line: a key whose id the store does not hold is created (its keyed hash,
//! like `ndf keys create`) and audited (`key_created`, actor `bootstrap`); a key the store holds
//! is left as it is — a revoked one stays revoked (logged), the file never resurrects it.
//! A bad line stops the start with its line number; no error, log line or `Debug` output
//! shows a key.

use std::path::Path;

use ndf_store::{ApiKey, AuditAction, AuditEvent};

use crate::admin::check_new_key;
use crate::auth::{Scope, hash_key, key_id};
use crate::config::ConfigError;
use crate::util::now_millis;
use crate::{AppState, ServerError};

/// Largest bootstrap keys file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 10;

/// Most keys one file may declare.
pub const MAX_KEYS: usize = 1000;

/// One line of the file: a key with its tenant, scopes and name.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapKey {
    /// Tenant the key acts for.
    pub tenant: String,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// A name for people.
    pub name: String,
    key: String,
}

impl std::fmt::Debug for BootstrapKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapKey")
            .field("id", &self.id())
            .field("tenant", &self.tenant)
            .field("scopes", &self.scopes)
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl BootstrapKey {
    /// The key's public id.
    pub fn id(&self) -> &str {
        key_id(&self.key).unwrap_or_default()
    }

    /// A new random key (`auth::generate_key`) for `tenant`, `name` and `scopes`; `Err` says
    /// which argument is wrong.
    pub fn generate(tenant: &str, name: &str, scopes: &[String]) -> Result<Self, &'static str> {
        let (name, scopes) = check_new_key(tenant, name, scopes)?;
        let (_, key) = crate::auth::generate_key().ok_or("no randomness for a new key")?;
        Ok(BootstrapKey {
            tenant: tenant.to_owned(),
            scopes,
            name,
            key,
        })
    }

    /// The file's line for this key (it holds the key: write it only where secrets go).
    pub fn line(&self) -> String {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        format!(
            "{} {} {} {}",
            self.tenant,
            scopes.join(","),
            self.name,
            self.key
        )
    }

    /// The stored record of this key, hashed under `secret`.
    fn record(&self, secret: &[u8], now: i64) -> ApiKey {
        ApiKey {
            id: self.id().to_owned(),
            tenant: self.tenant.clone(),
            name: self.name.clone(),
            hash: hash_key(secret, &self.key),
            scopes: self.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: now,
            revoked_at: None,
        }
    }
}

/// One line: `Ok(None)` for a blank line or a comment; `Err` says what is wrong without
/// quoting the line.
pub fn parse_line(line: &str) -> Result<Option<BootstrapKey>, &'static str> {
    const SHAPE: &str =
        "expected TENANT SCOPE[,SCOPE...] NAME... KEY (as `ndf keys generate` prints)";
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (tenant, rest) = line.split_once(char::is_whitespace).ok_or(SHAPE)?;
    let (scopes, rest) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or(SHAPE)?;
    let (name, key) = rest.trim().rsplit_once(char::is_whitespace).ok_or(SHAPE)?;
    if key_id(key).is_none() {
        return Err("the last field is not an API key (ndf_<12 hex>_<64 hex>)");
    }
    let scopes: Vec<String> = scopes.split(',').map(str::to_owned).collect();
    let (name, scopes) = check_new_key(tenant, name, &scopes)?;
    Ok(Some(BootstrapKey {
        tenant: tenant.to_owned(),
        scopes,
        name,
        key: key.to_owned(),
    }))
}

/// Every key of a file's text; `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<BootstrapKey>, ConfigError> {
    let bad = |line: usize, problem: &'static str| ConfigError::BootstrapLine {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let mut keys: Vec<BootstrapKey> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(key) = parse_line(line).map_err(|p| bad(i + 1, p))? else {
            continue;
        };
        if keys.iter().any(|k| k.id() == key.id()) {
            return Err(bad(i + 1, "a key with this id is on an earlier line"));
        }
        if keys.len() == MAX_KEYS {
            return Err(bad(i + 1, "more than 1000 keys"));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Read and parse the file: it must be a regular file (a Secret volume's symbolic link to one
/// is followed) of at most [`MAX_FILE_BYTES`], not writable by every user (anyone could add an
/// admin key); readable by every user is logged.
pub fn read_file(path: &Path) -> Result<Vec<BootstrapKey>, ConfigError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    const WHAT: &str = "bootstrap keys file";
    let file = std::fs::File::open(path).map_err(|e| ConfigError::file(WHAT, path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| ConfigError::file(WHAT, path, e))?;
    if !meta.is_file() {
        return Err(ConfigError::file(WHAT, path, "not a regular file"));
    }
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        return Err(ConfigError::file(
            WHAT,
            path,
            "writable by every user: anyone could add a key (make it 0400 or 0440)",
        ));
    }
    if mode & 0o004 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o7777),
            "the bootstrap keys file is readable by every user (a Kubernetes Secret volume: set defaultMode 0440)"
        );
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ConfigError::file(WHAT, path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::file(WHAT, path, "larger than 64 KiB"));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| ConfigError::file(WHAT, path, "not UTF-8 text"))?;
    parse(&text, path)
}

/// What [`apply`] did, by key id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Created now.
    pub created: Vec<String>,
    /// Already in the store, active.
    pub present: Vec<String>,
    /// In the store, revoked: left revoked.
    pub revoked: Vec<String>,
}

/// Make sure every key of `keys` exists in the store of `state` (see the module
/// documentation). Needs `api_key_secret` (configured, or the embedded store's own).
pub async fn apply(state: &AppState, keys: &[BootstrapKey]) -> Result<Applied, ServerError> {
    let mut out = Applied::default();
    if keys.is_empty() {
        return Ok(out);
    }
    let secret = crate::api_key_secret(&state.config)?.ok_or_else(|| {
        ConfigError::invalid(
            "bootstrap_keys_file needs api_key_secret (NDF_API_KEY_SECRET) with a store other \
             than the embedded one",
        )
    })?;
    for key in keys {
        let id = key.id().to_owned();
        let stored = match state.keys.get_key(&id).await? {
            Some(stored) => stored,
            None => {
                let record = key.record(&secret, now_millis());
                match state.keys.create_key(&record).await {
                    Ok(()) => {
                        tracing::info!(key_id = %id, tenant = %key.tenant, "bootstrap key created");
                        crate::audit::record(
                            state,
                            AuditEvent::new("bootstrap", AuditAction::KeyCreated, "ok")
                                .tenant(&record.tenant)
                                .target(format!("key:{id}"))
                                .detail(serde_json::json!({
                                    "name": record.name,
                                    "scopes": record.scopes,
                                    "source": "bootstrap_keys_file",
                                })),
                        )
                        .await;
                        out.created.push(id);
                        continue;
                    }
                    // Another replica starting at once may have created it first.
                    Err(e) => match state.keys.get_key(&id).await? {
                        Some(stored) => stored,
                        None => return Err(e.into()),
                    },
                }
            }
        };
        if stored.revoked_at.is_some() {
            tracing::warn!(
                key_id = %id,
                "bootstrap key is revoked: it stays revoked (bootstrap_keys_file never restores \
                 a revoked key; remove its line)"
            );
            out.revoked.push(id);
            continue;
        }
        if stored.hash != hash_key(&secret, &key.key) {
            tracing::warn!(
                key_id = %id,
                "a stored key has this bootstrap key's id but another secret (or api_key_secret \
                 changed): the stored key is kept and the file's key does not authenticate"
            );
        } else if stored.tenant != key.tenant || stored.scopes != record_scopes(key) {
            tracing::warn!(
                key_id = %id,
                "the stored bootstrap key's tenant or scopes differ from the file: the store's \
                 are kept (revoke the key and add a new line to change them)"
            );
        } else {
            tracing::debug!(key_id = %id, "bootstrap key present");
        }
        out.present.push(id);
    }
    tracing::info!(
        created = out.created.len(),
        present = out.present.len(),
        revoked = out.revoked.len(),
        "bootstrap keys applied"
    );
    Ok(out)
}

fn record_scopes(key: &BootstrapKey) -> Vec<String> {
    key.scopes.iter().map(|s| s.as_str().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_key() -> String {
        crate::auth::generate_key().expect("randomness").1
    }

    #[test]
    fn generated_lines_parse_back_and_never_show_the_key_in_debug() {
        let k = BootstrapKey::generate(
            "ops",
            " Platform  bootstrap ",
            &["admin".into(), "extract".into()],
        )
        .unwrap();
        assert_eq!(k.name, "Platform  bootstrap");
        let line = k.line();
        assert!(
            line.starts_with("ops admin,extract Platform  bootstrap ndf_"),
            "{line}"
        );
        assert_eq!(parse_line(&line).unwrap(), Some(k.clone()));
        assert_eq!(parse_line(&format!("  {line}\t")).unwrap(), Some(k.clone()));
        let shown = format!("{k:?}");
        assert!(!shown.contains(&k.key) && shown.contains(k.id()), "{shown}");
        assert_eq!(
            BootstrapKey::generate("Ops", "n", &["admin".into()]),
            Err("tenant must be 1-64 of a-z 0-9 - _")
        );
    }

    #[test]
    fn bad_lines_name_their_number_and_never_their_content() {
        let key = a_key();
        let secret_part = key.rsplit('_').next().unwrap().to_owned();
        let good = format!("acme admin ops key {key}");
        let cases = [
            (format!("acme admin {key}"), "expected TENANT"),
            (format!("acme {key}"), "expected TENANT"),
            (
                format!("acme admin name {}", &key[..key.len() - 1]),
                "not an API key",
            ),
            (format!("acme admin name {key}x"), "not an API key"),
            (format!("acme admin,root name {key}"), "scopes are"),
            (format!("Acme admin name {key}"), "tenant must be"),
            (format!("acme admin name {key} trailing"), "not an API key"),
            (good.clone(), "a key with this id is on an earlier line"),
        ];
        for (bad, problem) in cases {
            let text = format!("# bootstrap keys\n\n{good}\n{bad}\n");
            let e = parse(&text, Path::new("keys")).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(
                matches!(&e, ConfigError::BootstrapLine { line: 4, problem: p, .. } if p.contains(problem)),
                "{bad:?}: {shown}"
            );
            assert!(shown.contains("line 4"), "{shown}");
            assert!(!shown.contains(&secret_part), "the key leaked: {shown}");
        }
        let keys = parse(&format!("{good}\n# another\n"), Path::new("keys")).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].name, "ops key");
        assert_eq!(keys[0].scopes, vec![Scope::Admin]);
    }

    #[test]
    fn files_must_be_small_regular_and_not_writable_by_all() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ndf-bootstrap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("keys");
        std::fs::write(&file, format!("acme admin ops {}\n", a_key())).unwrap();
        let set = |m: u32| {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(m)).unwrap();
        };
        set(0o440);
        assert_eq!(read_file(&file).unwrap().len(), 1);
        // A Secret volume's file is a symbolic link to the data.
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_file(&link).unwrap().len(), 1);
        set(0o646);
        assert!(
            read_file(&file)
                .unwrap_err()
                .to_string()
                .contains("bootstrap keys file")
        );
        set(0o600);
        assert!(read_file(&dir).is_err(), "a directory");
        assert!(read_file(&dir.join("missing")).is_err());
        std::fs::write(&file, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(read_file(&file).is_err(), "too large");
        std::fs::write(&file, b"\xff\n").unwrap();
        assert!(read_file(&file).is_err(), "not UTF-8");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
