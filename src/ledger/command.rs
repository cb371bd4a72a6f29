//! The commands the ledger engine applies in its batches, and their
//! answers.

use crate::clock::Timestamp;
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
        /// The answer to record under the request's claimed idempotency
        /// key. If the key is no longer the request's claim, the hold is
        /// released instead and the capture refused.
        idempotent: Option<KeyAnswer>,
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
        key: Option<ChargeKey>,
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
    /// Records a claimed request's answer (one no charge recorded), if the
    /// key is still the request's claim.
    FinishKey {
        user_id: UserId,
        answer: KeyAnswer,
        status: i64,
    },
}

/// A request's answer to record under the idempotency key it claimed.
///
/// Only the key's current claim records an answer or charges under the
/// key: a request counted dead, whose key a retry took over, finds the key
/// no longer its own and is refused, so a retried request is never
/// charged twice, however late the first one ends.
#[derive(Debug, Clone)]
pub struct KeyAnswer {
    pub key: String,
    pub body: String,
    /// The claim's `created_at`, which a claim that takes the key over
    /// replaces.
    pub claimed_at: Timestamp,
}

/// How a [`Command::Charge`] stands to an idempotency key.
#[derive(Debug, Clone)]
pub enum ChargeKey {
    /// Records its answer under a key its request claimed before.
    Claimed(KeyAnswer),
    /// Claims the key for the request with `request_hash` first, as
    /// [`Command::Claim`] does, then records `body` under it. If the key is
    /// another request's, the key's row answers and nothing is charged; if
    /// the charge is refused, the claim is undone and the refusal leaves no
    /// order. So the call can be run again under a claim of its own, and
    /// nothing of this try is left.
    Claiming {
        key: String,
        body: String,
        request_hash: String,
        stale_before: i64,
    },
}

impl ChargeKey {
    /// The key the charge records its answer under.
    pub fn key(&self) -> &str {
        match self {
            ChargeKey::Claimed(a) => &a.key,
            ChargeKey::Claiming { key, .. } => key,
        }
    }
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
