//! Autoscaling (HPA v2 for the API, KEDA ScaledObject for the workers) and
//! PodDisruptionBudgets.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

use super::{BuildError, Component, Object, Target};
use crate::crd::{Color, NdfCluster, NdfClusterSpec};

/// Consecutive failed reads of Prometheus before KEDA applies the `fallback` replicas.
pub const FALLBACK_FAILURE_THRESHOLD: i32 = 3;
/// Seconds between KEDA's reads of the queue depth.
pub const POLLING_INTERVAL_SECONDS: i32 = 15;

/// The PromQL KEDA's trigger runs: outstanding jobs (queued plus running) of this cluster.
///
/// `ndf_jobs` is a cluster-wide gauge of the shared store that every replica reports alike,
/// so the replicas are aggregated with `max` per state (a `sum` would multiply the depth by
/// the number of replicas), then the states are added. The `namespace` and `ndf_cluster`
/// labels come from the ServiceMonitor's relabelings; `autoscaling.queueQuery` replaces the
/// query for a Prometheus that scrapes ndf another way.
pub fn queue_depth_query(spec: &NdfClusterSpec, namespace: &str, name: &str) -> String {
    if let Some(q) = &spec.autoscaling.queue_query {
        return q.clone();
    }
    format!(
        "sum(max by (state) (ndf_jobs{{state=~\"queued|running\",namespace=\"{namespace}\",ndf_cluster=\"{name}\"}}))"
    )
}

/// Worker replicas the HPA behind the ScaledObject computes for `depth` outstanding jobs:
/// `ceil(depth / targetQueuedJobsPerWorker)` (the `AverageValue` metric type) within
/// `minReplicas..=maxReplicas`.
pub fn desired_workers(spec: &NdfClusterSpec, depth: f64) -> i32 {
    let a = &spec.autoscaling;
    let target = f64::from(a.target_queued_jobs_per_worker.max(1));
    let wanted = (depth.max(0.0) / target).ceil();
    // Bounded by maxReplicas before the cast: no overflow.
    let wanted = wanted.min(f64::from(a.max_replicas)) as i32;
    wanted.clamp(a.min_replicas, a.max_replicas.max(a.min_replicas))
}

/// The autoscalers (autoscaling enabled, scale-out storage): an HPA on CPU for the `active`
/// colour's API Deployment and a KEDA ScaledObject on queue depth for its workers.
pub fn build_autoscaling(cluster: &NdfCluster, active: Color) -> Result<Vec<Object>, BuildError> {
    let t = Target::new(cluster)?;
    let a = &t.spec.autoscaling;
    if !a.enabled || t.embedded() {
        return Ok(Vec::new());
    }
    let scale_down = HPAScalingRules {
        stabilization_window_seconds: Some(a.scale_down_stabilization_seconds),
        // At most one pod a minute: each leaving worker finishes or hands back its jobs.
        policies: Some(vec![HPAScalingPolicy {
            type_: "Pods".into(),
            value: 1,
            period_seconds: 60,
        }]),
        ..HPAScalingRules::default()
    };
    let hpa = HorizontalPodAutoscaler {
        metadata: t.meta(t.names.hpa(), t.component_labels(Component::Api)),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: t.names.deployment(Component::Api, active),
            },
            min_replicas: Some(a.api_min()),
            max_replicas: a.api_max(),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(a.target_cpu_utilization),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_down: Some(scale_down.clone()),
                scale_up: None,
            }),
        }),
        ..HorizontalPodAutoscaler::default()
    };
    let mut out = vec![Object::HorizontalPodAutoscaler(hpa)];
    if t.has_workers() {
        let gvk = GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject");
        let mut so = DynamicObject::new(&t.names.scaled_object(), &ApiResource::from_gvk(&gvk));
        so.metadata = t.meta(
            t.names.scaled_object(),
            t.component_labels(Component::Worker),
        );
        let address = a.prometheus_address.clone().unwrap_or_default();
        so.data = serde_json::json!({
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": t.names.deployment(Component::Worker, active),
                },
                "pollingInterval": POLLING_INTERVAL_SECONDS,
                // Governs only the last step to zero; N -> 1 follows the HPA behaviour below.
                "cooldownPeriod": a.scale_down_stabilization_seconds,
                "minReplicaCount": a.min_replicas,
                "maxReplicaCount": a.max_replicas,
                "fallback": {
                    "failureThreshold": FALLBACK_FAILURE_THRESHOLD,
                    "replicas": a.fallback_replicas,
                },
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "name": format!("{}-keda", t.names.scaled_object()),
                        "behavior": { "scaleDown": serde_json::to_value(&scale_down).unwrap_or_default() },
                    },
                },
                "triggers": [{
                    "type": "prometheus",
                    // AverageValue: replicas = ceil(query / threshold); also what fallback needs.
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": address,
                        "query": queue_depth_query(t.spec, &t.namespace, &t.names.base),
                        "threshold": a.target_queued_jobs_per_worker.to_string(),
                        // An empty answer (Prometheus lost the targets) is an error, so the
                        // fallback applies instead of a silent scale to the minimum.
                        "ignoreNullValues": "false",
                    },
                }],
            },
        });
        out.push(Object::Dynamic(so));
    }
    Ok(out)
}

/// PodDisruptionBudgets: at most one pod of each component voluntarily evicted at a time; an
/// unhealthy pod may always be evicted (a crash-looping pod never blocks a node drain).
pub fn build_pdbs(cluster: &NdfCluster) -> Result<Vec<Object>, BuildError> {
    let t = Target::new(cluster)?;
    let mut components = vec![Component::Api];
    if t.has_workers() {
        components.push(Component::Worker);
    }
    Ok(components
        .into_iter()
        .map(|c| {
            Object::PodDisruptionBudget(PodDisruptionBudget {
                metadata: t.meta(t.names.pdb(c), t.component_labels(c)),
                spec: Some(PodDisruptionBudgetSpec {
                    max_unavailable: Some(IntOrString::Int(1)),
                    selector: Some(LabelSelector {
                        match_labels: Some(t.component_selector(c)),
                        ..LabelSelector::default()
                    }),
                    unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
                    ..PodDisruptionBudgetSpec::default()
                }),
                ..PodDisruptionBudget::default()
            })
        })
        .collect())
}
