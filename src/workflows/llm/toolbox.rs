//! The workflow's tools as the model sees them (functions) and one tool
//! call run as a purchase, with what the model is told of its result.

use crate::id::ProductId;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::chat::ToolCall;
use super::{step_output, LlmDefinition, FATAL_TOOL_ERRORS, MAX_TOOL_RESULT_CHARS};
use crate::catalog::{Product, Snapshot};
use crate::money::Credits;
use crate::workflows::engine::{RunCtx, StepError};

/// The workflow's tools as functions, looked up by function name.
pub(super) struct Toolbox {
    by_name: HashMap<String, Arc<Product>>,
    pub(super) functions: Vec<Value>,
}

impl Toolbox {
    pub(super) fn new(snapshot: &Snapshot, ids: &[ProductId]) -> Toolbox {
        let mut by_name = HashMap::new();
        let mut functions = Vec::new();
        for product in ids
            .iter()
            .filter_map(|&id| snapshot.by_id(id))
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

fn tool_error(code: &str, message: &str) -> String {
    json!({"error": code, "message": message}).to_string()
}

/// Runs one tool call and answers with what the model is told. Errors the
/// model can act on are told to it; the run ends only when no further call
/// could be paid for.
pub(super) async fn tool_step(
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
        let price = product
            .action(&action)
            .map_or(Credits::ZERO, |a| a.price_credits);
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
    match ctx
        .call_tool(&key, &product.id().to_string(), &action, params)
        .await
    {
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
