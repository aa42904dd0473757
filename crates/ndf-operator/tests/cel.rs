//! The CRD's CEL rules (`x-kubernetes-validations`), evaluated client-side with kube's CEL
//! validation (`kube::core::cel`, the kube-cel crate): no API server runs here. Each rule
//! accepts a good object and rejects a bad one with its own message.

use kube::core::cel::{validate_cel, validate_cel_update};
use ndf_operator::NdfCluster;
use ndf_operator::crd::{
    AnalysisSpec, NdfClusterSpec, PostgresStorage, PrometheusAnalysis, RolloutStrategy, S3Storage,
    ScaleOutStorage, SecretKeyRef, SmokeAnalysis, StorageSpec,
};

fn secret(name: &str, key: &str) -> SecretKeyRef {
    SecretKeyRef {
        name: name.into(),
        key: key.into(),
    }
}

fn cluster(spec: NdfClusterSpec) -> NdfCluster {
    let mut c = NdfCluster::new("ndf", spec);
    c.metadata.namespace = Some("ndf".into());
    c
}

/// A valid embedded cluster: every default.
fn embedded() -> NdfClusterSpec {
    serde_json::from_value(serde_json::json!({ "image": "ndf:1" })).expect("spec")
}

/// A valid scale-out cluster with workers, autoscaling and a blue-green rollout.
fn scale_out() -> NdfClusterSpec {
    let mut s = embedded();
    s.storage = StorageSpec {
        embedded: None,
        scale_out: Some(ScaleOutStorage {
            postgres: PostgresStorage {
                url_secret: secret("pg", "url"),
                port: 5432,
            },
            s3: S3Storage {
                bucket: "b".into(),
                prefix: None,
                endpoint: None,
                region: None,
                allow_http: false,
                credentials_secret: None,
                port: 443,
            },
        }),
    };
    s.security.master_key = Some(secret("keys", "master"));
    s.api.replicas = 3;
    s.workers.replicas = 2;
    s.autoscaling.enabled = true;
    s.autoscaling.prometheus_address = Some("http://prometheus:9090".into());
    s.rollout.strategy = RolloutStrategy::BlueGreen;
    s.rollout.analysis = Some(AnalysisSpec {
        prometheus: Some(PrometheusAnalysis {
            address: "http://prometheus:9090".into(),
            query: "vector(0)".into(),
            threshold: 0.01,
            success_when: Default::default(),
            interval_seconds: 30,
            count: 5,
            failure_limit: 1,
        }),
        smoke: None,
    });
    s
}

/// `bad` must be refused with a message containing `message`; the good bases must pass.
fn rejects(bad: NdfClusterSpec, message: &str) {
    let errors = validate_cel(&cluster(bad)).expect_err("the rule must refuse this spec");
    let text = errors.to_string();
    assert!(text.contains(message), "expected {message:?} in: {text}");
}

#[test]
fn the_good_bases_pass_every_rule() {
    validate_cel(&cluster(embedded())).expect("embedded defaults are valid");
    validate_cel(&cluster(scale_out())).expect("scale-out example is valid");
}

#[test]
fn embedded_storage_runs_exactly_one_api_replica() {
    let mut s = embedded();
    s.api.replicas = 2;
    rejects(s, "embedded storage runs exactly one API replica");
}

#[test]
fn embedded_storage_has_no_separate_workers() {
    let mut s = embedded();
    s.workers.replicas = 1;
    rejects(s, "embedded storage has no separate workers");
}

#[test]
fn embedded_storage_cannot_autoscale() {
    let mut s = embedded();
    s.autoscaling.enabled = true;
    s.autoscaling.prometheus_address = Some("http://p:9090".into());
    rejects(s, "embedded storage cannot autoscale");
}

#[test]
fn embedded_storage_rolls_out_in_place() {
    let mut s = embedded();
    s.rollout.strategy = RolloutStrategy::BlueGreen;
    rejects(s, "embedded storage needs rollout.strategy Rolling");
}

#[test]
fn storage_is_exactly_one_mode() {
    let mut both = scale_out();
    both.storage.embedded = Some(Default::default());
    rejects(both, "set exactly one of embedded and scaleOut");
    let mut neither = scale_out();
    neither.storage.scale_out = None;
    rejects(neither, "set exactly one of embedded and scaleOut");
}

#[test]
fn storage_mode_cannot_change_in_place() {
    let old = cluster(embedded());
    let mut new_spec = scale_out();
    // Otherwise valid as a new object.
    validate_cel(&cluster(new_spec.clone())).expect("valid on creation");
    validate_cel_update(&cluster(new_spec.clone()), &cluster(scale_out()))
        .expect("same mode: a valid update");
    let err = validate_cel_update(&cluster(new_spec.clone()), &old).expect_err("mode switch");
    assert!(
        err.to_string()
            .contains("cannot switch between embedded and scaleOut"),
        "{err}"
    );
    new_spec.api.replicas = 4;
    validate_cel_update(&cluster(new_spec), &cluster(scale_out())).expect("a scale is fine");
}

#[test]
fn scale_out_needs_a_master_key() {
    let mut s = scale_out();
    s.security.master_key = None;
    rejects(s, "scaleOut storage needs security.masterKey");
}

#[test]
fn gpu_count_is_at_least_one_when_enabled() {
    let mut ok = scale_out();
    ok.gpu.enabled = true;
    ok.gpu.count = 1;
    validate_cel(&cluster(ok.clone())).expect("one GPU");
    let mut off = scale_out();
    off.gpu.count = 0;
    validate_cel(&cluster(off)).expect("count is irrelevant when disabled");
    ok.gpu.count = 0;
    rejects(ok, "gpu.count must be at least 1");
}

#[test]
fn autoscaling_bounds_are_ordered() {
    let mut s = scale_out();
    s.autoscaling.min_replicas = 5;
    s.autoscaling.max_replicas = 4;
    rejects(s, "minReplicas must not exceed autoscaling.maxReplicas");
    let mut s = scale_out();
    s.autoscaling.api_min_replicas = Some(6);
    s.autoscaling.api_max_replicas = Some(3);
    rejects(
        s,
        "apiMinReplicas must not exceed autoscaling.apiMaxReplicas",
    );
    let mut s = scale_out();
    s.autoscaling.api_min_replicas = Some(3);
    s.autoscaling.api_max_replicas = Some(3);
    validate_cel(&cluster(s)).expect("equal bounds");
}

#[test]
fn autoscaling_needs_a_prometheus() {
    let mut s = scale_out();
    s.autoscaling.prometheus_address = None;
    rejects(s, "autoscaling.prometheusAddress is required");
    let mut s = scale_out();
    s.autoscaling.prometheus_address = Some(String::new());
    rejects(s, "autoscaling.prometheusAddress is required");
    let mut s = scale_out();
    s.autoscaling.enabled = false;
    s.autoscaling.prometheus_address = None;
    validate_cel(&cluster(s)).expect("no autoscaling, no Prometheus needed");
}

#[test]
fn analysis_only_with_blue_green() {
    let mut s = scale_out();
    s.rollout.strategy = RolloutStrategy::Rolling;
    rejects(s, "rollout.analysis runs only with strategy BlueGreen");
    let mut s = scale_out();
    s.rollout.strategy = RolloutStrategy::Rolling;
    s.rollout.analysis = None;
    validate_cel(&cluster(s)).expect("rolling without analysis");
}

#[test]
fn analysis_is_exactly_one_kind() {
    let smoke = SmokeAnalysis {
        api_key_secret: None,
        count: 3,
    };
    let mut s = scale_out();
    s.rollout.analysis.as_mut().expect("analysis").smoke = Some(smoke.clone());
    rejects(s, "set exactly one of prometheus and smoke");
    let mut s = scale_out();
    s.rollout.analysis = Some(AnalysisSpec {
        prometheus: None,
        smoke: None,
    });
    rejects(s, "set exactly one of prometheus and smoke");
    let mut s = scale_out();
    s.rollout.analysis = Some(AnalysisSpec {
        prometheus: None,
        smoke: Some(smoke),
    });
    validate_cel(&cluster(s)).expect("smoke alone");
}

#[test]
fn prometheus_analysis_numbers_and_address() {
    let prom = |f: &dyn Fn(&mut PrometheusAnalysis)| {
        let mut s = scale_out();
        let p = s
            .rollout
            .analysis
            .as_mut()
            .and_then(|a| a.prometheus.as_mut())
            .expect("prometheus analysis");
        f(p);
        s
    };
    rejects(
        prom(&|p| p.failure_limit = p.count),
        "failureLimit must be below count",
    );
    validate_cel(&cluster(prom(&|p| p.failure_limit = p.count - 1))).expect("below count");
    rejects(
        prom(&|p| p.address = "prometheus:9090".into()),
        "address must be an http(s) URL",
    );
    validate_cel(&cluster(prom(&|p| {
        p.address = "https://p.example:9090".into();
    })))
    .expect("https address");
}

#[test]
fn the_name_leaves_room_for_suffixes() {
    let mut c = cluster(embedded());
    c.metadata.name = Some("n".repeat(40));
    validate_cel(&c).expect("40 characters");
    c.metadata.name = Some("n".repeat(41));
    let err = validate_cel(&c).expect_err("41 characters");
    assert!(err.to_string().contains("at most 40 characters"), "{err}");
}
