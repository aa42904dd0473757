//! The operator's own install objects: its Namespace, ServiceAccount, least-privilege
//! ClusterRole and binding, NetworkPolicy and the Deployment running `ndf operator`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, Namespace,
    ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Object, RUN_AS_ID, labels};

/// Name of the operator's Deployment, ServiceAccount, ClusterRole and binding.
pub const OPERATOR_NAME: &str = "ndf-operator";
/// Port of the operator's health listener (`/healthz`, `/metrics`).
pub const OPERATOR_HEALTH_PORT: i32 = 8081;
/// The operator container's arguments (the image's entrypoint is `ndf`): `ndf operator` with
/// its health listener (`/healthz` for the probes) on every address, port
/// [`OPERATOR_HEALTH_PORT`].
pub const OPERATOR_ARGS: [&str; 3] = ["operator", "--health-addr", "0.0.0.0:8081"];

const CRUD: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(resources.iter().map(|r| (*r).to_string()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// What the reconciler does, and nothing more: its own resource, the objects it builds, pod
/// annotations (drain), events. No Secrets (pods read them; the operator never does), no
/// RBAC objects, no exec.
pub fn operator_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            "ndf.dev",
            &["ndfclusters"],
            &["get", "list", "watch", "update", "patch"],
        ),
        rule(
            "ndf.dev",
            &["ndfclusters/status"],
            &["get", "update", "patch"],
        ),
        rule("ndf.dev", &["ndfclusters/finalizers"], &["update"]),
        rule("apps", &["deployments"], &CRUD),
        rule(
            "",
            &[
                "services",
                "serviceaccounts",
                "configmaps",
                "persistentvolumeclaims",
            ],
            &CRUD,
        ),
        // Drain: annotate one colour's pods.
        rule("", &["pods"], &["get", "list", "watch", "patch"]),
        rule("", &["events"], &["create", "patch"]),
        rule("events.k8s.io", &["events"], &["create", "patch"]),
        rule("autoscaling", &["horizontalpodautoscalers"], &CRUD),
        rule("policy", &["poddisruptionbudgets"], &CRUD),
        rule("networking.k8s.io", &["networkpolicies"], &CRUD),
        rule("keda.sh", &["scaledobjects"], &CRUD),
        rule(
            "monitoring.coreos.com",
            &["servicemonitors", "prometheusrules"],
            &CRUD,
        ),
    ]
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        end_port: None,
    }
}

/// The operator's install objects in `namespace`, running `image` (the ndf image).
pub fn build_operator_install(namespace: &str, image: &str) -> Vec<Object> {
    let labels = BTreeMap::from([
        (labels::NAME.to_string(), OPERATOR_NAME.to_string()),
        (labels::COMPONENT.to_string(), "operator".to_string()),
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
    ]);
    let selector = BTreeMap::from([(labels::NAME.to_string(), OPERATOR_NAME.to_string())]);
    let meta = |name: &str, namespaced: bool| ObjectMeta {
        name: Some(name.into()),
        namespace: namespaced.then(|| namespace.to_string()),
        labels: Some(labels.clone()),
        ..ObjectMeta::default()
    };
    let mut ns_labels = labels.clone();
    // The Pod Security Standard every pod here meets.
    ns_labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "restricted".into(),
    );
    let namespace_obj = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.into()),
            labels: Some(ns_labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let sa = ServiceAccount {
        metadata: meta(OPERATOR_NAME, true),
        // The operator talks to the API server: its pod mounts the token explicitly.
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    };
    let role = ClusterRole {
        metadata: meta(OPERATOR_NAME, false),
        rules: Some(operator_rules()),
        ..ClusterRole::default()
    };
    let binding = ClusterRoleBinding {
        metadata: meta(OPERATOR_NAME, false),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: OPERATOR_NAME.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: OPERATOR_NAME.into(),
            namespace: Some(namespace.into()),
            ..Subject::default()
        }]),
    };
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("health".into()),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let q = |s: &str| Quantity(s.into());
    let container = Container {
        name: "operator".into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(OPERATOR_ARGS.iter().map(|a| (*a).to_string()).collect()),
        ports: Some(vec![ContainerPort {
            name: Some("health".into()),
            container_port: OPERATOR_HEALTH_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(vec![
            EnvVar {
                name: "NDF_LOG_FORMAT".into(),
                value: Some("json".into()),
                value_from: None,
            },
            // `ndf operator` names itself by its pod in events.
            EnvVar {
                name: "POD_NAME".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.name".into(),
                        api_version: None,
                    }),
                    ..EnvVarSource::default()
                }),
            },
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), q("100m")),
                ("memory".to_string(), q("128Mi")),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".to_string(), q("500m")),
                ("memory".to_string(), q("256Mi")),
            ])),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe("/healthz")),
        liveness_probe: Some(probe("/healthz")),
        security_context: Some(super::workload::hardened_container()),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let mut deployment_meta = meta(OPERATOR_NAME, true);
    // checkov's inline skip, with its reason, for scans of the committed install.
    deployment_meta.annotations = Some(BTreeMap::from([(
        "checkov.io/skip1".to_string(),
        "CKV_K8S_38=the operator calls the Kubernetes API with its ServiceAccount token"
            .to_string(),
    )]));
    let deployment = Deployment {
        metadata: deployment_meta,
        spec: Some(DeploymentSpec {
            // One reconciler at a time: the old pod stops before the new one starts.
            replicas: Some(1),
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            revision_history_limit: Some(3),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(OPERATOR_NAME.into()),
                    automount_service_account_token: Some(true),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS_ID),
                        run_as_group: Some(RUN_AS_ID),
                        seccomp_profile: Some(super::workload::runtime_default()),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            size_limit: Some(q("64Mi")),
                            ..EmptyDirVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    let policy = NetworkPolicy {
        metadata: meta(OPERATOR_NAME, true),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            // Health probes come from the kubelet, which NetworkPolicies do not filter; no
            // other ingress.
            ingress: Some(Vec::<NetworkPolicyIngressRule>::new()),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: None,
                    ports: Some(vec![
                        NetworkPolicyPort {
                            port: Some(IntOrString::Int(53)),
                            protocol: Some("UDP".into()),
                            end_port: None,
                        },
                        tcp(53),
                    ]),
                },
                NetworkPolicyEgressRule {
                    // The API server (443 or 6443), Prometheus (analysis) and the ndf API
                    // (smoke analysis).
                    to: None,
                    ports: Some(vec![tcp(443), tcp(6443), tcp(9090), tcp(super::API_PORT)]),
                },
            ]),
        }),
    };
    vec![
        Object::Namespace(namespace_obj),
        Object::ServiceAccount(sa),
        Object::ClusterRole(role),
        Object::ClusterRoleBinding(binding),
        Object::NetworkPolicy(policy),
        Object::Deployment(deployment),
    ]
}
