//! The commands the ledger engine applies in its batches, and their
//! answers.

use crate::id::{GrantId, HoldId, OrderId, UserId};
use crate::money::Credits;
use crate::store::{BudgetRow, GrantRow, HoldRow, IdempotencyClaim, OrderRow, TransactionRow};

use super::NewGrant;

/// A change to the ledger, applied by the engine in a batch.
#[derive(Debug, Clone)]
pub enum Command {
    Grant(NewGrant),
    Revoke {
        user_id: UserId,
        grant_id: GrantId,
    },
    Reserve {
        user_id: UserId,
        amount: Credits,
        ttl_ms: i64,
        budget: Option<BudgetRow>,
        order: Option<OrderRow>,
    },
    Capture {
        user_id: UserId,
        hold_id: HoldId,
        duration_ms: i64,
        /// (key, response body) to record as the idempotency key's answer.
        idempotent: Option<(String, String)>,
    },
    Release {
        user_id: UserId,
        hold_id: HoldId,
        code: String,
        duration_ms: i64,
    },
    /// Charges a call that already ran, in one write; `order` (pending, with
    /// its duration) is recorded succeeded or failed.
    Charge {
        amount: Credits,
        budget: Option<BudgetRow>,
        order: OrderRow,
        idempotent: Option<(String, String)>,
        /// (request hash, stale before): the charge first claims
        /// `idempotent`'s key as [`Command::Claim`] does. If the key is
        /// another request's, the key's row answers and nothing is charged;
        /// if the charge is refused, the claim is undone and the refusal
        /// leaves no order. So the call can be run again under a claim of
        /// its own, and nothing of this try is left.
        claim: Option<(String, i64)>,
    },
    RecordOrder(OrderRow),
    FinishOrder {
        user_id: UserId,
        order_id: OrderId,
        code: Option<String>,
        duration_ms: i64,
    },
    ExpireDue {
        user_id: UserId,
    },
    /// Claims an idempotency key for a request (see `app::idempotency`):
    /// the key is the request's if no request has it, or if the one that
    /// has it is the same request, unfinished, and claimed before
    /// `stale_before` (its process died); otherwise the key's row answers.
    Claim {
        user_id: UserId,
        key: String,
        request_hash: String,
        stale_before: i64,
    },
    /// Records a claimed request's answer (one no charge recorded).
    FinishKey {
        user_id: UserId,
        key: String,
        status: i64,
        body: String,
    },
}

/// What a command answers.
#[derive(Debug)]
pub enum Reply {
    Granted(GrantRow, TransactionRow),
    Transaction(TransactionRow),
    Hold(HoldRow),
    Count(usize),
    Claim(IdempotencyClaim),
    Done,
}
