//! A user's credits as the user sees them: the balance an agent may spend
//! and the history of grants and ledger transactions.

use chrono::{DateTime, Utc};

use crate::app::AppInner;
use crate::auth::Caller;
use crate::ledger::LedgerError;
use crate::money::Credits;
use crate::store::{GrantRow, StoreError, TransactionRow};

/// What the caller may spend, and when the soonest of it expires.
#[derive(Debug, Clone)]
pub struct Balance {
    pub available: Credits,
    /// The soonest expiry of credits left, when any are available.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days until `expires_at`, never negative.
    pub expires_in_days: Option<i64>,
}

/// The caller's balance.
pub async fn balance(app: &AppInner, caller: &Caller) -> Result<Balance, LedgerError> {
    let now = app.clock.now();
    let b = app.ledger.balance(caller.user_id).await?;
    let expires_at = b.next_expiry.filter(|_| b.available.is_positive());
    Ok(Balance {
        available: b.available,
        expires_at,
        expires_in_days: expires_at.map(|t| (t - now).num_days().max(0)),
    })
}

/// The newest grants and transactions, up to `limit` of each.
#[derive(Debug, Clone)]
pub struct History {
    pub grants: Vec<GrantRow>,
    pub transactions: Vec<TransactionRow>,
}

/// The caller's history. The wallet is the user's, but an API key sees only
/// its own budget's transactions in it.
pub async fn history(app: &AppInner, caller: &Caller, limit: i64) -> Result<History, StoreError> {
    let grants = app.store.grants_for_user(caller.user_id, limit).await?;
    let transactions = match caller.key_budget() {
        None => {
            app.store
                .transactions_for_user(caller.user_id, limit)
                .await?
        }
        Some(budget) => {
            app.store
                .transactions_for_budget(caller.user_id, budget, limit)
                .await?
        }
    };
    Ok(History {
        grants,
        transactions,
    })
}
