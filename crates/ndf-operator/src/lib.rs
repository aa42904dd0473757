//! The ndf operator's library: the `NdfCluster` custom resource ([`crd`]) and the pure
//! functions that turn one into Kubernetes objects.
//!
//! Build functions take a spec (and a [`BuildContext`] saying which colour, revision and
//! replica counts to build) and return objects; they do no I/O. The reconciler applies them and
//! `ndf deploy render` prints them, so manifests are made in exactly one place.
#![forbid(unsafe_code)]

pub mod crd;

pub use crd::{Color, ConditionType, NdfCluster, NdfClusterSpec, NdfClusterStatus};

/// Oldest Kubernetes minor version (1.x) the built objects and the CRD are meant for:
/// k8s-openapi 0.29's oldest version feature, and every API used here is GA there.
pub const MIN_KUBERNETES_MINOR: u32 = 33;
/// Newest Kubernetes minor version (1.x) checked (k8s-openapi 0.29's `latest`).
pub const MAX_KUBERNETES_MINOR: u32 = 37;
