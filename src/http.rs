//! The HTTP API: routes and the middleware stack. Handlers parse and
//! authorise requests, call the application layer and the domain, and map
//! the result to a response.

pub mod admin;
pub mod agent_webhooks;
pub mod approvals;
pub mod auth;
pub mod budgets;
pub mod bundles;
pub mod credentials;
pub mod credits;
pub mod embed;
pub mod error;
pub mod extract;
pub mod issues;
pub mod metrics;
pub mod openapi;
pub mod products;
pub mod public;
pub mod vendor;
pub mod webhooks;
pub mod workflows;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::{AppState, Settings};
use error::{ApiError, InternalErrorMarker};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids in the same ObjectId form as every other id.
#[derive(Clone, Copy)]
struct MakeObjectId;

impl MakeRequestId for MakeObjectId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&crate::id::new_id())
            .ok()
            .map(RequestId::new)
    }
}

/// Every route of the API with its documentation. The router and the
/// OpenAPI document are both built from this one table, so neither can
/// list a route the other lacks. Handlers for one path with different
/// methods may be registered apart: axum merges their method routers.
pub fn routes() -> OpenApiRouter<AppState> {
    table(None)
}

/// The route table, with the MCP transport served through `mcp` (the
/// OpenAPI document is built without one).
fn table(mcp: Option<Arc<crate::mcp::Gate>>) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(public::health))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(openapi::docs_page))
        .routes(routes!(openapi::docs_asset))
        .merge(embed::routes())
        .routes(routes!(public::ready))
        .routes(routes!(metrics::render))
        .routes(routes!(public::jwt_public_key))
        .routes(routes!(public::jwks))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(budgets::create_api_key, budgets::list_api_keys))
        .routes(routes!(budgets::revoke_api_key))
        .routes(routes!(budgets::list_budgets, budgets::create_budget))
        .routes(routes!(budgets::get_budget, budgets::update_budget))
        .routes(routes!(budgets::enable_product, budgets::disable_product))
        .routes(routes!(products::fetch))
        .routes(routes!(products::purchase))
        .routes(routes!(issues::report))
        .routes(routes!(credentials::list))
        .routes(routes!(credentials::put, credentials::delete))
        .routes(routes!(approvals::list))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::deny))
        .routes(routes!(vendor::list, vendor::create))
        .routes(routes!(vendor::update))
        .routes(routes!(issues::vendor_list))
        .routes(routes!(issues::vendor_update))
        .routes(routes!(agent_webhooks::trigger))
        .routes(routes!(agent_webhooks::get_run))
        .routes(routes!(agent_webhooks::cancel_run))
        .routes(routes!(workflows::list, workflows::create))
        .routes(routes!(workflows::get, workflows::update))
        .routes(routes!(workflows::enable, workflows::disable))
        .routes(routes!(credits::balance))
        .routes(routes!(credits::history))
        .routes(routes!(webhooks::get_secret))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(admin::create_grant))
        .routes(routes!(admin::revoke_grant))
        .routes(routes!(admin::set_user_role))
        .merge(crate::mcp::routes(mcp))
}

/// The whole API, the MCP transport at `/mcp` included.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let gate = crate::mcp::Gate::new(state.clone());
    let (routes, _) = table(Some(gate)).split_for_parts();
    let api = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);

    with_middleware(api, &settings)
}

/// Wraps routes in the middleware stack every Tollgate route runs under.
pub fn with_middleware(routes: Router, settings: &Settings) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
        let request_id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
        tracing::info_span!("request", method = %req.method(), route = route.as_deref().unwrap_or(req.uri().path()), request_id)
    })
    .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO));

    routes.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                axum::http::header::AUTHORIZATION,
            ]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeObjectId))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(trace)
            .layer(middleware::from_fn(metrics::track_requests))
            .layer(middleware::from_fn(name_request_in_internal_errors))
            .layer(CatchPanicLayer::custom(
                |_panic: Box<dyn std::any::Any + Send>| {
                    tracing::error!("a handler panicked");
                    let mut response = (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(tollgate_api::ErrorResponse::internal(None)),
                    )
                        .into_response();
                    response.extensions_mut().insert(InternalErrorMarker);
                    response
                },
            ))
            .layer(CompressionLayer::new())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                settings.request_timeout,
            ))
            .layer(DefaultBodyLimit::max(settings.body_limit)),
    )
}

/// Puts the request id into the body of internal errors, so a person can
/// quote it without reading headers.
async fn name_request_in_internal_errors(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(req).await;
    if response.extensions().get::<InternalErrorMarker>().is_none() {
        return response;
    }
    let (parts, _) = response.into_parts();
    let body = serde_json::to_vec(&tollgate_api::ErrorResponse::internal(
        request_id.as_deref(),
    ))
    .unwrap_or_default();
    let mut response = Response::from_parts(parts, axum::body::Body::from(body));
    response
        .headers_mut()
        .remove(axum::http::header::CONTENT_LENGTH);
    response
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(
        "route_not_found",
        format!("There is no route for {method} {}.", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::coded(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}.", uri.path()),
    )
}
