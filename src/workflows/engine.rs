//! What an engine is given while it runs a workflow, and what it returns.

use crate::id::InstanceId;
use crate::id::{OrderId, ProductId};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::app::idempotency::{self, IdempotencyError, IdempotencyKey, NextAction, SavedResponse};
use crate::app::AppState;
use crate::auth::{Caller, Role};
use crate::clock::{to_millis, Timestamp};
use crate::ledger::LedgerError;
use crate::money::Credits;
use crate::purchase::{self, PurchaseError, PurchaseOutcome, PurchaseRequest};
use crate::store::{RunRow, RunStepRow, WorkflowRow};
use crate::tools::ToolError;

/// The request hash a step's key is claimed with: the key names the step.
const STEP_HASH: &str = "run-step";
/// How long a step's claim stands before it counts as dead: a tool call ends
/// within two minutes, and the worker's lease runs out within two more.
const STEP_CLAIM_MS: i64 = 120_000 + 120_000;

/// Step records kept in a run's metadata.
pub const MAX_STEP_RECORDS: usize = 1000;

/// How a run ended, as an engine reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineOutcome {
    Succeeded {
        response_text: Option<String>,
        model: Option<String>,
        session_id: Option<String>,
    },
    Failed {
        code: String,
        message: String,
    },
    Cancelled,
}

/// Why a step could not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StepError {
    /// A stable code, used as the run's `error_code` when the step ends the run.
    pub code: String,
    pub message: String,
}

impl StepError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        StepError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The run being executed and the services a step may use. Tool calls are
/// purchases by the run's owner under the run's budget.
pub struct RunCtx {
    pub app: AppState,
    pub run: RunRow,
    pub workflow: WorkflowRow,
    pub caller: Caller,
    /// The connection instance the run's tool calls share.
    pub instance_id: InstanceId,
    pub lease_owner: String,
    started: Instant,
    metadata: Mutex<Value>,
    /// Set when another worker took the run over; the engine then stops.
    lease_lost: std::sync::atomic::AtomicBool,
}

impl RunCtx {
    pub fn new(
        app: AppState,
        run: RunRow,
        workflow: WorkflowRow,
        lease_owner: String,
    ) -> Arc<RunCtx> {
        let mut metadata: Value =
            serde_json::from_str(&run.run_metadata).unwrap_or_else(|_| json!({}));
        if !metadata.is_object() {
            metadata = json!({});
        }
        // The run's own instance, which the worker made before the run.
        let instance_id = InstanceId::from(run.id);
        metadata["instance_id"] = Value::String(instance_id.to_string());
        metadata["engine"] = Value::from(workflow.engine.as_str());
        metadata["workflow_version"] = json!(workflow.version);
        if !metadata["steps"].is_array() {
            metadata["steps"] = json!([]);
        }
        let caller = Caller {
            user_id: run.user_id,
            budget_id: run.budget_id,
            role: Role::Customer,
            api_key_id: None,
        };
        Arc::new(RunCtx {
            app,
            run,
            workflow,
            caller,
            instance_id,
            lease_owner,
            started: Instant::now(),
            metadata: Mutex::new(metadata),
            lease_lost: Default::default(),
        })
    }

    /// The run's metadata so far: `steps` (one record per step), credits spent, timings.
    pub fn metadata(&self) -> Value {
        let mut m = self.metadata.lock().expect("metadata lock").clone();
        m["elapsed_ms"] = json!(self.started.elapsed().as_millis() as i64);
        m
    }

    /// Sets a top-level metadata field.
    pub fn set_metadata(&self, key: &str, value: Value) {
        self.metadata.lock().expect("metadata lock")[key] = value;
    }

    /// Credits spent by the run's tool calls so far.
    pub fn credits_spent(&self) -> Credits {
        Credits::new(
            self.metadata.lock().expect("metadata lock")["credits_spent"]
                .as_i64()
                .unwrap_or(0),
        )
    }

    /// Appends a step record (`{step, type, status, order_id?, credits, started_at, duration_ms, ...}`).
    /// Past [`MAX_STEP_RECORDS`] records only the credits are counted and
    /// `steps_truncated` is set, so the metadata stays small.
    pub fn record(&self, record: Value) {
        let mut m = self.metadata.lock().expect("metadata lock");
        if let Some(credits) = record["credits"].as_i64() {
            let spent = m["credits_spent"].as_i64().unwrap_or(0) + credits;
            m["credits_spent"] = json!(spent);
        }
        let full = match m["steps"].as_array_mut() {
            Some(steps) if steps.len() < MAX_STEP_RECORDS => {
                steps.push(record);
                false
            }
            _ => true,
        };
        if full {
            m["steps_truncated"] = json!(true);
        }
    }

    /// True when a succeeded step with this key is already recorded.
    fn has_record(&self, step_key: &str) -> bool {
        let m = self.metadata.lock().expect("metadata lock");
        m["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s["step"] == step_key && s["status"] == "succeeded")
        })
    }

    /// Writes the metadata so far, so pollers see progress.
    pub async fn save_progress(&self, session_id: Option<&str>) {
        let now = Timestamp::from(self.app.clock.now());
        let meta = self.metadata().to_string();
        if let Err(e) = self
            .app
            .store
            .save_run_progress(self.run.id, &self.lease_owner, &meta, session_id, now)
            .await
        {
            tracing::warn!(run_id = %self.run.id, error = %e, "saving run progress failed");
        }
    }

    /// Marks the run as taken over by another worker.
    pub fn mark_lease_lost(&self) {
        self.lease_lost
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True when someone asked to cancel the run, or the lease was lost;
    /// engines check between steps.
    pub async fn cancelled(&self) -> bool {
        if self.lease_lost.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        matches!(self.app.store.run_by_id(self.run.id).await, Ok(Some(r)) if r.cancel_requested)
    }

    /// Calls a tool as a purchase under the run's budget. `step_key` names the
    /// call uniquely within the run: a step that already completed (before a
    /// crash and a takeover) returns its recorded output without running or
    /// charging again.
    pub async fn call_tool(
        &self,
        step_key: &str,
        product: &str,
        action: &str,
        params: Map<String, Value>,
    ) -> Result<Value, StepError> {
        let store = &self.app.store;
        let internal = |e: crate::store::StoreError| {
            StepError::new("internal_error", format!("storage failed: {e}"))
        };
        if let Some(done) = store
            .step_result(self.run.id, step_key)
            .await
            .map_err(internal)?
        {
            // Finished before a takeover: its record is kept from the saved
            // metadata, or written now if the crash came before that save.
            if !self.has_record(step_key) {
                self.record(json!({"step": step_key, "type": "tool", "tool": product, "action": action, "status": "succeeded",
                                   "order_id": done.order_id, "credits": done.credits, "replayed": true}));
            }
            return Ok(serde_json::from_str(&done.output).unwrap_or(Value::Null));
        }
        let started = Instant::now();
        let started_at = to_millis(self.app.clock.now());
        // The charge and the step's result are tied by an idempotency key:
        // the capture records the response under it in its own transaction,
        // so a worker that dies (or loses its lease) after paying cannot make
        // a second worker pay again.
        let key = IdempotencyKey::for_run_step(self.run.id, step_key);
        let in_progress = || {
            StepError::new(
                "step_in_progress",
                format!("step {step_key} is being run by another worker"),
            )
        };
        let claim =
            idempotency::claim_lasting(&self.app, self.run.user_id, &key, STEP_HASH, STEP_CLAIM_MS)
                .await;
        let claim = match claim {
            Ok(next) => next,
            Err(IdempotencyError::Store(e)) => return Err(internal(e)),
            Err(IdempotencyError::Ledger(e)) => {
                return Err(StepError::new("internal_error", e.to_string()))
            }
            Err(_) => return Err(in_progress()),
        };
        let claim = match claim {
            NextAction::StartProcessing(claim) => claim,
            NextAction::ReturnSavedResponse(saved) => {
                let body: Value = serde_json::from_str(&saved.body).unwrap_or(Value::Null);
                if body["success"] != true {
                    return Err(in_progress());
                }
                let outcome = PurchaseOutcome {
                    order_id: body["order_id"]
                        .as_str()
                        .and_then(OrderId::parse)
                        .ok_or_else(in_progress)?,
                    data: body["data"].clone(),
                    price_credits: Credits::new(body["price_credits"].as_i64().unwrap_or(0)),
                    product_id: body["product_id"]
                        .as_str()
                        .and_then(ProductId::parse)
                        .ok_or_else(in_progress)?,
                    action: action.to_string(),
                    // Replayed: its answer is recorded already.
                    recorded_with_charge: true,
                };
                self.finish_step(
                    step_key, product, action, &outcome, started_at, started, true,
                )
                .await?;
                return Ok(outcome.data);
            }
        };
        let request = PurchaseRequest {
            max_price_credits: None,
            product: product.to_string(),
            params,
            action: Some(action.to_string()),
            instance_id: self.instance_id,
            run_id: Some(self.run.id),
        };
        let paid = purchase::purchase_with_key(
            &self.app,
            &self.caller,
            request,
            Some((key.as_str(), claim.at())),
        )
        .await;
        match paid {
            Ok(outcome) => {
                if !outcome.recorded_with_charge {
                    // No charge recorded the response: record it here.
                    let saved = SavedResponse {
                        status: 200,
                        body: purchase::response_text(&outcome, self.instance_id),
                    };
                    idempotency::finish(&self.app, self.run.user_id, &key, claim, &saved)
                        .await
                        .map_err(|e| StepError::new("internal_error", e.to_string()))?;
                }
                self.finish_step(
                    step_key, product, action, &outcome, started_at, started, false,
                )
                .await?;
                Ok(outcome.data)
            }
            // Another worker took the step's key over (this one was counted
            // dead) and runs the step: this run was not charged, and leaves
            // the step to it.
            Err(PurchaseError::Ledger(LedgerError::ClaimLost)) => Err(in_progress()),
            Err(e) => {
                // Nothing was charged: a later attempt may run the step again.
                idempotency::release(&self.app, self.run.user_id, &key, claim)
                    .await
                    .map_err(internal)?;
                let err = step_error(e);
                self.record(json!({"step": step_key, "type": "tool", "tool": product, "action": action, "status": "failed",
                                   "error_code": err.code, "error_message": err.message, "credits": 0,
                                   "duration_ms": started.elapsed().as_millis() as i64}));
                Err(err)
            }
        }
    }

    /// Records a paid step's result for takeovers and in the run's metadata.
    #[allow(clippy::too_many_arguments)]
    async fn finish_step(
        &self,
        step_key: &str,
        product: &str,
        action: &str,
        outcome: &PurchaseOutcome,
        started_at: i64,
        started: Instant,
        replayed: bool,
    ) -> Result<(), StepError> {
        let completed_at = to_millis(self.app.clock.now());
        self.app
            .store
            .record_step(&RunStepRow {
                run_id: self.run.id,
                step_key: step_key.to_string(),
                output: outcome.data.to_string(),
                order_id: Some(outcome.order_id),
                credits: outcome.price_credits,
                started_at: Timestamp::from_millis(started_at),
                completed_at: Timestamp::from_millis(completed_at),
            })
            .await
            .map_err(|e| StepError::new("internal_error", format!("storage failed: {e}")))?;
        if !self.has_record(step_key) {
            self.record(json!({"step": step_key, "type": "tool", "tool": product, "action": action, "status": "succeeded",
                               "order_id": outcome.order_id, "credits": outcome.price_credits, "replayed": replayed,
                               "started_at": crate::clock::iso(crate::clock::from_millis(started_at)),
                               "duration_ms": started.elapsed().as_millis() as i64}));
        }
        Ok(())
    }
}

/// A purchase failure in words a run's caller understands.
pub fn step_error(e: PurchaseError) -> StepError {
    match e {
        PurchaseError::ProductNotFound(p) => {
            StepError::new("tool_not_found", format!("no tool {p:?}"))
        }
        PurchaseError::ProductDisabled => StepError::new("tool_disabled", "the tool is disabled"),
        PurchaseError::BudgetPaused => StepError::new("budget_paused", "the budget is paused"),
        PurchaseError::NotOnBudget { .. } => StepError::new(
            "tool_not_on_budget",
            "the tool is not enabled on the budget",
        ),
        PurchaseError::UnknownAction { available, .. } => StepError::new(
            "invalid_parameters",
            format!("unknown action; use one of {}", available.join(", ")),
        ),
        PurchaseError::InvalidParameters(errors) => StepError::new(
            "invalid_parameters",
            errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.path
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join("."),
                        e.message
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        PurchaseError::PriceNotApproved { price, agreed, .. } => StepError::new(
            "price_not_approved",
            format!("the tool now costs {price} credits, more than the {} the budget's owner agreed to; an approval request was sent", agreed.unwrap_or(Credits::ZERO)),
        ),
        PurchaseError::PriceAboveMax { price, max } => StepError::new(
            "price_above_max",
            format!("the tool costs {price} credits, more than the maximum of {max}"),
        ),
        PurchaseError::MissingCredentials { .. } => StepError::new(
            "missing_credentials",
            "the tool needs credentials that are not stored",
        ),
        PurchaseError::Ledger(crate::ledger::LedgerError::InsufficientCredits {
            available,
            requested,
        }) => StepError::new(
            "insufficient_credits",
            format!("the call costs {requested} credits and {available} are available"),
        ),
        PurchaseError::Ledger(crate::ledger::LedgerError::CapReached { window, cap, .. }) => {
            StepError::new(
                "budget_cap_reached",
                format!("the budget's {window} cap of {cap} credits would be passed"),
            )
        }
        PurchaseError::Ledger(e) => StepError::new("internal_error", e.to_string()),
        PurchaseError::Tool { error, .. } => match error {
            ToolError::InvalidInput { message, .. } => {
                StepError::new("invalid_parameters", message)
            }
            ToolError::Failed(m) => StepError::new("tool_failed", m),
            ToolError::Timeout => StepError::new("tool_timeout", "the tool did not answer in time"),
        },
        PurchaseError::Internal(e) => StepError::new("internal_error", e.to_string()),
    }
}

/// The error that ends a run whose state would pass the operator's limit.
pub fn state_too_large(what: &str, limit: usize) -> StepError {
    StepError::new(
        "run_state_too_large",
        format!(
            "{what} would pass the run's state limit of {limit} bytes; make the workflow's \
             templates and outputs smaller (the operator sets the limit with --run-state-limit-bytes)"
        ),
    )
}

/// An engine runs one workflow run to its end.
#[async_trait]
pub trait Engine: Send + Sync {
    async fn run(&self, ctx: &RunCtx) -> EngineOutcome;
}
