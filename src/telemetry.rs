//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`
//! (`http::metrics`), which also counts the requests.
//!
//! - `tollgate_http_requests_total{method,route,status}` and
//!   `tollgate_http_request_duration_seconds{method,route,status}` (histogram);
//! - `tollgate_purchases_total{product,outcome}` and
//!   `tollgate_credits_spent_total{product}`;
//! - `tollgate_runs_total{status}` for finished runs;
//! - `tollgate_callback_deliveries_total{outcome}` per delivery attempt;
//! - gauges `tollgate_runs_queued` and `tollgate_callbacks_pending`, read from
//!   the database at scrape time (the queue is shared by every node).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

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

/// Records a purchase attempt's outcome (`succeeded` or an error code).
pub fn purchase(product: &str, outcome: &str, credits: crate::money::Credits) {
    metrics::counter!("tollgate_purchases_total", "product" => product.to_owned(), "outcome" => outcome.to_owned()).increment(1);
    if outcome == "succeeded" && credits.is_positive() {
        metrics::counter!("tollgate_credits_spent_total", "product" => product.to_owned())
            .increment(credits.get() as u64);
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
