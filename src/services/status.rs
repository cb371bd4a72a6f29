//! What the server says of itself: whether its database answers, and the
//! gauges of its queues and its ledger engine for the metrics page.

use crate::app::AppInner;
use crate::store::StoreError;

/// Whether the database answers, and which backend it is.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub ready: bool,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
}

/// Pings the database.
pub async fn readiness(app: &AppInner) -> Readiness {
    let ready = match app.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            false
        }
    };
    Readiness {
        ready,
        database: app.store.backend(),
    }
}

/// Sets the gauges read at scrape time: runs queued, callbacks pending, and
/// the ledger engine's batches and the commands in them (commands per batch
/// is how well the engine groups its commits).
pub async fn record_gauges(app: &AppInner) -> Result<(), StoreError> {
    let (queued, pending) = app.store.queue_depths().await?;
    metrics::gauge!("tollgate_runs_queued").set(queued as f64);
    metrics::gauge!("tollgate_callbacks_pending").set(pending as f64);
    let (batches, commands) = app.ledger.engine_stats();
    metrics::counter!("tollgate_ledger_batches_total").absolute(batches);
    metrics::counter!("tollgate_ledger_commands_total").absolute(commands);
    Ok(())
}
