//! The `NdfCluster` custom resource (`ndf.dev/v1alpha1`): its spec, status and CEL rules.
//!
//! The CRD YAML under `deploy/kubernetes/crd/` is generated from these types
//! ([`kube::CustomResourceExt::crd`]); a test fails when the committed file drifts.
//!
//! Invariants the apiserver enforces (CEL `x-kubernetes-validations`, unit-tested client-side
//! in `tests/cel.rs`): exactly one storage mode, which cannot change in place; embedded storage
//! runs one API replica, no separate workers, no autoscaling and the `Rolling` strategy;
//! autoscaling bounds ordered and a Prometheus to ask; a GPU count of at least one when GPUs
//! are on; exactly one analysis kind, only with `BlueGreen`, with coherent numbers.
//!
//! `/scale` acts on `.spec.api.replicas`: the API is what people size by hand (`kubectl scale
//! ndfc/NAME --replicas=3`), while workers follow the queue (KEDA) or `spec.workers.replicas`.
//! Its status side is `.status.replicas` and `.status.selector`, the pods of the active colour's
//! API, so an autoscaler targeting the cluster reads the pods that serve traffic.

// KubeSchema generates a private shadow of each struct it derives, which trips unreachable_pub.
#![allow(unreachable_pub)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, Toleration};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired state of one NeuralDocFlow deployment: API replicas, job workers, storage,
/// autoscaling and how new revisions roll out.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ndf.dev",
    version = "v1alpha1",
    kind = "NdfCluster",
    namespaced,
    shortname = "ndfc",
    category = "ndf",
    status = "NdfClusterStatus",
    doc = "A NeuralDocFlow deployment: API replicas, job workers, storage, autoscaling and \
           blue-green rollouts, managed by the ndf operator.",
    scale(
        spec_replicas_path = ".spec.api.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    validation = Rule::new("self.metadata.name.size() <= 40")
        .message("the name of an NdfCluster is at most 40 characters (its objects append up to 15)"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(name = "Active", type_ = "string", json_path = ".status.activeColor"),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.activeRevision",
        priority = 1
    ),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(
        name = "Available",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Available\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("!has(self.storage.embedded) || self.api.replicas == 1")
        .message("embedded storage runs exactly one API replica (api.replicas: 1)"),
    validation = Rule::new("!has(self.storage.embedded) || self.workers.replicas == 0")
        .message("embedded storage has no separate workers (workers.replicas: 0): the API replica runs the jobs"),
    validation = Rule::new("!has(self.storage.embedded) || !self.autoscaling.enabled")
        .message("embedded storage cannot autoscale: use scaleOut storage"),
    validation = Rule::new("!has(self.storage.embedded) || self.rollout.strategy == 'Rolling'")
        .message("embedded storage needs rollout.strategy Rolling (one volume cannot serve two colours)"),
    validation = Rule::new("!has(self.storage.scaleOut) || has(self.security.masterKey)")
        .message("scaleOut storage needs security.masterKey: ndf encrypts what it keeps outside its data directory"),
    validation = Rule::new("!self.gpu.enabled || self.gpu.count >= 1")
        .message("gpu.count must be at least 1 when gpu.enabled"),
    validation = Rule::new("self.autoscaling.minReplicas <= self.autoscaling.maxReplicas")
        .message("autoscaling.minReplicas must not exceed autoscaling.maxReplicas"),
    validation = Rule::new("!has(self.autoscaling.apiMinReplicas) || !has(self.autoscaling.apiMaxReplicas) || self.autoscaling.apiMinReplicas <= self.autoscaling.apiMaxReplicas")
        .message("autoscaling.apiMinReplicas must not exceed autoscaling.apiMaxReplicas"),
    validation = Rule::new("!self.autoscaling.enabled || (has(self.autoscaling.prometheusAddress) && self.autoscaling.prometheusAddress != '')")
        .message("autoscaling.prometheusAddress is required when autoscaling is enabled (KEDA reads the queue depth there)"),
    validation = Rule::new("!has(self.rollout.analysis) || self.rollout.strategy == 'BlueGreen'")
        .message("rollout.analysis runs only with strategy BlueGreen")
)]
#[serde(rename_all = "camelCase")]
pub struct NdfClusterSpec {
    /// Container image of `ndf` (e.g. `registry.example/ndf:0.1.0` or pinned by digest).
    #[schemars(length(min = 1))]
    pub image: String,
    /// When the kubelet pulls the image.
    #[serde(default)]
    pub image_pull_policy: PullPolicy,
    /// Names of Secrets holding registry credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    /// The HTTP API replicas (`ndf serve`).
    #[serde(default)]
    pub api: ApiSpec,
    /// The job worker replicas (`ndf worker`); scale-out storage only.
    #[serde(default)]
    pub workers: WorkersSpec,
    /// GPUs for the pods that run extraction jobs.
    #[serde(default)]
    pub gpu: GpuSpec,
    /// HPA for the API on CPU, KEDA for the workers on queue depth.
    #[serde(default)]
    pub autoscaling: AutoscalingSpec,
    /// Where jobs and blobs live.
    #[serde(default)]
    pub storage: StorageSpec,
    /// TLS, API-key and master-key Secret references.
    #[serde(default)]
    pub security: SecuritySpec,
    /// How a new revision replaces the running one.
    #[serde(default)]
    pub rollout: RolloutSpec,
    /// Traces, scraping, alerts and the dashboard.
    #[serde(default)]
    pub observability: ObservabilitySpec,
    /// Which traffic the NetworkPolicies let in and out.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Pod-level settings shared by API and worker pods.
    #[serde(default)]
    pub pod: PodSpec,
}

/// Image pull policy (the Kubernetes values).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    /// Pull when the node does not have the image.
    #[default]
    IfNotPresent,
    /// Pull on every start.
    Always,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// CPU and memory requests and limits, as Kubernetes quantities (`500m`, `1Gi`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// What the scheduler reserves.
    pub requests: CpuMemory,
    /// The most the container may use (memory above it is OOM-killed, CPU throttled).
    pub limits: CpuMemory,
}

/// A CPU and a memory quantity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuMemory {
    /// CPU, e.g. `500m` or `2`.
    pub cpu: Quantity,
    /// Memory, e.g. `512Mi` or `2Gi`.
    pub memory: Quantity,
}

impl Resources {
    fn new(req_cpu: &str, req_mem: &str, lim_cpu: &str, lim_mem: &str) -> Self {
        Resources {
            requests: CpuMemory {
                cpu: Quantity(req_cpu.into()),
                memory: Quantity(req_mem.into()),
            },
            limits: CpuMemory {
                cpu: Quantity(lim_cpu.into()),
                memory: Quantity(lim_mem.into()),
            },
        }
    }
}

/// The HTTP API replicas.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiSpec {
    /// Replicas of the active colour (with autoscaling: the HPA's starting point).
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// Requests and limits of each API container.
    pub resources: Resources,
}

impl Default for ApiSpec {
    fn default() -> Self {
        ApiSpec {
            replicas: 1,
            resources: Resources::new("500m", "512Mi", "2", "2Gi"),
        }
    }
}

/// The job worker replicas.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkersSpec {
    /// Worker replicas (0 with embedded storage, where the API replica runs the jobs).
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// Requests and limits of each worker container.
    pub resources: Resources,
    /// Jobs one replica runs at once (also its extraction processes).
    #[schemars(range(min = 1, max = 256))]
    pub job_concurrency: i32,
}

impl Default for WorkersSpec {
    fn default() -> Self {
        WorkersSpec {
            replicas: 0,
            resources: Resources::new("1", "1Gi", "2", "4Gi"),
            job_concurrency: 2,
        }
    }
}

/// GPUs for the pods that run extraction jobs (the workers; the API replica with embedded
/// storage). Requested only when enabled.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct GpuSpec {
    /// Request GPUs.
    pub enabled: bool,
    /// GPUs per pod (requests = limits).
    pub count: i32,
    /// Extended resource name of the device plugin.
    pub resource_name: String,
    /// Node labels a GPU pod must match.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of GPU node taints.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

impl Default for GpuSpec {
    fn default() -> Self {
        GpuSpec {
            enabled: false,
            count: 1,
            resource_name: "nvidia.com/gpu".into(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
        }
    }
}

/// Autoscaling: an HPA (autoscaling/v2) scales the API on CPU; a KEDA ScaledObject scales the
/// workers on the shared queue's depth read from Prometheus.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AutoscalingSpec {
    /// Create the HPA and the ScaledObject.
    pub enabled: bool,
    /// Fewest workers (0 lets KEDA scale idle workers to zero).
    #[schemars(range(min = 0))]
    pub min_replicas: i32,
    /// Most workers.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// Fewest API replicas (default: `max(minReplicas, 1)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub api_min_replicas: Option<i32>,
    /// Most API replicas (default: `maxReplicas`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub api_max_replicas: Option<i32>,
    /// Outstanding jobs (queued or running, cluster-wide) per worker replica KEDA aims for.
    #[schemars(range(min = 1))]
    pub target_queued_jobs_per_worker: i32,
    /// Average CPU utilisation (percent of requests) the API HPA aims for.
    #[serde(rename = "targetCPUUtilization")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization: i32,
    /// How long a lower recommendation must hold before replicas are removed.
    #[schemars(range(min = 0, max = 3600))]
    pub scale_down_stabilization_seconds: i32,
    /// Prometheus base URL KEDA queries (e.g. `http://prometheus.monitoring.svc:9090`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub prometheus_address: Option<String>,
    /// PromQL KEDA reads the queue depth with (default: [`crate::queue_depth_query`]'s, which
    /// relies on the labels of the ServiceMonitor this operator builds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_query: Option<String>,
    /// Worker replicas KEDA keeps while Prometheus cannot be read (its `fallback`).
    #[schemars(range(min = 0))]
    pub fallback_replicas: i32,
}

impl Default for AutoscalingSpec {
    fn default() -> Self {
        AutoscalingSpec {
            enabled: false,
            min_replicas: 1,
            max_replicas: 10,
            api_min_replicas: None,
            api_max_replicas: None,
            target_queued_jobs_per_worker: 4,
            target_cpu_utilization: 70,
            scale_down_stabilization_seconds: 300,
            prometheus_address: None,
            queue_query: None,
            fallback_replicas: 2,
        }
    }
}

impl AutoscalingSpec {
    /// The API HPA's lower bound.
    pub fn api_min(&self) -> i32 {
        self.api_min_replicas.unwrap_or(self.min_replicas.max(1))
    }

    /// The API HPA's upper bound.
    pub fn api_max(&self) -> i32 {
        self.api_max_replicas
            .unwrap_or(self.max_replicas)
            .max(self.api_min())
    }
}

/// Where jobs and blobs live: exactly one of `embedded` and `scaleOut`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.embedded) != has(self.scaleOut)")
        .message("storage: set exactly one of embedded and scaleOut"),
    validation = Rule::new("has(self.embedded) == has(oldSelf.embedded)")
        .message("storage cannot switch between embedded and scaleOut in place: migrate to a new NdfCluster")
)]
pub struct StorageSpec {
    /// SQLite and blobs on one PersistentVolumeClaim: one replica, no separate workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedStorage>,
    /// PostgreSQL for jobs and S3 for blobs, shared by every replica of both colours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<ScaleOutStorage>,
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            embedded: Some(EmbeddedStorage::default()),
            scale_out: None,
        }
    }
}

/// The storage mode, borrowed from a [`StorageSpec`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StorageMode<'a> {
    /// One PVC, one replica.
    Embedded(&'a EmbeddedStorage),
    /// PostgreSQL + S3.
    ScaleOut(&'a ScaleOutStorage),
}

impl StorageSpec {
    /// The mode in use; `None` when the spec sets neither or both (the CRD's CEL rule refuses
    /// such an object, so only an unvalidated spec gets here).
    pub fn mode(&self) -> Option<StorageMode<'_>> {
        match (&self.embedded, &self.scale_out) {
            (Some(e), None) => Some(StorageMode::Embedded(e)),
            (None, Some(s)) => Some(StorageMode::ScaleOut(s)),
            _ => None,
        }
    }

    /// Whether the embedded store is configured.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

/// The embedded store's volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct EmbeddedStorage {
    /// Size of the PersistentVolumeClaim.
    pub size: Quantity,
    /// StorageClass of the claim (default: the cluster's default class).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

impl Default for EmbeddedStorage {
    fn default() -> Self {
        EmbeddedStorage {
            size: Quantity("10Gi".into()),
            storage_class_name: None,
        }
    }
}

/// PostgreSQL and S3 settings; credentials only through Secret references.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleOutStorage {
    /// The PostgreSQL connection (a `postgres://` URL naming user, password, host, port and
    /// database, with `sslmode`).
    pub postgres: PostgresStorage,
    /// The S3 bucket for inputs and results.
    pub s3: S3Storage,
}

/// PostgreSQL connection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresStorage {
    /// Secret key holding the whole connection URL.
    pub url_secret: SecretKeyRef,
    /// TCP port the NetworkPolicy lets pods reach.
    #[serde(default = "default_postgres_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

fn default_postgres_port() -> i32 {
    5432
}

/// S3 (or compatible) object store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Storage {
    /// Bucket name.
    #[schemars(length(min = 1))]
    pub bucket: String,
    /// Key prefix inside the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Endpoint URL for S3-compatible stores (default: AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region (default: `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Allow a plain-http endpoint (an in-cluster object store).
    #[serde(default)]
    pub allow_http: bool,
    /// Secret with the access key id and secret access key; without it the pods use their
    /// ambient credentials (e.g. workload identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<S3CredentialsSecret>,
    /// TCP port the NetworkPolicy lets pods reach.
    #[serde(default = "default_s3_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

fn default_s3_port() -> i32 {
    443
}

/// A Secret holding S3 credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3CredentialsSecret {
    /// Secret name (same namespace).
    pub name: String,
    /// Key of the access key id.
    #[serde(default = "default_access_key_id_key")]
    pub access_key_id_key: String,
    /// Key of the secret access key.
    #[serde(default = "default_secret_access_key_key")]
    pub secret_access_key_key: String,
}

fn default_access_key_id_key() -> String {
    "accessKeyId".into()
}

fn default_secret_access_key_key() -> String {
    "secretAccessKey".into()
}

/// One key of one Secret in the cluster's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key inside the Secret.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// Secret references for TLS, API keys and encryption at rest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct SecuritySpec {
    /// A `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`): the API speaks TLS only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Secret keying the stored hashes of API keys (`api_key_secret`). Required with scale-out
    /// storage in practice: every replica must hash keys alike.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<SecretKeyRef>,
    /// Master key ring for encryption at rest (`id:<64 hex>` lines), mounted as a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<SecretKeyRef>,
    /// Secret signing webhook deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretKeyRef>,
    /// API keys the API pods create at start when the store lacks them (`bootstrap_keys_file`):
    /// lines of `ndf keys generate`, mounted as a file. A fresh store then has a key, which ndf
    /// needs to listen on the pod's address; a revoked key stays revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap_keys_secret: Option<SecretKeyRef>,
    /// Serve without API keys (only behind a gateway that authenticates every request).
    pub insecure_no_auth: bool,
}

/// TLS of the API listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// Name of a `kubernetes.io/tls` Secret.
    #[schemars(length(min = 1))]
    pub secret_name: String,
    /// Key of a CA bundle in the same Secret: clients must present a certificate it signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_key: Option<String>,
}

/// How a new revision (image or pod template) replaces the running one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RolloutSpec {
    /// `BlueGreen`: a second colour comes up beside the active one and takes the traffic once
    /// ready and analysed. `Rolling`: the Deployments update in place.
    pub strategy: RolloutStrategy,
    /// Checks the preview colour must pass before it takes the traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
    /// Switch traffic as soon as the preview is ready and analysed; when false the rollout
    /// waits in `Progressing` until the NdfCluster's `ndf.dev/promote` annotation equals
    /// `status.previewRevision`.
    pub auto_promote: bool,
    /// Seconds between switching traffic and scaling the old colour to zero. Its workers are
    /// drained at the switch (no new claims, held jobs finish); keep this above the kubelet's
    /// annotation refresh (up to a minute) plus the time a job takes: what is still held at
    /// the scale-down is handed back to the new colour, not lost.
    #[schemars(range(min = 0, max = 86400))]
    pub scale_down_delay_seconds: i32,
    /// Seconds a new colour may take to become ready before the rollout is aborted.
    #[schemars(range(min = 30))]
    pub progress_deadline_seconds: i32,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            strategy: RolloutStrategy::Rolling,
            analysis: None,
            auto_promote: true,
            scale_down_delay_seconds: 30,
            progress_deadline_seconds: 600,
        }
    }
}

/// Rollout strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RolloutStrategy {
    /// Two colours; traffic switches once the new one is ready and analysed.
    BlueGreen,
    /// Update the Deployments in place (embedded storage: stop then start).
    #[default]
    Rolling,
}

/// The pre-promotion analysis: exactly one of `prometheus` and `smoke`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.prometheus) != has(self.smoke)")
        .message("rollout.analysis: set exactly one of prometheus and smoke")
)]
pub struct AnalysisSpec {
    /// A PromQL query measured repeatedly against a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusAnalysis>,
    /// Real extractions through the preview Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeAnalysis>,
}

/// A Prometheus analysis (the shape of Argo Rollouts' prometheus metric).
///
/// The query may use the placeholders `{{namespace}}`, `{{name}}`, `{{color}}` and
/// `{{revision}}`, replaced by the preview colour's values (see
/// [`crate::analysis_query`]); it must return one sample or a scalar.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.failureLimit < self.count")
        .message("rollout.analysis.prometheus.failureLimit must be below count"),
    validation = Rule::new("self.address.startsWith('http://') || self.address.startsWith('https://')")
        .message("rollout.analysis.prometheus.address must be an http(s) URL")
)]
pub struct PrometheusAnalysis {
    /// Prometheus base URL.
    #[schemars(length(min = 1, max = 2048))]
    pub address: String,
    /// PromQL returning one value.
    #[schemars(length(min = 1, max = 8192))]
    pub query: String,
    /// The bound a good measurement respects.
    pub threshold: f64,
    /// Which side of the threshold is good.
    #[serde(default)]
    pub success_when: Comparison,
    /// Seconds between measurements.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 1, max = 3600))]
    pub interval_seconds: i32,
    /// Measurements taken.
    #[serde(default = "default_count")]
    #[schemars(range(min = 1, max = 100))]
    pub count: i32,
    /// Failed (or empty) measurements tolerated; one more aborts the rollout.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub failure_limit: i32,
}

fn default_interval() -> i32 {
    60
}

fn default_count() -> i32 {
    5
}

/// A measurement's relation to the threshold.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Comparison {
    /// Good when the value is at most the threshold (error ratios, latencies).
    #[default]
    AtMost,
    /// Good when the value is at least the threshold (success ratios).
    AtLeast,
}

impl Comparison {
    /// Whether `value` passes against `threshold` (NaN never passes).
    pub fn passes(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::AtMost => value <= threshold,
            Comparison::AtLeast => value >= threshold,
        }
    }
}

/// Smoke extraction: the operator sends a small built-in PDF to the preview Service's
/// `/v1/extract` and expects a 200 with the known text.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmokeAnalysis {
    /// Secret key holding an API key with the `extract` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<SecretKeyRef>,
    /// Extractions that must all succeed.
    #[serde(default = "default_smoke_count")]
    #[schemars(range(min = 1, max = 100))]
    pub count: i32,
}

fn default_smoke_count() -> i32 {
    3
}

/// Traces, scraping, alerts and the dashboard.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ObservabilitySpec {
    /// OTLP/HTTP endpoint for traces (`OTEL_EXPORTER_OTLP_ENDPOINT`), e.g.
    /// `http://otel-collector.monitoring.svc:4318`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Create a ServiceMonitor (prometheus-operator) for API and worker metrics.
    pub service_monitor: bool,
    /// Create a PrometheusRule with ndf's recording and alerting rules.
    pub prometheus_rule: bool,
    /// Create a ConfigMap with the Grafana dashboard (label `grafana_dashboard: "1"`).
    pub grafana_dashboard: bool,
    /// Extra labels on the ServiceMonitor and PrometheusRule (to match the Prometheus'
    /// selectors, e.g. `release: kube-prometheus-stack`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What the NetworkPolicies allow. Everything else is denied both ways.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkSpec {
    /// Create the NetworkPolicies.
    pub policies: bool,
    /// Who may reach the API port (default: any pod in the cluster's namespace).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_ingress_from: Vec<NetworkPolicyPeer>,
    /// Namespace of Prometheus, allowed to reach the metrics/admin port.
    pub monitoring_namespace: String,
    /// Namespace of the ndf operator, allowed to reach the API port (smoke analysis).
    pub operator_namespace: String,
    /// Where PostgreSQL, S3 and the OTLP collector are (default: anywhere, on their ports
    /// only). Narrow it to their CIDRs or namespaces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress_to: Vec<NetworkPolicyPeer>,
    /// TCP port of the OTLP endpoint.
    #[schemars(range(min = 1, max = 65535))]
    pub otlp_port: i32,
    /// Hosts the service may call for webhooks, on port 443.
    pub allow_webhook_egress: bool,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            policies: true,
            api_ingress_from: Vec::new(),
            monitoring_namespace: "monitoring".into(),
            operator_namespace: "ndf-system".into(),
            egress_to: Vec::new(),
            otlp_port: 4318,
            allow_webhook_egress: false,
        }
    }
}

/// Pod-level settings shared by API and worker pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    /// The longest a job may run (seconds). Pods get this long to finish held jobs on
    /// shutdown, so `terminationGracePeriodSeconds` = this + `drainDelaySeconds` + 15.
    #[schemars(range(min = 1, max = 86400))]
    pub job_deadline_seconds: i32,
    /// After SIGTERM, seconds a pod keeps serving while `/readyz` reports 503 so load
    /// balancers stop routing to it.
    #[schemars(range(min = 0, max = 600))]
    pub drain_delay_seconds: i32,
    /// Extra annotations of every pod.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Extra labels of every pod.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Node labels every pod must match.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of every pod.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// PriorityClass of every pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Extra environment variables (e.g. `NDF_MAX_ATTEMPTS`); never secrets in plain values:
    /// use `valueFrom.secretKeyRef`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Size limit of the `/tmp` emptyDir.
    pub tmp_size: Quantity,
}

impl Default for PodSpec {
    fn default() -> Self {
        PodSpec {
            job_deadline_seconds: 300,
            drain_delay_seconds: 10,
            annotations: BTreeMap::new(),
            labels: BTreeMap::new(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            priority_class_name: None,
            env: Vec::new(),
            tmp_size: Quantity("1Gi".into()),
        }
    }
}

/// Observed state, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NdfClusterStatus {
    /// `Available`, `Progressing`, `Degraded`, `Promoted` (see [`ConditionType`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Colour the active Service selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_color: Option<Color>,
    /// Revision (pod-template hash) of the active colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_revision: Option<String>,
    /// Colour being brought up or analysed, if a rollout is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_color: Option<Color>,
    /// Revision of the preview colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_revision: Option<String>,
    /// API replicas of the active colour (the `/scale` status).
    #[serde(default)]
    pub replicas: i32,
    /// Ready API replicas of the active colour.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Ready worker replicas of the active colour.
    #[serde(default)]
    pub ready_worker_replicas: i32,
    /// Label selector of the active colour's API pods (the `/scale` selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Progress of the current rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
}

/// Progress of a blue-green rollout, kept in status so a restarted operator resumes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Where the rollout stands (free text for people; the reconciler's own phase name).
    #[serde(default)]
    pub phase: String,
    /// Revision being rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// When the current phase began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_started: Option<Time>,
    /// Passed analysis measurements so far.
    #[serde(default)]
    pub analysis_successes: i32,
    /// Failed analysis measurements so far.
    #[serde(default)]
    pub analysis_failures: i32,
    /// When the last measurement was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_analysis: Option<Time>,
    /// Colour being drained after a switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draining_color: Option<Color>,
    /// Why the rollout stopped, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The two colours of a blue-green deployment.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// The first colour (a new cluster starts blue).
    #[default]
    Blue,
    /// The second colour.
    Green,
}

impl Color {
    /// The label value (`blue`, `green`).
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }

    /// The other colour.
    pub fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The condition types of [`NdfClusterStatus::conditions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// The active colour serves: its API replicas are ready.
    Available,
    /// A rollout or scale change is under way.
    Progressing,
    /// Something needs a person: an aborted rollout, a failed analysis, unready pods.
    Degraded,
    /// The latest revision is the active one.
    Promoted,
}

impl ConditionType {
    /// All four, in display order.
    pub const ALL: [ConditionType; 4] = [
        ConditionType::Available,
        ConditionType::Progressing,
        ConditionType::Degraded,
        ConditionType::Promoted,
    ];

    /// The `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Available => "Available",
            ConditionType::Progressing => "Progressing",
            ConditionType::Degraded => "Degraded",
            ConditionType::Promoted => "Promoted",
        }
    }
}
