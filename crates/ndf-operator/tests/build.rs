//! The build functions' guarantees, checked on every object they build for the committed
//! examples and variations of them (pure functions: no API server involved).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use ndf_operator::build::{
    DRAIN_ANNOTATION, DRAIN_FILE, DRAIN_FILE_ENV, GRAFANA_DASHBOARD, PROMETHEUS_RULE_FILES,
    RUN_AS_ID, prometheus_rule_groups, termination_grace_seconds,
};
use ndf_operator::crd::{S3CredentialsSecret, SecretKeyRef, TlsSpec};
use ndf_operator::render::parse_cluster;
use ndf_operator::{
    BuildContext, Color, ColorWorkload, Component, NdfCluster, Object, build_all,
    build_operator_install, desired_workers, drain_patch, queue_depth_query,
};

fn example(name: &str) -> NdfCluster {
    let path = format!(
        "{}/../../deploy/kubernetes/examples/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    #[allow(clippy::disallowed_methods)] // a small committed file
    let text = std::fs::read_to_string(&path).expect("example");
    let mut c = parse_cluster(&text, None).expect("example parses");
    // A live object: owner references need its uid.
    c.metadata.uid = Some("0b4c0de0-0000-4000-8000-000000000001".into());
    c
}

/// The examples plus variations that switch on everything a pod can carry.
fn clusters() -> Vec<NdfCluster> {
    let mut all = vec![example("minimal"), example("production"), example("gpu")];
    let mut full = example("production");
    full.spec.security.tls = Some(TlsSpec {
        secret_name: "tls".into(),
        client_ca_key: Some("ca.crt".into()),
    });
    full.spec.security.webhook_secret = Some(SecretKeyRef {
        name: "hooks".into(),
        key: "secret".into(),
    });
    full.spec.gpu.enabled = true;
    full.spec.network.allow_webhook_egress = true;
    all.push(full);
    let mut embedded_everything = example("minimal");
    embedded_everything.spec.observability.service_monitor = true;
    embedded_everything.spec.observability.prometheus_rule = true;
    embedded_everything.spec.observability.grafana_dashboard = true;
    embedded_everything.spec.gpu.enabled = true;
    all.push(embedded_everything);
    all
}

/// Every object for a steady state and for a rollout step (both colours built, preview set).
fn objects(c: &NdfCluster) -> Vec<Object> {
    let mut out = build_all(c, &BuildContext::steady(&c.spec, Color::Blue)).expect("build");
    let rollout = BuildContext {
        active: Color::Green,
        preview: Some(Color::Blue),
        workloads: vec![
            ColorWorkload::from_spec(&c.spec, Color::Green),
            ColorWorkload {
                color: Color::Blue,
                api_replicas: Some(2),
                worker_replicas: Some(1),
            },
        ],
    };
    out.extend(build_all(c, &rollout).expect("build"));
    out
}

fn pod_specs(objects: &[Object]) -> Vec<(&str, &PodSpec)> {
    objects
        .iter()
        .filter_map(|o| o.pod_spec().map(|p| (o.name(), p)))
        .collect()
}

#[test]
fn every_pod_is_hardened() {
    let mut checked = 0;
    for c in clusters() {
        let objs = objects(&c);
        let mut all = objs.clone();
        all.extend(build_operator_install("ndf-system", "ndf:1"));
        for (name, pod) in pod_specs(&all) {
            checked += 1;
            let psc = pod.security_context.as_ref().expect("pod securityContext");
            assert_eq!(psc.run_as_non_root, Some(true), "{name}");
            assert_eq!(psc.run_as_user, Some(RUN_AS_ID), "{name}");
            assert_eq!(
                psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
                Some("RuntimeDefault"),
                "{name}"
            );
            let operator = name == "ndf-operator";
            // Only the operator talks to the API server.
            assert_eq!(
                pod.automount_service_account_token,
                Some(operator),
                "{name}"
            );
            assert_eq!(pod.enable_service_links, Some(false), "{name}");
            assert!(
                pod.host_network.is_none() && pod.host_pid.is_none(),
                "{name}"
            );
            let volumes = pod.volumes.as_deref().unwrap_or_default();
            let tmp = volumes
                .iter()
                .find(|v| v.name == "tmp")
                .expect("tmp volume");
            assert!(tmp.empty_dir.is_some(), "{name}: /tmp is an emptyDir");
            for ctr in &pod.containers {
                let sc = ctr
                    .security_context
                    .as_ref()
                    .expect("container securityContext");
                assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
                assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}");
                assert_eq!(sc.run_as_non_root, Some(true), "{name}");
                assert_ne!(sc.privileged, Some(true), "{name}");
                let caps = sc.capabilities.as_ref().expect("capabilities");
                assert_eq!(
                    caps.drop.as_deref(),
                    Some(&["ALL".to_string()][..]),
                    "{name}"
                );
                assert!(caps.add.is_none(), "{name}");
                let r = ctr.resources.as_ref().expect("resources");
                for key in ["cpu", "memory"] {
                    assert!(
                        r.requests.as_ref().is_some_and(|m| m.contains_key(key)),
                        "{name} {key}"
                    );
                    assert!(
                        r.limits.as_ref().is_some_and(|m| m.contains_key(key)),
                        "{name} {key}"
                    );
                }
                assert!(
                    ctr.liveness_probe.is_some() && ctr.readiness_probe.is_some(),
                    "{name}"
                );
                if !operator {
                    assert!(ctr.startup_probe.is_some(), "{name}");
                }
                let mounts = ctr.volume_mounts.as_deref().unwrap_or_default();
                assert!(
                    mounts
                        .iter()
                        .any(|m| m.mount_path == "/tmp" && m.name == "tmp"),
                    "{name}"
                );
            }
            if !operator {
                let spread = pod
                    .topology_spread_constraints
                    .as_deref()
                    .unwrap_or_default();
                assert!(spread.len() >= 2, "{name}: topology spread");
            }
        }
    }
    assert!(checked >= 20, "only {checked} pod specs checked");
}

#[test]
fn grace_period_covers_the_job_deadline_and_the_drain_delay() {
    for mut c in clusters() {
        c.spec.pod.job_deadline_seconds = 1234;
        c.spec.pod.drain_delay_seconds = 56;
        assert!(termination_grace_seconds(&c) > 1234 + 56);
        for (name, pod) in pod_specs(&objects(&c)) {
            let grace = pod.termination_grace_period_seconds.expect("grace period");
            assert!(grace > 1234 + 56, "{name}: {grace}");
            let env = pod.containers[0].env.as_deref().unwrap_or_default();
            let get = |k: &str| {
                env.iter()
                    .find(|e| e.name == k)
                    .and_then(|e| e.value.clone())
            };
            // ndf's own shutdown grace equals the deadline: it hands jobs back before the kill.
            assert_eq!(
                get("NDF_SHUTDOWN_GRACE_MS").as_deref(),
                Some("1234000"),
                "{name}"
            );
            assert_eq!(
                get("NDF_SHUTDOWN_DELAY_MS").as_deref(),
                Some("56000"),
                "{name}"
            );
        }
    }
}

#[test]
fn gpus_are_requested_only_when_enabled_and_only_by_job_runners() {
    for c in clusters() {
        let gpu = &c.spec.gpu;
        for o in objects(&c) {
            let Some(pod) = o.pod_spec() else { continue };
            let r = pod.containers[0].resources.as_ref().expect("resources");
            let requested = r
                .requests
                .as_ref()
                .is_some_and(|m| m.contains_key(&gpu.resource_name));
            let limited = r
                .limits
                .as_ref()
                .is_some_and(|m| m.contains_key(&gpu.resource_name));
            let worker = o.name().contains("-worker-");
            let embedded = c.spec.storage.is_embedded();
            let scale_out_api_only =
                !embedded && (c.spec.workers.replicas > 0 || c.spec.autoscaling.enabled) && !worker;
            let expect = gpu.enabled && !scale_out_api_only;
            assert_eq!(requested, expect, "{}: gpu request", o.name());
            assert_eq!(limited, expect, "{}: gpu limit", o.name());
            let selector = pod.node_selector.clone().unwrap_or_default();
            for (k, v) in &gpu.node_selector {
                assert_eq!(
                    selector.get(k) == Some(v),
                    expect,
                    "{}: node selector",
                    o.name()
                );
            }
        }
    }
}

#[test]
fn secrets_come_only_from_secret_references() {
    const SECRET_ENV: [&str; 5] = [
        "NDF_STORE",
        "NDF_S3_ACCESS_KEY_ID",
        "NDF_S3_SECRET_ACCESS_KEY",
        "NDF_API_KEY_SECRET",
        "NDF_WEBHOOK_SECRET",
    ];
    for mut c in clusters() {
        if let Some(s) = c.spec.storage.scale_out.as_mut() {
            s.s3.credentials_secret = Some(S3CredentialsSecret {
                name: "s3".into(),
                access_key_id_key: "id".into(),
                secret_access_key_key: "key".into(),
            });
        }
        c.spec.security.bootstrap_keys_secret = Some(SecretKeyRef {
            name: "bootstrap".into(),
            key: "keys".into(),
        });
        let objs = objects(&c);
        for o in &objs {
            assert_ne!(o.kind(), "Secret", "the operator never writes Secrets");
            if let Object::ConfigMap(cm) = o {
                let text = serde_json::to_string(&cm.data).expect("json");
                for name in SECRET_ENV {
                    assert!(!text.contains(name), "{}: {name} in a ConfigMap", o.name());
                }
            }
        }
        for (name, pod) in pod_specs(&objs) {
            for e in pod.containers[0].env.as_deref().unwrap_or_default() {
                if SECRET_ENV.contains(&e.name.as_str()) {
                    assert!(e.value.is_none(), "{name}: {} has a literal value", e.name);
                    let r = e
                        .value_from
                        .as_ref()
                        .and_then(|v| v.secret_key_ref.as_ref());
                    assert!(r.is_some(), "{name}: {} not from a Secret", e.name);
                }
            }
            // The master key, TLS and bootstrap key files are Secret volumes, read-only.
            let volumes = pod.volumes.as_deref().unwrap_or_default();
            if name.contains("-api-") {
                assert!(
                    volumes.iter().any(|v| v.name == "bootstrap-keys"),
                    "{name}: no bootstrap-keys volume"
                );
            }
            for v in volumes {
                if matches!(v.name.as_str(), "master-key" | "tls" | "bootstrap-keys") {
                    assert!(
                        v.secret.is_some(),
                        "{name}: {} is not a Secret volume",
                        v.name
                    );
                }
            }
        }
    }
}

#[test]
fn everything_is_owned_by_the_cluster() {
    for c in clusters() {
        let uid = c.metadata.uid.clone();
        for o in objects(&c) {
            let refs = o.metadata().owner_references.as_deref().unwrap_or_default();
            assert_eq!(refs.len(), 1, "{} {}", o.kind(), o.name());
            assert_eq!(refs[0].kind, "NdfCluster");
            assert_eq!(Some(refs[0].uid.clone()), uid);
            assert_eq!(refs[0].controller, Some(true));
            assert_eq!(
                o.metadata().namespace.as_deref(),
                Some("ndf"),
                "{}",
                o.name()
            );
        }
    }
}

#[test]
fn the_active_service_selects_the_active_color() {
    let c = example("production");
    for (active, preview) in [(Color::Blue, None), (Color::Green, Some(Color::Blue))] {
        let ctx = BuildContext {
            active,
            preview,
            workloads: vec![ColorWorkload::from_spec(&c.spec, active)],
        };
        let objs = build_all(&c, &ctx).expect("build");
        let selector = |name: &str| {
            objs.iter()
                .find_map(|o| match o {
                    Object::Service(s) if o.name() == name => s.spec.as_ref()?.selector.clone(),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("service {name}"))
        };
        assert_eq!(selector("ndf")["ndf.dev/color"], active.as_str());
        assert_eq!(
            selector("ndf-preview")["ndf.dev/color"],
            preview.unwrap_or(active).as_str()
        );
        // The selected pods exist: the active colour's API Deployment has the same labels.
        let dep = objs
            .iter()
            .find(|o| o.name() == format!("ndf-api-{active}"))
            .expect("active API deployment");
        let labels = dep.pod_spec().map(|_| ()).and_then(|()| match dep {
            Object::Deployment(d) => d.spec.as_ref()?.template.metadata.as_ref()?.labels.clone(),
            _ => None,
        });
        let labels = labels.expect("pod labels");
        for (k, v) in selector("ndf") {
            assert_eq!(labels.get(&k), Some(&v), "{k}");
        }
        // Autoscalers follow the active colour.
        for o in &objs {
            let v = o.to_value();
            let target = match o.kind().as_str() {
                "HorizontalPodAutoscaler" | "ScaledObject" => {
                    v["spec"]["scaleTargetRef"]["name"].clone()
                }
                _ => continue,
            };
            assert!(
                target
                    .as_str()
                    .is_some_and(|t| t.ends_with(active.as_str())),
                "{target}"
            );
        }
    }
}

#[test]
fn embedded_builds_a_claim_and_no_workers_or_autoscalers() {
    let c = example("minimal");
    let objs = objects(&c);
    let kinds: BTreeSet<String> = objs.iter().map(Object::kind).collect();
    assert!(kinds.contains("PersistentVolumeClaim"));
    for k in ["HorizontalPodAutoscaler", "ScaledObject"] {
        assert!(!kinds.contains(k), "{k} built for embedded storage");
    }
    assert!(
        !objs.iter().any(|o| o.name().contains("-worker")),
        "worker objects built"
    );
    for (name, pod) in pod_specs(&objs) {
        let claim = pod
            .volumes
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find_map(|v| v.persistent_volume_claim.as_ref());
        assert_eq!(
            claim.map(|c| c.claim_name.as_str()),
            Some("ndf-data"),
            "{name}"
        );
    }
    // Scale-out builds no claim.
    let kinds: BTreeSet<String> = objects(&example("production"))
        .iter()
        .map(Object::kind)
        .collect();
    assert!(!kinds.contains("PersistentVolumeClaim"));
}

#[test]
fn pods_see_their_drain_annotation() {
    for c in clusters() {
        for (name, pod) in pod_specs(&objects(&c)) {
            let ctr = &pod.containers[0];
            let env = ctr.env.as_deref().unwrap_or_default();
            assert!(
                env.iter()
                    .any(|e| e.name == DRAIN_FILE_ENV && e.value.as_deref() == Some(DRAIN_FILE)),
                "{name}"
            );
            let vol = pod
                .volumes
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|v| v.name == "podinfo")
                .and_then(|v| v.downward_api.as_ref())
                .expect("podinfo volume");
            let item = &vol.items.as_deref().unwrap_or_default()[0];
            assert_eq!(item.path, "annotations");
            assert_eq!(
                item.field_ref.as_ref().map(|f| f.field_path.as_str()),
                Some("metadata.annotations")
            );
            let mount = ctr
                .volume_mounts
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|m| m.name == "podinfo");
            assert_eq!(
                mount
                    .map(|m| format!("{}/annotations", m.mount_path))
                    .as_deref(),
                Some(DRAIN_FILE)
            );
        }
    }
    assert_eq!(
        drain_patch()["metadata"]["annotations"][DRAIN_ANNOTATION],
        "true"
    );
}

#[test]
fn the_prometheus_rule_holds_the_rule_files_groups() {
    let c = example("production");
    let rule = objects(&c)
        .into_iter()
        .find(|o| o.kind() == "PrometheusRule")
        .expect("PrometheusRule");
    let groups = rule.to_value()["spec"]["groups"].clone();
    // Each file parsed on its own, groups concatenated in file order.
    let mut expected = Vec::new();
    let mut rules_in_files = 0;
    for (name, text) in PROMETHEUS_RULE_FILES {
        let doc: serde_json::Value = serde_saphyr::from_str(text).expect(name);
        expected.extend(doc["groups"].as_array().expect("groups").iter().cloned());
        rules_in_files += text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                l.starts_with("- record:") || l.starts_with("- alert:")
            })
            .count();
    }
    assert_eq!(groups, serde_json::Value::Array(expected));
    assert_eq!(
        serde_json::Value::Array(prometheus_rule_groups().expect("groups")),
        groups
    );
    let rules: usize = groups
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        rules > 10 && rules == rules_in_files,
        "{rules} rules, {rules_in_files} in the files"
    );
    let dashboard = objects(&c)
        .into_iter()
        .find_map(|o| match o {
            Object::ConfigMap(cm) => cm.data,
            _ => None,
        })
        .expect("dashboard ConfigMap");
    assert_eq!(dashboard["ndf-service.json"], GRAFANA_DASHBOARD);
}

#[test]
fn the_scaled_object_reads_the_queue_depth_with_max() {
    let c = example("production");
    let so = objects(&c)
        .into_iter()
        .find(|o| o.kind() == "ScaledObject")
        .expect("ScaledObject")
        .to_value();
    let trigger = &so["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "prometheus");
    assert_eq!(trigger["metricType"], "AverageValue");
    let q = trigger["metadata"]["query"].as_str().expect("query");
    assert_eq!(
        q,
        r#"sum(max by (state) (ndf_jobs{state=~"queued|running",namespace="ndf",ndf_cluster="ndf"}))"#
    );
    assert_eq!(q, queue_depth_query(&c.spec, "ndf", "ndf"));
    assert_eq!(trigger["metadata"]["ignoreNullValues"], "false");
    assert_eq!(trigger["metadata"]["threshold"], "8");
    assert_eq!(so["spec"]["minReplicaCount"], 2);
    assert_eq!(so["spec"]["maxReplicaCount"], 20);
    assert_eq!(so["spec"]["fallback"]["replicas"], 4);
    assert_eq!(
        so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        600
    );
    // What the HPA behind it computes stays within the bounds.
    for (depth, want) in [
        (0.0, 2),
        (8.0, 2),
        (17.0, 3),
        (80.0, 10),
        (1e9, 20),
        (-1.0, 2),
    ] {
        assert_eq!(desired_workers(&c.spec, depth), want, "depth {depth}");
    }
}

#[test]
fn autoscaled_replicas_are_left_to_the_autoscalers() {
    let c = example("production");
    let objs = build_all(&c, &BuildContext::steady(&c.spec, Color::Blue)).expect("build");
    for o in &objs {
        if let Object::Deployment(d) = o {
            assert_eq!(
                d.spec.as_ref().and_then(|s| s.replicas),
                None,
                "{}",
                o.name()
            );
        }
    }
    let fixed = example("gpu");
    let objs = build_all(&fixed, &BuildContext::steady(&fixed.spec, Color::Blue)).expect("build");
    let replicas: Vec<_> = objs
        .iter()
        .filter_map(|o| match o {
            Object::Deployment(d) => Some((o.name().to_string(), d.spec.as_ref()?.replicas)),
            _ => None,
        })
        .collect();
    assert_eq!(
        replicas,
        [
            ("ndf-gpu-api-blue".to_string(), Some(2)),
            ("ndf-gpu-worker-blue".to_string(), Some(2))
        ]
    );
}

#[test]
fn the_revision_follows_the_pod_template_only() {
    let c = example("production");
    let r = ndf_operator::revision(&c.spec);
    let mut s = c.spec.clone();
    s.api.replicas = 9;
    s.workers.replicas = 9;
    s.autoscaling.max_replicas = 99;
    s.rollout.scale_down_delay_seconds = 1;
    s.observability.prometheus_rule = false;
    assert_eq!(ndf_operator::revision(&s), r);
    s.image = "registry.example.com/ndf:0.2.0".into();
    assert_ne!(ndf_operator::revision(&s), r);
    let mut s = c.spec.clone();
    s.workers.job_concurrency += 1;
    assert_ne!(ndf_operator::revision(&s), r);
    // Every workload carries it.
    for o in objects(&c) {
        if let Object::Deployment(d) = &o {
            let labels = d.metadata.labels.clone().unwrap_or_default();
            assert_eq!(labels.get("ndf.dev/revision"), Some(&r), "{}", o.name());
        }
    }
}

#[test]
fn names_are_unique_and_the_order_is_stable() {
    for c in clusters() {
        let ctx = BuildContext::steady(&c.spec, Color::Blue);
        let a = build_all(&c, &ctx).expect("build");
        let b = build_all(&c, &ctx).expect("build");
        assert_eq!(a, b);
        let keys: BTreeSet<(String, String)> =
            a.iter().map(|o| (o.kind(), o.name().to_string())).collect();
        assert_eq!(keys.len(), a.len(), "duplicate kind/name");
        for o in &a {
            assert!(o.name().len() <= 63, "{}", o.name());
        }
    }
}

#[test]
fn the_operator_role_is_least_privilege() {
    let rules = ndf_operator::build::operator_rules();
    for r in &rules {
        let resources = r.resources.as_deref().unwrap_or_default();
        for res in resources {
            assert_ne!(res, "*");
            assert_ne!(res, "secrets", "the operator never reads Secrets");
            assert!(
                !res.starts_with("roles") && !res.starts_with("clusterroles"),
                "{res}"
            );
        }
        assert!(
            !r.verbs
                .iter()
                .any(|v| v == "*" || v == "escalate" || v == "bind")
        );
        for g in r.api_groups.as_deref().unwrap_or_default() {
            assert_ne!(g, "*");
        }
    }
    // Pods: only what the drain needs.
    let pods = rules
        .iter()
        .find(|r| r.resources.as_deref().unwrap_or_default() == ["pods"])
        .expect("pods rule");
    assert_eq!(pods.verbs, ["get", "list", "watch", "patch"]);
    let _ = Component::Api;
}

/// The `NDF_*` names of a `pub const NAME: &[&str] = &[...];` list in ndf-server's config.rs.
fn config_list(source: &str, name: &str) -> Vec<String> {
    let start = source
        .find(&format!("pub const {name}: &[&str] = &["))
        .unwrap_or_else(|| panic!("{name} not found in config.rs"));
    let body = &source[start..];
    let body = &body[..body.find("];").expect("end of list")];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_ndf_variable_set_is_a_setting_ndf_knows() {
    // ndf refuses unknown NDF_* variables at start, so a misspelt one would crash every pod.
    let path = format!("{}/../ndf-server/src/config.rs", env!("CARGO_MANIFEST_DIR"));
    #[allow(clippy::disallowed_methods)] // a source file of the workspace
    let source = std::fs::read_to_string(&path).expect("ndf-server config.rs");
    let keys = config_list(&source, "KEYS");
    let non_config = config_list(&source, "NON_CONFIG_ENV");
    assert!(
        keys.len() > 50 && keys.iter().any(|k| k == "drain_file"),
        "{keys:?}"
    );
    let mut seen = BTreeSet::new();
    for c in clusters() {
        for (name, pod) in pod_specs(&objects(&c)) {
            for e in pod.containers[0].env.as_deref().unwrap_or_default() {
                let Some(key) = e.name.strip_prefix("NDF_") else {
                    continue;
                };
                let known =
                    keys.contains(&key.to_ascii_lowercase()) || non_config.contains(&e.name);
                assert!(known, "{name}: {} is not an ndf setting", e.name);
                seen.insert(e.name.clone());
            }
        }
    }
    assert!(
        seen.contains(DRAIN_FILE_ENV) && seen.contains("NDF_STORE"),
        "{seen:?}"
    );
}
