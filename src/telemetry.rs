//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`.
//!
//! - `tollgate_http_requests_total{method,route,status}` and
//!   `tollgate_http_request_duration_seconds{method,route,status}` (histogram);
//! - `tollgate_purchases_total{product,outcome}` and
//!   `tollgate_credits_spent_total{product}`;
//! - `tollgate_runs_total{status}` for finished runs;
//! - `tollgate_callback_deliveries_total{outcome}` per delivery attempt;
//! - gauges `tollgate_runs_queued` and `tollgate_callbacks_pending`, read from
//!   the database at scrape time (the queue is shared by every node).

use crate::http::openapi::schemas as oa;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::http::error::ApiResult;
use crate::http::AppState;

/// The process-wide recorder; installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("tollgate_http_request_duration_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("the metrics recorder is installed once")
    })
}

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

/// Records a purchase attempt's outcome (`succeeded` or an error code).
pub fn purchase(product: &str, outcome: &str, credits: i64) {
    metrics::counter!("tollgate_purchases_total", "product" => product.to_owned(), "outcome" => outcome.to_owned()).increment(1);
    if outcome == "succeeded" && credits > 0 {
        metrics::counter!("tollgate_credits_spent_total", "product" => product.to_owned())
            .increment(credits as u64);
    }
}

/// Records a finished run.
pub fn run_finished(status: &str) {
    metrics::counter!("tollgate_runs_total", "status" => status.to_owned()).increment(1);
}

/// Records a callback delivery attempt's outcome.
pub fn delivery(outcome: &str) {
    metrics::counter!("tollgate_callback_deliveries_total", "outcome" => outcome.to_owned())
        .increment(1);
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Interfaces",
    operation_id = "telemetry_render",
    summary = "Prometheus metrics",
    description = "Request counts and latency histograms by route and status, purchases and credits spent by product, runs by status, callback deliveries by outcome, and queue depths, in the Prometheus text format.",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain; version=0.0.4", body = String),
        (status = 500, description = "Unexpected server error (`internal_error`); the body names the request id.", body = oa::ErrorResponse),
    ),
)]
pub async fn render(State(state): State<AppState>) -> ApiResult<Response> {
    let (queued, pending) = state.store.queue_depths().await?;
    metrics::gauge!("tollgate_runs_queued").set(queued as f64);
    metrics::gauge!("tollgate_callbacks_pending").set(pending as f64);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response())
}
