//! The ndf operator's library: the `NdfCluster` custom resource ([`crd`]) and the pure
//! functions that turn one into Kubernetes objects.
//!
//! Build functions take a spec (and a [`BuildContext`] saying which colour, revision and
//! replica counts to build) and return objects; they do no I/O. The reconciler applies them and
//! `ndf deploy render` prints them, so manifests are made in exactly one place.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod build;
pub mod controller;
pub mod crd;
pub mod reconcile;
pub mod render;
pub mod rollout;

pub use build::{
    BuildContext, BuildError, ColorWorkload, Component, Names, Object, build_all,
    build_autoscaling, build_monitoring, build_network_policies, build_operator_install,
    build_pdbs, build_services, build_shared, build_workloads, desired_workers, drain_patch,
    pod_selector, queue_depth_query, replicas_patch,
};
pub use crd::{Color, ConditionType, NdfCluster, NdfClusterSpec, NdfClusterStatus};

/// Oldest Kubernetes minor version (1.x) the built objects and the CRD are meant for:
/// k8s-openapi 0.29's oldest version feature, and every API used here is GA there.
pub const MIN_KUBERNETES_MINOR: u32 = 33;
/// Newest Kubernetes minor version (1.x) checked (k8s-openapi 0.29's `latest`).
pub const MAX_KUBERNETES_MINOR: u32 = 37;

/// The revision of a spec: a hash of everything that shapes the pods (image, resources,
/// storage, security, pod settings...), not of replica counts, autoscaling, rollout or
/// monitoring settings. A new revision is what a rollout rolls out. 10 hex digits.
pub fn revision(spec: &NdfClusterSpec) -> String {
    let mut s = spec.clone();
    s.api.replicas = 0;
    s.workers.replicas = 0;
    s.autoscaling = crd::AutoscalingSpec::default();
    s.rollout = crd::RolloutSpec::default();
    s.observability.service_monitor = false;
    s.observability.prometheus_rule = false;
    s.observability.grafana_dashboard = false;
    s.observability.labels.clear();
    s.network = crd::NetworkSpec::default();
    // Serialising a spec cannot fail (string map keys only).
    let bytes = serde_json::to_vec(&s).unwrap_or_default();
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

/// The analysis query with its placeholders replaced: `{{namespace}}`, `{{name}}`,
/// `{{color}}` and `{{revision}}` (the preview colour's). The ServiceMonitor gives every series
/// `namespace`, `ndf_cluster`, `ndf_color` and `ndf_revision` labels to select on, e.g.
/// `sum(rate(ndf_http_requests_total{namespace="{{namespace}}",ndf_cluster="{{name}}",ndf_color="{{color}}",status_class="5xx"}[2m]))`.
pub fn analysis_query(
    query: &str,
    namespace: &str,
    name: &str,
    color: Color,
    revision: &str,
) -> String {
    query
        .replace("{{namespace}}", namespace)
        .replace("{{name}}", name)
        .replace("{{color}}", color.as_str())
        .replace("{{revision}}", revision)
}
