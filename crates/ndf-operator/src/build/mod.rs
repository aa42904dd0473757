//! Pure build functions: an [`NdfCluster`] (and a [`BuildContext`]) in, Kubernetes objects out.
//!
//! No I/O happens here. The reconciler applies what these return; `ndf deploy render` prints
//! it. Each function builds one concern so the reconciler can ask for exactly the objects a
//! rollout step needs:
//!
//! - [`build_workloads`]: one colour's Deployments (API, workers) at the spec's revision;
//! - [`build_services`]: the active Service (and the preview one for `BlueGreen`);
//! - [`build_autoscaling`]: HPA and KEDA ScaledObject aimed at one colour;
//! - [`build_shared`]: everything colour-independent (ServiceAccount, PVC, PDBs,
//!   NetworkPolicies, monitoring objects);
//! - [`build_all`]: all of the above for a [`BuildContext`], in a stable order.
//!
//! Colour-specific patches the reconciler sends to objects it does not rebuild (the old colour
//! keeps its old template) are here too: [`replicas_patch`] and [`drain_patch`].

mod monitoring;
mod network;
mod operator;
mod scaling;
mod workload;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, PodSpec, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Serialize;

use crate::crd::{Color, NdfCluster, NdfClusterSpec, StorageMode};

pub use monitoring::{
    GRAFANA_DASHBOARD, PROMETHEUS_RULE_FILES, build_monitoring, prometheus_rule_groups,
};
pub use network::{build_network_policies, build_services};
pub use operator::{
    OPERATOR_ARGS, OPERATOR_HEALTH_PORT, OPERATOR_NAME, build_operator_install, operator_rules,
};
pub use scaling::{
    FALLBACK_FAILURE_THRESHOLD, POLLING_INTERVAL_SECONDS, build_autoscaling, build_pdbs,
    desired_workers, queue_depth_query,
};
pub use workload::{
    ADMIN_PORT, API_PORT, DRAIN_ANNOTATION, DRAIN_FILE, DRAIN_FILE_ENV, RUN_AS_ID, build_workloads,
    termination_grace_seconds,
};

/// Label keys and the values the operator sets.
pub mod labels {
    /// `app.kubernetes.io/name` (always `ndf`).
    pub const NAME: &str = "app.kubernetes.io/name";
    /// `app.kubernetes.io/instance`: the NdfCluster's name.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// `app.kubernetes.io/component`: `api` or `worker`.
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// `app.kubernetes.io/managed-by`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// `ndf.dev/color`: `blue` or `green`.
    pub const COLOR: &str = "ndf.dev/color";
    /// `ndf.dev/revision`: hash of the pod-affecting spec ([`crate::revision`]).
    pub const REVISION: &str = "ndf.dev/revision";
    /// On the metrics Services: the Prometheus `job` label their targets get (`ndf`,
    /// `ndf-worker`, the job names deploy/prometheus's rules select).
    pub const METRICS_JOB: &str = "ndf.dev/metrics-job";
    /// The value of `app.kubernetes.io/name`.
    pub const APP: &str = "ndf";
    /// The value of `app.kubernetes.io/managed-by`.
    pub const MANAGER: &str = "ndf-operator";
}

/// The two kinds of ndf pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    /// `ndf serve`: the HTTP API (and, with embedded storage, the jobs).
    Api,
    /// `ndf worker`: job consumers only.
    Worker,
}

impl Component {
    /// The label value and name part (`api`, `worker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Api => "api",
            Component::Worker => "worker",
        }
    }
}

/// Why objects could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The NdfCluster has no namespace (objects are namespaced; `ndf deploy render` takes
    /// `--namespace` for a manifest without one).
    #[error("the NdfCluster has no metadata.namespace")]
    MissingNamespace,
    /// The NdfCluster has no name.
    #[error("the NdfCluster has no metadata.name")]
    MissingName,
    /// A spec the CRD's rules would refuse (only an unvalidated object gets here).
    #[error("invalid NdfCluster spec: {0}")]
    InvalidSpec(String),
    /// A committed rules file or dashboard that does not parse (a build-time asset).
    #[error("bundled asset {name} does not parse: {message}")]
    Asset {
        /// Which file.
        name: &'static str,
        /// The parser's message.
        message: String,
    },
}

/// Which colours to build and where the Services point.
///
/// The reconciler describes one step of a rollout with it; `ndf deploy render` uses
/// [`BuildContext::steady`]. Deployments are always built from the *current* spec (its
/// revision); a colour still running an older revision is not rebuilt, only patched
/// ([`replicas_patch`], [`drain_patch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildContext {
    /// Colour the active Service selects (and the autoscalers target).
    pub active: Color,
    /// Colour the preview Service selects; `None`: the active one (no rollout under way).
    pub preview: Option<Color>,
    /// Colours whose Deployments are built from the current spec, with their replicas.
    pub workloads: Vec<ColorWorkload>,
}

/// One colour's Deployments at the spec's revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColorWorkload {
    /// The colour.
    pub color: Color,
    /// API replicas; `None` leaves the field out so an HPA owns it (server-side apply).
    pub api_replicas: Option<i32>,
    /// Worker replicas; `None` leaves the field out so KEDA owns it. Ignored when the spec
    /// has no workers.
    pub worker_replicas: Option<i32>,
}

impl BuildContext {
    /// No rollout under way: `color` active and built with the spec's replica counts (left
    /// to the autoscalers when autoscaling is on).
    pub fn steady(spec: &NdfClusterSpec, color: Color) -> Self {
        BuildContext {
            active: color,
            preview: None,
            workloads: vec![ColorWorkload::from_spec(spec, color)],
        }
    }
}

impl ColorWorkload {
    /// `color` with the spec's replica counts, or none when autoscaling owns them.
    pub fn from_spec(spec: &NdfClusterSpec, color: Color) -> Self {
        let auto = spec.autoscaling.enabled;
        ColorWorkload {
            color,
            api_replicas: (!auto).then_some(spec.api.replicas),
            worker_replicas: (!auto).then_some(spec.workers.replicas),
        }
    }
}

/// A built object: the typed k8s-openapi value, or a [`DynamicObject`] for custom resources
/// of other projects (KEDA's ScaledObject, prometheus-operator's ServiceMonitor and
/// PrometheusRule).
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per reconcile; boxing buys nothing
pub enum Object {
    /// A Namespace (operator install only).
    Namespace(Namespace),
    /// A ServiceAccount.
    ServiceAccount(ServiceAccount),
    /// A ClusterRole (operator install).
    ClusterRole(ClusterRole),
    /// A ClusterRoleBinding (operator install).
    ClusterRoleBinding(ClusterRoleBinding),
    /// A Role (operator install).
    Role(Role),
    /// A RoleBinding (operator install).
    RoleBinding(RoleBinding),
    /// A ConfigMap (the Grafana dashboard).
    ConfigMap(ConfigMap),
    /// The embedded store's claim.
    PersistentVolumeClaim(PersistentVolumeClaim),
    /// A Service.
    Service(Service),
    /// A Deployment.
    Deployment(Deployment),
    /// The API's HPA.
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    /// A PodDisruptionBudget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// A NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// A custom resource of another project.
    Dynamic(DynamicObject),
}

impl Object {
    /// Its metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::ClusterRole(o) => &o.metadata,
            Object::ClusterRoleBinding(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::HorizontalPodAutoscaler(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Dynamic(o) => &o.metadata,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// Group, version, kind and plural: what an API call for this object needs.
    pub fn api_resource(&self) -> ApiResource {
        fn of<K: Resource<DynamicType = ()>>() -> ApiResource {
            ApiResource::erase::<K>(&())
        }
        match self {
            Object::Namespace(_) => of::<Namespace>(),
            Object::ServiceAccount(_) => of::<ServiceAccount>(),
            Object::ClusterRole(_) => of::<ClusterRole>(),
            Object::ClusterRoleBinding(_) => of::<ClusterRoleBinding>(),
            Object::Role(_) => of::<Role>(),
            Object::RoleBinding(_) => of::<RoleBinding>(),
            Object::ConfigMap(_) => of::<ConfigMap>(),
            Object::PersistentVolumeClaim(_) => of::<PersistentVolumeClaim>(),
            Object::Service(_) => of::<Service>(),
            Object::Deployment(_) => of::<Deployment>(),
            Object::HorizontalPodAutoscaler(_) => of::<HorizontalPodAutoscaler>(),
            Object::PodDisruptionBudget(_) => of::<PodDisruptionBudget>(),
            Object::NetworkPolicy(_) => of::<NetworkPolicy>(),
            Object::Dynamic(o) => {
                let types = o.types.clone().unwrap_or_default();
                let (group, version) = types
                    .api_version
                    .split_once('/')
                    .unwrap_or(("", types.api_version.as_str()));
                let gvk = GroupVersionKind::gvk(group, version, &types.kind);
                // ScaledObject, ServiceMonitor, PrometheusRule: the plural is the lower-case
                // kind + s.
                ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", types.kind.to_lowercase()))
            }
        }
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> String {
        self.api_resource().api_version
    }

    /// `kind`.
    pub fn kind(&self) -> String {
        self.api_resource().kind
    }

    /// The pod template's spec, for workloads.
    pub fn pod_spec(&self) -> Option<&PodSpec> {
        match self {
            Object::Deployment(d) => d.spec.as_ref()?.template.spec.as_ref(),
            _ => None,
        }
    }

    /// The object as JSON, `apiVersion` and `kind` included (what `kubectl apply` takes).
    pub fn to_value(&self) -> serde_json::Value {
        fn v<T: Serialize>(o: &T) -> serde_json::Value {
            // Serialising k8s-openapi types and DynamicObject to a Value cannot fail: their
            // maps have string keys.
            serde_json::to_value(o).unwrap_or_default()
        }
        match self {
            Object::Namespace(o) => v(o),
            Object::ServiceAccount(o) => v(o),
            Object::ClusterRole(o) => v(o),
            Object::ClusterRoleBinding(o) => v(o),
            Object::Role(o) => v(o),
            Object::RoleBinding(o) => v(o),
            Object::ConfigMap(o) => v(o),
            Object::PersistentVolumeClaim(o) => v(o),
            Object::Service(o) => v(o),
            Object::Deployment(o) => v(o),
            Object::HorizontalPodAutoscaler(o) => v(o),
            Object::PodDisruptionBudget(o) => v(o),
            Object::NetworkPolicy(o) => v(o),
            Object::Dynamic(o) => v(o),
        }
    }
}

/// Names of everything one NdfCluster owns, derived from its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The NdfCluster's name.
    pub base: String,
}

impl Names {
    /// Names for the cluster called `base`.
    pub fn new(base: &str) -> Self {
        Names { base: base.into() }
    }

    /// A colour's Deployment of `component` (`NAME-api-blue`).
    pub fn deployment(&self, component: Component, color: Color) -> String {
        format!("{}-{}-{}", self.base, component.as_str(), color.as_str())
    }

    /// The active Service (`NAME`): clients connect here.
    pub fn active_service(&self) -> String {
        self.base.clone()
    }

    /// The preview Service (`NAME-preview`).
    pub fn preview_service(&self) -> String {
        format!("{}-preview", self.base)
    }

    /// The headless Service a ServiceMonitor scrapes for `component`.
    pub fn metrics_service(&self, component: Component) -> String {
        format!("{}-{}-metrics", self.base, component.as_str())
    }

    /// The pods' ServiceAccount.
    pub fn service_account(&self) -> String {
        self.base.clone()
    }

    /// The embedded store's claim.
    pub fn data_claim(&self) -> String {
        format!("{}-data", self.base)
    }

    /// The API's HPA.
    pub fn hpa(&self) -> String {
        format!("{}-api", self.base)
    }

    /// The workers' ScaledObject.
    pub fn scaled_object(&self) -> String {
        format!("{}-worker", self.base)
    }

    /// A component's PodDisruptionBudget.
    pub fn pdb(&self, component: Component) -> String {
        format!("{}-{}", self.base, component.as_str())
    }

    /// The Grafana dashboard ConfigMap.
    pub fn dashboard(&self) -> String {
        format!("{}-grafana-dashboard", self.base)
    }
}

/// What the build functions need from the NdfCluster object besides its spec.
#[derive(Clone, Debug)]
pub(crate) struct Target<'a> {
    pub(crate) spec: &'a NdfClusterSpec,
    pub(crate) names: Names,
    pub(crate) namespace: String,
    pub(crate) owner: Option<OwnerReference>,
    pub(crate) revision: String,
}

impl<'a> Target<'a> {
    pub(crate) fn new(cluster: &'a NdfCluster) -> Result<Self, BuildError> {
        let name = cluster
            .metadata
            .name
            .as_deref()
            .ok_or(BuildError::MissingName)?;
        let namespace = cluster
            .metadata
            .namespace
            .clone()
            .ok_or(BuildError::MissingNamespace)?;
        if cluster.spec.storage.mode().is_none() {
            return Err(BuildError::InvalidSpec(
                "storage: set exactly one of embedded and scaleOut".into(),
            ));
        }
        Ok(Target {
            spec: &cluster.spec,
            names: Names::new(name),
            namespace,
            // None without a uid (a manifest rendered for kubectl has no live owner).
            owner: cluster.controller_owner_ref(&()),
            revision: crate::revision(&cluster.spec),
        })
    }

    pub(crate) fn embedded(&self) -> bool {
        matches!(self.spec.storage.mode(), Some(StorageMode::Embedded(_)))
    }

    /// Whether worker Deployments exist: scale-out with workers or autoscaling.
    pub(crate) fn has_workers(&self) -> bool {
        !self.embedded() && (self.spec.workers.replicas > 0 || self.spec.autoscaling.enabled)
    }

    /// Labels of every object of the cluster.
    pub(crate) fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::NAME.into(), labels::APP.into()),
            (labels::INSTANCE.into(), self.names.base.clone()),
            (labels::MANAGED_BY.into(), labels::MANAGER.into()),
        ])
    }

    /// Labels of one component's objects.
    pub(crate) fn component_labels(&self, component: Component) -> BTreeMap<String, String> {
        let mut l = self.labels();
        l.insert(labels::COMPONENT.into(), component.as_str().into());
        l
    }

    /// The selector of one component's pods, across colours.
    pub(crate) fn component_selector(&self, component: Component) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::NAME.into(), labels::APP.into()),
            (labels::INSTANCE.into(), self.names.base.clone()),
            (labels::COMPONENT.into(), component.as_str().into()),
        ])
    }

    /// The selector of one colour's pods of one component (a Deployment's immutable
    /// selector: no revision in it).
    pub(crate) fn color_selector(
        &self,
        component: Component,
        color: Color,
    ) -> BTreeMap<String, String> {
        let mut s = self.component_selector(component);
        s.insert(labels::COLOR.into(), color.as_str().into());
        s
    }

    pub(crate) fn meta(&self, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            owner_references: self.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }
}

/// Every object for `ctx`, in a stable order: shared objects, Services, the colours'
/// Deployments, then the autoscalers.
pub fn build_all(cluster: &NdfCluster, ctx: &BuildContext) -> Result<Vec<Object>, BuildError> {
    let mut out = build_shared(cluster)?;
    out.extend(build_services(cluster, ctx.active, ctx.preview)?);
    let mut colors = ctx.workloads.clone();
    colors.sort_by_key(|w| w.color.as_str());
    for w in colors {
        out.extend(build_workloads(cluster, w)?);
    }
    out.extend(build_autoscaling(cluster, ctx.active)?);
    Ok(out)
}

/// Colour-independent objects: ServiceAccount, the embedded store's claim, the
/// PodDisruptionBudgets, the NetworkPolicies and the monitoring objects the spec asks for.
pub fn build_shared(cluster: &NdfCluster) -> Result<Vec<Object>, BuildError> {
    let t = Target::new(cluster)?;
    let mut out = vec![Object::ServiceAccount(ServiceAccount {
        metadata: t.meta(t.names.service_account(), t.labels()),
        // The pods never call the Kubernetes API.
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    })];
    if let Some(StorageMode::Embedded(e)) = t.spec.storage.mode() {
        out.push(Object::PersistentVolumeClaim(workload::data_claim(&t, e)));
    }
    out.extend(build_pdbs(cluster)?);
    out.extend(build_network_policies(cluster)?);
    out.extend(build_monitoring(cluster)?);
    Ok(out)
}

/// Merge patch setting a Deployment's replicas (the old colour, scaled without rebuilding
/// its template).
pub fn replicas_patch(replicas: i32) -> serde_json::Value {
    serde_json::json!({ "spec": { "replicas": replicas } })
}

/// Merge patch a pod receives to drain: its annotation file then holds
/// `ndf.dev/drain="true"`, and `ndf` stops claiming jobs, finishing the ones it holds.
pub fn drain_patch() -> serde_json::Value {
    serde_json::json!({ "metadata": { "annotations": { DRAIN_ANNOTATION: "true" } } })
}

/// Label selector (`k=v,...`) of one colour's pods of one component, for listing pods to
/// drain and for `status.selector`.
pub fn pod_selector(cluster_name: &str, component: Component, color: Color) -> String {
    format!(
        "{}={},{}={},{}={},{}={}",
        labels::NAME,
        labels::APP,
        labels::INSTANCE,
        cluster_name,
        labels::COMPONENT,
        component.as_str(),
        labels::COLOR,
        color.as_str()
    )
}
