//! `ndf keys …` (API keys, master keys) and `ndf audit …` (verify and export the audit log).
//! They work on the store of the configuration (same flags as `ndf serve`), without a server.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ndf_server::admin::{NewKey, create_key_record};
use ndf_store::{AuditAction, AuditEvent, AuditKey, ChainHead};

use crate::UsageError;
use crate::service::ServiceArgs;

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Create an API key; prints it once (store it: only a keyed hash is kept).
    Create(CreateArgs),
    /// List API keys (never their secrets).
    List(ListArgs),
    /// Revoke an API key by id.
    Revoke(RevokeArgs),
    /// Re-wrap every job's data key under the current master key (after adding a new one).
    RotateMaster(ServiceArgs),
    /// Print a new API key as a line of bootstrap_keys_file (`TENANT SCOPES NAME KEY`), without
    /// touching any store: `ndf serve` creates it at start.
    Generate(GenerateArgs),
    /// Print a new master key line (`id:<64 hex>`) for master_key / master_key_file.
    GenerateMaster {
        /// Key id: 1-32 of a-z 0-9 -.
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// Tenant the key acts for.
    #[arg(long)]
    tenant: String,
    /// A name for people.
    #[arg(long)]
    name: String,
    /// Scope (repeatable): extract, jobs:read, jobs:write, admin.
    #[arg(long = "scope", required = true)]
    scopes: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    /// Tenant the key acts for.
    #[arg(long)]
    tenant: String,
    /// A name for people.
    #[arg(long)]
    name: String,
    /// Scope (repeatable): extract, jobs:read, jobs:write, admin.
    #[arg(long = "scope", required = true)]
    scopes: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// Only this tenant's keys.
    #[arg(long)]
    tenant: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// The key's id (the 12 hex digits after `ndf_`).
    id: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Check the keyed chain (and anchors): prints a JSON report with the head's anchor; exit 0
    /// intact, 1 problems found (edited, removed, reordered, unkeyed records; truncation
    /// against an anchor), 2 no audit key or a bad anchor, 3 the log could not be read.
    Verify(VerifyArgs),
    /// Print the records of a time range as JSON lines (canonical form, with hashes), every
    /// record of the range (paged, bounded memory), then the log head's anchor on stderr. A
    /// reader that stops early (`| head`) ends it with exit 0.
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// An anchor kept from an earlier `ndf audit verify`, `ndf audit export` or the service's
    /// log (`ndf-audit-anchor:1:…`); the log must still hold its record. Repeatable.
    #[arg(long = "anchor", value_name = "ANCHOR")]
    anchors: Vec<String>,
    /// A file of anchors, one per line (blank lines and `#` comments ignored). Repeatable.
    #[arg(long = "anchor-file", value_name = "FILE")]
    anchor_files: Vec<PathBuf>,
    /// When the log verifies, write its head's anchor to this file (replaced atomically).
    #[arg(long, value_name = "FILE")]
    write_anchor: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// From this time (Unix milliseconds; default: the beginning).
    #[arg(long, default_value_t = 0)]
    from: i64,
    /// Up to this time (Unix milliseconds; default: now).
    #[arg(long)]
    to: Option<i64>,
    /// Records read per query (1..=1000).
    #[arg(long, default_value_t = 1000, hide = true)]
    page_size: u32,
}

/// Largest anchor file read, in bytes.
const MAX_ANCHOR_FILE_BYTES: u64 = 1 << 20;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The job store, key store and audit log of the configuration's database; the audit log
/// appends with `audit_key` (without it, it only reads).
async fn databases(
    config: &ndf_server::Config,
    audit_key: Option<AuditKey>,
) -> anyhow::Result<ndf_store::Databases> {
    let mut options = ndf_server::store_options(config);
    options.audit_key = audit_key;
    Ok(ndf_store::open_databases(&config.store_url(), &options).await?)
}

/// The audit key of a command that appends (created with the embedded store's secret, like
/// `ndf serve` does).
fn appending_key(config: &ndf_server::Config) -> anyhow::Result<Option<AuditKey>> {
    ndf_server::audit::chain_key(config)
        .map(Some)
        .map_err(|e| UsageError(e.to_string()).into())
}

#[allow(clippy::print_stdout)]
pub(crate) fn keys(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    if let KeysCommand::GenerateMaster { id } = &cmd {
        let id = ndf_seal::KeyId::new(id).map_err(|e| UsageError(e.to_string()))?;
        let line = ndf_seal::generate_key_line(&id)?;
        println!("{}", &*line);
        return Ok(ExitCode::SUCCESS);
    }
    if let KeysCommand::Generate(a) = &cmd {
        let key = ndf_server::bootstrap::BootstrapKey::generate(&a.tenant, &a.name, &a.scopes)
            .map_err(|e| UsageError(e.into()))?;
        println!("{}", key.line());
        return Ok(ExitCode::SUCCESS);
    }
    runtime()?.block_on(async move {
        match cmd {
            KeysCommand::Create(a) => {
                let config = a.service.load()?;
                let ndf_store::Databases { keys, audit, .. } =
                    databases(&config, appending_key(&config)?).await?;
                let secret = ndf_server::api_key_secret(&config)?;
                let created = create_key_record(
                    keys.as_ref(),
                    secret.as_deref(),
                    &NewKey {
                        tenant: a.tenant,
                        name: a.name,
                        scopes: a.scopes,
                    },
                )
                .await
                .map_err(|e| UsageError(e.problem().detail))?;
                audit
                    .append(
                        AuditEvent::new("cli", AuditAction::KeyCreated, "ok")
                            .tenant(&created.view.tenant)
                            .target(format!("key:{}", created.view.id))
                            .detail(serde_json::json!({ "name": created.view.name, "scopes": created.view.scopes })),
                        now(),
                    )
                    .await?;
                println!("{}", serde_json::to_string_pretty(&created)?);
                Ok(ExitCode::SUCCESS)
            }
            KeysCommand::List(a) => {
                let config = a.service.load()?;
                let keys = databases(&config, None).await?.keys;
                let list = keys.list_keys(a.tenant.as_deref()).await?;
                let views: Vec<ndf_server::admin::KeyView> =
                    list.iter().map(ndf_server::admin::KeyView::from).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
                Ok(ExitCode::SUCCESS)
            }
            KeysCommand::Revoke(a) => {
                let config = a.service.load()?;
                let ndf_store::Databases { keys, audit, .. } =
                    databases(&config, appending_key(&config)?).await?;
                if !keys.revoke_key(&a.id, now()).await? {
                    return Err(UsageError(format!("no active key {}", a.id)).into());
                }
                audit
                    .append(
                        AuditEvent::new("cli", AuditAction::KeyRevoked, "ok")
                            .target(format!("key:{}", a.id)),
                        now(),
                    )
                    .await?;
                println!("revoked {}", a.id);
                Ok(ExitCode::SUCCESS)
            }
            KeysCommand::RotateMaster(a) => {
                let config = a.load()?;
                let at_rest = ndf_server::at_rest::AtRest::load(&config)?
                    .ok_or_else(|| UsageError("no master key configured".into()))?;
                let ndf_store::Databases { jobs, audit, .. } =
                    databases(&config, appending_key(&config)?).await?;
                let (mut after, mut seen, mut rewrapped) = (None, 0u64, 0u64);
                // Bounded: one pass over the table in pages of 1,000.
                for _ in 0..1_000_000 {
                    let page = jobs.keyed_jobs(after, 1_000).await?;
                    let Some(last) = page.last().map(|(id, _)| *id) else {
                        break;
                    };
                    for (id, wrapped) in &page {
                        seen += 1;
                        if let Some(new) = at_rest.rewrap(*id, wrapped)? {
                            jobs.set_data_key(*id, &new).await?;
                            rewrapped += 1;
                        }
                    }
                    after = Some(last);
                }
                let current = at_rest.ring().current_id().as_str().to_owned();
                audit
                    .append(
                        AuditEvent::new("cli", AuditAction::MasterKeyRotated, "ok").detail(
                            serde_json::json!({ "current": current, "jobs": seen, "rewrapped": rewrapped }),
                        ),
                        now(),
                    )
                    .await?;
                println!("{rewrapped} of {seen} data keys re-wrapped under master key {current}");
                Ok(ExitCode::SUCCESS)
            }
            KeysCommand::Generate(_) | KeysCommand::GenerateMaster { .. } => Ok(ExitCode::SUCCESS),
        }
    })
}

/// `ndf audit verify|export`.
pub(crate) fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(a) => verify(a),
        AuditCommand::Export(a) => export(a),
    }
}

/// The configuration's audit key, or a usage error saying where it comes from.
fn verifying_key(config: &ndf_server::Config) -> anyhow::Result<AuditKey> {
    match ndf_server::audit::existing_chain_key(config) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(UsageError(
            "no audit key: it is derived from api_key_secret (NDF_API_KEY_SECRET, or on the \
             embedded store the data directory's api-key-secret file, which does not exist): \
             run with the service's configuration"
                .into(),
        )
        .into()),
        Err(e) => Err(UsageError(format!("no audit key: {e}")).into()),
    }
}

/// The anchors of `--anchor` and `--anchor-file`, checked against `key`.
fn anchors(a: &VerifyArgs, key: &AuditKey) -> anyhow::Result<Vec<ChainHead>> {
    let mut tokens: Vec<(String, String)> = a
        .anchors
        .iter()
        .map(|t| ("--anchor".to_owned(), t.clone()))
        .collect();
    for path in &a.anchor_files {
        let text = read_anchor_file(path)?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                tokens.push((
                    format!("{} line {}", path.display(), i + 1),
                    line.to_owned(),
                ));
            }
        }
    }
    if tokens.len() > ndf_store::audit::MAX_ANCHORS {
        return Err(UsageError(format!(
            "{} anchors given, at most {} are checked at once",
            tokens.len(),
            ndf_store::audit::MAX_ANCHORS
        ))
        .into());
    }
    tokens
        .iter()
        .map(|(from, token)| {
            ndf_store::parse_anchor(token, key)
                .map_err(|e| UsageError(format!("anchor from {from}: {e}")).into())
        })
        .collect()
}

fn read_anchor_file(path: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_ANCHOR_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| UsageError(format!("anchor file {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_ANCHOR_FILE_BYTES {
        return Err(UsageError(format!(
            "anchor file {} is larger than {MAX_ANCHOR_FILE_BYTES} bytes",
            path.display()
        ))
        .into());
    }
    Ok(text)
}

/// Replaces `path` with `text` (written beside it, then renamed).
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| UsageError(format!("{} is not a file name", path.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes `text` to stdout; `Ok(false)` when the reader went away (a closed pipe).
fn write_out(out: &mut impl Write, text: &str) -> std::io::Result<bool> {
    match out.write_all(text.as_bytes()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

fn flush_out(out: &mut impl Write) -> std::io::Result<()> {
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// A line on stderr (`ndf: …`); a closed stderr is ignored.
fn eprint_note(message: &str) {
    let _ = writeln!(std::io::stderr(), "ndf: {message}");
}

/// Exit code 3: the log could not be read.
fn unreadable(e: &dyn std::fmt::Display) -> ExitCode {
    crate::eprint_error(&format!("the audit log could not be read: {e}"));
    ExitCode::from(3)
}

fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let config = a.service.load()?;
    let key = verifying_key(&config)?;
    let expected = anchors(&a, &key)?;
    let report = runtime()?.block_on(async {
        let log = databases(&config, None).await?.audit;
        let mut verifier = ndf_store::Verifier::new(&key);
        for anchor in &expected {
            verifier.expect_anchor(anchor.clone());
        }
        anyhow::Ok(ndf_store::verify_store(log.as_ref(), verifier, 1_000).await?)
    });
    let report = match report {
        Ok(report) => report,
        Err(e) => return Ok(unreadable(&format!("{e:#}"))),
    };
    let clean = report.is_clean();
    // An anchor only of a log that verified: it vouches for everything before it.
    let anchor = report
        .head
        .as_ref()
        .filter(|_| clean)
        .map(|head| ndf_store::anchor_token(head, &key));
    let mut value = serde_json::to_value(&report)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("key_id".into(), key.id().into());
        object.insert(
            "anchor".into(),
            anchor.clone().map_or(serde_json::Value::Null, Into::into),
        );
    }
    if let (Some(path), Some(anchor)) = (&a.write_anchor, &anchor) {
        write_atomically(path, &format!("{anchor}\n"))?;
    }
    let mut out = std::io::stdout().lock();
    write_out(
        &mut out,
        &format!("{}\n", serde_json::to_string_pretty(&value)?),
    )?;
    flush_out(&mut out)?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let config = a.service.load()?;
    // Exporting needs no key; with one, the head's anchor is printed at the end.
    let key = ndf_server::audit::existing_chain_key(&config)
        .ok()
        .flatten();
    runtime()?.block_on(async move {
        let log = databases(&config, None).await?.audit;
        let to = a.to.unwrap_or_else(now);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // Tampered rows may hold any seq; each page starts after the last one, so the loop
        // ends with the range, however long (no cap: memory is one page).
        let mut after = i64::MIN;
        loop {
            let page = log.range(a.from, to, after, a.page_size).await?;
            let Some(last) = page.last().map(|r| r.seq) else {
                break;
            };
            for record in &page {
                let line = format!("{}\n", record.to_canonical_json()?);
                if !write_out(&mut out, &line)? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            if last <= after {
                break;
            }
            after = last;
        }
        flush_out(&mut out)?;
        match (key, log.head().await?) {
            (Some(key), Some(head)) => {
                let head = ChainHead {
                    seq: head.seq,
                    hash: head.hash,
                };
                eprint_note(&format!(
                    "audit anchor (head, seq {}): {}",
                    head.seq,
                    ndf_store::anchor_token(&head, &key)
                ));
            }
            (None, _) => eprint_note("no audit key: no anchor printed"),
            (Some(_), None) => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
