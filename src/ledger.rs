//! The credit ledger and its money rules.
//!
//! - A wallet's balance is never negative.
//! - The sum of a wallet's transactions equals its balance, which equals the
//!   remaining credits of its live grants.
//! - Spending holds credits first, then captures or releases the hold.
//! - Grants are consumed soonest-expiring first (no expiry last), then oldest.
//! - An expired grant is not spendable from the instant it expires; its
//!   `expiration` transaction is written once, by whichever ledger operation
//!   or sweeper touches the wallet first.
//!
//! Every operation is one store transaction holding the wallet's lock.

pub mod sweeper;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::{from_millis, to_millis, Clock};
use crate::id::new_id;
use crate::store::{
    Allocation, BudgetRow, GrantRow, HoldRow, LedgerTx, OrderRow, Store, StoreError, TransactionRow,
};

/// What a ledger operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient credits: {available} available, {requested} requested")]
    InsufficientCredits { available: i64, requested: i64 },
    #[error("the budget's {window} cap of {cap} credits would be exceeded ({spent} spent, {requested} requested)")]
    CapReached {
        window: &'static str,
        cap: i64,
        spent: i64,
        requested: i64,
    },
    #[error("amount must be a positive number of credits")]
    InvalidAmount,
    #[error("the expiry must be in the future")]
    ExpiryInPast,
    #[error("no such wallet")]
    UnknownWallet,
    #[error("no such grant")]
    UnknownGrant,
    #[error("no such hold")]
    UnknownHold,
    #[error("the grant has no credits left to revoke")]
    NothingToRevoke,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        LedgerError::Store(e)
    }
}

pub type LedgerResult<T> = Result<T, LedgerError>;

/// A grant to add.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub user_id: String,
    pub amount_credits: i64,
    pub credit_type: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub source_metadata: Option<serde_json::Value>,
}

/// What a caller may spend now.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// Live credits less what holds reserve; never negative.
    pub available: i64,
    /// Remaining credits of live grants.
    pub live: i64,
    pub held: i64,
    /// The soonest expiry among live grants with credits left.
    pub next_expiry: Option<DateTime<Utc>>,
}

/// The order in which grants are consumed: soonest expiry first, grants that
/// never expire last, then oldest first.
pub fn consumption_order(grants: &mut [GrantRow]) {
    grants.sort_by(|a, b| {
        let ka = (a.expires_at.is_none(), a.expires_at, a.date_created, &a.id);
        let kb = (b.expires_at.is_none(), b.expires_at, b.date_created, &b.id);
        ka.cmp(&kb)
    });
}

/// Splits `amount` across grants in consumption order.
pub fn plan_debit(grants: &[GrantRow], amount: i64) -> Option<Vec<Allocation>> {
    let mut left = amount;
    let mut plan = Vec::new();
    for g in grants {
        if left == 0 {
            break;
        }
        let take = left.min(g.remaining_credits);
        if take > 0 {
            plan.push(Allocation {
                grant_id: g.id.clone(),
                amount_credits: take,
            });
            left -= take;
        }
    }
    (left == 0).then_some(plan)
}

/// Refuses `amount` if it would take the budget past any of its caps. The
/// windows are rolling: the last hour, day, 7 days and 30 days.
async fn check_caps(
    tx: &mut dyn LedgerTx,
    budget: &BudgetRow,
    amount: i64,
    now: i64,
) -> LedgerResult<()> {
    if let Some(cap) = budget.cap_per_call {
        if amount > cap {
            return Err(LedgerError::CapReached {
                window: "per_call",
                cap,
                spent: 0,
                requested: amount,
            });
        }
    }
    let windows = [
        ("hourly", budget.cap_hourly),
        ("daily", budget.cap_daily),
        ("weekly", budget.cap_weekly),
        ("monthly", budget.cap_monthly),
        ("total", budget.cap_total),
    ];
    if windows.iter().all(|(_, cap)| cap.is_none()) {
        return Ok(());
    }
    const HOUR: i64 = 3_600_000;
    let spend = tx
        .budget_spend(
            &budget.id,
            [
                now - HOUR,
                now - 24 * HOUR,
                now - 7 * 24 * HOUR,
                now - 30 * 24 * HOUR,
            ],
        )
        .await?;
    let spent = [spend.hour, spend.day, spend.week, spend.month, spend.total];
    for ((window, cap), spent) in windows.into_iter().zip(spent) {
        if let Some(cap) = cap {
            let committed = spent + spend.held;
            if committed + amount > cap {
                return Err(LedgerError::CapReached {
                    window,
                    cap,
                    spent: committed,
                    requested: amount,
                });
            }
        }
    }
    Ok(())
}

/// The ledger over a store and a clock.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Ledger {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Ledger { store, clock }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn begin(&self, user_id: &str) -> LedgerResult<Box<dyn LedgerTx>> {
        self.store.begin_ledger(user_id).await.map_err(|e| match e {
            StoreError::NotFound => LedgerError::UnknownWallet,
            e => LedgerError::Store(e),
        })
    }

    /// Writes the `expiration` of every grant of the wallet that is due.
    async fn expire_due(tx: &mut dyn LedgerTx, user_id: &str, now: i64) -> LedgerResult<usize> {
        let due = tx.due_grants(now).await?;
        Self::write_expirations(tx, user_id, now, &due).await?;
        Ok(due.len())
    }

    async fn write_expirations(
        tx: &mut dyn LedgerTx,
        user_id: &str,
        now: i64,
        due: &[GrantRow],
    ) -> LedgerResult<()> {
        for g in due {
            let balance = tx.balance() - g.remaining_credits;
            tx.close_grant(&g.id, 0, Some(now), Some("expired")).await?;
            let txn = TransactionRow {
                id: new_id(),
                user_id: user_id.to_string(),
                transaction_type: "expiration".into(),
                amount_credits: -g.remaining_credits,
                balance_after_credits: balance,
                grant_id: Some(g.id.clone()),
                reference: None,
                date_created: now,
                budget_id: None,
            };
            tx.insert_transaction(
                &txn,
                &[Allocation {
                    grant_id: g.id.clone(),
                    amount_credits: g.remaining_credits,
                }],
            )
            .await?;
            tx.set_balance(balance, now).await?;
        }
        Ok(())
    }

    /// Writes the expirations due among the wallet's grants with credits
    /// left, and returns the live ones: one read for capture's two needs.
    async fn expire_open(
        tx: &mut dyn LedgerTx,
        user_id: &str,
        now: i64,
    ) -> LedgerResult<Vec<GrantRow>> {
        let open = tx.open_grants().await?;
        let (due, live): (Vec<GrantRow>, Vec<GrantRow>) = open
            .into_iter()
            .partition(|g| g.expires_at.is_some_and(|e| e <= now));
        Self::write_expirations(tx, user_id, now, &due).await?;
        Ok(live)
    }

    /// Adds credits to a wallet.
    pub async fn grant(&self, new: NewGrant) -> LedgerResult<(GrantRow, TransactionRow)> {
        if new.amount_credits <= 0 {
            return Err(LedgerError::InvalidAmount);
        }
        let expires_at = new.expires_at.map(to_millis);
        if expires_at.is_some_and(|e| e <= to_millis(self.clock.now())) {
            return Err(LedgerError::ExpiryInPast);
        }
        let mut tx = self.begin(&new.user_id).await?;
        // Time is read under the wallet's lock, so each wallet's entries are
        // dated in the order they were written.
        let now = to_millis(self.clock.now());
        Self::expire_due(tx.as_mut(), &new.user_id, now).await?;
        let grant = GrantRow {
            id: new_id(),
            user_id: new.user_id.clone(),
            amount_credits: new.amount_credits,
            remaining_credits: new.amount_credits,
            credit_type: new.credit_type,
            source_metadata: new.source_metadata.map(|m| m.to_string()),
            date_created: now,
            pooled_at: Some(now),
            expires_at,
            closed_at: None,
            closed_reason: None,
        };
        tx.insert_grant(&grant).await?;
        let balance = tx.balance() + new.amount_credits;
        let txn = TransactionRow {
            id: new_id(),
            user_id: new.user_id.clone(),
            transaction_type: "grant".into(),
            amount_credits: new.amount_credits,
            balance_after_credits: balance,
            grant_id: Some(grant.id.clone()),
            reference: None,
            date_created: now,
            budget_id: None,
        };
        tx.insert_transaction(&txn, &[]).await?;
        tx.set_balance(balance, now).await?;
        tx.commit().await?;
        Ok((grant, txn))
    }

    /// Revokes what is left of a grant.
    pub async fn revoke(&self, grant_id: &str) -> LedgerResult<TransactionRow> {
        let grant = self
            .store
            .grant_by_id(grant_id)
            .await?
            .ok_or(LedgerError::UnknownGrant)?;
        let mut tx = self.begin(&grant.user_id).await?;
        let now = to_millis(self.clock.now());
        Self::expire_due(tx.as_mut(), &grant.user_id, now).await?;
        let grant = tx.grant(grant_id).await?.ok_or(LedgerError::UnknownGrant)?;
        if grant.remaining_credits == 0 || grant.closed_at.is_some() {
            return Err(LedgerError::NothingToRevoke);
        }
        let balance = tx.balance() - grant.remaining_credits;
        tx.close_grant(&grant.id, 0, Some(now), Some("revoked"))
            .await?;
        let txn = TransactionRow {
            id: new_id(),
            user_id: grant.user_id.clone(),
            transaction_type: "revocation".into(),
            amount_credits: -grant.remaining_credits,
            balance_after_credits: balance,
            grant_id: Some(grant.id.clone()),
            reference: None,
            date_created: now,
            budget_id: None,
        };
        tx.insert_transaction(
            &txn,
            &[Allocation {
                grant_id: grant.id.clone(),
                amount_credits: grant.remaining_credits,
            }],
        )
        .await?;
        tx.set_balance(balance, now).await?;
        tx.commit().await?;
        Ok(txn)
    }

    /// Reserves credits for a call. The hold counts against the available
    /// balance, and against the budget's caps when one is given, until it is
    /// captured, released, or swept after `ttl`. When `order` is given it is
    /// recorded in the same transaction: pending with the hold, or failed
    /// with the refusal's code.
    pub async fn reserve(
        &self,
        user_id: &str,
        amount: i64,
        ttl: Duration,
        budget: Option<&BudgetRow>,
        order: Option<&OrderRow>,
    ) -> LedgerResult<HoldRow> {
        if amount <= 0 {
            return Err(LedgerError::InvalidAmount);
        }
        let mut tx = self.begin(user_id).await?;
        let now = to_millis(self.clock.now());
        let refusal = match budget {
            // Under the wallet's lock, so concurrent calls cannot both fit
            // under a cap that only one of them fits under.
            Some(budget) => check_caps(tx.as_mut(), budget, amount, now).await.err(),
            None => None,
        };
        let refusal = match refusal {
            Some(e) => Some(e),
            None => {
                // Expired grants stop counting at once; their expiration
                // entries are written by the next capture or sweep.
                let (live, held) = tx.live_and_held(now).await?;
                let available = (live - held).max(0);
                (available < amount).then_some(LedgerError::InsufficientCredits {
                    available,
                    requested: amount,
                })
            }
        };
        if let Some(e) = refusal {
            if let Some(order) = order {
                let code = match e {
                    LedgerError::CapReached { .. } => "budget_cap_reached",
                    _ => "insufficient_credits",
                };
                let mut failed = order.clone();
                failed.status = "failed".into();
                failed.error_code = Some(code.into());
                failed.completed_at = Some(now);
                failed.duration_ms = Some(0);
                tx.insert_order(&failed).await?;
                tx.commit().await?;
            }
            return Err(e);
        }
        let hold = HoldRow {
            id: new_id(),
            user_id: user_id.to_string(),
            budget_id: budget.map(|b| b.id.clone()),
            amount_credits: amount,
            reference: order.map(|o| o.id.clone()),
            created_at: now,
            deadline: now + ttl.num_milliseconds(),
        };
        if let Some(order) = order {
            tx.insert_order(order).await?;
        }
        tx.insert_hold(&hold).await?;
        tx.commit().await?;
        Ok(hold)
    }

    /// Captures a hold: writes the `purchase` and consumes grants in order,
    /// and marks the hold's order succeeded, in one transaction. If grants
    /// expired or were revoked under the hold so that it can no longer be
    /// covered, the hold is released, the order failed, and nothing charged.
    pub async fn capture(
        &self,
        user_id: &str,
        hold_id: &str,
        duration_ms: i64,
    ) -> LedgerResult<TransactionRow> {
        self.capture_with(user_id, hold_id, duration_ms, None).await
    }

    /// [`Ledger::capture`], also recording `(key, body)` as the finished
    /// response of the caller's idempotency key in the same transaction, so a
    /// retry after a crash replays the charge instead of repeating it.
    pub async fn capture_with(
        &self,
        user_id: &str,
        hold_id: &str,
        duration_ms: i64,
        idempotent: Option<(&str, &str)>,
    ) -> LedgerResult<TransactionRow> {
        let mut tx = self.begin(user_id).await?;
        let now = to_millis(self.clock.now());
        let hold = tx.hold(hold_id).await?.ok_or(LedgerError::UnknownHold)?;
        let mut grants = Self::expire_open(tx.as_mut(), user_id, now).await?;
        consumption_order(&mut grants);
        tx.delete_hold(&hold.id).await?;
        let Some(plan) = plan_debit(&grants, hold.amount_credits) else {
            let available = grants.iter().map(|g| g.remaining_credits).sum();
            if let Some(order_id) = &hold.reference {
                tx.finish_order(
                    order_id,
                    "failed",
                    Some("insufficient_credits"),
                    None,
                    now,
                    duration_ms,
                )
                .await?;
            }
            tx.commit().await?;
            return Err(LedgerError::InsufficientCredits {
                available,
                requested: hold.amount_credits,
            });
        };
        for a in &plan {
            let g = grants
                .iter()
                .find(|g| g.id == a.grant_id)
                .expect("planned grant");
            tx.close_grant(&g.id, g.remaining_credits - a.amount_credits, None, None)
                .await?;
        }
        let balance = tx.balance() - hold.amount_credits;
        let txn = TransactionRow {
            id: new_id(),
            user_id: user_id.to_string(),
            transaction_type: "purchase".into(),
            amount_credits: -hold.amount_credits,
            balance_after_credits: balance,
            grant_id: None,
            reference: hold.reference.clone(),
            date_created: now,
            budget_id: hold.budget_id.clone(),
        };
        tx.insert_transaction(&txn, &plan).await?;
        tx.set_balance(balance, now).await?;
        if let Some(order_id) = &hold.reference {
            tx.finish_order(order_id, "succeeded", None, Some(&txn.id), now, duration_ms)
                .await?;
        }
        if let Some((key, body)) = idempotent {
            tx.finish_idempotency_key(key, 200, body).await?;
        }
        tx.commit().await?;
        Ok(txn)
    }

    /// Releases a hold without charging; its order, if any, fails with `code`.
    pub async fn release(
        &self,
        user_id: &str,
        hold_id: &str,
        code: &str,
        duration_ms: i64,
    ) -> LedgerResult<()> {
        let mut tx = self.begin(user_id).await?;
        let now = to_millis(self.clock.now());
        let hold = tx.hold(hold_id).await?.ok_or(LedgerError::UnknownHold)?;
        tx.delete_hold(hold_id).await?;
        if let Some(order_id) = &hold.reference {
            tx.finish_order(order_id, "failed", Some(code), None, now, duration_ms)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records an order that needs no hold (a free call), on the wallet's
    /// ledger like every other order.
    pub async fn record_order(&self, order: &OrderRow) -> LedgerResult<()> {
        let mut tx = self.begin(&order.user_id).await?;
        tx.insert_order(order).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finishes a free call's order: succeeded, or failed with `code`.
    pub async fn finish_order(
        &self,
        user_id: &str,
        order_id: &str,
        code: Option<&str>,
        duration_ms: i64,
    ) -> LedgerResult<()> {
        let mut tx = self.begin(user_id).await?;
        let now = to_millis(self.clock.now());
        let status = if code.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        tx.finish_order(order_id, status, code, None, now, duration_ms)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The wallet as the caller sees it now; needs no lock.
    pub async fn balance(&self, user_id: &str) -> LedgerResult<Balance> {
        let now = self.clock.now();
        let snap = self.store.wallet_snapshot(user_id, to_millis(now)).await?;
        Ok(Balance {
            available: (snap.live_credits - snap.held_credits).max(0),
            live: snap.live_credits,
            held: snap.held_credits,
            next_expiry: snap.next_expiry.map(from_millis),
        })
    }

    /// Writes due expirations for up to `limit` wallets; returns how many grants.
    pub async fn sweep_expired(&self, limit: i64) -> LedgerResult<usize> {
        let due_at = to_millis(self.clock.now());
        let mut expired = 0;
        for user_id in self.store.users_with_due_expirations(due_at, limit).await? {
            // One wallet's failure is logged and the others still expire.
            let one = async {
                let mut tx = self.begin(&user_id).await?;
                let now = to_millis(self.clock.now());
                let n = Self::expire_due(tx.as_mut(), &user_id, now).await?;
                tx.commit().await?;
                Ok::<usize, LedgerError>(n)
            };
            match one.await {
                Ok(n) => expired += n,
                Err(e) => {
                    tracing::warn!(user_id = %user_id, error = %e, "expiring a wallet's grants failed")
                }
            }
        }
        Ok(expired)
    }

    /// Releases up to `limit` holds whose deadline passed; returns how many.
    pub async fn sweep_holds(&self, limit: i64) -> LedgerResult<usize> {
        let now = to_millis(self.clock.now());
        let mut released = 0;
        for hold in self.store.overdue_holds(now, limit).await? {
            match self
                .release(&hold.user_id, &hold.id, "abandoned", now - hold.created_at)
                .await
            {
                Ok(()) => released += 1,
                // Captured or released meanwhile, perhaps by another node.
                Err(LedgerError::UnknownHold) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str, expires: Option<i64>, created: i64, remaining: i64) -> GrantRow {
        GrantRow {
            id: id.into(),
            user_id: "u".into(),
            amount_credits: remaining,
            remaining_credits: remaining,
            credit_type: "admin_grant".into(),
            source_metadata: None,
            date_created: created,
            pooled_at: None,
            expires_at: expires,
            closed_at: None,
            closed_reason: None,
        }
    }

    #[test]
    fn soonest_expiry_first_then_never_expiring_oldest_first() {
        let mut gs = vec![
            grant("never-new", None, 20, 5),
            grant("late", Some(500), 1, 5),
            grant("never-old", None, 10, 5),
            grant("soon", Some(100), 30, 5),
        ];
        consumption_order(&mut gs);
        let ids: Vec<_> = gs.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["soon", "late", "never-old", "never-new"]);
    }

    #[test]
    fn a_debit_is_split_in_order_or_refused_whole() {
        let gs = vec![grant("a", Some(1), 0, 3), grant("b", None, 0, 10)];
        let plan = plan_debit(&gs, 5).unwrap();
        assert_eq!(
            plan,
            vec![
                Allocation {
                    grant_id: "a".into(),
                    amount_credits: 3
                },
                Allocation {
                    grant_id: "b".into(),
                    amount_credits: 2
                },
            ]
        );
        assert!(plan_debit(&gs, 14).is_none());
        assert_eq!(plan_debit(&gs, 13).unwrap().len(), 2);
    }
}
