//! `GET /openapi.json`, an OpenAPI 3.1 document generated from the handlers'
//! annotations, and `GET /docs`, a page that renders it. The page's script
//! and stylesheet are compiled into the binary and served from
//! `/docs/assets/{file}`, so the docs work with no network.

pub mod schemas;

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ApiError;
use schemas::*;

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

/// The document's frame: its info, tags, security scheme and shared
/// components. The paths come from the route table, [`super::routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate",
        description = "A self-hostable implementation of the AgentPMT Programmatic Access API: agents pay for and use tools with credits, trigger workflows, and report issues.\n\nAuthenticate with `Authorization: Bearer <token>`, where the token is an access token from `POST /auth/login` or a budget API key (`tg_...`).\n\nErrors: request validation on the spec's endpoints answers 422 in FastAPI's shape (`HTTPValidationError`); every other refusal is `ErrorResponse`, `{success:false, error, message, detail, data?}`, with a stable `error` code.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    components(schemas(HTTPValidationError, ValidationError, ErrorResponse)),
    tags(
        (name = "Tool Calls Via REST API", description = "Credits, tools, purchases and issue reports: the spec's endpoints for agents."),
        (name = "Trigger Autonomous Workflows Via Webhooks", description = "Workflow runs: trigger, poll, cancel."),
        (name = "Public", description = "Endpoints that need no token."),
        (name = "Embedding", description = "The chat widget and its pages (HTML)."),
        (name = "Auth", description = "Accounts and access tokens."),
        (name = "Budgets", description = "Budgets (agent groups), their caps, tools, workflows and API keys."),
        (name = "Credentials", description = "Credentials stored for tools."),
        (name = "Approvals", description = "Requests blocked agents send their owner."),
        (name = "Vendor", description = "Publishing tools and reading reports about them."),
        (name = "Workflows", description = "Defining workflows."),
        (name = "Bundles", description = "Sets of tools and workflows for the widget."),
        (name = "Webhooks", description = "The secret that signs run callbacks."),
        (name = "Admin", description = "Operator endpoints."),
        (name = "Interfaces", description = "Metrics, MCP and this documentation."),
    )
)]
pub struct ApiDoc;

/// The answer of an authenticated operation to a request without a valid
/// token; operations name it in `responses(...)` instead of repeating it.
#[derive(utoipa::IntoResponses)]
pub enum Unauthorized {
    /// Missing or invalid bearer token (`missing_token`, `invalid_token`).
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
}

/// The answer of any JSON operation to a fault of the server.
#[derive(utoipa::IntoResponses)]
pub enum Internal {
    /// Unexpected server error (`internal_error`); the body names the request id.
    #[response(status = 500)]
    Internal(ErrorResponse),
}

/// The answers of an operation with a JSON body to one it cannot read.
#[derive(utoipa::IntoResponses)]
pub enum BodyRefused {
    /// The body could not be read (`unreadable_body`).
    #[response(status = 400)]
    Unreadable(ErrorResponse),
    /// The body is larger than this server accepts (`payload_too_large`).
    #[response(status = 413)]
    TooLarge(ErrorResponse),
}

/// The answer of an operation whose body, query or headers do not validate,
/// in FastAPI's shape.
#[derive(utoipa::IntoResponses)]
pub enum Invalid {
    /// Validation Error
    #[response(status = 422)]
    Invalid(HTTPValidationError),
}

/// Adds the bearer scheme every authenticated operation names.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from POST /auth/login, or a budget API key (tg_...).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, without a server: built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, mut doc) = super::routes().split_for_parts();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        let mut doc = serde_json::to_value(&doc).expect("the document serializes");
        for (method, path) in BOTH_422_SHAPES {
            both_422_shapes(&mut doc, method, path);
        }
        grant_names_a_user(&mut doc);
        metadata_is_json(&mut doc);
        doc
    })
}

/// Operations whose 422 is either a validation error or a coded refusal
/// (a purchase's `idempotency_key_reused`, the status the Idempotency-Key
/// draft gives a reused key).
const BOTH_422_SHAPES: [(&str, &str); 1] = [("post", "/products/purchase")];

/// An annotation names one body per status and content type, so the second
/// shape of these 422s is added here: `anyOf` the two (their `detail`s
/// differ in type, so a body matches exactly one).
fn both_422_shapes(doc: &mut Value, method: &str, path: &str) {
    let pointer = format!(
        "/paths/{}/{method}/responses/422/content/application~1json/schema",
        path.replace('~', "~0").replace('/', "~1")
    );
    let schema = doc
        .pointer_mut(&pointer)
        .unwrap_or_else(|| panic!("{method} {path} documents no JSON 422"));
    *schema = json!({"anyOf": [
        {"$ref": "#/components/schemas/HTTPValidationError"},
        {"$ref": "#/components/schemas/ErrorResponse"},
    ]});
}

/// A grant names its user by `user_id` or `email` (a string, not null), at
/// least one: a rule across fields that the derive cannot state.
fn grant_names_a_user(doc: &mut Value) {
    let schema = doc
        .pointer_mut("/components/schemas/GrantRequest")
        .expect("the document has GrantRequest");
    schema["anyOf"] = json!([
        {"required": ["user_id"], "properties": {"user_id": {"type": "string"}}},
        {"required": ["email"], "properties": {"email": {"type": "string"}}},
    ]);
}

/// `x-instance-metadata` is the text of a JSON object: said with `content`,
/// which a parameter's annotation cannot give.
fn metadata_is_json(doc: &mut Value) {
    let paths = doc["paths"]
        .as_object_mut()
        .expect("the document has paths");
    let params = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
        .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
        .flatten()
        .filter(|p| p["in"] == "header" && p["name"] == "x-instance-metadata");
    for param in params {
        let param = param.as_object_mut().expect("a parameter is an object");
        param.remove("schema");
        param.insert(
            "content".into(),
            json!({"application/json": {"schema": {"type": "object"}}}),
        );
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Interfaces",
    operation_id = "openapi_json",
    summary = "This OpenAPI 3.1 document",
    description = "The OpenAPI 3.1 document of every route, with this server's public URL as its server.",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object)),
)]
pub async fn openapi_json(State(state): State<super::AppState>) -> Response {
    let mut doc = document().clone();
    doc["servers"] = json!([{"url": state.settings.public_url}]);
    Json(doc).into_response()
}

const DOCS_HTML: &str = include_str!("../../assets/docs/index.html");

/// One compiled-in file of the docs page.
struct DocsAsset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const DOCS_ASSETS: [DocsAsset; 2] = [
    DocsAsset {
        name: "docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../assets/docs/docs.js"),
    },
    DocsAsset {
        name: "docs.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../assets/docs/docs.css"),
    },
];

/// The docs page's policy: its own script, style and document fetch only.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const NOSNIFF: (HeaderName, HeaderValue) = (
    header::X_CONTENT_TYPE_OPTIONS,
    HeaderValue::from_static("nosniff"),
);

/// `GET /docs`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "Interfaces",
    operation_id = "docs_page",
    summary = "API documentation page",
    description = "A page that renders /openapi.json for people. Its script and stylesheet are served from /docs/assets, under a strict Content-Security-Policy.",
    responses((status = 200, description = "The docs page.", content_type = "text/html", body = String)),
)]
pub async fn docs_page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOCS_CSP),
            ),
            NOSNIFF,
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        DOCS_HTML,
    )
        .into_response()
}

/// `GET /docs/assets/{file}`.
#[utoipa::path(
    get,
    path = "/docs/assets/{file}",
    tag = "Interfaces",
    operation_id = "docs_asset",
    summary = "A script or stylesheet of the docs page",
    params(("file" = String, Path, description = "`docs.js` or `docs.css`.")),
    responses(
        (status = 200, description = "The file.", content_type = "text/javascript", body = String),
        (status = 404, description = "No such file (`asset_not_found`).", body = ErrorResponse),
    ),
)]
pub async fn docs_asset(Path(file): Path<String>) -> Response {
    match DOCS_ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                NOSNIFF,
            ],
            asset.body,
        )
            .into_response(),
        None => ApiError::not_found(
            "asset_not_found",
            format!("There is no docs asset {file:?}."),
        )
        .into_response(),
    }
}
