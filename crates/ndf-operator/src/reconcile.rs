//! The reconciler: observe the cluster, let the rollout machine ([`crate::rollout`]) decide,
//! apply what the build functions make of its plan.
//!
//! One pass: the `NdfCluster` and its Deployments are read; the analysis is measured if one is
//! due; [`step`] gives the plan; every object the plan needs is applied server-side (field
//! manager `ndf-operator`, forced), colours turned off are scaled to zero, the pods of a
//! draining colour are annotated `ndf.dev/drain: "true"`, the status subresource is applied
//! and the plan's events recorded. The finalizer's cleanup deletes the autoscalers first, so
//! that KEDA and the HPA stop scaling before garbage collection removes the rest (every object
//! is owned by the `NdfCluster`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role as RbacRole, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::analysis::Analyzer;
pub use crate::build::DRAIN_ANNOTATION;
use crate::build::{
    BuildContext, ColorWorkload, Component, Names, Object, build_all, drain_patch, labels,
    pod_selector, replicas_patch,
};
use crate::crd::{Color, NdfCluster, NdfClusterStatus, RolloutStatus, RolloutStrategy};
use crate::rollout::{
    self, ColorObservation, DrainState, EventKind, Input, Observation, Plan, Pods, Policy,
    PreviewStage, PreviewState, Role, RolloutState, Strategy, Want, analysis_due, step,
};

/// The finalizer that runs [`cleanup`] before the `NdfCluster` goes.
pub const FINALIZER: &str = "ndf.dev/cleanup";
/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "ndf-operator";
/// `ndf.dev/promote: <revision>` promotes that revision when `autoPromote` is off.
pub const PROMOTE_ANNOTATION: &str = "ndf.dev/promote";
/// Look again at least this often, even when nothing is due.
pub const RESYNC: Duration = Duration::from_secs(300);

/// What a reconcile pass can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or was unreachable.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The finalizer helper failed (adding or removing the finalizer, or the pass inside it).
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The object cannot be reconciled as it is (no namespace, a spec the build refuses).
    #[error("invalid NdfCluster: {0}")]
    Invalid(String),
    /// A built object could not be serialised.
    #[error("serialising an object: {0}")]
    Json(#[from] serde_json::Error),
}

/// Shared by every reconcile pass.
pub struct Context {
    /// The API client.
    pub client: kube::Client,
    /// Publishes events on the `NdfCluster`.
    pub recorder: Recorder,
    /// Measures preview colours.
    pub analyzer: Arc<dyn Analyzer>,
    /// Unix seconds now (injectable: the tests drive time).
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// Consecutive failures per object, for the error policy's backoff.
    failures: Mutex<BTreeMap<String, u32>>,
    /// Counters served on `/metrics`.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// Reconcile counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Passes run.
    pub reconciles: std::sync::atomic::AtomicU64,
    /// Passes that failed.
    pub failures: std::sync::atomic::AtomicU64,
}

impl Context {
    /// A context on the real clock.
    #[must_use]
    pub fn new(client: kube::Client, recorder: Recorder, analyzer: Arc<dyn Analyzer>) -> Self {
        let clock = Arc::new(|| Timestamp::now().as_second());
        Self::with_clock(client, recorder, analyzer, clock)
    }

    /// A context whose time is `clock` (Unix seconds).
    #[must_use]
    pub fn with_clock(
        client: kube::Client,
        recorder: Recorder,
        analyzer: Arc<dyn Analyzer>,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Self {
        Context {
            client,
            recorder,
            analyzer,
            clock,
            failures: Mutex::default(),
            metrics: Metrics::default(),
        }
    }
}

/// One pass over `cluster` (through the finalizer: added first, cleanup on deletion).
///
/// # Errors
/// Any API failure; the controller retries with [`error_policy`]'s backoff.
pub async fn reconcile(cluster: Arc<NdfCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    use std::sync::atomic::Ordering::Relaxed;
    ctx.metrics.reconciles.fetch_add(1, Relaxed);
    let ns = cluster
        .namespace()
        .ok_or_else(|| Error::Invalid("an NdfCluster is namespaced".into()))?;
    let key = format!("{ns}/{}", cluster.name_any());
    let api: Api<NdfCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, cluster, |event| async {
        match event {
            Finalizer::Apply(c) => apply(&c, &ctx).await,
            Finalizer::Cleanup(c) => cleanup(&c, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    if result.is_ok() {
        ctx.failures.lock().expect("failure counts").remove(&key);
    } else {
        ctx.metrics.failures.fetch_add(1, Relaxed);
    }
    result
}

/// Retry after 5 s, doubling per consecutive failure of the same object, at most 5 minutes.
pub fn error_policy(cluster: Arc<NdfCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}",
        cluster.namespace().unwrap_or_default(),
        cluster.name_any()
    );
    let mut failures = ctx.failures.lock().expect("failure counts");
    let n = failures.entry(key).or_insert(0);
    *n = n.saturating_add(1);
    let delay = backoff(*n);
    tracing::warn!(error = %error, retry_in_secs = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// 5 s, 10 s, 20 s, … capped at 300 s.
#[must_use]
pub fn backoff(consecutive_failures: u32) -> Duration {
    let exp = consecutive_failures.saturating_sub(1).min(6);
    Duration::from_secs((5u64 << exp).min(300))
}

/// The spec's rollout settings as the machine takes them.
#[must_use]
pub fn policy(cluster: &NdfCluster) -> Policy {
    let r = &cluster.spec.rollout;
    let secs = |s: i32| u64::try_from(s).unwrap_or(0);
    Policy {
        strategy: match r.strategy {
            RolloutStrategy::BlueGreen => Strategy::BlueGreen,
            RolloutStrategy::Rolling => Strategy::Rolling,
        },
        auto_promote: r.auto_promote,
        scale_down_delay_secs: secs(r.scale_down_delay_seconds),
        analysis: r.analysis.as_ref().and_then(crate::analysis::policy),
        progress_deadline_secs: Some(secs(r.progress_deadline_seconds)),
    }
}

/// One colour's two Deployments as read.
#[derive(Clone, Debug, Default)]
struct Observed {
    api: Option<Deployment>,
    workers: Option<Deployment>,
}

fn revision_of(d: &Deployment) -> Option<String> {
    d.metadata.labels.as_ref()?.get(labels::REVISION).cloned()
}

/// Ready pods, and ready pods of the current template once the Deployment controller has
/// seen it and no pod of an older template is left (what `kubectl rollout status` waits for).
fn pods_of(d: Option<&Deployment>) -> (Pods, i32) {
    let Some(d) = d else {
        return (Pods::default(), 0);
    };
    let status = d.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let seen = status.observed_generation >= d.metadata.generation;
    let updated_ready = if seen && total == updated {
        ready
            .min(updated)
            .min(status.available_replicas.unwrap_or(0))
    } else {
        0
    };
    (
        Pods {
            ready,
            updated_ready,
        },
        total,
    )
}

impl Observed {
    fn observation(&self) -> ColorObservation {
        let (api, api_pods) = pods_of(self.api.as_ref());
        let (workers, worker_pods) = pods_of(self.workers.as_ref());
        ColorObservation {
            revision: self.api.as_ref().and_then(revision_of),
            api,
            workers,
            pods: api_pods + worker_pods,
        }
    }

    fn spec_replicas(d: Option<&Deployment>) -> Option<i32> {
        d?.spec.as_ref()?.replicas
    }
}

/// The colours' Deployments of `cluster`, by colour.
async fn observe(
    cluster: &NdfCluster,
    ctx: &Context,
) -> Result<BTreeMap<&'static str, Observed>, Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!(
        "{}={name},{}={}",
        labels::INSTANCE,
        labels::MANAGED_BY,
        labels::MANAGER
    );
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    let names = Names::new(&name);
    let mut out = BTreeMap::new();
    for color in [Color::Blue, Color::Green] {
        let find = |component| {
            let wanted = names.deployment(component, color);
            list.items
                .iter()
                .find(|d| d.metadata.name.as_deref() == Some(wanted.as_str()))
                .cloned()
        };
        out.insert(
            color.as_str(),
            Observed {
                api: find(Component::Api),
                workers: find(Component::Worker),
            },
        );
    }
    Ok(out)
}

fn time(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// The machine's memory from the status. Preview and drain never coexist, so
/// `rollout.phaseStarted` is the preview's start or the drain's.
#[must_use]
pub fn state_from_status(
    status: Option<&NdfClusterStatus>,
    observation: &Observation,
) -> RolloutState {
    let Some(status) = status else {
        return RolloutState::default();
    };
    let rollout = status.rollout.clone().unwrap_or_default();
    let started = rollout
        .phase_started
        .as_ref()
        .map_or(0, |t| t.0.as_second());
    let active = status
        .active_color
        .zip(status.active_revision.clone())
        .map(|(color, revision)| rollout::ColorRevision { color, revision });
    let preview = status
        .preview_color
        .zip(status.preview_revision.clone())
        .map(|(color, revision)| PreviewState {
            color,
            revision,
            stage: match rollout.phase.as_str() {
                "Analyzing" => PreviewStage::Analyzing,
                "AwaitingPromotion" => PreviewStage::AwaitingPromotion,
                _ => PreviewStage::Starting,
            },
            started_at: started,
            passes: u32::try_from(rollout.analysis_successes).unwrap_or(0),
            failures: u32::try_from(rollout.analysis_failures).unwrap_or(0),
            last_measured_at: rollout
                .last_analysis
                .as_ref()
                .map_or(started, |t| t.0.as_second()),
        });
    let draining = rollout.draining_color.map(|color| DrainState {
        color,
        revision: observation
            .color(color)
            .revision
            .clone()
            .unwrap_or_default(),
        since: started,
    });
    let aborted = (rollout.phase == "Aborted")
        .then(|| rollout.target_revision.clone())
        .flatten()
        .map(|revision| rollout::AbortState {
            revision,
            reason: rollout.message.clone().unwrap_or_default(),
        });
    RolloutState {
        active,
        preview,
        draining,
        aborted,
    }
}

/// Conditions from the plan; a condition whose status did not change keeps its transition
/// time.
fn conditions(old: &[Condition], plan: &Plan, generation: Option<i64>, now: i64) -> Vec<Condition> {
    plan.conditions
        .iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" };
            let since = old
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == status)
                .map_or_else(|| time(now), |o| o.last_transition_time.clone());
            Condition {
                type_: c.type_.to_owned(),
                status: status.to_owned(),
                reason: c.reason.to_owned(),
                message: c.message.clone(),
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect()
}

/// The status for `plan`.
fn status_of(
    cluster: &NdfCluster,
    plan: &Plan,
    desired: &str,
    observed: &BTreeMap<&'static str, Observed>,
    now: i64,
) -> NdfClusterStatus {
    let s = &plan.state;
    let old = cluster.status.clone().unwrap_or_default();
    let active = s.active.clone();
    let active_obs = active
        .as_ref()
        .and_then(|a| observed.get(a.color.as_str()))
        .cloned()
        .unwrap_or_default();
    let api_status = active_obs
        .api
        .as_ref()
        .and_then(|d| d.status.clone())
        .unwrap_or_default();
    let workers_status = active_obs
        .workers
        .as_ref()
        .and_then(|d| d.status.clone())
        .unwrap_or_default();
    let started = match (&s.preview, &s.draining) {
        (Some(p), _) => Some(time(p.started_at)),
        (None, Some(d)) => Some(time(d.since)),
        (None, None) => None,
    };
    let preview = s.preview.as_ref();
    let analysing = preview.filter(|p| p.stage != PreviewStage::Starting);
    NdfClusterStatus {
        conditions: conditions(&old.conditions, plan, cluster.metadata.generation, now),
        observed_generation: cluster.metadata.generation,
        active_color: active.as_ref().map(|a| a.color),
        active_revision: active.as_ref().map(|a| a.revision.clone()),
        preview_color: preview.map(|p| p.color),
        preview_revision: preview.map(|p| p.revision.clone()),
        replicas: api_status.replicas.unwrap_or(0),
        ready_replicas: api_status.ready_replicas.unwrap_or(0),
        ready_worker_replicas: workers_status.ready_replicas.unwrap_or(0),
        selector: active
            .as_ref()
            .map(|a| pod_selector(&cluster.name_any(), Component::Api, a.color)),
        rollout: Some(RolloutStatus {
            phase: plan.phase.as_str().to_owned(),
            target_revision: Some(desired.to_owned()),
            phase_started: started,
            analysis_successes: analysing
                .map_or(0, |p| i32::try_from(p.passes).unwrap_or(i32::MAX)),
            analysis_failures: analysing
                .map_or(0, |p| i32::try_from(p.failures).unwrap_or(i32::MAX)),
            last_analysis: analysing.map(|p| time(p.last_measured_at)),
            draining_color: s.draining.as_ref().map(|d| d.color),
            message: s
                .aborted
                .as_ref()
                .filter(|_| plan.phase == rollout::Phase::Aborted)
                .map(|a| a.reason.clone()),
        }),
    }
}

/// Replicas a colour at the spec's revision runs: the spec's, or with autoscaling the
/// active colour's current count within the bounds (so a preview comes up as large as the
/// colour it replaces, and applying never resets what the autoscalers set).
fn replicas(cluster: &NdfCluster, active: Option<&Observed>) -> (i32, i32) {
    let spec = &cluster.spec;
    let has_workers =
        !spec.storage.is_embedded() && (spec.workers.replicas > 0 || spec.autoscaling.enabled);
    if !spec.autoscaling.enabled {
        return (
            spec.api.replicas,
            if has_workers {
                spec.workers.replicas
            } else {
                0
            },
        );
    }
    let a = &spec.autoscaling;
    let current = |d: Option<&Deployment>| Observed::spec_replicas(d);
    let api = current(active.and_then(|o| o.api.as_ref()))
        .unwrap_or(a.api_min())
        .clamp(a.api_min(), a.api_max());
    let workers = current(active.and_then(|o| o.workers.as_ref()))
        .unwrap_or(a.min_replicas)
        .clamp(a.min_replicas, a.max_replicas.max(a.min_replicas));
    (api, workers)
}

/// Applies `object` server-side.
async fn apply_object(ctx: &Context, object: &Object) -> Result<(), Error> {
    let ar = api_resource(object);
    let name = object.name().to_owned();
    let api: Api<DynamicObject> = match object.metadata().namespace.as_deref() {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &ar),
        None => Api::all_with(ctx.client.clone(), &ar),
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(object.to_value()))
        .await?;
    Ok(())
}

fn api_resource(object: &Object) -> ApiResource {
    fn of<K: Resource<DynamicType = ()>>() -> ApiResource {
        ApiResource::erase::<K>(&())
    }
    match object {
        Object::Namespace(_) => of::<Namespace>(),
        Object::ServiceAccount(_) => of::<ServiceAccount>(),
        Object::ClusterRole(_) => of::<ClusterRole>(),
        Object::ClusterRoleBinding(_) => of::<ClusterRoleBinding>(),
        Object::Role(_) => of::<RbacRole>(),
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
            // ScaledObject, ServiceMonitor, PrometheusRule: the plural is the lower-case kind + s.
            ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", types.kind.to_lowercase()))
        }
    }
}

/// The colour the active Service selects today (read only when the status has none).
async fn service_color(cluster: &NdfCluster, ctx: &Context) -> Result<Option<Color>, Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    let service = api
        .get_opt(&Names::new(&cluster.name_any()).active_service())
        .await?;
    let color = service
        .and_then(|s| s.spec?.selector?.get(labels::COLOR).cloned())
        .and_then(|c| match c.as_str() {
            "blue" => Some(Color::Blue),
            "green" => Some(Color::Green),
            _ => None,
        });
    Ok(color)
}

/// One pass for a live `NdfCluster`.
async fn apply(cluster: &NdfCluster, ctx: &Context) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let observed = observe(cluster, ctx).await?;
    let seen = |c: Color| {
        observed
            .get(c.as_str())
            .map(Observed::observation)
            .unwrap_or_default()
    };
    let mut observation = Observation {
        blue: seen(Color::Blue),
        green: seen(Color::Green),
        service_selects: None,
    };
    let status = cluster.status.as_ref();
    if status.and_then(|s| s.active_color).is_none() {
        observation.service_selects = service_color(cluster, ctx).await?;
    }
    let desired = crate::revision(&cluster.spec);
    let policy = policy(cluster);
    let state = state_from_status(status, &observation);
    let active = state
        .active
        .as_ref()
        .and_then(|a| observed.get(a.color.as_str()));
    let (api_replicas, worker_replicas) = replicas(cluster, active);
    let measurement = match analysis_due(&state, &policy, now) {
        Some(target) => Some(ctx.analyzer.measure(cluster, &target).await),
        None => None,
    };
    let promote = cluster.annotations().get(PROMOTE_ANNOTATION).cloned();
    let plan = step(
        &state,
        &Input {
            desired: &desired,
            policy: &policy,
            want: Want {
                api: api_replicas,
                workers: worker_replicas,
            },
            observed: &observation,
            measurement: measurement.as_ref(),
            promote: promote.as_deref(),
            now,
        },
    );

    // Only colours at the spec's revision are (re)built; an older template stays as it is.
    let workloads = [Color::Blue, Color::Green]
        .into_iter()
        .filter(|&c| {
            let p = plan.color(c);
            matches!(p.role, Role::Active | Role::Preview)
                && p.revision.as_deref() == Some(&desired)
        })
        .map(|color| ColorWorkload {
            color,
            api_replicas: Some(api_replicas),
            worker_replicas: Some(worker_replicas),
        })
        .collect();
    let build = BuildContext {
        active: plan.active_service,
        preview: plan.preview_service,
        workloads,
    };
    let objects = match build_all(cluster, &build) {
        Ok(objects) => objects,
        Err(e) => return refuse(cluster, ctx, &e.to_string(), now).await,
    };
    for object in &objects {
        apply_object(ctx, object).await?;
    }
    scale_down_unbuilt(cluster, ctx, &plan, &desired, &observed, &objects).await?;
    if let Some(d) = &plan.state.draining {
        drain(cluster, ctx, d.color).await?;
    }
    if status.and_then(|s| s.observed_generation) != cluster.metadata.generation {
        prune(cluster, ctx, &objects).await?;
    }

    let status = status_of(cluster, &plan, &desired, &observed, now);
    apply_status(cluster, ctx, &status).await?;
    // After the status: a failed status write repeats the pass, and with it the events.
    for e in &plan.events {
        publish(ctx, cluster, e.kind, e.reason, &e.note).await;
    }
    let requeue = plan
        .requeue_after_secs
        .map_or(RESYNC, |s| Duration::from_secs(s).min(RESYNC));
    Ok(Action::requeue(requeue))
}

/// A spec the build functions refuse (the CRD's rules let few through): nothing is applied,
/// `Degraded` says why, and the next pass waits for a change of the object.
async fn refuse(
    cluster: &NdfCluster,
    ctx: &Context,
    reason: &str,
    now: i64,
) -> Result<Action, Error> {
    let mut status = cluster.status.clone().unwrap_or_default();
    let since = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded" && c.status == "True")
        .map_or_else(|| time(now), |c| c.last_transition_time.clone());
    status.conditions.retain(|c| c.type_ != "Degraded");
    status.conditions.push(Condition {
        type_: "Degraded".into(),
        status: "True".into(),
        reason: "InvalidSpec".into(),
        message: reason.to_owned(),
        observed_generation: cluster.metadata.generation,
        last_transition_time: since,
    });
    status.observed_generation = cluster.metadata.generation;
    apply_status(cluster, ctx, &status).await?;
    publish(ctx, cluster, EventKind::Warning, "InvalidSpec", reason).await;
    Ok(Action::await_change())
}

async fn apply_status(
    cluster: &NdfCluster,
    ctx: &Context,
    status: &NdfClusterStatus,
) -> Result<(), Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let api: Api<NdfCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let body = json!({
        "apiVersion": NdfCluster::api_version(&()),
        "kind": NdfCluster::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&cluster.name_any(), &params, &Patch::Apply(body))
        .await?;
    Ok(())
}

/// Scales to zero the Deployments the plan turned off (and a component the spec no longer
/// has); a colour that still serves at an older revision, or drains, keeps its replicas.
async fn scale_down_unbuilt(
    cluster: &NdfCluster,
    ctx: &Context,
    plan: &Plan,
    desired: &str,
    observed: &BTreeMap<&'static str, Observed>,
    built: &[Object],
) -> Result<(), Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    for color in [Color::Blue, Color::Green] {
        let role = plan.color(color).role;
        let Some(o) = observed.get(color.as_str()) else {
            continue;
        };
        for d in [&o.api, &o.workers].into_iter().flatten() {
            let name = d.metadata.name.clone().unwrap_or_default();
            let rebuilt = built
                .iter()
                .any(|b| matches!(b, Object::Deployment(_)) && b.name() == name);
            // At the spec's revision but not built: a component the spec no longer has.
            let dropped = matches!(role, Role::Active | Role::Preview)
                && plan.color(color).revision.as_deref() == Some(desired);
            let off = role == Role::Off || dropped;
            if off && !rebuilt && Observed::spec_replicas(Some(d)) != Some(0) {
                let params = PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_owned()),
                    ..PatchParams::default()
                };
                api.patch(&name, &params, &Patch::Merge(replicas_patch(0)))
                    .await?;
            }
        }
    }
    Ok(())
}

/// Annotates every pod of `color` that is not yet annotated `ndf.dev/drain: "true"`.
async fn drain(cluster: &NdfCluster, ctx: &Context, color: Color) -> Result<(), Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!(
        "{}={},{}={},{}={}",
        labels::NAME,
        labels::APP,
        labels::INSTANCE,
        cluster.name_any(),
        labels::COLOR,
        color.as_str()
    );
    let pods = api.list(&ListParams::default().labels(&selector)).await?;
    for pod in pods.items {
        let drained = pod.annotations().get(DRAIN_ANNOTATION).map(String::as_str) == Some("true");
        if !drained {
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            api.patch(&pod.name_any(), &params, &Patch::Merge(drain_patch()))
                .await?;
        }
    }
    Ok(())
}

/// Kinds whose objects come and go with the spec (autoscaling, monitoring, policies, the
/// preview Service). Deployments are the rollout's business; the data claim is never deleted.
fn prunable() -> Vec<ApiResource> {
    let custom = |group: &str, version: &str, kind: &str| {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()))
    };
    vec![
        ApiResource::erase::<HorizontalPodAutoscaler>(&()),
        custom("keda.sh", "v1alpha1", "ScaledObject"),
        custom("monitoring.coreos.com", "v1", "ServiceMonitor"),
        custom("monitoring.coreos.com", "v1", "PrometheusRule"),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
        ApiResource::erase::<PodDisruptionBudget>(&()),
        ApiResource::erase::<Service>(&()),
    ]
}

/// After a spec change: deletes our objects of the [`prunable`] kinds that the build no
/// longer makes (a kind whose CRD is not installed has none).
async fn prune(cluster: &NdfCluster, ctx: &Context, built: &[Object]) -> Result<(), Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let selector = format!(
        "{}={},{}={}",
        labels::INSTANCE,
        cluster.name_any(),
        labels::MANAGED_BY,
        labels::MANAGER
    );
    for ar in prunable() {
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ar);
        let list = match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        for o in list.items {
            let name = o.name_any();
            let kept = built
                .iter()
                .any(|b| b.kind() == ar.kind && b.name() == name);
            if !kept {
                delete_if_present(&api, &name).await?;
            }
        }
    }
    Ok(())
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

async fn delete_if_present(api: &Api<DynamicObject>, name: &str) -> Result<(), Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletion: the autoscalers go first, so that neither KEDA nor the HPA scales Deployments
/// that garbage collection (owner references) is removing.
async fn cleanup(cluster: &NdfCluster, ctx: &Context) -> Result<Action, Error> {
    let ns = cluster.namespace().unwrap_or_default();
    let names = Names::new(&cluster.name_any());
    for (ar, name) in [
        (
            ApiResource::erase::<HorizontalPodAutoscaler>(&()),
            names.hpa(),
        ),
        (prunable()[1].clone(), names.scaled_object()),
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ar);
        delete_if_present(&api, &name).await?;
    }
    let note = "autoscalers deleted; owned objects go with the NdfCluster";
    publish(ctx, cluster, EventKind::Normal, "Deleting", note).await;
    Ok(Action::await_change())
}

/// Records an event; a failure is logged, never fails the pass.
async fn publish(ctx: &Context, cluster: &NdfCluster, kind: EventKind, reason: &str, note: &str) {
    let event = KubeEvent {
        type_: match kind {
            EventKind::Normal => EventType::Normal,
            EventKind::Warning => EventType::Warning,
        },
        reason: reason.to_owned(),
        note: Some(note.to_owned()),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &cluster.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not record an event");
    }
}
