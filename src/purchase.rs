//! Purchase-and-invoke: the hot path. Resolve the product, check the budget,
//! validate the parameters, hold the price, run the tool under a time limit,
//! then capture on success or release on failure. Every attempt that passes
//! the checks is an order.

use crate::id::InstanceId;
use crate::id::{ApprovalId, OrderId};
use crate::id::{ProductId, RunId};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::app::{AppInner, AppState};
use crate::auth::Caller;
use crate::catalog::{Lookup, Product};
use crate::clock::Timestamp;
use crate::ledger::LedgerError;
use crate::money::Credits;
use crate::store::{BudgetStatus, OrderRow, OrderStatus};
use crate::tools::{vendor, ToolContext, ToolError};

mod consent;
mod credentials;
mod keyed;
mod params;

use consent::{check_agreed_price, request_product};
pub use credentials::{credential_request, missing_credential};
pub use keyed::purchase_claiming;
use keyed::{left_to_a_claimed_run, Keyed};
pub use params::{validate_params, ParamError};

/// A purchase to make.
#[derive(Debug, Clone)]
pub struct PurchaseRequest {
    pub product: String,
    /// `parameters` without the `action` key.
    pub params: Map<String, Value>,
    pub action: Option<String>,
    pub instance_id: InstanceId,
    pub run_id: Option<RunId>,
    /// Refuse the call if it costs more than this.
    pub max_price_credits: Option<Credits>,
}

/// A completed, charged call.
#[derive(Debug, Clone)]
pub struct PurchaseOutcome {
    pub order_id: OrderId,
    pub data: Value,
    pub price_credits: Credits,
    pub product_id: ProductId,
    pub action: String,
    /// The charge recorded this call's response under the request's
    /// `Idempotency-Key`, in the charge's own transaction (a paid call with
    /// a key; a free call has no charge to record it with).
    pub recorded_with_charge: bool,
}

/// Why a purchase did not happen or was not charged.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseError {
    #[error("no product matches {0:?}")]
    ProductNotFound(String),
    #[error("the product is disabled")]
    ProductDisabled,
    #[error("the budget is paused")]
    BudgetPaused,
    #[error("the product is not enabled on this budget")]
    NotOnBudget {
        product_id: ProductId,
        approval_request_id: ApprovalId,
    },
    #[error("unknown action")]
    UnknownAction {
        given: Value,
        available: Vec<String>,
    },
    #[error("invalid parameters")]
    InvalidParameters(Vec<ParamError>),
    #[error("the price rose above what the budget's owner agreed to")]
    PriceNotApproved {
        product_id: ProductId,
        action: String,
        agreed: Option<Credits>,
        price: Credits,
        approval_request_id: ApprovalId,
    },
    #[error("the call costs more than the caller's maximum")]
    PriceAboveMax { price: Credits, max: Credits },
    #[error("credentials are missing")]
    MissingCredentials {
        missing: Vec<Value>,
        request_ids: Vec<ApprovalId>,
    },
    #[error(transparent)]
    Ledger(LedgerError),
    #[error("the tool failed: {error}")]
    Tool {
        error: ToolError,
        order_id: OrderId,
        vendor: bool,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl PurchaseError {
    /// A short stable code for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            PurchaseError::ProductNotFound(_) => "product_not_found",
            PurchaseError::ProductDisabled => "product_disabled",
            PurchaseError::BudgetPaused => "budget_paused",
            PurchaseError::NotOnBudget { .. } => "product_not_on_budget",
            PurchaseError::UnknownAction { .. } | PurchaseError::InvalidParameters(_) => {
                "invalid_parameters"
            }
            PurchaseError::MissingCredentials { .. } => "missing_credentials",
            PurchaseError::PriceNotApproved { .. } => "price_not_approved",
            PurchaseError::PriceAboveMax { .. } => "price_above_max",
            PurchaseError::Ledger(LedgerError::InsufficientCredits { .. }) => {
                "insufficient_credits"
            }
            PurchaseError::Ledger(LedgerError::CapReached { .. }) => "budget_cap_reached",
            PurchaseError::Ledger(LedgerError::ClaimLost) => "idempotency_key_taken_over",
            PurchaseError::Ledger(_) => "ledger_error",
            PurchaseError::Tool {
                error: ToolError::InvalidInput { .. },
                ..
            } => "tool_input_error",
            PurchaseError::Tool {
                error: ToolError::Failed(_),
                ..
            } => "tool_failed",
            PurchaseError::Tool {
                error: ToolError::Timeout,
                ..
            } => "tool_timeout",
            PurchaseError::Internal(_) => "internal_error",
        }
    }
}

impl From<crate::store::StoreError> for PurchaseError {
    fn from(e: crate::store::StoreError) -> Self {
        PurchaseError::Internal(e.into())
    }
}

/// The body of a successful `POST /products/purchase`.
pub fn response(
    outcome: &PurchaseOutcome,
    instance_id: InstanceId,
) -> tollgate_api::PurchaseResponse {
    tollgate_api::PurchaseResponse {
        success: true,
        data: outcome.data.clone(),
        order_id: outcome.order_id.to_string(),
        instance_id: instance_id.to_string(),
        product_id: outcome.product_id.to_string(),
        action: outcome.action.clone(),
        price_credits: outcome.price_credits.get(),
    }
}

/// [`response`] as the JSON text an idempotency key records.
pub fn response_text(outcome: &PurchaseOutcome, instance_id: InstanceId) -> String {
    serde_json::to_string(&response(outcome, instance_id)).expect("a purchase response serializes")
}

/// The action a purchase names: the one given, or a product's only one.
fn action_name(given: &Option<String>, product: &Product) -> String {
    action_of(given, product).to_owned()
}

fn action_of<'a>(given: &'a Option<String>, product: &'a Product) -> &'a str {
    match (given, product.actions.len()) {
        (Some(a), _) => a,
        (None, 1) => &product.actions[0].name,
        (None, _) => "",
    }
}

/// Runs a purchase for `caller`, counting its outcome in the metrics. Under
/// an `Idempotency-Key` claimed at the given time, a charged success
/// records its response for the key in the charge's own transaction, so a
/// retry after a crash replays the charge instead of repeating it. If a
/// retry has taken the key over meanwhile (this request was counted dead),
/// the charge is refused (`LedgerError::ClaimLost`): the retry's run is
/// the one charged.
///
/// The purchase runs in a task of its own, which the caller only waits for:
/// a client that goes away mid-call cannot stop a vendor's finished work
/// from being captured, nor leave a hold to the sweeper.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %caller.user_id, product = %req.product))]
pub async fn purchase_with_key(
    app: &AppState,
    caller: &Caller,
    req: PurchaseRequest,
    idempotency_key: Option<(&str, Timestamp)>,
) -> Result<PurchaseOutcome, PurchaseError> {
    let Some((product, _)) = app.catalog.snapshot().resolve(&req.product) else {
        crate::telemetry::purchase("unknown", "product_not_found", Credits::ZERO);
        return Err(PurchaseError::ProductNotFound(req.product));
    };
    let key = idempotency_key.map(|(key, at)| (key.to_string(), at));
    spawned(
        app,
        caller,
        product,
        req,
        true,
        move |app, caller, product, req| async move {
            let keyed = match &key {
                Some((key, at)) => Keyed::Claimed { key, at: *at },
                None => Keyed::No,
            };
            purchase_product(&app, &caller, &product, req, keyed).await
        },
    )
    .await
}

/// Runs `purchase` in a task of its own and counts its success in the
/// metrics, and its refusal if `count_refusal` (a claiming try's is not
/// one: the run under a claim that follows counts its own).
///
/// A call with no outside effect runs in the request's own task instead:
/// it holds nothing, and is charged in one ledger command after it ran, so
/// a client that goes away leaves either no charge (before the command is
/// queued) or a committed one, never a hold or an unpaid vendor. That
/// saves the spawn and the extra wake-up of every such purchase.
async fn spawned<F, Fut>(
    app: &AppState,
    caller: &Caller,
    product: Arc<Product>,
    req: PurchaseRequest,
    count_refusal: bool,
    purchase: F,
) -> Result<PurchaseOutcome, PurchaseError>
where
    F: FnOnce(AppState, Caller, Arc<Product>, PurchaseRequest) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<PurchaseOutcome, PurchaseError>> + Send,
{
    let in_place = product.runs_without_outside_effect(action_of(&req.action, &product));
    let (app, caller) = (app.clone(), caller.clone());
    let counted = async move {
        let name = product.row.name.clone();
        let result = purchase(app, caller, product, req).await;
        // Labelled by catalog name only, so caller-supplied strings never become labels.
        match &result {
            Ok(o) => crate::telemetry::purchase(&name, "succeeded", o.price_credits),
            Err(e) if count_refusal => crate::telemetry::purchase(&name, e.code(), Credits::ZERO),
            Err(_) => {}
        }
        result
    };
    if in_place {
        return counted.await;
    }
    tokio::spawn(counted)
        .await
        .map_err(|e| PurchaseError::Internal(anyhow::anyhow!("the purchase task failed: {e}")))?
}

async fn purchase_product(
    app: &AppInner,
    caller: &Caller,
    product: &Arc<Product>,
    req: PurchaseRequest,
    keyed: Keyed<'_>,
) -> Result<PurchaseOutcome, PurchaseError> {
    let policy = app.caches.budget(caller.budget_id).await?.ok_or_else(|| {
        PurchaseError::Internal(anyhow::anyhow!("the caller's budget is missing"))
    })?;
    if !policy.enables(product.id()) {
        if keyed.claiming() {
            return Err(left_to_a_claimed_run());
        }
        let approval_request_id = request_product(app, caller, product).await?;
        return Err(PurchaseError::NotOnBudget {
            product_id: product.row.id,
            approval_request_id,
        });
    }
    if !product.is_active() {
        return Err(PurchaseError::ProductDisabled);
    }
    if policy.budget.status != BudgetStatus::Active {
        return Err(PurchaseError::BudgetPaused);
    }

    let action = action_name(&req.action, product);
    let Some(spec) = product.action(&action) else {
        return Err(PurchaseError::UnknownAction {
            given: req.action.map(Value::String).unwrap_or(Value::Null),
            available: product.actions.iter().map(|a| a.name.clone()).collect(),
        });
    };
    let params = Value::Object(req.params);
    validate_params(product, &action, &params).map_err(PurchaseError::InvalidParameters)?;
    let price = spec.price_credits;
    if let Some(max) = req.max_price_credits {
        if price > max {
            return Err(PurchaseError::PriceAboveMax { price, max });
        }
    }
    check_agreed_price(app, caller, &policy, product, &action, price, keyed).await?;

    let credentials = if product.credentials.is_empty() {
        Vec::new()
    } else {
        credentials::resolve(app, caller, product).await?
    };

    let started = Instant::now();
    let now = Timestamp::from(app.clock.now());
    let mut order = OrderRow {
        id: OrderId::new(),
        user_id: caller.user_id,
        budget_id: caller.budget_id,
        product_id: product.row.id.to_string(),
        action: action.clone(),
        price_credits: price,
        status: OrderStatus::Pending,
        error_code: None,
        instance_id: Some(req.instance_id),
        run_id: req.run_id,
        transaction_id: None,
        created_at: now,
        completed_at: None,
        duration_ms: None,
    };
    let elapsed = |started: Instant| started.elapsed().as_millis() as i64;

    // A call must end, and be charged, within the request's own time limit.
    let ceiling = app
        .settings
        .request_timeout
        .saturating_sub(Duration::from_secs(2))
        .max(Duration::from_secs(1));
    let mut timeout = product
        .row
        .timeout_ms
        .map(|ms| Duration::from_millis(ms as u64))
        .unwrap_or(app.settings.tool_timeout)
        .min(ceiling);
    if keyed.claiming() {
        // A try whose call outlasts this is left to the run under a claim,
        // which makes the call again with the whole limit: the two together
        // still end within the request's time limit.
        timeout = timeout.min(keyed::TRY_LIMIT);
    }
    let vendor = product.builtin.is_none();
    let ctx = ToolContext {
        store: app.store.clone(),
        user_id: caller.user_id,
        instance_id: req.instance_id,
        outbound: app.outbound.clone(),
        now: app.clock.now(),
    };
    let run = async {
        let call = async {
            match &product.builtin {
                Some(tool) => tool.call(&action, &params, &ctx).await,
                // Boxed: the HTTP call's state is large, and inline it
                // would be part of every purchase's task, builtin or not,
                // copied whenever the task is moved.
                None => {
                    Box::pin(vendor::call(
                        &app.vendor_client(),
                        product,
                        &action,
                        &params,
                        order.id,
                        caller.user_id,
                        req.instance_id,
                        &credentials,
                        timeout,
                    ))
                    .await
                }
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(ToolError::Timeout),
        }
    };
    let outcome = |data: Value, order_id: OrderId| PurchaseOutcome {
        order_id,
        data,
        price_credits: price,
        product_id: product.row.id,
        action: action.clone(),
        recorded_with_charge: false,
    };
    let tool_failed = |error: ToolError, order_id: OrderId| PurchaseError::Tool {
        error,
        order_id,
        vendor,
    };

    // A call with no outside effect runs first and is charged in one write
    // afterwards; refused then, it is not charged and its answer is dropped.
    if product.runs_without_outside_effect(&action) {
        let result = run.await;
        order.duration_ms = Some(elapsed(started));
        return match result {
            Ok(data) => {
                let mut outcome = outcome(data, order.id);
                if let Keyed::Claiming {
                    key,
                    request_hash,
                    stale_before,
                } = keyed
                {
                    let body = response_text(&outcome, req.instance_id);
                    let charged = app
                        .ledger
                        .charge_claiming(
                            price,
                            Some(&policy.budget),
                            &order,
                            key,
                            &body,
                            request_hash,
                            stale_before,
                        )
                        .await
                        .map_err(PurchaseError::Ledger)?;
                    if charged.is_none() {
                        return Err(left_to_a_claimed_run());
                    }
                    outcome.recorded_with_charge = true;
                } else if price.is_positive() {
                    let answer = keyed.answer(|| response_text(&outcome, req.instance_id));
                    let recorded = answer.is_some();
                    app.ledger
                        .charge(price, Some(&policy.budget), &order, answer)
                        .await
                        .map_err(PurchaseError::Ledger)?;
                    outcome.recorded_with_charge = recorded;
                } else {
                    order.status = OrderStatus::Succeeded;
                    order.completed_at = Some(Timestamp::from(app.clock.now()));
                    app.ledger
                        .record_order(&order)
                        .await
                        .map_err(PurchaseError::Ledger)?;
                }
                Ok(outcome)
            }
            Err(_) if keyed.claiming() => Err(left_to_a_claimed_run()),
            Err(error) => {
                order.status = OrderStatus::Failed;
                order.error_code = Some(tool_error_code(&error).into());
                order.completed_at = Some(Timestamp::from(app.clock.now()));
                app.ledger
                    .record_order(&order)
                    .await
                    .map_err(PurchaseError::Ledger)?;
                Err(tool_failed(error, order.id))
            }
        };
    }

    // Otherwise the price is held first; the order is recorded with the hold
    // and finished with its capture or release, in the same transactions.
    let order_id = order.id;
    let hold = if price.is_positive() {
        // The call ends within `timeout`, then is captured or released at
        // once; the margin only covers a slow database.
        let ttl = chrono::Duration::from_std(timeout + Duration::from_secs(10))
            .unwrap_or(chrono::Duration::minutes(5));
        let hold = app
            .ledger
            .reserve(
                caller.user_id,
                price,
                ttl,
                Some(&policy.budget),
                Some(&order),
            )
            .await
            .map_err(PurchaseError::Ledger)?;
        Some(hold)
    } else {
        app.ledger
            .record_order(&order)
            .await
            .map_err(PurchaseError::Ledger)?;
        None
    };

    match run.await {
        Ok(data) => {
            let mut outcome = outcome(data, order_id);
            match &hold {
                Some(h) => {
                    let answer = keyed.answer(|| response_text(&outcome, req.instance_id));
                    let recorded = answer.is_some();
                    app.ledger
                        .capture_with(caller.user_id, h.id, elapsed(started), answer)
                        .await
                        .map_err(|e| match e {
                            // The sweeper released the hold: the call outlived its deadline.
                            LedgerError::UnknownHold => tool_failed(ToolError::Timeout, order_id),
                            e => PurchaseError::Ledger(e),
                        })?;
                    outcome.recorded_with_charge = recorded;
                }
                None => {
                    app.ledger
                        .finish_order(caller.user_id, order_id, None, elapsed(started))
                        .await
                        .map_err(PurchaseError::Ledger)?;
                }
            }
            Ok(outcome)
        }
        Err(error) => {
            let code = tool_error_code(&error);
            match &hold {
                Some(h) => {
                    if let Err(e) = app
                        .ledger
                        .release(caller.user_id, h.id, code, elapsed(started))
                        .await
                    {
                        // The sweeper releases it after its deadline.
                        tracing::warn!(error = %e, hold_id = %h.id, "releasing a hold failed");
                    }
                }
                None => {
                    app.ledger
                        .finish_order(caller.user_id, order_id, Some(code), elapsed(started))
                        .await
                        .map_err(PurchaseError::Ledger)?;
                }
            }
            Err(tool_failed(error, order_id))
        }
    }
}

fn tool_error_code(error: &ToolError) -> &'static str {
    match error {
        ToolError::InvalidInput { .. } => "tool_input_error",
        ToolError::Failed(_) => "tool_failed",
        ToolError::Timeout => "tool_timeout",
    }
}

/// Used by callers that want to report how a product was found.
pub fn lookup_name(l: Option<Lookup>) -> &'static str {
    l.map(Lookup::as_str).unwrap_or("not_found")
}
