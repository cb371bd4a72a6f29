//! A paid call's commands: reserve, capture, release and the one-write charge.

use super::Batch;
use crate::clock::Timestamp;
use crate::id::{BudgetId, HoldId, OrderId, TransactionId, UserId};
use crate::ledger::{plan_debit, KeyAnswer, LedgerError, Reply};
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
        answer: Option<&KeyAnswer>,
    ) -> Result<TransactionRow, LedgerError> {
        let hold = self
            .take_hold(user_id, hold_id)
            .ok_or(LedgerError::UnknownHold)?;
        if answer.is_some_and(|a| !self.owns(user_id, a)) {
            // A retry took the key over and runs the call itself: this run
            // is released, so the request is charged once.
            if let Some(order_id) = hold.reference.as_deref().and_then(OrderId::parse) {
                let code = LedgerError::ClaimLost.order_code();
                self.finish_order(order_id, OrderStatus::Failed, Some(code), None, duration_ms);
            }
            return Err(LedgerError::ClaimLost);
        }
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
        self.record_response(user_id, answer);
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
        answer: Option<&KeyAnswer>,
        record_refusal: bool,
    ) -> Result<TransactionRow, LedgerError> {
        let user_id = order.user_id;
        let refusal = match answer {
            Some(a) if !self.owns(user_id, a) => Some(LedgerError::ClaimLost),
            _ => budget.and_then(|b| self.check_caps(b, amount).err()),
        };
        if let Some(e) = refusal {
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
        self.record_response(user_id, answer);
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
        (key, body): (&str, &str),
        hash: &str,
        stale_before: i64,
    ) -> Result<Reply, LedgerError> {
        let slot = (order.user_id, key.to_string());
        let before = self.keys.get(&slot).cloned();
        let claimed_at = match self.claim(order.user_id, key, hash, stale_before) {
            IdempotencyClaim::Existing(row) => {
                return Ok(Reply::Claim(IdempotencyClaim::Existing(row)))
            }
            IdempotencyClaim::Claimed(at) => at,
        };
        let answer = KeyAnswer {
            key: key.to_string(),
            body: body.to_string(),
            claimed_at,
        };
        let charged = self.charge(amount, budget, order, Some(&answer), false);
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
    fn record_response(&mut self, user_id: UserId, answer: Option<&KeyAnswer>) {
        if let Some(answer) = answer {
            self.finish_key(user_id, answer, 200);
        }
    }

    /// True while `answer`'s key is the claim it names: in progress, and
    /// claimed at its `claimed_at`. Not once it is finished, given up, or
    /// taken over by a retry of a request counted dead.
    fn owns(&self, user_id: UserId, answer: &KeyAnswer) -> bool {
        self.keys
            .get(&(user_id, answer.key.clone()))
            .and_then(|slot| slot.row.as_ref())
            .is_some_and(|row| {
                row.status == IdempotencyStatus::InProgress && row.created_at == answer.claimed_at
            })
    }

    /// Records `answer` with `status` as the answer to `user_id`'s key, if
    /// the key is still the claim `answer` names ([`Batch::owns`]). A later
    /// claim of the key in the batch replays it; a key claimed in the batch
    /// itself is written once, done.
    pub(super) fn finish_key(&mut self, user_id: UserId, answer: &KeyAnswer, status: i64) {
        if !self.owns(user_id, answer) {
            return;
        }
        let slot = self
            .keys
            .get_mut(&(user_id, answer.key.clone()))
            .expect("an owned key is loaded");
        let row = slot.row.as_mut().expect("an owned key has its row");
        row.status = IdempotencyStatus::Done;
        row.response_status = Some(status);
        row.response_body = Some(answer.body.clone());
        if slot.claimed {
            return;
        }
        self.idempotency.push(IdempotencyFinish {
            user_id,
            key: answer.key.clone(),
            claimed_at: answer.claimed_at,
            status,
            body: answer.body.clone(),
        });
    }
}
