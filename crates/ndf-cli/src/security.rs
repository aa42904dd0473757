//! `ndf keys …` (API keys, master keys) and `ndf audit …` (verify and export the audit log).
//! They work on the store of the configuration (same flags as `ndf serve`), without a server.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ndf_server::admin::{NewKey, create_key_record};
use ndf_store::{AuditAction, AuditEvent};

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
    /// Check the hash chain: reports edited, removed and reordered records (exit 1 if any).
    Verify(ServiceArgs),
    /// Print the records of a time range as JSON lines (canonical form, with hashes).
    Export(ExportArgs),
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
}

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

/// The job store, key store and audit log of the configuration's database.
async fn databases(config: &ndf_server::Config) -> anyhow::Result<ndf_store::Databases> {
    let options = ndf_server::store_options(config);
    Ok(ndf_store::open_databases(&config.store_url(), &options).await?)
}

#[allow(clippy::print_stdout)]
pub(crate) fn keys(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    if let KeysCommand::GenerateMaster { id } = &cmd {
        let id = ndf_seal::KeyId::new(id).map_err(|e| UsageError(e.to_string()))?;
        let line = ndf_seal::generate_key_line(&id)?;
        println!("{}", &*line);
        return Ok(ExitCode::SUCCESS);
    }
    runtime()?.block_on(async move {
        match cmd {
            KeysCommand::Create(a) => {
                let config = a.service.load()?;
                let ndf_store::Databases { keys, audit, .. } = databases(&config).await?;
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
                let keys = databases(&config).await?.keys;
                let list = keys.list_keys(a.tenant.as_deref()).await?;
                let views: Vec<ndf_server::admin::KeyView> =
                    list.iter().map(ndf_server::admin::KeyView::from).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
                Ok(ExitCode::SUCCESS)
            }
            KeysCommand::Revoke(a) => {
                let config = a.service.load()?;
                let ndf_store::Databases { keys, audit, .. } = databases(&config).await?;
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
                let ndf_store::Databases { jobs, audit, .. } = databases(&config).await?;
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
            KeysCommand::GenerateMaster { .. } => Ok(ExitCode::SUCCESS),
        }
    })
}

#[allow(clippy::print_stdout)]
pub(crate) fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match cmd {
            AuditCommand::Verify(a) => {
                let config = a.load()?;
                let log = databases(&config).await?.audit;
                let report = ndf_store::verify_store(log.as_ref(), 1_000).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(if report.is_clean() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            AuditCommand::Export(a) => {
                let config = a.service.load()?;
                let log = databases(&config).await?.audit;
                let to = a.to.unwrap_or_else(now);
                let mut after = 0i64;
                // Bounded: pages of 1,000 up to ten million records.
                for _ in 0..10_000 {
                    let page = log.range(a.from, to, after, 1_000).await?;
                    let Some(last) = page.last().map(|r| r.seq) else {
                        break;
                    };
                    for r in &page {
                        println!("{}", r.to_canonical_json()?);
                    }
                    after = last;
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
