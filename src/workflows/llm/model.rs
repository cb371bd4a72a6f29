//! Model calls: the operator's allowed models, the per-user call limits,
//! asking the model (or replaying its stored answer), and charging the
//! answer's tokens through the ledger.

use std::time::Instant;

use serde_json::{json, Value};

use super::chat::{parse_completion, parse_message, Answer, Endpoint};
use super::{save_step, step_output, storage};
use crate::clock::{to_millis, Timestamp};
use crate::money::Credits;
use crate::workflows::engine::{RunCtx, StepError};

#[derive(Default)]
pub(super) struct Usage {
    prompt_tokens: i64,
    completion_tokens: i64,
}

/// Asks the model for its next message, or replays the stored answer of a
/// step that already happened.
pub(super) async fn model_step(
    ctx: &RunCtx,
    endpoint: &Endpoint<'_>,
    step: u32,
    body: &Value,
    requested_model: &str,
    usage: &mut Usage,
) -> Result<Answer, StepError> {
    let key = format!("llm:{step}");
    let started = Instant::now();
    let started_at = to_millis(ctx.app.clock.now());
    let mut record = json!({"step": key, "type": "llm", "model": requested_model});
    let mut replayed = None;
    if let Some(saved) = step_output(ctx, &key).await? {
        if let Ok(mut answer) = parse_message(&saved["message"], step) {
            answer.model = saved["model"]
                .as_str()
                .unwrap_or(requested_model)
                .to_string();
            replayed = Some((answer, saved["usage"].clone()));
        }
    }
    let was_replayed = replayed.is_some();
    let result = match replayed {
        Some(r) => Ok(r),
        None => match admit_model_call(ctx, requested_model).await {
            Err(e) => Err(e),
            Ok(()) => match endpoint.complete(body).await {
                Ok(response) => parse_completion(&response, step, requested_model),
                Err(e) => Err(e),
            },
        },
    };
    record["duration_ms"] = json!(started.elapsed().as_millis() as i64);
    match result {
        Ok((answer, answer_usage)) => {
            let mut charged = None;
            if !was_replayed {
                let saved = json!({"message": answer.message, "model": answer.model, "usage": answer_usage});
                save_step(ctx, &key, &saved, started_at).await?;
                // Charged after the answer is saved, so a takeover replays it
                // instead of paying for it again.
                let credits = price_of(&ctx.app.settings, &answer_usage);
                if credits.is_positive() {
                    let elapsed = started.elapsed().as_millis() as i64;
                    match charge_model_call(ctx, &answer.model, credits, elapsed).await {
                        Ok(order_id) => charged = Some((order_id, credits)),
                        Err(e) => {
                            record["status"] = json!("failed");
                            record["error_code"] = json!(e.code);
                            record["error_message"] = json!(e.message);
                            ctx.record(record);
                            return Err(e);
                        }
                    }
                }
            }
            match &charged {
                Some((order_id, credits)) => {
                    record["order_id"] = json!(order_id);
                    record["credits"] = json!(credits);
                }
                None => record["credits"] = json!(0),
            }
            record["status"] = json!("succeeded");
            record["model"] = json!(answer.model);
            record["tool_calls"] = json!(answer.tool_calls.len());
            if was_replayed {
                record["replayed"] = json!(true);
            }
            for (field, total) in [
                ("prompt_tokens", &mut usage.prompt_tokens),
                ("completion_tokens", &mut usage.completion_tokens),
            ] {
                if let Some(n) = answer_usage[field].as_i64() {
                    record[field] = json!(n);
                    *total += n;
                }
            }
            ctx.record(record);
            ctx.set_metadata("usage", json!({"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}));
            Ok(answer)
        }
        Err(e) => {
            record["status"] = json!("failed");
            record["error_code"] = json!(e.code);
            record["error_message"] = json!(e.message);
            ctx.record(record);
            Err(e)
        }
    }
}

/// The operator's list of models workflows may name; the default model is
/// always allowed and `*` allows any.
pub(super) fn check_model_allowed(
    settings: &crate::app::Settings,
    model: &str,
) -> Result<(), StepError> {
    let allowed = &settings.llm_allowed_models;
    if model == settings.llm_model || allowed.iter().any(|m| m == "*" || m == model) {
        return Ok(());
    }
    let names: Vec<&str> = std::iter::once(settings.llm_model.as_str())
        .chain(
            allowed
                .iter()
                .map(String::as_str)
                .filter(|m| *m != settings.llm_model),
        )
        .collect();
    Err(StepError::new(
        "model_not_allowed",
        format!(
            "the workflow names model {model:?}, which this server does not allow; allowed: {} \
             (the operator sets them with --llm-allowed-models)",
            names.join(", ")
        ),
    ))
}

/// Counts a new model call against the user's hourly and daily limits, or
/// refuses it; with model pricing on, the wallet must also have credits left.
async fn admit_model_call(ctx: &RunCtx, model: &str) -> Result<(), StepError> {
    let settings = &ctx.app.settings;
    let user = &ctx.run.user_id;
    let now = Timestamp::from(ctx.app.clock.now());
    for (window, span_ms, limit) in [
        ("hour", 3_600_000, settings.llm_max_calls_per_user_hour),
        ("day", 86_400_000, settings.llm_max_calls_per_user_day),
    ] {
        let made = ctx
            .app
            .store
            .count_model_calls(*user, now - chrono::Duration::milliseconds(span_ms))
            .await
            .map_err(storage)?;
        if made >= limit {
            return Err(StepError::new(
                "model_call_limit_reached",
                format!(
                    "your runs made {made} model calls in the last {window}, the most this server allows; \
                     try again later"
                ),
            ));
        }
    }
    if settings.llm_credits_per_1k_prompt_tokens > 0
        || settings.llm_credits_per_1k_completion_tokens > 0
    {
        let balance = ctx
            .app
            .ledger
            .balance(*user)
            .await
            .map_err(|e| StepError::new("internal_error", e.to_string()))?;
        if !balance.available.is_positive() {
            return Err(StepError::new(
                "insufficient_credits",
                "model calls cost credits on this server and no credits are available",
            ));
        }
    }
    ctx.app
        .store
        .record_model_call(&crate::id::new_id(), *user, ctx.run.id, model, now)
        .await
        .map_err(storage)
}

/// Credits for a model answer's token usage, rounded up.
fn price_of(settings: &crate::app::Settings, usage: &Value) -> Credits {
    let tokens = |field: &str| usage[field].as_i64().unwrap_or(0).max(0);
    let milli = tokens("prompt_tokens")
        .saturating_mul(settings.llm_credits_per_1k_prompt_tokens)
        .saturating_add(
            tokens("completion_tokens")
                .saturating_mul(settings.llm_credits_per_1k_completion_tokens),
        );
    Credits::new(milli.saturating_add(999) / 1000)
}

/// The order's product id for model calls; its action is the model's name.
pub const MODEL_CALL_PRODUCT: &str = "llm";

/// Charges a model call through the ledger like a tool call: an order, a
/// hold under the run's budget and its capture. Answers the order's id.
async fn charge_model_call(
    ctx: &RunCtx,
    model: &str,
    credits: Credits,
    duration_ms: i64,
) -> Result<String, StepError> {
    let app = &ctx.app;
    let budget = app
        .store
        .budget_by_id(ctx.run.budget_id)
        .await
        .map_err(storage)?;
    let now = Timestamp::from(app.clock.now());
    let order = crate::store::OrderRow {
        id: crate::id::OrderId::new(),
        user_id: ctx.run.user_id,
        budget_id: ctx.run.budget_id,
        product_id: MODEL_CALL_PRODUCT.into(),
        action: model.to_string(),
        price_credits: credits,
        status: crate::store::OrderStatus::Pending,
        error_code: None,
        instance_id: Some(ctx.instance_id),
        run_id: Some(ctx.run.id),
        transaction_id: None,
        created_at: now,
        completed_at: None,
        duration_ms: None,
    };
    let ledger_error =
        |e| crate::workflows::engine::step_error(crate::purchase::PurchaseError::Ledger(e));
    let hold = app
        .ledger
        .reserve(
            ctx.run.user_id,
            credits,
            chrono::Duration::minutes(5),
            budget.as_ref(),
            Some(&order),
        )
        .await
        .map_err(ledger_error)?;
    app.ledger
        .capture(ctx.run.user_id, hold.id, duration_ms)
        .await
        .map_err(ledger_error)?;
    Ok(order.id.to_string())
}
