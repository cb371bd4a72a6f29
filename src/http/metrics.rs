//! `GET /metrics`, and the middleware that counts every request for it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiResult;
use crate::app::AppState;
use crate::telemetry::handle;

/// Counts and times every request by its route template (never the raw path,
/// so ids do not explode the label set).
pub async fn track_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().cloned();
    let response = next.run(req).await;
    crate::telemetry::http_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method as a label: a client may send any token as a method, and
/// each would otherwise become a series of its own.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Interfaces",
    operation_id = "telemetry_render",
    summary = "Prometheus metrics",
    description = "Request counts and latency histograms by route and status, purchases and credits spent by product, runs by status, callback deliveries by outcome, ledger batches and the commands in them, and queue depths, in the Prometheus text format.",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain; version=0.0.4", body = String),
        super::openapi::Internal,
    ),
)]
pub async fn render(State(state): State<AppState>) -> ApiResult<Response> {
    crate::services::status::record_gauges(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response())
}
