//! The embed widget over HTTP: `GET /embed.js`, the static assets of the
//! pages, and `GET /embed/{workflowId}`, `/embed/bundle/{bundleId}` and
//! `/embed/product/{productId}`. Pages and their errors are HTML, never
//! JSON: a person sees them inside a frame.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use super::{bundles, AppState};
use crate::auth::Caller;
use crate::embed::{self, Asset, EmbedView, Page, ViewError};

/// The widget's routes and the bundle API, merged into the application.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/embed.js", get(loader))
        .route("/embed/assets/{file}", get(page_asset))
        .route("/embed/{workflow_id}", get(workflow_page))
        .route("/embed/bundle/{bundle_id}", get(bundle_page))
        .route("/embed/product/{product_id}", get(product_page))
        .route("/bundles", get(bundles::list).post(bundles::create))
        .route(
            "/bundles/{bundle_id}",
            get(bundles::get).patch(bundles::update),
        )
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
pub async fn loader(headers: HeaderMap) -> Response {
    let asset = embed::asset("embed.js").expect("the loader is compiled in");
    serve_asset(asset, &headers, "public, max-age=300")
}

/// `GET /embed/assets/{file}`: the pages' script and stylesheet. The pages
/// link them with a version query, so they may be cached for a day.
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
        viewer: caller.map(|c| c.user_id.as_str()),
        admin: caller.is_some_and(Caller::is_admin),
    }
}

/// `GET /embed/{workflowId}`: a chat with a workflow.
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
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn product_page(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let page = view(&state, &caller).product(&id).await;
    page_response(&state, page)
}
