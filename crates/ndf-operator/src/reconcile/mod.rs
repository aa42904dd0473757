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

mod objects;
mod status;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use objects::{apply_object, delete_if_present, drain, prunable, prune, scale_down_unbuilt};
pub use status::state_from_status;
use status::{Observed, observe, replicas, status_of, time};

use crate::analysis::Analyzer;
pub use crate::build::DRAIN_ANNOTATION;
use crate::build::{BuildContext, ColorWorkload, Names, build_all, labels};
use crate::crd::{Color, NdfCluster, NdfClusterStatus, RolloutStrategy};
use crate::rollout::{
    EventKind, Input, Observation, Policy, Role, Strategy, Want, analysis_due, step,
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
