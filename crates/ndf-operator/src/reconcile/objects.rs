//! Writes to objects other than the NdfCluster: server-side apply of built objects, scaling
//! a colour to zero, the drain annotation, pruning what a spec change dropped.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::{Api, ResourceExt};

use super::status::Observed;
use super::{Context, DRAIN_ANNOTATION, Error, FIELD_MANAGER};
use crate::build::{Object, drain_patch, labels, replicas_patch};
use crate::crd::{Color, NdfCluster};
use crate::rollout::{Plan, Role};

/// Applies `object` server-side.
pub(super) async fn apply_object(ctx: &Context, object: &Object) -> Result<(), Error> {
    let ar = object.api_resource();
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

/// Scales to zero the Deployments the plan turned off (and a component the spec no longer
/// has); a colour that still serves at an older revision, or drains, keeps its replicas.
pub(super) async fn scale_down_unbuilt(
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
pub(super) async fn drain(cluster: &NdfCluster, ctx: &Context, color: Color) -> Result<(), Error> {
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
pub(super) fn prunable() -> Vec<ApiResource> {
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
pub(super) async fn prune(
    cluster: &NdfCluster,
    ctx: &Context,
    built: &[Object],
) -> Result<(), Error> {
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

pub(super) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

pub(super) async fn delete_if_present(api: &Api<DynamicObject>, name: &str) -> Result<(), Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
