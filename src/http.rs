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
pub mod quotas;
pub mod vendor;
pub mod webhooks;
pub mod workflows;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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

use crate::app::{AppState, Settings};
use error::{internal_body, ApiError, InternalErrorMarker};

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

/// The whole API; `mounted` are the routes of other adapters served on the
/// same listener under the same middleware (the MCP transport).
pub fn router(state: AppState, mounted: Router<AppState>) -> Router {
    let settings = state.settings.clone();
    let api = Router::new()
        .route("/health", get(public::health))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs_page))
        .route("/docs/assets/{file}", get(openapi::docs_asset))
        .merge(embed::routes())
        .route("/ready", get(public::ready))
        .merge(mounted)
        .route("/metrics", get(metrics::render))
        .route("/public/jwt-public-key", get(public::jwt_public_key))
        .route("/.well-known/jwks.json", get(public::jwks))
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route(
            "/budgets/{budget_id}/api-keys",
            post(budgets::create_api_key).get(budgets::list_api_keys),
        )
        .route(
            "/budgets/{budget_id}/api-keys/{key_id}",
            axum::routing::delete(budgets::revoke_api_key),
        )
        .route(
            "/budgets",
            get(budgets::list_budgets).post(budgets::create_budget),
        )
        .route(
            "/budgets/{budget_id}",
            get(budgets::get_budget).patch(budgets::update_budget),
        )
        .route(
            "/budgets/{budget_id}/products/{product_id}",
            axum::routing::put(budgets::enable_product).delete(budgets::disable_product),
        )
        .route("/products/fetch", get(products::fetch))
        .route("/products/purchase", post(products::purchase))
        .route("/issues/report", post(issues::report))
        .route("/credentials", get(credentials::list))
        .route(
            "/credentials/{product_id}/{name}",
            axum::routing::put(credentials::put).delete(credentials::delete),
        )
        .route("/approvals", get(approvals::list))
        .route("/approvals/{approval_id}/approve", post(approvals::approve))
        .route("/approvals/{approval_id}/deny", post(approvals::deny))
        .route("/vendor/products", get(vendor::list).post(vendor::create))
        .route(
            "/vendor/products/{product_id}",
            axum::routing::patch(vendor::update),
        )
        .route("/vendor/issues", get(issues::vendor_list))
        .route(
            "/vendor/issues/{issue_id}",
            axum::routing::patch(issues::vendor_update),
        )
        .route(
            "/api/agent-webhooks/{workflow_id}/trigger",
            post(agent_webhooks::trigger),
        )
        .route(
            "/api/agent-webhooks/runs/{run_id}",
            get(agent_webhooks::get_run),
        )
        .route(
            "/api/agent-webhooks/runs/{run_id}/cancel",
            post(agent_webhooks::cancel_run),
        )
        .route("/workflows", get(workflows::list).post(workflows::create))
        .route(
            "/workflows/{workflow_id}",
            get(workflows::get).patch(workflows::update),
        )
        .route(
            "/budgets/{budget_id}/workflows/{workflow_id}",
            axum::routing::put(workflows::enable).delete(workflows::disable),
        )
        .route("/credits/balance", get(credits::balance))
        .route("/credits/history", get(credits::history))
        .route("/webhooks/secret", get(webhooks::get_secret))
        .route("/webhooks/secret/rotate", post(webhooks::rotate_secret))
        .route("/admin/grants", post(admin::create_grant))
        .route("/admin/grants/{grant_id}/revoke", post(admin::revoke_grant))
        .route(
            "/admin/users/{user_id}/role",
            axum::routing::put(admin::set_user_role),
        )
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
                    let mut response =
                        (StatusCode::INTERNAL_SERVER_ERROR, Json(internal_body(None)))
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
    let body = serde_json::to_vec(&internal_body(request_id.as_deref())).unwrap_or_default();
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
