//! `GET /metrics`, and the middleware that counts every request for it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiResult;
use crate::app::AppState;
use crate::telemetry::handle;

/// Counts and times every request by its route template (never the raw path,
/// so ids do not explode the label set).
pub async fn track_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("tollgate_http_requests_total", &labels).increment(1);
    metrics::histogram!("tollgate_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
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
