//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::Problem;
use crate::{admin, api, status};

/// The two ways to present an API key: `Authorization: Bearer <key>` and `X-API-Key: <key>`.
#[derive(Debug)]
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ndf_<id>_<secret>")
                    .description(Some(
                        "An API key (`ndf keys create`, `POST /v1/admin/keys`); the scheme name in any case",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "The same API key in the X-API-Key header",
            ))),
        );
    }
}

/// The API description (paths and schemas) without servers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "NeuralDocFlow API",
        description = "PDF text and layout extraction: synchronous extraction with per-page streaming, durable jobs with webhooks. Every error is an RFC 9457 problem document (`application/problem+json`) with a stable `code`. Routes under /v1 need an API key, except in open mode (docs/security.md); the admin routes need one in every mode.",
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
        admin::create_key,
        admin::list_keys,
        admin::revoke_key,
        admin::erase_tenant,
        status::metrics,
        status::summary,
        status::page,
    ),
    components(schemas(api::JobView, api::JobErrorView, api::JobList, api::OutputFormat, status::Summary, Problem,
        admin::NewKey, admin::KeyView, admin::CreatedKey, admin::KeyList, admin::TenantErasure)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "extract", description = "Synchronous extraction"),
        (name = "jobs", description = "Durable asynchronous jobs"),
        (name = "admin", description = "API keys and erasing a tenant's data (the `admin` scope)"),
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
