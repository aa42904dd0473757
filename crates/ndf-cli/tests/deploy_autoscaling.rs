//! Autoscaling and rollout analysis on loopback, with real processes: a real Prometheus
//! (Debian's `prometheus`) scrapes a real `ndf serve` (embedded store, job consumers paused),
//! and the exact PromQL of the objects `ndf deploy render` builds is run against it.
//!
//! No Kubernetes API server, KEDA or prometheus-operator runs here (none installs on this
//! machine), so the test plays their parts from the rendered objects themselves:
//! - prometheus-operator: the scrape job is the one it would generate from the rendered
//!   ServiceMonitor for a pod of the Deployment behind the Service it selects: the target
//!   carries the `__meta_kubernetes_*` labels Kubernetes discovery would give that pod, and the
//!   relabelings (the operator's own, then the ServiceMonitor's, verbatim) are applied by the
//!   real Prometheus;
//! - KEDA: the ScaledObject's prometheus trigger query is sent to `/api/v1/query` as KEDA sends
//!   it (one sample expected: KEDA refuses more), and the replica count is computed as KEDA's HPA
//!   does for an `AverageValue` metric (`ceil(value / threshold)` within
//!   `[minReplicaCount, maxReplicaCount]`; at or below `activationThreshold` the scaler is
//!   inactive and KEDA holds `minReplicaCount`, 0 meaning scaled to zero), and compared with
//!   `ndf_operator::desired_workers`; with the target gone the query answers nothing, which
//!   `ignoreNullValues: "false"` makes an error, so KEDA holds `fallback.replicas`;
//! - the operator's analysis: the NdfCluster's `rollout.analysis.prometheus` query with its
//!   placeholders filled by `ndf_operator::analysis_query`, judged by the spec's own comparison:
//!   it passes after real extractions and fails once the replica answers 5xx (so it did not
//!   pass for want of data).
//!
//! Prometheus and the corpus come from outside the repository: without one the test says so and
//! does not run, or fails under NDF_REQUIRE_INPUTS=1 (the test command); the example is required.

#![allow(clippy::print_stderr)] // the measured figures

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Opts, Server, client, embedded};

/// Jobs enqueued while consumers are paused.
const JOBS: usize = 37;
/// Bound of every poll (a loaded 2-core machine is slow; only correctness is asserted).
const DEADLINE: Duration = Duration::from_secs(120);
/// The example whose objects are checked.
const EXAMPLE: &str = "deploy/kubernetes/examples/production.yaml";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test's name, for the inputs rule of `ndf_testkit::corpus`.
const TEST: &str = "deploy_autoscaling";

/// The corpus PDFs, smallest first; `None` (the test does not run, or fails under
/// `NDF_REQUIRE_INPUTS=1`, as in the test command) without a corpus.
fn corpus_pdfs() -> Option<Vec<PathBuf>> {
    let dir = ndf_testkit::corpus::dir_for_test(TEST)?;
    let mut pdfs = ndf_testkit::corpus::pdfs(&dir);
    pdfs.sort_by_key(|p| std::fs::metadata(p).map_or(u64::MAX, |m| m.len()));
    assert!(
        pdfs.len() >= JOBS,
        "the corpus at {} holds {} PDFs, {JOBS} needed",
        dir.display(),
        pdfs.len()
    );
    Some(pdfs)
}

/// A file's bytes (the corpus' bound).
fn read_file(path: &Path) -> Vec<u8> {
    ndf_testkit::corpus::read_bounded(path, ndf_testkit::corpus::MAX_FILE)
        .unwrap_or_else(|| panic!("cannot read {}", path.display()))
}

/// The documents of a YAML stream.
fn yaml_docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// `ndf deploy render FILE`: the objects it prints.
fn render(example: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ndf"))
        .args(["deploy", "render"])
        .arg(example)
        .output()
        .expect("run ndf deploy render");
    assert!(
        out.status.success(),
        "ndf deploy render {} failed: {}",
        example.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_docs(&String::from_utf8(out.stdout).expect("UTF-8 YAML"))
}

fn of_kind<'a>(objs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| o["kind"] == kind).collect()
}

fn only<'a>(objs: &'a [Value], kind: &str) -> &'a Value {
    match of_kind(objs, kind).as_slice() {
        [one] => one,
        other => panic!("expected one {kind}, rendered {}", other.len()),
    }
}

fn str_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a label selector (a `matchLabels` map, or an object with `matchLabels` and
/// `matchExpressions`) selects `labels`. An empty selector selects nothing here.
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let structured =
        selector.get("matchLabels").is_some() || selector.get("matchExpressions").is_some();
    let (map, exprs) = if structured {
        (
            str_map(&selector["matchLabels"]),
            selector["matchExpressions"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
    } else {
        (str_map(selector), Vec::new())
    };
    if map.is_empty() && exprs.is_empty() {
        return false;
    }
    map.iter().all(|(k, v)| labels.get(k) == Some(v))
        && exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let value = labels.get(key).map(String::as_str);
            match e["operator"].as_str() {
                Some("Exists") => value.is_some(),
                Some("DoesNotExist") => value.is_none(),
                Some("In") => value.is_some_and(|v| values.contains(&v)),
                Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
                op => panic!("unknown selector operator {op:?}"),
            }
        })
}

/// Prometheus' Kubernetes discovery name of a label (`ndf.dev/color` -> `ndf_dev_color`).
fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A ServiceMonitor relabeling (camelCase) in Prometheus' configuration (snake_case).
fn relabel_config(r: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in r.as_object().expect("a relabeling is an object") {
        let (key, value) = match k.as_str() {
            "sourceLabels" => ("source_labels", v.clone()),
            "targetLabel" => ("target_label", v.clone()),
            "action" => (
                "action",
                Value::from(v.as_str().unwrap_or_default().to_lowercase()),
            ),
            other @ ("regex" | "replacement" | "separator" | "modulus") => (other, v.clone()),
            other => panic!("relabeling field {other} is not translated by this test"),
        };
        out.insert(key.into(), value);
    }
    Value::Object(out)
}

/// What the scrape of one pod looks like from Prometheus.
struct ScrapeJob {
    /// The `scrape_configs` entry.
    config: Value,
    /// The scraped pod's labels (from its Deployment's template).
    pod_labels: BTreeMap<String, String>,
}

/// An object's namespace.
fn namespace_of(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or("default")
}

/// The scrape job prometheus-operator would generate from the rendered ServiceMonitor, aimed at
/// one pod of the Deployment behind the first Service it selects (by name), whose port is
/// `target` (`host:port`) here. The target carries the `__meta_kubernetes_*` labels Kubernetes
/// discovery gives that pod; the relabelings are the operator's own (namespace, service, pod,
/// container, target and pod labels, job or jobLabel, endpoint) followed by the endpoint's, so
/// the real Prometheus applies the ServiceMonitor's exact relabelings.
fn scrape_job(objs: &[Value], target: &str) -> ScrapeJob {
    let sm = only(objs, "ServiceMonitor");
    let spec = &sm["spec"];
    let endpoint = &spec["endpoints"][0];
    let port = endpoint["port"]
        .as_str()
        .expect("ServiceMonitor endpoint port name");
    let namespaces: Vec<&str> = spec["namespaceSelector"]["matchNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut services: Vec<&Value> = of_kind(objs, "Service")
        .into_iter()
        .filter(|s| selects(&spec["selector"], &str_map(&s["metadata"]["labels"])))
        .filter(|s| namespaces.is_empty() || namespaces.contains(&namespace_of(s)))
        .filter(|s| {
            s["spec"]["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == port))
        })
        .collect();
    services.sort_by_key(|s| {
        s["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    let (service, deployment) = services
        .iter()
        .find_map(|s| {
            of_kind(objs, "Deployment")
                .into_iter()
                .find(|d| {
                    selects(
                        &s["spec"]["selector"],
                        &str_map(&d["spec"]["template"]["metadata"]["labels"]),
                    )
                })
                .map(|d| (*s, d))
        })
        .expect("no rendered Deployment behind a Service the ServiceMonitor selects");
    let service_labels = str_map(&service["metadata"]["labels"]);
    let pod_labels = str_map(&deployment["spec"]["template"]["metadata"]["labels"]);
    let pod_spec = &deployment["spec"]["template"]["spec"];
    let container = pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == port))
        })
        .unwrap_or_else(|| panic!("no container of the Deployment has a port named {port}"));
    let deployment_name = deployment["metadata"]["name"]
        .as_str()
        .expect("Deployment name");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut meta = BTreeMap::from([
        ("__address__".to_owned(), target.to_owned()),
        (
            "__metrics_path__".to_owned(),
            endpoint["path"].as_str().unwrap_or("/metrics").to_owned(),
        ),
        (
            "__scheme__".to_owned(),
            endpoint["scheme"].as_str().unwrap_or("http").to_lowercase(),
        ),
        (
            "__meta_kubernetes_namespace".to_owned(),
            namespace_of(service).to_owned(),
        ),
        (
            "__meta_kubernetes_service_name".to_owned(),
            text(&service["metadata"]["name"]),
        ),
        (
            "__meta_kubernetes_pod_name".to_owned(),
            format!("{deployment_name}-5d8f7c6b9-x2x7q"),
        ),
        (
            "__meta_kubernetes_pod_container_name".to_owned(),
            text(&container["name"]),
        ),
        (
            "__meta_kubernetes_endpoint_port_name".to_owned(),
            port.to_owned(),
        ),
    ]);
    for (prefix, labels) in [("service", &service_labels), ("pod", &pod_labels)] {
        for (k, v) in labels {
            let k = sanitize(k);
            meta.insert(format!("__meta_kubernetes_{prefix}_label_{k}"), v.clone());
            meta.insert(
                format!("__meta_kubernetes_{prefix}_labelpresent_{k}"),
                "true".into(),
            );
        }
    }
    let copy =
        |from: &str, to: &str| serde_json::json!({"source_labels": [from], "target_label": to});
    let mut relabel = vec![
        copy("__meta_kubernetes_namespace", "namespace"),
        copy("__meta_kubernetes_service_name", "service"),
        copy("__meta_kubernetes_pod_name", "pod"),
        copy("__meta_kubernetes_pod_container_name", "container"),
    ];
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(sanitize)
            .collect()
    };
    for l in names(&spec["targetLabels"]) {
        relabel.push(copy(&format!("__meta_kubernetes_service_label_{l}"), &l));
    }
    for l in names(&spec["podTargetLabels"]) {
        relabel.push(copy(&format!("__meta_kubernetes_pod_label_{l}"), &l));
    }
    relabel.push(copy("__meta_kubernetes_service_name", "job"));
    if let Some(l) = spec["jobLabel"].as_str() {
        relabel.push(serde_json::json!({
            "source_labels": [format!("__meta_kubernetes_service_label_{}", sanitize(l))],
            "target_label": "job", "regex": "(.+)", "replacement": "${1}",
        }));
    }
    relabel.push(serde_json::json!({"target_label": "endpoint", "replacement": port}));
    relabel.extend(
        endpoint["relabelings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(relabel_config),
    );
    let metric_relabel: Vec<Value> = endpoint["metricRelabelings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(relabel_config)
        .collect();
    let config = serde_json::json!({
        "job_name": format!("serviceMonitor/{}/{}/0", namespace_of(sm), text(&sm["metadata"]["name"])),
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "honor_labels": endpoint["honorLabels"].as_bool().unwrap_or(false),
        "static_configs": [{"targets": [target], "labels": meta}],
        "relabel_configs": relabel,
        "metric_relabel_configs": metric_relabel,
    });
    ScrapeJob { config, pod_labels }
}

/// A real Prometheus on loopback, killed on drop.
struct Prometheus {
    child: Child,
    api: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch folder removed on drop (on every exit path, panics included).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    /// Start with `config` (YAML) and wait until ready. The port comes from the kernel, so another
    /// process may take it first: then Prometheus exits at once and is started on another one.
    fn start(binary: &Path, config: &str, dir: &Path) -> Prometheus {
        let config_path = support::write(dir, "prometheus.yml", config.as_bytes());
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut p = Prometheus {
                child: Command::new(binary)
                    .arg(format!("--config.file={}", config_path.display()))
                    .arg(format!(
                        "--storage.tsdb.path={}",
                        dir.join("data").display()
                    ))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start prometheus"),
                api: format!("http://127.0.0.1:{port}/api/v1"),
            };
            let ready = format!("http://127.0.0.1:{port}/-/ready");
            let until = Instant::now() + DEADLINE;
            loop {
                if p.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if client().get(&ready).send().is_ok_and(|r| r.status() == 200) {
                    return p;
                }
                assert!(
                    Instant::now() < until,
                    "prometheus not ready in {DEADLINE:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = p.child.wait();
        }
        panic!("prometheus did not start on any of 5 ports");
    }

    /// An instant query as KEDA and the operator send it: the vector's samples (labels, value),
    /// or a scalar as one unlabelled sample. `Err` on an HTTP or PromQL error.
    fn query(&self, q: &str) -> Result<Vec<(Value, f64)>, String> {
        let r = client()
            .get(format!("{}/query?query={}", self.api, percent_encode(q)))
            .send()
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().map_err(|e| e.to_string())?;
        if !status.is_success() || v["status"] != "success" {
            return Err(format!("HTTP {status}: {v}"));
        }
        let number = |s: &Value| -> Result<f64, String> {
            s[1].as_str()
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| format!("not a sample value: {s}"))
        };
        match v["data"]["resultType"].as_str() {
            Some("vector") => v["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| Ok((s["metric"].clone(), number(&s["value"])?)))
                .collect(),
            Some("scalar") => Ok(vec![(Value::Null, number(&v["data"]["result"])?)]),
            other => Err(format!("result type {other:?}: {v}")),
        }
    }

    /// Poll `q` until it returns exactly one sample accepted by `ok` (KEDA refuses a query that
    /// returns several); the last answer in the panic message otherwise.
    fn poll_one(&self, q: &str, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let start = Instant::now();
        loop {
            let answer = self.query(q);
            if let Ok(samples) = &answer
                && let [(_, value)] = samples.as_slice()
                && ok(*value)
            {
                return *value;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: {q}\nnot answered as expected within {DEADLINE:?}; last answer: {answer:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Percent-encoding of a query-string value.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The workers' replica count KEDA's HPA settles on for a queue-depth `value`: an
/// `AverageValue` target of `threshold` per replica gives `ceil(value / threshold)`, clamped
/// to the bounds; at or below the activation threshold KEDA deactivates the scaler and holds
/// `min` (0 when `minReplicaCount` is 0: scaled to zero).
fn keda_replicas(value: f64, threshold: f64, activation: f64, min: i64, max: i64) -> i64 {
    if value <= activation {
        return min;
    }
    // Exact for the small integers compared here.
    let raw = (value / threshold).ceil() as i64;
    raw.clamp(min, max)
}

fn number(v: &Value, what: &str) -> f64 {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

fn integer(v: &Value, what: &str) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("{what} is not an integer: {v}"))
}

#[test]
fn scaled_object_query_counts_the_queue_and_the_analysis_passes() {
    // Debian's prometheus (scripts/test.sh installs it); missing, the test does not run, or
    // fails under NDF_REQUIRE_INPUTS=1.
    let Some(prometheus) = ndf_testkit::corpus::tool(TEST, "prometheus") else {
        return;
    };
    let Some(pdfs) = corpus_pdfs() else {
        return;
    };
    let example = repo_root().join(EXAMPLE);
    let cluster_doc = yaml_docs(
        &String::from_utf8(read_file(&example)).expect("the production example is UTF-8"),
    )
    .into_iter()
    .find(|d| d["kind"] == "NdfCluster")
    .expect("an NdfCluster in the production example");
    // Typed, so the spec's defaults apply as the operator sees them.
    let cluster: ndf_operator::NdfCluster =
        serde_json::from_value(cluster_doc).expect("the example is an NdfCluster");
    let spec = &cluster.spec;
    let objs = render(&example);

    // The ScaledObject's prometheus trigger, exactly as rendered.
    let so = only(&objs, "ScaledObject");
    let trigger = so["spec"]["triggers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["type"] == "prometheus")
        .expect("a prometheus trigger");
    let md = &trigger["metadata"];
    let query = md["query"].as_str().expect("trigger query");
    let threshold = number(&md["threshold"], "trigger threshold");
    let activation = if md["activationThreshold"].is_null() {
        0.0 // KEDA's default
    } else {
        number(&md["activationThreshold"], "activationThreshold")
    };
    assert!(
        trigger["metricType"].is_null() || trigger["metricType"] == "AverageValue",
        "the replica formula here is KEDA's AverageValue one; metricType is {}",
        trigger["metricType"]
    );
    let min = integer(&so["spec"]["minReplicaCount"], "minReplicaCount");
    let max = integer(&so["spec"]["maxReplicaCount"], "maxReplicaCount");
    // ... taken from the spec.
    let a = &spec.autoscaling;
    let (per_worker, spec_min, spec_max) = (
        i64::from(a.target_queued_jobs_per_worker),
        i64::from(a.min_replicas),
        i64::from(a.max_replicas),
    );
    assert!(a.enabled, "the production example does not autoscale");
    assert_eq!(
        threshold, per_worker as f64,
        "trigger threshold vs the spec"
    );
    assert_eq!(
        (min, max),
        (spec_min, spec_max),
        "ScaledObject bounds vs the spec"
    );

    // `ndf serve` with its consumers paused; the ServiceMonitor scrapes the admin port.
    // Dropped last (declared first): the processes end before their folders go.
    let data = embedded("deploy_autoscaling");
    let _data_dir = match &data {
        support::Backend::Embedded { dir } => Scratch(dir.clone()),
        support::Backend::Scaled { .. } => unreachable!("an embedded backend"),
    };
    let tsdb_dir = Scratch(support::scratch("deploy_prometheus"));
    let server = Server::serve(
        &data,
        Opts {
            // One extraction worker and no wait queue: the analysis check below overloads it.
            args: [
                "--no-jobs",
                "--set",
                "admin_listen=127.0.0.1:0",
                "--set",
                "workers=1",
                "--set",
                "max_waiting=0",
            ]
            .map(String::from)
            .to_vec(),
            env: vec![(ndf_pool::TEST_HOOKS_ENV.to_owned(), "1".to_owned())],
            ..Opts::default()
        },
    );
    let admin = server.admin_url("");
    let scrape = scrape_job(&objs, admin.trim_start_matches("http://"));
    let config = serde_json::json!({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [scrape.config],
    });
    // JSON is YAML: Prometheus reads it as its configuration.
    let prom = Prometheus::start(&prometheus, &config.to_string(), &tsdb_dir.0);

    // Nothing queued: the query answers 0 and KEDA holds the minimum.
    let zero = prom.poll_one(query, "the ScaledObject query, no job", |v| v == 0.0);
    let idle = keda_replicas(zero, threshold, activation, min, max);
    assert_eq!(idle, spec_min, "worker replicas with an empty queue");
    assert_eq!(
        i64::from(ndf_operator::desired_workers(spec, zero)),
        idle,
        "ndf_operator::desired_workers with an empty queue"
    );

    // N jobs queued, none consumed.
    let http = client();
    for pdf in pdfs.iter().take(JOBS) {
        let r = http
            .post(server.url("/v1/jobs"))
            .header("content-type", "application/pdf")
            .body(read_file(pdf))
            .send()
            .expect("submit a job");
        assert_eq!(r.status(), 202, "{}", pdf.display());
    }
    let n = JOBS as f64;
    let depth = prom.poll_one(query, "the ScaledObject query, jobs queued", |v| v == n);
    let replicas = keda_replicas(depth, threshold, activation, min, max);
    let expected = (JOBS as i64 + per_worker - 1) / per_worker.clamp(spec_min, spec_max);
    assert!(
        (spec_min..=spec_max).contains(&replicas),
        "{replicas} worker replicas: outside the spec's {spec_min}..={spec_max}"
    );
    assert_eq!(replicas, expected, "worker replicas for {JOBS} queued jobs");
    assert_eq!(
        i64::from(ndf_operator::desired_workers(spec, depth)),
        replicas,
        "ndf_operator::desired_workers for {JOBS} queued jobs"
    );
    eprintln!(
        "ScaledObject query {query}\n  empty queue -> {zero} -> {idle} worker replicas; \
         {JOBS} queued -> {depth} -> {replicas} (threshold {threshold}, activation {activation}, \
         bounds {min}..={max})"
    );

    // The rollout's analysis, on the same Prometheus, after real extractions: four corpus
    // documents succeed, and a body that is not a PDF is refused (a 4xx: the analysis counts 5xx).
    let analysis = spec
        .rollout
        .analysis
        .as_ref()
        .and_then(|a| a.prometheus.as_ref())
        .expect("the production example has a prometheus analysis");
    // A request counter's series appears with its first request, and rate() sees no increase
    // before a series' first sample: so one extraction, scraped, then three more, scraped, give
    // the analysis a real (non-zero) request rate to divide by.
    let extracted = |from: usize, to: usize| {
        for pdf in &pdfs[from..to] {
            let r = http
                .post(server.url("/v1/extract"))
                .header("content-type", "application/pdf")
                .body(read_file(pdf))
                .send()
                .expect("extract");
            assert_eq!(r.status(), 200, "{}", pdf.display());
        }
        let ok = "sum(ndf_http_requests_total{route=\"/v1/extract\",status_class=\"2xx\"})";
        prom.poll_one(ok, "extractions scraped", |v| v >= to as f64);
    };
    extracted(0, 1);
    extracted(1, 4);
    let rate = "sum(rate(ndf_http_requests_total{route=\"/v1/extract\",status_class=\"2xx\"}[2m]))";
    prom.poll_one(rate, "a successful request rate", |v| v > 0.0);
    let r = http
        .post(server.url("/v1/extract"))
        .header("content-type", "application/pdf")
        .body(b"<html>not a PDF</html>".to_vec())
        .send()
        .expect("extract a hostile body");
    assert_eq!(r.status(), 415, "a body that is not a PDF");
    // The placeholders are the scraped pod's colour and revision (a preview pod's, in a rollout).
    let color = match scrape.pod_labels.get("ndf.dev/color").map(String::as_str) {
        Some("green") => ndf_operator::Color::Green,
        Some("blue") => ndf_operator::Color::Blue,
        other => panic!("the scraped pod's ndf.dev/color label is {other:?}"),
    };
    let revision = scrape
        .pod_labels
        .get("ndf.dev/revision")
        .expect("the scraped pod's ndf.dev/revision label");
    assert_eq!(
        revision,
        &ndf_operator::revision(spec),
        "pod revision vs the spec's"
    );
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or("default");
    let name = cluster
        .metadata
        .name
        .as_deref()
        .expect("the example's name");
    let analysis_query =
        ndf_operator::analysis_query(&analysis.query, namespace, name, color, revision);
    // rate() needs two samples in its window: polled until the query answers a number.
    let value = prom.poll_one(&analysis_query, "the analysis query", |v| !v.is_nan());
    assert!(
        analysis.success_when.passes(value, analysis.threshold),
        "the analysis fails a healthy service: {analysis_query} = {value}, threshold {} ({:?})",
        analysis.threshold,
        analysis.success_when
    );
    // A colour Prometheus does not scrape (say, a preview its ServiceMonitor selector misses)
    // answers no sample, which the operator counts as a failed measurement, never as a pass.
    let unscraped_color = match color {
        ndf_operator::Color::Blue => ndf_operator::Color::Green,
        ndf_operator::Color::Green => ndf_operator::Color::Blue,
    };
    let unscraped =
        ndf_operator::analysis_query(&analysis.query, namespace, name, unscraped_color, revision);
    let answer = prom
        .query(&unscraped)
        .expect("the analysis query of an unscraped colour");
    assert!(
        answer.is_empty(),
        "an unscraped colour must give no sample, got {answer:?} for {unscraped}"
    );

    // The same query sees this colour's failures (so it did not pass for want of data): with
    // the one worker held by a hanging document (test hook) and no wait queue, extractions are
    // refused with 503 `overloaded` (and the hanging one ends in 504), and the analysis fails.
    let hang = || {
        let url = server.url("/v1/extract");
        std::thread::spawn(move || {
            let body = [&b"%NDF-TEST-HANG\n"[..], &ndf_testkit::text_doc(&["never"])].concat();
            client()
                .post(url)
                .header("content-type", "application/pdf")
                .body(body)
                .send()
                .map(|r| r.status().as_u16())
        })
    };
    let mut hanging = vec![hang()];
    let mut server_errors = 0;
    let mut attempt = 0;
    // Two batches, each scraped, for the same reason as the successes above: the first 5xx
    // creates the series, the second is an increase rate() sees.
    for batch in 1..=2 {
        let start = Instant::now();
        while server_errors < 3 * batch {
            attempt += 1;
            assert!(
                start.elapsed() < DEADLINE,
                "no 503 from a replica whose only worker hangs, within {DEADLINE:?}"
            );
            if hanging.last().is_some_and(|h| h.is_finished()) {
                hanging.push(hang());
            }
            let r = http
                .post(server.url("/v1/extract"))
                .header("content-type", "application/pdf")
                // A new document each time: a cached result would need no worker.
                .body(ndf_testkit::text_doc(&[&format!(
                    "overload attempt {attempt}"
                )]))
                .send()
                .expect("extract");
            if r.status().is_server_error() {
                server_errors += 1;
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let errors = "sum(ndf_http_requests_total{route=\"/v1/extract\",status_class=\"5xx\"})";
        prom.poll_one(errors, "5xx answers scraped", |v| {
            v >= f64::from(server_errors)
        });
    }
    let failing = prom.poll_one(&analysis_query, "the analysis query after 5xx", |v| {
        !analysis.success_when.passes(v, analysis.threshold)
    });
    eprintln!(
        "analysis query {analysis_query}\n  healthy: {value} ({:?} {}: passes); after \
         {server_errors} 5xx answers: {failing} (fails)",
        analysis.success_when, analysis.threshold
    );

    // The replica gone (Prometheus lost its target): its series go stale and the trigger's
    // query answers nothing. With `ignoreNullValues: "false"` KEDA then reports an error rather
    // than a depth of 0, and after `fallback.failureThreshold` errors holds `fallback.replicas`
    // instead of scaling the workers down to the minimum.
    drop(server);
    for h in hanging {
        // Ended by the 504 or by the server's end; either is fine.
        let _ = h.join();
    }
    assert_eq!(
        md["ignoreNullValues"], "false",
        "an empty answer must be an error"
    );
    let start = Instant::now();
    loop {
        let answer = prom.query(query);
        if answer.as_ref().is_ok_and(Vec::is_empty) {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the trigger query still answers {answer:?} {DEADLINE:?} after its target stopped"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let fallback = integer(&so["spec"]["fallback"]["replicas"], "fallback.replicas");
    assert_eq!(
        fallback,
        i64::from(a.fallback_replicas),
        "fallback vs the spec"
    );
    assert!(
        (spec_min..=spec_max).contains(&fallback),
        "fallback {fallback} outside the spec's {spec_min}..={spec_max}"
    );
    eprintln!(
        "target gone: the trigger query answers no sample -> KEDA error -> fallback {fallback} \
         worker replicas after {} failed reads",
        so["spec"]["fallback"]["failureThreshold"]
    );
    drop(prom);
}
