//! A paid call's commands: reserve, capture, release and the one-write charge.

use super::Batch;
use crate::clock::Timestamp;
use crate::id::{BudgetId, HoldId, OrderId, TransactionId, UserId};
use crate::ledger::{plan_debit, LedgerError, Reply};
use crate::money::Credits;
use crate::store::{
    BudgetRow, HoldRow, IdempotencyClaim, IdempotencyFinish, IdempotencyStatus, OrderFinish,
    OrderRow, OrderStatus, TransactionRow,
};

impl Batch {
    pub(super) fn reserve(
        &mut self,
        user_id: UserId,
        amount: Credits,
        ttl_ms: i64,
        budget: Option<&BudgetRow>,
        order: Option<&OrderRow>,
    ) -> Result<HoldRow, LedgerError> {
        let refusal = budget
            .and_then(|b| self.check_caps(b, amount).err())
            .or_else(|| {
                // Expired grants stop counting at once; their expiration
                // entries are written by the next capture or sweep.
                let available =
                    (self.live(user_id) - self.wallets[&user_id].row.held_credits).at_least_zero();
                (available < amount).then_some(LedgerError::InsufficientCredits {
                    available,
                    requested: amount,
                })
            });
        if let Some(e) = refusal {
            if let Some(order) = order {
                self.failed_order(order, &e);
            }
            return Err(e);
        }
        let hold = HoldRow {
            id: HoldId::new(),
            user_id,
            budget_id: budget.map(|b| b.id),
            amount_credits: amount,
            reference: order.map(|o| o.id).map(|id| id.to_string()),
            created_at: Timestamp::from_millis(self.now),
            deadline: self.now + ttl_ms,
        };
        if let Some(order) = order {
            self.new_orders.insert(order.id, order.clone());
        }
        self.add_held(user_id, hold.budget_id, amount);
        self.new_holds.insert(hold.id, hold.clone());
        Ok(hold)
    }

    pub(super) fn add_held(
        &mut self,
        user_id: UserId,
        budget_id: Option<BudgetId>,
        amount: Credits,
    ) {
        let w = self.wallet(user_id);
        w.row.held_credits += amount;
        w.dirty = true;
        if let Some(b) = budget_id.and_then(|id| self.budgets.get_mut(&id)) {
            b.row.held_credits += amount;
            b.dirty = true;
        }
    }

    /// Takes the hold out of the batch's view; `None` if it is not the wallet's.
    pub(super) fn take_hold(&mut self, user_id: UserId, hold_id: HoldId) -> Option<HoldRow> {
        let hold = match self.new_holds.remove(&hold_id) {
            Some(h) => h,
            None => {
                let h = self
                    .holds
                    .get(&hold_id)
                    .filter(|h| h.user_id == user_id)?
                    .clone();
                self.holds.remove(&hold_id);
                self.deleted_holds.insert(hold_id);
                h
            }
        };
        if hold.user_id != user_id {
            self.new_holds.insert(hold.id, hold);
            return None;
        }
        self.add_held(user_id, hold.budget_id, -hold.amount_credits);
        Some(hold)
    }

    pub(super) fn finish_order(
        &mut self,
        order_id: OrderId,
        status: OrderStatus,
        code: Option<&str>,
        transaction_id: Option<TransactionId>,
        duration_ms: i64,
    ) {
        if let Some(o) = self.new_orders.get_mut(&order_id) {
            o.status = status;
            o.error_code = code.map(str::to_string);
            o.transaction_id = transaction_id;
            o.completed_at = Some(Timestamp::from_millis(self.now));
            o.duration_ms = Some(duration_ms);
            return;
        }
        self.finished_orders.insert(
            order_id,
            OrderFinish {
                id: order_id,
                status,
                error_code: code.map(str::to_string),
                transaction_id,
                completed_at: Timestamp::from_millis(self.now),
                duration_ms,
            },
        );
    }

    pub(super) fn capture(
        &mut self,
        user_id: UserId,
        hold_id: HoldId,
        duration_ms: i64,
        idempotent: Option<&(String, String)>,
    ) -> Result<TransactionRow, LedgerError> {
        let hold = self
            .take_hold(user_id, hold_id)
            .ok_or(LedgerError::UnknownHold)?;
        self.expire_due(user_id);
        let grants = self.live_grants(user_id);
        let Some(plan) = plan_debit(&grants, hold.amount_credits) else {
            if let Some(order_id) = hold.reference.as_deref().and_then(OrderId::parse) {
                self.finish_order(
                    order_id,
                    OrderStatus::Failed,
                    Some("insufficient_credits"),
                    None,
                    duration_ms,
                );
            }
            return Err(LedgerError::InsufficientCredits {
                available: grants.iter().map(|g| g.remaining_credits).sum(),
                requested: hold.amount_credits,
            });
        };
        let txn = self.debit(
            user_id,
            hold.amount_credits,
            plan,
            hold.budget_id,
            hold.reference.as_deref(),
        );
        if let Some(order_id) = hold.reference.as_deref().and_then(OrderId::parse) {
            self.finish_order(
                order_id,
                OrderStatus::Succeeded,
                None,
                Some(txn.id),
                duration_ms,
            );
        }
        self.record_response(user_id, idempotent);
        Ok(txn)
    }

    pub(super) fn release(
        &mut self,
        user_id: UserId,
        hold_id: HoldId,
        code: &str,
        duration_ms: i64,
    ) -> Result<(), LedgerError> {
        let hold = self
            .take_hold(user_id, hold_id)
            .ok_or(LedgerError::UnknownHold)?;
        if let Some(order_id) = hold.reference.as_deref().and_then(OrderId::parse) {
            self.finish_order(order_id, OrderStatus::Failed, Some(code), None, duration_ms);
        }
        Ok(())
    }

    /// One write for a call that already ran: charges it whole, or refuses
    /// it whole and (if `record_refusal`) records the order as failed.
    pub(super) fn charge(
        &mut self,
        amount: Credits,
        budget: Option<&BudgetRow>,
        order: &OrderRow,
        idempotent: Option<&(String, String)>,
        record_refusal: bool,
    ) -> Result<TransactionRow, LedgerError> {
        let user_id = order.user_id;
        if let Some(e) = budget.and_then(|b| self.check_caps(b, amount).err()) {
            if record_refusal {
                self.failed_order(order, &e);
            }
            return Err(e);
        }
        self.expire_due(user_id);
        let grants = self.live_grants(user_id);
        let live: Credits = grants.iter().map(|g| g.remaining_credits).sum();
        let available = (live - self.wallets[&user_id].row.held_credits).at_least_zero();
        if available < amount {
            let e = LedgerError::InsufficientCredits {
                available,
                requested: amount,
            };
            if record_refusal {
                self.failed_order(order, &e);
            }
            return Err(e);
        }
        let plan = plan_debit(&grants, amount).expect("available credits cover the charge");
        let txn = self.debit(
            user_id,
            amount,
            plan,
            budget.map(|b| b.id),
            Some(&order.id.to_string()),
        );
        let mut done = order.clone();
        done.status = OrderStatus::Succeeded;
        done.transaction_id = Some(txn.id);
        done.completed_at = Some(Timestamp::from_millis(self.now));
        done.duration_ms = Some(order.duration_ms.unwrap_or(0));
        self.new_orders.insert(done.id, done);
        self.record_response(user_id, idempotent);
        Ok(txn)
    }

    /// [`Batch::charge`] that first claims the key of `answer` (key, body)
    /// for the request with `hash`: the key's row answers if it is another
    /// request's, and a refusal undoes the claim and records no order.
    pub(super) fn charge_claiming(
        &mut self,
        amount: Credits,
        budget: Option<&BudgetRow>,
        order: &OrderRow,
        answer: &(String, String),
        hash: &str,
        stale_before: i64,
    ) -> Result<Reply, LedgerError> {
        let slot = (order.user_id, answer.0.clone());
        let before = self.keys.get(&slot).cloned();
        if let IdempotencyClaim::Existing(row) =
            self.claim(order.user_id, &answer.0, hash, stale_before)
        {
            return Ok(Reply::Claim(IdempotencyClaim::Existing(row)));
        }
        let charged = self.charge(amount, budget, order, Some(answer), false);
        if charged.is_err() {
            // Refused: the key is as it was before the claim.
            match before {
                Some(k) => self.keys.insert(slot, k),
                None => self.keys.remove(&slot),
            };
        }
        charged.map(Reply::Transaction)
    }

    /// Stores the response of a charged idempotent request in the batch.
    fn record_response(&mut self, user_id: UserId, idempotent: Option<&(String, String)>) {
        if let Some((key, body)) = idempotent {
            self.finish_key(user_id, key, 200, body);
        }
    }

    /// Records `(status, body)` as the answer to `user_id`'s `key`. A later
    /// claim of the key in the batch replays it; a key claimed in the batch
    /// itself is written once, done.
    ///
    /// A key the batch loaded and found missing (given up while its
    /// request ran) stays missing, as the database's own update of a
    /// missing row would leave it: so no key is both claimed and finished
    /// in one batch.
    pub(super) fn finish_key(&mut self, user_id: UserId, key: &str, status: i64, body: &str) {
        if let Some(slot) = self.keys.get_mut(&(user_id, key.to_string())) {
            let Some(row) = &mut slot.row else {
                return;
            };
            row.status = IdempotencyStatus::Done;
            row.response_status = Some(status);
            row.response_body = Some(body.to_string());
            if slot.claimed {
                return;
            }
        }
        self.idempotency.push(IdempotencyFinish {
            user_id,
            key: key.to_string(),
            status,
            body: body.to_string(),
        });
    }
}
