//! Reconciler scenarios. No Kubernetes API server runs here: the reconciler talks to kube's
//! mocked client (`tower_test::mock::pair`), whose requests a fake API server answers from an
//! in-memory store and records (`reconciler/apiserver.rs`). Each scenario drives passes by
//! hand, plays the Deployment controller by setting Deployment statuses, scripts the analysis
//! results and the clock, and asserts the method, path and important body parts of the
//! requests each pass sent.

#[path = "reconciler/apiserver.rs"]
mod apiserver;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiserver::{FakeApiServer, Recorded};
use http::Method;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use ndf_operator::analysis::{Analyzer, BoxFuture};
use ndf_operator::crd::NdfCluster;
use ndf_operator::reconcile::{Context, reconcile};
use ndf_operator::rollout::{ColorRevision, Measurement};
use serde_json::{Value, json};

const NS: &str = "/api/v1/namespaces/default";
const APPS: &str = "/apis/apps/v1/namespaces/default/deployments";
const CLUSTER: &str = "/apis/ndf.dev/v1alpha1/namespaces/default/ndfclusters/demo";
const HPA: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/demo-api";
const SCALED: &str = "/apis/keda.sh/v1alpha1/namespaces/default/scaledobjects/demo-worker";
const START: i64 = 1_800_000_000;

/// Analysis results handed out in order; every call is recorded.
#[derive(Default)]
struct Scripted {
    results: Mutex<VecDeque<Measurement>>,
    calls: Mutex<Vec<ColorRevision>>,
}

impl Analyzer for Scripted {
    fn measure<'a>(
        &'a self,
        _: &'a NdfCluster,
        preview: &'a ColorRevision,
    ) -> BoxFuture<'a, Measurement> {
        self.calls.lock().unwrap().push(preview.clone());
        let result = self.results.lock().unwrap().pop_front();
        Box::pin(async move { result.expect("an analysis result was scripted") })
    }
}

struct Harness {
    fake: FakeApiServer,
    ctx: Arc<Context>,
    clock: Arc<AtomicI64>,
    analyzer: Arc<Scripted>,
}

fn spec() -> Value {
    json!({
        "image": "registry.example/ndf:1.0.0",
        "api": {"replicas": 2},
        "workers": {"replicas": 3},
        "storage": {"scaleOut": {
            "postgres": {"urlSecret": {"name": "pg", "key": "url"}},
            "s3": {"bucket": "documents"}
        }},
        "security": {"apiKeySecret": {"name": "ndf-keys", "key": "secret"}},
        "rollout": {
            "strategy": "BlueGreen",
            "autoPromote": true,
            "scaleDownDelaySeconds": 120,
            "analysis": {"prometheus": {
                "address": "http://prometheus.monitoring.svc:9090",
                "query": "ndf:error_ratio{color=\"{{color}}\"}",
                "threshold": 0.05,
                "intervalSeconds": 60,
                "count": 2,
                "failureLimit": 0
            }}
        }
    })
}

impl Harness {
    fn new(spec: Value) -> Harness {
        let fake = FakeApiServer::default();
        fake.put(
            CLUSTER,
            json!({
                "apiVersion": "ndf.dev/v1alpha1", "kind": "NdfCluster",
                "metadata": {"name": "demo", "namespace": "default", "uid": "cluster-uid", "generation": 1},
                "spec": spec,
            }),
        );
        let client = fake.client();
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "ndf-operator".into(),
                instance: None,
            },
        );
        let clock = Arc::new(AtomicI64::new(START));
        let analyzer = Arc::new(Scripted::default());
        let now = clock.clone();
        let ctx = Arc::new(Context::with_clock(
            client,
            recorder,
            analyzer.clone(),
            Arc::new(move || now.load(Ordering::SeqCst)),
        ));
        Harness {
            fake,
            ctx,
            clock,
            analyzer,
        }
    }

    fn cluster(&self) -> NdfCluster {
        serde_json::from_value(self.fake.get(CLUSTER).expect("the NdfCluster"))
            .expect("an NdfCluster")
    }

    /// One pass; returns its action and the requests it sent. Whatever the scenario, a pass
    /// never scales down or drains the colour that is active after it.
    async fn pass(&self) -> (Action, Vec<Recorded>) {
        self.fake.take_log();
        let action = reconcile(Arc::new(self.cluster()), self.ctx.clone())
            .await
            .expect("the pass succeeds");
        let log = self.fake.take_log();
        if let Some(active) = self
            .fake
            .get(CLUSTER)
            .and_then(|c| c["status"]["activeColor"].as_str().map(str::to_owned))
        {
            for r in log.iter().filter(|r| r.method == Method::PATCH) {
                let scale_down = r.body == json!({"spec": {"replicas": 0}});
                let drain = !r.body["metadata"]["annotations"]["ndf.dev/drain"].is_null();
                let on_active = r.path.ends_with(&format!("-{active}"))
                    || r.path.contains(&format!("-{active}-"));
                assert!(
                    !((scale_down || drain) && on_active),
                    "the active colour {active} was scaled down or drained: {r:?}"
                );
            }
        }
        (action, log)
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    fn script(&self, results: impl IntoIterator<Item = Measurement>) {
        self.analyzer.results.lock().unwrap().extend(results);
    }

    /// Plays the Deployment controller: `ready` of each colour Deployment's replicas are
    /// ready at its current template.
    fn set_ready(&self, color: &str, ready_api: i64, ready_workers: i64) {
        for (component, ready) in [("api", ready_api), ("worker", ready_workers)] {
            let path = format!("{APPS}/demo-{component}-{color}");
            if self.fake.get(&path).is_none() {
                continue;
            }
            self.fake.edit(&path, |d| {
                let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
                d["status"] = json!({
                    "observedGeneration": d["metadata"]["generation"],
                    "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": ready, "availableReplicas": ready,
                });
            });
        }
    }

    /// Pods of a colour, as the ReplicaSets would make them.
    fn add_pods(&self, color: &str, n: usize) {
        for i in 0..n {
            let name = format!("demo-worker-{color}-{i}");
            self.fake.put(
                &format!("{NS}/pods/{name}"),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                    "labels": {"app.kubernetes.io/name": "ndf", "app.kubernetes.io/instance": "demo",
                               "app.kubernetes.io/component": "worker", "ndf.dev/color": color}}}),
            );
        }
    }

    fn edit_spec(&self, f: impl FnOnce(&mut Value)) {
        self.fake.edit(CLUSTER, |c| {
            f(&mut c["spec"]);
            let g = c["metadata"]["generation"].as_i64().unwrap();
            c["metadata"]["generation"] = json!(g + 1);
        });
    }

    fn status(&self) -> Value {
        self.fake.get(CLUSTER).unwrap()["status"].clone()
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let status = self.status();
        let c = status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
            .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
            .clone();
        (
            c["status"].as_str().unwrap().to_owned(),
            c["reason"].as_str().unwrap().to_owned(),
        )
    }

    /// Runs the first two passes (finalizer, then objects) and makes blue ready.
    async fn stable_blue(&self) {
        self.pass().await;
        self.pass().await;
        self.set_ready("blue", 2, 3);
        self.pass().await;
        assert_eq!(self.condition("Available").0, "True");
        assert_eq!(self.status()["activeColor"], "blue");
    }
}

fn applied<'a>(log: &'a [Recorded], path: &str) -> Option<&'a Recorded> {
    log.iter().find(|r| r.is_apply() && r.path == path)
}

fn sent<'a>(log: &'a [Recorded], method: &Method, path: &str) -> Vec<&'a Recorded> {
    log.iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

fn events(log: &[Recorded]) -> Vec<String> {
    log.iter()
        .filter(|r| r.method == Method::POST && r.path.ends_with("/events"))
        .map(|r| r.body["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn revision(d: &Value) -> String {
    d["metadata"]["labels"]["ndf.dev/revision"]
        .as_str()
        .expect("a revision label")
        .to_owned()
}

fn service_color(h: &Harness, name: &str) -> Value {
    h.fake
        .get(&format!("{NS}/services/{name}"))
        .expect("the Service")["spec"]["selector"]["ndf.dev/color"]
        .clone()
}

#[tokio::test]
async fn first_creation_adds_the_finalizer_then_builds_blue_and_becomes_available() {
    let h = Harness::new(spec());
    let (action, log) = h.pass().await;
    // The finalizer comes first, alone (kube's finalizer helper: a JSON patch with a test).
    assert_eq!(action, Action::await_change());
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0].method, Method::PATCH);
    assert_eq!(log[0].path, CLUSTER);
    assert!(log[0].content_type.starts_with("application/json-patch"));
    assert!(log[0].body.to_string().contains("ndf.dev/cleanup"));
    assert_eq!(
        h.fake.get(CLUSTER).unwrap()["metadata"]["finalizers"],
        json!(["ndf.dev/cleanup"])
    );

    let (_, log) = h.pass().await;
    let api = applied(&log, &format!("{APPS}/demo-api-blue")).expect("blue API applied");
    assert!(
        api.query.contains("fieldManager=ndf-operator") && api.query.contains("force=true"),
        "{}",
        api.query
    );
    assert_eq!(api.body["spec"]["replicas"], 2);
    assert_eq!(api.body["metadata"]["labels"]["ndf.dev/color"], "blue");
    assert_eq!(
        api.body["metadata"]["ownerReferences"][0]["uid"],
        "cluster-uid"
    );
    let workers = applied(&log, &format!("{APPS}/demo-worker-blue")).expect("blue workers applied");
    assert_eq!(workers.body["spec"]["replicas"], 3);
    assert!(
        applied(&log, &format!("{APPS}/demo-api-green")).is_none(),
        "no green on creation"
    );
    let service = applied(&log, &format!("{NS}/services/demo")).expect("active Service applied");
    assert_eq!(service.body["spec"]["selector"]["ndf.dev/color"], "blue");
    let status = applied(&log, &format!("{CLUSTER}/status")).expect("status applied");
    assert_eq!(status.body["status"]["activeColor"], "blue");
    assert_eq!(
        h.condition("Progressing"),
        ("True".into(), "Starting".into())
    );
    assert_eq!(h.condition("Available").0, "False");
    assert_eq!(h.status()["observedGeneration"], 1);
    assert_eq!(events(&log), ["Creating"]);

    h.set_ready("blue", 2, 3);
    let (_, log) = h.pass().await;
    assert_eq!(
        h.condition("Available"),
        ("True".into(), "MinimumReplicasAvailable".into())
    );
    assert_eq!(
        h.condition("Progressing"),
        ("False".into(), "RolloutComplete".into())
    );
    assert_eq!(h.condition("Promoted").0, "True");
    assert_eq!(h.condition("Degraded").0, "False");
    assert_eq!(h.status()["readyReplicas"], 2);
    assert!(
        events(&log).is_empty(),
        "no event when nothing changed: {:?}",
        events(&log)
    );
}

#[tokio::test]
async fn a_new_revision_brings_up_green_and_never_switches_before_it_is_ready() {
    let h = Harness::new(spec());
    h.stable_blue().await;
    let blue_revision = revision(&h.fake.get(&format!("{APPS}/demo-api-blue")).unwrap());
    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.1.0"));
    let (_, log) = h.pass().await;
    let green = applied(&log, &format!("{APPS}/demo-api-green")).expect("green API applied");
    assert_ne!(revision(&green.body), blue_revision);
    assert_eq!(green.body["spec"]["replicas"], 2);
    assert!(applied(&log, &format!("{APPS}/demo-worker-green")).is_some());
    // The active colour's Deployments are not touched.
    assert!(sent(&log, &Method::PATCH, &format!("{APPS}/demo-api-blue")).is_empty());
    assert!(sent(&log, &Method::PATCH, &format!("{APPS}/demo-worker-blue")).is_empty());
    assert_eq!(service_color(&h, "demo"), "blue");
    assert_eq!(service_color(&h, "demo-preview"), "green");
    assert_eq!(h.status()["previewColor"], "green");
    assert_eq!(h.status()["rollout"]["phase"], "PreviewStarting");
    assert_eq!(events(&log), ["PreviewStarted"]);

    // Partly ready, then everything but one worker: no switch, no analysis.
    for (api, workers) in [(1, 0), (2, 2)] {
        h.set_ready("green", api, workers);
        h.advance(300);
        h.pass().await;
        assert_eq!(service_color(&h, "demo"), "blue");
        assert_eq!(h.status()["activeColor"], "blue");
        assert_eq!(h.condition("Promoted").0, "False");
    }
    assert!(h.analyzer.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_passing_analysis_switches_traffic_then_the_old_colour_drains_and_scales_to_zero() {
    let h = Harness::new(spec());
    h.stable_blue().await;
    h.add_pods("blue", 2);
    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.1.0"));
    h.pass().await;
    h.set_ready("green", 2, 3);
    let (action, _) = h.pass().await;
    assert_eq!(h.status()["rollout"]["phase"], "Analyzing");
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(60)),
        "the next measurement is due in one interval"
    );

    h.script([Measurement::Pass, Measurement::Pass]);
    h.advance(60);
    h.pass().await;
    assert_eq!(h.status()["rollout"]["analysisSuccesses"], 1);
    assert_eq!(
        service_color(&h, "demo"),
        "blue",
        "one of two measurements is not enough"
    );
    h.advance(60);
    let (_, log) = h.pass().await;
    let calls = h.analyzer.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.color.as_str() == "green"));
    let service = applied(&log, &format!("{NS}/services/demo")).unwrap();
    assert_eq!(service.body["spec"]["selector"]["ndf.dev/color"], "green");
    assert_eq!(h.status()["activeColor"], "green");
    assert_eq!(h.condition("Promoted").0, "True");
    assert_eq!(h.status()["rollout"]["drainingColor"], "blue");
    assert!(
        events(&log).contains(&"Promoted".to_owned()),
        "{:?}",
        events(&log)
    );
    // The old colour's pods are told to drain; its Deployments keep their replicas.
    for i in 0..2 {
        let path = format!("{NS}/pods/demo-worker-blue-{i}");
        let patch = sent(&log, &Method::PATCH, &path);
        assert_eq!(patch.len(), 1, "{path}");
        assert_eq!(
            patch[0].body["metadata"]["annotations"]["ndf.dev/drain"],
            "true"
        );
    }
    assert!(sent(&log, &Method::PATCH, &format!("{APPS}/demo-worker-blue")).is_empty());

    h.advance(119);
    let (_, log) = h.pass().await;
    assert!(
        sent(&log, &Method::PATCH, &format!("{APPS}/demo-worker-blue")).is_empty(),
        "not before the delay"
    );
    assert!(
        sent(
            &log,
            &Method::PATCH,
            &format!("{NS}/pods/demo-worker-blue-0")
        )
        .is_empty(),
        "drained once"
    );
    h.advance(1);
    let (_, log) = h.pass().await;
    for component in ["api", "worker"] {
        let scale = sent(
            &log,
            &Method::PATCH,
            &format!("{APPS}/demo-{component}-blue"),
        );
        assert_eq!(scale.len(), 1, "{component}");
        assert_eq!(scale[0].body, json!({"spec": {"replicas": 0}}));
    }
    assert_eq!(events(&log), ["ScaledDown"]);
    assert_eq!(h.status()["rollout"]["phase"], "Stable");
    assert_eq!(h.status()["rollout"].get("drainingColor"), None);
}

#[tokio::test]
async fn a_failing_analysis_aborts_keeps_traffic_on_blue_and_sets_degraded() {
    let h = Harness::new(spec());
    h.stable_blue().await;
    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.2.0-bad"));
    h.pass().await;
    h.set_ready("green", 2, 3);
    h.pass().await;
    h.script([Measurement::Fail("error ratio 0.4 above 0.05".into())]);
    h.advance(60);
    let (_, log) = h.pass().await;
    assert_eq!(service_color(&h, "demo"), "blue");
    assert_eq!(h.status()["activeColor"], "blue");
    assert_eq!(
        h.condition("Degraded"),
        ("True".into(), "RolloutAborted".into())
    );
    assert_eq!(
        h.condition("Progressing"),
        ("False".into(), "RolloutAborted".into())
    );
    assert_eq!(h.status()["rollout"]["phase"], "Aborted");
    assert!(
        h.status()["rollout"]["message"]
            .as_str()
            .unwrap()
            .contains("error ratio 0.4")
    );
    assert_eq!(events(&log), ["AnalysisFailed", "RolloutAborted"]);
    // The aborted preview drains like an old colour, then goes to zero; not tried again.
    h.advance(120);
    let (_, log) = h.pass().await;
    let scale = sent(&log, &Method::PATCH, &format!("{APPS}/demo-worker-green"));
    assert_eq!(scale[0].body, json!({"spec": {"replicas": 0}}));
    h.advance(600);
    let (_, log) = h.pass().await;
    assert!(
        applied(&log, &format!("{APPS}/demo-api-green")).is_none(),
        "an aborted revision is not retried"
    );
    assert_eq!(h.condition("Degraded").0, "True");
    assert_eq!(h.analyzer.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_auto_promote_the_switch_waits_for_the_promote_annotation() {
    let mut s = spec();
    s["rollout"]["autoPromote"] = json!(false);
    let h = Harness::new(s);
    h.stable_blue().await;
    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.1.0"));
    h.pass().await;
    h.set_ready("green", 2, 3);
    h.pass().await;
    h.script([Measurement::Pass, Measurement::Pass]);
    h.advance(60);
    h.pass().await;
    h.advance(60);
    h.pass().await;
    assert_eq!(h.status()["rollout"]["phase"], "AwaitingPromotion");
    assert_eq!(service_color(&h, "demo"), "blue");
    let target = h.status()["previewRevision"].as_str().unwrap().to_owned();
    h.fake.edit(CLUSTER, |c| {
        c["metadata"]["annotations"] = json!({"ndf.dev/promote": "some-other-revision"});
    });
    h.pass().await;
    assert_eq!(
        service_color(&h, "demo"),
        "blue",
        "the annotation names another revision"
    );
    h.fake.edit(CLUSTER, |c| {
        c["metadata"]["annotations"] = json!({"ndf.dev/promote": target});
    });
    h.pass().await;
    assert_eq!(service_color(&h, "demo"), "green");
}

#[tokio::test]
async fn a_spec_change_during_a_rollout_restarts_the_preview_and_leaves_blue_alone() {
    let h = Harness::new(spec());
    h.stable_blue().await;
    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.1.0"));
    h.pass().await;
    let first = revision(&h.fake.get(&format!("{APPS}/demo-api-green")).unwrap());
    h.set_ready("green", 2, 3);
    h.pass().await;
    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.1.1"));
    let (_, log) = h.pass().await;
    let green = applied(&log, &format!("{APPS}/demo-api-green")).expect("green rebuilt");
    assert_ne!(revision(&green.body), first);
    assert!(sent(&log, &Method::PATCH, &format!("{APPS}/demo-api-blue")).is_empty());
    assert_eq!(h.status()["rollout"]["phase"], "PreviewStarting");
    assert_eq!(h.status()["previewRevision"], json!(revision(&green.body)));
    assert_eq!(events(&log), ["PreviewRestarted"]);
}

#[tokio::test]
async fn autoscaling_objects_follow_the_spec_and_go_when_it_is_disabled() {
    let mut s = spec();
    s["autoscaling"] = json!({"enabled": true, "minReplicas": 2, "maxReplicas": 7,
        "prometheusAddress": "http://prometheus.monitoring.svc:9090"});
    let h = Harness::new(s);
    h.pass().await;
    let (_, log) = h.pass().await;
    let hpa = applied(&log, HPA).expect("HPA applied");
    assert_eq!(hpa.body["spec"]["scaleTargetRef"]["name"], "demo-api-blue");
    assert_eq!(hpa.body["spec"]["minReplicas"], 2);
    assert_eq!(hpa.body["spec"]["maxReplicas"], 7);
    let so = applied(&log, SCALED).expect("ScaledObject applied");
    assert_eq!(
        so.body["spec"]["scaleTargetRef"]["name"],
        "demo-worker-blue"
    );
    assert_eq!(so.body["spec"]["minReplicaCount"], 2);
    assert_eq!(so.body["spec"]["maxReplicaCount"], 7);
    // Replicas start at the lower bound, then follow what the autoscalers set.
    let workers = applied(&log, &format!("{APPS}/demo-worker-blue")).unwrap();
    assert_eq!(workers.body["spec"]["replicas"], 2);
    h.fake.edit(&format!("{APPS}/demo-worker-blue"), |d| {
        d["spec"]["replicas"] = json!(5);
    });
    let (_, log) = h.pass().await;
    assert_eq!(
        applied(&log, &format!("{APPS}/demo-worker-blue"))
            .unwrap()
            .body["spec"]["replicas"],
        5
    );

    h.edit_spec(|s| s["autoscaling"]["maxReplicas"] = json!(4));
    let (_, log) = h.pass().await;
    assert_eq!(
        applied(&log, SCALED).unwrap().body["spec"]["maxReplicaCount"],
        4
    );
    assert_eq!(
        applied(&log, &format!("{APPS}/demo-worker-blue"))
            .unwrap()
            .body["spec"]["replicas"],
        4
    );

    h.edit_spec(|s| s["autoscaling"]["enabled"] = json!(false));
    let (_, log) = h.pass().await;
    assert!(applied(&log, HPA).is_none() && applied(&log, SCALED).is_none());
    assert_eq!(sent(&log, &Method::DELETE, HPA).len(), 1);
    assert_eq!(sent(&log, &Method::DELETE, SCALED).len(), 1);
    assert!(h.fake.get(HPA).is_none() && h.fake.get(SCALED).is_none());
    assert_eq!(
        applied(&log, &format!("{APPS}/demo-worker-blue"))
            .unwrap()
            .body["spec"]["replicas"],
        3
    );
}

#[tokio::test]
async fn deletion_deletes_the_autoscalers_and_removes_the_finalizer() {
    let mut s = spec();
    s["autoscaling"] = json!({"enabled": true, "minReplicas": 1, "maxReplicas": 3,
        "prometheusAddress": "http://prometheus.monitoring.svc:9090"});
    let h = Harness::new(s);
    h.pass().await;
    h.pass().await;
    assert!(h.fake.get(SCALED).is_some());
    h.fake.edit(CLUSTER, |c| {
        c["metadata"]["deletionTimestamp"] = json!("2027-01-15T08:00:00Z");
    });
    let (action, log) = h.pass().await;
    assert_eq!(action, Action::await_change());
    let deletes: Vec<&str> = log
        .iter()
        .filter(|r| r.method == Method::DELETE)
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(deletes, [HPA, SCALED]);
    let last = log.last().unwrap();
    assert_eq!(
        (last.method.clone(), last.path.as_str()),
        (Method::PATCH, CLUSTER)
    );
    assert!(last.body.to_string().contains("remove"), "{}", last.body);
    assert!(
        h.fake.get(CLUSTER).is_none(),
        "the finalizer was the last one: the object is gone"
    );
    assert!(events(&log).contains(&"Deleting".to_owned()));
}

#[tokio::test]
async fn rolling_updates_the_one_colour_in_place() {
    // Embedded storage: one API replica, no workers, the Rolling strategy (the defaults).
    let h = Harness::new(json!({"image": "registry.example/ndf:1.0.0"}));
    h.pass().await;
    let (_, log) = h.pass().await;
    let first = revision(
        &applied(&log, &format!("{APPS}/demo-api-blue"))
            .unwrap()
            .body,
    );
    assert!(applied(&log, &format!("{APPS}/demo-worker-blue")).is_none());
    assert!(applied(&log, &format!("{NS}/services/demo-preview")).is_none());
    h.set_ready("blue", 1, 0);
    h.pass().await;
    assert_eq!(h.condition("Progressing").0, "False");

    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.1.0"));
    let (_, log) = h.pass().await;
    let api = applied(&log, &format!("{APPS}/demo-api-blue")).expect("blue updated in place");
    assert_ne!(revision(&api.body), first);
    assert!(applied(&log, &format!("{APPS}/demo-api-green")).is_none());
    assert_eq!(h.status()["activeColor"], "blue");
    assert_eq!(h.status()["activeRevision"], json!(revision(&api.body)));
    // The Deployment controller has not seen the new template yet.
    assert_eq!(
        h.condition("Progressing"),
        ("True".into(), "Starting".into())
    );
    assert_eq!(events(&log), ["Updating"]);
    h.set_ready("blue", 1, 0);
    h.pass().await;
    assert_eq!(
        h.condition("Progressing"),
        ("False".into(), "RolloutComplete".into())
    );
    assert_eq!(h.condition("Promoted").0, "True");
}

#[tokio::test]
async fn a_preview_not_ready_within_the_progress_deadline_is_aborted() {
    let mut s = spec();
    s["rollout"]["progressDeadlineSeconds"] = json!(600);
    let h = Harness::new(s);
    h.stable_blue().await;
    h.edit_spec(|s| s["image"] = json!("registry.example/ndf:1.1.0-crashloop"));
    h.pass().await;
    h.set_ready("green", 1, 0);
    h.advance(599);
    h.pass().await;
    assert_eq!(h.condition("Degraded").0, "False");
    h.advance(1);
    let (_, log) = h.pass().await;
    assert_eq!(
        h.condition("Degraded"),
        ("True".into(), "RolloutAborted".into())
    );
    let message = h.status()["rollout"]["message"].clone();
    assert!(
        message.as_str().unwrap().contains("progress deadline"),
        "{message}"
    );
    assert_eq!(events(&log), ["ProgressDeadlineExceeded", "RolloutAborted"]);
    assert_eq!(service_color(&h, "demo"), "blue");
    assert!(h.analyzer.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_health_listener_answers_healthz_and_metrics() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::new(spec());
    h.pass().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async {
        let _ = stop_rx.await;
    };
    let server = tokio::spawn(ndf_operator::controller::serve_health(
        listener,
        h.ctx.clone(),
        stop,
    ));
    let get = |path: &'static str| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: operator\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    };
    let health = get("/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let metrics = get("/metrics").await;
    assert!(
        metrics.contains("ndf_operator_reconciles_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ndf_operator_reconcile_failures_total 0\n"),
        "{metrics}"
    );
    assert!(get("/other").await.starts_with("HTTP/1.1 404"));
    stop_tx.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn the_controller_lists_watches_reconciles_and_stops_on_shutdown() {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    let h = Harness::new(spec());
    let client = h.fake.client();
    let options = ndf_operator::controller::Options {
        namespace: Some("default".into()),
        health_addr: None,
        instance: Some("test".into()),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async {
        let _ = stop_rx.await;
    };
    let run = tokio::spawn(ndf_operator::controller::run(client, options, stop));
    // The first pass adds the finalizer; poll for it (bounded: 20 s in 10 ms steps).
    let mut added = false;
    for _ in 0..2000 {
        let finalizers = h.fake.get(CLUSTER).unwrap()["metadata"]["finalizers"].clone();
        if finalizers == json!(["ndf.dev/cleanup"]) {
            added = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(added, "the controller's first pass added the finalizer");
    // NdfClusters, and the Deployments and Services it owns, are watched.
    assert!(h.fake.watches() >= 3, "{} watches", h.fake.watches());
    stop_tx.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(20), run).await;
    stopped
        .expect("the controller stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_spec_the_build_refuses_is_degraded_and_applies_nothing() {
    // Both storage modes: the CRD's CEL rule refuses it; a pass must too.
    let mut s = spec();
    s["storage"]["embedded"] = json!({});
    let h = Harness::new(s);
    h.pass().await;
    let (action, log) = h.pass().await;
    assert_eq!(action, Action::await_change());
    assert!(
        !log.iter()
            .any(|r| r.is_apply() && !r.path.ends_with("/status")),
        "{log:#?}"
    );
    assert_eq!(
        h.condition("Degraded"),
        ("True".into(), "InvalidSpec".into())
    );
    assert_eq!(events(&log), ["InvalidSpec"]);
}
