//! The background sweeper: writes due expirations and releases holds whose
//! call never finished. Safe to run on every node at once: each wallet's work
//! happens under its lock, and an expiration can only be written once.

use std::time::Duration;

use tokio::sync::watch;

use super::Ledger;

/// How many wallets or holds one pass handles before yielding.
const BATCH: i64 = 500;

/// One pass of both sweeps; returns (grants expired, holds released).
pub async fn sweep_once(ledger: &Ledger) -> super::LedgerResult<(usize, usize)> {
    let mut expired = 0;
    loop {
        // A wallet that keeps failing must not stop holds from being released.
        match ledger.sweep_expired(BATCH).await {
            Ok(0) => break,
            Ok(n) => expired += n,
            Err(e) => {
                tracing::warn!(error = %e, "expiring grants failed; releasing holds anyway");
                break;
            }
        }
    }
    let mut released = 0;
    loop {
        let n = ledger.sweep_holds(BATCH).await?;
        released += n;
        if (n as i64) < BATCH {
            break;
        }
    }
    if let Err(e) = ledger.prune_spend().await {
        tracing::warn!(error = %e, "pruning old spend buckets failed; will retry");
    }
    Ok((expired, released))
}

/// Runs the sweeper every `every` until `shutdown` turns true.
pub async fn run(ledger: Ledger, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match sweep_once(&ledger).await {
            Ok((0, 0)) => {}
            Ok((expired, released)) => tracing::info!(expired, released, "ledger sweep"),
            Err(e) => tracing::warn!(error = %e, "ledger sweep failed; will retry"),
        }
    }
}
