//! Service configuration: defaults < TOML file < `NDF_*` environment variables < flags.
//!
//! The CLI applies the three layers in that order: [`Config::from_toml`] for the file,
//! [`Config::apply_env`] for the environment, then sets fields from its flags. Every key of the
//! file has an environment variable: the key upper-cased with `NDF_` in front (`listen` →
//! `NDF_LISTEN`, `limits.deadline_ms` → `NDF_LIMITS_DEADLINE_MS`).

use std::path::PathBuf;

use ndf_model::Limits;
use serde::{Deserialize, Serialize};

/// Everything `ndf serve` and `ndf worker` read.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP listener (`NDF_LISTEN`).
    pub listen: String,
    /// Home of the embedded store: the SQLite database and the blob directory (`NDF_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Job store URL: `sqlite://PATH` or `postgres://…` (`NDF_STORE`); default: SQLite in `data_dir`.
    pub store: Option<String>,
    /// Blob store URL: `file://DIR` or `s3://bucket/prefix` (`NDF_BLOBS`); default: `data_dir/blobs`.
    pub blobs: Option<String>,
    /// S3 endpoint for `s3://` blobs (`NDF_S3_ENDPOINT`); default: `AWS_ENDPOINT_URL`.
    pub s3_endpoint: Option<String>,
    /// S3 region (`NDF_S3_REGION`); default: `AWS_REGION`, else `us-east-1`.
    pub s3_region: Option<String>,
    /// S3 access key id (`NDF_S3_ACCESS_KEY_ID`); default: `AWS_ACCESS_KEY_ID`.
    pub s3_access_key_id: Option<String>,
    /// S3 secret (`NDF_S3_SECRET_ACCESS_KEY`); default: `AWS_SECRET_ACCESS_KEY`. Redacted in output.
    pub s3_secret_access_key: Option<String>,
    /// Allow a plain-http S3 endpoint that is not on loopback (an in-cluster object store).
    pub s3_allow_http: bool,
    /// Most database connections per process.
    pub db_connections: u32,
    /// Extraction worker processes per replica; 0 = one per CPU (`NDF_WORKERS`).
    pub workers: usize,
    /// Address-space cap of each extraction worker process, in bytes (0 = none).
    pub worker_memory_bytes: u64,
    /// Documents an extraction worker process handles before it is replaced.
    pub worker_recycle_after: u32,
    /// Run job consumers in `ndf serve` (an API-only replica sets this to false).
    pub process_jobs: bool,
    /// Jobs this replica processes at once; 0 = as many as worker processes.
    pub job_concurrency: usize,
    /// Largest request body accepted, in bytes (413 above).
    pub max_body_bytes: u64,
    /// Deadline of a synchronous extraction in milliseconds (504 after it).
    pub sync_timeout_ms: u64,
    /// Synchronous requests that may wait for a busy worker; more get 503 with Retry-After.
    pub max_waiting: usize,
    /// Queued jobs accepted before new submissions get 429 with Retry-After.
    pub max_queued_jobs: u64,
    /// Queued and running jobs one tenant may have before its submissions get 429 with
    /// Retry-After (0 = no per-tenant limit): one tenant cannot fill the queue for all.
    pub max_queued_jobs_per_tenant: u64,
    /// Lease of a running job in milliseconds: a worker that stops heartbeating loses its job
    /// after this long and another worker takes it.
    pub lease_ms: u64,
    /// Attempts before a job fails for good (a poison document never loops forever).
    pub max_attempts: u32,
    /// How long inputs, results and job records are kept, in milliseconds.
    pub retention_ms: u64,
    /// How often the retention sweeper runs, in milliseconds.
    pub sweep_interval_ms: u64,
    /// How often a replica logs the audit log's head as an anchor (`ndf audit verify
    /// --anchor`), in milliseconds, when it changed; 0 = only at start and at shutdown.
    pub audit_anchor_interval_ms: u64,
    /// PostgreSQL: at most this often (milliseconds, across replicas) the sweeper rewrites the
    /// job table (`VACUUM FULL`) so deleted rows and data keys leave its files; 0 = never.
    pub vacuum_full_interval_ms: u64,
    /// How often an idle job consumer polls the store, in milliseconds.
    pub poll_interval_ms: u64,
    /// Secret signing webhook deliveries (HMAC-SHA256). Redacted in output.
    pub webhook_secret: Option<String>,
    /// Hosts webhooks may call (`host`, `host:port` or `*.domain`); empty = webhooks refused.
    pub webhook_allow_hosts: Vec<String>,
    /// Delivery attempts per webhook (exponential backoff between them).
    pub webhook_max_attempts: u32,
    /// Time given to in-flight requests and jobs on SIGTERM before they are handed back.
    pub shutdown_grace_ms: u64,
    /// A file whose line `ndf.dev/drain="true"` drains this replica: it claims no new jobs
    /// and finishes those it holds (a Kubernetes downward-API file of the pod's annotations);
    /// read every `drain_poll_ms`; none = off. Missing or unreadable = no drain.
    pub drain_file: Option<PathBuf>,
    /// How often `drain_file` is read, in milliseconds.
    pub drain_poll_ms: u64,
    /// After SIGTERM, keep accepting connections this long while `/readyz` reports 503 and new
    /// work gets 503 `draining`, so load balancers stop routing here first.
    pub shutdown_delay_ms: u64,
    /// Memory limit of the replica for the memory alert (`ndf_memory_limit_bytes`); 0 = its
    /// cgroup's limit, if any.
    pub memory_limit_bytes: u64,
    /// Address of the admin listener (profiling, heap statistics, metrics); empty = off. Keep it
    /// on loopback or a private network: it is not authenticated.
    pub admin_listen: String,
    /// Longest CPU profile the admin listener takes, in seconds.
    pub admin_max_profile_seconds: u64,
    /// Let `admin_listen` be an unspecified (`0.0.0.0`, `::`) or public address; without it
    /// the service refuses to start on one (loopback and private ranges are allowed).
    pub admin_listen_allow_public: bool,
    /// PEM certificate chain of the API listener; with `tls_key_file`, the API speaks TLS 1.2/1.3
    /// only (files reloaded when they change).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the API listener.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle: clients must present a certificate it signed (mutual TLS).
    pub tls_client_ca_file: Option<PathBuf>,
    /// Secret keying the stored hashes of API keys (`NDF_API_KEY_SECRET`); redacted. Default
    /// on the embedded store: a random secret kept in `data_dir/api-key-secret` (mode 0600).
    pub api_key_secret: Option<String>,
    /// Serve without API keys on a non-loopback address (behind a gateway that authenticates).
    pub insecure_no_auth: bool,
    /// File of API keys `ndf serve` makes sure exist at start (`NDF_BOOTSTRAP_KEYS_FILE`; a
    /// mounted Secret, at most 64 KiB): one `TENANT SCOPE[,SCOPE…] NAME… KEY` line each, as
    /// `ndf keys generate` prints. Missing keys are created, existing ones left alone, revoked
    /// ones stay revoked (see `crate::bootstrap`).
    pub bootstrap_keys_file: Option<PathBuf>,
    /// Requests per minute per API key (0 = unlimited), shared by all replicas.
    pub rate_limit_key_per_minute: u64,
    /// Requests per minute per tenant (0 = unlimited), shared by all replicas.
    pub rate_limit_tenant_per_minute: u64,
    /// Failed authentications (401) a source may have per `auth_failure_window_ms` before its
    /// requests get 429 without being checked (0 = no limit); per replica.
    pub auth_failure_limit: u32,
    /// The window of `auth_failure_limit` and of the aggregation of `auth_failed` audit
    /// records, in milliseconds.
    pub auth_failure_window_ms: u64,
    /// Most `auth_failed` audit records a replica writes per window; further failures are
    /// counted into one summary record per window.
    pub auth_failure_audit_max: u32,
    /// Most sources a replica tracks at once; failures of further sources share one bucket.
    pub auth_failure_max_sources: usize,
    /// Proxies (IP addresses or CIDR ranges) whose `X-Forwarded-For` names the source of a
    /// request for failed-authentication limits; empty = the peer address is the source.
    pub trusted_proxies: Vec<String>,
    /// Master key ring for encryption at rest (`NDF_MASTER_KEY`; lines `id:<64 hex>`, the last
    /// or `current=` one current); redacted.
    pub master_key: Option<String>,
    /// File holding the master key ring (at most 64 KiB).
    pub master_key_file: Option<PathBuf>,
    /// Store inputs and results unencrypted when no master key is configured (never the
    /// default; the embedded store creates its own key).
    pub allow_unencrypted: bool,
    /// Bytes of extraction results this replica keeps in memory to answer repeated requests
    /// for the same document, options and tenant (`NDF_RESULT_CACHE_BYTES`); 0 = no cache.
    /// Results larger than an eighth of it are not kept.
    pub result_cache_bytes: u64,
    /// Time for a connection's TLS handshake and request headers to arrive, in milliseconds:
    /// from the accept, and on a kept-alive HTTP/1.1 connection from the first byte of the
    /// next request. Slower clients are disconnected.
    pub http_header_read_timeout_ms: u64,
    /// Time for a request's whole body to arrive, from its headers, in milliseconds; a slower
    /// upload gets 408 `request_timeout` and its connection is closed.
    pub http_body_read_timeout_ms: u64,
    /// A connection with no request in flight (an idle keep-alive HTTP/1.1 or HTTP/2
    /// connection) is closed after this many milliseconds.
    pub http_idle_timeout_ms: u64,
    /// Most open connections of the API listener; beyond it new connections are accepted and
    /// closed at once. The effective cap is at most three quarters of the descriptor limit.
    pub max_connections: usize,
    /// Most concurrent requests (streams) of one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// Largest header list an HTTP/2 request may send, in bytes.
    pub http2_max_header_list_bytes: u32,
    /// Engine limits applied to every document.
    #[serde(deserialize_with = "strict_limits")]
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: default_data_dir(),
            store: None,
            blobs: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            db_connections: 8,
            workers: 0,
            worker_memory_bytes: 2 << 30,
            worker_recycle_after: 1000,
            process_jobs: true,
            job_concurrency: 0,
            max_body_bytes: 100 << 20,
            sync_timeout_ms: 30_000,
            max_waiting: 64,
            max_queued_jobs: 100_000,
            max_queued_jobs_per_tenant: 10_000,
            lease_ms: 30_000,
            max_attempts: 3,
            retention_ms: 7 * 24 * 3600 * 1000,
            sweep_interval_ms: 60_000,
            audit_anchor_interval_ms: 60_000,
            vacuum_full_interval_ms: 24 * 3600 * 1000,
            poll_interval_ms: 250,
            webhook_secret: None,
            webhook_allow_hosts: Vec::new(),
            webhook_max_attempts: 8,
            shutdown_grace_ms: 30_000,
            shutdown_delay_ms: 0,
            drain_file: None,
            drain_poll_ms: 1000,
            memory_limit_bytes: 0,
            admin_listen: String::new(),
            admin_max_profile_seconds: 60,
            admin_listen_allow_public: false,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            api_key_secret: None,
            insecure_no_auth: false,
            bootstrap_keys_file: None,
            rate_limit_key_per_minute: 6_000,
            rate_limit_tenant_per_minute: 12_000,
            auth_failure_limit: 20,
            auth_failure_window_ms: 60_000,
            auth_failure_audit_max: 100,
            auth_failure_max_sources: 10_000,
            trusted_proxies: Vec::new(),
            master_key: None,
            master_key_file: None,
            allow_unencrypted: false,
            result_cache_bytes: 64 << 20,
            http_header_read_timeout_ms: 10_000,
            http_body_read_timeout_ms: 300_000,
            http_idle_timeout_ms: 75_000,
            max_connections: 4096,
            http2_max_concurrent_streams: 64,
            http2_max_header_list_bytes: 16 << 10,
            limits: Limits::default(),
        }
    }
}

/// `$XDG_DATA_HOME/ndf`, else `$HOME/.local/share/ndf`, else `./ndf-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("ndf");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/ndf");
    }
    PathBuf::from("ndf-data")
}

/// A cause of a [`ConfigError`] from another library (a parser, the file system, rustls).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A configuration problem (bad file, bad variable, bad value), with its cause as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file does not parse, has a value of the wrong type or an unknown key.
    #[error("invalid TOML")]
    File(#[source] toml::de::Error),
    /// A key that does not exist (`--set`, `NDF_*`): with the nearest known key, if any.
    #[error("unknown configuration key {key:?}{}", did_you_mean(suggestion.as_deref()))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// The nearest known key.
        suggestion: Option<String>,
    },
    /// An `NDF_*` environment variable that is neither a configuration key nor one of the
    /// variables of ndf's tools and tests ([`NON_CONFIG_ENV`]).
    #[error(
        "unknown environment variable {var}: no configuration key {key:?}{}",
        did_you_mean(suggestion.as_deref())
    )]
    UnknownVariable {
        /// The variable.
        var: String,
        /// The key it would set.
        key: String,
        /// The nearest known variable.
        suggestion: Option<String>,
    },
    /// A value that does not parse as its key's type.
    #[error("{key}: expected {expected}, got {value:?}")]
    BadValue {
        /// The key.
        key: String,
        /// What the key takes.
        expected: &'static str,
        /// The value as given.
        value: String,
        /// Why it does not parse, when the parser says.
        #[source]
        source: Option<Cause>,
    },
    /// An `NDF_*` variable whose value is bad.
    #[error("environment variable {var}")]
    Variable {
        /// The variable.
        var: String,
        /// What is wrong with its value.
        #[source]
        source: Box<ConfigError>,
    },
    /// An address that does not parse.
    #[error("{key} must be ADDR:PORT, got {value:?}")]
    Address {
        /// The key (`listen`, `admin_listen`).
        key: &'static str,
        /// The value as given.
        value: String,
        /// The parser's reason.
        #[source]
        source: std::net::AddrParseError,
    },
    /// A file the configuration names cannot be read or used (TLS, master keys).
    #[error("{what} {}", path.display())]
    UnusableFile {
        /// What the file is (`certificate`, `master key file`, ...).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: Cause,
    },
    /// A line of `bootstrap_keys_file` that is not a key line. Names the line, never its
    /// content (it holds a key).
    #[error("bootstrap_keys_file {} line {line}: {problem}", path.display())]
    BootstrapLine {
        /// The file.
        path: PathBuf,
        /// The line number (from 1).
        line: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A setting that cannot be used, with its cause (a TLS or key library's error).
    #[error("{what}")]
    Unusable {
        /// What could not be used.
        what: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A value that parses but is not allowed, or a combination that does not go together.
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// A value or combination that is not allowed (no underlying cause).
    pub fn invalid(message: impl Into<String>) -> Self {
        ConfigError::Invalid(message.into())
    }

    /// A setting that cannot be used because of `source`.
    pub fn unusable(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        ConfigError::Unusable {
            what: what.into(),
            source: source.into(),
        }
    }

    /// A file that cannot be read or used because of `source`.
    pub fn file(what: &'static str, path: &std::path::Path, source: impl Into<Cause>) -> Self {
        ConfigError::UnusableFile {
            what,
            path: path.to_path_buf(),
            source: source.into(),
        }
    }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean {s:?}?)"))
}

/// Every key [`Config::set`] takes (`--set KEY=VALUE`, `NDF_<KEY>`), in file spelling with
/// the dots of `limits.*` as underscores. A unit test keeps it equal to the fields of the
/// configuration file.
pub const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "store",
    "blobs",
    "s3_endpoint",
    "s3_region",
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_allow_http",
    "db_connections",
    "workers",
    "worker_memory_bytes",
    "worker_recycle_after",
    "process_jobs",
    "job_concurrency",
    "max_body_bytes",
    "sync_timeout_ms",
    "max_waiting",
    "max_queued_jobs",
    "max_queued_jobs_per_tenant",
    "lease_ms",
    "max_attempts",
    "retention_ms",
    "sweep_interval_ms",
    "audit_anchor_interval_ms",
    "vacuum_full_interval_ms",
    "poll_interval_ms",
    "webhook_secret",
    "webhook_allow_hosts",
    "webhook_max_attempts",
    "shutdown_grace_ms",
    "shutdown_delay_ms",
    "drain_file",
    "drain_poll_ms",
    "memory_limit_bytes",
    "admin_listen",
    "admin_max_profile_seconds",
    "admin_listen_allow_public",
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "api_key_secret",
    "insecure_no_auth",
    "bootstrap_keys_file",
    "rate_limit_key_per_minute",
    "rate_limit_tenant_per_minute",
    "auth_failure_limit",
    "auth_failure_window_ms",
    "auth_failure_audit_max",
    "auth_failure_max_sources",
    "trusted_proxies",
    "master_key",
    "master_key_file",
    "allow_unencrypted",
    "result_cache_bytes",
    "http_header_read_timeout_ms",
    "http_body_read_timeout_ms",
    "http_idle_timeout_ms",
    "max_connections",
    "http2_max_concurrent_streams",
    "http2_max_header_list_bytes",
    "limits_max_file_bytes",
    "limits_max_objects",
    "limits_max_nesting",
    "limits_max_stream_bytes",
    "limits_max_document_bytes",
    "limits_max_operators_per_page",
    "limits_max_chars_per_page",
    "limits_max_xobject_depth",
    "limits_max_pages",
    "limits_deadline_ms",
];

/// `NDF_*` variables that are not configuration: read by the CLI (`NDF_CONFIG`,
/// `NDF_PASSWORD`), logging (`NDF_LOG`, `NDF_LOG_FORMAT`), the engine (`NDF_SIMD`), the worker
/// pool (`NDF_CHILD_MEMORY_LIMIT`) and the test, benchmark and release scripts. Any other
/// `NDF_*` variable must be a key of [`KEYS`], so a misspelt one is an error, not ignored.
pub const NON_CONFIG_ENV: &[&str] = &[
    "NDF_CONFIG",
    "NDF_PASSWORD",
    "NDF_LOG",
    "NDF_LOG_FORMAT",
    "NDF_SIMD",
    "NDF_CHILD_MEMORY_LIMIT",
    "NDF_CORPUS_DIR",
    "NDF_CRASH_SEED",
    "NDF_HOSTILE_CHILD",
];

/// Prefixes of `NDF_*` variables that are not configuration (tests, benchmarks, the perf gate,
/// PGO and load scripts, test hooks): see [`NON_CONFIG_ENV`].
pub const NON_CONFIG_ENV_PREFIXES: &[&str] = &[
    "NDF_TEST_",
    "NDF_REQUIRE_",
    "NDF_POOL_",
    "NDF_BENCH_",
    "NDF_PERF_",
    "NDF_PGO_",
    "NDF_LOAD_",
    "NDF_UPDATE_",
    "NDF_LAYOUT_",
    "NDF_STORE_CHILD_",
    "NDF_SEAL_TEST_",
    "NDF_HOOKS_",
];

/// Whether an `NDF_*` variable belongs to a tool or test rather than to the configuration.
pub fn is_non_config_env(var: &str) -> bool {
    NON_CONFIG_ENV.contains(&var) || NON_CONFIG_ENV_PREFIXES.iter().any(|p| var.starts_with(p))
}

/// The known key nearest to `key` (edit distance at most a third of its length, at least 2).
pub fn nearest_key(key: &str) -> Option<&'static str> {
    let limit = (key.chars().count() / 3).max(2);
    KEYS.iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance (keys are short: a few dozen characters).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// `[limits]` of the configuration file: the engine's limits, refusing unknown keys (the
/// engine's own type accepts any, for stored job options).
fn strict_limits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
    use serde::de::Error as _;
    let table = toml::Table::deserialize(d)?;
    let known = toml::Table::try_from(Limits::default()).map_err(D::Error::custom)?;
    if let Some(k) = table.keys().find(|k| !known.contains_key(*k)) {
        let suggestion = nearest_key(&format!("limits_{k}"))
            .and_then(|s| s.strip_prefix("limits_"))
            .map(|s| format!(" (did you mean limits.{s}?)"))
            .unwrap_or_default();
        return Err(D::Error::custom(format!(
            "unknown key limits.{k}{suggestion}"
        )));
    }
    table.try_into().map_err(D::Error::custom)
}

impl Config {
    /// Parse a TOML configuration file's contents over the defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(ConfigError::File)
    }

    /// Apply `NDF_*` variables from `vars` (normally `std::env::vars()`).
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (var, v) in vars {
            let Some(name) = var.strip_prefix("NDF_") else {
                continue;
            };
            if is_non_config_env(&var) {
                continue;
            }
            let key = name.to_ascii_lowercase();
            if !KEYS.contains(&key.as_str()) {
                return Err(ConfigError::UnknownVariable {
                    suggestion: nearest_key(&key)
                        .map(|k| format!("NDF_{}", k.to_ascii_uppercase())),
                    var,
                    key,
                });
            }
            self.set(&key, &v).map_err(|e| ConfigError::Variable {
                var: var.clone(),
                source: Box::new(e),
            })?;
        }
        Ok(())
    }

    /// Set one key (file spelling, e.g. `listen` or `limits_deadline_ms`) from its text value.
    /// An unknown key is an error naming the nearest known one.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        fn num<T>(key: &str, v: &str) -> Result<T, ConfigError>
        where
            T: std::str::FromStr,
            T::Err: std::error::Error + Send + Sync + 'static,
        {
            v.trim().parse().map_err(|e: T::Err| ConfigError::BadValue {
                key: key.to_owned(),
                expected: "a number",
                value: v.to_owned(),
                source: Some(Box::new(e)),
            })
        }
        fn flag(key: &str, v: &str) -> Result<bool, ConfigError> {
            match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::BadValue {
                    key: key.to_owned(),
                    expected: "true or false",
                    value: v.to_owned(),
                    source: None,
                }),
            }
        }
        let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        match key {
            "listen" => self.listen = value.trim().to_owned(),
            "data_dir" => self.data_dir = PathBuf::from(value),
            "store" => self.store = opt(value),
            "blobs" => self.blobs = opt(value),
            "s3_endpoint" => self.s3_endpoint = opt(value),
            "s3_region" => self.s3_region = opt(value),
            "s3_access_key_id" => self.s3_access_key_id = opt(value),
            "s3_secret_access_key" => self.s3_secret_access_key = opt(value),
            "s3_allow_http" => self.s3_allow_http = flag(key, value)?,
            "db_connections" => self.db_connections = num(key, value)?,
            "workers" => self.workers = num(key, value)?,
            "worker_memory_bytes" => self.worker_memory_bytes = num(key, value)?,
            "worker_recycle_after" => self.worker_recycle_after = num(key, value)?,
            "process_jobs" => self.process_jobs = flag(key, value)?,
            "job_concurrency" => self.job_concurrency = num(key, value)?,
            "max_body_bytes" => self.max_body_bytes = num(key, value)?,
            "sync_timeout_ms" => self.sync_timeout_ms = num(key, value)?,
            "max_waiting" => self.max_waiting = num(key, value)?,
            "max_queued_jobs" => self.max_queued_jobs = num(key, value)?,
            "max_queued_jobs_per_tenant" => self.max_queued_jobs_per_tenant = num(key, value)?,
            "lease_ms" => self.lease_ms = num(key, value)?,
            "max_attempts" => self.max_attempts = num(key, value)?,
            "retention_ms" => self.retention_ms = num(key, value)?,
            "sweep_interval_ms" => self.sweep_interval_ms = num(key, value)?,
            "audit_anchor_interval_ms" => self.audit_anchor_interval_ms = num(key, value)?,
            "vacuum_full_interval_ms" => self.vacuum_full_interval_ms = num(key, value)?,
            "poll_interval_ms" => self.poll_interval_ms = num(key, value)?,
            "webhook_secret" => self.webhook_secret = opt(value),
            "webhook_allow_hosts" => {
                self.webhook_allow_hosts = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "webhook_max_attempts" => self.webhook_max_attempts = num(key, value)?,
            "shutdown_grace_ms" => self.shutdown_grace_ms = num(key, value)?,
            "shutdown_delay_ms" => self.shutdown_delay_ms = num(key, value)?,
            "drain_file" => self.drain_file = opt(value).map(PathBuf::from),
            "drain_poll_ms" => self.drain_poll_ms = num(key, value)?,
            "memory_limit_bytes" => self.memory_limit_bytes = num(key, value)?,
            "admin_listen" => self.admin_listen = value.trim().to_owned(),
            "admin_max_profile_seconds" => self.admin_max_profile_seconds = num(key, value)?,
            "admin_listen_allow_public" => self.admin_listen_allow_public = flag(key, value)?,
            "tls_cert_file" => self.tls_cert_file = opt(value).map(PathBuf::from),
            "tls_key_file" => self.tls_key_file = opt(value).map(PathBuf::from),
            "tls_client_ca_file" => self.tls_client_ca_file = opt(value).map(PathBuf::from),
            "api_key_secret" => self.api_key_secret = opt(value),
            "insecure_no_auth" => self.insecure_no_auth = flag(key, value)?,
            "bootstrap_keys_file" => self.bootstrap_keys_file = opt(value).map(PathBuf::from),
            "rate_limit_key_per_minute" => self.rate_limit_key_per_minute = num(key, value)?,
            "rate_limit_tenant_per_minute" => self.rate_limit_tenant_per_minute = num(key, value)?,
            "auth_failure_limit" => self.auth_failure_limit = num(key, value)?,
            "auth_failure_window_ms" => self.auth_failure_window_ms = num(key, value)?,
            "auth_failure_audit_max" => self.auth_failure_audit_max = num(key, value)?,
            "auth_failure_max_sources" => self.auth_failure_max_sources = num(key, value)?,
            "trusted_proxies" => {
                self.trusted_proxies = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "master_key" => self.master_key = opt(value),
            "master_key_file" => self.master_key_file = opt(value).map(PathBuf::from),
            "allow_unencrypted" => self.allow_unencrypted = flag(key, value)?,
            "result_cache_bytes" => self.result_cache_bytes = num(key, value)?,
            "http_header_read_timeout_ms" => self.http_header_read_timeout_ms = num(key, value)?,
            "http_body_read_timeout_ms" => self.http_body_read_timeout_ms = num(key, value)?,
            "http_idle_timeout_ms" => self.http_idle_timeout_ms = num(key, value)?,
            "max_connections" => self.max_connections = num(key, value)?,
            "http2_max_concurrent_streams" => {
                self.http2_max_concurrent_streams = num(key, value)?;
            }
            "http2_max_header_list_bytes" => self.http2_max_header_list_bytes = num(key, value)?,
            "limits_max_file_bytes" => self.limits.max_file_bytes = num(key, value)?,
            "limits_max_objects" => self.limits.max_objects = num(key, value)?,
            "limits_max_nesting" => self.limits.max_nesting = num(key, value)?,
            "limits_max_stream_bytes" => self.limits.max_stream_bytes = num(key, value)?,
            "limits_max_document_bytes" => self.limits.max_document_bytes = num(key, value)?,
            "limits_max_operators_per_page" => {
                self.limits.max_operators_per_page = num(key, value)?;
            }
            "limits_max_chars_per_page" => self.limits.max_chars_per_page = num(key, value)?,
            "limits_max_xobject_depth" => self.limits.max_xobject_depth = num(key, value)?,
            "limits_max_pages" => self.limits.max_pages = num(key, value)?,
            "limits_deadline_ms" => self.limits.deadline_ms = num(key, value)?,
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                    suggestion: nearest_key(key).map(str::to_owned),
                });
            }
        }
        Ok(())
    }

    /// Check values that would make the service misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::invalid(m));
        self.listen_addr()?;
        if self.max_body_bytes == 0 || self.max_body_bytes > self.limits.max_file_bytes {
            return bad("max_body_bytes must be between 1 and limits.max_file_bytes");
        }
        if self.lease_ms < 1000 {
            return bad("lease_ms must be at least 1000");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if !(10..=3_600_000).contains(&self.drain_poll_ms) {
            return bad("drain_poll_ms must be between 10 and 3600000");
        }
        if self.sync_timeout_ms == 0 {
            return bad("sync_timeout_ms must be positive");
        }
        if !self.admin_listen.is_empty() {
            self.admin_listen
                .parse::<std::net::SocketAddr>()
                .map_err(|source| ConfigError::Address {
                    key: "admin_listen",
                    value: self.admin_listen.clone(),
                    source,
                })?;
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return bad("tls_cert_file and tls_key_file go together");
        }
        if self.tls_client_ca_file.is_some() && self.tls_cert_file.is_none() {
            return bad("tls_client_ca_file needs tls_cert_file and tls_key_file");
        }
        if self.api_key_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return bad("api_key_secret must be at least 16 characters");
        }
        if self.admin_max_profile_seconds == 0 || self.admin_max_profile_seconds > 3600 {
            return bad("admin_max_profile_seconds must be between 1 and 3600");
        }
        for (key, ms) in [
            (
                "http_header_read_timeout_ms",
                self.http_header_read_timeout_ms,
            ),
            ("http_body_read_timeout_ms", self.http_body_read_timeout_ms),
            ("http_idle_timeout_ms", self.http_idle_timeout_ms),
        ] {
            if !(100..=86_400_000).contains(&ms) {
                return Err(ConfigError::invalid(format!(
                    "{key} must be between 100 and 86400000"
                )));
            }
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            return bad("max_connections must be between 1 and 1000000");
        }
        if self.http2_max_concurrent_streams == 0 {
            return bad("http2_max_concurrent_streams must be at least 1");
        }
        if self.http2_max_header_list_bytes < 1024 {
            return bad("http2_max_header_list_bytes must be at least 1024");
        }
        if !(1_000..=86_400_000).contains(&self.auth_failure_window_ms) {
            return bad("auth_failure_window_ms must be between 1000 and 86400000");
        }
        if self.auth_failure_max_sources == 0 || self.auth_failure_max_sources > 1_000_000 {
            return bad("auth_failure_max_sources must be between 1 and 1000000");
        }
        if let Some(p) = self
            .trusted_proxies
            .iter()
            .find(|p| crate::auth_limit::parse_cidr(p).is_none())
        {
            return Err(ConfigError::invalid(format!(
                "trusted_proxies: {p:?} is not an IP address or CIDR range"
            )));
        }
        Ok(())
    }

    /// The address of the API listener.
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        self.listen.parse().map_err(|source| ConfigError::Address {
            key: "listen",
            value: self.listen.clone(),
            source,
        })
    }

    /// The TLS files, when TLS is configured.
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.tls_cert_file.clone()?,
            key: self.tls_key_file.clone()?,
            client_ca: self.tls_client_ca_file.clone(),
        })
    }

    /// Worker processes to run (resolving 0 to the CPU count).
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    /// Job store URL, defaulting to SQLite under `data_dir`.
    pub fn store_url(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("ndf.db").display()))
    }

    /// Blob store URL, defaulting to a directory under `data_dir`.
    pub fn blobs_url(&self) -> String {
        self.blobs
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.data_dir.join("blobs").display()))
    }

    /// The effective configuration as TOML with secrets (and passwords inside URLs) redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut c = self.clone();
        let hide = |s: &mut Option<String>| {
            if s.is_some() {
                *s = Some("***".into());
            }
        };
        hide(&mut c.s3_secret_access_key);
        hide(&mut c.webhook_secret);
        hide(&mut c.api_key_secret);
        hide(&mut c.master_key);
        c.store = c.store.as_deref().map(ndf_store::redact_url);
        c.blobs = c.blobs.as_deref().map(ndf_store::redact_url);
        toml::to_string(&c).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_redacted_toml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let mut c = Config::from_toml(
            "listen = \"127.0.0.1:9000\"\nworkers = 3\n[limits]\ndeadline_ms = 5\n",
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.limits.deadline_ms, 5);
        c.apply_env([
            ("NDF_WORKERS".to_owned(), "7".to_owned()),
            ("NDF_LIMITS_DEADLINE_MS".to_owned(), "9".to_owned()),
            ("NDF_PASSWORD".to_owned(), "not config".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ])
        .unwrap();
        assert_eq!(c.workers, 7, "environment beats the file");
        assert_eq!(c.limits.deadline_ms, 9);
        assert_eq!(
            c.listen, "127.0.0.1:9000",
            "untouched keys keep the file's value"
        );
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::from_toml("no_such_key = 1").is_err());
        let mut c = Config::default();
        assert!(
            c.apply_env([("NDF_WORKERS".to_owned(), "many".to_owned())])
                .is_err()
        );
        c.listen = "nowhere".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn keys_are_exactly_the_fields_of_the_file() {
        let rendered = serde_json::to_value(Config::default()).unwrap();
        let mut fields = Vec::new();
        for (k, v) in rendered.as_object().unwrap() {
            match v.as_object() {
                Some(table) => fields.extend(table.keys().map(|f| format!("{k}_{f}"))),
                None => fields.push(k.clone()),
            }
        }
        for f in &fields {
            assert!(KEYS.contains(&f.as_str()), "{f} is missing from KEYS");
        }
        for k in KEYS {
            assert!(
                fields.iter().any(|f| f == k),
                "KEYS has {k}, the file does not"
            );
            // Every key is taken by `set` (a value of the wrong type is a BadValue, never
            // an UnknownKey).
            let mut c = Config::default();
            match c.set(k, "1") {
                Ok(()) | Err(ConfigError::BadValue { .. }) => {}
                Err(e) => panic!("{k}: {e}"),
            }
        }
    }

    #[test]
    fn unknown_keys_and_variables_are_errors_naming_the_nearest_key() {
        let mut c = Config::default();
        let e = c.set("max_atempts", "5").unwrap_err();
        assert!(
            matches!(&e, ConfigError::UnknownKey { key, suggestion: Some(s) } if key == "max_atempts" && s == "max_attempts"),
            "{e:?}"
        );
        assert!(e.to_string().contains("\"max_attempts\""), "{e}");
        assert!(matches!(
            c.set("zzzzzzzzzzzz", "5"),
            Err(ConfigError::UnknownKey {
                suggestion: None,
                ..
            })
        ));
        let e = c
            .apply_env([("NDF_MAX_ATEMPTS".to_owned(), "5".to_owned())])
            .unwrap_err();
        assert!(
            matches!(&e, ConfigError::UnknownVariable { var, suggestion: Some(s), .. } if var == "NDF_MAX_ATEMPTS" && s == "NDF_MAX_ATTEMPTS"),
            "{e:?}"
        );
        // The variables of ndf's own tools and tests are not configuration.
        c.apply_env(
            [
                "NDF_PASSWORD",
                "NDF_LOG",
                "NDF_LOG_FORMAT",
                "NDF_CONFIG",
                "NDF_SIMD",
                "NDF_CHILD_MEMORY_LIMIT",
                "NDF_POOL_TEST_HOOKS",
                "NDF_REQUIRE_SERVICES",
                "NDF_TEST_POSTGRES_URL",
                "NDF_BENCH_OUT",
                "NDF_CORPUS_DIR",
            ]
            .map(|k| (k.to_owned(), "x".to_owned())),
        )
        .unwrap();
        assert_eq!(c.max_attempts, Config::default().max_attempts);
        // Names no tool reads any more are not skipped: like any unknown `NDF_*`, an error.
        for retired in [
            "NDF_CORPUS",
            "NDF_DEV_CORPUS",
            "NDF_FONTFILE_SAMPLES",
            "NDF_CHARS",
        ] {
            let e = c
                .apply_env([(retired.to_owned(), "x".to_owned())])
                .unwrap_err();
            assert!(
                matches!(&e, ConfigError::UnknownVariable { var, .. } if var == retired),
                "{e:?}"
            );
        }
        // The file: unknown keys at the top and in [limits].
        let e = Config::from_toml("max_atempts = 5").unwrap_err();
        assert!(format!("{:?}", std::error::Error::source(&e)).contains("max_atempts"));
        let e = Config::from_toml("[limits]\ndedline_ms = 5\n").unwrap_err();
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(
            cause.contains("limits.dedline_ms") && cause.contains("limits.deadline_ms"),
            "{cause}"
        );
        assert_eq!(
            Config::from_toml("[limits]\ndeadline_ms = 5\n")
                .unwrap()
                .limits
                .deadline_ms,
            5
        );
    }

    #[test]
    fn errors_keep_their_cause() {
        use std::error::Error as _;
        let mut c = Config::default();
        let e = c.set("workers", "many").unwrap_err();
        let cause = e.source().expect("the parser's error");
        assert!(cause.is::<std::num::ParseIntError>(), "{cause:?}");
        let e = c
            .apply_env([("NDF_WORKERS".to_owned(), "many".to_owned())])
            .unwrap_err();
        assert_eq!(e.to_string(), "environment variable NDF_WORKERS");
        let inner = e.source().unwrap();
        assert_eq!(
            inner.to_string(),
            "workers: expected a number, got \"many\""
        );
        assert!(inner.source().unwrap().is::<std::num::ParseIntError>());
        let e = Config::from_toml("workers = \"many\"").unwrap_err();
        assert!(e.source().unwrap().is::<toml::de::Error>());
        c.listen = "nowhere".into();
        let e = c.validate().unwrap_err();
        assert!(
            e.source().unwrap().is::<std::net::AddrParseError>(),
            "{e:?}"
        );
        assert!(e.to_string().contains("\"nowhere\""), "{e}");
    }

    #[test]
    fn drain_keys_come_from_every_layer() {
        let c = Config::default();
        assert_eq!((c.drain_file.as_deref(), c.drain_poll_ms), (None, 1000));
        let mut c = Config::from_toml("drain_file = \"/etc/podinfo/annotations\"\n").unwrap();
        assert_eq!(
            c.drain_file.as_deref(),
            Some(std::path::Path::new("/etc/podinfo/annotations"))
        );
        c.apply_env([
            ("NDF_DRAIN_FILE".to_owned(), "/run/drain".to_owned()),
            ("NDF_DRAIN_POLL_MS".to_owned(), "250".to_owned()),
        ])
        .unwrap();
        assert_eq!(
            (c.drain_file.as_deref(), c.drain_poll_ms),
            (Some(std::path::Path::new("/run/drain")), 250)
        );
        // An empty value turns it off.
        c.set("drain_file", "").unwrap();
        assert_eq!(c.drain_file, None);
        assert!(c.validate().is_ok());
        c.set("drain_poll_ms", "0").unwrap();
        let e = c.validate().unwrap_err();
        assert!(
            matches!(&e, ConfigError::Invalid(m) if m.contains("drain_poll_ms")),
            "{e:?}"
        );
        assert!(matches!(
            c.set("drain_poll_ms", "soon"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            c.set("drain_fle", "/x"),
            Err(ConfigError::UnknownKey { suggestion: Some(s), .. }) if s == "drain_file"
        ));
    }

    #[test]
    fn secrets_are_redacted() {
        let c = Config {
            s3_secret_access_key: Some("hunter2".into()),
            webhook_secret: Some("s3cret".into()),
            store: Some("postgres://ndf:pa55word@db:5432/ndf".into()),
            ..Config::default()
        };
        let shown = c.to_redacted_toml();
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret") && !shown.contains("pa55word"),
            "{shown}"
        );
        assert!(shown.contains("listen"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
