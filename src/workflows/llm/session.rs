//! The chat session a run belongs to: which one it is, the earlier turns
//! the run started from, and the run's own turn appended once.

use crate::clock::Timestamp;
use serde_json::{json, Value};

use super::{save_step, step_output, storage, MAX_HISTORY_MESSAGES, MAX_SESSION_ID_CHARS};
use crate::store::RunRow;
use crate::workflows::engine::{RunCtx, StepError};

/// The chat session a run belongs to: the caller's `request_metadata.session_id`,
/// else the one the run already has, else the run's own id.
pub(super) fn session_id(run: &RunRow) -> Result<String, StepError> {
    let metadata: Value = serde_json::from_str(&run.request_metadata).unwrap_or(Value::Null);
    match metadata.get("session_id") {
        None | Some(Value::Null) => Ok(run.session_id.clone().unwrap_or_else(|| run.id.to_string())),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_SESSION_ID_CHARS => Ok(s.clone()),
        Some(_) => Err(StepError::new(
            "invalid_session_id",
            format!("request_metadata.session_id must be a string of 1 to {MAX_SESSION_ID_CHARS} characters"),
        )),
    }
}

/// The session's earlier turns as the run first saw them: a run taken over
/// after it wrote its own turn to the session does not read that turn back.
pub(super) async fn history(ctx: &RunCtx, session_id: &str) -> Result<Vec<Value>, StepError> {
    const KEY: &str = "llm:history";
    let stored = ctx
        .app
        .store
        .session_messages(session_id, ctx.run.user_id)
        .await
        .map_err(storage)?;
    let count = match step_output(ctx, KEY).await? {
        Some(saved) => saved["messages"]
            .as_u64()
            .map_or(stored.len(), |n| n as usize),
        None => {
            let now = Timestamp::from(ctx.app.clock.now());
            save_step(ctx, KEY, &json!({"messages": stored.len()}), now.millis()).await?;
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
pub(super) async fn save_session(ctx: &RunCtx, session_id: &str, turn: &[Value]) {
    const KEY: &str = "llm:session";
    let result = async {
        if step_output(ctx, KEY).await?.is_some() {
            return Ok(());
        }
        let now = Timestamp::from(ctx.app.clock.now());
        let encoded: Vec<String> = turn.iter().map(Value::to_string).collect();
        ctx.app
            .store
            .append_session_messages(session_id, ctx.run.user_id, &encoded, now)
            .await
            .map_err(storage)?;
        save_step(ctx, KEY, &json!({"messages": encoded.len()}), now.millis()).await
    };
    if let Err(e) = result.await {
        // The answer stands; only the next turn loses this one as context.
        tracing::warn!(run_id = %ctx.run.id, error = %e, "saving the chat session failed");
        ctx.set_metadata("session_saved", json!(false));
    }
}
