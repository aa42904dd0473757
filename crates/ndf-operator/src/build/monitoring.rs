//! ServiceMonitor, PrometheusRule and the Grafana dashboard ConfigMap, made from the files
//! under deploy/ (one source: the rules promtool tests are the rules the cluster gets).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

use super::{BuildError, Object, Target, labels};
use crate::crd::NdfCluster;

/// The Prometheus rule files (name, contents), in the order their groups are concatenated.
pub const PROMETHEUS_RULE_FILES: [(&str, &str); 2] = [
    (
        "deploy/prometheus/rules/ndf-recording.yml",
        include_str!("../../../../deploy/prometheus/rules/ndf-recording.yml"),
    ),
    (
        "deploy/prometheus/rules/ndf-alerts.yml",
        include_str!("../../../../deploy/prometheus/rules/ndf-alerts.yml"),
    ),
];

/// The Grafana dashboard (deploy/grafana/ndf-service.json).
pub const GRAFANA_DASHBOARD: &str = include_str!("../../../../deploy/grafana/ndf-service.json");

/// The `groups` of every rule file, concatenated: the PrometheusRule's `spec.groups`.
pub fn prometheus_rule_groups() -> Result<Vec<serde_json::Value>, BuildError> {
    let mut groups = Vec::new();
    for (name, text) in PROMETHEUS_RULE_FILES {
        let doc: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| BuildError::Asset {
                name,
                message: e.to_string(),
            })?;
        let Some(g) = doc.get("groups").and_then(|g| g.as_array()) else {
            return Err(BuildError::Asset {
                name,
                message: "no `groups` list".into(),
            });
        };
        groups.extend(g.iter().cloned());
    }
    Ok(groups)
}

fn dynamic(group: &str, version: &str, kind: &str, name: &str) -> DynamicObject {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    DynamicObject::new(name, &ApiResource::from_gvk(&gvk))
}

/// The monitoring objects `spec.observability` asks for: a ServiceMonitor scraping the admin
/// port of every pod (through the metrics Services of [`super::build_services`]), a
/// PrometheusRule with deploy/prometheus's rules, the Grafana dashboard as a ConfigMap.
pub fn build_monitoring(cluster: &NdfCluster) -> Result<Vec<Object>, BuildError> {
    let t = Target::new(cluster)?;
    let obs = &t.spec.observability;
    let mut extra = t.labels();
    extra.extend(obs.labels.clone());
    let mut out = Vec::new();
    if obs.service_monitor {
        let mut sm = dynamic(
            "monitoring.coreos.com",
            "v1",
            "ServiceMonitor",
            &t.names.base,
        );
        sm.metadata = t.meta(t.names.base.clone(), extra.clone());
        sm.data = serde_json::json!({
            "spec": {
                // Targets get job="ndf" (API) or job="ndf-worker": the rules' and the
                // dashboard's job names.
                "jobLabel": labels::METRICS_JOB,
                "namespaceSelector": { "matchNames": [t.namespace] },
                "selector": {
                    "matchLabels": {
                        labels::NAME: labels::APP,
                        labels::INSTANCE: t.names.base,
                    },
                    "matchExpressions": [{ "key": labels::METRICS_JOB, "operator": "Exists" }],
                },
                "endpoints": [{
                    "port": "admin",
                    "path": "/metrics",
                    "scheme": "http",
                    "interval": "15s",
                    "relabelings": [
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_label_ndf_dev_color"],
                            "targetLabel": "ndf_color",
                        },
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_label_ndf_dev_revision"],
                            "targetLabel": "ndf_revision",
                        },
                        {
                            "action": "replace",
                            "targetLabel": "ndf_cluster",
                            "replacement": t.names.base,
                        },
                    ],
                }],
            },
        });
        out.push(Object::Dynamic(sm));
    }
    if obs.prometheus_rule {
        let mut pr = dynamic(
            "monitoring.coreos.com",
            "v1",
            "PrometheusRule",
            &t.names.base,
        );
        pr.metadata = t.meta(t.names.base.clone(), extra);
        pr.data = serde_json::json!({ "spec": { "groups": prometheus_rule_groups()? } });
        out.push(Object::Dynamic(pr));
    }
    if obs.grafana_dashboard {
        let mut l = t.labels();
        // The Grafana sidecar's default label for dashboards to load.
        l.insert("grafana_dashboard".into(), "1".into());
        out.push(Object::ConfigMap(ConfigMap {
            metadata: t.meta(t.names.dashboard(), l),
            data: Some(BTreeMap::from([(
                "ndf-service.json".to_string(),
                GRAFANA_DASHBOARD.to_string(),
            )])),
            ..ConfigMap::default()
        }));
    }
    Ok(out)
}
