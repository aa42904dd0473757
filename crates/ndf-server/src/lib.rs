//! The `ndf` HTTP service.
//!
//! - [`serve`]: the API (sync extraction, jobs, health, OpenAPI) plus job consumers, the webhook
//!   dispatcher and the retention sweeper, over a [`ndf_store::JobStore`] and a
//!   [`ndf_store::BlobStore`] (embedded SQLite + directory by default; PostgreSQL + S3 to scale
//!   out).
//! - [`run_worker`]: job consumers only, for replicas without HTTP.
//!
//! Documents are never parsed in this process: every extraction runs in a pre-forked worker
//! process of [`ndf_pool`] with a memory cap and a deadline, so a hostile document can only
//! take down its own worker.

pub mod admin;
pub mod api;
pub mod at_rest;
pub mod audit;
pub mod auth;
pub mod auth_limit;
pub mod cache;
pub mod config;
mod jobs;
pub mod openapi;
pub mod problem;
mod state;
pub mod status;
mod sweeper;
pub mod telemetry;
pub mod tls;
pub mod util;
pub mod webhook;

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use ndf_pool::{Pool, PoolConfig};
use ndf_store::StoreOptions;
use tokio::sync::watch;

pub use config::Config;
pub use state::AppState;

/// How to start extraction worker processes.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Program of the worker processes (normally the `ndf` binary itself).
    pub child_program: PathBuf,
    /// Its arguments (normally `__extract-child`).
    pub child_args: Vec<OsString>,
    /// Extra environment of the worker processes.
    pub child_env: Vec<(OsString, OsString)>,
}

impl ServeOptions {
    /// Workers run this very executable with the hidden `__extract-child` subcommand.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self {
            child_program: std::env::current_exe()?,
            child_args: vec!["__extract-child".into()],
            child_env: Vec::new(),
        })
    }
}

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A store could not be opened.
    #[error("storage: {0}")]
    Store(#[from] ndf_store::StoreError),
    /// The worker pool could not start.
    #[error("extraction workers: {0}")]
    Pool(#[from] ndf_pool::PoolError),
    /// Binding or serving failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// The store settings of a configuration (also what `ndf keys` / `ndf audit` open).
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        max_connections: config.db_connections.max(1),
        s3_endpoint: config.s3_endpoint.clone(),
        s3_region: config.s3_region.clone(),
        s3_access_key_id: config.s3_access_key_id.clone(),
        s3_secret_access_key: config.s3_secret_access_key.clone(),
        s3_allow_http: config.s3_allow_http,
        ..StoreOptions::default()
    }
}

/// The secret keying API-key hashes: configured, or (embedded store only) a random one kept in
/// `data_dir/api-key-secret`, created on first start with mode 0600.
pub fn api_key_secret(config: &Config) -> Result<Option<Vec<u8>>, ServerError> {
    if let Some(s) = &config.api_key_secret {
        return Ok(Some(s.as_bytes().to_vec()));
    }
    if config.store.is_some() {
        return Ok(None);
    }
    let path = config.data_dir.join("api-key-secret");
    if !path.exists() {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
        util::create_secret_file_once(&path, hex::encode(secret).as_bytes())?;
    }
    let text = util::read_small_file(&path, 4096)?;
    Ok(Some(text.trim().as_bytes().to_vec()))
}

/// Open stores and workers: the shared state of a replica.
pub async fn build_state(
    config: Config,
    options: &ServeOptions,
) -> Result<Arc<AppState>, ServerError> {
    config.validate()?;
    check_admin_listen(&config)?;
    if config.store.is_none() || config.blobs.is_none() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let mut so = store_options(&config);
    // The audit chain's key, never in the database (an external store needs api_key_secret).
    so.audit_key = Some(audit::chain_key(&config)?);
    let ndf_store::Databases { jobs, keys, audit } =
        ndf_store::open_databases(&config.store_url(), &so).await?;
    let blobs = ndf_store::open_blob_store(&config.blobs_url(), &so).await?;
    let at_rest = at_rest::AtRest::load(&config)?;
    let listen_loopback = config
        .listen
        .parse::<SocketAddr>()
        .is_ok_and(|a| auth::is_loopback(&a));
    let authenticator = auth::Authenticator::new(
        keys.clone(),
        api_key_secret(&config)?,
        auth::AuthOptions {
            open_allowed: listen_loopback || config.insecure_no_auth,
            // A gateway in front (--insecure-no-auth) sets the Host to its own name.
            check_host: !config.insecure_no_auth,
            key_rate_per_minute: config.rate_limit_key_per_minute,
            tenant_rate_per_minute: config.rate_limit_tenant_per_minute,
            failures: auth_limit::FailureLimits {
                limit: config.auth_failure_limit,
                window: Duration::from_millis(config.auth_failure_window_ms),
                audit_max: config.auth_failure_audit_max,
                max_sources: config.auth_failure_max_sources,
            },
            trusted_proxies: config
                .trusted_proxies
                .iter()
                .filter_map(|p| auth_limit::parse_cidr(p))
                .collect(),
        },
    );
    let mut env = options.child_env.clone();
    env.push((
        "NDF_CHILD_MEMORY_LIMIT".into(),
        config.worker_memory_bytes.to_string().into(),
    ));
    let pool = Pool::new(PoolConfig {
        program: options.child_program.clone(),
        args: options.child_args.clone(),
        env,
        workers: config.worker_count(),
        memory_limit_bytes: config.worker_memory_bytes,
        recycle_after: config.worker_recycle_after.max(1),
        max_waiting: config.max_waiting,
    })?;
    let metrics = Arc::new(telemetry::Registry::new());
    metrics.set(
        telemetry::Metric::BuildInfo,
        &[env!("CARGO_PKG_VERSION")],
        1.0,
    );
    metrics.declare_known_series(&problem::all_codes());
    let result_cache = cache::ResultCache::new(config.result_cache_bytes, metrics.clone());
    let owner = format!(
        "{}-{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "ndf".into()),
        std::process::id(),
        &uuid::Uuid::now_v7().simple().to_string()[24..]
    );
    Ok(Arc::new(AppState {
        config,
        jobs,
        blobs,
        pool,
        owner,
        draining: Default::default(),
        job_queued: Default::default(),
        running: Default::default(),
        queued_seen: Default::default(),
        queued_seen_at: Default::default(),
        metrics,
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        counts_cache: Default::default(),
        result_cache,
        samples: Default::default(),
        keys,
        audit,
        auth: authenticator,
        at_rest,
    }))
}

/// The HTTP routes.
pub fn router(state: Arc<AppState>) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/v1/extract", post(api::extract))
        .route("/v1/jobs", post(api::create_job).get(api::list_jobs))
        .route("/v1/jobs/{id}", get(api::get_job).delete(api::delete_job))
        .route("/v1/jobs/{id}/result", get(api::get_result))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/metrics", get(status::metrics))
        .route("/status", get(status::page))
        .route("/status.json", get(status::summary))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route(
            "/v1/admin/keys",
            post(admin::create_key).get(admin::list_keys),
        )
        .route(
            "/v1/admin/keys/{id}",
            axum::routing::delete(admin::revoke_key),
        )
        .route(
            "/v1/tenants/{id}/data",
            axum::routing::delete(admin::erase_tenant),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            telemetry::http::observe,
        ))
}

async fn openapi_json() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::document_json(),
    )
}

async fn method_not_allowed() -> problem::ApiError {
    problem::ApiError::new(
        problem::ApiCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}

async fn not_found() -> problem::ApiError {
    problem::ApiError::new(problem::ApiCode::NotFound, "no such endpoint")
}

/// The admin listener's routes: profiling and heap statistics (ndf-admin) plus this replica's
/// `/metrics` and `/healthz`, so replicas without the public API (`ndf worker`) can be scraped.
pub fn admin_router(state: Arc<AppState>) -> Router {
    let options = ndf_admin::AdminOptions {
        max_profile_seconds: state.config.admin_max_profile_seconds,
        ..ndf_admin::AdminOptions::default()
    };
    Router::new()
        .route("/metrics", get(status::metrics))
        .route("/healthz", get(api::healthz))
        .with_state(state)
        .merge(ndf_admin::router(options))
}

/// Refuse an admin listener (unauthenticated: profiles, heap) on an unspecified or public
/// address unless `admin_listen_allow_public`; allow loopback, and private ranges with a log
/// line.
fn check_admin_listen(config: &Config) -> Result<(), ServerError> {
    if config.admin_listen.is_empty() {
        return Ok(());
    }
    let addr: SocketAddr = config.admin_listen.parse().map_err(|_| {
        config::ConfigError(format!(
            "bad admin_listen address {:?}",
            config.admin_listen
        ))
    })?;
    match auth::admin_address_class(addr.ip()) {
        Some(true) => {}
        Some(false) => tracing::warn!(
            %addr,
            "the admin listener (unauthenticated: profiles, heap) is on a private address: \
             every host of that network can reach it"
        ),
        None if config.admin_listen_allow_public => tracing::warn!(
            %addr,
            "the admin listener (unauthenticated: profiles, heap) is on an unspecified or \
             public address (admin_listen_allow_public)"
        ),
        None => {
            return Err(config::ConfigError(format!(
                "refusing admin_listen {addr}: the admin listener is unauthenticated, so it \
                 binds only to loopback or a private address (10/8, 172.16/12, 192.168/16, \
                 100.64/10, fc00::/7); set admin_listen_allow_public=true to force it"
            ))
            .into());
        }
    }
    Ok(())
}

/// Start the admin listener if configured; it stops when `stop` turns true.
async fn spawn_admin(
    state: &Arc<AppState>,
    stop: &watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServerError> {
    if state.config.admin_listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = state.config.admin_listen.parse().map_err(|_| {
        config::ConfigError(format!(
            "bad admin_listen address {:?}",
            state.config.admin_listen
        ))
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(%bound, "admin listener (profiling, heap, metrics)");
    // A fixed, parseable line, like the API's (tests wait for it).
    #[allow(clippy::print_stderr)]
    {
        eprintln!("ndf: admin listening on http://{bound}");
    }
    let app = admin_router(state.clone());
    let mut stop = stop.clone();
    Ok(Some(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "admin listener failed");
        }
    })))
}

/// Background tasks of a replica: consumers, webhooks, sweeper. Returned handles finish after
/// `stop` (consumers hand back their job when `grace` fires).
fn spawn_background(
    state: &Arc<AppState>,
    consumers: bool,
    stop: &watch::Receiver<bool>,
    grace: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if consumers {
        let n = if state.config.job_concurrency > 0 {
            state.config.job_concurrency
        } else {
            state.config.worker_count()
        };
        tasks.push(tokio::spawn(jobs::run_consumers(
            state.clone(),
            n,
            stop.clone(),
            grace.clone(),
        )));
    }
    tasks.push(tokio::spawn(webhook::run_dispatcher(
        state.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(sweeper::run_sweeper(
        state.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(status::run_sampler(
        state.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(audit::run_anchor(state.clone(), stop.clone())));
    tasks
}

/// Run the API (and, unless disabled, job consumers) until `shutdown` resolves, then drain:
/// stop accepting, let in-flight requests and jobs finish within the grace period, hand back
/// unfinished jobs, stop the workers. `on_listening` gets the bound address (port 0 works) and
/// whether it speaks TLS.
pub async fn serve(
    config: Config,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr, bool) + Send,
) -> Result<(), ServerError> {
    let listen: SocketAddr = config
        .listen
        .parse()
        .map_err(|_| config::ConfigError(format!("bad listen address {:?}", config.listen)))?;
    let tls_files = config.tls_files();
    let tls = match &tls_files {
        Some(files) => Some(axum_server::tls_rustls::RustlsConfig::from_config(
            tls::server_config(files)?,
        )),
        None => None,
    };
    let state = build_state(config, &options).await?;
    // Open (no keys) only on loopback or when explicitly told so, and only while the store
    // has never held a key; the mode is logged here and at every change (auth::run_watch).
    let ever = state
        .auth
        .keys_ever_existed()
        .await
        .map_err(|e| std::io::Error::other(format!("reading the API keys' state: {e}")))?;
    if !ever && !auth::is_loopback(&listen) && !state.config.insecure_no_auth {
        return Err(config::ConfigError(format!(
            "refusing to serve {listen} without authentication: create an API key \
             (ndf keys create) or pass --insecure-no-auth"
        ))
        .into());
    }
    if state.config.insecure_no_auth && !ever {
        tracing::warn!(%listen, "serving WITHOUT authentication (--insecure-no-auth)");
    }
    audit::record(
        &state,
        ndf_store::AuditEvent::new("service", ndf_store::AuditAction::ConfigChanged, "ok").detail(
            serde_json::json!({
                "event": "started",
                "owner": state.owner,
                "config_sha256": util::sha256_hex(state.config.to_redacted_toml().as_bytes()),
            }),
        ),
    )
    .await;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    on_listening(listener.local_addr()?, tls.is_some());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (grace_tx, grace_rx) = watch::channel(false);
    let mut tasks = spawn_background(&state, state.config.process_jobs, &stop_rx, &grace_rx);
    tasks.push(tokio::spawn(auth::run_watch(
        state.clone(),
        stop_rx.clone(),
    )));
    tasks.extend(spawn_admin(&state, &stop_rx).await?);

    let grace = Duration::from_millis(state.config.shutdown_grace_ms);
    let drain_state = state.clone();
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let delay = Duration::from_millis(drain_state.config.shutdown_delay_ms);
    let signal = async move {
        shutdown.await;
        drain_state.draining.store(true, Ordering::Relaxed);
        tracing::info!("shutting down: no new work; finishing in-flight requests and jobs");
        let _ = stop_tx.send(true);
        // Still accepting (answering 503) while load balancers notice /readyz.
        tokio::time::sleep(delay).await;
        let _ = drained_tx.send(());
    };
    let app = router(state.clone());
    let server = match (tls, tls_files) {
        (Some(rustls_config), Some(files)) => {
            tasks.push(tokio::spawn(tls::reload_on_change(
                rustls_config.clone(),
                files,
                stop_rx.clone(),
            )));
            let handle = axum_server::Handle::new();
            let on_signal = handle.clone();
            tokio::spawn(async move {
                signal.await;
                on_signal.graceful_shutdown(None);
            });
            let listener = listener.into_std()?;
            let server = axum_server::from_tcp_rustls(listener, rustls_config)?
                .handle(handle)
                .serve(app.into_make_service_with_connect_info::<SocketAddr>());
            tokio::spawn(server)
        }
        _ => {
            let server = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(signal);
            tokio::spawn(async move { server.await })
        }
    };
    let _ = drained_rx.await;
    // In-flight requests and jobs get `grace` to finish; then jobs are handed back (another
    // replica, or this one after a restart, takes them) and requests are dropped.
    let deadline = tokio::time::Instant::now() + grace;
    let grace_timer = tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        let _ = grace_tx.send(true);
    });
    let mut server = server;
    if tokio::time::timeout_at(deadline, &mut server)
        .await
        .is_err()
    {
        server.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    grace_timer.abort();
    // Failures counted since the last summary are written before the replica goes.
    audit::flush_auth_failures(&state, true).await;
    state.pool.shutdown(Duration::from_secs(1)).await;
    tracing::info!("stopped");
    Ok(())
}

/// Run job consumers without HTTP until `shutdown` resolves (`ndf worker`).
pub async fn run_worker(
    config: Config,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let state = build_state(config, &options).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (grace_tx, grace_rx) = watch::channel(false);
    let mut tasks = spawn_background(&state, true, &stop_rx, &grace_rx);
    tasks.extend(spawn_admin(&state, &stop_rx).await?);
    shutdown.await;
    state.draining.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let grace = Duration::from_millis(state.config.shutdown_grace_ms);
    let grace_timer = {
        let grace_tx = grace_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = grace_tx.send(true);
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    grace_timer.abort();
    state.pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
