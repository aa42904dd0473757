//! The backend-independent contract tests, written once.
#[macro_use]
pub(crate) mod blobs;
#[macro_use]
pub(crate) mod jobs;
