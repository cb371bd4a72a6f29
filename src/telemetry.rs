//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`
//! (`http::metrics`), which also counts the requests.
//!
//! - `tollgate_http_requests_total{method,route,status}` and
//!   `tollgate_http_request_duration_seconds{method,route,status}` (histogram;
//!   `method` is `other` for any but the standard seven);
//! - `tollgate_purchases_total{product,outcome}` and
//!   `tollgate_credits_spent_total{product}`;
//! - `tollgate_runs_total{status}` for finished runs;
//! - `tollgate_callback_deliveries_total{outcome}` per delivery attempt;
//! - gauges `tollgate_runs_queued` and `tollgate_callbacks_pending`, read from
//!   the database at scrape time (the queue is shared by every node).

use std::collections::HashMap;
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

/// A request's counter and latency histogram, kept by route, method and
/// status: every request adds to them, and looking them up in the recorder
/// builds and hashes three label strings each time.
struct RequestSeries {
    requests: metrics::Counter,
    seconds: metrics::Histogram,
}

/// Kept [`RequestSeries`] by route template, then method and status.
type KeptRequests = HashMap<String, HashMap<(&'static str, u16), RequestSeries>>;

static REQUESTS: std::sync::LazyLock<std::sync::RwLock<KeptRequests>> =
    std::sync::LazyLock::new(Default::default);

/// Series of requests kept at most; past this, requests of others look
/// theirs up each time. Routes are templates and methods a fixed set, so a
/// server meets a few hundred at most.
const MAX_KEPT_REQUEST_SERIES: usize = 4_096;

/// Counts a finished request and records how long it took, by its route
/// template (never the raw path), method and status.
pub fn http_request(route: &str, method: &'static str, status: u16, seconds: f64) {
    let record = |s: &RequestSeries| {
        s.requests.increment(1);
        s.seconds.record(seconds);
    };
    {
        let kept = REQUESTS.read().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = kept.get(route).and_then(|r| r.get(&(method, status))) {
            record(s);
            return;
        }
    }
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    let series = RequestSeries {
        requests: metrics::counter!("tollgate_http_requests_total", &labels),
        seconds: metrics::histogram!("tollgate_http_request_duration_seconds", &labels),
    };
    record(&series);
    let mut kept = REQUESTS.write().unwrap_or_else(|e| e.into_inner());
    if kept.values().map(HashMap::len).sum::<usize>() < MAX_KEPT_REQUEST_SERIES {
        kept.entry(route.to_owned())
            .or_default()
            .entry((method, status))
            .or_insert(series);
    }
}

/// Records a purchase attempt's outcome (`succeeded` or an error code).
pub fn purchase(product: &str, outcome: &str, credits: crate::money::Credits) {
    if outcome != "succeeded" {
        metrics::counter!("tollgate_purchases_total", "product" => product.to_owned(), "outcome" => outcome.to_owned()).increment(1);
        return;
    }
    let add = |c: &Succeeded| {
        c.purchases.increment(1);
        if credits.is_positive() {
            c.credits.increment(credits.get() as u64);
        }
    };
    if let Some(c) = SUCCEEDED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(product)
    {
        add(c);
        return;
    }
    // Registered against the Prometheus recorder, never a no-op stand-in.
    handle();
    let c = Succeeded {
        purchases: metrics::counter!("tollgate_purchases_total", "product" => product.to_owned(), "outcome" => "succeeded"),
        credits: metrics::counter!("tollgate_credits_spent_total", "product" => product.to_owned()),
    };
    add(&c);
    let mut kept = SUCCEEDED.write().unwrap_or_else(|e| e.into_inner());
    if kept.len() < MAX_KEPT_PRODUCTS {
        kept.entry(product.to_owned()).or_insert(c);
    }
}

/// A product's counters of successful purchases, kept by catalog name:
/// every paid call adds to them, and looking them up in the recorder builds
/// their labels and hashes them each time.
struct Succeeded {
    purchases: metrics::Counter,
    credits: metrics::Counter,
}

static SUCCEEDED: std::sync::LazyLock<std::sync::RwLock<HashMap<String, Succeeded>>> =
    std::sync::LazyLock::new(Default::default);

/// Products whose counters are kept at most; past this, purchases of
/// others look theirs up each time.
const MAX_KEPT_PRODUCTS: usize = 10_000;

/// Records a finished run.
pub fn run_finished(status: &str) {
    metrics::counter!("tollgate_runs_total", "status" => status.to_owned()).increment(1);
}

/// Records a callback delivery attempt's outcome.
pub fn delivery(outcome: &str) {
    metrics::counter!("tollgate_callback_deliveries_total", "outcome" => outcome.to_owned())
        .increment(1);
}
