//! The embed widget over HTTP: `GET /embed.js`, the static assets of the
//! pages, and `GET /embed/{workflowId}`, `/embed/bundle/{bundleId}` and
//! `/embed/product/{productId}`. Pages and their errors are HTML, never
//! JSON: a person sees them inside a frame.

use super::openapi::schemas as oa;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::bundles;
use super::error::ApiError;
use crate::app::AppState;
use crate::auth::Caller;
use crate::embed::{self, Asset, EmbedView, Page, ViewError};

/// The widget's routes and the bundle API, merged into the application.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(loader))
        .routes(routes!(page_asset))
        .routes(routes!(workflow_page))
        .routes(routes!(bundle_page))
        .routes(routes!(product_page))
        .routes(routes!(bundles::list, bundles::create))
        .routes(routes!(bundles::get, bundles::update))
}

const NOSNIFF: (HeaderName, HeaderValue) = (
    header::X_CONTENT_TYPE_OPTIONS,
    HeaderValue::from_static("nosniff"),
);

fn serve_asset(
    asset: &'static Asset,
    request: &HeaderMap,
    cache_control: &'static str,
) -> Response {
    let etag = HeaderValue::from_str(&asset.etag).expect("a hex tag is a valid header");
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| asset.matches(v));
    if fresh {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag),
            cache,
            NOSNIFF,
            // Sites that isolate themselves (COEP) may still load the widget.
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("cross-origin"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

/// `GET /embed.js`: the loader. Its URL never changes, so caches revalidate
/// it every few minutes.
#[utoipa::path(
    get,
    path = "/embed.js",
    tag = "Embedding",
    operation_id = "embed_loader",
    summary = "Load the chat widget loader script",
    description = "Include with a standard `<script src=\"/embed.js\" async></script>` tag. Needs no token.",
    responses(
        (status = 200, description = "Loader script that appends the chat widget to the host page.", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)."),
    ),
)]
pub async fn loader(headers: HeaderMap) -> Response {
    let asset = embed::asset("embed.js").expect("the loader is compiled in");
    serve_asset(asset, &headers, "public, max-age=300")
}

/// `GET /embed/assets/{file}`: the pages' script and stylesheet. The pages
/// link them with a version query, so they may be cached for a day.
#[utoipa::path(
    get,
    path = "/embed/assets/{file}",
    tag = "Embedding",
    operation_id = "embed_page_asset",
    summary = "A script or stylesheet of the widget pages",
    params(
        ("file" = String, Path, description = "The asset's name, such as `page.js` or `page.css`."),
    ),
    responses(
        (status = 200, description = "The file.", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)."),
        (status = 404, description = "No such asset (`asset_not_found`).", body = oa::ErrorResponse),
    ),
)]
pub async fn page_asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match embed::asset(&file).filter(|a| a.name != "embed.js") {
        Some(asset) => serve_asset(asset, &headers, "public, max-age=86400"),
        None => ApiError::not_found(
            "asset_not_found",
            format!("There is no embed asset {file:?}."),
        )
        .into_response(),
    }
}

fn html(state: &AppState, status: StatusCode, body: String) -> Response {
    let csp = embed::content_security_policy(&state.settings.embed_frame_ancestors);
    let csp = HeaderValue::from_str(&csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
            NOSNIFF,
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}

fn page_response(state: &AppState, page: Result<Page, ViewError>) -> Response {
    match page {
        Ok(page) => html(state, StatusCode::OK, embed::render_page(&page)),
        Err(ViewError::Malformed(what)) => html(
            state,
            StatusCode::BAD_REQUEST,
            embed::render_error(
                "Bad request",
                &format!("This address does not hold a valid {what} id. Check the embed code."),
            ),
        ),
        Err(ViewError::NotFound(what)) => html(
            state,
            StatusCode::NOT_FOUND,
            embed::render_error(
                "Not found",
                &format!("There is no public {what} with this id. It may have been removed or made private."),
            ),
        ),
        Err(ViewError::Store(e)) => {
            tracing::error!(error = ?anyhow::Error::from(e), "an embed page could not be read");
            html(
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                embed::render_error(
                    "Something went wrong",
                    "This widget could not be loaded. Try again in a moment.",
                ),
            )
        }
    }
}

fn view<'a>(state: &'a AppState, caller: &'a Result<Caller, ApiError>) -> EmbedView<'a> {
    let caller = caller.as_ref().ok();
    EmbedView {
        state,
        viewer: caller.map(|c| c.user_id),
        admin: caller.is_some_and(Caller::is_admin),
    }
}

/// `GET /embed/{workflowId}`: a chat with a workflow.
#[utoipa::path(
    get,
    path = "/embed/{workflow_id}",
    tag = "Embedding",
    operation_id = "embed_workflow_page",
    summary = "Embed the chat widget scoped to a workflow",
    description = "An optional bearer token shows the caller's private items too.",
    params(
        ("workflow_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The workflow's id; `workflowId` in the spec."),
    ),
    responses(
        (status = 200, description = "HTML document that renders the chat widget inside an `<iframe>`. End users sign in with their own credentials.", content_type = "text/html", body = String),
        (status = 400, description = "The address does not hold a valid id (HTML).", content_type = "text/html", body = String),
        (status = 404, description = "The referenced tool, bundle, or workflow was not found (HTML).", content_type = "text/html", body = String),
        (status = 500, description = "Internal server error (HTML).", content_type = "text/html", body = String),
    ),
)]
#[tracing::instrument(skip_all, fields(workflow_id = %id))]
pub async fn workflow_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let page = view(&state, &caller).workflow(&id).await;
    page_response(&state, page)
}

/// `GET /embed/bundle/{bundleId}`: a bundle's tools and workflows.
#[utoipa::path(
    get,
    path = "/embed/bundle/{bundle_id}",
    tag = "Embedding",
    operation_id = "embed_bundle_page",
    summary = "Embed the chat widget scoped to a bundle of tools and workflows",
    description = "An optional bearer token shows the caller's private items too.",
    params(
        ("bundle_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The bundle's id; `bundleId` in the spec."),
    ),
    responses(
        (status = 200, description = "HTML document that renders the chat widget inside an `<iframe>`. End users sign in with their own credentials.", content_type = "text/html", body = String),
        (status = 400, description = "The address does not hold a valid id (HTML).", content_type = "text/html", body = String),
        (status = 404, description = "The referenced tool, bundle, or workflow was not found (HTML).", content_type = "text/html", body = String),
        (status = 500, description = "Internal server error (HTML).", content_type = "text/html", body = String),
    ),
)]
#[tracing::instrument(skip_all, fields(bundle_id = %id))]
pub async fn bundle_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let page = view(&state, &caller).bundle(&id).await;
    page_response(&state, page)
}

/// `GET /embed/product/{productId}`: a form for one tool.
#[utoipa::path(
    get,
    path = "/embed/product/{product_id}",
    tag = "Embedding",
    operation_id = "embed_product_page",
    summary = "Embed the chat widget scoped to a single product tool",
    description = "An optional bearer token shows the caller's private items too.",
    params(
        ("product_id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The tool's id, slug or name (up to 64 letters, digits, `_` or `-`); `productId` in the spec."),
    ),
    responses(
        (status = 200, description = "HTML document that renders the chat widget inside an `<iframe>`. End users sign in with their own credentials.", content_type = "text/html", body = String),
        (status = 400, description = "The address does not hold a valid id (HTML).", content_type = "text/html", body = String),
        (status = 404, description = "The referenced tool, bundle, or workflow was not found (HTML).", content_type = "text/html", body = String),
        (status = 500, description = "Internal server error (HTML).", content_type = "text/html", body = String),
    ),
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn product_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let page = view(&state, &caller).product(&id).await;
    page_response(&state, page)
}
