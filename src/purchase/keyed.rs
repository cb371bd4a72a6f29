//! Purchases under an `Idempotency-Key`: one claimed before the purchase,
//! and the one-write try of a keyed call with no outside effect, whose
//! charge claims the key itself.

use super::{
    action_name, purchase_product, spawned, PurchaseError, PurchaseOutcome, PurchaseRequest,
};
use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::Timestamp;
use crate::ledger::KeyAnswer;

/// How a purchase stands to an `Idempotency-Key`.
#[derive(Clone, Copy)]
pub(super) enum Keyed<'a> {
    No,
    /// Claimed before the purchase, at `at`: a charge records its answer
    /// under it, while it is still that claim.
    Claimed {
        key: &'a str,
        at: Timestamp,
    },
    /// Not claimed yet: the one-write charge claims it (see
    /// [`purchase_claiming`]).
    Claiming {
        key: &'a str,
        request_hash: &'a str,
        stale_before: i64,
    },
}

impl Keyed<'_> {
    /// `body` as the answer to record under a key claimed before the
    /// purchase (a claiming try records its answer as it claims).
    pub(super) fn answer(self, body: impl FnOnce() -> String) -> Option<KeyAnswer> {
        match self {
            Keyed::Claimed { key, at } => Some(KeyAnswer {
                key: key.to_string(),
                body: body(),
                claimed_at: at,
            }),
            Keyed::No | Keyed::Claiming { .. } => None,
        }
    }

    /// True for a try that must leave nothing behind unless it is charged:
    /// every other outcome is left to a run under a claim of its own.
    pub(super) fn claiming(self) -> bool {
        matches!(self, Keyed::Claiming { .. })
    }
}

/// The longest a claiming try's call may run. A call with no outside
/// effect normally answers in microseconds; one that takes longer is made
/// again under a claim, so a try never costs the request more than this.
pub(super) const TRY_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The error a claiming try gives up with; never answered to anyone.
pub(super) fn left_to_a_claimed_run() -> PurchaseError {
    PurchaseError::Internal(anyhow::anyhow!("left to a run under a claimed key"))
}

/// A purchase under an `Idempotency-Key` not claimed yet, tried in one
/// write: a paid call with no outside effect (and no credentials) runs
/// first, and its charge claims the key and records the answer under it in
/// one ledger command (`Ledger::charge_claiming`), instead of a claim
/// before the call and a charge after it, each waiting for a commit.
///
/// `Ok(None)` when the try left nothing behind and the purchase must run
/// under a claim of its own: the product does not qualify; the key is
/// another request's, or this one's already; or the call failed, ran past
/// [`TRY_LIMIT`], was refused, or would have written anything else (an
/// approval request, the budget's agreed prices). That run
/// makes the call again (it has no outside effect) and records what it
/// answers under the key, as every keyed purchase does.
pub async fn purchase_claiming(
    app: &AppState,
    caller: &Caller,
    req: PurchaseRequest,
    key: &str,
    request_hash: &str,
    stale_before: i64,
) -> Result<Option<PurchaseOutcome>, PurchaseError> {
    let Some((product, _)) = app.catalog.snapshot().resolve(&req.product) else {
        return Ok(None);
    };
    let action = action_name(&req.action, &product);
    let qualifies = product.runs_without_outside_effect(&action)
        && product.credentials.is_empty()
        && product
            .action(&action)
            .is_some_and(|a| a.price_credits.is_positive());
    if !qualifies {
        return Ok(None);
    }
    let (key, request_hash) = (key.to_string(), request_hash.to_string());
    let tried = spawned(
        app,
        caller,
        product,
        req,
        false,
        move |app, caller, product, req| async move {
            let keyed = Keyed::Claiming {
                key: &key,
                request_hash: &request_hash,
                stale_before,
            };
            purchase_product(&app, &caller, &product, req, keyed).await
        },
    )
    .await;
    Ok(tried.ok())
}
