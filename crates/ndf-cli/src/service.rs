//! `ndf serve`, `ndf worker`, `ndf config print`, `ndf openapi` and the hidden
//! `ndf __extract-child` (the isolated extraction worker the service starts).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ndf_server::{Config, ServeOptions};

use crate::UsageError;

/// Configuration sources shared by the service commands: file < `NDF_*` environment < flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ServiceArgs {
    /// TOML configuration file (keys as in `ndf config print`).
    #[arg(long, env = "NDF_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8080 (`NDF_LISTEN`).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Home of the embedded store (`NDF_DATA_DIR`); default $XDG_DATA_HOME/ndf or ~/.local/share/ndf.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Job store: sqlite://PATH or postgres://… (`NDF_STORE`).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Blob store: file://DIR or s3://bucket/prefix (`NDF_BLOBS`).
    #[arg(long, value_name = "URL")]
    blobs: Option<String>,
    /// Extraction worker processes (`NDF_WORKERS`; 0 = one per CPU).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Serve the API only; leave jobs to `ndf worker` replicas.
    #[arg(long)]
    no_jobs: bool,
    /// Serve without API keys on a non-loopback address (only behind a gateway that
    /// authenticates every request).
    #[arg(long)]
    insecure_no_auth: bool,
    /// Set any configuration key: `--set key=value` (repeatable; e.g. `--set max_attempts=5`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl ServiceArgs {
    /// The effective configuration.
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => {
                let bytes =
                    crate::input::read_bounded(path, 1 << 20).map_err(|e| UsageError(e.message))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| UsageError(format!("{} is not UTF-8", path.display())))?;
                Config::from_toml(&text).map_err(|e| {
                    anyhow::Error::new(e)
                        .context(UsageError(format!("configuration file {}", path.display())))
                })?
            }
            None => Config::default(),
        };
        config
            .apply_env(std::env::vars())
            .map_err(|e| anyhow::Error::new(e).context(UsageError("configuration".into())))?;
        if let Some(v) = &self.listen {
            config.listen = v.clone();
        }
        if let Some(v) = &self.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = &self.store {
            config.store = Some(v.clone());
        }
        if let Some(v) = &self.blobs {
            config.blobs = Some(v.clone());
        }
        if let Some(v) = self.workers {
            config.workers = v;
        }
        if self.no_jobs {
            config.process_jobs = false;
        }
        if self.insecure_no_auth {
            config.insecure_no_auth = true;
        }
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| UsageError(format!("--set expects KEY=VALUE, got {kv:?}")))?;
            let key = k.trim().replace('.', "_");
            config
                .set(&key, v)
                .map_err(|e| anyhow::Error::new(e).context(UsageError(format!("--set {kv}"))))?;
        }
        config
            .validate()
            .map_err(|e| anyhow::Error::new(e).context(UsageError("configuration".into())))?;
        Ok(config)
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets redacted.
    Print(ServiceArgs),
}

/// Resolve on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGUSR1 drains the replica (no new jobs claimed; held ones finish), SIGUSR2 lifts that
/// drain (`drain_file` drains on its own: see `ndf_server::drain`). Must run inside the
/// runtime before the server starts: the handlers replace the signals' default action (exit)
/// as they are installed.
fn drain_signals() -> Option<tokio::sync::watch::Receiver<bool>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut drain), Ok(mut resume)) = (
            signal(SignalKind::user_defined1()),
            signal(SignalKind::user_defined2()),
        ) else {
            tracing::warn!(
                "SIGUSR1/SIGUSR2 handlers could not be installed: drain by signal is off"
            );
            return None;
        };
        let (tx, rx) = tokio::sync::watch::channel(false);
        // Lives as long as the runtime: it relays every signal until the process ends.
        tokio::spawn(async move {
            loop {
                let drained = tokio::select! {
                    Some(()) = drain.recv() => true,
                    Some(()) = resume.recv() => false,
                    else => return,
                };
                tracing::info!(
                    signal = if drained { "SIGUSR1" } else { "SIGUSR2" },
                    drained,
                    "drain signal received"
                );
                tx.send_replace(drained);
            }
        });
        Some(rx)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ndf")
        .build()?)
}

/// Logs and traces (see `ndf_server::telemetry`), with a start-up line saying where spans go.
fn init_telemetry(component: &'static str) -> ndf_server::telemetry::TelemetryGuard {
    let guard = ndf_server::telemetry::init(component);
    match (&guard.exporting_to, &guard.export_error) {
        (Some(endpoint), _) => {
            tracing::info!(endpoint = %ndf_store::redact_url(endpoint), "exporting traces over OTLP/HTTP");
        }
        (None, Some(error)) => tracing::error!(
            %error,
            "traces are NOT exported: the OTLP exporter could not be built from the OTEL_EXPORTER_OTLP_* settings"
        ),
        (None, None) => tracing::info!(
            "traces are not exported (OTEL_EXPORTER_OTLP_ENDPOINT unset, or OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none)"
        ),
    }
    guard
}

pub(crate) fn serve(args: &ServiceArgs) -> anyhow::Result<ExitCode> {
    let config = args.load()?;
    let mut telemetry = init_telemetry("serve");
    let mut options = ServeOptions::current_exe()?;
    let result = runtime()?.block_on(async move {
        options.drain_signal = drain_signals();
        let store = ndf_store::redact_url(&config.store_url());
        let blobs = ndf_store::redact_url(&config.blobs_url());
        ndf_server::serve(config, options, shutdown_signal(), move |addr, tls| {
            let scheme = if tls { "https" } else { "http" };
            tracing::info!(%store, %blobs, %addr, tls, "listening");
            // A fixed, parseable line (scripts and tests wait for it).
            #[allow(clippy::print_stderr)]
            {
                eprintln!("ndf: listening on {scheme}://{addr}");
            }
        })
        .await
    });
    // The last batch of spans goes out before the process ends.
    telemetry.shutdown();
    result?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn worker(args: &ServiceArgs) -> anyhow::Result<ExitCode> {
    let config = args.load()?;
    let mut telemetry = init_telemetry("worker");
    let mut options = ServeOptions::current_exe()?;
    let result = runtime()?.block_on(async move {
        options.drain_signal = drain_signals();
        tracing::info!(store = %ndf_store::redact_url(&config.store_url()), "worker started");
        ndf_server::run_worker(config, options, shutdown_signal()).await
    });
    telemetry.shutdown();
    result?;
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
pub(crate) fn config_print(args: &ServiceArgs) -> anyhow::Result<ExitCode> {
    let config = args.load()?;
    print!("{}", config.to_redacted_toml());
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
pub(crate) fn openapi() -> ExitCode {
    print!("{}", ndf_server::openapi::document_json());
    ExitCode::SUCCESS
}
