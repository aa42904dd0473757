//! The Prometheus analyzer against a loopback HTTP server that answers like Prometheus'
//! `/api/v1/query` (helper scripts run the same query against a real Prometheus). The kube
//! client is a mock that is never called: no Kubernetes API server runs here.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use ndf_operator::analysis::{Analyzer, HttpAnalyzer};
use ndf_operator::crd::{Color, NdfCluster};
use ndf_operator::rollout::{ColorRevision, Measurement};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `answers` in order, one connection each; returns the address and the request heads.
async fn prometheus(answers: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        for (status, body) in answers {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = stream.read(&mut buf).await.unwrap();
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (addr, heads)
}

fn cluster(address: &str) -> NdfCluster {
    serde_json::from_value(json!({
        "apiVersion": "ndf.dev/v1alpha1", "kind": "NdfCluster",
        "metadata": {"name": "demo", "namespace": "docs"},
        "spec": {
            "image": "registry.example/ndf:1.0.0",
            "storage": {"scaleOut": {
                "postgres": {"urlSecret": {"name": "pg", "key": "url"}},
                "s3": {"bucket": "documents"}
            }},
            "rollout": {"strategy": "BlueGreen", "analysis": {"prometheus": {
                "address": address,
                "query": "ndf:error_ratio{namespace=\"{{namespace}}\",ndf_color=\"{{color}}\",ndf_revision=\"{{revision}}\"}",
                "threshold": 0.05, "count": 3, "failureLimit": 1, "intervalSeconds": 30
            }}}
        }
    }))
    .unwrap()
}

fn sample(value: &str) -> String {
    json!({"status": "success", "data": {"resultType": "vector",
        "result": [{"metric": {}, "value": [1_800_000_000.5, value]}]}})
    .to_string()
}

#[tokio::test]
async fn a_measurement_queries_prometheus_for_the_preview_and_compares_with_the_threshold() {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    let (unused, _) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let analyzer = HttpAnalyzer::new(kube::Client::new(unused, "default")).unwrap();
    let answers = vec![
        (200, sample("0.01")),
        (200, sample("0.2")),
        (
            200,
            json!({"status": "success", "data": {"resultType": "vector", "result": []}})
                .to_string(),
        ),
        (
            400,
            json!({"status": "error", "errorType": "bad_data", "error": "parse error"}).to_string(),
        ),
    ];
    let (addr, heads) = prometheus(answers).await;
    let cluster = cluster(&addr);
    let preview = ColorRevision {
        color: Color::Green,
        revision: "0123456789".into(),
    };
    assert_eq!(
        analyzer.measure(&cluster, &preview).await,
        Measurement::Pass
    );
    let Measurement::Fail(over) = analyzer.measure(&cluster, &preview).await else {
        panic!("0.2 is above 0.05")
    };
    assert!(over.contains("0.2") && over.contains("0.05"), "{over}");
    let Measurement::Fail(empty) = analyzer.measure(&cluster, &preview).await else {
        panic!("no sample proves nothing")
    };
    assert!(empty.contains("no sample"), "{empty}");
    let Measurement::Fail(refused) = analyzer.measure(&cluster, &preview).await else {
        panic!("a refused query fails")
    };
    assert!(refused.contains("400"), "{refused}");
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 4);
    let line = heads[0].lines().next().unwrap().to_owned();
    assert!(line.starts_with("GET /api/v1/query?query="), "{line}");
    // The placeholders are the preview's values, URL-encoded.
    for part in [
        "namespace%3D%22docs%22",
        "ndf_color%3D%22green%22",
        "ndf_revision%3D%220123456789%22",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
}
