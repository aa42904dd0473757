//! The running operator: a kube-runtime `Controller` over `NdfCluster` objects that also
//! watches the Deployments and Services they own (a pod becoming ready reconciles its
//! cluster at once), plus a small `/healthz` + `/metrics` listener.
//!
//! One replica at a time: there is no leader election, so run the operator's Deployment with
//! `replicas: 1` and the `Recreate` strategy. Two replicas would not corrupt anything (every
//! write is a forced server-side apply of the same plan) but would measure analyses twice.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::analysis::HttpAnalyzer;
use crate::build::labels;
use crate::crd::NdfCluster;
use crate::reconcile::{Context, error_policy, reconcile};

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The API server is unreachable, or the `NdfCluster` CRD is not installed.
    #[error(
        "cannot list NdfCluster objects (is the CRD installed? `ndf deploy crd | kubectl apply -f -`)"
    )]
    Crd(#[source] kube::Error),
    /// No Kubernetes API: not in a pod, and no usable `KUBECONFIG`.
    #[error("no Kubernetes API to talk to (not in a pod, and no usable KUBECONFIG)")]
    Client(#[source] kube::Error),
    /// The analysis HTTP client could not be built.
    #[error("cannot build the analysis HTTP client")]
    Http(#[from] reqwest::Error),
    /// The health listener could not bind.
    #[error("cannot listen on {addr} for /healthz and /metrics")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How to run the operator.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch one namespace; `None`: all namespaces.
    pub namespace: Option<String>,
    /// `/healthz` and `/metrics` listen here; `None`: no listener.
    pub health_addr: Option<SocketAddr>,
    /// Name of this operator instance in events (e.g. the pod name).
    pub instance: Option<String>,
}

/// Runs until `shutdown` completes, then lets running reconciles finish.
///
/// # Errors
/// When the CRD is missing or the listener cannot bind.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), StartError> {
    let clusters: Api<NdfCluster> = scoped(&client, options.namespace.as_deref());
    clusters
        .list(&ListParams::default().limit(1))
        .await
        .map_err(StartError::Crd)?;
    let reporter = Reporter {
        controller: "ndf-operator".into(),
        instance: options.instance.clone(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let analyzer = Arc::new(HttpAnalyzer::new(client.clone())?);
    let ctx = Arc::new(Context::new(client.clone(), recorder, analyzer));
    // One shutdown signal, two listeners: the controller and the health listener.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        stop_tx.send_replace(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    if let Some(addr) = options.health_addr {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        tokio::spawn(serve_health(
            listener,
            ctx.clone(),
            stopped(stop_rx.clone()),
        ));
    }
    let owned =
        watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER));
    let deployments: Api<Deployment> = scoped(&client, options.namespace.as_deref());
    let services: Api<Service> = scoped(&client, options.namespace.as_deref());
    tracing::info!(namespace = ?options.namespace, "ndf operator started");
    Controller::new(clusters, watcher::Config::default().any_semantic())
        .owns(deployments, owned.clone())
        .owns(services, owned)
        // Bursts of Deployment status updates collapse into one pass.
        .with_config(Config::default().debounce(Duration::from_millis(500)))
        .graceful_shutdown_on(stopped(stop_rx))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, action)) => tracing::debug!(%object, ?action, "reconciled"),
                Err(e) => tracing::warn!(error = %e, "reconcile error"),
            }
        })
        .await;
    tracing::info!("ndf operator stopped");
    Ok(())
}

/// Makes rustls on aws-lc-rs the process's crypto provider (kube and reqwest both use rustls;
/// a second provider compiled in would otherwise make rustls refuse to choose). Call first.
pub fn install_crypto_provider() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// [`run`] with the client of the pod's service account, or of `KUBECONFIG` outside a pod.
///
/// # Errors
/// When there is no Kubernetes API to talk to, or as [`run`].
pub async fn run_in_cluster(
    options: Options,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), StartError> {
    let client = Client::try_default().await.map_err(StartError::Client)?;
    run(client, options, shutdown).await
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Answers `GET /healthz` (`ok`) and `GET /metrics` (Prometheus text) on each connection,
/// one request per connection; anything else is a 404.
/// Returns when `stop` completes.
pub async fn serve_health(
    listener: TcpListener,
    ctx: Arc<Context>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut stream, _)) = accepted else {
            // Out of descriptors, most likely: let some connections finish first.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            // A request line that does not arrive within 5 s is dropped.
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            let Ok(Ok(n)) = read else { return };
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match path {
                "/healthz" => ("200 OK", "ok\n".to_owned()),
                "/metrics" => ("200 OK", metrics_text(&ctx)),
                _ => ("404 Not Found", "not found\n".to_owned()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// The operator's counters in the Prometheus text format.
#[must_use]
pub fn metrics_text(ctx: &Context) -> String {
    format!(
        "# HELP ndf_operator_reconciles_total Reconcile passes run.\n\
         # TYPE ndf_operator_reconciles_total counter\n\
         ndf_operator_reconciles_total {}\n\
         # HELP ndf_operator_reconcile_failures_total Reconcile passes that failed.\n\
         # TYPE ndf_operator_reconcile_failures_total counter\n\
         ndf_operator_reconcile_failures_total {}\n",
        ctx.metrics.reconciles.load(Relaxed),
        ctx.metrics.failures.load(Relaxed)
    )
}
