//! Services (active, preview, metrics) and NetworkPolicies (default deny plus what ndf needs).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{ADMIN_PORT, API_PORT, BuildError, Component, Object, Target, labels};
use crate::crd::{Color, NdfCluster, RolloutStrategy, StorageMode};

/// The Services: `NAME` selects the active colour's API pods; `NAME-preview` (BlueGreen only)
/// the preview colour's, or the active one's when no rollout is under way. With a
/// ServiceMonitor, headless `NAME-api-metrics` / `NAME-worker-metrics` expose the admin ports
/// of both colours.
pub fn build_services(
    cluster: &NdfCluster,
    active: Color,
    preview: Option<Color>,
) -> Result<Vec<Object>, BuildError> {
    let t = Target::new(cluster)?;
    let http = ServicePort {
        name: Some("http".into()),
        port: API_PORT,
        target_port: Some(IntOrString::String("http".into())),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    };
    let service = |name: String, color: Color| {
        Object::Service(Service {
            metadata: t.meta(name, t.component_labels(Component::Api)),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(t.color_selector(Component::Api, color)),
                ports: Some(vec![http.clone()]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        })
    };
    let mut out = vec![service(t.names.active_service(), active)];
    if t.spec.rollout.strategy == RolloutStrategy::BlueGreen {
        out.push(service(
            t.names.preview_service(),
            preview.unwrap_or(active),
        ));
    }
    if t.spec.observability.service_monitor {
        let mut components = vec![Component::Api];
        if t.has_workers() {
            components.push(Component::Worker);
        }
        for c in components {
            let mut l = t.component_labels(c);
            // The job names deploy/prometheus's rules and the dashboard select on.
            let job = match c {
                Component::Api => "ndf",
                Component::Worker => "ndf-worker",
            };
            l.insert(labels::METRICS_JOB.into(), job.into());
            out.push(Object::Service(Service {
                metadata: t.meta(t.names.metrics_service(c), l),
                spec: Some(ServiceSpec {
                    cluster_ip: Some("None".into()),
                    selector: Some(t.component_selector(c)),
                    ports: Some(vec![ServicePort {
                        name: Some("admin".into()),
                        port: ADMIN_PORT,
                        target_port: Some(IntOrString::String("admin".into())),
                        protocol: Some("TCP".into()),
                        ..ServicePort::default()
                    }]),
                    ..ServiceSpec::default()
                }),
                ..Service::default()
            }));
        }
    }
    Ok(out)
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        end_port: None,
    }
}

fn udp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("UDP".into()),
        end_port: None,
    }
}

fn namespace_peer(namespace: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                namespace.to_string(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn selector(labels: BTreeMap<String, String>) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: Some(labels),
        ..LabelSelector::default()
    })
}

/// The NetworkPolicies (unless `network.policies` is false): all ndf pods deny everything by
/// default; the API port is open to the namespace (or `network.apiIngressFrom`) and the
/// operator's namespace (smoke analysis); the admin port to the monitoring namespace; egress
/// to DNS, and to PostgreSQL, S3 and the OTLP collector on their ports only.
pub fn build_network_policies(cluster: &NdfCluster) -> Result<Vec<Object>, BuildError> {
    let t = Target::new(cluster)?;
    let net = &t.spec.network;
    if !net.policies {
        return Ok(Vec::new());
    }
    let all_pods = {
        let mut l = t.labels();
        l.remove(labels::MANAGED_BY);
        l
    };
    let policy = |name: String, pods: BTreeMap<String, String>, spec: NetworkPolicySpec| {
        Object::NetworkPolicy(NetworkPolicy {
            metadata: t.meta(name, t.labels()),
            spec: Some(NetworkPolicySpec {
                pod_selector: selector(pods),
                ..spec
            }),
        })
    };
    let monitoring = NetworkPolicyIngressRule {
        from: Some(vec![namespace_peer(&net.monitoring_namespace)]),
        ports: Some(vec![tcp(ADMIN_PORT)]),
    };
    let mut out = vec![policy(
        format!("{}-default-deny", t.names.base),
        all_pods.clone(),
        NetworkPolicySpec {
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..NetworkPolicySpec::default()
        },
    )];

    let mut api_from = if net.api_ingress_from.is_empty() {
        // Any pod of the cluster's namespace (an ingress controller elsewhere is added with
        // network.apiIngressFrom).
        vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..NetworkPolicyPeer::default()
        }]
    } else {
        net.api_ingress_from.clone()
    };
    api_from.push(namespace_peer(&net.operator_namespace));
    out.push(policy(
        format!("{}-api-ingress", t.names.base),
        t.component_selector(Component::Api),
        NetworkPolicySpec {
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(api_from),
                    ports: Some(vec![tcp(API_PORT)]),
                },
                monitoring.clone(),
            ]),
            ..NetworkPolicySpec::default()
        },
    ));
    if t.has_workers() {
        out.push(policy(
            format!("{}-worker-ingress", t.names.base),
            t.component_selector(Component::Worker),
            NetworkPolicySpec {
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![monitoring]),
                ..NetworkPolicySpec::default()
            },
        ));
    }

    let mut egress = vec![NetworkPolicyEgressRule {
        // DNS, wherever the cluster's resolver runs.
        to: None,
        ports: Some(vec![udp(53), tcp(53)]),
    }];
    let mut ports = Vec::new();
    if let Some(StorageMode::ScaleOut(s)) = t.spec.storage.mode() {
        ports.push(tcp(s.postgres.port));
        ports.push(tcp(s.s3.port));
    }
    if t.spec.observability.otlp_endpoint.is_some() {
        ports.push(tcp(net.otlp_port));
    }
    if !ports.is_empty() {
        ports.sort_by_key(|p| format!("{:?}", p.port));
        ports.dedup();
        egress.push(NetworkPolicyEgressRule {
            to: (!net.egress_to.is_empty()).then(|| net.egress_to.clone()),
            ports: Some(ports),
        });
    }
    if net.allow_webhook_egress {
        egress.push(NetworkPolicyEgressRule {
            to: None,
            ports: Some(vec![tcp(443)]),
        });
    }
    out.push(policy(
        format!("{}-egress", t.names.base),
        all_pods,
        NetworkPolicySpec {
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(egress),
            ..NetworkPolicySpec::default()
        },
    ));
    Ok(out)
}
