//! `ndf deploy`: the Kubernetes objects of an NdfCluster, the CRD and the operator's install
//! objects as YAML, made by ndf-operator's build functions (the operator applies the same).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::UsageError;

#[derive(Subcommand, Debug)]
pub(crate) enum DeployCommand {
    /// Print every Kubernetes object of an NdfCluster (blue colour active, no rollout under way)
    /// as multi-document YAML, for `kubectl apply` or GitOps without the operator.
    Render(RenderArgs),
    /// Print the NdfCluster CustomResourceDefinition.
    Crd,
    /// Print the operator's install objects (Namespace, ServiceAccount, RBAC, NetworkPolicy,
    /// Deployment).
    OperatorInstall(OperatorInstallArgs),
}

#[derive(Args, Debug)]
pub(crate) struct RenderArgs {
    /// The NdfCluster manifest (YAML); `-` reads standard input.
    #[arg(value_name = "CLUSTER.yaml")]
    file: PathBuf,
    /// Namespace for an NdfCluster that names none.
    #[arg(long, short = 'n')]
    namespace: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct OperatorInstallArgs {
    /// Namespace the operator runs in.
    #[arg(long, short = 'n', default_value = "ndf-system")]
    namespace: String,
    /// The ndf image the operator runs (`ndf operator`).
    #[arg(long)]
    image: String,
}

/// Largest NdfCluster manifest read (a real one is a few KiB).
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

pub(crate) fn run(cmd: DeployCommand) -> anyhow::Result<ExitCode> {
    let yaml = match cmd {
        DeployCommand::Render(args) => {
            let bytes = if args.file.as_os_str() == "-" {
                crate::input::read_stdin_bounded(MAX_MANIFEST_BYTES)
            } else {
                crate::input::read_bounded(&args.file, MAX_MANIFEST_BYTES)
            }
            .map_err(|e| UsageError(format!("{}: {e}", args.file.display())))?;
            let input = String::from_utf8(bytes)
                .map_err(|_| UsageError(format!("{}: not UTF-8", args.file.display())))?;
            ndf_operator::render::render_cluster(&input, args.namespace.as_deref())
                .map_err(|e| UsageError(format!("{}: {e}", args.file.display())))?
        }
        DeployCommand::Crd => ndf_operator::render::crd_yaml()?,
        DeployCommand::OperatorInstall(args) => {
            ndf_operator::render::operator_install_yaml(&args.namespace, &args.image)?
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to standard output")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
