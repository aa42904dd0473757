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
pub mod bootstrap;
pub mod cache;
pub mod config;
pub mod drain;
pub mod file_modes;
mod jobs;
pub mod openapi;
pub mod problem;
mod state;
pub mod status;
mod sweeper;
pub mod telemetry;
pub mod tls;
pub mod transport;
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
    /// Drain requests from outside the configuration (the CLI's SIGUSR1 sets true, SIGUSR2
    /// false); the replica is drained while this or `drain_file` asks (see [`drain`]).
    pub drain_signal: Option<watch::Receiver<bool>>,
}

impl ServeOptions {
    /// Workers run this very executable with the hidden `__extract-child` subcommand.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self {
            child_program: std::env::current_exe()?,
            child_args: vec!["__extract-child".into()],
            child_env: Vec::new(),
            drain_signal: None,
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
    /// A background task (job consumer, webhook dispatcher, sweeper, listener, ...) panicked
    /// or ended while the replica was running: the replica drained and stopped so that its
    /// supervisor restarts it, rather than going on without it.
    #[error("background task {task} {reason}")]
    TaskFailed {
        /// Which task.
        task: &'static str,
        /// "panicked: <message>" or how it ended.
        reason: String,
    },
}

/// An error and its causes, `: `-separated (for log lines; `Display` shows only the first).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    // Bounded: error chains are short, but a cyclic `source()` must not hang a log line.
    for _ in 0..16 {
        let Some(c) = cause else { break };
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The message of a panic payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
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
    // A data directory from before the umask (or made by hand) may be open to other users.
    for (path, tree) in file_modes::storage_paths(&config) {
        file_modes::make_private_logged(&path, tree);
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
    telemetry::http::init_request_series(&metrics);
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
        claims: Default::default(),
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
        // After every route: the 405 fallback applies to the routes registered before it.
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
        // Every error response (extractor rejections, fallbacks, panics) is a problem document.
        .layer(axum::middleware::from_fn(problem::problem_responses))
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
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(problem::problem_responses))
}

/// Refuse an admin listener (unauthenticated: profiles, heap) on an unspecified or public
/// address unless `admin_listen_allow_public`; allow loopback, and private ranges with a log
/// line.
fn check_admin_listen(config: &Config) -> Result<(), ServerError> {
    if config.admin_listen.is_empty() {
        return Ok(());
    }
    let addr: SocketAddr = config.admin_listen.parse().map_err(|_| {
        config::ConfigError::invalid(format!(
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
            return Err(config::ConfigError::invalid(format!(
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
        config::ConfigError::invalid(format!(
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
    // The API's accept loop and clocks: a slow or idle client of the admin listener is cut
    // like one of the API, and it cannot hold more than a few descriptors of the process.
    Ok(Some(tokio::spawn(transport::serve(
        listener,
        app,
        None,
        transport::Limits::admin(&state.config),
        state.metrics.clone(),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ))))
}

/// Background tasks of a replica: drain watch, consumers, webhooks, sweeper, sampler. They run
/// until `stop` (consumers hand back their job when `grace` fires).
fn spawn_background(
    tasks: &mut Supervisor,
    state: &Arc<AppState>,
    options: &ServeOptions,
    consumers: bool,
    stop: &watch::Receiver<bool>,
    grace: &watch::Receiver<bool>,
) {
    tasks.spawn(
        "drain watch",
        drain::run_drain_watch(state.clone(), options.drain_signal.clone(), stop.clone()),
    );
    if consumers {
        let n = if state.config.job_concurrency > 0 {
            state.config.job_concurrency
        } else {
            state.config.worker_count()
        };
        // One task per consumer, so the loss of any one is seen at once.
        for i in 0..n.max(1) {
            tasks.spawn(
                "job consumer",
                jobs::consumer(state.clone(), i, stop.clone(), grace.clone()),
            );
        }
    }
    tasks.spawn(
        "webhook dispatcher",
        webhook::run_dispatcher(state.clone(), stop.clone()),
    );
    tasks.spawn(
        "retention sweeper",
        sweeper::run_sweeper(state.clone(), stop.clone()),
    );
    tasks.spawn(
        "status sampler",
        status::run_sampler(state.clone(), stop.clone()),
    );
    tasks.spawn(
        "audit anchor",
        audit::run_anchor(state.clone(), stop.clone()),
    );
}

/// How long background tasks get to end after the grace period before they are aborted.
const TASK_EXIT_MARGIN: Duration = Duration::from_secs(5);

/// A background task that ended while the replica was running.
#[derive(Debug)]
struct TaskFailure {
    task: &'static str,
    reason: String,
}

impl From<TaskFailure> for ServerError {
    fn from(f: TaskFailure) -> Self {
        ServerError::TaskFailed {
            task: f.task,
            reason: f.reason,
        }
    }
}

/// The background tasks of a replica, by name: a task that panics or ends before the replica
/// is stopped is reported (never discarded), and the replica then drains and exits with an
/// error so that its supervisor restarts it.
#[derive(Debug, Default)]
struct Supervisor {
    set: tokio::task::JoinSet<()>,
    names: std::collections::HashMap<tokio::task::Id, &'static str>,
}

impl Supervisor {
    fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        #[cfg(feature = "test-hooks")]
        let task = test_hooks::panic_if_asked(name, task);
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Watch a task spawned elsewhere.
    fn adopt(&mut self, name: &'static str, handle: tokio::task::JoinHandle<()>) {
        self.spawn(name, async move {
            if let Err(e) = handle.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        });
    }

    /// `None` for a task that returned (some have nothing to do in some configurations,
    /// e.g. the webhook dispatcher without webhooks); a failure for one that panicked.
    fn describe(
        &mut self,
        ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    ) -> Option<TaskFailure> {
        let (id, reason) = match ended {
            Ok((id, ())) => {
                let task = self.names.remove(&id).unwrap_or("unnamed task");
                tracing::debug!(task, "background task finished");
                return None;
            }
            Err(e) if e.is_panic() => {
                let id = e.id();
                (
                    id,
                    format!("panicked: {}", panic_message(e.into_panic().as_ref())),
                )
            }
            Err(e) => (e.id(), "was cancelled".to_owned()),
        };
        Some(TaskFailure {
            task: self.names.remove(&id).unwrap_or("unnamed task"),
            reason,
        })
    }

    /// The first task to fail (pending forever when none does).
    async fn first_failure(&mut self) -> TaskFailure {
        while let Some(ended) = self.set.join_next_with_id().await {
            if let Some(failure) = self.describe(ended) {
                tracing::error!(
                    task = failure.task,
                    reason = %failure.reason,
                    "a background task failed: this replica drains and exits with an error, to be restarted"
                );
                return failure;
            }
        }
        std::future::pending().await
    }

    /// Wait for every task until `deadline`, then abort the rest; the first that panicked.
    async fn join_all(&mut self, deadline: tokio::time::Instant) -> Option<TaskFailure> {
        let mut first = None;
        loop {
            match tokio::time::timeout_at(deadline, self.set.join_next_with_id()).await {
                Ok(None) => return first,
                Ok(Some(ended)) => {
                    if let Some(failure) = self.describe(ended) {
                        tracing::error!(task = failure.task, reason = %failure.reason, "a background task failed while stopping");
                        first.get_or_insert(failure);
                    }
                }
                Err(_) => {
                    tracing::warn!(
                        remaining = self.set.len(),
                        "background tasks did not stop in time; aborting them"
                    );
                    self.set.shutdown().await;
                    return first;
                }
            }
        }
    }
}

/// Deliberate failures for the service tests (cargo feature `test-hooks`, enabled only by the
/// test builds of `ndf-cli`; never in a release build).
#[cfg(feature = "test-hooks")]
mod test_hooks {
    use std::future::Future;

    /// `NDF_TEST_PANIC_TASK=<name>`: the task of that name panics after 200 ms.
    pub(super) fn panic_if_asked(
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let asked = std::env::var("NDF_TEST_PANIC_TASK").is_ok_and(|v| v == name);
        async move {
            if asked {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                panic!("test hook: {name} panics on purpose");
            }
            task.await;
        }
    }
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
    // Files and directories this process creates are its user's only (data directory,
    // database, blobs, keys).
    file_modes::private_umask();
    let listen = config.listen_addr()?;
    let tls_files = config.tls_files();
    let tls = match &tls_files {
        Some(files) => Some(tls::CurrentConfig::new(tls::server_config(files)?)),
        None => None,
    };
    let fd_limit = transport::raise_fd_limit();
    // Read before the stores open: a bad line stops the start at once.
    let bootstrap_keys = match &config.bootstrap_keys_file {
        Some(path) => bootstrap::read_file(path)?,
        None => Vec::new(),
    };
    let state = build_state(config, &options).await?;
    // Declared keys first: with one, the store has held a key and a public address is allowed.
    bootstrap::apply(&state, &bootstrap_keys).await?;
    // Open (no keys) only on loopback or when explicitly told so, and only while the store
    // has never held a key; the mode is logged here and at every change (auth::run_watch).
    let ever = state
        .auth
        .keys_ever_existed()
        .await
        .map_err(|e| std::io::Error::other(format!("reading the API keys' state: {e}")))?;
    if !ever && !auth::is_loopback(&listen) && !state.config.insecure_no_auth {
        return Err(config::ConfigError::invalid(format!(
            "refusing to serve {listen} without authentication: create an API key \
             (ndf keys create, or bootstrap_keys_file) or pass --insecure-no-auth"
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
    let mut tasks = Supervisor::default();
    spawn_background(
        &mut tasks,
        &state,
        &options,
        state.config.process_jobs,
        &stop_rx,
        &grace_rx,
    );
    tasks.spawn(
        "auth watch",
        auth::run_watch(state.clone(), stop_rx.clone()),
    );
    if let Some(admin) = spawn_admin(&state, &stop_rx).await? {
        tasks.adopt("admin listener", admin);
    }
    if let (Some(current), Some(files)) = (&tls, tls_files) {
        tasks.spawn(
            "TLS reload",
            tls::reload_on_change(current.clone(), files, stop_rx.clone()),
        );
    }
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(transport::serve(
        listener,
        router(state.clone()),
        tls,
        transport::Limits::new(&state.config, fd_limit),
        state.metrics.clone(),
        async move {
            let _ = close_rx.await;
        },
    ));
    // Serve until told to stop, or until the listener or a background task fails: a replica
    // that lost its job consumers must not go on looking healthy.
    let mut server_ended = false;
    let mut failure = tokio::select! {
        () = shutdown => None,
        failed = tasks.first_failure() => Some(failed),
        ended = &mut server => {
            server_ended = true;
            let reason = match ended {
                Ok(()) => "ended while the replica was running".to_owned(),
                Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic().as_ref())),
                Err(_) => "was cancelled".to_owned(),
            };
            tracing::error!(task = "API listener", %reason, "the API listener failed: this replica exits with an error");
            Some(TaskFailure { task: "API listener", reason })
        }
    };
    state.draining.store(true, Ordering::Relaxed);
    tracing::info!("shutting down: no new work; finishing in-flight requests and jobs");
    let _ = stop_tx.send(true);
    // Still accepting (answering 503) while load balancers notice /readyz.
    tokio::time::sleep(Duration::from_millis(state.config.shutdown_delay_ms)).await;
    let _ = close_tx.send(());
    // In-flight requests and jobs get `grace` to finish; then jobs are handed back (another
    // replica, or this one after a restart, takes them) and requests are dropped.
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(state.config.shutdown_grace_ms);
    let grace_timer = tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        let _ = grace_tx.send(true);
    });
    if !server_ended
        && tokio::time::timeout_at(deadline, &mut server)
            .await
            .is_err()
    {
        server.abort();
    }
    if let Some(f) = tasks.join_all(deadline + TASK_EXIT_MARGIN).await {
        failure.get_or_insert(f);
    }
    grace_timer.abort();
    // Failures counted since the last summary are written before the replica goes.
    audit::flush_auth_failures(&state, true).await;
    state.pool.shutdown(Duration::from_secs(1)).await;
    match failure {
        None => {
            tracing::info!("stopped");
            Ok(())
        }
        Some(f) => Err(f.into()),
    }
}

/// Run job consumers without HTTP until `shutdown` resolves (`ndf worker`).
pub async fn run_worker(
    config: Config,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    file_modes::private_umask();
    transport::raise_fd_limit();
    let state = build_state(config, &options).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (grace_tx, grace_rx) = watch::channel(false);
    let mut tasks = Supervisor::default();
    spawn_background(&mut tasks, &state, &options, true, &stop_rx, &grace_rx);
    if let Some(admin) = spawn_admin(&state, &stop_rx).await? {
        tasks.adopt("admin listener", admin);
    }
    let mut failure = tokio::select! {
        () = shutdown => None,
        failed = tasks.first_failure() => Some(failed),
    };
    state.draining.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(state.config.shutdown_grace_ms);
    let grace_timer = tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        let _ = grace_tx.send(true);
    });
    if let Some(f) = tasks.join_all(deadline + TASK_EXIT_MARGIN).await {
        failure.get_or_insert(f);
    }
    grace_timer.abort();
    state.pool.shutdown(Duration::from_secs(1)).await;
    match failure {
        None => Ok(()),
        Some(f) => Err(f.into()),
    }
}
