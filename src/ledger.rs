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
//! Every change goes through the [`engine`]: commands applied in batches,
//! each batch one transaction holding its wallets' locks. Balances, held
//! credits and budget spend are counters kept in the same transactions, so
//! nothing here sums history.

mod batch;
mod command;
pub mod engine;
pub mod sweeper;

use crate::id::UserId;
use crate::id::{GrantId, HoldId, OrderId};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::{to_millis, Clock, Timestamp};
use crate::money::Credits;
use crate::store::{
    Allocation, BudgetRow, GrantRow, HoldRow, IdempotencyClaim, OrderRow, Store, StoreError,
    TransactionRow,
};
pub use command::{ChargeKey, Command, KeyAnswer, Reply};
use engine::Engine;

/// What a ledger operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient credits: {available} available, {requested} requested")]
    InsufficientCredits {
        available: Credits,
        requested: Credits,
    },
    #[error("the budget's {window} cap of {cap} credits would be exceeded ({spent} spent, {requested} requested)")]
    CapReached {
        window: &'static str,
        cap: Credits,
        spent: Credits,
        requested: Credits,
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
    /// The request's idempotency key was taken over by a retry (the
    /// request was counted dead): the retry's run is the one charged.
    #[error("the idempotency key was taken over by a later request")]
    ClaimLost,
    #[error("the ledger is shutting down")]
    Stopped,
    #[error(transparent)]
    Store(StoreError),
}

impl LedgerError {
    /// The code a refused order is recorded with.
    pub fn order_code(&self) -> &'static str {
        match self {
            LedgerError::CapReached { .. } => "budget_cap_reached",
            LedgerError::ClaimLost => "idempotency_key_taken_over",
            _ => "insufficient_credits",
        }
    }
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
    pub user_id: UserId,
    pub amount_credits: Credits,
    pub credit_type: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub source_metadata: Option<serde_json::Value>,
}

/// What a caller may spend now.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// Live credits less what holds reserve; never negative.
    pub available: Credits,
    /// Remaining credits of live grants.
    pub live: Credits,
    pub held: Credits,
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
pub fn plan_debit(grants: &[GrantRow], amount: Credits) -> Option<Vec<Allocation>> {
    let mut left = amount;
    let mut plan = Vec::new();
    for g in grants {
        if left == Credits::ZERO {
            break;
        }
        let take = left.min(g.remaining_credits);
        if take.is_positive() {
            plan.push(Allocation {
                grant_id: g.id,
                amount_credits: take,
            });
            left -= take;
        }
    }
    (left == Credits::ZERO).then_some(plan)
}

/// The ledger over a store and a clock.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    engine: Arc<Engine>,
}

fn unexpected(r: Reply) -> LedgerError {
    LedgerError::Store(StoreError::Conflict(match r {
        Reply::Granted(..) => "unexpected grant reply",
        Reply::Transaction(_) => "unexpected transaction reply",
        Reply::Hold(_) => "unexpected hold reply",
        Reply::Count(_) => "unexpected count reply",
        Reply::Claim(_) => "unexpected claim reply",
        Reply::Done => "unexpected empty reply",
    }))
}

impl Ledger {
    /// A ledger whose engine runs on the current Tokio runtime.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let engine = Arc::new(Engine::start(store.clone(), clock.clone()));
        Ledger {
            store,
            clock,
            engine,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// (batches, commands) the engine has run: how well writes were grouped.
    pub fn engine_stats(&self) -> (u64, u64) {
        self.engine.stats()
    }

    async fn transaction(&self, c: Command) -> LedgerResult<TransactionRow> {
        match self.engine.run(c).await? {
            Reply::Transaction(t) => Ok(t),
            r => Err(unexpected(r)),
        }
    }

    async fn done(&self, c: Command) -> LedgerResult<()> {
        match self.engine.run(c).await? {
            Reply::Done => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    /// Adds credits to a wallet.
    pub async fn grant(&self, new: NewGrant) -> LedgerResult<(GrantRow, TransactionRow)> {
        if !new.amount_credits.is_positive() {
            return Err(LedgerError::InvalidAmount);
        }
        if new.expires_at.is_some_and(|e| e <= self.clock.now()) {
            return Err(LedgerError::ExpiryInPast);
        }
        match self.engine.run(Command::Grant(new)).await? {
            Reply::Granted(g, t) => Ok((g, t)),
            r => Err(unexpected(r)),
        }
    }

    /// Revokes what is left of a grant.
    pub async fn revoke(&self, grant_id: GrantId) -> LedgerResult<TransactionRow> {
        let grant = self
            .store
            .grant_by_id(&grant_id.to_string())
            .await?
            .ok_or(LedgerError::UnknownGrant)?;
        self.transaction(Command::Revoke {
            user_id: grant.user_id,
            grant_id,
        })
        .await
    }

    /// Reserves credits for a call. The hold counts against the available
    /// balance, and against the budget's caps when one is given, until it is
    /// captured, released, or swept after `ttl`. When `order` is given it is
    /// recorded in the same transaction: pending with the hold, or failed
    /// with the refusal's code.
    pub async fn reserve(
        &self,
        user_id: UserId,
        amount: Credits,
        ttl: Duration,
        budget: Option<&BudgetRow>,
        order: Option<&OrderRow>,
    ) -> LedgerResult<HoldRow> {
        if !amount.is_positive() {
            return Err(LedgerError::InvalidAmount);
        }
        let c = Command::Reserve {
            user_id,
            amount,
            ttl_ms: ttl.num_milliseconds(),
            budget: budget.cloned(),
            order: order.cloned(),
        };
        match self.engine.run(c).await? {
            Reply::Hold(h) => Ok(h),
            r => Err(unexpected(r)),
        }
    }

    /// Captures a hold: writes the `purchase` and consumes grants in order,
    /// and marks the hold's order succeeded, in one transaction. If grants
    /// expired or were revoked under the hold so that it can no longer be
    /// covered, the hold is released, the order failed, and nothing charged.
    pub async fn capture(
        &self,
        user_id: UserId,
        hold_id: HoldId,
        duration_ms: i64,
    ) -> LedgerResult<TransactionRow> {
        self.capture_with(user_id, hold_id, duration_ms, None).await
    }

    /// [`Ledger::capture`], also recording `answer` as the finished
    /// response of the caller's claimed idempotency key in the same
    /// transaction, so a retry after a crash replays the charge instead of
    /// repeating it. A key no longer the request's claim (a retry took it
    /// over) refuses the capture with [`LedgerError::ClaimLost`] and
    /// releases the hold.
    pub async fn capture_with(
        &self,
        user_id: UserId,
        hold_id: HoldId,
        duration_ms: i64,
        answer: Option<KeyAnswer>,
    ) -> LedgerResult<TransactionRow> {
        self.transaction(Command::Capture {
            user_id,
            hold_id,
            duration_ms,
            idempotent: answer,
        })
        .await
    }

    /// Charges a call that already ran (one write, no hold): the order is
    /// recorded succeeded with the charge, or failed with the refusal's code
    /// when the balance or a cap no longer allows it, and then nothing is
    /// charged. For calls with no outside effect only. Under a claimed
    /// key, `answer` is recorded with the charge, as
    /// [`Ledger::capture_with`] records it.
    pub async fn charge(
        &self,
        amount: Credits,
        budget: Option<&BudgetRow>,
        order: &OrderRow,
        answer: Option<KeyAnswer>,
    ) -> LedgerResult<TransactionRow> {
        if !amount.is_positive() {
            return Err(LedgerError::InvalidAmount);
        }
        self.transaction(Command::Charge {
            amount,
            budget: budget.cloned(),
            order: order.clone(),
            key: answer.map(ChargeKey::Claimed),
        })
        .await
    }

    /// [`Ledger::charge`] of a call made under `key`, which it claims for
    /// the request with `request_hash` and finishes with `body` in the same
    /// command: one write for a keyed call with no outside effect, instead
    /// of a claim before the call and a charge after it. `None` when the
    /// key is another request's (or the same one's, in progress or
    /// finished): nothing is charged and the key stays as it was. A refusal
    /// (credits, a cap) undoes the claim and records no order, so the call
    /// can be made again under a claim of its own, which records it.
    #[allow(clippy::too_many_arguments)]
    pub async fn charge_claiming(
        &self,
        amount: Credits,
        budget: Option<&BudgetRow>,
        order: &OrderRow,
        key: &str,
        body: &str,
        request_hash: &str,
        stale_before: i64,
    ) -> LedgerResult<Option<TransactionRow>> {
        if !amount.is_positive() {
            return Err(LedgerError::InvalidAmount);
        }
        let c = Command::Charge {
            amount,
            budget: budget.cloned(),
            order: order.clone(),
            key: Some(ChargeKey::Claiming {
                key: key.to_string(),
                body: body.to_string(),
                request_hash: request_hash.to_string(),
                stale_before,
            }),
        };
        match self.engine.run(c).await? {
            Reply::Transaction(t) => Ok(Some(t)),
            Reply::Claim(IdempotencyClaim::Existing(_)) => Ok(None),
            r => Err(unexpected(r)),
        }
    }

    /// Releases a hold without charging; its order, if any, fails with `code`.
    pub async fn release(
        &self,
        user_id: UserId,
        hold_id: HoldId,
        code: &str,
        duration_ms: i64,
    ) -> LedgerResult<()> {
        self.done(Command::Release {
            user_id,
            hold_id,
            code: code.to_string(),
            duration_ms,
        })
        .await
    }

    /// Claims `key` for `user_id`'s request with `request_hash` (a claim
    /// made before `stale_before` that never finished counts as dead and is
    /// taken over). The claim is a command like any other, so claims share
    /// the commits of the purchases around them instead of each paying a
    /// write of its own.
    pub async fn claim(
        &self,
        user_id: UserId,
        key: &str,
        request_hash: &str,
        stale_before: i64,
    ) -> LedgerResult<IdempotencyClaim> {
        let c = Command::Claim {
            user_id,
            key: key.to_string(),
            request_hash: request_hash.to_string(),
            stale_before,
        };
        match self.engine.run(c).await? {
            Reply::Claim(claim) => Ok(claim),
            r => Err(unexpected(r)),
        }
    }

    /// Records `answer` with `status` as the answer to `user_id`'s claimed
    /// key, in the engine's next batch; nothing if the key is no longer
    /// the claim's (given up, or taken over by a retry).
    pub async fn finish_key(
        &self,
        user_id: UserId,
        answer: KeyAnswer,
        status: i64,
    ) -> LedgerResult<()> {
        self.done(Command::FinishKey {
            user_id,
            answer,
            status,
        })
        .await
    }

    /// Records an order that needs no hold (a free call), on the wallet's
    /// ledger like every other order.
    pub async fn record_order(&self, order: &OrderRow) -> LedgerResult<()> {
        self.done(Command::RecordOrder(order.clone())).await
    }

    /// Finishes a free call's order: succeeded, or failed with `code`.
    pub async fn finish_order(
        &self,
        user_id: UserId,
        order_id: OrderId,
        code: Option<&str>,
        duration_ms: i64,
    ) -> LedgerResult<()> {
        self.done(Command::FinishOrder {
            user_id,
            order_id,
            code: code.map(str::to_string),
            duration_ms,
        })
        .await
    }

    /// The wallet as the caller sees it now, from its counters; needs no lock.
    pub async fn balance(&self, user_id: UserId) -> LedgerResult<Balance> {
        let now = Timestamp::from(self.clock.now());
        let w = self
            .store
            .wallet(user_id)
            .await?
            .ok_or(LedgerError::UnknownWallet)?;
        let (live, next_expiry) = match w.next_expiry {
            // A grant is due but not yet written off: leave it out.
            Some(e) if e <= now => self.store.live_grants_sum(user_id, now).await?,
            next => (w.balance_credits, next),
        };
        Ok(Balance {
            available: (live - w.held_credits).at_least_zero(),
            live,
            held: w.held_credits,
            next_expiry: next_expiry.map(Timestamp::datetime),
        })
    }

    /// Writes due expirations for up to `limit` wallets; returns how many grants.
    pub async fn sweep_expired(&self, limit: i64) -> LedgerResult<usize> {
        let due_at = to_millis(self.clock.now());
        let mut expired = 0;
        for user_id in self
            .store
            .users_with_due_expirations(Timestamp::from_millis(due_at), limit)
            .await?
        {
            // One wallet's failure is logged and the others still expire.
            match self.engine.run(Command::ExpireDue { user_id }).await {
                Ok(Reply::Count(n)) => expired += n,
                Ok(r) => return Err(unexpected(r)),
                Err(e) => {
                    tracing::warn!(user_id = %user_id, error = %e, "expiring a wallet's grants failed")
                }
            }
        }
        Ok(expired)
    }

    /// Releases up to `limit` holds whose deadline passed; returns how many.
    pub async fn sweep_holds(&self, limit: i64) -> LedgerResult<usize> {
        let now = Timestamp::from(self.clock.now());
        self.release_holds(self.store.overdue_holds(now, limit).await?, now.millis())
            .await
    }

    /// Releases holds made before `before`: on a single node that has just
    /// started, every older hold belongs to a call that died with the
    /// process.
    pub async fn release_holds_before(&self, before: i64, limit: i64) -> LedgerResult<usize> {
        let now = Timestamp::from(self.clock.now());
        self.release_holds(
            self.store
                .holds_created_before(Timestamp::from_millis(before), limit)
                .await?,
            now.millis(),
        )
        .await
    }

    async fn release_holds(&self, holds: Vec<HoldRow>, now: i64) -> LedgerResult<usize> {
        let releases = holds.into_iter().map(|hold| async move {
            self.release(
                hold.user_id,
                hold.id,
                "abandoned",
                now - hold.created_at.millis(),
            )
            .await
        });
        let mut released = 0;
        for r in futures::future::join_all(releases).await {
            match r {
                Ok(()) => released += 1,
                // Captured or released meanwhile, perhaps by another node.
                Err(LedgerError::UnknownHold) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(released)
    }

    /// Forgets spend buckets no cap window reaches any more.
    pub async fn prune_spend(&self) -> LedgerResult<u64> {
        let minute = to_millis(self.clock.now()).div_euclid(60_000);
        Ok(self
            .store
            .prune_spend_buckets(minute - batch::LONGEST_WINDOW_MINUTES - 1)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grant id numbered `n`.
    fn gid(n: u8) -> crate::id::GrantId {
        crate::id::GrantId::parse(&format!("{n:024x}")).expect("an id")
    }

    fn grant(id: u8, expires: Option<i64>, created: i64, remaining: i64) -> GrantRow {
        GrantRow {
            id: gid(id),
            user_id: crate::id::UserId::parse("000000000000000000000001").expect("an id"),
            amount_credits: Credits::new(remaining),
            remaining_credits: Credits::new(remaining),
            credit_type: "admin_grant".into(),
            source_metadata: None,
            date_created: Timestamp::from_millis(created),
            pooled_at: None,
            expires_at: expires.map(Timestamp::from_millis),
            closed_at: None,
            closed_reason: None,
        }
    }

    #[test]
    fn soonest_expiry_first_then_never_expiring_oldest_first() {
        let (never_new, late, never_old, soon) = (1, 2, 3, 4);
        let mut gs = vec![
            grant(never_new, None, 20, 5),
            grant(late, Some(500), 1, 5),
            grant(never_old, None, 10, 5),
            grant(soon, Some(100), 30, 5),
        ];
        consumption_order(&mut gs);
        let ids: Vec<_> = gs.iter().map(|g| g.id).collect();
        assert_eq!(ids, [gid(soon), gid(late), gid(never_old), gid(never_new)]);
    }

    #[test]
    fn a_debit_is_split_in_order_or_refused_whole() {
        let gs = vec![grant(0xa, Some(1), 0, 3), grant(0xb, None, 0, 10)];
        let plan = plan_debit(&gs, Credits::new(5)).unwrap();
        assert_eq!(
            plan,
            vec![
                Allocation {
                    grant_id: gid(0xa),
                    amount_credits: Credits::new(3)
                },
                Allocation {
                    grant_id: gid(0xb),
                    amount_credits: Credits::new(2)
                },
            ]
        );
        assert!(plan_debit(&gs, Credits::new(14)).is_none());
        assert_eq!(plan_debit(&gs, Credits::new(13)).unwrap().len(), 2);
    }
}
