//! `ndf operator`: runs the `NdfCluster` controller (`ndf_operator::controller`) with the
//! pod's service account, or `KUBECONFIG` outside a cluster. One replica only: there is no
//! leader election.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

/// Options of `ndf operator`.
#[derive(Args, Debug)]
pub(crate) struct OperatorArgs {
    /// Watch only this namespace (a Role suffices); without it, every namespace (a
    /// ClusterRole is needed).
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Where `/healthz` and `/metrics` listen.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    health_addr: SocketAddr,
    /// Serve no `/healthz` and `/metrics`.
    #[arg(long)]
    no_health: bool,
    /// This instance's name in events (the operator's Deployment passes the pod name).
    #[arg(long, env = "POD_NAME", value_name = "NAME")]
    instance: Option<String>,
}

/// Runs until SIGTERM or Ctrl-C, then lets running reconciles finish.
pub(crate) fn run(args: &OperatorArgs) -> anyhow::Result<ExitCode> {
    ndf_operator::controller::install_crypto_provider();
    let mut telemetry = ndf_server::telemetry::init("operator");
    let options = ndf_operator::controller::Options {
        namespace: args.namespace.clone(),
        health_addr: (!args.no_health).then_some(args.health_addr),
        instance: args.instance.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ndf-operator")
        .build()?;
    let result = runtime.block_on(ndf_operator::controller::run_in_cluster(
        options,
        shutdown_signal(),
    ));
    telemetry.shutdown();
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
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
