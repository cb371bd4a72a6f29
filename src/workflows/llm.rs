//! The LLM engine: an agent loop against an OpenAI-compatible
//! chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server) with
//! the workflow's tools offered as functions. Every tool call is a purchase
//! by the run's owner.
//!
//! Each model answer, each tool result, the length of the session history
//! the run started from and the session update are stored as run steps, so a
//! run taken over after a crash replays what already happened instead of
//! asking the model again, paying twice or writing the session twice.

mod chat;
mod definition;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::engine::{state_too_large, Engine, EngineOutcome, RunCtx, StepError};
use super::template::json_size;
use crate::catalog::{Product, Snapshot};
use crate::clock::to_millis;
use crate::store::{RunRow, RunStepRow};
use chat::{chat_request, parse_completion, parse_message, Answer, Endpoint, ToolCall};
pub use definition::{parse_definition, LlmDefinition};

const MAX_SESSION_ID_CHARS: usize = 200;
/// Earlier turns sent to the model; older ones are left out.
const MAX_HISTORY_MESSAGES: usize = 200;
/// A tool result longer than this is cut before it reaches the model.
const MAX_TOOL_RESULT_CHARS: usize = 64 * 1024;
/// Tool errors after which no further call could be paid for.
const FATAL_TOOL_ERRORS: &[&str] = &[
    "insufficient_credits",
    "budget_cap_reached",
    "budget_paused",
];

/// Runs LLM workflows.
pub struct LlmEngine;

#[async_trait]
impl Engine for LlmEngine {
    #[tracing::instrument(skip_all, fields(run_id = %ctx.run.id, workflow_id = %ctx.workflow.id))]
    async fn run(&self, ctx: &RunCtx) -> EngineOutcome {
        match agent_loop(ctx).await {
            Ok(outcome) => outcome,
            Err(e) => EngineOutcome::Failed {
                code: e.code,
                message: e.message,
            },
        }
    }
}

async fn agent_loop(ctx: &RunCtx) -> Result<EngineOutcome, StepError> {
    let settings = &ctx.app.settings;
    let Some(base_url) = settings.llm_base_url.as_deref() else {
        return Err(StepError::new(
            "llm_not_configured",
            "no LLM endpoint is configured; the operator sets one with --llm-base-url (TOLLGATE_LLM_BASE_URL)",
        ));
    };
    let endpoint = Endpoint {
        url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
        api_key: settings
            .llm_api_key
            .as_ref()
            .filter(|k| !k.expose().is_empty()),
    };
    let snapshot = ctx.app.catalog.snapshot();
    let definition = load_definition(ctx, &snapshot)?;
    let tools = Toolbox::new(&snapshot, &definition.tools);
    drop(snapshot);
    let requested_model = definition
        .model
        .clone()
        .unwrap_or_else(|| settings.llm_model.clone());
    check_model_allowed(settings, &requested_model)?;
    let session_id = session_id(&ctx.run)?;
    ctx.set_metadata("model", json!(requested_model));
    ctx.set_metadata("session_id", json!(session_id));

    let mut earlier = Vec::new();
    if let Some(system) = &definition.system_prompt {
        earlier.push(json!({"role": "system", "content": system}));
    }
    earlier.extend(history(ctx, &session_id).await?);
    let mut turn = vec![json!({"role": "user", "content": ctx.run.prompt})];
    let mut usage = Usage::default();

    // The operator's limit per run, when it is lower than the workflow's own.
    let max_calls = definition.max_steps.min(settings.llm_max_calls_per_run);
    for step in 1..=max_calls {
        if ctx.cancelled().await {
            ctx.save_progress(Some(&session_id)).await;
            return Ok(EngineOutcome::Cancelled);
        }
        let messages: Vec<&Value> = earlier.iter().chain(&turn).collect();
        let body = chat_request(
            &requested_model,
            &messages,
            &tools.functions,
            definition.temperature,
        );
        let answer = model_step(ctx, &endpoint, step, &body, &requested_model, &mut usage).await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                ctx.save_progress(Some(&session_id)).await;
                return Err(e);
            }
        };
        turn.push(answer.message.clone());
        if let Err(e) = check_state(ctx, &turn) {
            ctx.save_progress(Some(&session_id)).await;
            return Err(e);
        }
        if answer.tool_calls.is_empty() {
            ctx.set_metadata("model", json!(answer.model));
            save_session(ctx, &session_id, &turn).await;
            ctx.save_progress(Some(&session_id)).await;
            return Ok(EngineOutcome::Succeeded {
                response_text: Some(answer.content),
                model: Some(answer.model),
                session_id: Some(session_id),
            });
        }
        if step == max_calls {
            // No model call would read these results, so they are not paid for.
            break;
        }
        for call in &answer.tool_calls {
            let content = match tool_step(ctx, &definition, &tools, step, call).await {
                Ok(c) => c,
                Err(e) => {
                    ctx.save_progress(Some(&session_id)).await;
                    return Err(e);
                }
            };
            turn.push(json!({"role": "tool", "tool_call_id": call.id, "content": content}));
            if let Err(e) = check_state(ctx, &turn) {
                ctx.save_progress(Some(&session_id)).await;
                return Err(e);
            }
        }
        ctx.save_progress(Some(&session_id)).await;
    }
    ctx.save_progress(Some(&session_id)).await;
    if max_calls < definition.max_steps {
        return Err(StepError::new(
            "model_call_limit_reached",
            format!(
                "the model did not finish within this server's limit of {max_calls} model calls per run"
            ),
        ));
    }
    Err(StepError::new(
        "step_limit_reached",
        format!(
            "the model did not finish within the workflow's limit of {} model calls",
            definition.max_steps
        ),
    ))
}

/// The run's own turn (the prompt, the model's answers and the tool results)
/// must stay within the run's state limit.
fn check_state(ctx: &RunCtx, turn: &[Value]) -> Result<(), StepError> {
    let limit = ctx.app.settings.run_state_limit_bytes;
    let mut room = limit;
    for message in turn {
        room -= json_size(message, room).map_err(|_| state_too_large("the conversation", limit))?;
    }
    Ok(())
}

fn storage(e: crate::store::StoreError) -> StepError {
    StepError::new("internal_error", format!("storage failed: {e}"))
}

fn load_definition(ctx: &RunCtx, snapshot: &Snapshot) -> Result<LlmDefinition, StepError> {
    let value: Value = serde_json::from_str(&ctx.workflow.definition).map_err(|e| {
        StepError::new(
            "invalid_definition",
            format!("the workflow's definition is not JSON: {e}"),
        )
    })?;
    parse_definition(&value, snapshot).map_err(|errors| {
        let described: Vec<String> = errors
            .iter()
            .map(|(loc, msg)| {
                let path: Vec<String> = loc
                    .iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                    .collect();
                if path.is_empty() {
                    msg.clone()
                } else {
                    format!("{}: {msg}", path.join("."))
                }
            })
            .collect();
        StepError::new(
            "invalid_definition",
            format!(
                "the workflow's definition is not usable: {}",
                described.join("; ")
            ),
        )
    })
}

/// The chat session a run belongs to: the caller's `request_metadata.session_id`,
/// else the one the run already has, else the run's own id.
fn session_id(run: &RunRow) -> Result<String, StepError> {
    let metadata: Value = serde_json::from_str(&run.request_metadata).unwrap_or(Value::Null);
    match metadata.get("session_id") {
        None | Some(Value::Null) => Ok(run.session_id.clone().unwrap_or_else(|| run.id.clone())),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_SESSION_ID_CHARS => Ok(s.clone()),
        Some(_) => Err(StepError::new(
            "invalid_session_id",
            format!("request_metadata.session_id must be a string of 1 to {MAX_SESSION_ID_CHARS} characters"),
        )),
    }
}

async fn step_output(ctx: &RunCtx, key: &str) -> Result<Option<Value>, StepError> {
    let done = ctx
        .app
        .store
        .step_result(&ctx.run.id, key)
        .await
        .map_err(storage)?;
    Ok(done.map(|d| serde_json::from_str(&d.output).unwrap_or(Value::Null)))
}

async fn save_step(
    ctx: &RunCtx,
    key: &str,
    output: &Value,
    started_at: i64,
) -> Result<(), StepError> {
    let row = RunStepRow {
        run_id: ctx.run.id.clone(),
        step_key: key.to_string(),
        output: output.to_string(),
        order_id: None,
        credits: 0,
        started_at,
        completed_at: to_millis(ctx.app.clock.now()),
    };
    ctx.app.store.record_step(&row).await.map_err(storage)
}

/// The session's earlier turns as the run first saw them: a run taken over
/// after it wrote its own turn to the session does not read that turn back.
async fn history(ctx: &RunCtx, session_id: &str) -> Result<Vec<Value>, StepError> {
    const KEY: &str = "llm:history";
    let stored = ctx
        .app
        .store
        .session_messages(session_id, &ctx.run.user_id)
        .await
        .map_err(storage)?;
    let count = match step_output(ctx, KEY).await? {
        Some(saved) => saved["messages"]
            .as_u64()
            .map_or(stored.len(), |n| n as usize),
        None => {
            let now = to_millis(ctx.app.clock.now());
            save_step(ctx, KEY, &json!({"messages": stored.len()}), now).await?;
            stored.len()
        }
    };
    let messages: Vec<Value> = stored
        .iter()
        .take(count)
        .filter_map(|m| serde_json::from_str(m).ok())
        .collect();
    // Keep the most recent turns, starting at a user message so that no tool
    // result is sent without the assistant message that asked for it.
    let mut start = messages.len().saturating_sub(MAX_HISTORY_MESSAGES);
    if start > 0 {
        while start < messages.len() && messages[start]["role"] != "user" {
            start += 1;
        }
    }
    Ok(messages[start..].to_vec())
}

/// Appends the run's turn to the session, once per run.
async fn save_session(ctx: &RunCtx, session_id: &str, turn: &[Value]) {
    const KEY: &str = "llm:session";
    let result = async {
        if step_output(ctx, KEY).await?.is_some() {
            return Ok(());
        }
        let now = to_millis(ctx.app.clock.now());
        let encoded: Vec<String> = turn.iter().map(Value::to_string).collect();
        ctx.app
            .store
            .append_session_messages(session_id, &ctx.run.user_id, &encoded, now)
            .await
            .map_err(storage)?;
        save_step(ctx, KEY, &json!({"messages": encoded.len()}), now).await
    };
    if let Err(e) = result.await {
        // The answer stands; only the next turn loses this one as context.
        tracing::warn!(run_id = %ctx.run.id, error = %e, "saving the chat session failed");
        ctx.set_metadata("session_saved", json!(false));
    }
}

/// The workflow's tools as functions, looked up by function name.
struct Toolbox {
    by_name: HashMap<String, Arc<Product>>,
    functions: Vec<Value>,
}

impl Toolbox {
    fn new(snapshot: &Snapshot, ids: &[String]) -> Toolbox {
        let mut by_name = HashMap::new();
        let mut functions = Vec::new();
        for product in ids
            .iter()
            .filter_map(|id| snapshot.by_id(id))
            .filter(|p| p.is_active())
        {
            if by_name
                .insert(product.row.name.clone(), product.clone())
                .is_none()
            {
                functions.push(product.function_definition());
            }
        }
        Toolbox { by_name, functions }
    }

    fn names(&self) -> String {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

#[derive(Default)]
struct Usage {
    prompt_tokens: i64,
    completion_tokens: i64,
}

/// Asks the model for its next message, or replays the stored answer of a
/// step that already happened.
async fn model_step(
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
                if credits > 0 {
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
fn check_model_allowed(settings: &crate::app::Settings, model: &str) -> Result<(), StepError> {
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
    let now = to_millis(ctx.app.clock.now());
    for (window, span_ms, limit) in [
        ("hour", 3_600_000, settings.llm_max_calls_per_user_hour),
        ("day", 86_400_000, settings.llm_max_calls_per_user_day),
    ] {
        let made = ctx
            .app
            .store
            .count_model_calls(user, now - span_ms)
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
            .balance(user)
            .await
            .map_err(|e| StepError::new("internal_error", e.to_string()))?;
        if balance.available <= 0 {
            return Err(StepError::new(
                "insufficient_credits",
                "model calls cost credits on this server and no credits are available",
            ));
        }
    }
    ctx.app
        .store
        .record_model_call(&crate::id::new_id(), user, &ctx.run.id, model, now)
        .await
        .map_err(storage)
}

/// Credits for a model answer's token usage, rounded up.
fn price_of(settings: &crate::app::Settings, usage: &Value) -> i64 {
    let tokens = |field: &str| usage[field].as_i64().unwrap_or(0).max(0);
    let milli = tokens("prompt_tokens")
        .saturating_mul(settings.llm_credits_per_1k_prompt_tokens)
        .saturating_add(
            tokens("completion_tokens")
                .saturating_mul(settings.llm_credits_per_1k_completion_tokens),
        );
    milli.saturating_add(999) / 1000
}

/// The order's product id for model calls; its action is the model's name.
pub const MODEL_CALL_PRODUCT: &str = "llm";

/// Charges a model call through the ledger like a tool call: an order, a
/// hold under the run's budget and its capture. Answers the order's id.
async fn charge_model_call(
    ctx: &RunCtx,
    model: &str,
    credits: i64,
    duration_ms: i64,
) -> Result<String, StepError> {
    let app = &ctx.app;
    let budget = app
        .store
        .budget_by_id(&ctx.run.budget_id)
        .await
        .map_err(storage)?;
    let now = to_millis(app.clock.now());
    let order = crate::store::OrderRow {
        id: crate::id::new_id(),
        user_id: ctx.run.user_id.clone(),
        budget_id: ctx.run.budget_id.clone(),
        product_id: MODEL_CALL_PRODUCT.into(),
        action: model.to_string(),
        price_credits: credits,
        status: "pending".into(),
        error_code: None,
        instance_id: Some(ctx.instance_id.clone()),
        run_id: Some(ctx.run.id.clone()),
        transaction_id: None,
        created_at: now,
        completed_at: None,
        duration_ms: None,
    };
    let ledger_error = |e| super::engine::step_error(crate::purchase::PurchaseError::Ledger(e));
    let hold = app
        .ledger
        .reserve(
            &ctx.run.user_id,
            credits,
            chrono::Duration::minutes(5),
            budget.as_ref(),
            Some(&order),
        )
        .await
        .map_err(ledger_error)?;
    app.ledger
        .capture(&ctx.run.user_id, &hold.id, duration_ms)
        .await
        .map_err(ledger_error)?;
    Ok(order.id)
}

fn tool_error(code: &str, message: &str) -> String {
    json!({"error": code, "message": message}).to_string()
}

/// Runs one tool call and answers with what the model is told. Errors the
/// model can act on are told to it; the run ends only when no further call
/// could be paid for.
async fn tool_step(
    ctx: &RunCtx,
    definition: &LlmDefinition,
    tools: &Toolbox,
    step: u32,
    call: &ToolCall,
) -> Result<String, StepError> {
    let Some(product) = tools.by_name.get(&call.name) else {
        return Ok(tool_error(
            "unknown_tool",
            &format!(
                "there is no tool named {:?}; the tools are: {}",
                call.name,
                tools.names()
            ),
        ));
    };
    let mut params: Map<String, Value> = match serde_json::from_str(&call.arguments) {
        Ok(Value::Object(params)) => params,
        _ => {
            return Ok(tool_error(
                "invalid_arguments",
                "the arguments must be a JSON object",
            ))
        }
    };
    let action = match params.remove("action") {
        Some(Value::String(a)) => a,
        None | Some(Value::Null) if product.actions.len() == 1 => product.actions[0].name.clone(),
        _ => {
            let names: Vec<&str> = product.actions.iter().map(|a| a.name.as_str()).collect();
            return Ok(tool_error(
                "invalid_parameters",
                &format!("\"action\" must name one of: {}", names.join(", ")),
            ));
        }
    };
    let key = format!("llm:{step}:{}", call.id);
    // A call that already completed replays for free, so only new calls count against the limit.
    if step_output(ctx, &key).await?.is_none() {
        let price = product.action(&action).map_or(0, |a| a.price_credits);
        let spent = ctx.credits_spent();
        if spent + price > definition.max_credits {
            ctx.record(json!({"step": key, "type": "tool", "tool": product.row.name, "action": action, "status": "skipped",
                              "error_code": "credit_limit_reached", "credits": 0}));
            return Err(StepError::new(
                "credit_limit_reached",
                format!(
                    "calling {}.{action} costs {price} credits; the run has spent {spent} of the workflow's limit of {} credits",
                    product.row.name, definition.max_credits
                ),
            ));
        }
    }
    // By id: a name could also be another product's slug.
    match ctx.call_tool(&key, product.id(), &action, params).await {
        Ok(data) => Ok(truncate(data.to_string())),
        Err(e) if FATAL_TOOL_ERRORS.contains(&e.code.as_str()) => Err(e),
        Err(e) => Ok(tool_error(&e.code, &e.message)),
    }
}

fn truncate(text: String) -> String {
    match text.char_indices().nth(MAX_TOOL_RESULT_CHARS) {
        Some((cut, _)) => format!("{} [truncated]", &text[..cut]),
        None => text,
    }
}
