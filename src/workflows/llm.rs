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
mod model;
mod session;
mod toolbox;

use crate::clock::Timestamp;
use async_trait::async_trait;
use serde_json::{json, Value};

use super::engine::{state_too_large, Engine, EngineOutcome, RunCtx, StepError};
use super::template::json_size;
use crate::catalog::Snapshot;
use crate::money::Credits;
use crate::store::RunStepRow;
use chat::{chat_request, Endpoint};
pub use definition::{parse_definition, LlmDefinition};
pub use model::MODEL_CALL_PRODUCT;
use model::{check_model_allowed, model_step, Usage};
use session::{history, save_session, session_id};
use toolbox::{tool_step, Toolbox};

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

async fn step_output(ctx: &RunCtx, key: &str) -> Result<Option<Value>, StepError> {
    let done = ctx
        .app
        .store
        .step_result(ctx.run.id, key)
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
        run_id: ctx.run.id,
        step_key: key.to_string(),
        output: output.to_string(),
        order_id: None,
        credits: Credits::ZERO,
        started_at: Timestamp::from_millis(started_at),
        completed_at: Timestamp::from(ctx.app.clock.now()),
    };
    ctx.app.store.record_step(&row).await.map_err(storage)
}
