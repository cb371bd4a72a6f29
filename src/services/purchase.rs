//! The purchase use case, the same over REST (`POST /products/purchase`)
//! and MCP (a `tools/call`): one call of one tool's action on the caller's
//! connection instance, charged only if it succeeds. The purchase path
//! itself (product, budget, hold, call, capture) is `crate::purchase`; the
//! product is resolved there, once. [`buy`] runs a purchase once per
//! `Idempotency-Key`, replaying the first answer to a retry.

use serde_json::{json, Map, Value};

use super::idempotency::{
    self, Answered, Claim, IdempotencyError, IdempotencyKey, NextAction, SavedResponse,
};
use super::instances::{self, InstanceHeaders, InstanceUseError};
use crate::app::AppState;
use crate::auth::Caller;
use crate::id::InstanceId;
use crate::purchase::{self, PurchaseError, PurchaseOutcome, PurchaseRequest};

/// A purchase as a caller asks for it.
#[derive(Debug, Clone)]
pub struct NewPurchase {
    /// The tool's id, slug or name.
    pub product: String,
    pub action: Option<String>,
    /// The action's parameters, without the `action` key.
    pub params: Map<String, Value>,
    /// Refuse the call if it costs more than this.
    pub max_price_credits: Option<crate::money::Credits>,
}

impl NewPurchase {
    /// The hash an `Idempotency-Key` is claimed with for this purchase.
    pub fn request_hash(&self) -> String {
        let mut request = json!({
            "product": self.product,
            "action": self.action,
            "parameters": idempotency::canonical(&Value::Object(self.params.clone())),
        });
        if let Some(max) = self.max_price_credits {
            request["max_price_credits"] = max.into();
        }
        idempotency::request_hash(&request)
    }

    /// The purchase on the caller's connection instance `instance_id`.
    fn into_request(self, instance_id: InstanceId) -> PurchaseRequest {
        PurchaseRequest {
            product: self.product,
            params: self.params,
            action: self.action,
            instance_id,
            run_id: None,
            max_price_credits: self.max_price_credits,
        }
    }
}

/// A charged (or free) successful call.
#[derive(Debug, Clone)]
pub struct Purchased {
    pub outcome: PurchaseOutcome,
    pub instance_id: InstanceId,
}

impl Purchased {
    /// The answer to the call, the same over REST and MCP.
    pub fn response(&self) -> tollgate_api::PurchaseResponse {
        purchase::response(&self.outcome, self.instance_id)
    }

    /// [`Purchased::response`] as JSON, for an MCP tool result.
    pub fn response_body(&self) -> Value {
        serde_json::to_value(self.response()).expect("a purchase response serializes")
    }

    /// [`Purchased::response`] as the JSON text an idempotency key records.
    pub fn response_text(&self) -> String {
        purchase::response_text(&self.outcome, self.instance_id)
    }
}

/// Buys one call for `caller` on its connection instance `instance_id`.
/// Under a `key` the request holds by `claim`, the charge records the
/// answer for the key in its own transaction (see
/// [`purchase::purchase_with_key`]).
pub async fn purchase(
    app: &AppState,
    caller: &Caller,
    new: NewPurchase,
    instance_id: InstanceId,
    key: Option<(&IdempotencyKey, Claim)>,
) -> Result<Purchased, PurchaseError> {
    let request = new.into_request(instance_id);
    let key = key.map(|(key, claim)| (key.as_str(), claim.at()));
    let outcome = purchase::purchase_with_key(app, caller, request, key).await?;
    Ok(Purchased {
        outcome,
        instance_id,
    })
}

/// Why a purchase request got no purchase.
#[derive(Debug, thiserror::Error)]
pub enum BuyError {
    #[error(transparent)]
    Instance(#[from] InstanceUseError),
    #[error(transparent)]
    Purchase(#[from] PurchaseError),
}

/// The answer to a purchase request.
#[derive(Debug)]
pub enum Answer {
    /// Bought now, without an `Idempotency-Key`.
    Bought(Purchased),
    /// The answer recorded for the request's `Idempotency-Key`: made now,
    /// or by an earlier request with the key (`replayed`).
    Recorded {
        response: SavedResponse,
        replayed: bool,
    },
}

/// Buys one call on the connection instance that `instance` names, once
/// per `key`: a retry with the key and the same request gets the first
/// answer again, and a different request under the key is refused.
///
/// `record` turns a refusal into the answer recorded for the key, in the
/// adapter's shape. A fault that leaves nothing durable is answered `Err`
/// instead: the key is released and a retry runs again. Under a key the
/// purchase runs in its own task from the claim on, so a client that goes
/// away does not cut a vendor call off from its charge. A paid call with
/// no outside effect is first tried in one write whose charge claims the
/// key (`buy_claiming`); what that try cannot settle runs as above.
pub async fn buy<E, R>(
    app: &AppState,
    caller: Caller,
    new: NewPurchase,
    instance: InstanceHeaders,
    key: Option<IdempotencyKey>,
    record: R,
) -> Result<Answer, E>
where
    E: From<BuyError> + From<IdempotencyError> + Send + 'static,
    R: FnOnce(BuyError) -> Result<SavedResponse, E> + Send + 'static,
{
    let Some(key) = key else {
        let bought = buy_now(app, &caller, new, &instance, None).await?;
        return Ok(Answer::Bought(bought));
    };
    let request_hash = new.request_hash();
    if let Some(bought) = buy_claiming(app, &caller, &new, &instance, &key, &request_hash).await {
        return Ok(Answer::Recorded {
            response: SavedResponse {
                status: 200,
                body: bought.response_text(),
            },
            replayed: false,
        });
    }
    match idempotency::claim(app, caller.user_id, &key, &request_hash).await? {
        NextAction::ReturnSavedResponse(response) => Ok(Answer::Recorded {
            response,
            replayed: true,
        }),
        NextAction::StartProcessing(claim) => {
            let (state, user_id) = (app.clone(), caller.user_id);
            let work = {
                let key = key.clone();
                async move {
                    match buy_now(&state, &caller, new, &instance, Some((&key, claim))).await {
                        Ok(bought) => Ok(Answered {
                            response: SavedResponse {
                                status: 200,
                                body: bought.response_text(),
                            },
                            recorded: bought.outcome.recorded_with_charge,
                        }),
                        Err(e) => record(e).map(|response| Answered {
                            response,
                            recorded: false,
                        }),
                    }
                }
            };
            let response = idempotency::run_claimed(app, user_id, &key, claim, work).await?;
            Ok(Answer::Recorded {
                response,
                replayed: false,
            })
        }
    }
}

/// A keyed purchase tried in one write (`purchase::purchase_claiming`): a
/// paid call with no outside effect is charged with its key claimed and
/// answered in the same ledger command. `None` when it left nothing behind
/// and must run under a claim of its own.
async fn buy_claiming(
    app: &AppState,
    caller: &Caller,
    new: &NewPurchase,
    instance: &InstanceHeaders,
    key: &IdempotencyKey,
    request_hash: &str,
) -> Option<Purchased> {
    if instance.metadata.is_some() {
        // Storing the metadata is a write: left to the run under a claim.
        return None;
    }
    let instance_id = instances::resolve(app, caller, instance).await.ok()?;
    let request = new.clone().into_request(instance_id);
    let stale_before = idempotency::request_stale_before(app);
    let outcome = purchase::purchase_claiming(
        app,
        caller,
        request,
        key.as_str(),
        request_hash,
        stale_before,
    )
    .await
    .ok()??;
    Some(Purchased {
        outcome,
        instance_id,
    })
}

async fn buy_now(
    app: &AppState,
    caller: &Caller,
    new: NewPurchase,
    instance: &InstanceHeaders,
    key: Option<(&IdempotencyKey, Claim)>,
) -> Result<Purchased, BuyError> {
    let instance_id = instances::resolve(app, caller, instance).await?;
    Ok(purchase(app, caller, new, instance_id, key).await?)
}
