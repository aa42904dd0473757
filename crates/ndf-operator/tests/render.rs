//! `ndf deploy render`'s library side: what it refuses, and what it defaults.

use ndf_operator::render::{RenderError, parse_cluster, render_cluster};

const MINIMAL: &str =
    "apiVersion: ndf.dev/v1alpha1\nkind: NdfCluster\nmetadata:\n  name: a\nspec:\n  image: ndf:1\n";

#[test]
fn a_manifest_without_a_namespace_takes_the_default_or_fails() {
    let yaml = render_cluster(MINIMAL, Some("team")).expect("render");
    assert!(yaml.contains("namespace: team"), "{yaml}");
    assert!(!yaml.contains("namespace: default"));
    let err = render_cluster(MINIMAL, None).expect_err("no namespace");
    assert!(err.to_string().contains("metadata.namespace"), "{err}");
}

#[test]
fn other_kinds_and_broken_yaml_are_refused() {
    let other = MINIMAL.replace("kind: NdfCluster", "kind: Deployment");
    assert!(matches!(
        render_cluster(&other, Some("t")),
        Err(RenderError::Kind { .. })
    ));
    assert!(matches!(
        render_cluster("spec: [", Some("t")),
        Err(RenderError::Parse(_))
    ));
    let no_image = MINIMAL.replace("  image: ndf:1\n", "  api: {replicas: 1}\n");
    assert!(matches!(
        render_cluster(&no_image, Some("t")),
        Err(RenderError::Parse(_))
    ));
}

#[test]
fn a_spec_the_crd_refuses_is_not_rendered() {
    let bad = MINIMAL.replace(
        "  image: ndf:1\n",
        "  image: ndf:1\n  workers: {replicas: 2}\n",
    );
    let err = render_cluster(&bad, Some("t")).expect_err("embedded with workers");
    assert!(matches!(err, RenderError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("no separate workers"), "{err}");
}

#[test]
fn defaults_are_the_apiservers() {
    let c = parse_cluster(MINIMAL, Some("t")).expect("parse");
    assert!(c.spec.storage.is_embedded());
    assert_eq!(c.spec.api.replicas, 1);
    assert_eq!(c.spec.workers.replicas, 0);
    assert_eq!(c.spec.gpu.resource_name, "nvidia.com/gpu");
    assert_eq!(c.spec.pod.job_deadline_seconds, 300);
    // The CRD's schema carries the same defaults (what the apiserver fills in).
    let crd = serde_json::to_value(<ndf_operator::NdfCluster as kube::CustomResourceExt>::crd())
        .expect("crd");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["api"]["default"]["replicas"], 1);
    assert_eq!(
        spec["properties"]["gpu"]["default"]["resourceName"],
        "nvidia.com/gpu"
    );
    assert!(
        spec["properties"]["storage"]["default"]["embedded"].is_object(),
        "{}",
        spec["properties"]["storage"]
    );
}
