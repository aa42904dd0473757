//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::problem::Problem;
use crate::{api, status};

/// The API description (paths and schemas) without servers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "NeuralDocFlow API",
        description = "PDF text and layout extraction: synchronous extraction with per-page streaming, durable jobs with webhooks. Errors are RFC 9457 problem documents with a stable `code`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        api::extract,
        api::create_job,
        api::list_jobs,
        api::get_job,
        api::get_result,
        api::delete_job,
        api::healthz,
        api::readyz,
        status::metrics,
        status::summary,
        status::page,
    ),
    components(schemas(api::JobView, api::JobErrorView, api::JobList, api::OutputFormat, status::Summary, Problem)),
    tags(
        (name = "extract", description = "Synchronous extraction"),
        (name = "jobs", description = "Durable asynchronous jobs"),
        (name = "ops", description = "Health, readiness, metrics and the status board")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline (what docs/openapi.json holds).
pub fn document_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut s = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}
