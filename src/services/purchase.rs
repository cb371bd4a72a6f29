//! The purchase use case, the same over REST (`POST /products/purchase`)
//! and MCP (a `tools/call`): one call of one tool's action on the caller's
//! connection instance, charged only if it succeeds. The purchase path
//! itself (product, budget, hold, call, capture) is `crate::purchase`; the
//! product is resolved there, once.

use serde_json::{json, Map, Value};

use super::idempotency::{self, IdempotencyKey};
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
/// Under a claimed `key`, the charge records the answer for the key in
/// its own transaction (see [`purchase::purchase_with_key`]).
pub async fn purchase(
    app: &AppState,
    caller: &Caller,
    new: NewPurchase,
    instance_id: InstanceId,
    key: Option<&IdempotencyKey>,
) -> Result<Purchased, PurchaseError> {
    let request = PurchaseRequest {
        product: new.product,
        params: new.params,
        action: new.action,
        instance_id,
        run_id: None,
        max_price_credits: new.max_price_credits,
    };
    let outcome =
        purchase::purchase_with_key(app, caller, request, key.map(IdempotencyKey::as_str)).await?;
    Ok(Purchased {
        outcome,
        instance_id,
    })
}
