//! YAML for people who deploy without the operator (`ndf deploy render`) and the committed
//! files under deploy/kubernetes (CRD, operator install, rendered examples).

use kube::CustomResourceExt;

use crate::build::{BuildContext, BuildError, Object, build_all, build_operator_install};
use crate::crd::{Color, NdfCluster};

/// Why a rendering failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The input is not an NdfCluster in YAML.
    #[error("not an NdfCluster: {0}")]
    Parse(String),
    /// The input's `apiVersion`/`kind` is not `ndf.dev/v1alpha1` `NdfCluster`.
    #[error("expected apiVersion ndf.dev/v1alpha1 and kind NdfCluster, found {api_version} {kind}")]
    Kind {
        /// The input's apiVersion.
        api_version: String,
        /// The input's kind.
        kind: String,
    },
    /// The NdfCluster breaks a rule of the CRD (the apiserver would refuse it too).
    #[error("the NdfCluster breaks the CRD's rules: {0}")]
    Invalid(String),
    /// The objects could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The objects could not be written as YAML.
    #[error("writing YAML: {0}")]
    Yaml(String),
}

/// Objects as one multi-document YAML stream, in the given order.
pub fn to_yaml(objects: &[Object]) -> Result<String, RenderError> {
    let values: Vec<serde_json::Value> = objects.iter().map(Object::to_value).collect();
    values_to_yaml(&values)
}

fn values_to_yaml(values: &[serde_json::Value]) -> Result<String, RenderError> {
    let mut out = String::new();
    for v in values {
        out.push_str("---\n");
        let doc = serde_saphyr::to_string(v).map_err(|e| RenderError::Yaml(e.to_string()))?;
        out.push_str(&doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// The CRD (deploy/kubernetes/crd/ndfclusters.ndf.dev.yaml).
pub fn crd_yaml() -> Result<String, RenderError> {
    let crd =
        serde_json::to_value(NdfCluster::crd()).map_err(|e| RenderError::Yaml(e.to_string()))?;
    values_to_yaml(&[crd])
}

/// The operator's install objects (deploy/kubernetes/operator/).
pub fn operator_install_yaml(namespace: &str, image: &str) -> Result<String, RenderError> {
    to_yaml(&build_operator_install(namespace, image))
}

/// Parse an NdfCluster from YAML (defaults applied as the apiserver would), taking
/// `default_namespace` when it names none.
pub fn parse_cluster(
    input: &str,
    default_namespace: Option<&str>,
) -> Result<NdfCluster, RenderError> {
    let value: serde_json::Value =
        serde_saphyr::from_str(input).map_err(|e| RenderError::Parse(e.to_string()))?;
    let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = value["kind"].as_str().unwrap_or_default().to_string();
    if api_version != "ndf.dev/v1alpha1" || kind != "NdfCluster" {
        return Err(RenderError::Kind { api_version, kind });
    }
    let mut cluster: NdfCluster =
        serde_json::from_value(value).map_err(|e| RenderError::Parse(e.to_string()))?;
    if cluster.metadata.namespace.is_none() {
        cluster.metadata.namespace = default_namespace.map(str::to_string);
    }
    Ok(cluster)
}

/// Check an NdfCluster against the CRD's CEL rules, client-side (the same rules the
/// apiserver evaluates).
pub fn validate(cluster: &NdfCluster) -> Result<(), RenderError> {
    kube::core::cel::validate_cel(cluster).map_err(|e| RenderError::Invalid(e.to_string()))
}

/// Every object of a steady (no rollout under way) deployment of the NdfCluster in `input`,
/// the blue colour active, as YAML: what the operator would apply first.
pub fn render_cluster(input: &str, default_namespace: Option<&str>) -> Result<String, RenderError> {
    let cluster = parse_cluster(input, default_namespace)?;
    validate(&cluster)?;
    let objects = build_all(&cluster, &BuildContext::steady(&cluster.spec, Color::Blue))?;
    to_yaml(&objects)
}
