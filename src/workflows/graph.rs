//! The graph engine: runs a step DAG in topological order with no model.
//! A step runs when a step before it led to it (a branch leads only to its
//! chosen target). The run's `response_text` is the last step's output.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::definition::{parse_graph, Condition, Step, StepKind};
use super::engine::{state_too_large, Engine, EngineOutcome, RunCtx, StepError};
use super::template::{json_size, render_value, TooLarge};
use crate::app::approvals::{self, NewApproval};
use crate::store::ApprovalKind;

pub struct GraphEngine;

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Whether a branch condition holds; the value compared may take at most `limit` bytes.
pub fn holds(c: &Condition, scope: &Value, limit: usize) -> Result<bool, TooLarge> {
    let v = c.value_of.render(scope, limit)?;
    let cmp = || {
        as_f64(&v)
            .zip(as_f64(&c.operand))
            .map(|(a, b)| a.partial_cmp(&b))
    };
    Ok(match c.op.as_str() {
        "eq" => v == c.operand || (as_f64(&v).is_some() && as_f64(&v) == as_f64(&c.operand)),
        "ne" => !(v == c.operand || (as_f64(&v).is_some() && as_f64(&v) == as_f64(&c.operand))),
        "gt" => matches!(cmp(), Some(Some(std::cmp::Ordering::Greater))),
        "gte" => matches!(
            cmp(),
            Some(Some(
                std::cmp::Ordering::Greater | std::cmp::Ordering::Equal
            ))
        ),
        "lt" => matches!(cmp(), Some(Some(std::cmp::Ordering::Less))),
        "lte" => matches!(
            cmp(),
            Some(Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal))
        ),
        "contains" => match (&v, &c.operand) {
            (Value::String(s), Value::String(o)) => s.contains(o.as_str()),
            (Value::Array(a), o) => a.contains(o),
            (Value::Object(m), Value::String(k)) => m.contains_key(k),
            _ => false,
        },
        "exists" => !v.is_null(),
        _ => truthy(&v),
    })
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Runs a tool or prompt step once with `scope`; what it renders may take at
/// most `room` bytes.
async fn run_simple(
    ctx: &RunCtx,
    key: &str,
    kind: &StepKind,
    scope: &Value,
    room: usize,
) -> Result<Value, StepError> {
    match kind {
        StepKind::Tool {
            tool,
            action,
            parameters,
        } => {
            let rendered = render_value(parameters, scope, &mut room.clone()).map_err(|_| {
                state_too_large(
                    "the tool's rendered parameters",
                    ctx.app.settings.run_state_limit_bytes,
                )
            })?;
            let params = match rendered {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            ctx.call_tool(key, tool, action, params).await
        }
        StepKind::Prompt { template } => {
            let rendered = template.render(scope, room).map_err(|_| {
                state_too_large(
                    "the rendered template",
                    ctx.app.settings.run_state_limit_bytes,
                )
            })?;
            Ok(Value::String(text_of(&rendered)))
        }
        _ => Err(StepError::new("internal_error", "not a simple step")),
    }
}

impl GraphEngine {
    /// Runs one step; its output may take at most `room` bytes of the run's state.
    async fn step(
        &self,
        ctx: &RunCtx,
        step: &Step,
        scope: &Value,
        ran: &HashMap<String, Value>,
        preds: &[String],
        room: usize,
    ) -> Result<(Value, Vec<String>), StepError> {
        let limit = ctx.app.settings.run_state_limit_bytes;
        match &step.kind {
            StepKind::Tool { .. } => Ok((
                run_simple(ctx, &step.id, &step.kind, scope, limit).await?,
                step.next.clone(),
            )),
            StepKind::Prompt { .. } => {
                let out = run_simple(ctx, &step.id, &step.kind, scope, room).await?;
                ctx.record(
                    json!({"step": step.id, "type": "prompt", "status": "succeeded", "credits": 0}),
                );
                Ok((out, step.next.clone()))
            }
            StepKind::Branch {
                conditions,
                default,
            } => {
                let mut chosen = None;
                for c in conditions {
                    if holds(c, scope, limit).map_err(|_| {
                        state_too_large(
                            "a branch condition's value",
                            ctx.app.settings.run_state_limit_bytes,
                        )
                    })? {
                        chosen = Some(c.next.clone());
                        break;
                    }
                }
                let chosen = chosen.or_else(|| default.clone());
                ctx.record(json!({"step": step.id, "type": "branch", "status": "succeeded", "chosen": chosen, "credits": 0}));
                Ok((json!({"chosen": chosen}), chosen.into_iter().collect()))
            }
            StepKind::Merge => {
                let joined: Map<String, Value> = preds
                    .iter()
                    .filter_map(|p| ran.get(p).map(|v| (p.clone(), v.clone())))
                    .collect();
                ctx.record(
                    json!({"step": step.id, "type": "merge", "status": "succeeded", "credits": 0}),
                );
                Ok((Value::Object(joined), step.next.clone()))
            }
            StepKind::ForEach {
                items,
                body,
                max_items,
            } => {
                let rendered = items.render(scope, limit).map_err(|_| {
                    state_too_large("the step's items", ctx.app.settings.run_state_limit_bytes)
                })?;
                let list = match rendered {
                    Value::Array(a) => a,
                    other => {
                        return Err(StepError::new(
                            "invalid_items",
                            format!(
                                "step {}: items is not a list (got {})",
                                step.id,
                                text_of(&other)
                            ),
                        ))
                    }
                };
                if list.len() > *max_items {
                    return Err(StepError::new(
                        "too_many_items",
                        format!(
                            "step {}: {} items, at most {max_items}",
                            step.id,
                            list.len()
                        ),
                    ));
                }
                let mut outputs = Vec::with_capacity(list.len());
                let mut left = room;
                for (i, item) in list.into_iter().enumerate() {
                    if ctx.cancelled().await {
                        return Err(StepError::new("cancelled", "cancelled"));
                    }
                    let mut inner = scope.clone();
                    inner["item"] = item;
                    inner["index"] = json!(i);
                    let key = format!("{}[{i}]", step.id);
                    let room = if matches!(body.as_ref(), StepKind::Prompt { .. }) {
                        left
                    } else {
                        limit
                    };
                    let out = run_simple(ctx, &key, body, &inner, room).await?;
                    left -= json_size(&out, left).map_err(|_| {
                        state_too_large(
                            "the outputs of the step's items",
                            ctx.app.settings.run_state_limit_bytes,
                        )
                    })?;
                    outputs.push(out);
                }
                Ok((Value::Array(outputs), step.next.clone()))
            }
            StepKind::NotifyHuman { message } => {
                let rendered = message.render(scope, limit).map_err(|_| {
                    state_too_large("the message", ctx.app.settings.run_state_limit_bytes)
                })?;
                let text = text_of(&rendered);
                let request = NewApproval {
                    user_id: ctx.run.user_id,
                    budget_id: ctx.run.budget_id,
                    kind: ApprovalKind::WorkflowHuman,
                    subject_id: format!("{}:{}", ctx.run.id, step.id),
                    detail: json!({"run_id": ctx.run.id, "workflow_id": ctx.workflow.id, "step": step.id, "message": text}),
                };
                let id = approvals::open(&ctx.app, request)
                    .await
                    .map_err(|e| StepError::new("internal_error", e.to_string()))?;
                ctx.set_metadata(
                    "awaiting_human",
                    json!({"approval_request_id": id, "step": step.id, "message": text}),
                );
                ctx.record(json!({"step": step.id, "type": "notify_human", "status": "succeeded", "approval_request_id": id, "credits": 0}));
                Ok((Value::String(text), vec![]))
            }
        }
    }
}

#[async_trait]
impl Engine for GraphEngine {
    async fn run(&self, ctx: &RunCtx) -> EngineOutcome {
        let def: Value = serde_json::from_str(&ctx.workflow.definition).unwrap_or(Value::Null);
        let graph = match parse_graph(&def, &ctx.app.catalog.snapshot()) {
            Ok(g) => g,
            Err(errors) => {
                let message = errors
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect::<Vec<_>>()
                    .join("; ");
                return EngineOutcome::Failed {
                    code: "invalid_workflow".into(),
                    message,
                };
            }
        };
        let metadata: Value =
            serde_json::from_str(&ctx.run.request_metadata).unwrap_or_else(|_| json!({}));
        let mut scope = json!({"prompt": ctx.run.prompt, "metadata": metadata, "steps": {}});
        // Everything a step can read counts against the run's state limit,
        // so no step can render or return more than what is left of it.
        let limit = ctx.app.settings.run_state_limit_bytes;
        let mut used = json_size(&scope, limit).unwrap_or(limit);
        let mut preds: HashMap<String, Vec<String>> = HashMap::new();
        for s in &graph.steps {
            for n in s.successors() {
                preds.entry(n).or_default().push(s.id.clone());
            }
        }
        let mut active: HashSet<String> = HashSet::from([graph.start.clone()]);
        let mut ran: HashMap<String, Value> = HashMap::new();
        let mut last: Option<Value> = None;
        for step in &graph.steps {
            if !active.contains(&step.id) {
                continue;
            }
            if ctx.cancelled().await {
                return EngineOutcome::Cancelled;
            }
            let started = Instant::now();
            let empty = Vec::new();
            match self
                .step(
                    ctx,
                    step,
                    &scope,
                    &ran,
                    preds.get(&step.id).unwrap_or(&empty),
                    limit - used,
                )
                .await
            {
                Ok((output, next)) => {
                    match json_size(&output, limit - used) {
                        Ok(size) => used += size,
                        Err(_) => {
                            return EngineOutcome::Failed {
                                code: "run_state_too_large".into(),
                                message: format!(
                                    "step {}: {}",
                                    step.id,
                                    state_too_large("the step's output", limit).message
                                ),
                            }
                        }
                    }
                    scope["steps"][step.id.as_str()] = json!({"output": output, "duration_ms": started.elapsed().as_millis() as i64});
                    ran.insert(step.id.clone(), output.clone());
                    last = Some(output);
                    active.extend(next);
                    ctx.save_progress(None).await;
                    if matches!(step.kind, StepKind::NotifyHuman { .. }) {
                        break;
                    }
                }
                Err(e) if e.code == "cancelled" => return EngineOutcome::Cancelled,
                Err(e) => {
                    return EngineOutcome::Failed {
                        code: e.code,
                        message: format!("step {}: {}", step.id, e.message),
                    };
                }
            }
        }
        EngineOutcome::Succeeded {
            response_text: last.as_ref().map(text_of),
            model: None,
            session_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::template::Template;

    #[test]
    fn conditions_compare_numbers_text_and_lists() {
        let scope = json!({"steps": {"a": {"output": {"n": 7, "s": "hello world", "l": [1, 2]}}}});
        let holds1 = |c: &Condition, scope: &Value| holds(c, scope, 1024).unwrap();
        let c = |value: &str, op: &str, operand: Value| Condition {
            value_of: Template::parse(value).unwrap(),
            op: op.into(),
            operand,
            next: "x".into(),
        };
        assert!(holds1(&c("{{steps.a.output.n}}", "gt", json!(5)), &scope));
        assert!(!holds1(&c("{{steps.a.output.n}}", "lt", json!(5)), &scope));
        assert!(holds1(&c("{{steps.a.output.n}}", "eq", json!("7")), &scope));
        assert!(holds1(
            &c("{{steps.a.output.s}}", "contains", json!("world")),
            &scope
        ));
        assert!(holds1(
            &c("{{steps.a.output.l}}", "contains", json!(2)),
            &scope
        ));
        assert!(!holds1(
            &c("{{steps.a.output.missing}}", "exists", Value::Null),
            &scope
        ));
        assert!(holds1(
            &c("{{steps.a.output.s}}", "truthy", Value::Null),
            &scope
        ));
    }
}
