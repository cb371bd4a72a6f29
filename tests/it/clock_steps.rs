//! A batch reads the time twice: before its wallets' locks, for the caps'
//! windows, and under them, for its entries. A clock that steps back
//! between the two must not let a cap count a window that starts later
//! than the one of the time the entries carry.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tollgate::clock::{from_millis, Clock};
use tollgate::ledger::{Ledger, LedgerError};
use tollgate::money::Credits;
use tollgate::store::{self, Store};

use crate::harness::{fresh_db, Backend};
use crate::ledger::{funded, pending_order};

const MINUTE_MS: i64 = 60_000;

/// Reads `now` every time, except the one reading after [`Stepping::arm`],
/// which is `once`.
struct Stepping {
    now: AtomicI64,
    once: AtomicI64,
}

impl Stepping {
    /// The next reading is `ms`; the ones after it are `now`'s again.
    fn arm(&self, ms: i64) {
        self.once.store(ms, Ordering::SeqCst);
    }
}

impl Clock for Stepping {
    fn now(&self) -> DateTime<Utc> {
        match self.once.swap(0, Ordering::SeqCst) {
            0 => from_millis(self.now.load(Ordering::SeqCst)),
            once => from_millis(once),
        }
    }
}

async fn a_cap_counts_the_window_of_the_later_reading(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let store: Arc<dyn Store> = store::connect(&db.url).await.unwrap();
    let start = 1_800_000_000_000;
    let clock = Arc::new(Stepping {
        now: AtomicI64::new(start),
        once: AtomicI64::new(0),
    });
    let ledger = Ledger::new(store.clone(), clock.clone());
    let user = funded(store.as_ref(), &ledger, 100).await;
    let mut capped = store.budgets_for_user(user).await.unwrap().remove(0);
    capped.cap_hourly = Some(Credits::new(60));
    let charge = |price: i64| {
        let ledger = &ledger;
        let capped = &capped;
        async move {
            let order = pending_order(user, Credits::new(price));
            ledger
                .charge(Credits::new(price), Some(capped), &order, None)
                .await
        }
    };
    charge(50).await.unwrap();

    // Thirty minutes on, a batch first reads a time seventy minutes on (an
    // hour window that starts after the spend above), then the true time.
    clock.now.store(start + 30 * MINUTE_MS, Ordering::SeqCst);
    clock.arm(start + 70 * MINUTE_MS);
    let refused = charge(20).await;
    assert!(
        matches!(refused, Err(LedgerError::CapReached { spent, .. }) if spent == Credits::new(50)),
        "{refused:?}"
    );
    clock.arm(start + 70 * MINUTE_MS);
    charge(10).await.unwrap();
    assert_eq!(ledger.balance(user).await.unwrap().live, Credits::new(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_counts_the_window_of_the_later_reading_on_sqlite() {
    a_cap_counts_the_window_of_the_later_reading(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_counts_the_window_of_the_later_reading_on_postgres() {
    a_cap_counts_the_window_of_the_later_reading(Backend::Postgres).await
}
