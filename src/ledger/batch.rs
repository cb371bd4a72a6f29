//! One batch of ledger commands applied in memory over the rows they need.
//!
//! The engine loads the wallets (locked), grants, holds and budget counters
//! a batch touches, applies each command in queue order, and writes the
//! changed rows back at the end. Each command checks everything before it
//! changes anything, so a refused command leaves no trace on its neighbours
//! (apart from what it records on purpose, such as a failed order).

use crate::clock::Timestamp;
use crate::id::{BudgetId, GrantId, HoldId, OrderId, TransactionId, UserId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod calls;
mod load;

use super::{consumption_order, ChargeKey, Command, LedgerError, Reply};
use crate::money::Credits;
use crate::store::{
    Allocation, BatchWrites, BucketAdd, BudgetCounterRow, BudgetRow, EntryKind, GrantClosed,
    GrantRow, HoldRow, IdempotencyClaim, IdempotencyFinish, IdempotencyRow, IdempotencyStatus,
    OrderFinish, OrderRow, OrderStatus, TransactionRow, WalletRow,
};

const MINUTE_MS: i64 = 60_000;

/// The rolling cap windows, in minutes: an hour, a day, 7 days, 30 days.
const WINDOWS: [(&str, i64); 4] = [
    ("hourly", 60),
    ("daily", 24 * 60),
    ("weekly", 7 * 24 * 60),
    ("monthly", 30 * 24 * 60),
];

/// The longest window: buckets older than this may be pruned.
pub const LONGEST_WINDOW_MINUTES: i64 = 30 * 24 * 60;

/// The first minute bucket a rolling window counts. A bucket that straddles
/// the window's start counts whole, so a cap can refuse up to a minute early
/// but never lets the window pass it.
fn window_start(now: i64, minutes: i64) -> i64 {
    (now - minutes * MINUTE_MS).div_euclid(MINUTE_MS)
}

fn rolling_caps(b: &BudgetRow) -> [Option<Credits>; 4] {
    [b.cap_hourly, b.cap_daily, b.cap_weekly, b.cap_monthly]
}

struct Wallet {
    row: WalletRow,
    /// Grants with credits left when loaded (some may be spent since).
    grants: Option<Vec<GrantRow>>,
    dirty: bool,
}

struct Budget {
    row: BudgetCounterRow,
    /// Per rolling window: the budget's spend before the window began.
    before: [Option<Credits>; 4],
    dirty: bool,
}

/// The state of one batch.
pub(super) struct Batch {
    now: i64,
    wallets: HashMap<UserId, Wallet>,
    holds: HashMap<HoldId, HoldRow>,
    /// Grants named by revocations, as loaded.
    named_grants: HashMap<GrantId, GrantRow>,
    budgets: HashMap<BudgetId, Budget>,
    dirty_grants: BTreeSet<GrantId>,
    new_grants: BTreeSet<GrantId>,
    new_holds: BTreeMap<HoldId, HoldRow>,
    deleted_holds: BTreeSet<HoldId>,
    new_orders: BTreeMap<OrderId, OrderRow>,
    finished_orders: BTreeMap<OrderId, OrderFinish>,
    transactions: Vec<(TransactionRow, i64)>,
    allocations: Vec<(TransactionId, Allocation)>,
    idempotency: Vec<IdempotencyFinish>,
    /// The idempotency keys claims name, as loaded and then as the batch
    /// leaves them.
    keys: HashMap<(UserId, String), Key>,
    buckets: BTreeMap<(BudgetId, i64), BucketAdd>,
}

/// One idempotency key in a batch.
#[derive(Default, Clone)]
struct Key {
    row: Option<IdempotencyRow>,
    /// Claimed in this batch: `row` is written whole.
    claimed: bool,
}

impl Command {
    /// The wallet the command acts on.
    pub(crate) fn user_id(&self) -> UserId {
        match self {
            Command::Grant(g) => g.user_id,
            Command::Revoke { user_id, .. }
            | Command::Reserve { user_id, .. }
            | Command::Capture { user_id, .. }
            | Command::Release { user_id, .. }
            | Command::FinishOrder { user_id, .. }
            | Command::ExpireDue { user_id }
            | Command::Claim { user_id, .. }
            | Command::FinishKey { user_id, .. } => *user_id,
            Command::Charge { order, .. } | Command::RecordOrder(order) => order.user_id,
        }
    }

    /// True when the command reads or changes the wallet's grants.
    fn needs_grants(&self) -> bool {
        matches!(
            self,
            Command::Grant(_)
                | Command::Revoke { .. }
                | Command::Capture { .. }
                | Command::Charge { .. }
                | Command::ExpireDue { .. }
        )
    }
}

impl Batch {
    /// Applies one command.
    pub(super) fn apply(&mut self, command: &Command) -> Result<Reply, LedgerError> {
        if !self.wallets.contains_key(&command.user_id()) {
            return Err(LedgerError::UnknownWallet);
        }
        match command {
            Command::Grant(g) => self.grant(g).map(|(g, t)| Reply::Granted(g, t)),
            Command::Revoke { user_id, grant_id } => {
                self.revoke(*user_id, *grant_id).map(Reply::Transaction)
            }
            Command::Reserve {
                user_id,
                amount,
                ttl_ms,
                budget,
                order,
            } => self
                .reserve(*user_id, *amount, *ttl_ms, budget.as_ref(), order.as_ref())
                .map(Reply::Hold),
            Command::Capture {
                user_id,
                hold_id,
                duration_ms,
                idempotent,
            } => self
                .capture(*user_id, *hold_id, *duration_ms, idempotent.as_ref())
                .map(Reply::Transaction),
            Command::Release {
                user_id,
                hold_id,
                code,
                duration_ms,
            } => self
                .release(*user_id, *hold_id, code, *duration_ms)
                .map(|()| Reply::Done),
            Command::Charge {
                amount,
                budget,
                order,
                key,
            } => match key {
                Some(ChargeKey::Claiming {
                    key,
                    body,
                    request_hash,
                    stale_before,
                }) => self.charge_claiming(
                    *amount,
                    budget.as_ref(),
                    order,
                    (key, body),
                    request_hash,
                    *stale_before,
                ),
                Some(ChargeKey::Claimed(answer)) => self
                    .charge(*amount, budget.as_ref(), order, Some(answer), true)
                    .map(Reply::Transaction),
                None => self
                    .charge(*amount, budget.as_ref(), order, None, true)
                    .map(Reply::Transaction),
            },
            Command::RecordOrder(order) => {
                self.new_orders.insert(order.id, order.clone());
                Ok(Reply::Done)
            }
            Command::FinishOrder {
                order_id,
                code,
                duration_ms,
                ..
            } => {
                let status = if code.is_some() {
                    OrderStatus::Failed
                } else {
                    OrderStatus::Succeeded
                };
                self.finish_order(*order_id, status, code.as_deref(), None, *duration_ms);
                Ok(Reply::Done)
            }
            Command::ExpireDue { user_id } => Ok(Reply::Count(self.expire_due(*user_id))),
            Command::Claim {
                user_id,
                key,
                request_hash,
                stale_before,
            } => Ok(Reply::Claim(self.claim(
                *user_id,
                key,
                request_hash,
                *stale_before,
            ))),
            Command::FinishKey {
                user_id,
                answer,
                status,
            } => {
                self.finish_key(*user_id, answer, *status);
                Ok(Reply::Done)
            }
        }
    }

    fn claim(
        &mut self,
        user_id: UserId,
        key: &str,
        request_hash: &str,
        stale_before: i64,
    ) -> IdempotencyClaim {
        let now = Timestamp::from_millis(self.now);
        let slot = self.keys.entry((user_id, key.to_string())).or_default();
        if let Some(row) = &slot.row {
            let dead = row.status == IdempotencyStatus::InProgress
                && row.request_hash == request_hash
                && row.created_at.millis() < stale_before;
            if !dead {
                return IdempotencyClaim::Existing(row.clone());
            }
        }
        slot.row = Some(IdempotencyRow {
            user_id,
            key: key.to_string(),
            request_hash: request_hash.to_string(),
            status: IdempotencyStatus::InProgress,
            response_status: None,
            response_body: None,
            created_at: now,
        });
        slot.claimed = true;
        IdempotencyClaim::Claimed(now)
    }

    fn wallet(&mut self, user_id: UserId) -> &mut Wallet {
        self.wallets.get_mut(&user_id).expect("checked in apply")
    }

    fn grants(&mut self, user_id: UserId) -> &mut Vec<GrantRow> {
        self.wallet(user_id)
            .grants
            .as_mut()
            .expect("grants are loaded for commands that need them")
    }

    /// Remaining credits of grants live now.
    fn live(&self, user_id: UserId) -> Credits {
        let w = &self.wallets[&user_id];
        match &w.grants {
            Some(grants) => grants
                .iter()
                .filter(|g| {
                    g.expires_at
                        .is_none_or(|e| e > Timestamp::from_millis(self.now))
                })
                .map(|g| g.remaining_credits)
                .sum(),
            // Not loaded: no grant is due, so every credit is live.
            None => w.row.balance_credits,
        }
    }

    fn append(&mut self, txn: TransactionRow, allocations: Vec<Allocation>) {
        let w = self.wallet(txn.user_id);
        w.row.entry_count += 1;
        w.row.balance_credits = txn.balance_after_credits;
        w.dirty = true;
        let seq = w.row.entry_count;
        for a in allocations {
            self.allocations.push((txn.id, a));
        }
        self.transactions.push((txn, seq));
    }

    fn txn(&self, user_id: UserId, kind: EntryKind, amount: Credits) -> TransactionRow {
        TransactionRow {
            id: TransactionId::new(),
            user_id,
            transaction_type: kind,
            amount_credits: amount,
            balance_after_credits: self.wallets[&user_id].row.balance_credits + amount,
            grant_id: None,
            reference: None,
            date_created: Timestamp::from_millis(self.now),
            budget_id: None,
        }
    }

    /// Writes the `expiration` of every due grant with credits left.
    fn expire_due(&mut self, user_id: UserId) -> usize {
        let now = self.now;
        let due: Vec<(GrantId, Credits)> = self
            .grants(user_id)
            .iter()
            .filter(|g| {
                g.remaining_credits.is_positive()
                    && g.expires_at
                        .is_some_and(|e| e <= Timestamp::from_millis(now))
            })
            .map(|g| (g.id, g.remaining_credits))
            .collect();
        for &(id, remaining) in &due {
            let g = self
                .grants(user_id)
                .iter_mut()
                .find(|g| g.id == id)
                .expect("listed");
            g.remaining_credits = Credits::ZERO;
            g.closed_at = Some(Timestamp::from_millis(now));
            g.closed_reason = Some(GrantClosed::Expired);
            self.dirty_grants.insert(id);
            let mut txn = self.txn(user_id, EntryKind::Expiration, -remaining);
            txn.grant_id = Some(id);
            self.append(
                txn,
                vec![Allocation {
                    grant_id: id,
                    amount_credits: remaining,
                }],
            );
        }
        due.len()
    }

    fn grant(&mut self, new: &super::NewGrant) -> Result<(GrantRow, TransactionRow), LedgerError> {
        let now = self.now;
        self.expire_due(new.user_id);
        let grant = GrantRow {
            id: GrantId::new(),
            user_id: new.user_id,
            amount_credits: new.amount_credits,
            remaining_credits: new.amount_credits,
            credit_type: new.credit_type.clone(),
            source_metadata: new.source_metadata.as_ref().map(|m| m.to_string()),
            date_created: Timestamp::from_millis(now),
            pooled_at: Some(Timestamp::from_millis(now)),
            expires_at: new
                .expires_at
                .map(crate::clock::to_millis)
                .map(Timestamp::from_millis),
            closed_at: None,
            closed_reason: None,
        };
        self.grants(new.user_id).push(grant.clone());
        self.new_grants.insert(grant.id);
        self.dirty_grants.insert(grant.id);
        let mut txn = self.txn(new.user_id, EntryKind::Grant, new.amount_credits);
        txn.grant_id = Some(grant.id);
        self.append(txn.clone(), Vec::new());
        Ok((grant, txn))
    }

    fn revoke(
        &mut self,
        user_id: UserId,
        grant_id: GrantId,
    ) -> Result<TransactionRow, LedgerError> {
        let now = self.now;
        let current = self
            .grants(user_id)
            .iter()
            .find(|g| g.id == grant_id)
            .cloned()
            .or_else(|| {
                self.named_grants
                    .get(&grant_id)
                    .filter(|g| g.user_id == user_id)
                    .cloned()
            })
            .ok_or(LedgerError::UnknownGrant)?;
        // A grant that is due is written off as expired, not revoked: the
        // refusal leaves the wallet as it was.
        let due = current
            .expires_at
            .is_some_and(|e| e <= Timestamp::from_millis(now));
        if current.remaining_credits == Credits::ZERO || current.closed_at.is_some() || due {
            return Err(LedgerError::NothingToRevoke);
        }
        self.expire_due(user_id);
        let g = self
            .grants(user_id)
            .iter_mut()
            .find(|g| g.id == grant_id)
            .expect("an open grant is loaded");
        let remaining = g.remaining_credits;
        g.remaining_credits = Credits::ZERO;
        g.closed_at = Some(Timestamp::from_millis(now));
        g.closed_reason = Some(GrantClosed::Revoked);
        self.dirty_grants.insert(grant_id);
        let mut txn = self.txn(user_id, EntryKind::Revocation, -remaining);
        txn.grant_id = Some(grant_id);
        self.append(
            txn.clone(),
            vec![Allocation {
                grant_id,
                amount_credits: remaining,
            }],
        );
        Ok(txn)
    }

    /// Refuses `amount` if it would take the budget past a cap; holds in
    /// flight count as spent.
    fn check_caps(&self, budget: &BudgetRow, amount: Credits) -> Result<(), LedgerError> {
        if let Some(cap) = budget.cap_per_call {
            if amount > cap {
                return Err(LedgerError::CapReached {
                    window: "per_call",
                    cap,
                    spent: Credits::ZERO,
                    requested: amount,
                });
            }
        }
        let b = &self.budgets[&budget.id];
        let total = b.row.spent_total;
        let rolling = rolling_caps(budget);
        let windows = WINDOWS
            .iter()
            .zip(rolling)
            .zip(b.before)
            .map(|(((name, _), cap), before)| (*name, cap, before.map(|x| total - x)))
            .chain(std::iter::once(("total", budget.cap_total, Some(total))));
        for (window, cap, spent) in windows {
            if let (Some(cap), Some(spent)) = (cap, spent) {
                let committed = spent + b.row.held_credits;
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

    fn failed_order(&mut self, order: &OrderRow, e: &LedgerError) {
        let mut failed = order.clone();
        failed.status = OrderStatus::Failed;
        failed.error_code = Some(e.order_code().into());
        failed.completed_at = Some(Timestamp::from_millis(self.now));
        failed.duration_ms = Some(order.duration_ms.unwrap_or(0));
        self.new_orders.insert(failed.id, failed);
    }

    /// Consumes `plan` and writes the `purchase`, counting it against the budget.
    fn debit(
        &mut self,
        user_id: UserId,
        amount: Credits,
        plan: Vec<Allocation>,
        budget_id: Option<BudgetId>,
        reference: Option<&str>,
    ) -> TransactionRow {
        let now = self.now;
        for a in &plan {
            let g = self
                .grants(user_id)
                .iter_mut()
                .find(|g| g.id == a.grant_id)
                .expect("planned grant");
            g.remaining_credits -= a.amount_credits;
            // A spent grant is closed, as an expired or revoked one is: the
            // indexes over open grants name `closed_at`, so a purchase that
            // leaves credits on the grant rewrites no index entry.
            if g.remaining_credits == Credits::ZERO {
                g.closed_at = Some(Timestamp::from_millis(now));
                g.closed_reason = Some(GrantClosed::Spent);
            }
            self.dirty_grants.insert(a.grant_id);
        }
        let mut txn = self.txn(user_id, EntryKind::Purchase, -amount);
        txn.budget_id = budget_id;
        txn.reference = reference.map(str::to_string);
        self.append(txn.clone(), plan);
        if let Some(id) = budget_id {
            self.spend(id, amount);
        }
        txn
    }

    /// Adds spend to the budget's running total and its current minute.
    ///
    /// The minute's bucket is written with every batch that spends. Keeping
    /// the current minute in the counters' row instead, and writing the
    /// bucket once the minute turns, would save one upsert per budget per
    /// batch; but on SQLite even leaving the upsert out altogether showed no
    /// gain the noise lets through (200-wallet purchase, round medians 0.268
    /// and 0.255 × `/health` against 0.276 and 0.256 with it), while leaving
    /// out three statements a purchase (the bucket, the counters and the
    /// allocation) showed about a tenth (0.313 and 0.292).
    fn spend(&mut self, budget_id: BudgetId, amount: Credits) {
        let minute = self.now.div_euclid(MINUTE_MS);
        let Some(b) = self.budgets.get_mut(&budget_id) else {
            return;
        };
        b.row.spent_total += amount;
        // Buckets only move forward, even when node clocks disagree.
        b.row.last_minute = b.row.last_minute.max(minute);
        b.dirty = true;
        let bucket = self
            .buckets
            .entry((budget_id, b.row.last_minute))
            .or_insert_with(|| BucketAdd {
                budget_id,
                minute: b.row.last_minute,
                amount: Credits::ZERO,
                cumulative: Credits::ZERO,
            });
        bucket.amount += amount;
        bucket.cumulative = b.row.spent_total;
    }

    /// Live grants in consumption order.
    fn live_grants(&mut self, user_id: UserId) -> Vec<GrantRow> {
        let now = self.now;
        let mut live: Vec<GrantRow> = self
            .grants(user_id)
            .iter()
            .filter(|g| {
                g.remaining_credits.is_positive()
                    && g.expires_at.is_none_or(|e| e > Timestamp::from_millis(now))
            })
            .cloned()
            .collect();
        consumption_order(&mut live);
        live
    }

    /// Every changed row, once each.
    pub(super) fn into_writes(self) -> BatchWrites {
        let mut w = BatchWrites {
            now: Timestamp::from_millis(self.now),
            ..Default::default()
        };
        for (_, mut wallet) in self.wallets {
            if let Some(grants) = &wallet.grants {
                for g in grants.iter().filter(|g| self.dirty_grants.contains(&g.id)) {
                    if self.new_grants.contains(&g.id) {
                        w.new_grants.push(g.clone());
                    } else {
                        w.grant_updates.push(g.clone());
                    }
                }
                let next = grants
                    .iter()
                    .filter(|g| g.remaining_credits.is_positive())
                    .filter_map(|g| g.expires_at)
                    .min();
                if next != wallet.row.next_expiry {
                    wallet.row.next_expiry = next;
                    wallet.dirty = true;
                }
            }
            if wallet.dirty {
                w.wallets.push(wallet.row);
            }
        }
        w.new_grants.sort_by_key(|a| a.id);
        w.grant_updates.sort_by_key(|a| a.id);
        w.wallets.sort_by_key(|a| a.user_id);
        w.transactions = self.transactions;
        w.allocations = self.allocations;
        w.new_holds = self.new_holds.into_values().collect();
        w.deleted_holds = self.deleted_holds.into_iter().collect();
        w.new_orders = self.new_orders.into_values().collect();
        w.finished_orders = self.finished_orders.into_values().collect();
        w.idempotency = self.idempotency;
        w.claims = self
            .keys
            .into_values()
            .filter(|k| k.claimed)
            .filter_map(|k| k.row)
            .collect();
        w.claims
            .sort_by(|a, b| (a.user_id, &a.key).cmp(&(b.user_id, &b.key)));
        let mut budgets: Vec<BudgetCounterRow> = self
            .budgets
            .into_values()
            .filter(|b| b.dirty)
            .map(|b| b.row)
            .collect();
        budgets.sort_by_key(|a| a.budget_id);
        w.budgets = budgets;
        w.buckets = self.buckets.into_values().collect();
        w
    }
}
