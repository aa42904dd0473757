//! From the cluster to the rollout machine and back: the colours' Deployments as observed,
//! the machine's memory read from and written to the status, the conditions.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::{Context, Error};
use crate::build::{Component, Names, labels, pod_selector};
use crate::crd::{Color, NdfCluster, NdfClusterStatus, RolloutStatus};
use crate::rollout::{
    self, ColorObservation, DrainState, Observation, Plan, Pods, PreviewStage, PreviewState,
    RolloutState,
};

/// One colour's two Deployments as read.
#[derive(Clone, Debug, Default)]
pub(super) struct Observed {
    pub(super) api: Option<Deployment>,
    pub(super) workers: Option<Deployment>,
}

pub(super) fn revision_of(d: &Deployment) -> Option<String> {
    d.metadata.labels.as_ref()?.get(labels::REVISION).cloned()
}

/// Ready pods, and ready pods of the current template once the Deployment controller has
/// seen it and no pod of an older template is left (what `kubectl rollout status` waits for).
pub(super) fn pods_of(d: Option<&Deployment>) -> (Pods, i32) {
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
    pub(super) fn observation(&self) -> ColorObservation {
        let (api, api_pods) = pods_of(self.api.as_ref());
        let (workers, worker_pods) = pods_of(self.workers.as_ref());
        ColorObservation {
            revision: self.api.as_ref().and_then(revision_of),
            api,
            workers,
            pods: api_pods + worker_pods,
        }
    }

    pub(super) fn spec_replicas(d: Option<&Deployment>) -> Option<i32> {
        d?.spec.as_ref()?.replicas
    }
}

/// The colours' Deployments of `cluster`, by colour.
pub(super) async fn observe(
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

pub(super) fn time(secs: i64) -> Time {
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
pub(super) fn conditions(
    old: &[Condition],
    plan: &Plan,
    generation: Option<i64>,
    now: i64,
) -> Vec<Condition> {
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
pub(super) fn status_of(
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
pub(super) fn replicas(cluster: &NdfCluster, active: Option<&Observed>) -> (i32, i32) {
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
